"""Hypothesis strategies for provisioning beans and configurations.

Use them to property-test your own translation functions, targets and stores::

    from hypothesis import given
    from grouperprov.testing import strategies as gst

    @given(gst.provisioner_configs())
    def test_my_target_accepts_any_config(config): ...

Needs Hypothesis (``pip install grouperprov[testing]``).
"""

from __future__ import annotations

import string

import attrs
from hypothesis import strategies as st

from grouperprov._beans import (
    AttributeValue,
    ProvisioningEntity,
    ProvisioningGroup,
    ProvisioningMembership,
    Scalar,
)
from grouperprov._config import (
    AttributeConfig,
    CrudOrder,
    DeletePolicy,
    MembershipsConfig,
    MembershipType,
    ObjectConfig,
    ProvisionerConfig,
    ValueType,
)

__all__ = [
    "attribute_configs",
    "attribute_names",
    "attribute_values",
    "grouper_entities",
    "grouper_groups",
    "memberships",
    "provisioner_configs",
    "scalars",
    "target_entities",
    "target_groups",
    "target_memberships",
]

_NAME_CHARS = string.ascii_lowercase + string.digits
_GROUP_FIELDS = ("name", "extension", "display_name", "description", "id")
_ENTITY_FIELDS = ("subject_id", "email", "login_id", "name", "subject_identifier0")


def scalars() -> st.SearchStrategy[Scalar]:
    """Single attribute values: short text (any case), small integers, booleans."""
    return st.one_of(st.text(max_size=8), st.integers(-1000, 1000), st.booleans())


def attribute_values() -> st.SearchStrategy[AttributeValue]:
    """Any attribute value: ``None``, a scalar or a small set of scalars."""
    return st.one_of(st.none(), scalars(), st.frozensets(scalars(), max_size=3))


def attribute_names() -> st.SearchStrategy[str]:
    """Attribute names as targets use them (``cn``, ``gid2``)."""
    return st.text(string.ascii_lowercase, min_size=1, max_size=3).flatmap(
        lambda head: st.text(_NAME_CHARS, max_size=2).map(lambda tail: head + tail)
    )


def _ids(prefix: str) -> st.SearchStrategy[str]:
    return st.integers(0, 10_000).map(lambda n: f"{prefix}{n}")


def _grouper_names() -> st.SearchStrategy[str]:
    part = st.text(string.ascii_lowercase + "-_ .", min_size=1, max_size=6)
    return st.lists(part, min_size=1, max_size=4).map(":".join)


@st.composite
def grouper_groups(draw: st.DrawFn) -> ProvisioningGroup:
    """Grouper-side groups with the standard fields.

    The name ends in the id's number, so groups with different ids have different
    names and extensions, as in Grouper.
    """
    number = draw(st.integers(0, 10_000))
    return ProvisioningGroup.from_grouper(
        f"g{number}",
        f"{draw(_grouper_names())}:grp{number}",
        id_index=draw(st.none() | st.integers(1, 10**9)),
        display_name=draw(st.none() | st.text(max_size=12)),
        description=draw(st.none() | st.text(max_size=20)),
    )


@st.composite
def grouper_entities(draw: st.DrawFn) -> ProvisioningEntity:
    """Grouper-side entities with the standard fields; the subject id follows the id."""
    number = draw(st.integers(0, 10_000))
    return ProvisioningEntity.from_grouper(
        f"m{number}",
        f"{draw(st.text(_NAME_CHARS, max_size=4))}u{number}",
        subject_source_id=draw(st.sampled_from(["ldap", "jdbc", "g:isa"])),
        name=draw(st.none() | st.text(max_size=12)),
        email=draw(st.none() | st.emails()),
        login_id=draw(st.none() | st.text(_NAME_CHARS + "A", max_size=8)),
    )


def memberships(
    group_ids: list[str], entity_ids: list[str]
) -> st.SearchStrategy[list[ProvisioningMembership]]:
    """Distinct memberships among the given group and entity ids."""
    if not group_ids or not entity_ids:
        return st.just([])
    pairs = st.tuples(st.sampled_from(group_ids), st.sampled_from(entity_ids))
    return st.lists(pairs, unique=True, max_size=20).map(
        lambda ps: [ProvisioningMembership(group_id=g, entity_id=e) for g, e in ps]
    )


def _target_attributes() -> st.SearchStrategy[dict[str, AttributeValue]]:
    return st.dictionaries(attribute_names(), attribute_values(), max_size=5)


def target_groups() -> st.SearchStrategy[ProvisioningGroup]:
    """Groups as a target might return them: any attribute names and values."""
    return st.builds(ProvisioningGroup, id=_ids("cn="), attributes=_target_attributes())


def target_entities() -> st.SearchStrategy[ProvisioningEntity]:
    """Entities as a target might return them: any attribute names and values."""
    return st.builds(ProvisioningEntity, id=_ids("uid="), attributes=_target_attributes())


def target_memberships() -> st.SearchStrategy[ProvisioningMembership]:
    """Membership objects as a target might return them (target ids, any attributes)."""
    return st.builds(
        ProvisioningMembership,
        group_id=_ids("cn="),
        entity_id=_ids("uid="),
        attributes=_target_attributes(),
    )


def _field_source(fields: tuple[str, ...]) -> st.SearchStrategy[dict[str, object]]:
    field = st.sampled_from(fields)
    return st.one_of(
        field.map(lambda f: {"field": f}),
        st.tuples(st.text(string.ascii_letters + "=,", max_size=4), field).map(
            lambda t: {"template": f"{t[0]}{{{t[1]}}}"}
        ),
    )


@st.composite
def attribute_configs(  # noqa: D417  # draw is supplied by st.composite, not by callers
    draw: st.DrawFn,
    name: str | None = None,
    *,
    fields: tuple[str, ...] = _GROUP_FIELDS,
    functions: bool = False,
    select_only: bool = True,
    default: bool | None = None,
    well_formed: bool = False,
) -> AttributeConfig:
    """Valid attribute configurations of every shape.

    Args:
        name: The attribute name (drawn when ``None``).
        fields: Grouper fields the sources may read.
        functions: Also draw function sources (the builtin ``str``, by reference).
        select_only: Also draw attributes with no source.
        default: Whether to set a default value (drawn when ``None``).
        well_formed: Only string attributes with no validation, so that Grouper
            data never fails them (for tests of the engine rather than of
            validation).
    """
    value_type = ValueType.STRING if well_formed else draw(st.sampled_from(ValueType))
    multi = draw(st.booleans())
    typed = {
        ValueType.STRING: st.text(max_size=6),
        ValueType.INT: st.integers(-(2**31), 2**31 - 1),
        ValueType.LONG: st.integers(-(2**63), 2**63 - 1),
        ValueType.BOOLEAN: st.booleans(),
    }[value_type]
    sources: list[st.SearchStrategy[dict[str, object]]] = [_field_source(fields)]
    sources.append(
        (st.lists(typed, min_size=1, max_size=3).map(tuple) if multi else typed).map(
            lambda v: {"static": v}
        )
    )
    if functions:
        sources.append(st.just({"function": "builtins:str"}))
    if select_only:
        sources.append(st.just({}))
    source = draw(st.one_of(*sources))
    settings: dict[str, object] = {
        "name": name if name is not None else draw(attribute_names()),
        "value_type": value_type,
        "multi_valued": multi,
        "create_only": draw(st.booleans()),
        "required": False if well_formed else draw(st.booleans()),
        "case_sensitive": draw(st.booleans()),
        "insert": draw(st.booleans()),
        "update": draw(st.booleans()),
        "select": draw(st.booleans()),
        **source,
    }
    if value_type is ValueType.STRING and not well_formed:
        settings["max_length"] = draw(st.none() | st.integers(1, 20))
        settings["valid_pattern"] = draw(st.none() | st.sampled_from([".*", "[a-z]*", ".{0,5}"]))
    settings["ignore_values"] = tuple(draw(st.lists(typed, max_size=2)))
    if default if default is not None else draw(st.booleans()):
        settings["default"] = (
            tuple(draw(st.lists(typed, min_size=1, max_size=2))) if multi else draw(typed)
        )
    return AttributeConfig(**settings)  # type: ignore[arg-type]  # drawn to fit


_MOSTLY_TRUE = st.sampled_from([True, True, True, False])


@st.composite
def _object_configs(
    draw: st.DrawFn,
    fields: tuple[str, ...],
    functions: bool,
    reserved: str | None,
    identifying: tuple[str, ...] | None = None,
) -> ObjectConfig:
    names = draw(
        st.lists(
            attribute_names().filter(lambda n: n not in {reserved, "key"}),
            min_size=1,
            max_size=4,
            unique=True,
        )
    )
    attributes = tuple(
        draw(
            attribute_configs(
                name, fields=fields, functions=functions, well_formed=identifying is not None
            )
        )
        for name in names
    )
    if identifying is not None:
        # A matching key from an identifying field, first, as real provisioners have.
        key = AttributeConfig(
            name="key",
            field=draw(st.sampled_from(identifying)),
            case_sensitive=draw(st.booleans()),
        )
        return ObjectConfig(
            attributes=(key, *attributes),
            matching=(("key",),),
            sync_memberships=draw(_MOSTLY_TRUE),
            insert=draw(_MOSTLY_TRUE),
            update=draw(_MOSTLY_TRUE),
            delete=draw(_MOSTLY_TRUE),
            delete_policy=draw(st.sampled_from(DeletePolicy)),
        )
    single = [
        a.name
        for a in attributes
        if not a.multi_valued and a.select and a.insert and not a.create_only
    ]
    matching: tuple[tuple[str, ...], ...] = ()
    if single:
        keys = st.lists(st.sampled_from(single), min_size=1, max_size=2, unique=True).map(tuple)
        matching = tuple(draw(st.lists(keys, min_size=1, max_size=2, unique=True)))
    search = tuple(draw(st.lists(st.sampled_from(names), max_size=2, unique=True)))
    return ObjectConfig(
        attributes=attributes,
        matching=matching,
        search=search,
        operate=bool(matching),
        sync_memberships=draw(st.booleans()),
        insert=draw(st.booleans()),
        update=draw(st.booleans()),
        delete=draw(st.booleans()),
        delete_policy=draw(st.sampled_from(DeletePolicy)),
    )


@st.composite
def provisioner_configs(  # noqa: D417  # draw is supplied by st.composite, not by callers
    draw: st.DrawFn,
    membership_type: MembershipType | None = None,
    *,
    functions: bool = False,
    realistic: bool = False,
) -> ProvisionerConfig:
    """Valid provisioner configurations.

    Args:
        membership_type: Fix the membership type (drawn when ``None``).
        functions: Also draw function sources.
        realistic: Make the first attribute of each object type a matching key
            from an identifying field (a group's name or id, a subject id) and
            turn most insert/update/delete settings on, as real provisioners
            are; otherwise anything valid is drawn (matching on constants,
            everything off, ...).
    """
    kind = membership_type or draw(st.sampled_from(MembershipType))
    member_attr = "mbr" if kind is not MembershipType.MEMBERSHIP_OBJECTS else None
    groups = draw(
        _object_configs(
            _GROUP_FIELDS,
            functions,
            member_attr,
            ("name", "extension", "id") if realistic else None,
        )
    )
    entities = draw(
        _object_configs(
            _ENTITY_FIELDS, functions, member_attr, ("subject_id", "id") if realistic else None
        )
    )
    if kind is MembershipType.MEMBERSHIP_OBJECTS:
        ms_fields = tuple(f"group.{f}" for f in _GROUP_FIELDS) + tuple(
            f"entity.{f}" for f in _ENTITY_FIELDS
        )
        ms_objects = draw(
            _object_configs(ms_fields, functions, None, ("group.id",) if realistic else None)
        )
        if realistic:
            keys = (
                AttributeConfig(
                    name="gkey", field=draw(st.sampled_from(["group.name", "group.id"]))
                ),
                AttributeConfig(
                    name="ekey", field=draw(st.sampled_from(["entity.subject_id", "entity.id"]))
                ),
            )
            ms_objects = attrs.evolve(
                ms_objects,
                attributes=keys
                + tuple(a for a in ms_objects.attributes if a.name not in {"gkey", "ekey"}),
                matching=(("gkey", "ekey"),),
                operate=True,
            )
        memberships = MembershipsConfig(
            type=kind,
            attributes=ms_objects.attributes,
            matching=ms_objects.matching,
            search=ms_objects.search,
            operate=ms_objects.operate,
            delete_policy=draw(st.sampled_from(DeletePolicy)),
        )
    else:
        owner, other_fields = (
            (groups, _ENTITY_FIELDS)
            if kind is MembershipType.GROUP_ATTRIBUTES
            else (entities, _GROUP_FIELDS)
        )
        source = (
            {
                "field": draw(
                    st.sampled_from(
                        ["id", "name" if kind is MembershipType.ENTITY_ATTRIBUTES else "subject_id"]
                    )
                )
            }
            if realistic
            else draw(_field_source(other_fields))
        )
        attribute = AttributeConfig(
            name="mbr",
            multi_valued=True,
            case_sensitive=draw(st.booleans()),
            max_length=draw(st.none() | st.integers(1, 30)),
            **source,
        )
        memberships = MembershipsConfig(type=kind, attribute=attribute, operate=owner.operate)
    return ProvisionerConfig(
        name=draw(st.text(_NAME_CHARS, min_size=1, max_size=8)),
        groups=groups,
        entities=entities,
        memberships=memberships,
        crud_order=draw(st.sampled_from(CrudOrder)),
        batch_size=draw(st.integers(1, 2000)),
        read_only=draw(st.booleans()),
    )
