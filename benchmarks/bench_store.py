"""Benchmark: saving and loading a campus's sync records, against a plain bulk insert.

The records are those of the 1,000,000-membership campus (at ``--scale 1``):
20,000 group records and 1,000,000 membership records, each in the target,
inserted by grouperprov, with a target id, times and links as a full sync
leaves them.

The floors, measured in the same run on the same kind of database:

- SQLite: one ``executemany`` of the same rows (already made) into the same
  table (same primary key and indexes), in one transaction.
- PostgreSQL: one ``COPY`` of the same rows into the same table. Skipped with
  a note when the PostgreSQL programs or psycopg are missing.

Measured: ``store.save()`` of all records into an empty store (the first full
sync), ``store.save()`` of all of them again (every row an update), and
``store.load()``. Times are the best of ``--repeat``. Every figure is printed
on a line of its own as ``name = value``.
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from grouperprov import ObjectType, ProvisionerRecord, SyncRecord
from grouperprov.stores import SqliteSyncStore
from grouperprov.stores._rows import RECORD_COLUMNS, TABLES, aware, record_row

T0 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


def campus_records(groups: int, memberships: int) -> list[SyncRecord]:
    """The records a full sync of the campus leaves."""
    later = T0 + timedelta(minutes=3)
    records = [
        SyncRecord(
            object_type=ObjectType.GROUP,
            grouper_id=f"g{i:06d}",
            target_id=str(i + 1),
            provisionable=True,
            provisionable_start=T0,
            in_target=True,
            in_target_start=later,
            inserted_by_us=True,
            last_sync=later,
            links=(f"cn=group{i:06d},ou=groups,dc=example,dc=edu",),
        )
        for i in range(groups)
    ]
    per_group = memberships // groups
    records.extend(
        SyncRecord(
            object_type=ObjectType.MEMBERSHIP,
            grouper_id=(f"g{i // per_group:06d}", f"m{i % 200_000:07d}"),
            target_id=(f"campus:dept:group{i // per_group:06d}", f"s{i % 200_000:07d}"),
            provisionable=True,
            provisionable_start=T0,
            in_target=True,
            in_target_start=later,
            inserted_by_us=True,
            last_sync=later,
        )
        for i in range(per_group * groups)
    )
    return records


def best(repeat: int, run: Callable[[], object], before: Callable[[], object]) -> float:
    """The best time of *repeat* runs of *run*, each after an untimed *before*."""
    times = []
    for _ in range(repeat):
        before()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def _rows(
    records: list[SyncRecord], time_of: Callable[[Any], Any], flag: Callable[[bool], Any]
) -> dict[str, list[tuple[Any, ...]]]:
    rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table, _ in TABLES.values()}
    for record in records:
        rows[TABLES[record.object_type][0]].append(
            record_row("campus", record, time=time_of, flag=flag)
        )
    return rows


def bench_sqlite(records: list[SyncRecord], repeat: int, folder: Path) -> None:
    from grouperprov.stores._sqlite import _time  # noqa: PLC0415  # the store's own encoding

    rows = _rows(records, _time, int)
    counter = iter(range(1000))
    paths: list[Path] = []

    def fresh() -> None:
        path = folder / f"sqlite{next(counter)}.db"
        SqliteSyncStore(path).save(ProvisionerRecord(name="campus"), [])  # schema + provisioner
        paths.append(path)

    def floor() -> None:
        with contextlib.closing(sqlite3.connect(paths[-1], isolation_level=None)) as conn:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("BEGIN IMMEDIATE")
            for table, keys in TABLES.values():
                columns = ("provisioner", *keys, *RECORD_COLUMNS)
                marks = ", ".join("?" * len(columns))
                conn.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608  # fixed names
                    rows[table],
                )
            conn.execute("COMMIT")

    def save() -> None:
        SqliteSyncStore(paths[-1]).save(ProvisionerRecord(name="campus"), records)

    floor_s = best(repeat, floor, fresh)
    save_s = best(repeat, save, fresh)
    resave_s = best(repeat, save, lambda: None)  # every row there: all updates
    load_s = best(repeat, lambda: SqliteSyncStore(paths[-1]).load("campus"), lambda: None)
    loaded = len(SqliteSyncStore(paths[-1]).load("campus").records)
    if loaded != len(records):
        raise SystemExit(f"sqlite: loaded {loaded} records, saved {len(records)}")
    print(f"sqlite_executemany_s = {floor_s:.3f}")
    print(f"sqlite_save_s = {save_s:.3f}")
    print(f"sqlite_save_over_executemany = {save_s / floor_s:.2f}")
    print(f"sqlite_resave_s = {resave_s:.3f}")
    print(f"sqlite_resave_over_executemany = {resave_s / floor_s:.2f}")
    print(f"sqlite_load_s = {load_s:.3f}")
    for path in paths:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


@contextlib.contextmanager
def _postgres() -> Iterator[Any]:
    try:
        import psycopg  # noqa: F401, PLC0415  # optional

        from grouperprov.testing import PostgresServer, ServerUnavailable  # noqa: PLC0415
    except ImportError:
        yield None
        return
    try:
        server = PostgresServer(durable=True)
        server.start()
    except ServerUnavailable as exc:
        print(f"# postgres skipped: {exc}", file=sys.stderr)
        yield None
        return
    try:
        yield server
    finally:
        server.stop()


def bench_postgres(records: list[SyncRecord], repeat: int) -> None:
    with _postgres() as server:
        if server is None:
            print("postgres_skipped = 1")
            return
        import psycopg  # noqa: PLC0415

        from grouperprov.stores import PostgresSyncStore  # noqa: PLC0415

        rows = _rows(records, aware, bool)
        dsns: list[str] = []

        def fresh() -> None:
            dsn = server.create_database()
            store = PostgresSyncStore(dsn)
            store.save(ProvisionerRecord(name="campus"), [])
            store.close()
            dsns.append(dsn)

        def floor() -> None:
            with psycopg.connect(dsns[-1]) as conn, conn.cursor() as cur:
                for table, keys in TABLES.values():
                    columns = ", ".join(("provisioner", *keys, *RECORD_COLUMNS))
                    with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:  # type: ignore[arg-type]  # fixed names
                        for row in rows[table]:
                            copy.write_row(row)

        def save() -> None:
            store = PostgresSyncStore(dsns[-1])
            store.save(ProvisionerRecord(name="campus"), records)
            store.close()

        def load() -> None:
            store = PostgresSyncStore(dsns[-1])
            store.load("campus")
            store.close()

        floor_s = best(repeat, floor, fresh)
        save_s = best(repeat, save, fresh)
        resave_s = best(repeat, save, lambda: None)
        load_s = best(repeat, load, lambda: None)
        print(f"postgres_copy_s = {floor_s:.3f}")
        print(f"postgres_save_s = {save_s:.3f}")
        print(f"postgres_save_over_copy = {save_s / floor_s:.2f}")
        print(f"postgres_resave_s = {resave_s:.3f}")
        print(f"postgres_resave_over_copy = {resave_s / floor_s:.2f}")
        print(f"postgres_load_s = {load_s:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the campus")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (best is kept)")
    parser.add_argument("--only", choices=("sqlite", "postgres"), help="one store only")
    args = parser.parse_args()
    records = campus_records(int(20_000 * args.scale), int(1_000_000 * args.scale))
    print(f"store_records = {len(records)}")
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory(prefix="grouperprov-bench-") as folder:
            bench_sqlite(records, args.repeat, Path(folder))
    if args.only in (None, "postgres"):
        bench_postgres(records, args.repeat)


if __name__ == "__main__":
    main()
