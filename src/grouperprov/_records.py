"""Sync records: what grouperprov knows of each object, and of each run, between runs."""

from __future__ import annotations

import enum
import operator
from collections.abc import Hashable, Mapping
from datetime import datetime

import attrs

from ._codes import RETRIED_CODES, ObjectError, SyncErrorCode
from ._config import ObjectType

__all__ = [
    "FailsafeState",
    "JobLease",
    "LogRecord",
    "ProvisionerRecord",
    "SyncRecord",
    "SyncType",
]


class SyncType(enum.StrEnum):
    """The kinds of run (Grouper's sync jobs)."""

    FULL = "full"
    INCREMENTAL = "incremental"
    GROUP = "group"


@attrs.frozen(kw_only=True)
class SyncRecord:
    """The state grouperprov keeps for one group, entity or membership.

    Attributes:
        object_type: Which kind of object.
        grouper_id: Grouper's id (a membership's is ``(group_id, entity_id)``).
        target_id: The target's id of the object (its target link), if known.
        provisionable: Whether Grouper wants the object in the target now.
        provisionable_start: When it last became provisionable; ``None`` if it
            never was (Grouper never knew it as provisionable).
        provisionable_end: When it stopped being provisionable.
        in_target: Whether the object is in the target.
        in_target_start: When it was last seen arriving in the target.
        in_target_end: When it was last seen leaving the target.
        inserted_by_us: Whether grouperprov inserted it (``False``: it was
            there before, or someone else put it there).
        last_sync: When a run last wrote the record: when it changed (Grouper's
            side, the target's, an error), or a run tried it again in error.
            A run that finds the object as recorded leaves the record as it is.
        error_code: The error of the last run that failed on it, if any.
        error_message: That error's message.
        error_time: When it happened.
        links: Up to four cached target values (a DN, a remote id, ...).
        subject_link: For entities, the resolved subject link (an EPPN, ...).
    """

    object_type: ObjectType
    grouper_id: Hashable
    target_id: Hashable | None = None
    provisionable: bool = False
    provisionable_start: datetime | None = None
    provisionable_end: datetime | None = None
    in_target: bool = False
    in_target_start: datetime | None = None
    in_target_end: datetime | None = None
    inserted_by_us: bool = False
    last_sync: datetime | None = None
    error_code: SyncErrorCode | None = None
    error_message: str | None = None
    error_time: datetime | None = None
    links: tuple[str | None, ...] = ()
    subject_link: str | None = None

    @property
    def known_to_grouper(self) -> bool:
        """Whether Grouper ever provisioned this object."""
        return self.provisionable or self.provisionable_start is not None


_FIELDS = tuple(a.name for a in attrs.fields(SyncRecord))
_VALUES = operator.attrgetter(*_FIELDS)


def replaced(record: SyncRecord, **changes: object) -> SyncRecord:
    """*record* with *changes*, as ``attrs.evolve`` gives it, in a third less time.

    A run updates a record of every membership of a campus: the fields are
    read in one C call instead of one by one.
    """
    values: dict[str, object] = dict(zip(_FIELDS, _VALUES(record), strict=True))
    values.update(changes)
    return SyncRecord(**values)  # type: ignore[arg-type]  # the fields of SyncRecord


_BUT_LAST_SYNC = operator.attrgetter(*(f for f in _FIELDS if f != "last_sync"))


def unchanged(stored: SyncRecord, record: SyncRecord) -> bool:
    """Whether *record* says nothing new against *stored*: only ``last_sync`` moved.

    Such a record is not written: a run that finds an object as recorded
    leaves its record as it is, the same data error (INV, LEN, REQ, MEM)
    too. A record with an error that is retried (ERR, DNE, MAT) always is:
    its ``last_sync`` is when the object was last tried, which paces the
    retries.
    """
    return (
        record.error_code not in RETRIED_CODES
        and stored.error_code not in RETRIED_CODES
        and _BUT_LAST_SYNC(stored) == _BUT_LAST_SYNC(record)
    )


def error_fields(
    old: SyncRecord | None, error: ObjectError | None, now: datetime
) -> dict[str, object]:
    """A record's error fields after a run that found *error* (``None``: no error).

    The error time is when the error first happened: kept while the same
    error recurs (retries decay with its age).
    """
    if error is None:
        return {"error_code": None, "error_message": None, "error_time": None}
    same = old is not None and old.error_code is error.code and old.error_time is not None
    return {
        "error_code": error.code,
        "error_message": error.message,
        "error_time": old.error_time if same and old is not None else now,
    }


@attrs.frozen(kw_only=True)
class FailsafeState:
    """A tripped failsafe, and its approval.

    Attributes:
        tripped_at: When the failsafe tripped.
        reasons: What tripped it, in words (threshold, group, numbers).
        approved_by: Who approved the next run going ahead, if anyone has.
        approved_at: When.
    """

    tripped_at: datetime
    reasons: tuple[str, ...]
    approved_by: str | None = None
    approved_at: datetime | None = None

    @property
    def blocking(self) -> bool:
        """Whether runs are blocked (tripped and not approved)."""
        return self.approved_by is None


@attrs.frozen(kw_only=True)
class ProvisionerRecord:
    """What the store keeps about a provisioner as a whole.

    Attributes:
        name: The provisioner's name.
        last_run: Per sync type, when the last run of that type read Grouper
            (the time its view of Grouper is as of).
        failsafe: The failsafe's state, when it has tripped.
        last_sequence: The sequence number of the last change-log event the
            incremental sync processed (``None``: none yet); a restarted
            consumer resumes after it.
    """

    name: str
    last_run: Mapping[SyncType, datetime] = attrs.field(factory=dict, hash=False)
    failsafe: FailsafeState | None = None
    last_sequence: int | None = None


@attrs.frozen(kw_only=True)
class LogRecord:
    """One run, as the store's log keeps it.

    Attributes:
        provisioner: The provisioner's name.
        sync_type: The kind of run.
        started: When it started.
        finished: When it finished.
        status: Its status (``SUCCESS``, ``ERROR_FAILSAFE``, ...).
        summary: Counts and notes, in words.
    """

    provisioner: str
    sync_type: SyncType
    started: datetime
    finished: datetime
    status: str
    summary: str


@attrs.frozen(kw_only=True)
class JobLease:
    """The right to run one provisioner's sync jobs, held by one run at a time.

    Full, group and incremental runs of a provisioner take the same lease, so
    they never overlap. The holder renews it (a heartbeat) well before it
    expires; a lease left by a process that died is taken over once it has
    expired.

    Attributes:
        provisioner: The provisioner's name.
        sync_type: The kind of run holding it.
        holder: Who holds it (host, process id and a random part).
        acquired: When it was taken.
        heartbeat: When the holder last renewed it.
        expires: When it lapses unless renewed.
    """

    provisioner: str
    sync_type: SyncType
    holder: str
    acquired: datetime
    heartbeat: datetime
    expires: datetime
