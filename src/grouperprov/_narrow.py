"""Narrowing a full plan to some objects (diagnostics' writes, incremental recalcs)."""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Sequence
from typing import TYPE_CHECKING

import attrs

from ._behavior import compared_config
from ._compare import with_owner_values
from ._config import ObjectType, ProvisionerConfig
from ._failsafe import check_failsafe, only_groups, plan_stats
from ._plan import Action, Change, PlannedError
from ._records import SyncType
from ._translate import Translation, Translator

if TYPE_CHECKING:
    from ._provisioner import FullPlan


def per_value(changes: Iterable[Change], translation: Translation) -> tuple[Change, ...]:
    """*changes* with each new owner's values change split into one change per value.

    A run narrowed to some memberships keeps the values it concerns, not a
    whole new owner's list (see :func:`~grouperprov._compare.with_owner_values`).
    """
    return tuple(split for change in changes for split in with_owner_values(change, translation))


def _new_memberships(change: Change) -> Iterable[tuple[Hashable, Hashable]]:
    """The Grouper memberships a membership insert or update brings: its own, or its value's."""
    if change.object_type is not ObjectType.MEMBERSHIP or change.action is Action.DELETE:
        return ()
    pairs = change.memberships or ((change.object_id,) if change.value is None else ())
    return (p for p in pairs if isinstance(p, tuple))


def with_needed_inserts(changes: Sequence[Change], own: Iterable[Change]) -> tuple[Change, ...]:
    """*own*, with the group and entity inserts their new memberships need, in plan order."""
    kept = {id(c) for c in own}
    needed: set[tuple[ObjectType, Hashable]] = set()
    for change in changes:
        if id(change) in kept:
            for group_id, entity_id in _new_memberships(change):
                needed.add((ObjectType.GROUP, group_id))
                needed.add((ObjectType.ENTITY, entity_id))
    return tuple(
        c
        for c in changes
        if id(c) in kept or (c.action is Action.INSERT and (c.object_type, c.object_id) in needed)
    )


def narrowed(
    planned: FullPlan,
    config: ProvisionerConfig,
    changes: tuple[Change, ...],
    errors: tuple[PlannedError, ...] | None = None,
    *,
    sync_type: SyncType,
    groups_only: frozenset[str],
    entities_covered: frozenset[str] = frozenset(),
    memberships_covered: frozenset[tuple[str, str]] = frozenset(),
    failsafe_groups: Collection[str] | None = None,
) -> FullPlan:
    """*planned* with only *changes* (and *errors*), recorded as *sync_type* covering *groups_only*.

    *entities_covered* and *memberships_covered* are what the run covers
    besides those groups (what the records of the run may say of them).

    The failsafe is checked again on what is left, when the whole plan trips
    it and no earlier trip blocks the run: a part removes no more than the
    whole, so a whole that passes needs no second look. With *failsafe_groups*,
    the per-group rule looks at those groups only (a plan of part of the campus
    knows the true size of those alone).
    """
    plan = planned.plan
    plan = attrs.evolve(plan, changes=changes, errors=plan.errors if errors is None else errors)
    comparison = attrs.evolve(planned.comparison, plan=plan)
    failsafe = planned.failsafe
    if failsafe and not planned.blocked:
        translator = Translator(compared_config(config, planned.behavior.capabilities))
        stats = only_groups(plan_stats(comparison, translator), failsafe_groups)
        failsafe = check_failsafe(config.failsafe, stats)
    return attrs.evolve(
        planned,
        comparison=comparison,
        failsafe=failsafe,
        sync_type=sync_type,
        groups_only=groups_only,
        entities_covered=entities_covered,
        memberships_covered=memberships_covered,
    )
