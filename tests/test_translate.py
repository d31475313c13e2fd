from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grouperprov import (
    MembershipType,
    MembershipValue,
    ObjectError,
    ObjectType,
    ProvisionerConfig,
    ProvisioningEntity,
    ProvisioningGroup,
    ProvisioningMembership,
    SyncErrorCode,
    Translator,
)
from grouperprov.exceptions import ConfigError

ERR, INV, LEN, REQ = SyncErrorCode.ERR, SyncErrorCode.INV, SyncErrorCode.LEN, SyncErrorCode.REQ


def _translator(
    group_attributes: list[dict[str, Any]],
    *,
    memberships: dict[str, Any] | None = None,
    entity_attributes: list[dict[str, Any]] | None = None,
    groups: dict[str, Any] | None = None,
    entities: dict[str, Any] | None = None,
) -> Translator:
    entity_section: dict[str, Any] = {"operate": False}
    if entity_attributes is not None:
        entity_section = {
            "attributes": entity_attributes,
            "matching": [entity_attributes[0]["name"]],
        }
    return Translator(
        ProvisionerConfig.from_dict(
            {
                "name": "t",
                "groups": {
                    "attributes": group_attributes,
                    "matching": [group_attributes[0]["name"]],
                    **(groups or {}),
                },
                "entities": {**entity_section, **(entities or {})},
                "memberships": memberships or {"operate": False},
            }
        )
    )


MATH = ProvisioningGroup.from_grouper(
    "g1", "school:math:staff", id_index=1001, description="Math staff"
)
JO = ProvisioningEntity.from_grouper("m1", "jo", email="jo@example.edu", subject_source_id="ldap")
AL = ProvisioningEntity.from_grouper("m2", "al", email="al@example.edu", subject_source_id="ldap")


def test_translator_refuses_an_invalid_config() -> None:
    with pytest.raises(ConfigError):
        Translator(ProvisionerConfig(name=""))


def test_each_kind_of_source() -> None:
    t = _translator(
        [
            {"name": "cn", "field": "extension"},
            {"name": "ou", "static": "groups"},
            {
                "name": "objectClass",
                "static": ["top", "groupOfNames"],
                "multi_valued": True,
                "create_only": True,
            },
            {"name": "dn", "template": "cn={extension},ou=groups,dc=example,dc=edu"},
            {"name": "CN", "function": "translation_functions:upper_extension"},
            {"name": "gidNumber", "field": "id_index", "value_type": "long"},
            {"name": "gidText", "field": "id_index"},
            {"name": "uuid"},
        ]
    )
    result = t.translate_group(MATH)
    assert result.valid
    assert result.error is None
    assert result.source is MATH
    assert result.bean == ProvisioningGroup(
        id="g1",
        attributes={
            "cn": "staff",
            "ou": "groups",
            "dn": "cn=staff,ou=groups,dc=example,dc=edu",
            "CN": "STAFF",
            "gidNumber": 1001,
            "gidText": "1001",
        },
    )
    assert result.create_only == {"objectClass": frozenset({"top", "groupOfNames"})}
    assert result.insert_bean().attributes["objectClass"] == frozenset({"top", "groupOfNames"})
    assert result.insert_bean().attributes["cn"] == "staff"


def test_insert_bean_without_create_only_attributes_is_the_bean() -> None:
    result = _translator([{"name": "cn", "field": "extension"}]).translate_group(MATH)
    assert result.insert_bean() is result.bean


def test_defaults_apply_when_the_source_gives_nothing_and_keep_an_empty_string() -> None:
    t = _translator(
        [
            {"name": "cn", "field": "extension"},
            {"name": "desc", "field": "display_name", "default": ""},
            {"name": "kind", "field": "nothing", "default": "group"},
            {"name": "tags", "field": "nothing", "default": ["a", "b"], "multi_valued": True},
            {"name": "n", "field": "nothing", "default": "5", "value_type": "int"},
            {"name": "d", "field": "description", "default": "unused"},
        ]
    )
    bean = t.translate_group(MATH).bean
    assert bean.attributes == {
        "cn": "staff",
        "desc": "",
        "kind": "group",
        "tags": frozenset({"a", "b"}),
        "n": 5,
        "d": "Math staff",
    }


def test_required_missing_gives_req_and_translation_goes_on() -> None:
    t = _translator(
        [{"name": "cn", "field": "extension"}, {"name": "mail", "field": "email", "required": True}]
    )
    result = t.translate_group(MATH)
    assert result.errors == (ObjectError(REQ, "required value is missing", "mail"),)
    assert result.error == result.errors[0]
    assert not result.valid
    assert result.bean.attributes == {"cn": "staff"}
    assert str(result.error) == "REQ [mail]: required value is missing"


def test_too_long_values_give_len_for_single_and_each_multi_value() -> None:
    long_group = MATH.with_attributes(extension="x" * 70, tags=["ok", "y" * 12])
    t = _translator(
        [
            {"name": "cn", "field": "extension", "max_length": 50},
            {"name": "tags", "field": "tags", "multi_valued": True, "max_length": 10},
        ]
    )
    result = t.translate_group(long_group)
    assert [(e.code, e.attribute) for e in result.errors] == [(LEN, "cn"), (LEN, "tags")]
    assert result.errors[0].message == f"value {'x' * 60 + '...'!r} is 70 characters long, max 50"
    assert result.errors[1].message == f"value {'y' * 12!r} is 12 characters long, max 10"


def test_a_value_with_a_lone_surrogate_gives_inv_and_other_text_does_not() -> None:
    r"""A value UTF-8 cannot encode (JSON's ``"\ud800"`` makes one) is invalid input.

    Before, it went on to the target, whose write failed (a SQL or LDAP
    target), or which kept it (and a store then kept a link made of it as
    its escape); the incremental run's search for it failed outright.
    """
    odd = MATH.with_attributes(extension="st\ud800aff", tags=["ok", "b\udcffd"])
    t = _translator(
        [
            {"name": "cn", "field": "extension"},
            {"name": "tags", "field": "tags", "multi_valued": True},
        ]
    )
    result = t.translate_group(odd)
    assert [(e.code, e.attribute) for e in result.errors] == [(INV, "cn"), (INV, "tags")]
    assert result.errors[0].message == (
        "value 'st\\ud800aff' has a lone surrogate: not UTF-8 text, which no target or store"
        " can keep"
    )
    accented = t.translate_group(MATH.with_attributes(extension="Café ß 東京"))
    assert accented.bean.get("cn") == "Café ß 東京"
    assert not accented.errors


def test_valid_pattern_and_valid_function_give_inv() -> None:
    t = _translator(
        [
            {"name": "cn", "field": "extension", "valid_pattern": "[a-z]+"},
            {
                "name": "mail",
                "static": "jo@gmail.com",
                "valid_function": "translation_functions:is_edu_email",
            },
            {
                "name": "ok",
                "static": "jo@example.edu",
                "valid_function": "translation_functions:is_edu_email",
            },
        ]
    )
    assert t.translate_group(MATH).errors == (
        ObjectError(INV, "value 'jo@gmail.com' rejected by valid_function", "mail"),
    )
    bad = t.translate_group(MATH.with_attributes(extension="Staff-1"))
    assert bad.errors[0] == ObjectError(INV, "value 'Staff-1' does not match '[a-z]+'", "cn")


def test_failing_valid_function_gives_err() -> None:
    t = _translator(
        [
            {
                "name": "cn",
                "field": "extension",
                "valid_function": "translation_functions:validator_fails",
            }
        ]
    )
    assert t.translate_group(MATH).errors == (
        ObjectError(ERR, "valid_function failed: ValueError: cannot validate 'staff'", "cn"),
    )


def test_a_raising_function_gives_err_on_that_object_only() -> None:
    t = _translator(
        [
            {"name": "cn", "field": "extension"},
            {"name": "x", "function": "translation_functions:explode"},
        ]
    )
    bad = ProvisioningGroup.from_grouper("g2", "school:bad")
    translation = t.translate([MATH, bad], [], [])
    assert translation.groups["g1"].valid
    assert translation.groups["g1"].bean.get("x") == "fine"
    assert translation.groups["g2"].errors == (
        ObjectError(ERR, "function failed: RuntimeError: cannot compute for bad", "x"),
    )
    assert translation.groups["g2"].bean.attributes == {"cn": "bad"}


def test_a_function_returning_a_non_value_gives_err() -> None:
    t = _translator([{"name": "cn", "function": "translation_functions:returns_object"}])
    (error,) = t.translate_group(MATH).errors
    assert error.code is ERR
    assert error.message.startswith("function failed: TypeError: attribute 'cn': a value must be")


def test_a_failing_template_gives_err() -> None:
    t = _translator([{"name": "cn", "template": "{tags}"}])
    (error,) = t.translate_group(MATH.with_attributes(tags=["a", "b"])).errors
    assert error == ObjectError(
        ERR, "source failed: ValueError: field 'tags' has 2 values; a template needs one", "cn"
    )


def test_unconvertible_and_multiple_values_give_inv() -> None:
    t = _translator(
        [
            {"name": "cn", "field": "extension"},
            {"name": "gid", "field": "description", "value_type": "int"},
            {"name": "one", "field": "tags"},
        ]
    )
    result = t.translate_group(MATH.with_attributes(tags=["a", "b"]))
    assert result.errors == (
        ObjectError(INV, "cannot convert 'Math staff' to int", "gid"),
        ObjectError(INV, "2 values for a single-valued attribute", "one"),
    )
    assert result.bean.attributes == {"cn": "staff"}


def test_metadata_reaches_translation_functions() -> None:
    t = _translator([{"name": "cn", "function": "translation_functions:marker_name"}])
    translation = t.translate([MATH], [], [], metadata={"g1": {"target_name": "math-staff"}})
    assert translation.groups["g1"].bean.get("cn") == "math-staff"
    assert t.translate_group(MATH).bean.get("cn") is None


GROUP_ATTRS: dict[str, Any] = {
    "type": "group_attributes",
    "attribute": {
        "name": "member",
        "template": "uid={subject_id},ou=people",
        "case_sensitive": False,
        "max_length": 20,
    },
}


def test_group_attributes_memberships_become_member_values_with_their_origin() -> None:
    t = _translator([{"name": "cn", "field": "extension"}], memberships=GROUP_ATTRS)
    assert t.membership_type is MembershipType.GROUP_ATTRIBUTES
    assert t.membership_owner is ObjectType.GROUP
    assert t.membership_attribute == "member"
    empty = ProvisioningGroup.from_grouper("g2", "school:empty")
    memberships = [
        ProvisioningMembership(group_id="g1", entity_id="m1"),
        ProvisioningMembership(group_id="g1", entity_id="m2"),
        ProvisioningMembership(group_id="g1", entity_id="gone"),
        ProvisioningMembership(group_id="other", entity_id="m1"),
    ]
    translation = t.translate([MATH, empty], [JO, AL], memberships)
    assert translation.groups["g1"].bean.get("member") == frozenset(
        {"uid=jo,ou=people", "uid=al,ou=people"}
    )
    assert translation.groups["g2"].bean.get("member") is None
    assert translation.value_origin("g1", "uid=jo,ou=people") == (("g1", "m1"),)
    assert translation.value_origin("g1", "uid=JO,ou=people") == ()  # compare form is folded
    assert translation.value_origin("g2", "x") == ()
    assert translation.skipped_memberships == (("g1", "gone"), ("other", "m1"))
    assert translation.memberships == {}
    assert translation.membership_errors == {}


def test_same_value_from_two_members_remembers_both() -> None:
    t = _translator([{"name": "cn", "field": "extension"}], memberships=GROUP_ATTRS)
    jo2 = ProvisioningEntity.from_grouper("m3", "JO")
    translation = t.translate(
        [MATH],
        [JO, jo2],
        [
            ProvisioningMembership(group_id="g1", entity_id="m1"),
            ProvisioningMembership(group_id="g1", entity_id="m3"),
        ],
    )
    assert translation.membership_values["g1"] == {
        "uid=jo,ou=people": MembershipValue(
            value="uid=jo,ou=people", memberships=(("g1", "m1"), ("g1", "m3"))
        )
    }
    assert translation.groups["g1"].bean.get("member") == frozenset({"uid=jo,ou=people"})


def test_a_bad_membership_value_marks_only_that_membership() -> None:
    t = _translator([{"name": "cn", "field": "extension"}], memberships=GROUP_ATTRS)
    long_name = ProvisioningEntity.from_grouper("m9", "a-very-long-subject-id")
    no_id = ProvisioningEntity(id="m8")
    translation = t.translate(
        [MATH],
        [JO, long_name, no_id],
        [ProvisioningMembership(group_id="g1", entity_id=e) for e in ("m1", "m9", "m8")],
    )
    assert translation.groups["g1"].valid
    assert translation.groups["g1"].bean.get("member") == frozenset({"uid=jo,ou=people"})
    assert [e.code for e in translation.membership_errors[("g1", "m9")]] == [LEN]
    assert translation.membership_errors[("g1", "m8")] == (
        ObjectError(REQ, "the member gives no membership value", "member"),
    )
    assert ("g1", "m1") not in translation.membership_errors


def test_group_attributes_not_synced_when_object_only() -> None:
    t = _translator(
        [{"name": "cn", "field": "extension"}],
        memberships=GROUP_ATTRS,
        groups={"sync_memberships": False},
    )
    assert t.membership_owner is None
    translation = t.translate([MATH], [JO], [ProvisioningMembership(group_id="g1", entity_id="m1")])
    assert "member" not in translation.groups["g1"].bean.attributes
    assert translation.membership_values == {}


def test_memberships_not_operated_are_not_translated() -> None:
    t = _translator(
        [{"name": "cn", "field": "extension"}], memberships={**GROUP_ATTRS, "operate": False}
    )
    assert t.membership_owner is None
    t2 = _translator([{"name": "cn", "field": "extension"}])
    assert (
        t2.translate(
            [MATH], [JO], [ProvisioningMembership(group_id="g1", entity_id="m1")]
        ).memberships
        == {}
    )


def test_entity_attributes_memberships_become_entitlements() -> None:
    t = _translator(
        [{"name": "cn", "field": "extension"}],
        entity_attributes=[{"name": "uid", "field": "subject_id"}],
        memberships={
            "type": "entity_attributes",
            "attribute": {
                "name": "eduPersonEntitlement",
                "template": "urn:mace:example.edu:{name}",
            },
        },
    )
    assert t.membership_owner is ObjectType.ENTITY
    translation = t.translate(
        [MATH], [JO, AL], [ProvisioningMembership(group_id="g1", entity_id="m1")]
    )
    assert translation.entities["m1"].bean.attributes == {
        "uid": "jo",
        "eduPersonEntitlement": frozenset({"urn:mace:example.edu:school:math:staff"}),
    }
    assert translation.entities["m2"].bean.attributes == {"uid": "al"}
    assert translation.value_origin("m1", "urn:mace:example.edu:school:math:staff") == (
        ("g1", "m1"),
    )


def test_entity_attributes_not_synced_when_object_only() -> None:
    t = _translator(
        [{"name": "cn", "field": "extension"}],
        entity_attributes=[{"name": "uid", "field": "subject_id"}],
        entities={"sync_memberships": False},
        memberships={"type": "entity_attributes", "attribute": {"name": "e", "field": "name"}},
    )
    assert t.membership_owner is None


def test_membership_objects_translate_from_group_and_entity_fields() -> None:
    t = _translator(
        [{"name": "cn", "field": "extension"}],
        memberships={
            "attributes": [
                {"name": "group_name", "field": "group.name"},
                {"name": "subject_id", "field": "entity.subject_id", "max_length": 2},
                {"name": "key", "template": "{group_id}/{entity_id}", "create_only": True},
            ],
            "matching": [["group_name", "subject_id"]],
        },
    )
    translation = t.translate(
        [MATH],
        [JO, AL],
        [
            ProvisioningMembership(group_id="g1", entity_id="m1"),
            ProvisioningMembership(group_id="g1", entity_id="m2"),
            ProvisioningMembership(group_id="g9", entity_id="m2"),
        ],
    )
    jo = translation.memberships[("g1", "m1")]
    assert jo.bean == ProvisioningMembership(
        group_id="g1",
        entity_id="m1",
        attributes={"group_name": "school:math:staff", "subject_id": "jo"},
    )
    assert jo.create_only == {"key": "g1/m1"}
    assert translation.membership_errors == {}
    assert translation.skipped_memberships == (("g9", "m2"),)
    with pytest.raises(TypeError, match="'membership_objects' has no membership attribute"):
        t.membership_value(JO)


def test_membership_objects_errors_are_recorded_per_membership() -> None:
    t = _translator(
        [{"name": "cn", "field": "extension"}],
        memberships={
            "attributes": [{"name": "subject_id", "field": "entity.email", "max_length": 5}],
            "matching": ["subject_id"],
        },
    )
    translation = t.translate([MATH], [JO], [ProvisioningMembership(group_id="g1", entity_id="m1")])
    assert [e.code for e in translation.membership_errors[("g1", "m1")]] == [LEN]


def test_normalize_puts_target_beans_into_compare_shape() -> None:
    t = _translator(
        [
            {"name": "cn", "field": "extension", "case_sensitive": False},
            {"name": "gidNumber", "field": "id_index", "value_type": "long"},
            {"name": "flag", "static": True, "value_type": "boolean"},
            {"name": "secret", "static": "x", "select": False},
            {"name": "tags", "field": "tags", "multi_valued": True},
        ],
        memberships=GROUP_ATTRS,
    )
    target = ProvisioningGroup(
        id="cn=Staff,ou=groups",
        attributes={
            "cn": ["Staff"],
            "gidNumber": ["1001"],
            "flag": "TRUE",
            "secret": "hidden",
            "tags": "one",
            "member": "uid=jo,ou=people",
            "objectClass": ["top", "groupOfNames"],
            "weird": ["a", "b"],
        },
    )
    normal = t.from_target(ObjectType.GROUP, target)
    assert normal.attributes == {
        "cn": "Staff",
        "gidNumber": 1001,
        "flag": True,
        "tags": frozenset({"one"}),
        "member": frozenset({"uid=jo,ou=people"}),
        "objectClass": frozenset({"top", "groupOfNames"}),
        "weird": frozenset({"a", "b"}),
    }
    assert t.normalize(ObjectType.GROUP, normal) is normal
    assert t.from_target(ObjectType.GROUP, normal) is normal
    assert t.normalize(ObjectType.GROUP, target).get("secret") == "hidden"
    assert t.compare_form(ObjectType.GROUP, "cn", "STAFF") == t.compare_form(
        ObjectType.GROUP, "cn", "staff"
    )
    assert t.compare_form(ObjectType.GROUP, "objectClass", "Top") == "Top"
    assert t.attribute(ObjectType.GROUP, "member") is not None
    assert t.attribute(ObjectType.GROUP, "nope") is None


def test_normalize_keeps_values_that_do_not_convert() -> None:
    t = _translator(
        [
            {"name": "cn", "field": "extension"},
            {"name": "gidNumber", "field": "id_index", "value_type": "int"},
            {"name": "multi", "field": "x"},
        ]
    )
    normal = t.normalize(
        ObjectType.GROUP,
        ProvisioningGroup(id="x", attributes={"gidNumber": "n/a", "multi": ["a", "b"], "cn": []}),
    )
    assert normal.attributes == {"gidNumber": "n/a", "multi": frozenset({"a", "b"})}


def test_normalize_of_a_translated_bean_is_the_same_bean() -> None:
    t = _translator(
        [
            {"name": "cn", "field": "extension", "case_sensitive": False},
            {"name": "gid", "field": "id_index", "value_type": "long"},
            {"name": "tags", "static": ["b", "a"], "multi_valued": True},
        ]
    )
    bean = t.translate_group(MATH).bean
    assert t.normalize(ObjectType.GROUP, bean) is bean


def test_a_member_value_is_computed_once_per_member() -> None:
    calls: list[str] = []

    def value(ctx: Any) -> object:
        calls.append(ctx.bean.id)
        return ctx.field("subject_id")

    t = _translator(
        [{"name": "cn", "field": "extension"}],
        memberships={
            "type": "group_attributes",
            "attribute": {"name": "member", "function": value},
        },
    )
    other = ProvisioningGroup.from_grouper("g2", "school:other")
    translation = t.translate(
        [MATH, other],
        [JO],
        [ProvisioningMembership(group_id=g, entity_id="m1") for g in ("g1", "g2")],
    )
    assert calls == ["m1"]
    assert translation.groups["g2"].bean.get("member") == frozenset({"jo"})


def test_an_ignored_member_value_is_not_a_membership_value() -> None:
    t = _translator(
        [{"name": "cn", "field": "extension"}],
        memberships={
            "type": "group_attributes",
            "attribute": {"name": "member", "field": "subject_id", "ignore_values": ["jo"]},
        },
    )
    translation = t.translate(
        [MATH], [JO, AL], [ProvisioningMembership(group_id="g1", entity_id=e) for e in ("m1", "m2")]
    )
    assert translation.groups["g1"].bean.get("member") == frozenset({"al"})
    assert translation.value_origin("g1", "jo") == ()


def test_every_error_code_has_a_description() -> None:
    assert [c.value for c in SyncErrorCode] == ["ERR", "INV", "LEN", "REQ", "DNE", "MAT", "MEM"]
    assert SyncErrorCode.LEN.description == "a value is longer than the attribute's max length"
    assert all(c.description for c in SyncErrorCode)


def _member_translator(*, case_sensitive: bool, ignored: bool) -> Translator:
    """Group attributes, ``member`` from subject ids; ``jo`` ignored when *ignored*."""
    attribute: dict[str, Any] = {
        "name": "member",
        "field": "subject_id",
        "case_sensitive": case_sensitive,
    }
    if ignored:
        attribute["ignore_values"] = ["jo"]
    return _translator(
        [{"name": "cn", "field": "extension"}],
        memberships={"type": "group_attributes", "attribute": attribute},
    )


@settings(max_examples=150)
@given(
    values=st.frozensets(
        st.one_of(st.sampled_from(["", "a", "A", "b", "jo", "Jo"]), st.integers(0, 3))
    ),
    forms=st.frozensets(
        st.one_of(st.sampled_from(["", "a", "A", "b", "jo", "Jo"]), st.integers(0, 3))
    ),
    case_sensitive=st.booleans(),
    ignored=st.booleans(),
)
def test_values_among_is_the_value_map_filtered_by_its_forms(
    values: frozenset[str | int],
    forms: frozenset[str | int],
    *,
    case_sensitive: bool,
    ignored: bool,
) -> None:
    """The fast path (case-sensitive strings) and the general one agree with ``value_map``."""
    translator = _member_translator(case_sensitive=case_sensitive, ignored=ignored)
    mapped = translator.value_map(ObjectType.GROUP, "member", values)
    expected = frozenset(v for form, v in mapped.items() if form in forms)
    assert translator.values_among(ObjectType.GROUP, "member", values, forms) == expected


@settings(max_examples=200)
@given(
    values=st.frozensets(
        st.one_of(
            st.sampled_from(["", "a", "A", "b", "jo", "Jo", "JO", "é", "É"]), st.integers(0, 3)
        )
    ),
    case_sensitive=st.booleans(),
    ignored=st.booleans(),
)
def test_value_map_keys_each_value_by_its_form_and_keeps_the_first_of_equals(
    values: frozenset[str | int], *, case_sensitive: bool, ignored: bool
) -> None:
    """Its fast paths (strings, either case rule) give what the rule says, value by value."""
    translator = _member_translator(case_sensitive=case_sensitive, ignored=ignored)

    def form(value: str | int) -> str | int | None:
        if isinstance(value, int):
            return value
        folded = value if case_sensitive else value.casefold()
        return None if value == "" or (ignored and folded == "jo") else folded

    expected: dict[str | int, str | int] = {}
    for value in sorted(values, key=lambda v: (type(v).__name__, str(v))):
        key = form(value)
        if key is not None:
            expected.setdefault(key, value)  # the first in sorted order
    assert translator.value_map(ObjectType.GROUP, "member", values) == expected


_VALUES = st.one_of(
    st.none(),
    st.sampled_from(["", "a", "A", "jo", "Jo", " x "]),
    st.integers(-2, 2),
    st.booleans(),
    st.frozensets(st.one_of(st.sampled_from(["", "a", "A", "Jo"]), st.integers(0, 2)), max_size=3),
)


@settings(max_examples=300)
@given(
    value=_VALUES,
    case_sensitive=st.booleans(),
    multi_valued=st.booleans(),
    ignored=st.booleans(),
    value_type=st.sampled_from(["string", "int", "boolean"]),
)
def test_compare_and_normalize_forms_are_those_of_the_general_rules(
    value: Any, *, case_sensitive: bool, multi_valued: bool, ignored: bool, value_type: str
) -> None:
    """The one-string shortcuts of compare forms and target normalising change nothing."""
    from grouperprov._values import compare_form, convert_scalar  # noqa: PLC0415  # the general rules

    attribute: dict[str, Any] = {
        "name": "title",
        "field": "description",
        "case_sensitive": case_sensitive,
        "multi_valued": multi_valued,
        "value_type": value_type,
    }
    if ignored:
        attribute["ignore_values"] = [{"string": "jo", "int": "1", "boolean": "false"}[value_type]]
    translator = _translator([{"name": "cn", "field": "extension"}, attribute])
    compiled = translator._objects[ObjectType.GROUP].by_name["title"]
    assert compiled.compare(value) == compare_form(
        value, case_sensitive=case_sensitive, ignore=compiled.ignore, multi_valued=multi_valued
    )
    items = (
        []
        if value is None
        else sorted(value, key=repr)
        if isinstance(value, frozenset)
        else [value]
    )
    converted = []
    for item in items:
        try:
            converted.append(convert_scalar(item, compiled.config.value_type))
        except ValueError:
            converted.append(item)
    assert compiled.normalize(value) == compiled._shape(converted)


def test_memberships_of_a_group_not_given_are_skipped_after_their_member_is_known() -> None:
    """The member's value is worked out at its first membership; a later one's group is absent."""
    config = ProvisionerConfig.from_dict(
        {
            "name": "skips",
            "groups": {"attributes": [{"name": "cn", "field": "extension"}], "matching": ["cn"]},
            "entities": {"operate": False},
            "memberships": {
                "type": "group_attributes",
                "attribute": {"name": "member", "field": "subject_id"},
            },
        }
    )
    group = ProvisioningGroup(id="g1", attributes={"extension": "one"})
    entity = ProvisioningEntity(id="e1", attributes={"subject_id": "s1"})
    valueless = ProvisioningEntity(id="e3")  # no subject id: REQ
    memberships = [
        ProvisioningMembership(group_id="g1", entity_id="e1"),
        ProvisioningMembership(group_id="g2", entity_id="e1"),  # no such group given
        ProvisioningMembership(group_id="g1", entity_id="e2"),  # no such entity given
        ProvisioningMembership(group_id="g1", entity_id="e3"),
        ProvisioningMembership(group_id="g2", entity_id="e3"),
    ]
    translation = Translator(config).translate([group], [entity, valueless], memberships)
    assert translation.skipped_memberships == (("g2", "e1"), ("g1", "e2"), ("g2", "e3"))
    ((problem,),) = translation.membership_errors.values()
    assert list(translation.membership_errors) == [("g1", "e3")]
    assert problem.code is REQ
    assert set(translation.membership_values) == {"g1"}
    assert translation.groups["g1"].bean.get("member") == frozenset({"s1"})
