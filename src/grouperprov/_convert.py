"""Converters for settings given in code: a lone name is one name, not its letters.

``LdapGroups(attributes=("description"))`` (a tuple without its comma) and
``ObjectConfig(matching=("cn",))`` are easy to write. Iterated as given, a
string is its characters, and the mistake surfaced far away as attributes
``'d'``, ``'e'``, ... that the target does not keep. These converters take a
lone string as the one item it names and any other iterable as a tuple (so
a list given for a tuple field keeps the frozen settings hashable).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import TypeVar, cast

from ._beans import Scalar

__all__ = ["matching_keys", "member", "names", "scalars"]

_E = TypeVar("_E", bound=enum.Enum)


def names(value: str | Iterable[str]) -> tuple[str, ...]:
    """*value* as a tuple of names: a lone string is one name."""
    return (value,) if isinstance(value, str) else tuple(value)


def scalars(value: Scalar | Iterable[Scalar]) -> tuple[Scalar, ...]:
    """*value* as a tuple of values: a lone value (a string, a number) is one value."""
    return (value,) if isinstance(value, (str, int)) else tuple(value)


def matching_keys(value: str | Iterable[str | Iterable[str]]) -> tuple[tuple[str, ...], ...]:
    """*value* as matching keys: a lone string is one key of one name, as is each string key."""
    keys = (value,) if isinstance(value, str) else value
    return tuple(names(key) for key in keys)


def member(kind: type[_E], value: object) -> _E:
    """*value* as a member of *kind* when it names one (``"group_attributes"``).

    Given in code as text, a setting failed validation with "'str' object
    has no attribute 'value'"; text that names no member is left as it is,
    for the settings' check to report with its key path. (attrs cannot type
    a generic converter: each setting wraps this in a function of its own.)
    """
    if isinstance(value, kind):
        return value
    try:
        return kind(value)
    except ValueError:
        return cast("_E", value)
