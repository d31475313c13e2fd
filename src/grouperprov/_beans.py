"""Provisioning beans: groups, entities and memberships as immutable values.

The same three classes carry Grouper data, translated ("grouper target") data and
data read from a target. A bean is an id plus an :class:`AttributeMap`; a value is a
scalar (``str``, ``int``, ``bool``) or a ``frozenset`` of scalars for a multi-valued
attribute. ``None`` means "no value" and is never stored: an attribute set to
``None`` is simply absent, so two beans that say the same thing are equal.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, TypeAlias, TypeVar, cast, final, overload

import attrs

if TYPE_CHECKING:
    from typing import Self

__all__ = [
    "ENTITY_FIELDS",
    "GROUP_FIELDS",
    "AttributeMap",
    "AttributeValue",
    "ProvisioningEntity",
    "ProvisioningGroup",
    "ProvisioningMembership",
    "Scalar",
]

Scalar: TypeAlias = str | int | bool
"""A single attribute value."""

AttributeValue: TypeAlias = str | int | bool | frozenset[str | int | bool] | None
"""What an attribute holds: a scalar, a frozenset of scalars, or ``None`` (absent)."""

GROUP_FIELDS: tuple[str, ...] = (
    "id",
    "id_index",
    "name",
    "extension",
    "display_name",
    "description",
)
"""Grouper's standard group fields, as attribute names of a Grouper-side group.

``id`` is the group's UUID, ``id_index`` its numeric id, ``name`` the full path
(``school:dept:group``), ``extension`` the last component of the name,
``display_name`` the full display path, ``description`` the description.
"""

ENTITY_FIELDS: tuple[str, ...] = (
    "id",
    "subject_id",
    "subject_source_id",
    "subject_identifier0",
    "subject_identifier1",
    "subject_identifier2",
    "name",
    "email",
    "login_id",
)
"""Grouper's standard entity (member) fields, as attribute names.

``id`` is Grouper's member id; ``subject_id`` and ``subject_source_id`` name the
subject; ``subject_identifier0..2`` are the source's configured identifiers (an
EPPN, a netid); ``name``, ``email`` and ``login_id`` are the usual subject fields.
"""

_SCALARS = (str, int)  # bool is an int
_PLAIN_TYPES = frozenset((str, int, bool))  # exact types: checked in C, a set at a time

_T = TypeVar("_T")


def _check_scalar(name: str, value: object) -> None:
    if not isinstance(value, _SCALARS):
        msg = (
            f"attribute {name!r}: a value must be str, int or bool, "
            f"got {type(value).__name__} {value!r}"
        )
        raise TypeError(msg)


def _normalise_value(name: str, value: object) -> AttributeValue:
    """Check one value and give it its stored shape (collections become frozensets)."""
    if value is None or isinstance(value, _SCALARS):
        return value
    if isinstance(value, (frozenset, set, list, tuple)):
        if not set(map(type, value)) <= _PLAIN_TYPES:  # a member list: its types in C
            for item in value:
                _check_scalar(name, item)
        return value if isinstance(value, frozenset) else frozenset(value)
    _check_scalar(name, value)
    raise AssertionError  # pragma: no cover  # _check_scalar raised


@final
class AttributeMap(Mapping[str, AttributeValue]):
    """An immutable, hashable mapping of attribute names to values.

    Build one from any mapping; lists, tuples and sets become frozensets and
    ``None`` values are dropped. Values that are not str/int/bool (or collections
    of them) are refused with a :class:`TypeError` naming the attribute.
    """

    __slots__ = ("_data", "_hash")

    _data: dict[str, AttributeValue]
    _hash: int | None

    def __init__(self, values: Mapping[str, object] | None = None) -> None:
        data: dict[str, AttributeValue] = {}
        if values:
            # Checked at run time too: callers without a type checker pass anything.
            for name, value in cast("Mapping[object, object]", values).items():
                if not isinstance(name, str):
                    msg = f"attribute names must be str, got {name!r}"
                    raise TypeError(msg)
                normalised = _normalise_value(name, value)
                if normalised is not None:
                    data[name] = normalised
        self._data = data
        self._hash = None

    @classmethod
    def of(cls, values: Mapping[str, object] | None) -> AttributeMap:
        """Return *values* as an AttributeMap, without copying one that already is."""
        if isinstance(values, AttributeMap):
            return values
        return cls(values)

    def __getitem__(self, name: str) -> AttributeValue:
        return self._data[name]

    @overload
    def get(self, name: str, /) -> AttributeValue: ...
    @overload
    def get(self, name: str, default: AttributeValue | _T, /) -> AttributeValue | _T: ...
    def get(self, name: str, default: object = None, /) -> object:
        """Return the value of *name*, or *default* when it is absent."""
        # Mapping.get goes through __getitem__ and an exception; this is on every hot path.
        return self._data.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AttributeMap):
            return self._data == other._data
        if isinstance(other, Mapping):
            return self._data == dict(other)
        return NotImplemented

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __repr__(self) -> str:
        return f"AttributeMap({self._data!r})"

    def to_dict(self) -> dict[str, AttributeValue]:
        """Return a plain (mutable) dict copy."""
        return dict(self._data)

    @classmethod
    def _checked(cls, data: dict[str, AttributeValue]) -> AttributeMap:
        """An AttributeMap of *data*, whose values are already normalised (not copied)."""
        new = cls.__new__(cls)
        new._data = data  # noqa: SLF001  # a new object of this class
        new._hash = None  # noqa: SLF001  # a new object of this class
        return new

    def merged(self, changes: Mapping[str, object]) -> AttributeMap:
        """Return a copy with *changes* applied; a ``None`` value removes the name.

        Only the changed values are checked again (a group's other attributes,
        its member list among them, are already).
        """
        data = dict(self._data)
        for name, value in cast("Mapping[object, object]", changes).items():
            if not isinstance(name, str):
                msg = f"attribute names must be str, got {name!r}"
                raise TypeError(msg)
            normalised = _normalise_value(name, value)
            if normalised is None:
                data.pop(name, None)
            else:
                data[name] = normalised
        return AttributeMap._checked(data)

    def without(self, names: Iterable[str]) -> AttributeMap:
        """Return a copy without the attributes *names*."""
        drop = set(names)
        return AttributeMap._checked({k: v for k, v in self._data.items() if k not in drop})


def _attributes_converter(values: Mapping[str, object] | None) -> AttributeMap:
    return AttributeMap.of(values)


class _BeanMixin:
    """Typed accessors shared by the three beans."""

    __slots__ = ()

    attributes: AttributeMap

    def get(self, name: str) -> AttributeValue:
        """Return the value of *name*, or ``None`` when it is absent."""
        return self.attributes.get(name)

    def single(self, name: str) -> Scalar | None:
        """Return the single value of *name*.

        A one-element set counts as a single value. Raises :class:`ValueError`
        when the attribute holds several values.
        """
        value = self.attributes.get(name)
        if isinstance(value, frozenset):
            if len(value) > 1:
                msg = f"attribute {name!r} has {len(value)} values, expected one"
                raise ValueError(msg)
            return next(iter(value), None)
        return value

    def get_str(self, name: str) -> str | None:
        """Return the single str value of *name*; :class:`TypeError` if not a str."""
        return _typed(name, self.single(name), str)

    def get_int(self, name: str) -> int | None:
        """Return the single int value of *name*; :class:`TypeError` if not an int."""
        value = self.single(name)
        if isinstance(value, bool):
            msg = f"attribute {name!r} is a bool, expected int"
            raise TypeError(msg)
        return _typed(name, value, int)

    def get_bool(self, name: str) -> bool | None:
        """Return the single bool value of *name*; :class:`TypeError` if not a bool."""
        return _typed(name, self.single(name), bool)

    def values(self, name: str) -> frozenset[Scalar]:
        """Return every value of *name* as a frozenset (empty when absent)."""
        value = self.attributes.get(name)
        if value is None:
            return frozenset()
        if isinstance(value, frozenset):
            return value
        return frozenset((value,))

    def with_attributes(self, changes: Mapping[str, object] | None = None, /, **kw: object) -> Self:
        """Return a copy with attributes set (``None`` removes one)."""
        merged = dict(changes or {})
        merged.update(kw)
        return attrs.evolve(self, attributes=self.attributes.merged(merged))  # type: ignore[misc]  # Self is an attrs class

    def without_attributes(self, *names: str) -> Self:
        """Return a copy without the attributes *names*."""
        return attrs.evolve(self, attributes=self.attributes.without(names))  # type: ignore[misc]  # Self is an attrs class


def _typed(name: str, value: Scalar | None, kind: type[_T]) -> _T | None:
    if value is None or isinstance(value, kind):
        return value
    msg = f"attribute {name!r} is a {type(value).__name__}, expected {kind.__name__}"
    raise TypeError(msg)


@attrs.frozen(slots=True)
class ProvisioningGroup(_BeanMixin):
    """A group: Grouper's, translated, or as read from a target.

    Attributes:
        id: The object's id on its side: Grouper's group UUID for Grouper and
            translated beans, the target's own id (a DN, a remote id) for target
            beans.
        attributes: The attribute values (see :data:`~grouperprov.GROUP_FIELDS` for the names
            of Grouper's standard fields).
    """

    id: str
    attributes: AttributeMap = attrs.field(factory=AttributeMap, converter=_attributes_converter)

    @classmethod
    def from_grouper(
        cls,
        id: str,  # noqa: A002  # the field is called id
        name: str,
        *,
        id_index: int | None = None,
        display_name: str | None = None,
        description: str | None = None,
        **attributes: object,
    ) -> ProvisioningGroup:
        """Build a Grouper-side group with the standard fields filled in.

        ``extension`` is the last component of *name*; *attributes* adds more.
        """
        values: dict[str, object] = {
            "id": id,
            "name": name,
            "extension": name.rsplit(":", 1)[-1],
            "id_index": id_index,
            "display_name": display_name,
            "description": description,
        }
        values.update(attributes)
        return cls(id=id, attributes=values)


@attrs.frozen(slots=True)
class ProvisioningEntity(_BeanMixin):
    """An entity (a subject, a person, a service account).

    Attributes:
        id: Grouper's member id for Grouper and translated beans, the target's own
            id for target beans.
        attributes: The attribute values (see :data:`~grouperprov.ENTITY_FIELDS`).
    """

    id: str
    attributes: AttributeMap = attrs.field(factory=AttributeMap, converter=_attributes_converter)

    @classmethod
    def from_grouper(
        cls,
        id: str,  # noqa: A002  # the field is called id
        subject_id: str,
        *,
        subject_source_id: str | None = None,
        name: str | None = None,
        email: str | None = None,
        login_id: str | None = None,
        subject_identifier0: str | None = None,
        subject_identifier1: str | None = None,
        subject_identifier2: str | None = None,
        **attributes: object,
    ) -> ProvisioningEntity:
        """Build a Grouper-side entity with the standard fields filled in."""
        values: dict[str, object] = {
            "id": id,
            "subject_id": subject_id,
            "subject_source_id": subject_source_id,
            "name": name,
            "email": email,
            "login_id": login_id,
            "subject_identifier0": subject_identifier0,
            "subject_identifier1": subject_identifier1,
            "subject_identifier2": subject_identifier2,
        }
        values.update(attributes)
        return cls(id=id, attributes=values)


@attrs.frozen(slots=True)
class ProvisioningMembership(_BeanMixin):
    """A membership: one entity in one group.

    Attributes:
        group_id: The group's id on this bean's side.
        entity_id: The entity's id on this bean's side.
        attributes: Attribute values of the membership itself (for targets that
            hold memberships as objects, such as a membership table).
    """

    group_id: str
    entity_id: str
    attributes: AttributeMap = attrs.field(factory=AttributeMap, converter=_attributes_converter)

    @property
    def id(self) -> tuple[str, str]:
        """The id of the membership, ``(group_id, entity_id)``."""
        return (self.group_id, self.entity_id)


_DATA = operator.attrgetter("attributes._data")


def attribute_values(
    beans: Iterable[ProvisioningGroup | ProvisioningEntity | ProvisioningMembership], name: str
) -> list[AttributeValue]:
    """The value of attribute *name* of each bean, in order (``None`` where absent).

    For the hot paths that read one attribute of a million beans.
    """
    # attrgetter and methodcaller run in C: no Python frame per bean.
    return list(map(operator.methodcaller("get", name), map(_DATA, beans)))


_OwnerT = TypeVar("_OwnerT", bound="ProvisioningGroup | ProvisioningEntity")


def with_stored_value(bean: _OwnerT, name: str, value: AttributeValue) -> _OwnerT:
    """*bean* with attribute *name* set to *value* (``None`` removes it), not checked again.

    :meth:`~_BeanMixin.with_attributes` for the engine's hot paths, where
    *value* is already in its stored shape (a scalar, or a frozenset of
    scalars, that translation made or a bean held): a group's member list is
    not walked value by value to check what is known to be right.
    """
    data = dict(bean.attributes._data)  # noqa: SLF001  # same module
    if value is None:
        data.pop(name, None)
    else:
        data[name] = value
    return type(bean)(id=bean.id, attributes=AttributeMap._checked(data))  # noqa: SLF001  # same module


def is_text(value: str) -> bool:
    r"""Whether *value* is text UTF-8 can encode: no lone surrogate in it.

    A Python string may hold lone surrogates (JSON's ``"\ud800"`` escapes
    make them, and bytes decoded with ``surrogateescape``); no database or
    directory can store one, and the encoding of such a string raises.
    """
    if value.isascii():
        return True  # the usual case, in C
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def bean_problems(
    label: str, items: Sequence[object], kind: type, *, stored_ids: bool = False
) -> Iterator[str]:
    """What in *items* is not a bean of *kind* with text ids, one problem per offender.

    Used on what a source or a target DAO gives: left in, a dict failed
    later with an ``AttributeError``, and an id of ``None`` or ``5`` was
    not the object its memberships or records name. The common case costs
    one pass of exact type checks (about 0.1 s per million memberships).
    With *stored_ids* (Grouper's ids, the keys of sync records), an id must
    be text a store can keep, too (:func:`is_text`): one with a lone
    surrogate failed the save of the run's records.
    """
    if kind is ProvisioningMembership:
        fine = all(
            type(m) is ProvisioningMembership
            and type(m.group_id) is str
            and type(m.entity_id) is str
            and (not stored_ids or (m.group_id.isascii() and m.entity_id.isascii()))
            for m in items
        )
    else:
        fine = all(
            type(b) is kind and type(b.id) is str and (not stored_ids or b.id.isascii())  # type: ignore[attr-defined]  # a group or an entity
            for b in items
        )
    if fine:
        return
    names = ("group_id", "entity_id") if kind is ProvisioningMembership else ("id",)
    for index, item in enumerate(items):
        if not isinstance(item, kind):
            yield f"{label}[{index}] is {type(item).__name__} {item!r:.80}, not a {kind.__name__}"
            continue
        for name in names:
            value = getattr(item, name)
            if not isinstance(value, str):
                shown = f"{type(value).__name__} {value!r:.80}"
                yield f"{label}[{index}]: its {name} is {shown}, not text"
            elif stored_ids and not is_text(value):
                yield (
                    f"{label}[{index}]: its {name} {value!r:.80} has a lone surrogate,"
                    " which no store can keep (not UTF-8 text)"
                )
