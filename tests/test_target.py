from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import pytest

from grouperprov import (
    AttributeChange,
    Capabilities,
    ChangeOp,
    Operation,
    ProvisioningEntity,
    ProvisioningGroup,
    ProvisioningMembership,
    TargetData,
    WriteOutcome,
)
from grouperprov.abc import TargetDAO


def test_attribute_change_helpers_and_reference_semantics() -> None:
    add = AttributeChange.add("member", ["a", "b"])
    assert add == AttributeChange("member", ChangeOp.ADD, frozenset({"a", "b"}))
    assert add.apply_to(None) == frozenset({"a", "b"})
    assert add.apply_to("c") == frozenset({"a", "b", "c"})
    remove = AttributeChange.remove("member", ["a"])
    assert remove.apply_to(frozenset({"a", "b"})) == frozenset({"b"})
    assert remove.apply_to("a") is None
    replace = AttributeChange.replace("cn", "x")
    assert replace.apply_to("y") == "x"
    assert replace.values() == frozenset({"x"})
    assert AttributeChange.replace("cn", None).values() == frozenset()
    assert AttributeChange.replace("cn", frozenset({"a"})).values() == frozenset({"a"})


def test_write_outcomes() -> None:
    group = ProvisioningGroup(id="g")
    assert WriteOutcome.success(group) == WriteOutcome(ok=True, stored=group)
    assert WriteOutcome.failure("boom") == WriteOutcome(ok=False, error="boom")


class _GroupsOnly(TargetDAO):
    batch_sizes: ClassVar = {"insert_groups": 50}
    supports_value_changes: ClassVar = False

    def retrieve_all_groups(self) -> list[ProvisioningGroup]:
        return []

    def insert_groups(self, groups: Sequence[ProvisioningGroup]) -> list[WriteOutcome]:
        return [WriteOutcome.success() for _ in groups]


def test_capabilities_are_derived_from_overridden_methods() -> None:
    caps = _GroupsOnly().capabilities()
    assert caps.operations == frozenset({Operation.RETRIEVE_ALL_GROUPS, Operation.INSERT_GROUPS})
    assert caps == Capabilities.of(_GroupsOnly)
    assert caps.can(Operation.INSERT_GROUPS)
    assert not caps.can(Operation.INSERT_GROUP)
    assert caps.batch_size(Operation.INSERT_GROUPS, 1000) == 50
    assert caps.batch_size(Operation.INSERT_GROUPS, 10) == 10
    assert caps.batch_size(Operation.DELETE_GROUPS, 0) == 1
    assert not caps.value_changes
    assert caps.without(Operation.INSERT_GROUPS).operations == frozenset(
        {Operation.RETRIEVE_ALL_GROUPS}
    )
    assert (
        str(caps) == "value changes (add/remove): no\nretrieve_all_groups\ninsert_groups (batch 50)"
    )


@pytest.mark.parametrize("operation", list(Operation))
def test_the_base_class_refuses_every_operation_it_does_not_implement(operation: Operation) -> None:
    dao = _GroupsOnly()
    if operation in dao.capabilities().operations:
        return
    args: dict[str, tuple[object, ...]] = {
        "retrieve_all": (),
        "retrieve": (["x"],),
        "search": ("cn", ["x"]),
        "update": (ProvisioningGroup(id="x"), []),
        "replace": (ProvisioningGroup(id="x"), []),
    }
    bean: object = ProvisioningGroup(id="x")
    if "entit" in operation.value:
        bean = ProvisioningEntity(id="x")
    if "membership" in operation.value:
        bean = ProvisioningMembership(group_id="g", entity_id="e")
    prefix = next((p for p in args if operation.value.startswith(p)), None)
    call_args = args[prefix] if prefix else (bean,)
    if operation.value.endswith("s") and prefix in {None, "update"}:
        call_args = ([bean],) if prefix is None else ([(bean, [])],)
    with pytest.raises(
        NotImplementedError, match=f"this target does not implement {operation.value}"
    ):
        getattr(dao, operation.value)(*call_args)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"groups": [ProvisioningGroup(id="a"), {"id": "b"}]},
            "TargetData.groups[1] is dict {'id': 'b'}, not a ProvisioningGroup",
        ),
        (
            {"groups": [ProvisioningGroup(id=None)]},  # type: ignore[arg-type]
            "TargetData.groups[0]: its id is NoneType None, not text (a target DAO reads beans",
        ),
        (
            {"entities": [ProvisioningEntity(id=7)]},  # type: ignore[arg-type]
            "TargetData.entities[0]: its id is int 7",
        ),
        (
            {"entities": [ProvisioningGroup(id="g")]},
            "TargetData.entities[0] is ProvisioningGroup ProvisioningGroup(",
        ),
        (
            {"memberships": [ProvisioningMembership(group_id="g", entity_id=None)]},  # type: ignore[arg-type]
            "TargetData.memberships[0]: its entity_id is NoneType None",
        ),
        (
            {"memberships": [("g", "e")]},
            "TargetData.memberships[0] is tuple ('g', 'e'), not a ProvisioningMembership",
        ),
    ],
)
def test_target_data_refuses_what_breaks_the_dao_contract(
    data: dict[str, list[object]], message: str
) -> None:
    # Found by a probe of misbehaving DAOs: groups read with the id None were
    # one key to the engine, and every run inserted them all again.
    with pytest.raises(TypeError) as caught:
        TargetData(**data)  # type: ignore[arg-type]
    assert message in str(caught.value)


class _Subclassed(ProvisioningGroup):
    pass


def test_target_data_takes_subclasses_of_beans_and_str_ids() -> None:
    class Dn(str):
        __slots__ = ()

    data = TargetData(
        groups=iter([_Subclassed(id="a"), ProvisioningGroup(id=Dn("cn=b"))]),
        memberships=[ProvisioningMembership(group_id="a", entity_id="e")],
    )
    assert [g.id for g in data.groups] == ["a", "cn=b"]
    assert len(data.memberships) == 1
