"""Value conversion and compare forms, shared by config checks, translation and compare."""

from __future__ import annotations

from collections.abc import Hashable

from ._beans import AttributeValue, Scalar
from ._config import ValueType

__all__ = ["EMPTY", "compare_form", "convert_scalar", "is_empty"]

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_TRUE = frozenset({"true", "t", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "off"})

EMPTY: None = None
"""The compare form of "no value": ``None``, ``""`` and an empty set all become it."""


def _to_int(value: Scalar, bounds: tuple[int, int], kind: str) -> int:
    if isinstance(value, bool):
        result = int(value)
    elif isinstance(value, int):
        result = value
    else:
        try:
            result = int(value.strip(), 10)
        except ValueError:
            msg = f"cannot convert {value!r} to {kind}"
            raise ValueError(msg) from None
    low, high = bounds
    if not low <= result <= high:
        msg = f"{result} is out of range for {kind} ({low}..{high})"
        raise ValueError(msg)
    return result


def convert_scalar(value: Scalar, value_type: ValueType) -> Scalar:
    """Convert one value to *value_type*.

    ``"1001"`` becomes ``1001`` for int and long (which are range-checked as 32
    and 64 bit); ``"TRUE"``, ``"yes"``, ``"1"`` become ``True`` for boolean; any
    value becomes text for string (booleans as ``true``/``false``).

    Raises:
        ValueError: The value cannot be converted; the message says why.
    """
    if value_type is ValueType.STRING:
        if isinstance(value, bool):
            return "true" if value else "false"
        return value if isinstance(value, str) else str(value)
    if value_type is ValueType.INT:
        return _to_int(value, _INT32, "int")
    if value_type is ValueType.LONG:
        return _to_int(value, _INT64, "long")
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if value in (0, 1):
            return bool(value)
        msg = f"cannot convert {value!r} to boolean"
        raise ValueError(msg)
    folded = value.strip().lower()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    msg = f"cannot convert {value!r} to boolean"
    raise ValueError(msg)


def is_empty(value: AttributeValue) -> bool:
    """Whether *value* means "no value": ``None``, ``""`` or an empty set."""
    return value is None or value in ("", frozenset())


def _fold(value: Scalar, case_sensitive: bool) -> Scalar:
    if not case_sensitive and isinstance(value, str):
        return value.casefold()
    return value


def compare_form(
    value: AttributeValue,
    *,
    case_sensitive: bool = True,
    ignore: frozenset[Hashable] = frozenset(),
    multi_valued: bool = False,
) -> Hashable:
    """Return the form of *value* that compares equal exactly when values mean the same.

    Empty values become ``None``; strings are case-folded when the attribute
    is not case sensitive; a multi-valued attribute becomes a frozenset without its
    empty and ignored values (*ignore* holds ignored values in compare form). A
    single-valued attribute read as a one-element set compares as that element.
    """
    if multi_valued or (isinstance(value, frozenset) and len(value) > 1):
        items = value if isinstance(value, frozenset) else (() if value is None else (value,))
        folded = frozenset(_fold(v, case_sensitive) for v in items if v != "")
        folded -= ignore
        return folded or EMPTY
    if isinstance(value, frozenset):
        value = next(iter(value), None)
    if value is None or value == "":
        return EMPTY
    folded_value = _fold(value, case_sensitive)
    return EMPTY if folded_value in ignore else folded_value
