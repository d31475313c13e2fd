"""The sync store: where sync records live between runs."""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

import attrs

from ._config import ObjectType
from ._events import ControlMessage, RejectedEvent
from ._records import JobLease, LogRecord, ProvisionerRecord, SyncRecord, SyncType
from .exceptions import LeaseLostError, StoreError

__all__ = ["MemorySyncStore", "RecordKey", "SyncState", "SyncStore"]

RecordKey = tuple[ObjectType, Hashable]


def provisionable_pairs(records: Mapping[RecordKey, SyncRecord]) -> list[tuple[str, str]]:
    """The (group, member) ids of the provisionable membership records among *records*."""
    return [
        (str(key[1][0]), str(key[1][1]))
        for key, record in records.items()
        if key[0] is ObjectType.MEMBERSHIP and isinstance(key[1], tuple) and record.provisionable
    ]


"""A record's key: its object type and Grouper id."""


@attrs.frozen(kw_only=True)
class SyncState:
    """Everything a run needs from the store, loaded at once.

    Attributes:
        provisioner: The provisioner's record.
        records: Every object's sync record, by object type and Grouper id;
            not to be changed once the state is used (its index by target id
            is made once and kept).
    """

    provisioner: ProvisionerRecord
    records: Mapping[RecordKey, SyncRecord] = attrs.field(factory=dict, hash=False)

    _index: (
        tuple[
            dict[ObjectType, dict[Hashable, SyncRecord]],
            dict[ObjectType, dict[Hashable, Hashable]],
            frozenset[tuple[ObjectType, Hashable]],
        ]
        | None
    ) = attrs.field(default=None, init=False, repr=False, eq=False, hash=False)
    _shared: dict[tuple[ObjectType, Hashable], tuple[RecordKey, ...]] | None = attrs.field(
        default=None, init=False, repr=False, eq=False, hash=False
    )

    def target_index(
        self,
    ) -> tuple[
        Mapping[ObjectType, Mapping[Hashable, SyncRecord]],
        Mapping[ObjectType, Mapping[Hashable, Hashable]],
    ]:
        """What a plan needs from the records, in one pass over them (made once, then kept).

        Returns:
            Per object type, the records by target id (as :meth:`by_target_id`);
            and per group and entity, the target links: Grouper id -> target id
            of the objects last seen in the target.
        """
        by_target, links, _ = self._indexed()
        return by_target, links

    def shared_target_ids(self) -> frozenset[tuple[ObjectType, Hashable]]:
        """The (object type, target id) pairs that more than one record holds.

        :meth:`target_index` keeps the last of such records; these are the
        ids to look up in :attr:`records` where all of them matter.
        """
        return self._indexed()[2]

    def holders(self, object_type: ObjectType, target_id: Hashable) -> tuple[RecordKey, ...]:
        """The keys of the records of *object_type* that hold *target_id*, in the records' order.

        From :meth:`target_index` (made once); the records are gone through
        again only for the ids several of them hold
        (:meth:`shared_target_ids`), and then once for all of them.
        """
        if (object_type, target_id) in self.shared_target_ids():
            if self._shared is None:
                shared = self.shared_target_ids()
                held: dict[tuple[ObjectType, Hashable], list[RecordKey]] = {}
                for key, record in self.records.items():
                    if (key[0], record.target_id) in shared:
                        held.setdefault((key[0], record.target_id), []).append(key)
                object.__setattr__(  # a frozen class: kept once worked out
                    self, "_shared", {k: tuple(v) for k, v in held.items()}
                )
            assert self._shared is not None  # noqa: S101  # set just above
            return self._shared[object_type, target_id]
        found = self.target_index()[0][object_type].get(target_id)
        return () if found is None else ((object_type, found.grouper_id),)

    def _indexed(
        self,
    ) -> tuple[
        dict[ObjectType, dict[Hashable, SyncRecord]],
        dict[ObjectType, dict[Hashable, Hashable]],
        frozenset[tuple[ObjectType, Hashable]],
    ]:
        if self._index is not None:
            return self._index
        by_target: dict[ObjectType, dict[Hashable, SyncRecord]] = {t: {} for t in ObjectType}
        links: dict[ObjectType, dict[Hashable, Hashable]] = {
            ObjectType.GROUP: {},
            ObjectType.ENTITY: {},
        }
        shared: set[tuple[ObjectType, Hashable]] = set()
        for (object_type, key), record in self.records.items():
            target_id = record.target_id
            if target_id is None:
                continue
            held = by_target[object_type]
            if target_id in held:
                shared.add((object_type, target_id))
            held[target_id] = record
            if record.in_target and object_type is not ObjectType.MEMBERSHIP:
                links[object_type][key] = target_id
        index = (by_target, links, frozenset(shared))
        object.__setattr__(self, "_index", index)  # a frozen class: kept once worked out
        return index

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

    def load_records(
        self,
        provisioner: str,
        keys: Collection[RecordKey],
        *,
        groups: Collection[str] = (),
        members: Collection[str] = (),
    ) -> SyncState:
        """The provisioner record and only some records (what an incremental run needs).

        Returns the records of *keys* that exist, every membership record of
        the groups in *groups* and every membership record of the members in
        *members*: a few indexed queries, however large the store.
        """
        ...

    def error_records(self, provisioner: str) -> list[SyncRecord]:
        """Every record with an error, oldest error first (for retries)."""
        ...

    def save(
        self,
        provisioner: ProvisionerRecord,
        records: Iterable[SyncRecord],
        *,
        log: LogRecord | None = None,
        rejected: Sequence[RejectedEvent] = (),
        acknowledged: Sequence[ControlMessage] = (),
    ) -> None:
        """Write everything of a run at once, all or nothing.

        The provisioner record (its last processed sequence number included),
        changed sync records, a log row, the events the run rejected (kept in
        the error queue) and the control messages it carried out (with their
        acknowledgement).
        """
        ...

    def rejected_events(self, provisioner: str) -> list[RejectedEvent]:
        """The events runs rejected, oldest first (the error queue)."""
        ...

    def add_control(self, provisioner: str, message: ControlMessage) -> None:
        """Keep a control message for the next incremental run.

        Raises:
            StoreError: A message with that id is already kept.
        """
        ...

    def controls(self, provisioner: str, *, pending: bool = True) -> list[ControlMessage]:
        """The control messages (only those not yet acknowledged, by default), oldest first."""
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
        target, stopped being provisionable and its record was last written
        before then). A log row goes when its run finished before *logs_before*.
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


def aware(value: datetime | None) -> datetime | None:
    """*value* itself, if it is timezone-aware (or ``None``); every store keeps such times only.

    Raises:
        StoreError: A naive datetime: a store cannot tell when it was.
    """
    if value is not None and value.tzinfo is None:
        msg = f"the store keeps timezone-aware datetimes only, got {value!r}"
        raise StoreError(msg)
    return value


@attrs.define
class MemorySyncStore:
    """A :class:`SyncStore` in memory: for tests, and for runs that keep no state."""

    _provisioners: dict[str, ProvisionerRecord] = attrs.Factory(dict)
    _records: dict[str, dict[RecordKey, SyncRecord]] = attrs.Factory(dict)
    _logs: dict[str, list[LogRecord]] = attrs.Factory(dict)
    _leases: dict[str, JobLease] = attrs.Factory(dict)
    _rejected: dict[str, list[RejectedEvent]] = attrs.Factory(dict)
    _controls: dict[str, dict[str, ControlMessage]] = attrs.Factory(dict)

    def load(self, provisioner: str) -> SyncState:
        """Everything about *provisioner*, as copies."""
        record = self._provisioners.get(provisioner) or ProvisionerRecord(name=provisioner)
        return SyncState(provisioner=record, records=dict(self._records.get(provisioner, {})))

    def load_records(
        self,
        provisioner: str,
        keys: Collection[RecordKey],
        *,
        groups: Collection[str] = (),
        members: Collection[str] = (),
    ) -> SyncState:
        """See :meth:`SyncStore.load_records`."""
        record = self._provisioners.get(provisioner) or ProvisionerRecord(name=provisioner)
        stored = self._records.get(provisioner, {})
        found = {key: stored[key] for key in keys if key in stored}
        if groups or members:
            of_groups, of_members = set(groups), set(members)
            found.update(
                (key, r)
                for key, r in stored.items()
                if key[0] is ObjectType.MEMBERSHIP
                and isinstance(key[1], tuple)
                and (key[1][0] in of_groups or key[1][1] in of_members)
            )
        return SyncState(provisioner=record, records=found)

    def _provisioned_pairs(
        self, provisioner: str, members: Collection[str]
    ) -> list[tuple[str, str]]:
        """The pairs of the provisionable membership records of *members*."""
        return provisionable_pairs(self.load_records(provisioner, (), members=members).records)

    def error_records(self, provisioner: str) -> list[SyncRecord]:
        """See :meth:`SyncStore.error_records`."""
        failed = [r for r in self._records.get(provisioner, {}).values() if r.error_code]
        return sorted(failed, key=lambda r: r.error_time or datetime.min.replace(tzinfo=UTC))

    def save(
        self,
        provisioner: ProvisionerRecord,
        records: Iterable[SyncRecord],
        *,
        log: LogRecord | None = None,
        rejected: Sequence[RejectedEvent] = (),
        acknowledged: Sequence[ControlMessage] = (),
    ) -> None:
        """Write everything at once: a failure part way leaves the store as it was."""
        updated = dict(self._records.get(provisioner.name, {}))
        for record in records:
            updated[(record.object_type, record.grouper_id)] = record
        controls = dict(self._controls.get(provisioner.name, {}))
        for message in acknowledged:
            controls[message.id] = message
        self._records[provisioner.name] = updated
        self._controls[provisioner.name] = controls
        self._provisioners[provisioner.name] = provisioner
        if log is not None:
            self._logs.setdefault(provisioner.name, []).append(log)
        self._rejected.setdefault(provisioner.name, []).extend(rejected)

    def rejected_events(self, provisioner: str) -> list[RejectedEvent]:
        """See :meth:`SyncStore.rejected_events`."""
        return list(self._rejected.get(provisioner, []))

    def add_control(self, provisioner: str, message: ControlMessage) -> None:
        """See :meth:`SyncStore.add_control`."""
        controls = self._controls.setdefault(provisioner, {})
        if message.id in controls:
            msg = f"a control message with id {message.id!r} is already kept for {provisioner!r}"
            raise StoreError(msg)
        controls[message.id] = message

    def controls(self, provisioner: str, *, pending: bool = True) -> list[ControlMessage]:
        """See :meth:`SyncStore.controls`."""
        kept = self._controls.get(provisioner, {}).values()
        chosen = [m for m in kept if not pending or m.acknowledged_at is None]
        return sorted(chosen, key=lambda m: (m.requested_at, m.id))

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
        aware(now)
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
        aware(now)
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
        aware(records_before)
        aware(logs_before)
        records = self._records.get(provisioner, {})
        gone = [k for k, r in records.items() if purgeable(r, records_before)]
        for key in gone:
            del records[key]
        logs = self._logs.get(provisioner, [])
        kept = [entry for entry in logs if entry.finished >= logs_before]
        self._logs[provisioner] = kept
        return len(gone), len(logs) - len(kept)
