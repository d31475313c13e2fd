from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from grouperprov import (
    AttributeConfig,
    CrudOrder,
    DeletePolicy,
    MembershipsConfig,
    MembershipType,
    ObjectConfig,
    ProvisionerConfig,
    SyncErrorCode,
    ValueType,
)
from grouperprov.exceptions import ConfigError, ConfigProblem

LDAP_TOML = """
name = "ldap-groups"

[groups]
matching = ["cn", ["cn", "ou"]]
search = ["cn"]

[[groups.attributes]]
name = "cn"
field = "extension"
case_sensitive = false
max_length = 64
required = true

[[groups.attributes]]
name = "ou"
static = "groups"

[[groups.attributes]]
name = "objectClass"
static = ["top", "groupOfNames"]
multi_valued = true
create_only = true

[[groups.attributes]]
name = "gidNumber"
field = "id_index"
value_type = "long"

[entities]
operate = false

[memberships]
type = "group_attributes"
attribute = { name = "member", template = "uid={subject_id},ou=people", case_sensitive = false }
"""


def _valid(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "p",
        "groups": {"attributes": [{"name": "cn", "field": "extension"}], "matching": ["cn"]},
        "entities": {"operate": False},
        "memberships": {"operate": False},
    }
    data.update(overrides)
    return data


def _problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        ProvisionerConfig.from_dict(data)
    return [str(p) for p in info.value.problems]


def test_toml_config_loads_into_typed_values() -> None:
    config = ProvisionerConfig.from_toml(LDAP_TOML)
    assert config.name == "ldap-groups"
    assert config.groups.matching == (("cn",), ("cn", "ou"))
    cn = config.groups.find_attribute("cn")
    assert cn == AttributeConfig(
        name="cn", field="extension", case_sensitive=False, max_length=64, required=True
    )
    oc = config.groups.find_attribute("objectClass")
    assert oc is not None
    assert oc.static == ("top", "groupOfNames")
    assert oc.create_only
    gid = config.groups.find_attribute("gidNumber")
    assert gid is not None
    assert gid.value_type is ValueType.LONG
    assert config.groups.find_attribute("nope") is None
    assert config.memberships.type is MembershipType.GROUP_ATTRIBUTES
    assert config.memberships.attribute is not None
    assert config.memberships.attribute.name == "member"
    assert not config.entities.operate


def test_config_built_in_python_equals_the_loaded_one() -> None:
    built = ProvisionerConfig(
        name="ldap-groups",
        groups=ObjectConfig(
            attributes=(
                AttributeConfig(
                    name="cn", field="extension", case_sensitive=False, max_length=64, required=True
                ),
                AttributeConfig(name="ou", static="groups"),
                AttributeConfig(
                    name="objectClass",
                    static=("top", "groupOfNames"),
                    multi_valued=True,
                    create_only=True,
                ),
                AttributeConfig(name="gidNumber", field="id_index", value_type=ValueType.LONG),
            ),
            matching=(("cn",), ("cn", "ou")),
            search=("cn",),
        ),
        entities=ObjectConfig(operate=False),
        memberships=MembershipsConfig(
            type=MembershipType.GROUP_ATTRIBUTES,
            attribute=AttributeConfig(
                name="member",
                template="uid={subject_id},ou=people",
                case_sensitive=False,
            ),
        ),
    )
    assert built.problems() == ()
    built.validate()
    assert built == ProvisionerConfig.from_toml(LDAP_TOML)


def test_to_dict_leaves_out_defaults_and_round_trips() -> None:
    config = ProvisionerConfig.from_toml(LDAP_TOML)
    data = config.to_dict()
    assert data["groups"]["matching"] == ["cn", ["cn", "ou"]]
    assert data["groups"]["attributes"][1] == {"name": "ou", "static": "groups"}
    assert data["groups"]["attributes"][2]["static"] == ["top", "groupOfNames"]
    assert data["entities"] == {"operate": False}
    assert data["memberships"]["type"] == "group_attributes"
    assert type(data["memberships"]["type"]) is str
    assert ProvisionerConfig.from_dict(data) == config
    assert ProvisionerConfig.from_dict(data).to_dict() == data


def test_callables_given_in_python_serialise_as_references() -> None:
    from translation_functions import upper_extension  # noqa: PLC0415

    config = ProvisionerConfig.from_dict(
        _valid(
            groups={
                "attributes": [{"name": "cn", "function": upper_extension}],
                "matching": ["cn"],
            }
        )
    )
    data = config.to_dict()
    assert data["groups"]["attributes"][0]["function"] == "translation_functions:upper_extension"
    assert ProvisionerConfig.from_dict(data).to_dict() == data


def test_every_structural_problem_is_reported_at_once_with_its_path() -> None:
    problems = _problems(
        {
            "name": 3,
            "bogus": 1,
            "groups": {
                "matching": ["cn"],
                "atributes": [],
                "attributes": [
                    {"name": "cn", "field": "extension", "max_lenght": 4, "required": "yes"},
                    {"name": "x", "max_length": True, "value_type": "float"},
                    "not a table",
                ],
            },
            "memberships": {"type": "weird", "matching": "cn"},
        }
    )
    assert problems == [
        "name: expected a string, got int 3",
        "groups.attributes[0].required: expected true or false, got str 'yes'",
        "groups.attributes[0].max_lenght: unknown setting (did you mean 'max_length'?)",
        (
            "groups.attributes[1].value_type: expected one of 'string', 'int', 'long', 'boolean', "
            "got str 'float'"
        ),
        "groups.attributes[1].max_length: expected an integer, got bool True",
        "groups.attributes[2]: expected a table of settings, got str 'not a table'",
        "groups.atributes: unknown setting (did you mean 'attributes'?)",
        (
            "memberships.type: expected one of 'membership_objects', 'group_attributes', "
            "'entity_attributes', got str 'weird'"
        ),
        "memberships.matching: expected a list of matching keys, got str 'cn'",
        "bogus: unknown setting",
    ]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"static": {"a": 1}}, "static: expected a string, integer, boolean or a list of them"),
        ({"ignore_values": "x"}, "ignore_values: expected a list of strings, integers or booleans"),
        ({"function": 3}, "function: expected 'package.module:function' or a callable"),
    ],
)
def test_structural_problems_of_special_settings(settings: dict[str, Any], message: str) -> None:
    attribute = {"name": "cn", **settings}
    problems = _problems(_valid(groups={"attributes": [attribute], "matching": ["cn"]}))
    assert problems == [f"groups.attributes[0].{message}, got {_shown(settings)}"]


def _shown(settings: dict[str, Any]) -> str:
    (value,) = settings.values()
    return f"{type(value).__name__} {value!r}"


def test_search_and_matching_shapes_are_checked() -> None:
    problems = _problems(
        _valid(groups={"attributes": [{"name": "cn"}], "matching": [[]], "search": [1]})
    )
    assert problems == [
        (
            "groups.matching: each matching key is an attribute name or a non-empty list of names, "
            "got list []"
        ),
        "groups.search: expected a list of attribute names, got list [1]",
    ]


def test_missing_required_setting() -> None:
    assert _problems({}) == ["name: required setting is missing"]
    assert _problems(_valid(groups={"attributes": [{"field": "x"}]})) == [
        "groups.attributes[0].name: required setting is missing"
    ]


def test_every_semantic_problem_is_reported_at_once_with_its_path() -> None:
    problems = _problems(
        {
            "name": " ",
            "groups": {
                "attributes": [
                    {"name": "cn", "field": "extension", "max_length": -3},
                    {"name": "cn", "field": "a", "template": "{b"},
                    {"name": "tags", "field": "x", "multi_valued": True},
                    {"name": "n", "value_type": "int", "static": "abc", "max_length": 3},
                    {"name": "s", "static": ["a", "b"], "default": "x", "ignore_values": [1]},
                    {"name": "f", "function": "os:nope", "valid_function": "os.path:sep"},
                    {"name": "p", "field": "group.name", "valid_pattern": "("},
                    {"name": "t", "template": "{group.name}"},
                    {"name": "", "value_type": "boolean", "default": "perhaps"},
                    {"name": "pw", "static": "x", "select": False},
                    {"name": "oc", "static": "x", "create_only": True},
                    {"name": "gen", "static": "x", "insert": False},
                ],
                "matching": ["gid", "tags", "pw", "oc", "gen"],
                "search": ["nope"],
            },
            "entities": {},
            "memberships": {"type": "group_attributes"},
        }
    )
    assert problems == [
        "name: must not be empty",
        "groups.attributes[0].max_length: must be a positive integer, got -3",
        "groups.attributes[1].name: duplicate attribute name 'cn' (also attributes[0])",
        (
            "groups.attributes[1]: set at most one of field, static, template, function "
            "(found field, template)"
        ),
        "groups.attributes[1].template: unclosed '{' at position 0 in template '{b'",
        "groups.attributes[3].max_length: applies to string values only, not 'int'",
        "groups.attributes[3].static: cannot convert 'abc' to int (value_type is 'int')",
        "groups.attributes[4].static: a list of values needs multi_valued = true",
        "groups.attributes[5].function: 'os:nope': module 'os' has no attribute 'nope'",
        "groups.attributes[5].valid_function: 'os.path:sep' names a str, not a callable",
        (
            "groups.attributes[6].field: invalid field name 'group.name' "
            "(expected a name such as 'extension')"
        ),
        (
            "groups.attributes[6].valid_pattern: not a valid regular expression: "
            "missing ), unterminated subpattern at position 0"
        ),
        (
            "groups.attributes[7].template: invalid field name 'group.name' "
            "(expected a name such as 'extension')"
        ),
        "groups.attributes[8].name: must not be empty",
        (
            "groups.attributes[8].default: cannot convert 'perhaps' to boolean "
            "(value_type is 'boolean')"
        ),
        "groups.matching[0]: 'gid' is not a configured attribute of groups",
        "groups.matching[1]: 'tags' is multi-valued; a matching attribute must be single-valued",
        (
            "groups.matching[2]: 'pw' has select = false, so its target value is never read "
            "and can never match"
        ),
        "groups.matching[3]: 'oc' is create_only, so it is never compared and can never match",
        (
            "groups.matching[4]: 'gen' has insert = false, so objects grouperprov inserts would "
            "never be found again (set groups.insert = false if the target creates them)"
        ),
        "groups.search[0]: 'nope' is not a configured attribute of groups",
        (
            "entities.matching: at least one matching key is needed to pair Grouper objects with "
            "target objects (or set entities.operate = false)"
        ),
        (
            "memberships.attribute: required when type is 'group_attributes': the multi-valued "
            "attribute on groups that holds memberships (for example 'member')"
        ),
    ]


def test_ignore_values_are_checked_against_the_value_type() -> None:
    problems = _problems(
        _valid(
            groups={
                "attributes": [
                    {"name": "cn", "field": "x", "value_type": "int", "ignore_values": [1, "two"]}
                ],
                "matching": ["cn"],
            }
        )
    )
    assert problems == [
        "groups.attributes[0].ignore_values[1]: cannot convert 'two' to int (value_type is 'int')"
    ]


def test_multi_valued_constants_are_checked_item_by_item() -> None:
    problems = _problems(
        _valid(
            groups={
                "attributes": [
                    {"name": "cn", "field": "x"},
                    {"name": "n", "static": [1, "x"], "multi_valued": True, "value_type": "int"},
                ],
                "matching": ["cn"],
            }
        )
    )
    assert problems == [
        "groups.attributes[1].static[1]: cannot convert 'x' to int (value_type is 'int')"
    ]


def test_membership_settings_must_fit_the_membership_type() -> None:
    problems = _problems(
        _valid(
            memberships={
                "type": "entity_attributes",
                "attributes": [{"name": "x", "field": "y"}],
                "matching": ["x"],
                "search": ["x"],
                "attribute": {
                    "name": "eduPersonEntitlement",
                    "static": "x",
                    "required": True,
                    "create_only": True,
                    "default": "d",
                },
            }
        )
    )
    assert problems == [
        "memberships.attributes: only used with type 'membership_objects', not 'entity_attributes'",
        "memberships.matching: only used with type 'membership_objects', not 'entity_attributes'",
        "memberships.search: only used with type 'membership_objects', not 'entity_attributes'",
        (
            "memberships.type: 'entity_attributes' keeps memberships on entities, so it needs "
            "entities.operate = true (or memberships.operate = false)"
        ),
        (
            "memberships.attribute: needs a field, template or function that computes each "
            "membership's value from the member"
        ),
        "memberships.attribute.required: not meaningful for the membership attribute",
        "memberships.attribute.create_only: not meaningful for the membership attribute",
        "memberships.attribute.default: not meaningful for the membership attribute",
    ]


def test_membership_attribute_may_not_also_be_an_owner_attribute() -> None:
    problems = _problems(
        _valid(
            groups={
                "attributes": [{"name": "cn", "field": "extension"}, {"name": "member"}],
                "matching": ["cn"],
            },
            memberships={"type": "group_attributes", "attribute": {"name": "member"}},
        )
    )
    assert problems == [
        (
            "memberships.attribute: needs a field, template or function that computes each "
            "membership's value from the member"
        ),
        (
            "memberships.attribute.name: 'member' is also configured as groups.attributes[1]; "
            "the membership attribute is filled from memberships only"
        ),
    ]


def test_membership_objects_checks() -> None:
    problems = _problems(
        _valid(
            memberships={
                "attribute": {"name": "member", "field": "x"},
                "attributes": [
                    {"name": "g", "field": "group.name"},
                    {"name": "e", "template": "{entity.subject_id}:{role}"},
                    {"name": "bad", "field": "other.name"},
                ],
            }
        )
    )
    assert problems == [
        (
            "memberships.attribute: only used with type 'group_attributes' or 'entity_attributes' "
            "(membership objects are configured in memberships.attributes)"
        ),
        (
            "memberships.attributes[2].field: invalid field name 'other.name' "
            "(expected a membership field, or 'group.<field>' / 'entity.<field>')"
        ),
        (
            "memberships.matching: at least one matching key is needed to pair Grouper objects "
            "with target objects (or set memberships.operate = false)"
        ),
    ]


def test_membership_attribute_fields_are_plain_member_fields() -> None:
    problems = _problems(
        _valid(
            memberships={"type": "group_attributes", "attribute": {"name": "m", "field": "e.x.y"}}
        )
    )
    assert problems == [
        (
            "memberships.attribute.field: invalid field name 'e.x.y' "
            "(expected a name such as 'extension')"
        )
    ]


def test_a_valid_attribute_types_config_has_no_problems() -> None:
    config = ProvisionerConfig.from_dict(
        _valid(
            memberships={
                "type": "group_attributes",
                "attribute": {"name": "member", "field": "subject_id"},
            }
        )
    )
    assert config.memberships.attribute is not None


def test_python_built_config_with_wrong_types_is_reported_by_path() -> None:
    config = ProvisionerConfig(
        name="p",
        groups=ObjectConfig(
            attributes=(AttributeConfig(name="cn", field="x", max_length="3"),),  # type: ignore[arg-type]
            matching=(("cn",),),
        ),
        entities=ObjectConfig(operate=False),
    )
    assert config.problems() == (
        ConfigProblem("groups.attributes[0].max_length", "expected an integer, got str '3'"),
    )
    with pytest.raises(ConfigError, match=r"1 problem\):\n  groups\.attributes\[0\]\.max_length"):
        config.validate()


def test_not_toml() -> None:
    with pytest.raises(ConfigError) as info:
        ProvisionerConfig.from_toml("name = ")
    (problem,) = info.value.problems
    assert problem.path == ""
    assert problem.message.startswith("not valid TOML: ")
    assert str(problem) == problem.message


def test_load_names_the_file_in_every_problem(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(LDAP_TOML, encoding="utf-8")
    assert ProvisionerConfig.load(good).name == "ldap-groups"
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[groups]\nmatchin = []\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        ProvisionerConfig.load(bad)
    assert [str(p) for p in info.value.problems] == [
        f"{bad}: groups.matchin: unknown setting (did you mean 'matching'?)"
    ]
    broken = tmp_path / "broken.toml"
    broken.write_text("[[[", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        ProvisionerConfig.load(broken)
    assert str(info.value.problems[0]).startswith(f"{broken}: not valid TOML")


def test_a_file_with_a_byte_order_mark_loads_and_one_not_in_utf_8_says_where(
    tmp_path: Path,
) -> None:
    # Found with a file saved by a Windows editor: "Invalid statement (at
    # line 1, column 1)"; and a Latin-1 file raised UnicodeDecodeError.
    marked = tmp_path / "marked.toml"
    marked.write_bytes(b"\xef\xbb\xbf" + LDAP_TOML.encode())
    assert ProvisionerConfig.load(marked).name == "ldap-groups"
    assert ProvisionerConfig.from_toml("\ufeff" + LDAP_TOML).name == "ldap-groups"
    latin = tmp_path / "latin.toml"
    latin.write_bytes(LDAP_TOML.replace('"ldap-groups"', '"caf\u00e9"').encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        ProvisionerConfig.load(latin)
    line = LDAP_TOML[: LDAP_TOML.index("ldap-groups")].count("\n") + 1
    assert [str(p) for p in info.value.problems] == [
        f"{latin}: not UTF-8 text: byte 0xe9 on line {line} (TOML files are UTF-8)"
    ]
    with pytest.raises(TypeError, match="takes TOML text \\(a str\\), not bytes; for a file"):
        ProvisionerConfig.from_toml(LDAP_TOML.encode())  # type: ignore[arg-type]  # refused


def test_config_error_message_lists_every_problem() -> None:
    error = ConfigError([ConfigProblem("a", "x"), ConfigProblem("", "y")])
    assert str(error) == "invalid provisioner configuration (2 problems):\n  a: x\n  y"


def test_find_attribute_on_both_sections() -> None:
    config = ProvisionerConfig.from_dict(
        {
            "name": "p",
            "groups": {"operate": False},
            "entities": {"operate": False},
            "memberships": {
                "attributes": [{"name": "g", "field": "group.name"}],
                "matching": ["g"],
            },
        }
    )
    assert config.memberships.find_attribute("g") == AttributeConfig(name="g", field="group.name")
    assert config.memberships.find_attribute("x") is None
    assert config.groups.find_attribute("g") is None


def test_enum_settings_must_be_strings() -> None:
    problems = _problems(
        _valid(groups={"attributes": [{"name": "cn", "value_type": 3}], "matching": ["cn"]})
    )
    assert problems == [
        (
            "groups.attributes[0].value_type: expected one of 'string', 'int', 'long', 'boolean', "
            "got int 3"
        )
    ]


def test_from_dict_accepts_sections_already_built() -> None:
    groups = ObjectConfig(attributes=(AttributeConfig(name="cn", field="x"),), matching=(("cn",),))
    config = ProvisionerConfig.from_dict(_valid(groups=groups))
    assert config.groups is groups


def test_numbers_out_of_range_are_named_with_their_path() -> None:
    with pytest.raises(ConfigError) as info:
        ProvisionerConfig.from_dict(
            {
                "name": "x",
                "groups": {"operate": False},
                "entities": {"operate": False},
                "memberships": {"operate": False},
                "batch_size": 0,
                "failsafe": {"max_group_percent_removed": 120, "min_group_size": -1},
            }
        )
    assert [(p.path, p.message) for p in info.value.problems] == [
        ("batch_size", "must be a positive integer, got 0"),
        ("failsafe.max_group_percent_removed", "must be a percentage (0 to 100), got 120.0"),
        ("failsafe.min_group_size", "must not be negative, got -1"),
    ]


def test_cached_attributes_are_checked() -> None:
    attributes = [
        {"name": "cn", "field": "extension"},
        {"name": "objectClass", "static": ["top", "groupOfNames"], "multi_valued": True},
        {"name": "gidNumber"},
    ]
    problems = _problems(
        _valid(
            groups={
                "attributes": attributes,
                "matching": ["cn"],
                "cached_attributes": ["cn", "cn", "objectClass", "dn", "gidNumber"],
            }
        )
    )
    assert problems == [
        "groups.cached_attributes: at most 4 attributes are cached, got 5",
        "groups.cached_attributes[1]: 'cn' is listed twice",
        "groups.cached_attributes[2]: 'objectClass' is multi-valued; only one value is cached",
        "groups.cached_attributes[3]: 'dn' is not an attribute of groups",
    ]
    config = ProvisionerConfig.from_dict(
        _valid(
            groups={
                "attributes": attributes,
                "matching": ["cn"],
                "cached_attributes": ["cn", "gidNumber"],
            }
        )
    )
    assert config.groups.cached_attributes == ("cn", "gidNumber")


def test_settings_in_code_take_a_lone_name_as_one_name() -> None:
    """``("cn")`` lacks its comma: it is the name ``cn``, not the letters ``c`` and ``n``.

    Before, ``ObjectConfig(matching=("cn",))`` (a key given as a name, as the
    docstring allows) and ``LdapGroups(attributes=("description"))`` failed far
    from the mistake, naming attributes ``'c'`` or ``'d'``, ``'e'``, ...
    """
    from grouperprov.targets.ldap import LdapEntities, LdapGroups  # noqa: PLC0415
    from grouperprov.targets.sql import ObjectTable  # noqa: PLC0415

    cn = AttributeConfig(name="cn", field="name", ignore_values="x")
    groups = ObjectConfig(attributes=[cn], matching=("cn"), search="cn", cached_attributes="cn")
    assert groups.attributes == (cn,)
    assert groups.matching == (("cn",),)
    assert (groups.search, groups.cached_attributes, cn.ignore_values) == (("cn",), ("cn",), ("x",))
    assert ObjectConfig(matching=["cn", ["cn", "ou"]]).matching == (("cn",), ("cn", "ou"))
    assert MembershipsConfig(matching="g", search=["g"]).matching == (("g",),)
    assert AttributeConfig(name="n", field="id", ignore_values=0).ignore_values == (0,)
    same = ObjectConfig(
        attributes=(cn,), matching=[("cn",)], search=["cn"], cached_attributes=["cn"]
    )
    assert same == groups
    assert hash(same) == hash(groups)  # lists became tuples: frozen settings stay hashable
    ldap = LdapGroups(base_dn="ou=g", attributes=("description"), object_classes="groupOfNames")
    assert (ldap.attributes, ldap.object_classes) == (("description",), ("groupOfNames",))
    assert LdapEntities(base_dn="ou=p", multi_valued="isMemberOf").multi_valued == ("isMemberOf",)
    assert ObjectTable(table="groups", multi_valued="member").multi_valued == ("member",)


def test_config_error_of_text_is_one_problem() -> None:
    # Found by a caller's factory raising ConfigError("..."), as one raises
    # ValueError: the text became a problem per letter ("34 problems").
    error = ConfigError("groups.matching: no attribute 'cn'")
    assert error.problems == (ConfigProblem("", "groups.matching: no attribute 'cn'"),)
    assert str(error) == (
        "invalid provisioner configuration (1 problem):\n  groups.matching: no attribute 'cn'"
    )
    one = ConfigProblem("groups.matching", "no attribute 'cn'")
    assert ConfigError(one).problems == (one,)
    assert ConfigError([one, "a table is missing"]).problems == (
        one,
        ConfigProblem("", "a table is missing"),
    )


def test_settings_built_in_code_of_the_wrong_kind_are_named_with_their_paths() -> None:
    # Found by building configurations in Python as one writes TOML: nested
    # dicts and enum names as text failed validation with AttributeErrors
    # ("'dict' object has no attribute 'attributes'", "'str' object has no
    # attribute 'value'").
    config = ProvisionerConfig(
        name="p",
        groups=ObjectConfig(attributes=[{"name": "cn", "field": "name"}], matching="cn"),  # type: ignore[list-item]
        provisionable={"group_name_pattern": "x"},  # type: ignore[arg-type]
        memberships=MembershipsConfig(type="groupattributes"),
    )
    plain = " (plain data goes through ProvisionerConfig.from_dict)"
    kind = "memberships.type: expected one of 'membership_objects', 'group_attributes',"
    # A dict is named by its kind, not shown: a dict of settings may hold a password.
    assert [str(p) for p in config.problems()] == [
        f"groups.attributes[0]: expected AttributeConfig(...), got dict{plain}",
        f"{kind} 'entity_attributes', got 'groupattributes'",
        f"provisionable: expected ProvisionableConfig(...), got dict{plain}",
    ]
    # Enum settings given as the text that names them are those members.
    named = MembershipsConfig(type="group_attributes", delete_policy="not_in_grouper")
    assert named.type is MembershipType.GROUP_ATTRIBUTES
    assert named.delete_policy is DeletePolicy.NOT_IN_GROUPER
    assert (
        ProvisionerConfig(name="p", crud_order="deletes_first").crud_order
        is CrudOrder.DELETES_FIRST
    )


def test_failing_error_codes_given_in_code_as_text() -> None:
    # failing_error_codes="ERR" was taken for its letters, and validation
    # failed with "'str' object has no attribute 'value'".
    def made(codes: object) -> ProvisionerConfig:
        return ProvisionerConfig(
            name="p",
            failing_error_codes=codes,  # type: ignore[arg-type]  # text, as TOML gives it
            groups=ObjectConfig(operate=False),
            entities=ObjectConfig(operate=False),
            memberships=MembershipsConfig(operate=False),
        )

    assert made("ERR").failing_error_codes == (SyncErrorCode.ERR,)
    assert made(["LEN", "REQ"]).failing_error_codes == (SyncErrorCode.LEN, SyncErrorCode.REQ)
    assert made(["LEN", "REQ"]).problems() == ()
    codes = "'ERR', 'INV', 'LEN', 'REQ', 'DNE', 'MAT', 'MEM'"
    assert [str(p) for p in made(("ERR", "BOGUS")).problems()] == [
        f"failing_error_codes[1]: expected one of {codes}, got 'BOGUS'"
    ]
