"""How the SQL target reads a database's values into bean values."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grouperprov.targets._sql_values import database_scalar, plain, row_attributes

_UTC = dt.UTC
_ID = uuid.UUID("12345678-ABCD-4ef0-9abc-0123456789ab")


@pytest.mark.parametrize(
    ("value", "read"),
    [
        ("text", "text"),
        (7, 7),
        (True, True),
        (_ID, "12345678-abcd-4ef0-9abc-0123456789ab"),
        (dt.datetime(2026, 12, 6, 13, 5, 1, tzinfo=_UTC), "2026-12-06T13:05:01+00:00"),
        (dt.datetime(2026, 12, 6, 13, 5, 1, 250), "2026-12-06T13:05:01.000250"),  # noqa: DTZ001  # a timestamp column without a zone
        (dt.date(2026, 12, 6), "2026-12-06"),
        (dt.time(8, 30), "08:30:00"),
        (decimal.Decimal(12), 12),
        (decimal.Decimal(-3), -3),
        (decimal.Decimal("1E+2"), 100),
        (decimal.Decimal("12.50"), "12.50"),
        (decimal.Decimal("1.0"), "1.0"),
        (decimal.Decimal("NaN"), "NaN"),
        (decimal.Decimal("-Infinity"), "-Infinity"),
        (1.5, "1.5"),
        (2.0, "2.0"),
        (b"caf\xc3\xa9", "café"),
        (b"\xff\x00", "\udcff\x00"),
        (bytearray(b"ab"), "ab"),
        (memoryview(b"ab"), "ab"),
    ],
)
def test_each_database_type_is_read_by_its_rule(value: object, read: object) -> None:
    found = database_scalar(value)
    assert found == read
    assert type(found) is type(read)  # True stays a bool, 12 an int, "12.50" a str


@pytest.mark.parametrize(
    "value", [{"a": 1}, [1, 2], ("a",), dt.timedelta(days=1), object(), frozenset({"a"})]
)
def test_a_type_no_rule_reads_is_refused_with_its_name(value: object) -> None:
    with pytest.raises(TypeError, match=f"a {type(value).__name__} value cannot be"):
        database_scalar(value)


_database_values = st.one_of(
    st.text(),
    st.integers(),
    st.booleans(),
    st.uuids(),
    st.datetimes(timezones=st.one_of(st.none(), st.timezones())),
    st.dates(),
    st.times(),
    st.decimals(),
    st.floats(),
    st.binary(),
)


@given(_database_values)
def test_a_value_read_is_a_bean_value_and_reads_again_as_itself(value: object) -> None:
    """Written back and read again (as text, a number or a bool), it is the same value."""
    read = database_scalar(value)
    assert type(read) in {str, int, bool}
    assert database_scalar(read) == read


def test_a_row_leaves_nulls_out_and_keeps_plain_values_as_they_are() -> None:
    plain = row_attributes(["a", "b", "c"], ["x", None, 3], lambda name: name)
    assert plain == {"a": "x", "c": 3}
    mixed = row_attributes(["a", "b", "c"], [_ID, None, decimal.Decimal(2)], lambda name: name)
    assert mixed == {"a": str(_ID), "c": 2}


def test_a_row_s_value_no_rule_reads_names_where_it_is() -> None:
    with pytest.raises(TypeError, match=r"^table 't', column of 'b': a dict value cannot be"):
        row_attributes(["a", "b"], ["x", {"k": 1}], lambda name: f"table 't', column of {name!r}")


def test_a_result_is_plain_when_every_value_is_taken_as_it_is() -> None:
    assert plain([("a", 1, None, True), ("b", 2, "c", False)])
    assert plain([])
    assert not plain([("a", 1), ("b", 1.5)])  # one float in the last row
    assert not plain([(_ID,)])
