"""Behaviour: what the engine will do, from configuration and capabilities.

:func:`compute_behavior` is a pure function, computed once per run and shown in
diagnostics. It refuses, with a :class:`~grouperprov.exceptions.ConfigError`, a
configuration that asks for something the target cannot do.

:func:`may_delete` is the delete policy, a pure function over one object's
sync record.
"""

from __future__ import annotations

import enum

import attrs

from ._config import (
    AttributeConfig,
    CrudOrder,
    DeletePolicy,
    MembershipsConfig,
    MembershipType,
    ObjectConfig,
    ObjectType,
    ProvisionerConfig,
)
from ._records import SyncRecord
from ._target import Capabilities, Operation
from .exceptions import ConfigError, ConfigProblem

__all__ = [
    "Behavior",
    "DeleteDecision",
    "Mode",
    "ObjectBehavior",
    "compute_behavior",
    "may_delete",
]


class Mode(enum.StrEnum):
    """How one kind of write is carried out."""

    OFF = "off"
    """Not done (configured off, or the object type is not operated on)."""
    ONE_BY_ONE = "one by one"
    """Through the single-object method."""
    BULK = "bulk"
    """Through the bulk method, in batches."""
    REPLACE = "replace"
    """By replacing a group's whole membership list (memberships only)."""
    OWNER_UPDATE = "owner update"
    """As value changes of the owner's attribute (attribute membership types)."""

    @property
    def on(self) -> bool:
        """Whether the write is done at all."""
        return self is not Mode.OFF


@attrs.frozen(kw_only=True)
class ObjectBehavior:
    """What the engine does with one object type.

    Attributes:
        operate: Whether the type is provisioned at all.
        select: Whether the target is read.
        insert: How missing objects are inserted.
        update: How differing objects are updated.
        delete: How extra objects are deleted.
        delete_policy: Which extra objects may be deleted.
    """

    operate: bool
    select: bool
    insert: Mode
    update: Mode
    delete: Mode
    delete_policy: DeletePolicy

    def __str__(self) -> str:
        if not self.operate:
            return "not operated on"
        return (
            f"select {'yes' if self.select else 'no'}, insert {self.insert.value}, "
            f"update {self.update.value}, delete {self.delete.value} "
            f"(policy {self.delete_policy.value})"
        )


@attrs.frozen(kw_only=True)
class Behavior:
    """Everything the engine needs to know about what it may and will do.

    Attributes:
        membership_type: The configured membership type.
        membership_owner: For the attribute types, the type holding the
            membership attribute, when memberships are synced; else ``None``.
        groups: Behaviour for groups.
        entities: Behaviour for entities.
        memberships: Behaviour for memberships.
        value_changes: Whether multi-valued attributes are updated with value
            adds and removes (else with a replace of the whole set).
        crud_order: The order changes are applied in.
        batch_size: The configured batch size.
        read_only: Whether writes are only logged.
        capabilities: The target's capabilities.
    """

    membership_type: MembershipType
    membership_owner: ObjectType | None
    groups: ObjectBehavior
    entities: ObjectBehavior
    memberships: ObjectBehavior
    value_changes: bool
    crud_order: CrudOrder
    batch_size: int
    read_only: bool
    capabilities: Capabilities

    def of(self, object_type: ObjectType) -> ObjectBehavior:
        """The behaviour for *object_type*."""
        if object_type is ObjectType.GROUP:
            return self.groups
        if object_type is ObjectType.ENTITY:
            return self.entities
        return self.memberships

    def __str__(self) -> str:
        owner = f" on {self.membership_owner.value}s" if self.membership_owner else ""
        return "\n".join(
            [
                f"membership type: {self.membership_type.value}{owner}",
                f"groups: {self.groups}",
                f"entities: {self.entities}",
                f"memberships: {self.memberships}",
                f"multi-valued updates: {'add/remove' if self.value_changes else 'replace'}",
                f"order: {self.crud_order.value}, batch size {self.batch_size}"
                + (", READ ONLY" if self.read_only else ""),
            ]
        )


_PLURAL = {ObjectType.GROUP: "groups", ObjectType.ENTITY: "entities"}
_SINGULAR = {ObjectType.GROUP: "group", ObjectType.ENTITY: "entity"}


def _mode(caps: Capabilities, single: str, bulk: str) -> Mode:
    if caps.can(Operation(bulk)):
        return Mode.BULK
    if caps.can(Operation(single)):
        return Mode.ONE_BY_ONE
    return Mode.OFF


def _object_behavior(
    object_type: ObjectType, config: ObjectConfig, caps: Capabilities
) -> tuple[ObjectBehavior, list[ConfigProblem]]:
    plural, singular = _PLURAL[object_type], _SINGULAR[object_type]
    problems: list[ConfigProblem] = []
    modes: dict[str, Mode] = {}
    for action in ("insert", "update", "delete"):
        wanted = config.operate and getattr(config, action)
        mode = _mode(caps, f"{action}_{singular}", f"{action}_{plural}")
        if wanted and not mode.on:
            problems.append(
                ConfigProblem(
                    f"{plural}.{action}",
                    f"the target cannot {action} {plural} (it implements neither "
                    f"{action}_{singular} nor {action}_{plural}); set {plural}.{action} = false",
                )
            )
        modes[action] = mode if wanted else Mode.OFF
    select = config.operate and config.select
    if select and not caps.can(Operation(f"retrieve_all_{plural}")):
        problems.append(
            ConfigProblem(
                f"{plural}.select",
                f"the target cannot retrieve all {plural} (retrieve_all_{plural}); "
                f"set {plural}.select = false to never read them",
            )
        )
    behavior = ObjectBehavior(
        operate=config.operate,
        select=select,
        insert=modes["insert"],
        update=modes["update"],
        delete=modes["delete"],
        delete_policy=config.delete_policy,
    )
    return behavior, problems


def _membership_behavior(
    config: MembershipsConfig, owner: ObjectBehavior | None, caps: Capabilities
) -> tuple[ObjectBehavior, list[ConfigProblem]]:
    problems: list[ConfigProblem] = []
    if config.type is not MembershipType.MEMBERSHIP_OBJECTS:
        # Membership changes are value changes of the owner's attribute: they need
        # the target to update owners, whether or not the owner's own attributes
        # are updated.
        can = _owner_can_update(config, caps)
        modes = {}
        for action in ("insert", "delete"):
            wanted = config.operate and getattr(config, action) and owner is not None
            if wanted and not can:
                problems.append(
                    ConfigProblem(
                        f"memberships.{action}",
                        "memberships are values of an attribute, so the target must "
                        "implement update_group(s) or update_entity(ies) to change them; "
                        f"or turn memberships.{action} off",
                    )
                )
            modes[action] = Mode.OWNER_UPDATE if wanted and can else Mode.OFF
        return (
            ObjectBehavior(
                operate=config.operate and owner is not None,
                select=config.operate and owner is not None and owner.select,
                insert=modes["insert"],
                update=Mode.OFF,
                delete=modes["delete"],
                delete_policy=config.delete_policy,
            ),
            problems,
        )
    can_replace = caps.can(Operation.REPLACE_GROUP_MEMBERSHIPS)
    modes = {}
    for action in ("insert", "update", "delete"):
        wanted = config.operate and getattr(config, action)
        mode = _mode(caps, f"{action}_membership", f"{action}_memberships")
        if not mode.on and action != "update" and can_replace:
            mode = Mode.REPLACE
        if wanted and not mode.on:
            also = "" if action == "update" else " nor replace_group_memberships"
            problems.append(
                ConfigProblem(
                    f"memberships.{action}",
                    f"the target cannot {action} memberships (it implements neither "
                    f"{action}_membership nor {action}_memberships{also}); "
                    f"set memberships.{action} = false",
                )
            )
        modes[action] = mode if wanted else Mode.OFF
    select = config.operate and config.select
    if select and not caps.can(Operation.RETRIEVE_ALL_MEMBERSHIPS):
        problems.append(
            ConfigProblem(
                "memberships.select",
                "the target cannot retrieve all memberships (retrieve_all_memberships); "
                "set memberships.select = false to never read them",
            )
        )
    # Replacing a list needs both directions handled the same way.
    if Mode.REPLACE in (modes["insert"], modes["delete"]):
        modes["insert"] = modes["delete"] = Mode.REPLACE if config.operate else Mode.OFF
    return (
        ObjectBehavior(
            operate=config.operate,
            select=select,
            insert=modes["insert"],
            update=modes["update"],
            delete=modes["delete"],
            delete_policy=config.delete_policy,
        ),
        problems,
    )


def _owner_can_update(config: MembershipsConfig, caps: Capabilities) -> bool:
    names = (
        ("update_group", "update_groups")
        if config.type is MembershipType.GROUP_ATTRIBUTES
        else ("update_entity", "update_entities")
    )
    return any(caps.can(Operation(n)) for n in names)


def _unkept_attributes(config: ProvisionerConfig, caps: Capabilities) -> list[ConfigProblem]:
    """A problem for each configured attribute the target says it does not keep.

    Found with an attribute left out of an LDAP target's ``attributes=``:
    every group failed with ERR, run after run, and nothing said it was
    the configuration. An attribute neither inserted, updated nor read
    reaches no target.
    """
    ms = config.memberships
    checked: list[tuple[str, ObjectType, AttributeConfig]] = []
    for object_type, part, plural in (
        (ObjectType.GROUP, config.groups, "groups"),
        (ObjectType.ENTITY, config.entities, "entities"),
    ):
        if part.operate:
            checked += [
                (f"{plural}.attributes[{i}]", object_type, a) for i, a in enumerate(part.attributes)
            ]
    if ms.operate and ms.type is MembershipType.MEMBERSHIP_OBJECTS:
        checked += [
            (f"memberships.attributes[{i}]", ObjectType.MEMBERSHIP, a)
            for i, a in enumerate(ms.attributes)
        ]
    elif ms.operate and ms.attribute is not None:
        owner = (
            ObjectType.GROUP if ms.type is MembershipType.GROUP_ATTRIBUTES else ObjectType.ENTITY
        )
        checked.append(("memberships.attribute", owner, ms.attribute))
    problems: list[ConfigProblem] = []
    for path, object_type, attribute in checked:
        sent = attribute.insert or attribute.update or attribute.select
        if sent and not caps.keeps(object_type, attribute.name):
            kept = sorted(caps.attributes[object_type])
            keeps = f"it keeps: {', '.join(kept)}" if kept else "it keeps none"
            problems.append(
                ConfigProblem(
                    path,
                    f"the target keeps no {object_type.value} attribute {attribute.name!r}"
                    f" ({keeps}); add it to the target's settings, or remove it here",
                )
            )
        elif (
            not attribute.select_only
            and (attribute.insert or attribute.update)
            and not caps.writes(object_type, attribute.name)
        ):
            # memberOf written as entitlements: refused on every person, every run.
            problems.append(
                ConfigProblem(
                    path,
                    f"the target maintains the {object_type.value} attribute"
                    f" {attribute.name!r} itself and lets nobody write it; to only read it,"
                    " give it no source (or insert = false and update = false)",
                )
            )
    return problems


def compared_config(config: ProvisionerConfig, capabilities: Capabilities) -> ProvisionerConfig:
    """*config* as the engine compares with the target: its case-insensitive attributes so.

    An attribute the target takes as equal ignoring case
    (:attr:`Capabilities.case_insensitive`, an LDAP directory's ``member``)
    compares ignoring case whatever its ``case_sensitive`` says; the values
    written are the translated ones. The configuration is returned as it is
    when nothing changes.
    """
    if not capabilities.case_insensitive:
        return config

    def folded(object_type: ObjectType, attribute: AttributeConfig) -> AttributeConfig:
        if attribute.case_sensitive and capabilities.ignores_case(object_type, attribute.name):
            return attrs.evolve(attribute, case_sensitive=False)
        return attribute

    groups, entities = (
        attrs.evolve(section, attributes=tuple(folded(kind, a) for a in section.attributes))
        for kind, section in (
            (ObjectType.GROUP, config.groups),
            (ObjectType.ENTITY, config.entities),
        )
    )
    memberships = config.memberships
    owner = {
        MembershipType.GROUP_ATTRIBUTES: ObjectType.GROUP,
        MembershipType.ENTITY_ATTRIBUTES: ObjectType.ENTITY,
    }.get(memberships.type)
    if owner is not None and memberships.attribute is not None:
        memberships = attrs.evolve(memberships, attribute=folded(owner, memberships.attribute))
    if memberships.type is MembershipType.MEMBERSHIP_OBJECTS:
        memberships = attrs.evolve(
            memberships,
            attributes=tuple(folded(ObjectType.MEMBERSHIP, a) for a in memberships.attributes),
        )
    return attrs.evolve(config, groups=groups, entities=entities, memberships=memberships)


def compute_behavior(config: ProvisionerConfig, capabilities: Capabilities) -> Behavior:
    """Combine a configuration with a target's capabilities.

    Raises:
        ConfigError: The configuration asks for operations the target does not
            implement; every such problem is listed, with the setting to change.
    """
    groups, problems = _object_behavior(ObjectType.GROUP, config.groups, capabilities)
    entities, more = _object_behavior(ObjectType.ENTITY, config.entities, capabilities)
    problems += more
    owner_type: ObjectType | None = None
    owner: ObjectBehavior | None = None
    kind = config.memberships.type
    if kind is MembershipType.GROUP_ATTRIBUTES and config.groups.sync_memberships:
        owner_type, owner = ObjectType.GROUP, groups
    elif kind is MembershipType.ENTITY_ATTRIBUTES and config.entities.sync_memberships:
        owner_type, owner = ObjectType.ENTITY, entities
    memberships, more = _membership_behavior(config.memberships, owner, capabilities)
    problems += more
    problems += _unkept_attributes(config, capabilities)
    if problems:
        raise ConfigError(problems)
    return Behavior(
        membership_type=kind,
        membership_owner=owner_type if memberships.operate else None,
        groups=groups,
        entities=entities,
        memberships=memberships,
        value_changes=capabilities.value_changes,
        crud_order=config.crud_order,
        batch_size=config.batch_size,
        read_only=config.read_only,
        capabilities=capabilities,
    )


@attrs.frozen
class DeleteDecision:
    """Whether an object may be deleted, and why.

    Attributes:
        allowed: Whether the delete may happen.
        reason: The rule that decided, in words.
    """

    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


def may_delete(
    policy: DeletePolicy,
    record: SyncRecord | None,
    *,
    in_managed_group: bool | None = None,
) -> DeleteDecision:
    """Decide whether a target object that Grouper does not provision may be deleted.

    Args:
        policy: The configured delete policy.
        record: The object's sync record, if grouperprov has one.
        in_managed_group: For memberships: whether the membership's group is or
            was provisioned by grouperprov. Memberships of other groups are never
            deleted. ``None`` for groups and entities.
    """
    if in_managed_group is False:
        return DeleteDecision(False, "the membership's group is not provisioned by grouperprov")
    return _decide(policy, record)


def _decide(policy: DeletePolicy, record: SyncRecord | None) -> DeleteDecision:
    if policy is DeletePolicy.NOT_IN_GROUPER:
        return DeleteDecision(True, "not provisioned by Grouper (delete_policy not_in_grouper)")
    if policy is DeletePolicy.REMOVED_FROM_GROUPER:
        if record is not None and record.known_to_grouper:
            return DeleteDecision(
                True, "Grouper provisioned it once and no longer does (removed_from_grouper)"
            )
        return DeleteDecision(
            False, "Grouper never provisioned it (delete_policy removed_from_grouper)"
        )
    if record is not None and record.inserted_by_us:
        return DeleteDecision(True, "grouperprov inserted it (delete_policy inserted_by_us)")
    return DeleteDecision(False, "grouperprov did not insert it (delete_policy inserted_by_us)")


def replaces_lists(behavior: Behavior) -> bool:
    """Whether the target takes memberships only as whole lists, an owner's at a time.

    A target without single-value changes takes an owner's whole value
    list; a membership-objects target that implements only
    ``replace_group_memberships`` (for inserts or deletes) a group's whole
    list of rows. Either way a membership's event is written by
    recalculating its owner: the membership alone would make a list of
    one, and the others would be dropped.
    """
    if behavior.membership_type is MembershipType.MEMBERSHIP_OBJECTS:
        ms = behavior.memberships
        return Mode.REPLACE in (ms.insert, ms.delete)
    return not behavior.value_changes
