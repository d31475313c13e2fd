from __future__ import annotations

import os.path

import pytest

from grouperprov import (
    ObjectType,
    ProvisioningEntity,
    ProvisioningGroup,
    ProvisioningMembership,
    Template,
    TranslationContext,
)
from grouperprov._sources import function_ref_name, resolve_function

GROUP = ProvisioningGroup.from_grouper("g1", "school:math:staff", id_index=7)
ENTITY = ProvisioningEntity.from_grouper("m1", "jo", email="jo@x.edu")


def _ctx() -> TranslationContext:
    membership = ProvisioningMembership(group_id="g1", entity_id="m1", attributes={"role": "r"})
    return TranslationContext(
        object_type=ObjectType.MEMBERSHIP, bean=membership, group=GROUP, entity=ENTITY
    )


def test_context_fields_of_memberships() -> None:
    ctx = _ctx()
    assert ctx.field("group.name") == "school:math:staff"
    assert ctx.field("entity.subject_id") == "jo"
    assert ctx.field("role") == "r"
    assert ctx.field("group_id") == "g1"
    assert ctx.field("entity_id") == "m1"
    assert ctx.field("nothing") is None
    assert ctx.field("other.x") is None


def test_context_id_falls_back_to_the_bean_id() -> None:
    bare = ProvisioningGroup(id="g9")
    ctx = TranslationContext(object_type=ObjectType.GROUP, bean=bare)
    assert ctx.field("id") == "g9"
    assert ctx.field("name") is None
    ctx2 = TranslationContext(
        object_type=ObjectType.MEMBERSHIP, bean=ProvisioningMembership(group_id="g", entity_id="e")
    )
    assert ctx2.field("group.name") is None


def test_template_renders_fields_and_escaped_braces() -> None:
    t = Template.parse("cn={group.extension},ou={{x}}:{entity.subject_id}")
    assert t.fields == ("group.extension", "entity.subject_id")
    assert t.render(_ctx()) == "cn=staff,ou={x}:jo"
    assert Template.parse("plain").render(_ctx()) == "plain"
    assert Template.parse("{group.id_index}").render(_ctx()) == "7"


def test_template_with_a_missing_field_gives_no_value() -> None:
    assert Template.parse("uid={entity.login_id}").render(_ctx()) is None
    empty = ProvisioningGroup(id="g", attributes={"name": ""})
    assert (
        Template.parse("{name}").render(
            TranslationContext(object_type=ObjectType.GROUP, bean=empty)
        )
        is None
    )


def test_template_with_multi_valued_fields() -> None:
    one = ProvisioningGroup(id="g", attributes={"x": ["a"], "y": [True, False]})
    ctx = TranslationContext(object_type=ObjectType.GROUP, bean=one)
    assert Template.parse("{x}").render(ctx) == "a"
    with pytest.raises(ValueError, match="field 'y' has 2 values; a template needs one"):
        Template.parse("{y}").render(ctx)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cn={name", "unclosed '{' at position 3"),
        ("cn={}", "invalid field name '' at position 3"),
        ("{a.b.c}", "invalid field name 'a.b.c'"),
        ("{name!r}", "invalid field name 'name!r'"),
        ("a}b", "single '}' at position 1"),
    ],
)
def test_template_parse_errors_say_where(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("{", r"\{")):
        Template.parse(text)


def test_resolve_function_imports_references() -> None:
    assert resolve_function("os.path:basename") is os.path.basename
    assert resolve_function(len) is len
    assert function_ref_name("a.b:c") == "a.b:c"
    assert function_ref_name(os.path.basename) == "posixpath:basename"


@pytest.mark.parametrize(
    ("ref", "error", "message"),
    [
        ("os.path.basename", ValueError, "expected 'package.module:function'"),
        ("no_such_module_xyz:f", ValueError, "cannot import module 'no_such_module_xyz'"),
        ("os:no_such_thing", ValueError, "module 'os' has no attribute 'no_such_thing'"),
        ("translation_functions:NOT_CALLABLE", TypeError, "names a int, not a callable"),
        (3, TypeError, "expected a callable or 'package.module:function', got 3"),
    ],
)
def test_resolve_function_errors(ref: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        resolve_function(ref)  # type: ignore[arg-type]
