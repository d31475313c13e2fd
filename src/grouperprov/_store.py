"""The sync store: where sync records live between runs."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

import attrs

from ._config import ObjectType
from ._records import JobLease, LogRecord, ProvisionerRecord, SyncRecord, SyncType
from .exceptions import LeaseLostError

__all__ = ["MemorySyncStore", "RecordKey", "SyncState", "SyncStore"]

RecordKey = tuple[ObjectType, Hashable]
"""A record's key: its object type and Grouper id."""


@attrs.frozen(kw_only=True)
class SyncState:
    """Everything a run needs from the store, loaded at once.

    Attributes:
        provisioner: The provisioner's record.
        records: Every object's sync record, by object type and Grouper id.
    """

    provisioner: ProvisionerRecord
    records: Mapping[RecordKey, SyncRecord] = attrs.field(factory=dict, hash=False)

    def target_index(
        self,
    ) -> tuple[
        dict[ObjectType, dict[Hashable, SyncRecord]], dict[ObjectType, dict[Hashable, Hashable]]
    ]:
        """What a plan needs from the records, in one pass over them.

        Returns:
            Per object type, the records by target id (as :meth:`by_target_id`);
            and per group and entity, the target links: Grouper id -> target id
            of the objects last seen in the target.
        """
        by_target: dict[ObjectType, dict[Hashable, SyncRecord]] = {t: {} for t in ObjectType}
        links: dict[ObjectType, dict[Hashable, Hashable]] = {
            ObjectType.GROUP: {},
            ObjectType.ENTITY: {},
        }
        for (object_type, key), record in self.records.items():
            if record.target_id is None:
                continue
            by_target[object_type][record.target_id] = record
            if record.in_target and object_type is not ObjectType.MEMBERSHIP:
                links[object_type][key] = record.target_id
        return by_target, links

    def by_target_id(self, object_type: ObjectType) -> dict[Hashable, SyncRecord]:
        """The records of one object type by target id (how compare looks them up)."""
        return {
            r.target_id: r
            for (t, _), r in self.records.items()
            if t is object_type and r.target_id is not None
        }


@runtime_checkable
class SyncStore(Protocol):
    """Where sync records are kept: memory, SQLite, PostgreSQL, or your own."""

    def load(self, provisioner: str) -> SyncState:
        """Everything about *provisioner*, in one read (a new provisioner: empty)."""
        ...

    def save(
        self,
        provisioner: ProvisionerRecord,
        records: Iterable[SyncRecord],
        *,
        log: LogRecord | None = None,
    ) -> None:
        """Write the provisioner record, changed sync records and a log row, all or nothing."""
        ...

    def logs(self, provisioner: str) -> list[LogRecord]:
        """The run log of *provisioner*, oldest first."""
        ...

    def acquire_lease(
        self,
        provisioner: str,
        sync_type: SyncType,
        holder: str,
        *,
        now: datetime,
        ttl: timedelta,
    ) -> JobLease | None:
        """Take *provisioner*'s job lease if it is free or expired, atomically.

        Returns the lease, or ``None`` when another holder has it (the caller
        waits or yields). Taking one's own lease again renews it.
        """
        ...

    def renew_lease(self, lease: JobLease, *, now: datetime, ttl: timedelta) -> JobLease:
        """Heartbeat: push the lease's expiry to *now* + *ttl*.

        Raises:
            LeaseLostError: The lease is no longer this holder's (it expired and was
                taken over).
        """
        ...

    def release_lease(self, lease: JobLease) -> None:
        """Give the lease up (nothing happens if it is no longer this holder's)."""
        ...

    def current_lease(self, provisioner: str) -> JobLease | None:
        """The lease as stored, expired or not; ``None`` when nobody has taken it."""
        ...

    def purge(
        self, provisioner: str, *, records_before: datetime, logs_before: datetime
    ) -> tuple[int, int]:
        """Delete what is no longer needed; return (records, logs) deleted.

        A sync record goes when its object is neither provisionable nor in the
        target and nothing happened to it since *records_before* (it left the
        target, stopped being provisionable and was last synced before then).
        A log row goes when its run finished before *logs_before*.
        """
        ...


def purgeable(record: SyncRecord, before: datetime) -> bool:
    """Whether *record* may be purged under :meth:`SyncStore.purge`'s rule."""
    if record.provisionable or record.in_target:
        return False
    times = (record.provisionable_end, record.in_target_end, record.last_sync, record.error_time)
    return all(t is None or t < before for t in times)


def lease_after(
    current: JobLease | None,
    *,
    provisioner: str,
    sync_type: SyncType,
    holder: str,
    now: datetime,
    ttl: timedelta,
) -> JobLease | None:
    """The lease after *holder* asks for it (``None``: someone else holds it)."""
    if current is not None and current.holder != holder and current.expires > now:
        return None
    acquired = current.acquired if current is not None and current.holder == holder else now
    return JobLease(
        provisioner=provisioner,
        sync_type=sync_type,
        holder=holder,
        acquired=acquired,
        heartbeat=now,
        expires=now + ttl,
    )


def renewed(current: JobLease | None, lease: JobLease, now: datetime, ttl: timedelta) -> JobLease:
    """*lease* renewed, or :class:`LeaseLostError` when *current* says it is not ours."""
    if current is None or current.holder != lease.holder:
        taker = "nobody" if current is None else repr(current.holder)
        msg = (
            f"the job lease of {lease.provisioner!r} held by {lease.holder!r} "
            f"is now held by {taker}; stop writing"
        )
        raise LeaseLostError(msg)
    return attrs.evolve(current, heartbeat=now, expires=now + ttl)


@attrs.define
class MemorySyncStore:
    """A :class:`SyncStore` in memory: for tests, and for runs that keep no state."""

    _provisioners: dict[str, ProvisionerRecord] = attrs.Factory(dict)
    _records: dict[str, dict[RecordKey, SyncRecord]] = attrs.Factory(dict)
    _logs: dict[str, list[LogRecord]] = attrs.Factory(dict)
    _leases: dict[str, JobLease] = attrs.Factory(dict)

    def load(self, provisioner: str) -> SyncState:
        """Everything about *provisioner*, as copies."""
        record = self._provisioners.get(provisioner) or ProvisionerRecord(name=provisioner)
        return SyncState(provisioner=record, records=dict(self._records.get(provisioner, {})))

    def save(
        self,
        provisioner: ProvisionerRecord,
        records: Iterable[SyncRecord],
        *,
        log: LogRecord | None = None,
    ) -> None:
        """Write everything at once: a failure part way leaves the store as it was."""
        updated = dict(self._records.get(provisioner.name, {}))
        for record in records:
            updated[(record.object_type, record.grouper_id)] = record
        self._records[provisioner.name] = updated
        self._provisioners[provisioner.name] = provisioner
        if log is not None:
            self._logs.setdefault(provisioner.name, []).append(log)

    def logs(self, provisioner: str) -> list[LogRecord]:
        """The run log of *provisioner*, oldest first."""
        return list(self._logs.get(provisioner, []))

    def acquire_lease(
        self,
        provisioner: str,
        sync_type: SyncType,
        holder: str,
        *,
        now: datetime,
        ttl: timedelta,
    ) -> JobLease | None:
        """See :meth:`SyncStore.acquire_lease` (exclusive within this process)."""
        lease = lease_after(
            self._leases.get(provisioner),
            provisioner=provisioner,
            sync_type=sync_type,
            holder=holder,
            now=now,
            ttl=ttl,
        )
        if lease is not None:
            self._leases[provisioner] = lease
        return lease

    def renew_lease(self, lease: JobLease, *, now: datetime, ttl: timedelta) -> JobLease:
        """See :meth:`SyncStore.renew_lease`."""
        new = renewed(self._leases.get(lease.provisioner), lease, now, ttl)
        self._leases[lease.provisioner] = new
        return new

    def release_lease(self, lease: JobLease) -> None:
        """See :meth:`SyncStore.release_lease`."""
        current = self._leases.get(lease.provisioner)
        if current is not None and current.holder == lease.holder:
            del self._leases[lease.provisioner]

    def current_lease(self, provisioner: str) -> JobLease | None:
        """See :meth:`SyncStore.current_lease`."""
        return self._leases.get(provisioner)

    def purge(
        self, provisioner: str, *, records_before: datetime, logs_before: datetime
    ) -> tuple[int, int]:
        """See :meth:`SyncStore.purge`."""
        records = self._records.get(provisioner, {})
        gone = [k for k, r in records.items() if purgeable(r, records_before)]
        for key in gone:
            del records[key]
        logs = self._logs.get(provisioner, [])
        kept = [entry for entry in logs if entry.finished >= logs_before]
        self._logs[provisioner] = kept
        return len(gone), len(logs) - len(kept)
