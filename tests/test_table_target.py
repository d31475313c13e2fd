from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from grouperprov import AttributeChange, ProvisioningGroup, ProvisioningMembership
from grouperprov.targets import SqliteTableTarget
from grouperprov.testing import check_target_dao


def test_the_table_target_keeps_the_contract(tmp_path: Path) -> None:
    counter = iter(range(1000))

    def factory() -> SqliteTableTarget:
        return SqliteTableTarget(
            tmp_path / f"t{next(counter)}.db",
            group_columns=("cn", "description"),
            membership_columns=("group_name", "subject_id"),
        )

    check_target_dao(
        factory,
        membership=lambda g, e: ProvisioningMembership(
            group_id=g, entity_id=e, attributes={"group_name": "grp", "subject_id": e}
        ),
    )


def test_configured_names_cannot_carry_sql(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a valid SQL identifier: 'cn; DROP TABLE groups'"):
        SqliteTableTarget(tmp_path / "x.db", group_columns=("cn; DROP TABLE groups",))


def test_values_are_bound_not_pasted(tmp_path: Path) -> None:
    target = SqliteTableTarget(tmp_path / "x.db", group_columns=("name", "description"))
    hostile = "x'); DROP TABLE groups; --"
    (outcome,) = target.insert_groups([ProvisioningGroup(id="g", attributes={"name": hostile})])
    assert outcome.ok
    assert [g.get("name") for g in target.retrieve_all_groups()] == [hostile]
    assert [g.id for g in target.search_groups("name", [hostile])] == ["1"]
    assert target.search_groups("nope", ["x"]) == []


def test_bad_rows_fail_one_by_one(tmp_path: Path) -> None:
    target = SqliteTableTarget(tmp_path / "x.db", group_columns=("name",))
    bad, good, multi = target.insert_groups(
        [
            ProvisioningGroup(id="a", attributes={"name": "a", "extra": "x"}),
            ProvisioningGroup(id="b", attributes={"name": "b"}),
            ProvisioningGroup(id="c", attributes={"name": ["c", "d"]}),
        ]
    )
    assert bad.error == "no column for the group attributes ['extra']"
    assert good.ok
    assert multi.error == "a column holds one value, not a set"
    group = target.retrieve_all_groups()[0]
    (refused,) = target.update_groups([(group, [AttributeChange.add("name", ["z"])])])
    assert refused.error == "cannot apply add to 'name'"
    (orphan,) = target.insert_memberships([ProvisioningMembership(group_id="g1", entity_id="e")])
    assert orphan.error == "group 'g1' is not in the target"
    with pytest.raises(ValueError, match="no table 'users'"):
        target.table("users")
    target.close()


def test_a_with_block_closes_the_database(tmp_path: Path) -> None:
    with SqliteTableTarget(tmp_path / "x.db", group_columns=("name",)) as target:
        assert target.retrieve_all_groups() == []
    with pytest.raises(sqlite3.ProgrammingError, match="closed database"):
        target.retrieve_all_groups()
