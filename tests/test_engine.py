"""Scenarios of compare + apply, from Grouper's behaviour."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from engine_helpers import plan, sync

from grouperprov import (
    Action,
    AttributeChange,
    ObjectType,
    Operation,
    ProvisionerConfig,
    ProvisioningEntity,
    ProvisioningGroup,
    ProvisioningMembership,
    SyncErrorCode,
    WriteOutcome,
)
from grouperprov.testing import InMemoryTarget

ALL = frozenset(Operation)


def _config(kind: str = "group_attributes", **overrides: Any) -> ProvisionerConfig:
    data: dict[str, Any] = {
        "name": "scenario",
        "groups": {
            "attributes": [
                {"name": "cn", "field": "extension", "case_sensitive": False, "max_length": 20},
                {"name": "description", "field": "description"},
            ],
            "matching": ["cn"],
            "delete_policy": "not_in_grouper",
        },
        "entities": {
            "attributes": [{"name": "uid", "field": "subject_id"}],
            "matching": ["uid"],
            "delete_policy": "not_in_grouper",
        },
        "memberships": {"type": kind, "delete_policy": "not_in_grouper"},
    }
    if kind == "group_attributes":
        data["memberships"]["attribute"] = {"name": "member", "field": "subject_id"}
    elif kind == "membership_objects":
        data["memberships"]["attributes"] = [
            {"name": "group", "field": "group.extension"},
            {"name": "user", "field": "entity.subject_id"},
        ]
        data["memberships"]["matching"] = [["group", "user"]]
    for key, value in overrides.items():
        section, _, setting = key.partition("__")
        if setting:
            data[section][setting] = value
        else:
            data[section] = value
    return ProvisionerConfig.from_dict(data)


def group(n: int, **attributes: Any) -> ProvisioningGroup:
    return ProvisioningGroup.from_grouper(f"g{n}", f"school:grp{n}", **attributes)


def entity(n: int) -> ProvisioningEntity:
    return ProvisioningEntity.from_grouper(f"m{n}", f"u{n}")


def member(g: int, e: int) -> ProvisioningMembership:
    return ProvisioningMembership(group_id=f"g{g}", entity_id=f"m{e}")


GROUPS = [group(1), group(2)]
ENTITIES = [entity(1), entity(2)]
MEMBERSHIPS = [member(1, 1), member(1, 2), member(2, 1)]


def _target(**kwargs: Any) -> InMemoryTarget:
    return InMemoryTarget(id_attributes={"group": "cn", "entity": "uid"}, **kwargs)


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (
            "deletes_first",
            [
                "delete_memberships",
                "delete_groups",
                "insert_groups",
                "update_groups",
                "delete_entities",
                "insert_entities",
                "update_entities",
                "insert_memberships",
                "update_memberships",
            ],
        ),
        (
            "inserts_first",
            [
                "insert_groups",
                "update_groups",
                "insert_entities",
                "update_entities",
                "insert_memberships",
                "update_memberships",
                "delete_memberships",
                "delete_entities",
                "delete_groups",
            ],
        ),
    ],
)
def test_crud_orders_give_the_exact_call_sequence(order: str, expected: list[str]) -> None:
    config = _config("membership_objects", crud_order=order, memberships__update=True)
    config = ProvisionerConfig.from_dict(
        {
            **config.to_dict(),
            "memberships": {
                **config.to_dict()["memberships"],
                "attributes": [
                    {"name": "group", "field": "group.extension"},
                    {"name": "user", "field": "entity.subject_id"},
                    {"name": "role", "field": "role"},
                ],
            },
        }
    )
    target = _target()
    # Something of every kind to delete, update and insert.
    target.seed(
        groups=[
            ProvisioningGroup(id="grp1", attributes={"cn": "grp1", "description": "old"}),
            ProvisioningGroup(id="stale", attributes={"cn": "stale"}),
        ],
        entities=[
            ProvisioningEntity(id="u1", attributes={"uid": "u1", "extra": "x"}),
            ProvisioningEntity(id="gone", attributes={"uid": "gone"}),
        ],
        memberships=[
            ProvisioningMembership(
                group_id="grp1",
                entity_id="u1",
                attributes={"group": "grp1", "user": "u1", "role": "a"},
            ),
            ProvisioningMembership(
                group_id="grp1", entity_id="gone", attributes={"group": "grp1", "user": "gone"}
            ),
        ],
    )
    target.calls.clear()
    groups = [group(1, description="new"), group(2)]
    entities = [entity(1), entity(2)]
    memberships = [
        ProvisioningMembership(group_id="g1", entity_id="m1", attributes={"role": "b"}),
        member(2, 2),
    ]
    # entities get an update through a changed attribute
    config = ProvisionerConfig.from_dict(
        {
            **config.to_dict(),
            "entities": {
                **config.to_dict()["entities"],
                "attributes": [
                    {"name": "uid", "field": "subject_id"},
                    {"name": "extra", "static": "y"},
                ],
            },
        }
    )
    _, result = sync(config, target, groups, entities, memberships)
    assert result.failures == ()
    writes = [name for name, _ in target.calls if not name.startswith("retrieve")]
    assert writes == expected


def test_a_target_without_bulk_delete_gets_one_call_per_group() -> None:
    target = _target(operations=ALL - {Operation.DELETE_GROUPS})
    target.seed(
        groups=[ProvisioningGroup(id=f"x{i}", attributes={"cn": f"x{i}"}) for i in range(3)]
    )
    target.calls.clear()
    sync(_config(), target, [], [], [])
    assert [c for c in target.calls if c[0].startswith("delete")] == [("delete_group", 1)] * 3
    assert target.groups == {}


def test_bulk_calls_are_batched_by_the_smaller_batch_size() -> None:
    target = _target(batch_sizes={Operation.INSERT_GROUPS: 2})
    groups = [group(i) for i in range(5)]
    sync(_config(batch_size=3), target, groups, [], [])
    assert [c for c in target.calls if c[0] == "insert_groups"] == [
        ("insert_groups", 2),
        ("insert_groups", 2),
        ("insert_groups", 1),
    ]


def test_a_replace_only_target_gets_the_full_member_list() -> None:
    ops = ALL - {
        Operation.INSERT_MEMBERSHIP,
        Operation.INSERT_MEMBERSHIPS,
        Operation.DELETE_MEMBERSHIP,
        Operation.DELETE_MEMBERSHIPS,
    }
    target = _target(operations=ops)
    sync(_config("membership_objects"), target, GROUPS, ENTITIES, MEMBERSHIPS)
    assert set(target.memberships) == {("grp1", "u1"), ("grp1", "u2"), ("grp2", "u1")}
    target.calls.clear()
    comparison, result = sync(
        _config("membership_objects"), target, GROUPS, ENTITIES, [member(1, 1), member(2, 1)]
    )
    (change,) = comparison.plan.changes
    assert change.action is Action.REPLACE
    assert [m.id for m in change.replacement] == [("g1", "m1")]
    assert ("replace_group_memberships", 1) in target.calls
    assert set(target.memberships) == {("grp1", "u1"), ("grp2", "u1")}
    assert result.failures == ()


def test_a_target_that_only_replaces_values_gets_the_whole_member_set() -> None:
    target = _target(value_changes=False)
    sync(_config(), target, GROUPS, ENTITIES, MEMBERSHIPS)
    comparison, result = sync(
        _config(), target, GROUPS, ENTITIES, [member(1, 1), member(2, 1), member(2, 2)]
    )
    assert result.failures == ()
    assert {(c.action, c.object_id) for c in comparison.plan.changes} == {
        (Action.REPLACE, "g1"),
        (Action.REPLACE, "g2"),
    }
    assert target.groups["grp1"].get("member") == frozenset({"u1"})
    assert target.groups["grp2"].get("member") == frozenset({"u1", "u2"})


def test_ignored_values_survive() -> None:
    config = _config(
        memberships={
            "type": "group_attributes",
            "attribute": {
                "name": "member",
                "field": "subject_id",
                "ignore_values": ["placeholder"],
            },
            "delete_policy": "not_in_grouper",
        }
    )
    target = _target()
    target.seed(
        groups=[
            ProvisioningGroup(
                id="grp1", attributes={"cn": "grp1", "member": ["placeholder", "old"]}
            )
        ]
    )
    sync(config, target, [group(1)], ENTITIES, [member(1, 1)])
    assert target.groups["grp1"].get("member") == frozenset({"placeholder", "u1"})
    assert plan(config, target, [group(1)], ENTITIES, [member(1, 1)]).plan.empty


def test_a_change_of_case_is_no_update_for_case_insensitive_attributes() -> None:
    target = _target()
    target.seed(
        groups=[ProvisioningGroup(id="GRP1", attributes={"cn": "GRP1", "description": "d"})]
    )
    comparison = plan(_config(), target, [group(1, description="d")], [], [])
    assert comparison.plan.empty
    assert comparison.plan.links[ObjectType.GROUP] == {"g1": "GRP1"}


def test_attribute_level_updates_carry_the_differences_as_reasons() -> None:
    target = _target()
    target.seed(
        groups=[ProvisioningGroup(id="grp1", attributes={"cn": "grp1", "description": "old"})]
    )
    comparison, _ = sync(_config(), target, [group(1, description="new")], [], [])
    (change,) = comparison.plan.changes
    assert change.attribute_changes == (AttributeChange.replace("description", "new"),)
    assert comparison.plan.why("g1") == (
        "update group 'g1' (target 'grp1'): replace description ['new']\n"
        "  because attribute_differs: description: target has 'old', Grouper has 'new'"
    )
    assert target.groups["grp1"].get("description") == "new"


def test_a_value_over_max_length_gives_len_and_is_not_inserted_while_the_others_are() -> None:
    long_group = ProvisioningGroup.from_grouper("g9", "school:" + "x" * 30)
    comparison, _ = sync(_config(), target := _target(), [group(1), long_group], [], [])
    errors = {e.object_id: e.error.code for e in comparison.plan.errors}
    assert errors == {"g9": SyncErrorCode.LEN}
    assert set(target.groups) == {"grp1"}


def test_two_groups_with_the_same_matching_id_both_get_mat_and_nothing_is_inserted() -> None:
    twin = ProvisioningGroup.from_grouper("g7", "other:GRP1")
    comparison, _ = sync(_config(), target := _target(), [group(1), twin, group(2)], [], [])
    errors = {e.object_id: e.error.code for e in comparison.plan.errors}
    assert errors == {"g1": SyncErrorCode.MAT, "g7": SyncErrorCode.MAT}
    assert set(target.groups) == {"grp2"}


def test_objects_that_may_not_be_inserted_get_dne_and_so_do_their_memberships() -> None:
    config = _config(entities__insert=False)
    comparison, _ = sync(config, target := _target(), [group(1)], [entity(1)], [member(1, 1)])
    errors = {(e.object_type, e.object_id): e.error for e in comparison.plan.errors}
    assert errors[(ObjectType.ENTITY, "m1")].code is SyncErrorCode.DNE
    assert errors[(ObjectType.MEMBERSHIP, ("g1", "m1"))].code is SyncErrorCode.DNE
    assert errors[(ObjectType.MEMBERSHIP, ("g1", "m1"))].message == (
        "its entity is not in the target and may not be inserted"
    )
    assert target.groups["grp1"].get("member") is None


def test_membership_objects_whose_entity_may_not_be_inserted_get_dne() -> None:
    config = _config("membership_objects", entities__insert=False)
    comparison, _ = sync(config, _target(), [group(1)], [entity(1)], [member(1, 1)])
    errors = {(e.object_type, e.object_id): e.error.code for e in comparison.plan.errors}
    assert errors[(ObjectType.MEMBERSHIP, ("g1", "m1"))] is SyncErrorCode.DNE


def test_objects_with_errors_are_not_updated_but_extra_objects_are_still_deleted() -> None:
    target = _target()
    target.seed(
        groups=[
            ProvisioningGroup(id="grp1", attributes={"cn": "grp1", "description": "old"}),
            ProvisioningGroup(id="other", attributes={"cn": "other"}),
        ]
    )
    config = _config(
        groups={
            "attributes": [
                {"name": "cn", "field": "extension", "case_sensitive": False},
                {"name": "description", "field": "description", "required": True},
            ],
            "matching": ["cn"],
            "delete_policy": "not_in_grouper",
        }
    )
    comparison, _ = sync(config, target, [group(1)], [], [])
    assert [e.error.code for e in comparison.plan.errors] == [SyncErrorCode.REQ]
    assert set(target.groups) == {"grp1"}
    assert target.groups["grp1"].get("description") == "old"


def test_the_delete_policy_keeps_what_we_did_not_insert() -> None:
    target = _target()
    target.seed(groups=[ProvisioningGroup(id="legacy", attributes={"cn": "legacy"})])
    comparison, _ = sync(_config(groups__delete_policy="inserted_by_us"), target, [], [], [])
    assert comparison.plan.empty
    assert "legacy" in target.groups


def test_failures_become_err_and_the_run_goes_on() -> None:
    target = _target(fail=lambda op, bean: bean.id == "g2")
    comparison, result = sync(_config(), target, [group(1), group(2), group(3)], [], [])
    (failure,) = result.failures
    assert failure.change.object_id == "g2"
    assert failure.error is not None
    assert failure.error.code is SyncErrorCode.ERR
    assert "injected failure" in failure.error.message
    assert set(target.groups) == {"grp1", "grp3"}
    assert result.object_errors() == {(ObjectType.GROUP, "g2"): failure.error}


class _BrokenBulk(InMemoryTarget):
    def insert_groups(self, groups: Sequence[ProvisioningGroup]) -> list[WriteOutcome]:
        if any(g.id == "g2" for g in groups):
            msg = "connection reset"
            raise ConnectionError(msg)
        return super().insert_groups(groups)


class _Forgetful(InMemoryTarget):
    def insert_groups(self, groups: Sequence[ProvisioningGroup]) -> list[WriteOutcome]:
        return super().insert_groups(groups)[:-1]


def test_an_exception_in_a_batch_marks_that_batch_err_and_the_next_batch_goes_on() -> None:
    target = _BrokenBulk(id_attributes={"group": "cn"}, batch_sizes={Operation.INSERT_GROUPS: 2})
    groups = [group(i) for i in range(1, 6)]
    _, result = sync(_config(), target, groups, [], [])
    failed = sorted(str(o.change.object_id) for o in result.failures)
    assert failed == ["g1", "g2"]
    assert all(
        o.error is not None
        and o.error.message == "the batch failed: ConnectionError: connection reset"
        for o in result.failures
    )
    assert set(target.groups) == {"grp3", "grp4", "grp5"}


def test_an_object_the_dao_did_not_report_on_is_an_error() -> None:
    target = _Forgetful(id_attributes={"group": "cn"})
    _, result = sync(_config(), target, [group(1), group(2)], [], [])
    (failure,) = result.failures
    assert failure.change.object_id == "g2"
    assert failure.error is not None
    assert failure.error.message == "the target did not report on this object"


def test_target_links_are_read_back_after_inserts() -> None:
    _, result = sync(_config(), _target(), [group(1)], [], [])
    assert result.links[ObjectType.GROUP] == {"g1": "grp1"}


class _Silent(InMemoryTarget):
    """Inserts one by one and reports nothing back, like many REST APIs."""

    def insert_group(self, group: ProvisioningGroup) -> None:  # type: ignore[override]
        super().insert_group(group)


def test_links_are_found_by_search_when_the_dao_reports_nothing() -> None:
    config = _config(
        groups={
            "attributes": [{"name": "cn", "field": "extension"}],
            "matching": ["cn"],
            "search": ["cn"],
        }
    )
    target = _Silent(operations=ALL - {Operation.INSERT_GROUPS})
    _, result = sync(config, target, [group(1)], [], [])
    (outcome,) = [o for o in result.outcomes if o.change.object_type is ObjectType.GROUP]
    assert outcome.target_id is not None
    assert outcome.target_id.startswith("group-")
    assert result.links[ObjectType.GROUP] == {"g1": outcome.target_id}


def test_set_after_insert_updates_the_new_object_in_the_same_run() -> None:
    config = _config(
        groups={
            "attributes": [
                {"name": "cn", "field": "extension"},
                {"name": "owner", "static": "iam", "insert": False},
            ],
            "matching": ["cn"],
        }
    )
    target = _target()
    comparison, result = sync(config, target, [group(1)], [], [])
    assert result.failures == ()
    assert [c.action for c in comparison.plan.changes] == [Action.INSERT, Action.UPDATE]
    assert target.groups["grp1"].attributes == {"cn": "grp1", "owner": "iam"}
    assert plan(config, target, [group(1)], [], []).plan.empty


def test_a_read_only_run_logs_and_writes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    target = _target()
    with caplog.at_level("INFO", logger="grouperprov.apply"):
        _, result = sync(_config(read_only=True), target, GROUPS, ENTITIES, MEMBERSHIPS)
    assert target.groups == {}
    assert result.read_only
    assert "read only, not applied: insert group 'g1'" in caplog.text
