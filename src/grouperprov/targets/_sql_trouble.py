"""Which database errors are about the database, not about the objects a statement carried."""

from __future__ import annotations

import sqlite3
from typing import Literal

__all__ = ["Trouble", "trouble"]

Trouble = Literal["setup", "unavailable"]

# PostgreSQL's SQLSTATE classes (the first two characters) of an error that
# any statement would meet now: a connection lost (08), a read-only
# transaction, as on a standby after a failover (25), resources exhausted,
# such as a full disk (53), a lock not granted within lock_timeout (55), a
# statement cancelled by statement_timeout or an administrator (57), an I/O
# error (58).
_PG_UNAVAILABLE = frozenset({"08", "25", "53", "55", "57", "58"})
# Names, privileges and schemas (42: undefined column, permission denied;
# 3F: no such schema; 28: authorization): the tables or grants do not fit the layout.
_PG_SETUP = frozenset({"28", "3F", "42"})
# SQLite's primary result codes of the same kinds (sqlite3's ``sqlite_errorname``).
_SQLITE_UNAVAILABLE = frozenset(
    {"BUSY", "LOCKED", "READONLY", "FULL", "IOERR", "CANTOPEN", "CORRUPT", "NOTADB", "NOMEM"}
)
# SQLite's generic SQLITE_ERROR covers these; its other uses (a function a
# trigger calls that raised) may be about the row.
_SQLITE_SETUP_TEXT = ("no such table", "no such column", "unknown database", "has no column")


def trouble(exc: BaseException) -> Trouble | None:
    """Whether *exc* is about the database (``unavailable``) or its set-up (``setup``).

    ``None`` when it may be about the objects of the statement (a value too
    long for its column, a constraint, a trigger's refusal): those are tried
    one by one, to fail only the objects refused. An error of the other two
    kinds would meet every object of the batch alike (waiting out
    ``lock_timeout`` for each of a thousand objects, where the database is
    locked), so it fails the batch.

    The SQLSTATE of psycopg (``sqlstate``, psycopg 2's ``pgcode``) and
    sqlite3's result code (``sqlite_errorname``) tell; for other drivers,
    the DB-API exception classes: ``OperationalError`` (unavailable) and
    ``ProgrammingError`` (set-up).
    """
    state = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if isinstance(state, str) and len(state) == 5:  # noqa: PLR2004  # a SQLSTATE's length
        if state[:2] in _PG_UNAVAILABLE:
            return "unavailable"
        return "setup" if state[:2] in _PG_SETUP else None
    if isinstance(exc, sqlite3.Error):
        # Errors sqlite3 raises itself (a value of a type it cannot bind) have no code.
        code = str(getattr(exc, "sqlite_errorname", "")).removeprefix("SQLITE_").partition("_")[0]
        if code in _SQLITE_UNAVAILABLE:
            return "unavailable"
        if code in {"PERM", "AUTH"}:
            return "setup"
        text = str(exc).lower()
        if code == "ERROR" and any(words in text for words in _SQLITE_SETUP_TEXT):
            return "setup"
        return None
    kinds = {kind.__name__ for kind in type(exc).__mro__}
    if "OperationalError" in kinds:
        return "unavailable"
    return "setup" if "ProgrammingError" in kinds else None
