"""Sync stores: the :class:`SyncStore` protocol and the stores grouperprov ships.

- :class:`MemorySyncStore`: in memory, for tests and runs that keep no state.
- :class:`SqliteSyncStore`: the embedded default, one SQLite file, safe for
  several processes on one machine.
"""

from __future__ import annotations

from grouperprov._store import MemorySyncStore, RecordKey, SyncState, SyncStore
from grouperprov.stores._sqlite import SCHEMA_VERSION, SqliteSyncStore

__all__ = [
    "SCHEMA_VERSION",
    "MemorySyncStore",
    "RecordKey",
    "SqliteSyncStore",
    "SyncState",
    "SyncStore",
]
