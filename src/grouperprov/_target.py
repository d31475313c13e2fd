"""The target contract: what a target DAO does, and what it can do.

A :class:`TargetDAO` is the only code that talks to a target. It reads and
writes beans and reports, per object, whether a write worked. It never decides
*what* to write: the engine does, and calls it.

Every operation is optional. A subclass implements the methods its target
supports; :class:`Capabilities` is derived from which methods it overrides, so
the engine knows, for example, to delete groups one by one when there is no
bulk delete, or to send a whole member list when single members cannot be added.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import ClassVar, TypeVar

import attrs

from ._beans import (
    AttributeValue,
    ProvisioningEntity,
    ProvisioningGroup,
    ProvisioningMembership,
    Scalar,
    bean_problems,
)
from ._config import ObjectType

_B = TypeVar("_B", ProvisioningGroup, ProvisioningEntity, ProvisioningMembership)

__all__ = [
    "AttributeChange",
    "Capabilities",
    "ChangeOp",
    "Operation",
    "TargetDAO",
    "TargetData",
    "WriteOutcome",
]

Bean = ProvisioningGroup | ProvisioningEntity | ProvisioningMembership


class ChangeOp(enum.StrEnum):
    """What an attribute change does."""

    ADD = "add"
    """Add the values to a multi-valued attribute (values already there are fine)."""
    REMOVE = "remove"
    """Remove the values from a multi-valued attribute (values not there are fine)."""
    REPLACE = "replace"
    """Set the attribute to the value (``None``: remove the attribute)."""


@attrs.frozen
class AttributeChange:
    """One change to one attribute of one target object.

    Attributes:
        attribute: The attribute's name.
        op: What to do.
        value: For ADD and REMOVE, a frozenset of values; for REPLACE, the new
            value (a scalar, a frozenset for a multi-valued attribute, or
            ``None`` to remove the attribute).
    """

    attribute: str
    op: ChangeOp
    value: AttributeValue

    @classmethod
    def add(cls, attribute: str, values: Iterable[Scalar]) -> AttributeChange:
        """Add *values* to a multi-valued attribute."""
        return cls(attribute, ChangeOp.ADD, frozenset(values))

    @classmethod
    def remove(cls, attribute: str, values: Iterable[Scalar]) -> AttributeChange:
        """Remove *values* from a multi-valued attribute."""
        return cls(attribute, ChangeOp.REMOVE, frozenset(values))

    @classmethod
    def replace(cls, attribute: str, value: AttributeValue) -> AttributeChange:
        """Set *attribute* to *value* (``None`` removes it)."""
        return cls(attribute, ChangeOp.REPLACE, value)

    def values(self) -> frozenset[Scalar]:
        """The value(s) as a frozenset, whatever the op."""
        if self.value is None:
            return frozenset()
        if isinstance(self.value, frozenset):
            return self.value
        return frozenset((self.value,))

    def apply_to(self, current: AttributeValue) -> AttributeValue:
        """Return *current* with this change applied (a reference for DAO authors)."""
        if self.op is ChangeOp.REPLACE:
            return self.value
        have = (
            current
            if isinstance(current, frozenset)
            else frozenset(() if current is None else (current,))
        )
        result = have | self.values() if self.op is ChangeOp.ADD else have - self.values()
        return result or None


def applied(
    values: Mapping[str, AttributeValue], changes: Iterable[AttributeChange]
) -> dict[str, AttributeValue]:
    """*values* after *changes*, each applied to the result of the ones before."""
    result = dict(values)
    for change in changes:
        result[change.attribute] = change.apply_to(result.get(change.attribute))
    return result


@attrs.frozen
class WriteOutcome:
    """The result of writing one object, as a bulk DAO method reports it.

    Attributes:
        ok: Whether the write took effect.
        error: Why not, when it did not (shown to operators; no secrets).
        stored: After an insert, the object as the target now holds it, with
            anything the target generated (a DN, a remote id) so the engine can
            cache it as the object's target link; ``None`` if nothing to report.
        failed_values: With ``ok``, values of multi-valued attributes that
            the target refused while the rest of the write took effect, each
            as ``(attribute, value, why)`` (see :meth:`~grouperprov.WriteOutcome.partial`).
    """

    ok: bool
    error: str | None = None
    stored: Bean | None = None
    failed_values: tuple[tuple[str, Scalar, str], ...] = ()

    @classmethod
    def success(cls, stored: Bean | None = None) -> WriteOutcome:
        """The write worked."""
        return cls(ok=True, stored=stored)

    @classmethod
    def partial(
        cls, failed_values: Iterable[tuple[str, Scalar, str]], stored: Bean | None = None
    ) -> WriteOutcome:
        """The write worked, except for these values (``(attribute, value, why)``).

        For a target that can tell one value from another: a member value the
        directory refuses (a syntax it does not allow) then fails its own
        membership, and the group and its other members are written. The
        engine gives each membership behind a failed value of the membership
        attribute an ``ERR`` with the reason; a failed value of any other
        attribute fails the whole object's change.
        """
        return cls(ok=True, stored=stored, failed_values=tuple(failed_values))

    @classmethod
    def failure(cls, error: str) -> WriteOutcome:
        """The write failed, because of *error*."""
        return cls(ok=False, error=error)


class Operation(enum.StrEnum):
    """Every operation a target DAO may implement; each value is the method's name."""

    RETRIEVE_ALL_DATA = "retrieve_all_data"
    RETRIEVE_ALL_GROUPS = "retrieve_all_groups"
    RETRIEVE_ALL_ENTITIES = "retrieve_all_entities"
    RETRIEVE_ALL_MEMBERSHIPS = "retrieve_all_memberships"
    RETRIEVE_GROUPS = "retrieve_groups"
    RETRIEVE_ENTITIES = "retrieve_entities"
    SEARCH_GROUPS = "search_groups"
    SEARCH_ENTITIES = "search_entities"
    RETRIEVE_MEMBERSHIPS_BY_GROUPS = "retrieve_memberships_by_groups"
    RETRIEVE_MEMBERSHIPS_BY_ENTITIES = "retrieve_memberships_by_entities"
    INSERT_GROUP = "insert_group"
    INSERT_GROUPS = "insert_groups"
    UPDATE_GROUP = "update_group"
    UPDATE_GROUPS = "update_groups"
    DELETE_GROUP = "delete_group"
    DELETE_GROUPS = "delete_groups"
    INSERT_ENTITY = "insert_entity"
    INSERT_ENTITIES = "insert_entities"
    UPDATE_ENTITY = "update_entity"
    UPDATE_ENTITIES = "update_entities"
    DELETE_ENTITY = "delete_entity"
    DELETE_ENTITIES = "delete_entities"
    INSERT_MEMBERSHIP = "insert_membership"
    INSERT_MEMBERSHIPS = "insert_memberships"
    UPDATE_MEMBERSHIP = "update_membership"
    UPDATE_MEMBERSHIPS = "update_memberships"
    DELETE_MEMBERSHIP = "delete_membership"
    DELETE_MEMBERSHIPS = "delete_memberships"
    REPLACE_GROUP_MEMBERSHIPS = "replace_group_memberships"


def _checked(field: str, items: Iterable[_B], kind: type[_B]) -> tuple[_B, ...]:
    found = tuple(items)
    problem = next(bean_problems(f"TargetData.{field}", found, kind), None)
    if problem is not None:
        raise TypeError(f"{problem} (a target DAO reads beans with text ids)")
    return found


def _groups(items: Iterable[ProvisioningGroup]) -> tuple[ProvisioningGroup, ...]:
    return _checked("groups", items, ProvisioningGroup)


def _entities(items: Iterable[ProvisioningEntity]) -> tuple[ProvisioningEntity, ...]:
    return _checked("entities", items, ProvisioningEntity)


def _members(items: Iterable[ProvisioningMembership]) -> tuple[ProvisioningMembership, ...]:
    return _checked("memberships", items, ProvisioningMembership)


@attrs.frozen(kw_only=True)
class TargetData:
    """What was read from the target, as the DAO returned it.

    Attributes:
        groups: Target groups.
        entities: Target entities.
        memberships: Target membership objects (type ``membership_objects``).
    """

    groups: tuple[ProvisioningGroup, ...] = attrs.field(default=(), converter=_groups)
    entities: tuple[ProvisioningEntity, ...] = attrs.field(default=(), converter=_entities)
    memberships: tuple[ProvisioningMembership, ...] = attrs.field(default=(), converter=_members)


@attrs.frozen
class Capabilities:
    """What a target DAO can do.

    Attributes:
        operations: The operations it implements.
        batch_sizes: The largest batch each bulk operation accepts; the engine
            uses the smaller of this and the configured batch size.
        value_changes: Whether updates accept ADD and REMOVE changes. When
            ``False`` the engine sends a REPLACE with the whole new value set of
            a multi-valued attribute instead.
        attributes: The attributes the target keeps, per object type, where
            it knows them (the columns of a table, an LDAP target's
            ``attributes=``); a type left out takes any. A configured
            attribute the target does not keep is a configuration error
            before the run, not an error on every object of every run.
            Names compare ignoring case.
        case_insensitive: Attributes, per object type, whose values the
            target takes as equal when they differ in case only (an LDAP
            directory's DN-valued ``member``). The engine compares them so,
            whatever their ``case_sensitive`` says: compared exactly, a
            member written in another case by someone else was added again
            in every run (the directory answering that it has it). Names
            compare ignoring case.
        read_only: Attributes, per object type, that the target keeps but
            does not let anyone write (an LDAP directory's ``memberOf`` or
            ``entryUUID``, which it maintains itself). A configured attribute
            that is inserted or updated is a configuration error before the
            run; one only read (no source, or ``insert = false`` and ``update
            = false``) is fine. Names compare ignoring case.
    """

    operations: frozenset[Operation]
    batch_sizes: Mapping[Operation, int] = attrs.field(factory=dict, hash=False)
    value_changes: bool = True
    attributes: Mapping[ObjectType, frozenset[str]] = attrs.field(factory=dict, hash=False)
    case_insensitive: Mapping[ObjectType, frozenset[str]] = attrs.field(factory=dict, hash=False)
    read_only: Mapping[ObjectType, frozenset[str]] = attrs.field(factory=dict, hash=False)

    @classmethod
    def of(cls, dao: type[TargetDAO] | TargetDAO) -> Capabilities:
        """Derive the capabilities from the methods *dao*'s class overrides.

        The class attributes :attr:`~grouperprov.TargetDAO.batch_sizes` and
        :attr:`~grouperprov.TargetDAO.supports_value_changes` complete them.
        """
        kind = dao if isinstance(dao, type) else type(dao)
        operations = frozenset(
            op for op in Operation if getattr(kind, op.value) is not getattr(TargetDAO, op.value)
        )
        sizes = {Operation(name): size for name, size in kind.batch_sizes.items()}
        return cls(operations, sizes, kind.supports_value_changes)

    def can(self, operation: Operation) -> bool:
        """Whether the operation is implemented."""
        return operation in self.operations

    def batch_size(self, operation: Operation, default: int) -> int:
        """The batch size to use for *operation*: at most *default*."""
        return max(1, min(default, self.batch_sizes.get(operation, default)))

    def without(self, *operations: Operation) -> Capabilities:
        """A copy without *operations* (to declare less than the class implements)."""
        return attrs.evolve(self, operations=self.operations - set(operations))

    def keeps(self, object_type: ObjectType, name: str) -> bool:
        """Whether the target keeps attribute *name* of *object_type* (ignoring case)."""
        kept = self.attributes.get(object_type)
        return kept is None or name.casefold() in {k.casefold() for k in kept}

    def writes(self, object_type: ObjectType, name: str) -> bool:
        """Whether the target lets attribute *name* of *object_type* be written (ignoring case)."""
        declared = self.read_only.get(object_type, frozenset())
        return name.casefold() not in {n.casefold() for n in declared}

    def ignores_case(self, object_type: ObjectType, name: str) -> bool:
        """Whether the target takes values of *name* as equal ignoring case (see above)."""
        declared = self.case_insensitive.get(object_type, frozenset())
        return name.casefold() in {n.casefold() for n in declared}

    def __str__(self) -> str:
        lines = [f"value changes (add/remove): {'yes' if self.value_changes else 'no'}"]
        for op in Operation:
            if op in self.operations:
                size = self.batch_sizes.get(op)
                lines.append(f"{op.value}" + (f" (batch {size})" if size else ""))
        for object_type, kept in self.attributes.items():
            lines.append(f"{object_type.value} attributes: {', '.join(sorted(kept))}")
        for object_type, names in self.case_insensitive.items():
            shown = ", ".join(sorted(names))
            lines.append(f"{object_type.value} attributes compared ignoring case: {shown}")
        for object_type, names in self.read_only.items():
            shown = ", ".join(sorted(names))
            lines.append(f"{object_type.value} attributes only read: {shown}")
        return "\n".join(lines)


def _unsupported(name: str) -> NotImplementedError:
    return NotImplementedError(f"this target does not implement {name}")


class TargetDAO(abc.ABC):  # noqa: B024  # every operation is optional; capabilities tell which
    """Base class of target DAOs: the I/O with one target, and nothing else.

    Subclass it and implement the operations your target supports; leave the
    others alone (their absence shows in :meth:`~grouperprov.TargetDAO.capabilities`). The engine
    calls these methods; they never call the engine.

    Ids: a bean read from the target has the target's own id (a DN, a row key,
    a remote UUID) as ``id``. Beans given to insert methods carry the Grouper id
    instead: the target chooses its own id and reports it through
    :attr:`~grouperprov.WriteOutcome.stored`. Membership beans from the engine carry the
    target ids of their group and entity when those are provisioned, else
    Grouper's ids; their attributes say what the target needs.

    Errors: single-object methods raise any exception to report failure; bulk
    methods return one :class:`~grouperprov.WriteOutcome` per input, in input order, and
    raise only when the whole call failed (the engine then marks every object
    of the batch with an ERR error and goes on with the next batch). Messages
    must not contain secrets.

    Idempotency: inserting what is there already, deleting what is gone, adding
    a value present or removing one absent must succeed (or fail harmlessly),
    since a run may repeat work after a crash.
    """

    batch_sizes: ClassVar[Mapping[str, int]] = {}
    """The largest batch per bulk operation name, e.g. ``{"insert_groups": 500}``."""

    supports_value_changes: ClassVar[bool] = True
    """Whether updates accept ADD and REMOVE changes (else REPLACE only)."""

    def capabilities(self) -> Capabilities:
        """What this DAO can do; by default derived from the methods it overrides.

        Override to declare less (or different batch sizes) at run time.
        """
        return Capabilities.of(self)

    # -- reads ---------------------------------------------------------------

    def retrieve_all_data(self) -> TargetData:
        """Return every group, entity and membership object at once.

        For targets that read everything faster in one go (one export, one
        query). When implemented, a full sync calls it instead of the three
        ``retrieve_all_*`` methods.
        """
        raise _unsupported("retrieve_all_data")

    def retrieve_all_groups(self) -> Iterable[ProvisioningGroup]:
        """Return every group in the target's scope (for a full sync)."""
        raise _unsupported("retrieve_all_groups")

    def retrieve_all_entities(self) -> Iterable[ProvisioningEntity]:
        """Return every entity in the target's scope."""
        raise _unsupported("retrieve_all_entities")

    def retrieve_all_memberships(self) -> Iterable[ProvisioningMembership]:
        """Return every membership object (type ``membership_objects`` only)."""
        raise _unsupported("retrieve_all_memberships")

    def retrieve_groups(self, ids: Collection[str]) -> Iterable[ProvisioningGroup]:
        """Return the groups with these target ids; ids not found are left out."""
        raise _unsupported("retrieve_groups")

    def retrieve_entities(self, ids: Collection[str]) -> Iterable[ProvisioningEntity]:
        """Return the entities with these target ids; ids not found are left out."""
        raise _unsupported("retrieve_entities")

    def search_groups(
        self, attribute: str, values: Collection[Scalar]
    ) -> Iterable[ProvisioningGroup]:
        """Return the groups whose *attribute* has one of *values* (a search attribute).

        Values must be escaped or bound as parameters, never pasted into a query.
        """
        raise _unsupported("search_groups")

    def search_entities(
        self, attribute: str, values: Collection[Scalar]
    ) -> Iterable[ProvisioningEntity]:
        """Return the entities whose *attribute* has one of *values*."""
        raise _unsupported("search_entities")

    def retrieve_memberships_by_groups(
        self, group_ids: Collection[str]
    ) -> Iterable[ProvisioningMembership]:
        """Return the membership objects of the groups with these target ids."""
        raise _unsupported("retrieve_memberships_by_groups")

    def retrieve_memberships_by_entities(
        self, entity_ids: Collection[str]
    ) -> Iterable[ProvisioningMembership]:
        """Return the membership objects of the entities with these target ids."""
        raise _unsupported("retrieve_memberships_by_entities")

    # -- groups ----------------------------------------------------------------

    def insert_group(self, group: ProvisioningGroup) -> ProvisioningGroup | None:
        """Insert one group; return it as stored (with its target id), or ``None``."""
        raise _unsupported("insert_group")

    def insert_groups(self, groups: Sequence[ProvisioningGroup]) -> Sequence[WriteOutcome]:
        """Insert groups; one outcome per group, in order."""
        raise _unsupported("insert_groups")

    def update_group(self, group: ProvisioningGroup, changes: Sequence[AttributeChange]) -> None:
        """Apply attribute *changes* to the target group *group* (as read, with its id).

        Changes apply in order, each to the result of the ones before it (an ADD
        then a REMOVE of another value of the same attribute keeps the added one).
        """
        raise _unsupported("update_group")

    def update_groups(
        self, updates: Sequence[tuple[ProvisioningGroup, Sequence[AttributeChange]]]
    ) -> Sequence[WriteOutcome]:
        """Apply several updates; one outcome per update, in order."""
        raise _unsupported("update_groups")

    def delete_group(self, group: ProvisioningGroup) -> None:
        """Delete the target group *group* (as read, with its id)."""
        raise _unsupported("delete_group")

    def delete_groups(self, groups: Sequence[ProvisioningGroup]) -> Sequence[WriteOutcome]:
        """Delete groups; one outcome per group, in order."""
        raise _unsupported("delete_groups")

    # -- entities ----------------------------------------------------------------

    def insert_entity(self, entity: ProvisioningEntity) -> ProvisioningEntity | None:
        """Insert one entity; return it as stored (with its target id), or ``None``."""
        raise _unsupported("insert_entity")

    def insert_entities(self, entities: Sequence[ProvisioningEntity]) -> Sequence[WriteOutcome]:
        """Insert entities; one outcome per entity, in order."""
        raise _unsupported("insert_entities")

    def update_entity(self, entity: ProvisioningEntity, changes: Sequence[AttributeChange]) -> None:
        """Apply attribute *changes* to the target entity *entity*."""
        raise _unsupported("update_entity")

    def update_entities(
        self, updates: Sequence[tuple[ProvisioningEntity, Sequence[AttributeChange]]]
    ) -> Sequence[WriteOutcome]:
        """Apply several updates; one outcome per update, in order."""
        raise _unsupported("update_entities")

    def delete_entity(self, entity: ProvisioningEntity) -> None:
        """Delete the target entity *entity*."""
        raise _unsupported("delete_entity")

    def delete_entities(self, entities: Sequence[ProvisioningEntity]) -> Sequence[WriteOutcome]:
        """Delete entities; one outcome per entity, in order."""
        raise _unsupported("delete_entities")

    # -- membership objects -------------------------------------------------------

    def insert_membership(
        self, membership: ProvisioningMembership
    ) -> ProvisioningMembership | None:
        """Insert one membership object; return it as stored, or ``None``."""
        raise _unsupported("insert_membership")

    def insert_memberships(
        self, memberships: Sequence[ProvisioningMembership]
    ) -> Sequence[WriteOutcome]:
        """Insert membership objects; one outcome per membership, in order."""
        raise _unsupported("insert_memberships")

    def update_membership(
        self, membership: ProvisioningMembership, changes: Sequence[AttributeChange]
    ) -> None:
        """Apply attribute *changes* to one membership object."""
        raise _unsupported("update_membership")

    def update_memberships(
        self, updates: Sequence[tuple[ProvisioningMembership, Sequence[AttributeChange]]]
    ) -> Sequence[WriteOutcome]:
        """Apply several membership updates; one outcome per update, in order."""
        raise _unsupported("update_memberships")

    def delete_membership(self, membership: ProvisioningMembership) -> None:
        """Delete one membership object (as read from the target)."""
        raise _unsupported("delete_membership")

    def delete_memberships(
        self, memberships: Sequence[ProvisioningMembership]
    ) -> Sequence[WriteOutcome]:
        """Delete membership objects; one outcome per membership, in order."""
        raise _unsupported("delete_memberships")

    def replace_group_memberships(
        self, group: ProvisioningGroup, memberships: Sequence[ProvisioningMembership]
    ) -> None:
        """Make *memberships* the complete list of the target group's membership objects.

        For targets that cannot add or remove single memberships. Such a
        target keeps a group's membership objects as part of the group:
        deleting a group removes its list, and deleting an entity removes
        it from every list (as a SaaS API that only replaces a group's
        members does). grouperprov cannot remove them itself: it deletes
        groups and entities before it writes lists, and a list needs its
        group.
        """
        raise _unsupported("replace_group_memberships")


def capabilities_of(dao: TargetDAO) -> Capabilities:
    """``dao.capabilities()``, checked to be :class:`Capabilities`.

    Raises:
        TypeError: A DAO of the caller's returned something else (a set of
            operations failed later with "'set' object has no attribute
            'case_insensitive'").
    """
    found: object = dao.capabilities()
    if not isinstance(found, Capabilities):
        msg = (
            f"{type(dao).__name__}.capabilities() returned {type(found).__name__} "
            f"{found!r:.80}, not a Capabilities"
        )
        raise TypeError(msg)
    return found
