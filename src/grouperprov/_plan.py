"""The Plan: what a run will change in the target, and why.

A plan is data. It is computed without I/O, can be printed, serialised to JSON
and back, reviewed, and applied. Every change carries the reasons it exists.
"""

from __future__ import annotations

import enum
import json
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, TypeAlias

import attrs
import cattrs

from ._beans import (
    AttributeMap,
    AttributeValue,
    ProvisioningEntity,
    ProvisioningGroup,
    ProvisioningMembership,
    Scalar,
)
from ._codes import ObjectError
from ._config import CrudOrder, ObjectType
from ._sources import scalar_to_str
from ._target import AttributeChange

__all__ = ["Action", "Change", "ObjectId", "Plan", "PlannedError", "Reason", "SetAside"]

Bean: TypeAlias = ProvisioningGroup | ProvisioningEntity | ProvisioningMembership
ObjectId: TypeAlias = str | tuple[str, str | int | bool]
"""An object's id in a plan: a Grouper id; a membership's ``(group_id, entity_id)``;
for a value of an attribute membership type, ``(owner_id, value)``."""


class Action(enum.StrEnum):
    """What a change does."""

    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"
    REPLACE = "replace"
    """Replace a whole membership list (targets that cannot add or remove one)."""


@attrs.frozen
class Reason:
    """Why a change exists.

    Attributes:
        rule: A short, stable name of the rule (``missing_in_target``,
            ``attribute_differs``, ``not_in_grouper``, ...).
        message: The details in words: attribute, values, config setting.
    """

    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


@attrs.frozen(kw_only=True)
class Change:
    """One change to the target.

    Attributes:
        action: What to do.
        object_type: To which kind of object.
        object_id: The object's id in the plan (see ``ObjectId``).
        target_id: The target's id of the object changed (for membership
            values: of their owner), when it exists.
        bean: For an insert, the bean to insert; for an update or delete, the
            object as the target holds it (for membership values: the owner).
        attribute_changes: For updates and value changes, what to change.
        owner_id: For membership values: the Grouper id of the owner (for a
            value left on an object its owner no longer answers to, rule
            ``left_behind``: that object's target id).
        value: For membership values: the value added or removed.
        memberships: The Grouper memberships behind a membership value, or all
            memberships of a replaced list.
        added: For a replaced list of membership values: the memberships
            behind the values it adds (the rest of ``memberships`` were in
            the target already, and are not made grouperprov's by it).
        removed: For a replaced list of membership values: the memberships
            whose records hold the values it removes.
        replacement: For a replaced membership list: the complete new list.
        with_owner: The membership value is written with its owner's insert
            (for a new owner's values: all of them, in one change with no
            ``value``; ``memberships`` has the memberships behind them).
        search: For inserts: search attribute values to find the object again.
        reasons: Why the change exists.
        label: A readable name of the object (a group's name, a subject id,
            ``group / subject`` for a membership), shown before its id.
    """

    action: Action
    object_type: ObjectType
    object_id: ObjectId
    target_id: str | None = None
    bean: Bean | None = None
    attribute_changes: tuple[AttributeChange, ...] = ()
    owner_id: str | None = None
    value: Scalar | None = None
    memberships: tuple[tuple[str, str], ...] = ()
    added: tuple[tuple[str, str], ...] = ()
    removed: tuple[tuple[str, str], ...] = ()
    replacement: tuple[ProvisioningMembership, ...] = ()
    with_owner: bool = False
    search: tuple[tuple[str, Scalar], ...] = ()
    reasons: tuple[Reason, ...] = ()
    label: str | None = None

    def describe(self) -> str:
        """One line: action, object and what changes."""
        shown = _show_id(self.object_id)
        if self.label is not None:
            shown = f"{self.label!r} [{shown.strip(chr(39))}]"
        what = f"{self.action.value} {self.object_type.value} {shown}"
        if (
            self.target_id is not None
            and self.action is not Action.INSERT
            and self.target_id != self.object_id
        ):
            what += f" (target {self.target_id!r})"
        if self.with_owner:
            what += " with its owner's insert"
        details = [_show_change(c) for c in self.attribute_changes]
        if self.replacement or (self.action is Action.REPLACE and self.memberships):
            details.append(f"{len(self.replacement or self.memberships)} members")
        return what + (": " + "; ".join(details) if details else "")


@attrs.frozen
class PlannedError:
    """An object the plan leaves alone because of an error.

    Attributes:
        object_type: The kind of object.
        object_id: Its id in the plan.
        error: The error recorded on it.
    """

    object_type: ObjectType
    object_id: ObjectId
    error: ObjectError


@attrs.frozen
class SetAside:
    """A target object the plan leaves alone: matching could not tell whose it is.

    It is neither changed nor deleted (see :class:`~grouperprov.MatchResult`):
    it shares a matching value with other target objects, several Grouper
    objects claim it, or it has no value for any matching key.

    Attributes:
        object_type: The kind of object.
        target_id: Its id in the target.
        reason: Why it was set aside, in words.
    """

    object_type: ObjectType
    target_id: ObjectId
    reason: str


_DELETES_FIRST = (
    (Action.DELETE, ObjectType.MEMBERSHIP),
    (Action.DELETE, ObjectType.GROUP),
    (Action.INSERT, ObjectType.GROUP),
    (Action.UPDATE, ObjectType.GROUP),
    (Action.DELETE, ObjectType.ENTITY),
    (Action.INSERT, ObjectType.ENTITY),
    (Action.UPDATE, ObjectType.ENTITY),
    (Action.INSERT, ObjectType.MEMBERSHIP),
    (Action.UPDATE, ObjectType.MEMBERSHIP),
)
_INSERTS_FIRST = (
    (Action.INSERT, ObjectType.GROUP),
    (Action.UPDATE, ObjectType.GROUP),
    (Action.INSERT, ObjectType.ENTITY),
    (Action.UPDATE, ObjectType.ENTITY),
    (Action.INSERT, ObjectType.MEMBERSHIP),
    (Action.UPDATE, ObjectType.MEMBERSHIP),
    (Action.DELETE, ObjectType.MEMBERSHIP),
    (Action.DELETE, ObjectType.ENTITY),
    (Action.DELETE, ObjectType.GROUP),
)


def _members_first(
    order: tuple[tuple[Action, ObjectType], ...],
) -> tuple[tuple[Action, ObjectType], ...]:
    """*order* with the entity phases it has before membership inserts put before group inserts."""
    until = order.index((Action.INSERT, ObjectType.MEMBERSHIP))
    moved = [p for p in order[:until] if p[1] is ObjectType.ENTITY]
    rest = [p for p in order if p not in moved]
    at = rest.index((Action.INSERT, ObjectType.GROUP))
    return (*rest[:at], *moved, *rest[at:])


# The same orders with entities written before groups (groups hold member values).
_DELETES_FIRST_MEMBERS_FIRST = _members_first(_DELETES_FIRST)
_INSERTS_FIRST_MEMBERS_FIRST = _members_first(_INSERTS_FIRST)


def phases(
    order: CrudOrder, membership_owner: ObjectType | None = None
) -> tuple[tuple[Action, ObjectType], ...]:
    """The (action, object type) phases of *order*; replaces run with membership inserts.

    Where groups hold their members as values (*membership_owner* is the
    group), entities are inserted and updated before groups: a new group is
    written with its member values, and a value whose entity could not be
    inserted is left out of it (a directory with referential integrity
    refuses a member that is not there; one without would keep a value
    that names nobody, or, where names collide, somebody else).
    """
    if membership_owner is ObjectType.GROUP:
        return (
            _DELETES_FIRST_MEMBERS_FIRST
            if order is CrudOrder.DELETES_FIRST
            else _INSERTS_FIRST_MEMBERS_FIRST
        )
    return _DELETES_FIRST if order is CrudOrder.DELETES_FIRST else _INSERTS_FIRST


def phase_of(change: Change) -> tuple[Action, ObjectType]:
    """The phase a change belongs to."""
    action = Action.INSERT if change.action is Action.REPLACE else change.action
    return (action, change.object_type)


_PHASE_INDEX = {phase: index for index, phase in enumerate(_DELETES_FIRST)}


def _sort_key(change: Change) -> tuple[int, str]:
    # A plan of a campus from empty sorts a million changes: one dict lookup each.
    action = Action.INSERT if change.action is Action.REPLACE else change.action
    return (_PHASE_INDEX[action, change.object_type], _show_id(change.object_id))


def _ordered(changes: Iterable[Change]) -> tuple[Change, ...]:
    return tuple(sorted(changes, key=_sort_key))


def count_lines(changes: Iterable[Change]) -> list[str]:
    """``  <action> <object type>: <count>`` for *changes*, by action and object type.

    Membership changes that stand for more Grouper memberships than their
    count (a new owner's values, a replaced list) say how many.
    """
    counts: Counter[tuple[Action, ObjectType]] = Counter()
    behind: Counter[Action] = Counter()
    for change in changes:
        counts[change.action, change.object_type] += 1
        if change.object_type is ObjectType.MEMBERSHIP:
            behind[change.action] += len(change.memberships) or 1
    lines = []
    for (action, object_type), count in sorted(counts.items()):
        many = behind[action] if object_type is ObjectType.MEMBERSHIP else count
        more = f" ({many} memberships)" if many != count else ""
        lines.append(f"  {action.value} {object_type.value}: {count}{more}")
    return lines


def _carries(change: Change, object_id: ObjectId) -> bool:
    """Whether *change* writes a new owner's values, among them *object_id*'s."""
    if not (change.with_owner and change.value is None and change.memberships):
        return False
    if not isinstance(object_id, tuple) or object_id[0] != change.owner_id:
        return False
    return object_id in change.memberships or any(
        object_id[1] in c.values() for c in change.attribute_changes
    )


def _show_id(object_id: Hashable) -> str:
    if isinstance(object_id, tuple):
        if len(object_id) != 1:
            return repr(object_id)  # the same text, made in C
        return "(" + ", ".join(repr(part) for part in object_id) + ")"
    return repr(object_id)


def _show_change(change: AttributeChange) -> str:
    values = change.values()
    shown = ", ".join(sorted(repr(v) for v in values)[:5])
    more = f", ... ({len(values)} values)" if len(values) > 5 else ""  # noqa: PLR2004
    if change.op.value == "replace" and not values:
        return f"remove {change.attribute}"
    return f"{change.op.value} {change.attribute} [{shown}{more}]"


@attrs.frozen(kw_only=True)
class Plan:
    """What a run will do to the target, in order, with reasons.

    Attributes:
        provisioner: The provisioner's name.
        changes: The changes, in the ``deletes_first`` order (apply uses the
            configured order).
        errors: Objects left alone because of an error, with the error.
        set_aside: Target objects left alone because matching could not
            tell whose they are (never deleted for it), with the reason.
        links: Known target ids of Grouper groups and entities, by object type
            then Grouper id (used to address memberships of existing objects).
    """

    provisioner: str
    changes: tuple[Change, ...] = attrs.field(default=(), converter=_ordered)
    errors: tuple[PlannedError, ...] = ()
    set_aside: tuple[SetAside, ...] = ()
    links: Mapping[ObjectType, Mapping[str, str]] = attrs.field(factory=dict, hash=False)

    @property
    def empty(self) -> bool:
        """Whether the plan changes nothing."""
        return not self.changes

    def counts(self) -> Counter[tuple[Action, ObjectType]]:
        """How many changes of each action and object type."""
        return Counter((c.action, c.object_type) for c in self.changes)

    def error_counts(self) -> Counter[str]:
        """How many errors of each code."""
        return Counter(e.error.code.value for e in self.errors)

    def summary(self, *, max_changes: int | None = None) -> str:
        """A readable summary: counts, then each change and error.

        Args:
            max_changes: List at most this many changes and errors each (the
                counts are always complete); ``None`` lists them all.
        """
        changes, errors = len(self.changes), len(self.errors)
        lines = [
            (
                f"Plan for {self.provisioner!r}: {changes} change{'' if changes == 1 else 's'}, "
                f"{errors} error{'' if errors == 1 else 's'}"
            )
        ]
        lines.extend(count_lines(self.changes))
        for code, count in sorted(self.error_counts().items()):
            lines.append(f"  error {code}: {count}")
        if self.set_aside:
            lines.append(f"  set aside: {len(self.set_aside)}")
        limit = (
            len(self.changes) + len(self.errors) + len(self.set_aside)
            if max_changes is None
            else max_changes
        )
        _section(lines, "Changes:", [c.describe() for c in self.changes[:limit]], self.changes)
        shown = [
            f"{e.object_type.value} {_show_id(e.object_id)}: {e.error}" for e in self.errors[:limit]
        ]
        _section(lines, "Errors:", shown, self.errors)
        shown = [
            f"{a.object_type.value} {_show_id(a.target_id)}: {a.reason}"
            for a in self.set_aside[:limit]
        ]
        _section(lines, "Set aside (left alone, never deleted):", shown, self.set_aside)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def changes_for(self, object_id: ObjectId) -> tuple[Change, ...]:
        """The changes to one object (by its plan id).

        A membership value written with its new owner's insert, ``(owner_id,
        value)`` (or a membership behind it, ``(group_id, entity_id)``), is
        found in the owner's one change for all its values.
        """
        return tuple(c for c in self.changes if c.object_id == object_id or _carries(c, object_id))

    def why(self, object_id: ObjectId) -> str:
        """Why an object is in this plan (or that it is not), in words.

        *object_id* is a plan id (see ``ObjectId``), or the target id of
        a target object set aside.
        """
        lines: list[str] = []
        for change in self.changes_for(object_id):
            lines.append(change.describe())
            lines.extend(f"  because {reason}" for reason in change.reasons)
        lines.extend(
            f"{error.object_type.value} {_show_id(object_id)} is left alone: {error.error}"
            for error in self.errors
            if error.object_id == object_id
        )
        lines.extend(
            f"target {aside.object_type.value} {_show_id(object_id)} is set aside "
            f"(left alone, never deleted): {aside.reason}"
            for aside in self.set_aside
            if aside.target_id == object_id
        )
        return "\n".join(lines) or f"{_show_id(object_id)} is not in this plan"

    def for_group(self, group_id: str) -> tuple[Change, ...]:
        """Everything that will happen to group *group_id* and its memberships.

        With ``entity_attributes`` a group's memberships are values of its
        members: the changes of those that stand for a membership of the
        group are among them.
        """
        return tuple(
            c
            for c in self.changes
            if group_id in (c.object_id, c.owner_id)
            or (
                c.object_type is ObjectType.MEMBERSHIP
                and (
                    (isinstance(c.object_id, tuple) and c.object_id[0] == group_id)
                    or any(m[0] == group_id for m in c.memberships)
                )
            )
        )

    def explain_group(self, group_id: str) -> str:
        """What will happen to group *group_id*, in words."""
        changes = self.for_group(group_id)
        errors = [
            e
            for e in self.errors
            if e.object_id == group_id
            or (isinstance(e.object_id, tuple) and e.object_id[0] == group_id)
        ]
        if not changes and not errors:
            return f"nothing will happen to group {group_id!r}"
        lines = [f"group {group_id!r}:"]
        for change in changes:
            lines.append(f"  {change.describe()}")
            lines.extend(f"    because {reason}" for reason in change.reasons)
        lines.extend(
            f"  {e.object_type.value} {_show_id(e.object_id)} left alone: {e.error}" for e in errors
        )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The plan as plain data (JSON-compatible)."""
        result: dict[str, Any] = _CONVERTER.unstructure(self)
        return result

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        """Rebuild a plan from :meth:`to_dict` data.

        Raises:
            ValueError: *data* is not a plan; the message lists each problem
                with its key path (``changes[3].action: 'explode' is not a
                valid Action``), as a plan kept for review and edited by hand
                may have them.
        """
        given: object = data  # whatever was passed
        if not isinstance(given, Mapping):
            msg = f"not a plan: expected a mapping (a JSON object), not {type(given).__name__}"
            raise ValueError(msg)  # noqa: TRY004  # bad data, as the other problems
        try:
            return _CONVERTER.structure(data, cls)
        except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as exc:
            from ._config_io import problems_of  # noqa: PLC0415  # import cycle

            problems = [str(p) for p in problems_of(exc)]
            shown = "\n  ".join(problems)
            noun = "problem" if len(problems) == 1 else "problems"
            msg = f"not a plan ({len(problems)} {noun}):\n  {shown}"
            raise ValueError(msg) from None

    def to_json(self, *, indent: int | None = None) -> str:
        """The plan as JSON text."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str | bytes) -> Plan:
        """Rebuild a plan from :meth:`to_json` text.

        Raises:
            ValueError: The text is not JSON, or not a plan (see :meth:`from_dict`).
        """
        return cls.from_dict(json.loads(text))


def _section(lines: list[str], title: str, shown: list[str], whole: tuple[object, ...]) -> None:
    """Add a summary section: its title, the lines *shown*, and how many more *whole* has."""
    if not whole:
        return
    lines.append(title)
    lines.extend(f"  {line}" for line in shown)
    if len(whole) > len(shown):
        lines.append(f"  ... and {len(whole) - len(shown)} more")


# -- serialisation ------------------------------------------------------------


def _value_out(value: AttributeValue) -> object:
    if isinstance(value, frozenset):
        return {"set": sorted(value, key=lambda v: (type(v).__name__, scalar_to_str(v)))}
    return value


def _value_in(data: object, _: object) -> AttributeValue:
    if isinstance(data, dict):
        return frozenset(data["set"])
    return data  # type: ignore[return-value]  # a scalar or None, as written


def _attributes_out(attributes: AttributeMap) -> dict[str, object]:
    return {name: _value_out(value) for name, value in attributes.items()}


def _attributes_in(data: Mapping[str, object]) -> AttributeMap:
    return AttributeMap({name: _value_in(value, None) for name, value in data.items()})


def _bean_out(bean: Bean | None) -> object:
    if bean is None:
        return None
    if isinstance(bean, ProvisioningMembership):
        return {
            "kind": "membership",
            "group_id": bean.group_id,
            "entity_id": bean.entity_id,
            "attributes": _attributes_out(bean.attributes),
        }
    kind = "group" if isinstance(bean, ProvisioningGroup) else "entity"
    return {"kind": kind, "id": bean.id, "attributes": _attributes_out(bean.attributes)}


def _bean_in(data: Mapping[str, Any] | None, _: object) -> Bean | None:
    if data is None:
        return None
    attributes = _attributes_in(data["attributes"])
    if data["kind"] == "membership":
        return ProvisioningMembership(
            group_id=data["group_id"], entity_id=data["entity_id"], attributes=attributes
        )
    cls = ProvisioningGroup if data["kind"] == "group" else ProvisioningEntity
    return cls(id=data["id"], attributes=attributes)


def _id_out(object_id: ObjectId) -> object:
    return list(object_id) if isinstance(object_id, tuple) else object_id


def _id_in(data: object, _: object) -> ObjectId:
    return tuple(data) if isinstance(data, list) else data  # type: ignore[return-value]  # as written


def _exactly(kind: object) -> Callable[[object], bool]:
    return lambda candidate: bool(candidate == kind)


def _same(value: object) -> object:
    return value


def _same_in(value: object, _: object) -> object:
    return value


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter()
    for kind, out, into in (
        (AttributeValue, _value_out, _value_in),
        (Bean | None, _bean_out, _bean_in),
        (ObjectId, _id_out, _id_in),
        (Scalar | None, _same, _same_in),
        (Scalar, _same, _same_in),
    ):
        converter.register_unstructure_hook_func(_exactly(kind), out)
        converter.register_structure_hook_func(_exactly(kind), into)
    converter.register_unstructure_hook(ProvisioningMembership, _bean_out)
    converter.register_structure_hook(ProvisioningMembership, _bean_in)
    converter.register_unstructure_hook_func(
        lambda t: t == Mapping[ObjectType, Mapping[str, str]],
        lambda links: {t.value: dict(m) for t, m in links.items()},
    )
    converter.register_structure_hook_func(
        lambda t: t == Mapping[ObjectType, Mapping[str, str]],
        lambda data, _: {ObjectType(k): dict(v) for k, v in data.items()},
    )
    return converter


_CONVERTER = _make_converter()
