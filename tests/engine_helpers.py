"""Run the engine end to end in tests: translate, read, compare, apply."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from grouperprov import (
    Action,
    ApplyResult,
    Comparison,
    ObjectType,
    ProvisionerConfig,
    ProvisioningEntity,
    ProvisioningGroup,
    ProvisioningMembership,
    SyncRecord,
    Translator,
    apply,
    compare,
    compute_behavior,
    read_target,
)
from grouperprov.abc import TargetDAO


def plan(
    config: ProvisionerConfig,
    target: TargetDAO,
    groups: Sequence[ProvisioningGroup],
    entities: Sequence[ProvisioningEntity],
    memberships: Sequence[ProvisioningMembership],
    **kwargs: Any,
) -> Comparison:
    translator = Translator(config)
    behavior = compute_behavior(config, target.capabilities())
    translation = translator.translate(groups, entities, memberships)
    return compare(translator, behavior, translation, read_target(target, behavior), **kwargs)


def sync(
    config: ProvisionerConfig,
    target: TargetDAO,
    groups: Sequence[ProvisioningGroup],
    entities: Sequence[ProvisioningEntity],
    memberships: Sequence[ProvisioningMembership],
    **kwargs: Any,
) -> tuple[Comparison, ApplyResult]:
    comparison = plan(config, target, groups, entities, memberships, **kwargs)
    behavior = compute_behavior(config, target.capabilities())
    return comparison, apply(comparison.plan, target, behavior)


def records_after(
    comparison: Comparison,
    result: ApplyResult,
    previous: Mapping[ObjectType, Mapping[Hashable, SyncRecord]] | None = None,
) -> dict[ObjectType, dict[Hashable, SyncRecord]]:
    """Sync records as a store would keep them after a run (until the store lands).

    Objects Grouper provisions and the target has are known to Grouper; what the
    run inserted is marked as inserted by us. Keyed by target id (membership
    values: by ``(owner id, value)``), as ``compare`` looks them up.
    """
    now = datetime.now(tz=UTC)
    records: dict[ObjectType, dict[Hashable, SyncRecord]] = {
        t: dict((previous or {}).get(t, {})) for t in ObjectType
    }
    for object_type, links in comparison.plan.links.items():
        for grouper_id, target_id in links.items():
            old = records[object_type].get(target_id)
            records[object_type][target_id] = SyncRecord(
                object_type=object_type,
                grouper_id=grouper_id,
                target_id=target_id,
                provisionable=True,
                provisionable_start=now,
                in_target=True,
                inserted_by_us=old.inserted_by_us if old else False,
            )
    for outcome in result.outcomes:
        change = outcome.change
        if change.action is not Action.INSERT or not outcome.ok:
            continue
        key: Hashable
        if change.value is not None:
            key = (change.owner_id, change.value)
        elif outcome.target_id is not None:
            key = outcome.target_id
        elif isinstance(outcome.stored, ProvisioningMembership):
            key = outcome.stored.id
        else:
            continue
        records[change.object_type][key] = SyncRecord(
            object_type=change.object_type,
            grouper_id=change.object_id,
            target_id=key,
            provisionable=True,
            provisionable_start=now,
            in_target=True,
            inserted_by_us=True,
        )
    return records
