"""Translation, attribute manipulation and validation.

A :class:`Translator` is a configuration compiled once: sources resolved,
templates parsed, patterns compiled. It turns Grouper beans into target-format
beans (:meth:`Translator.translate_group` and friends), puts target beans into the
same shape so that the two compare (:meth:`Translator.normalize`, and
:meth:`Translator.from_target` for what a target returns), and gives the
compare form of any value (:meth:`Translator.compare_form`).

Validation never raises for bad data: it records :class:`ObjectError` values on
the object (REQ, LEN, INV, and ERR for a failing function) and the others go on.
"""

from __future__ import annotations

import itertools
import operator
import re
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Mapping
from typing import Generic, NamedTuple, TypeVar, cast

import attrs

from ._beans import (
    AttributeMap,
    AttributeValue,
    ProvisioningEntity,
    ProvisioningGroup,
    ProvisioningMembership,
    Scalar,
    _normalise_value,
    is_text,
)
from ._codes import ObjectError, SyncErrorCode, exception_text
from ._config import AttributeConfig, MembershipType, ObjectType, ProvisionerConfig, ValueType
from ._sources import Template, TranslationContext, _bean_field, resolve_function, scalar_to_str
from ._values import EMPTY, compare_form, convert_scalar, is_empty

__all__ = [
    "MembershipId",
    "MembershipValue",
    "Translated",
    "Translation",
    "Translator",
]

BeanT = TypeVar("BeanT", ProvisioningGroup, ProvisioningEntity, ProvisioningMembership)
MembershipId = tuple[str, str]
"""A membership's id: ``(group_id, entity_id)``."""

_SHOWN = 60  # characters of a value quoted in an error message
_NO_TEXT = frozenset(("",))
_STR_ONLY = frozenset((str,))
_NO_ATTRIBUTES = AttributeMap()
_stored = AttributeMap._checked  # noqa: SLF001  # values in their stored shape


def _quote(value: Scalar) -> str:
    text = scalar_to_str(value)
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")


@attrs.frozen(kw_only=True)
class Translated(Generic[BeanT]):
    """One Grouper object in target format, with whatever went wrong on the way.

    Attributes:
        source: The Grouper bean.
        bean: The translated bean: its id is the Grouper id; its attributes are
            those compared and updated (create-only attributes are kept apart).
        create_only: Attributes sent only when the object is inserted.
        errors: Validation errors; an object with errors is not inserted or updated.
    """

    source: BeanT
    bean: BeanT
    create_only: AttributeMap = _NO_ATTRIBUTES  # immutable: one empty map serves every object
    errors: tuple[ObjectError, ...] = ()

    @property
    def error(self) -> ObjectError | None:
        """The first error, which is the one recorded on the object; ``None`` if valid."""
        return self.errors[0] if self.errors else None

    @property
    def valid(self) -> bool:
        """Whether translation found no error."""
        return not self.errors

    def insert_bean(self) -> BeanT:
        """The bean to insert: translated attributes plus the create-only ones."""
        if not self.create_only:
            return self.bean
        return self.bean.with_attributes(self.create_only)


class MembershipValue(NamedTuple):
    """One value of a membership attribute, and the memberships that produce it.

    A named tuple: a campus has one per membership, and a tuple is made several
    times faster than a frozen class.
    """

    value: Scalar
    """The value as it is written to the target."""
    memberships: tuple[MembershipId, ...]
    """The memberships whose member gives this value (usually one)."""


@attrs.frozen(kw_only=True)
class Translation:
    """Everything translated in one pass.

    Attributes:
        groups: Translated groups by Grouper id.
        entities: Translated entities by Grouper member id.
        memberships: For ``membership_objects``: translated memberships by id.
        membership_values: For the attribute types: per owner (group id for
            ``group_attributes``, entity id for ``entity_attributes``), each value
            of the membership attribute by its compare form, with the memberships
            that produced it. The owner's translated bean holds the same values.
        membership_errors: Errors of individual memberships (any type): a
            membership with an error is not added to the target.
        skipped_memberships: Memberships left out because their group or entity
            was not given (not provisionable, or not operated on).
    """

    groups: Mapping[str, Translated[ProvisioningGroup]]
    entities: Mapping[str, Translated[ProvisioningEntity]]
    memberships: Mapping[MembershipId, Translated[ProvisioningMembership]]
    membership_values: Mapping[str, Mapping[Hashable, MembershipValue]]
    membership_errors: Mapping[MembershipId, tuple[ObjectError, ...]]
    skipped_memberships: tuple[MembershipId, ...]

    def value_origin(self, owner_id: str, value: Hashable) -> tuple[MembershipId, ...]:
        """Return the memberships that produced *value* (in compare form) on *owner_id*."""
        entry = self.membership_values.get(owner_id, {}).get(value)
        return entry.memberships if entry else ()


_Source = Callable[[TranslationContext], object]


_Part = dict[str, tuple[AttributeValue, list[ObjectError]]]


def _translated_membership(
    membership: ProvisioningMembership,
    attributes: Mapping[str, AttributeValue],
    create_only: Mapping[str, AttributeValue],
    errors: Iterable[ObjectError],
) -> Translated[ProvisioningMembership]:
    return Translated(
        source=membership,
        bean=ProvisioningMembership(
            group_id=membership.group_id, entity_id=membership.entity_id, attributes=attributes
        ),
        create_only=AttributeMap(create_only),
        errors=tuple(errors),
    )


_PROBLEMS = operator.itemgetter(1)


def _fails(part: _Part) -> bool:
    return any(map(_PROBLEMS, part.values()))


class _SeparableMemberships(Mapping[MembershipId, Translated[ProvisioningMembership]]):
    """Translated membership objects, built when asked for.

    When every membership attribute depends on the group alone, the entity
    alone, or neither (a static value), each is translated once per group and
    once per entity, not once per membership: a campus has millions of
    memberships and thousands of groups. A membership's translation is then
    put together from its two parts on access. The comparison reads the parts
    directly (:meth:`forms`) and asks for whole translations only of the few
    memberships that differ from the target.
    """

    def __init__(
        self,
        attributes: tuple[_Attribute, ...],
        sides: Mapping[str, str],
        sources: dict[MembershipId, ProvisioningMembership],
        groups: Mapping[str, ProvisioningGroup],
        entities: Mapping[str, ProvisioningEntity],
    ) -> None:
        self._attributes = attributes
        self._sides = sides
        self._sources = sources
        self._by_side = {
            side: [a for a in attributes if sides[a.name] == side]
            for side in ("group", "entity", "")
        }
        self.group_parts = {gid: self._part("group", g) for gid, g in groups.items()}
        self.entity_parts = {eid: self._part("entity", e) for eid, e in entities.items()}
        self.static_part = self._part("", None)
        # The parts with an error in any attribute: every membership using one has it.
        self.static_fails = _fails(self.static_part)
        self.failing_groups = {g for g, part in self.group_parts.items() if _fails(part)}
        self.failing_entities = {e for e, part in self.entity_parts.items() if _fails(part)}
        self._clean = self._clean_values()

    def _clean_values(
        self,
    ) -> (
        tuple[
            dict[str, dict[str, AttributeValue]],
            dict[str, dict[str, AttributeValue]],
            dict[str, AttributeValue],
        ]
        | None
    ):
        """Each error-free group's and entity's values, and the static ones, ready to merge.

        ``None`` when a membership's attributes cannot be put together by
        merging its group's, its entity's and the static values in that order:
        a create-only attribute, an error in the static part, or the
        configuration's attribute order not grouped by side (the order of the
        translated attributes is the configuration's).
        """
        order = [self._sides[a.name] for a in self._attributes]
        runs = [side for i, side in enumerate(order) if i == 0 or order[i - 1] != side]
        rank = {"group": 0, "entity": 1, "": 2}
        if (
            self.static_fails
            or any(a.config.create_only for a in self._attributes)
            or any(rank[a] >= rank[b] for a, b in itertools.pairwise(runs))
        ):
            return None

        def values(part: _Part) -> dict[str, AttributeValue]:
            return {name: value for name, (value, _) in part.items() if value is not None}

        return (
            {g: values(p) for g, p in self.group_parts.items() if g not in self.failing_groups},
            {e: values(p) for e, p in self.entity_parts.items() if e not in self.failing_entities},
            values(self.static_part),
        )

    def _part(self, side: str, bean: ProvisioningGroup | ProvisioningEntity | None) -> _Part:
        part: _Part = {}
        ctx: TranslationContext | None = None
        for attribute in self._by_side[side]:
            field = attribute.config.field
            if field is not None and bean is not None:
                # A plain "group.x" / "entity.x" field: read it off the bean, no context.
                raw = _bean_field(bean, field.partition(".")[2])
                part[attribute.name] = attribute.finish(raw)
                continue
            if ctx is None:
                ctx = TranslationContext(
                    object_type=ObjectType.MEMBERSHIP,
                    bean=bean or ProvisioningMembership("", ""),
                    group=bean if isinstance(bean, ProvisioningGroup) else None,
                    entity=bean if isinstance(bean, ProvisioningEntity) else None,
                )
            part[attribute.name] = attribute.translate(ctx)
        return part

    def errors(self) -> dict[MembershipId, tuple[ObjectError, ...]]:
        """The errors of every membership that has some."""
        if self.static_fails:
            return {mid: self[mid].errors for mid in self._sources}
        if not self.failing_groups and not self.failing_entities:
            return {}
        return {
            mid: self[mid].errors
            for mid in self._sources
            if mid[0] in self.failing_groups or mid[1] in self.failing_entities
        }

    def side(self, name: str) -> str | None:
        """Which side attribute *name* depends on (see :attr:`_Attribute.side`)."""
        return self._sides.get(name)

    def __getitem__(self, mid: MembershipId) -> Translated[ProvisioningMembership]:
        membership = self._sources[mid]
        clean = self._clean
        if clean is not None:
            group = clean[0].get(membership.group_id)
            entity = clean[1].get(membership.entity_id)
            if group is not None and entity is not None:
                # No error, nothing create-only: the parts' values merged, in
                # the configuration's order, already in their stored shape.
                return Translated(
                    source=membership,
                    bean=ProvisioningMembership(
                        membership.group_id,
                        membership.entity_id,
                        _stored({**group, **entity, **clean[2]}),
                    ),
                    create_only=_NO_ATTRIBUTES,
                )
        parts = {
            "group": self.group_parts[membership.group_id],
            "entity": self.entity_parts[membership.entity_id],
            "": self.static_part,
        }
        attributes: dict[str, AttributeValue] = {}
        create_only: dict[str, AttributeValue] = {}
        errors: list[ObjectError] = []
        for attribute in self._attributes:
            value, problems = parts[self._sides[attribute.name]][attribute.name]
            errors.extend(problems)
            (create_only if attribute.config.create_only else attributes)[attribute.name] = value
        return _translated_membership(membership, attributes, create_only, errors)

    def __iter__(self) -> Iterator[MembershipId]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)

    def __contains__(self, mid: object) -> bool:
        return mid in self._sources


def _build_source(config: AttributeConfig) -> _Source | None:
    if config.field is not None:
        name = config.field
        return lambda ctx: ctx.field(name)
    if config.static is not None:
        constant = frozenset(config.static) if isinstance(config.static, tuple) else config.static
        return lambda _ctx: constant
    if config.template is not None:
        return Template.parse(config.template).render
    if config.function is not None:
        return resolve_function(config.function)
    return None


@attrs.frozen
class _Attribute:
    """One attribute configuration, compiled."""

    config: AttributeConfig
    source: _Source | None
    pattern: re.Pattern[str] | None
    validator: Callable[..., object] | None
    ignore: frozenset[Hashable]
    default: AttributeValue
    plain: bool
    """A non-empty str from the source needs no default, conversion or check."""

    @classmethod
    def compile(cls, config: AttributeConfig) -> _Attribute:
        ignore = frozenset(
            compare_form(convert_scalar(v, config.value_type), case_sensitive=config.case_sensitive)
            for v in config.ignore_values
        )
        default: AttributeValue = None
        if config.default is not None:
            default = _convert_all(config.default, config)
        return cls(
            config=config,
            source=_build_source(config),
            pattern=re.compile(config.valid_pattern) if config.valid_pattern is not None else None,
            validator=(
                resolve_function(config.valid_function)
                if config.valid_function is not None
                else None
            ),
            ignore=ignore,
            default=default,
            plain=(
                config.value_type is ValueType.STRING
                and config.max_length is None
                and config.valid_pattern is None
                and config.valid_function is None
            ),
        )

    @property
    def side(self) -> str | None:
        """For a membership attribute: which side its value depends on.

        ``"group"`` or ``"entity"`` when it reads only ``group.*`` or only
        ``entity.*`` fields, ``""`` for a static value, ``None`` when it needs the
        membership itself (a function, a plain field, or both sides).
        """
        config = self.config
        if config.static is not None:
            return ""
        if config.field is not None:
            fields: tuple[str, ...] = (config.field,)
        elif config.template is not None:
            fields = Template.parse(config.template).fields
        else:
            return None
        sides = {f.partition(".")[0] if "." in f else None for f in fields}
        if len(sides) != 1 or None in sides or not sides <= {"group", "entity"}:
            return None if fields else ""
        return sides.pop()

    @property
    def name(self) -> str:
        return self.config.name

    def compare(self, value: AttributeValue) -> Hashable:
        if type(value) is str and not self.config.multi_valued:
            # compare_form's rule for one string, the common case, without its calls.
            if value == "":
                return EMPTY
            folded = value if self.config.case_sensitive else value.casefold()
            return EMPTY if folded in self.ignore else folded
        return compare_form(
            value,
            case_sensitive=self.config.case_sensitive,
            ignore=self.ignore,
            multi_valued=self.config.multi_valued,
        )

    def compare_value(self, value: Scalar) -> Hashable:
        """The compare form of one value (of a multi-valued attribute, say)."""
        if type(value) is str and value:
            # compare_form's rule for one string, the common case, without its calls.
            folded = value if self.config.case_sensitive else value.casefold()
            return EMPTY if folded in self.ignore else folded
        return compare_form(value, case_sensitive=self.config.case_sensitive, ignore=self.ignore)

    def normalize(self, value: AttributeValue) -> AttributeValue:
        """Target-side manipulation: convert what converts, shape, drop emptiness."""
        if (
            type(value) is str
            and not self.config.multi_valued
            and self.config.value_type is ValueType.STRING
        ):
            return value  # what converting and shaping one string give
        if (
            self.config.multi_valued
            and self.config.value_type is ValueType.STRING
            and isinstance(value, frozenset)
            and all(type(v) is str for v in value)
        ):
            # Strings stay strings: only the empty value goes (the common LDAP case).
            return (value - _NO_TEXT or None) if "" in value else (value or None)
        items = _items(value)
        converted: list[Scalar] = []
        for item in items:
            try:
                converted.append(convert_scalar(item, self.config.value_type))
            except ValueError:
                converted.append(item)  # keep what the target has; compare shows it
        return self._shape(converted)

    def _shape(self, values: list[Scalar]) -> AttributeValue:
        if self.config.multi_valued:
            kept = frozenset(v for v in values if v != "")
            return kept or None
        if not values:
            return None
        if len(values) == 1:
            return values[0]
        return frozenset(values)

    def translate(self, ctx: TranslationContext) -> tuple[AttributeValue, list[ObjectError]]:
        """Compute, default, convert and validate this attribute for one object."""
        name = self.name
        assert self.source is not None  # noqa: S101  # select-only attributes are not translated
        try:
            raw = _normalise_value(name, self.source(ctx))
        except Exception as exc:  # noqa: BLE001  # a user's function may raise anything
            kind = "function" if self.config.function is not None else "source"
            return None, [
                ObjectError(SyncErrorCode.ERR, f"{kind} failed: {exception_text(exc)}", name)
            ]
        return self.finish(raw)

    def finish(self, raw: AttributeValue) -> tuple[AttributeValue, list[ObjectError]]:
        """Default, convert and validate a value taken from the source."""
        if self.plain and type(raw) is str and raw and raw.isascii():
            # Nothing to default, convert or check: the common case, kept cheap.
            return (frozenset((raw,)) if self.config.multi_valued else raw), []
        name = self.name
        if is_empty(raw) and self.default is not None:
            raw = self.default
        errors: list[ObjectError] = []
        converted: list[Scalar] = []
        for item in _items(raw):
            try:
                converted.append(convert_scalar(item, self.config.value_type))
            except ValueError as exc:
                errors.append(ObjectError(SyncErrorCode.INV, str(exc), name))
        if not self.config.multi_valued and len(converted) > 1:
            errors.append(
                ObjectError(
                    SyncErrorCode.INV,
                    f"{len(converted)} values for a single-valued attribute",
                    name,
                )
            )
            return None, errors
        value = self._shape(converted)
        if self.config.required and is_empty(value):
            errors.append(ObjectError(SyncErrorCode.REQ, "required value is missing", name))
        errors.extend(self.validate(value))
        return value, errors

    def validate(self, value: AttributeValue) -> list[ObjectError]:
        """LEN and INV (and ERR for a failing valid-value function) for each value."""
        errors: list[ObjectError] = []
        limit = self.config.max_length
        for item in _items(value):
            if isinstance(item, str) and not is_text(item):
                errors.append(
                    ObjectError(
                        SyncErrorCode.INV,
                        f"value {_quote(item)} has a lone surrogate: not UTF-8 text, which"
                        " no target or store can keep",
                        self.name,
                    )
                )
            if limit is not None and isinstance(item, str) and len(item) > limit:
                errors.append(
                    ObjectError(
                        SyncErrorCode.LEN,
                        f"value {_quote(item)} is {len(item)} characters long, max {limit}",
                        self.name,
                    )
                )
            text = scalar_to_str(item)
            if self.pattern is not None and not self.pattern.fullmatch(text):
                errors.append(
                    ObjectError(
                        SyncErrorCode.INV,
                        f"value {_quote(item)} does not match {self.pattern.pattern!r}",
                        self.name,
                    )
                )
            if self.validator is not None:
                try:
                    ok = self.validator(item)
                except Exception as exc:  # noqa: BLE001  # a user's function may raise anything
                    errors.append(
                        ObjectError(
                            SyncErrorCode.ERR,
                            f"valid_function failed: {exception_text(exc)}",
                            self.name,
                        )
                    )
                    continue
                if not ok:
                    errors.append(
                        ObjectError(
                            SyncErrorCode.INV,
                            f"value {_quote(item)} rejected by valid_function",
                            self.name,
                        )
                    )
        return errors


def _items(value: AttributeValue) -> tuple[Scalar, ...]:
    if value is None:
        return ()
    if isinstance(value, frozenset):
        # Sorted so that errors and shapes come out in the same order every run.
        return tuple(sorted(value, key=_sort_key))
    return (value,)


def _sort_key(value: Scalar) -> tuple[str, str]:
    return (type(value).__name__, scalar_to_str(value))


def _convert_all(value: object, config: AttributeConfig) -> AttributeValue:
    if isinstance(value, tuple):
        return frozenset(convert_scalar(v, config.value_type) for v in value)
    return convert_scalar(value, config.value_type)  # type: ignore[arg-type]  # a checked scalar


_first = operator.itemgetter(0)  # a MembershipValue's value
_GROUP_ID = operator.attrgetter("group_id")
_ENTITY_ID = operator.attrgetter("entity_id")
_MEMBERSHIP_ID = operator.attrgetter("group_id", "entity_id")


@attrs.frozen
class _ObjectAttributes:
    """The compiled attributes of one object type."""

    translated: tuple[_Attribute, ...]
    by_name: Mapping[str, _Attribute]
    unselected: frozenset[str]
    own_fields: tuple[tuple[_Attribute, str], ...] | None = None
    """When every translated attribute reads a field of the bean itself: the
    attributes with their field names, read without a translation context."""

    @classmethod
    def compile(
        cls, configs: Iterable[AttributeConfig], extra: _Attribute | None
    ) -> _ObjectAttributes:
        compiled = [_Attribute.compile(c) for c in configs]
        by_name = {a.name: a for a in compiled}
        if extra is not None:
            by_name[extra.name] = extra
        translated = tuple(a for a in compiled if a.source is not None)
        own = tuple(
            (a, a.config.field)
            for a in translated
            if a.config.field is not None and "." not in a.config.field
        )
        return cls(
            translated,
            by_name,
            frozenset(a.name for a in compiled if not a.config.select),
            own if len(own) == len(translated) else None,
        )


class Translator:
    """A provisioner configuration compiled for translation and comparison.

    Args:
        config: The configuration; it is validated first.

    Raises:
        ConfigError: The configuration is invalid.
    """

    def __init__(self, config: ProvisionerConfig) -> None:
        config.validate()
        self._config = config
        ms = config.memberships
        # The membership attribute holds one value per membership: always multi-valued.
        self._membership_attribute = (
            _Attribute.compile(attrs.evolve(ms.attribute, multi_valued=True))
            if ms.type is not MembershipType.MEMBERSHIP_OBJECTS and ms.attribute is not None
            else None
        )
        on_groups = ms.type is MembershipType.GROUP_ATTRIBUTES
        on_entities = ms.type is MembershipType.ENTITY_ATTRIBUTES
        self._objects = {
            ObjectType.GROUP: _ObjectAttributes.compile(
                config.groups.attributes, self._membership_attribute if on_groups else None
            ),
            ObjectType.ENTITY: _ObjectAttributes.compile(
                config.entities.attributes, self._membership_attribute if on_entities else None
            ),
            ObjectType.MEMBERSHIP: _ObjectAttributes.compile(ms.attributes, None),
        }
        # Membership objects whose attributes each come from one side are
        # translated per group and per entity (see _SeparableMemberships).
        membership_sides = {a.name: a.side for a in self._objects[ObjectType.MEMBERSHIP].translated}
        self._membership_sides: dict[str, str] | None = (
            {n: side for n, side in membership_sides.items() if side is not None}
            if ms.type is MembershipType.MEMBERSHIP_OBJECTS
            and None not in membership_sides.values()
            else None
        )

    @property
    def config(self) -> ProvisionerConfig:
        """The configuration this translator was compiled from."""
        return self._config

    @property
    def membership_type(self) -> MembershipType:
        """The configured membership type."""
        return self._config.memberships.type

    @property
    def membership_owner(self) -> ObjectType | None:
        """Which object type holds the membership attribute, if any.

        ``None`` for membership objects, and when memberships are not synced (the
        owner's ``sync_memberships`` or ``memberships.operate`` is off).
        """
        config = self._config
        if not config.memberships.operate:
            return None
        if self.membership_type is MembershipType.GROUP_ATTRIBUTES:
            return ObjectType.GROUP if config.groups.sync_memberships else None
        if self.membership_type is MembershipType.ENTITY_ATTRIBUTES:
            return ObjectType.ENTITY if config.entities.sync_memberships else None
        return None

    @property
    def membership_attribute(self) -> str | None:
        """The name of the membership attribute for the attribute types, else ``None``."""
        return self._membership_attribute.name if self._membership_attribute else None

    def not_inserted(self, object_type: ObjectType) -> frozenset[str]:
        """The configured attributes of *object_type* not sent on insert (``insert = false``)."""
        return frozenset(
            name for name, a in self._objects[object_type].by_name.items() if not a.config.insert
        )

    def attribute(self, object_type: ObjectType, name: str) -> AttributeConfig | None:
        """The configuration of attribute *name* of *object_type*, membership attribute included."""
        compiled = self._objects[object_type].by_name.get(name)
        return compiled.config if compiled else None

    # -- Grouper side -------------------------------------------------------

    def _translate(
        self,
        object_type: ObjectType,
        ctx: TranslationContext | None,
        bean: ProvisioningGroup | ProvisioningEntity | ProvisioningMembership | None = None,
    ) -> tuple[dict[str, AttributeValue], dict[str, AttributeValue], list[ObjectError]]:
        """Translate with *ctx*, or (no *ctx*) read the own fields of *bean*."""
        attributes: dict[str, AttributeValue] = {}
        create_only: dict[str, AttributeValue] = {}
        errors: list[ObjectError] = []
        if ctx is None:
            # Plain fields of the bean: read them as TranslationContext.field would.
            assert bean is not None  # noqa: S101  # the caller gives one or the other
            for attribute, field in self._objects[object_type].own_fields or ():
                value, problems = attribute.finish(_bean_field(bean, field))
                errors.extend(problems)
                (create_only if attribute.config.create_only else attributes)[attribute.name] = (
                    value
                )
            return attributes, create_only, errors
        for attribute in self._objects[object_type].translated:
            value, problems = attribute.translate(ctx)
            errors.extend(problems)
            (create_only if attribute.config.create_only else attributes)[attribute.name] = value
        return attributes, create_only, errors

    def _translate_owner(
        self,
        object_type: ObjectType,
        bean: BeanT,
        metadata: Mapping[str, object] | None,
        members: tuple[str, Mapping[Hashable, MembershipValue]] | None = None,
    ) -> Translated[BeanT]:
        """Translate one group or entity; *members*: its membership attribute and values."""
        member_values = frozenset(map(_first, members[1].values())) if members is not None else None
        if not self._objects[object_type].translated:
            # Nothing to translate (entities that are not operated on, say): cheap.
            own = _stored({members[0]: member_values}) if members and member_values else None
            plain = type(bean)(id=bean.id, attributes=own or _NO_ATTRIBUTES)  # type: ignore[call-arg]  # a group or an entity
            return Translated(source=bean, bean=plain)
        ctx = (
            None
            if self._objects[object_type].own_fields is not None
            else TranslationContext(object_type=object_type, bean=bean, metadata=metadata or {})
        )
        attributes, create_only, errors = self._translate(object_type, ctx, bean)
        if members is not None:
            # Translated values: scalars already, as is everything finish() gives.
            attributes[members[0]] = member_values or None
        # What _Attribute.finish gives is in its stored shape already: not checked again.
        return Translated(
            source=bean,
            bean=type(bean)(  # type: ignore[call-arg]  # a group or an entity
                id=bean.id,
                attributes=_stored({k: v for k, v in attributes.items() if v is not None}),
            ),
            create_only=_stored({k: v for k, v in create_only.items() if v is not None})
            if create_only
            else _NO_ATTRIBUTES,
            errors=tuple(errors),
        )

    def translate_group(
        self, group: ProvisioningGroup, *, metadata: Mapping[str, object] | None = None
    ) -> Translated[ProvisioningGroup]:
        """Translate one Grouper group's own attributes (memberships: :meth:`translate`)."""
        return self._translate_owner(ObjectType.GROUP, group, metadata)

    def translate_entity(
        self, entity: ProvisioningEntity, *, metadata: Mapping[str, object] | None = None
    ) -> Translated[ProvisioningEntity]:
        """Translate one Grouper entity's own attributes (memberships: :meth:`translate`)."""
        return self._translate_owner(ObjectType.ENTITY, entity, metadata)

    def translate_membership(
        self,
        membership: ProvisioningMembership,
        group: ProvisioningGroup,
        entity: ProvisioningEntity,
    ) -> Translated[ProvisioningMembership]:
        """Translate one membership object (type ``membership_objects``)."""
        ctx = TranslationContext(
            object_type=ObjectType.MEMBERSHIP, bean=membership, group=group, entity=entity
        )
        attributes, create_only, errors = self._translate(ObjectType.MEMBERSHIP, ctx)
        return _translated_membership(membership, attributes, create_only, errors)

    def membership_value(
        self, member: ProvisioningGroup | ProvisioningEntity
    ) -> tuple[AttributeValue, list[ObjectError]]:
        """Compute the membership attribute's value(s) from the member side.

        For ``group_attributes`` *member* is the Grouper entity (its value goes
        into the group's attribute); for ``entity_attributes`` it is the Grouper
        group. The value depends on the member only, so it is computed once per
        member, not once per membership. A missing value is a REQ error.

        Raises:
            TypeError: The configuration has no membership attribute.
        """
        attribute = self._membership_attribute
        if attribute is None:
            msg = "the membership type 'membership_objects' has no membership attribute"
            raise TypeError(msg)
        object_type = (
            ObjectType.ENTITY if isinstance(member, ProvisioningEntity) else ObjectType.GROUP
        )
        field = attribute.config.field
        if field is not None and "." not in field:
            # A field of the member itself: read it, no context needed.
            value, errors = attribute.finish(
                _normalise_value(attribute.name, _bean_field(member, field))
            )
        else:
            ctx = TranslationContext(
                object_type=object_type,
                bean=member,
                group=member if isinstance(member, ProvisioningGroup) else None,
                entity=member if isinstance(member, ProvisioningEntity) else None,
            )
            value, errors = attribute.translate(ctx)
        if is_empty(value) and not errors:
            errors.append(
                ObjectError(
                    SyncErrorCode.REQ, "the member gives no membership value", attribute.name
                )
            )
        elif not errors and attribute.ignore:
            items = _items(value)
            if all(attribute.compare_value(item) is EMPTY for item in items):
                # Never written, never removed: without an error the membership
                # was left out unseen, and its member with it.
                errors.append(
                    ObjectError(
                        SyncErrorCode.INV,
                        f"value {scalar_to_str(items[0])!r} is one of the ignored values "
                        "(ignore_values): it is never written",
                        attribute.name,
                    )
                )
        return value, errors

    def translate(
        self,
        groups: Iterable[ProvisioningGroup],
        entities: Iterable[ProvisioningEntity],
        memberships: Iterable[ProvisioningMembership],
        *,
        metadata: Mapping[str, Mapping[str, object]] | None = None,
    ) -> Translation:
        """Translate a whole snapshot: groups, entities and their memberships.

        Memberships whose group or entity is not among those given are skipped
        (and listed as such). For the attribute membership types the memberships
        become values of the owner's membership attribute; a membership whose
        value is invalid gets the error and its value is left out, while the
        owner and the other memberships are unaffected.

        Args:
            groups: Grouper groups to provision.
            entities: Grouper entities to provision.
            memberships: Grouper memberships.
            metadata: Per group or entity id, extra data for translation functions.
        """
        return self._translate_all(groups, entities, memberships, metadata, checked=False)

    def _translate_all(
        self,
        groups: Iterable[ProvisioningGroup],
        entities: Iterable[ProvisioningEntity],
        memberships: Iterable[ProvisioningMembership],
        metadata: Mapping[str, Mapping[str, object]] | None,
        *,
        checked: bool,
    ) -> Translation:
        """:meth:`translate`; *checked* says every membership's group and entity are given.

        The provisioner passes a :class:`~grouperprov.Scope`'s memberships, which
        :func:`~grouperprov.provisionable_scope` has already checked, so a
        million of them are not checked twice.
        """
        metadata = metadata or {}
        group_beans = {g.id: g for g in groups}
        entity_beans = {e.id: e for e in entities}
        t_memberships: dict[MembershipId, Translated[ProvisioningMembership]] = {}
        errors: dict[MembershipId, tuple[ObjectError, ...]] = {}
        skipped: list[MembershipId] = []
        values: dict[str, dict[Hashable, MembershipValue]] = {}
        owner = self.membership_owner
        if self.membership_type is not MembershipType.MEMBERSHIP_OBJECTS:
            # The values first: each owner is then translated with its member list.
            self._translate_values(
                group_beans,
                entity_beans,
                memberships,
                values=values,
                errors=errors,
                skipped=skipped,
            )
        name = self.membership_attribute or ""
        no_values: dict[Hashable, MembershipValue] = {}
        t_groups = {
            gid: self._translate_owner(
                ObjectType.GROUP,
                g,
                metadata.get(gid),
                (name, values.get(gid, no_values)) if owner is ObjectType.GROUP else None,
            )
            for gid, g in group_beans.items()
        }
        t_entities = {
            eid: self._translate_owner(
                ObjectType.ENTITY,
                e,
                metadata.get(eid),
                (name, values.get(eid, no_values)) if owner is ObjectType.ENTITY else None,
            )
            for eid, e in entity_beans.items()
        }
        if self._membership_sides is not None and self._config.memberships.operate:
            return self._translate_separable(t_groups, t_entities, memberships, checked=checked)
        if self.membership_type is MembershipType.MEMBERSHIP_OBJECTS:
            for membership in memberships:
                mid = (membership.group_id, membership.entity_id)
                group = group_beans.get(mid[0])
                entity = entity_beans.get(mid[1])
                if group is None or entity is None:
                    skipped.append(mid)
                elif self._config.memberships.operate:
                    translated = self.translate_membership(membership, group, entity)
                    t_memberships[mid] = translated
                    if translated.errors:
                        errors[mid] = translated.errors
        return Translation(
            groups=t_groups,
            entities=t_entities,
            memberships=t_memberships,
            membership_values=values,
            membership_errors=errors,
            skipped_memberships=tuple(skipped),
        )

    def _membership_values(
        self,
        groups: Iterable[ProvisioningGroup],
        entities: Iterable[ProvisioningEntity],
        memberships: Iterable[ProvisioningMembership],
    ) -> tuple[
        dict[str, dict[Hashable, MembershipValue]], dict[MembershipId, tuple[ObjectError, ...]]
    ]:
        """The membership values and errors of the attribute types, without the owners.

        What :meth:`translate` gives as ``membership_values`` and
        ``membership_errors``, for the incremental path, which writes values
        to owners already in the target and needs no owner translated.
        """
        values: dict[str, dict[Hashable, MembershipValue]] = {}
        errors: dict[MembershipId, tuple[ObjectError, ...]] = {}
        self._translate_values(
            {g.id: g for g in groups},
            {e.id: e for e in entities},
            memberships,
            values=values,
            errors=errors,
            skipped=[],
        )
        return values, errors

    def _translate_values(  # the pieces of translate()
        self,
        group_beans: Mapping[str, ProvisioningGroup],
        entity_beans: Mapping[str, ProvisioningEntity],
        memberships: Iterable[ProvisioningMembership],
        *,
        values: dict[str, dict[Hashable, MembershipValue]],
        errors: dict[MembershipId, tuple[ObjectError, ...]],
        skipped: list[MembershipId],
    ) -> None:
        """:meth:`translate` for the attribute membership types: fill *values*."""
        owner = self.membership_owner
        attribute = self._membership_attribute
        on_groups = owner is ObjectType.GROUP
        owners = group_beans if on_groups else entity_beans
        # Per member: its values as (compare form, value) pairs, or its errors.
        member_cache: dict[
            str, tuple[tuple[tuple[Hashable, Scalar], ...], tuple[ObjectError, ...]]
        ] = {}
        make = tuple.__new__  # a MembershipValue without its Python-level __new__
        # Members with one value and no error, most of a campus: (compare form, value).
        single: dict[str, tuple[Hashable, Scalar]] = {}
        owner_at, member_at = (0, 1) if on_groups else (1, 0)
        for mid in map(_MEMBERSHIP_ID, memberships):  # (group id, entity id), made in C
            member_id = mid[member_at]
            one = single.get(member_id)
            if one is not None:
                # The hot path: one lookup for the member, one for the owner's values.
                owner_id = mid[owner_at]
                owner_values = values.get(owner_id)
                if owner_values is None:
                    if owner_id not in owners:
                        skipped.append(mid)
                        continue
                    owner_values = values[owner_id] = {}
                key, item = one
                existing = owner_values.get(key)
                owner_values[key] = (
                    make(MembershipValue, (item, (mid,)))
                    if existing is None
                    else MembershipValue(existing.value, (*existing.memberships, mid))
                )
                continue
            gid, eid = mid
            owner_id = mid[owner_at]
            cached = member_cache.get(member_id)
            if cached is None:
                if gid not in group_beans or eid not in entity_beans:
                    skipped.append(mid)
                    continue
                if owner is None or attribute is None:
                    continue
                value, found = self.membership_value(
                    entity_beans[eid] if on_groups else group_beans[gid]
                )
                keyed = tuple(
                    (key, item)
                    for item in _items(value)
                    if (key := attribute.compare_value(item)) is not None
                )
                cached = member_cache[member_id] = (keyed, tuple(found))
                if len(keyed) == 1 and not found:
                    single[member_id] = keyed[0]
            elif owner_id not in owners:
                skipped.append(mid)
                continue
            keyed, problems = cached
            if problems:
                errors[mid] = problems
                continue
            owner_values = values.get(owner_id)
            if owner_values is None:
                owner_values = values[owner_id] = {}
            for key, item in keyed:
                existing = owner_values.get(key)
                owner_values[key] = (
                    make(MembershipValue, (item, (mid,)))
                    if existing is None
                    else MembershipValue(existing.value, (*existing.memberships, mid))
                )

    def _translate_separable(
        self,
        t_groups: dict[str, Translated[ProvisioningGroup]],
        t_entities: dict[str, Translated[ProvisioningEntity]],
        memberships: Iterable[ProvisioningMembership],
        *,
        checked: bool,
    ) -> Translation:
        """:meth:`translate` for membership objects of separable attributes."""
        assert self._membership_sides is not None  # noqa: S101  # checked by the caller
        group_beans = {gid: t.source for gid, t in t_groups.items()}
        entity_beans = {eid: t.source for eid, t in t_entities.items()}
        given = tuple(memberships)
        if checked or (
            all(map(group_beans.__contains__, map(_GROUP_ID, given)))
            and all(map(entity_beans.__contains__, map(_ENTITY_ID, given)))
        ):
            # The usual case, checked and built in C: every membership is kept.
            kept = dict(zip(map(_MEMBERSHIP_ID, given), given, strict=True))
        else:
            kept = {
                (m.group_id, m.entity_id): m
                for m in given
                if m.group_id in group_beans and m.entity_id in entity_beans
            }
        skipped = (
            [
                (m.group_id, m.entity_id)
                for m in given
                if m.group_id not in group_beans or m.entity_id not in entity_beans
            ]
            if len(kept) < len(given)
            else []
        )
        separable = _SeparableMemberships(
            self._objects[ObjectType.MEMBERSHIP].translated,
            self._membership_sides,
            kept,
            group_beans,
            entity_beans,
        )
        return Translation(
            groups=t_groups,
            entities=t_entities,
            memberships=separable,
            membership_values={},
            membership_errors=separable.errors(),
            skipped_memberships=tuple(skipped),
        )

    # -- both sides ---------------------------------------------------------

    def normalize(self, object_type: ObjectType, bean: BeanT) -> BeanT:
        """Manipulate a bean's attributes into the shape used for comparing.

        Configured attributes are converted to their value type (values that do
        not convert are kept as they are, so the difference shows), shaped as
        single or multi-valued, and empty values dropped. Unconfigured
        attributes are kept. Applying it twice changes nothing, and translated
        beans are already in this shape.
        """
        by_name = self._objects[object_type].by_name
        changed: dict[str, AttributeValue] = {}
        for name, value in bean.attributes._data.items():  # noqa: SLF001  # read in C
            attribute = by_name.get(name)
            if attribute is None:
                continue
            new = attribute.normalize(value)
            if new != value or type(new) is not type(value):
                changed[name] = new
        if not changed:
            return bean
        return bean.with_attributes(changed)

    def from_target(self, object_type: ObjectType, bean: BeanT) -> BeanT:
        """Prepare a bean read from the target for comparing.

        :meth:`normalize`, after removing the attributes that are not read from
        the target (``select = false``): whatever the target returned for them
        is never compared.
        """
        unselected = self._objects[object_type].unselected
        if unselected and not unselected.isdisjoint(bean.attributes):
            bean = bean.without_attributes(*unselected)
        return self.normalize(object_type, bean)

    def target_compare_form(
        self, object_type: ObjectType, name: str, value: AttributeValue
    ) -> Hashable:
        """The compare form of a value *as read from the target* for attribute *name*.

        The same as :meth:`compare_form` of the attribute of :meth:`from_target`'s
        bean: an attribute that is not read from the target has none.
        """
        objects = self._objects[object_type]
        if name in objects.unselected:
            return None
        attribute = objects.by_name.get(name)
        if attribute is None:
            return compare_form(value)
        return attribute.compare(attribute.normalize(value))

    def plain_compare(self, object_type: ObjectType, name: str) -> bool:
        """Whether a non-empty str is its own compare form for *name*, read from either side.

        True for a configured, read, single-valued, case-sensitive string
        attribute without ignored values: the usual matching attribute.
        """
        objects = self._objects[object_type]
        attribute = objects.by_name.get(name)
        if attribute is None or name in objects.unselected:
            return False
        config = attribute.config
        return (
            config.value_type is ValueType.STRING
            and not config.multi_valued
            and config.case_sensitive
            and not attribute.ignore
        )

    def strings_are_forms(self, object_type: ObjectType, name: str) -> bool:
        """Whether each non-empty str value of *name* is its own compare form.

        True for an unconfigured name and for a case-sensitive attribute without
        ignored values, multi-valued or not (the forms :meth:`value_map` keys by).
        """
        attribute = self._objects[object_type].by_name.get(name)
        return attribute is None or (attribute.config.case_sensitive and not attribute.ignore)

    def value_map(
        self, object_type: ObjectType, name: str, value: AttributeValue
    ) -> dict[Hashable, Scalar]:
        """Each value of *value* by its compare form, without empty and ignored values.

        Where two values share a compare form (``"A"`` and ``"a"`` when case does
        not matter) the first in sorted order is kept.
        """
        attribute = self._objects[object_type].by_name.get(name)
        result: dict[Hashable, Scalar] = {}
        if (
            isinstance(value, frozenset)
            and self.strings_are_forms(object_type, name)
            and set(map(type, value)) <= _STR_ONLY
        ):
            # Case-sensitive strings are their own compare forms: no two collide,
            # so the order (which only picks a winner among equals) does not
            # matter. Built in C: a group's member DNs are thousands.
            result = dict(zip(value, value, strict=True))
            result.pop("", None)
            return result
        if (
            isinstance(value, frozenset)
            and attribute is not None
            and not attribute.ignore
            and set(map(type, value)) <= _STR_ONLY
        ):
            # Case-insensitive strings (member DNs compared as a directory does):
            # each form is its string case-folded, and among strings sharing a
            # form the first in sorted order is kept, as below, the last one
            # written here. Without a sort key per value: they are all strings.
            strings = cast("frozenset[str]", value)  # checked above
            result = {item.casefold(): item for item in sorted(strings, reverse=True)}
            result.pop("", None)
            return result
        for item in _items(value):
            key = attribute.compare_value(item) if attribute else compare_form(item)
            if key is not None:
                result.setdefault(key, item)
        return result

    def values_among(
        self,
        object_type: ObjectType,
        name: str,
        value: AttributeValue,
        forms: Collection[Hashable],
    ) -> frozenset[Scalar]:
        """The values of *value* whose compare forms are among *forms*.

        What ``value_map`` gives, filtered by its keys, without building it
        when the forms are strings of a case-sensitive attribute: a string is
        its own compare form there (and a value of another type has a form of
        its type), so only *forms* are looked up and type-checked, however
        many values there are.
        """
        if (
            isinstance(value, frozenset)
            and self.strings_are_forms(object_type, name)
            and all(type(f) is str for f in forms)
        ):
            return frozenset(v for v in forms if v != "" and v in value)
        return frozenset(
            v for form, v in self.value_map(object_type, name, value).items() if form in forms
        )

    def is_ignored(self, object_type: ObjectType, name: str, value: Scalar) -> bool:
        """Whether *value* is one of the attribute's ignored values."""
        attribute = self._objects[object_type].by_name.get(name)
        return attribute is not None and attribute.compare_value(value) is None and value != ""

    def compared_attributes(self, object_type: ObjectType) -> tuple[AttributeConfig, ...]:
        """The translated attributes of *object_type* that are compared for updates.

        Those with a source, read from the target (``select``), updatable
        (``update``) and not create-only; the membership attribute is not among
        them (memberships are compared as memberships).
        """
        return tuple(
            a.config
            for a in self._objects[object_type].translated
            if a.config.select and a.config.update and not a.config.create_only
        )

    def compare_form(self, object_type: ObjectType, name: str, value: AttributeValue) -> Hashable:
        """The compare form of *value* for attribute *name* of *object_type*.

        Unconfigured attributes compare with the defaults (case-sensitive,
        single-valued unless the value is a set).
        """
        attribute = self._objects[object_type].by_name.get(name)
        if attribute is None:
            return compare_form(value)
        return attribute.compare(value)
