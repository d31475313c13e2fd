"""Invariants of full syncs over random campuses, markers and membership types."""

from __future__ import annotations

from typing import Any, cast

from hypothesis import given
from hypothesis import strategies as st

from grouperprov import (
    MembershipType,
    ObjectType,
    Provisioner,
    ProvisionerConfig,
    ProvisioningEntity,
    ProvisioningGroup,
    SyncStatus,
)
from grouperprov.stores import MemorySyncStore
from grouperprov.testing import InMemorySource, InMemoryTarget

P = "prop"
FOLDERS = ["a", "a:b", "a:b:c", "d"]


def _config(kind: MembershipType, policy: str, require_members: bool) -> ProvisionerConfig:
    data: dict[str, Any] = {
        "name": P,
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
        "provisionable": {"groups_require_members": require_members},
    }
    if kind is MembershipType.GROUP_ATTRIBUTES:
        data["memberships"]["attribute"] = {"name": "member", "field": "subject_id"}
    elif kind is MembershipType.ENTITY_ATTRIBUTES:
        data["memberships"]["attribute"] = {"name": "isMemberOf", "field": "name"}
    else:
        data["memberships"]["attributes"] = [
            {"name": "g", "field": "group.name"},
            {"name": "u", "field": "entity.subject_id"},
        ]
        data["memberships"]["matching"] = [["g", "u"]]
    return ProvisionerConfig.from_dict(data)


@st.composite
def campuses(draw: st.DrawFn) -> tuple[InMemorySource, list[tuple[str, str, bool]]]:
    source = InMemorySource()
    subjects = [f"u{i}" for i in range(draw(st.integers(0, 5)))]
    for subject in subjects:
        source.add_subject(subject)
    names = draw(st.lists(st.sampled_from(FOLDERS), max_size=6))
    groups = [f"{folder}:g{i}" for i, folder in enumerate(names)]
    for name in groups:
        source.add_group(name, description=draw(st.sampled_from(["", "x", "y"])))
        for subject in draw(st.lists(st.sampled_from(subjects), unique=True)) if subjects else ():
            source.add_member(name, subject)
    markers = draw(
        st.lists(
            st.tuples(
                st.sampled_from(FOLDERS + groups or FOLDERS),
                st.sampled_from(["one", "sub"]),
                st.booleans(),
            ),
            max_size=4,
        )
    )
    for where, scope, provisionable in markers:
        source.mark(where, P, scope=scope, provisionable=provisionable)
    return source, markers


@given(
    campuses(),
    st.sampled_from(MembershipType),
    st.sampled_from(["not_in_grouper", "removed_from_grouper", "inserted_by_us"]),
    st.booleans(),
)
def test_full_sync_converges_records_agree_and_dry_runs_write_nothing(
    campus: tuple[InMemorySource, list[tuple[str, str, bool]]],
    kind: MembershipType,
    policy: str,
    require_members: bool,
) -> None:
    source, _ = campus
    config = _config(kind, policy, require_members)
    target = InMemoryTarget(id_attributes={"group": "cn", "entity": "uid"})
    # Pre-existing objects Grouper knows nothing of: only not_in_grouper may delete them.
    target.seed(
        groups=[ProvisioningGroup(id="legacy:admins", attributes={"cn": "legacy:admins"})],
        entities=[ProvisioningEntity(id="stranger", attributes={"uid": "stranger"})],
    )
    store = MemorySyncStore()
    prov = Provisioner(config, source, target, store)

    dry = prov.full_sync(dry_run=True)
    assert set(target.groups) == {"legacy:admins"}
    assert set(target.entities) == {"stranger"}
    assert target.memberships == {}
    assert store.load(P).records == {}

    first = prov.full_sync()
    assert first.status in {SyncStatus.SUCCESS, SyncStatus.WARNING}, first.summary()
    assert dry.plan is not None
    assert first.plan is not None
    assert dry.plan.changes == first.plan.changes

    second = prov.full_sync()
    assert second.plan is not None
    assert second.plan.empty, second.plan.summary()

    # A later state of Grouper: the first marker removed, a member gone.
    _, markers = campus
    if markers:
        source.unmark(markers[0][0], P)
    snapshot = source.snapshot()
    if snapshot.memberships:
        first_membership = snapshot.memberships[0]
        group = next(g for g in snapshot.groups if g.id == first_membership.group_id)
        source.remove_member(
            str(group.get("name")), first_membership.entity_id.removeprefix("mem-")
        )
    third = prov.full_sync()
    assert third.status in {SyncStatus.SUCCESS, SyncStatus.WARNING}, third.summary()
    fourth = prov.full_sync()
    assert fourth.plan is not None
    assert fourth.plan.empty, fourth.plan.summary()

    # Deletes only ever remove what the delete policy allows.
    pre_existing_kept = "legacy:admins" in target.groups and "stranger" in target.entities
    assert pre_existing_kept == (policy != "not_in_grouper")

    records = store.load(P).records
    for (object_type, _), record in records.items():
        if object_type is ObjectType.MEMBERSHIP:
            continue
        held = target.groups if object_type is ObjectType.GROUP else target.entities
        assert record.in_target == (record.target_id in held), record
        if record.provisionable:
            assert record.target_id in held, record


@given(
    campuses(),
    st.sampled_from(MembershipType),
    st.sampled_from(["not_in_grouper", "removed_from_grouper", "inserted_by_us"]),
    st.booleans(),
    st.data(),
)
def test_an_asynchronous_full_sync_and_an_incremental_run_converge(
    campus: tuple[InMemorySource, list[tuple[str, str, bool]]],
    kind: MembershipType,
    policy: str,
    require_members: bool,
    data: st.DataObject,
) -> None:
    """What an asynchronous full sync asks for, recalculated, leaves nothing to change."""
    source, markers = campus
    if not markers:
        source.mark(FOLDERS[0], P, scope="sub")  # something to provision, most often
    target = InMemoryTarget(id_attributes={"group": "cn", "entity": "uid"})
    prov = Provisioner(_config(kind, policy, require_members), source, target, MemorySyncStore())
    assert prov.full_sync().status in {SyncStatus.SUCCESS, SyncStatus.WARNING}
    # Grouper drifts: a member of a provisioned group gone, one added, a marker removed.
    records = prov.store.load(P).records.values()
    snapshot = source.snapshot()
    names = {g.id: str(g.get("name")) for g in snapshot.groups}
    provisioned = sorted(
        str(r.grouper_id) for r in records if r.object_type is ObjectType.GROUP and r.in_target
    )
    synced = sorted(
        cast("tuple[str, str]", r.grouper_id)
        for r in records
        if r.object_type is ObjectType.MEMBERSHIP and r.in_target
    )
    if synced:
        group_id, entity_id = data.draw(st.sampled_from(synced))
        source.remove_member(names[group_id], entity_id.removeprefix("mem-"))
    subjects = sorted(str(e.get("subject_id")) for e in snapshot.entities)
    if provisioned and subjects:
        group = names[data.draw(st.sampled_from(provisioned))]
        source.add_member(group, data.draw(st.sampled_from(subjects)))  # perhaps one already
    if markers:
        unmark = data.draw(st.booleans())
        if unmark:
            source.unmark(markers[0][0], P)
    asked = prov.full_sync(asynchronous=True)
    assert "left for a synchronous full sync" not in asked.message  # every object has a record
    done = prov.incremental_sync()
    assert done.status in {SyncStatus.SUCCESS, SyncStatus.WARNING}, done.summary()
    after = prov.plan_full().plan
    assert after.empty, after.summary()
