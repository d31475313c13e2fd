"""Apply: carry out a Plan through a target DAO, and report on every object.

Changes are applied phase by phase in the configured CRUD order, in batches no
larger than both the configured and the DAO's batch size, through the bulk
method when the DAO has one and one by one otherwise. Every change ends with an
outcome: what the DAO reported, an ERR when it raised (the run goes on with the
next batch), or an ERR when it did not report on an object at all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeAlias, TypeVar, cast

import attrs

from ._beans import ProvisioningEntity, ProvisioningGroup, ProvisioningMembership
from ._behavior import Behavior
from ._codes import ObjectError, SyncErrorCode, exception_text
from ._config import MembershipType, ObjectType
from ._plan import Action, Change, Plan, phase_of, phases
from ._target import AttributeChange, Operation, TargetDAO, TargetData, WriteOutcome

__all__ = ["ApplyResult", "ChangeOutcome", "apply", "read_target"]

log = logging.getLogger("grouperprov.apply")

Bean: TypeAlias = ProvisioningGroup | ProvisioningEntity | ProvisioningMembership
_B = TypeVar("_B", bound=Bean | None)
MembershipPair: TypeAlias = tuple[str, str]
# An owner's Grouper id -> its membership values, each (value, memberships behind it).
MemberValues: TypeAlias = Callable[[str], Iterable[tuple[object, tuple[MembershipPair, ...]]]]
_NAMES = {
    ObjectType.GROUP: ("group", "groups"),
    ObjectType.ENTITY: ("entity", "entities"),
    ObjectType.MEMBERSHIP: ("membership", "memberships"),
}


@attrs.frozen(kw_only=True)
class ChangeOutcome:
    """What became of one change.

    Attributes:
        change: The change.
        ok: Whether it took effect (in read-only mode: whether it would be tried).
        applied: Whether anything was sent to the target (``False`` in read-only mode).
        error: The error, when it failed.
        stored: After an insert, the object as the target holds it, if known.
        target_id: After an insert, the object's target id (its target link), if known.
    """

    change: Change
    ok: bool
    applied: bool
    error: ObjectError | None = None
    stored: Bean | None = None
    target_id: str | None = None


@attrs.frozen(kw_only=True)
class ApplyResult:
    """The outcome of applying a plan.

    Attributes:
        outcomes: One per change, in the order applied. Where some of a
            change's memberships could not be sent (their group's or
            entity's insert failed this run: values left out of a new
            owner's insert, rows left out of a replaced list), the change's
            outcome is for the part sent, and each membership left out has
            an outcome of its own (``DNE``, not applied).
        links: Target ids learned from inserts, by object type and Grouper id.
        read_only: Whether nothing was written.
        moved: Target ids an update moved (a modify DN, a new key), old to
            new, by object type: the membership objects that name them moved
            with them.
    """

    outcomes: tuple[ChangeOutcome, ...]
    links: Mapping[ObjectType, Mapping[str, str]]
    read_only: bool
    moved: Mapping[ObjectType, Mapping[str, str]] = attrs.field(factory=dict)

    @property
    def failures(self) -> tuple[ChangeOutcome, ...]:
        """The outcomes that failed."""
        return tuple(o for o in self.outcomes if not o.ok)

    def object_errors(self) -> dict[tuple[ObjectType, Hashable], ObjectError]:
        """The error of every failed object: a membership value's error goes to its memberships.

        So does the error of a new owner's values (written with its insert),
        and of a replaced list (of values or of membership objects: its
        ``object_id`` is its owner's, not a membership's).
        """
        errors: dict[tuple[ObjectType, Hashable], ObjectError] = {}
        for outcome in self.failures:
            assert outcome.error is not None  # noqa: S101  # failures have errors
            change = outcome.change
            keys = (
                change.memberships
                if change.memberships
                and (
                    change.value is not None or change.with_owner or change.action is Action.REPLACE
                )
                else (change.object_id,)
            )
            for key in keys:
                errors[(change.object_type, key)] = outcome.error
        return errors


def _err(message: str) -> ObjectError:
    return ObjectError(SyncErrorCode.ERR, message)


def _not_inserted(object_type: ObjectType, error: ObjectError) -> ObjectError:
    """``DNE`` of what needs an object of *object_type* whose insert failed with *error*."""
    return ObjectError(
        SyncErrorCode.DNE, f"its {object_type.value} was not inserted: {error.message}"
    )


def _reported(
    method: Callable[..., object], results: Sequence[object], index: int
) -> tuple[WriteOutcome | None, ObjectError | None]:
    """What a bulk write reported for its *index*-th object: an outcome, or the error of none.

    A result that is not a :class:`WriteOutcome` is a DAO bug, said as one on
    the object (it was an ``AttributeError`` that ended the run).
    """
    if index >= len(results):
        return None, _err("the target did not report on this object")
    result = results[index]
    if isinstance(result, WriteOutcome):
        return result, None
    name = getattr(method, "__name__", "write")
    return None, _err(
        f"the target's {name} reported {type(result).__name__} {result!r:.80} "
        "for this object, not a WriteOutcome"
    )


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def read_target(dao: TargetDAO, behavior: Behavior) -> TargetData:
    """Read everything a full comparison needs from the target, as *behavior* says.

    Object types that are not operated on, or not selected, are not read.
    Exceptions from the DAO propagate: without the target's state there is
    nothing safe to compare against.
    """
    ms = behavior.memberships
    memberships = ms.select and behavior.membership_type is MembershipType.MEMBERSHIP_OBJECTS
    if behavior.capabilities.can(Operation.RETRIEVE_ALL_DATA):
        data = dao.retrieve_all_data()
        if behavior.groups.select and behavior.entities.select and memberships:
            return data  # all of it, checked when it was made: not again
        return TargetData(
            groups=data.groups if behavior.groups.select else (),
            entities=data.entities if behavior.entities.select else (),
            memberships=data.memberships if memberships else (),
        )
    return TargetData(
        groups=dao.retrieve_all_groups() if behavior.groups.select else (),
        entities=dao.retrieve_all_entities() if behavior.entities.select else (),
        memberships=dao.retrieve_all_memberships() if memberships else (),
    )


def apply(
    plan: Plan,
    dao: TargetDAO,
    behavior: Behavior,
    *,
    checkpoint: Callable[[ApplyResult], None] | None = None,
    checkpoint_seconds: float = 60.0,
    member_values: MemberValues | None = None,
) -> ApplyResult:
    """Carry out *plan* through *dao*, as *behavior* says.

    In read-only mode (``behavior.read_only``) nothing is sent: each change is
    logged at INFO level and reported as not applied.

    Args:
        plan: The plan.
        dao: The target.
        behavior: How to apply it.
        checkpoint: Called with the outcomes so far after a batch (or a single
            call) once *checkpoint_seconds* have passed since the start or the
            last checkpoint: the caller records progress during long runs.
        checkpoint_seconds: How often *checkpoint* is called, at most (0:
            after every batch).
        member_values: For the attribute membership types, a new owner's
            membership values with the memberships behind each (the
            translation's), so that a value whose member could not be
            inserted is left out of the owner's insert. Without it, values
            written with their owner are mapped only where the plan gives
            them one by one.
    """
    return _Applier(
        plan,
        dao,
        behavior,
        checkpoint=checkpoint,
        checkpoint_seconds=checkpoint_seconds,
        member_values=member_values,
    ).run()


class _Applier:
    def __init__(
        self,
        plan: Plan,
        dao: TargetDAO,
        behavior: Behavior,
        *,
        checkpoint: Callable[[ApplyResult], None] | None = None,
        checkpoint_seconds: float = 60.0,
        member_values: MemberValues | None = None,
    ) -> None:
        self.plan = plan
        self.member_values = member_values
        self.dao = dao
        self.b = behavior
        self.checkpoint = checkpoint
        self.checkpoint_seconds = checkpoint_seconds
        self.next_checkpoint = time.monotonic() + checkpoint_seconds
        self.caps = behavior.capabilities
        self.outcomes: list[ChangeOutcome] = []
        self.links: dict[ObjectType, dict[str, str]] = {ObjectType.GROUP: {}, ObjectType.ENTITY: {}}
        self.known = {t: dict(plan.links.get(t, {})) for t in (ObjectType.GROUP, ObjectType.ENTITY)}
        # Target ids an update of this run moved (a key or a DN), old to new.
        self.moved: dict[ObjectType, dict[str, str]] = {ObjectType.GROUP: {}, ObjectType.ENTITY: {}}
        self.insert_outcomes: dict[tuple[ObjectType, Hashable], ChangeOutcome] = {}
        owner = behavior.membership_owner
        self.member_type = (
            None
            if owner is None
            else ObjectType.ENTITY
            if owner is ObjectType.GROUP
            else ObjectType.GROUP
        )
        # Members (of member_type) whose insert failed in this run, with its error.
        self.failed_members: dict[str, ObjectError] = {}
        # Groups and entities by target id whose membership objects' delete failed.
        self.undeleted: dict[tuple[ObjectType, Hashable], ObjectError] = {}
        # New owners' memberships left out of their insert: its error, by membership.
        self.left_out: dict[str, dict[MembershipPair, ObjectError]] = {}
        # The changes of values written with a new owner's insert, by owner.
        self.with_owner: dict[str, list[Change]] = {}
        if owner is not None:
            for change in plan.changes:
                if change.with_owner and change.owner_id is not None:
                    self.with_owner.setdefault(change.owner_id, []).append(change)

    def run(self) -> ApplyResult:
        by_phase: dict[tuple[Action, ObjectType], list[Change]] = {}
        for change in self.plan.changes:
            by_phase.setdefault(phase_of(change), []).append(change)
        for phase in phases(self.b.crud_order, self.b.membership_owner):
            changes = by_phase.get(phase, [])
            if not changes:
                continue
            if self.b.read_only:
                for change in changes:
                    log.info("read only, not applied: %s", change.describe())
                    self.outcomes.append(ChangeOutcome(change=change, ok=True, applied=False))
                continue
            self._phase(phase, changes)
        return self._result()

    def _result(self) -> ApplyResult:
        return ApplyResult(
            outcomes=tuple(self.outcomes),
            links={t: dict(m) for t, m in self.links.items()},
            read_only=self.b.read_only,
            moved={t: dict(m) for t, m in self.moved.items() if m},
        )

    def _tick(self) -> None:
        """After a call to the target: a checkpoint, when one is due."""
        if self.checkpoint is None or time.monotonic() < self.next_checkpoint:
            return
        self.checkpoint(self._result())
        self.next_checkpoint = time.monotonic() + self.checkpoint_seconds

    def _phase(self, phase: tuple[Action, ObjectType], changes: list[Change]) -> None:
        action, object_type = phase
        if object_type is ObjectType.MEMBERSHIP and self.b.membership_owner is not None:
            self._value_changes(changes)
            return
        if (
            action is Action.INSERT
            and object_type is self.b.membership_owner
            and self.failed_members
        ):
            changes = [self._without_failed_members(change) for change in changes]
        items: list[tuple[Change, object]] = []
        for change in changes:
            if change.action is Action.REPLACE:
                if not self._not_sent(change, [(ObjectType.GROUP, change.owner_id)]):
                    self._single(self._without_failed_rows(change), self._replace_list)
                continue
            arg = self._argument(action, change)
            if arg is not None:
                items.append((change, arg))
        if not items:
            return
        singular, plural = _NAMES[object_type]
        verb = action.value
        bulk_op = Operation(f"{verb}_{plural}")
        if self.caps.can(bulk_op):
            bulk = getattr(self.dao, bulk_op.value)
            for batch in _batches(items, self.caps.batch_size(bulk_op, self.b.batch_size)):
                self._bulk([c for c, _ in batch], bulk, [a for _, a in batch])
            return
        single = getattr(self.dao, f"{verb}_{singular}")
        spread = action is Action.UPDATE
        for change, arg in items:
            self._single(change, _caller(single, arg, spread=spread))

    def _argument(self, action: Action, change: Change) -> object | None:
        """What the DAO method gets for *change*; ``None`` (and an error) if it cannot be sent."""
        if action is Action.INSERT:
            return self._insert_arg(change)
        bean = change.bean
        if bean is None:
            # An update right after this run's insert: address the object as stored.
            bean = self._inserted_owner(change.object_type, change.object_id)
            if bean is None:
                self._record(change, None, _err(f"the {change.object_type.value} was not inserted"))
                return None
        if isinstance(bean, ProvisioningMembership):
            bean = self._after_moves(bean)
        elif action is Action.DELETE and self.undeleted:
            error = self.undeleted.get((change.object_type, bean.id))
            if error is not None:
                # Deleted, it would leave the membership object behind it (a row
                # naming no group, which a group of that name takes over later),
                # or a foreign key refuses it: the two are retried together.
                self._record(
                    change,
                    None,
                    _err(f"a membership object of it was not deleted: {error.message}"),
                )
                return None
        if action is Action.UPDATE:
            # An update's object id is a Grouper id (a delete's is the target id).
            return (
                self._current(change.object_type, change.object_id, bean),
                change.attribute_changes,
            )
        return bean

    def _current(self, object_type: ObjectType, grouper_id: object, bean: _B) -> _B:
        """*bean* at the target id its object has now (an update of this run may have moved it).

        A rename (an LDAP modify DN) gives the object a new target id: later
        changes of the run address it there, by the link the rename's outcome
        updated, not by the id the plan read.
        """
        if not isinstance(bean, ProvisioningGroup | ProvisioningEntity):
            return bean
        target_id = self.known[object_type].get(str(grouper_id))
        if target_id is None or target_id == bean.id:
            return bean
        return type(bean)(id=target_id, attributes=bean.attributes)

    def _after_moves(self, membership: ProvisioningMembership) -> ProvisioningMembership:
        """A membership object read from the target, at its owners' target ids of now.

        A group whose key moved earlier in the run (a rename, where the key
        is the name) took its membership rows along: an update or delete of
        one addresses it under the new key, or it matches no row, and is
        counted as done while nothing changed.
        """
        group_id = self.moved[ObjectType.GROUP].get(membership.group_id, membership.group_id)
        entity_id = self.moved[ObjectType.ENTITY].get(membership.entity_id, membership.entity_id)
        if (group_id, entity_id) == membership.id:
            return membership
        return ProvisioningMembership(group_id, entity_id, membership.attributes)

    # -- calls -------------------------------------------------------------------

    def _record(
        self, change: Change, outcome: WriteOutcome | None, error: ObjectError | None
    ) -> None:
        if error is None and outcome is not None and not outcome.ok:
            error = _err(outcome.error or "the target reported a failure without a reason")
        if error is None and outcome is not None and outcome.failed_values:
            error = self._partial(change, outcome.failed_values)
        stored = outcome.stored if outcome is not None and error is None else None
        target_id = None
        if (
            change.action is Action.INSERT
            and error is None
            and change.object_type is not ObjectType.MEMBERSHIP
        ):
            target_id = self._link(change, stored)
        elif (
            change.action is Action.UPDATE
            and stored is not None
            and change.object_type is not ObjectType.MEMBERSHIP
            and change.target_id is not None
            and stored.id != change.target_id
        ):
            # The update moved the object (an LDAP modify DN): its new target id.
            target_id = str(stored.id)
            self.links[change.object_type][str(change.object_id)] = target_id
            self.known[change.object_type][str(change.object_id)] = target_id
            self.moved[change.object_type][str(change.target_id)] = target_id
        if (
            error is not None
            and change.action is Action.INSERT
            and change.object_type is self.member_type
        ):
            self.failed_members[str(change.object_id)] = error
        if (
            error is not None
            and change.action is Action.DELETE
            and isinstance(change.bean, ProvisioningMembership)
        ):
            # Its group and entity stay while it does (see _argument).
            self.undeleted[(ObjectType.GROUP, change.bean.group_id)] = error
            self.undeleted[(ObjectType.ENTITY, change.bean.entity_id)] = error
        result = ChangeOutcome(
            change=change,
            ok=error is None,
            applied=True,
            error=error,
            stored=stored,
            target_id=target_id,
        )
        if error is not None:
            log.warning("failed: %s: %s", change.describe(), error)
        self.outcomes.append(result)
        if change.action is Action.INSERT:
            self.insert_outcomes[(change.object_type, change.object_id)] = result

    def _partial(
        self, change: Change, failed: Sequence[tuple[str, object, str]]
    ) -> ObjectError | None:
        """The error of *change* written but for *failed* values (see ``WriteOutcome.partial``).

        A value of the membership attribute fails the memberships behind it
        alone: a value change whose value failed gets the error; a new
        owner's insert goes on, and the memberships behind its failed values
        get theirs when its values are followed. Any other failed value fails
        the change.
        """
        name: str | None = None
        values: list[tuple[object, tuple[MembershipPair, ...]]] = []
        owner_id = str(change.object_id)
        if change.object_type is ObjectType.MEMBERSHIP and change.attribute_changes:
            name = change.attribute_changes[0].attribute
        elif change.action is Action.INSERT and change.object_type is self.b.membership_owner:
            name, values = self._owner_values(owner_id)
        others = [(a, v, why) for a, v, why in failed if a != name]
        if change.object_type is ObjectType.MEMBERSHIP and change.value is None:
            others = list(failed)  # a whole list replaced: its refused values fail it
        if others:
            return _err("; ".join(f"{a} {v!r}: {why}" for a, v, why in others))
        refused = {str(v): why for _, v, why in failed}
        if change.object_type is ObjectType.MEMBERSHIP:
            why = refused.get(str(change.value))
            return None if why is None else _err(why)
        for value, memberships in values:
            why = refused.get(str(value))
            if why is not None:
                log.warning("%s value %r refused in %s: %s", name, value, change.describe(), why)
                for membership in memberships:
                    self.left_out.setdefault(owner_id, {})[membership] = _err(why)
        return None

    def _single(self, change: Change, call: Callable[[Change], object]) -> None:
        try:
            stored = call(change)
        except Exception as exc:  # noqa: BLE001  # a DAO may raise anything; the run goes on
            self._record(change, None, _err(exception_text(exc)))
        else:
            is_bean = isinstance(
                stored, (ProvisioningGroup, ProvisioningEntity, ProvisioningMembership)
            )
            self._record(change, WriteOutcome.success(stored if is_bean else None), None)  # type: ignore[arg-type]  # checked
        self._tick()

    def _bulk(
        self,
        batch: Sequence[Change],
        method: Callable[[Any], Sequence[WriteOutcome]],
        args: list[Any],
    ) -> None:
        try:
            results = list(method(args))
        except Exception as exc:  # noqa: BLE001  # a DAO may raise anything; the run goes on
            for change in batch:
                self._record(change, None, _err(f"the batch failed: {exception_text(exc)}"))
        else:
            for index, change in enumerate(batch):
                self._record(change, *_reported(method, results, index))
        self._tick()

    # -- helpers -------------------------------------------------------------------

    def _link(self, change: Change, stored: Bean | None) -> str | None:
        """The inserted object's target id: as the DAO reported it, or found by search."""
        object_type = change.object_type
        target_id: str | None = None
        if stored is not None and not isinstance(stored, ProvisioningMembership):
            target_id = stored.id
        elif change.search:
            op = (
                Operation.SEARCH_GROUPS
                if object_type is ObjectType.GROUP
                else Operation.SEARCH_ENTITIES
            )
            if self.caps.can(op):
                search = getattr(self.dao, op.value)
                for attribute, value in change.search:
                    try:
                        found = list(search(attribute, [value]))
                    except Exception as exc:  # noqa: BLE001  # a failed read-back loses only the link
                        log.warning(
                            "could not read back %s: %s", change.describe(), exception_text(exc)
                        )
                        break
                    if len(found) == 1:
                        target_id = found[0].id
                        break
        if target_id is not None:
            grouper_id = str(change.object_id)
            self.links[object_type][grouper_id] = target_id
            self.known[object_type][grouper_id] = target_id
        return target_id

    def _insert_arg(self, change: Change) -> Bean | None:
        bean = change.bean
        if isinstance(bean, ProvisioningMembership):
            owners = ((ObjectType.GROUP, bean.group_id), (ObjectType.ENTITY, bean.entity_id))
            if self._not_sent(change, owners):
                return None
            return self._with_target_ids(bean)
        return bean

    def _not_sent(self, change: Change, owners: Iterable[tuple[ObjectType, Hashable]]) -> bool:
        """Whether *change* is left out (``DNE``): this run's insert of one of *owners* failed.

        Its memberships have no target id to name that owner by: a membership
        object sent with Grouper's id instead named no object of the target
        (a group row refused for a value made a membership row of
        ``grp-00001``), and was deleted as stale and written again in every run.
        """
        for object_type, grouper_id in owners:
            outcome = self.insert_outcomes.get((object_type, grouper_id))
            if outcome is not None and outcome.error is not None:
                error = _not_inserted(object_type, outcome.error)
                log.warning("not sent: %s: %s", change.describe(), error)
                self.outcomes.append(
                    ChangeOutcome(change=change, ok=False, applied=False, error=error)
                )
                return True
        return False

    def _with_target_ids(self, membership: ProvisioningMembership) -> ProvisioningMembership:
        group_id = self.known[ObjectType.GROUP].get(membership.group_id, membership.group_id)
        entity_id = self.known[ObjectType.ENTITY].get(membership.entity_id, membership.entity_id)
        if (group_id, entity_id) == membership.id:
            return membership
        # Built directly: attrs.evolve is several times slower, and this is per membership.
        return ProvisioningMembership(group_id, entity_id, membership.attributes)

    def _replace_list(self, change: Change) -> None:
        group = change.bean
        if group is None:
            group = self._inserted_owner(ObjectType.GROUP, change.owner_id)
        if not isinstance(group, ProvisioningGroup):
            msg = f"group {change.owner_id!r} is not in the target"
            raise LookupError(msg)  # noqa: TRY004  # the group is missing, not of a wrong type
        # At the target id the group has now (a rename earlier in the run may
        # have moved it, with its rows); Grouper's rows by their owners' target
        # ids, the rows kept from the target by where their owners moved.
        wanted = len(change.memberships)
        rows = [self._with_target_ids(m) for m in change.replacement[:wanted]]
        rows += [self._after_moves(m) for m in change.replacement[wanted:]]
        self.dao.replace_group_memberships(
            self._current(ObjectType.GROUP, change.owner_id, group), rows
        )

    def _without_failed_rows(self, change: Change) -> Change:
        """A replaced list of membership objects without those whose entity insert failed.

        Such a row has no target id to name its entity by: it is left out
        of the list (``DNE``, as a row inserted alone would be), and the
        others are sent.
        """
        wanted = len(change.memberships)
        kept: list[tuple[tuple[str, str], ProvisioningMembership]] = []
        for mid, row in zip(change.memberships, change.replacement[:wanted], strict=True):
            outcome = self.insert_outcomes.get((ObjectType.ENTITY, mid[1]))
            if outcome is None or outcome.error is None:
                kept.append((mid, row))
                continue
            left_out = Change(
                action=Action.INSERT,
                object_type=ObjectType.MEMBERSHIP,
                object_id=mid,
                bean=row,
                reasons=change.reasons,
                label=change.label,
            )
            error = _not_inserted(ObjectType.ENTITY, outcome.error)
            log.warning("not sent: %s: %s", left_out.describe(), error)
            self.outcomes.append(
                ChangeOutcome(change=left_out, ok=False, applied=False, error=error)
            )
        if len(kept) == wanted:
            return change
        return attrs.evolve(
            change,
            memberships=tuple(mid for mid, _ in kept),
            replacement=tuple(row for _, row in kept) + change.replacement[wanted:],
        )

    def _inserted_owner(self, object_type: ObjectType, grouper_id: Hashable) -> Bean | None:
        outcome = self.insert_outcomes.get((object_type, grouper_id))
        if outcome is None or not outcome.ok:
            return None
        if outcome.stored is not None:
            return outcome.stored
        bean = outcome.change.bean
        if isinstance(bean, ProvisioningMembership):
            return self._with_target_ids(bean)
        if outcome.target_id is not None and isinstance(
            bean, ProvisioningGroup | ProvisioningEntity
        ):
            return attrs.evolve(bean, id=outcome.target_id)
        return None

    # -- membership values (attribute membership types) -----------------------

    def _value_changes(self, changes: list[Change]) -> None:
        owner = self.b.membership_owner
        assert owner is not None  # noqa: S101  # only for the attribute types
        grouped: dict[str, list[Change]] = {}
        for change in changes:
            if change.with_owner:
                self._follow_owner(owner, change)
            elif change.action is Action.INSERT and self._member_failed(change.memberships):
                self.outcomes.append(
                    ChangeOutcome(
                        change=change,
                        ok=False,
                        applied=False,
                        error=self._member_error(change.memberships),
                    )
                )
            else:
                sent = (
                    self._replaced_without_failed_members(change, self.member_values)
                    if change.action is Action.REPLACE
                    and self.failed_members
                    and self.member_values is not None
                    else change
                )
                grouped.setdefault(sent.owner_id or "", []).append(sent)
        if not grouped:
            return
        singular, plural = _NAMES[owner]
        bulk_op = Operation(f"update_{plural}")
        units = list(grouped.values())
        if self.caps.can(bulk_op):
            method = getattr(self.dao, bulk_op.value)
            for batch in _batches(units, self.caps.batch_size(bulk_op, self.b.batch_size)):
                self._bulk_units(batch, method)
            return
        single = getattr(self.dao, f"update_{singular}")
        for unit in units:
            try:
                single(self._current(owner, unit[0].owner_id, unit[0].bean), _merge(unit))
            except Exception as exc:  # noqa: BLE001  # a DAO may raise anything; the run goes on
                for change in unit:
                    self._record(change, None, _err(exception_text(exc)))
            else:
                for change in unit:
                    self._record(change, WriteOutcome.success(), None)
            self._tick()

    def _bulk_units(
        self, units: Sequence[list[Change]], method: Callable[[Any], Sequence[WriteOutcome]]
    ) -> None:
        owner = self.b.membership_owner
        assert owner is not None  # noqa: S101  # only for the attribute types
        try:
            results = list(
                method(
                    [
                        (self._current(owner, unit[0].owner_id, unit[0].bean), _merge(unit))
                        for unit in units
                    ]
                )
            )
        except Exception as exc:  # noqa: BLE001  # a DAO may raise anything; the run goes on
            for unit in units:
                for change in unit:
                    self._record(change, None, _err(f"the batch failed: {exception_text(exc)}"))
        else:
            for index, unit in enumerate(units):
                reported = _reported(method, results, index)
                for change in unit:
                    self._record(change, *reported)
        self._tick()

    def _member_failed(self, memberships: Sequence[MembershipPair]) -> bool:
        """Whether every membership behind a value has a member whose insert failed."""
        if not self.failed_members or not memberships:
            return False
        index = _member_index(self.b.membership_owner)
        return all(m[index] in self.failed_members for m in memberships)

    def _member_error(self, memberships: Sequence[MembershipPair]) -> ObjectError:
        index = _member_index(self.b.membership_owner)
        member = memberships[0][index]
        assert self.member_type is not None  # noqa: S101  # an attribute membership type
        return _not_inserted(self.member_type, self.failed_members[member])

    def _owner_values(
        self, owner_id: str
    ) -> tuple[str | None, list[tuple[object, tuple[MembershipPair, ...]]]]:
        """A new owner's membership attribute, and the values written with its insert.

        Each value comes with the memberships behind it: from the plan where
        it gives the values one by one, else from *member_values*.
        """
        written = [
            c for c in self.with_owner.get(owner_id, ()) if c.attribute_changes and c.memberships
        ]
        if not written:
            return None, []
        name = written[0].attribute_changes[0].attribute
        values: list[tuple[object, tuple[MembershipPair, ...]]] = [
            (c.value, c.memberships) for c in written if c.value is not None
        ]
        if not values and self.member_values is not None:
            listed = {m for c in written for m in c.memberships}
            values = [
                (value, memberships)
                for value, memberships in self.member_values(owner_id)
                if memberships and memberships[0] in listed
            ]
        return name, values

    def _without_failed_members(self, change: Change) -> Change:
        """A new owner's insert without the values whose members could not be inserted."""
        owner_id = str(change.object_id)
        name, values = self._owner_values(owner_id)
        if change.bean is None or name is None:
            return change
        dropped: dict[object, ObjectError] = {}
        for value, memberships in values:
            if self._member_failed(memberships):
                error = dropped[value] = self._member_error(memberships)
                for membership in memberships:
                    self.left_out.setdefault(owner_id, {})[membership] = error
        if not dropped:
            return change
        kept = change.bean.values(name) - set(dropped)
        for value, error in dropped.items():
            log.warning("%s value %r left out of %s: %s", name, value, change.describe(), error)
        return attrs.evolve(change, bean=change.bean.with_attributes({name: kept or None}))

    def _replaced_without_failed_members(
        self, change: Change, member_values: MemberValues
    ) -> Change:
        """A replaced value list without the values added for members whose insert failed.

        A value the owner has already stays (as when values change one by
        one, where nothing is sent for it); one that would be added is left
        out, and the memberships behind it get the member's error.
        """
        assert change.owner_id is not None  # noqa: S101  # a replaced list has its owner
        (replaced,) = change.attribute_changes
        new = replaced.values()
        present = change.bean.values(replaced.attribute) if change.bean is not None else set()
        dropped: dict[object, tuple[MembershipPair, ...]] = {
            value: memberships
            for value, memberships in member_values(change.owner_id)
            if value in new and value not in present and self._member_failed(memberships)
        }
        if not dropped:
            return change
        for value, memberships in dropped.items():
            self.outcomes.append(
                ChangeOutcome(
                    change=Change(
                        action=Action.INSERT,
                        object_type=ObjectType.MEMBERSHIP,
                        object_id=(change.owner_id, value),  # type: ignore[arg-type]  # a value's id
                        owner_id=change.owner_id,
                        value=value,  # type: ignore[arg-type]  # a membership value
                        memberships=memberships,
                        label=change.label,
                    ),
                    ok=False,
                    applied=False,
                    error=self._member_error(memberships),
                )
            )
        left_out = {m for memberships in dropped.values() for m in memberships}
        kept = frozenset(new - dropped.keys())
        return attrs.evolve(
            change,
            attribute_changes=(AttributeChange.replace(replaced.attribute, kept or None),),
            memberships=tuple(m for m in change.memberships if m not in left_out),
        )

    def _follow_owner(self, owner: ObjectType, change: Change) -> None:
        left_out = self.left_out.get(str(change.owner_id), {})
        if left_out and change.memberships:
            # Values left out of the owner's insert (their member's insert failed).
            dropped = [m for m in change.memberships if m in left_out]
            if dropped:
                self.outcomes.extend(
                    ChangeOutcome(
                        change=attrs.evolve(change, memberships=(m,)),
                        ok=False,
                        applied=False,
                        error=left_out[m],
                    )
                    for m in dropped
                )
                kept = tuple(m for m in change.memberships if m not in left_out)
                if not kept:
                    return
                change = attrs.evolve(change, memberships=kept)
        outcome = self.insert_outcomes.get((owner, change.owner_id))
        if outcome is None:
            error: ObjectError | None = _err(f"its {owner.value} was not inserted")
        else:
            error = outcome.error
        self.outcomes.append(
            ChangeOutcome(change=change, ok=error is None, applied=outcome is not None, error=error)
        )


def _member_index(owner: ObjectType | None) -> int:
    """Where a membership pair holds the member of an owner's values."""
    return 1 if owner is ObjectType.GROUP else 0


def _caller(
    method: Callable[..., object], arg: object, *, spread: bool
) -> Callable[[Change], object]:
    """A call of a single-object DAO method with the argument(s) prepared for a change."""

    def call(_change: Change) -> object:
        return method(*cast("tuple[object, ...]", arg)) if spread else method(arg)

    return call


def _merge(unit: list[Change]) -> tuple[AttributeChange, ...]:
    """One owner's value changes as few attribute changes: all adds, all removes, replaces."""
    if len(unit) == 1 and len(unit[0].attribute_changes) == 1:
        return unit[0].attribute_changes  # nothing to merge (most owners of an incremental run)
    adds: dict[str, set[Any]] = {}
    removes: dict[str, set[Any]] = {}
    replaces: list[AttributeChange] = []
    for change in unit:
        for ac in change.attribute_changes:
            if ac.op.value == "add":
                adds.setdefault(ac.attribute, set()).update(ac.values())
            elif ac.op.value == "remove":
                removes.setdefault(ac.attribute, set()).update(ac.values())
            else:
                replaces.append(ac)
    merged = [AttributeChange.remove(name, values) for name, values in removes.items()]
    merged += [AttributeChange.add(name, values) for name, values in adds.items()]
    return tuple(merged + replaces)
