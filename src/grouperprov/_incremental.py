"""The incremental sync: change-log events turned into work, then carried out.

A batch of events is first *classified*, without I/O (:func:`classify`):

- dropped: processed before (sequence number), older than the last full sync,
  privilege lists, redundant deletes;
- non-recalc (stateful) membership actions: an add or delete that agrees with
  the sync records, applied as it is, without reading the target;
- recalcs (stateless): groups, entities and memberships re-read from both
  sides and compared: inconsistent events, updates, memberships of groups
  or entities not (yet) in the target, group, subject and marker events,
  control messages, errors being retried, and groups past the group-sync
  threshold;
- a full sync, when the batch's weighted size passes the score or a control
  message asks for one.

A batch of non-recalc actions only reads the Grouper objects it needs and
writes to the target. Recalcs are planned from a fresh read of both sides and
narrowed to the objects concerned, so they write nothing else.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta

import attrs

from ._beans import ProvisioningEntity, ProvisioningGroup, ProvisioningMembership, Scalar
from ._behavior import Behavior, may_delete, replaces_lists
from ._codes import RETRIED_CODES, ObjectError, SyncErrorCode
from ._config import MembershipType, ObjectType, ProvisionerConfig
from ._events import (
    MEMBERS_FIELD,
    ChangeEvent,
    CoalescedMembership,
    ControlKind,
    ControlMessage,
    EventKind,
    MembershipAction,
    coalesce,
)
from ._plan import Action, Change, Reason
from ._records import SyncRecord, SyncType
from ._store import RecordKey, SyncState
from ._target import AttributeChange
from ._translate import MembershipValue, Translated, Translator

__all__ = ["IncrementalSummary"]

WEIGHTS: Mapping[EventKind, int] = {
    EventKind.MEMBERSHIP_ADD: 1,
    EventKind.MEMBERSHIP_UPDATE: 1,
    EventKind.MEMBERSHIP_DELETE: 1,
    EventKind.SUBJECT_CHANGE: 1,
    EventKind.GROUP_ADD: 10,
    EventKind.GROUP_UPDATE: 10,
    EventKind.GROUP_DELETE: 10,
    EventKind.MARKER_CHANGE: 100,
}
"""How much each kind of event counts towards ``full_sync_score``."""

_GROUP_EVENTS = (EventKind.GROUP_ADD, EventKind.GROUP_UPDATE, EventKind.GROUP_DELETE)


@attrs.frozen(kw_only=True)
class IncrementalSummary:
    """What an incremental run made of its events.

    Attributes:
        received: How many events it received (rejected ones included).
        rejected: How many it rejected (kept in the store's error queue).
        dropped: Events dropped, by reason.
        non_recalc: Membership actions applied as the events said.
        recalc_groups: Groups recalculated (with all their memberships).
        recalc_entities: Entities recalculated.
        recalc_memberships: Memberships recalculated.
        group_syncs: Groups past ``group_sync_threshold``, recalculated as
            group syncs.
        full_sync: Why the batch ran as a full sync, if it did.
        retried: Objects in error that were retried.
        controls: The control messages carried out, by id.
        last_sequence: The last sequence number processed.
    """

    received: int = 0
    rejected: int = 0
    dropped: Mapping[str, int] = attrs.field(factory=dict, hash=False)
    non_recalc: int = 0
    recalc_groups: tuple[str, ...] = ()
    recalc_entities: tuple[str, ...] = ()
    recalc_memberships: tuple[tuple[str, str], ...] = ()
    group_syncs: tuple[str, ...] = ()
    full_sync: str | None = None
    retried: int = 0
    controls: tuple[str, ...] = ()
    last_sequence: int | None = None

    def __str__(self) -> str:
        parts = [f"{self.received} events"]
        if self.rejected:
            parts.append(f"{self.rejected} rejected")
        parts.extend(f"{n} dropped ({why})" for why, n in sorted(self.dropped.items()))
        parts.append(f"{self.non_recalc} applied as they are")
        recalcs = len(self.recalc_groups) + len(self.recalc_entities)
        recalcs += len(self.recalc_memberships)
        if recalcs:
            parts.append(
                f"recalculated {len(self.recalc_groups)} groups, "
                f"{len(self.recalc_entities)} entities, "
                f"{len(self.recalc_memberships)} memberships"
            )
        if self.group_syncs:
            parts.append(f"{len(self.group_syncs)} groups past the group-sync threshold")
        if self.full_sync:
            parts.append(f"full sync: {self.full_sync}")
        if self.retried:
            parts.append(f"{self.retried} errors retried")
        if self.controls:
            parts.append(f"{len(self.controls)} control messages")
        return ", ".join(parts)


@attrs.define
class Work:
    """A classified batch (mutable while it is built)."""

    non_recalc: list[tuple[CoalescedMembership, MembershipAction]] = attrs.Factory(list)
    groups: set[str] = attrs.Factory(set)
    group_names: set[str] = attrs.Factory(set)
    folders: set[str] = attrs.Factory(set)
    entities: set[str] = attrs.Factory(set)
    memberships: set[tuple[str, str]] = attrs.Factory(set)
    dropped: Counter[str] = attrs.Factory(Counter)
    group_syncs: list[str] = attrs.Factory(list)
    full: str | None = None
    retried: int = 0
    last_sequence: int | None = None

    @property
    def recalc(self) -> bool:
        """Whether anything needs both sides read again."""
        return bool(
            self.groups or self.group_names or self.folders or self.entities or self.memberships
        )


def keys_of(events: Iterable[ChangeEvent], *, entities: bool = True) -> set[RecordKey]:
    """The sync records a batch's classification needs.

    With *entities* false, no entity records: the classification and the
    non-recalc path only read them when entities play a part (see
    :func:`~grouperprov._recalc_reads.entities_play_a_part`).
    """
    keys: set[RecordKey] = set()
    for event in events:
        if event.group_id:
            keys.add((ObjectType.GROUP, event.group_id))
        if entities and event.member_id:
            keys.add((ObjectType.ENTITY, event.member_id))
        pair = event.membership
        if pair is not None:
            keys.add((ObjectType.MEMBERSHIP, pair))
    return keys


def classify(  # one pass over the rules, in order
    config: ProvisionerConfig,
    behavior: Behavior,
    events: Sequence[ChangeEvent],
    state: SyncState,
    *,
    controls: Sequence[ControlMessage] = (),
    errors: Sequence[SyncRecord] = (),
    dependencies: Collection[str] = (),
    now: datetime,
) -> Work:
    """Turn a batch into work: what to drop, apply as it is, recalculate, or sync in full.

    *dependencies* are the ids of the groups whose memberships decide which
    entities are provisioned (:attr:`ProvisionableConfig.required_group`): a
    membership event in one recalculates its member, whatever the records say
    of the group itself.
    """
    work = Work()
    settings = config.incremental
    last = state.provisioner.last_sequence
    full_at = state.provisioner.last_run.get(SyncType.FULL)
    kept: list[ChangeEvent] = []
    for event in sorted(events, key=lambda e: e.sequence):
        work.last_sequence = max(work.last_sequence or event.sequence, event.sequence)
        if last is not None and event.sequence <= last:
            work.dropped["processed before"] += 1
        elif full_at is not None and event.occurred < full_at:
            work.dropped["older than the last full sync"] += 1
        elif event.membership is not None and event.field != MEMBERS_FIELD:
            work.dropped[f"privilege list {event.field!r}"] += 1
        else:
            kept.append(event)
    score = sum(WEIGHTS[e.kind] for e in kept)
    if score > settings.full_sync_score:
        work.full = f"{score} weighted events pass full_sync_score {settings.full_sync_score}"
    for message in controls:
        if message.kind is ControlKind.FULL_SYNC:
            work.full = work.full or f"requested by {message.requested_by} ({message.id})"
        for group in message.groups:
            work.group_names.add(group)
        work.entities.update(message.entities)
        work.memberships.update(message.memberships)
    per_group = Counter(e.group_id for e in kept if e.membership is not None)
    for group_id, count in sorted(per_group.items(), key=lambda item: str(item[0])):
        if group_id is not None and count > settings.group_sync_threshold:
            work.group_syncs.append(group_id)
            work.groups.add(group_id)
    _object_recalcs(config, kept, dependencies, work)
    _retries(config, state, errors, now, work)
    _membership_work(config, behavior, state.records, kept, work)
    return work


def _membership_work(
    config: ProvisionerConfig,
    behavior: Behavior,
    records: Mapping[RecordKey, SyncRecord],
    events: Sequence[ChangeEvent],
    work: Work,
) -> None:
    """What becomes of *events'* memberships: applied as they are, recalculated, or dropped."""
    whole_lists = replaces_lists(behavior)
    require_members = config.provisionable.groups_require_members

    def may_empty(pair: tuple[str, str]) -> None:
        """A delete may take the member's last membership, or the group's last member.

        The entity (with entities deleted) and the group (with
        ``groups_require_members``) are recalculated, and deleted as a full
        sync would.
        """
        if behavior.entities.delete.on:
            work.entities.add(pair[1])
        if require_members:
            work.groups.add(pair[0])

    for pair, item in coalesce(events).items():
        if require_members and item.action is MembershipAction.ADD:
            group = records.get((ObjectType.GROUP, pair[0]))
            if group is not None and group.error_code is SyncErrorCode.MEM:
                # Left out for having no members: with one it comes back (its
                # record too, also when groups are not operated), as in a full sync.
                work.groups.add(pair[0])
        member = records.get((ObjectType.ENTITY, pair[1]))
        if (
            behavior.entities.operate
            and item.action is MembershipAction.ADD
            and (member is None or not member.provisionable)
        ):
            # The member may become provisionable with it: a full sync would
            # compare its attributes too (a person the identity system made,
            # whose uid or cn differ), and record it, so it is recalculated,
            # not the pair alone (nor only with its group: a new group's).
            work.entities.add(pair[1])
            continue
        if pair[0] in work.groups or pair[1] in work.entities:
            if item.action is MembershipAction.DELETE:
                # Recalculated with its group or its entity, not both: its group's
                # recalc finds members by their records in the target (a group
                # sync may have taken this one out already), and its entity's does
                # not look at the group.
                may_empty(pair)
            continue  # recalculated with its group or entity
        action = _membership_action(config, behavior, records, item)
        if action is MembershipAction.DELETE and (behavior.entities.delete.on or require_members):
            may_empty(pair)  # with the membership
        elif isinstance(action, MembershipAction):
            work.non_recalc.append((item, action))
        elif action == _RECALC and whole_lists:
            # The target takes whole lists: the owner's list is recalculated.
            if behavior.membership_type is not MembershipType.ENTITY_ATTRIBUTES:
                work.groups.add(pair[0])
            else:
                work.entities.add(pair[1])
        elif action == _RECALC:
            work.memberships.add(pair)
        else:
            work.dropped[action] += item.count


def _object_recalcs(
    config: ProvisionerConfig,
    events: Sequence[ChangeEvent],
    dependencies: Collection[str],
    work: Work,
) -> None:
    """The groups, folders and entities that *events* recalculate by themselves."""
    required = config.provisionable.required_group
    for event in events:
        if (
            required is not None
            and event.kind in _GROUP_EVENTS
            and required in {event.group_name, event.old_value}
        ):
            # The group every provisioned entity must be in was added, renamed
            # or deleted: any entity may come or go.
            work.full = work.full or f"the required group {required!r} changed ({event.kind})"
        if event.kind in _GROUP_EVENTS and event.group_id:
            work.groups.add(event.group_id)
        elif event.member_id and event.group_id in dependencies:
            work.entities.add(event.member_id)  # its membership of the required group changed
        elif event.kind is EventKind.MARKER_CHANGE and event.name:
            work.folders.add(event.name)
        elif event.kind is EventKind.SUBJECT_CHANGE and event.member_id:
            work.entities.add(event.member_id)


def _retries(
    config: ProvisionerConfig,
    state: SyncState,
    errors: Sequence[SyncRecord],
    now: datetime,
    work: Work,
) -> None:
    """Recalculate the objects in error whose retry is due (recent ones every run)."""
    settings = config.incremental
    full_at = state.provisioner.last_run.get(SyncType.FULL)
    recent = timedelta(seconds=settings.retry_recent_seconds)
    longest = timedelta(seconds=settings.retry_max_interval_seconds)
    for record in errors:
        if record.error_code not in RETRIED_CODES:
            continue  # a data error (INV, LEN, REQ, MEM) changes with Grouper's data: its events
        first = record.error_time
        if first is None or (full_at is not None and first < full_at):
            continue
        age = now - first
        tried = record.last_sync or first
        if age >= recent and now - tried < min(age / 4, longest):
            continue
        work.retried += 1
        key = record.grouper_id
        if record.object_type is ObjectType.GROUP and isinstance(key, str):
            work.groups.add(key)
        elif record.object_type is ObjectType.ENTITY and isinstance(key, str):
            work.entities.add(key)
        elif isinstance(key, tuple):
            work.memberships.add(key)


_RECALC = "recalc"


def _membership_action(  # one answer per rule
    config: ProvisionerConfig,
    behavior: Behavior,
    records: Mapping[RecordKey, SyncRecord],
    item: CoalescedMembership,
) -> MembershipAction | str:
    """ADD or DELETE as they are, ``"recalc"``, or why the events are dropped."""
    group = records.get((ObjectType.GROUP, item.group_id))
    record = records.get((ObjectType.MEMBERSHIP, (item.group_id, item.member_id)))
    if not behavior.groups.operate:
        # Groups are not provisioned, so not recorded either: only a recalc
        # (which reads the provisioning markers) knows whether this one counts.
        return _RECALC
    unprovisioned = group is None or (not group.provisionable and group.error_code is None)
    if unprovisioned and (record is None or not record.in_target):
        # A group becomes provisionable through a group or marker event, which
        # recalculates it and records it: without a record, it is not provisioned.
        return "group not provisioned"
    if item.updated or item.inconsistent or item.action is None:
        return _RECALC
    if (
        record is not None
        and record.last_sync is not None
        and item.first.occurred <= record.last_sync
    ):
        return _RECALC  # a run wrote the record after this happened: read it again
    if replaces_lists(behavior):
        return _RECALC  # the target replaces whole lists: only a recalc knows the list
    if item.action is MembershipAction.DELETE:
        if record is None or not record.in_target:
            if behavior.entities.delete.on or config.provisionable.groups_require_members:
                # Not in the target (its value was invalid, say), yet the member (or
                # the group) may have lost its last membership with it: a full sync
                # would then delete them, so the recalc looks.
                return _RECALC
            return "redundant delete" if record is None or not record.provisionable else _RECALC
        ms = behavior.memberships
        if (
            not ms.delete.on
            or not may_delete(ms.delete_policy, record, in_managed_group=True).allowed
        ):
            return _RECALC
        return MembershipAction.DELETE if _addressable(config, records, item, record) else _RECALC
    if record is not None and record.in_target:
        return _RECALC  # an add for what the target has: inconsistent
    if config.provisionable.required_group is not None or not behavior.memberships.insert.on:
        return _RECALC
    return MembershipAction.ADD if _addressable(config, records, item, None) else _RECALC


def _ready(record: SyncRecord | None) -> bool:
    return (
        record is not None
        and record.provisionable
        and record.in_target
        and record.target_id is not None
        and record.error_code is None
    )


def _addressable(
    config: ProvisionerConfig,
    records: Mapping[RecordKey, SyncRecord],
    item: CoalescedMembership,
    record: SyncRecord | None,
) -> bool:
    """Whether the membership's group (and entity) are in the target, with known ids."""
    group = records.get((ObjectType.GROUP, item.group_id))
    entity = records.get((ObjectType.ENTITY, item.member_id))
    if config.groups.operate and not _ready(group):
        return False
    if config.entities.operate and not _ready(entity):
        return False
    if record is None:
        return True
    target_id = record.target_id
    return isinstance(target_id, tuple) and len(target_id) == 2  # noqa: PLR2004  # a pair


def non_recalc_changes(  # noqa: PLR0917  # the pieces of one step
    config: ProvisionerConfig,
    translator: Translator,
    actions: Sequence[tuple[CoalescedMembership, MembershipAction]],
    records: Mapping[RecordKey, SyncRecord],
    groups: Mapping[str, ProvisioningGroup],
    entities: Mapping[str, ProvisioningEntity],
) -> tuple[list[Change], dict[tuple[str, str], ObjectError], list[tuple[str, str]]]:
    """The changes of non-recalc actions, translation errors, and what needs a recalc after all.

    *groups* and *entities* are the Grouper objects of the adds (read from the
    source); an add whose group or entity Grouper no longer has, or whose
    subject's source is not provisioned, is recalculated instead.
    """
    kind = config.memberships.type
    name = translator.membership_attribute or ""
    changes: list[Change] = []
    errors: dict[tuple[str, str], ObjectError] = {}
    recalc: list[tuple[str, str]] = []
    adds = [(item, a) for item, a in actions if a is MembershipAction.ADD]
    sources = set(config.provisionable.subject_sources)
    pairs = [
        (item.group_id, item.member_id)
        for item, _ in adds
        if item.group_id in groups
        and item.member_id in entities
        and (not sources or entities[item.member_id].get("subject_source_id") in sources)
    ]
    wanted = set(pairs)
    given = (
        [groups[g] for g in {g for g, _ in pairs}],
        [entities[m] for m in {m for _, m in pairs}],
        [ProvisioningMembership(group_id=g, entity_id=m) for g, m in pairs],
    )
    translated_objects: Mapping[tuple[str, str], Translated[ProvisioningMembership]] = {}
    if kind is MembershipType.MEMBERSHIP_OBJECTS:
        translation = translator._translate_all(*given, {}, checked=True)  # noqa: SLF001  # same package
        translated_objects, membership_errors = (
            translation.memberships,
            translation.membership_errors,
        )
        membership_values: Mapping[str, Mapping[Hashable, MembershipValue]] = {}
    else:
        # Values only: their owners are in the target already and are not translated.
        membership_values, membership_errors = translator._membership_values(*given)  # noqa: SLF001  # same package
    owner_type = ObjectType.GROUP if kind is MembershipType.GROUP_ATTRIBUTES else ObjectType.ENTITY
    # Each added membership's value (the first, if a member gives several).
    value_of: dict[tuple[str, str], Scalar] = {}
    for owner_values in membership_values.values():
        for v in owner_values.values():
            for produced_by in v.memberships:
                value_of.setdefault(produced_by, v.value)
    for item, action in actions:
        pair = (item.group_id, item.member_id)
        label = (
            f"{item.last.group_name or item.group_id} / {item.last.subject_id or item.member_id}"
        )
        reason = Reason(
            "change_log",
            f"membership {action.value} event {item.last.sequence} agrees with the sync record",
        )
        if action is MembershipAction.ADD and pair not in wanted:
            recalc.append(pair)
            continue
        if action is MembershipAction.DELETE:
            changes.append(_delete(kind, name, records, pair, label, reason))
            continue
        if kind is MembershipType.MEMBERSHIP_OBJECTS:
            translated = translated_objects.get(pair)
            problems = membership_errors.get(pair, ())
            if translated is None or problems or translated.errors:
                errors[pair] = (problems or (translated.errors if translated else ()))[0]
                continue
            changes.append(
                Change(
                    action=Action.INSERT,
                    object_type=ObjectType.MEMBERSHIP,
                    object_id=pair,
                    bean=translated.insert_bean(),
                    memberships=(pair,),
                    reasons=(reason,),
                    label=label,
                )
            )
            continue
        owner_id = pair[0] if owner_type is ObjectType.GROUP else pair[1]
        problems = membership_errors.get(pair, ())
        value = value_of.get(pair)
        if problems or value is None:
            if problems:
                errors[pair] = problems[0]
            else:
                recalc.append(pair)
            continue
        owner = records[(owner_type, owner_id)]
        changes.append(
            Change(
                action=Action.INSERT,
                object_type=ObjectType.MEMBERSHIP,
                object_id=(owner_id, value),
                target_id=str(owner.target_id),
                bean=_owner_bean(owner_type, str(owner.target_id)),
                owner_id=owner_id,
                value=value,
                attribute_changes=(AttributeChange.add(name, [value]),),
                memberships=(pair,),
                reasons=(reason,),
                label=label,
            )
        )
    return changes, errors, recalc


def _owner_bean(owner_type: ObjectType, target_id: str) -> ProvisioningGroup | ProvisioningEntity:
    """The owner of membership values as the target knows it: its id (the cached link)."""
    if owner_type is ObjectType.GROUP:
        return ProvisioningGroup(id=target_id)
    return ProvisioningEntity(id=target_id)


def _delete(  # noqa: PLR0917  # the pieces of one change
    kind: MembershipType,
    name: str,
    records: Mapping[RecordKey, SyncRecord],
    pair: tuple[str, str],
    label: str,
    reason: Reason,
) -> Change:
    target_id = records[(ObjectType.MEMBERSHIP, pair)].target_id
    assert isinstance(target_id, tuple)  # noqa: S101  # a pair (checked by _addressable)
    first: str = str(target_id[0])
    second: Scalar = target_id[1]
    if kind is MembershipType.MEMBERSHIP_OBJECTS:
        return Change(
            action=Action.DELETE,
            object_type=ObjectType.MEMBERSHIP,
            object_id=pair,
            bean=ProvisioningMembership(group_id=str(first), entity_id=str(second)),
            memberships=(pair,),
            reasons=(reason,),
            label=label,
        )
    owner_type = ObjectType.GROUP if kind is MembershipType.GROUP_ATTRIBUTES else ObjectType.ENTITY
    owner = records[(owner_type, first)]
    return Change(
        action=Action.DELETE,
        object_type=ObjectType.MEMBERSHIP,
        object_id=(str(first), second),
        target_id=str(owner.target_id),
        bean=_owner_bean(owner_type, str(owner.target_id)),
        owner_id=str(first),
        value=second,
        attribute_changes=(AttributeChange.remove(name, [second]),),
        memberships=(pair,),
        reasons=(reason,),
        label=label,
    )


def concerns(
    change: Change,
    groups: set[str],
    entities: set[str],
    memberships: set[tuple[str, str]],
    grouper_ids: Mapping[ObjectType, Mapping[Hashable, Hashable]] | None = None,
) -> bool:
    """Whether a full plan's change is about the objects being recalculated.

    *grouper_ids* maps target ids back to Grouper ids, by object type: an
    object only the target has (to be deleted) is known by its target id,
    a membership of them by its group's and entity's.
    """
    back = grouper_ids or {}
    groups_back = back.get(ObjectType.GROUP, {})
    entities_back = back.get(ObjectType.ENTITY, {})
    if change.object_type is ObjectType.GROUP:
        return groups_back.get(change.object_id, change.object_id) in groups
    if change.object_type is ObjectType.ENTITY:
        return entities_back.get(change.object_id, change.object_id) in entities
    if change.owner_id is not None and (
        change.owner_id in groups
        or change.owner_id in entities
        # A value left on an object its owner no longer answers to: by its record.
        or entities_back.get(change.owner_id) in entities
        or groups_back.get(change.owner_id) in groups
    ):
        return True
    pairs: list[Hashable] = [*change.memberships]
    recorded = back.get(ObjectType.MEMBERSHIP, {}).get(change.object_id)
    if recorded is not None:
        pairs.append(recorded)  # a value or an object only the target has, known by its record
    if change.value is None and isinstance(change.object_id, tuple):
        group_id, entity_id = change.object_id
        pairs.append((groups_back.get(group_id, group_id), entities_back.get(entity_id, entity_id)))
    return any(
        isinstance(p, tuple) and (p in memberships or p[0] in groups or p[1] in entities)
        for p in pairs
    )
