from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from grouperprov import GrouperSource, MarkerScope
from grouperprov.testing import InMemorySource

DATA = {
    "subjects": [{"subject_id": "jo", "source": "ldap", "name": "Jo"}, {"subject_id": "al"}],
    "groups": [
        {"name": "apps:ldap:staff", "description": "Staff", "members": ["jo", "al"]},
        {"name": "apps:ldap:admins", "id": "admins-uuid", "members": ["jo"]},
    ],
    "markers": [{"name": "apps:ldap", "provisioner": "p", "scope": "one", "metadata": {"ou": "x"}}],
}


def test_builds_from_data_and_json(tmp_path: Path) -> None:
    path = tmp_path / "campus.json"
    path.write_text(json.dumps(DATA), encoding="utf-8")
    source = InMemorySource.from_json(path)
    assert isinstance(source, GrouperSource)
    snapshot = source.snapshot()
    assert [g.get("name") for g in snapshot.groups] == ["apps:ldap:staff", "apps:ldap:admins"]
    assert snapshot.groups[1].id == "admins-uuid"
    assert snapshot.groups[0].get("description") == "Staff"
    assert {e.get("subject_id") for e in snapshot.entities} == {"jo", "al"}
    assert len(snapshot.memberships) == 3
    (marker,) = snapshot.markers["apps:ldap"]
    assert marker.scope is MarkerScope.ONE
    assert marker.metadata == {"ou": "x"}


def test_targeted_reads_and_changes_are_logged() -> None:
    source = InMemorySource.from_dict(DATA)
    assert [g.id for g in source.retrieve_groups(["admins-uuid", "nope"])] == ["admins-uuid"]
    assert [e.id for e in source.retrieve_entities(["mem-jo"])] == ["mem-jo"]
    assert len(source.retrieve_memberships(["admins-uuid"])) == 1
    before = len(source.changes)
    source.update_group("apps:ldap:staff", description="All staff")
    source.remove_member("apps:ldap:staff", "al")
    source.unmark("apps:ldap", "p")
    source.delete_group("apps:ldap:admins")
    assert [c["event"] for c in source.changes[before:]] == [
        "group_update",
        "membership_delete",
        "marker_delete",
        "group_delete",
    ]
    assert [c["sequence"] for c in source.changes] == list(range(1, len(source.changes) + 1))
    snapshot = source.snapshot()
    assert snapshot.groups[0].get("description") == "All staff"
    assert {e.get("subject_id") for e in snapshot.entities} == {"jo"}
    assert snapshot.markers["apps:ldap"] == ()


def test_a_partial_read_holds_what_it_was_asked_for() -> None:
    source = InMemorySource.from_dict(DATA)
    staff = next(g.id for g in source.snapshot().groups if g.get("name") == "apps:ldap:staff")

    def read(**asked: object) -> tuple[set[tuple[str, str]], set[str], set[str]]:
        part = source.partial_snapshot(**{"groups": (), "members": (), **asked})  # type: ignore[arg-type]  # test input
        return (
            {(m.group_id, m.entity_id) for m in part.memberships},
            {g.id for g in part.groups},
            {e.id for e in part.entities},
        )

    # A member read whole brings every membership of theirs, and those groups.
    assert read(members=["mem-jo"]) == (
        {(staff, "mem-jo"), ("admins-uuid", "mem-jo")},
        {staff, "admins-uuid"},
        {"mem-jo"},
    )
    # A pair brings that membership alone, with its group and its entity.
    assert read(memberships=[("admins-uuid", "mem-jo")]) == (
        {("admins-uuid", "mem-jo")},
        {"admins-uuid"},
        {"mem-jo"},
    )
    # A pair Grouper lacks brings its group (Grouper has it) and no membership.
    assert read(memberships=[("admins-uuid", "mem-al")]) == (set(), {"admins-uuid"}, set())
    # A group read whole brings every member.
    assert read(groups=[staff])[0] == {(staff, "mem-jo"), (staff, "mem-al")}


def test_mistakes_are_refused_clearly() -> None:
    source = InMemorySource.from_dict(DATA)
    with pytest.raises(ValueError, match="group 'apps:ldap:staff' exists already"):
        source.add_group("apps:ldap:staff")
    with pytest.raises(KeyError, match="no subject 'nobody'; add it first"):
        source.add_member("apps:ldap:staff", "nobody")


def test_memberships_come_once_each_in_order_whatever_was_added_and_removed() -> None:
    source = InMemorySource.from_dict(DATA)
    source.add_member("apps:ldap:staff", "jo")  # a member already: still one membership
    source.remove_member("apps:ldap:admins", "jo")
    source.remove_member("apps:ldap:admins", "jo")  # not a member: nothing happens
    source.add_member("apps:ldap:admins", "al")
    pairs = [(m.group_id, m.entity_id) for m in source.snapshot().memberships]
    assert pairs == sorted(pairs)
    assert len(pairs) == len(set(pairs)) == 3
    assert ("admins-uuid", "mem-al") in pairs
    assert ("admins-uuid", "mem-jo") not in pairs
    staff = source.snapshot().groups[0].id
    source.delete_group("apps:ldap:staff")
    assert all(m.group_id != staff for m in source.snapshot().memberships)
    assert source.retrieve_memberships(["admins-uuid"]) == list(source.snapshot().memberships)


def test_a_group_it_does_not_have_is_named() -> None:
    # A bare KeyError('a:b') said nothing of what was missing.
    source = InMemorySource()
    calls: list[Callable[[], None]] = [
        lambda: source.add_member("a:b", "u1"),
        lambda: source.remove_member("a:b", "u1"),
        lambda: source.update_group("a:b", description="d"),
        lambda: source.rename_group("a:b", "a:c"),
    ]
    for call in calls:
        with pytest.raises(KeyError, match="no group 'a:b'; add it first"):
            call()
    with pytest.raises(KeyError, match=r"groups\[1\]: a group needs a name"):
        InMemorySource.from_dict({"groups": [{"name": "a:x"}, {"nam": "a:y"}]})
