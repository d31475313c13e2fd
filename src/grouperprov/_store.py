"""The sync store: where sync records live between runs."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Protocol, runtime_checkable

import attrs

from ._config import ObjectType
from ._records import LogRecord, ProvisionerRecord, SyncRecord

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


@attrs.define
class MemorySyncStore:
    """A :class:`SyncStore` in memory: for tests, and for runs that keep no state."""

    _provisioners: dict[str, ProvisionerRecord] = attrs.Factory(dict)
    _records: dict[str, dict[RecordKey, SyncRecord]] = attrs.Factory(dict)
    _logs: dict[str, list[LogRecord]] = attrs.Factory(dict)

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
