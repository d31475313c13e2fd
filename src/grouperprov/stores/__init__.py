"""Sync stores: the :class:`SyncStore` protocol and the stores grouperprov ships.

- :class:`MemorySyncStore`: in memory, for tests and runs that keep no state.
- :class:`SqliteSyncStore`: the embedded default, one SQLite file, safe for
  several processes on one machine.
- :class:`PostgresSyncStore`: PostgreSQL, for several machines sharing one
  store; it needs the ``postgres`` extra (``pip install 'grouperprov[postgres]'``)
  and is imported only when used.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from grouperprov._store import MemorySyncStore, RecordKey, SyncState, SyncStore
from grouperprov.stores._rows import SCHEMA_VERSION
from grouperprov.stores._sqlite import SqliteSyncStore, existing_store

if TYPE_CHECKING:
    from grouperprov.stores._postgres import PostgresSyncStore

__all__ = [
    "SCHEMA_VERSION",
    "MemorySyncStore",
    "PostgresSyncStore",
    "RecordKey",
    "SqliteSyncStore",
    "SyncState",
    "SyncStore",
    "open_store",
]


def __getattr__(name: str) -> Any:  # noqa: ANN401  # PEP 562: what the name is
    if name == "PostgresSyncStore":
        try:
            from grouperprov.stores._postgres import PostgresSyncStore  # noqa: PLC0415
        except ModuleNotFoundError as exc:
            if exc.name not in {"psycopg", "psycopg_binary", "psycopg_c"}:  # pragma: no cover
                raise  # something else is missing: a real bug, shown as it is
            msg = "PostgresSyncStore needs psycopg 3: pip install 'grouperprov[postgres]'"
            raise ImportError(msg, name=exc.name) from exc
        return PostgresSyncStore
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


_LIBPQ_KEYS = frozenset(
    {"host", "hostaddr", "port", "dbname", "user", "password", "passfile", "service"}
    | {"sslmode", "options", "application_name", "connect_timeout", "target_session_attrs"}
)


def _is_postgres(location: str) -> bool:
    if location.startswith(("postgresql://", "postgres://")):
        return True
    first = location.split(None, 1)[0] if location.strip() else ""
    return first.partition("=")[0] in _LIBPQ_KEYS and "=" in first


def open_store(
    location: str | os.PathLike[str], *, create: bool = True
) -> SqliteSyncStore | PostgresSyncStore:
    """The store at *location*: a PostgreSQL connection string or URL, else a SQLite file.

    For command-line tools and configuration files, where a store is named by
    one string: ``postgresql://...`` or a libpq ``key=value`` string opens a
    :class:`PostgresSyncStore`; anything else is the path of a
    :class:`SqliteSyncStore` file.

    Args:
        location: Where the store is; a path object is a SQLite file.
        create: Whether a missing SQLite file is created (else it is an error).

    Raises:
        StoreError: The store cannot be opened (see each store), or
            *create* is false and the SQLite file does not exist.
        ImportError: A PostgreSQL store, and psycopg is not installed.
        TypeError: *location* is neither a string nor a path.
    """
    given: object = location  # whatever was passed
    if not isinstance(given, str | os.PathLike):
        msg = f"open_store takes a path or a connection string, not {type(given).__name__}"
        raise TypeError(msg)
    if isinstance(location, str) and _is_postgres(location):
        store: PostgresSyncStore = __getattr__("PostgresSyncStore")(location)
        return store
    if not create:
        existing_store(location)
    return SqliteSyncStore(location)
