"""Cached attribute values: what a record keeps of an object, and the matching ids made of it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from grouperprov import ObjectType, ProvisionerConfig, ProvisioningGroup, SyncRecord
from grouperprov._cache import cached_values, historical_ids
from grouperprov._match import MatchingId
from grouperprov._translate import Translator

NOW = datetime(2026, 12, 6, tzinfo=UTC)


def _translator(**groups: Any) -> Translator:  # config values
    section: dict[str, Any] = {
        "attributes": [
            {"name": "cn", "field": "extension"},
            {"name": "gidNumber", "field": "id_index", "value_type": "int"},
            {"name": "remoteId", "field": "id", "select": False},
        ],
        "matching": ["cn"],
    }
    section.update(groups)
    return Translator(
        ProvisionerConfig.from_dict(
            {
                "name": "p",
                "groups": section,
                "entities": {"operate": False},
                "memberships": {"operate": False},
            }
        )
    )


def _record(grouper_id: str, links: tuple[str | None, ...]) -> SyncRecord:
    return SyncRecord(
        object_type=ObjectType.GROUP, grouper_id=grouper_id, last_sync=NOW, links=links
    )


def _group(**values: Any) -> ProvisioningGroup:  # attribute values
    return ProvisioningGroup(id="t1", attributes=values)


def test_values_are_cached_as_written_else_as_read_else_as_before() -> None:
    names = ("cn", "gidNumber", "description")
    written = _group(cn="staff")
    seen = _group(cn="old", gidNumber=1001)
    assert cached_values(names, written, seen, ("older", "7", "Staff")) == (
        "staff",
        "1001",
        "Staff",
    )
    # Empty values are no values; a configuration that grew has no old value for its new names.
    assert cached_values(names, None, _group(cn="", gidNumber=5), ("x",)) == ("x", "5", None)


def test_a_value_the_target_holds_several_of_is_not_cached() -> None:
    """Only one value is cached: of two, neither can be told to be the object's."""
    names = ("cn",)
    assert cached_values(names, None, _group(cn=frozenset({"a", "b"})), ("before",)) == ("before",)
    assert cached_values(names, None, _group(cn=frozenset({"a"})), ()) == ("a",)


def test_historical_ids_come_from_the_matching_keys_whose_values_are_all_cached() -> None:
    translator = _translator(
        matching=[["cn"], ["cn", "gidNumber"]], cached_attributes=["cn", "gidNumber"]
    )
    records = [
        _record("g1", ("staff", "1001")),
        _record("g2", ("math", None)),  # no number cached: only the cn key
        _record("g3", (None, None)),  # nothing cached: no id at all
        SyncRecord(object_type=ObjectType.ENTITY, grouper_id="e1", last_sync=NOW, links=("x",)),
    ]
    found = historical_ids(translator, ObjectType.GROUP, records)
    assert found == {
        "g1": (MatchingId("cn", ("staff",)), MatchingId("cn+gidNumber", ("staff", 1001))),
        "g2": (MatchingId("cn", ("math",)),),
    }


def test_no_historical_ids_without_a_key_made_of_cached_attributes() -> None:
    translator = _translator(cached_attributes=["gidNumber"])  # matching is by cn
    assert historical_ids(translator, ObjectType.GROUP, [_record("g1", ("1001",))]) == {}


def test_a_cached_value_the_configuration_now_ignores_gives_no_historical_id() -> None:
    """Compared as the target's value would be: an ignored value is no value."""
    translator = _translator(
        attributes=[{"name": "cn", "field": "extension", "ignore_values": ["placeholder"]}],
        cached_attributes=["cn"],
    )
    records = [_record("g1", ("placeholder",)), _record("g2", ("staff",))]
    assert historical_ids(translator, ObjectType.GROUP, records) == {
        "g2": (MatchingId("cn", ("staff",)),)
    }
