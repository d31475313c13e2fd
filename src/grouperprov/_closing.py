"""``with`` for the stores and targets that hold connections."""

from __future__ import annotations

from typing import Self

__all__ = ["Closing"]


class Closing:
    """The object itself in a ``with`` block, closed when the block ends (also on error)."""

    __slots__ = ()

    def close(self) -> None:  # pragma: no cover  # each subclass closes what it holds
        """Close what the object holds."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
