"""SqlTarget against real databases: SQLite (standard library) and a PostgreSQL server."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings

from grouperprov import (
    AttributeChange,
    AttributeConfig,
    MembershipsConfig,
    MembershipType,
    ObjectType,
    Operation,
    Provisioner,
    ProvisionerConfig,
    ProvisioningEntity,
    ProvisioningGroup,
    ProvisioningMembership,
    SyncErrorCode,
    SyncStatus,
)
from grouperprov.exceptions import ConfigError, TargetUnavailable
from grouperprov.stores import MemorySyncStore
from grouperprov.targets.sql import (
    AttributeTable,
    MembershipTable,
    ObjectTable,
    SqlLayout,
    SqlTarget,
)
from grouperprov.testing import FailingTarget, InMemorySource, PostgresServer, check_target_dao
from target_steps import (
    DELETE_POLICIES,
    RESIDUES,
    Step,
    apply_step,
    converges_then_follows,
    failing,
    recovers_after_failures,
    steps,
)

Connect = Callable[[], Any]

LAYOUT = SqlLayout(
    groups=ObjectTable(
        table="gp_groups",
        id_column="group_key",
        columns={"cn": "cn", "description": "description"},
        id_attribute="cn",
        attribute_table=AttributeTable(table="gp_group_attributes"),
        multi_valued=("member",),
    ),
    entities=ObjectTable(
        table="gp_people",
        id_column="uid",
        columns={"uid": "uid", "mail": "mail"},
        id_attribute="uid",
        attribute_table=AttributeTable(table="gp_people_attributes"),
        multi_valued=("isMemberOf",),
    ),
    memberships=MembershipTable(
        table="gp_memberships",
        columns={"group_name": "group_name", "subject_id": "subject_id"},
    ),
)


@pytest.fixture(params=["sqlite", "postgres"])
def connect(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Connect]:
    """Opens connections to a fresh, empty database of the kind the test runs on."""
    opened: list[Any] = []
    if request.param == "sqlite":
        counter = iter(range(1_000_000))

        def make() -> Any:
            connection = sqlite3.connect(tmp_path / f"target-{next(counter)}.db")
            opened.append(connection)
            return connection

    else:
        import psycopg  # noqa: PLC0415  # the extra, with the server

        server = request.getfixturevalue("postgres_server")

        def make() -> Any:
            connection = psycopg.connect(server.create_database())
            opened.append(connection)
            return connection

    yield make
    for connection in opened:
        connection.close()


def _target(connect: Connect, layout: SqlLayout = LAYOUT, **kwargs: Any) -> SqlTarget:
    target = SqlTarget(connect(), layout, **kwargs)
    target.create_tables()
    return target


def test_the_sql_target_keeps_the_target_dao_contract(connect: Connect) -> None:
    check_target_dao(
        lambda: _target(connect),
        multi_valued_attribute="member",
        entity_update_attribute="mail",
        membership=lambda g, e: ProvisioningMembership(
            group_id=g, entity_id=e, attributes={"group_name": g, "subject_id": e}
        ),
    )


def test_generated_ids_keep_the_contract_too(connect: Connect) -> None:
    layout = SqlLayout(
        groups=ObjectTable(table="groups", columns={"cn": "cn", "description": "description"})
    )
    check_target_dao(lambda: _target(connect, layout))
    target = _target(connect, layout)
    (first, second) = target.insert_groups(
        [
            ProvisioningGroup(id="x", attributes={"cn": "a"}),
            ProvisioningGroup(id="y", attributes={"cn": "b"}),
        ]
    )
    assert first.stored is not None
    assert second.stored is not None
    assert first.stored.id != second.stored.id
    assert [g.get("cn") for g in target.retrieve_groups([str(first.stored.id)])] == ["a"]


def test_values_are_parameters_never_sql(connect: Connect) -> None:
    target = _target(connect)
    nasty = "x'); DROP TABLE gp_groups; --"
    group = ProvisioningGroup(id=nasty, attributes={"cn": nasty, "member": frozenset({nasty})})
    (outcome,) = target.insert_groups([group])
    assert outcome.ok, outcome.error
    (found,) = target.search_groups("cn", [nasty])
    assert found.id == nasty
    assert found.values("member") == {nasty}
    assert [g.id for g in target.search_groups("member", [nasty])] == [nasty]


def test_one_bad_object_fails_alone_and_the_batch_goes_on(connect: Connect) -> None:
    target = _target(connect, batch_size=10)
    target.insert_groups([ProvisioningGroup(id="a", attributes={"cn": "a"})])
    outcomes = target.insert_groups(
        [
            ProvisioningGroup(id="b", attributes={"cn": "b"}),
            ProvisioningGroup(id="a", attributes={"cn": "a"}),  # the key is taken
            ProvisioningGroup(id="c", attributes={"cn": "c", "colour": "red"}),  # no column
            ProvisioningGroup(id="d", attributes={"cn": "d", "description": frozenset("xy")}),
            ProvisioningGroup(id="e", attributes={"cn": "e"}),
        ]
    )
    assert [o.ok for o in outcomes] == [True, False, False, False, True]
    assert "colour" in (outcomes[2].error or "")
    assert "holds one value" in (outcomes[3].error or "")
    assert sorted(g.id for g in target.retrieve_all_groups()) == ["a", "b", "e"]


def test_updates_refuse_what_a_column_cannot_hold(connect: Connect) -> None:

    target = _target(connect)
    target.insert_groups([ProvisioningGroup(id="a", attributes={"cn": "a"})])
    (group,) = target.retrieve_all_groups()
    outcomes = target.update_groups(
        [
            (group, [AttributeChange.add("description", ["x"])]),
            (group, [AttributeChange.replace("colour", "red")]),
            (group, [AttributeChange.replace("cn", "renamed")]),  # its own column: fine
            (group, [AttributeChange.replace("description", "ok")]),
        ]
    )
    assert [o.ok for o in outcomes] == [False, False, True, True]
    (after,) = target.retrieve_all_groups()
    assert (after.id, after.get("cn"), after.get("description")) == ("a", "renamed", "ok")
    # An entity's uid makes its key: a new uid moves the key and the rows that
    # name it (found by renaming a group whose name was its key: every run
    # failed on "the key column cannot change").
    person = ProvisioningEntity(id="u", attributes={"uid": "u", "isMemberOf": frozenset({"a"})})
    target.insert_entities([person])
    membership = ProvisioningMembership(
        group_id="a", entity_id="u", attributes={"group_name": "a", "subject_id": "u"}
    )
    target.insert_memberships([membership])
    (moved,) = target.update_entities([(person, [AttributeChange.replace("uid", "v")])])
    assert moved.ok, moved.error
    assert moved.stored is not None
    assert (moved.stored.id, moved.stored.get("uid")) == ("v", "v")
    (person_after,) = target.retrieve_all_entities()
    assert (person_after.id, person_after.get("uid")) == ("v", "v")
    assert person_after.values("isMemberOf") == {"a"}
    assert [m.id for m in target.retrieve_all_memberships()] == [("a", "v")]
    # A key another row has is that object's failure alone.
    target.insert_entities([ProvisioningEntity(id="w", attributes={"uid": "w"})])
    (taken,) = target.update_entities([(person_after, [AttributeChange.replace("uid", "w")])])
    assert not taken.ok
    (empty,) = target.update_entities([(person_after, [AttributeChange.replace("uid", None)])])
    assert "no value of 'uid' to make the key" in (empty.error or "")


def test_a_layout_is_checked_as_a_whole_with_key_paths() -> None:
    with pytest.raises(ConfigError) as caught:
        SqlLayout.from_dict(
            {
                "groups": {
                    "table": "groups; DROP TABLE x",
                    "columns": {"cn": "cn", "bad": "a b"},
                    "multi_valued": ["member"],
                    "colour": "red",
                },
                "memberships": {"table": "m", "group_column": "g", "entity_column": "g"},
                "people": {},
            }
        )
    paths = {p.path for p in caught.value.problems}
    assert paths == {
        "people",
        "groups.colour",
        "groups.table",
        "groups.columns.bad",
        "groups.attribute_table",
        "memberships.columns",
    }
    with pytest.raises(ConfigError, match="at least one table"):
        SqlLayout.from_dict({})
    layout = SqlLayout.from_dict(
        {
            "groups": {
                "table": "ldap.groups",
                "columns": ["cn", "description"],
                "id_attribute": "cn",
                "attribute_table": "ldap.group_attributes",
                "multi_valued": ["member"],
            }
        }
    )
    assert layout.groups is not None
    assert layout.groups.columns == {"cn": "cn", "description": "description"}
    assert layout.groups.attribute_table == AttributeTable(table="ldap.group_attributes")


def test_membership_rows_read_by_entity_update_and_refuse_what_they_cannot_hold(
    connect: Connect,
) -> None:
    target = _target(connect)
    rows = [
        ProvisioningMembership(group_id="g", entity_id=e, attributes={"subject_id": e})
        for e in ("e1", "e2")
    ]
    bad = [
        ProvisioningMembership(group_id="g", entity_id="e3", attributes={"colour": "red"}),
        ProvisioningMembership(
            group_id="g", entity_id="e4", attributes={"subject_id": frozenset("ab")}
        ),
    ]
    outcomes = target.insert_memberships([*rows, *bad])
    assert [o.ok for o in outcomes] == [True, True, False, False]
    assert "no column for the membership attributes ['colour']" in (outcomes[2].error or "")
    assert "'subject_id' is a column: it holds one value" in (outcomes[3].error or "")
    assert [o.ok for o in target.insert_memberships(rows[:1])] == [True]  # again: idempotent
    (e1,) = target.retrieve_memberships_by_entities(["e1"])
    outcomes = target.update_memberships(
        [
            (e1, [AttributeChange.replace("group_name", "staff")]),
            (e1, [AttributeChange.add("subject_id", ["x"])]),
        ]
    )
    assert [o.ok for o in outcomes] == [True, False]
    (e1,) = target.retrieve_memberships_by_groups(["g"])[:1]
    assert e1.get("group_name") == "staff"
    # Deleting an entity takes its membership rows with it.
    target.insert_entities([ProvisioningEntity(id="e2", attributes={"uid": "e2"})])
    (person,) = target.retrieve_all_entities()
    assert [o.ok for o in target.delete_entities([person])] == [True]
    assert [m.entity_id for m in target.retrieve_all_memberships()] == ["e1"]
    assert target.search_groups("colour", ["red"]) == []
    assert target.search_groups("cn", []) == []


@pytest.mark.parametrize("copy", [None, False], ids=["default", "no-copy"])
def test_membership_batches_write_the_same_rows_with_or_without_copy(
    connect: Connect, copy: bool | None
) -> None:
    """On PostgreSQL the default is COPY through a staging table; the rules are the same."""
    layout = SqlLayout(
        memberships=MembershipTable(
            table="gp_memberships",
            columns={"group_name": "group_name", "rank": "rank"},
            types={"rank": "INTEGER NOT NULL"},
        )
    )
    target = _target(connect, layout, copy=copy, batch_size=50)

    def row(g: str, e: str, rank: object) -> ProvisioningMembership:
        return ProvisioningMembership(g, e, {"group_name": g.upper(), "rank": rank})

    first = [row(f"g{i % 3}", f"e{i}", i) for i in range(120)]
    assert all(o.ok for o in target.insert_memberships(first))
    # A second batch: rows already there are updated, a duplicate in the batch
    # and a value the column refuses send the batch one row at a time.
    again = [
        row("g0", "e0", 1000),  # there already: updated
        row("g9", "e1", 1),
        row("g9", "e1", 2),  # the same pair twice in one batch: the last one wins
        row("g9", "e2", None),  # NOT NULL refuses it: this row fails alone
        row("g9", "e3", 3),
    ]
    outcomes = target.insert_memberships(again)
    assert [o.ok for o in outcomes] == [True, True, True, False, True]
    found = {m.id: m for m in target.retrieve_all_memberships()}
    assert len(found) == 120 + 2
    assert found[("g0", "e0")].get("rank") == 1000
    assert found[("g9", "e1")].get("rank") == 2
    assert found[("g1", "e1")].get("group_name") == "G1"
    assert ("g9", "e2") not in found
    # A batch of rows that cannot be written at all sends nothing.
    (refused,) = target.insert_memberships([ProvisioningMembership("g7", "e7", {"colour": "x"})])
    assert not refused.ok
    # Nothing is left behind in the staging table between batches.
    assert target.insert_memberships([row("g8", "e8", 8), row("g8", "e9", 9)])[0].ok
    assert len(target.retrieve_all_memberships()) == 120 + 4


# Membership rows with a NOT NULL column, for the COPY paths on PostgreSQL.
RANKED = SqlLayout(
    memberships=MembershipTable(
        table="gp_memberships",
        columns={"rank": "rank"},
        types={"rank": "INTEGER NOT NULL"},
    )
)


def test_copy_goes_straight_into_the_table_until_a_row_is_refused(
    postgres_server: Any,
) -> None:
    """A batch of new rows is one COPY into the table; one already there goes by staging."""
    import psycopg  # noqa: PLC0415  # the extra, with the server

    with psycopg.connect(postgres_server.create_database()) as connection:
        target = SqlTarget(connection, RANKED, batch_size=10)
        target.create_tables()

        def staged() -> bool:
            (found,) = connection.execute(
                "SELECT to_regclass('pg_temp.grouperprov_stage_gp_memberships')"
            ).fetchone() or (None,)
            return found is not None

        new = [ProvisioningMembership("g", f"e{i}", {"rank": i}) for i in range(25)]
        assert all(o.ok for o in target.insert_memberships(new))
        assert not staged()  # three batches, each one COPY into the table
        # One row already there: that batch's COPY is undone, the staging
        # table's INSERT ... ON CONFLICT updates it and adds the others.
        again = [
            ProvisioningMembership("g", "e3", {"rank": 300}),
            *(ProvisioningMembership("h", f"e{i}", {"rank": i}) for i in range(4)),
        ]
        assert all(o.ok for o in target.insert_memberships(again))
        assert staged()
        found = {m.id: m.get("rank") for m in target.retrieve_all_memberships()}
        assert len(found) == 25 + 4
        assert found[("g", "e3")] == 300
        assert found[("h", "e2")] == 2


def test_an_autocommit_psycopg_connection_still_writes_batches_whole(
    postgres_server: Any,
) -> None:
    """Each batch is an explicit transaction: COPY's staging rows survive to the INSERT."""
    import psycopg  # noqa: PLC0415  # the extra, with the server

    with psycopg.connect(postgres_server.create_database(), autocommit=True) as connection:
        target = SqlTarget(connection, RANKED, batch_size=10)
        target.create_tables()
        rows = [ProvisioningMembership("g", f"e{i}", {"rank": i}) for i in range(12)]
        rows.append(ProvisioningMembership("g", "bad", {}))  # NOT NULL: fails alone
        outcomes = target.insert_memberships(rows)
        assert [o.ok for o in outcomes] == [True] * 12 + [False]
        assert len(target.retrieve_all_memberships()) == 12
        assert connection.autocommit  # left as it was


def test_an_autocommit_sqlite_connection_still_writes_batches_whole(tmp_path: Path) -> None:
    # Found with isolation_level=None: the rows of a batch before a refused
    # one were committed, and the retry one by one reported them refused
    # ("UNIQUE constraint failed") although they were in the table.
    connection = sqlite3.connect(tmp_path / "app.db", isolation_level=None)
    layout = SqlLayout(
        groups=ObjectTable(
            table="g", id_column="name", id_attribute="name", columns={"name": "name"}
        )
    )
    target = SqlTarget(connection, layout)
    target.create_tables()
    connection.execute(
        "CREATE TRIGGER no_bad BEFORE INSERT ON g WHEN NEW.name = 'bad'"
        " BEGIN SELECT RAISE(ABORT, 'not that name'); END"
    )
    names = ["a", "b", "bad", "c"]
    outcomes = target.insert_groups(
        [ProvisioningGroup(id=n, attributes={"name": n}) for n in names]
    )
    assert [o.error for o in outcomes] == [None, None, "IntegrityError: not that name", None]
    assert sorted(g.id for g in target.retrieve_all_groups()) == ["a", "b", "c"]
    assert not connection.in_transaction  # each batch ended
    connection.execute("BEGIN")  # one of the caller's own: the target's statements join it
    assert target.insert_groups([ProvisioningGroup(id="d", attributes={"name": "d"})])[0].ok
    assert not connection.in_transaction  # committed with it, as on any connection
    connection.close()


def test_copy_needs_a_psycopg_connection() -> None:
    with pytest.raises(ValueError, match="copy=True needs a psycopg 3 connection, not Connection"):
        SqlTarget(sqlite3.connect(":memory:"), LAYOUT, copy=True)


def test_multi_valued_values_are_replaced_whole_and_ids_need_a_value(connect: Connect) -> None:
    from grouperprov import Operation  # noqa: PLC0415

    target = _target(connect)
    outcomes = target.insert_groups(
        [
            ProvisioningGroup(id="a", attributes={"cn": "a", "member": "one"}),  # a single value
            ProvisioningGroup(id="b", attributes={"description": "no cn"}),
        ]
    )
    assert [o.ok for o in outcomes] == [True, False]
    assert "no single value of 'cn'" in (outcomes[1].error or "")
    (group,) = target.retrieve_all_groups()
    assert group.values("member") == {"one"}
    (done,) = target.update_groups([(group, [AttributeChange.replace("member", frozenset("xy"))])])
    assert done.ok
    assert target.retrieve_all_groups()[0].values("member") == {"x", "y"}
    people_only = SqlTarget(connect(), SqlLayout(entities=ObjectTable(table="people")))
    caps = people_only.capabilities()
    assert not caps.can(Operation.INSERT_GROUPS)
    assert not caps.can(Operation.INSERT_MEMBERSHIPS)
    assert caps.can(Operation.INSERT_ENTITIES)
    assert caps.batch_size(Operation.INSERT_ENTITIES, 5000) == 1000
    assert repr(people_only) == "SqlTarget(tables=['people'])"
    with pytest.raises(ConfigError, match=r"groups\.table"):
        SqlTarget(connect(), SqlLayout(groups=ObjectTable(table="no good")))
    with pytest.raises(ConfigError, match="expected the table's name"):
        SqlLayout.from_dict({"groups": {"columns": ["cn"]}})


class _NoParamstyle:
    """A connection of a driver module that says no paramstyle (this test module)."""

    def cursor(self) -> None: ...
    def commit(self) -> None: ...


def test_a_driver_whose_placeholders_are_unknown_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot tell the paramstyle of _NoParamstyle"):
        SqlTarget(_NoParamstyle(), LAYOUT)
    with pytest.raises(ValueError, match="unsupported paramstyle 'numeric'"):
        SqlTarget(sqlite3.connect(":memory:"), LAYOUT, paramstyle="numeric")


def test_what_is_not_a_synchronous_connection_is_refused_by_name(postgres_dsn: str) -> None:
    # Found with an asyncio connection: create_tables() seemed to work (each
    # statement a coroutine never run), then every run ended CONFIG_ERROR.
    import psycopg  # noqa: PLC0415  # the extra, with the server

    with pytest.raises(TypeError, match=r"not builtins\.str; for PostgreSQL, SqlTarget\(lambda"):
        SqlTarget(postgres_dsn, LAYOUT)  # a connection string, not a connection
    with pytest.raises(TypeError, match="or a function of no arguments that opens one"):
        SqlTarget(lambda: "not a connection", LAYOUT)
    connection = asyncio.run(psycopg.AsyncConnection.connect(postgres_dsn))
    try:
        with pytest.raises(TypeError, match=r"not the asyncio psycopg\.AsyncConnection"):
            SqlTarget(connection, LAYOUT)
        with pytest.raises(TypeError, match=r"not the asyncio psycopg\.AsyncConnection"):
            SqlTarget(lambda: connection, LAYOUT)
    finally:
        asyncio.run(connection.close())


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        ({"groups": "x"}, "groups", "expected a table"),
        ({"groups": {"table": "g", "columns": 3}}, "groups.columns", "attribute = column"),
        ({"groups": {"table": "g", "multi_valued": "m"}}, "groups.multi_valued", "list"),
        ({"groups": {"table": "g", "id_column": 1}}, "groups.id_column", "expected a name"),
        ({"groups": {"table": "g", "attribute_table": 1}}, "groups.attribute_table", "name"),
        (
            {"groups": {"table": "g", "attribute_table": {"owner": "o"}}},
            "groups.attribute_table.owner",
            "unknown setting",
        ),
        (
            {"groups": {"table": "g", "attribute_table": {"table": 1}}},
            "groups.attribute_table.table",
            "expected a name",
        ),
        (
            {"groups": {"table": "g", "attribute_table": {"value_column": "v"}}},
            "groups.attribute_table.table",
            "expected the table's name",
        ),
        (
            {"groups": {"table": "g", "attribute_table": {"table": "a", "name_column": "n m"}}},
            "groups.attribute_table.name_column",
            "not a valid SQL identifier",
        ),
        (
            {"groups": {"table": "g", "columns": ["cn"], "id_attribute": "uuid"}},
            "groups.id_attribute",
            "'uuid' has no column",
        ),
        (
            {
                "groups": {
                    "table": "g",
                    "columns": ["member"],
                    "multi_valued": ["member"],
                    "attribute_table": "a",
                }
            },
            "groups.multi_valued",
            "also have a column",
        ),
        (
            {"entities": {"table": "e", "columns": {"a": "c", "b": "c"}}},
            "entities.columns",
            "share a column",
        ),
        ({"groups": {"table": "a.b.c"}}, "groups.table", "schema.table at most"),
        (
            {"groups": {"table": "g", "columns": ["cn"], "types": {"cn": "TEXT); DROP TABLE x"}}},
            "groups.types.cn",
            "not a SQL type",
        ),
        (
            {"groups": {"table": "g", "columns": ["cn"], "types": {"cn": "TEXT DEFAULT 'x'"}}},
            "groups.types.cn",
            "not a SQL type",
        ),
        (
            {"groups": {"table": "g", "columns": ["cn"], "types": {"colour": "TEXT"}}},
            "groups.types.colour",
            "not a column of this table, so no type of it (columns: cn, id)",
        ),
        ({"groups": {"table": "g", "types": {"id": "TEXT"}}}, "groups.types.id", "makes this id"),
        ({"memberships": {"table": "m", "types": ["x"]}}, "memberships.types", "= SQL type"),
        (
            {"memberships": {"table": "m", "types": {"member": "TEXT"}}},
            "memberships.types.member",
            "not a column of this table",
        ),
    ],
)
def test_each_layout_problem_names_its_key(data: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        SqlLayout.from_dict(data)
    problems = [(p.path, p.message) for p in caught.value.problems]
    assert any(p == path and message in m for p, m in problems), problems


def test_types_make_the_columns_keys_included_and_sql_types_of_all_shapes_pass() -> None:
    layout = SqlLayout.from_dict(
        {
            "groups": {
                "table": "g",
                "id_column": "name",
                "id_attribute": "name",
                "columns": ["name", "gid", "price"],
                "types": {
                    "name": 'VARCHAR(200) COLLATE "NOCASE"',
                    "gid": "INTEGER NOT NULL",
                    "price": "NUMERIC(10, 2)",
                },
            },
            "memberships": {"table": "m", "types": {"entity_id": "CHAR(8)"}},
        }
    )
    connection = sqlite3.connect(":memory:")
    SqlTarget(connection, layout).create_tables()
    made = dict(connection.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
    assert '"name" VARCHAR(200) COLLATE "NOCASE" PRIMARY KEY' in made["g"]
    assert '"gid" INTEGER NOT NULL, "price" NUMERIC(10, 2)' in made["g"]
    assert '"group_id" TEXT NOT NULL, "entity_id" CHAR(8) NOT NULL' in made["m"]
    connection.execute("INSERT INTO g VALUES ('Staff', 1, 2)")
    with pytest.raises(sqlite3.IntegrityError):  # the key's collation was made
        connection.execute("INSERT INTO g VALUES ('staff', 1, 2)")


# Groups by name (cn) with their description, as the tables of _app_tables hold them.
_APP_GROUP_CONFIG = {
    "attributes": [
        {"name": "cn", "field": "name"},
        {"name": "description", "field": "description"},
    ],
    "matching": ["cn"],
}
_APP_CONFIG = ProvisionerConfig.from_dict(
    {
        "name": "sql",
        "groups": _APP_GROUP_CONFIG,
        "entities": {"operate": False},
        "memberships": {
            "type": "membership_objects",
            "delete_policy": "not_in_grouper",
            "attributes": [
                {"name": "group_name", "field": "group.name"},
                {"name": "subject_id", "field": "entity.subject_id"},
            ],
            "matching": [["group_name", "subject_id"]],
        },
    }
)


# The group table of _app_tables, keyed by name (from cn).
_APP_GROUPS = {"table": "app_groups", "id_column": "name", "id_attribute": "cn"}
# The tables of _app_tables, as they are.
_APP_LAYOUT = SqlLayout.from_dict(
    {
        "groups": {**_APP_GROUPS, "columns": {"cn": "name", "description": "descr"}},
        "memberships": {"table": "app_m", "columns": ["group_name", "subject_id"]},
    }
)


def _execute(connection: Any, *statements: str) -> None:  # a DB-API connection
    """Run *statements* on *connection* and commit, as another program would."""
    cur = connection.cursor()
    for statement in statements:
        cur.execute(statement)
    cur.close()
    connection.commit()


def _app_tables(connection: Any) -> None:
    """Tables of an application's own, and a membership row of another group of its own."""
    _execute(
        connection,
        "CREATE TABLE app_m (group_id TEXT, entity_id TEXT, group_name TEXT, subject_id TEXT,"
        " PRIMARY KEY (group_id, entity_id))",
        "INSERT INTO app_m VALUES ('other:app', 'x1', 'other:app', 'x1')",
        "CREATE TABLE app_groups (name TEXT PRIMARY KEY, descr TEXT)",
    )


def _app_rows(connection: Any) -> list[Any]:
    cur = connection.cursor()
    cur.execute("SELECT * FROM app_m ORDER BY 1, 2")
    rows = [tuple(r) for r in cur.fetchall()]
    cur.close()
    connection.commit()
    return rows


def test_a_layout_the_tables_do_not_have_stops_the_run_before_anything_is_written(
    connect: Connect,
) -> None:
    # Found with a misspelt group_column on SQLite, which takes an unknown
    # double-quoted name for a string: every row of another application's
    # table was read as a member of a group named "grp_id", and deleted.
    connection = connect()
    _app_tables(connection)
    layout = SqlLayout.from_dict(
        {
            "groups": {
                **_APP_GROUPS,
                "columns": {"cn": "name", "description": "description"},
                "attribute_table": "app_group_values",
                "multi_valued": ["member"],
            },
            "memberships": {
                "table": "app_m",
                "group_column": "grp_id",
                "columns": {"group_name": "group_name", "subject_id": "Subject_ID"},
            },
        }
    )
    prov = Provisioner(
        _APP_CONFIG, _staff_and_faculty(), SqlTarget(connection, layout), MemorySyncStore()
    )
    result = prov.full_sync()
    assert result.status is SyncStatus.CONFIG_ERROR, result.summary()
    problems = [line.split(":")[0].strip() for line in result.message.splitlines()[1:]]
    postgres = "psycopg" in type(connection).__module__
    assert problems == [
        "groups.columns.description",
        "groups.attribute_table.table",
        "memberships.group_column",
        *(["memberships.columns.subject_id"] if postgres else []),  # case counts there
    ]
    assert "table 'app_groups' has no column 'description' (its columns: descr, name)" in (
        result.message
    )
    assert (
        "groups.attribute_table.table: no table 'app_group_values' in the database"
        if postgres
        else "cannot read table 'app_group_values': OperationalError: no such table"
    ) in result.message
    if postgres:
        assert "quoted names are exact on PostgreSQL: write 'subject_id'" in result.message
    assert _app_rows(connection) == [("other:app", "x1", "other:app", "x1")]  # untouched


def test_a_table_named_in_another_case_or_schema_is_named_as_the_database_has_it(
    postgres_server: PostgresServer,
) -> None:
    """PostgreSQL folds unquoted names: the layout's quoted ``AppGroups`` is not ``appgroups``."""
    import psycopg  # noqa: PLC0415  # the extra, with the server

    config = attrs.evolve(_APP_CONFIG, memberships=MembershipsConfig(operate=False))

    def layout(table: str) -> SqlLayout:
        columns = {"cn": "name", "description": "descr"}
        return SqlLayout.from_dict({"groups": {**_APP_GROUPS, "table": table, "columns": columns}})

    with psycopg.connect(postgres_server.create_database()) as connection:
        connection.execute("CREATE SCHEMA app")
        connection.execute("CREATE TABLE app.AppGroups (name TEXT PRIMARY KEY, descr TEXT)")
        connection.commit()
        for table in ("app.AppGroups", "AppGroups"):
            prov = Provisioner(
                config,
                _staff_and_faculty(),
                SqlTarget(connection, layout(table)),
                MemorySyncStore(),
            )
            result = prov.full_sync()
            assert result.status is SyncStatus.CONFIG_ERROR, result.summary()
            assert (
                f"groups.table: no table {table!r} in the database; it has 'app.appgroups'"
            ) in result.message
        prov = Provisioner(
            config,
            _staff_and_faculty(),
            SqlTarget(connection, layout("app.gone")),
            MemorySyncStore(),
        )
        assert "groups.table: no table 'app.gone' in the database\n" in (
            prov.full_sync().message + "\n"
        )


def test_a_not_null_column_the_layout_does_not_write_stops_the_run(connect: Connect) -> None:
    """Found with an application's ``created_by NOT NULL``: every row was refused, one by one.

    3,000 memberships took 2 s to fail on PostgreSQL, in every run.
    """
    connection = connect()
    postgres = "psycopg" in type(connection).__module__
    _execute(
        connection,
        "CREATE TABLE app_m (group_id TEXT, entity_id TEXT, group_name TEXT, subject_id TEXT,"
        " created_by TEXT NOT NULL, PRIMARY KEY (group_id, entity_id))",
        "CREATE TABLE app_groups (name TEXT PRIMARY KEY, descr TEXT)",
        # Keys the database makes: SQLite's INTEGER PRIMARY KEY does; PostgreSQL's
        # needs an identity or a default.
        "CREATE TABLE app_people (id INTEGER PRIMARY KEY, uid TEXT NOT NULL,"
        " kind TEXT NOT NULL DEFAULT 'person')",
    )
    layout = SqlLayout.from_dict(
        {
            "groups": {**_APP_GROUPS, "columns": {"cn": "name", "description": "descr"}},
            "entities": {"table": "app_people", "id_column": "id", "columns": ["uid"]},
            "memberships": {"table": "app_m", "columns": ["group_name", "subject_id"]},
        }
    )
    config = attrs.evolve(
        _APP_CONFIG,
        entities=attrs.evolve(
            _APP_CONFIG.entities,
            operate=True,
            attributes=(AttributeConfig(name="uid", field="subject_id"),),
            matching=(("uid",),),
        ),
    )
    store = MemorySyncStore()
    result = Provisioner(
        config, _staff_and_faculty(), SqlTarget(connection, layout), store
    ).full_sync()
    assert result.status is SyncStatus.CONFIG_ERROR, result.summary()
    problems = result.message.splitlines()[1:]
    expected = [
        (
            "  memberships.table: table 'app_m' has a NOT NULL column 'created_by' with no"
            " default, which the layout does not write: every insert would fail; give it a"
            " default, or write it (a column of the layout)"
        )
    ]
    if postgres:
        expected.insert(
            0,
            "  entities.id_column: the database makes the keys of 'app_people' (there is no"
            " id_attribute), but its column 'id' has no default or identity: every insert"
            " would fail; give it one, or set id_attribute",
        )
    assert problems == expected
    assert not store.load("sql").records
    _execute(connection, "DROP TABLE app_m", "DROP TABLE app_people")
    _execute(  # a default, and an identity: nothing to say
        connection,
        "CREATE TABLE app_m (group_id TEXT, entity_id TEXT, group_name TEXT, subject_id TEXT,"
        " created_by TEXT NOT NULL DEFAULT 'grouper', PRIMARY KEY (group_id, entity_id))",
        "CREATE TABLE app_people (id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
        " uid TEXT NOT NULL)"
        if postgres
        else "CREATE TABLE app_people (id INTEGER PRIMARY KEY NOT NULL, uid TEXT NOT NULL)",
    )
    result = Provisioner(
        config, _staff_and_faculty(), SqlTarget(connection, layout), store
    ).full_sync()
    assert result.status is SyncStatus.SUCCESS, result.summary()
    cur = connection.cursor()
    cur.execute("SELECT DISTINCT created_by FROM app_m")
    assert cur.fetchall() == [("grouper",)]
    cur.close()


def test_a_configured_attribute_the_layout_has_no_column_for_stops_the_run(
    connect: Connect,
) -> None:
    # It failed every object with ERR ("no column for the attributes"), run after run.
    connection = connect()
    _app_tables(connection)
    config = attrs.evolve(
        _APP_CONFIG,
        memberships=attrs.evolve(
            _APP_CONFIG.memberships,
            attributes=(
                *_APP_CONFIG.memberships.attributes,
                AttributeConfig(name="role", static="member"),
            ),
        ),
    )
    prov = Provisioner(config, _staff_and_faculty(), SqlTarget(connection, _APP_LAYOUT))
    result = prov.full_sync()
    assert result.status is SyncStatus.CONFIG_ERROR, result.summary()
    assert (
        "memberships.attributes[2]: the target keeps no membership attribute 'role'"
        " (it keeps: group_name, subject_id)"
    ) in result.message
    assert _app_rows(connection) == [("other:app", "x1", "other:app", "x1")]  # untouched


def test_a_membership_table_without_a_unique_pair_stops_the_run_before_it_writes(
    connect: Connect,
) -> None:
    # Found with an application's own table (an id key, no constraint on the
    # pair): on SQLite every insert failed (ON CONFLICT needs one); on
    # PostgreSQL, COPY went in, and a membership written again would be two rows.
    connection = connect()
    serial = "INTEGER" if isinstance(connection, sqlite3.Connection) else "SERIAL"
    _execute(
        connection,
        "CREATE TABLE app_groups (name TEXT PRIMARY KEY, descr TEXT)",
        f"CREATE TABLE app_m (id {serial} PRIMARY KEY, group_id TEXT, entity_id TEXT,"
        " group_name TEXT, subject_id TEXT, note TEXT)",
        "CREATE UNIQUE INDEX app_m_wide ON app_m (group_id, entity_id, note)",
        "CREATE UNIQUE INDEX app_m_some ON app_m (group_id, entity_id) WHERE note IS NULL",
    )
    prov = Provisioner(_APP_CONFIG, _staff_and_faculty(), SqlTarget(connection, _APP_LAYOUT))
    result = prov.full_sync()
    assert result.status is SyncStatus.CONFIG_ERROR, result.summary()
    assert result.message.splitlines()[1] == (
        "  memberships.table: table 'app_m' has no primary key or unique constraint on"
        " exactly (group_id, entity_id): a membership written twice (a run retried after a"
        " crash) would be two rows, and inserts need one (ON CONFLICT); add one: CREATE"
        " UNIQUE INDEX app_m_pair ON app_m (group_id, entity_id)"
    )
    _execute(connection, "CREATE UNIQUE INDEX app_m_pair ON app_m (entity_id, group_id)")
    assert prov.full_sync().status is SyncStatus.SUCCESS  # either order is the pair
    assert len(_app_rows(connection)) == 3


class _Proxy:
    """A connection of a driver grouperprov does not know: a pool's proxy, say."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def cursor(self) -> sqlite3.Cursor:
        return self._connection.cursor()

    def commit(self) -> None:
        self._connection.commit()

    def rollback(self) -> None:
        self._connection.rollback()


@pytest.mark.parametrize(
    ("module", "database"),
    [
        ("pymysql.connections", "MySQL or MariaDB"),
        ("mysql.connector.connection_cext", "MySQL"),
        ("pymssql._pymssql", "SQL Server"),
        ("oracledb.connection", "Oracle"),
    ],
)
def test_a_connection_to_a_database_of_another_sql_is_refused_when_made(
    tmp_path: Path, module: str, database: str
) -> None:
    """MySQL's names are not double-quoted and it has no ``ON CONFLICT``.

    Before, the target was made, and its first statement failed with the
    database's syntax error, which said nothing of why.
    """
    foreign = type("Connection", (_Proxy,), {"__module__": module})
    with (
        contextlib.closing(sqlite3.connect(tmp_path / "x.db")) as connection,
        pytest.raises(ValueError, match=f"which {database} does not take") as caught,
    ):
        SqlTarget(foreign(connection), _APP_LAYOUT)
    assert "SqlTarget writes the SQL of PostgreSQL and SQLite" in str(caught.value)


def test_a_connection_of_a_driver_it_does_not_know_syncs_with_its_paramstyle(
    tmp_path: Path,
) -> None:
    # (Such as SQLAlchemy's engine.raw_connection(): its class is the pool's.)
    connection = sqlite3.connect(tmp_path / "app.db")
    _app_tables(connection)
    with pytest.raises(ValueError, match="cannot tell the paramstyle of _Proxy: pass paramstyle="):
        SqlTarget(_Proxy(connection), _APP_LAYOUT)
    target = SqlTarget(_Proxy(connection), _APP_LAYOUT, paramstyle="qmark")
    prov = Provisioner(_APP_CONFIG, _staff_and_faculty(), target)
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert not prov.plan_full().plan.changes
    assert len(_app_rows(connection)) == 4
    assert target._unique_on("app_m", ("group_id", "entity_id")) is None  # not looked at


def test_a_column_renamed_under_a_synced_target_stops_its_next_runs(connect: Connect) -> None:
    connection = connect()
    _app_tables(connection)
    layout = _APP_LAYOUT
    source = _staff_and_faculty()
    prov = Provisioner(_APP_CONFIG, source, SqlTarget(connection, layout), MemorySyncStore())
    first = prov.full_sync()
    assert first.status is SyncStatus.SUCCESS, first.summary()
    synced = _app_rows(connection)
    assert len(synced) == 4  # the app's row and a:staff's two, a:fac's one
    _execute(connection, "ALTER TABLE app_m RENAME COLUMN group_id TO grp_id")
    result = prov.full_sync()  # the same target, checked again at its full read
    assert result.status is SyncStatus.CONFIG_ERROR, result.summary()
    assert "memberships.group_column: table 'app_m' has no column 'group_id'" in result.message
    seen = len(source.changes)
    source.remove_member("a:staff", "u0")
    later = prov.incremental_sync(source.events(seen))  # a delete, as it is: no read
    assert later.status is SyncStatus.ERROR, later.summary()
    (error,) = later.errors.values()
    assert "table 'app_m' has no column 'group_id'" in error.message
    seen = len(source.changes)
    source.update_group("a:fac", description="Faculty")
    recalc = prov.incremental_sync(source.events(seen))  # the group is read first
    assert recalc.status is SyncStatus.CONFIG_ERROR, recalc.summary()
    assert _app_rows(connection) == synced
    _execute(connection, "ALTER TABLE app_m RENAME COLUMN grp_id TO group_id")
    fixed = prov.full_sync()  # checked again: it failed
    assert fixed.status is SyncStatus.SUCCESS, fixed.summary()
    assert len(_app_rows(connection)) == len(synced) - 1


@contextlib.contextmanager
def _as_role(postgres_dsn: str, name: str, *setup: str) -> Iterator[Any]:
    """Connected to the database as a new login role, after *setup* (``{role}`` in it)."""
    import psycopg  # noqa: PLC0415  # the extra, with the server

    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        role = f"{name}_{admin.info.dbname}"
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'test-role'")
        for statement in setup:
            admin.execute(statement.format(role=role))
        host, port, dbname = admin.info.host, admin.info.port, admin.info.dbname
    with psycopg.connect(
        host=host,
        port=port,
        dbname=dbname,
        user=role,
        password="test-role",  # noqa: S106  # a test role's
    ) as connection:
        yield connection


def test_a_role_granted_only_the_layout_s_columns_syncs(postgres_dsn: str) -> None:
    # Found with column privileges: the check of the tables ran SELECT *,
    # which such a role may not, and every run ended with CONFIG_ERROR.
    layout = SqlLayout.from_dict(
        {"groups": {**_APP_GROUPS, "columns": {"cn": "name", "description": "description"}}}
    )
    config = ProvisionerConfig.from_dict(
        {
            "name": "sql",
            "groups": _APP_GROUP_CONFIG,
            "entities": {"operate": False},
            "memberships": {"type": "membership_objects", "operate": False},
        }
    )
    with _as_role(
        postgres_dsn,
        "columns",
        "CREATE TABLE app_groups (name text PRIMARY KEY, description text, secret text)",
        "GRANT SELECT (name, description), INSERT (name, description),"
        " UPDATE (name, description), DELETE ON app_groups TO {role}",
    ) as connection:
        prov = Provisioner(
            config, _staff_and_faculty(), SqlTarget(connection, layout), MemorySyncStore()
        )
        result = prov.full_sync()
        assert result.status is SyncStatus.SUCCESS, result.summary()
        assert not prov.plan_full().plan.changes


def test_tables_of_another_schema_are_made_and_synced(connect: Connect, tmp_path: Path) -> None:
    # Found with SQLite tables in an attached database: the index was made
    # with the table's schema on the wrong side ("near '.': syntax error").
    connection = connect()
    cur = connection.cursor()
    if isinstance(connection, sqlite3.Connection):
        cur.execute("ATTACH DATABASE ? AS app", [str(tmp_path / "app.db")])
    else:
        cur.execute("CREATE SCHEMA app")
    cur.close()
    connection.commit()
    layout = SqlLayout.from_dict(
        {
            "groups": {
                "table": "app.groups",
                "id_column": "cn",
                "id_attribute": "cn",
                "columns": ["cn", "description"],
                "attribute_table": "app.group_values",
                "multi_valued": ["member"],
            },
            "entities": {
                "table": "app.people",
                "id_column": "uid",
                "id_attribute": "uid",
                "columns": ["uid"],
            },
            "memberships": {"table": "app.members", "columns": ["group_name"]},
        }
    )
    target = SqlTarget(connection, layout)
    target.create_tables()
    target.create_tables()  # made once
    prov = Provisioner(
        _config(MembershipType.GROUP_ATTRIBUTES), _staff_and_faculty(), target, MemorySyncStore()
    )
    result = prov.full_sync()
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert {g.id: g.values("member") for g in target.retrieve_all_groups()} == {
        "a:staff": {"u0", "u1"},
        "a:fac": {"u1"},
    }
    cur = connection.cursor()
    if isinstance(connection, sqlite3.Connection):
        cur.execute("SELECT name FROM app.sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
    else:
        cur.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'app' AND indexname LIKE '%idx'"
        )
    assert sorted(r[0] for r in cur.fetchall()) == [
        "app_group_values_attribute_value_idx",
        "app_members_entity_id_idx",
    ]
    cur.close()


def test_the_connection_never_shows_in_the_repr(connect: Connect) -> None:
    target = _target(connect)
    assert repr(target) == "SqlTarget(tables=['gp_groups', 'gp_people', 'gp_memberships'])"


# -- the provisioner over real tables ------------------------------------------------


def _config(kind: MembershipType, policy: str = "not_in_grouper") -> ProvisionerConfig:
    data: dict[str, Any] = {
        "name": "sql",
        "groups": {
            "attributes": [
                {"name": "cn", "field": "name"},
                {"name": "description", "field": "description"},
            ],
            "matching": ["cn"],
            "delete_policy": policy,
        },
        "entities": {
            "attributes": [{"name": "uid", "field": "subject_id"}],
            "matching": ["uid"],
            "delete_policy": policy,
        },
        "memberships": {"type": kind.value, "delete_policy": policy},
    }
    if kind is MembershipType.GROUP_ATTRIBUTES:
        data["memberships"]["attribute"] = {"name": "member", "field": "subject_id"}
    elif kind is MembershipType.ENTITY_ATTRIBUTES:
        data["memberships"]["attribute"] = {"name": "isMemberOf", "field": "name"}
    else:
        data["memberships"]["attributes"] = [
            {"name": "group_name", "field": "group.name"},
            {"name": "subject_id", "field": "entity.subject_id"},
        ]
        data["memberships"]["matching"] = [["group_name", "subject_id"]]
    return ProvisionerConfig.from_dict(data)


_steps = steps(("u0", "u1", "u2"), groups=5, max_size=12)


def _lists(target: SqlTarget, kind: MembershipType) -> Callable[[], dict[str, set[str]]]:
    """What *target*'s tables hold: each group's ``cn``, with its members' subject ids."""

    def lists() -> dict[str, set[str]]:
        groups = target.retrieve_all_groups()
        found: dict[str, set[str]] = {str(g.get("cn")): set() for g in groups}
        if kind is MembershipType.GROUP_ATTRIBUTES:
            for group in groups:
                found[str(group.get("cn"))] |= {str(v) for v in group.values("member")}
        elif kind is MembershipType.ENTITY_ATTRIBUTES:
            for entity in target.retrieve_all_entities():
                for name in entity.values("isMemberOf"):
                    found.setdefault(str(name), set()).add(str(entity.get("uid")))
        else:
            for m in target.retrieve_all_memberships():
                found.setdefault(str(m.get("group_name")), set()).add(str(m.get("subject_id")))
        return found

    return lists


def _apply(source: InMemorySource, step: Step) -> None:
    apply_step(source, step)


@pytest.mark.parametrize("kind", list(MembershipType))
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(start=_steps, steps=_steps, policy=DELETE_POLICIES)
def test_full_and_incremental_syncs_converge_on_real_tables(
    connect: Connect, kind: MembershipType, start: list[Any], steps: list[Any], policy: str
) -> None:
    """Convergence, incremental equals full, and the tables say what Grouper says."""
    _converges_on(connect, LAYOUT, kind, start, steps, policy=policy)


def _campus(start: list[Any]) -> InMemorySource:
    """Three people, and the folder ``a`` marked, after the steps *start*."""
    source = InMemorySource()
    for subject in ("u0", "u1", "u2"):
        source.add_subject(subject)
    source.mark("a", "sql", scope="sub")
    for step in start:
        _apply(source, step)
    return source


def _converges_on(  # noqa: PLR0917  # what each property varies
    connect: Connect,
    layout: SqlLayout,
    kind: MembershipType,
    start: list[Any],
    steps: list[Any],
    check: Callable[[InMemorySource, SqlTarget], None] = lambda _source, _target: None,
    *,
    policy: str = "not_in_grouper",
) -> None:
    """Grouper after *start*, synced into *layout*, then following *steps*; *check* at the end."""
    source = _campus(start)
    # Closed after each example: hundreds of examples would use up the server's connections.
    with contextlib.closing(connect()) as connection:
        target = SqlTarget(connection, layout)
        target.create_tables()
        prov = Provisioner(_config(kind, policy), source, target, MemorySyncStore())
        converges_then_follows(prov, source, steps, _apply, _lists(target, kind))
        check(source, target)


@pytest.mark.parametrize("kind", list(MembershipType))
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    start=_steps,
    steps=_steps,
    residues=RESIDUES,
    policy=DELETE_POLICIES,
)
def test_after_failed_writes_one_incremental_run_recovers_on_real_tables(  # noqa: PLR0917  # what hypothesis varies
    connect: Connect,
    kind: MembershipType,
    start: list[Any],
    steps: list[Any],
    residues: set[int],
    policy: str,
) -> None:
    """Writes fail in an incremental run (picked by object); the next run retries them all."""
    source = _campus(start)
    broken = {"on": False}
    pick = failing(residues)
    with contextlib.closing(connect()) as connection:
        inner = SqlTarget(connection, KEYED)
        inner.create_tables()
        target = FailingTarget(inner, lambda op, bean: broken["on"] and pick(op, bean))
        prov = Provisioner(_config(kind, policy), source, target, MemorySyncStore())
        lists = _lists(inner, kind)
        recovers_after_failures(prov, source, steps, _apply, broken, lists)


# Groups keyed by their cn (as the README's layout keys them by name): a
# rename in Grouper moves the key, and the rows that name the group follow it.
assert LAYOUT.groups is not None
KEYED = attrs.evolve(LAYOUT, groups=attrs.evolve(LAYOUT.groups, id_column="cn"))


@pytest.mark.parametrize("kind", list(MembershipType))
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(start=_steps, steps=_steps)
def test_groups_keyed_by_their_name_follow_renames_and_converge(
    connect: Connect, kind: MembershipType, start: list[Any], steps: list[Any]
) -> None:

    def keyed_by_name(source: InMemorySource, target: SqlTarget) -> None:
        names = {g.get_str("name") for g in source.snapshot().groups}
        assert {g.id for g in target.retrieve_all_groups()} == names

    _converges_on(connect, KEYED, kind, start, steps, keyed_by_name)


def test_a_campus_provisions_into_tables_people_can_query(connect: Connect) -> None:
    source = InMemorySource()
    for subject in ("ada", "alan", "grace"):
        source.add_subject(subject)
    source.add_group("apps:sql:staff", description="Staff")
    for subject in ("ada", "alan"):
        source.add_member("apps:sql:staff", subject)
    source.mark("apps:sql", "sql", scope="sub")
    connection = connect()
    target = SqlTarget(connection, LAYOUT)
    target.create_tables()
    prov = Provisioner(
        _config(MembershipType.MEMBERSHIP_OBJECTS), source, target, MemorySyncStore()
    )
    assert prov.full_sync().status is SyncStatus.SUCCESS
    cur = connection.cursor()
    cur.execute("SELECT group_id, entity_id, subject_id FROM gp_memberships ORDER BY 3")
    assert cur.fetchall() == [
        ("apps:sql:staff", "ada", "ada"),
        ("apps:sql:staff", "alan", "alan"),
    ]
    cur.execute("SELECT uid FROM gp_people ORDER BY 1")
    assert cur.fetchall() == [("ada",), ("alan",)]
    cur.close()
    connection.commit()
    entities = {e.id for e in target.retrieve_all_entities()}
    assert entities == {"ada", "alan"}
    assert isinstance(target.retrieve_entities(["ada"])[0], ProvisioningEntity)


def _staff_and_faculty() -> InMemorySource:
    source = InMemorySource()
    for subject in ("u0", "u1"):
        source.add_subject(subject)
    source.add_group("a:staff", description="Staff")
    source.add_member("a:staff", "u0")
    source.add_member("a:staff", "u1")
    source.add_group("a:fac", description="Fac")
    source.add_member("a:fac", "u1")
    source.mark("a", "sql", scope="sub")
    return source


def _edited_by_hand(connect: Connect, kind: MembershipType, *statements: str) -> SqlTarget:
    """A target synced once, then changed behind the sync's back; a sync after converges."""
    connection = connect()
    target = SqlTarget(connection, LAYOUT)
    target.create_tables()
    prov = Provisioner(_config(kind), _staff_and_faculty(), target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    cur = connection.cursor()
    for statement in statements:
        cur.execute(statement)
    cur.close()
    connection.commit()
    first = prov.full_sync()
    assert first.status is SyncStatus.SUCCESS, first.summary()
    assert not prov.plan_full().plan.changes
    return target


@pytest.mark.parametrize("kind", list(MembershipType))
def test_a_group_row_deleted_by_hand_leaves_no_values_behind_to_block_it(
    connect: Connect, kind: MembershipType, caplog: pytest.LogCaptureFixture
) -> None:
    # Found by editing a synced table: with the member rows left (no foreign
    # key), inserting the group again failed on their primary key in every run.
    target = _edited_by_hand(
        connect,
        kind,
        "DELETE FROM gp_groups",
        "INSERT INTO gp_group_attributes VALUES ('a:fac', 'member', 'ghost')",
    )
    groups = {g.id: g for g in target.retrieve_all_groups()}
    assert set(groups) == {"a:staff", "a:fac"}
    if kind is MembershipType.GROUP_ATTRIBUTES:
        assert groups["a:staff"].values("member") == {"u0", "u1"}
        assert groups["a:fac"].values("member") == {"u1"}  # not the orphaned ghost
        assert "whose owners were not in 'gp_groups'" in caplog.text
    else:
        assert groups["a:fac"].values("member") == set()


@pytest.mark.parametrize("policy", ["inserted_by_us", "removed_from_grouper", "not_in_grouper"])
def test_the_rows_of_a_group_row_deleted_by_hand_go_when_grouper_renames_the_group(
    connect: Connect, policy: str
) -> None:
    """Membership rows a hand delete of their group left are grouperprov's to delete.

    Found by fuzzing hand edits: the group, missing, was inserted under its
    new name with new rows, and the records moved to those. The old rows
    named a group the target no longer had, so they were not in a group
    grouperprov manages, and no record held them: they stayed for good.
    """
    connection = connect()
    target = SqlTarget(connection, LAYOUT)
    target.create_tables()
    source = _staff_and_faculty()
    config = _config(MembershipType.MEMBERSHIP_OBJECTS, policy)
    prov = Provisioner(config, source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    seq = len(source.changes)
    cur = connection.cursor()
    cur.execute("DELETE FROM gp_groups WHERE group_key = 'a:staff'")  # its rows stay
    cur.close()
    connection.commit()
    source.rename_group("a:staff", "a:team")
    result = prov.incremental_sync(source.events(seq))
    assert result.status is SyncStatus.SUCCESS, result.summary()
    cur = connection.cursor()
    cur.execute("SELECT group_id, entity_id, group_name FROM gp_memberships ORDER BY 1, 2")
    assert cur.fetchall() == [
        ("a:fac", "u1", "a:fac"),
        ("a:team", "u0", "a:team"),
        ("a:team", "u1", "a:team"),
    ]
    cur.close()
    connection.commit()
    assert not prov.plan_full().plan.changes


def test_a_group_row_whose_matching_value_was_blanked_is_found_by_its_link(
    connect: Connect,
) -> None:
    # Found by editing a synced table: the row was set aside, and inserting
    # the group again failed on the row's key in every run.
    target = _edited_by_hand(
        connect,
        MembershipType.MEMBERSHIP_OBJECTS,
        "UPDATE gp_groups SET cn = NULL WHERE group_key = 'a:staff'",
    )
    (staff,) = target.retrieve_groups(["a:staff"])
    assert staff.get("cn") == "a:staff"


def test_a_sqlite_row_with_a_null_key_is_left_alone_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # SQLite lets a TEXT primary key hold NULL. Such a row was read as the
    # group "None", and its delete was planned, and not done, in every run.
    connection = sqlite3.connect(tmp_path / "target.db")
    _edited_by_hand(
        lambda: connection,
        MembershipType.MEMBERSHIP_OBJECTS,
        "INSERT INTO gp_groups VALUES (NULL, 'zz', 'x')",
        # A membership table of the application's own, without NOT NULL.
        "DROP TABLE gp_memberships",
        "CREATE TABLE gp_memberships (group_id TEXT, entity_id TEXT, group_name TEXT,"
        " subject_id TEXT, PRIMARY KEY (group_id, entity_id))",
        "INSERT INTO gp_memberships VALUES (NULL, 'u0', 'zz', 'u0')",
    )
    assert connection.execute("SELECT count(*) FROM gp_memberships").fetchone() == (4,)
    assert connection.execute("SELECT count(*) FROM gp_groups WHERE cn = 'zz'").fetchone() == (1,)
    assert "1 rows of 'gp_groups' have no value (NULL) in 'group_key'" in caplog.text
    assert "1 rows of 'gp_memberships' have no value (NULL) in 'group_id' or 'entity_id'" in (
        caplog.text
    )
    connection.close()


@pytest.fixture
def own_postgres(postgres_server: PostgresServer) -> Iterator[PostgresServer]:
    """A server of this test's own, to restart (postgres_server: the programs are here)."""
    server = PostgresServer(postgres_server.bindir)
    server.start()
    yield server
    server.stop()


def test_a_restarted_database_is_connected_to_again(
    own_postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a connect function: reads connect again, a write cut off fails alone; down: a status."""
    import psycopg  # noqa: PLC0415  # the extra, with the server

    from grouperprov.targets import _sql  # noqa: PLC0415  # its check of an idle connection

    dsn = own_postgres.create_database()
    target = SqlTarget(lambda: psycopg.connect(dsn), LAYOUT)
    target.create_tables()
    source = InMemorySource()
    for subject in ("u0", "u1"):
        source.add_subject(subject)
    source.add_group("a:staff", description="Staff")
    source.add_member("a:staff", "u0")
    source.mark("a", "sql", scope="sub")
    prov = Provisioner(
        _config(MembershipType.MEMBERSHIP_OBJECTS), source, target, MemorySyncStore()
    )
    assert prov.full_sync().status is SyncStatus.SUCCESS
    own_postgres.restart()
    source.add_member("a:staff", "u1")
    assert prov.full_sync().status is SyncStatus.SUCCESS  # it reads first: connected again
    assert len(target.retrieve_all_memberships()) == 2
    own_postgres.restart()  # closed while idle: seen before the write, which goes through
    (first,) = target.insert_groups([ProvisioningGroup(id="w", attributes={"cn": "w"})])
    assert first.ok
    with monkeypatch.context() as patch:  # closed after that check: the write is cut off
        patch.setattr(_sql, "closed_by_peer", lambda _fileno: False)
        own_postgres.restart()
        with pytest.raises(TargetUnavailable, match=r"insert_groups: the connection .* was lost"):
            target.insert_groups([ProvisioningGroup(id="x", attributes={"cn": "x"})])
    (done,) = target.insert_groups([ProvisioningGroup(id="y", attributes={"cn": "y"})])
    assert done.ok
    own_postgres.halt()
    result = prov.full_sync()
    assert result.status is SyncStatus.TARGET_UNAVAILABLE
    assert "cannot connect to the database" in result.message
    own_postgres.restart()
    assert prov.full_sync().status is SyncStatus.SUCCESS
    target.close()
    assert target._db.closed  # the connection the target opened


def test_a_with_block_closes_what_the_target_opened_and_leaves_a_given_connection(
    tmp_path: Path,
) -> None:
    with SqlTarget(lambda: sqlite3.connect(tmp_path / "t.db"), LAYOUT) as target:
        target.create_tables()
        opened = target._db
    with pytest.raises(sqlite3.ProgrammingError, match="closed database"):
        opened.execute("SELECT 1")
    given = sqlite3.connect(tmp_path / "t.db")
    with SqlTarget(given, LAYOUT) as target:
        assert target.retrieve_all_groups() == []
    assert given.execute("SELECT count(*) FROM gp_groups").fetchone() == (0,)
    given.close()


def test_a_connect_function_of_a_driver_without_sockets_is_used_as_it_is(tmp_path: Path) -> None:
    target = SqlTarget(lambda: sqlite3.connect(tmp_path / "t.db"), LAYOUT)
    target.create_tables()
    first = target._db  # the connection it opened
    target.insert_groups([ProvisioningGroup(id="x", attributes={"cn": "x"})])
    assert [g.id for g in target.retrieve_all_groups()] == ["x"]
    assert target._db is first  # no socket to look at: never taken for closed
    target.close()


def test_a_lost_plain_connection_says_how_to_have_it_connect_again(
    own_postgres: PostgresServer,
) -> None:
    import psycopg  # noqa: PLC0415  # the extra, with the server

    with psycopg.connect(own_postgres.create_database()) as connection:
        target = SqlTarget(connection, LAYOUT)
        target.create_tables()
        own_postgres.restart()
        with pytest.raises(TargetUnavailable, match="give SqlTarget a function that connects"):
            target.retrieve_all_groups()
    own_postgres.halt()
    with pytest.raises(TargetUnavailable, match=r"cannot connect to the database: .*refused"):
        SqlTarget(lambda: psycopg.connect(own_postgres.dsn(), connect_timeout=3), LAYOUT)


def test_other_errors_are_not_taken_for_a_lost_connection(connect: Connect) -> None:
    connection = connect()
    target = SqlTarget(connection, SqlLayout(groups=ObjectTable(table="gp_missing")))
    with pytest.raises(Exception, match="gp_missing") as caught:
        target.retrieve_all_groups()  # the table was never created
    assert not isinstance(caught.value, TargetUnavailable)
    target.close()  # the caller's connection: left open
    target.create_tables()
    assert target.retrieve_all_groups() == []


def test_a_connection_that_makes_dicts_or_named_tuples_is_read_by_position(
    connect: Connect,
) -> None:
    # Found with an application's own connection (psycopg's row_factory=dict_row):
    # every run ended CONFIG_ERROR, "cannot read table ...: KeyError: 0"; with
    # named tuples, psycopg refused the key column selected twice.
    plain = connect()
    _app_tables(plain)
    layout = _APP_LAYOUT
    first = Provisioner(_APP_CONFIG, _staff_and_faculty(), SqlTarget(plain, layout))
    assert first.full_sync().status is SyncStatus.SUCCESS
    expected = SqlTarget(plain, layout).retrieve_all_groups()
    assert len(expected) == 2
    if isinstance(plain, sqlite3.Connection):

        def as_dict(cur: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
            return {d[0]: v for d, v in zip(cur.description, row, strict=True)}

        factories: list[Any] = [sqlite3.Row, as_dict]
    else:
        from psycopg.rows import dict_row, namedtuple_row  # noqa: PLC0415  # the extra

        factories = [dict_row, namedtuple_row]
    for factory in factories:
        plain.row_factory = factory
        target = SqlTarget(plain, layout)
        assert target.retrieve_all_groups() == expected
        prov = Provisioner(_APP_CONFIG, _staff_and_faculty(), target, first.store)
        result = prov.full_sync()
        assert result.status is SyncStatus.SUCCESS, result.summary()
        assert not result.plan or not result.plan.changes
    assert len(_app_rows(plain)) == 4  # the app's row and the three synced: none added


def test_a_connection_of_a_class_derived_from_psycopg_s_is_psycopg_s(postgres_dsn: str) -> None:
    # Its class's module (this one) named no driver: "cannot tell the
    # paramstyle", and with rows as dicts, reads failed.
    import psycopg  # noqa: PLC0415  # the extra, with the server
    from psycopg.rows import dict_row  # noqa: PLC0415

    class AppConnection(psycopg.Connection[Any]):
        pass

    with AppConnection.connect(postgres_dsn, row_factory=dict_row) as connection:
        _app_tables(connection)
        target = SqlTarget(connection, _APP_LAYOUT)
        prov = Provisioner(_APP_CONFIG, _staff_and_faculty(), target)
        assert prov.full_sync().status is SyncStatus.SUCCESS
        assert not prov.plan_full().plan.changes
        assert target._copy  # membership rows through COPY, as on any psycopg connection


# -- a database busy with others' work ---------------------------------------------


def _batch_failures(result: Any) -> set[str]:  # a SyncResult
    return {error.message for error in result.errors.values()}


def test_a_locked_sqlite_database_stops_the_run_or_fails_each_batch_once(
    tmp_path: Path,
) -> None:
    # Found with another program holding the database: every object of a
    # batch was tried again alone, each waiting out the busy timeout (five
    # seconds by default; a thousand objects, over an hour), and a lock
    # during the check of the tables ended the run as CONFIG_ERROR.
    path = tmp_path / "app.db"
    connection = sqlite3.connect(path, timeout=0.05)
    _app_tables(connection)
    source = _staff_and_faculty()
    prov = Provisioner(_APP_CONFIG, source, SqlTarget(connection, _APP_LAYOUT), MemorySyncStore())
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # a migration: reads wait too
    stopped = prov.full_sync()
    assert stopped.status is SyncStatus.TARGET_UNAVAILABLE, stopped.summary()
    assert "cannot read table 'app_groups': OperationalError: database is locked" in (
        stopped.message
    )
    assert not prov.store.load("sql").records  # nothing saved
    other.execute("ROLLBACK")
    assert prov.full_sync().status is SyncStatus.SUCCESS
    seen = len(source.changes)
    for subject in ("u2", "u3", "u4"):
        source.add_subject(subject)
        source.add_member("a:fac", subject)
    other.execute("BEGIN IMMEDIATE")  # a writer: reads go on, writes wait
    failed = prov.full_sync()
    assert failed.status is SyncStatus.ERROR, failed.summary()
    assert len(failed.errors) == 3
    # One attempt for the batch: alone, each would say only the error.
    assert _batch_failures(failed) == {"the batch failed: OperationalError: database is locked"}
    other.execute("ROLLBACK")
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert not prov.incremental_sync(source.events(seen)).errors
    assert len(_app_rows(connection)) == 4 + 3
    other.close()
    connection.close()


def test_a_locked_postgres_table_stops_the_run_or_fails_each_batch_once(
    postgres_dsn: str,
) -> None:
    import psycopg  # noqa: PLC0415  # the extra, with the server

    with psycopg.connect(postgres_dsn) as setup:
        _app_tables(setup)
    connection = psycopg.connect(postgres_dsn, options="-c lock_timeout=50")
    source = _staff_and_faculty()
    prov = Provisioner(_APP_CONFIG, source, SqlTarget(connection, _APP_LAYOUT), MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    other = psycopg.connect(postgres_dsn)
    other.execute("LOCK TABLE app_m IN ACCESS EXCLUSIVE MODE")  # a migration
    stopped = prov.full_sync()  # it used to end with psycopg's LockNotAvailable
    assert stopped.status is SyncStatus.TARGET_UNAVAILABLE, stopped.summary()
    assert (
        "retrieve_all_memberships: the database did not serve the read: LockNotAvailable:"
        " canceling statement due to lock timeout"
    ) in stopped.message
    other.rollback()
    for subject in ("u2", "u3", "u4"):
        source.add_subject(subject)
        source.add_member("a:fac", subject)
    other.execute("LOCK TABLE app_m IN SHARE MODE")  # reads go on, writes wait
    failed = prov.full_sync()
    assert failed.status is SyncStatus.ERROR, failed.summary()
    assert len(failed.errors) == 3
    assert _batch_failures(failed) == {
        "the batch failed: LockNotAvailable: canceling statement due to lock timeout"
    }
    other.rollback()
    # A standby after a failover: read-only, every write refused alike.
    with psycopg.connect(postgres_dsn, options="-c default_transaction_read_only=on") as standby:
        store = prov.store
        read_only = Provisioner(_APP_CONFIG, source, SqlTarget(standby, _APP_LAYOUT), store)
        refused = read_only.full_sync()
        assert refused.status is SyncStatus.ERROR, refused.summary()
        assert len(refused.errors) == 3
        (message,) = _batch_failures(refused)
        assert message.startswith("the batch failed: ReadOnlySqlTransaction: cannot execute")
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert len(_app_rows(connection)) == 4 + 3
    other.close()
    connection.close()


def test_a_read_the_database_refuses_stops_the_run_and_names_why(postgres_dsn: str) -> None:
    import psycopg  # noqa: PLC0415  # the extra, with the server

    with psycopg.connect(postgres_dsn) as admin:
        _app_tables(admin)
    grant = "GRANT INSERT, UPDATE, DELETE ON app_groups, app_m TO {role}"
    with _as_role(postgres_dsn, "no_select", grant) as connection:
        target = SqlTarget(connection, _APP_LAYOUT)
        prov = Provisioner(_APP_CONFIG, _staff_and_faculty(), target, MemorySyncStore())
        result = prov.full_sync()  # it used to end with psycopg's InsufficientPrivilege
        assert result.status is SyncStatus.TARGET_UNAVAILABLE, result.summary()
        assert (
            "retrieve_all_groups: the database did not serve the read: InsufficientPrivilege:"
            " permission denied for table app_groups"
        ) in result.message


def test_a_column_renamed_since_the_check_stops_a_postgres_read_as_a_layout_problem(
    postgres_dsn: str,
) -> None:
    # (SQLite reads a double-quoted name it does not know as a string: only
    # the check of the tables at each full read finds it there.)
    import psycopg  # noqa: PLC0415  # the extra, with the server

    with psycopg.connect(postgres_dsn) as connection:
        _app_tables(connection)
        target = SqlTarget(connection, _APP_LAYOUT)
        assert target.retrieve_groups(["a:staff"]) == []  # checked: the layout fits
        _execute(connection, "ALTER TABLE app_groups RENAME COLUMN descr TO description")
        with pytest.raises(ConfigError, match=r"groups\.columns\.description: table .app_groups."):
            target.retrieve_groups(["a:staff"])  # not checked before it: its error tells


# -- the database's own types ------------------------------------------------------

_OWN_TYPES = SqlLayout.from_dict(
    {
        "groups": {
            "table": "app_groups",
            "id_column": "name",
            "id_attribute": "name",
            "columns": ["name", "external_id", "created", "quota", "price", "ratio", "blob"],
        }
    }
)


# An attribute table of an application's own: (owner, name, value) rows.
_APP_VALUES = {
    "table": "app_values",
    "owner_column": "owner",
    "name_column": "name",
    "value_column": "value",
}


def test_postgres_types_are_read_by_their_rules_and_a_sync_of_them_converges(
    postgres_dsn: str,
) -> None:
    """uuid, timestamptz, numeric, real and bytea columns of a table of the database's own."""
    import psycopg  # noqa: PLC0415  # the extra, with the server

    with psycopg.connect(postgres_dsn) as connection:
        connection.execute(
            "CREATE TABLE app_groups (name text PRIMARY KEY, external_id uuid,"
            " created timestamptz, quota numeric(10, 0), price numeric(10, 2), ratio real,"
            " blob bytea, extra jsonb)"
        )
        connection.execute("SET TIME ZONE 'UTC'")
        connection.execute(
            "INSERT INTO app_groups VALUES ('old', '12345678-ABCD-4ef0-9abc-0123456789ab',"
            " '2026-12-06 13:05:01+00', 5, 12.5, 1.5, '\\x636166c3a9', '{\"a\": 1}')"
        )
        connection.commit()
        target = SqlTarget(connection, _OWN_TYPES)
        (old,) = target.retrieve_all_groups()
        assert old.attributes == {
            "name": "old",
            "external_id": "12345678-abcd-4ef0-9abc-0123456789ab",
            "created": "2026-12-06T13:05:01+00:00",
            "quota": 5,
            "price": "12.50",
            "ratio": "1.5",
            "blob": "café",
        }
        source = InMemorySource()
        source.add_group("apps:old")
        source.add_group("apps:new")
        source.mark("apps", "own-types", scope="sub")
        config = ProvisionerConfig.from_dict(
            {
                "name": "own-types",
                "groups": {
                    "attributes": [
                        {"name": "name", "field": "extension"},
                        {"name": "external_id", "static": "12345678-abcd-4ef0-9abc-0123456789ab"},
                        {"name": "quota", "static": 7, "value_type": "int"},
                        {"name": "price", "static": "12.50"},
                    ],
                    "matching": ["name"],
                    "delete_policy": "not_in_grouper",
                },
                "entities": {"operate": False},
                "memberships": {"type": "membership_objects", "operate": False},
            }
        )
        provisioner = Provisioner(config, source, target, MemorySyncStore())
        first = provisioner.full_sync()
        assert first.status is SyncStatus.SUCCESS, first.summary()
        assert [g.attributes for g in target.retrieve_all_groups()] == [
            {
                "name": "new",
                "external_id": "12345678-abcd-4ef0-9abc-0123456789ab",
                "quota": 7,
                "price": "12.50",
            },
            {**old.attributes, "quota": 7},
        ]
        again = provisioner.full_sync()
        assert again.plan is not None
        assert again.plan.empty, again.plan.summary()


# LAYOUT with blank-padded CHAR(n) columns: keys, values and attribute tables.
_PADDED = SqlLayout.from_dict(
    {
        "groups": {
            "table": "gp_groups",
            "id_column": "group_key",
            "columns": ["cn", "description"],
            "id_attribute": "cn",
            "attribute_table": "gp_group_attributes",
            "multi_valued": ["member"],
            "types": {"group_key": "CHAR(24)", "description": "CHAR(12)"},
        },
        "entities": {
            "table": "gp_people",
            "id_column": "uid",
            "columns": ["uid", "mail"],
            "id_attribute": "uid",
            "attribute_table": "gp_people_attributes",
            "multi_valued": ["isMemberOf"],
            "types": {"uid": "CHAR(8)"},
        },
        "memberships": {
            "table": "gp_memberships",
            "columns": ["group_name", "subject_id"],
            "types": {"group_id": "CHAR(24)", "entity_id": "CHAR(8)", "subject_id": "CHAR(8)"},
        },
    }
)


@pytest.mark.parametrize("kind", list(MembershipType))
def test_postgres_char_columns_are_read_without_their_padding(
    postgres_dsn: str, kind: MembershipType
) -> None:
    # Found with a group table keyed by a CHAR(20) name: the key came back
    # padded, so the group was inserted again (and refused) in every run, and
    # its membership rows were written under another key.
    import psycopg  # noqa: PLC0415  # the extra, with the server

    with psycopg.connect(postgres_dsn) as connection:
        for table, size in (("gp_group_attributes", 24), ("gp_people_attributes", 8)):
            connection.execute(
                f"CREATE TABLE {table} (owner_id CHAR({size}), attribute_name CHAR(16),"
                " attribute_value CHAR(24), PRIMARY KEY (owner_id, attribute_name,"
                " attribute_value))"
            )
        target = SqlTarget(connection, _PADDED)
        target.create_tables()
        (padded,) = connection.execute(
            "SELECT count(*) FROM information_schema.columns WHERE data_type = 'character'"
        ).fetchone() or (0,)
        assert padded == 12  # the types of key columns are made too
        source = _staff_and_faculty()
        source.add_group("a:plain")  # no description: NULL in its CHAR(12) column
        prov = Provisioner(_config(kind), source, target, MemorySyncStore())
        for change in (
            None,
            lambda: source.rename_group("a:staff", "a:employees"),
            lambda: source.update_group("a:fac", description="Faculty"),
            lambda: source.remove_member("a:employees", "u1"),
        ):
            if change is not None:
                change()
            result = prov.full_sync()
            assert result.status is SyncStatus.SUCCESS, result.summary()
            assert not prov.plan_full().plan.changes
        # The key stays as inserted (cn has a column of its own); cn follows.
        groups = {g.id: g for g in target.retrieve_all_groups()}
        assert {k: g.get("cn") for k, g in groups.items()} == {
            "a:staff": "a:employees",
            "a:fac": "a:fac",
            "a:plain": "a:plain",
        }
        assert groups["a:plain"].get("description") is None
        assert groups["a:fac"].get("description") == "Faculty"
        members = {(m.group_id, m.entity_id) for m in target.retrieve_all_memberships()}
        if kind is MembershipType.GROUP_ATTRIBUTES:
            assert groups["a:staff"].values("member") == {"u0"}
        elif kind is MembershipType.ENTITY_ATTRIBUTES:
            people = {e.id: e.values("isMemberOf") for e in target.retrieve_all_entities()}
            assert people == {"u0": {"a:employees"}, "u1": {"a:fac"}}
        else:
            assert members == {("a:staff", "u0"), ("a:fac", "u1")}


@pytest.mark.parametrize("order", ["deletes_first", "inserts_first"])
def test_membership_rows_are_changed_under_the_key_their_group_moved_to_in_the_run(
    connect: Connect, order: str
) -> None:
    # Found with membership objects that carry the group's name: after a
    # rename moved the group's key, their updates addressed the old key,
    # matched no row, and were counted as done while nothing changed.
    layout = SqlLayout.from_dict(
        {
            "groups": {"table": "g", "id_column": "cn", "id_attribute": "cn", "columns": ["cn"]},
            "memberships": {"table": "m", "columns": ["group_uuid", "group_name", "subject_id"]},
        }
    )
    data: dict[str, Any] = {
        "name": "sql",
        "crud_order": order,
        "groups": {"attributes": [{"name": "cn", "field": "name"}], "matching": ["cn"]},
        "entities": {"operate": False},
        "memberships": {
            "type": "membership_objects",
            "update": True,
            "delete_policy": "not_in_grouper",
            "attributes": [
                {"name": "group_uuid", "field": "group.id"},
                {"name": "group_name", "field": "group.name"},
                {"name": "subject_id", "field": "entity.subject_id"},
            ],
            "matching": [["group_uuid", "subject_id"]],
        },
    }
    source = _staff_and_faculty()
    target = _target(connect, layout)
    prov = Provisioner(ProvisionerConfig.from_dict(data), source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    source.rename_group("a:staff", "a:employees")
    source.remove_member("a:employees", "u0")
    result = prov.full_sync()
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert result.plan is not None
    assert sorted(c.action.value for c in result.plan.changes) == ["delete", "update", "update"]
    rows = sorted(
        (m.group_id, m.entity_id, m.get("group_name")) for m in target.retrieve_all_memberships()
    )
    assert rows == [("a:employees", "mem-u1", "a:employees"), ("a:fac", "mem-u1", "a:fac")]
    assert not prov.plan_full().plan.changes


def test_a_group_row_postgres_refuses_takes_none_of_its_membership_rows_in(
    postgres_dsn: str,
) -> None:
    import psycopg  # noqa: PLC0415  # the extra, with the server

    source = _staff_and_faculty()
    source.update_group("a:staff", description="Staff\x00")  # no NUL in PostgreSQL's text
    with psycopg.connect(postgres_dsn) as connection:
        target = SqlTarget(connection, LAYOUT)
        target.create_tables()
        prov = Provisioner(
            _config(MembershipType.MEMBERSHIP_OBJECTS), source, target, MemorySyncStore()
        )
        for _ in range(2):
            result = prov.full_sync()
            assert result.status is SyncStatus.ERROR
            assert {g.get("cn") for g in target.retrieve_all_groups()} == {"a:fac"}
            rows = [(m.group_id, m.entity_id) for m in target.retrieve_all_memberships()]
            assert rows == [("a:fac", "u1")]  # none under a:staff's Grouper id
            assert sorted(e.code.value for e in result.errors.values()) == ["DNE", "DNE", "ERR"]
            assert result.plan is not None
            assert not [c for c in result.plan.changes if c.action.value == "delete"]


def test_a_value_of_a_type_no_rule_reads_names_its_table_row_and_column(
    postgres_dsn: str,
) -> None:
    import psycopg  # noqa: PLC0415  # the extra, with the server

    with psycopg.connect(postgres_dsn) as connection:
        connection.execute("CREATE TABLE app_groups (name text PRIMARY KEY, extra jsonb)")
        connection.execute("INSERT INTO app_groups VALUES ('g1', '{\"a\": 1}')")
        connection.commit()
        layout = SqlLayout.from_dict(
            {
                "groups": {
                    "table": "app_groups",
                    "id_column": "name",
                    "columns": {"name": "name", "settings": "extra"},
                }
            }
        )
        with pytest.raises(
            TypeError,
            match=r"^table 'app_groups', row 'g1', column 'extra': a dict value cannot be",
        ):
            SqlTarget(connection, layout).retrieve_all_groups()
        connection.execute("CREATE TABLE app_values (owner text, name text, value jsonb)")
        connection.execute("INSERT INTO app_values VALUES ('g1', 'code', '[1]')")
        connection.execute(
            "CREATE TABLE app_members (group_id text, member_id text, since jsonb,"
            " PRIMARY KEY (group_id, member_id))"
        )
        connection.execute("INSERT INTO app_members VALUES ('g1', 'm1', 'true')")
        connection.execute("INSERT INTO app_members VALUES ('g1', 'm2', '{}')")
        connection.commit()
        layout = SqlLayout.from_dict(
            {
                "groups": {
                    "table": "app_groups",
                    "id_column": "name",
                    "columns": ["name"],
                    "attribute_table": _APP_VALUES,
                    "multi_valued": ["code"],
                },
                "memberships": {
                    "table": "app_members",
                    "group_column": "group_id",
                    "entity_column": "member_id",
                    "columns": ["since"],
                },
            }
        )
        target = SqlTarget(connection, layout)
        with pytest.raises(
            TypeError, match=r"^table 'app_values', row of 'g1', value of 'code': a list value"
        ):
            target.retrieve_all_groups()
        with pytest.raises(
            TypeError,
            match=r"^table 'app_members', row \('g1', 'm2'\), column 'since': a dict value",
        ):
            target.retrieve_all_memberships()


def test_sqlite_reals_blobs_and_numbers_in_attribute_tables_are_read_by_their_rules() -> None:
    connection = sqlite3.connect(":memory:")
    connection.executescript(
        "CREATE TABLE app_groups (name TEXT PRIMARY KEY, score REAL, data BLOB);"
        "CREATE TABLE app_values (owner TEXT, name TEXT, value);"
        "INSERT INTO app_groups VALUES ('g1', 2.0, x'ff41');"
        "INSERT INTO app_values VALUES ('g1', 'code', 42), ('g1', 'code', 'x'),"
        " ('g1', 'code', NULL), ('g1', 'code', 0.5);"
    )
    layout = SqlLayout.from_dict(
        {
            "groups": {
                "table": "app_groups",
                "id_column": "name",
                "columns": ["name", "score", "data"],
                "attribute_table": _APP_VALUES,
                "multi_valued": ["code"],
            }
        }
    )
    (group,) = SqlTarget(connection, layout).retrieve_all_groups()
    assert group.attributes == {
        "name": "g1",
        "score": "2.0",
        "data": "\udcffA",
        "code": frozenset({42, "x", "0.5"}),  # NULL is no value
    }
    connection.close()


def test_membership_rows_of_a_group_made_again_under_a_new_key_are_replaced(
    connect: Connect,
) -> None:
    # Found by deleting a group row by hand (its membership rows kept) where
    # the database makes the keys: the group was inserted again under a new
    # key, the old rows matched its memberships on their values, and the sync
    # took them for the new group's, run after run.
    layout = SqlLayout.from_dict(
        {
            "groups": {"table": "g", "columns": ["cn", "description"]},
            "entities": {"table": "p", "columns": ["uid"]},
            "memberships": {"table": "m", "columns": ["group_name", "subject_id"]},
        }
    )
    connection = connect()
    target = SqlTarget(connection, layout)
    target.create_tables()
    source = _staff_and_faculty()
    prov = Provisioner(
        _config(MembershipType.MEMBERSHIP_OBJECTS), source, target, MemorySyncStore()
    )
    assert prov.full_sync().status is SyncStatus.SUCCESS
    _execute(connection, "DELETE FROM g WHERE cn = 'a:staff'")
    result = prov.full_sync()
    assert result.status is SyncStatus.SUCCESS, result.summary()
    (staff,) = target.search_groups("cn", ["a:staff"])
    rows = sorted((m.group_id, m.get("subject_id")) for m in target.retrieve_all_memberships())
    (fac,) = target.search_groups("cn", ["a:fac"])
    assert rows == sorted([(staff.id, "u0"), (staff.id, "u1"), (fac.id, "u1")])
    assert not prov.plan_full().plan.changes


@pytest.mark.parametrize(
    "kind", [MembershipType.GROUP_ATTRIBUTES, MembershipType.MEMBERSHIP_OBJECTS]
)
def test_a_key_moved_onto_rows_a_hand_delete_left_does_not_take_their_members(
    connect: Connect, kind: MembershipType, caplog: pytest.LogCaptureFixture
) -> None:
    connection = connect()
    target = SqlTarget(connection, KEYED)
    target.create_tables()
    source = _staff_and_faculty()
    prov = Provisioner(_config(kind), source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    _execute(  # what a group 'a:new', deleted by hand from gp_groups alone, left behind
        connection,
        "INSERT INTO gp_group_attributes VALUES ('a:new', 'member', 'ghost')",
        "INSERT INTO gp_memberships VALUES ('a:new', 'ghost', 'a:new', 'ghost')",
    )
    source.rename_group("a:staff", "a:new")
    assert prov.full_sync().status is SyncStatus.SUCCESS
    (moved,) = target.retrieve_groups(["a:new"])
    members = sorted(m.entity_id for m in target.retrieve_memberships_by_groups(["a:new"]))
    if kind is MembershipType.GROUP_ATTRIBUTES:
        assert moved.values("member") == {"u0", "u1"}
    else:
        assert members == ["u0", "u1"]
    assert "ghost" not in str(target.retrieve_all_memberships())
    assert "which no row of 'gp_groups' had" in caplog.text or "whose owners were not in" in (
        caplog.text
    )
    assert not prov.plan_full().plan.changes


def test_a_key_moves_in_a_table_with_no_other_table_naming_it(connect: Connect) -> None:
    layout = SqlLayout.from_dict(
        {"groups": {"table": "g", "id_column": "cn", "id_attribute": "cn", "columns": ["cn"]}}
    )
    target = _target(connect, layout)
    target.insert_groups([ProvisioningGroup(id="x", attributes={"cn": "staff"})])
    (staff,) = target.retrieve_all_groups()
    (moved,) = target.update_groups([(staff, [AttributeChange.replace("cn", "employees")])])
    assert moved.ok
    assert moved.stored is not None
    assert moved.stored.id == "employees"
    assert [g.id for g in target.retrieve_all_groups()] == ["employees"]


_REFERENCED = SqlLayout.from_dict(
    {
        "groups": {
            "table": "app_groups",
            "id_column": "name",
            "id_attribute": "name",
            "columns": ["name", "description"],
            "attribute_table": "app_group_values",
            "multi_valued": ["owner"],
        },
        "memberships": {"table": "app_members", "columns": ["group_uuid", "subject_id"]},
    }
)


@pytest.mark.parametrize("cascade", [True, False], ids=["on-update-cascade", "no-action"])
def test_a_key_named_by_foreign_keys_moves_with_its_rows_or_fails_alone(
    connect: Connect, cascade: bool, caplog: pytest.LogCaptureFixture
) -> None:
    # Found with foreign keys ON UPDATE CASCADE to a group table keyed by
    # name: the rename's clean-up ran after the key had moved, took the
    # group's own rows (moved by the cascade) for rows left by a hand delete,
    # and removed them.
    connection = connect()
    cur = connection.cursor()
    if isinstance(connection, sqlite3.Connection):
        cur.execute("PRAGMA foreign_keys = ON")
    on_update = " ON UPDATE CASCADE" if cascade else ""
    cur.execute("CREATE TABLE app_groups (name TEXT PRIMARY KEY, description TEXT)")
    cur.execute(
        "CREATE TABLE app_group_values (owner_id TEXT NOT NULL REFERENCES app_groups (name)"
        f"{on_update}, attribute_name TEXT NOT NULL, attribute_value TEXT NOT NULL,"
        " PRIMARY KEY (owner_id, attribute_name, attribute_value))"
    )
    cur.execute(
        "CREATE TABLE app_members (group_id TEXT NOT NULL REFERENCES app_groups (name)"
        f"{on_update}, entity_id TEXT NOT NULL, group_uuid TEXT, subject_id TEXT,"
        " PRIMARY KEY (group_id, entity_id))"
    )
    cur.close()
    connection.commit()
    config = ProvisionerConfig.from_dict(
        {
            "name": "sql",
            "groups": {
                "attributes": [
                    {"name": "name", "field": "name"},
                    {"name": "description", "field": "description"},
                    {"name": "owner", "static": "admin", "multi_valued": True},
                ],
                "matching": ["name"],
            },
            "entities": {"operate": False},
            "memberships": {
                "type": "membership_objects",
                "attributes": [
                    {"name": "group_uuid", "field": "group.id"},
                    {"name": "subject_id", "field": "entity.subject_id"},
                ],
                "matching": [["group_uuid", "subject_id"]],
            },
        }
    )
    source = _staff_and_faculty()
    target = SqlTarget(connection, _REFERENCED)
    prov = Provisioner(config, source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    before = {(m.group_id, m.entity_id) for m in target.retrieve_all_memberships()}
    source.rename_group("a:staff", "a:employees")
    result = prov.full_sync()
    groups = {g.id: g for g in target.retrieve_all_groups()}
    members = {(m.group_id, m.entity_id) for m in target.retrieve_all_memberships()}
    if cascade:
        assert result.status is SyncStatus.SUCCESS, result.summary()
        assert result.plan is not None
        assert [c.action.value for c in result.plan.changes] == ["update"]
        assert set(groups) == {"a:employees", "a:fac"}
        assert groups["a:employees"].values("owner") == {"admin"}
        assert members == {
            ("a:employees", "mem-u0"),
            ("a:employees", "mem-u1"),
            ("a:fac", "mem-u1"),
        }
        assert "removed" not in caplog.text
        assert not prov.plan_full().plan.changes
    else:
        # Nothing can move the key: the group fails alone, with the database's reason.
        assert result.status is SyncStatus.ERROR, result.summary()
        ((key, error),) = result.errors.items()
        assert key == (ObjectType.GROUP, "grp-00001")
        assert error.code.value == "ERR"
        assert "foreign key" in error.message.lower()
        assert set(groups) == {"a:staff", "a:fac"}
        assert groups["a:staff"].values("owner") == {"admin"}
        assert members == before


def test_a_member_value_the_table_refuses_fails_its_membership_alone(connect: Connect) -> None:
    # The SQL side of WriteOutcome.partial: an application's attribute table
    # whose value column takes 12 characters at most. One long member value
    # failed the whole group, its insert and every later update, every run.
    connection = connect()
    target = SqlTarget(connection, LAYOUT)
    target.create_tables()
    cur = connection.cursor()
    cur.execute("DROP TABLE gp_group_attributes")
    cur.execute(
        "CREATE TABLE gp_group_attributes (owner_id TEXT NOT NULL, attribute_name TEXT NOT NULL,"
        " attribute_value TEXT NOT NULL CHECK (length(attribute_value) <= 12),"
        " PRIMARY KEY (owner_id, attribute_name, attribute_value))"
    )
    cur.close()
    connection.commit()
    source = InMemorySource()
    for subject in ("u0", "a-very-long-subject", "u1"):
        source.add_subject(subject)
    source.add_group("a:staff")
    source.add_member("a:staff", "u0")
    source.add_member("a:staff", "a-very-long-subject")
    source.add_group("a:fac")  # in the same batch: written whole
    source.add_member("a:fac", "u1")
    source.mark("a", "sql", scope="sub")
    prov = Provisioner(_config(MembershipType.GROUP_ATTRIBUTES), source, target, MemorySyncStore())
    result = prov.full_sync()
    long = (ObjectType.MEMBERSHIP, ("grp-00001", "mem-a-very-long-subject"))
    assert set(result.errors) == {long}
    groups = {g.id: g.values("member") for g in target.retrieve_all_groups()}
    assert groups == {"a:staff": {"u0"}, "a:fac": {"u1"}}
    source.add_member("a:staff", "u1")
    result = prov.full_sync()
    assert set(result.errors) == {long}
    (staff,) = target.retrieve_groups(["a:staff"])
    assert staff.values("member") == {"u0", "u1"}
    assert not prov.store.load("sql").records[long].in_target


def _membership_campus(config: dict[str, Any] | None = None) -> tuple[InMemorySource, Any]:
    """Grouper with u1 in a:g0, and membership objects of (gname, uid) in table ``m``."""
    data: dict[str, Any] = {
        "name": "s",
        "groups": {"operate": False},
        "entities": {"operate": False},
        "memberships": {
            "type": "membership_objects",
            "attributes": [
                {"name": "gname", "field": "group.name"},
                {"name": "uid", "field": "entity.subject_id"},
            ],
            "matching": [["gname", "uid"]],
        },
    }
    data.update(config or {})
    source = InMemorySource()
    source.add_subject("u1")
    source.add_group("a:g0")
    source.add_member("a:g0", "u1")
    source.mark("a", "s", scope="sub")
    return source, ProvisionerConfig.from_dict(data)


_M_LAYOUT = {
    "memberships": {"table": "m", "entity_column": "member_id", "columns": ["gname", "uid"]}
}


@pytest.mark.parametrize(("collation", "rows"), [("NOCASE", ["U1"]), ("BINARY", ["U1", "u1"])])
def test_a_nocase_column_is_compared_ignoring_case(collation: str, rows: list[str]) -> None:
    """Another tool wrote ``U1`` in a ``COLLATE NOCASE`` column; Grouper has ``u1``: one row.

    Before, the target declared no column case-insensitive: compared exactly,
    the sync added a row of its own beside ``U1`` (or, under a unique key on
    the values, was refused in every run) unless the configuration said
    ``case_sensitive = false``. A ``BINARY`` column still compares exactly.
    """
    conn = sqlite3.connect(":memory:")
    conn.execute(
        f"CREATE TABLE m (group_id TEXT, member_id TEXT, gname TEXT, uid TEXT COLLATE {collation},"
        " PRIMARY KEY (group_id, member_id))"
    )
    conn.execute("INSERT INTO m VALUES ('a:g0', 'mem-U1', 'a:g0', 'U1')")
    conn.commit()
    source, config = _membership_campus()
    target = SqlTarget(conn, SqlLayout.from_dict(_M_LAYOUT))
    folded = {ObjectType.MEMBERSHIP: frozenset({"uid"})} if collation == "NOCASE" else {}
    assert target.capabilities().case_insensitive == folded
    prov = Provisioner(config, source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert prov.plan_full().plan.changes == ()
    assert sorted(row[0] for row in conn.execute("SELECT uid FROM m")) == rows


def test_postgres_citext_and_nondeterministic_collations_are_compared_ignoring_case(
    postgres_dsn: str,
) -> None:
    """``citext`` and a ``deterministic = false`` collation take ``U1`` as ``u1``; ``text`` not."""
    import psycopg  # noqa: PLC0415  # the postgres extra

    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute("CREATE EXTENSION citext")
        admin.execute(
            "CREATE COLLATION ci"
            " (provider = icu, locale = 'und-u-ks-level2', deterministic = false)"
        )
        admin.execute(
            "CREATE TABLE m (group_id text, member_id text, gname citext, uid text COLLATE ci,"
            " note text, PRIMARY KEY (group_id, member_id))"
        )
        admin.execute("INSERT INTO m VALUES ('a:g0', 'mem-U1', 'A:G0', 'U1', 'kept')")
    layout = SqlLayout.from_dict(
        {"memberships": {**_M_LAYOUT["memberships"], "columns": ["gname", "uid", "note"]}}
    )
    with psycopg.connect(postgres_dsn) as connection:
        target = SqlTarget(connection, layout)
        assert target.capabilities().case_insensitive == {
            ObjectType.MEMBERSHIP: frozenset({"gname", "uid"})
        }
        source, config = _membership_campus()
        prov = Provisioner(config, source, target, MemorySyncStore())
        assert prov.full_sync().status is SyncStatus.SUCCESS
        assert prov.plan_full().plan.changes == ()
        found = connection.execute("SELECT gname, uid, note FROM m").fetchall()
        assert found == [("A:G0", "U1", "kept")]


def test_a_target_whose_tables_cannot_be_read_declares_no_case_insensitive_column() -> None:
    """``capabilities()`` before the tables are made: the operations, and nothing folded."""
    conn = sqlite3.connect(":memory:")
    target = SqlTarget(conn, SqlLayout.from_dict(_M_LAYOUT))
    caps = target.capabilities()
    assert caps.case_insensitive == {}
    assert caps.can(Operation.INSERT_MEMBERSHIPS)
    conn.execute(
        "CREATE TABLE m (group_id TEXT, member_id TEXT, gname TEXT COLLATE NOCASE, uid TEXT,"
        " PRIMARY KEY (group_id, member_id))"
    )
    assert target.capabilities().case_insensitive == {ObjectType.MEMBERSHIP: frozenset({"gname"})}


def test_the_nocase_columns_of_a_create_table_statement() -> None:
    from grouperprov.targets._sql import _nocase_columns  # noqa: PLC0415

    sql = (
        'CREATE TABLE m (a TEXT COLLATE NOCASE, "b c" TEXT collate nocase,'
        ' d NUMERIC(10, 2) COLLATE NOCASE, e TEXT, [f] TEXT COLLATE "NOCASE",'
        " `g` TEXT COLLATE RTRIM, h TEXT DEFAULT 'x, COLLATE NOCASE',"
        " CHECK (e <> 'a,b' COLLATE NOCASE), PRIMARY KEY (a, \"b c\"))"
    )
    assert _nocase_columns(sql) == {"a", "b c", "d", "f"}
    assert _nocase_columns("") == frozenset()


def test_nocase_columns_of_an_object_table_and_its_attribute_table_are_declared() -> None:
    """A group name in a NOCASE column, member values in a NOCASE value column."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE g (id TEXT PRIMARY KEY, name TEXT COLLATE NOCASE, note TEXT)")
    conn.execute(
        "CREATE TABLE gv (owner_id TEXT, attribute_name TEXT,"
        " attribute_value TEXT COLLATE NOCASE, PRIMARY KEY (owner_id, attribute_name,"
        " attribute_value))"
    )
    layout = SqlLayout.from_dict(
        {
            "groups": {
                "table": "g",
                "id_attribute": "name",
                "columns": {"name": "NAME", "note": "note"},  # SQLite's names ignore case
                "attribute_table": "gv",
                "multi_valued": ["member"],
            }
        }
    )
    caps = SqlTarget(conn, layout).capabilities()
    assert caps.case_insensitive == {ObjectType.GROUP: frozenset({"name", "member"})}


def test_a_layout_may_be_given_as_plain_data(tmp_path: Path) -> None:
    data = {"groups": {"table": "gp_groups", "id_column": "cn", "columns": ["cn"]}}
    with SqlTarget(sqlite3.connect(tmp_path / "t.db"), data) as target:
        assert target.layout == SqlLayout.from_dict(data)
    with pytest.raises(ConfigError, match=r"groups\.table: expected the table's name"):
        SqlTarget(sqlite3.connect(tmp_path / "t.db"), {"groups": {"columns": ["cn"]}})
    with pytest.raises(TypeError, match="layout= takes a SqlLayout or the mapping"):
        SqlTarget(sqlite3.connect(tmp_path / "t.db"), ["groups"])  # type: ignore[arg-type]


def test_tables_made_for_a_key_column_an_attribute_writes_take_its_values(
    connect: Connect,
) -> None:
    # Found by provisioning into such a layout: create_tables made the key an
    # integer identity column, which refused every group's name ("invalid
    # input syntax for type bigint"; SQLite: "datatype mismatch").
    layout = SqlLayout.from_dict(
        {
            "groups": {
                "table": "named_groups",
                "id_column": "name",
                "columns": ["name", "description"],
                "types": {"name": "VARCHAR(200)"},
            }
        }
    )
    target = SqlTarget(connect(), layout)
    target.create_tables()
    outcomes = target.insert_groups(
        [ProvisioningGroup(id="x", attributes={"name": "a:b", "description": "d"})]
    )
    assert [(o.ok, o.stored.id if o.stored else None) for o in outcomes] == [(True, "a:b")]
    assert [(g.id, g.get("description")) for g in target.retrieve_all_groups()] == [("a:b", "d")]


def test_a_layout_built_in_code_takes_lists_of_columns_and_names_wrong_kinds() -> None:
    # Found by building layouts as one writes TOML: a list of columns failed
    # with "dictionary update sequence element #1 has length 11", and a dict
    # for a table with "'dict' object has no attribute 'table'".
    table = ObjectTable(table="g", columns=["cn", "description"], id_attribute="cn")
    assert table.columns == {"cn": "cn", "description": "description"}
    assert MembershipTable(table="m", columns=("role",)).columns == {"role": "role"}
    with pytest.raises(ConfigError) as caught:
        SqlLayout(
            groups={"table": "g"},  # type: ignore[arg-type]  # the mistake under test
            entities=ObjectTable(table="p", attribute_table="pa"),  # type: ignore[arg-type]
            memberships=MembershipTable(table="m", types=["text"]),  # type: ignore[arg-type]
        ).check()
    plain = " (plain data goes through SqlLayout.from_dict)"
    assert [str(p) for p in caught.value.problems] == [
        f"groups: expected ObjectTable(...), got dict{plain}",
        f"entities.attribute_table: expected AttributeTable(...), got str 'pa'{plain}",
        "memberships.types: expected a mapping, got list ['text']",
    ]


def test_settings_of_the_wrong_type_are_named(tmp_path: Path) -> None:
    # copy="false" (read from an environment variable) is true: it turned on
    # the COPY it meant to turn off; a batch size as text failed in max().
    with pytest.raises(ConfigError) as caught:
        SqlTarget(
            sqlite3.connect(tmp_path / "t.db"),
            LAYOUT,
            batch_size="100",  # type: ignore[arg-type]  # the mistake under test
            copy="false",  # type: ignore[arg-type]
        )
    assert [str(p) for p in caught.value.problems] == [
        "batch_size: expected a whole number above 0, not str '100'",
        "copy: expected True, False or None, not str 'false'",
    ]
    with pytest.raises(ConfigError, match="batch_size: expected a whole number above 0, not int 0"):
        SqlTarget(sqlite3.connect(tmp_path / "t.db"), LAYOUT, batch_size=0)


def test_a_group_named_with_a_lone_surrogate_fails_alone_in_every_kind_of_run(
    connect: Connect,
) -> None:
    r"""A name UTF-8 cannot encode (JSON's ``"\ud800"`` makes one) is that group's ``INV``.

    Found by probing odd names: the incremental run's read of the group
    bound the name as a parameter and ended with ``UnicodeEncodeError``, so
    no event of the batch was applied, in every run. Such a value is in no
    table: a search or a read by it finds nothing.
    """
    connection = connect()
    _app_tables(connection)
    source = _staff_and_faculty()
    source.add_group("a:bad\ud800", description="Bad")
    source.add_member("a:bad\ud800", "u0")
    target = SqlTarget(connection, _APP_LAYOUT)
    prov = Provisioner(_APP_CONFIG, source, target, MemorySyncStore())
    first = prov.full_sync()
    assert first.status is SyncStatus.WARNING, first.summary()
    error = first.errors[(ObjectType.GROUP, "grp-00003")]
    assert error.code.value == "INV"
    assert "'a:bad\\ud800' has a lone surrogate: not UTF-8 text" in error.message
    assert len(_app_rows(connection)) == 4  # a:staff's and a:fac's rows, and the app's
    seen = len(source.changes)
    source.add_member("a:fac", "u0")
    source.add_member("a:bad\ud800", "u1")
    later = prov.incremental_sync(source.events(seen))
    assert later.status in {SyncStatus.SUCCESS, SyncStatus.WARNING}, later.summary()
    assert ("a:fac", "mem-u0", "a:fac", "u0") in _app_rows(connection)
    assert target.search_groups("cn", ["a:bad\ud800", "a:fac"]) == [
        ProvisioningGroup(id="a:fac", attributes={"cn": "a:fac", "description": "Fac"})
    ]
    assert target.retrieve_groups(["a:bad\ud800"]) == []
    assert target.retrieve_memberships_by_groups(["a:bad\ud800"]) == []


def test_a_column_the_database_makes_is_read_and_never_written(connect: Connect) -> None:
    """A generated column (``GENERATED ALWAYS AS ...``) refused every insert that gave it a value.

    Configured to be written, it is now a configuration error naming it;
    with no source, it is read.
    """
    connection = connect()
    _execute(
        connection,
        "CREATE TABLE app_groups (name TEXT PRIMARY KEY, descr TEXT,"
        " shout TEXT GENERATED ALWAYS AS (upper(name)) STORED)",
    )
    layout = SqlLayout.from_dict(
        {"groups": {**_APP_GROUPS, "columns": {"cn": "name", "shout": "shout"}}}
    )
    target = SqlTarget(connection, layout)
    assert "group attributes only read: shout" in str(target.capabilities())

    def config(shout: dict[str, Any]) -> ProvisionerConfig:
        return ProvisionerConfig.from_dict(
            {
                "name": "sql",
                "groups": {
                    "attributes": [{"name": "cn", "field": "name"}, {"name": "shout", **shout}],
                    "matching": ["cn"],
                },
                "entities": {"operate": False},
                "memberships": {"operate": False},
            }
        )

    source = _staff_and_faculty()
    written = Provisioner(config({"field": "name"}), source, target).full_sync()
    assert written.status is SyncStatus.CONFIG_ERROR, written.summary()
    assert "groups.attributes[1]: the target maintains the group attribute 'shout'" in (
        written.message
    )
    store = MemorySyncStore()
    read = Provisioner(config({}), source, target, store).full_sync()
    assert read.status is SyncStatus.SUCCESS, read.summary()
    assert {g.get("shout") for g in target.retrieve_all_groups()} == {"A:STAFF", "A:FAC"}


def test_a_membership_column_the_database_makes_is_left_out_of_inserts(
    connect: Connect,
) -> None:
    """Rows go in without it, by ``INSERT`` (SQLite) and by ``COPY`` (PostgreSQL)."""
    connection = connect()
    _execute(
        connection,
        "CREATE TABLE app_m (group_id TEXT, entity_id TEXT, group_name TEXT, subject_id TEXT,"
        " pair TEXT GENERATED ALWAYS AS (group_name || '/' || subject_id) STORED,"
        " PRIMARY KEY (group_id, entity_id))",
    )
    layout = SqlLayout.from_dict(
        {"memberships": {"table": "app_m", "columns": ["group_name", "subject_id", "pair"]}}
    )
    target = SqlTarget(connection, layout)
    assert "membership attributes only read: pair" in str(target.capabilities())
    memberships = {
        "type": "membership_objects",
        "attributes": [
            {"name": "group_name", "field": "group.name"},
            {"name": "subject_id", "field": "entity.subject_id"},
            {"name": "pair"},
        ],
        "matching": [["group_name", "subject_id"]],
    }
    config = ProvisionerConfig.from_dict(
        {
            "name": "sql",
            "groups": {"operate": False},
            "entities": {"operate": False},
            "memberships": memberships,
        }
    )
    store = MemorySyncStore()
    result = Provisioner(config, _staff_and_faculty(), target, store).full_sync()
    assert result.status is SyncStatus.SUCCESS, result.summary()
    pairs = {m.get("pair") for m in target.retrieve_all_memberships()}
    assert pairs == {"a:staff/u0", "a:staff/u1", "a:fac/u1"}
    assert not Provisioner(config, _staff_and_faculty(), target, store).plan_full().plan.changes


def test_a_rename_and_another_change_of_one_row_are_both_made(connect: Connect) -> None:
    """The key column's change goes last: the row is found by its key.

    Found by a fuzzer comparing incremental runs with full syncs: a group
    renamed and given a new description in one batch got its new name, and
    its old description; the outcome said the update was done.
    """
    connection = connect()
    _app_tables(connection)
    target = SqlTarget(connection, _APP_LAYOUT)
    (made,) = target.insert_groups(
        [ProvisioningGroup(id="g1", attributes={"cn": "a:staff", "description": "Staff"})]
    )
    assert made.ok, made.error
    (group,) = target.retrieve_groups(["a:staff"])
    changes = [
        AttributeChange.replace("cn", "a:crew"),
        AttributeChange.replace("description", "Crew"),
    ]
    (updated,) = target.update_groups([(group, changes)])
    assert updated.ok, updated.error
    assert target.retrieve_all_groups() == [
        ProvisioningGroup(id="a:crew", attributes={"cn": "a:crew", "description": "Crew"})
    ]


@pytest.mark.parametrize("keyed", [False, True], ids=["own-key-column", "cn-is-the-key"])
def test_a_name_a_renamed_group_was_inserted_with_is_taken_as_its_layout_keys_it(
    keyed: bool,
) -> None:
    """a:staff is renamed a:employees, and later a new a:staff made (docs: the target ids).

    With cn in a column of its own, the key stays as inserted: the new
    group's insert meets the renamed group's key, and fails, with the
    database's reason, run after run. With cn as the key column, the
    rename moved the key, and the new group goes in.
    """
    with contextlib.closing(sqlite3.connect(":memory:")) as connection:
        target = SqlTarget(connection, KEYED if keyed else LAYOUT)
        target.create_tables()
        source = _campus([])
        source.add_group("a:staff")
        source.add_member("a:staff", "u0")
        prov = Provisioner(
            _config(MembershipType.GROUP_ATTRIBUTES), source, target, MemorySyncStore()
        )
        assert prov.full_sync().status is SyncStatus.SUCCESS
        source.rename_group("a:staff", "a:employees")
        assert prov.full_sync().status is SyncStatus.SUCCESS
        source.add_group("a:staff")
        source.add_member("a:staff", "u1")
        for _ in range(2):
            result = prov.full_sync()
            if keyed:
                assert result.status is SyncStatus.SUCCESS, result.summary()
                continue
            assert result.status is SyncStatus.ERROR
            error = result.errors[ObjectType.GROUP, source.snapshot().groups[-1].id]
            assert error.code is SyncErrorCode.ERR
            assert "UNIQUE constraint failed: gp_groups.group_key" in error.message
        groups = {g.get("cn"): g.values("member") for g in target.retrieve_all_groups()}
        wanted = {"a:employees": {"u0"}, "a:staff": {"u1"}} if keyed else {"a:employees": {"u0"}}
        assert groups == wanted
