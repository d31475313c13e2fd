"""Plain data <-> ProvisionerConfig, through one private cattrs converter.

The converter is strict: a string is never silently turned into a number or the
other way round, unknown keys are errors, and every structural problem is reported
with its key path (``groups.attributes[2].max_length``), all at once.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs
import cattrs
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
)
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn

from ._codes import exception_text
from ._config import (
    AttributeConfig,
    FailsafeConfig,
    IncrementalConfig,
    MatchingKey,
    MembershipsConfig,
    ObjectConfig,
    ProvisionableConfig,
    ProvisionerConfig,
    StaticValue,
    SubjectLinkConfig,
)
from ._sources import FunctionRef, ValidatorRef, function_ref_name
from .exceptions import ConfigError, ConfigProblem

_CONFIG_CLASSES = (
    AttributeConfig,
    FailsafeConfig,
    ObjectConfig,
    MembershipsConfig,
    ProvisionableConfig,
    SubjectLinkConfig,
    IncrementalConfig,
    ProvisionerConfig,  # last: its hooks use those of the classes above
)


class _SettingError(ValueError):
    """A value of the wrong type or shape; its message is shown as it is."""


def _describe(value: object) -> str:
    return f"{type(value).__name__} {value!r}"


def _structure_str(value: object, _: object) -> str:
    if not isinstance(value, str):
        raise _SettingError(f"expected a string, got {_describe(value)}")
    return value


def _structure_int(value: object, _: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _SettingError(f"expected an integer, got {_describe(value)}")
    return value


def _structure_float(value: object, _: object) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise _SettingError(f"expected a number, got {_describe(value)}")
    return float(value)


def _structure_bool(value: object, _: object) -> bool:
    if not isinstance(value, bool):
        raise _SettingError(f"expected true or false, got {_describe(value)}")
    return value


def _structure_enum(value: object, kind: type[enum.StrEnum]) -> enum.StrEnum:
    allowed = ", ".join(repr(m.value) for m in kind)
    if isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            pass
    raise _SettingError(f"expected one of {allowed}, got {_describe(value)}")


def _is_scalar(value: object) -> bool:
    return isinstance(value, (str, int))  # bool is an int


def _structure_static(value: object, _: object) -> StaticValue | None:
    if value is None or _is_scalar(value):
        return value  # type: ignore[return-value]  # checked by _is_scalar
    if isinstance(value, (list, tuple)) and all(_is_scalar(v) for v in value):
        return tuple(value)
    raise _SettingError(
        f"expected a string, integer, boolean or a list of them, got {_describe(value)}"
    )


def _structure_scalars(value: object, _: object) -> tuple[str | int | bool, ...]:
    if isinstance(value, (list, tuple)) and all(_is_scalar(v) for v in value):
        return tuple(value)
    raise _SettingError(f"expected a list of strings, integers or booleans, got {_describe(value)}")


def _structure_names(value: object, _: object) -> tuple[str, ...]:
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise _SettingError(f"expected a list of attribute names, got {_describe(value)}")


def _structure_matching(value: object, _: object) -> tuple[MatchingKey, ...]:
    if not isinstance(value, (list, tuple)):
        raise _SettingError(f"expected a list of matching keys, got {_describe(value)}")
    keys: list[MatchingKey] = []
    for item in value:
        if isinstance(item, str):
            keys.append((item,))
        elif (
            isinstance(item, (list, tuple)) and item and all(isinstance(name, str) for name in item)
        ):
            keys.append(tuple(item))
        else:
            raise _SettingError(
                "each matching key is an attribute name or a non-empty list of "
                f"names, got {_describe(item)}"
            )
    return tuple(keys)


def _structure_function(value: object, _: object) -> object:
    if value is None or isinstance(value, str) or callable(value):
        return value
    raise _SettingError(f"expected 'package.module:function' or a callable, got {_describe(value)}")


def _unstructure_matching(keys: tuple[MatchingKey, ...]) -> list[str | list[str]]:
    return [key[0] if len(key) == 1 else list(key) for key in keys]


def _unstructure_static(value: StaticValue) -> object:
    return list(value) if isinstance(value, tuple) else value


def _unstructure_function(value: str | Callable[..., object]) -> str:
    return function_ref_name(value)


def _strict_class_hook(converter: cattrs.Converter, cls: type[Any]) -> Callable[[Any, Any], Any]:
    # Unknown keys are checked here rather than by cattrs, which stops at them and
    # would hide the other problems of the same table.
    generated = make_dict_structure_fn(cls, converter, _cattrs_detailed_validation=True)
    known = frozenset(field.name for field in attrs.fields(cls))

    def structure(value: object, kind: object) -> object:
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise _SettingError(f"expected a table of settings, got {_describe(value)}")
        errors: list[Exception] = []
        result = None
        try:
            result = generated(value, kind)
        except ClassValidationError as exc:
            errors.extend(exc.exceptions)
        extra = set(value) - known
        if extra:
            errors.append(ForbiddenExtraKeysError("", cls, extra))
        if errors:
            raise ClassValidationError(f"While structuring {cls.__name__}", errors, cls)
        return result

    return structure


def _is(kind: object) -> Callable[[Any], bool]:
    """A hook predicate for one exact type (cattrs dispatches generics by predicate)."""
    optional = kind | None  # type: ignore[operator]  # every kind here is a union or generic alias
    return lambda candidate: bool(candidate in (kind, optional))


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(detailed_validation=True)
    # cattrs consults these by class (singledispatch) before anything else; the
    # StrEnum hook is more specific than the str one, so enums still reach it.
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook(enum.StrEnum, _structure_enum)
    converter.register_unstructure_hook(enum.StrEnum, lambda member: member.value)
    exact: list[tuple[object, Callable[[Any, Any], Any]]] = [
        (StaticValue, _structure_static),
        (tuple[str | int | bool, ...], _structure_scalars),
        (tuple[str, ...], _structure_names),
        (tuple[MatchingKey, ...], _structure_matching),
        (FunctionRef, _structure_function),
        (ValidatorRef, _structure_function),
    ]
    for kind, hook in exact:
        converter.register_structure_hook_func(_is(kind), hook)
    for cls in _CONFIG_CLASSES:
        converter.register_structure_hook(cls, _strict_class_hook(converter, cls))

    converter.register_unstructure_hook_func(_is(tuple[MatchingKey, ...]), _unstructure_matching)
    converter.register_unstructure_hook_func(_is(StaticValue), _unstructure_static)
    for kind in (FunctionRef, ValidatorRef):
        converter.register_unstructure_hook_func(_is(kind), _unstructure_function)
    for cls in _CONFIG_CLASSES:
        converter.register_unstructure_hook(
            cls, make_dict_unstructure_fn(cls, converter, _cattrs_omit_if_default=True)
        )
    return converter


_CONVERTER = _make_converter()


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _problems(exc: BaseException, path: str) -> Iterator[ConfigProblem]:
    if isinstance(exc, (ClassValidationError, IterableValidationError)):
        with_notes, without_notes = exc.group_exceptions()
        for sub, note in with_notes:
            if isinstance(exc, IterableValidationError):
                sub_path = f"{path}[{note.index}]"
            else:
                sub_path = _join(path, note.name)  # type: ignore[union-attr]  # an AttributeValidationNote
            yield from _problems(sub, sub_path)
        for sub in without_notes:
            yield from _problems(sub, path)
    elif isinstance(exc, ForbiddenExtraKeysError):
        known = [f.name for f in attrs.fields(exc.cl)] if attrs.has(exc.cl) else []
        for key in sorted(exc.extra_fields):
            hint = difflib.get_close_matches(key, known, n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            yield ConfigProblem(_join(path, key), f"unknown setting{suggestion}")
    elif isinstance(exc, KeyError):
        yield ConfigProblem(path, "required setting is missing")
    elif isinstance(exc, _SettingError):
        yield ConfigProblem(path, str(exc))
    else:  # a plan's values: a member of no enum, a value of the wrong type
        yield ConfigProblem(path, exception_text(exc))


def problems_of(exc: BaseException) -> list[ConfigProblem]:
    """Every problem a cattrs structuring error holds, each with its key path."""
    return list(_problems(exc, ""))


def structure_config(data: Mapping[str, Any]) -> ProvisionerConfig:
    """Build a ProvisionerConfig from plain data, reporting every structural problem.

    Raises:
        ConfigError: With one problem per wrong value, unknown or missing key.
    """
    try:
        return _CONVERTER.structure(data, ProvisionerConfig)
    except (ClassValidationError, IterableValidationError, _SettingError) as exc:
        raise ConfigError(list(_problems(exc, ""))) from None


def unstructure_config(config: ProvisionerConfig) -> dict[str, Any]:
    """Return *config* as plain data, leaving out settings at their default."""
    result: dict[str, Any] = _CONVERTER.unstructure(config, ProvisionerConfig)
    return result
