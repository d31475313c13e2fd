from __future__ import annotations

from collections.abc import Sequence

import pytest

from grouperprov import (
    AttributeChange,
    Operation,
    Provisioner,
    ProvisionerConfig,
    ProvisioningEntity,
    ProvisioningGroup,
    ProvisioningMembership,
    WriteOutcome,
)
from grouperprov.abc import Capabilities, TargetDAO
from grouperprov.testing import (
    InMemorySource,
    InMemoryTarget,
    TargetContractError,
    check_target_dao,
)

ALL = frozenset(Operation)
BULK = frozenset(
    op for op in Operation if op.value.endswith(("groups", "entities", "memberships"))
) - {
    Operation.RETRIEVE_ALL_GROUPS,
    Operation.RETRIEVE_ALL_ENTITIES,
    Operation.RETRIEVE_ALL_MEMBERSHIPS,
    Operation.RETRIEVE_GROUPS,
    Operation.RETRIEVE_ENTITIES,
    Operation.SEARCH_GROUPS,
    Operation.SEARCH_ENTITIES,
    Operation.RETRIEVE_MEMBERSHIPS_BY_GROUPS,
    Operation.RETRIEVE_MEMBERSHIPS_BY_ENTITIES,
    Operation.REPLACE_GROUP_MEMBERSHIPS,
}
SINGLE = frozenset(
    Operation(op.value.removesuffix("s").replace("entitie", "entity")) for op in BULK
)
MEMBERSHIP_WRITES = frozenset(
    {
        Operation.INSERT_MEMBERSHIP,
        Operation.INSERT_MEMBERSHIPS,
        Operation.DELETE_MEMBERSHIP,
        Operation.DELETE_MEMBERSHIPS,
    }
)


def _membership(group_id: str, entity_id: str) -> ProvisioningMembership:
    return ProvisioningMembership(group_id=group_id, entity_id=entity_id, attributes={"role": "m"})


@pytest.mark.parametrize(
    ("operations", "value_changes"),
    [
        (ALL, True),
        (ALL, False),
        (ALL - BULK, True),
        (ALL - SINGLE, True),
        (ALL - MEMBERSHIP_WRITES, True),
        (frozenset({Operation.RETRIEVE_ALL_GROUPS, Operation.RETRIEVE_ALL_ENTITIES}), True),
    ],
    ids=[
        "all",
        "replace-only values",
        "no bulk",
        "bulk only",
        "replace-only memberships",
        "read only",
    ],
)
def test_the_in_memory_target_keeps_the_contract_in_every_capability_subset(
    operations: frozenset[Operation], value_changes: bool
) -> None:
    check_target_dao(
        lambda: InMemoryTarget(operations=operations, value_changes=value_changes),
        multi_valued_attribute="member",
        membership=_membership,
    )


def test_single_and_bulk_sets_pair_up() -> None:
    assert len(BULK) == len(SINGLE) == 9
    assert all(op in ALL for op in SINGLE)


class _NotImplemented(TargetDAO):
    def capabilities(self) -> Capabilities:
        return Capabilities(frozenset({Operation.INSERT_GROUP, Operation.RETRIEVE_ALL_GROUPS}))


class _Forgetful(InMemoryTarget):
    def insert_groups(self, groups: Sequence[ProvisioningGroup]) -> list[WriteOutcome]:
        return super().insert_groups(groups)[:-1]


class _Unordered(InMemoryTarget):
    def update_groups(
        self, updates: Sequence[tuple[ProvisioningGroup, Sequence[AttributeChange]]]
    ) -> list[WriteOutcome]:
        # Applies removes before adds: the order the engine relies on is lost.
        return super().update_groups(
            [(g, sorted(cs, key=lambda c: c.op.value != "remove")) for g, cs in updates]
        )


class _StickyDelete(InMemoryTarget):
    def delete_groups(self, groups: Sequence[ProvisioningGroup]) -> list[WriteOutcome]:
        self._enter(Operation.DELETE_GROUPS, len(groups))
        return [WriteOutcome.success() for _ in groups]


class _AmnesiacEntities(InMemoryTarget):
    def retrieve_all_entities(self) -> list[object]:  # type: ignore[override]
        return []


def _failures(factory: object, **kwargs: object) -> tuple[str, ...]:
    with pytest.raises(TargetContractError) as info:
        check_target_dao(factory, multi_valued_attribute="member", **kwargs)  # type: ignore[arg-type]
    assert str(info.value).startswith(f"{type(factory()).__name__} breaks the target DAO contract:")  # type: ignore[operator]
    return info.value.failures


def test_a_dao_declaring_what_it_does_not_implement_is_caught() -> None:
    failures = _failures(_NotImplemented)
    assert "declares insert_group but does not implement it" in failures
    assert "declares retrieve_all_groups but does not implement it" in failures


def test_a_bulk_method_that_forgets_an_object_is_caught() -> None:
    failures = _failures(_Forgetful)
    assert "insert_groups returned 1 outcomes for 2 objects" in failures


def test_updates_applied_out_of_order_are_caught() -> None:
    failures = _failures(_Unordered)
    assert any(f.startswith("ADD then REMOVE on 'member' did not apply in order") for f in failures)


def test_deletes_that_do_not_delete_are_caught() -> None:
    failures = _failures(_StickyDelete)
    assert any(f.startswith("deleted groups still read back") for f in failures)


class _ListsLeftBehind(InMemoryTarget):
    """Membership lists only, and a group's list stays when the group goes."""

    def __init__(self) -> None:
        super().__init__(operations=ALL - MEMBERSHIP_WRITES)

    def delete_groups(self, groups: Sequence[ProvisioningGroup]) -> list[WriteOutcome]:
        rows = dict(self.memberships)
        outcomes = super().delete_groups(groups)
        self.memberships.update(rows)  # as if the list were not the group's
        return outcomes


def test_a_list_only_target_that_keeps_a_deleted_group_s_list_is_caught() -> None:
    failures = _failures(_ListsLeftBehind, membership=_membership)
    assert any(
        f.startswith("a deleted group's membership objects still read back") for f in failures
    )


def test_a_list_only_target_without_group_deletes_is_not_asked_about_them() -> None:
    check_target_dao(
        lambda: InMemoryTarget(
            operations=ALL - MEMBERSHIP_WRITES - {Operation.DELETE_GROUP, Operation.DELETE_GROUPS}
        ),
        multi_valued_attribute="member",
        membership=_membership,
    )


def test_inserts_that_do_not_read_back_are_caught() -> None:
    failures = _failures(_AmnesiacEntities)
    assert any(f.startswith("an inserted entity does not read back") for f in failures)


def test_custom_sample_objects() -> None:
    check_target_dao(
        InMemoryTarget,
        group=ProvisioningGroup(id="x", attributes={"name": "a", "title": "t"}),
        update_attribute="title",
        entity=ProvisioningEntity(id="y", attributes={"login": "jo", "phone": "1"}),
        entity_update_attribute="phone",
    )


class _SameIds(InMemoryTarget):
    """Reads groups back under one id, as a table without a unique key might."""

    def retrieve_all_groups(self) -> list[ProvisioningGroup]:
        return [
            ProvisioningGroup(id="same", attributes=g.attributes)
            for g in super().retrieve_all_groups()
        ]


_Updates = Sequence[tuple[ProvisioningGroup, Sequence[AttributeChange]]]


class _IgnoresReplace(InMemoryTarget):
    def update_groups(self, updates: _Updates) -> list[WriteOutcome]:
        return [WriteOutcome.success() for _ in updates]


class _ChattyUpdates(InMemoryTarget):
    def update_groups(self, updates: _Updates) -> list[WriteOutcome]:
        return [WriteOutcome.success(), WriteOutcome.success()]


class _GrumpyDeletes(InMemoryTarget):
    def delete_group(self, group: ProvisioningGroup) -> None:
        if group.id not in self.groups:
            msg = f"{group.id} not found"
            raise LookupError(msg)
        super().delete_group(group)


class _MembershipTrouble(InMemoryTarget):
    def insert_memberships(
        self, memberships: Sequence[ProvisioningMembership]
    ) -> list[WriteOutcome]:
        return [WriteOutcome.failure("nope")]

    def delete_memberships(
        self, memberships: Sequence[ProvisioningMembership]
    ) -> list[WriteOutcome]:
        return []


class _LostMemberships(InMemoryTarget):
    def retrieve_all_memberships(self) -> list[ProvisioningMembership]:
        return []


def test_more_broken_rules_are_caught() -> None:
    assert "two inserted groups read back with the same target id 'same'" in _failures(_SameIds)
    assert "a REPLACE of 'description' on a group did not take effect" in _failures(_IgnoresReplace)
    assert "update_groups returned 2 outcomes for 1 update" in _failures(_ChattyUpdates)
    grumpy = _failures(lambda: _GrumpyDeletes(operations=ALL - {Operation.DELETE_GROUPS}))
    assert any(
        f.startswith("delete_group of an already deleted group raised LookupError") for f in grumpy
    )
    trouble = _failures(_MembershipTrouble, membership=_membership)
    assert any(f.startswith("insert_memberships did not report success") for f in trouble)
    lost = _failures(_LostMemberships, membership=_membership)
    assert "an inserted membership does not read back with its group and entity ids" in lost


class _DictReader(InMemoryTarget):
    def retrieve_all_groups(self) -> list[ProvisioningGroup]:
        return [{"id": g.id} for g in super().retrieve_all_groups()]  # type: ignore[misc]  # the bug


class _NoneIds(InMemoryTarget):
    def retrieve_all_entities(self) -> list[ProvisioningEntity]:
        return [
            ProvisioningEntity(id=None, attributes=e.attributes)  # type: ignore[arg-type]  # the bug
            for e in super().retrieve_all_entities()
        ]


class _BoolOutcomes(InMemoryTarget):
    def insert_memberships(
        self, memberships: Sequence[ProvisioningMembership]
    ) -> list[WriteOutcome]:
        super().insert_memberships(memberships)
        return [True for _ in memberships]  # type: ignore[misc]  # the bug


def test_reads_of_what_is_not_a_bean_with_text_ids_are_caught() -> None:
    # Found with the probe of misbehaving DAOs: these DAOs crashed the check
    # with an AttributeError, or (ids of None) passed it.
    failures = _failures(_DictReader)
    assert failures == (
        "retrieve_all_groups()[0] is dict {'id': 'group-1'}, not a ProvisioningGroup",
    )
    failures = _failures(_NoneIds)
    assert failures == ("retrieve_all_entities()[0]: its id is NoneType None, not text",)


def test_writes_reporting_what_is_not_an_outcome_are_caught() -> None:
    with pytest.raises(TargetContractError) as caught:
        check_target_dao(_BoolOutcomes, membership=_membership)
    assert caught.value.failures == ("insert_memberships reported bool True, not a WriteOutcome",)


class _SetCapabilities(InMemoryTarget):
    def capabilities(self) -> Capabilities:
        return set(Operation)  # type: ignore[return-value]  # the DAO bug under test


def test_capabilities_that_are_not_capabilities_are_caught() -> None:
    # Found with the misbehaving-DAO probe: a run failed with "'set' object
    # has no attribute 'case_insensitive'".
    with pytest.raises(TargetContractError) as caught:
        check_target_dao(_SetCapabilities)
    (failure,) = caught.value.failures
    assert failure.startswith("_SetCapabilities.capabilities() returned set {")
    assert failure.endswith(", not a Capabilities")
    provisioner = Provisioner(
        ProvisionerConfig.from_dict(
            {
                "name": "p",
                "groups": {"attributes": [{"name": "cn", "field": "name"}], "matching": ["cn"]},
                "entities": {"operate": False},
                "memberships": {"operate": False},
            }
        ),
        InMemorySource(),
        _SetCapabilities(),
    )
    with pytest.raises(TypeError, match=r"capabilities\(\) returned set"):
        provisioner.full_sync()
