from __future__ import annotations

import pytest

from grouperprov import ValueType, compare_form, convert_scalar


@pytest.mark.parametrize(
    ("value", "value_type", "expected"),
    [
        ("1001", ValueType.INT, 1001),
        (" -5 ", ValueType.LONG, -5),
        (True, ValueType.INT, 1),
        (7, ValueType.INT, 7),
        (2**40, ValueType.LONG, 2**40),
        ("TRUE", ValueType.BOOLEAN, True),
        ("no", ValueType.BOOLEAN, False),
        (1, ValueType.BOOLEAN, True),
        (0, ValueType.BOOLEAN, False),
        (False, ValueType.BOOLEAN, False),
        (True, ValueType.STRING, "true"),
        (False, ValueType.STRING, "false"),
        (12, ValueType.STRING, "12"),
        ("x", ValueType.STRING, "x"),
    ],
)
def test_convert_scalar(value: str | int | bool, value_type: ValueType, expected: object) -> None:
    result = convert_scalar(value, value_type)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("value", "value_type", "message"),
    [
        ("abc", ValueType.INT, "cannot convert 'abc' to int"),
        (2**31, ValueType.INT, "out of range for int"),
        (2**63, ValueType.LONG, "out of range for long"),
        ("maybe", ValueType.BOOLEAN, "cannot convert 'maybe' to boolean"),
        (2, ValueType.BOOLEAN, "cannot convert 2 to boolean"),
    ],
)
def test_convert_scalar_refuses(value: str | int, value_type: ValueType, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        convert_scalar(value, value_type)


def test_empty_values_all_compare_the_same() -> None:
    assert compare_form(None) is None
    assert compare_form("") is None
    assert compare_form(frozenset()) is None
    assert compare_form(frozenset(), multi_valued=True) is None
    assert compare_form(frozenset({""}), multi_valued=True) is None
    assert compare_form("", multi_valued=True) is None


def test_case_insensitive_values_compare_folded() -> None:
    assert compare_form("ABC", case_sensitive=False) == compare_form("abc", case_sensitive=False)
    assert compare_form("ABC") != compare_form("abc")
    assert compare_form(frozenset({"A", "b"}), case_sensitive=False, multi_valued=True) == (
        frozenset({"a", "b"})
    )
    assert compare_form(5, case_sensitive=False) == 5


def test_ignored_values_vanish_from_the_compare_form() -> None:
    assert compare_form(
        frozenset({"a", "placeholder"}), multi_valued=True, ignore=frozenset({"placeholder"})
    ) == frozenset({"a"})
    assert compare_form("placeholder", ignore=frozenset({"placeholder"})) is None


def test_single_valued_compare_form_of_a_one_element_set_is_the_element() -> None:
    assert compare_form(frozenset({"x"})) == "x"
    assert compare_form("x", multi_valued=True) == frozenset({"x"})
    assert compare_form(frozenset({"x", "y"})) == frozenset({"x", "y"})
