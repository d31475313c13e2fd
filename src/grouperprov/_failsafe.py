"""The failsafe: thresholds checked on a plan before anything is written.

A bad day in Grouper (a loader emptying a group, a folder marker removed by
mistake) must not empty a directory. :func:`plan_stats` measures what a plan
would remove; :func:`check_failsafe` compares that with the configured
thresholds and says, in words, every one that trips.

With the ``entity_attributes`` membership type only the share of groups removed
is measured (a removed value belongs to an entity, not to a group).
"""

from __future__ import annotations

import itertools
import operator
from collections import Counter
from collections.abc import Collection, Hashable, Mapping
from typing import cast

import attrs

from ._compare import Comparison
from ._config import FailsafeConfig, MembershipType, ObjectType
from ._plan import Action
from ._translate import Translator

__all__ = ["PlanStats", "check_failsafe", "plan_stats"]


@attrs.frozen(kw_only=True)
class PlanStats:
    """What a plan removes, measured against what the target holds.

    Attributes:
        group_members: Members in the target now, per managed group (Grouper id).
        members_removed: Members the plan removes, per group (Grouper id).
        managed_groups: Groups in the target that are or were managed.
        groups_removed: Groups the plan deletes.
        memberships_total: Memberships of managed groups in the target now.
        memberships_removed: Memberships the plan removes.
        group_names: Grouper names of the groups, by id (for messages).
    """

    group_members: Mapping[str, int]
    members_removed: Mapping[str, int]
    managed_groups: int
    groups_removed: int
    memberships_total: int
    memberships_removed: int
    group_names: Mapping[str, str] = attrs.field(factory=dict)


_FIRST = operator.itemgetter(0)


def plan_stats(
    comparison: Comparison, translator: Translator, *, groups: Collection[str] | None = None
) -> PlanStats:
    """Measure what the plan of *comparison* removes.

    With *groups*, only those groups' members are counted (the others count
    as having none): a recalc checks the per-group rule on the groups it read
    whole, and reads many groups for their members' sake.
    """
    plan = comparison.plan
    links = plan.links.get(ObjectType.GROUP, {})
    group_of = {target_id: gid for gid, target_id in links.items()}
    members: dict[str, int] = {}
    removed: Counter[str] = Counter()
    kind = translator.membership_type
    if kind is MembershipType.GROUP_ATTRIBUTES and translator.membership_attribute:
        name = translator.membership_attribute
        for gid in links if groups is None else (g for g in links if g in groups):
            wrapper = comparison.wrappers[ObjectType.GROUP].get(gid)
            target = wrapper.target if wrapper else None
            members[gid] = (
                len(translator.value_map(ObjectType.GROUP, name, target.get(name))) if target else 0
            )
    elif kind is MembershipType.MEMBERSHIP_OBJECTS and ObjectType.MEMBERSHIP in comparison.matches:
        # The target's membership objects: paired or extra (those set aside by
        # matching are neither). Their ids are (target group id, target entity id).
        result = comparison.matches[ObjectType.MEMBERSHIP]
        target_ids = list(itertools.chain(result.pairs.values(), result.unmatched_target))
        if set(map(type, target_ids)) <= {tuple}:
            # The usual case, counted in C: every id is a (group, entity) pair.
            per_target_group = Counter(map(_FIRST, cast("list[tuple[Hashable, ...]]", target_ids)))
        else:
            per_target_group = Counter(
                target_id[0] for target_id in target_ids if isinstance(target_id, tuple)
            )
        for target_group, count in per_target_group.items():
            owner = group_of.get(target_group)
            if owner is not None and (groups is None or owner in groups):
                members[owner] = count
    for change in plan.changes:
        # With entity_attributes a removal's owner is an entity: the per-group
        # and membership rules cannot be measured from the plan alone.
        if (
            change.object_type is not ObjectType.MEMBERSHIP
            or kind is MembershipType.ENTITY_ATTRIBUTES
        ):
            continue
        if change.action is Action.DELETE:
            owner = change.owner_id
            if owner is None and change.bean is not None and not isinstance(change.bean.id, str):
                owner = group_of.get(change.bean.id[0])
            if owner is not None:
                removed[owner] += 1
        elif change.action is Action.REPLACE and change.owner_id is not None:
            now = members.get(change.owner_id, 0)
            after = len(change.replacement) or sum(
                len(c.values()) for c in change.attribute_changes
            )
            removed[change.owner_id] += max(0, now - after)
    groups_removed = sum(
        1 for c in plan.changes if c.object_type is ObjectType.GROUP and c.action is Action.DELETE
    )
    return PlanStats(
        group_members=members,
        members_removed=dict(removed),
        managed_groups=len(links) + groups_removed,
        groups_removed=groups_removed,
        memberships_total=sum(members.values()),
        memberships_removed=sum(removed.values()),
        group_names={
            gid: str(w.grouper.get("name"))
            for gid, w in comparison.wrappers[ObjectType.GROUP].items()
            if isinstance(gid, str) and w.grouper is not None and gid in removed
        },
    )


def _percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def only_groups(stats: PlanStats, groups: Collection[str] | None) -> PlanStats:
    """*stats* with the per-group figures of *groups* only (``None``: all of them)."""
    if groups is None:
        return stats
    wanted = set(groups)
    return attrs.evolve(
        stats, members_removed={g: n for g, n in stats.members_removed.items() if g in wanted}
    )


def check_failsafe(config: FailsafeConfig, stats: PlanStats) -> tuple[str, ...]:
    """Every threshold *stats* passes, in words; empty when the plan may go ahead."""
    reasons: list[str] = []
    limit = config.max_group_percent_removed
    if limit is not None:
        for gid, count in sorted(stats.members_removed.items()):
            size = stats.group_members.get(gid, 0)
            if size >= config.min_group_size and size and _percent(count, size) > limit:
                name = stats.group_names.get(gid)
                label = f"{name!r} ({gid})" if name else repr(gid)
                reasons.append(
                    f"group {label} would lose {count} of its {size} members "
                    f"({_percent(count, size):.0f}%), more than max_group_percent_removed "
                    f"= {limit:g}%"
                )
    if stats.managed_groups >= config.min_managed_groups:
        limit = config.max_percent_groups_removed
        share = _percent(stats.groups_removed, stats.managed_groups)
        if limit is not None and share > limit:
            reasons.append(
                f"{stats.groups_removed} of {stats.managed_groups} managed groups would be "
                f"deleted ({share:.0f}%), more than max_percent_groups_removed = {limit:g}%"
            )
        limit = config.max_percent_memberships_removed
        share = _percent(stats.memberships_removed, stats.memberships_total)
        if limit is not None and share > limit:
            reasons.append(
                f"{stats.memberships_removed} of {stats.memberships_total} memberships would "
                f"be removed ({share:.0f}%), more than max_percent_memberships_removed "
                f"= {limit:g}%"
            )
    return tuple(reasons)
