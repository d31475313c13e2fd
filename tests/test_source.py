"""What is provisionable: markers, scopes, opt-outs and filters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import pytest

from grouperprov import (
    GrouperSnapshot,
    MarkerScope,
    ProvisionableConfig,
    Provisioner,
    ProvisionerConfig,
    ProvisioningEntity,
    ProvisioningGroup,
    ProvisioningMarker,
    ProvisioningMembership,
    SyncErrorCode,
    SyncStatus,
    provisionable_scope,
    resolve_marker,
)
from grouperprov.exceptions import SourceError
from grouperprov.stores import MemorySyncStore
from grouperprov.testing import InMemorySource, InMemoryTarget

P = "campus-ldap"


def _config(**provisionable: Any) -> ProvisionerConfig:
    return ProvisionerConfig.from_dict(
        {
            "name": P,
            "groups": {"attributes": [{"name": "cn", "field": "extension"}], "matching": ["cn"]},
            "entities": {"operate": False},
            "memberships": {"operate": False},
            "provisionable": provisionable,
        }
    )


GROUP_NAMES = [
    "apps:ldap:staff",  # direct child of the marked folder
    "apps:ldap:courses:math101",  # grandchild
    "apps:ldap:private:secret",  # below an opt-out
    "apps:wiki:editors",  # outside the folder
    "other:direct",  # marked on the group itself
]


def _snapshot(markers: Mapping[str, tuple[ProvisioningMarker, ...]]) -> GrouperSnapshot:
    groups = tuple(
        ProvisioningGroup.from_grouper(f"g{i}", name) for i, name in enumerate(GROUP_NAMES)
    )
    entities = (
        ProvisioningEntity.from_grouper("m1", "jo", subject_source_id="ldap"),
        ProvisioningEntity.from_grouper("m2", "svc", subject_source_id="g:isa"),
    )
    memberships = tuple(
        ProvisioningMembership(group_id=g.id, entity_id=e.id) for g in groups[:2] for e in entities
    )
    return GrouperSnapshot(
        groups=groups, entities=entities, memberships=memberships, markers=markers
    )


def _sub(**kwargs: Any) -> ProvisioningMarker:
    return ProvisioningMarker(provisioner=P, scope=MarkerScope.SUB, **kwargs)


def test_a_folder_marked_sub_provisions_everything_below_and_nothing_outside() -> None:
    scope = provisionable_scope(
        _config(),
        _snapshot(
            {
                "apps:ldap": (_sub(metadata={"ou": "ldap"}),),
                "apps:ldap:private": (_sub(provisionable=False),),
                "other:direct": (ProvisioningMarker(provisioner=P),),
                "apps:wiki": (ProvisioningMarker(provisioner="another-provisioner"),),
                "apps:wiki:editors": (ProvisioningMarker(provisioner="another-provisioner"),),
            }
        ),
    )
    assert sorted(scope.groups) == ["g0", "g1", "g4"]
    assert scope.groups["g1"].marked_at == "apps:ldap"
    assert scope.groups["g4"].marked_at == "other:direct"
    assert scope.excluded == {
        "g2": "opted out by the marker on 'apps:ldap:private'",
        "g3": "no provisioning marker for this provisioner reaches it",
    }
    assert scope.metadata() == {"g0": {"ou": "ldap"}, "g1": {"ou": "ldap"}}
    assert sorted(scope.entities) == ["m1", "m2"]
    assert len(scope.memberships) == 4


def test_scope_one_stops_at_direct_children() -> None:
    marker = ProvisioningMarker(provisioner=P, scope=MarkerScope.ONE)
    scope = provisionable_scope(_config(), _snapshot({"apps:ldap": (marker,)}))
    assert sorted(scope.groups) == ["g0"]
    assert resolve_marker("apps:ldap:courses:math101", {"apps:ldap": (marker,)}, P) is None


def test_a_scope_given_as_text_is_that_scope() -> None:
    # Given as text, the scope was no member: a folder marked "one" provisioned
    # every group below it, as "sub" does, without a word.
    marker = ProvisioningMarker(provisioner=P, scope="one")
    assert marker.scope is MarkerScope.ONE
    scope = provisionable_scope(_config(), _snapshot({"apps:ldap": (marker,)}))
    assert sorted(scope.groups) == ["g0"]
    with pytest.raises(ValueError, match="'all' is not a valid MarkerScope"):
        ProvisioningMarker(provisioner=P, scope="all")


def test_an_opt_out_on_the_group_itself_wins() -> None:
    scope = provisionable_scope(
        _config(),
        _snapshot({"apps:ldap": (_sub(),), "apps:ldap:staff": (_sub(provisionable=False),)}),
    )
    assert sorted(scope.groups) == ["g1", "g2"]


def test_name_pattern_subject_sources_and_required_group_narrow_the_scope() -> None:
    markers = {"apps": (_sub(),)}
    scope = provisionable_scope(_config(group_name_pattern=r"apps:ldap:.*"), _snapshot(markers))
    assert sorted(scope.groups) == ["g0", "g1", "g2"]
    assert scope.excluded["g3"] == "its name does not match 'apps:ldap:.*'"
    scope = provisionable_scope(_config(subject_sources=["ldap"]), _snapshot(markers))
    assert sorted(scope.entities) == ["m1"]
    assert {m.entity_id for m in scope.memberships} == {"m1"}
    snapshot = _snapshot(markers)
    snapshot = GrouperSnapshot(
        groups=snapshot.groups,
        entities=snapshot.entities,
        memberships=(
            *snapshot.memberships[:1],
            ProvisioningMembership(group_id="g3", entity_id="m1"),
        ),
        markers=markers,
    )
    scope = provisionable_scope(_config(required_group="apps:wiki:editors"), snapshot)
    assert sorted(scope.entities) == ["m1"]


def test_groups_that_require_members_get_mem_when_empty() -> None:
    scope = provisionable_scope(
        _config(groups_require_members=True), _snapshot({"apps:ldap": (_sub(),)})
    )
    assert sorted(scope.groups) == ["g0", "g1"]
    assert {gid: e.code for gid, e in scope.errors.items()} == {"g2": SyncErrorCode.MEM}


def test_an_invalid_name_pattern_is_a_config_problem() -> None:
    config = ProvisionerConfig(name=P, provisionable=ProvisionableConfig(group_name_pattern="("))
    assert [p.path for p in config.problems()][-1] == "provisionable.group_name_pattern"


def _broken(**changes: Any) -> GrouperSnapshot:
    snapshot = _snapshot({"apps": (_sub(),)})
    return GrouperSnapshot(
        groups=changes.get("groups", snapshot.groups),
        entities=changes.get("entities", snapshot.entities),
        memberships=changes.get("memberships", snapshot.memberships),
        markers=snapshot.markers,
    )


_GOOD = _snapshot({})


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        (
            {"groups": (*_GOOD.groups, ProvisioningGroup.from_grouper("g0", "apps:ldap:again"))},
            "two or more group beans with the id 'g0'",
        ),
        (
            {"entities": (*_GOOD.entities, ProvisioningEntity.from_grouper("m1", "jo2"))},
            "two or more entity beans with the id 'm1'",
        ),
        (
            {"groups": (*_GOOD.groups, ProvisioningGroup(id="g9", attributes={}))},
            "group 'g9': its name is None, not a non-empty string",
        ),
        (
            {"groups": (*_GOOD.groups, ProvisioningGroup(id="g9", attributes={"name": 5}))},
            "group 'g9': its name is 5, not a non-empty string",
        ),
        (
            {"groups": (*_GOOD.groups, ProvisioningGroup.from_grouper("", "apps:x"))},
            "a group with an empty id",
        ),
        (
            {"memberships": (*_GOOD.memberships, ProvisioningMembership("g0", "m9"))},
            "membership ('g0', 'm9'): its entity 'm9' is not in the snapshot",
        ),
        # Found by a probe of misbehaving sources: these ended the run with an
        # AttributeError, or (an int id) were taken for other objects.
        (
            {"groups": (*_GOOD.groups, {"id": "g9"})},
            f"groups[{len(_GOOD.groups)}] is dict {{'id': 'g9'}}, not a ProvisioningGroup",
        ),
        (
            {"groups": (ProvisioningGroup(id=5, attributes={"name": "apps:x"}),)},  # type: ignore[arg-type]
            "groups[0]: its id is int 5, not text",
        ),
        (
            {"entities": (ProvisioningEntity(id=None, attributes={}),)},  # type: ignore[arg-type]
            "entities[0]: its id is NoneType None, not text",
        ),
        (
            {"memberships": (ProvisioningMembership("g0", 7),)},  # type: ignore[arg-type]
            "memberships[0]: its entity_id is int 7, not text",
        ),
        (
            {"memberships": (("g0", "m1"),)},
            "memberships[0] is tuple ('g0', 'm1'), not a ProvisioningMembership",
        ),
        # An id with a lone surrogate (JSON's "\ud800" makes one) is no store's
        # key: the save of the run's records failed, in every run.
        (
            {"groups": (ProvisioningGroup(id="g\ud800", attributes={"name": "apps:x"}),)},
            "groups[0]: its id 'g\\ud800' has a lone surrogate, which no store can keep",
        ),
        (
            {"memberships": (ProvisioningMembership("g0", "m\udcff"),)},
            "memberships[0]: its entity_id 'm\\udcff' has a lone surrogate",
        ),
    ],
)
def test_a_snapshot_that_breaks_the_source_contract_is_refused_naming_each_problem(
    changes: dict[str, Any], problem: str
) -> None:
    # Found by feeding odd snapshots: duplicates and dangling memberships were
    # dropped without a word, and a name that was not a string ended the run
    # with a bare TypeError or ValueError.
    with pytest.raises(SourceError, match="breaks its contract") as caught:
        provisionable_scope(_config(), _broken(**changes))
    assert problem in str(caught.value)
    assert "nothing was planned" in str(caught.value)


def test_a_source_error_lists_twenty_problems_and_counts_the_rest() -> None:
    extra = tuple(ProvisioningGroup(id=f"x{i}", attributes={}) for i in range(25))
    with pytest.raises(SourceError, match=r"\(25 problems\)") as caught:
        provisionable_scope(_config(), _broken(groups=(*_GOOD.groups, *extra)))
    assert str(caught.value).count("its name is None") == 20
    assert str(caught.value).endswith("... and 5 more")


def _synced_staff() -> tuple[InMemorySource, InMemoryTarget, Provisioner]:
    """apps:ldap:staff with jo as its member, synced once to an in-memory target."""
    source = InMemorySource()
    source.add_subject("jo")
    source.add_group("apps:ldap:staff")
    source.add_member("apps:ldap:staff", "jo")
    source.mark("apps", P, scope="sub")
    config = ProvisionerConfig.from_dict(
        {
            "name": P,
            "groups": {"attributes": [{"name": "cn", "field": "name"}], "matching": ["cn"]},
            "entities": {"operate": False},
            "memberships": {
                "type": "group_attributes",
                "attribute": {"name": "member", "field": "subject_id"},
            },
        }
    )
    target = InMemoryTarget()
    prov = Provisioner(config, source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    return source, target, prov


def test_a_provisioner_refuses_a_broken_snapshot_before_it_changes_anything() -> None:
    source, target, prov = _synced_staff()
    broken = source.snapshot()
    source.snapshot = lambda: attrs.evolve(  # type: ignore[method-assign]  # a broken source
        broken, groups=(*broken.groups, ProvisioningGroup(id="g9", attributes={"name": 5}))
    )
    before = target.retrieve_all_groups()
    with pytest.raises(SourceError, match="group 'g9'"):
        prov.plan_full()
    prov.request_sync(full=True, requested_by="test")
    for result in (prov.full_sync(), prov.incremental_sync()):
        assert result.status is SyncStatus.SOURCE_ERROR
        assert result.message is not None
        assert "group 'g9': its name is 5" in result.message
    assert target.retrieve_all_groups() == before
    # Nothing was saved: the request is carried out by the next run.
    assert len(prov.store.controls(P)) == 1


def test_a_snapshot_given_generators_keeps_every_bean() -> None:
    """A source that builds its snapshot from generators loses no member.

    Before, the contract check used the memberships generator up, the plan
    saw none, and the full sync removed every member from the target.
    """
    source, target, prov = _synced_staff()
    whole = source.snapshot()
    source.snapshot = lambda: GrouperSnapshot(  # type: ignore[method-assign]  # a source of generators
        groups=(g for g in whole.groups),
        entities=(e for e in whole.entities),
        memberships=(m for m in whole.memberships),
        markers=whole.markers,
    )
    assert prov.plan_full().plan.changes == ()
    assert prov.full_sync().status is SyncStatus.SUCCESS
    (staff,) = target.retrieve_all_groups()
    assert staff.values("member") == {"jo"}
    listed = GrouperSnapshot(groups=list(whole.groups), memberships=list(whole.memberships))
    assert (type(listed.groups), type(listed.memberships)) == (tuple, tuple)
    assert hash(listed) == hash(GrouperSnapshot(groups=whole.groups, memberships=whole.memberships))


def test_an_incremental_add_refuses_a_group_the_source_reads_back_without_a_name() -> None:
    source, target, prov = _synced_staff()
    source.add_subject("al")
    seen = len(source.events(0))
    source.add_member("apps:ldap:staff", "al")
    read = source.retrieve_groups
    source.retrieve_groups = lambda ids: [  # type: ignore[method-assign]  # a broken source
        ProvisioningGroup(id=g.id, attributes={}) for g in read(ids)
    ]
    result = prov.incremental_sync(source.events(seen))
    assert result.status is SyncStatus.SOURCE_ERROR
    assert result.message is not None
    assert "its name is None" in result.message
    assert target.retrieve_all_groups()[0].values("member") == {"jo"}


def test_memberships_of_groups_the_source_leaves_out_are_not_provisioned_nor_refused() -> None:
    # A source may read only the groups it provisions, and every membership.
    outside = ProvisioningMembership("g-outside", "m-unknown")
    scope = provisionable_scope(_config(), _broken(memberships=(*_GOOD.memberships, outside)))
    assert outside not in scope.memberships
    assert len(scope.memberships) == len(_GOOD.memberships)


def test_a_member_the_source_leaves_out_is_not_removed_from_the_target() -> None:
    # Before SourceError, such a member was taken for one Grouper does not
    # have, and removed from the group in the target.
    source, target, prov = _synced_staff()
    broken = source.snapshot()
    source.snapshot = lambda: attrs.evolve(broken, entities=())  # type: ignore[method-assign]  # a broken source
    result = prov.full_sync()
    assert result.status is SyncStatus.SOURCE_ERROR
    assert result.message is not None
    assert "its entity 'mem-jo' is not in the snapshot" in result.message
    assert target.retrieve_all_groups()[0].values("member") == {"jo"}


def test_markers_take_a_lone_marker_and_refuse_what_is_not_one() -> None:
    # A lone marker for a name was iterated, and the run failed with a TypeError.
    marker = ProvisioningMarker(provisioner=P)
    snapshot = GrouperSnapshot(
        groups=_GOOD.groups,
        entities=_GOOD.entities,
        memberships=_GOOD.memberships,
        markers={"apps": marker},  # a lone marker
    )
    assert snapshot.markers == {"apps": (marker,)}
    assert provisionable_scope(_config(), snapshot).groups
    wrong = attrs.evolve(snapshot, markers={"apps": P, "other": [marker, {"x": 1}]})  # type: ignore[dict-item, list-item]  # a broken source
    with pytest.raises(SourceError) as caught:
        provisionable_scope(_config(), wrong)
    assert f"markers['apps']: str '{P}' is not a ProvisioningMarker" in str(caught.value)
    assert "markers['other']: dict {'x': 1} is not a ProvisioningMarker" in str(caught.value)
    with pytest.raises(TypeError, match=r"GrouperSnapshot.markers is tuple \('apps',\); it maps"):
        GrouperSnapshot(markers=("apps",))  # type: ignore[arg-type]
