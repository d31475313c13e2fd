"""Carrying out an incremental run (see :mod:`grouperprov._incremental` for the rules)."""

from __future__ import annotations

import time
from collections.abc import Collection, Hashable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from ._apply import apply
from ._beans import ProvisioningEntity
from ._behavior import Behavior, compared_config, compute_behavior
from ._codes import ObjectError
from ._config import MembershipType, ObjectType, ProvisionerConfig
from ._events import (
    ChangeEvent,
    CoalescedMembership,
    ControlMessage,
    MembershipAction,
    RejectedEvent,
)
from ._incremental import (
    IncrementalSummary,
    Work,
    classify,
    concerns,
    keys_of,
    non_recalc_changes,
)
from ._links import link_records
from ._narrow import narrowed, per_value, with_needed_inserts
from ._plan import Action, Change, Plan, PlannedError
from ._recalc_reads import entities_play_a_part, read_part
from ._records import SyncRecord, SyncType, error_fields, replaced
from ._source import check_read, read_entities, read_groups
from ._store import SyncState
from ._target import capabilities_of
from ._translate import Translator
from .exceptions import ConfigError

if TYPE_CHECKING:
    from ._provisioner import FullPlan, Provisioner, SyncResult, _Queue

Key = tuple[ObjectType, Hashable]


def run_incremental(
    p: Provisioner, events: Sequence[ChangeEvent], rejected: Sequence[RejectedEvent]
) -> SyncResult:
    """One incremental run, holding the job lease."""
    from ._provisioner import (  # noqa: PLC0415  # import cycle
        _STOPPING,
        SyncResult,
        SyncStatus,
        _Queue,
        _stopped_by,
    )

    start = time.perf_counter()
    name = p.config.name
    now = p.clock()
    asked = keys_of(events, entities=entities_play_a_part(p.config))
    state = p.store.load_records(name, asked)
    failsafe = state.provisioner.failsafe
    if failsafe is not None and failsafe.blocking:
        return SyncResult(
            provisioner=name,
            sync_type=SyncType.INCREMENTAL,
            status=SyncStatus.ERROR_FAILSAFE,
            failsafe=failsafe.reasons,
            message="blocked by an earlier failsafe trip that is not approved; "
            "no event was processed",
        )
    try:
        behavior = compute_behavior(p.config, capabilities_of(p.target))
    except ConfigError as exc:
        return _stopped_by(name, SyncType.INCREMENTAL, exc)
    controls = tuple(p.store.controls(name))
    work = classify(
        p.config,
        behavior,
        events,
        state,
        controls=controls,
        errors=p.store.error_records(name),
        dependencies=_dependencies(p, events),
        now=now,
    )
    queue = _Queue(
        last_sequence=_last(work, rejected, state),
        rejected=tuple(rejected),
        controls=controls,
    )
    try:
        if work.full is not None:
            summary = _summary(work, events, rejected, controls)
            planned = p._plan(None)  # noqa: SLF001  # same package
            result = p._apply(  # noqa: SLF001  # same package
                planned, dry_run=False, queue=attrs.evolve(queue, summary=summary)
            )
            return attrs.evolve(result, incremental=summary)
        if not work.recalc:
            # Membership actions as they are, or nothing but the queue to save.
            done = _non_recalc(p, behavior, work, state, queue, events, now=now, start=start)
            if done is not None:
                return done
        return _recalc(p, behavior, work, queue, events, rejected, known=(asked, state))
    except _STOPPING as exc:
        # Before the records and the queue are saved: no event is marked processed.
        # A ConfigError here is a target's check of its own settings (SqlTarget's tables).
        return _stopped_by(name, SyncType.INCREMENTAL, exc)


def _dependencies(p: Provisioner, events: Sequence[ChangeEvent]) -> set[str]:
    """The ids of the groups among *events'* that entities depend on (the required group).

    An event names its group when Grouper's message does; the groups of the
    membership events that do not are read from the source, in one call.
    """
    required = p.config.provisionable.required_group
    if required is None:
        return set()
    found = {e.group_id for e in events if e.group_id and e.group_name == required}
    unnamed = {
        e.group_id for e in events if e.group_id and e.group_name is None and e.member_id
    } - found
    if unnamed:
        groups = read_groups(p.source, sorted(unnamed))
        found.update(g.id for g in groups if g.get("name") == required)
    return found


def _last(work: Work, rejected: Sequence[RejectedEvent], state: SyncState) -> int | None:
    numbers = [n for n in (work.last_sequence, state.provisioner.last_sequence) if n is not None]
    numbers += [r.sequence for r in rejected if r.sequence is not None]
    return max(numbers, default=None)


def _summary(
    work: Work,
    events: Sequence[ChangeEvent],
    rejected: Sequence[RejectedEvent],
    controls: Sequence[ControlMessage],
    *,
    non_recalc: int = 0,
) -> IncrementalSummary:
    return IncrementalSummary(
        received=len(events) + len(rejected),
        rejected=len(rejected),
        dropped=dict(work.dropped),
        non_recalc=non_recalc,
        recalc_groups=tuple(sorted(work.groups)),
        recalc_entities=tuple(sorted(work.entities)),
        recalc_memberships=tuple(sorted(work.memberships)),
        group_syncs=tuple(work.group_syncs),
        full_sync=work.full,
        retried=work.retried,
        controls=tuple(m.id for m in controls),
        last_sequence=work.last_sequence,
    )


def _non_recalc(  # noqa: PLR0917  # the pieces of one step
    p: Provisioner,
    behavior: Behavior,
    work: Work,
    state: SyncState,
    queue: _Queue,
    events: Sequence[ChangeEvent],
    *,
    now: datetime,
    start: float,
) -> SyncResult | None:
    """Apply the batch's membership actions as they are; ``None`` if some need a recalc."""
    from ._provisioner import SyncResult  # noqa: PLC0415  # import cycle

    adds = [item for item, action in work.non_recalc if action is MembershipAction.ADD]
    groups = (
        {g.id: g for g in read_groups(p.source, sorted({i.group_id for i in adds}))} if adds else {}
    )
    entities = (
        {e.id: e for e in read_entities(p.source, sorted({i.member_id for i in adds}))}
        if adds
        else {}
    )
    check_read(list(groups.values()), list(entities.values()))
    if p.config.subject_link is not None and entities:
        unlinked = _with_cached_links(p, state, entities)
        if unlinked:
            # No link cached yet: the recalc resolves it, and keeps it in the record.
            work.memberships.update(
                (i.group_id, i.member_id) for i in adds if i.member_id in unlinked
            )
            return None
    translator = Translator(compared_config(p.config, behavior.capabilities))
    changes, errors, recalc = non_recalc_changes(
        p.config, translator, work.non_recalc, state.records, groups, entities
    )
    if recalc:
        # Grouper disagrees with an event (its group or subject is gone): read both sides.
        work.memberships.update(recalc)
        return None
    links = {
        object_type: {
            str(k[1]): str(r.target_id)
            for k, r in state.records.items()
            if k[0] is object_type and r.target_id is not None
        }
        for object_type in (ObjectType.GROUP, ObjectType.ENTITY)
    }
    plan = Plan(provisioner=p.config.name, changes=tuple(changes), links=links)
    p._check_lease()  # noqa: SLF001  # same package
    result = apply(plan, p.target, behavior)
    by_pair = {(i.group_id, i.member_id): (i, a) for i, a in work.non_recalc}
    failed = result.object_errors()
    object_errors: dict[Key, ObjectError] = {
        (ObjectType.MEMBERSHIP, k): e for k, e in errors.items()
    }
    object_errors.update(failed)
    records = _non_recalc_records(p, state, result.outcomes, by_pair, object_errors, now)
    records += link_records(p.config, p.store, records, now)
    status = p._status(object_errors)  # noqa: SLF001  # same package
    p._log_errors(object_errors)  # noqa: SLF001  # same package
    summary = _summary(
        work, events, queue.rejected, queue.controls, non_recalc=len(work.non_recalc)
    )
    record = attrs.evolve(
        state.provisioner,
        last_run={**state.provisioner.last_run, SyncType.INCREMENTAL: now},
        last_sequence=queue.last_sequence,
    )
    p._check_lease()  # noqa: SLF001  # same package
    p.store.save(
        record,
        records,
        log=p._log(status, now, f"{len(result.outcomes)} changes; {summary}", SyncType.INCREMENTAL),  # noqa: SLF001  # same package
        rejected=queue.rejected,
        acknowledged=queue.acknowledged(status, now),
    )
    return SyncResult(
        provisioner=p.config.name,
        sync_type=SyncType.INCREMENTAL,
        status=status,
        plan=plan,
        outcomes=result.outcomes,
        errors=object_errors,
        timings={"incremental": time.perf_counter() - start},
        incremental=summary,
    )


def _with_cached_links(
    p: Provisioner, state: SyncState, entities: dict[str, ProvisioningEntity]
) -> set[str]:
    """Give *entities* (in place) the subject links their records cache; the ids that have none.

    A membership's value may be its member's subject link (``field =
    "subject_link"``); read from the source, the member has none. Applied
    as they were, every added membership got REQ ("the member gives no
    membership value"), also for members whose link was cached. The records
    the run read already (*state*: entity records, when entities play a
    part) are not read again.
    """
    assert p.config.subject_link is not None  # noqa: S101  # the caller checked
    attribute = p.config.subject_link.attribute
    keys: list[Key] = [(ObjectType.ENTITY, eid) for eid in sorted(entities)]
    missing = [k for k in keys if k not in state.records]
    loaded = p.store.load_records(p.config.name, missing).records if missing else {}
    unlinked: set[str] = set()
    for eid, bean in entities.items():
        key: Key = (ObjectType.ENTITY, eid)
        record = state.records.get(key) or loaded.get(key)
        link = record.subject_link if record is not None else None
        if link is None:
            unlinked.add(eid)
        else:
            entities[eid] = bean.with_attributes({attribute: link})
    return unlinked


def _non_recalc_records(  # noqa: PLR0917  # the pieces of one step
    p: Provisioner,
    state: SyncState,
    outcomes: Sequence[object],
    by_pair: dict[tuple[str, str], tuple[CoalescedMembership, MembershipAction]],
    errors: dict[Key, ObjectError],
    now: datetime,
) -> list[SyncRecord]:
    kind = p.config.memberships.type
    out: dict[Key, SyncRecord] = {}
    for outcome in outcomes:
        change: Change = outcome.change  # type: ignore[attr-defined]  # a ChangeOutcome
        if not outcome.ok:  # type: ignore[attr-defined]  # a ChangeOutcome
            continue
        for pair in change.memberships:
            item, action = by_pair[pair]
            key: Key = (ObjectType.MEMBERSHIP, pair)
            when = item.last.occurred
            found = state.records.get(key)
            if found is None and action is MembershipAction.ADD:
                # A membership new to the records (most adds): built at once.
                out[key] = SyncRecord(
                    object_type=ObjectType.MEMBERSHIP,
                    grouper_id=pair,
                    target_id=_target_id(kind, state, change, outcome, pair),
                    provisionable=True,
                    provisionable_start=when,
                    in_target=True,
                    in_target_start=now,
                    inserted_by_us=True,
                    last_sync=when,
                )
                continue
            old = found or SyncRecord(object_type=ObjectType.MEMBERSHIP, grouper_id=pair)
            if action is MembershipAction.ADD:
                out[key] = replaced(
                    old,
                    target_id=_target_id(kind, state, change, outcome, pair),
                    provisionable=True,
                    provisionable_start=old.provisionable_start
                    if old.provisionable and old.provisionable_start
                    else when,
                    provisionable_end=None,
                    in_target=True,
                    in_target_start=now,
                    inserted_by_us=True,
                    last_sync=when,
                    **error_fields(old, None, now),
                )
            else:
                out[key] = replaced(
                    old,
                    provisionable=False,
                    provisionable_end=when,
                    in_target=False,
                    in_target_end=now,
                    last_sync=when,
                    **error_fields(old, None, now),
                )
    for key, error in errors.items():
        old = state.records.get(key) or SyncRecord(object_type=key[0], grouper_id=key[1])
        item, action = by_pair[key[1]]  # type: ignore[index]  # a membership pair
        out[key] = replaced(
            old,
            provisionable=action is MembershipAction.ADD or old.provisionable,
            provisionable_start=old.provisionable_start or item.last.occurred,
            last_sync=now,
            **error_fields(old, error, now),
        )
    return list(out.values())


def _target_id(
    kind: MembershipType,
    state: SyncState,
    change: Change,
    outcome: object,
    pair: tuple[str, str],
) -> Hashable:
    if kind is not MembershipType.MEMBERSHIP_OBJECTS:
        return (change.owner_id, change.value)
    stored = outcome.stored  # type: ignore[attr-defined]  # a ChangeOutcome
    if stored is not None:
        return stored.id  # type: ignore[no-any-return]  # a membership's id
    group = state.records.get((ObjectType.GROUP, pair[0]))
    entity = state.records.get((ObjectType.ENTITY, pair[1]))
    return (
        group.target_id if group is not None and group.target_id is not None else pair[0],
        entity.target_id if entity is not None and entity.target_id is not None else pair[1],
    )


def _recalc(  # noqa: PLR0917  # the pieces of one step
    p: Provisioner,
    behavior: Behavior,
    work: Work,
    queue: _Queue,
    events: Sequence[ChangeEvent],
    rejected: Sequence[RejectedEvent],
    *,
    known: tuple[Collection[Key], SyncState],
) -> SyncResult:
    """Recalculate: plan from a fresh read of both sides, narrowed to the objects concerned.

    Only the part of both sides the objects concerned need is read, when the
    source and the target can (see :mod:`grouperprov._recalc_reads`); else
    both are read in full. *known* holds the keys whose records the
    classification read, and those records, which the targeted reads do not
    read again.
    """
    from ._provisioner import _recorded_part  # noqa: PLC0415  # import cycle

    # Both sides are read anyway: the batch's other membership actions are
    # recalculated too, which is never wrong.
    work.memberships.update((i.group_id, i.member_id) for i, _ in work.non_recalc)
    work.non_recalc.clear()

    def widen(w: Work, state: SyncState) -> None:
        _widen(
            w,
            state,
            entities=behavior.entities.delete.on,
            groups=p.config.provisionable.groups_require_members,
        )

    for round_ in range(_INSERT_ROUNDS):
        part = read_part(p, behavior, work, widen, known=known)
        config = p.config
        if part is not None:
            # Campus-wide shares cannot be measured on a part: the per-group rule only.
            config = attrs.evolve(
                config,
                failsafe=attrs.evolve(
                    config.failsafe,
                    max_percent_groups_removed=None,
                    max_percent_memberships_removed=None,
                ),
            )
            planned = p._plan(  # noqa: SLF001  # same package
                None,
                part.snapshot,
                part.state,
                target_data=part.target,
                target_view=part.view,
                failsafe_config=config.failsafe,
                failsafe_groups=part.groups,
                # The narrowing keeps the updates of these alone: the others' are not planned.
                updated={ObjectType.GROUP: work.groups, ObjectType.ENTITY: work.entities},
            )
        else:
            snapshot = p.source.snapshot()
            by_name = {str(g.get("name")): g.id for g in snapshot.groups}
            work.groups.update(by_name.get(n, n) for n in work.group_names)
            for folder in work.folders:
                work.groups.update(
                    gid for n, gid in by_name.items() if n == folder or n.startswith(folder + ":")
                )
            state = p.store.load(p.config.name)
            planned = p._plan(None, snapshot, state)  # noqa: SLF001  # same package
            size = -1
            while size != len(work.groups) + len(work.entities):
                size = len(work.groups) + len(work.entities)
                _take_holders(planned, work)
                widen(work, state)
        narrowed_plan = _narrowed_plan(
            config, planned, work, failsafe_groups=None if part is None else part.groups
        )
        if round_ == _INSERT_ROUNDS - 1 or not _recalc_inserted(narrowed_plan, work):
            break
    summary = _summary(work, events, rejected, queue.controls)
    result = p._apply(  # noqa: SLF001  # same package
        narrowed_plan,
        dry_run=False,
        queue=attrs.evolve(queue, summary=summary),
        only=_recorded_part(narrowed_plan),
    )
    return attrs.evolve(result, incremental=summary)


# Plans of one recalculation at most: each one after the first recalculates
# whole the groups and entities the one before inserts. Bounded: on a target
# emptied behind the sync's back each round could reach further; what is left
# is inserted with the batch's memberships, as a full sync completes.
_INSERT_ROUNDS = 3


def _recalc_inserted(planned: FullPlan, work: Work) -> bool:
    """Add to *work* the groups and entities *planned* inserts; whether there were any new.

    A group (or entity) an event's membership needs, missing from the target
    (new, or deleted there behind the sync's back), is inserted with all its
    memberships, not only the batch's: the recalculation is planned again
    with it recalculated whole. Without this, its other members stayed out
    of the target until the next full sync, while every record said they
    were in.
    """
    inserted = {
        (c.object_type, c.object_id)
        for c in planned.plan.changes
        if c.action is Action.INSERT and c.object_type is not ObjectType.MEMBERSHIP
    }
    new_groups = {i for t, i in inserted if t is ObjectType.GROUP}
    groups = new_groups - work.groups
    entities = {i for t, i in inserted if t is ObjectType.ENTITY} - work.entities
    if new_groups and planned.behavior.entities.operate:
        # The members of a group new to the target with no provisionable record
        # may become provisionable with it (a folder marked, say), as when a
        # membership is added for them: recalculated too, so that one the plan
        # cannot insert (a LEN) is recorded with its error, as a full sync does.
        records = planned.state.records
        entities |= {
            m.entity_id
            for m in planned.scope.memberships
            if m.group_id in new_groups
            and not _provisionable(records.get((ObjectType.ENTITY, m.entity_id)))
        } - work.entities
    work.groups.update(groups)  # type: ignore[arg-type]  # group ids are str
    work.entities.update(entities)  # type: ignore[arg-type]  # entity ids are str
    return bool(groups or entities)


def _take_holders(planned: FullPlan, work: Work) -> None:
    """Add to *work* the groups and entities whose records hold an object it is paired with.

    Two people who swap names (``uid``), their events in two batches: the
    plan pairs the first with the entry of the second by name, as a full
    sync does. Recalculated alone, the first took the entry over while the
    second's record still held it, and neither entry lost the other's
    values. The second is recalculated too (and whoever's record holds the
    object the second is paired with, in turn): the plan moves each one's
    values and records together, as a full sync does. Only a recalc that
    read both sides in full knows the holders (see ``_taken`` in
    :mod:`grouperprov._recalc_reads`).
    """
    state = planned.state
    for object_type, covered in (
        (ObjectType.GROUP, work.groups),
        (ObjectType.ENTITY, work.entities),
    ):
        paired = planned.plan.links.get(object_type, {})
        todo = sorted(covered)
        while todo:
            target_id = paired.get(todo.pop())
            for _, holder in state.holders(object_type, target_id) if target_id is not None else ():
                if str(holder) not in covered:
                    covered.add(str(holder))
                    todo.append(str(holder))


def _provisionable(record: SyncRecord | None) -> bool:
    return record is not None and record.provisionable


def _widen(work: Work, state: SyncState, *, entities: bool, groups: bool) -> None:
    """Add what a recalculation may empty: until nothing more is added.

    With *entities* (entities are deleted), the members of recalculated groups
    and of recalculated memberships, who may have lost their last provisioned
    membership; with *groups* (``groups_require_members``), the groups of
    recalculated memberships and entities, which may have lost their last member.
    """
    if not entities and not groups:
        return  # nothing a recalculation empties is recalculated for it
    # In one pass over the records: the memberships in the target, and those
    # that never reached it (an error, INV..., kept them out; their members
    # are provisioned all the same) or left it (or Grouper's wish, when an
    # error had kept them out) in a group sync, which takes a member's last
    # membership out but never deletes the member: a recalc of the group
    # still looks at their members, as a full sync would. Runs
    # share one lease, so only memberships that left since the last full sync
    # began, when a group sync ran since, can be such; the others are not
    # read again (a group's churn over the years, at every recalc of it).
    runs = state.provisioner.last_run
    full_at, group_at = runs.get(SyncType.FULL), runs.get(SyncType.GROUP)
    orphans = full_at is None or (group_at is not None and group_at >= full_at)
    in_target: list[tuple[Hashable, ...]] = []
    were: list[tuple[Hashable, ...]] = []
    for key, record in state.records.items():
        if key[0] is ObjectType.MEMBERSHIP and isinstance(key[1], tuple):
            if record.in_target:
                in_target.append(key[1])
            elif record.provisionable or (
                orphans
                and any(
                    when is not None and (full_at is None or when >= full_at)
                    for when in (record.in_target_end, record.provisionable_end)
                )
            ):
                were.append(key[1])
    size = -1
    while size != len(work.groups) + len(work.entities):
        size = len(work.groups) + len(work.entities)
        if entities:
            work.entities.update(str(m) for g, m in (*in_target, *were) if g in work.groups)
            work.entities.update(m for _, m in work.memberships)
        if groups:
            work.groups.update(str(g) for g, m in (*in_target, *were) if m in work.entities)
            work.groups.update(g for g, _ in work.memberships)


def _recorded_owners(state: SyncState, groups: set[str], entities: set[str]) -> set[str]:
    """The groups *entities* are recorded in, and the entities recorded in *groups*."""
    owners: set[str] = set()
    for key in state.records:
        if key[0] is ObjectType.MEMBERSHIP and isinstance(key[1], tuple):
            group_id, entity_id = key[1]
            if entity_id in entities:
                owners.add(str(group_id))
            if group_id in groups:
                owners.add(str(entity_id))
    return owners


def _narrowed_plan(
    config: ProvisionerConfig,
    planned: FullPlan,
    work: Work,
    *,
    failsafe_groups: frozenset[str] | None,
    sync_type: SyncType = SyncType.INCREMENTAL,
) -> FullPlan:
    plan = planned.plan
    # A new owner's values one by one: those of the memberships recalculated are kept.
    split = per_value(plan.changes, planned.translation)
    groups, entities, memberships = work.groups, work.entities, work.memberships
    by_target, _ = planned.state.target_index()
    back: dict[ObjectType, dict[Hashable, Hashable]] = {
        t: {tid: r.grouper_id for tid, r in by_target[t].items()} for t in ObjectType
    }
    for object_type, links in plan.links.items():
        back.setdefault(object_type, {}).update((tid, gid) for gid, tid in links.items())
    # A replaced list names the members it keeps, not those it drops: the list
    # of an owner a recalculated member (or group) is recorded in concerns it.
    lists = _recorded_owners(planned.state, groups, entities) if groups or entities else set()
    # The inserts the Grouper memberships of what is recalculated need, also
    # when no membership change names them (the target had the value already).
    inserts: set[tuple[ObjectType, Hashable]] = set()
    for m in planned.scope.memberships:
        if m.group_id in groups or m.entity_id in entities or m.id in memberships:
            inserts.add((ObjectType.GROUP, m.group_id))
            inserts.add((ObjectType.ENTITY, m.entity_id))
    own = [
        c
        for c in split
        if concerns(c, groups, entities, memberships, back)
        or (c.action is Action.REPLACE and c.owner_id in lists)
        or (c.action is Action.INSERT and (c.object_type, c.object_id) in inserts)
    ]
    changes = with_needed_inserts(split, own)
    errors: tuple[PlannedError, ...] = tuple(
        e
        for e in plan.errors
        if (e.object_type is ObjectType.GROUP and e.object_id in groups)
        or (e.object_type is ObjectType.ENTITY and e.object_id in entities)
        or (
            isinstance(e.object_id, tuple)
            and (
                e.object_id in memberships or e.object_id[0] in groups or e.object_id[1] in entities
            )
        )
    )
    return narrowed(
        planned,
        config,
        changes,
        errors,
        sync_type=sync_type,
        groups_only=frozenset(groups),
        entities_covered=frozenset(entities),
        memberships_covered=frozenset(memberships),
        failsafe_groups=failsafe_groups,
    )
