"""Incremental recalcs that read only their part of Grouper, the records and the target."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import attrs
import pytest

from grouperprov import (
    Capabilities,
    GrouperSnapshot,
    ObjectType,
    Operation,
    Provisioner,
    ProvisionerConfig,
    ProvisioningGroup,
    ProvisioningMembership,
    SyncStatus,
)
from grouperprov.stores import MemorySyncStore
from grouperprov.testing import InMemorySource, InMemoryTarget

P = "campus-ldap"


class _Source(InMemorySource):
    """Counts the whole snapshots read, and keeps what each partial read asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.snapshots = 0
        self.partials: list[dict[str, list[Any]]] = []

    def snapshot(self) -> GrouperSnapshot:
        self.snapshots += 1
        return super().snapshot()

    def partial_snapshot(
        self,
        *,
        groups: Collection[str],
        members: Collection[str],
        memberships: Collection[tuple[str, str]] = (),
    ) -> GrouperSnapshot:
        asked: dict[str, list[Any]] = {
            "groups": [*groups],
            "members": [*members],
            "memberships": [*memberships],
        }
        self.partials.append(asked)
        return super().partial_snapshot(groups=groups, members=members, memberships=memberships)


class _WholeOnly:
    """A source that cannot read part of Grouper (only the GrouperSource protocol)."""

    def __init__(self, inner: InMemorySource) -> None:
        self.inner = inner

    def snapshot(self) -> GrouperSnapshot:
        return self.inner.snapshot()

    def retrieve_groups(self, ids: Collection[str]) -> list[ProvisioningGroup]:
        return self.inner.retrieve_groups(ids)

    def retrieve_entities(self, ids: Collection[str]) -> list[Any]:
        return self.inner.retrieve_entities(ids)

    def retrieve_memberships(self, group_ids: Collection[str]) -> list[ProvisioningMembership]:
        return self.inner.retrieve_memberships(group_ids)


def _config(**overrides: Any) -> ProvisionerConfig:
    data: dict[str, Any] = {
        "name": P,
        "groups": {"attributes": [{"name": "cn", "field": "extension"}], "matching": ["cn"]},
        "entities": {"operate": False},
        "memberships": {
            "type": "group_attributes",
            "attribute": {"name": "member", "field": "subject_id"},
        },
    }
    data.update(overrides)
    return ProvisionerConfig.from_dict(data)


def _campus() -> _Source:
    source = _Source()
    for subject in ("u1", "u2", "u3", "u4"):
        source.add_subject(subject)
    for name in ("apps:ldap:staff", "apps:ldap:faculty", "other:wiki"):
        source.add_group(name)
    for subject in ("u1", "u2", "u3", "u4"):
        source.add_member("apps:ldap:staff", subject)
    source.add_member("apps:ldap:faculty", "u1")
    source.add_member("other:wiki", "u1")
    source.mark("apps:ldap", P, scope="sub")
    return source


def _synced(
    source: Any, target: InMemoryTarget | None = None, **overrides: Any
) -> tuple[Provisioner, InMemoryTarget, int]:
    target = target or InMemoryTarget(id_attributes={"group": "cn"})
    prov = Provisioner(_config(**overrides), source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    target.calls.clear()
    inner = source.inner if isinstance(source, _WholeOnly) else source
    return prov, target, len(inner.changes)


def _members(target: InMemoryTarget, cn: str) -> frozenset[object]:
    (group,) = [g for g in target.groups.values() if g.get("cn") == cn]
    return group.values("member")


def _whole_reads(target: InMemoryTarget) -> list[str]:
    return [op for op, _ in target.calls if op.startswith("retrieve_all")]


def test_a_recalc_reads_its_groups_by_id_and_nothing_of_the_rest() -> None:
    source = _campus()
    prov, target, seq = _synced(source)
    source.remove_member("apps:ldap:faculty", "u1")
    source.add_member("apps:ldap:faculty", "u2")
    source.rename_group("apps:ldap:faculty", "apps:ldap:professors")
    source.snapshots = 0
    result = prov.incremental_sync(source.events(seq))
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert source.snapshots == 0
    assert _whole_reads(target) == []
    assert ("retrieve_groups", 1) in target.calls  # faculty alone, by its target id
    assert _members(target, "professors") == {"u2"}
    assert _members(target, "staff") == {"u1", "u2", "u3", "u4"}
    assert not prov.plan_full().plan.changes


def test_a_membership_recalc_reads_its_group_alone_when_entities_are_not_operated() -> None:
    """The member's other groups play no part: they are neither read nor compared."""
    source = _campus()
    prov, target, _ = _synced(source)
    staff = next(g.id for g in target.groups.values() if g.get("cn") == "staff")
    # The target loses u1 behind grouperprov's back; an add event for u1 in
    # faculty is inconsistent (the target has it), so the pair is recalculated.
    target.groups[staff] = target.groups[staff].with_attributes(
        {"member": frozenset({"u2", "u3", "u4"})}
    )
    faculty = next(g.id for g in source.snapshot().groups if g.get("extension") == "faculty")
    event = {
        "sequence": 10_000,
        "kind": "membership_add",
        "occurred": "2030-01-01T00:00:00+00:00",
        "group_id": faculty,
        "group_name": "apps:ldap:faculty",
        "member_id": "mem-u1",
        "subject_id": "u1",
    }
    result = prov.incremental_sync([event])
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert result.incremental is not None
    assert result.incremental.recalc_memberships == ((faculty, "mem-u1"),)
    reads = [call for call in target.calls if call[0].startswith(("retrieve", "search"))]
    assert reads == [("retrieve_groups", 1)]  # faculty only, not staff (u1 is in both)
    # Grouper is asked for that membership, not for every membership of u1.
    assert source.partials == [{"groups": [], "members": [], "memberships": [(faculty, "mem-u1")]}]
    assert _members(target, "staff") == {"u2", "u3", "u4"}  # left for a full sync to find
    assert prov.plan_full().plan.changes


@pytest.mark.parametrize("case_sensitive", [True, False])
def test_a_partly_read_group_keeps_the_recalculated_values_by_their_compare_forms(
    *, case_sensitive: bool
) -> None:
    """Of a group read in part, its values of the recalculated memberships are compared.

    Its other values are left out of the comparison (and so left alone). A
    value the target spells differently is the same value when case does not
    matter, and another one when it does.
    """
    source = _campus()
    source.add_member("apps:ldap:faculty", "u2")
    prov, target, _ = _synced(
        source,
        memberships={
            "type": "group_attributes",
            "attribute": {
                "name": "member",
                "field": "subject_id",
                "case_sensitive": case_sensitive,
            },
        },
    )
    faculty = next(g.id for g in source.snapshot().groups if g.get("extension") == "faculty")
    target_id = next(t for t, g in target.groups.items() if g.get("cn") == "faculty")
    target.groups[target_id] = target.groups[target_id].with_attributes(
        {"member": frozenset({"U1", "u2", "x9"})}
    )
    event = {
        "sequence": 10_000,
        "kind": "membership_add",
        "occurred": "2030-01-01T00:00:00+00:00",
        "group_id": faculty,
        "group_name": "apps:ldap:faculty",
        "member_id": "mem-u1",
        "subject_id": "u1",
    }
    result = prov.incremental_sync([event])
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert result.incremental is not None
    assert result.incremental.recalc_memberships == ((faculty, "mem-u1"),)
    if case_sensitive:
        assert _members(target, "faculty") == {"U1", "u1", "u2", "x9"}  # u1 added
    else:
        assert _members(target, "faculty") == {"U1", "u2", "x9"}  # U1 is u1
    assert result.plan is not None
    assert len(result.plan.changes) == (1 if case_sensitive else 0)


def test_a_new_group_is_looked_up_by_its_matching_value() -> None:
    source = _campus()
    target = InMemoryTarget(id_attributes={"group": "cn"})
    # Already in the target, unknown to the records: found by search, not inserted again.
    target.seed(groups=[ProvisioningGroup(id="deans", attributes={"cn": "deans"})])
    prov, target, seq = _synced(
        source,
        target=target,
        groups={
            "attributes": [{"name": "cn", "field": "extension"}],
            "matching": ["cn"],
            "delete_policy": "not_in_grouper",
        },
    )
    assert "deans" not in target.groups  # not in Grouper: deleted by the full sync
    target.seed(groups=[ProvisioningGroup(id="deans", attributes={"cn": "deans"})])
    source.add_group("apps:ldap:deans")
    source.add_member("apps:ldap:deans", "u3")
    result = prov.incremental_sync(source.events(seq))
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert ("search_groups", 1) in target.calls
    assert _whole_reads(target) == []
    assert _members(target, "deans") == {"u3"}
    assert [op for op, _ in target.calls if op.startswith("insert")] == []
    assert not prov.plan_full().plan.changes


@pytest.mark.parametrize(
    ("why", "change"),
    [
        ("the source reads Grouper whole only", "source"),
        ("the target cannot read groups by id", "no_retrieve"),
        ("the target cannot search for a new group", "no_search"),
        ("the target replaces whole value lists", "replace_only"),
        ("a marker change names a folder", "marker"),
        ("the target cannot read membership objects by group", "no_membership_reads"),
    ],
)
def test_a_recalc_reads_both_sides_in_full_when_it_must(why: str, change: str) -> None:
    source = _campus()
    missing = {
        "no_retrieve": {Operation.RETRIEVE_GROUPS},
        "no_search": {Operation.SEARCH_GROUPS},
        "no_membership_reads": {Operation.RETRIEVE_MEMBERSHIPS_BY_GROUPS},
    }.get(change, set())
    target = InMemoryTarget(
        id_attributes={"group": "cn"},
        operations=set(Operation) - missing,
        value_changes=change != "replace_only",
    )
    overrides: dict[str, Any] = {}
    if change == "no_membership_reads":
        overrides["memberships"] = {
            "type": "membership_objects",
            "attributes": [
                {"name": "g", "field": "group.name"},
                {"name": "u", "field": "entity.subject_id"},
            ],
            "matching": [["g", "u"]],
        }
    used: Any = _WholeOnly(source) if change == "source" else source
    prov, target, seq = _synced(used, target=target, **overrides)
    if change == "marker":
        source.mark("other", P, scope="sub")
    else:
        source.add_group("apps:ldap:deans")
        source.add_member("apps:ldap:deans", "u3")
        source.remove_member("apps:ldap:staff", "u4")
    result = prov.incremental_sync(source.events(seq))
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert _whole_reads(target), why
    assert not prov.plan_full().plan.changes, why


def test_the_failsafe_of_a_recalc_checks_the_groups_it_read_whole() -> None:
    source = _campus()
    prov, target, seq = _synced(
        source,
        failsafe={"max_group_percent_removed": 40, "max_percent_groups_removed": 10},
        incremental={"group_sync_threshold": 2},  # three events: staff is recalculated
    )
    # Three of staff's four members leave: staff is read whole, so its share is known.
    for subject in ("u2", "u3", "u4"):
        source.remove_member("apps:ldap:staff", subject)
    source.delete_group("apps:ldap:faculty")
    events = source.events(seq)
    tripped = prov.incremental_sync(events[:3])
    assert tripped.status is SyncStatus.ERROR_FAILSAFE
    assert tripped.failsafe == (
        (
            "group 'apps:ldap:staff' (grp-00001) would lose 3 of its 4 members (75%), "
            "more than max_group_percent_removed = 40%"
        ),
    )
    assert _members(target, "staff") == {"u1", "u2", "u3", "u4"}
    prov.approve_failsafe("jo@example.edu")
    assert prov.incremental_sync(events[:3]).status is SyncStatus.SUCCESS
    # One managed group of two deleted (50%): a campus-wide share, which a
    # recalc cannot measure without reading the campus: left to full syncs.
    deleted = prov.incremental_sync(events[3:])
    assert deleted.status is SyncStatus.SUCCESS, deleted.summary()
    assert [g.get("cn") for g in target.groups.values()] == ["staff"]
    assert not prov.plan_full().plan.changes


def test_search_values_need_one_value_per_object() -> None:
    from grouperprov import ObjectType, Translator  # noqa: PLC0415
    from grouperprov._recalc_reads import _search_values  # noqa: PLC0415

    config = _config(
        groups={
            "attributes": [
                {"name": "cn", "field": "extension"},
                {"name": "description", "field": "description"},
            ],
            "matching": ["cn"],
        }
    )
    translator = Translator(config)
    named = ProvisioningGroup.from_grouper("g1", "apps:ldap:deans")
    bare = ProvisioningGroup.from_grouper("g2", "apps:ldap:deans", description="")
    assert _search_values(translator, ObjectType.GROUP, [named], ("description", "cn")) == {
        "cn": {"deans"}
    }
    # Nothing to look the group up by: the recalc reads the whole target instead.
    assert _search_values(translator, ObjectType.GROUP, [bare], ("description",)) is None


class _CaseInsensitiveMembers(InMemoryTarget):
    """A target that takes member values as equal in any case (as LDAP takes DNs)."""

    def capabilities(self) -> Capabilities:
        caps = super().capabilities()
        return attrs.evolve(caps, case_insensitive={ObjectType.GROUP: frozenset({"member"})})


def test_the_failsafe_of_a_recalc_counts_members_as_the_target_compares_them() -> None:
    """``u1`` and ``U1`` are one member to this target: staff has 4 members, not 6.

    The narrowed plan's per-group count used the configuration as written
    (members compared exactly): 3 removals of 6 values (50%) passed a 70%
    limit that 3 members leaving of 4 (75%) goes past.
    """
    source = _campus()
    target = _CaseInsensitiveMembers(id_attributes={"group": "cn"})
    prov, _, seq = _synced(
        source,
        target,
        failsafe={"max_group_percent_removed": 70},
        incremental={"group_sync_threshold": 2},
    )
    (staff,) = [g for g in target.groups.values() if g.get("cn") == "staff"]
    target.groups[staff.id] = staff.with_attributes(member=staff.values("member") | {"U1", "U2"})
    for subject in ("u2", "u3", "u4"):
        source.remove_member("apps:ldap:staff", subject)
    result = prov.incremental_sync(source.events(seq))
    assert result.status is SyncStatus.ERROR_FAILSAFE, result.summary()
    assert "would lose 3 of its 4 members" in result.failsafe[0]
