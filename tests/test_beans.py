from __future__ import annotations

import pytest

from grouperprov import (
    ENTITY_FIELDS,
    GROUP_FIELDS,
    AttributeMap,
    ProvisioningEntity,
    ProvisioningGroup,
    ProvisioningMembership,
)


def test_attribute_map_stores_collections_as_frozensets_and_drops_none() -> None:
    m = AttributeMap({"a": ["x", "y"], "b": ("z",), "c": {"w"}, "d": None, "e": 1})
    assert m == {"a": frozenset({"x", "y"}), "b": frozenset({"z"}), "c": frozenset({"w"}), "e": 1}
    assert "d" not in m
    assert len(m) == 4
    assert list(m) == ["a", "b", "c", "e"]


def test_attribute_map_is_hashable_and_equal_by_content() -> None:
    a = AttributeMap({"cn": "x", "member": ["u1", "u2"]})
    b = AttributeMap({"member": frozenset({"u2", "u1"}), "cn": "x"})
    assert a == b
    assert hash(a) == hash(b)
    assert hash(a) == hash(a)  # cached
    assert a != AttributeMap({"cn": "y"})
    assert a == {"cn": "x", "member": frozenset({"u1", "u2"})}
    assert a != 3
    assert AttributeMap.of(a) is a
    assert repr(AttributeMap({"a": 1})) == "AttributeMap({'a': 1})"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"a": 1.5}, "attribute 'a': a value must be str, int or bool, got float 1.5"),
        ({"a": [1, None]}, "attribute 'a': a value must be str, int or bool, got NoneType None"),
        ({"a": [[1]]}, "got list [1]"),
        ({1: "x"}, "attribute names must be str, got 1"),
    ],
)
def test_attribute_map_refuses_bad_values_naming_the_attribute(
    values: dict[object, object], message: str
) -> None:
    with pytest.raises(TypeError, match=message.replace("[", r"\[").replace("]", r"\]")):
        AttributeMap(values)  # type: ignore[arg-type]


def test_attribute_map_takes_collections_of_plain_values_and_of_their_subclasses() -> None:
    class Code(str):
        __slots__ = ()

    assert AttributeMap({"a": ["x", 2, True]})["a"] == frozenset({"x", 2, True})
    assert AttributeMap({"a": {Code("x"), "y"}})["a"] == frozenset({"x", "y"})
    with pytest.raises(TypeError, match="attribute 'a': a value must be str, int or bool"):
        AttributeMap({"a": {Code("x"), 1.5}})


def test_attribute_map_merged_and_without_return_copies() -> None:
    m = AttributeMap({"a": 1, "b": 2})
    assert m.merged({"b": None, "c": 3}) == {"a": 1, "c": 3}
    assert m.without(["a"]) == {"b": 2}
    assert m == {"a": 1, "b": 2}
    d = m.to_dict()
    d["a"] = 9
    assert m["a"] == 1
    # Merged values are checked and shaped as the constructor does it.
    assert m.merged({"c": ["x", "y"]})["c"] == frozenset({"x", "y"})
    assert hash(m.merged({"z": None})) == hash(m)
    with pytest.raises(TypeError, match="attribute 'c': a value must be str, int or bool"):
        m.merged({"c": 1.5})
    with pytest.raises(TypeError, match="attribute names must be str"):
        m.merged({3: "x"})  # type: ignore[dict-item]  # what an untyped caller may pass


def test_beans_are_frozen_hashable_values() -> None:
    g1 = ProvisioningGroup(id="g1", attributes={"cn": "a"})
    g2 = ProvisioningGroup(id="g1", attributes={"cn": "a"})
    assert g1 == g2
    assert hash(g1) == hash(g2)
    assert {g1, g2} == {g1}
    with pytest.raises(AttributeError):
        g1.id = "x"  # type: ignore[misc]


def test_typed_getters() -> None:
    e = ProvisioningEntity(
        id="m1",
        attributes={"uid": "jo", "n": 3, "ok": True, "mail": ["a@x"], "aff": ["x", "y"]},
    )
    assert e.get_str("uid") == "jo"
    assert e.get_int("n") == 3
    assert e.get_bool("ok") is True
    assert e.get_str("mail") == "a@x"  # a one-element set is a single value
    assert e.get_str("missing") is None
    assert e.values("aff") == frozenset({"x", "y"})
    assert e.values("uid") == frozenset({"jo"})
    assert e.values("missing") == frozenset()
    assert e.get("aff") == frozenset({"x", "y"})
    assert e.single("missing") is None
    assert ProvisioningEntity(id="m", attributes={"a": frozenset()}).single("a") is None
    with pytest.raises(ValueError, match="attribute 'aff' has 2 values, expected one"):
        e.single("aff")
    with pytest.raises(TypeError, match="attribute 'n' is a int, expected str"):
        e.get_str("n")
    with pytest.raises(TypeError, match="attribute 'ok' is a bool, expected int"):
        e.get_int("ok")
    with pytest.raises(TypeError, match="attribute 'uid' is a str, expected bool"):
        e.get_bool("uid")


def test_evolve_style_changes_leave_the_original_alone() -> None:
    g = ProvisioningGroup(id="g", attributes={"cn": "a", "d": "x"})
    g2 = g.with_attributes({"cn": "b"}, description="new")
    assert g2.attributes == {"cn": "b", "d": "x", "description": "new"}
    assert g.attributes == {"cn": "a", "d": "x"}
    assert g2.with_attributes(cn=None).attributes == {"d": "x", "description": "new"}
    assert g.without_attributes("d", "cn").attributes == {}
    assert g.with_attributes().attributes == g.attributes


def test_membership_id_is_group_and_entity() -> None:
    m = ProvisioningMembership(group_id="g", entity_id="e", attributes={"role": "x"})
    assert m.id == ("g", "e")
    assert m.get("role") == "x"


def test_from_grouper_fills_the_standard_fields() -> None:
    g = ProvisioningGroup.from_grouper(
        "uuid1", "school:math:staff", id_index=12, display_name="School:Math:Staff", extra="x"
    )
    assert g.id == "uuid1"
    assert g.attributes == {
        "id": "uuid1",
        "name": "school:math:staff",
        "extension": "staff",
        "id_index": 12,
        "display_name": "School:Math:Staff",
        "extra": "x",
    }
    assert set(g.attributes) <= set(GROUP_FIELDS) | {"extra"}
    e = ProvisioningEntity.from_grouper(
        "m1", "10021", subject_source_id="ldap", email="jo@example.edu", subject_identifier0="jo"
    )
    assert e.attributes == {
        "id": "m1",
        "subject_id": "10021",
        "subject_source_id": "ldap",
        "email": "jo@example.edu",
        "subject_identifier0": "jo",
    }
    assert set(e.attributes) <= set(ENTITY_FIELDS)
