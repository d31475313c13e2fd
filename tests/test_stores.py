"""The sync stores: the shared contract, and what is particular to SQLite."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Hashable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from grouperprov import LogRecord, ObjectType, ProvisionerRecord, SyncRecord, SyncType
from grouperprov.exceptions import StoreError
from grouperprov.stores import (
    SCHEMA_VERSION,
    MemorySyncStore,
    SqliteSyncStore,
    SyncState,
    SyncStore,
    open_store,
)
from grouperprov.stores._rows import decode_id, encode_id
from grouperprov.testing import PostgresServer, StoreContractError, check_sync_store


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], SyncStore]:
    counter = iter(range(1000))
    if request.param == "memory":
        return MemorySyncStore
    if request.param == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        return lambda: open_store(server.create_database())
    return lambda: SqliteSyncStore(tmp_path / f"store{next(counter)}.db")


@pytest.fixture(params=["sqlite", "postgres"])
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> SyncStore:
    """A new, empty store of each SQL kind."""
    if request.param == "postgres":
        return open_store(request.getfixturevalue("postgres_dsn"))
    return SqliteSyncStore(tmp_path / "s.db")


def test_every_store_keeps_the_contract(make_store: Callable[[], SyncStore]) -> None:
    check_sync_store(make_store)


class _Forgetful(MemorySyncStore):
    """Drops every second record: the contract must notice."""

    def save(
        self,
        provisioner: ProvisionerRecord,
        records: Any,  # as the protocol's
        *,
        log: Any = None,  # as the protocol's
        **queue: Any,  # as the protocol's
    ) -> None:
        super().save(provisioner, list(records)[::2], log=log, **queue)


class _Careless(MemorySyncStore):
    """Gives the lease to anyone."""

    def acquire_lease(self, provisioner: str, sync_type: Any, holder: str, **kw: Any) -> Any:
        self._leases.pop(provisioner, None)
        return super().acquire_lease(provisioner, sync_type, holder, **kw)


@pytest.mark.parametrize(
    ("store", "rule"),
    [(_Forgetful, "records load as they were saved"), (_Careless, "a held lease")],
)
def test_the_contract_catches_broken_stores(store: type[SyncStore], rule: str) -> None:
    with pytest.raises(StoreContractError, match=rule):
        check_sync_store(store)


def test_a_state_names_every_record_that_holds_a_target_id_in_order() -> None:
    def entity(grouper_id: str, target_id: str | None) -> SyncRecord:
        return SyncRecord(object_type=ObjectType.ENTITY, grouper_id=grouper_id, target_id=target_id)

    records = [entity("b", "e1"), entity("a", "e1"), entity("c", "e2"), entity("d", None)]
    group = SyncRecord(object_type=ObjectType.GROUP, grouper_id="g", target_id="e1")
    state = SyncState(
        provisioner=ProvisionerRecord(name="p"),
        records={(r.object_type, r.grouper_id): r for r in [*records, group]},
    )

    assert state.holders(ObjectType.ENTITY, "e1") == (
        (ObjectType.ENTITY, "b"),
        (ObjectType.ENTITY, "a"),
    )
    assert state.holders(ObjectType.ENTITY, "e2") == ((ObjectType.ENTITY, "c"),)
    assert state.holders(ObjectType.GROUP, "e1") == ((ObjectType.GROUP, "g"),)
    assert state.holders(ObjectType.ENTITY, "e3") == ()


def test_sqlite_records_survive_reopening_and_use_wal(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    record = SyncRecord(object_type=ObjectType.GROUP, grouper_id="g", in_target=True)
    SqliteSyncStore(path).save(ProvisionerRecord(name="p"), [record])
    reopened = SqliteSyncStore(path)
    assert dict(reopened.load("p").records) == {(ObjectType.GROUP, "g"): record}
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert repr(reopened) == f"SqliteSyncStore({str(path)!r})"
    assert reopened.path == path
    # Its own connections keep a page cache of 64 MiB (a campus's indexes are large).
    assert reopened._connect().execute("PRAGMA cache_size").fetchone()[0] == -65536


def _memberships(count: int) -> list[SyncRecord]:
    return [
        SyncRecord(
            object_type=ObjectType.MEMBERSHIP,
            grouper_id=(f"group-{i % 50:03d}", f"member-{i:06d}"),
            target_id=(f"group-{i % 50:03d}", f"uid=member-{i:06d},ou=people"),
            provisionable=True,
            in_target=True,
        )
        for i in range(count)
    ]


def test_sqlite_copies_its_wal_back_into_the_file_in_a_thread_not_in_the_commit(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    store = SqliteSyncStore(path)
    # The writer's own automatic checkpoint waits for a WAL of 64 MiB.
    assert store._connect().execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 16_384
    store.save(ProvisionerRecord(name="p"), [])
    store._checkpointer.stop()  # its last checkpoint done (the writer's connection stays open:
    before = path.stat().st_size  # closing the last one would checkpoint too)
    records = _memberships(5_000)
    store.save(ProvisionerRecord(name="p"), records)
    store._checkpointer.stop()
    # The rows reached the database file itself (a commit alone leaves them in the WAL).
    assert path.stat().st_size > before + 100 * 4096
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        assert conn.execute("SELECT count(*) FROM gp_sync_membership").fetchone()[0] == 5_000
    assert len(SqliteSyncStore(path).load("p").records) == 5_000


def test_the_checkpoint_thread_ends_when_idle_and_starts_again_at_the_next_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("grouperprov.stores._sqlite._CHECKPOINTER_IDLE_S", 0.01)
    store = SqliteSyncStore(tmp_path / "state.db")
    checkpointer = store._checkpointer
    store.save(ProvisionerRecord(name="p"), _memberships(10))
    first = checkpointer._thread
    assert first is not None
    first.join(timeout=10)
    assert not first.is_alive()
    assert getattr(checkpointer, "_thread") is None  # noqa: B009  # read again after the join
    store.save(ProvisionerRecord(name="p"), _memberships(20))
    again = checkpointer._thread
    assert again is not None
    assert again is not first
    store.close()
    assert not again.is_alive()
    assert len(store.load("p").records) == 20


def test_a_newer_schema_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(
        StoreError,
        match=rf"schema version {SCHEMA_VERSION + 1} is newer than this grouperprov knows",
    ):
        SqliteSyncStore(path)


def test_the_schema_is_upgraded_in_place_from_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()  # version 0: nothing yet
    store = SqliteSyncStore(path)
    assert store.load("p").records == {}
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"gp_sync_group", "gp_sync_member", "gp_sync_membership", "gp_sync_log"} <= tables


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (
            SyncRecord(object_type=ObjectType.MEMBERSHIP, grouper_id="g"),
            "must be \\(group id, entity id\\)",
        ),
        (SyncRecord(object_type=ObjectType.GROUP, grouper_id=("g",)), "must be a str"),
        (
            SyncRecord(object_type=ObjectType.GROUP, grouper_id="g", target_id=1.5),
            "a target id must be",
        ),
        (
            SyncRecord(object_type=ObjectType.GROUP, grouper_id="g", links=("a",) * 5),
            "at most 4 links",
        ),
        (
            SyncRecord(
                object_type=ObjectType.GROUP,
                grouper_id="g",
                last_sync=datetime(2026, 1, 1),  # noqa: DTZ001  # naive on purpose
            ),
            "timezone-aware",
        ),
    ],
)
def test_sql_stores_refuse_records_they_cannot_keep_and_write_nothing(
    sql_store: SyncStore, record: SyncRecord, message: str
) -> None:
    store = sql_store
    good = SyncRecord(object_type=ObjectType.GROUP, grouper_id="ok")
    with pytest.raises(StoreError, match=message):
        store.save(ProvisionerRecord(name="p"), [good, record])
    assert store.load("p").records == {}


def test_sqlite_close_and_reconnect(tmp_path: Path) -> None:
    store = SqliteSyncStore(tmp_path / "s.db")
    store.close()
    store.close()  # twice is fine
    when = datetime(2026, 1, 1, tzinfo=UTC)
    store.save(ProvisionerRecord(name="p", last_run={}), [])
    assert store.load("p").provisioner.last_run == {}
    assert when.tzinfo is UTC


_IDS = st.one_of(
    st.text(),
    st.integers(),
    st.booleans(),
    st.tuples(st.text(), st.text()),
    st.lists(st.one_of(st.text(), st.integers()), max_size=3).map(tuple),
)


@given(_IDS)
def test_target_ids_are_written_as_json_and_read_back_as_they_were(value: Hashable) -> None:
    text = encode_id(value)
    assert text is not None
    expected = json.dumps(list(value) if isinstance(value, tuple) else value)
    assert text == expected  # what earlier versions wrote, so old rows still read
    assert decode_id(text) == value
    assert type(decode_id(text)) is type(value)


def test_a_version_1_file_is_upgraded_in_place_and_keeps_its_records(tmp_path: Path) -> None:
    from grouperprov.stores import _sqlite  # noqa: PLC0415  # the migrations of the old version

    path = tmp_path / "v1.db"
    with sqlite3.connect(path) as conn:
        for statement in _sqlite._MIGRATIONS[1]:  # build a version 1 file
            conn.execute(statement)
        conn.execute("INSERT INTO gp_provisioner (name) VALUES ('p')")
        conn.execute(
            "INSERT INTO gp_sync_group (provisioner, group_id, provisionable, in_target, "
            "inserted_by_us) VALUES ('p', 'g', 1, 1, 0)"
        )
        conn.execute("PRAGMA user_version = 1")
    store = SqliteSyncStore(path)
    state = store.load("p")
    assert state.provisioner.last_sequence is None
    assert state.records[(ObjectType.GROUP, "g")].in_target
    store.save(attrs.evolve(state.provisioner, last_sequence=12), [])
    assert store.load("p").provisioner.last_sequence == 12
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        # Version 3 dropped the unused indexes of records by target id.
        indexes = conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        names = {name for (name,) in indexes}
        assert "gp_sync_membership_member" in names
        assert not {n for n in names if n.endswith("_target")}


def test_an_insert_intent_comes_back_without_a_last_sync(
    make_store: Callable[[], SyncStore],
) -> None:
    # The next run tells an unfinished insert by its intent's empty last_sync
    # (the values written with a new group's insert have no intent of their own).
    store = make_store()
    state = store.load("p")
    intent = SyncRecord(
        object_type=ObjectType.GROUP,
        grouper_id="g1",
        provisionable=True,
        provisionable_start=datetime(2026, 12, 2, tzinfo=UTC),
        inserted_by_us=True,
    )
    store.save(state.provisioner, [intent])
    assert store.load("p").records[ObjectType.GROUP, "g1"] == intent


@pytest.mark.parametrize(
    ("statement", "read", "message"),
    [
        (
            "UPDATE gp_sync_group SET target_id = '{nope'",
            "load",
            "gp_sync_group, the record of group 'g1': target_id = '{nope' cannot be read",
        ),
        (
            "UPDATE gp_sync_group SET error_code = 'XYZ', error_message = 'm'",
            "load",
            "the record of group 'g1': error_code = 'XYZ' cannot be read",
        ),
        (
            "UPDATE gp_sync_membership SET error_code = 'XYZ', error_message = 'm'",
            "error_records",
            "gp_sync_membership, the record of membership ('g1', 'm1'): error_code = 'XYZ'",
        ),
        (
            "UPDATE gp_job SET sync_type = 'weird'",
            "load",
            "gp_job, the last run of 'p' ('weird'): sync_type = 'weird' cannot be read",
        ),
        (
            "UPDATE gp_provisioner SET failsafe_reasons = '{', failsafe_tripped_at = now()",
            "load",
            "gp_provisioner, the row of 'p': failsafe_reasons = '{' cannot be read",
        ),
        (
            (
                "INSERT INTO gp_control VALUES"
                " ('p', 'c1', 'full_sync', 'me', now(), '[1]', '[]', '[]', NULL, NULL)"
            ),
            "controls",
            "gp_control, the message 'c1' of 'p': group_ids = '[1]' cannot be read",
        ),
        (
            (
                "INSERT INTO gp_control VALUES"
                " ('p', 'c1', 'full_sync', 'me', now(), '[]', '[]', '[[\"g\"]]', NULL, NULL)"
            ),
            "controls",
            "membership_ids = '[[\"g\"]]' cannot be read",
        ),
        (
            (
                "INSERT INTO gp_control VALUES"
                " ('p', 'c1', 'weird', 'me', now(), '[]', '[]', '[]', NULL, NULL)"
            ),
            "controls",
            "gp_control, the message 'c1' of 'p': kind = 'weird' cannot be read",
        ),
        (
            "INSERT INTO gp_lease VALUES ('p', 'weird', 'h', now(), now(), now())",
            "current_lease",
            "gp_lease, the lease of 'p': sync_type = 'weird' cannot be read",
        ),
        (
            "UPDATE gp_sync_log SET sync_type = 'weird'",
            "logs",
            "gp_sync_log, a run of 'p': sync_type = 'weird' cannot be read",
        ),
    ],
)
def test_a_row_changed_by_hand_is_a_store_error_naming_its_table_row_and_column(
    sql_store_and_sql: tuple[SyncStore, Callable[[str], None]],
    statement: str,
    read: str,
    message: str,
) -> None:
    # Found by editing a store's rows: these raised a bare ValueError or
    # JSONDecodeError that named neither the table, the row nor the column.
    store, execute = sql_store_and_sql
    execute(statement)
    with pytest.raises(StoreError, match=re.escape(message)) as caught:
        getattr(store, read)("p")
    assert "correct or delete it" in str(caught.value)


@pytest.mark.parametrize(
    ("statement", "read", "message"),
    [
        (
            "UPDATE gp_sync_group SET last_sync = 'yesterday'",
            "load",
            "the record of group 'g1': last_sync = 'yesterday' cannot be read",
        ),
        (
            "UPDATE gp_sync_group SET last_sync = '2026-01-01T00:00:00'",
            "load",
            (
                "last_sync = '2026-01-01T00:00:00' cannot be read (StoreError: the store keeps"
                " timezone-aware datetimes only"
            ),
        ),
        (
            "UPDATE gp_job SET last_run = 'x'",
            "load",
            "gp_job, the last run of 'p' ('full'): last_run = 'x' cannot be read",
        ),
        (
            "INSERT INTO gp_lease VALUES ('p', 'full', 'h', 'x', 'y', 'z')",
            "current_lease",
            "gp_lease, the lease of 'p': acquired = 'x' cannot be read",
        ),
        (
            "UPDATE gp_sync_log SET finished = '2026-01-01'",
            "logs",
            "gp_sync_log, a run of 'p': finished = '2026-01-01' cannot be read",
        ),
        (
            (
                "INSERT INTO gp_rejected_event (provisioner, received, sequence, reason, payload)"
                " VALUES ('p', 'soon', 1, 'r', '{}')"
            ),
            "rejected_events",
            "gp_rejected_event, an event of 'p': received = 'soon' cannot be read",
        ),
    ],
)
def test_a_sqlite_time_changed_by_hand_is_a_store_error_naming_where(
    tmp_path: Path, statement: str, read: str, message: str
) -> None:
    store = SqliteSyncStore(tmp_path / "s.db")
    _with_rows(store)
    with sqlite3.connect(tmp_path / "s.db") as connection:
        connection.execute(statement)
    connection.close()
    with pytest.raises(StoreError, match=re.escape(message)):
        getattr(store, read)("p")


def _with_rows(store: SyncStore) -> None:
    """A provisioner 'p' with a job's last run, a group, a membership and a logged run."""
    when = datetime(2026, 1, 1, tzinfo=UTC)
    store.save(
        ProvisionerRecord(name="p", last_run={SyncType.FULL: when}),
        [
            SyncRecord(object_type=ObjectType.GROUP, grouper_id="g1", last_sync=when),
            SyncRecord(object_type=ObjectType.MEMBERSHIP, grouper_id=("g1", "m1")),
        ],
        log=LogRecord(
            provisioner="p",
            sync_type=SyncType.FULL,
            started=when,
            finished=when,
            status="SUCCESS",
            summary="",
        ),
    )


@pytest.fixture(params=["sqlite", "postgres"])
def sql_store_and_sql(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[SyncStore, Callable[[str], None]]]:
    """A store of each SQL kind with :func:`_with_rows`, and a way to change its rows by hand."""
    if request.param == "postgres":
        import psycopg  # noqa: PLC0415  # the extra, with the server

        dsn = request.getfixturevalue("postgres_dsn")
        store: SyncStore = open_store(dsn)
        connection: Any = psycopg.connect(dsn, autocommit=True)
    else:
        store = SqliteSyncStore(tmp_path / "s.db")
        connection = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
        # PostgreSQL's now(), as the SQLite store writes a time.
        connection.create_function("now", 0, lambda: "2026-01-01T00:00:00.000000+00:00")
    _with_rows(store)
    yield store, connection.execute
    connection.close()


def test_a_file_that_is_not_a_database_is_a_store_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("not a database")
    with pytest.raises(StoreError, match=re.escape(f"{path}: cannot be opened as a SQLite")):
        SqliteSyncStore(path)
    assert path.read_text() == "not a database"


def test_sqlite_store_closes_at_the_end_of_a_with_block(tmp_path: Path) -> None:
    with SqliteSyncStore(tmp_path / "s.db") as store:
        store.save(ProvisionerRecord(name="p", last_run={}), [])
        connection = store._local.conn
    assert store._local.conn is None
    with pytest.raises(sqlite3.ProgrammingError, match="closed database"):
        connection.execute("SELECT 1")
    assert store.provisioners() == ["p"]  # used again: opened again
    store.close()


def test_open_store_takes_a_path_object(tmp_path: Path) -> None:
    # Found by following the Provisioner's own hint with a Path:
    # "'PosixPath' object has no attribute 'startswith'".
    with pytest.raises(StoreError, match="no such sync store"):
        open_store(tmp_path / "s.db", create=False)
    store = open_store(tmp_path / "s.db")
    assert isinstance(store, SqliteSyncStore)
    store.close()
    with pytest.raises(TypeError, match="open_store takes a path or a connection string, not int"):
        open_store(5)  # type: ignore[arg-type]  # the mistake under test


def test_every_store_refuses_naive_times_in_purges_and_leases(
    make_store: Callable[[], SyncStore],
) -> None:
    # The in-memory store compared them ("can't compare offset-naive and
    # offset-aware datetimes") where the SQL stores said what was wrong.
    store = make_store()
    naive = datetime(2026, 1, 1)  # noqa: DTZ001  # naive on purpose
    with pytest.raises(StoreError, match="timezone-aware datetimes only"):
        store.purge("p", records_before=naive, logs_before=datetime.now(tz=UTC))
    with pytest.raises(StoreError, match="timezone-aware datetimes only"):
        store.acquire_lease("p", SyncType.FULL, "me", now=naive, ttl=timedelta(minutes=1))


def test_a_sqlite_store_that_cannot_be_opened_says_why(tmp_path: Path) -> None:
    # SQLite says "unable to open database file" for both.
    with pytest.raises(StoreError, match=r"\(it is a folder: name a file in it\)"):
        SqliteSyncStore(tmp_path)
    missing = tmp_path / "nope" / "s.db"
    with pytest.raises(StoreError, match=rf"\(its folder {re.escape(str(missing.parent))} does"):
        SqliteSyncStore(missing)


def test_every_store_gives_the_provisionable_membership_pairs_of_members(
    make_store: Callable[[], SyncStore],
) -> None:
    """What the subject-link records ask of grouperprov's own stores, without building records.

    The pairs of the members' provisionable membership records, and only
    theirs: as the records that ``load_records(members=)`` gives say.
    """
    store = make_store()
    records = _memberships(300)
    records[7] = attrs.evolve(records[7], provisionable=False)
    records += [
        SyncRecord(object_type=ObjectType.ENTITY, grouper_id="member-000007", provisionable=True)
    ]
    store.save(ProvisionerRecord(name="p"), records)
    store.save(ProvisionerRecord(name="other"), _memberships(10))
    members = ["member-000003", "member-000007", "member-000299", "nobody"]
    pairs = store._provisioned_pairs("p", members)  # type: ignore[attr-defined]  # grouperprov's stores
    loaded = store.load_records("p", [], members=members).records
    assert sorted(pairs) == sorted(
        k[1] for k, r in loaded.items() if r.provisionable and isinstance(k[1], tuple)
    )
    assert sorted(pairs) == [("group-003", "member-000003"), ("group-049", "member-000299")]
    assert store._provisioned_pairs("p", []) == []  # type: ignore[attr-defined]  # as above
