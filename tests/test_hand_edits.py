"""Hand edits to the target between runs: a full sync puts back what Grouper says.

People edit targets behind the sync's back: a group deleted or renamed in
the directory, a member added or taken away, a group of their own made
under a name Grouper uses later. Incremental runs do not see such edits
(they read what their events name); a full sync must. These properties
draw Grouper changes and hand edits per batch, run each batch
incrementally (with failed writes, when drawn), and check the target
against Grouper itself after a healing full sync.
"""

from __future__ import annotations

import zlib
from collections.abc import Collection, Sequence
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from grouperprov import (
    MembershipType,
    ObjectType,
    Operation,
    Provisioner,
    ProvisioningGroup,
    ProvisioningMembership,
    SyncStatus,
)
from grouperprov.stores import MemorySyncStore
from grouperprov.testing import InMemorySource, InMemoryTarget
from test_engine_properties import _MEMBERSHIP_WRITES
from test_incremental import (
    FOLDERS,
    SUBJECTS,
    _apply_step,
    _grouper_lists,
    _property_campus,
    _steps,
    _target_lists,
)
from test_provisioner_properties import _config as _property_config

_OK = (SyncStatus.SUCCESS, SyncStatus.WARNING)

_edits = st.lists(
    st.one_of(
        st.tuples(st.just("delete group"), st.integers(0, 5), st.just("")),
        st.tuples(st.just("delete group row"), st.integers(0, 5), st.just("")),
        st.tuples(st.just("delete entity"), st.integers(0, 5), st.just("")),
        st.tuples(st.just("describe"), st.integers(0, 5), st.just("")),
        st.tuples(st.just("rename"), st.integers(0, 5), st.sampled_from(FOLDERS)),
        st.tuples(st.just("own group"), st.integers(0, 11), st.sampled_from(FOLDERS)),
        st.tuples(st.just("add member"), st.integers(0, 5), st.sampled_from(SUBJECTS)),
        st.tuples(st.just("remove member"), st.integers(0, 5), st.just("")),
    ),
    max_size=4,
)
"""Hand edits: what, which object (by index, in id order), and a folder or subject."""


class _Hand:
    """Edits an :class:`InMemoryTarget`'s objects directly, as a person would."""

    def __init__(self, target: InMemoryTarget, kind: MembershipType, *, ids_by_name: bool) -> None:
        self.target = target
        self.kind = kind
        self.ids_by_name = ids_by_name
        self.names: set[str] = set()  # the group names the edits made
        self.provisioned: set[str] = set()  # the names Grouper provisions now

    def _named(self, name: str) -> bool:
        return any(g.get("cn") == name for g in self.target.groups.values())

    def edit(self, what: str, index: int, arg: str, *, strays: bool) -> None:
        """Make one edit; *strays*: whether values of no Grouper membership may be added."""
        target = self.target
        if what == "own group":
            name = f"{arg}:n{index}"
            tid = name if self.ids_by_name else f"own-{name}"
            if not self._named(name) and tid not in target.groups:
                target.groups[tid] = ProvisioningGroup(tid, {"cn": name})
                self.names.add(name)
            return
        if what == "delete entity":
            if target.entities:
                eid = sorted(target.entities)[index % len(target.entities)]
                del target.entities[eid]
                for key in [k for k in target.memberships if k[1] == eid]:
                    del target.memberships[key]
            return
        if not target.groups:
            return
        gid = sorted(target.groups)[index % len(target.groups)]
        group = target.groups[gid]
        if what == "delete group":
            del target.groups[gid]
            for key in [k for k in target.memberships if k[0] == gid]:
                del target.memberships[key]
        elif what == "delete group row":
            del target.groups[gid]  # its membership rows stay (no foreign key)
        elif what == "describe":
            target.groups[gid] = group.with_attributes({"description": "by hand"})
        elif what == "rename":
            # Not a name Grouper uses: one it does would be adopted with the
            # members the edit moved, which no record holds as Grouper's.
            self._rename(gid, group, f"{arg}:h{index}")
        elif what == "add member" and strays:
            self._add_member(gid, group, arg, index)
        elif what == "remove member":
            self._remove_member(gid, group, index)

    def _rename(self, gid: str, group: ProvisioningGroup, name: str) -> None:
        target = self.target
        if self._named(name) or name in target.groups:
            return
        self.names.add(name)
        if not self.ids_by_name:
            target.groups[gid] = group.with_attributes({"cn": name})
            return
        # The id is the name (a DN): the group moves, and its rows with it, renamed.
        # (Rows left with the old name share their matching values with the rows
        # a re-inserted group gets: set aside as ambiguous, never deleted.)
        del target.groups[gid]
        target.groups[name] = ProvisioningGroup(name, {**group.attributes, "cn": name})
        for key in [k for k in target.memberships if k[0] == gid]:
            row = target.memberships.pop(key)
            target.memberships[name, key[1]] = ProvisioningMembership(
                name, key[1], {**row.attributes, "g": name}
            )

    def _add_member(self, gid: str, group: ProvisioningGroup, subject: str, index: int) -> None:
        target = self.target
        if self.kind is MembershipType.GROUP_ATTRIBUTES:
            target.groups[gid] = group.with_attributes(
                {"member": group.values("member") | {subject}}
            )
        elif self.kind is MembershipType.ENTITY_ATTRIBUTES:
            # A value naming a group Grouper never provisioned is another
            # system's, never removed; so is one of a name Grouper changed
            # since, which no record holds: only current names are added.
            name = str(group.get("cn"))
            if target.entities and name in self.provisioned:
                eid = sorted(target.entities)[index % len(target.entities)]
                person = target.entities[eid]
                target.entities[eid] = person.with_attributes(
                    {"isMemberOf": person.values("isMemberOf") | {name}}
                )
        elif target.entities:
            eid = sorted(target.entities)[index % len(target.entities)]
            uid = target.entities[eid].get("uid")
            target.memberships.setdefault(
                (gid, eid),
                ProvisioningMembership(gid, eid, {"g": group.get("cn"), "u": uid}),
            )

    def _remove_member(self, gid: str, group: ProvisioningGroup, index: int) -> None:
        target = self.target
        if self.kind is MembershipType.GROUP_ATTRIBUTES:
            members = sorted(map(str, group.values("member")))
            if members:
                kept = set(members) - {members[index % len(members)]}
                target.groups[gid] = group.with_attributes({"member": frozenset(kept) or None})
        elif self.kind is MembershipType.ENTITY_ATTRIBUTES:
            if target.entities:
                eid = sorted(target.entities)[index % len(target.entities)]
                person = target.entities[eid]
                values = sorted(map(str, person.values("isMemberOf")))
                if values:
                    kept = set(values) - {values[index % len(values)]}
                    target.entities[eid] = person.with_attributes(
                        {"isMemberOf": frozenset(kept) or None}
                    )
        else:
            rows = sorted(k for k in target.memberships if k[0] == gid)
            if rows:
                del target.memberships[rows[index % len(rows)]]


def _synced(
    target: InMemoryTarget, policy: str, kind: MembershipType
) -> tuple[InMemorySource, Provisioner]:
    """Group ``a:n0`` with member ``u0``, synced into *target* under *policy*."""
    source = _property_campus(InMemorySource(), [("group", "a", 0), ("add", 0, "u0")])
    config = _property_config(kind, policy, require_members=False)
    prov = Provisioner(config, source, target, MemorySyncStore())
    assert prov.full_sync().status in _OK
    return source, prov


def _touched(prov: Provisioner, source: InMemorySource, events: Sequence[Any]) -> list[str]:
    """The Grouper ids of the groups *events* name that Grouper or the records know."""
    known = {
        str(grouper_id)
        for object_type, grouper_id in prov.store.load(prov.config.name).records
        if object_type is ObjectType.GROUP
    }
    alive = {g.id for g in source.snapshot().groups}
    named = sorted({e.group_id for e in events if e.group_id is not None})
    return [gid for gid in named if gid in known or gid in alive]


def _held(
    target: InMemoryTarget, kind: MembershipType, made: Collection[str] = ()
) -> dict[str, set[str]]:
    """Each group in *target* by its ``cn``, with its members' subject ids (see _target_lists).

    A membership row counts in the group its key names now (a hand rename
    moves a group, not its rows' names), or without that group (deleted by
    hand) by the name it holds. Rows of a group that is gone and whose name
    the edits made (*made*) are not counted: no record holds them, and rows
    of a group the sync never knew are left alone.
    """
    if kind is not MembershipType.MEMBERSHIP_OBJECTS:
        return _target_lists(target, kind)
    lists: dict[str, set[str]] = {str(g.get("cn")): set() for g in target.groups.values()}
    for (gid, _), row in target.memberships.items():
        owner = target.groups.get(gid)
        named = row.get("g") if owner is None else owner.get("cn")
        if owner is None and named in made:
            continue
        lists.setdefault(str(named), set()).add(str(row.get("u")))
    return lists


@pytest.mark.parametrize("kind", list(MembershipType))
@settings(max_examples=60, deadline=None)
@given(
    start=_steps,
    steps=_steps,
    edits=st.lists(_edits, min_size=1, max_size=3),
    policy=st.sampled_from(["inserted_by_us", "not_in_grouper", "removed_from_grouper"]),
    require_members=st.booleans(),
    value_changes=st.booleans(),
    ids_by_name=st.booleans(),
    failing=st.sets(st.integers(0, 6), max_size=3),
    group_syncs=st.lists(st.booleans(), max_size=3),
)
@example(  # a group of the target's own, with a row: not_in_grouper deletes both
    start=[("group", "a", 0), ("add", 0, "u0")],
    steps=[],
    edits=[[("own group", 1, "a"), ("add member", 1, "u1")]],
    policy="not_in_grouper",
    require_members=False,
    value_changes=True,
    ids_by_name=False,
    failing=set(),
    group_syncs=[],
).via("discovered failure")
@example(  # an empty provisioned group's value added by hand to a person
    start=[("group", "a", 0), ("add", 0, "u0"), ("group", "a", 1)],
    steps=[],
    edits=[[("add member", 1, "u0")]],
    policy="not_in_grouper",
    require_members=False,
    value_changes=True,
    ids_by_name=False,
    failing=set(),
    group_syncs=[],
).via("discovered failure")
@example(  # a group row deleted by hand, its rows left, and the group renamed
    start=[("group", "a", 0), ("add", 0, "u0")],
    steps=[("rename", 0, 1)],
    edits=[[("delete group row", 0, "")]],
    policy="inserted_by_us",
    require_members=False,
    value_changes=True,
    ids_by_name=True,
    failing=set(),
    group_syncs=[],
).via("discovered failure")
@example(  # the old row's delete failed, the new row went in, and Grouper deleted the group
    start=[("group", "a:b", 96), ("add", 0, "u0")],
    steps=[("add", 0, "u0"), ("delete", 0, "")],
    edits=[[("delete group row", 0, "")], []],
    policy="inserted_by_us",
    require_members=False,
    value_changes=True,
    ids_by_name=False,
    failing={0},
    group_syncs=[],
).via("discovered failure")
@example(  # a group row deleted by hand, its rows left, and a group sync of it
    start=[("group", "a", 0), ("add", 0, "u0")],
    steps=[("add", 0, "u1")],
    edits=[[("delete group row", 0, "")]],
    policy="inserted_by_us",
    require_members=False,
    value_changes=True,
    ids_by_name=False,
    failing=set(),
    group_syncs=[True],
).via("discovered failure")
def test_a_full_sync_after_hand_edits_leaves_the_target_as_grouper_says(  # noqa: PLR0917  # what hypothesis varies
    kind: MembershipType,
    start: list[Any],
    steps: list[Any],
    edits: list[list[tuple[str, int, str]]],
    policy: str,
    require_members: bool,
    value_changes: bool,
    ids_by_name: bool,
    failing: set[int],
    group_syncs: list[bool],
) -> None:
    """After hand edits and failed writes, a full sync leaves each group as Grouper says.

    Under ``not_in_grouper`` nothing else may stay; under the other
    policies, groups the edits made (never Grouper's) may. A batch drawn
    with a group sync syncs the groups its steps touched first (as an
    operator's "provision group" button would), then runs its events.
    """
    broken = {"on": False}

    def fail(_op: str, bean: object) -> bool:
        return broken["on"] and zlib.crc32(repr(bean).encode()) % 7 in failing

    source = _property_campus(InMemorySource(), start)
    target = InMemoryTarget(
        id_attributes={"group": "cn", "entity": "uid"} if ids_by_name else None,
        fail=fail,
        value_changes=value_changes,
    )
    config = _property_config(kind, policy, require_members=require_members)
    prov = Provisioner(config, source, target, MemorySyncStore())
    assert prov.full_sync().status in _OK
    hand = _Hand(target, kind, ids_by_name=ids_by_name)
    seq = len(source.changes)
    size = max(1, -(-len(steps) // len(edits)))
    for batch, batch_edits in enumerate(edits):
        for step in steps[batch * size : (batch + 1) * size]:
            _apply_step(source, step)
        hand.provisioned = set(_grouper_lists(source, require_members=False, required=False))
        for what, index, arg in batch_edits:
            hand.edit(what, index, arg, strays=policy == "not_in_grouper")
        events = source.events(seq)
        seq = len(source.changes)
        broken["on"] = True
        if batch < len(group_syncs) and group_syncs[batch]:
            touched = _touched(prov, source, events)
            if touched:
                prov.sync_group(*touched)
        prov.incremental_sync(events)
        broken["on"] = False
    assert prov.incremental_sync([]).status in _OK
    result = prov.full_sync()
    assert result.status in _OK, result.summary()
    wanted = _grouper_lists(source, require_members=require_members, required=False)
    held = _held(target, kind, hand.names)
    if policy != "not_in_grouper":
        held = {n: m for n, m in held.items() if n in wanted or n not in hand.names}
    assert held == wanted
    plan = prov.plan_full().plan
    assert not plan.changes, plan.summary()


def test_the_hand_edits_reach_every_kind_of_object() -> None:
    """The edits do what they say (the property would pass with edits that did nothing)."""
    target = InMemoryTarget()
    target.groups["g"] = ProvisioningGroup("g", {"cn": "a:x", "member": frozenset({"u0"})})
    hand = _Hand(target, MembershipType.GROUP_ATTRIBUTES, ids_by_name=False)
    hand.edit("add member", 0, "u1", strays=True)
    assert target.groups["g"].values("member") == {"u0", "u1"}
    hand.edit("remove member", 0, "", strays=True)
    assert target.groups["g"].values("member") == {"u1"}
    hand.edit("rename", 3, "d", strays=True)
    assert target.groups["g"].get("cn") == "d:h3"
    hand.edit("own group", 4, "a", strays=True)
    assert {str(g.get("cn")) for g in target.groups.values()} == {"d:h3", "a:n4"}
    assert hand.names == {"d:h3", "a:n4"}
    hand.edit("delete group", 0, "", strays=True)
    assert len(target.groups) == 1
    rows = InMemoryTarget(id_attributes={"group": "cn", "entity": "uid"})
    rows.groups["a:x"] = ProvisioningGroup("a:x", {"cn": "a:x"})
    rows.memberships["a:x", "u0"] = ProvisioningMembership("a:x", "u0", {"g": "a:x", "u": "u0"})
    moved = _Hand(rows, MembershipType.MEMBERSHIP_OBJECTS, ids_by_name=True)
    moved.edit("rename", 1, "a", strays=True)
    assert set(rows.groups) == {"a:h1"}
    assert set(rows.memberships) == {("a:h1", "u0")}
    assert rows.memberships["a:h1", "u0"].get("g") == "a:h1"
    assert _held(rows, MembershipType.MEMBERSHIP_OBJECTS) == {"a:h1": {"u0"}}
    moved.edit("delete group row", 0, "", strays=True)
    assert rows.groups == {}
    assert _held(rows, MembershipType.MEMBERSHIP_OBJECTS) == {"a:h1": {"u0"}}  # left
    assert _held(rows, MembershipType.MEMBERSHIP_OBJECTS, moved.names) == {}


@pytest.mark.parametrize("policy", ["not_in_grouper", "inserted_by_us", "removed_from_grouper"])
def test_two_rows_of_one_membership_go_when_grouper_removes_it(policy: str) -> None:
    """Two rows holding one membership's values are MAT; once it is gone, they are extra.

    Found by fuzzing hand edits with failed writes: while Grouper had the
    membership, both rows were set aside as ambiguous (right), and its
    record lost the row it held. Then Grouper removed it, and both rows,
    sharing a matching value no Grouper membership has, stayed set aside
    in every run, under every policy.
    """
    target = InMemoryTarget()
    source, prov = _synced(target, policy, MembershipType.MEMBERSHIP_OBJECTS)
    ((gid, eid),) = target.memberships
    row = target.memberships[gid, eid]
    target.memberships[gid, "someone"] = ProvisioningMembership(gid, "someone", row.attributes)
    ambiguous = prov.full_sync()
    assert ambiguous.plan is not None
    assert ambiguous.plan.error_counts() == {"MAT": 1}
    assert len(target.memberships) == 2  # neither is deleted while it may be Grouper's
    # ... and the plan says so.
    assert {a.target_id for a in ambiguous.plan.set_aside} == {(gid, eid), (gid, "someone")}
    source.remove_member("a:n0", "u0")
    result = prov.full_sync()
    assert result.status in _OK, result.summary()
    # Grouper's row goes under every policy (grouperprov inserted it); the
    # other under not_in_grouper only (nothing says it was ever Grouper's).
    expected = set() if policy == "not_in_grouper" else {(gid, "someone")}
    assert set(target.memberships) == expected
    assert not prov.plan_full().plan.changes


@pytest.mark.parametrize("policy", ["not_in_grouper", "inserted_by_us", "removed_from_grouper"])
def test_a_group_made_again_by_hand_does_not_cost_grouper_s_group_its_record(policy: str) -> None:
    """A second group of the same name makes Grouper's MAT; its record keeps its own group.

    While both are there, both are left alone. Without the record, Grouper's
    group stayed for good under ``inserted_by_us`` once Grouper deleted it.
    """
    target = InMemoryTarget()
    source, prov = _synced(target, policy, MembershipType.GROUP_ATTRIBUTES)
    (tid,) = target.groups
    target.groups["by-hand"] = ProvisioningGroup("by-hand", target.groups[tid].attributes)
    ambiguous = prov.full_sync()
    assert ambiguous.plan is not None
    assert ambiguous.plan.error_counts() == {"MAT": 1}
    assert set(target.groups) == {tid, "by-hand"}
    assert {a.target_id for a in ambiguous.plan.set_aside} == {tid, "by-hand"}
    assert "  set aside: 2 target objects, left alone (see plan.set_aside)" in (
        ambiguous.summary().splitlines()
    )
    source.delete_group("a:n0")
    result = prov.full_sync()
    assert result.status in _OK, result.summary()
    assert set(target.groups) == (set() if policy == "not_in_grouper" else {"by-hand"})
    assert not prov.plan_full().plan.changes


@pytest.mark.parametrize("policy", ["not_in_grouper", "inserted_by_us"])
def test_a_row_added_by_hand_goes_with_its_group_s_row_deleted_by_hand(policy: str) -> None:
    """A row of a provisioned group whose group row went is in a group that was provisioned.

    Found by fuzzing hand edits: the row named the group's old key, which
    no longer was in the target once the group went in again, so it was in
    no managed group and stayed for good under ``not_in_grouper``.
    """
    target = InMemoryTarget()
    _, prov = _synced(target, policy, MembershipType.MEMBERSHIP_OBJECTS)
    ((gid, eid),) = target.memberships
    stray = ProvisioningMembership(gid, "someone", {"g": "a:n0", "u": "u3"})
    target.memberships[gid, "someone"] = stray
    del target.groups[gid]  # its rows stay: no foreign key
    result = prov.full_sync()
    assert result.status in _OK, result.summary()
    assert gid not in target.groups
    # Grouper's own row went under both policies (its record says it is Grouper's).
    assert (gid, eid) not in target.memberships
    assert ((gid, "someone") in target.memberships) is (policy == "inserted_by_us")
    assert not prov.plan_full().plan.changes


@pytest.mark.parametrize("policy", ["not_in_grouper", "inserted_by_us"])
def test_a_group_sync_deletes_the_rows_its_group_s_hand_deleted_row_left(policy: str) -> None:
    """A group sync sees the rows of its group's object that the target lost.

    Found by fuzzing hand edits: the group sync inserted the group again, and
    its rows, and did not see the old rows, which named the old key. Their
    records moved to the new rows, so the old rows stayed for good.
    """
    target = InMemoryTarget()
    source, prov = _synced(target, policy, MembershipType.MEMBERSHIP_OBJECTS)
    ((gid, eid),) = target.memberships
    (group_id,) = [g.id for g in source.snapshot().groups if g.get("name") == "a:n0"]
    del target.groups[gid]  # its row stays: no foreign key
    result = prov.sync_group(group_id)
    assert result.status in _OK, result.summary()
    ((new_gid, _),) = [k for k in target.memberships if k[0] != gid]
    assert set(target.memberships) == {(new_gid, eid)}
    assert prov.full_sync().status in _OK
    assert set(target.memberships) == {(new_gid, eid)}


def test_a_row_a_failed_list_was_to_drop_stays_its_record_s() -> None:
    """A row of a group renamed away, left on its old object by a failed list, stays Grouper's.

    Found by fuzzing failed writes on a target that only replaces whole
    lists: a new group took the renamed group's old name, and its object.
    The list that was to drop the renamed group's rows failed, and their
    records moved to the rows of the renamed group's new object. No record
    held the old rows, so under ``removed_from_grouper`` they stayed for good.
    """
    broken = {"on": False}
    target = InMemoryTarget(
        operations=set(Operation) - _MEMBERSHIP_WRITES,
        value_changes=False,
        fail=lambda op, bean: (
            broken["on"] and op == "replace_group_memberships" and bean.get("cn") == "a:n0"
        ),
    )
    source, prov = _synced(target, "removed_from_grouper", MembershipType.MEMBERSHIP_OBJECTS)
    ((old, _),) = target.memberships
    source.rename_group("a:n0", "a:r0")
    source.add_group("a:n0")  # it takes the old name, and the old object
    broken["on"] = True
    prov.full_sync()
    assert target.groups[old].get("cn") == "a:n0"
    assert sorted(str(m.get("g")) for m in target.memberships.values()) == ["a:n0", "a:r0"]
    broken["on"] = False
    assert prov.full_sync().status in _OK
    assert sorted(str(m.get("g")) for m in target.memberships.values()) == ["a:r0"]
    assert not prov.plan_full().plan.changes


def test_a_group_sync_keeps_the_old_row_a_failed_delete_left() -> None:
    """A group sync sees the rows its groups' membership records hold, wherever they are.

    Found by fuzzing hand edits with failed writes on SQLite, groups keyed
    by name: a renamed group's row was deleted by hand, and its insert
    under the new name failed, as did the delete of a row under the old
    name; that row's record kept it. A group sync, whose insert failed
    again, did not see the row (no group object named it), and the record
    let go of it: the row stayed for good.
    """
    broken = {"on": False}
    target = InMemoryTarget(
        id_attributes={"group": "cn", "entity": "uid"},
        fail=lambda op, _bean: broken["on"] and op in {"insert_groups", "delete_memberships"},
    )
    source, prov = _synced(target, "removed_from_grouper", MembershipType.MEMBERSHIP_OBJECTS)
    seq = len(source.changes)
    source.rename_group("a:n0", "a:r0")
    del target.groups["a:n0"]  # by hand; its row stays
    broken["on"] = True
    prov.incremental_sync(source.events(seq))
    assert ("a:n0", "u0") in target.memberships
    (group_id,) = [g.id for g in source.snapshot().groups]
    prov.sync_group(group_id)
    broken["on"] = False
    prov.incremental_sync([])
    assert prov.full_sync().status in _OK
    assert set(target.memberships) == {("a:r0", "u0")}
    assert not prov.plan_full().plan.changes


@pytest.mark.parametrize("grouper_step", [("remove", 0, "u0"), ("delete", 0, "")])
def test_the_new_row_of_a_membership_whose_old_row_stayed_goes_when_grouper_removes_it(
    grouper_step: tuple[str, int, str],
) -> None:
    """The row grouperprov inserted goes, though the membership's record held another one.

    Found by the hand-edit property: a group row deleted by hand went in
    again with its rows, and the delete of the row under the old object
    failed. The membership's record kept the old row (to retry its delete),
    and nothing said grouperprov had inserted the new one: once Grouper
    removed the member (or the group), under ``inserted_by_us`` the person
    kept the group in the target.
    """
    broken = {"on": False}
    target = InMemoryTarget(
        fail=lambda op, _bean: broken["on"] and op in {"delete_memberships", "delete_groups"}
    )
    source, prov = _synced(target, "inserted_by_us", MembershipType.MEMBERSHIP_OBJECTS)
    ((old, eid),) = target.memberships
    seq = len(source.changes)
    source.add_member("a:n0", "u1")
    del target.groups[old]  # by hand; its row stays
    broken["on"] = True
    prov.incremental_sync(source.events(seq))
    assert len([k for k in target.memberships if k[1] == eid]) == 2  # old and new rows
    seq = len(source.changes)
    _apply_step(source, grouper_step)
    prov.incremental_sync(source.events(seq))
    broken["on"] = False
    assert prov.incremental_sync([]).status in _OK
    assert prov.full_sync().status in _OK
    assert not [k for k in target.memberships if k[1] == eid]
    assert not prov.plan_full().plan.changes
