"""A one-argument function's results, each worked out once (a dict that fills itself)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Memo"]


class Memo(dict[Any, Any]):
    """*function* of each distinct value, worked out the first time it is looked up.

    For the hot paths where a handful of distinct values come back many times
    (the times of a run's records, the member DNs of a directory's groups):
    use its ``__getitem__`` as the function.
    """

    def __init__(self, function: Callable[[Any], Any]) -> None:
        super().__init__()
        self._function = function

    def __missing__(self, value: Any) -> Any:  # noqa: ANN401  # whatever the function takes
        result = self[value] = self._function(value)
        return result
