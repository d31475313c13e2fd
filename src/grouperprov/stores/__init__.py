"""Sync stores: the :class:`SyncStore` protocol and the stores grouperprov ships."""

from __future__ import annotations

from grouperprov._store import MemorySyncStore, RecordKey, SyncState, SyncStore

__all__ = ["MemorySyncStore", "RecordKey", "SyncState", "SyncStore"]
