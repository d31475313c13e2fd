"""Whole-configuration checks: every problem, with its key path, at once."""

from __future__ import annotations

import enum
import functools
import re
import types
import typing
from collections.abc import Callable, Iterator, Mapping

import attrs

from ._beans import ENTITY_FIELDS
from ._config import (
    AttributeConfig,
    MatchingKey,
    MembershipsConfig,
    MembershipType,
    ObjectConfig,
    ProvisionerConfig,
    StaticValue,
    ValueType,
)
from ._config_io import structure_config, unstructure_config
from ._sources import Template, resolve_function
from ._values import convert_scalar
from .exceptions import ConfigError, ConfigProblem

__all__ = ["check_config", "shape_problems", "type_problems"]

_PLAIN_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PREFIXED_FIELD = re.compile(r"(?:(?:group|entity)\.)?[A-Za-z_][A-Za-z0-9_]*\Z")


MAX_CACHED_ATTRIBUTES = 4
"""How many attribute values a sync record caches per object (as Grouper's sync tables)."""


def check_config(config: ProvisionerConfig) -> tuple[ConfigProblem, ...]:
    """Return every problem with *config*; empty when it is valid.

    Types are checked first (a configuration built in Python can hold a wrong
    type that only a type checker would catch); the meaning is checked when the
    types are right.
    """
    shape = list(shape_problems(config, "", loader="ProvisionerConfig.from_dict"))
    if shape:
        return tuple(shape)  # the checks below read the settings' fields
    try:
        structure_config(unstructure_config(config))
    except ConfigError as exc:
        return exc.problems
    return tuple(_check(config))


_hints = functools.cache(typing.get_type_hints)  # per settings class, resolved once


def shape_problems(settings: object, path: str, *, loader: str) -> Iterator[ConfigProblem]:
    """Settings built in code that are not of their kind: a dict for an ``ObjectConfig``...

    Such settings failed validation with an ``AttributeError`` ("'dict'
    object has no attribute 'attributes'"); each is named with its key path,
    and with *loader*, which takes plain data.
    """
    kind = typing.cast("type[attrs.AttrsInstance]", type(settings))  # a settings class
    hints = _hints(kind)
    for field in attrs.fields(kind):
        where = f"{path}.{field.name}" if path else field.name
        yield from _shape_of(getattr(settings, field.name), hints[field.name], where, loader)


def _checked_kind(hint: object) -> bool:
    """Whether the items of a tuple of *hint* are checked: settings classes and choices."""
    return isinstance(hint, type) and (attrs.has(hint) or issubclass(hint, enum.Enum))


def _shape_of(value: object, hint: object, where: str, loader: str) -> Iterator[ConfigProblem]:
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin in {typing.Union, types.UnionType}:
        kinds = [a for a in args if a is not type(None)]
        if value is not None and len(kinds) == 1:
            yield from _shape_of(value, kinds[0], where, loader)
        return
    if origin is tuple and len(args) == 2 and _checked_kind(args[0]):  # noqa: PLR2004
        items = value if isinstance(value, tuple) else ()  # the fields' converters make tuples
        for index, item in enumerate(items):
            yield from _shape_of(item, args[0], f"{where}[{index}]", loader)
        return
    if origin is Mapping and not isinstance(value, Mapping):
        yield ConfigProblem(where, f"expected a mapping, got {type(value).__name__} {value!r:.60}")
    elif isinstance(hint, type) and attrs.has(hint):
        if isinstance(value, hint):
            yield from shape_problems(value, where, loader=loader)
        else:
            # A mapping is not shown: a dict of settings may hold a password.
            shown = "" if isinstance(value, Mapping) else f" {value!r:.60}"
            yield ConfigProblem(
                where,
                f"expected {hint.__name__}(...), got {type(value).__name__}{shown}"
                f" (plain data goes through {loader})",
            )
    elif isinstance(hint, type) and issubclass(hint, enum.Enum) and not isinstance(value, hint):
        choices = ", ".join(repr(m.value) for m in hint)
        yield ConfigProblem(where, f"expected one of {choices}, got {value!r:.60}")


def _check(config: ProvisionerConfig) -> Iterator[ConfigProblem]:
    if not config.name.strip():
        yield ConfigProblem("name", "must not be empty")
    if config.batch_size <= 0:
        yield ConfigProblem("batch_size", f"must be a positive integer, got {config.batch_size}")
    yield from _check_object("groups", config.groups, _PLAIN_FIELD)
    yield from _check_object("entities", config.entities, _PLAIN_FIELD)
    yield from _check_memberships(config)
    yield from _check_subject_link(config)
    failsafe = config.failsafe
    for setting in (
        "max_group_percent_removed",
        "max_percent_groups_removed",
        "max_percent_memberships_removed",
    ):
        value = getattr(failsafe, setting)
        if value is not None and not 0 <= value <= 100:  # noqa: PLR2004  # percent
            yield ConfigProblem(
                f"failsafe.{setting}", f"must be a percentage (0 to 100), got {value}"
            )
    incremental = config.incremental
    for path, number in (
        ("incremental.group_sync_threshold", incremental.group_sync_threshold),
        ("incremental.full_sync_score", incremental.full_sync_score),
        ("incremental.retry_max_interval_seconds", incremental.retry_max_interval_seconds),
    ):
        if number <= 0:
            yield ConfigProblem(path, f"must be a positive integer, got {number}")
    for path, number in (
        ("incremental.retry_recent_seconds", incremental.retry_recent_seconds),
        ("failsafe.min_group_size", failsafe.min_group_size),
        ("failsafe.min_managed_groups", failsafe.min_managed_groups),
        ("logged_errors_per_code", config.logged_errors_per_code),
    ):
        if number < 0:
            yield ConfigProblem(path, f"must not be negative, got {number}")
    pattern = config.provisionable.group_name_pattern
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            yield ConfigProblem(
                "provisionable.group_name_pattern", f"not a valid regular expression: {exc}"
            )


def _check_object(path: str, obj: ObjectConfig, fields: re.Pattern[str]) -> Iterator[ConfigProblem]:
    yield from _check_attribute_list(f"{path}.attributes", obj.attributes, fields)
    yield from _check_keys(
        path, obj.attributes, obj.matching, obj.search, required=obj.operate, inserts=obj.insert
    )
    yield from _check_cached(path, obj)


def _check_cached(path: str, obj: ObjectConfig) -> Iterator[ConfigProblem]:
    cached = obj.cached_attributes
    if len(cached) > MAX_CACHED_ATTRIBUTES:
        yield ConfigProblem(
            f"{path}.cached_attributes",
            f"at most {MAX_CACHED_ATTRIBUTES} attributes are cached, got {len(cached)}",
        )
    for index, name in enumerate(cached):
        where = f"{path}.cached_attributes[{index}]"
        if name in cached[:index]:
            yield ConfigProblem(where, f"{name!r} is listed twice")
            continue
        attribute = obj.find_attribute(name)
        if attribute is None:
            yield ConfigProblem(where, f"{name!r} is not an attribute of {path}")
        elif attribute.multi_valued:
            yield ConfigProblem(where, f"{name!r} is multi-valued; only one value is cached")


def _check_memberships(config: ProvisionerConfig) -> Iterator[ConfigProblem]:
    ms = config.memberships
    kind = ms.type
    if kind is MembershipType.MEMBERSHIP_OBJECTS:
        if ms.attribute is not None:
            yield ConfigProblem(
                "memberships.attribute",
                "only used with type 'group_attributes' or 'entity_attributes' "
                "(membership objects are configured in memberships.attributes)",
            )
        yield from _check_attribute_list("memberships.attributes", ms.attributes, _PREFIXED_FIELD)
        yield from _check_keys(
            "memberships",
            ms.attributes,
            ms.matching,
            ms.search,
            required=ms.operate,
            inserts=ms.insert,
        )
        return

    owner_name, owner = (
        ("groups", config.groups)
        if kind is MembershipType.GROUP_ATTRIBUTES
        else ("entities", config.entities)
    )
    for setting in ("attributes", "matching", "search"):
        if getattr(ms, setting):
            yield ConfigProblem(
                f"memberships.{setting}",
                f"only used with type 'membership_objects', not {kind.value!r}",
            )
    if ms.operate and not owner.operate:
        yield ConfigProblem(
            "memberships.type",
            f"{kind.value!r} keeps memberships on {owner_name}, so it needs "
            f"{owner_name}.operate = true (or memberships.operate = false)",
        )
    if ms.attribute is None:
        example = "member" if kind is MembershipType.GROUP_ATTRIBUTES else "eduPersonEntitlement"
        yield ConfigProblem(
            "memberships.attribute",
            f"required when type is {kind.value!r}: the multi-valued attribute on "
            f"{owner_name} that holds memberships (for example {example!r})",
        )
        return
    yield from _check_membership_attribute(ms, owner_name, owner)


def _check_membership_attribute(
    ms: MembershipsConfig, owner_name: str, owner: ObjectConfig
) -> Iterator[ConfigProblem]:
    attribute = ms.attribute
    assert attribute is not None  # noqa: S101  # the caller checked
    path = "memberships.attribute"
    yield from _check_attribute(path, attribute, _PLAIN_FIELD)
    if attribute.select_only or attribute.static is not None:
        yield ConfigProblem(
            path,
            "needs a field, template or function that computes each membership's "
            "value from the member",
        )
    for setting, value in (
        ("required", attribute.required),
        ("create_only", attribute.create_only),
        ("default", attribute.default is not None),
    ):
        if value:
            yield ConfigProblem(f"{path}.{setting}", "not meaningful for the membership attribute")
    for index, other in enumerate(owner.attributes):
        if other.name == attribute.name:
            yield ConfigProblem(
                f"{path}.name",
                f"{attribute.name!r} is also configured as {owner_name}.attributes[{index}]; "
                "the membership attribute is filled from memberships only",
            )


def _check_attribute_list(
    path: str, attributes: tuple[AttributeConfig, ...], fields: re.Pattern[str]
) -> Iterator[ConfigProblem]:
    seen: dict[str, int] = {}
    for index, attribute in enumerate(attributes):
        item = f"{path}[{index}]"
        if attribute.name in seen:
            yield ConfigProblem(
                f"{item}.name",
                f"duplicate attribute name {attribute.name!r} "
                f"(also {path.rsplit('.', 1)[-1]}[{seen[attribute.name]}])",
            )
        else:
            seen[attribute.name] = index
        yield from _check_attribute(item, attribute, fields)


def _check_attribute(
    path: str, attribute: AttributeConfig, fields: re.Pattern[str]
) -> Iterator[ConfigProblem]:
    if not attribute.name.strip():
        yield ConfigProblem(f"{path}.name", "must not be empty")
    if len(attribute.sources) > 1:
        yield ConfigProblem(
            path,
            f"set at most one of field, static, template, function "
            f"(found {', '.join(attribute.sources)})",
        )
    if attribute.field is not None and not fields.match(attribute.field):
        yield ConfigProblem(f"{path}.field", _field_message(attribute.field, fields))
    if attribute.template is not None:
        try:
            template = Template.parse(attribute.template)
        except ValueError as exc:
            yield ConfigProblem(f"{path}.template", str(exc))
        else:
            for name in template.fields:
                if not fields.match(name):
                    yield ConfigProblem(f"{path}.template", _field_message(name, fields))
    for setting in ("function", "valid_function"):
        ref = getattr(attribute, setting)
        if ref is not None:
            try:
                resolve_function(ref)
            except (ValueError, TypeError) as exc:
                yield ConfigProblem(f"{path}.{setting}", str(exc))
    if attribute.max_length is not None:
        if attribute.max_length <= 0:
            yield ConfigProblem(
                f"{path}.max_length", f"must be a positive integer, got {attribute.max_length}"
            )
        elif attribute.value_type is not ValueType.STRING:
            yield ConfigProblem(
                f"{path}.max_length",
                f"applies to string values only, not {attribute.value_type.value!r}",
            )
    if attribute.valid_pattern is not None:
        try:
            re.compile(attribute.valid_pattern)
        except re.error as exc:
            yield ConfigProblem(f"{path}.valid_pattern", f"not a valid regular expression: {exc}")
    for setting in ("static", "default"):
        yield from _check_constant(f"{path}.{setting}", getattr(attribute, setting), attribute)
    for index, value in enumerate(attribute.ignore_values):
        yield from _check_scalar(f"{path}.ignore_values[{index}]", value, attribute.value_type)


def _check_constant(
    path: str, value: StaticValue | None, attribute: AttributeConfig
) -> Iterator[ConfigProblem]:
    if value is None:
        return
    if isinstance(value, tuple):
        if not attribute.multi_valued:
            yield ConfigProblem(path, "a list of values needs multi_valued = true")
        for index, item in enumerate(value):
            yield from _check_scalar(f"{path}[{index}]", item, attribute.value_type)
    else:
        yield from _check_scalar(path, value, attribute.value_type)


def _check_scalar(
    path: str, value: str | int | bool, value_type: ValueType
) -> Iterator[ConfigProblem]:
    try:
        convert_scalar(value, value_type)
    except ValueError as exc:
        yield ConfigProblem(path, f"{exc} (value_type is {value_type.value!r})")


def _check_subject_link(config: ProvisionerConfig) -> Iterator[ConfigProblem]:
    link = config.subject_link
    if link is None:
        return
    try:
        resolve_function(link.function)
    except (ValueError, TypeError) as exc:
        yield ConfigProblem("subject_link.function", str(exc))
    if not _PLAIN_FIELD.match(link.attribute):
        yield ConfigProblem("subject_link.attribute", _field_message(link.attribute, _PLAIN_FIELD))
    elif link.attribute in ENTITY_FIELDS:
        yield ConfigProblem(
            "subject_link.attribute",
            f"{link.attribute!r} is a field Grouper gives every entity; choose another name",
        )
    if link.refresh_per_run < 0:
        yield ConfigProblem(
            "subject_link.refresh_per_run", f"must be 0 or more, got {link.refresh_per_run}"
        )


def _field_message(name: str, fields: re.Pattern[str]) -> str:
    if fields is _PLAIN_FIELD:
        return f"invalid field name {name!r} (expected a name such as 'extension')"
    return (
        f"invalid field name {name!r} (expected a membership field, or "
        "'group.<field>' / 'entity.<field>')"
    )


def _check_keys(
    path: str,
    attributes: tuple[AttributeConfig, ...],
    matching: tuple[MatchingKey, ...],
    search: tuple[str, ...],
    *,
    required: bool,
    inserts: bool,
) -> Iterator[ConfigProblem]:
    by_name = {a.name: a for a in attributes}
    if required and not matching:
        yield ConfigProblem(
            f"{path}.matching",
            "at least one matching key is needed to pair Grouper objects with "
            f"target objects (or set {path}.operate = false)",
        )
    for index, key in enumerate(matching):
        for name in key:
            attribute = by_name.get(name)
            if attribute is None:
                yield ConfigProblem(
                    f"{path}.matching[{index}]",
                    f"{name!r} is not a configured attribute of {path}",
                )
            elif attribute.multi_valued:
                yield ConfigProblem(
                    f"{path}.matching[{index}]",
                    f"{name!r} is multi-valued; a matching attribute must be single-valued",
                )
            elif not attribute.select:
                yield ConfigProblem(
                    f"{path}.matching[{index}]",
                    f"{name!r} has select = false, so its target value is never read "
                    "and can never match",
                )
            elif attribute.create_only:
                yield ConfigProblem(
                    f"{path}.matching[{index}]",
                    f"{name!r} is create_only, so it is never compared and can never match",
                )
            elif inserts and not attribute.insert and not attribute.select_only:
                yield ConfigProblem(
                    f"{path}.matching[{index}]",
                    f"{name!r} has insert = false, so objects grouperprov inserts would "
                    f"never be found again (set {path}.insert = false if the target "
                    "creates them)",
                )
    for index, name in enumerate(search):
        if name not in by_name:
            yield ConfigProblem(
                f"{path}.search[{index}]", f"{name!r} is not a configured attribute of {path}"
            )


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


# What a setting of each kind takes, and how that is said.
_KINDS: dict[str, tuple[Callable[[object], bool], str]] = {
    "flag": (lambda v: isinstance(v, bool), "True or False"),
    "optional flag": (lambda v: v is None or isinstance(v, bool), "True, False or None"),
    "whole": (_whole, "a whole number"),
    "positive whole": (lambda v: _whole(v) and _positive(v), "a whole number above 0"),
    "seconds": (_positive, "a number of seconds above 0"),
}


def type_problems(settings: Mapping[str, tuple[str, object]]) -> list[ConfigProblem]:
    """Settings given in code that are not of their kind, by name: ``{name: (kind, value)}``.

    A flag read from an environment variable is text, and ``"false"`` is
    true: it turned on what it meant to turn off. A number as text failed
    deep in a search or a batch. Kinds: ``flag``, ``optional flag``,
    ``whole``, ``positive whole``, ``seconds``.
    """
    problems: list[ConfigProblem] = []
    for name, (kind, value) in settings.items():
        fine, wanted = _KINDS[kind]
        if not fine(value):
            shown = f"{type(value).__name__} {value!r:.40}"
            problems.append(ConfigProblem(name, f"expected {wanted}, not {shown}"))
    return problems
