from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from grouperprov import (
    Comparison,
    FailsafeConfig,
    MatchResult,
    ObjectType,
    Operation,
    Plan,
    PlanStats,
    Provisioner,
    ProvisionerConfig,
    SyncStatus,
    Translator,
    check_failsafe,
    plan_stats,
)
from grouperprov.testing import InMemorySource, InMemoryTarget

P = "sql"


def _stats(**overrides: Any) -> PlanStats:
    data: dict[str, Any] = {
        "group_members": {"g1": 10, "g2": 3},
        "members_removed": {"g1": 5, "g2": 2},
        "managed_groups": 4,
        "groups_removed": 2,
        "memberships_total": 13,
        "memberships_removed": 7,
    }
    data.update(overrides)
    return PlanStats(**data)


def test_per_group_rule_respects_min_group_size() -> None:
    config = FailsafeConfig(max_group_percent_removed=20, min_group_size=5)
    assert check_failsafe(config, _stats()) == (
        (
            "group 'g1' would lose 5 of its 10 members (50%), more than "
            "max_group_percent_removed = 20%"
        ),
    )
    assert check_failsafe(FailsafeConfig(max_group_percent_removed=60), _stats()) == (
        "group 'g2' would lose 2 of its 3 members (67%), more than max_group_percent_removed = 60%",
    )


def test_overall_rules_apply_from_min_managed_groups() -> None:
    config = FailsafeConfig(
        max_percent_groups_removed=25, max_percent_memberships_removed=50, min_managed_groups=4
    )
    assert check_failsafe(config, _stats()) == (
        "2 of 4 managed groups would be deleted (50%), more than max_percent_groups_removed = 25%",
        (
            "7 of 13 memberships would be removed (54%), more than "
            "max_percent_memberships_removed = 50%"
        ),
    )
    assert check_failsafe(config, _stats(managed_groups=3)) == ()
    assert check_failsafe(FailsafeConfig(), _stats()) == ()


def _membership_objects(**overrides: Any) -> ProvisionerConfig:
    data: dict[str, Any] = {
        "name": P,
        "groups": {"attributes": [{"name": "cn", "field": "extension"}], "matching": ["cn"]},
        "entities": {"operate": False},
        "memberships": {
            "attributes": [
                {"name": "group", "field": "group.extension"},
                {"name": "user", "field": "entity.subject_id"},
            ],
            "matching": [["group", "user"]],
            "delete_policy": "not_in_grouper",
        },
        "failsafe": {"max_group_percent_removed": 30},
    }
    data.update(overrides)
    return ProvisionerConfig.from_dict(data)


def _source() -> InMemorySource:
    source = InMemorySource()
    source.add_group("apps:sql:team")
    for i in range(4):
        source.add_subject(f"u{i}")
        source.add_member("apps:sql:team", f"u{i}")
    source.mark("apps:sql", P)
    return source


def test_membership_objects_removed_are_counted_per_group() -> None:
    source = _source()
    target = InMemoryTarget(id_attributes={"group": "cn"})
    prov = Provisioner(_membership_objects(), source, target)
    prov.full_sync()
    assert len(target.memberships) == 4
    source.remove_member("apps:sql:team", "u0")
    source.remove_member("apps:sql:team", "u1")
    result = prov.full_sync()
    assert result.status is SyncStatus.ERROR_FAILSAFE
    assert result.failsafe == (
        (
            "group 'apps:sql:team' (grp-00001) would lose 2 of its 4 members (50%), more than "
            "max_group_percent_removed = 30%"
        ),
    )


def test_replaced_membership_lists_count_what_they_drop() -> None:
    source = _source()
    target = InMemoryTarget(
        id_attributes={"group": "cn"},
        operations=set(Operation)
        - {
            Operation.INSERT_MEMBERSHIP,
            Operation.INSERT_MEMBERSHIPS,
            Operation.DELETE_MEMBERSHIP,
            Operation.DELETE_MEMBERSHIPS,
        },
    )
    prov = Provisioner(_membership_objects(), source, target)
    prov.full_sync()
    for i in range(3):
        source.remove_member("apps:sql:team", f"u{i}")
    result = prov.full_sync()
    assert result.failsafe == (
        (
            "group 'apps:sql:team' (grp-00001) would lose 3 of its 4 members (75%), more than "
            "max_group_percent_removed = 30%"
        ),
    )


def _group_attributes(**extra: Any) -> ProvisionerConfig:
    """Member uids on groups, entities not operated; *extra* settings of memberships or top."""
    memberships: dict[str, Any] = {
        "type": "group_attributes",
        "attribute": {"name": "member", "field": "subject_id"},
        **extra.pop("memberships", {}),
    }
    return ProvisionerConfig.from_dict(
        {
            "name": P,
            "groups": {"attributes": [{"name": "cn", "field": "extension"}], "matching": ["cn"]},
            "entities": {"operate": False},
            "memberships": memberships,
            **extra,
        }
    )


def test_group_attributes_replace_counts_what_it_drops() -> None:
    source = _source()
    config = _group_attributes(
        memberships={"delete_policy": "not_in_grouper"},
        failsafe={"max_group_percent_removed": 30},
    )
    target = InMemoryTarget(id_attributes={"group": "cn"}, value_changes=False)
    prov = Provisioner(config, source, target)
    prov.full_sync()
    source.remove_member("apps:sql:team", "u0")
    source.remove_member("apps:sql:team", "u1")
    assert prov.full_sync().status is SyncStatus.ERROR_FAILSAFE


def test_membership_objects_with_opaque_target_ids_are_not_counted_per_group() -> None:
    # A target whose membership objects have ids of their own (a row id, say)
    # says nothing of their group in the id: only (group, entity) pairs count.
    translator = Translator(_membership_objects())
    match = MatchResult[Hashable, Hashable](
        pairs={("g1", "u1"): ("T1", "U1"), ("g1", "u2"): "row-7"},
        matched_by={},
        unmatched_translated=(),
        unmatched_target=(("T1", "U3"), "row-9"),
        errors={},
        set_aside={},
    )
    comparison = Comparison(
        plan=Plan(provisioner=P, links={ObjectType.GROUP: {"g1": "T1"}}),
        wrappers={t: {} for t in ObjectType},
        matches={ObjectType.MEMBERSHIP: match},
    )
    assert plan_stats(comparison, translator).group_members == {"g1": 2}
    assert plan_stats(comparison, translator, groups=()).group_members == {}


def test_members_are_counted_of_the_groups_asked_for_only() -> None:
    source = _source()
    config = _group_attributes()
    prov = Provisioner(config, source, InMemoryTarget(id_attributes={"group": "cn"}))
    prov.full_sync()
    comparison, translator = prov.plan_full().comparison, Translator(config)
    (team,) = comparison.plan.links[ObjectType.GROUP]
    assert plan_stats(comparison, translator).group_members == {team: 4}
    assert plan_stats(comparison, translator, groups={team}).group_members == {team: 4}
    assert plan_stats(comparison, translator, groups=()).group_members == {}
