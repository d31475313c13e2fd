"""Scenarios of compare + apply, from Grouper's behaviour."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import pytest

from engine_helpers import plan, sync
from grouperprov import (
    Action,
    AttributeChange,
    ObjectError,
    ObjectType,
    Operation,
    Provisioner,
    ProvisionerConfig,
    ProvisioningEntity,
    ProvisioningGroup,
    ProvisioningMembership,
    SyncErrorCode,
    Translator,
    WriteOutcome,
    compare,
    compute_behavior,
    read_target,
)
from grouperprov._compare import with_owner_values
from grouperprov.stores import MemorySyncStore
from grouperprov.testing import InMemorySource, InMemoryTarget

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


@pytest.mark.parametrize("policy", ["not_in_grouper", "inserted_by_us"])
def test_the_rows_of_a_group_the_sync_deletes_go_with_it(policy: str) -> None:
    """A group of the target's own that the policy deletes takes its membership rows along.

    Found by fuzzing hand edits: only rows of provisioned groups were ever
    deleted, so under ``not_in_grouper`` the group went and its rows stayed,
    naming no group, on a target that does not cascade a group's delete.
    Under ``inserted_by_us`` the group is not grouperprov's: both stay.
    """
    config = _config(
        "membership_objects",
        groups__delete_policy=policy,
        memberships__delete_policy=policy,
    )
    target = _target()
    target.seed(
        groups=[ProvisioningGroup(id="other", attributes={"cn": "other"})],
        memberships=[
            ProvisioningMembership(
                group_id="other", entity_id="u1", attributes={"group": "other", "user": "u1"}
            )
        ],
    )
    _, result = sync(config, target, GROUPS, ENTITIES, MEMBERSHIPS)
    assert result.failures == ()
    kept = policy == "inserted_by_us"
    assert ("other" in target.groups) is kept
    assert (("other", "u1") in target.memberships) is kept
    assert ("grp1", "u1") in target.memberships  # Grouper's own rows are written all the same


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


def test_a_replaced_member_list_of_a_group_whose_insert_failed_fails_with_it() -> None:
    ops = ALL - {
        Operation.INSERT_MEMBERSHIP,
        Operation.INSERT_MEMBERSHIPS,
        Operation.DELETE_MEMBERSHIP,
        Operation.DELETE_MEMBERSHIPS,
    }
    target = _target(
        operations=ops, fail=lambda op, bean: op == "insert_groups" and bean.id == "g1"
    )
    comparison, result = sync(_config("membership_objects"), target, GROUPS, ENTITIES, MEMBERSHIPS)
    failed = [o for o in result.outcomes if not o.ok]
    assert [o.change.action for o in failed] == [Action.INSERT, Action.REPLACE]  # then its list
    replaced = failed[1]
    assert not replaced.applied  # not sent
    assert replaced.error == ObjectError(
        SyncErrorCode.DNE, "its group was not inserted: injected failure in insert_groups for 'g1'"
    )
    assert set(target.memberships) == {("grp2", "u1")}
    assert len(comparison.plan.changes) == len(result.outcomes)


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
        "update group 'school:grp1' [g1] (target 'grp1'): replace description ['new']\n"
        "  because attribute_differs: description: target has 'old', Grouper has 'new'"
    )
    assert target.groups["grp1"].get("description") == "new"


def test_only_the_objects_named_are_compared_for_updates_and_the_rest_still_match() -> None:
    """compare(updated=): what an incremental recalc uses for the groups it reads for members."""
    config = _config()
    target = _target()
    target.seed(
        groups=[
            ProvisioningGroup(id="grp1", attributes={"cn": "grp1", "description": "old"}),
            ProvisioningGroup(id="grp2", attributes={"cn": "grp2", "description": "old"}),
        ]
    )
    translator = Translator(config)
    behavior = compute_behavior(config, target.capabilities())
    grouper = [group(1, description="new"), group(2, description="new")]
    translation = translator.translate(grouper, [], [])
    data = read_target(target, behavior)
    everything = compare(translator, behavior, translation, data)
    assert {(c.action, c.object_id) for c in everything.plan.changes} == {
        (Action.UPDATE, "g1"),
        (Action.UPDATE, "g2"),
    }
    part = compare(translator, behavior, translation, data, updated={ObjectType.GROUP: {"g2"}})
    assert [(c.action, c.object_id) for c in part.plan.changes] == [(Action.UPDATE, "g2")]
    # g1 is still paired with its target object (not inserted, not deleted).
    assert part.plan.links[ObjectType.GROUP] == {"g1": "grp1", "g2": "grp2"}


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
    target = _target(fail=lambda _op, bean: bean.id == "g2")
    _, result = sync(_config(), target, [group(1), group(2), group(3)], [], [])
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


class _Boolish(InMemoryTarget):
    def insert_groups(self, groups: Sequence[ProvisioningGroup]) -> list[WriteOutcome]:
        super().insert_groups(groups)
        return [True] * len(groups)  # type: ignore[list-item]  # the DAO bug under test


class _BoolishOwnerUpdates(InMemoryTarget):
    def update_groups(self, updates: Any) -> list[WriteOutcome]:
        return [None for _ in super().update_groups(updates)]  # type: ignore[misc]  # the bug


def test_a_dao_reporting_something_else_than_write_outcomes_fails_those_objects() -> None:
    # Found by a probe of misbehaving DAOs: a bulk write returning booleans
    # ended the run with "AttributeError: 'bool' object has no attribute 'ok'".
    _, result = sync(_config(), _Boolish(id_attributes={"group": "cn"}), [group(1)], [], [])
    (failure,) = result.failures
    assert failure.error is not None
    assert failure.error.message == (
        "the target's insert_groups reported bool True for this object, not a WriteOutcome"
    )
    target = _BoolishOwnerUpdates(id_attributes={"group": "cn", "entity": "uid"})
    sync(_config(), target, GROUPS, ENTITIES, [])
    _, result = sync(_config(), target, GROUPS, ENTITIES, MEMBERSHIPS)
    messages = {o.error.message for o in result.failures if o.error}
    assert messages == {
        "the target's update_groups reported NoneType None for this object, not a WriteOutcome"
    }


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
    assert "read only, not applied: insert group 'school:grp1' [g1]" in caplog.text


# -- more paths of compare -----------------------------------------------------


def test_group_attributes_with_entities_not_operated_on_is_the_usual_ldap_shape() -> None:
    config = _config(entities={"operate": False})
    target = _target()
    comparison, result = sync(config, target, GROUPS, ENTITIES, MEMBERSHIPS)
    assert result.failures == ()
    assert comparison.plan.errors == ()
    assert target.entities == {}
    assert target.groups["grp1"].get("member") == frozenset({"u1", "u2"})


def test_membership_objects_without_groups_operated_on() -> None:
    config = _config("membership_objects", groups={"operate": False}, entities={"operate": False})
    target = _target()
    sync(config, target, GROUPS, ENTITIES, MEMBERSHIPS)
    assert set(target.memberships) == {("g1", "m1"), ("g1", "m2"), ("g2", "m1")}
    assert target.groups == {}


def test_new_groups_carry_no_members_when_memberships_may_not_be_inserted() -> None:
    config = _config(memberships__insert=False)
    target = _target()
    sync(config, target, GROUPS, ENTITIES, MEMBERSHIPS)
    assert target.groups["grp1"].get("member") is None


def test_a_group_that_may_not_be_inserted_gets_dne_and_its_members_are_left_alone() -> None:
    config = _config(groups__insert=False)
    comparison = plan(config, _target(), GROUPS, ENTITIES, MEMBERSHIPS)
    errors = {(e.object_type, e.object_id): e.error.message for e in comparison.plan.errors}
    assert errors[(ObjectType.GROUP, "g1")].startswith(
        "missing in the target, and groups may not be inserted"
    )
    assert [c.object_type for c in comparison.plan.changes] == [ObjectType.ENTITY] * 2


def test_membership_objects_that_may_not_be_inserted_get_dne_and_bad_ones_their_error() -> None:
    config = _config("membership_objects", memberships__insert=False)
    comparison = plan(config, _target(), GROUPS, ENTITIES, MEMBERSHIPS)
    codes = {e.object_id: e.error.code for e in comparison.plan.errors}
    assert codes[("g1", "m1")] is SyncErrorCode.DNE
    data = _config("membership_objects").to_dict()
    data["memberships"]["attributes"][1]["max_length"] = 1
    comparison = plan(ProvisionerConfig.from_dict(data), _target(), GROUPS, ENTITIES, MEMBERSHIPS)
    assert {e.error.code for e in comparison.plan.errors} == {SyncErrorCode.LEN}


def test_an_ignored_single_value_is_never_replaced() -> None:
    config = _config(
        groups={
            "attributes": [
                {"name": "cn", "field": "extension"},
                {"name": "owner", "static": "iam", "ignore_values": ["manual"]},
            ],
            "matching": ["cn"],
        }
    )
    target = _target()
    target.seed(groups=[ProvisioningGroup(id="grp1", attributes={"cn": "grp1", "owner": "manual"})])
    assert plan(config, target, [group(1)], [], []).plan.empty


def test_multi_valued_updates_add_remove_or_replace_keeping_ignored_values() -> None:
    config = _config(
        groups={
            "attributes": [
                {"name": "cn", "field": "extension"},
                {"name": "tags", "static": ["a"], "multi_valued": True, "ignore_values": ["keep"]},
            ],
            "matching": ["cn"],
        }
    )
    seeded = ProvisioningGroup(id="grp1", attributes={"cn": "grp1", "tags": ["a", "b", "keep"]})
    target = _target()
    target.seed(groups=[seeded])
    comparison, _ = sync(config, target, [group(1)], [], [])
    assert comparison.plan.changes[0].attribute_changes == (AttributeChange.remove("tags", ["b"]),)
    assert target.groups["grp1"].get("tags") == frozenset({"a", "keep"})
    target = _target(value_changes=False)
    target.seed(groups=[seeded])
    comparison, _ = sync(config, target, [group(1)], [], [])
    assert comparison.plan.changes[0].attribute_changes == (
        AttributeChange.replace("tags", frozenset({"a", "keep"})),
    )


def test_removing_a_value_shows_no_value_in_the_reason() -> None:
    target = _target()
    target.seed(
        groups=[ProvisioningGroup(id="grp1", attributes={"cn": "grp1", "description": "x"})]
    )
    comparison = plan(_config(), target, [group(1)], [], [])
    assert comparison.plan.changes[0].reasons[0].message == (
        "description: target has 'x', Grouper has no value"
    )


# -- more paths of apply -------------------------------------------------------


class _SearchTrouble(InMemoryTarget):
    """Reports nothing on insert; searches fail or are ambiguous."""

    def __init__(self, mode: str, **kwargs: Any) -> None:
        super().__init__(operations=ALL - {Operation.INSERT_GROUPS}, **kwargs)
        self.mode = mode

    def insert_group(self, group: ProvisioningGroup) -> None:  # type: ignore[override]
        super().insert_group(group)

    def search_groups(self, attribute: str, values: Any) -> list[ProvisioningGroup]:
        if self.mode == "raise":
            msg = "search is down"
            raise TimeoutError(msg)
        found = super().search_groups(attribute, values)
        return found * 2 if self.mode == "twice" else found


@pytest.mark.parametrize("mode", ["raise", "twice"])
def test_a_failed_read_back_loses_only_the_link(mode: str) -> None:
    config = _config(
        groups={
            "attributes": [
                {"name": "cn", "field": "extension"},
                {"name": "owner", "static": "iam", "insert": False},
            ],
            "matching": ["cn"],
            "search": ["cn"],
        }
    )
    target = _SearchTrouble(mode)
    _, result = sync(config, target, [group(1)], [], [])
    insert, update = result.outcomes
    assert insert.ok
    assert insert.target_id is None
    assert result.links[ObjectType.GROUP] == {}
    # Without the link, the follow-up update cannot address the new group.
    assert not update.ok
    assert update.error is not None
    assert update.error.message == "the group was not inserted"


def test_membership_values_one_owner_update_at_a_time() -> None:
    target = _target(
        operations=ALL - {Operation.UPDATE_GROUPS},
        fail=lambda op, bean: op == "update_group" and bean.id == "grp2",
    )
    sync(_config(), target, GROUPS, ENTITIES, [])
    _, result = sync(_config(), target, GROUPS, ENTITIES, MEMBERSHIPS)
    assert ("update_group", 1) in target.calls
    failed = {o.change.object_id for o in result.failures}
    assert failed == {("g2", "u1")}
    assert target.groups["grp1"].get("member") == frozenset({"u1", "u2"})


class _BrokenOwnerUpdates(InMemoryTarget):
    def update_groups(self, updates: Any) -> list[WriteOutcome]:
        if len(updates) > 1:
            msg = "too big"
            raise OSError(msg)
        return super().update_groups(updates)[:0]


def test_owner_update_batches_that_fail_or_forget_are_errors() -> None:
    target = _BrokenOwnerUpdates(id_attributes={"group": "cn", "entity": "uid"})
    sync(_config(), target, GROUPS, ENTITIES, [])
    _, result = sync(_config(), target, GROUPS, ENTITIES, MEMBERSHIPS)
    messages = sorted({o.error.message for o in result.failures if o.error})
    assert messages == ["the batch failed: OSError: too big"]
    _, result = sync(_config(batch_size=1), target, GROUPS, ENTITIES, MEMBERSHIPS)
    messages = sorted({o.error.message for o in result.failures if o.error})
    assert messages == ["the target did not report on this object"]


def test_values_inserted_with_a_failed_owner_fail_with_it() -> None:
    target = _target(fail=lambda _op, bean: bean.id == "g1")
    _, result = sync(_config(), target, GROUPS, ENTITIES, MEMBERSHIPS)
    failed = {(o.change.object_type, o.change.object_id): o.change for o in result.failures}
    assert failed.keys() == {(ObjectType.GROUP, "g1"), (ObjectType.MEMBERSHIP, "g1")}
    # The new group's values, in one change written with its insert, fail with it...
    values = failed[ObjectType.MEMBERSHIP, "g1"]
    assert values.with_owner
    assert values.attribute_changes == (AttributeChange.add("member", ["u1", "u2"]),)
    # ... and the error goes to each membership behind them, not to the owner's id.
    errors = result.object_errors()
    assert {key for key in errors if key[0] is ObjectType.MEMBERSHIP} == {
        (ObjectType.MEMBERSHIP, m) for m in values.memberships
    }
    assert (ObjectType.MEMBERSHIP, ("g1", "m1")) in errors


def test_a_target_that_reads_everything_at_once_is_read_once() -> None:
    target = _target()
    sync(_config("membership_objects"), target, GROUPS, ENTITIES, MEMBERSHIPS)
    target.calls.clear()
    comparison = plan(_config("membership_objects"), target, GROUPS, ENTITIES, MEMBERSHIPS)
    assert comparison.plan.empty
    assert target.calls == [("retrieve_all_data", 0)]
    target = _target(operations=ALL - {Operation.RETRIEVE_ALL_DATA})
    plan(_config("membership_objects"), target, GROUPS, ENTITIES, MEMBERSHIPS)
    assert [name for name, _ in target.calls] == [
        "retrieve_all_groups",
        "retrieve_all_entities",
        "retrieve_all_memberships",
    ]


def test_a_new_owners_values_are_one_change_written_with_its_insert() -> None:
    comparison = plan(_config(), _target(), GROUPS, ENTITIES, MEMBERSHIPS)
    values = {
        c.owner_id: c for c in comparison.plan.changes if c.object_type is ObjectType.MEMBERSHIP
    }
    assert values.keys() == {"g1", "g2"}
    g1 = values["g1"]
    assert (g1.action, g1.object_id, g1.value, g1.with_owner) == (Action.INSERT, "g1", None, True)
    assert g1.attribute_changes == (AttributeChange.add("member", ["u1", "u2"]),)
    assert sorted(g1.memberships) == [("g1", "m1"), ("g1", "m2")]
    assert g1.label == "school:grp1"
    assert [r.rule for r in g1.reasons] == ["members_missing"]
    assert "2 member values in Grouper (from 2 memberships)" in str(g1.reasons[0])
    assert "1 member value in Grouper (from 1 membership)" in str(values["g2"].reasons[0])
    # The summary says how many memberships the two changes stand for.
    assert "  insert membership: 2 (3 memberships)" in comparison.plan.summary().splitlines()


def test_a_new_owners_values_split_one_by_one_as_a_narrowed_run_sees_them() -> None:
    translator = Translator(_config())
    translation = translator.translate(GROUPS, ENTITIES, MEMBERSHIPS)
    comparison = plan(_config(), _target(), GROUPS, ENTITIES, MEMBERSHIPS)
    (g1,) = [c for c in comparison.plan.changes if c.owner_id == "g1"]
    split = with_owner_values(g1, translation)
    assert sorted((c.object_id, c.value, c.memberships) for c in split) == [
        (("g1", "u1"), "u1", (("g1", "m1"),)),
        (("g1", "u2"), "u2", (("g1", "m2"),)),
    ]
    assert all(c.with_owner and c.action is Action.INSERT for c in split)
    assert {c.label for c in split} == {"school:grp1 / u1", "school:grp1 / u2"}
    assert {c.attribute_changes for c in split} == {
        (AttributeChange.add("member", ["u1"]),),
        (AttributeChange.add("member", ["u2"]),),
    }
    assert all(c.reasons[0].rule == "member_missing" for c in split)
    # A value dropped from the change (its member had an error) stays out.
    narrower = attrs.evolve(g1, memberships=(("g1", "m2"),))
    assert [c.value for c in with_owner_values(narrower, translation)] == ["u2"]
    # Any other change is as it was: the group's insert, a value of its own.
    (insert,) = [c for c in comparison.plan.changes if c.object_type is ObjectType.GROUP][:1]
    assert with_owner_values(insert, translation) == (insert,)
    assert with_owner_values(split[0], translation) == (split[0],)
    no_owner = attrs.evolve(g1, owner_id=None)
    assert with_owner_values(no_owner, translation) == (no_owner,)


def test_why_finds_a_value_in_its_new_owners_change() -> None:
    the_plan = plan(_config(), _target(), GROUPS, ENTITIES, MEMBERSHIPS).plan
    (g1,) = [c for c in the_plan.changes if c.owner_id == "g1"]
    assert the_plan.changes_for(("g1", "u2")) == (g1,)  # by its value
    assert the_plan.changes_for(("g1", "m2")) == (g1,)  # by the membership behind it
    assert the_plan.changes_for(("g1", "u9")) == ()
    assert the_plan.changes_for(("g2", "u2")) == ()  # another owner's change has u1 only
    assert "because members_missing" in the_plan.why(("g1", "u1"))


def test_a_groups_memberships_as_new_members_values_are_part_of_its_story() -> None:
    config = _config(
        "entity_attributes",
        memberships__attribute={"name": "isMemberOf", "field": "name"},
    )
    the_plan = plan(config, _target(), GROUPS, ENTITIES, MEMBERSHIPS).plan
    # m1 is new with two values (grp1 and grp2), m2 with one (grp1).
    values = {c.owner_id: c for c in the_plan.changes if c.object_type is ObjectType.MEMBERSHIP}
    assert sorted(len(c.memberships) for c in values.values()) == [1, 2]
    assert set(the_plan.for_group("g2")) == {
        next(c for c in the_plan.changes if c.object_id == "g2"),
        values["m1"],
    }
    assert values["m2"] not in the_plan.for_group("g2")
    assert "insert membership 'u1' [m1] with its owner's insert" in the_plan.explain_group("g2")


class _Picky(InMemoryTarget):
    """Refuses the value *refused* of *attribute* alone, as a directory refuses a syntax."""

    def __init__(self, attribute: str, refused: str, **kwargs: Any) -> None:
        super().__init__(id_attributes={"group": "cn", "entity": "uid"}, **kwargs)
        self.attribute, self.refused = attribute, refused

    def _failed(self, bean: ProvisioningGroup) -> list[tuple[str, str, str]]:
        return [(self.attribute, self.refused, "invalid per syntax")] * (
            self.refused in bean.values(self.attribute)
        )

    def insert_groups(self, groups: Sequence[ProvisioningGroup]) -> list[WriteOutcome]:
        kept = [
            g.with_attributes({self.attribute: g.values(self.attribute) - {self.refused} or None})
            for g in groups
        ]
        done = super().insert_groups(kept)
        return [
            WriteOutcome.partial(self._failed(g), stored=o.stored)
            if o.ok and self._failed(g)
            else o
            for g, o in zip(groups, done, strict=True)
        ]

    def update_groups(
        self, updates: Sequence[tuple[ProvisioningGroup, Sequence[AttributeChange]]]
    ) -> list[WriteOutcome]:
        outcomes = []
        for bean, changes in updates:
            sent = [
                attrs.evolve(c, value=frozenset(c.values() - {self.refused}))
                if c.attribute == self.attribute
                else c
                for c in changes
            ]
            (done,) = super().update_groups([(bean, sent)])
            refused = any(
                c.attribute == self.attribute and self.refused in c.values() for c in changes
            )
            failed = [(self.attribute, self.refused, "invalid per syntax")] if refused else []
            outcomes.append(WriteOutcome.partial(failed) if done.ok and failed else done)
        return outcomes


def test_a_member_value_the_target_refuses_fails_its_membership_alone() -> None:
    # Found on OpenLDAP: one member value the directory refused (its syntax)
    # kept a new group out of the directory, and an existing group's other
    # new members out of it, in every run.
    source = InMemorySource()
    for subject in ("u1", "u2", "u3"):
        source.add_subject(subject)
    source.add_group("school:grp1")
    source.add_member("school:grp1", "u1")
    source.add_member("school:grp1", "u2")
    source.mark("school", "scenario", scope="sub")
    target = _Picky("member", "u2")
    prov = Provisioner(_config(entities__operate=False), source, target, MemorySyncStore())
    result = prov.full_sync()
    assert target.groups["grp1"].values("member") == {"u1"}  # inserted, without u2
    refused = (ObjectType.MEMBERSHIP, ("grp-00001", "mem-u2"))
    assert {k: e.message for k, e in result.errors.items()} == {refused: "invalid per syntax"}
    source.add_member("school:grp1", "u3")
    result = prov.full_sync()
    assert target.groups["grp1"].values("member") == {"u1", "u3"}  # u3 in, u2 fails again
    assert set(result.errors) == {refused}
    assert not prov.store.load("scenario").records[refused].in_target


def test_a_refused_value_of_another_attribute_fails_the_object_s_change() -> None:
    target = _Picky("description", "bad")
    _, result = sync(_config(), target, [group(1, description="bad")], [], [])
    (failure,) = result.failures
    assert failure.change.object_id == "g1"
    assert failure.error is not None
    assert failure.error.message == "description 'bad': invalid per syntax"


def test_membership_objects_of_a_group_in_error_are_left_alone() -> None:
    # The check for rows naming another group than theirs must not take a
    # group whose target id is unknown (MAT here) for one that moved.
    config = _config("membership_objects")
    target = _target()
    sync(config, target, [group(1)], [entity(1)], [member(1, 1)])
    assert len(target.memberships) == 1
    twin = ProvisioningGroup.from_grouper("g2", "other:grp1")  # the same cn: MAT for both
    comparison, _ = sync(config, target, [group(1), twin], [entity(1)], [member(1, 1)])
    errors = {(e.object_type, e.object_id): e.error.code for e in comparison.plan.errors}
    assert errors[(ObjectType.GROUP, "g1")] is SyncErrorCode.MAT
    assert not [c for c in comparison.plan.changes if c.object_type is ObjectType.MEMBERSHIP]
    assert len(target.memberships) == 1


def test_a_delete_goes_to_its_own_target_id_even_when_it_is_a_grouper_id_too() -> None:
    # A delete's object id is a target id: it must never be taken for the
    # Grouper id of another object and sent to that object's target id.
    target = _target()
    target.seed(
        groups=[
            ProvisioningGroup(id="grp1", attributes={"cn": "grp1"}),  # Grouper's g1, linked
            ProvisioningGroup(id="g1", attributes={"cn": "g1"}),  # not Grouper's: deleted
        ]
    )
    _, result = sync(_config(), target, [group(1)], [], [])
    deleted = [o.change for o in result.outcomes if o.change.action is Action.DELETE]
    assert [c.object_id for c in deleted] == ["g1"]
    assert set(target.groups) == {"grp1"}


def test_a_refused_value_of_a_replaced_member_list_fails_the_list() -> None:
    target = _Picky("member", "u2", value_changes=False)
    config = _config(entities__operate=False)
    sync(config, target, [group(1)], [entity(1)], [member(1, 1)])
    _, result = sync(
        config, target, [group(1)], [entity(1), entity(2)], [member(1, 1), member(1, 2)]
    )
    (failure,) = result.failures
    assert failure.change.action is Action.REPLACE
    assert failure.error is not None
    assert failure.error.message == "member 'u2': invalid per syntax"
