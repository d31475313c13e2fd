"""How the SQL target reads a database's values into bean values.

A bean holds ``str``, ``int`` and ``bool`` values. Drivers give more: a
PostgreSQL ``uuid`` comes back as :class:`uuid.UUID`, ``timestamptz`` as
:class:`datetime.datetime`, ``numeric`` as :class:`decimal.Decimal`, ``bytea``
as bytes. Each of those is read by one fixed rule, the same every run, so that
a value compares the same way every time it is read; any other type (JSON, an
array, an interval) is refused with the table, the row and the column named.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import itertools
import uuid
from collections.abc import Callable, Iterable, Sequence

from grouperprov._beans import AttributeValue, Scalar

__all__ = ["database_scalar", "plain", "read_scalar", "row_attributes"]

# Types taken as they are; their check is one set operation per row, in C.
_AS_THEY_ARE = frozenset((str, int, bool, type(None)))


def database_scalar(value: object) -> Scalar:
    """A database value (not ``NULL``) as a bean value.

    - ``str``, ``int`` and ``bool`` as they are;
    - a UUID as its text (``str(value)``: lower case, with hyphens);
    - a date, time or timestamp in ISO 8601 (``value.isoformat()``);
    - a decimal with no fractional digits (``numeric`` with scale 0) as an
      ``int``; any other decimal, NaN included, as its text, digits kept
      (``12.50`` stays ``"12.50"``);
    - a float as its text (``repr``: ``1.5`` is ``"1.5"``, ``2.0`` is ``"2.0"``);
    - bytes as UTF-8 text, bytes that are not UTF-8 kept as surrogates
      (``surrogateescape``), as the LDAP target reads its values.

    Raises:
        TypeError: Any other type.
    """
    if isinstance(value, (str, int)):  # bool is an int
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (dt.date, dt.time)):  # datetime is a date
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        exponent = value.as_tuple().exponent
        return int(value) if isinstance(exponent, int) and exponent >= 0 else str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "surrogateescape")
    msg = (
        f"a {type(value).__name__} value cannot be an attribute value "
        "(str, int, bool, and UUIDs, dates and times, decimals, floats and bytes read as such)"
    )
    raise TypeError(msg)


def read_scalar(value: object, where: Callable[[], str]) -> Scalar:
    """:func:`database_scalar` of *value*, read at the place *where* names.

    Raises:
        TypeError: A value of a type no rule reads, its message led by ``where()``.
    """
    try:
        return database_scalar(value)
    except TypeError as exc:
        msg = f"{where()}: {exc}"
        raise TypeError(msg) from None


def plain(rows: Iterable[Sequence[object]]) -> bool:
    """Whether every value of *rows* is taken as it is (the usual result, checked in C)."""
    return set(map(type, itertools.chain.from_iterable(rows))) <= _AS_THEY_ARE


def row_attributes(
    names: Sequence[str], values: Sequence[object], where: Callable[[str], str]
) -> dict[str, AttributeValue]:
    """The attributes of one row: *names* paired with *values*, ``NULL`` left out.

    Each value is read by :func:`database_scalar` (a result that is
    :func:`plain` needs none of it). *where* names the place of the
    attribute it is given, for the error.

    Raises:
        TypeError: A value of a type no rule reads, with *where* of its attribute.
    """
    return {
        name: read_scalar(value, functools.partial(where, name))
        for name, value in zip(names, values, strict=True)
        if value is not None
    }
