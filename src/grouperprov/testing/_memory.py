"""InMemoryTarget: the reference target DAO, kept in dicts."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import TypeVar

import attrs

from grouperprov._beans import (
    AttributeMap,
    ProvisioningEntity,
    ProvisioningGroup,
    ProvisioningMembership,
    Scalar,
    _normalise_value,
)
from grouperprov._target import (
    AttributeChange,
    Capabilities,
    ChangeOp,
    Operation,
    TargetDAO,
    TargetData,
    WriteOutcome,
)

__all__ = ["InMemoryTarget", "InjectedFailure"]

Bean = ProvisioningGroup | ProvisioningEntity | ProvisioningMembership
_T = TypeVar("_T")
_OwnerT = TypeVar("_OwnerT", ProvisioningGroup, ProvisioningEntity)


def injected(operation: str, bean: Bean) -> str:
    """The message of a failure injected in *operation* for *bean*."""
    return f"injected failure in {operation} for {bean.id!r}"


class InjectedFailure(RuntimeError):  # noqa: N818  # named for what it is in tests
    """The failure an :class:`InMemoryTarget` raises or reports on demand."""


_SINGLE_MEMBERSHIP_DELETES = frozenset({Operation.DELETE_MEMBERSHIP, Operation.DELETE_MEMBERSHIPS})


class InMemoryTarget(TargetDAO):
    """A target that keeps groups, entities and membership objects in memory.

    It implements every operation, and declares only those asked for, so tests
    can check the engine's fallbacks (no bulk delete, replace-only memberships,
    replace-only value changes). Calling an operation it does not declare raises
    :class:`NotImplementedError`, so a capability the engine ignores shows.

    Args:
        operations: The operations to declare (default: all).
        value_changes: Whether updates accept ADD and REMOVE.
        batch_sizes: Batch size per bulk operation.
        fail: Called with the operation name and the bean; return ``True`` to
            make that object fail (single methods raise :class:`InjectedFailure`,
            bulk methods report a failure for it).
        id_attributes: Per kind (``"group"``, ``"entity"``), an attribute whose
            value becomes an inserted object's target id (like a DN); otherwise
            ids are generated (``group-1``, ...). An insert of an id the
            target has fails (nothing is overwritten); an update of the
            attribute moves the object to its new id, as a modify DN does,
            with the membership objects that name it (the outcome's
            ``stored`` has the new id).

    Declared without single membership deletes, it keeps membership objects
    as lists of their groups (see
    :meth:`~grouperprov.TargetDAO.replace_group_memberships`): a group's
    delete removes its list, an entity's removes it from every list.

    Attributes:
        groups: Target groups by target id.
        entities: Target entities by target id.
        memberships: Target membership objects by ``(group_id, entity_id)``.
        calls: Every call made, as ``(operation name, number of objects)``.
    """

    def __init__(
        self,
        *,
        operations: Iterable[Operation] | None = None,
        value_changes: bool = True,
        batch_sizes: Mapping[Operation, int] | None = None,
        fail: Callable[[str, ProvisioningGroup | ProvisioningEntity | ProvisioningMembership], bool]
        | None = None,
        id_attributes: Mapping[str, str] | None = None,
    ) -> None:
        self._operations = frozenset(Operation if operations is None else operations)
        self._value_changes = value_changes
        self._batch_sizes = dict(batch_sizes or {})
        self._fail = fail or (lambda _op, _bean: False)
        self._id_attributes = dict(id_attributes or {})
        self._counter = itertools.count(1)
        self.groups: dict[str, ProvisioningGroup] = {}
        self.entities: dict[str, ProvisioningEntity] = {}
        self.memberships: dict[tuple[str, str], ProvisioningMembership] = {}
        self.calls: list[tuple[str, int]] = []

    def capabilities(self) -> Capabilities:
        """The declared operations, batch sizes and value-change support."""
        return Capabilities(self._operations, self._batch_sizes, self._value_changes)

    def seed(
        self,
        groups: Iterable[ProvisioningGroup] = (),
        entities: Iterable[ProvisioningEntity] = (),
        memberships: Iterable[ProvisioningMembership] = (),
    ) -> None:
        """Put objects in the target as they are (ids included), as if pre-existing."""
        self.groups.update((g.id, g) for g in groups)
        self.entities.update((e.id, e) for e in entities)
        self.memberships.update((m.id, m) for m in memberships)

    # -- plumbing -----------------------------------------------------------------

    def _enter(self, op: Operation, count: int) -> None:
        if op not in self._operations:
            msg = f"{op.value} is not declared by this InMemoryTarget"
            raise NotImplementedError(msg)
        self.calls.append((op.value, count))

    def _check(self, op: Operation, bean: Bean) -> None:
        if self._fail(op.value, bean):
            msg = injected(op.value, bean)
            raise InjectedFailure(msg)

    def _bulk(
        self, op: Operation, items: Sequence[_T], one: Callable[[_T], Bean | None]
    ) -> list[WriteOutcome]:
        self._enter(op, len(items))
        outcomes = []
        for item in items:
            try:
                stored = one(item)
            except (InjectedFailure, LookupError, ValueError) as exc:
                outcomes.append(WriteOutcome.failure(str(exc)))
            else:
                outcomes.append(WriteOutcome.success(stored))
        return outcomes

    def _new_id(self, kind: str, bean: ProvisioningGroup | ProvisioningEntity) -> str:
        attribute = self._id_attributes.get(kind)
        if attribute is not None:
            value = bean.single(attribute)
            if value is None:
                msg = f"cannot insert {kind} {bean.id!r}: no {attribute!r} to make its id"
                raise ValueError(msg)
            return str(value)
        return f"{kind}-{next(self._counter)}"

    def _apply_changes(self, bean: Bean, changes: Sequence[AttributeChange]) -> AttributeMap:
        """*bean*'s attributes after *changes*, each applied to the result of the ones before.

        Only the changed attributes are checked again, not a whole member list.
        """
        data = bean.attributes.to_dict()
        for change in changes:
            if change.op is not ChangeOp.REPLACE and not self._value_changes:
                msg = f"{change.op.value} on {change.attribute!r}: this target only replaces"
                raise ValueError(msg)
            name = change.attribute
            # The change's values are checked; what they are applied to already was.
            checked = AttributeChange(name, change.op, _normalise_value(name, change.value))
            value = checked.apply_to(data.get(name))
            if value is None:
                data.pop(name, None)
            else:
                data[name] = value
        return AttributeMap._checked(data)  # noqa: SLF001  # same package, values checked

    # -- reads ----------------------------------------------------------------

    def retrieve_all_data(self) -> TargetData:
        self._enter(Operation.RETRIEVE_ALL_DATA, 0)
        return TargetData(
            groups=list(self.groups.values()),
            entities=list(self.entities.values()),
            memberships=list(self.memberships.values()),
        )

    def retrieve_all_groups(self) -> list[ProvisioningGroup]:
        self._enter(Operation.RETRIEVE_ALL_GROUPS, 0)
        return list(self.groups.values())

    def retrieve_all_entities(self) -> list[ProvisioningEntity]:
        self._enter(Operation.RETRIEVE_ALL_ENTITIES, 0)
        return list(self.entities.values())

    def retrieve_all_memberships(self) -> list[ProvisioningMembership]:
        self._enter(Operation.RETRIEVE_ALL_MEMBERSHIPS, 0)
        return list(self.memberships.values())

    def retrieve_groups(self, ids: Collection[str]) -> list[ProvisioningGroup]:
        self._enter(Operation.RETRIEVE_GROUPS, len(ids))
        return [self.groups[i] for i in ids if i in self.groups]

    def retrieve_entities(self, ids: Collection[str]) -> list[ProvisioningEntity]:
        self._enter(Operation.RETRIEVE_ENTITIES, len(ids))
        return [self.entities[i] for i in ids if i in self.entities]

    def search_groups(self, attribute: str, values: Collection[Scalar]) -> list[ProvisioningGroup]:
        self._enter(Operation.SEARCH_GROUPS, len(values))
        return [g for g in self.groups.values() if g.values(attribute) & set(values)]

    def search_entities(
        self, attribute: str, values: Collection[Scalar]
    ) -> list[ProvisioningEntity]:
        self._enter(Operation.SEARCH_ENTITIES, len(values))
        return [e for e in self.entities.values() if e.values(attribute) & set(values)]

    def retrieve_memberships_by_groups(
        self, group_ids: Collection[str]
    ) -> list[ProvisioningMembership]:
        self._enter(Operation.RETRIEVE_MEMBERSHIPS_BY_GROUPS, len(group_ids))
        return [m for m in self.memberships.values() if m.group_id in group_ids]

    def retrieve_memberships_by_entities(
        self, entity_ids: Collection[str]
    ) -> list[ProvisioningMembership]:
        self._enter(Operation.RETRIEVE_MEMBERSHIPS_BY_ENTITIES, len(entity_ids))
        return [m for m in self.memberships.values() if m.entity_id in entity_ids]

    # -- groups and entities ------------------------------------------------------

    def _insert_owner(
        self, op: Operation, kind: str, store: dict[str, _OwnerT], bean: _OwnerT
    ) -> _OwnerT:
        self._check(op, bean)
        new_id = self._new_id(kind, bean)
        if new_id in store:
            # As a directory or a table with a key refuses it: never overwritten.
            msg = f"cannot insert {kind} {bean.id!r}: the target has {new_id!r} already"
            raise ValueError(msg)
        stored = type(bean)(id=new_id, attributes=bean.attributes)
        store[new_id] = stored
        return stored

    def _update_owner(
        self,
        op: Operation,
        kind: str,
        store: dict[str, _OwnerT],
        bean: _OwnerT,
        changes: Sequence[AttributeChange],
    ) -> _OwnerT:
        """Update an object; a change of its id attribute moves it (like a modify DN)."""
        self._check(op, bean)
        current = store.get(bean.id)
        if current is None:
            msg = f"no such object {bean.id!r}"
            raise LookupError(msg)
        updated = type(current)(id=current.id, attributes=self._apply_changes(current, changes))
        attribute = self._id_attributes.get(kind)
        if attribute is not None and any(c.attribute == attribute for c in changes):
            new_id = self._new_id(kind, updated)
            if new_id != current.id:
                if new_id in store:
                    msg = f"cannot move {kind} {current.id!r}: the target has {new_id!r} already"
                    raise ValueError(msg)
                del store[current.id]
                updated = type(current)(id=new_id, attributes=updated.attributes)
                self._move_memberships(kind, current.id, new_id)
        store[updated.id] = updated
        return updated

    def _move_memberships(self, kind: str, old_id: str, new_id: str) -> None:
        """A moved group's or entity's membership objects follow it (as a cascade would)."""
        for key, membership in list(self.memberships.items()):
            if (membership.group_id if kind == "group" else membership.entity_id) != old_id:
                continue
            del self.memberships[key]
            moved = (
                attrs.evolve(membership, group_id=new_id)
                if kind == "group"
                else attrs.evolve(membership, entity_id=new_id)
            )
            self.memberships[moved.id] = moved

    def _delete_owner(self, op: Operation, store: dict[str, _OwnerT], bean: _OwnerT) -> None:
        self._check(op, bean)
        store.pop(bean.id, None)  # idempotent
        if not self._operations & _SINGLE_MEMBERSHIP_DELETES:
            # Lists only (replace_group_memberships): a list goes with its group,
            # and a member leaves every list, as TargetDAO asks of such a target.
            index = 0 if store is self.groups else 1
            for key in [k for k in self.memberships if k[index] == bean.id]:
                del self.memberships[key]

    def insert_group(self, group: ProvisioningGroup) -> ProvisioningGroup:
        self._enter(Operation.INSERT_GROUP, 1)
        return self._insert_owner(Operation.INSERT_GROUP, "group", self.groups, group)

    def insert_groups(self, groups: Sequence[ProvisioningGroup]) -> list[WriteOutcome]:
        op = Operation.INSERT_GROUPS
        return self._bulk(op, groups, lambda g: self._insert_owner(op, "group", self.groups, g))

    def update_group(self, group: ProvisioningGroup, changes: Sequence[AttributeChange]) -> None:
        self._enter(Operation.UPDATE_GROUP, 1)
        self._update_owner(Operation.UPDATE_GROUP, "group", self.groups, group, changes)

    def update_groups(
        self, updates: Sequence[tuple[ProvisioningGroup, Sequence[AttributeChange]]]
    ) -> list[WriteOutcome]:
        op = Operation.UPDATE_GROUPS
        return self._bulk(
            op, updates, lambda u: self._update_owner(op, "group", self.groups, u[0], u[1])
        )

    def delete_group(self, group: ProvisioningGroup) -> None:
        self._enter(Operation.DELETE_GROUP, 1)
        self._delete_owner(Operation.DELETE_GROUP, self.groups, group)

    def delete_groups(self, groups: Sequence[ProvisioningGroup]) -> list[WriteOutcome]:
        op = Operation.DELETE_GROUPS
        return self._bulk(op, groups, lambda g: self._delete_owner(op, self.groups, g))

    def insert_entity(self, entity: ProvisioningEntity) -> ProvisioningEntity:
        self._enter(Operation.INSERT_ENTITY, 1)
        return self._insert_owner(Operation.INSERT_ENTITY, "entity", self.entities, entity)

    def insert_entities(self, entities: Sequence[ProvisioningEntity]) -> list[WriteOutcome]:
        op = Operation.INSERT_ENTITIES
        return self._bulk(
            op, entities, lambda e: self._insert_owner(op, "entity", self.entities, e)
        )

    def update_entity(self, entity: ProvisioningEntity, changes: Sequence[AttributeChange]) -> None:
        self._enter(Operation.UPDATE_ENTITY, 1)
        self._update_owner(Operation.UPDATE_ENTITY, "entity", self.entities, entity, changes)

    def update_entities(
        self, updates: Sequence[tuple[ProvisioningEntity, Sequence[AttributeChange]]]
    ) -> list[WriteOutcome]:
        op = Operation.UPDATE_ENTITIES
        return self._bulk(
            op, updates, lambda u: self._update_owner(op, "entity", self.entities, u[0], u[1])
        )

    def delete_entity(self, entity: ProvisioningEntity) -> None:
        self._enter(Operation.DELETE_ENTITY, 1)
        self._delete_owner(Operation.DELETE_ENTITY, self.entities, entity)

    def delete_entities(self, entities: Sequence[ProvisioningEntity]) -> list[WriteOutcome]:
        op = Operation.DELETE_ENTITIES
        return self._bulk(op, entities, lambda e: self._delete_owner(op, self.entities, e))

    # -- membership objects -------------------------------------------------------

    def _insert_membership(
        self, op: Operation, membership: ProvisioningMembership
    ) -> ProvisioningMembership:
        self._check(op, membership)
        self.memberships[membership.id] = membership
        return membership

    def _update_membership(
        self, op: Operation, membership: ProvisioningMembership, changes: Sequence[AttributeChange]
    ) -> None:
        self._check(op, membership)
        current = self.memberships.get(membership.id)
        if current is None:
            msg = f"no such membership {membership.id!r}"
            raise LookupError(msg)
        self.memberships[membership.id] = attrs.evolve(
            current, attributes=self._apply_changes(current, changes)
        )

    def _delete_membership(self, op: Operation, membership: ProvisioningMembership) -> None:
        self._check(op, membership)
        self.memberships.pop(membership.id, None)

    def insert_membership(self, membership: ProvisioningMembership) -> ProvisioningMembership:
        self._enter(Operation.INSERT_MEMBERSHIP, 1)
        return self._insert_membership(Operation.INSERT_MEMBERSHIP, membership)

    def insert_memberships(
        self, memberships: Sequence[ProvisioningMembership]
    ) -> list[WriteOutcome]:
        op = Operation.INSERT_MEMBERSHIPS
        return self._bulk(op, memberships, lambda m: self._insert_membership(op, m))

    def update_membership(
        self, membership: ProvisioningMembership, changes: Sequence[AttributeChange]
    ) -> None:
        self._enter(Operation.UPDATE_MEMBERSHIP, 1)
        self._update_membership(Operation.UPDATE_MEMBERSHIP, membership, changes)

    def update_memberships(
        self, updates: Sequence[tuple[ProvisioningMembership, Sequence[AttributeChange]]]
    ) -> list[WriteOutcome]:
        op = Operation.UPDATE_MEMBERSHIPS
        return self._bulk(op, updates, lambda u: self._update_membership(op, u[0], u[1]))

    def delete_membership(self, membership: ProvisioningMembership) -> None:
        self._enter(Operation.DELETE_MEMBERSHIP, 1)
        self._delete_membership(Operation.DELETE_MEMBERSHIP, membership)

    def delete_memberships(
        self, memberships: Sequence[ProvisioningMembership]
    ) -> list[WriteOutcome]:
        op = Operation.DELETE_MEMBERSHIPS
        return self._bulk(op, memberships, lambda m: self._delete_membership(op, m))

    def replace_group_memberships(
        self, group: ProvisioningGroup, memberships: Sequence[ProvisioningMembership]
    ) -> None:
        self._enter(Operation.REPLACE_GROUP_MEMBERSHIPS, len(memberships))
        self._check(Operation.REPLACE_GROUP_MEMBERSHIPS, group)
        for key in [k for k, m in self.memberships.items() if m.group_id == group.id]:
            del self.memberships[key]
        for membership in memberships:
            self.memberships[membership.id] = membership
