"""PostgresSyncStore: sync state in PostgreSQL, for several machines sharing one store.

Needs psycopg 3 (``pip install 'grouperprov[postgres]'``). Every write is one
transaction; a large save goes through ``COPY`` into a temporary table and one
``INSERT ... ON CONFLICT`` from it, so a million records are no million round
trips. The job lease is read and written under a transaction-level advisory
lock, so two machines never both take it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import weakref
from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import conninfo as _conninfo
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row

from grouperprov._closing import Closing
from grouperprov._config import ObjectType
from grouperprov._events import ControlMessage, RejectedEvent
from grouperprov._liveness import closed_by_peer
from grouperprov._records import (
    JobLease,
    LogRecord,
    ProvisionerRecord,
    SyncRecord,
    SyncType,
)
from grouperprov._store import RecordKey, SyncState, aware, lease_after, renewed
from grouperprov.exceptions import StoreError
from grouperprov.stores._rows import (
    FLAG_COLUMNS,
    RECORD_COLUMNS,
    SCHEMA_VERSION,
    TABLES,
    TIME_COLUMNS,
    TimeCache,
    add_records,
    insert_control,
    load_errors,
    load_some,
    provisioned_pairs,
    provisioner_from_rows,
    provisioner_queries,
    provisioner_upsert,
    provisioner_values,
    purge_condition,
    read_field,
    record_row,
    save_queue,
    schema_v1,
    schema_v2,
    schema_v3,
    select_controls,
    select_records,
    select_rejected,
    storable_text,
)

__all__ = ["PostgresSyncStore"]

# Saves of fewer rows per table than this upsert with executemany (pipelined);
# larger ones COPY into a temporary table first.
_COPY_FROM = 500

# Migrations: the statements that bring a store from version n - 1 to n.
_MIGRATIONS: dict[int, list[str]] = {
    1: schema_v1(
        text="text",
        time="timestamptz",
        flag=lambda _: "boolean NOT NULL",
        log_id="bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    ),
    2: schema_v2(
        text="text",
        time="timestamptz",
        number="bigint",
        log_id="bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    ),
    3: schema_v3(),
}

# The record columns' types, for binary COPY.
_COLUMN_TYPES = [
    "boolean" if c in FLAG_COLUMNS else "timestamptz" if c in TIME_COLUMNS else "text"
    for c in RECORD_COLUMNS
]

log = logging.getLogger("grouperprov.stores.postgres")


# Advisory lock keys (hashed by the server): one for migrations, one per lease.
_MIGRATION_LOCK = "grouperprov schema"
_LEASE_LOCK = "grouperprov lease "


def _unstorable(exc: Exception) -> bool:
    """Whether *exc* is the failure of text PostgreSQL cannot hold: a NUL, a lone surrogate."""
    return isinstance(exc, UnicodeEncodeError) or (
        isinstance(exc, psycopg.DataError) and "NUL" in str(exc)
    )


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _masked(conninfo: str) -> str:
    """A connection string without its password, for reprs and messages."""
    try:
        params = _conninfo.conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return "<unparsable connection string>"
    params.pop("password", None)
    return _conninfo.make_conninfo(**params)  # type: ignore[arg-type]  # str values


class PostgresSyncStore(Closing):
    """A :class:`~grouperprov.stores.SyncStore` in a PostgreSQL database.

    The schema is created on first use and upgraded in place by later
    versions (the version is kept in the table ``gp_schema``); a database
    written by a newer grouperprov is refused with
    :class:`~grouperprov.exceptions.StoreError`. To keep the tables in a
    schema of their own, set ``search_path`` in the connection string
    (``options=-csearch_path=grouperprov``).

    Args:
        conninfo: A libpq connection string or URL (each thread and each
            process then gets a connection of its own), or an open psycopg
            connection (used from one thread at a time; this store commits on
            it, so give it one that is not inside a transaction of yours).
        connect_timeout: Seconds to wait for a new connection.

    Raises:
        StoreError: The database cannot be reached, or its schema is newer.
        TypeError: *conninfo* is neither a string nor a synchronous psycopg
            connection (an ``AsyncConnection``, say).
    """

    def __init__(
        self, conninfo: str | psycopg.Connection[Any], *, connect_timeout: float = 10.0
    ) -> None:
        self._local = threading.local()
        self._given: psycopg.Connection[Any] | None = None
        self._lock = threading.RLock()
        # Every connection this store opened, closed by close() or when the store goes.
        self._opened: list[tuple[int, psycopg.Connection[Any]]] = []  # (pid, connection)
        self._finalizer = weakref.finalize(self, _close_all, self._opened)
        self._timeout = connect_timeout
        given: object = conninfo  # what the caller passed, whatever its annotation
        if not isinstance(given, str | psycopg.Connection):
            kind = f"{type(given).__module__}.{type(given).__qualname__}"
            msg = (
                "PostgresSyncStore needs a connection string or a psycopg.Connection"
                f" (synchronous), not {kind}"
            )
            raise TypeError(msg)
        if isinstance(conninfo, str):
            self._conninfo = conninfo
            self._shown = _masked(conninfo)
        else:
            self._given = conninfo
            self._conninfo = ""
            self._shown = _masked(conninfo.info.dsn)
        self._migrate()  # create or check the schema now

    def __repr__(self) -> str:
        return f"PostgresSyncStore({self._shown!r})"

    # -- connections and transactions ---------------------------------------------

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        if self._given is not None:
            with self._lock, self._losing(self._given, given=True):  # one user at a time
                self._outside_callers_transaction(self._given)
                yield self._given
            return
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) != os.getpid():
            conn = None  # a forked process's: the parent's to use
        if conn is not None and not conn.closed and closed_by_peer(conn.fileno()):
            # Restarted, failed over, or closed while idle (between runs, say).
            log.info(
                "the connection to the sync store %s was closed: connecting again", self._shown
            )
            conn.close()
        if conn is None or conn.closed:
            try:
                conn = psycopg.connect(
                    self._conninfo, autocommit=True, connect_timeout=max(1, round(self._timeout))
                )
            except psycopg.Error as exc:  # unreachable, refused, or a malformed string
                msg = f"cannot connect to the sync store {self._shown}: {exc}"
                raise StoreError(msg) from exc
            self._local.conn, self._local.pid = conn, os.getpid()
            with self._lock:
                self._opened[:] = [(p, c) for p, c in self._opened if not c.closed]
                self._opened.append((os.getpid(), conn))
        with self._losing(conn, given=False):
            yield conn

    def _outside_callers_transaction(self, conn: psycopg.Connection[Any]) -> None:
        """Refuse a connection passed in while a transaction of its owner's is open.

        The store's transaction would be a savepoint of that one: what it
        saves would be lost unless the owner committed (found so: a run's
        records, never seen by another process).

        Raises:
            StoreError: The connection is in a transaction (or a failed one).
        """
        status = conn.info.transaction_status  # UNKNOWN when lost: said on use
        if status in {TransactionStatus.INTRANS, TransactionStatus.INERROR}:
            msg = (
                f"the connection given to the sync store {self._shown} is inside a"
                f" transaction ({status.name}) of its owner's: the store commits its"
                " own, and what it saved would be lost unless that one were committed;"
                " commit or roll it back first, or give the store a connection string"
            )
            raise StoreError(msg)

    @contextlib.contextmanager
    def _losing(self, conn: psycopg.Connection[Any], *, given: bool) -> Iterator[None]:
        """A connection lost during an operation: a StoreError that says so."""
        try:
            yield
        except psycopg.OperationalError as exc:
            if not (conn.closed or conn.broken):
                raise
            msg = f"the connection to the sync store {self._shown} was lost: {exc}"
            msg += (
                "; give PostgresSyncStore a connection string to have it connect again"
                if given
                else "; the next operation connects again"
            )
            raise StoreError(msg) from exc

    @contextlib.contextmanager
    def _transaction(self, *, lock: str | None = None) -> Iterator[psycopg.Cursor[Any]]:
        """A cursor inside one transaction, optionally holding an advisory lock."""
        # Tuples, whatever rows a connection passed in makes (dict_row, say).
        with (
            self._connection() as conn,
            conn.transaction(),
            conn.cursor(row_factory=tuple_row) as cur,
        ):
            if lock is not None:
                cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (lock,))
            yield cur

    def _migrate(self) -> None:
        with self._transaction(lock=_MIGRATION_LOCK) as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS gp_schema (singleton boolean PRIMARY KEY "
                "DEFAULT true CHECK (singleton), version integer NOT NULL)"
            )
            row = cur.execute("SELECT version FROM gp_schema").fetchone()
            version = 0 if row is None else int(row[0])
            if version > SCHEMA_VERSION:
                msg = (
                    f"{self._shown}: sync store schema version {version} is newer than this "
                    f"grouperprov knows ({SCHEMA_VERSION}); upgrade grouperprov to use it"
                )
                raise StoreError(msg)
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[step]:
                    cur.execute(statement)
            cur.execute(
                "INSERT INTO gp_schema (version) VALUES (%s) "
                "ON CONFLICT (singleton) DO UPDATE SET version = excluded.version",
                (SCHEMA_VERSION,),
            )

    def close(self) -> None:
        """Close the connections this store opened (a given one is left to its owner).

        The store opens new ones if it is used again.
        """
        with self._lock:
            _close_all(self._opened)

    def provisioners(self) -> list[str]:
        """The names of the provisioners this store has state for, sorted."""
        with self._transaction() as cur:
            return [row[0] for row in cur.execute("SELECT name FROM gp_provisioner ORDER BY name")]

    # -- load and save -----------------------------------------------------------------

    def load(self, provisioner: str) -> SyncState:
        """Everything about *provisioner*: a handful of queries, one snapshot."""
        with self._transaction() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            record = self._provisioner(cur, provisioner)
            records: dict[RecordKey, SyncRecord] = {}
            parse = TimeCache(_utc).__getitem__
            for object_type, (table, keys) in TABLES.items():
                rows = cur.execute(select_records(table, keys, "%s"), (provisioner,))
                add_records(records, object_type, len(keys), rows, parse_time=parse)
        return SyncState(provisioner=record, records=records)

    def load_records(
        self,
        provisioner: str,
        keys: Collection[RecordKey],
        *,
        groups: Collection[str] = (),
        members: Collection[str] = (),
    ) -> SyncState:
        """See :meth:`~grouperprov.stores.SyncStore.load_records`."""
        with self._transaction() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            record = self._provisioner(cur, provisioner)
            parse = TimeCache(_utc).__getitem__
            records = load_some(
                cur, "%s", provisioner, keys, groups, members=members, parse_time=parse
            )
        return SyncState(provisioner=record, records=records)

    def _provisioned_pairs(
        self, provisioner: str, members: Collection[str]
    ) -> list[tuple[str, str]]:
        """The pairs of the provisionable membership records of *members* (no records built)."""
        with self._transaction() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return provisioned_pairs(cur, "%s", provisioner, members)

    def error_records(self, provisioner: str) -> list[SyncRecord]:
        """See :meth:`~grouperprov.stores.SyncStore.error_records`."""
        with self._transaction() as cur:
            return load_errors(cur, "%s", provisioner, parse_time=_utc)

    def rejected_events(self, provisioner: str) -> list[RejectedEvent]:
        """See :meth:`~grouperprov.stores.SyncStore.rejected_events`."""
        with self._transaction() as cur:
            return select_rejected(cur, "%s", provisioner, parse_time=_utc)

    def add_control(self, provisioner: str, message: ControlMessage) -> None:
        """See :meth:`~grouperprov.stores.SyncStore.add_control` (a NUL kept as in :meth:`save`)."""
        try:
            with self._transaction() as cur:
                insert_control(cur, "%s", provisioner, message, time=aware)
        except (psycopg.DataError, UnicodeEncodeError) as exc:
            if not _unstorable(exc):
                raise
            kept = storable_text(message, nul=True)
            with self._transaction() as cur:
                insert_control(cur, "%s", provisioner, kept, time=aware)

    def controls(self, provisioner: str, *, pending: bool = True) -> list[ControlMessage]:
        """See :meth:`~grouperprov.stores.SyncStore.controls`."""
        with self._transaction() as cur:
            return select_controls(cur, "%s", provisioner, pending=pending, parse_time=_utc)

    @staticmethod
    def _provisioner(cur: psycopg.Cursor[Any], name: str) -> ProvisionerRecord:
        failsafe_sql, jobs_sql = provisioner_queries("%s")
        row = cur.execute(failsafe_sql, (name,)).fetchone()
        jobs = cur.execute(jobs_sql, (name,)).fetchall()
        return provisioner_from_rows(name, row, jobs, parse_time=_utc)

    def save(
        self,
        provisioner: ProvisionerRecord,
        records: Iterable[SyncRecord],
        *,
        log: LogRecord | None = None,
        rejected: Sequence[RejectedEvent] = (),
        acknowledged: Sequence[ControlMessage] = (),
    ) -> None:
        r"""Write everything of a run in one transaction (see the protocol).

        PostgreSQL's text cannot hold the character NUL (U+0000): a run whose
        text has one (a rejected event's payload of bytes off a queue, a
        target's error message) is written again with each NUL as the six
        characters ``\u0000``, rather than lose the run (and, for an event
        delivered again, every run after it).
        """
        records = list(records)
        try:
            self._save(provisioner, records, log, rejected, acknowledged)
        except (psycopg.DataError, UnicodeEncodeError) as exc:
            if not _unstorable(exc):
                raise
            logger = logging.getLogger("grouperprov.stores.postgres")
            logger.warning(
                "%s: text with NUL characters or lone surrogates, kept as escapes (\\u0000)",
                provisioner.name,
            )
            whole = (provisioner, records, log, rejected, acknowledged)
            self._save(*storable_text(whole, nul=True))

    def _save(
        self,
        provisioner: ProvisionerRecord,
        records: Sequence[SyncRecord],
        log: LogRecord | None,
        rejected: Sequence[RejectedEvent],
        acknowledged: Sequence[ControlMessage],
    ) -> None:
        rows: dict[ObjectType, dict[tuple[str, ...], tuple[Any, ...]]] = {t: {} for t in TABLES}
        time = TimeCache(aware).__getitem__
        for record in records:
            row = record_row(provisioner.name, record, time=time, flag=bool)
            rows[record.object_type][row[1 : 1 + len(TABLES[record.object_type][1])]] = row
        jobs = [(provisioner.name, t.value, aware(w)) for t, w in provisioner.last_run.items()]
        with self._transaction() as cur:
            cur.execute(provisioner_upsert("%s"), provisioner_values(provisioner, aware))
            cur.executemany(
                "INSERT INTO gp_job (provisioner, sync_type, last_run) VALUES (%s, %s, %s) "
                "ON CONFLICT (provisioner, sync_type) DO UPDATE SET last_run = excluded.last_run",
                jobs,
            )
            for object_type, (table, keys) in TABLES.items():
                _upsert(cur, table, keys, list(rows[object_type].values()))
            if log is not None:
                cur.execute(
                    "INSERT INTO gp_sync_log (provisioner, sync_type, started, finished, "
                    "status, summary) VALUES (%s, %s, %s, %s, %s, %s)",
                    (
                        log.provisioner,
                        log.sync_type.value,
                        aware(log.started),
                        aware(log.finished),
                        log.status,
                        log.summary,
                    ),
                )
            save_queue(
                cur,
                "%s",
                provisioner.name,
                rejected,
                acknowledged,
                time=aware,
                now=datetime.now(tz=UTC),
            )

    def logs(self, provisioner: str) -> list[LogRecord]:
        """The run log of *provisioner*, oldest first."""
        with self._transaction() as cur:
            rows = cur.execute(
                "SELECT sync_type, started, finished, status, summary FROM gp_sync_log "
                "WHERE provisioner = %s ORDER BY id",
                (provisioner,),
            ).fetchall()
        where = f"gp_sync_log, a run of {provisioner!r}"
        return [
            LogRecord(
                provisioner=provisioner,
                sync_type=read_field(where, "sync_type", r[0], SyncType),
                started=_utc(r[1]),  # type: ignore[arg-type]  # NOT NULL column
                finished=_utc(r[2]),  # type: ignore[arg-type]  # NOT NULL column
                status=r[3],
                summary=r[4],
            )
            for r in rows
        ]

    def purge(
        self, provisioner: str, *, records_before: datetime, logs_before: datetime
    ) -> tuple[int, int]:
        """See :meth:`~grouperprov.stores.SyncStore.purge`."""
        before, logs_cut = aware(records_before), aware(logs_before)
        records = 0
        with self._transaction() as cur:
            for table, _ in TABLES.values():
                cur.execute(
                    f"DELETE FROM {table} WHERE provisioner = %(p)s "  # noqa: S608  # fixed names
                    f"AND {purge_condition('%(before)s')}",
                    {"p": provisioner, "before": before},
                )
                records += cur.rowcount
            cur.execute(
                "DELETE FROM gp_sync_log WHERE provisioner = %s AND finished < %s",
                (provisioner, logs_cut),
            )
            logs = cur.rowcount
        return records, logs

    # -- the job lease ---------------------------------------------------------------

    def acquire_lease(
        self,
        provisioner: str,
        sync_type: SyncType,
        holder: str,
        *,
        now: datetime,
        ttl: timedelta,
    ) -> JobLease | None:
        """See :meth:`~grouperprov.stores.SyncStore.acquire_lease` (across machines)."""
        with self._transaction(lock=_LEASE_LOCK + provisioner) as cur:
            lease = lease_after(
                self._lease(cur, provisioner),
                provisioner=provisioner,
                sync_type=sync_type,
                holder=holder,
                now=now,
                ttl=ttl,
            )
            if lease is not None:
                self._put_lease(cur, lease)
        return lease

    def renew_lease(self, lease: JobLease, *, now: datetime, ttl: timedelta) -> JobLease:
        """See :meth:`~grouperprov.stores.SyncStore.renew_lease`."""
        with self._transaction(lock=_LEASE_LOCK + lease.provisioner) as cur:
            new = renewed(self._lease(cur, lease.provisioner), lease, now, ttl)
            self._put_lease(cur, new)
        return new

    def release_lease(self, lease: JobLease) -> None:
        """See :meth:`~grouperprov.stores.SyncStore.release_lease`."""
        with self._transaction(lock=_LEASE_LOCK + lease.provisioner) as cur:
            cur.execute(
                "DELETE FROM gp_lease WHERE provisioner = %s AND holder = %s",
                (lease.provisioner, lease.holder),
            )

    def current_lease(self, provisioner: str) -> JobLease | None:
        """See :meth:`~grouperprov.stores.SyncStore.current_lease`."""
        with self._transaction() as cur:
            return self._lease(cur, provisioner)

    @staticmethod
    def _lease(cur: psycopg.Cursor[Any], provisioner: str) -> JobLease | None:
        row = cur.execute(
            "SELECT sync_type, holder, acquired, heartbeat, expires FROM gp_lease "
            "WHERE provisioner = %s",
            (provisioner,),
        ).fetchone()
        if row is None:
            return None
        return JobLease(
            provisioner=provisioner,
            sync_type=read_field(
                f"gp_lease, the lease of {provisioner!r}", "sync_type", row[0], SyncType
            ),
            holder=row[1],
            acquired=row[2].astimezone(UTC),
            heartbeat=row[3].astimezone(UTC),
            expires=row[4].astimezone(UTC),
        )

    @staticmethod
    def _put_lease(cur: psycopg.Cursor[Any], lease: JobLease) -> None:
        cur.execute(
            "INSERT INTO gp_lease (provisioner, sync_type, holder, acquired, heartbeat, expires) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (provisioner) DO UPDATE SET "
            "sync_type = excluded.sync_type, holder = excluded.holder, "
            "acquired = excluded.acquired, heartbeat = excluded.heartbeat, "
            "expires = excluded.expires",
            (
                lease.provisioner,
                lease.sync_type.value,
                lease.holder,
                aware(lease.acquired),
                aware(lease.heartbeat),
                aware(lease.expires),
            ),
        )


def _close_all(connections: list[tuple[int, psycopg.Connection[Any]]]) -> None:
    """Close the connections this process opened (a forked child leaves its parent's alone)."""
    pid = os.getpid()
    for opener, conn in connections:
        if opener == pid:
            conn.close()
    connections.clear()


def _upsert(
    cur: psycopg.Cursor[Any], table: str, keys: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """Insert or update *rows* of *table*: pipelined for a few, through COPY for many.

    When the provisioner has no row in the table yet (its first full sync),
    the rows are copied straight in: the rows are unique by key already, so
    nothing can conflict. Otherwise they are copied into a temporary table and
    upserted from there in one statement.
    """
    if not rows:
        return
    columns = ", ".join(("provisioner", *keys, *RECORD_COLUMNS))
    conflict = ", ".join(("provisioner", *keys))
    updates = ", ".join(f"{c} = excluded.{c}" for c in RECORD_COLUMNS)
    upsert = f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
    if len(rows) < _COPY_FROM:
        values = ", ".join(["%s"] * (1 + len(keys) + len(RECORD_COLUMNS)))
        cur.executemany(
            f"INSERT INTO {table} ({columns}) VALUES ({values}) {upsert}",  # noqa: S608  # fixed names
            rows,
        )
        return
    first = cur.execute(
        f"SELECT NOT EXISTS (SELECT 1 FROM {table} WHERE provisioner = %s)",  # noqa: S608  # fixed names
        (rows[0][0],),
    ).fetchone()
    if first is not None and first[0]:
        _copy(cur, table, keys, rows)
        return
    incoming = f"gp_incoming_{table}"
    cur.execute(
        f"CREATE TEMPORARY TABLE {incoming} (LIKE {table}) ON COMMIT DROP"  # fixed names
    )
    _copy(cur, incoming, keys, rows)
    cur.execute(
        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {incoming} {upsert}"  # noqa: S608  # fixed names
    )


def _copy(
    cur: psycopg.Cursor[Any], table: str, keys: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """COPY *rows* into *table*, in the binary format (no text to make and parse)."""
    columns = ", ".join(("provisioner", *keys, *RECORD_COLUMNS))
    types = ["text"] * (1 + len(keys)) + _COLUMN_TYPES
    with cur.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:  # fixed names
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)
