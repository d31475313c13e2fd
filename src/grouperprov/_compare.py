"""Compare: translated Grouper data and target data in, an explainable Plan out.

Pure and deterministic: no I/O, the same inputs always give the same plan. The
rules:

1. Objects are paired by :class:`~grouperprov.Matcher` (MAT on ambiguity).
2. A paired object whose compared attributes differ gets an update with
   attribute-level changes; multi-valued attributes compare as sets, case
   insensitive attributes compare folded, and ignored values are never added
   or removed.
3. A translated object with no counterpart is inserted when the behaviour
   allows it, else it gets DNE.
4. A target object with no counterpart is deleted when the behaviour and the
   delete policy allow it; target objects set aside by matching never are.
5. An object with an error is neither inserted nor updated; its memberships
   are left alone too.
6. Memberships: as objects (matched like groups), or as values of the owner's
   membership attribute, added and removed value by value (or replaced as a
   whole set when the target cannot add or remove single values); a new
   owner's values are one change, written with its insert. A
   membership whose group or entity is provisioned but is not, and will not
   be, in the target gets DNE.
"""

from __future__ import annotations

import functools
import operator
from collections import Counter
from collections.abc import Collection, Hashable, Iterable, Iterator, Mapping
from itertools import compress, repeat
from typing import Any, NamedTuple, TypeAlias, TypeVar

import attrs

from ._beans import (
    AttributeValue,
    ProvisioningEntity,
    ProvisioningGroup,
    ProvisioningMembership,
    Scalar,
    attribute_values,
)
from ._behavior import Behavior, Mode, ObjectBehavior, may_delete
from ._codes import ObjectError, SyncErrorCode
from ._config import DeletePolicy, MembershipType, ObjectType
from ._lazy import LazyMap, merged
from ._match import Matcher, MatchingId, MatchResult
from ._plan import Action, Change, ObjectId, Plan, PlannedError, Reason, SetAside
from ._records import SyncRecord
from ._target import AttributeChange, TargetData
from ._translate import (
    MembershipId,
    MembershipValue,
    Translated,
    Translation,
    Translator,
    _items,
    _Part,
    _SeparableMemberships,
)

__all__ = ["Comparison", "ProvisioningWrapper", "compare"]

Bean: TypeAlias = ProvisioningGroup | ProvisioningEntity | ProvisioningMembership
_OwnerT = TypeVar("_OwnerT", ProvisioningGroup, ProvisioningEntity)
_BeanT = TypeVar("_BeanT", ProvisioningGroup, ProvisioningEntity, ProvisioningMembership)
LEFT_BEHIND = "left_behind"
"""The rule of a value removed from an object its owner no longer answers to."""

_PLURAL = {
    ObjectType.GROUP: "groups",
    ObjectType.ENTITY: "entities",
    ObjectType.MEMBERSHIP: "memberships",
}
# A membership object's reason to be inserted: one (frozen) tuple shared by
# every such change, of which a sync from empty makes one per membership.
_MISSING_IN_TARGET = (Reason("missing_in_target", "in Grouper, not in the target"),)


@attrs.frozen(kw_only=True)
class ProvisioningWrapper:
    """Everything known about one logical object in one run.

    Attributes:
        object_type: The kind of object.
        object_id: The Grouper id, or the target id for an object only the
            target has.
        grouper: The Grouper bean, if Grouper provisions the object.
        translated: Its translation.
        target: The target's object, normalised for comparing.
        native: The target's object as the DAO returned it.
        record: The object's sync record, if any.
        action: What the plan does with it, if anything.
        error: The error recorded on it, if any.
    """

    object_type: ObjectType
    object_id: Hashable
    grouper: Bean | None = None
    translated: (
        Translated[ProvisioningGroup]
        | Translated[ProvisioningEntity]
        | Translated[ProvisioningMembership]
        | None
    ) = None
    target: Bean | None = None
    native: Bean | None = None
    record: SyncRecord | None = None
    action: Action | None = None
    error: ObjectError | None = None


@attrs.frozen(kw_only=True)
class Comparison:
    """The outcome of comparing: the plan, and how each object was seen.

    Attributes:
        plan: The plan.
        wrappers: Per object type, one wrapper per logical object (the
            membership values of the attribute types have none: see the plan).
        matches: Per object type, the match result.
    """

    plan: Plan
    wrappers: Mapping[ObjectType, Mapping[Hashable, ProvisioningWrapper]]
    matches: Mapping[ObjectType, MatchResult[Hashable, Hashable]]


def compare(
    translator: Translator,
    behavior: Behavior,
    translation: Translation,
    target: TargetData,
    *,
    records: Mapping[ObjectType, Mapping[Hashable, SyncRecord]] | None = None,
    historical: Mapping[ObjectType, Mapping[Hashable, Iterable[MatchingId]]] | None = None,
    linked: Mapping[ObjectType, Mapping[Hashable, Hashable]] | None = None,
    updated: Mapping[ObjectType, Collection[str]] | None = None,
    hidden_values: Mapping[str, Collection[Scalar]] | None = None,
) -> Comparison:
    """Compare translated Grouper data with target data and plan the changes.

    Args:
        translator: The compiled configuration.
        behavior: What the engine may do (see :func:`~grouperprov.compute_behavior`).
        translation: The translated Grouper side.
        target: What the target holds, as read.
        records: Sync records by object type and target id (for membership
            values: by ``(owner Grouper id, value)``), for the delete policy.
        historical: Earlier matching ids by object type and Grouper id, to
            follow renames.
        linked: Target links (the target ids sync records keep) of groups and
            entities by object type and Grouper id, to follow renames (see
            :meth:`Matcher.match <grouperprov.Matcher.match>`).
        updated: By object type, the Grouper ids of the groups and entities
            whose attributes are compared (``None``: all of them). The others
            are matched and their memberships compared as usual, but no update
            of theirs is planned: an incremental recalc keeps only the updates
            of the objects it recalculates, and the groups it reads for a
            membership's sake are many.
        hidden_values: By target id of a membership owner, values of its
            membership attribute that *target* leaves out of view (a group
            sync sees only its groups' values on people). They are never
            compared; a replaced list keeps them.
    """
    return _Comparer(
        translator,
        behavior,
        translation,
        records or {},
        historical or {},
        linked=linked or {},
        updated=updated,
        hidden_values=hidden_values,
    ).run(target)


class _Comparer:
    def __init__(
        self,
        translator: Translator,
        behavior: Behavior,
        translation: Translation,
        records: Mapping[ObjectType, Mapping[Hashable, SyncRecord]],
        historical: Mapping[ObjectType, Mapping[Any, Iterable[MatchingId]]],
        *,
        linked: Mapping[ObjectType, Mapping[Any, Any]],
        updated: Mapping[ObjectType, Collection[str]] | None = None,
        hidden_values: Mapping[str, Collection[Scalar]] | None = None,
    ) -> None:
        self.t = translator
        self.updated = updated
        self.hidden_values = hidden_values or {}
        self.b = behavior
        self.tr = translation
        self.records = records
        # Compare forms of the values groups give people (see _of_a_group), and
        # the value records by owner (see _records_by_owner), made when needed.
        self._group_values: set[Hashable] | None = None
        self._value_records: dict[Hashable, list[tuple[Scalar, SyncRecord]]] | None = None
        self.historical = historical
        self.linked = linked
        self.changes: list[Change] = []
        self.errors: dict[tuple[ObjectType, ObjectId], ObjectError] = {}
        self.wrappers: dict[ObjectType, dict[Hashable, ProvisioningWrapper]] = {
            t: {} for t in ObjectType
        }
        self.matches: dict[ObjectType, MatchResult[Any, Any]] = {}
        self.links: dict[ObjectType, dict[str, str]] = {ObjectType.GROUP: {}, ObjectType.ENTITY: {}}
        self.inserted: dict[ObjectType, set[str]] = {
            ObjectType.GROUP: set(),
            ObjectType.ENTITY: set(),
        }
        self.native: dict[ObjectType, Mapping[str, Bean]] = {}
        self.normal: dict[ObjectType, Mapping[str, Bean]] = {}
        self.managed_targets: dict[ObjectType, set[Hashable]] = {}
        # Readable names, worked out once: a group's is in each of its memberships' labels.
        self._names: dict[tuple[ObjectType, Hashable], str | None] = {}
        self._left_out: dict[ObjectType, frozenset[str]] = {}
        # Membership rows paired on their values but naming another group or entity.
        self._stale_rows: set[MembershipId] = set()
        # Replaced lists of membership objects: by group, the memberships whose
        # records hold the rows each drops.
        self._dropped: dict[str, list[MembershipId]] = {}
        # The records holding another row than the one their links name (_row_record).
        self._rows_by_links: dict[Hashable, SyncRecord] | None = None

    # -- the run ---------------------------------------------------------------

    def run(self, target: TargetData) -> Comparison:
        for membership_id, errors in self.tr.membership_errors.items():
            self._error(ObjectType.MEMBERSHIP, membership_id, errors[0])
        self._owners(ObjectType.GROUP, self.tr.groups, target.groups)
        self._owners(ObjectType.ENTITY, self.tr.entities, target.entities)
        owner = self.b.membership_owner
        if owner is not None:
            self._membership_values(owner)
        elif (
            self.b.membership_type is MembershipType.MEMBERSHIP_OBJECTS
            and self.b.memberships.operate
        ):
            self._membership_objects(target.memberships)
        plan = Plan(
            provisioner=self.t.config.name,
            # A change made with its label (the per-membership ones) keeps it.
            changes=[
                c if c.label is not None else attrs.evolve(c, label=self._label(c))
                for c in self.changes
            ],
            errors=tuple(PlannedError(t, i, e) for (t, i), e in self.errors.items()),
            set_aside=tuple(
                SetAside(object_type, tid, reason)
                for object_type, result in self.matches.items()
                for tid, reason in result.set_aside.items()
            ),
            links={t: dict(m) for t, m in self.links.items()},
        )
        return Comparison(plan=plan, wrappers=self.wrappers, matches=self.matches)

    def _name(self, object_type: ObjectType, grouper_id: Hashable) -> str | None:
        """A Grouper object's readable name: a group's full name, a subject id."""
        key = (object_type, grouper_id)
        names = self._names
        if key in names:
            return names[key]
        table = self.tr.groups if object_type is ObjectType.GROUP else self.tr.entities
        translated = table.get(grouper_id)  # type: ignore[call-overload]  # str ids
        name: str | None = None
        if translated is not None:
            field = "name" if object_type is ObjectType.GROUP else "subject_id"
            value = translated.source.get(field)
            name = None if value is None else str(value)
        names[key] = name
        return name

    def _target_name(self, object_type: ObjectType, target_id: Hashable) -> str | None:
        """A target-only object's readable name: its first matching key's values."""
        bean = self.normal.get(object_type, {}).get(target_id)  # type: ignore[call-overload]  # str ids
        if bean is None:
            return None
        ids = Matcher(self.t, object_type).matching_ids(bean)
        values = next((i for i in ids if i is not None), None)
        if values is None:
            return None
        parts = [bean.get(n) for n in values.key.split("+")]
        return " / ".join(str(p) for p in parts)

    def _label(self, change: Change) -> str | None:
        object_type, object_id = change.object_type, change.object_id
        if object_type is not ObjectType.MEMBERSHIP:
            return self._name(object_type, object_id) or self._target_name(object_type, object_id)
        owner = self.b.membership_owner
        if owner is not None and change.owner_id is not None:
            return self._value_label(owner, change.owner_id, change.value)
        if isinstance(object_id, tuple) and object_id in self.tr.memberships:
            return self._membership_label(object_id)  # type: ignore[arg-type]  # a membership id
        if change.action is Action.REPLACE and change.owner_id is not None:
            return self._name(ObjectType.GROUP, change.owner_id)
        if isinstance(change.bean, ProvisioningMembership):
            ids = Matcher(self.t, ObjectType.MEMBERSHIP).matching_ids(change.bean)
            found = next((i for i in ids if i is not None), None)
            if found is not None:
                return " / ".join(str(change.bean.get(n)) for n in found.key.split("+"))
        return None

    def _value_label(self, owner: ObjectType, owner_id: str, value: Scalar | None) -> str:
        """A membership value's readable name: its owner's name / the value."""
        name = self._name(owner, owner_id) or owner_id
        return name if value is None else f"{name} / {value}"

    def _membership_label(self, mid: MembershipId) -> str:
        """A Grouper membership's readable name: group name / subject id."""
        group = self._name(ObjectType.GROUP, mid[0]) or mid[0]
        entity = self._name(ObjectType.ENTITY, mid[1]) or mid[1]
        return f"{group} / {entity}"

    def _error(self, object_type: ObjectType, object_id: ObjectId, error: ObjectError) -> None:
        self.errors.setdefault((object_type, object_id), error)

    def _record(self, object_type: ObjectType, key: Hashable) -> SyncRecord | None:
        return self.records.get(object_type, {}).get(key)

    # -- groups and entities -------------------------------------------------------

    def _owners(
        self,
        object_type: ObjectType,
        translated: Mapping[str, Translated[_OwnerT]],
        target: Iterable[_OwnerT],
    ) -> None:
        ob = self.b.of(object_type)
        if not ob.operate:
            return
        native: dict[str, _OwnerT] = {b.id: b for b in target} if ob.select else {}
        normal = {tid: self.t.from_target(object_type, b) for tid, b in native.items()}
        self.native[object_type], self.normal[object_type] = native, normal
        matcher = Matcher(self.t, object_type)
        result = matcher.match(
            {gid: tr.bean for gid, tr in translated.items()},
            normal,
            historical=self.historical.get(object_type),
            linked=self.linked.get(object_type),
        )
        self.matches[object_type] = result
        self.links[object_type].update(result.pairs)
        plural = _PLURAL[object_type]
        wrappers = self.wrappers[object_type]
        updated = None if self.updated is None else self.updated.get(object_type, ())
        for gid, tr in translated.items():
            error = tr.error or result.errors.get(gid)
            tid = result.pairs.get(gid)
            action: Action | None = None
            if error is not None:
                self._error(object_type, gid, error)
            elif tid is not None:
                if ob.update.on and (updated is None or gid in updated):
                    action = self._update(
                        object_type,
                        gid,
                        tid=tid,
                        want=tr.bean,
                        have=normal[tid],
                        native=native[tid],
                    )
            elif ob.insert.on:
                action = Action.INSERT
                self.inserted[object_type].add(gid)
                self._set_after_insert(object_type, gid, tr.bean)
                self.changes.append(
                    Change(
                        action=Action.INSERT,
                        object_type=object_type,
                        object_id=gid,
                        bean=self._insert_bean(object_type, tr),
                        search=matcher.search_keys(tr.bean),
                        reasons=(
                            Reason(
                                "missing_in_target",
                                f"provisionable in Grouper, not in the target ({plural}.insert)",
                            ),
                        ),
                    )
                )
            else:
                error = ObjectError(
                    SyncErrorCode.DNE,
                    f"missing in the target, and {plural} may not be inserted "
                    f"({plural}.insert is off or the target cannot insert {plural})",
                )
                self._error(object_type, gid, error)
            wrappers[gid] = ProvisioningWrapper(
                object_type=object_type,
                object_id=gid,
                grouper=tr.source,
                translated=tr,
                target=normal.get(tid) if tid is not None else None,
                native=native.get(tid) if tid is not None else None,
                record=self._record(object_type, tid) if tid is not None else None,
                action=action,
                error=error,
            )
        managed: set[Hashable] = set(result.pairs.values())
        for tid in result.unmatched_target:
            record = self._record(object_type, tid)
            action = self._delete(object_type, ob, tid, native[tid], record)
            if action is Action.DELETE:
                # Its membership objects go with it: left, they named no group.
                managed.add(tid)
            wrappers[tid] = ProvisioningWrapper(
                object_type=object_type,
                object_id=tid,
                target=normal[tid],
                native=native[tid],
                record=record,
                action=action,
            )
        for tid, reason in result.set_aside.items():
            wrappers[tid] = ProvisioningWrapper(
                object_type=object_type,
                object_id=tid,
                target=normal[tid],
                native=native[tid],
                record=self._record(object_type, tid),
                error=ObjectError(SyncErrorCode.MAT, f"set aside: {reason}"),
            )
        self.managed_targets[object_type] = managed

    def _set_after_insert(self, object_type: ObjectType, object_id: ObjectId, bean: Bean) -> None:
        """Attributes not sent on insert but updatable are set right after the insert."""
        if not self.b.of(object_type).update.on:
            return
        changes = tuple(
            AttributeChange.replace(config.name, bean.get(config.name))
            for config in self.t.compared_attributes(object_type)
            if not config.insert and bean.get(config.name) is not None
        )
        if changes:
            self.changes.append(
                Change(
                    action=Action.UPDATE,
                    object_type=object_type,
                    object_id=object_id,
                    attribute_changes=changes,
                    with_owner=True,
                    reasons=(
                        Reason(
                            "set_after_insert",
                            "not sent when inserting (insert = false) but updatable: "
                            + ", ".join(c.attribute for c in changes),
                        ),
                    ),
                )
            )

    def _insert_bean(self, object_type: ObjectType, tr: Translated[_BeanT]) -> _BeanT:
        bean = tr.insert_bean()
        left_out = self._left_out.get(object_type)
        if left_out is None:
            left_out = self._left_out[object_type] = self._not_inserted(object_type)
        if not left_out:
            return bean  # the usual case: everything is sent
        drop = [name for name in bean.attributes if name in left_out]
        return bean.without_attributes(*drop) if drop else bean

    def _not_inserted(self, object_type: ObjectType) -> frozenset[str]:
        """The attributes of *object_type* never sent with an insert."""
        names = set(self.t.not_inserted(object_type))
        if self.b.membership_owner is object_type and not self.b.memberships.insert.on:
            names.add(self.t.membership_attribute or "")
        return frozenset(names)

    def _update(
        self,
        object_type: ObjectType,
        object_id: ObjectId,
        *,
        tid: str | None,
        want: Bean,
        have: Bean,
        native: Bean,
    ) -> Action | None:
        attribute_changes: list[AttributeChange] = []
        reasons: list[Reason] = []
        for config in self.t.compared_attributes(object_type):
            change = self._diff(
                object_type,
                config.name,
                config.multi_valued,
                want.get(config.name),
                have.get(config.name),
            )
            if change is not None:
                attribute_changes.extend(change)
                reasons.append(
                    Reason(
                        "attribute_differs",
                        f"{config.name}: target has {_show(have.get(config.name))}, "
                        f"Grouper has {_show(want.get(config.name))}",
                    )
                )
        if not attribute_changes:
            return None
        self.changes.append(
            Change(
                action=Action.UPDATE,
                object_type=object_type,
                object_id=object_id,
                target_id=tid,
                bean=native,
                attribute_changes=tuple(attribute_changes),
                reasons=tuple(reasons),
            )
        )
        return Action.UPDATE

    def _diff(
        self,
        object_type: ObjectType,
        name: str,
        multi: bool,
        want: AttributeValue,
        have: AttributeValue,
    ) -> list[AttributeChange] | None:
        if self.t.compare_form(object_type, name, want) == self.t.compare_form(
            object_type, name, have
        ):
            return None
        if not multi:
            if (
                have is not None
                and not isinstance(have, frozenset)
                and self.t.is_ignored(object_type, name, have)
            ):
                return None  # an ignored value is never removed
            return [AttributeChange.replace(name, want)]
        want_map = self.t.value_map(object_type, name, want)
        have_map = self.t.value_map(object_type, name, have)
        if not self.b.value_changes:
            kept = frozenset(v for v in _items(have) if self.t.is_ignored(object_type, name, v))
            return [AttributeChange.replace(name, (frozenset(want_map.values()) | kept) or None)]
        result: list[AttributeChange] = []
        adds = [want_map[k] for k in want_map.keys() - have_map.keys()]
        removes = [have_map[k] for k in have_map.keys() - want_map.keys()]
        # Removals first (as for member values): a target may take a removed
        # value and an added one as equal (a directory's "Alpha" and "alpha");
        # added first, the new one would be "there already" and then removed.
        if removes:
            result.append(AttributeChange.remove(name, removes))
        if adds:
            result.append(AttributeChange.add(name, adds))
        return result

    def _delete(
        self,
        object_type: ObjectType,
        ob: ObjectBehavior,
        object_id: ObjectId,
        native: Bean,
        record: SyncRecord | None,
        *,
        in_managed_group: bool | None = None,
    ) -> Action | None:
        if not ob.delete.on:
            return None
        decision = may_delete(ob.delete_policy, record, in_managed_group=in_managed_group)
        if not decision:
            return None
        self.changes.append(
            Change(
                action=Action.DELETE,
                object_type=object_type,
                object_id=object_id,
                target_id=native.id if not isinstance(native, ProvisioningMembership) else None,
                bean=native,
                reasons=(
                    Reason("not_in_grouper", "in the target, not provisioned by Grouper"),
                    Reason("delete_policy", decision.reason),
                ),
            )
        )
        return Action.DELETE

    # -- memberships as attribute values ---------------------------------------

    def _available(self, object_type: ObjectType, grouper_id: str) -> bool:
        """Whether a membership's group or entity is, or will be, in the target."""
        if not self.b.of(object_type).operate:
            return True
        return grouper_id in self.links[object_type] or grouper_id in self.inserted[object_type]

    def _membership_values(self, owner: ObjectType) -> None:
        ms = self.b.memberships
        name = self.t.membership_attribute
        assert name is not None  # noqa: S101  # an attribute membership type
        member_type = ObjectType.ENTITY if owner is ObjectType.GROUP else ObjectType.GROUP
        # Members not operated on are not this run's to insert: every one is available.
        check = self.b.of(member_type).operate
        translated = self.tr.groups if owner is ObjectType.GROUP else self.tr.entities
        for owner_id in translated:
            desired = self.tr.membership_values.get(owner_id, {})
            error = self.errors.get((owner, owner_id))
            if error is not None:
                # An owner with an error is left alone, memberships included.
                if error.code is SyncErrorCode.DNE and owner_id not in self.links[owner]:
                    # Not in the target: neither are its values, whatever the records say.
                    self._owner_missing(owner, desired.values())
                continue
            if owner_id in self.inserted[owner]:
                if ms.insert.on:
                    values: Collection[MembershipValue] = desired.values()
                    if check:
                        kept = [v for v in values if self._members_available(member_type, owner, v)]
                        if len(kept) < len(desired):
                            missing = {v.value for v in values} - {v.value for v in kept}
                            self._drop_from_insert(owner, owner_id, name, missing)
                        values = kept
                    if values:
                        self._with_owner(owner, owner_id, name, values)
                continue
            # An owner neither paired nor inserted has an error (DNE, MAT, ...), so
            # it was skipped above: this one is in the target.
            tid = self.links[owner][owner_id]
            native = self.native[owner][tid]
            current = self.t.value_map(owner, name, self.normal[owner][tid].get(name))
            adds = [desired[k] for k in desired.keys() - current.keys()]
            removes = [current[k] for k in current.keys() - desired.keys()]
            if not ms.insert.on:
                adds = []
            elif check:
                adds = [v for v in adds if self._members_available(member_type, owner, v)]
            # Each value's record, found once: the delete it may become says why by it.
            held = (
                {v: self._value_record(owner, owner_id, name, v) for v in removes}
                if ms.delete.on
                else {}
            )
            if any(r is None or not r.in_target for r in held.values()):
                self._held_before(owner, owner_id, tid, name, held)
            removes = [
                v
                for v, record in held.items()
                if may_delete(
                    ms.delete_policy,
                    record,
                    # Without a record only not_in_grouper may delete: only then
                    # is it asked whose the value is (which reads every record once).
                    in_managed_group=record is not None
                    or (
                        ms.delete_policy is DeletePolicy.NOT_IN_GROUPER
                        and self._of_a_group(owner, name, v)
                    ),
                )
            ]
            if not adds and not removes:
                continue
            if self.b.value_changes:
                for value in adds:
                    self._value_change(Action.INSERT, owner_id, tid, native, value)
                for raw in removes:
                    self._value_change(
                        Action.DELETE, owner_id, tid, native,
                        MembershipValue(value=raw, memberships=()), record=held[raw],
                    )  # fmt: skip
                continue
            keep = set(current.keys()) - {k for k, v in current.items() if v in removes}
            new = {current[k] for k in keep} | {v.value for v in adds}
            new |= {
                v
                for v in _items(self.normal[owner][tid].get(name))
                if self.t.is_ignored(owner, name, v)
            }
            new |= set(self.hidden_values.get(tid, ()))
            self.changes.append(
                Change(
                    action=Action.REPLACE,
                    object_type=ObjectType.MEMBERSHIP,
                    object_id=owner_id,
                    target_id=tid,
                    bean=native,
                    owner_id=owner_id,
                    attribute_changes=(AttributeChange.replace(name, frozenset(new) or None),),
                    memberships=tuple(m for v in desired.values() for m in v.memberships),
                    added=tuple(m for v in adds for m in v.memberships),
                    removed=tuple(
                        r.grouper_id
                        for v in removes
                        if (r := held[v]) is not None and isinstance(r.grouper_id, tuple)
                    ),
                    reasons=(
                        Reason(
                            "members_differ",
                            f"{len(adds)} to add, {len(removes)} to remove; the target "
                            f"cannot add or remove single values, so {name} is replaced",
                        ),
                    ),
                )
            )
        if ms.delete.on and owner is ObjectType.ENTITY:
            self._left_values(owner, name)

    def _left_values(self, owner: ObjectType, name: str) -> None:
        """Remove the values an owner left on the object it answered to before it moved.

        People owned by the identity system (entities neither inserted nor
        deleted): a person whose ``uid`` changed to that of another entry
        (a new netid, the old entry kept) is paired with the new entry, and
        gets their values there. Their old entry is no one's now: it is out
        of the run's view, as every entry no one answers to is, and it kept
        the person's values (their groups) for good, under every policy.
        An object the plan deletes takes its values with it; an object only
        the owner's record holds has those the membership delete policy
        allows removed, judged by the owner's records as on their own
        object. A removal that fails keeps the record on the old object,
        with the error, until a retry removes it (see the record keeper).
        """
        result = self.matches.get(owner)
        if result is None:
            return
        links, wrappers = self.links[owner], self.wrappers[owner]
        policy = self.b.memberships.delete_policy
        for tid in result.unmatched_target:
            wrapper = wrappers.get(tid)
            record = self._record(owner, tid)
            if record is None or (wrapper is not None and wrapper.action is Action.DELETE):
                continue  # no one's, or deleted with its values
            holder = str(record.grouper_id)
            if links.get(holder) is None:
                continue  # its owner answers to no other object (gone, or in error)
            native = self.native[owner][tid]
            current = self.t.value_map(owner, name, self.normal[owner][tid].get(name))
            removes: list[tuple[Scalar, str]] = []
            for raw in current.values():
                held = self._value_record(owner, holder, name, raw)
                decision = may_delete(
                    policy,
                    held,
                    in_managed_group=held is not None
                    or (
                        policy is DeletePolicy.NOT_IN_GROUPER and self._of_a_group(owner, name, raw)
                    ),
                )
                if decision:
                    removes.append((raw, decision.reason))
            if not removes:
                continue
            why = f"on {tid!r}, which {holder!r} no longer answers to"
            # The object's own target id as the owner: not its old owner's (whose
            # object now is another), nor any Grouper object's.
            if self.b.value_changes:
                self.changes.extend(
                    Change(
                        action=Action.DELETE,
                        object_type=ObjectType.MEMBERSHIP,
                        object_id=(tid, raw),
                        target_id=tid,
                        bean=native,
                        owner_id=tid,
                        value=raw,
                        attribute_changes=(AttributeChange.remove(name, [raw]),),
                        reasons=(Reason(LEFT_BEHIND, f"{name} {raw!r} {why}: {reason}"),),
                        label=self._value_label(owner, holder, raw),
                    )
                    for raw, reason in removes
                )
                continue
            gone = {raw for raw, _ in removes}
            kept = {v for v in _items(self.normal[owner][tid].get(name)) if v not in gone}
            kept |= set(self.hidden_values.get(tid, ()))
            self.changes.append(
                Change(
                    action=Action.REPLACE,
                    object_type=ObjectType.MEMBERSHIP,
                    object_id=tid,
                    target_id=tid,
                    bean=native,
                    owner_id=tid,
                    attribute_changes=(AttributeChange.replace(name, frozenset(kept) or None),),
                    reasons=(
                        Reason(
                            LEFT_BEHIND,
                            f"{len(gone)} {name} values {why}; the target cannot remove "
                            f"single values, so {name} is replaced",
                        ),
                    ),
                    label=self._value_label(owner, holder, None),
                )
            )

    def _held_before(
        self,
        owner: ObjectType,
        owner_id: str,
        tid: str,
        name: str,
        held: dict[Scalar, SyncRecord | None],
    ) -> None:
        """Fill in *held* from the records of the owner whose object this was before.

        A group renamed to the name of a group Grouper deleted takes over
        that group's target object (it matches by name), with the members
        grouperprov wrote for the other group. Their records are under the
        other group's id: looked up only under this group's, they were not
        grouperprov's, and under ``inserted_by_us`` or
        ``removed_from_grouper`` the other group's members kept their access
        for good.
        """
        before = self._record(owner, tid)
        if before is None or before.grouper_id == owner_id:
            return
        for value, record in held.items():
            if record is None or not record.in_target:
                # An owner's own record that says the value never reached the
                # target (its insert failed) did not write the one it holds.
                found = self._value_record(owner, str(before.grouper_id), name, value)
                held[value] = found if found is not None else record

    def _value_record(
        self, owner: ObjectType, owner_id: str, name: str, value: Scalar
    ) -> SyncRecord | None:
        """The record of a membership value the target holds, found as the engine compares it.

        Records keep the value as written; the target may hold it in another
        case (a member DN another tool wrote) where the attribute compares
        ignoring case: found exactly, the record was missed, and a member
        Grouper removed stayed under ``removed_from_grouper``.
        """
        record = self._record(ObjectType.MEMBERSHIP, (owner_id, value))
        if record is not None or self.t.strings_are_forms(owner, name):
            return record
        forms = self.t.value_map(owner, name, value).keys()
        for held, found in self._records_by_owner().get(owner_id, ()):
            if forms & self.t.value_map(owner, name, held).keys():
                return found
        return None

    def _records_by_owner(self) -> dict[Hashable, list[tuple[Scalar, SyncRecord]]]:
        """The membership value records by owner, ``(value, record)`` each, made in one pass."""
        if self._value_records is None:
            by_owner: dict[Hashable, list[tuple[Scalar, SyncRecord]]] = {}
            for key, found in self.records.get(ObjectType.MEMBERSHIP, {}).items():
                if isinstance(key, tuple) and len(key) == 2:  # noqa: PLR2004  # (owner, value)
                    by_owner.setdefault(key[0], []).append((key[1], found))
            self._value_records = by_owner
        return self._value_records

    def _of_a_group(self, owner: ObjectType, name: str, value: Scalar) -> bool:
        """Whether a value the target holds names a group that is or was provisioned.

        A group's list holds its own members: every value is its group's. A
        person's values (``entity_attributes``) may be another system's
        (``urn:mace:other:...`` next to Grouper's entitlements): one is
        Grouper's when a group of this run gives it (to someone or, without
        members, to no one), or a sync record holds it for someone. Others
        are never removed, whatever the delete policy: only memberships of
        groups that are or were provisioned are.
        """
        if owner is ObjectType.GROUP:
            return True
        if self._group_values is None:
            known: set[Hashable] = set()
            for values in self.tr.membership_values.values():
                known.update(values)
            # A group's value depends on the group alone: one without members
            # (its last left, and no record says so) names it all the same.
            for group in self.tr.groups.values():
                given, errors = self.t.membership_value(group.source)
                if not errors:
                    known.update(self.t.value_map(owner, name, given))
            # The records' distinct values (a group's, once for all its members), then their forms.
            held = frozenset(v for values in self._records_by_owner().values() for v, _ in values)
            known.update(self.t.value_map(owner, name, held))
            self._group_values = known
        return any(k in self._group_values for k in self.t.value_map(owner, name, value))

    def _with_owner(
        self, owner: ObjectType, owner_id: str, name: str, values: Collection[MembershipValue]
    ) -> None:
        """One change for all membership values of a new owner: written with its insert.

        A campus synced from empty has a new owner per group (or person), each
        with its whole membership list: one change each, not one per value
        (see :func:`with_owner_values` for the values one by one).
        """
        memberships = tuple(m for v in values for m in v.memberships)
        self.changes.append(
            Change(
                action=Action.INSERT,
                object_type=ObjectType.MEMBERSHIP,
                object_id=owner_id,
                owner_id=owner_id,
                attribute_changes=(AttributeChange.add(name, [v.value for v in values]),),
                memberships=memberships,
                with_owner=True,
                reasons=(
                    Reason(
                        "members_missing",
                        f"{_counted(len(values), name + ' value')} in Grouper (from "
                        f"{_counted(len(memberships), 'membership')}), not in the target: "
                        f"written with the new {owner.value}",
                    ),
                ),
                label=self._value_label(owner, owner_id, None),
            )
        )

    def _drop_from_insert(
        self, owner: ObjectType, owner_id: str, name: str, values: set[Scalar]
    ) -> None:
        """Leave values whose member will not be in the target out of the owner's insert."""
        for index, change in enumerate(self.changes):
            if (
                change.action is Action.INSERT
                and change.object_type is owner
                and change.object_id == owner_id
                and change.bean is not None
            ):
                kept = change.bean.values(name) - values
                bean = change.bean.with_attributes({name: kept or None})
                self.changes[index] = attrs.evolve(change, bean=bean)
                return

    def _owner_missing(self, owner: ObjectType, values: Iterable[MembershipValue]) -> None:
        """DNE for the memberships of an owner that is not and will not be in the target."""
        error = ObjectError(
            SyncErrorCode.DNE, f"its {owner.value} is not in the target and may not be inserted"
        )
        for value in values:
            for mid in value.memberships:
                self._error(ObjectType.MEMBERSHIP, mid, error)

    def _members_available(
        self, member_type: ObjectType, owner: ObjectType, value: MembershipValue
    ) -> bool:
        """DNE for memberships whose member is not and will not be in the target."""
        index = 1 if owner is ObjectType.GROUP else 0
        if any(self._available(member_type, mid[index]) for mid in value.memberships):
            return True
        for mid in value.memberships:
            self._error(
                ObjectType.MEMBERSHIP,
                mid,
                ObjectError(
                    SyncErrorCode.DNE,
                    f"its {member_type.value} is not in the target and may not be inserted",
                ),
            )
        return False

    def _value_change(
        self,
        action: Action,
        owner_id: str,
        tid: str | None,
        native: Bean | None,
        value: MembershipValue,
        *,
        record: SyncRecord | None = None,
    ) -> None:
        """A value added, or removed (*record*: the value's, as :meth:`_value_record` found it)."""
        name = self.t.membership_attribute or ""
        op = AttributeChange.add if action is Action.INSERT else AttributeChange.remove
        if action is Action.INSERT:
            reason = _member_missing(name, value)
        else:
            decision = may_delete(self.b.memberships.delete_policy, record, in_managed_group=True)
            reason = Reason("member_not_in_grouper", f"{name} {value.value!r}: {decision.reason}")
            if (
                record is not None
                and isinstance(record.grouper_id, tuple)
                and self._record(ObjectType.MEMBERSHIP, (owner_id, value.value)) is not record
            ):
                # Held in another form than written (a DN in another case): the
                # change names its membership, whose record its target id
                # would not find (an incremental run's narrowing neither).
                value = MembershipValue(value=value.value, memberships=(record.grouper_id,))
        self.changes.append(
            Change(
                action=action,
                object_type=ObjectType.MEMBERSHIP,
                object_id=(owner_id, value.value),
                target_id=tid,
                bean=native,
                owner_id=owner_id,
                value=value.value,
                attribute_changes=(op(name, [value.value]),),
                memberships=value.memberships,
                reasons=(reason,),
                label=self._value_label(
                    self.b.membership_owner or ObjectType.GROUP, owner_id, value.value
                ),
            )
        )

    # -- membership objects ------------------------------------------------------

    def _membership_objects(self, target: Iterable[ProvisioningMembership]) -> None:
        ms = self.b.memberships
        beans = list(target) if ms.select else []
        all_native: dict[MembershipId, ProvisioningMembership] = dict(
            zip(map(_IDS, beans), beans, strict=True)
        )
        replace = Mode.REPLACE in (ms.insert, ms.delete)
        matcher = Matcher(self.t, ObjectType.MEMBERSHIP)
        found = _Settled({}) if replace else self._settled_memberships(all_native)
        if found.pairs and self._stale(found.pairs):
            found = _Settled({})  # rare: each pair is looked at by the general matching below
        settled = found.pairs
        native = all_native
        translated: Mapping[MembershipId, Translated[ProvisioningMembership]] = self.tr.memberships
        # Decided (the usual case from empty): no general matching is needed.
        decided = found.decided and len(self.t.config.memberships.matching) == 1
        if settled or decided:
            native, translated = _left_over(found, all_native, translated)
        normal = {k: self.t.from_target(ObjectType.MEMBERSHIP, m) for k, m in native.items()}
        # Translated once here (a lazy mapping builds each translation on access).
        translated_items = list(translated.items())
        result: MatchResult[MembershipId, MembershipId] = (
            MatchResult(
                pairs={},
                matched_by={},
                unmatched_translated=tuple(translated),
                unmatched_target=(),
                errors={},
                set_aside={},
            )
            if decided
            else self._without_stale(
                matcher.match({mid: tr.bean for mid, tr in translated_items}, normal)
            )
        )
        if settled:
            result = self._with_settled(result, settled, matcher)
            all_translated = self.tr.memberships
            self.wrappers[ObjectType.MEMBERSHIP] = LazyMap(  # type: ignore[assignment]  # read-only from here on
                {},
                settled,
                lambda mid, tid: ProvisioningWrapper(
                    object_type=ObjectType.MEMBERSHIP,
                    object_id=mid,
                    grouper=all_translated[mid].source,
                    translated=all_translated[mid],
                    target=self.t.from_target(ObjectType.MEMBERSHIP, all_native[tid]),
                    native=all_native[tid],
                ),
            )
        self.matches[ObjectType.MEMBERSHIP] = result
        touched: set[str] = set()
        wrappers = self._explicit_wrappers(ObjectType.MEMBERSHIP)
        for mid, tr in translated_items:
            error = tr.error or result.errors.get(mid)
            tid = result.pairs.get(mid)
            action: Action | None = None
            if error is not None:
                self._error(ObjectType.MEMBERSHIP, mid, error)
            elif tid is not None:
                if ms.update.on:
                    action = self._update(
                        ObjectType.MEMBERSHIP,
                        mid,
                        tid=None,
                        want=tr.bean,
                        have=normal[tid],
                        native=native[tid],
                    )
            elif not (
                self._available(ObjectType.GROUP, mid[0])
                and self._available(ObjectType.ENTITY, mid[1])
            ):
                missing = "group" if not self._available(ObjectType.GROUP, mid[0]) else "entity"
                error = ObjectError(
                    SyncErrorCode.DNE, f"its {missing} is not in the target and may not be inserted"
                )
                self._error(ObjectType.MEMBERSHIP, mid, error)
            elif ms.insert.on:
                action = Action.INSERT
                touched.add(mid[0])
                if not replace:
                    self._set_after_insert(ObjectType.MEMBERSHIP, mid, tr.bean)
                    self.changes.append(
                        Change(
                            action=Action.INSERT,
                            object_type=ObjectType.MEMBERSHIP,
                            object_id=mid,
                            bean=self._insert_bean(ObjectType.MEMBERSHIP, tr),
                            owner_id=mid[0],
                            search=matcher.search_keys(tr.bean),
                            reasons=_MISSING_IN_TARGET,
                            label=self._membership_label(mid),
                        )
                    )
            else:
                error = ObjectError(
                    SyncErrorCode.DNE, "missing in the target, and memberships may not be inserted"
                )
                self._error(ObjectType.MEMBERSHIP, mid, error)
            wrappers[mid] = ProvisioningWrapper(
                object_type=ObjectType.MEMBERSHIP,
                object_id=mid,
                grouper=tr.source,
                translated=tr,
                target=normal.get(tid) if tid is not None else None,
                native=native.get(tid) if tid is not None else None,
                action=action,
                error=error,
            )
        kept = self._membership_object_deletes(result.unmatched_target, native, normal, touched)
        if replace:
            self._replace_lists(touched, kept)

    def _stale(self, pairs: Mapping[MembershipId, MembershipId]) -> set[MembershipId]:
        """The pairs whose target row names another group or entity than the one it stands for.

        Found with a group row deleted by hand, its membership rows kept, and
        the group inserted again under a new (database-made) key: the old
        rows matched the memberships on their attributes, and the sync took
        them for the new group's, run after run. A row is stale when its
        group (or entity, when entities are provisioned) has another target
        id now, or is inserted by this run; a group with an error, whose
        target id is not known, leaves its rows alone.
        """
        stale: set[MembershipId] = set()
        for index, object_type in enumerate((ObjectType.GROUP, ObjectType.ENTITY)):
            if not self.b.of(object_type).operate:
                continue
            links = self.links[object_type]
            part = operator.itemgetter(index)
            if all(map(operator.eq, map(links.get, map(part, pairs)), map(part, pairs.values()))):
                continue  # checked in C: the usual case
            inserted = self.inserted[object_type]
            for mid, tid in pairs.items():
                expected = links.get(mid[index])
                if (expected is None and mid[index] in inserted) or (
                    expected is not None and expected != tid[index]
                ):
                    stale.add(mid)
        return stale

    def _without_stale(
        self, result: MatchResult[MembershipId, MembershipId]
    ) -> MatchResult[MembershipId, MembershipId]:
        """*result* with its stale pairs undone.

        The Grouper membership is then inserted anew, and the row it was
        paired with is extra, in a group that was provisioned.
        """
        undone = sorted(self._stale(result.pairs))
        if not undone:
            return result
        rows = [result.pairs[m] for m in undone]
        self._stale_rows.update(rows)
        return attrs.evolve(
            result,
            pairs={m: t for m, t in result.pairs.items() if m not in undone},
            matched_by={m: k for m, k in result.matched_by.items() if m not in undone},
            unmatched_translated=(*result.unmatched_translated, *undone),
            unmatched_target=(*result.unmatched_target, *rows),
        )

    def _explicit_wrappers(self, object_type: ObjectType) -> dict[Hashable, ProvisioningWrapper]:
        wrappers = self.wrappers[object_type]
        if isinstance(wrappers, LazyMap):
            return wrappers.explicit  # type: ignore[return-value]  # a dict, made above
        return wrappers

    def _settled_memberships(
        self, native: Mapping[MembershipId, ProvisioningMembership]
    ) -> _Settled:
        """Memberships certainly paired on the first matching key, and equal.

        These need no change, so no translated bean, normalised target bean or
        wrapper is built for them here (the wrappers are built on access). See
        :func:`_settle`.
        """
        translated = self.tr.memberships
        keys = self.t.config.memberships.matching
        if (
            not isinstance(translated, _SeparableMemberships)
            or not keys
            or self.historical.get(ObjectType.MEMBERSHIP)
        ):
            return _Settled({})
        compared = (
            tuple(a.name for a in self.t.compared_attributes(ObjectType.MEMBERSHIP))
            if self.b.memberships.update.on and native
            else ()  # with nothing in the target, nothing is compared: the key decides
        )
        return _settle(self.t, translated, native, tuple(keys[0]), compared)

    def _with_settled(
        self,
        result: MatchResult[MembershipId, MembershipId],
        settled: Mapping[MembershipId, MembershipId],
        matcher: Matcher,
    ) -> MatchResult[MembershipId, MembershipId]:
        translated = self.tr.memberships

        def matched_by(mid: MembershipId, _tid: MembershipId) -> MatchingId:
            found = matcher.matching_ids(translated[mid].bean)[0]
            assert found is not None  # noqa: S101  # settled on it
            return found

        return attrs.evolve(
            result,
            pairs=merged(result.pairs, settled),
            matched_by=LazyMap(result.matched_by, settled, matched_by),
        )

    def _membership_object_deletes(
        self,
        unmatched: tuple[MembershipId, ...],
        native: Mapping[MembershipId, ProvisioningMembership],
        normal: Mapping[MembershipId, ProvisioningMembership],
        touched: set[str],
    ) -> dict[str, list[ProvisioningMembership]]:
        """Delete extra membership objects, or (replace mode) note the lists they change.

        Returns the extra memberships that must stay, by Grouper group id.
        """
        ms = self.b.memberships
        replace = Mode.REPLACE in (ms.insert, ms.delete)
        wrappers = self._explicit_wrappers(ObjectType.MEMBERSHIP)
        group_of = {t: g for g, t in self.links[ObjectType.GROUP].items()}
        kept: dict[str, list[ProvisioningMembership]] = {}
        for key in unmatched:
            membership = native[key]
            assert isinstance(membership, ProvisioningMembership)  # noqa: S101  # membership objects
            held = self._record(ObjectType.MEMBERSHIP, key)
            record = held if held is not None else self._row_record(key)
            managed = (
                not self.b.groups.operate
                or membership.group_id in self.managed_targets.get(ObjectType.GROUP, set())
                or key in self._stale_rows  # it stood for a Grouper membership
                # A row of Grouper's, whose group the target lost (deleted by hand).
                or (record is not None and record.known_to_grouper)
                # A row of a group that was provisioned (its object may be gone).
                or self._was_provisioned(membership.group_id)
            )
            grouper_group = group_of.get(membership.group_id)
            action: Action | None = None
            if replace:
                allowed = ms.delete.on and may_delete(
                    ms.delete_policy, record, in_managed_group=managed
                )
                if grouper_group is not None:
                    if allowed:
                        touched.add(grouper_group)
                        action = Action.REPLACE  # it goes with its group's new list
                        if record is not None and isinstance(record.grouper_id, tuple):
                            self._dropped.setdefault(grouper_group, []).append(record.grouper_id)
                    else:
                        kept.setdefault(grouper_group, []).append(membership)
            else:
                action = self._delete(
                    ObjectType.MEMBERSHIP, ms, key, membership, record, in_managed_group=managed
                )
            wrappers[key] = ProvisioningWrapper(
                object_type=ObjectType.MEMBERSHIP,
                object_id=key,
                target=normal[key],
                native=membership,
                record=held,
                action=action,
            )
        return kept

    def _row_record(self, key: MembershipId) -> SyncRecord | None:
        """The record of the membership a row no record holds is the row of, if it holds another.

        The row is that membership's when it names the group and entity
        objects the membership's group and entity records link. Found by
        fuzzing failed writes: a group whose object was deleted by hand went
        in again with its rows, while the delete of a row under the old
        object failed. One record holds one row: the membership's record kept
        the old one, to retry its delete, and nothing said that grouperprov
        had inserted the new one. Once Grouper removed the member, the new
        row stayed for good under ``inserted_by_us``: the person kept the
        group in the target.
        """
        index = self._rows_by_links
        if index is None:
            index = self._rows_by_links = {}
            groups = self.linked.get(ObjectType.GROUP, {})
            entities = self.linked.get(ObjectType.ENTITY, {})
            for record in self.records.get(ObjectType.MEMBERSHIP, {}).values():
                mid = record.grouper_id
                if not (record.in_target and isinstance(mid, tuple)):
                    continue
                row = (groups.get(mid[0]), entities.get(mid[1]))
                if None not in row and row != record.target_id:
                    index[row] = record
        return index.get(key)

    def _was_provisioned(self, group_target_id: str) -> bool:
        """Whether a group record holds *group_target_id* as Grouper's.

        Whether the target still has that object or not: a group Grouper
        provisioned once that is extra now, or whose object is gone. Found
        for the latter by fuzzing hand edits: a row added by hand to a provisioned
        group, whose group row was then deleted by hand (no foreign key).
        The group went in again under a new key; the row named the old one,
        which no longer was in the target, so it was in no managed group and
        stayed for good under ``not_in_grouper``.
        """
        record = self._record(ObjectType.GROUP, group_target_id)
        return record is not None and record.known_to_grouper

    def _replace_lists(
        self, groups: set[str], kept: Mapping[str, list[ProvisioningMembership]]
    ) -> None:
        by_group: dict[str, list[tuple[MembershipId, Translated[ProvisioningMembership]]]] = {}
        for mid, tr in self.tr.memberships.items():
            if tr.valid and (ObjectType.MEMBERSHIP, mid) not in self.errors:
                by_group.setdefault(mid[0], []).append((mid, tr))
        for gid in sorted(groups):
            desired = by_group.get(gid, [])
            tid = self.links[ObjectType.GROUP].get(gid)
            self.changes.append(
                Change(
                    action=Action.REPLACE,
                    object_type=ObjectType.MEMBERSHIP,
                    object_id=gid,
                    target_id=tid,
                    bean=self.native.get(ObjectType.GROUP, {}).get(tid) if tid else None,
                    owner_id=gid,
                    memberships=tuple(mid for mid, _ in desired),
                    # The memberships whose records hold the rows it drops: kept
                    # on them if it fails (a row of another group's, taken over).
                    removed=tuple(self._dropped.get(gid, ())),
                    # A replaced list carries every attribute: no insert follows it.
                    replacement=tuple(tr.insert_bean() for _, tr in desired)
                    + tuple(kept.get(gid, ())),
                    reasons=(
                        Reason(
                            "members_differ",
                            "the target can only replace a group's whole membership list",
                        ),
                    ),
                )
            )


_Form = tuple[Hashable, ...]
_FIRST = operator.itemgetter(0)
_SECOND = operator.itemgetter(1)


def with_owner_values(change: Change, translation: Translation) -> tuple[Change, ...]:
    """A new owner's membership values change, as one change per value.

    The plan carries the values written with a new owner's insert as one
    change per owner; a run narrowed to some memberships (an incremental
    recalc, a subject's diagnostics) looks at them one value at a time. Any
    other change is given back as it is.
    """
    if not change.with_owner or change.object_type is not ObjectType.MEMBERSHIP:
        return (change,)
    if change.owner_id is None or change.value is not None or not change.attribute_changes:
        return (change,)  # one value already
    name = change.attribute_changes[0].attribute
    listed = set(change.memberships)
    values = translation.membership_values.get(change.owner_id, {})
    return tuple(
        Change(
            action=Action.INSERT,
            object_type=ObjectType.MEMBERSHIP,
            object_id=(change.owner_id, value.value),
            owner_id=change.owner_id,
            value=value.value,
            attribute_changes=(AttributeChange.add(name, [value.value]),),
            memberships=value.memberships,
            with_owner=True,
            reasons=(_member_missing(name, value),),
            label=None if change.label is None else f"{change.label} / {value.value}",
        )
        for value in values.values()
        if value.memberships and value.memberships[0] in listed
    )


def _member_missing(name: str, value: MembershipValue) -> Reason:
    return Reason(
        "member_missing",
        f"{name} {value.value!r} is in Grouper (from "
        f"{_counted(len(value.memberships), 'membership')}), not in the target",
    )


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


_IDS = operator.attrgetter("group_id", "entity_id")  # a membership bean's id, in C
_IS_NONE = functools.partial(operator.is_, None)


class _Settled(NamedTuple):
    """What :func:`_settle` found: the settled pairs, and what it left if it knows.

    ``grouper_left`` and ``target_left`` are the Grouper memberships and the
    target objects not settled, each in input order, or ``None`` when the
    caller must work them out from ``pairs``.
    """

    pairs: dict[MembershipId, MembershipId]
    grouper_left: list[MembershipId] | None = None
    target_left: list[MembershipId] | None = None

    @property
    def decided(self) -> bool:
        """Whether the first matching key decides every membership's matching.

        :func:`_settle_unique` knows it when the target has nothing left: the
        memberships left have distinct, error-free forms that no target object
        has, so the general matching's first round would leave each one free,
        and nothing would be set aside or extra. Later keys can still give
        MAT (two memberships sharing one's value): the caller checks there
        is no other key.
        """
        return self.grouper_left is not None and self.target_left == []


def _left_over(
    found: _Settled,
    native: dict[MembershipId, ProvisioningMembership],
    translated: Mapping[MembershipId, Translated[ProvisioningMembership]],
) -> tuple[
    dict[MembershipId, ProvisioningMembership],
    dict[MembershipId, Translated[ProvisioningMembership]],
]:
    """The target objects and the Grouper memberships not settled, in input order.

    The plan's order must not depend on hashing.
    """
    if found.grouper_left is not None and found.target_left is not None:
        # _settle knew what it left: no pass over the settled ones.
        return (
            {k: native[k] for k in found.target_left},
            {mid: translated[mid] for mid in found.grouper_left},
        )
    # filter() with a set's __contains__ runs in C: only the few left cost Python time.
    rest = native.keys() - set(found.pairs.values())
    left_native = {k: native[k] for k in filter(rest.__contains__, native)}
    rest = set(translated) - found.pairs.keys()
    return left_native, {mid: translated[mid] for mid in filter(rest.__contains__, translated)}


def _settle(
    t: Translator,
    translated: _SeparableMemberships,
    native: Mapping[MembershipId, ProvisioningMembership],
    key: tuple[str, ...],
    compared: tuple[str, ...],
) -> _Settled:
    """Pair the memberships that need nothing, as compact tuples.

    A membership's *form* is a flat tuple of compare forms: the group side's
    attributes (static values included), then the entity side's, each side
    in the order of the first matching key and then of the compared
    attributes. Grouper's side is worked out once per group and once per
    entity, the target's once per distinct value. A Grouper membership and a
    target object are settled when their forms are equal, neither form is
    shared, the key part belongs to one object on each side, and the Grouper
    membership has no error: exactly when the general matching pairs them in
    its first round and the comparison plans nothing for them.
    """
    names = key + tuple(n for n in compared if n not in key)
    sides = [translated.side(n) for n in names]
    if None in sides:
        return _Settled({})
    g_names = [n for n, side in zip(names, sides, strict=True) if side != "entity"]
    e_names = [n for n, side in zip(names, sides, strict=True) if side == "entity"]
    # Where the key's values sit in a form (only needed with compared attributes).
    key_at = [i for i, n in enumerate([*g_names, *e_names]) if n in key]
    if translated.static_fails:
        return _Settled({})  # every membership has the static value's error
    g_ok, e_ok = _part_forms(t, translated, g_names, e_names)
    every = len(g_ok) == len(translated.group_parts) and len(e_ok) == len(translated.entity_parts)
    one = len(g_names) == 1 and len(e_names) == 1
    target: dict[_Form, MembershipId | None] | None = None
    if every and not compared and _distinct(g_ok) and _distinct(e_ok):
        # The usual case. Distinct forms per group and per entity make every
        # membership's form unique; with nothing left out, nothing is poisoned.
        target, _ = _target_forms(t, native, g_names, e_names, keep_all=False)
        if len(target) == len(native):
            return _settle_unique(translated, g_ok, e_ok, target, one=one)
    if not native:
        return _Settled({})  # nothing to settle with
    valid = list(translated) if every else [m for m in translated if m[0] in g_ok and m[1] in e_ok]
    forms: list[_Form]
    if one:
        forms = list(zip(*_scalar_forms(valid, g_ok, e_ok), strict=True))
    else:
        forms = [g_ok[g] + e_ok[e] for g, e in valid]
    grouper: dict[_Form, MembershipId | None] = dict(zip(forms, valid, strict=True))
    if len(grouper) < len(valid):
        for form in _shared(forms):
            grouper[form] = None  # None: a form two memberships share
    t_forms: list[_Form] = []
    if target is None:
        target, t_forms = _target_forms(t, native, g_names, e_names, keep_all=bool(compared))

    def key_of(form: _Form) -> _Form:
        return tuple(form[i] for i in key_at)

    # Memberships left out (an error, a missing value) still take part in
    # matching: a key one of them has is settled by nobody.
    poisoned = {
        g + e
        for g, e in _left_out_keys(
            t, translated, g_names=g_names, e_names=e_names, key=key, g_ok=g_ok, e_ok=e_ok
        )
    }
    g_count = Counter(map(key_of, forms)) if compared else Counter()
    t_count = Counter(map(key_of, t_forms)) if compared else Counter()
    settled: dict[MembershipId, MembershipId] = {}
    for form, mid in grouper.items():
        tid = target.get(form)
        if mid is None or tid is None:
            continue
        k = key_of(form)
        if k in poisoned or (compared and (g_count[k] != 1 or t_count[k] != 1)):
            continue
        settled[mid] = tid
    return _Settled(settled)


def _part_forms(
    t: Translator, translated: _SeparableMemberships, g_names: list[str], e_names: list[str]
) -> tuple[dict[str, _Form], dict[str, _Form]]:
    """The form of each group part and each entity part that has one.

    A part with an error in any attribute (in the form or not) has none: its
    memberships carry the error, which only the general path records. So has
    a part with a value that has no compare form.
    """
    kind = ObjectType.MEMBERSHIP
    static = translated.static_part
    plain = {n: t.plain_compare(kind, n) for n in (*g_names, *e_names)}

    def form_of(part: _Part, wanted: list[str]) -> _Form | None:
        out = []
        for name in wanted:
            value, _ = part[name] if name in part else static[name]  # error-free parts only
            form = (
                value
                if value.__class__ is str and value and plain[name]
                else t.compare_form(kind, name, value)
            )
            if form is None:
                return None
            out.append(form)
        return tuple(out)

    def forms(parts: Mapping[str, _Part], failing: set[str], wanted: list[str]) -> dict[str, _Form]:
        found = {p: None if p in failing else form_of(part, wanted) for p, part in parts.items()}
        return {p: f for p, f in found.items() if f is not None}

    return (
        forms(translated.group_parts, translated.failing_groups, g_names),
        forms(translated.entity_parts, translated.failing_entities, e_names),
    )


def _distinct(forms: Mapping[str, _Form]) -> bool:
    """Whether no two parts (groups, or entities) have the same form."""
    return len(set(forms.values())) == len(forms)


def _scalar_forms(
    mids: Iterable[MembershipId] | list[MembershipId],
    g_ok: Mapping[str, _Form],
    e_ok: Mapping[str, _Form],
) -> tuple[Iterator[Hashable], Iterator[Hashable]]:
    """The group and entity scalars of each membership's form, one name per side.

    map() with C-level callables: no Python frame per membership.
    """
    g_one = {g: f[0] for g, f in g_ok.items()}
    e_one = {e: f[0] for e, f in e_ok.items()}
    return (
        map(g_one.__getitem__, map(_FIRST, mids)),
        map(e_one.__getitem__, map(_SECOND, mids)),
    )


def _settle_unique(
    translated: _SeparableMemberships,
    g_ok: Mapping[str, _Form],
    e_ok: Mapping[str, _Form],
    target: dict[_Form, MembershipId | None],
    *,
    one: bool,
) -> _Settled:
    """:func:`_settle` when every form is unique on both sides: pair in C.

    Each Grouper form is popped off the target's index as it is made (no list
    of a million forms is kept), so what stays in the index is what the
    target has that Grouper does not, still in the target's order.
    """
    mids = list(translated)
    forms: Iterator[_Form]
    if one:
        forms = zip(*_scalar_forms(mids, g_ok, e_ok), strict=True)
    else:
        forms = map(
            operator.add,
            map(g_ok.__getitem__, map(_FIRST, mids)),
            map(e_ok.__getitem__, map(_SECOND, mids)),
        )
    paired = list(map(target.pop, forms, repeat(None)))
    pairs: dict[MembershipId, MembershipId] = dict(
        compress(zip(mids, paired, strict=True), paired)  # type: ignore[arg-type]  # None left out
    )
    return _Settled(
        pairs,
        grouper_left=list(compress(mids, map(_IS_NONE, paired))),
        target_left=list(target.values()),  # type: ignore[arg-type]  # unique: no None
    )


def _left_out_keys(  # the pieces of _settle
    t: Translator,
    translated: _SeparableMemberships,
    *,
    g_names: list[str],
    e_names: list[str],
    key: tuple[str, ...],
    g_ok: Mapping[str, tuple[Hashable, ...]],
    e_ok: Mapping[str, tuple[Hashable, ...]],
) -> Iterator[tuple[_Form, _Form]]:
    """For memberships with no form: their key's values, where they have them.

    Given as (group side, entity side) in form order, with the non-key
    positions left out. Nothing when every part has a form (the usual case).
    """
    if len(g_ok) == len(translated.group_parts) and len(e_ok) == len(translated.entity_parts):
        return
    kind = ObjectType.MEMBERSHIP
    static = translated.static_part

    def key_forms(
        part: Mapping[str, tuple[AttributeValue, list[ObjectError]]], wanted: list[str]
    ) -> _Form | None:
        out = []
        for name in wanted:
            if name not in key:
                continue
            value, _ = part[name] if name in part else static[name]
            form = t.compare_form(kind, name, value)
            if form is None:
                return None
            out.append(form)
        return tuple(out)

    for gid, eid in translated:
        if gid in g_ok and eid in e_ok:
            continue
        g = key_forms(translated.group_parts[gid], g_names)
        e = key_forms(translated.entity_parts[eid], e_names)
        if g is not None and e is not None:
            yield g, e


def _target_forms(
    t: Translator,
    native: Mapping[MembershipId, ProvisioningMembership],
    g_names: list[str],
    e_names: list[str],
    *,
    keep_all: bool,
) -> tuple[dict[_Form, MembershipId | None], list[_Form]]:
    """The target side of :func:`_settle`: each form's object (None when shared).

    Also every form in order when *keep_all*, else an empty list: the forms
    are made as the index is filled, and not kept.
    """
    names = (*g_names, *e_names)
    forms: Iterable[_Form] = zip(*_target_columns(t, native, names), strict=True)
    all_forms: list[_Form] = []
    if keep_all:
        forms = all_forms = list(forms)
    target: dict[_Form, MembershipId | None] = dict(zip(forms, native, strict=True))
    if len(target) < len(native):
        # Some forms are shared (rare): make them again to find which.
        again = all_forms or zip(*_target_columns(t, native, names), strict=True)
        for form in _shared(again):
            target[form] = None
    return target, all_forms


def _target_columns(
    t: Translator, native: Mapping[MembershipId, ProvisioningMembership], names: Iterable[str]
) -> list[Iterator[Hashable]]:
    """Each attribute's target compare forms, one iterator per attribute."""
    columns: list[Iterator[Hashable]] = []
    for name in names:
        # Each distinct value's form is worked out once, by __missing__.
        cache = _FormCache(t, name)
        columns.append(map(cache.__getitem__, attribute_values(native.values(), name)))
    return columns


class _FormCache(dict[AttributeValue, Hashable]):
    """Target compare forms of one attribute's raw values, each worked out once."""

    def __init__(self, translator: Translator, name: str) -> None:
        super().__init__()
        self._translator = translator
        self._name = name
        self._plain = translator.plain_compare(ObjectType.MEMBERSHIP, name)

    def __missing__(self, raw: AttributeValue) -> Hashable:
        if self._plain and raw.__class__ is str and raw:
            form: Hashable = raw  # a non-empty string is its own form
        else:
            form = self._translator.target_compare_form(ObjectType.MEMBERSHIP, self._name, raw)
        self[raw] = form
        return form


def _shared(forms: Iterable[_Form]) -> set[_Form]:
    """The forms that occur more than once."""
    seen: set[_Form] = set()
    shared: set[_Form] = set()
    for form in forms:
        (shared if form in seen else seen).add(form)
    return shared


def _show(value: AttributeValue) -> str:
    if value is None:
        return "no value"
    if isinstance(value, frozenset):
        shown = sorted(repr(v) for v in value)
        return "{" + ", ".join(shown[:5]) + (", ..." if len(shown) > 5 else "") + "}"  # noqa: PLR2004
    return repr(value)
