from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

from grouperprov import (
    Capabilities,
    DeletePolicy,
    MembershipType,
    Mode,
    ObjectType,
    Operation,
    ProvisionerConfig,
    SyncRecord,
    compared_config,
    compute_behavior,
    may_delete,
)
from grouperprov.exceptions import ConfigError

ALL = frozenset(Operation)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _record(*, known: bool, inserted: bool) -> SyncRecord:
    return SyncRecord(
        object_type=ObjectType.GROUP,
        grouper_id="g",
        target_id="t",
        provisionable_start=NOW if known else None,
        inserted_by_us=inserted,
    )


# Every combination: policy x record (none, unknown, known, inserted, known+inserted)
# x membership group managed (n/a, yes, no).
@pytest.mark.parametrize("managed", [None, True, False])
@pytest.mark.parametrize(
    ("policy", "record", "allowed"),
    [
        (DeletePolicy.NOT_IN_GROUPER, None, True),
        (DeletePolicy.NOT_IN_GROUPER, _record(known=False, inserted=False), True),
        (DeletePolicy.NOT_IN_GROUPER, _record(known=True, inserted=False), True),
        (DeletePolicy.NOT_IN_GROUPER, _record(known=False, inserted=True), True),
        (DeletePolicy.NOT_IN_GROUPER, _record(known=True, inserted=True), True),
        (DeletePolicy.REMOVED_FROM_GROUPER, None, False),
        (DeletePolicy.REMOVED_FROM_GROUPER, _record(known=False, inserted=False), False),
        (DeletePolicy.REMOVED_FROM_GROUPER, _record(known=True, inserted=False), True),
        (DeletePolicy.REMOVED_FROM_GROUPER, _record(known=False, inserted=True), False),
        (DeletePolicy.REMOVED_FROM_GROUPER, _record(known=True, inserted=True), True),
        (DeletePolicy.INSERTED_BY_US, None, False),
        (DeletePolicy.INSERTED_BY_US, _record(known=False, inserted=False), False),
        (DeletePolicy.INSERTED_BY_US, _record(known=True, inserted=False), False),
        (DeletePolicy.INSERTED_BY_US, _record(known=False, inserted=True), True),
        (DeletePolicy.INSERTED_BY_US, _record(known=True, inserted=True), True),
    ],
)
def test_delete_policy_table(
    policy: DeletePolicy, record: SyncRecord | None, allowed: bool, managed: bool | None
) -> None:
    decision = may_delete(policy, record, in_managed_group=managed)
    expected = allowed and managed is not False
    assert decision.allowed is expected
    assert bool(decision) is expected
    assert decision.reason


def test_delete_reasons_say_which_rule_decided() -> None:
    assert may_delete(DeletePolicy.INSERTED_BY_US, None).reason == (
        "grouperprov did not insert it (delete_policy inserted_by_us)"
    )
    assert may_delete(DeletePolicy.NOT_IN_GROUPER, None, in_managed_group=False).reason == (
        "the membership's group is not provisioned by grouperprov"
    )


def test_a_record_provisionable_now_is_known_to_grouper() -> None:
    record = SyncRecord(object_type=ObjectType.GROUP, grouper_id="g", provisionable=True)
    assert record.known_to_grouper


def _config(**sections: Any) -> ProvisionerConfig:
    data: dict[str, Any] = {
        "name": "b",
        "groups": {"attributes": [{"name": "cn", "field": "extension"}], "matching": ["cn"]},
        "entities": {"operate": False},
        "memberships": {
            "type": "group_attributes",
            "attribute": {"name": "member", "field": "subject_id"},
        },
    }
    data.update(sections)
    return ProvisionerConfig.from_dict(data)


def test_behavior_prefers_bulk_and_falls_back_to_one_by_one() -> None:
    caps = Capabilities(
        ALL - {Operation.INSERT_GROUPS, Operation.DELETE_GROUPS, Operation.DELETE_GROUP}
    )
    behavior = compute_behavior(
        _config(groups={**_config().to_dict()["groups"], "delete": False}), caps
    )
    assert behavior.groups.insert is Mode.ONE_BY_ONE
    assert behavior.groups.update is Mode.BULK
    assert behavior.groups.delete is Mode.OFF
    assert behavior.memberships.insert is Mode.OWNER_UPDATE
    assert behavior.memberships.update is Mode.OFF
    assert behavior.membership_owner is ObjectType.GROUP
    assert behavior.of(ObjectType.ENTITY).operate is False
    assert str(behavior.of(ObjectType.ENTITY)) == "not operated on"
    assert str(behavior) == (
        "membership type: group_attributes on groups\n"
        "groups: select yes, insert one by one, update bulk, delete off "
        "(policy inserted_by_us)\n"
        "entities: not operated on\n"
        "memberships: select yes, insert owner update, update off, delete owner update "
        "(policy inserted_by_us)\n"
        "multi-valued updates: add/remove\n"
        "order: deletes_first, batch size 1000"
    )


def test_behavior_shows_read_only_and_replace_modes() -> None:
    config = _config(read_only=True)
    behavior = compute_behavior(config, Capabilities(ALL, value_changes=False))
    assert str(behavior).endswith(
        "multi-valued updates: replace\norder: deletes_first, batch size 1000, READ ONLY"
    )
    assert Mode.OFF.on is False
    assert Mode.REPLACE.on is True


def test_behavior_refuses_what_the_target_cannot_do_listing_every_problem() -> None:
    caps = Capabilities(frozenset({Operation.INSERT_GROUP}))
    with pytest.raises(ConfigError) as info:
        compute_behavior(_config(), caps)
    assert [str(p) for p in info.value.problems] == [
        (
            "groups.update: the target cannot update groups (it implements neither update_group "
            "nor update_groups); set groups.update = false"
        ),
        (
            "groups.delete: the target cannot delete groups (it implements neither delete_group "
            "nor delete_groups); set groups.delete = false"
        ),
        (
            "groups.select: the target cannot retrieve all groups (retrieve_all_groups); "
            "set groups.select = false to never read them"
        ),
        (
            "memberships.insert: memberships are values of an attribute, so the target must "
            "implement update_group(s) or update_entity(ies) to change them; or turn "
            "memberships.insert off"
        ),
        (
            "memberships.delete: memberships are values of an attribute, so the target must "
            "implement update_group(s) or update_entity(ies) to change them; or turn "
            "memberships.delete off"
        ),
    ]


def test_attributes_the_target_does_not_keep_are_configuration_errors() -> None:
    kept = {
        ObjectType.GROUP: frozenset({"cn", "Description"}),
        ObjectType.ENTITY: frozenset({"uid"}),
        ObjectType.MEMBERSHIP: frozenset({"role"}),
    }
    caps = Capabilities(ALL, attributes=kept)
    groups = {
        "attributes": [
            {"name": "CN", "field": "extension"},  # names compare ignoring case
            {"name": "description", "field": "description"},
            {"name": "gidNumber", "static": 5},
            {"name": "note", "static": "x", "insert": False, "update": False, "select": False},
        ],
        "matching": ["CN"],
    }
    with pytest.raises(ConfigError) as info:
        compute_behavior(_config(groups=groups), caps)
    assert [str(p) for p in info.value.problems] == [
        (
            "groups.attributes[2]: the target keeps no group attribute 'gidNumber' (it keeps:"
            " Description, cn); add it to the target's settings, or remove it here"
        ),
        (
            "memberships.attribute: the target keeps no group attribute 'member' (it keeps:"
            " Description, cn); add it to the target's settings, or remove it here"
        ),
    ]
    entities = {"attributes": [{"name": "uid", "field": "subject_id"}], "matching": ["uid"]}
    objects = {
        "type": "membership_objects",
        "attributes": [
            {"name": "role", "static": "member"},
            {"name": "since", "static": "now"},
        ],
        "matching": ["role"],
    }
    with pytest.raises(ConfigError) as info:
        compute_behavior(_config(entities=entities, memberships=objects), caps)
    assert [p.path for p in info.value.problems] == ["memberships.attributes[1]"]
    entitlements = {
        "type": "entity_attributes",
        "attribute": {"name": "isMemberOf", "field": "name"},
    }
    with pytest.raises(ConfigError, match="entity attribute 'isMemberOf' \\(it keeps: uid\\)"):
        compute_behavior(_config(entities=entities, memberships=entitlements), caps)
    # A type that keeps no attribute says so (it said "(it keeps: )").
    bare = Capabilities(ALL, attributes={ObjectType.MEMBERSHIP: frozenset()})
    with pytest.raises(ConfigError, match=r"membership attribute 'role' \(it keeps none\)"):
        compute_behavior(_config(entities=entities, memberships=objects), bare)
    # Undeclared types take any attribute; types not operated on are not looked at.
    assert compute_behavior(_config(groups=groups), Capabilities(ALL)).groups.operate
    unused = Capabilities(ALL, attributes={ObjectType.ENTITY: frozenset()})
    assert compute_behavior(_config(), unused).groups.operate
    assert caps.keeps(ObjectType.GROUP, "DESCRIPTION")
    assert not caps.keeps(ObjectType.GROUP, "member")
    assert str(caps).endswith(
        "group attributes: Description, cn\nentity attributes: uid\nmembership attributes: role"
    )


def test_membership_objects_behavior_uses_replace_when_that_is_all_there_is() -> None:
    config = _config(
        memberships={
            "attributes": [
                {"name": "g", "field": "group.name"},
                {"name": "u", "field": "entity.subject_id"},
            ],
            "matching": [["g", "u"]],
        }
    )
    only_replace = ALL - {
        Operation.INSERT_MEMBERSHIP,
        Operation.INSERT_MEMBERSHIPS,
        Operation.DELETE_MEMBERSHIP,
        Operation.DELETE_MEMBERSHIPS,
    }
    behavior = compute_behavior(config, Capabilities(only_replace))
    assert (behavior.memberships.insert, behavior.memberships.delete) == (
        Mode.REPLACE,
        Mode.REPLACE,
    )
    with pytest.raises(ConfigError) as info:
        compute_behavior(
            config,
            Capabilities(
                only_replace
                - {
                    Operation.REPLACE_GROUP_MEMBERSHIPS,
                    Operation.RETRIEVE_ALL_MEMBERSHIPS,
                    Operation.UPDATE_MEMBERSHIP,
                    Operation.UPDATE_MEMBERSHIPS,
                }
            ),
        )
    assert [p.path for p in info.value.problems] == [
        "memberships.insert",
        "memberships.update",
        "memberships.delete",
        "memberships.select",
    ]
    assert "nor replace_group_memberships" in info.value.problems[0].message
    assert "nor replace_group_memberships" not in info.value.problems[1].message


def test_entity_attributes_need_entity_updates() -> None:
    config = _config(
        groups={"operate": False},
        entities={"attributes": [{"name": "uid", "field": "subject_id"}], "matching": ["uid"]},
        memberships={
            "type": "entity_attributes",
            "attribute": {"name": "isMemberOf", "field": "name"},
        },
    )
    behavior = compute_behavior(config, Capabilities(ALL))
    assert behavior.membership_owner is ObjectType.ENTITY
    with pytest.raises(ConfigError):
        compute_behavior(
            config, Capabilities(ALL - {Operation.UPDATE_ENTITY, Operation.UPDATE_ENTITIES})
        )


def test_memberships_not_synced_when_the_owner_is_object_only() -> None:
    config = _config(groups={**_config().to_dict()["groups"], "sync_memberships": False})
    behavior = compute_behavior(config, Capabilities(ALL))
    assert behavior.membership_owner is None
    assert behavior.memberships.operate is False


def test_attributes_the_target_compares_ignoring_case_are_compared_so() -> None:
    config = ProvisionerConfig.from_dict(
        {
            "name": "p",
            "groups": {
                "attributes": [
                    {"name": "cn", "field": "extension"},
                    {"name": "owner", "field": "description"},
                ],
                "matching": ["cn"],
            },
            "entities": {
                "attributes": [{"name": "uid", "field": "subject_id"}],
                "matching": ["uid"],
            },
            "memberships": {
                "type": "group_attributes",
                "attribute": {"name": "member", "template": "uid={subject_id|dn},o=x"},
            },
        }
    )
    plain = Capabilities(ALL)
    assert compared_config(config, plain) is config  # nothing declared: as it is
    caps = Capabilities(
        ALL,
        case_insensitive={
            ObjectType.GROUP: frozenset({"Member", "OWNER"}),
            ObjectType.ENTITY: frozenset({"manager"}),
        },
    )
    assert caps.ignores_case(ObjectType.GROUP, "member")
    assert not caps.ignores_case(ObjectType.GROUP, "cn")
    assert not caps.ignores_case(ObjectType.ENTITY, "member")
    assert "group attributes compared ignoring case: Member, OWNER" in str(caps)
    compared = compared_config(config, caps)
    assert compared.memberships.attribute is not None
    assert not compared.memberships.attribute.case_sensitive
    groups = {a.name: a.case_sensitive for a in compared.groups.attributes}
    assert groups == {"cn": True, "owner": False}
    assert [a.case_sensitive for a in compared.entities.attributes] == [True]
    assert config.memberships.attribute is not None
    assert config.memberships.attribute.case_sensitive  # the caller's is unchanged
    # With entity_attributes the value lives on the entity.
    on_people = ProvisionerConfig.from_dict(
        {
            **config.to_dict(),
            "memberships": {
                "type": MembershipType.ENTITY_ATTRIBUTES.value,
                "attribute": {"name": "member", "field": "name"},
            },
        }
    )
    attribute = compared_config(on_people, caps).memberships.attribute
    assert attribute is not None
    assert attribute.case_sensitive  # "member" is declared for groups only
    # Membership objects: their own attributes, by the membership declaration.
    objects = ProvisionerConfig.from_dict(
        {
            **config.to_dict(),
            "memberships": {
                "type": MembershipType.MEMBERSHIP_OBJECTS.value,
                "attributes": [
                    {"name": "g", "field": "group.name"},
                    {"name": "u", "field": "entity.subject_id"},
                ],
                "matching": [["g", "u"]],
            },
        }
    )
    by_rows = attrs.evolve(caps, case_insensitive={ObjectType.MEMBERSHIP: frozenset({"u"})})
    folded = compared_config(objects, by_rows).memberships.attributes
    assert [(a.name, a.case_sensitive) for a in folded] == [("g", True), ("u", False)]


def test_attributes_the_target_maintains_itself_may_be_read_but_not_written() -> None:
    caps = Capabilities(ALL, read_only={ObjectType.ENTITY: frozenset({"memberOf", "entryUUID"})})
    entities = {
        "attributes": [
            {"name": "uid", "field": "subject_id"},
            {"name": "ENTRYUUID"},  # no source: read only (names compare ignoring case)
            {"name": "entryUUID", "field": "id", "insert": False, "update": False},
        ],
        "matching": ["uid"],
    }
    entitlements = {
        "type": "entity_attributes",
        "attribute": {"name": "memberof", "field": "name"},
    }
    with pytest.raises(ConfigError) as info:
        compute_behavior(_config(entities=entities, memberships=entitlements), caps)
    assert [str(p) for p in info.value.problems] == [
        (
            "memberships.attribute: the target maintains the entity attribute 'memberof' itself"
            " and lets nobody write it; to only read it, give it no source (or insert = false and"
            " update = false)"
        )
    ]
    assert not caps.writes(ObjectType.ENTITY, "MEMBEROF")
    assert caps.writes(ObjectType.GROUP, "memberOf")
    assert str(caps).endswith("entity attributes only read: entryUUID, memberOf")
