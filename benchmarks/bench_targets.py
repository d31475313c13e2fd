"""Benchmark: the SQL target on PostgreSQL and the LDAP target on OpenLDAP, against plain loads.

PostgreSQL (``--scale 1``: the 1,000,000-membership campus of ``bench_plan.py``,
membership objects): a full sync from empty into a group table and a
membership table through ``SqlTarget``, against a plain ``COPY`` of the same
rows into the same tables (same keys), measured in the same run on the same
throw-away server; and against the least a sync from empty can do in Python
(``_least_from_empty``: the reads, the same ``COPY`` of rows made from
Grouper's values, one record per object).

OpenLDAP (``--scale 1``: 2,000 groups with 20,000 distinct members, 100,000
memberships, members as ``member`` DNs): a full sync from empty through
``LdapTarget``, against ``ldapadd`` of the equivalent LDIF; and a full sync
with nothing to change, against a plain paged read of the same entries and
against the least such a sync can do in Python (``_least_nochange``: both
reads, a set compare per group, a record lookup per membership).

With ``--repeat N`` the OpenLDAP measures run N times each, into branches of
their own, and the best of each is kept: the machines are shared, and one
run of ``ldapadd`` was seen to take twice as long as the next.

Each part prints ``<part>_skipped = 1`` when its server programs are missing.
Every figure is printed on a line of its own as ``name = value``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Hashable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import campus  # the benchmark's own helper, beside this file

from grouperprov import (
    ObjectType,
    Provisioner,
    ProvisionerConfig,
    ProvisionerRecord,
    SyncRecord,
    SyncStatus,
    escape_dn_value,
)
from grouperprov.stores import MemorySyncStore
from grouperprov.testing import InMemorySource, PostgresServer, ServerUnavailable, SlapdServer

SQL_LAYOUT = {
    "groups": {
        "table": "app_groups",
        "id_column": "name",
        "id_attribute": "name",
        "columns": ["name", "description"],
    },
    "memberships": {
        "table": "app_memberships",
        "group_column": "group_id",
        "entity_column": "member_id",
        "columns": ["group_name", "subject_id"],
    },
}

# The rows of SQL_LAYOUT's tables, as both floors write them (the same statements).
_COPY_GROUPS = "COPY app_groups (name, description) FROM STDIN"
_COPY_MEMBERSHIPS = "COPY app_memberships (group_id, member_id, group_name, subject_id) FROM STDIN"


def _timed(run: Any) -> float:  # noqa: ANN401  # any callable
    # Each measure starts from a collected heap: a full collection of what an
    # earlier measure left would otherwise fall into whichever runs next.
    gc.collect()
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


@contextlib.contextmanager
def _server(kind: type[Any]) -> Iterator[Any]:
    try:
        server = kind(durable=True) if kind is PostgresServer else kind()
        server.start()
    except ServerUnavailable as exc:
        print(f"# skipped: {exc}", file=sys.stderr)
        yield None
        return
    try:
        yield server
    finally:
        server.stop()


def bench_postgres(scale: float) -> None:
    """The membership-objects campus into PostgreSQL tables, against COPY."""
    import psycopg  # noqa: PLC0415  # the postgres extra

    from grouperprov.targets.sql import SqlLayout, SqlTarget  # noqa: PLC0415

    data = campus.build(
        groups=int(20_000 * scale),
        entities=int(200_000 * scale),
        memberships=int(1_000_000 * scale),
        variant="objects",
    )
    snapshot = data.snapshot
    layout = SqlLayout.from_dict(SQL_LAYOUT)
    with _server(PostgresServer) as server:
        if server is None:
            print("postgres_skipped = 1")
            return
        floor_dsn, sync_dsn = server.create_database(), server.create_database()
        names = {g.id: str(g.get("name")) for g in snapshot.groups}
        subjects = {e.id: str(e.get("subject_id")) for e in snapshot.entities}
        for dsn in (floor_dsn, sync_dsn):
            with psycopg.connect(dsn) as conn:
                SqlTarget(conn, layout).create_tables()

        def copy() -> None:
            with psycopg.connect(floor_dsn) as conn, conn.cursor() as cur:
                with cur.copy(_COPY_GROUPS) as out:
                    for g in snapshot.groups:
                        out.write_row((g.get("name"), g.get("description")))
                with cur.copy(_COPY_MEMBERSHIPS) as out:
                    for m in snapshot.memberships:
                        name = names[m.group_id]
                        out.write_row((name, m.entity_id, name, subjects[m.entity_id]))

        copy_s = _timed(copy)
        least_dsn = server.create_database()
        with psycopg.connect(least_dsn) as conn:
            least_target = SqlTarget(conn, layout)
            least_target.create_tables()
            least_s = _timed(
                lambda: _least_from_empty(snapshot, conn, least_target, MemorySyncStore())
            )
            (least_rows,) = conn.execute("SELECT count(*) FROM app_memberships").fetchone() or (0,)
        if least_rows != len(snapshot.memberships):
            msg = f"the least pass wrote {least_rows} membership rows"
            raise SystemExit(msg)
        connection = psycopg.connect(sync_dsn)
        provisioner = Provisioner(
            _sql_config(),
            campus.SnapshotSource(snapshot),
            SqlTarget(connection, layout),
            MemorySyncStore(),
        )
        result: list[Any] = []
        sync_s = _timed(lambda: result.append(provisioner.full_sync()))
        if result[0].status is not SyncStatus.SUCCESS:
            raise SystemExit(result[0].summary())
        (rows,) = connection.execute("SELECT count(*) FROM app_memberships").fetchone() or (0,)
        connection.close()
        if rows != len(snapshot.memberships):
            msg = f"{rows} membership rows, {len(snapshot.memberships)} expected"
            raise SystemExit(msg)
        print(f"postgres_memberships = {rows}")
        print(f"postgres_copy_s = {copy_s:.3f}")
        print(f"postgres_full_sync_s = {sync_s:.3f}")
        print(f"postgres_full_sync_over_copy = {sync_s / copy_s:.2f}")
        print(f"postgres_least_s = {least_s:.3f}")
        print(f"postgres_least_over_copy = {least_s / copy_s:.2f}")
        print(f"postgres_full_sync_over_least = {sync_s / least_s:.2f}")


def _least_from_empty(
    snapshot: Any,  # noqa: ANN401  # a GrouperSnapshot
    connection: Any,  # noqa: ANN401  # the target's psycopg connection
    target: Any,  # noqa: ANN401  # a SqlTarget
    store: MemorySyncStore,
) -> int:
    """The least a full sync from empty can do, in Python; the membership rows it wrote.

    It reads what the sync reads (the target's groups and memberships, the
    store's records), makes each group's row and each membership's row from
    Grouper's values, writes them with the same ``COPY`` as the floor (on the
    target's connection, in one transaction), and saves one record per group
    and per membership: no scope, translation rules, matching, plan,
    failsafe, intents or explanation. It is not a sync; it is a second floor,
    which says how much of the sync's time one pass over the memberships
    with per-object records must take in Python.
    """
    found = len(target.retrieve_all_groups()) + len(target.retrieve_all_memberships())
    if found:
        msg = f"the least pass starts from empty; the target has {found} objects"
        raise SystemExit(msg)
    state = store.load("bench-postgres")
    names = {g.id: str(g.get("name")) for g in snapshot.groups}
    subjects = {e.id: str(e.get("subject_id")) for e in snapshot.entities}
    now = datetime.now(UTC)
    records: list[SyncRecord] = []
    with connection.transaction(), connection.cursor() as cur:
        with cur.copy(_COPY_GROUPS) as out:
            for g in snapshot.groups:
                out.write_row((names[g.id], g.get("description")))
                records.append(_least_record(ObjectType.GROUP, g.id, names[g.id], now))
        with cur.copy(_COPY_MEMBERSHIPS) as out:
            for m in snapshot.memberships:
                if (ObjectType.MEMBERSHIP, m.id) in state.records:
                    continue
                name = names[m.group_id]
                out.write_row((name, m.entity_id, name, subjects[m.entity_id]))
                records.append(_least_record(ObjectType.MEMBERSHIP, m.id, (name, m.entity_id), now))
    connection.commit()  # also when the reads above began the transaction
    store.save(ProvisionerRecord(name="bench-postgres"), records)
    return len(records) - len(snapshot.groups)


def _least_record(
    object_type: ObjectType, grouper_id: Hashable, target_id: Hashable, now: datetime
) -> SyncRecord:
    return SyncRecord(
        object_type=object_type,
        grouper_id=grouper_id,
        last_sync=now,
        target_id=target_id,
        provisionable=True,
        provisionable_start=now,
        in_target=True,
        inserted_by_us=True,
    )


def _sql_config() -> ProvisionerConfig:
    return ProvisionerConfig.from_toml(
        campus.MEMBERSHIP_OBJECTS.replace(
            'delete_policy = "not_in_grouper"', 'delete_policy = "inserted_by_us"'
        )
    )


def _ldap_campus(scale: float) -> tuple[InMemorySource, int]:
    rng = random.Random(20261201)  # noqa: S311  # benchmark data, not security
    groups, people, memberships = int(2_000 * scale), int(20_000 * scale), int(100_000 * scale)
    source = InMemorySource()
    subjects = [f"s{i:06d}" for i in range(people)]
    for subject in subjects:
        source.add_subject(subject)
    per_group = max(1, memberships // groups)
    pairs = 0
    for g in range(groups):
        name = f"campus:dept{g % 20:02d}:group{g:05d}"
        source.add_group(name, description=f"Group {g}")
        for subject in rng.sample(subjects, per_group):
            source.add_member(name, subject)
            pairs += 1
    source.mark("campus", "bench-ldap", scope="sub")
    return source, pairs


def _ldap_config(people: str) -> ProvisionerConfig:
    return ProvisionerConfig.from_dict(
        {
            "name": "bench-ldap",
            "groups": {
                "attributes": [
                    {"name": "cn", "field": "extension"},
                    {"name": "description", "field": "description"},
                ],
                "matching": ["cn"],
            },
            "entities": {"operate": False},
            "memberships": {
                "type": "group_attributes",
                # Member DNs compared as the directory does (docs/targets.md).
                "attribute": {
                    "name": "member",
                    "template": f"uid={{subject_id|dn}},{people}",
                    "case_sensitive": False,
                },
            },
        }
    )


def _paged_read(admin: Any, base: str) -> tuple[int, int]:  # noqa: ANN401  # an ldap3 connection
    """Read the groups under *base* as a plain client would; (entries, member values) read."""
    entries = admin.extend.standard.paged_search(
        base,
        "(objectClass=groupOfNames)",
        attributes=["cn", "description", "member"],
        paged_size=500,
        generator=True,
    )
    groups = values = 0
    for entry in entries:
        if entry.get("type") == "searchResEntry":
            groups += 1
            values += len(entry["attributes"].get("member", ()))
    return groups, values


def _least_nochange(
    source: InMemorySource,
    target: Any,  # noqa: ANN401  # an LdapTarget
    store: MemorySyncStore,
    provisioner: str,
    people: str,
) -> int:
    """The least a full sync with nothing to change can do, in Python; what differs.

    It reads both sides as the sync does (the source's snapshot, the target's
    own paged read, the store's records), makes each person's member DN once,
    compares each group's member DNs with the directory's as sets, and
    looks up each membership's record: no scope, translation rules, errors,
    plan, failsafe or explanation. It is not a sync; it is a second floor,
    which says how much of the sync's time the reads and one pass over the
    memberships must take in Python.
    """
    snapshot = source.snapshot()
    found = target.retrieve_all_groups()
    records = store.load(provisioner).records
    dn = {
        e.id: f"uid={escape_dn_value(str(e.get('subject_id')))},{people}" for e in snapshot.entities
    }
    members: dict[str, list[str]] = {}
    for m in snapshot.memberships:
        members.setdefault(m.group_id, []).append(m.entity_id)
    in_target = {g.get("cn"): g.get("member") for g in found}
    record = records.get
    differ = 0
    for g in snapshot.groups:
        mine = members.get(g.id, [])
        if frozenset(map(dn.__getitem__, mine)) != in_target.get(g.get("extension")):
            differ += 1
        for eid in mine:
            r = record((ObjectType.MEMBERSHIP, (g.id, eid)))
            if r is None or not r.in_target or r.error_code is not None:
                differ += 1
    return differ


def _ldapadd(server: Any, snapshot: Any, members: dict[str, list[str]], base: str) -> float:  # noqa: ANN401  # a SlapdServer, a snapshot
    """Time ``ldapadd`` of the campus's groups as LDIF under *base*."""
    with tempfile.NamedTemporaryFile("w", suffix=".ldif", delete=False) as ldif:
        for g in snapshot.groups:
            ldif.write(
                f"dn: cn={g.get('extension')},{base}\nobjectClass: groupOfNames\n"
                f"cn: {g.get('extension')}\ndescription: {g.get('description')}\n"
            )
            ldif.writelines(f"member: {dn}\n" for dn in sorted(members.get(g.id, [])))
            ldif.write("\n")
    command = ["ldapadd", "-x", "-H", server.url, "-D", server.bind_dn, "-w"]
    command += [server.password, "-f", ldif.name]
    try:
        return _timed(lambda: subprocess.run(command, check=True, capture_output=True))  # noqa: S603  # our own server
    finally:
        Path(ldif.name).unlink()


def _checked(run: Any, check: Any) -> float:  # noqa: ANN401  # callables
    """Time *run*, then hand what it returned to *check* (which raises SystemExit if wrong)."""
    out: list[Any] = []
    seconds = _timed(lambda: out.append(run()))
    check(out[0])
    return seconds


def _sync_measures(
    source: InMemorySource,
    target: Any,  # noqa: ANN401  # an LdapTarget
    admin: Any,  # noqa: ANN401  # an ldap3 connection
    *,
    people: str,
    base: str,
    expected: tuple[int, int],
) -> dict[str, float]:
    """From empty, with nothing to change, the paged read and the least no-change pass."""
    store = MemorySyncStore()
    provisioner = Provisioner(_ldap_config(people), source, target, store)

    def succeeded(result: Any) -> None:  # noqa: ANN401  # a SyncResult
        if result.status is not SyncStatus.SUCCESS:
            raise SystemExit(result.summary())

    def unchanged(result: Any) -> None:  # noqa: ANN401  # a SyncResult
        if result.plan is None or not result.plan.empty:
            raise SystemExit("the second full sync found changes")

    def complete(read: tuple[int, int]) -> None:
        if read != expected:
            # A search cut short would make the floor look fast.
            raise SystemExit(f"the paged read found {read}, not {expected}")

    def nothing(differ: int) -> None:
        if differ:
            raise SystemExit(f"the least no-change pass found {differ} differences")

    return {
        "full_sync": _checked(provisioner.full_sync, succeeded),
        "nochange_sync": _checked(provisioner.full_sync, unchanged),
        "paged_read": _checked(lambda: _paged_read(admin, base), complete),
        "nochange_least": _checked(
            lambda: _least_nochange(source, target, store, "bench-ldap", people), nothing
        ),
    }


def bench_ldap(scale: float, repeat: int = 1) -> None:
    """Groups with member DNs into OpenLDAP, against ldapadd and a plain paged read.

    With *repeat*, each measure runs that many times, each into branches of
    its own, and the best time of each is kept (one slapd, shared machines).
    """
    import ldap3  # noqa: PLC0415  # the ldap extra

    from grouperprov.targets.ldap import LdapGroups, LdapTarget  # noqa: PLC0415

    source, pairs = _ldap_campus(scale)
    snapshot = source.snapshot()
    with _server(SlapdServer) as server:
        if server is None:
            print("ldap_skipped = 1")
            return
        people = f"ou=people,{server.suffix}"
        admin = ldap3.Connection(
            ldap3.Server(server.url), server.bind_dn, server.password, auto_bind=True
        )
        members: dict[str, list[str]] = {}
        subjects = {e.id: str(e.get("subject_id")) for e in snapshot.entities}
        for m in snapshot.memberships:
            members.setdefault(m.group_id, []).append(
                f"uid={escape_dn_value(subjects[m.entity_id])},{people}"
            )
        best: dict[str, float] = {}
        for run in range(max(1, repeat)):
            floor_base, sync_base = (
                f"ou={b}{run},ou=groups,{server.suffix}" for b in ("floor", "sync")
            )
            for base in (floor_base, sync_base):
                admin.add(base, ["organizationalUnit"])
            measures = {"ldapadd": _ldapadd(server, snapshot, members, floor_base)}
            target = LdapTarget(
                server.url,
                bind_dn=server.bind_dn,
                password=server.password,
                groups=LdapGroups(base_dn=sync_base, attributes=("description",)),
            )
            expected = (len(snapshot.groups), pairs)
            measures |= _sync_measures(
                source, target, admin, people=people, base=sync_base, expected=expected
            )
            target.close()
            for name, seconds in measures.items():
                best[name] = min(best.get(name, float("inf")), seconds)
        admin.unbind()
        print(f"ldap_groups = {len(snapshot.groups)}")
        print(f"ldap_memberships = {pairs}")
        print(f"ldap_runs = {max(1, repeat)}")
        for name in ("ldapadd", "full_sync"):
            print(f"ldap_{name}_s = {best[name]:.3f}")
        print(f"ldap_full_sync_over_ldapadd = {best['full_sync'] / best['ldapadd']:.2f}")
        for name in ("paged_read", "nochange_sync"):
            print(f"ldap_{name}_s = {best[name]:.3f}")
        print(
            f"ldap_nochange_sync_over_paged_read = {best['nochange_sync'] / best['paged_read']:.2f}"
        )
        print(f"ldap_nochange_least_s = {best['nochange_least']:.3f}")
        print(
            "ldap_nochange_least_over_paged_read = "
            f"{best['nochange_least'] / best['paged_read']:.2f}"
        )
        print(
            f"ldap_nochange_sync_over_least = {best['nochange_sync'] / best['nochange_least']:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="1 = the full campuses")
    parser.add_argument(
        "--repeat", type=int, default=1, help="LDAP: runs of each measure, best kept"
    )
    parser.add_argument("--only", choices=("postgres", "ldap"), help="run one part")
    args = parser.parse_args()
    if args.only != "ldap":
        bench_postgres(args.scale)
    if args.only != "postgres":
        bench_ldap(args.scale, args.repeat)


if __name__ == "__main__":
    main()
