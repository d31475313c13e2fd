"""The benchmarks' own checks: their floors measure what they claim to."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import pytest

from grouperprov import ObjectType, Provisioner, SyncErrorCode, SyncStatus
from grouperprov.stores import MemorySyncStore
from grouperprov.testing import SlapdServer

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def bench_targets() -> Iterator[ModuleType]:
    """``benchmarks/bench_targets.py``, imported as its scripts are (their folder on the path)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module("bench_targets")
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_the_least_nochange_pass_finds_what_a_sync_would_change(
    bench_targets: Any,  # a module
    slapd_server: SlapdServer,
) -> None:
    """Nothing after a sync; a member gone from Grouper, or a record in error, is found."""
    import ldap3  # noqa: PLC0415  # the ldap extra

    from grouperprov.targets.ldap import LdapGroups, LdapTarget  # noqa: PLC0415

    source, _ = bench_targets._ldap_campus(0.005)  # 10 groups, 100 people, 500 memberships
    people = f"ou=people,{slapd_server.suffix}"
    base = f"ou=least,{slapd_server.suffix}"
    admin: Any = ldap3.Connection(
        ldap3.Server(slapd_server.url), slapd_server.bind_dn, slapd_server.password, auto_bind=True
    )
    assert admin.add(base, ["organizationalUnit"])
    admin.unbind()
    target = LdapTarget(
        slapd_server.url,
        bind_dn=slapd_server.bind_dn,
        password=slapd_server.password,
        groups=LdapGroups(base_dn=base, attributes=("description",)),
    )
    store = MemorySyncStore()
    provisioner = Provisioner(bench_targets._ldap_config(people), source, target, store)
    try:
        assert provisioner.full_sync().status is SyncStatus.SUCCESS

        def least() -> int:
            return int(bench_targets._least_nochange(source, target, store, "bench-ldap", people))

        assert least() == 0
        snapshot = source.snapshot()
        membership = snapshot.memberships[0]
        name = str(next(g for g in snapshot.groups if g.id == membership.group_id).get("name"))
        subject = membership.entity_id.removeprefix("mem-")
        source.remove_member(name, subject)
        assert least() == 1  # that group's member DNs differ from the directory's
        source.add_member(name, subject)
        assert least() == 0
        state = store.load("bench-ldap")
        key = (ObjectType.MEMBERSHIP, (membership.group_id, membership.entity_id))
        failed = attrs.evolve(
            state.records[key],
            error_code=SyncErrorCode.ERR,
            error_message="a test",
            error_time=datetime.now(UTC),
        )
        store.save(state.provisioner, [failed])
        assert least() == 1  # that membership's record is in error
    finally:
        target.close()


@pytest.mark.usefixtures("slapd_server")  # slapd can start here (the benchmark starts its own)
def test_the_targets_benchmark_prints_each_ldap_figure(
    bench_targets: Any,  # a module
    capsys: pytest.CaptureFixture[str],
) -> None:
    bench_targets.bench_ldap(0.005)
    figures = _printed(capsys)
    assert figures["ldap_memberships"] == "500"
    for ratio in (
        "ldap_full_sync_over_ldapadd",
        "ldap_nochange_sync_over_paged_read",
        "ldap_nochange_least_over_paged_read",
        "ldap_nochange_sync_over_least",
    ):
        assert float(figures[ratio]) > 0


def test_the_least_from_empty_pass_writes_what_a_sync_writes(
    bench_targets: Any,  # a module
    postgres_dsn: str,
) -> None:
    """The same rows as a full sync from empty, and one record per group and membership."""
    import psycopg  # noqa: PLC0415  # the postgres extra

    from grouperprov.targets.sql import SqlLayout, SqlTarget  # noqa: PLC0415

    sys.path.insert(0, str(BENCHMARKS))
    try:
        campus = importlib.import_module("campus")
    finally:
        sys.path.remove(str(BENCHMARKS))
    data = campus.build(groups=20, entities=200, memberships=1000, variant="objects")
    layout = SqlLayout.from_dict(bench_targets.SQL_LAYOUT)
    rows = "SELECT group_id, member_id, group_name, subject_id FROM app_memberships"
    with psycopg.connect(postgres_dsn) as conn:
        target = SqlTarget(conn, layout)
        target.create_tables()
        store = MemorySyncStore()
        written = bench_targets._least_from_empty(data.snapshot, conn, target, store)
        least_rows = sorted(conn.execute(rows).fetchall())
        least_groups = sorted(conn.execute("SELECT name, description FROM app_groups").fetchall())
        conn.execute("DELETE FROM app_memberships")
        conn.execute("DELETE FROM app_groups")
        conn.commit()
        provisioner = Provisioner(
            bench_targets._sql_config(), campus.SnapshotSource(data.snapshot), target, store
        )
        assert provisioner.full_sync().status is SyncStatus.SUCCESS
        assert sorted(conn.execute(rows).fetchall()) == least_rows
        assert (
            sorted(conn.execute("SELECT name, description FROM app_groups").fetchall())
            == least_groups
        )
        with pytest.raises(SystemExit, match="starts from empty; the target has"):
            bench_targets._least_from_empty(data.snapshot, conn, target, store)
    assert written == len(least_rows) == len(data.snapshot.memberships)
    records = store.load("bench-postgres").records
    assert len(records) == len(data.snapshot.groups) + written
    assert all(r.in_target and r.provisionable and r.inserted_by_us for r in records.values())


@pytest.mark.usefixtures("postgres_server")  # it can start here (the benchmark starts its own)
def test_the_targets_benchmark_prints_each_postgres_figure(
    bench_targets: Any,  # a module
    capsys: pytest.CaptureFixture[str],
) -> None:
    bench_targets.bench_postgres(0.002)
    figures = _printed(capsys)
    assert figures["postgres_memberships"] == "2000"
    for ratio in (
        "postgres_full_sync_over_copy",
        "postgres_least_over_copy",
        "postgres_full_sync_over_least",
    ):
        assert float(figures[ratio]) > 0


def _printed(capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """The ``name = value`` lines a benchmark printed."""
    out = capsys.readouterr().out.splitlines()
    return dict(line.split(" = ", 1) for line in out if " = " in line)


def test_the_links_benchmark_measures_deletes_that_leave_members(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``bench_links.py`` at a tiny scale: both runs apply every delete as it is, and it says so.

    Its own checks stop it (``SystemExit``) when a run is not what it
    measures (a delete recalculated, a run that failed).
    """
    sys.path.insert(0, str(BENCHMARKS))
    try:
        bench_links = importlib.import_module("bench_links")
        monkeypatch.setattr(sys, "argv", ["bench_links.py", "--scale", "0.01"])
        bench_links.main()
    finally:
        sys.path.remove(str(BENCHMARKS))
    figures = dict(
        line.split(" = ") for line in capsys.readouterr().out.splitlines() if " = " in line
    )
    assert (figures["links_memberships"], figures["links_deletes"]) == ("2000", "100")
    assert float(figures["links_delete_over_plain_delete"]) > 0
