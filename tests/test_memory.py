"""The reference InMemoryTarget behaves as the contract says, in its own details too."""

from __future__ import annotations

import pytest

from grouperprov import (
    AttributeChange,
    ChangeOp,
    Operation,
    ProvisioningEntity,
    ProvisioningGroup,
    ProvisioningMembership,
)
from grouperprov.testing import InjectedFailure, InMemoryTarget


def _seeded() -> InMemoryTarget:
    target = InMemoryTarget()
    target.seed(
        groups=[ProvisioningGroup(id="cn=a", attributes={"cn": "a", "member": ["x", "y"]})],
        entities=[ProvisioningEntity(id="uid=x", attributes={"uid": "x"})],
        memberships=[ProvisioningMembership(group_id="cn=a", entity_id="uid=x")],
    )
    return target


def test_targeted_reads() -> None:
    target = _seeded()
    assert [g.id for g in target.retrieve_groups(["cn=a", "cn=missing"])] == ["cn=a"]
    assert [e.id for e in target.retrieve_entities(["uid=x"])] == ["uid=x"]
    assert [g.id for g in target.search_groups("member", ["y"])] == ["cn=a"]
    assert target.search_entities("uid", ["nobody"]) == []
    assert len(target.retrieve_memberships_by_groups(["cn=a"])) == 1
    assert target.retrieve_memberships_by_entities(["uid=other"]) == []
    assert ("search_groups", 1) in target.calls


def test_undeclared_operations_raise() -> None:
    target = InMemoryTarget(operations={Operation.RETRIEVE_ALL_GROUPS})
    with pytest.raises(NotImplementedError, match="insert_group is not declared"):
        target.insert_group(ProvisioningGroup(id="g"))


def test_ids_from_an_attribute_need_that_attribute() -> None:
    target = InMemoryTarget(id_attributes={"group": "cn"})
    (outcome,) = target.insert_groups([ProvisioningGroup(id="g", attributes={"description": "d"})])
    assert not outcome.ok
    assert outcome.error == "cannot insert group 'g': no 'cn' to make its id"


def test_a_replace_only_target_refuses_value_changes() -> None:
    target = InMemoryTarget(value_changes=False)
    target.seed(groups=[ProvisioningGroup(id="g")])
    (outcome,) = target.update_groups(
        [(ProvisioningGroup(id="g"), [AttributeChange.add("m", ["x"])])]
    )
    assert outcome.error == "add on 'm': this target only replaces"


def test_updates_check_the_values_they_write() -> None:
    target = InMemoryTarget()
    target.seed(groups=[ProvisioningGroup(id="g", attributes={"m": ["a", "b"], "cn": "g"})])
    changes = [
        AttributeChange.add("m", ["c"]),
        AttributeChange.remove("m", ["a"]),
        AttributeChange.replace("cn", None),
        AttributeChange("d", ChangeOp.REPLACE, ["x", "y"]),  # type: ignore[arg-type]  # a list, as an untyped caller may give it
    ]
    (good,) = target.update_groups([(ProvisioningGroup(id="g"), changes)])
    assert good.ok
    assert target.groups["g"].attributes == {"m": frozenset("bc"), "d": frozenset("xy")}
    with pytest.raises(TypeError, match="attribute 'n': a value must be str, int or bool"):
        target.update_groups(
            [(ProvisioningGroup(id="g"), [AttributeChange.replace("n", 1.5)])]  # type: ignore[arg-type]  # not a value
        )


def test_updates_of_missing_objects_fail() -> None:
    target = InMemoryTarget()
    (outcome,) = target.update_entities([(ProvisioningEntity(id="nobody"), [])])
    assert outcome.error == "no such object 'nobody'"
    with pytest.raises(LookupError, match="no such membership"):
        target.update_membership(ProvisioningMembership(group_id="g", entity_id="e"), [])


def test_membership_updates_and_failures_on_demand() -> None:
    target = _seeded()
    membership = ProvisioningMembership(group_id="cn=a", entity_id="uid=x")
    target.update_membership(membership, [AttributeChange.replace("role", "admin")])
    assert target.memberships[membership.id].get("role") == "admin"
    failing = InMemoryTarget(fail=lambda op, _bean: op == "delete_entity")
    with pytest.raises(InjectedFailure, match="injected failure in delete_entity for 'e'"):
        failing.delete_entity(ProvisioningEntity(id="e"))


def test_an_insert_never_overwrites_an_object_with_the_same_id() -> None:
    """A directory or a keyed table refuses it: the object there is kept, the insert fails."""
    target = InMemoryTarget(id_attributes={"group": "cn"})
    target.insert_group(ProvisioningGroup(id="g1", attributes={"cn": "staff", "description": "a"}))
    (outcome,) = target.insert_groups(
        [ProvisioningGroup(id="g2", attributes={"cn": "staff", "description": "b"})]
    )
    assert not outcome.ok
    assert outcome.error is not None
    assert "'staff' already" in outcome.error
    assert target.groups["staff"].get("description") == "a"
    with pytest.raises(ValueError, match="'staff' already"):
        target.insert_group(ProvisioningGroup(id="g3", attributes={"cn": "staff"}))


def test_a_change_of_the_id_attribute_moves_the_object_and_its_memberships() -> None:
    """As a modify DN or a key with ON UPDATE CASCADE: the new id is reported, the old one gone."""
    target = InMemoryTarget(id_attributes={"group": "cn", "entity": "uid"})
    target.insert_group(ProvisioningGroup(id="g1", attributes={"cn": "staff"}))
    target.insert_group(ProvisioningGroup(id="g2", attributes={"cn": "wiki"}))
    target.insert_entity(ProvisioningEntity(id="e1", attributes={"uid": "x"}))
    target.insert_membership(ProvisioningMembership(group_id="staff", entity_id="x"))
    target.insert_membership(ProvisioningMembership(group_id="wiki", entity_id="x"))
    rename = AttributeChange("cn", ChangeOp.REPLACE, "faculty")
    (outcome,) = target.update_groups([(target.groups["staff"], [rename])])
    assert outcome.ok
    assert outcome.stored is not None
    assert outcome.stored.id == "faculty"
    assert sorted(target.groups) == ["faculty", "wiki"]
    assert sorted(target.memberships) == [("faculty", "x"), ("wiki", "x")]
    target.update_entity(target.entities["x"], [AttributeChange("uid", ChangeOp.REPLACE, "y")])
    assert list(target.entities) == ["y"]
    assert sorted(target.memberships) == [("faculty", "y"), ("wiki", "y")]
    # A move onto an id another object has fails, and moves nothing.
    onto = AttributeChange("cn", ChangeOp.REPLACE, "wiki")
    (refused,) = target.update_groups([(target.groups["faculty"], [onto])])
    assert not refused.ok
    assert sorted(target.groups) == ["faculty", "wiki"]
    assert target.groups["faculty"].get("cn") == "faculty"
    # Other attributes change in place.
    (kept,) = target.update_groups(
        [(target.groups["wiki"], [AttributeChange("description", ChangeOp.REPLACE, "d")])]
    )
    assert kept.stored is not None
    assert kept.stored.id == "wiki"
