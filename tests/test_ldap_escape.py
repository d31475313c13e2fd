"""Escaping for LDAP DNs (RFC 4514) and search filters (RFC 4515), and the template escape."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

from grouperprov import (
    ObjectType,
    ProvisionerConfig,
    ProvisioningEntity,
    Translator,
    escape_dn_value,
    escape_filter_value,
)
from grouperprov._ldap_escape import _rebuilt, canonical_dn, split_dn
from grouperprov._sources import Template, TranslationContext


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("plain", "plain"),
        ("a,b+c*)(uid=*", "a\\,b\\+c*)(uid\\=*"),
        ('say "hi"; <now>', 'say \\"hi\\"\\; \\<now\\>'),
        ("#hash", "\\#hash"),
        (" lead and trail ", "\\ lead and trail\\ "),
        ("back\\slash", "back\\\\slash"),
        ("nul\x00", "nul\\00"),
        ("\ttab and newline\n", "\\09tab and newline\\0A"),  # OpenLDAP drops them raw
        ("a\rb\x7f\x1f", "a\\0Db\\7F\\1F"),
    ],
)
def test_dn_values_are_escaped_as_rfc_4514_says(value: str, escaped: str) -> None:
    assert escape_dn_value(value) == escaped


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1))
def test_an_escaped_value_parses_back_as_one_attribute_value(value: str) -> None:
    """Whatever the value, the DN has exactly the RDNs it was built from."""
    dn = f"cn={escape_dn_value(value)},ou=groups,dc=example,dc=edu"
    rdns = parse_dn(dn, escape=False)
    assert len(rdns) == 4  # cn, ou, dc, dc
    assert rdns[0][0] == "cn"


@given(st.text())
def test_filter_values_cannot_add_clauses_or_wildcards(value: str) -> None:
    escaped = escape_filter_value(value)
    assert not set(escaped) & set("*()\x00")
    assert escaped == escape_filter_chars(value)  # the same as ldap3's own rule


def test_a_template_field_can_be_escaped_for_a_dn() -> None:
    config = ProvisionerConfig.from_dict(
        {
            "name": "ldap",
            "groups": {"attributes": [{"name": "cn", "field": "name"}], "matching": ["cn"]},
            "entities": {
                "attributes": [
                    {"name": "dn", "template": "uid={subject_id|dn},ou=people,dc=example,dc=edu"}
                ],
                "matching": ["dn"],
            },
            "memberships": {"operate": False},
        }
    )
    translated = Translator(config).translate_entity(
        ProvisioningEntity.from_grouper("m1", "smith, j")
    )
    assert translated.bean.get("dn") == "uid=smith\\, j,ou=people,dc=example,dc=edu"
    with pytest.raises(ValueError, match="unknown escape 'url'"):
        Template.parse("{name|url}")


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"])), st.text(min_size=1))
def test_split_dn_gives_back_the_values_that_were_escaped(value: str, other: str) -> None:
    dn = f"cn={escape_dn_value(value)}+sn={escape_dn_value(other)},ou=groups,dc=example,dc=edu"
    assert split_dn(dn) == [
        [("cn", value), ("sn", other)],
        [("ou", "groups")],
        [("dc", "example")],
        [("dc", "edu")],
    ]
    assert canonical_dn(dn) == dn


@given(st.text(alphabet='ab =,+\\#"<>;\x00\t\n\x7f2C', max_size=24))
@example("cn=a b,ou=x+sn=c")  # returned as it is
@example("cn=a,ou=b ")  # a trailing space: rebuilt
@example("cn=a=b")  # an "=" in a value: rebuilt
def test_a_dn_returned_as_it_is_is_the_one_the_slow_path_builds(dn: str) -> None:
    """canonical_dn() skips the split for DNs that need no change: only for those."""
    try:
        rebuilt = _rebuilt(dn)
    except ValueError:
        with pytest.raises(ValueError, match=r"DN|backslash|RDN"):
            canonical_dn(dn)
        return
    assert canonical_dn(dn) == rebuilt


def test_spaces_around_separators_are_not_part_of_a_value_but_escaped_ones_are() -> None:
    # RFC 2253 section 4; OpenLDAP stores "uid=a,ou=people,..." for either.
    assert split_dn("uid = a , ou=people, dc=example") == [
        [("uid", "a")],
        [("ou", "people")],
        [("dc", "example")],
    ]
    assert canonical_dn("uid=a, ou=people , dc=x") == "uid=a,ou=people,dc=x"
    assert split_dn("cn=\\ a\\20 ,dc=x") == [[("cn", " a ")], [("dc", "x")]]
    assert canonical_dn("cn=\\20a\\ ,dc=x") == "cn=\\ a\\ ,dc=x"
    assert canonical_dn("cn=a b+sn= c d ,dc=x") == "cn=a b+sn=c d,dc=x"  # inner ones are
    assert split_dn(" ") == []


@given(
    st.lists(st.text(alphabet=st.characters(exclude_categories=["Cs"])), min_size=1, max_size=4),
    st.lists(st.sampled_from(["", " ", "  "]), min_size=12, max_size=12),
)
def test_spaces_around_any_separator_leave_every_escaped_value_as_it_was(
    values: list[str], spaces: list[str]
) -> None:
    pads = iter(spaces)
    dn = ",".join(
        f"{next(pads)}ou{next(pads)}={next(pads)}{escape_dn_value(v)}{next(pads)}"
        if i < 3
        else f"ou={escape_dn_value(v)}"
        for i, v in enumerate(values)
    )
    assert split_dn(dn) == [[("ou", v)] for v in values]
    assert canonical_dn(dn) == ",".join(f"ou={escape_dn_value(v)}" for v in values)


def test_a_dn_template_renders_the_canonical_dn_and_other_values_as_they_are() -> None:
    def render(template: str, subject: str) -> str | None:
        entity = ProvisioningEntity.from_grouper("m1", subject)
        context = TranslationContext(object_type=ObjectType.ENTITY, bean=entity)
        return Template.parse(template).render(context)

    spaced = "uid = {subject_id|dn}, ou=people , dc=example"
    assert render(spaced, "smith, j ") == "uid=smith\\, j\\ ,ou=people,dc=example"
    assert render("{subject_id|dn}", "a b ") == "a b\\ "  # not a DN: as it is
    assert render("cn={subject_id|dn}\\", "x") == "cn=x\\"  # a dangling "\\": nor this
    assert render("uid={subject_id}, ou=people", "a") == "uid=a, ou=people"  # no |dn: text


def test_canonical_dns_compare_equal_across_escapings() -> None:
    assert canonical_dn("uid=o'brien\\2C j,ou=people") == "uid=o'brien\\, j,ou=people"
    assert canonical_dn("cn=caf\\C3\\A9,dc=x") == "cn=café,dc=x"
    assert canonical_dn("cn=a\nb\\09,dc=x") == "cn=a\\0Ab\\09,dc=x"  # control characters: hex
    assert split_dn("") == []
    for bad in ("cn", "cn=a,ou", "cn=a\\"):
        with pytest.raises(ValueError, match=r"DN|backslash|RDN"):
            split_dn(bad)
