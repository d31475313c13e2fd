"""SqliteSyncStore: the embedded default store, in one SQLite file.

Standard library :mod:`sqlite3` only. The file is in WAL mode, so readers never
block the writer, and every write is one ``BEGIN IMMEDIATE`` transaction, so
several processes on one machine can share it. Each thread (and each process
after a fork) gets a connection of its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from grouperprov._closing import Closing
from grouperprov._config import ObjectType
from grouperprov._events import ControlMessage, RejectedEvent
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
    RECORD_COLUMNS,
    SCHEMA_VERSION,
    TABLES,
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

__all__ = ["SCHEMA_VERSION", "SqliteSyncStore"]

_log = logging.getLogger(__name__)

# Migrations: the statements that bring a store from version n - 1 to n.
_MIGRATIONS: dict[int, list[str]] = {
    1: schema_v1(
        text="TEXT",
        time="TEXT",  # fixed-width UTC text: text order is time order
        flag=lambda name: f"INTEGER NOT NULL CHECK ({name} IN (0, 1))",
        log_id="INTEGER PRIMARY KEY AUTOINCREMENT",
    ),
    2: schema_v2(
        text="TEXT", time="TEXT", number="INTEGER", log_id="INTEGER PRIMARY KEY AUTOINCREMENT"
    ),
    3: schema_v3(),
}


def _time(value: datetime | None) -> str | None:
    """A datetime as sortable UTC text (fixed width, so text order is time order)."""
    value = aware(value)
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _parse_time(text: str | None) -> datetime | None:
    return None if text is None else _parse_set(text)


def _parse_set(text: str) -> datetime:
    """The time of a NOT NULL column: aware, or a StoreError (the store writes UTC offsets)."""
    value = datetime.fromisoformat(text)
    aware(value)
    return value


def _unopenable(path: str | os.PathLike[str], exc: sqlite3.DatabaseError) -> StoreError:
    where = Path(path)
    why = str(exc)
    if where.is_dir():
        why = "it is a folder: name a file in it"
    elif not where.parent.is_dir():
        why = f"its folder {where.parent} does not exist"  # SQLite says "unable to open"
    return StoreError(f"{path}: cannot be opened as a SQLite sync store ({why})")


def existing_store(path: str | os.PathLike[str]) -> None:
    """Refuse a SQLite file that is missing or not a sync store, before anything writes to it.

    Opening a store creates its tables: pointed at another application's
    database by mistake, a command that only reads must not.

    Raises:
        StoreError: No such file, not a database, a database with no
            schema version and tables of its own, or an empty one.
    """
    if not Path(path).exists():
        msg = f"{path}: no such sync store"
        raise StoreError(msg)
    try:
        uri = f"{Path(path).resolve().as_uri()}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise _unopenable(path, exc) from exc
    if version == 0 and tables:
        msg = f"{path}: a SQLite database, but not a grouperprov sync store (no schema version)"
        raise StoreError(msg)
    if version == 0:
        # An empty file (touched, or a new database): a run would make it a store,
        # a command that only reads must not.
        msg = f"{path}: an empty database, not a sync store yet (no provisioner has run with it)"
        raise StoreError(msg)


class SqliteSyncStore(Closing):
    """A :class:`~grouperprov.stores.SyncStore` in one SQLite file.

    The schema is created on first use and upgraded in place by later
    versions; a file written by a newer grouperprov (an unknown schema
    version) is refused with :class:`~grouperprov.exceptions.StoreError`.

    Args:
        path: The database file (created if missing).
        timeout: Seconds to wait for another process's write transaction.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 30.0) -> None:
        self._path = Path(path)
        self._timeout = timeout
        self._local = threading.local()
        self._checkpointer = _Checkpointer(self._path, timeout)
        self._connect()  # create or check the schema now, not at the first run

    def __repr__(self) -> str:
        return f"SqliteSyncStore({str(self._path)!r})"

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    # -- connections and transactions ---------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            return conn
        try:
            conn = sqlite3.connect(self._path, timeout=self._timeout, isolation_level=None)
            conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.DatabaseError as exc:  # not a database, a folder, no access
            raise _unopenable(self._path, exc) from exc
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        # A 64 MiB page cache (SQLite's default is 2 MiB): the record tables of a
        # campus are hundreds of MiB, and an incremental run reads and writes
        # pages all over their indexes; measured, the writes take half the time.
        conn.execute("PRAGMA cache_size = -65536")
        # The WAL is copied back into the file by a thread of the store's own
        # after each write (see _Checkpointer), not inside the next commit;
        # the writer checkpoints itself only if the WAL grows past this.
        conn.execute(f"PRAGMA wal_autocheckpoint = {_WAL_PAGES_BEFORE_WRITER_CHECKPOINTS:d}")
        self._migrate(conn)
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        with _transaction(conn, "BEGIN IMMEDIATE"):
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            newer = version > SCHEMA_VERSION
            if not newer:
                for step in range(version + 1, SCHEMA_VERSION + 1):
                    for statement in _MIGRATIONS[step]:
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
        if newer:
            conn.close()
            msg = (
                f"{self._path}: sync store schema version {version} is newer than this "
                f"grouperprov knows ({SCHEMA_VERSION}); upgrade grouperprov to use it"
            )
            raise StoreError(msg)

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with _transaction(self._connect(), "BEGIN IMMEDIATE") as conn:
            yield conn
        self._checkpointer.request()  # committed: the WAL goes back into the file, aside

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end).

        The checkpoint thread finishes what it is copying and stops; a later
        write starts it again.
        """
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        self._checkpointer.stop()

    def provisioners(self) -> list[str]:
        """The names of the provisioners this store has state for, sorted."""
        rows = self._connect().execute("SELECT name FROM gp_provisioner ORDER BY name")
        return [row[0] for row in rows]

    # -- load and save -----------------------------------------------------------------

    def load(self, provisioner: str) -> SyncState:
        """Everything about *provisioner*: a handful of queries, whatever its size."""
        with _transaction(self._connect(), "BEGIN") as conn:  # one snapshot for every table
            record = self._provisioner(conn, provisioner)
            records: dict[RecordKey, SyncRecord] = {}
            parse = TimeCache(_parse_time).__getitem__
            for object_type, (table, keys) in TABLES.items():
                rows = conn.execute(select_records(table, keys, "?"), (provisioner,))
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
        with _transaction(self._connect(), "BEGIN") as conn:
            record = self._provisioner(conn, provisioner)
            parse = TimeCache(_parse_time).__getitem__
            records = load_some(
                conn, "?", provisioner, keys, groups, members=members, parse_time=parse
            )
        return SyncState(provisioner=record, records=records)

    def _provisioned_pairs(
        self, provisioner: str, members: Collection[str]
    ) -> list[tuple[str, str]]:
        """The pairs of the provisionable membership records of *members* (no records built)."""
        with _transaction(self._connect(), "BEGIN") as conn:
            return provisioned_pairs(conn, "?", provisioner, members)

    def error_records(self, provisioner: str) -> list[SyncRecord]:
        """See :meth:`~grouperprov.stores.SyncStore.error_records`."""
        with _transaction(self._connect(), "BEGIN") as conn:
            return load_errors(conn, "?", provisioner, parse_time=_parse_time)

    def rejected_events(self, provisioner: str) -> list[RejectedEvent]:
        """See :meth:`~grouperprov.stores.SyncStore.rejected_events`."""
        return select_rejected(self._connect(), "?", provisioner, parse_time=_parse_time)

    def add_control(self, provisioner: str, message: ControlMessage) -> None:
        """See :meth:`~grouperprov.stores.SyncStore.add_control` (text kept as in :meth:`save`)."""
        try:
            with self._write() as conn:
                insert_control(conn, "?", provisioner, message, time=_time)
        except UnicodeEncodeError:
            with self._write() as conn:
                insert_control(conn, "?", provisioner, storable_text(message), time=_time)

    def controls(self, provisioner: str, *, pending: bool = True) -> list[ControlMessage]:
        """See :meth:`~grouperprov.stores.SyncStore.controls`."""
        return select_controls(
            self._connect(), "?", provisioner, pending=pending, parse_time=_parse_time
        )

    def _provisioner(self, conn: sqlite3.Connection, name: str) -> ProvisionerRecord:
        failsafe_sql, jobs_sql = provisioner_queries("?")
        row = conn.execute(failsafe_sql, (name,)).fetchone()
        jobs = conn.execute(jobs_sql, (name,)).fetchall()
        return provisioner_from_rows(name, row, jobs, parse_time=_parse_time)

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

        Text UTF-8 cannot encode (a lone surrogate: a target's value read
        from bytes that are not UTF-8, an error message quoting it) failed
        the save, and the run's records were lost, in every run; the run is
        written again with each such character as its escape (``\udcff``).
        """
        records = list(records)
        try:
            self._save(provisioner, records, log, rejected, acknowledged)
        except UnicodeEncodeError:
            _log.warning(
                "%s: text with lone surrogates (not UTF-8), kept as escapes (\\udcff)",
                provisioner.name,
            )
            whole = (provisioner, records, log, rejected, acknowledged)
            self._save(*storable_text(whole))

    def _save(
        self,
        provisioner: ProvisionerRecord,
        records: Sequence[SyncRecord],
        log: LogRecord | None,
        rejected: Sequence[RejectedEvent],
        acknowledged: Sequence[ControlMessage],
    ) -> None:
        rows: dict[ObjectType, list[tuple[Any, ...]]] = {t: [] for t in TABLES}
        time = TimeCache(_time).__getitem__
        for record in records:
            rows[record.object_type].append(
                record_row(provisioner.name, record, time=time, flag=int)
            )
        with self._write() as conn:
            conn.execute(provisioner_upsert("?"), provisioner_values(provisioner, _time))
            conn.executemany(
                "INSERT INTO gp_job (provisioner, sync_type, last_run) VALUES (?, ?, ?) "
                "ON CONFLICT (provisioner, sync_type) DO UPDATE SET last_run = excluded.last_run",
                [(provisioner.name, t.value, _time(w)) for t, w in provisioner.last_run.items()],
            )
            for object_type, (table, keys) in TABLES.items():
                if rows[object_type]:
                    conn.executemany(_upsert(table, keys), rows[object_type])
            if log is not None:
                conn.execute(
                    "INSERT INTO gp_sync_log (provisioner, sync_type, started, finished, "
                    "status, summary) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        log.provisioner,
                        log.sync_type.value,
                        _time(log.started),
                        _time(log.finished),
                        log.status,
                        log.summary,
                    ),
                )
            save_queue(
                conn,
                "?",
                provisioner.name,
                rejected,
                acknowledged,
                time=_time,
                now=datetime.now(tz=UTC),
            )

    def logs(self, provisioner: str) -> list[LogRecord]:
        """The run log of *provisioner*, oldest first."""
        rows = self._connect().execute(
            "SELECT sync_type, started, finished, status, summary FROM gp_sync_log "
            "WHERE provisioner = ? ORDER BY id",
            (provisioner,),
        )
        where = f"gp_sync_log, a run of {provisioner!r}"
        return [
            LogRecord(
                provisioner=provisioner,
                sync_type=read_field(where, "sync_type", r[0], SyncType),
                started=read_field(where, "started", r[1], _parse_set),
                finished=read_field(where, "finished", r[2], _parse_set),
                status=r[3],
                summary=r[4],
            )
            for r in rows
        ]

    def purge(
        self, provisioner: str, *, records_before: datetime, logs_before: datetime
    ) -> tuple[int, int]:
        """See :meth:`~grouperprov.stores.SyncStore.purge`."""
        before = _time(records_before)
        records = 0
        with self._write() as conn:
            for table, _ in TABLES.values():
                cursor = conn.execute(
                    f"DELETE FROM {table} WHERE provisioner = :p "  # noqa: S608  # fixed names
                    f"AND {purge_condition(':before')}",
                    {"p": provisioner, "before": before},
                )
                records += cursor.rowcount
            logs = conn.execute(
                "DELETE FROM gp_sync_log WHERE provisioner = ? AND finished < ?",
                (provisioner, _time(logs_before)),
            ).rowcount
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
        """See :meth:`~grouperprov.stores.SyncStore.acquire_lease` (across processes)."""
        with self._write() as conn:
            lease = lease_after(
                self._lease(conn, provisioner),
                provisioner=provisioner,
                sync_type=sync_type,
                holder=holder,
                now=now,
                ttl=ttl,
            )
            if lease is not None:
                self._put_lease(conn, lease)
        return lease

    def renew_lease(self, lease: JobLease, *, now: datetime, ttl: timedelta) -> JobLease:
        """See :meth:`~grouperprov.stores.SyncStore.renew_lease`."""
        with self._write() as conn:
            new = renewed(self._lease(conn, lease.provisioner), lease, now, ttl)
            self._put_lease(conn, new)
        return new

    def release_lease(self, lease: JobLease) -> None:
        """See :meth:`~grouperprov.stores.SyncStore.release_lease`."""
        with self._write() as conn:
            conn.execute(
                "DELETE FROM gp_lease WHERE provisioner = ? AND holder = ?",
                (lease.provisioner, lease.holder),
            )

    def current_lease(self, provisioner: str) -> JobLease | None:
        """See :meth:`~grouperprov.stores.SyncStore.current_lease`."""
        return self._lease(self._connect(), provisioner)

    @staticmethod
    def _lease(conn: sqlite3.Connection, provisioner: str) -> JobLease | None:
        row = conn.execute(
            "SELECT sync_type, holder, acquired, heartbeat, expires FROM gp_lease "
            "WHERE provisioner = ?",
            (provisioner,),
        ).fetchone()
        if row is None:
            return None
        where = f"gp_lease, the lease of {provisioner!r}"
        return JobLease(
            provisioner=provisioner,
            sync_type=read_field(where, "sync_type", row[0], SyncType),
            holder=row[1],
            acquired=read_field(where, "acquired", row[2], _parse_set),
            heartbeat=read_field(where, "heartbeat", row[3], _parse_set),
            expires=read_field(where, "expires", row[4], _parse_set),
        )

    @staticmethod
    def _put_lease(conn: sqlite3.Connection, lease: JobLease) -> None:
        conn.execute(
            "INSERT INTO gp_lease (provisioner, sync_type, holder, acquired, heartbeat, expires) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (provisioner) DO UPDATE SET "
            "sync_type = excluded.sync_type, holder = excluded.holder, "
            "acquired = excluded.acquired, heartbeat = excluded.heartbeat, "
            "expires = excluded.expires",
            (
                lease.provisioner,
                lease.sync_type.value,
                lease.holder,
                _time(lease.acquired),
                _time(lease.heartbeat),
                _time(lease.expires),
            ),
        )


_WAL_PAGES_BEFORE_WRITER_CHECKPOINTS = 16_384  # 64 MiB of 4 KiB pages: a safety net
_CHECKPOINTER_IDLE_S = 5.0  # the thread (and its connection) ends after this long idle


class _Checkpointer:
    """Copies a store's WAL back into its database file, in a thread of its own.

    SQLite's automatic checkpoint runs inside the commit that passes its
    threshold: measured on the 1,000,000-membership campus, the commit of an
    incremental run's 10,000 new records took 0.10 s with it and 0.025 s
    without; the copy (some 6,000 pages) is work the run need not wait for.
    So after each write the store asks this thread for a passive checkpoint,
    which never blocks readers or writers and is crash-safe (until the copy
    is done, the WAL holds the pages). Should the thread fall behind or fail,
    the writer's own automatic checkpoint, at a larger threshold, still
    bounds the WAL. The thread ends when idle and after :meth:`stop`; a
    forked process starts its own.
    """

    def __init__(self, path: Path, timeout: float) -> None:
        self._path = path
        self._timeout = timeout
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stopping = False

    def request(self) -> None:
        """Ask for a checkpoint soon (starting the thread if it is not running)."""
        with self._lock:
            self._stopping = False
            self._wake.set()
            if self._thread is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._run, name=f"grouperprov-checkpoint {self._path.name}", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        """Let the thread make one last checkpoint and end; wait for it."""
        with self._lock:
            thread = self._thread if self._pid == os.getpid() else None
            self._stopping = True
            self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                self._wake.wait(0 if self._stopping else _CHECKPOINTER_IDLE_S)
                with self._lock:
                    if not self._wake.is_set():  # idle, or stopped and done
                        self._thread = None
                        return
                    self._wake.clear()
                if conn is None:
                    conn = sqlite3.connect(self._path, timeout=self._timeout, isolation_level=None)
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            # The writer's automatic checkpoint takes over; the next write tries again.
            _log.debug("checkpoint of %s failed", self._path, exc_info=True)
            with self._lock:
                self._thread = None
        finally:
            if conn is not None:
                conn.close()


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection, begin: str) -> Iterator[sqlite3.Connection]:
    """*conn* inside one transaction: committed at the end, rolled back on any exception."""
    conn.execute(begin)
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _upsert(table: str, keys: tuple[str, ...]) -> str:
    columns = ("provisioner", *keys, *RECORD_COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in RECORD_COLUMNS)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "  # noqa: S608  # fixed names
        f"ON CONFLICT ({', '.join(('provisioner', *keys))}) DO UPDATE SET {updates}"
    )
