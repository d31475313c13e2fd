"""What is particular to PostgresSyncStore (the shared contract is in test_stores.py)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import psycopg
import pytest
from psycopg.rows import dict_row, namedtuple_row

from grouperprov import ObjectType, Provisioner, ProvisionerRecord, SyncRecord, SyncStatus, stores
from grouperprov._codes import SyncErrorCode
from grouperprov.cli import main
from grouperprov.exceptions import StoreError
from grouperprov.stores import SCHEMA_VERSION, PostgresSyncStore, SqliteSyncStore, open_store
from grouperprov.stores._postgres import _COPY_FROM
from grouperprov.testing import InMemorySource, InMemoryTarget, PostgresServer, check_sync_store
from lease_worker import CONFIG

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _membership(i: int, **changes: object) -> SyncRecord:
    fields: dict[str, object] = {
        "object_type": ObjectType.MEMBERSHIP,
        "grouper_id": (f"g{i % 7}", f"m{i}"),
        "target_id": (f"cn=g{i % 7}", f"uid=m{i}"),
        "provisionable": True,
        "provisionable_start": T0,
        "in_target": True,
        "in_target_start": T0 + timedelta(seconds=i),
        "inserted_by_us": i % 2 == 0,
        "last_sync": T0,
    }
    fields.update(changes)
    return SyncRecord(**fields)  # type: ignore[arg-type]  # the fields of a record


def test_records_survive_reopening_and_the_repr_hides_the_password(postgres_dsn: str) -> None:
    dsn = postgres_dsn + " password=s3cret-value"  # trust authentication ignores it
    record = SyncRecord(
        object_type=ObjectType.GROUP,
        grouper_id="g",
        target_id="cn=g,ou=groups",
        in_target=True,
        links=("cn=g,ou=groups", None, "7"),
        error_code=SyncErrorCode.LEN,
        error_message="cn is too long",
        error_time=T0,
    )
    store = PostgresSyncStore(dsn)
    store.save(ProvisionerRecord(name="p", last_run={}), [record])
    store.close()
    reopened = PostgresSyncStore(dsn)
    assert dict(reopened.load("p").records) == {(ObjectType.GROUP, "g"): record}
    assert "s3cret" not in repr(reopened)
    assert "dbname=" in repr(reopened)
    assert reopened.provisioners() == ["p"]
    with psycopg.connect(postgres_dsn) as conn:
        assert conn.execute("SELECT version FROM gp_schema").fetchone() == (SCHEMA_VERSION,)


def test_a_newer_schema_is_refused_with_a_clear_message(postgres_dsn: str) -> None:
    PostgresSyncStore(postgres_dsn).close()
    with psycopg.connect(postgres_dsn) as conn:
        conn.execute("UPDATE gp_schema SET version = %s", (SCHEMA_VERSION + 1,))
    with pytest.raises(
        StoreError,
        match=rf"schema version {SCHEMA_VERSION + 1} is newer than this grouperprov knows",
    ):
        PostgresSyncStore(postgres_dsn)


@pytest.mark.parametrize("autocommit", [True, False])
def test_a_given_connection_is_used_and_left_open(postgres_dsn: str, autocommit: bool) -> None:
    with psycopg.connect(postgres_dsn, autocommit=autocommit) as conn:
        store = PostgresSyncStore(conn)
        store.save(ProvisionerRecord(name="p"), [_membership(1)])
        assert dict(store.load("p").records) == {
            (ObjectType.MEMBERSHIP, ("g1", "m1")): _membership(1)
        }
        store.close()
        assert not conn.closed  # its owner closes it
    with contextlib.closing(PostgresSyncStore(postgres_dsn)) as other:  # committed, not pending
        assert len(other.load("p").records) == 1


@pytest.mark.parametrize("rows", [dict_row, namedtuple_row], ids=["dict_row", "namedtuple_row"])
def test_a_given_connection_that_makes_dicts_or_named_tuples_keeps_the_contract(
    postgres_server: PostgresServer, rows: Any
) -> None:
    # Found with an application's own connection (row_factory=dict_row): the
    # store read its rows by position, and every read failed with KeyError: 0.
    opened: list[psycopg.Connection[Any]] = []

    def make() -> PostgresSyncStore:
        conn = psycopg.connect(postgres_server.create_database(), row_factory=rows)
        opened.append(conn)
        return PostgresSyncStore(conn)

    check_sync_store(make)
    for conn in opened:
        conn.close()


def test_a_given_connection_inside_its_owner_s_transaction_is_refused(postgres_dsn: str) -> None:
    # Found so: the store's transaction became a savepoint of the caller's,
    # and the records it saved were lost when the caller closed without a commit.
    with psycopg.connect(postgres_dsn) as conn:
        store = PostgresSyncStore(conn)
        conn.execute("SELECT 1")  # the owner's own work: a transaction is open
        with pytest.raises(StoreError, match=r"inside a transaction \(INTRANS\) of its owner"):
            store.save(ProvisionerRecord(name="p"), [_membership(1)])
        conn.rollback()
        store.save(ProvisionerRecord(name="p"), [_membership(1)])  # now its own
        with contextlib.suppress(psycopg.Error):
            conn.execute("SELECT 1/0")  # a failed transaction of the owner's
        with pytest.raises(StoreError, match=r"\(INERROR\)"):
            store.load("p")
        conn.rollback()
    with contextlib.closing(PostgresSyncStore(postgres_dsn)) as other:
        assert len(other.load("p").records) == 1  # committed


def test_an_asyncio_connection_is_refused_by_name(postgres_dsn: str) -> None:
    connection = asyncio.run(psycopg.AsyncConnection.connect(postgres_dsn))
    try:
        with pytest.raises(
            TypeError, match=r"psycopg\.Connection \(synchronous\), not psycopg\.Asy"
        ):
            PostgresSyncStore(connection)  # type: ignore[arg-type]  # what is refused
    finally:
        asyncio.run(connection.close())


def test_large_saves_go_through_copy_and_update_what_is_there(postgres_dsn: str) -> None:
    store = PostgresSyncStore(postgres_dsn)
    first = [_membership(i) for i in range(_COPY_FROM * 2)]
    store.save(ProvisionerRecord(name="p"), first)
    # Half of them change, and as many new ones come.
    changed = [
        _membership(i, in_target=False, in_target_end=T0 + timedelta(days=1))
        for i in range(0, _COPY_FROM * 2, 2)
    ]
    new = [_membership(i) for i in range(_COPY_FROM * 2, _COPY_FROM * 3)]
    store.save(ProvisionerRecord(name="p"), [*changed, *new, changed[0]])  # a repeat: last wins
    loaded = store.load("p").records
    expected = {(r.object_type, r.grouper_id): r for r in [*first, *changed, *new]}
    assert dict(loaded) == expected


def _terminate_others(dsn: str) -> None:
    """Close every other connection to the database, as a restart or a failover does."""
    with psycopg.connect(dsn, autocommit=True) as admin:
        others = (
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        deadline = time.monotonic() + 10
        while admin.execute(others).fetchall() and time.monotonic() < deadline:
            time.sleep(0.02)


def test_a_connection_the_server_closed_is_opened_again_before_it_is_used(
    postgres_dsn: str,
) -> None:
    # Found by restarting PostgreSQL between runs: the next run ended with
    # psycopg's AdminShutdown, not even a StoreError; the one after worked.
    store = PostgresSyncStore(postgres_dsn)
    store.save(ProvisionerRecord(name="p"), [_membership(1)])
    _terminate_others(postgres_dsn)
    assert len(store.load("p").records) == 1  # connected again, nothing raised
    # Closed after the check (a race): that operation fails clearly, the next connects.
    from grouperprov.stores import _postgres  # noqa: PLC0415  # the check, left out

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_postgres, "closed_by_peer", lambda _fileno: False)
        _terminate_others(postgres_dsn)
        with pytest.raises(StoreError, match=r"was lost: .*; the next operation connects again"):
            store.load("p")
    assert len(store.load("p").records) == 1

    # An error that is not a lost connection is what it is.
    def too_slow() -> None:
        with store._transaction() as cur:
            cur.execute("SET LOCAL statement_timeout = 1")
            cur.execute("SELECT pg_sleep(1)")

    with pytest.raises(psycopg.errors.QueryCanceled):
        too_slow()
    # A connection made before a fork is the parent's: the child makes its own.
    parent = store._local.conn  # the thread's connection
    store._local.pid = -1  # as a forked child sees it
    assert len(store.load("p").records) == 1
    assert store._local.conn is not parent
    assert not parent.closed  # left to the parent
    given = psycopg.connect(postgres_dsn, autocommit=True)
    kept = PostgresSyncStore(given)
    _terminate_others(postgres_dsn)
    with pytest.raises(StoreError) as caught:
        kept.load("p")
    assert "the connection to the sync store" in str(caught.value)
    assert "was lost: " in str(caught.value)
    assert "give PostgresSyncStore a connection string to have it connect again" in str(
        caught.value
    )
    given.close()


def test_an_unreachable_server_is_a_store_error_without_the_password() -> None:
    dsn = "host=127.0.0.1 port=1 user=u password=hunter2 dbname=x connect_timeout=2"
    with pytest.raises(StoreError, match="cannot connect to the sync store") as caught:
        PostgresSyncStore(dsn)
    assert "hunter2" not in str(caught.value)


def test_open_store_tells_postgres_from_sqlite(postgres_dsn: str, tmp_path: Path) -> None:
    assert isinstance(open_store(postgres_dsn), PostgresSyncStore)
    params = psycopg.conninfo.conninfo_to_dict(postgres_dsn)
    url = f"postgresql://postgres@127.0.0.1:{params['port']}/{params['dbname']}"
    assert isinstance(open_store(url), PostgresSyncStore)
    assert isinstance(open_store(str(tmp_path / "state.db")), SqliteSyncStore)
    assert isinstance(open_store(str(tmp_path / "a=b.db")), SqliteSyncStore)


def test_status_reads_a_postgres_store_and_never_shows_its_password(
    postgres_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = InMemorySource()
    source.add_group("a:b")
    source.mark("a", "shared")
    dsn = postgres_dsn + " password=s3cret-value"
    result = Provisioner(CONFIG, source, InMemoryTarget(), PostgresSyncStore(dsn)).full_sync()
    assert result.status is SyncStatus.SUCCESS
    assert main(["status", "--store", dsn]) == 0
    shown = capsys.readouterr().out
    assert "shared" in shown
    assert "last full run: SUCCESS" in shown
    empty = postgres_dsn.rsplit("dbname=", 1)[0] + "dbname=postgres password=s3cret-value"
    assert main(["status", "--store", empty]) == 0
    shown = capsys.readouterr().out
    assert "no provisioner has run with this store yet" in shown
    assert "s3cret" not in shown


def test_without_psycopg_the_postgres_store_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg fails
    monkeypatch.delitem(sys.modules, "grouperprov.stores._postgres")
    with pytest.raises(ImportError, match=r"pip install 'grouperprov\[postgres\]'"):
        stores.PostgresSyncStore  # noqa: B018  # the lazy import is what is tested
    with pytest.raises(AttributeError, match="has no attribute 'Nothing'"):
        stores.Nothing  # noqa: B018


def test_a_malformed_connection_string_is_a_store_error() -> None:
    with pytest.raises(StoreError, match=r"<unparsable connection string>: .*missing \"=\""):
        PostgresSyncStore("host=127.0.0.1 port")


def test_a_version_1_database_is_upgraded_in_place(postgres_dsn: str) -> None:
    from grouperprov.stores import _postgres  # noqa: PLC0415  # the migrations of the old version

    with psycopg.connect(postgres_dsn) as conn:
        conn.execute(
            "CREATE TABLE gp_schema (singleton boolean PRIMARY KEY DEFAULT true "
            "CHECK (singleton), version integer NOT NULL)"
        )
        for statement in _postgres._MIGRATIONS[1]:  # build a version 1 database
            conn.execute(statement)
        conn.execute("INSERT INTO gp_schema (version) VALUES (1)")
        conn.execute("INSERT INTO gp_provisioner (name) VALUES ('p')")
        conn.execute(
            "INSERT INTO gp_sync_group (provisioner, group_id, provisionable, in_target, "
            "inserted_by_us) VALUES ('p', 'g', true, true, false)"
        )
    store = PostgresSyncStore(postgres_dsn)
    state = store.load("p")
    assert state.provisioner.last_sequence is None
    assert state.records[(ObjectType.GROUP, "g")].in_target
    store.save(attrs.evolve(state.provisioner, last_sequence=12), [])
    assert store.load("p").provisioner.last_sequence == 12
    with psycopg.connect(postgres_dsn) as conn:
        assert conn.execute("SELECT version FROM gp_schema").fetchone() == (SCHEMA_VERSION,)
        # Version 3 dropped the unused indexes of records by target id.
        indexes = conn.execute("SELECT indexname FROM pg_indexes WHERE tablename LIKE 'gp_sync_%'")
        names = {name for (name,) in indexes}
        assert "gp_sync_membership_member" in names
        assert not {n for n in names if n.endswith("_target")}
    store.close()


def test_a_message_of_bytes_with_a_nul_neither_fails_the_run_nor_is_lost(
    postgres_dsn: str,
) -> None:
    """Bytes off the queue, a NUL among them: one rejected event, kept with the NUL as text.

    PostgreSQL's text cannot hold NUL: the save failed, so the run failed,
    and again with every delivery of the message.
    """
    from grouperprov import ProvisionerConfig, parse_grouper_message  # noqa: PLC0415

    config = ProvisionerConfig.from_dict(
        {
            "name": "p",
            "groups": {"attributes": [{"name": "cn", "field": "extension"}], "matching": ["cn"]},
            "entities": {"operate": False},
            "memberships": {
                "type": "group_attributes",
                "attribute": {"name": "member", "field": "subject_id"},
            },
        }
    )
    source = InMemorySource()
    source.add_subject("u1")
    source.add_group("a:g")
    source.add_member("a:g", "u1")
    source.mark("a", "p", scope="sub")
    store = PostgresSyncStore(postgres_dsn)
    prov = Provisioner(config, source, InMemoryTarget(id_attributes={"group": "cn"}), store)
    assert prov.full_sync().status is SyncStatus.SUCCESS
    events, rejected = parse_grouper_message(b"\x00\x01 not a message")
    result = prov.incremental_sync([*events, *rejected])
    assert result.status is SyncStatus.SUCCESS, result.summary()
    (kept,) = store.rejected_events("p")
    assert kept.payload == "\\u0000\x01 not a message"
    assert kept.reason.startswith("not JSON: ")


def test_a_value_postgresql_refuses_for_another_reason_than_nul_is_not_retried(
    postgres_dsn: str,
) -> None:
    """Only a NUL is written another way; any other refusal of the data stands as it is."""
    store = PostgresSyncStore(postgres_dsn)
    with pytest.raises(psycopg.errors.NumericValueOutOfRange):
        store.save(ProvisionerRecord(name="p", last_sequence=2**63), [])
    assert store.load("p").provisioner.last_sequence is None


def _sessions(dsn: str) -> int:
    """Connections to *dsn*'s database, this one included."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_with_closes_the_connections_the_store_opened(postgres_dsn: str) -> None:
    with PostgresSyncStore(postgres_dsn) as store:
        store.save(ProvisionerRecord(name="p", last_run={}), [_membership(1)])
        assert _sessions(postgres_dsn) == 2  # the store's and the count's
    assert _sessions(postgres_dsn) == 1
    with psycopg.connect(postgres_dsn, autocommit=True) as given:  # a given one: the caller's
        with PostgresSyncStore(given) as store:
            assert store.provisioners() == ["p"]
        assert not given.closed
