"""Per-object sync error codes (Grouper's ERR, INV, LEN, REQ, DNE, MAT, MEM)."""

from __future__ import annotations

import enum

import attrs

__all__ = ["ObjectError", "SyncErrorCode"]


class SyncErrorCode(enum.StrEnum):
    """Why one group, entity or membership could not be provisioned.

    A code is recorded on the object; it is not an exception of the run.
    """

    ERR = "ERR"
    """An exception while provisioning (a network error, a failing function)."""
    INV = "INV"
    """A value failed its valid-value check or type conversion (invalid data)."""
    LEN = "LEN"
    """A value is longer than the attribute's max length."""
    REQ = "REQ"
    """A required value is missing."""
    DNE = "DNE"
    """The object is missing in the target and may not be inserted."""
    MAT = "MAT"
    """The object has no matching value, or matches ambiguously."""
    MEM = "MEM"
    """The group has no members and is configured to be provisioned only with members."""

    @property
    def description(self) -> str:
        """A one-line description of the code."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    SyncErrorCode.ERR: "error: an exception occurred while provisioning",
    SyncErrorCode.INV: "invalid data: a value failed its validation",
    SyncErrorCode.LEN: "a value is longer than the attribute's max length",
    SyncErrorCode.REQ: "a required value is missing",
    SyncErrorCode.DNE: "missing in the target and not allowed to be inserted",
    SyncErrorCode.MAT: "no matching value, or more than one object matches",
    SyncErrorCode.MEM: "the group has no members and must have members to be provisioned",
}

# The errors the target's state or health causes: retried between full syncs,
# and their records written at every try (their last_sync paces the retries).
# The others (INV, LEN, REQ, MEM) change with Grouper's data alone.
RETRIED_CODES = frozenset({SyncErrorCode.ERR, SyncErrorCode.DNE, SyncErrorCode.MAT})


@attrs.frozen
class ObjectError:
    """One error on one object.

    Attributes:
        code: The sync error code.
        message: What went wrong, naming the value where it helps.
        attribute: The attribute concerned, when there is one.
    """

    code: SyncErrorCode
    message: str
    attribute: str | None = None

    def __str__(self) -> str:
        where = f" [{self.attribute}]" if self.attribute else ""
        return f"{self.code.value}{where}: {self.message}"


def exception_text(exc: BaseException) -> str:
    """How an error message shows an exception: its type and its text."""
    return f"{type(exc).__name__}: {exc}"
