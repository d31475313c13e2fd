"""What is provisionable: markers, scopes, opt-outs and filters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grouperprov import (
    GrouperSnapshot,
    MarkerScope,
    ProvisionableConfig,
    ProvisionerConfig,
    ProvisioningEntity,
    ProvisioningGroup,
    ProvisioningMarker,
    ProvisioningMembership,
    SyncErrorCode,
    provisionable_scope,
    resolve_marker,
)

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
