"""The incremental sync: events, non-recalc and recalc actions, thresholds, retries, controls."""

from __future__ import annotations

import json
import zlib
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import attrs
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from grouperprov import (
    Action,
    ChangeEvent,
    EventKind,
    GrouperSnapshot,
    MembershipType,
    ObjectType,
    Operation,
    Provisioner,
    ProvisionerConfig,
    ProvisioningEntity,
    ProvisioningGroup,
    SubjectLinkConfig,
    SyncErrorCode,
    SyncRecord,
    SyncStatus,
    SyncType,
    TranslationContext,
)
from grouperprov._source import read_entities, read_partial
from grouperprov.exceptions import SourceError
from grouperprov.stores import MemorySyncStore
from grouperprov.testing import FailingTarget, InMemorySource, InMemoryTarget
from target_steps import as_a_full_sync_leaves_it, record_facts
from test_provisioner_properties import _config as _property_config

P = "campus-ldap"


def _config(**overrides: Any) -> ProvisionerConfig:
    data: dict[str, Any] = {
        "name": P,
        "groups": {
            "attributes": [{"name": "cn", "field": "extension"}],
            "matching": ["cn"],
        },
        "entities": {"operate": False},
        "memberships": {
            "type": "group_attributes",
            "attribute": {"name": "member", "field": "subject_id"},
        },
    }
    data.update(overrides)
    return ProvisionerConfig.from_dict(data)


def _campus() -> InMemorySource:
    source = InMemorySource()
    for subject in ("u1", "u2", "u3", "u4"):
        source.add_subject(subject)
    source.add_group("apps:ldap:staff")
    source.add_group("other:wiki")
    source.add_member("apps:ldap:staff", "u1")
    source.add_member("apps:ldap:staff", "u2")
    source.add_member("other:wiki", "u1")
    source.mark("apps:ldap", P, scope="sub")
    return source


# People the identity system keeps: the sync neither adds nor removes them.
_PEOPLE_FROM_IDM: dict[str, Any] = {
    "attributes": [{"name": "uid", "field": "subject_id"}],
    "matching": ["uid"],
    "insert": False,
    "delete": False,
}


# Entitlements on people other systems give entitlements too: not_in_grouper
# removes only those of Grouper's groups.
_URN_ENTITLEMENTS_OF_ANY_SYSTEM: dict[str, Any] = {
    "groups": {"operate": False},
    "entities": _PEOPLE_FROM_IDM,
    "memberships": {
        "type": "entity_attributes",
        "delete_policy": "not_in_grouper",
        "attribute": {"name": "ent", "template": "urn:g:{name}"},
    },
}


# Groups not provisioned as objects: each person's isMemberOf lists their groups.
_IS_MEMBER_OF_ON_PEOPLE_FROM_IDM: dict[str, Any] = {
    "groups": {"operate": False},
    "entities": _PEOPLE_FROM_IDM,
    "memberships": {
        "type": "entity_attributes",
        "attribute": {"name": "isMemberOf", "field": "name"},
    },
}


def _provisioner(source: InMemorySource, **kwargs: Any) -> Provisioner:
    target = kwargs.pop("target", None) or InMemoryTarget(id_attributes={"group": "cn"})
    return Provisioner(_config(**kwargs), source, target, MemorySyncStore())


def _synced(source: InMemorySource, **kwargs: Any) -> tuple[Provisioner, int]:
    prov = _provisioner(source, **kwargs)
    assert prov.full_sync().status is SyncStatus.SUCCESS
    return prov, len(source.changes)


def _members(prov: Provisioner, cn: str) -> frozenset[object]:
    target = prov.target
    assert isinstance(target, InMemoryTarget)
    (group,) = [g for g in target.groups.values() if g.get("cn") == cn]
    return group.values("member")


def test_a_third_member_arrives_through_an_event_without_reading_the_target() -> None:
    source = _campus()
    prov, seq = _synced(source)
    source.add_member("apps:ldap:staff", "u3")
    source.add_member("other:wiki", "u3")  # outside the folder: never provisioned
    target = prov.target
    assert isinstance(target, InMemoryTarget)
    target.calls.clear()
    result = prov.incremental_sync(source.events(seq))
    assert result.status is SyncStatus.SUCCESS
    assert result.sync_type is SyncType.INCREMENTAL
    assert _members(prov, "staff") == {"u1", "u2", "u3"}
    assert [g.get("cn") for g in target.groups.values()] == ["staff"]
    # Stateful: the add agreed with the records, so nothing was read from the target.
    assert target.calls == [("update_groups", 1)]
    summary = result.incremental
    assert summary is not None
    assert summary.non_recalc == 1
    assert summary.dropped == {"group not provisioned": 1}
    assert summary.last_sequence == len(source.changes)
    assert prov.store.load(P).provisioner.last_sequence == len(source.changes)
    assert not prov.plan_full().plan.changes  # incremental equals full
    records = prov.store.load(P).records
    staff = next(g.id for g in source.snapshot().groups if g.get("extension") == "staff")
    record = records[(ObjectType.MEMBERSHIP, (staff, "mem-u3"))]
    assert record.in_target
    assert record.inserted_by_us


def test_a_delete_event_removes_the_member_and_a_burst_collapses() -> None:
    source = _campus()
    prov, seq = _synced(source)
    source.remove_member("apps:ldap:staff", "u2")
    source.add_member("apps:ldap:staff", "u4")
    source.remove_member("apps:ldap:staff", "u4")
    source.add_member("apps:ldap:staff", "u4")
    result = prov.incremental_sync(source.events(seq))
    assert result.status is SyncStatus.SUCCESS
    assert _members(prov, "staff") == {"u1", "u4"}
    assert result.incremental is not None
    assert result.incremental.non_recalc == 2  # u2 out, u4 in once
    assert not prov.plan_full().plan.changes


def test_a_member_who_left_and_returns_keeps_the_record_of_when_they_first_joined() -> None:
    """An add for a membership recorded as left is applied as it is, on its old record."""
    source = _campus()
    prov, seq = _synced(source)
    staff = next(g.id for g in source.snapshot().groups if g.get("extension") == "staff")
    key = (ObjectType.MEMBERSHIP, (staff, "mem-u3"))
    source.add_member("apps:ldap:staff", "u3")
    prov.incremental_sync(source.events(seq))
    joined = prov.store.load(P).records[key]
    seq = len(source.changes)
    source.remove_member("apps:ldap:staff", "u3")
    prov.incremental_sync(source.events(seq))
    left = prov.store.load(P).records[key]
    assert not left.in_target
    assert not left.provisionable
    seq = len(source.changes)
    source.add_member("apps:ldap:staff", "u3")
    result = prov.incremental_sync(source.events(seq))
    assert result.incremental is not None
    assert result.incremental.non_recalc == 1
    back = prov.store.load(P).records[key]
    assert back.in_target
    assert back.provisionable
    assert back.provisionable_end is None
    assert back.provisionable_start is not None
    assert joined.provisionable_start is not None
    assert back.provisionable_start > joined.provisionable_start  # it became so again
    assert back.target_id == (staff, "u3")
    assert _members(prov, "staff") == {"u1", "u2", "u3"}
    assert not prov.plan_full().plan.changes


def test_a_renamed_group_is_updated_through_its_cached_link() -> None:
    source = _campus()
    target = InMemoryTarget()  # ids of its own, as a DN or a remote id would be
    prov, seq = _synced(source, target=target)
    (target_id,) = list(target.groups)
    source.rename_group("apps:ldap:staff", "apps:ldap:employees")
    result = prov.incremental_sync(source.events(seq))
    assert result.status is SyncStatus.SUCCESS
    assert list(target.groups) == [target_id]  # updated in place, not re-created
    assert target.groups[target_id].get("cn") == "employees"
    assert result.incremental is not None
    assert len(result.incremental.recalc_groups) == 1
    assert not prov.plan_full().plan.changes


def test_membership_events_past_the_threshold_become_one_group_sync() -> None:
    source = _campus()
    prov, seq = _synced(source, incremental={"group_sync_threshold": 2})
    for subject in ("u3", "u4"):
        source.add_member("apps:ldap:staff", subject)
    source.remove_member("apps:ldap:staff", "u1")
    result = prov.incremental_sync(source.events(seq))
    summary = result.incremental
    assert summary is not None
    staff = next(g.id for g in source.snapshot().groups if g.get("extension") == "staff")
    assert summary.group_syncs == (staff,)
    assert summary.recalc_groups == (staff,)
    assert summary.non_recalc == 0
    assert _members(prov, "staff") == {"u2", "u3", "u4"}
    assert not prov.plan_full().plan.changes


def test_a_heavy_batch_runs_as_a_full_sync() -> None:
    source = _campus()
    prov, seq = _synced(source, incremental={"full_sync_score": 2})
    for subject in ("u3", "u4"):
        source.add_member("apps:ldap:staff", subject)
    source.mark("other", P, scope="sub")
    result = prov.incremental_sync(source.events(seq))
    assert result.sync_type is SyncType.FULL
    assert result.incremental is not None
    assert result.incremental.full_sync == "102 weighted events pass full_sync_score 2"
    assert sorted(str(g.get("cn")) for g in prov.target.groups.values()) == ["staff", "wiki"]  # type: ignore[attr-defined]
    assert prov.store.load(P).provisioner.last_sequence == len(source.changes)


def test_a_failing_object_is_retried_later_and_its_error_clears() -> None:
    source = _campus()
    broken = {"on": True}
    target = InMemoryTarget(
        id_attributes={"group": "cn"},
        fail=lambda op, _bean: broken["on"] and op == "update_groups",
    )
    prov, seq = _synced(source, target=target)
    source.add_member("apps:ldap:staff", "u3")
    failed = prov.incremental_sync(source.events(seq))
    assert failed.status is SyncStatus.ERROR
    staff = next(g.id for g in source.snapshot().groups if g.get("extension") == "staff")
    key = (ObjectType.MEMBERSHIP, (staff, "mem-u3"))
    record = prov.store.load(P).records[key]
    assert record.error_code is SyncErrorCode.ERR
    assert not record.in_target
    broken["on"] = False
    retried = prov.incremental_sync([])  # no new events: the error is retried as a recalc
    assert retried.status is SyncStatus.SUCCESS
    assert retried.incremental is not None
    assert retried.incremental.retried == 1
    record = prov.store.load(P).records[key]
    assert record.error_code is None
    assert record.in_target
    assert _members(prov, "staff") == {"u1", "u2", "u3"}


def test_a_restarted_consumer_resumes_after_the_last_processed_event() -> None:
    source = _campus()
    prov, seq = _synced(source)
    source.add_member("apps:ldap:staff", "u3")
    batch = source.events(seq)
    prov.incremental_sync(batch)
    source.remove_member("apps:ldap:staff", "u3")
    again = prov.incremental_sync([*batch, *source.events(seq + len(batch))])
    assert again.incremental is not None
    assert again.incremental.dropped == {"processed before": 1}
    assert _members(prov, "staff") == {"u1", "u2"}


def test_bad_events_are_kept_in_the_error_queue_and_the_batch_goes_on() -> None:
    source = _campus()
    prov, seq = _synced(source)
    source.add_member("apps:ldap:staff", "u3")
    good = [e.to_dict() for e in source.events(seq)]
    bad = {"sequence": 99, "kind": "membership_add", "occurred": "now"}
    result = prov.incremental_sync([bad, *good])
    assert result.status is SyncStatus.SUCCESS
    assert _members(prov, "staff") == {"u1", "u2", "u3"}
    (kept,) = prov.store.rejected_events(P)
    assert kept.sequence == 99
    assert kept.reason.startswith("group_id: required")
    assert kept.received is not None
    assert prov.store.load(P).provisioner.last_sequence == 99


def test_the_rejected_events_of_a_grouper_message_are_kept_in_the_error_queue() -> None:
    """``parse_grouper_message`` gives them back; the run takes them with the good ones.

    Before, the run took events and plain dicts only: the docs' example
    dropped the rejected events of a message, and nothing kept them.
    """
    from grouperprov import parse_grouper_message  # noqa: PLC0415

    prov, _ = _synced(_campus())
    message = json.dumps(
        {"esbEvent": [{"eventType": "GROUP_RENAMED", "sequenceNumber": 7, "createdOnMicros": 1}]}
    )
    events, rejected = parse_grouper_message(message)
    assert (events, len(rejected)) == ([], 1)
    result = prov.incremental_sync([*events, *rejected])
    assert result.status is SyncStatus.SUCCESS
    (kept,) = prov.store.rejected_events(P)
    assert (kept.sequence, kept.payload) == (7, rejected[0].payload)
    assert kept.reason == "eventType: unknown Grouper event type 'GROUP_RENAMED'"
    assert kept.received is not None
    assert prov.store.load(P).provisioner.last_sequence == 7


def test_events_older_than_the_last_full_sync_are_dropped() -> None:
    source = _campus()
    prov = _provisioner(source)
    old = source.events()
    prov.full_sync()
    target = prov.target
    assert isinstance(target, InMemoryTarget)
    target.calls.clear()
    result = prov.incremental_sync(old)
    assert result.incremental is not None
    assert result.incremental.dropped == {"older than the last full sync": len(old)}
    assert result.incremental.received == len(old)
    assert target.calls == []  # nothing left to do: neither side is read
    assert result.plan is not None
    assert not result.plan.changes


def test_a_control_message_recalculates_a_group_and_is_acknowledged() -> None:
    source = _campus()
    prov, _ = _synced(source)
    target = prov.target
    assert isinstance(target, InMemoryTarget)
    (staff,) = [t for t, g in target.groups.items() if g.get("cn") == "staff"]
    target.groups[staff] = target.groups[staff].with_attributes({"member": frozenset({"u1"})})
    message = prov.request_sync(groups=["apps:ldap:staff"], requested_by="admin")
    assert prov.store.controls(P) == [message]
    result = prov.incremental_sync()
    assert result.status is SyncStatus.SUCCESS
    assert _members(prov, "staff") == {"u1", "u2"}
    assert prov.store.controls(P) == []
    (done,) = prov.store.controls(P, pending=False)
    assert done.acknowledged_at is not None
    assert done.outcome is not None
    assert done.outcome.startswith("SUCCESS")
    with pytest.raises(ValueError, match="needs groups, entities or memberships"):
        prov.request_sync(requested_by="admin")


def test_an_asynchronous_full_sync_only_asks_the_incremental_path() -> None:
    source = _campus()
    prov, _ = _synced(source)
    source.add_member("apps:ldap:staff", "u3")
    source.add_group("apps:ldap:new")
    source.add_member("apps:ldap:new", "u4")
    target = prov.target
    assert isinstance(target, InMemoryTarget)
    before = dict(target.groups)
    result = prov.full_sync(asynchronous=True)
    assert result.message.startswith("asynchronous: recalculation requested")
    assert target.groups == before  # nothing written
    (message,) = prov.store.controls(P)
    assert len(message.groups) == 1
    done = prov.incremental_sync()
    assert done.status is SyncStatus.SUCCESS
    assert not prov.plan_full().plan.changes
    assert prov.full_sync(asynchronous=True).message == "asynchronous: nothing to recalculate"


def test_an_incremental_run_yields_to_a_running_full_sync() -> None:
    source = _campus()
    prov, seq = _synced(source, incremental={"when_busy": "yield"})
    lease = prov.store.acquire_lease(
        P, SyncType.FULL, "someone else", now=prov.clock(), ttl=timedelta(minutes=5)
    )
    assert lease is not None
    source.add_member("apps:ldap:staff", "u3")
    result = prov.incremental_sync(source.events(seq))
    assert result.status is SyncStatus.BUSY
    assert prov.store.load(P).provisioner.last_sequence is None  # nothing consumed
    prov.store.release_lease(lease)
    assert prov.incremental_sync(source.events(seq)).status is SyncStatus.SUCCESS


def test_a_subject_change_recalculates_the_entity() -> None:
    source = _campus()
    for subject in ("u1", "u2", "u3", "u4"):
        source.update_subject(subject, name=subject.upper())
    prov, seq = _synced(
        source,
        memberships={
            "type": "group_attributes",
            "attribute": {"name": "member", "field": "name"},
        },
    )
    source.update_subject("u1", name="Ada")
    result = prov.incremental_sync(source.events(seq))
    assert result.incremental is not None
    assert result.incremental.recalc_entities == ("mem-u1",)
    assert "Ada" in _members(prov, "staff")
    assert not prov.plan_full().plan.changes


def test_a_tripped_failsafe_blocks_incremental_runs_until_approved() -> None:
    source = _campus()
    for subject in ("u3", "u4"):
        source.add_member("apps:ldap:staff", subject)
    prov, seq = _synced(source, failsafe={"max_group_percent_removed": 20})
    for subject in ("u1", "u2", "u3"):
        source.remove_member("apps:ldap:staff", subject)
    assert prov.full_sync().status is SyncStatus.ERROR_FAILSAFE
    source.add_member("apps:ldap:staff", "u1")
    events = source.events(seq)
    blocked = prov.incremental_sync(events)
    assert blocked.status is SyncStatus.ERROR_FAILSAFE
    assert "no event was processed" in blocked.message
    assert _members(prov, "staff") == {"u1", "u2", "u3", "u4"}  # nothing written
    assert prov.store.load(P).provisioner.last_sequence is None  # nothing consumed
    prov.approve_failsafe("jo@example.edu")
    done = prov.incremental_sync(events)
    assert done.status is SyncStatus.SUCCESS, done.summary()
    assert _members(prov, "staff") == {"u1", "u4"}
    assert not prov.plan_full().plan.changes


def test_joining_and_leaving_the_required_group_recalculates_the_member() -> None:
    source = _campus()
    source.add_group("ref:eligible")
    source.add_member("ref:eligible", "u1")
    prov, seq = _synced(source, provisionable={"required_group": "ref:eligible"})
    assert _members(prov, "staff") == {"u1"}
    source.add_member("ref:eligible", "u2")
    source.remove_member("ref:eligible", "u1")
    events = source.events(seq)
    # Events that do not name their group: the source is asked which it is.
    events = [attrs.evolve(e, group_name=None) for e in events]
    result = prov.incremental_sync(events)
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert result.incremental is not None
    assert result.incremental.recalc_entities == ("mem-u1", "mem-u2")
    assert _members(prov, "staff") == {"u2"}
    assert not prov.plan_full().plan.changes


def test_a_rename_of_the_required_group_becomes_a_full_sync() -> None:
    source = _campus()
    source.add_group("ref:eligible")
    source.add_member("ref:eligible", "u1")
    prov, seq = _synced(source, provisionable={"required_group": "ref:eligible"})
    source.rename_group("ref:eligible", "ref:old-eligible")
    result = prov.incremental_sync(source.events(seq))
    assert result.incremental is not None
    assert result.incremental.full_sync == (
        "the required group 'ref:eligible' changed (group_update)"
    )
    assert result.sync_type is SyncType.FULL
    assert _members(prov, "staff") == set()
    assert not prov.plan_full().plan.changes


def _marked(
    lists: dict[str, Sequence[str]], subjects: Sequence[str] = ("u1", "u2")
) -> InMemorySource:
    """*subjects*, the folder ``a`` marked for ``prop``, and the groups of *lists* with members."""
    source = InMemorySource()
    for subject in subjects:
        source.add_subject(subject)
    source.mark("a", "prop", scope="sub")
    for name, members in lists.items():
        source.add_group(name)
        for subject in members:
            source.add_member(name, subject)
    return source


def _synced_prop(
    kind: MembershipType,
    source: InMemorySource,
    target: InMemoryTarget,
    policy: str = "inserted_by_us",
) -> Provisioner:
    """A ``prop`` provisioner of *kind* over *source* and *target*, after a full sync."""
    config = _property_config(kind, policy, require_members=False)
    prov = Provisioner(config, source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    return prov


def _list_only_target(**kwargs: Any) -> InMemoryTarget:
    """Membership objects written only as whole lists; targets ids from ``cn`` and ``uid``."""
    single = {
        Operation.INSERT_MEMBERSHIP,
        Operation.INSERT_MEMBERSHIPS,
        Operation.DELETE_MEMBERSHIP,
        Operation.DELETE_MEMBERSHIPS,
    }
    return InMemoryTarget(
        operations=set(Operation) - single,
        id_attributes={"group": "cn", "entity": "uid"},
        **kwargs,
    )


def _rows(target: InMemoryTarget) -> set[tuple[object, ...]]:
    return {(m.group_id, m.entity_id, m.get("g"), m.get("u")) for m in target.memberships.values()}


@pytest.mark.parametrize(
    "kind", [MembershipType.GROUP_ATTRIBUTES, MembershipType.ENTITY_ATTRIBUTES]
)
def test_a_value_a_replaced_list_adds_is_ours_and_leaves_with_its_membership(
    kind: MembershipType,
) -> None:
    """A target that only replaces whole lists: what the list adds is grouperprov's to remove.

    Under ``inserted_by_us``, a value added by an incremental run through a
    replaced list (``u2`` in ``a:x``'s members, or ``a:x`` in ``u2``'s
    groups) is removed when its membership ends; a value that was in the
    list before grouperprov (another system's) stays. Such an added value
    was once recorded as found, not inserted, and stayed in the target for
    good: a full sync agreed with the records.
    """
    source = _marked({"a:x": ["u1"], "a:y": ["u2"]})
    target = InMemoryTarget(value_changes=False, id_attributes={"group": "cn", "entity": "uid"})
    prov = _synced_prop(kind, source, target)
    # Values another system put there.
    if kind is MembershipType.GROUP_ATTRIBUTES:
        target.groups["a:x"] = target.groups["a:x"].with_attributes({"member": {"u1", "u9"}})
    else:
        target.entities["u2"] = target.entities["u2"].with_attributes({"isMemberOf": {"a:y", "z"}})

    def lists() -> tuple[set[object], set[object]]:
        if kind is MembershipType.GROUP_ATTRIBUTES:
            x, y = target.groups["a:x"], target.groups["a:y"]
            return set(x.values("member")), set(y.values("member"))
        u1, u2 = target.entities["u1"], target.entities["u2"]
        return set(u1.values("isMemberOf")), set(u2.values("isMemberOf"))

    seq = len(source.changes)
    source.add_member("a:x", "u2")
    assert prov.incremental_sync(source.events(seq)).status is SyncStatus.SUCCESS
    added = lists()
    seq = len(source.changes)
    source.remove_member("a:x", "u2")
    assert prov.incremental_sync(source.events(seq)).status is SyncStatus.SUCCESS
    if kind is MembershipType.GROUP_ATTRIBUTES:
        assert added == ({"u1", "u2", "u9"}, {"u2"})
        assert lists() == ({"u1", "u9"}, {"u2"})
    else:
        assert added == ({"a:x"}, {"a:x", "a:y", "z"})
        assert lists() == ({"a:x"}, {"a:y", "z"})
    assert not prov.plan_full().plan.changes


@pytest.mark.parametrize(
    "kind", [MembershipType.GROUP_ATTRIBUTES, MembershipType.ENTITY_ATTRIBUTES]
)
def test_a_replaced_list_that_fails_is_retried_whole(kind: MembershipType) -> None:
    """A replaced list that fails: its memberships and its owner get the error, and are retried.

    ``a:x`` loses ``u2`` and gains ``u3`` (with group attributes), or is
    renamed ``a:z`` (with entity attributes: each member's ``isMemberOf``
    loses the old name and gains the new one). The replace fails; once the
    target heals, one incremental run with no events writes the list. The
    error of a failed replace once went to a membership key that was the
    owner's id, which no record has: nothing was retried, and a renamed
    group's old name stayed in ``isMemberOf`` for good.
    """
    broken = {"on": False}

    def fail(operation: str, _bean: object) -> bool:
        return broken["on"] and operation.startswith("update")

    source = _marked({"a:x": ["u1", "u2"]}, ("u1", "u2", "u3"))
    target = InMemoryTarget(
        value_changes=False, id_attributes={"group": "cn", "entity": "uid"}, fail=fail
    )
    prov = _synced_prop(kind, source, target)
    seq = len(source.changes)
    if kind is MembershipType.GROUP_ATTRIBUTES:
        source.add_member("a:x", "u3")
        source.remove_member("a:x", "u2")
    else:
        source.rename_group("a:x", "a:z")
    broken["on"] = True
    failed = prov.incremental_sync(source.events(seq))
    broken["on"] = False
    assert failed.status is SyncStatus.ERROR
    codes = {k: r.error_code for k, r in prov.store.load("prop").records.items()}
    (group_id,) = [g.id for g in source.snapshot().groups]
    owner = (
        (ObjectType.GROUP, group_id)
        if kind is MembershipType.GROUP_ATTRIBUTES
        else (ObjectType.ENTITY, "mem-u1")
    )
    assert codes[owner] is SyncErrorCode.ERR
    assert prov.incremental_sync([]).status is SyncStatus.SUCCESS
    if kind is MembershipType.GROUP_ATTRIBUTES:
        assert target.groups["a:x"].values("member") == {"u1", "u3"}
    else:
        assert {uid: e.values("isMemberOf") for uid, e in target.entities.items()} == {
            "u1": {"a:z"},
            "u2": {"a:z"},
        }
    assert not prov.plan_full().plan.changes


@pytest.mark.parametrize("policy", ["inserted_by_us", "removed_from_grouper"])
def test_a_renamed_group_s_old_value_stays_recorded_when_its_new_one_cannot_be_written(
    policy: str,
) -> None:
    """A failed list that was only to remove a membership's old value keeps it recorded.

    Found by fuzzing hand edits. The group's object was deleted by hand, and
    the group renamed: its insert failed, so each member's list was to lose
    the old name and gain nothing (the new name waits for the group). That
    list failed too. The membership's record then took the new name, not in
    the target, and no record held the old one: no retry removed it, and
    it stayed for good.
    """
    broken = {"on": False}

    def fail(operation: str, _bean: object) -> bool:
        return broken["on"] and operation in {"insert_groups", "update_entities"}

    source = _marked({"a:x": ["u1"]}, ("u1",))
    target = InMemoryTarget(
        value_changes=False, id_attributes={"group": "cn", "entity": "uid"}, fail=fail
    )
    prov = _synced_prop(MembershipType.ENTITY_ATTRIBUTES, source, target, policy)
    seq = len(source.changes)
    del target.groups["a:x"]  # by hand
    source.rename_group("a:x", "a:z")
    broken["on"] = True
    assert prov.incremental_sync(source.events(seq)).status is SyncStatus.ERROR
    broken["on"] = False
    assert target.entities["u1"].values("isMemberOf") == {"a:x"}
    assert prov.incremental_sync([]).status is SyncStatus.SUCCESS
    assert target.entities["u1"].values("isMemberOf") == {"a:z"}
    assert not prov.plan_full().plan.changes


@pytest.mark.parametrize("policy", ["inserted_by_us", "not_in_grouper"])
@pytest.mark.parametrize("known", [True, False], ids=["member-known", "member-new"])
def test_a_target_that_replaces_membership_lists_keeps_the_other_members(
    known: bool, policy: str
) -> None:
    """Membership objects written only as whole lists: an added member joins the others.

    The target implements ``replace_group_memberships`` and no single
    membership writes. An added membership is recalculated with its whole
    group: recalculated alone (its member already provisioned) or with its
    member (a new one), the list sent had that member only, and the
    group's other members were dropped from it.
    """
    source = _marked({"a:x": [], "a:y": ["u2"]}, ("u1", "u2", "u3"))
    target = _list_only_target()
    prov = _synced_prop(MembershipType.MEMBERSHIP_OBJECTS, source, target, policy)
    for subject in ("u1", "u2" if known else "u3"):  # u1 is new, and a:x empty before it
        seq = len(source.changes)
        source.add_member("a:x", subject)
        result = prov.incremental_sync(source.events(seq))
        assert result.status is SyncStatus.SUCCESS, result.summary()
    assert {(m.get("g"), m.get("u")) for m in target.memberships.values()} == {
        ("a:x", "u1"),
        ("a:x", "u2" if known else "u3"),
        ("a:y", "u2"),
    }
    assert not prov.plan_full().plan.changes


def test_a_replaced_list_is_sent_where_a_rename_in_the_same_run_moved_its_group() -> None:
    """A rename moves the group (its id is its ``cn``); its new list goes to the new id.

    The list was sent to the id the plan had read, which named no group any
    more: nothing was written, the run counted it done, and the old
    member's row stayed until a full sync.
    """
    source = _marked({"a:x": ["u1"], "a:y": ["u1"]})  # u1 stays provisioned, by a:y
    target = _list_only_target()
    prov = _synced_prop(MembershipType.MEMBERSHIP_OBJECTS, source, target)
    seq = len(source.changes)
    source.rename_group("a:x", "a:z")
    source.add_member("a:z", "u2")
    source.remove_member("a:z", "u1")
    assert prov.incremental_sync(source.events(seq)).status is SyncStatus.SUCCESS
    assert _rows(target) == {("a:z", "u2", "a:z", "u2"), ("a:y", "u1", "a:y", "u1")}
    assert not prov.plan_full().plan.changes


def test_a_replaced_list_leaves_out_a_row_whose_entity_insert_failed() -> None:
    """The entity of a new row fails to insert: the row is left out (DNE), the rest is sent.

    It was sent under the entity's Grouper id, a row that named nobody in
    the target, and its record said it was there: nothing retried it.
    """
    broken = {"on": True}

    def fail(operation: str, _bean: object) -> bool:
        return broken["on"] and operation.startswith("insert_entit")

    source = _marked({"a:x": []})
    target = _list_only_target(fail=fail)
    prov = _synced_prop(MembershipType.MEMBERSHIP_OBJECTS, source, target)
    seq = len(source.changes)
    source.add_member("a:x", "u1")
    failed = prov.incremental_sync(source.events(seq))
    assert failed.status is SyncStatus.ERROR
    assert {c.code for c in failed.errors.values()} >= {SyncErrorCode.DNE}
    assert _rows(target) == set()
    broken["on"] = False
    assert prov.incremental_sync([]).status is SyncStatus.SUCCESS
    assert _rows(target) == {("a:x", "u1", "a:x", "u1")}
    assert not prov.plan_full().plan.changes


# -- incremental equals full ------------------------------------------------------

_OK = (SyncStatus.SUCCESS, SyncStatus.WARNING)
SUBJECTS = [f"u{i}" for i in range(4)]
_SourceT = TypeVar("_SourceT", bound=InMemorySource)
FOLDERS = ["a", "a:b", "d"]

_steps = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 5), st.sampled_from(SUBJECTS)),
        st.tuples(st.just("remove"), st.integers(0, 5), st.sampled_from(SUBJECTS)),
        st.tuples(st.just("group"), st.sampled_from(FOLDERS), st.integers(0, 99)),
        st.tuples(st.just("rename"), st.integers(0, 5), st.integers(0, 99)),
        st.tuples(st.just("delete"), st.integers(0, 5), st.just("")),
        st.tuples(st.just("subject"), st.sampled_from(SUBJECTS), st.sampled_from(["x", "y"])),
        st.tuples(st.just("mark"), st.sampled_from(FOLDERS), st.booleans()),
    ),
    max_size=25,
)


def _property_campus(source: _SourceT, start: Sequence[Any]) -> _SourceT:
    """*source* with the properties' subjects, the folder ``a`` marked for ``prop``, and *start*."""
    for subject in SUBJECTS:
        source.add_subject(subject)
    source.mark("a", "prop", scope="sub")
    for step in start:
        _apply_step(source, step)
    return source


def _grouper_lists(
    source: InMemorySource, *, require_members: bool, required: bool
) -> dict[str, set[str]]:
    """Each provisionable group's provisionable members, worked out from Grouper alone.

    Not from the engine's rules: a group is provisionable when a folder
    above it has a marker of ``prop`` (the steps mark whole subtrees); a
    member, when it is in ``d:eligible`` (with *required*); a group is
    left out without members (with *require_members*).
    """
    snapshot = source.snapshot()
    marked = {
        n for n, found in snapshot.markers.items() if any(m.provisioner == "prop" for m in found)
    }
    names = {g.id: str(g.get("name")) for g in snapshot.groups}
    subjects = {e.id: str(e.get("subject_id")) for e in snapshot.entities}

    def provisionable(name: str) -> bool:
        folders = name.split(":")[:-1]
        return any(":".join(folders[:i]) in marked for i in range(1, len(folders) + 1))

    eligible = {
        subjects[m.entity_id] for m in snapshot.memberships if names[m.group_id] == "d:eligible"
    }
    lists: dict[str, set[str]] = {n: set() for n in names.values() if provisionable(n)}
    for m in snapshot.memberships:
        name, subject = names[m.group_id], subjects[m.entity_id]
        if name in lists and (not required or subject in eligible):
            lists[name].add(subject)
    return {n: members for n, members in lists.items() if members or not require_members}


def _target_lists(target: InMemoryTarget, kind: MembershipType) -> dict[str, set[str]]:
    """Each group in *target* by its ``cn``, with its members' subject ids (links undone)."""
    lists: dict[str, set[str]] = {str(g.get("cn")): set() for g in target.groups.values()}

    def subject(value: object) -> str:
        return str(value).removesuffix("@link.example.edu")

    if kind is MembershipType.GROUP_ATTRIBUTES:
        for group in target.groups.values():
            lists[str(group.get("cn"))] |= {subject(v) for v in group.values("member")}
    elif kind is MembershipType.ENTITY_ATTRIBUTES:
        for entity in target.entities.values():
            for name in entity.values("isMemberOf"):
                lists.setdefault(str(name), set()).add(str(entity.get("uid")))
    else:
        for m in target.memberships.values():
            lists.setdefault(str(m.get("g")), set()).add(subject(m.get("u")))
    return lists


def _apply_step(source: InMemorySource, step: tuple[Any, Any, Any]) -> None:
    kind, a, b = step
    names = sorted(str(g.get("name")) for g in source.snapshot().groups)
    if kind == "group":
        name = f"{a}:n{b}"
        if name not in names:
            source.add_group(name)
        return
    if kind == "subject":
        source.update_subject(a, name=b)
        return
    if kind == "mark":
        if b:
            source.mark(a, "prop", scope="sub")
        else:
            source.unmark(a, "prop")
        return
    if not names:
        return
    name = names[a % len(names)]
    if kind == "add":
        source.add_member(name, b)
    elif kind == "remove":
        source.remove_member(name, b)
    elif kind == "delete":
        source.delete_group(name)
    else:
        new = f"{name.rpartition(':')[0]}:r{b}"
        if new not in names:
            source.rename_group(name, new)


@pytest.mark.parametrize("kind", list(MembershipType))
@settings(max_examples=150, deadline=None)
@given(
    start=_steps,
    steps=_steps,
    batches=st.integers(1, 3),
    policy=st.sampled_from(["inserted_by_us", "not_in_grouper", "removed_from_grouper"]),
    require_members=st.booleans(),
    required=st.booleans(),
    value_changes=st.booleans(),
    links=st.booleans(),
)
@example(  # renamed to the name of a group deleted in the same batch, then renamed again
    start=[("group", "a", 0), ("rename", 0, 1), ("group", "a", 0)],
    steps=[("delete", 1, ""), ("rename", 0, 1), ("add", 0, "u0"), ("rename", 0, 0)],
    batches=2,
    policy="inserted_by_us",
    require_members=False,
    required=False,
    value_changes=True,
    links=False,
)
@example(  # the same, with the groups' memberships taken over, then the group deleted
    start=[
        ("group", "a", 0),
        ("add", 0, "u0"),
        ("rename", 0, 0),
        ("group", "a", 0),
        ("add", 0, "u0"),
    ],
    steps=[("delete", 1, ""), ("rename", 0, 0), ("add", 0, "u0"), ("delete", 0, "")],
    batches=2,
    policy="inserted_by_us",
    require_members=False,
    required=False,
    value_changes=True,
    links=False,
)
@example(  # a member of a provisioned group joins the required group
    start=[("group", "a", 1), ("add", 0, "u0"), ("add", 0, "u2")],
    steps=[("add", 1, "u2")],
    batches=1,
    policy="inserted_by_us",
    require_members=False,
    required=True,
    value_changes=True,
    links=False,
)
@example(  # the required group is provisioned too, and its whole lists are replaced
    start=[("mark", "d", True)],
    steps=[("remove", 0, "u0")],
    batches=1,
    policy="inserted_by_us",
    require_members=False,
    required=True,
    value_changes=False,
    links=False,
)
@example(  # a member leaves the required group: a replaced list that drops them
    start=[("group", "a", 0), ("add", 0, "u0")],
    steps=[("remove", 1, "u0")],
    batches=1,
    policy="inserted_by_us",
    require_members=False,
    required=True,
    value_changes=False,
    links=False,
)
@example(  # a member comes back to a group whose list has them already: the entity insert
    start=[("group", "a", 0), ("add", 0, "u0")],
    steps=[("delete", 0, ""), ("group", "a", 0), ("add", 0, "u0"), ("add", 0, "u0")],
    batches=2,
    policy="inserted_by_us",
    require_members=False,
    required=False,
    value_changes=False,
    links=False,
)
@example(  # a member added by its subject link, as the event says
    start=[("group", "a", 0), ("add", 0, "u0")],
    steps=[("add", 0, "u1")],
    batches=1,
    policy="inserted_by_us",
    require_members=False,
    required=False,
    value_changes=True,
    links=True,
)
@example(  # a member a replaced list added leaves: it was taken for another system's
    start=[("group", "a", 0), ("add", 0, "u0")],
    steps=[("add", 0, "u1"), ("remove", 0, "u1")],
    batches=2,
    policy="inserted_by_us",
    require_members=False,
    required=False,
    value_changes=False,
    links=False,
)
def test_incremental_then_full_plans_nothing(  # noqa: PLR0917  # what hypothesis varies
    kind: MembershipType,
    start: list[Any],
    steps: list[Any],
    batches: int,
    policy: str,
    require_members: bool,
    required: bool,
    value_changes: bool,
    links: bool,
) -> None:
    source = InMemorySource()
    for subject in SUBJECTS:
        source.add_subject(subject)
    source.mark("a", "prop", scope="sub")
    config = _property_config(kind, policy, require_members=require_members)
    if links:
        # Members written by their subject links (as LdapTarget.subject_dn gives
        # them): incremental runs once wrote none of them.
        config = _by_links(config)
    if required:
        # Entities must be in d:eligible, whose members the steps add and remove.
        source.add_group("d:eligible")
        for subject in SUBJECTS[:2]:
            source.add_member("d:eligible", subject)
        config = attrs.evolve(
            config, provisionable=attrs.evolve(config.provisionable, required_group="d:eligible")
        )
    for step in start:
        _apply_step(source, step)
    target = InMemoryTarget(value_changes=value_changes)  # False: whole lists replaced
    prov = Provisioner(config, source, target, MemorySyncStore())
    assert prov.full_sync().status in _OK
    seq = len(source.changes)
    size = max(1, len(steps) // batches)
    for index in range(0, len(steps), size):
        for step in steps[index : index + size]:
            _apply_step(source, step)
        events = source.events(seq)
        seq = len(source.changes)
        result = prov.incremental_sync(events)
        assert result.status in _OK, result.summary()  # MEM is a warning
        # The target says what Grouper says (a full sync agreeing is not enough:
        # both once kept a member that a replaced list had added).
        wanted = _grouper_lists(source, require_members=require_members, required=required)
        assert _target_lists(target, kind) == wanted
    plan = prov.plan_full().plan
    assert not plan.changes, plan.summary()
    # The records say what a full sync's say: it changes none of them.
    before = record_facts(prov)
    assert prov.full_sync().status in _OK
    assert record_facts(prov) == before


_RECOVERY_DRAWS: dict[str, st.SearchStrategy[Any]] = {
    "start": _steps,
    "steps": _steps,
    "batches": st.integers(1, 3),
    "policy": st.sampled_from(["inserted_by_us", "not_in_grouper", "removed_from_grouper"]),
    "require_members": st.booleans(),
    "failing": st.sets(st.integers(0, 6), min_size=1, max_size=4),
    "value_changes": st.booleans(),
}
"""What the recovery properties draw (which writes fail: by a checksum of the object)."""


@pytest.mark.parametrize("kind", list(MembershipType))
@settings(max_examples=100, deadline=None)
@example(  # a new group takes the target's group by its name; removing its member fails
    start=[("group", "a:b", 15), ("add", 0, "u0")],
    steps=[("rename", 0, 0), ("group", "a:b", 15)],
    batches=1,
    policy="not_in_grouper",
    require_members=False,
    failing={4},
    value_changes=True,
).via("discovered failure")
@example(  # a membership object's delete fails; its group, deleted anyway, left it named by
    # a new group of the same name: the group now stays while its membership objects do
    start=[("group", "a", 25), ("add", 0, "u3")],
    steps=[("delete", 0, ""), ("group", "a", 25), ("add", 0, "u0")],
    batches=2,
    policy="inserted_by_us",
    require_members=True,
    failing={0},
    value_changes=True,
).via("discovered failure")
@example(  # the rename fails; its retry moves the group, and its membership objects with it
    start=[("group", "a", 27)],
    steps=[("add", 0, "u0"), ("rename", 0, 0)],
    batches=1,
    policy="inserted_by_us",
    require_members=False,
    failing={0},
    value_changes=True,
).via("discovered failure")
@example(  # a target that replaces whole lists: a renamed group's list fails to write
    start=[],
    steps=[("group", "a:b", 5), ("add", 5, "u2"), ("rename", 1, 2)],
    batches=2,
    policy="not_in_grouper",
    require_members=False,
    failing={4},
    value_changes=False,
).via("discovered failure")
@example(  # a row whose delete fails as the rename of its group moves it
    start=[
        ("group", "a", 0),
        ("add", 0, "u0"),
        ("add", 0, "u1"),
        ("group", "a", 1),
        ("add", 1, "u1"),
    ],
    steps=[("remove", 0, "u1"), ("rename", 0, 9)],
    batches=1,
    policy="inserted_by_us",
    require_members=False,
    failing={1},
    value_changes=False,
).via("discovered failure")
@given(**_RECOVERY_DRAWS)
def test_after_a_failing_target_heals_one_incremental_run_converges(  # noqa: PLR0917  # what hypothesis varies
    kind: MembershipType,
    start: list[Any],
    steps: list[Any],
    batches: int,
    policy: str,
    require_members: bool,
    failing: set[int],
    value_changes: bool,
) -> None:
    """Writes fail during the incremental runs; the next run retries every error, and is done.

    The target knows groups and entities by name and subject id, not by
    Grouper's ids; the writes that fail are picked by their object.
    After the target heals, one incremental run with no events retries
    the errors (all younger than ``retry_recent_seconds``): then the
    target says what Grouper says, and a full sync plans nothing and finds
    the records as it would write them. *value_changes* off: the target
    takes whole value lists.
    """
    _heals_after_failures(
        kind, start, steps, batches, policy, require_members, failing, value_changes
    )


_MODES = st.sampled_from(["incremental", "group sync", "request", "diagnostics"])


@pytest.mark.parametrize("kind", list(MembershipType))
@settings(max_examples=100, deadline=None)
@given(**_RECOVERY_DRAWS, modes=st.lists(_MODES, min_size=3, max_size=3))
def test_after_failures_in_group_syncs_and_requests_one_incremental_run_converges(  # noqa: PLR0917  # what hypothesis varies
    kind: MembershipType,
    start: list[Any],
    steps: list[Any],
    batches: int,
    policy: str,
    require_members: bool,
    failing: set[int],
    value_changes: bool,
    modes: list[str],
) -> None:
    """As above, each batch's writes also made by a group sync, a control message or diagnostics.

    Before a batch's incremental run, its touched groups are group-synced
    (or asked for by a control message); or after it, diagnostics of one
    group write what they find. Writes fail in all of them; the healing
    incremental run then leaves the target as Grouper says.
    """
    _heals_after_failures(
        kind, start, steps, batches, policy, require_members, failing, value_changes, modes
    )


def _heals_after_failures(  # noqa: PLR0917  # what the properties vary
    kind: MembershipType,
    start: list[Any],
    steps: list[Any],
    batches: int,
    policy: str,
    require_members: bool,
    failing: set[int],
    value_changes: bool,
    modes: Sequence[str] = (),
) -> None:
    """Writes fail in the runs of *steps* (*modes*: how each batch is run, else incrementally)."""
    broken = {"on": False}

    def fail(_op: str, bean: object) -> bool:
        return broken["on"] and zlib.crc32(repr(bean).encode()) % 7 in failing

    source = _property_campus(InMemorySource(), start)
    target = InMemoryTarget(
        id_attributes={"group": "cn", "entity": "uid"}, fail=fail, value_changes=value_changes
    )
    config = _property_config(kind, policy, require_members=require_members)
    prov = Provisioner(config, source, target, MemorySyncStore())
    assert prov.full_sync().status in _OK
    seq = len(source.changes)
    size = max(1, len(steps) // batches)
    broken["on"] = True
    for batch, index in enumerate(range(0, len(steps), size)):
        for step in steps[index : index + size]:
            _apply_step(source, step)
        mode = modes[batch % len(modes)] if modes else "incremental"
        touched = sorted({str(c["group_id"]) for c in source.changes[seq:] if "group_id" in c})
        known = {
            str(k[1]) for k in prov.store.load(prov.config.name).records if k[0] is ObjectType.GROUP
        }
        ids = [g for g in touched if g in known or g in {x.id for x in source.snapshot().groups}]
        if mode == "group sync" and ids:
            prov.sync_group(*ids)
        elif mode == "request" and ids:
            prov.request_sync(groups=ids, requested_by="test")
        events = source.events(seq)
        seq = len(source.changes)
        summary = prov.incremental_sync(events).incremental
        assert summary is not None
        assert summary.full_sync is None  # no run here is a full sync: its errors wait
        names = sorted(str(g.get("name")) for g in source.snapshot().groups)
        if mode == "diagnostics" and names:
            prov.diagnostics(group=names[0], write=True)
    broken["on"] = False
    result = prov.incremental_sync([])
    assert result.status in _OK, result.summary()
    wanted = _grouper_lists(source, require_members=require_members, required=False)
    assert _target_lists(target, kind) == wanted
    plan = prov.plan_full().plan
    assert not plan.changes, plan.summary()
    before = record_facts(prov)
    assert prov.full_sync().status in _OK
    assert record_facts(prov) == before


def _link(context: TranslationContext) -> str:
    return f"{context.field('subject_id')}@link.example.edu"


def _by_links(config: ProvisionerConfig) -> ProvisionerConfig:
    """*config* with a subject link, which memberships are written by where they can be."""
    ms = config.memberships
    entities = config.entities
    if ms.attribute is not None and ms.type is MembershipType.GROUP_ATTRIBUTES:
        ms = attrs.evolve(ms, attribute=attrs.evolve(ms.attribute, field="subject_link"))
        # The people are the directory's already (Active Directory's): memberships
        # are then applied as their events say, where the links went missing.
        entities = attrs.evolve(entities, operate=False)
    elif ms.type is MembershipType.MEMBERSHIP_OBJECTS:
        linked = [
            attrs.evolve(a, field="entity.subject_link") if a.field == "entity.subject_id" else a
            for a in ms.attributes
        ]
        ms = attrs.evolve(ms, attributes=tuple(linked))
    link = SubjectLinkConfig(function=_link)
    return attrs.evolve(config, entities=entities, memberships=ms, subject_link=link)


class _CountingSource(InMemorySource):
    """Counts the whole snapshots read."""

    def __init__(self) -> None:
        super().__init__()
        self.snapshots = 0

    def snapshot(self) -> GrouperSnapshot:
        self.snapshots += 1
        return super().snapshot()


_part_steps = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 5), st.sampled_from(SUBJECTS)),
        st.tuples(st.just("remove"), st.integers(0, 5), st.sampled_from(SUBJECTS)),
        st.tuples(st.just("group"), st.sampled_from(FOLDERS), st.integers(0, 99)),
        st.tuples(st.just("rename"), st.integers(0, 5), st.integers(0, 99)),
        st.tuples(st.just("delete"), st.integers(0, 5), st.just("")),
        st.tuples(st.just("subject"), st.sampled_from(SUBJECTS), st.sampled_from(["x", "y"])),
    ),
    max_size=25,
)


@pytest.mark.parametrize("kind", list(MembershipType))
@settings(max_examples=150, deadline=None)
@given(
    start=_steps,
    steps=_part_steps,
    batches=st.integers(1, 3),
    policy=st.sampled_from(["inserted_by_us", "not_in_grouper", "removed_from_grouper"]),
    require_members=st.booleans(),
    entities_operated=st.booleans(),
)
def test_recalcs_read_only_their_part_and_equal_full(  # noqa: PLR0917  # what hypothesis varies
    kind: MembershipType,
    start: list[Any],
    steps: list[Any],
    batches: int,
    policy: str,
    require_members: bool,
    entities_operated: bool,
) -> None:
    """Without marker changes, recalcs read part of both sides, and still plan as a full sync.

    With group attributes and entities not operated, a membership's recalc
    reads that membership alone, not its member's other memberships.
    """
    source = _property_campus(_CountingSource(), start)
    target = InMemoryTarget()
    config = _property_config(kind, policy, require_members=require_members)
    if not entities_operated and kind is MembershipType.GROUP_ATTRIBUTES:
        config = attrs.evolve(config, entities=attrs.evolve(config.entities, operate=False))
    prov = Provisioner(config, source, target, MemorySyncStore())
    assert prov.full_sync().status in _OK
    seq = len(source.changes)
    size = max(1, len(steps) // batches)
    for index in range(0, len(steps), size):
        for step in steps[index : index + size]:
            _apply_step(source, step)  # reads snapshots itself
        events = source.events(seq)
        seq = len(source.changes)
        source.snapshots = 0
        target.calls.clear()
        result = prov.incremental_sync(events)
        assert result.status in _OK, result.summary()
        assert source.snapshots == 0
        assert not [c for c in target.calls if c[0].startswith("retrieve_all")], target.calls
    plan = prov.plan_full().plan
    assert not plan.changes, plan.summary()


def test_change_events_of_the_in_memory_source() -> None:
    source = _campus()
    source.rename_group("apps:ldap:staff", "apps:ldap:employees")
    events = source.events(len(source.changes) - 1)
    assert [(e.kind, e.group_name, e.changed, e.old_value) for e in events] == [
        (EventKind.GROUP_UPDATE, "apps:ldap:employees", "name", "apps:ldap:staff")
    ]
    assert all(isinstance(e, ChangeEvent) for e in source.events())


@pytest.mark.parametrize(
    "kind", [MembershipType.MEMBERSHIP_OBJECTS, MembershipType.ENTITY_ATTRIBUTES]
)
def test_non_recalc_actions_of_the_other_membership_types(kind: MembershipType) -> None:
    memberships: dict[str, Any] = {"type": kind.value}
    if kind is MembershipType.ENTITY_ATTRIBUTES:
        memberships["attribute"] = {"name": "isMemberOf", "field": "name"}
    else:
        memberships["attributes"] = [
            {"name": "g", "field": "group.name"},
            {"name": "u", "field": "entity.subject_id"},
        ]
        memberships["matching"] = [["g", "u"]]
    source = _campus()
    source.add_group("apps:ldap:courses")
    source.add_member("apps:ldap:courses", "u3")
    target = InMemoryTarget(id_attributes={"group": "cn", "entity": "uid"})
    prov, seq = _synced(
        source,
        target=target,
        entities={
            "attributes": [{"name": "uid", "field": "subject_id"}],
            "matching": ["uid"],
            "delete": False,  # an entity stays when its last membership goes
        },
        memberships=memberships,
    )
    source.add_member("apps:ldap:courses", "u1")  # u1 is in the target already
    source.remove_member("apps:ldap:staff", "u2")
    target.calls.clear()
    result = prov.incremental_sync(source.events(seq))
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert result.incremental is not None
    assert result.incremental.non_recalc == 2  # one add, one delete
    assert not [name for name, _ in target.calls if name.startswith(("retrieve", "search"))]
    assert not prov.plan_full().plan.changes
    courses = next(g.id for g in source.snapshot().groups if g.get("extension") == "courses")
    record = prov.store.load(P).records[(ObjectType.MEMBERSHIP, (courses, "mem-u1"))]
    assert record.in_target
    assert record.inserted_by_us


def test_with_groups_not_provisioned_membership_events_are_recalculated() -> None:
    """Groups not operated have no records: their events cannot be judged from them."""
    source = _campus()
    target = InMemoryTarget(id_attributes={"entity": "uid"})
    prov, seq = _synced(
        source,
        target=target,
        groups={"operate": False},
        entities={"attributes": [{"name": "uid", "field": "subject_id"}], "matching": ["uid"]},
        memberships={
            "type": "entity_attributes",
            "attribute": {"name": "isMemberOf", "field": "name"},
        },
    )
    source.add_member("apps:ldap:staff", "u3")
    source.add_member("other:wiki", "u2")  # outside the folder: nothing to do
    result = prov.incremental_sync(source.events(seq))
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert result.incremental is not None
    # u3's first membership may make u3 provisionable: u3 is recalculated whole.
    assert "mem-u3" in result.incremental.recalc_entities
    assert result.incremental.recalc_memberships == (("grp-00002", "mem-u2"),)
    assert target.entities["u3"].values("isMemberOf") == {"apps:ldap:staff"}
    assert target.entities["u2"].values("isMemberOf") == {"apps:ldap:staff"}
    assert not prov.plan_full().plan.changes


def test_a_person_s_first_membership_recalculates_the_person_as_a_full_sync_would() -> None:
    """The attributes of a member who becomes provisionable are compared too.

    Found by an adoption fuzzer: a person the identity system made with a
    second uid got their first membership by an event; the recalc of that
    membership added the value, and only the next full sync took the
    second uid away.
    """
    source = _campus()
    target = InMemoryTarget(id_attributes={"entity": "uid"})
    target.insert_entities([ProvisioningEntity(id=u, attributes={"uid": u}) for u in ("u1", "u2")])
    target.seed(
        entities=[ProvisioningEntity(id="u3", attributes={"uid": frozenset({"u3", "u3-old"})})]
    )
    prov, seq = _synced(
        source,
        target=target,
        **_IS_MEMBER_OF_ON_PEOPLE_FROM_IDM,
    )

    def u3() -> ProvisioningEntity:
        return next(e for e in target.entities.values() if "u3" in e.values("uid"))

    assert u3().values("uid") == {"u3", "u3-old"}  # not provisioned yet
    source.add_member("apps:ldap:staff", "u3")
    result = prov.incremental_sync(source.events(seq))
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert u3().values("uid") == {"u3"}
    assert u3().values("isMemberOf") == {"apps:ldap:staff"}
    assert not prov.plan_full().plan.changes


def test_a_delete_that_empties_a_group_recalculates_both_its_entity_and_its_group() -> None:
    # Entities are deleted and groups require members: both rules apply at once.
    source = InMemorySource()
    source.add_subject("u0")
    source.mark("a", "prop", scope="sub")
    source.add_group("a:n0")
    source.add_member("a:n0", "u0")
    config = _property_config(MembershipType.GROUP_ATTRIBUTES, "inserted_by_us", True)
    prov = Provisioner(config, source, InMemoryTarget(), MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    seq = len(source.changes)
    source.remove_member("a:n0", "u0")
    result = prov.incremental_sync(source.events(seq))
    assert result.incremental is not None
    assert result.incremental.recalc_groups == ("grp-00001",)
    assert result.incremental.recalc_entities == ("mem-u0",)
    target = prov.target
    assert isinstance(target, InMemoryTarget)
    assert target.groups == {}
    assert target.entities == {}
    assert not prov.plan_full().plan.changes


def test_an_asynchronous_full_sync_finds_deleted_groups_through_records() -> None:
    """A group gone from Grouper is asked for by its Grouper id; one no record links is left."""
    source = _campus()
    source.add_group("apps:ldap:gone")
    source.add_member("apps:ldap:gone", "u3")
    groups = {
        "attributes": [{"name": "cn", "field": "extension"}],
        "matching": ["cn"],
        "delete_policy": "not_in_grouper",
    }
    prov, _ = _synced(source, groups=groups)
    target = prov.target
    assert isinstance(target, InMemoryTarget)
    (gone_id,) = [g.id for g in source.snapshot().groups if g.get("name") == "apps:ldap:gone"]
    source.delete_group("apps:ldap:gone")
    (stray,) = target.insert_groups([ProvisioningGroup(id="stray", attributes={"cn": "stray"})])
    assert stray.ok
    before = dict(target.groups)
    result = prov.full_sync(asynchronous=True)
    assert target.groups == before  # nothing written
    (message,) = prov.store.controls(P)
    assert result.message == (
        f"asynchronous: recalculation requested ({message.id});"
        " 1 target objects no Grouper object is linked to are left for a synchronous full sync"
    )
    assert message.groups == (gone_id,)  # through its record, not its target id
    assert prov.incremental_sync().status is SyncStatus.SUCCESS
    assert sorted(str(g.get("cn")) for g in target.groups.values()) == ["staff", "stray"]
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert sorted(str(g.get("cn")) for g in target.groups.values()) == ["staff"]


def test_an_asynchronous_full_sync_of_membership_objects_converges() -> None:
    """A membership alone, a membership gone (through its record), an entity, an error.

    Before, a membership object's change was left out of the request (the
    run said "nothing to recalculate"), and a deleted one was asked for by
    its target id, which no Grouper membership has: neither was ever done.
    """
    source = _campus()
    source.add_group("apps:ldap:extra")
    source.add_member("apps:ldap:extra", "u1")
    config: dict[str, Any] = {
        "groups": {
            "attributes": [
                {"name": "cn", "field": "extension"},
                {"name": "size", "field": "description", "value_type": "int"},
            ],
            "matching": ["cn"],
        },
        "entities": {"attributes": [{"name": "uid", "field": "subject_id"}], "matching": ["uid"]},
        "memberships": {
            "type": "membership_objects",
            "attributes": [
                {"name": "group_cn", "field": "group.extension"},
                {"name": "uid", "field": "entity.subject_id"},
            ],
            "matching": [["group_cn", "uid"]],
        },
    }
    target = InMemoryTarget(id_attributes={"group": "cn", "entity": "uid"})
    prov, _ = _synced(source, target=target, **config)
    source.add_member("apps:ldap:extra", "u2")  # a membership alone: both ends are there
    source.remove_member("apps:ldap:staff", "u1")  # a membership gone
    source.add_member("apps:ldap:staff", "u3")  # u3 is new to the target
    broken = source.add_group("apps:ldap:broken", description="not a number").id  # INV
    source.add_member("apps:ldap:broken", "u2")  # in error too: its group cannot be inserted
    snapshot = source.snapshot()
    ids = {str(g.get("name")): g.id for g in snapshot.groups}
    people = {str(e.get("subject_id")): e.id for e in snapshot.entities}
    result = prov.full_sync(asynchronous=True)
    assert result.message.startswith("asynchronous: recalculation requested")
    (message,) = prov.store.controls(P)
    assert set(message.memberships) == {
        (ids["apps:ldap:extra"], people["u2"]),
        (ids["apps:ldap:staff"], people["u1"]),  # its Grouper id, from its record
        (ids["apps:ldap:staff"], people["u3"]),
        (broken, people["u2"]),
    }
    assert message.entities == (people["u3"],)
    assert message.groups == (broken,)
    assert prov.incremental_sync().status is SyncStatus.WARNING  # the group in error
    left = prov.plan_full().plan
    assert left.changes == ()
    assert {e.object_id for e in left.errors} == {broken, (broken, people["u2"])}


def test_an_asynchronous_full_sync_asks_for_a_replaced_list_through_its_group() -> None:
    """A target that only replaces whole membership lists: the group is recalculated."""
    source = _campus()
    config: dict[str, Any] = {
        "entities": {"attributes": [{"name": "uid", "field": "subject_id"}], "matching": ["uid"]},
        "memberships": {
            "type": "membership_objects",
            "attributes": [{"name": "uid", "field": "entity.subject_id"}],
            "matching": [["uid"]],
        },
    }
    writes = {Operation.INSERT_MEMBERSHIPS, Operation.DELETE_MEMBERSHIPS}
    single = {Operation.INSERT_MEMBERSHIP, Operation.DELETE_MEMBERSHIP}
    target = InMemoryTarget(
        id_attributes={"group": "cn", "entity": "uid"},
        operations=frozenset(Operation) - writes - single,
    )
    prov, _ = _synced(source, target=target, **config)
    source.remove_member("apps:ldap:staff", "u2")
    planned = prov.plan_full().plan
    assert Action.REPLACE in {c.action for c in planned.changes}  # and u2 is deleted
    staff = next(g.id for g in source.snapshot().groups if g.get("name") == "apps:ldap:staff")
    prov.full_sync(asynchronous=True)
    (message,) = prov.store.controls(P)
    assert (message.groups, message.memberships) == ((staff,), ())
    assert prov.incremental_sync().status is SyncStatus.SUCCESS
    assert prov.plan_full().plan.changes == ()


def test_an_asynchronous_full_sync_removes_member_values_through_their_owner() -> None:
    """A member value no membership is behind is asked for through its group.

    Before, nothing was asked for it, and the value stayed in the target.
    """
    source = _campus()
    prov, _ = _synced(source)
    source.remove_member("apps:ldap:staff", "u2")
    (staff,) = [g.id for g in source.snapshot().groups if g.get("name") == "apps:ldap:staff"]
    assert prov.full_sync(asynchronous=True).message.startswith("asynchronous: recalculation")
    (message,) = prov.store.controls(P)
    assert (message.groups, message.memberships) == ((staff,), ())
    assert prov.incremental_sync().status is SyncStatus.SUCCESS
    assert _members(prov, "staff") == {"u1"}
    assert prov.plan_full().plan.changes == ()


def test_a_full_sync_control_message_runs_a_full_sync_through_the_incremental_path() -> None:
    source = _campus()
    prov, _ = _synced(source)
    source.add_member("apps:ldap:staff", "u3")  # no event is handed in: only a full sync sees it
    message = prov.request_sync(full=True, requested_by="cron")
    result = prov.incremental_sync([])
    assert result.status is SyncStatus.SUCCESS
    assert result.sync_type is SyncType.FULL
    summary = result.incremental
    assert summary is not None
    assert summary.full_sync == f"requested by cron ({message.id})"
    assert summary.controls == (message.id,)
    assert _members(prov, "staff") == {"u1", "u2", "u3"}
    (done,) = prov.store.controls(P, pending=False)
    assert done.id == message.id
    assert done.acknowledged_at is not None


def test_events_of_privilege_lists_are_dropped_with_their_list_named() -> None:
    source = _campus()
    prov, seq = _synced(source)
    source.add_member("apps:ldap:staff", "u3")
    (added,) = source.events(seq)
    admins = attrs.evolve(added, field="admins")  # u3 became an admin, not a member
    result = prov.incremental_sync([admins])
    summary = result.incremental
    assert summary is not None
    assert summary.dropped == {"privilege list 'admins'": 1}
    assert _members(prov, "staff") == {"u1", "u2"}


def test_older_errors_are_retried_less_often_and_never_after_a_full_sync_saw_them() -> None:
    """Every run while young; then once a quarter of their age has passed; a full sync ends it."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    now = [start]
    broken = {"on": False}
    source = _campus()
    target = InMemoryTarget(
        id_attributes={"group": "cn"}, fail=lambda op, _bean: broken["on"] and op == "insert_groups"
    )
    prov = Provisioner(_config(), source, target, MemorySyncStore(), clock=lambda: now[0])
    assert prov.full_sync().status is SyncStatus.SUCCESS
    seq = len(source.changes)
    source.add_group("apps:ldap:new")
    source.add_member("apps:ldap:new", "u1")
    broken["on"] = True

    def retried(minutes: int, events: Sequence[ChangeEvent] = ()) -> int:
        now[0] = start + timedelta(minutes=minutes)
        summary = prov.incremental_sync(list(events)).incremental
        assert summary is not None
        return summary.retried

    assert retried(1, source.events(seq)) == 0  # the error happens (the group and its member)
    assert retried(2) == 2  # younger than retry_recent_seconds (10 minutes): every run
    assert retried(13) == 2  # 12 minutes old, last tried 11 minutes ago: due (a quarter is 3)
    assert retried(14) == 0  # 13 minutes old, tried a minute ago: not yet
    assert retried(17) == 2  # tried 4 minutes ago, a quarter of 16 minutes: due again
    now[0] = start + timedelta(minutes=20)
    assert prov.full_sync().status is SyncStatus.ERROR  # the full sync tries it too
    broken["on"] = False
    assert retried(21) == 0  # the last full sync saw it: left for the next one
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert {str(g.get("cn")) for g in target.groups.values()} == {"staff", "new"}


def _failing_deletes(
    kind: str, broken: dict[str, bool], *, entity: str | None = None
) -> tuple[Provisioner, InMemorySource]:
    """apps:ldap:staff with u0 and u1, synced; deletes of *kind* fail while *broken* is on.

    With *entity*, only the deletes of objects that name that entity fail.

    Groups are known to the target by name, memberships by (group name,
    subject id): neither by Grouper's ids, as with most targets.
    """
    source, _ = _two_members("apps:ldap:staff")
    target = InMemoryTarget(
        id_attributes={"group": "cn", "entity": "uid"},
        fail=lambda op, bean: (
            broken["on"]
            and op == f"delete_{kind}"
            and (entity is None or getattr(bean, "entity_id", None) == entity)
        ),
    )
    config = ProvisionerConfig.from_dict(
        {
            "name": P,
            "groups": {"attributes": [{"name": "cn", "field": "name"}], "matching": ["cn"]},
            "entities": {
                "attributes": [{"name": "uid", "field": "subject_id"}],
                "matching": ["uid"],
            },
            "memberships": {
                "type": "membership_objects",
                "attributes": [
                    {"name": "g", "field": "group.name"},
                    {"name": "u", "field": "entity.subject_id"},
                ],
                "matching": [["g", "u"]],
            },
            "provisionable": {"groups_require_members": True},
        }
    )
    prov = Provisioner(config, source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    return prov, source


def _record_of(prov: Provisioner, object_type: ObjectType, grouper_id: object) -> SyncRecord:
    store = prov.store
    assert isinstance(store, MemorySyncStore)
    return store.load(prov.config.name).records[(object_type, grouper_id)]


def test_a_failed_delete_of_a_membership_grouper_dropped_is_recorded_and_retried() -> None:
    """The delete goes to the membership as the target knows it; its error, to the record.

    The target knows the membership by (group name, subject id), so the
    delete was made under that id and its error was kept under it: the
    membership's record said "in the target, no error", nothing retried
    it, and the membership stayed until the next full sync. Found by a
    fuzzer that makes target writes fail.
    """
    broken = {"on": False}
    prov, source = _failing_deletes("memberships", broken)
    staff = source.snapshot().groups[0].id
    seen = len(source.changes)
    source.remove_member("apps:ldap:staff", "u1")
    broken["on"] = True
    assert prov.incremental_sync(source.events(seen)).status is SyncStatus.ERROR
    record = _record_of(prov, ObjectType.MEMBERSHIP, (staff, "mem-u1"))
    assert (record.provisionable, record.in_target, record.error_code) == (
        False,
        True,
        SyncErrorCode.ERR,
    )
    # u1 is in no group now, but stays while a membership object names them.
    person = _record_of(prov, ObjectType.ENTITY, "mem-u1")
    assert (person.in_target, person.error_code) == (True, SyncErrorCode.ERR)
    assert person.error_message is not None
    assert "a membership object of it was not deleted" in person.error_message
    target = prov.target
    assert isinstance(target, InMemoryTarget)
    assert "u1" in target.entities
    broken["on"] = False
    summary = prov.incremental_sync([]).incremental
    assert summary is not None
    assert summary.retried == 2  # the membership and its entity
    record = _record_of(prov, ObjectType.MEMBERSHIP, (staff, "mem-u1"))
    assert (record.in_target, record.error_code) == (False, None)
    assert "u1" not in target.entities
    assert not prov.plan_full().plan.changes


def test_a_group_grouper_deleted_keeps_its_failed_delete_error_until_a_retry_deletes_it() -> None:
    """Failed twice (the second time its record says "not provisionable" already), then done.

    The group is deleted under its name, the target's id; its record is
    under Grouper's id. The error went to neither before: a second
    failure was not recorded either, as the record was no longer
    provisionable, and nothing retried the delete.
    """
    broken = {"on": False}
    prov, source = _failing_deletes("groups", broken)
    staff = source.snapshot().groups[0].id
    seen = len(source.changes)
    source.delete_group("apps:ldap:staff")
    broken["on"] = True
    assert prov.incremental_sync(source.events(seen)).status is SyncStatus.ERROR
    first = _record_of(prov, ObjectType.GROUP, staff)
    assert (first.provisionable, first.in_target, first.error_code) == (
        False,
        True,
        SyncErrorCode.ERR,
    )
    summary = prov.incremental_sync([]).incremental
    assert summary is not None
    assert summary.retried == 1
    again = _record_of(prov, ObjectType.GROUP, staff)
    assert (again.in_target, again.error_code) == (True, SyncErrorCode.ERR)
    assert again.error_time == first.error_time  # the same error, still failing
    broken["on"] = False
    summary = prov.incremental_sync([]).incremental
    assert summary is not None
    assert summary.retried == 1
    done = _record_of(prov, ObjectType.GROUP, staff)
    assert (done.in_target, done.error_code) == (False, None)
    assert not prov.plan_full().plan.changes


def test_a_group_left_out_whose_delete_fails_has_the_retried_error_not_mem() -> None:
    """Its last member left (groups_require_members): MEM, and the delete failed: ERR.

    The record said MEM only, which is not retried (a data error), and
    the group stayed in the target until the next full sync. The
    target's failure comes first; once the delete is done, MEM again.
    """
    broken = {"on": False}
    prov, source = _failing_deletes("groups", broken)
    staff = source.snapshot().groups[0].id
    seen = len(source.changes)
    source.remove_member("apps:ldap:staff", "u0")
    source.remove_member("apps:ldap:staff", "u1")
    broken["on"] = True
    assert prov.incremental_sync(source.events(seen)).status is SyncStatus.ERROR
    record = _record_of(prov, ObjectType.GROUP, staff)
    assert (record.provisionable, record.in_target, record.error_code) == (
        False,
        True,
        SyncErrorCode.ERR,
    )
    broken["on"] = False
    summary = prov.incremental_sync([]).incremental
    assert summary is not None
    assert summary.retried == 1
    record = _record_of(prov, ObjectType.GROUP, staff)
    assert (record.in_target, record.error_code) == (False, SyncErrorCode.MEM)
    assert not prov.plan_full().plan.changes


def test_a_membership_event_grouper_no_longer_agrees_with_is_recalculated_not_applied() -> None:
    """The event's group is gone by the time it is processed: nothing is written for it."""
    source = _campus()
    extra = source.add_group("apps:ldap:extra").id
    prov, seq = _synced(source)
    source.add_member("apps:ldap:extra", "u3")
    (added,) = source.events(seq)
    source.delete_group("apps:ldap:extra")  # its event is not handed in (yet)
    target = prov.target
    assert isinstance(target, InMemoryTarget)
    before = (dict(target.groups), dict(target.memberships))
    result = prov.incremental_sync([added])
    assert result.status is SyncStatus.SUCCESS
    summary = result.incremental
    assert summary is not None
    assert summary.non_recalc == 0
    assert summary.recalc_memberships == ((extra, "mem-u3"),)
    assert result.plan is not None
    assert result.plan.changes == ()
    assert (dict(target.groups), dict(target.memberships)) == before


@pytest.mark.parametrize(
    "kind", [MembershipType.GROUP_ATTRIBUTES, MembershipType.MEMBERSHIP_OBJECTS]
)
def test_a_group_an_incremental_run_inserts_again_gets_all_its_members(
    kind: MembershipType,
) -> None:
    # Found by deleting a synced group behind the sync's back: the recalc of a
    # membership added to it inserted the group with that member alone, and
    # u1's membership, recorded as in the target, stayed out of it until the
    # next full sync.
    memberships: dict[str, Any] = {
        "type": kind.value,
        "attribute": {"name": "member", "field": "subject_id"},
    }
    if kind is MembershipType.MEMBERSHIP_OBJECTS:
        memberships = {
            "type": kind.value,
            "attributes": [
                {"name": "g", "field": "group.name"},
                {"name": "u", "field": "entity.subject_id"},
            ],
            "matching": [["g", "u"]],
        }
    source = _campus()
    target = InMemoryTarget(id_attributes={"group": "cn"})
    prov, seq = _synced(source, target=target, memberships=memberships)
    (staff,) = target.retrieve_groups(["staff"])
    target.delete_groups([staff])  # by hand: its memberships go with it
    source.add_member("apps:ldap:staff", "u3")
    # A recalculation of the new membership alone, as the retry of its add
    # (which fails on the missing group with group_attributes) would be.
    prov.request_sync(memberships=[("grp-00001", "mem-u3")], requested_by="test")
    result = prov.incremental_sync(source.events(seq))
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert result.incremental is not None
    assert "grp-00001" in result.incremental.recalc_groups  # recalculated whole
    if kind is MembershipType.GROUP_ATTRIBUTES:
        assert _members(prov, "staff") == {"u1", "u2", "u3"}
    else:
        assert sorted(m.entity_id for m in target.retrieve_memberships_by_groups(["staff"])) == [
            "mem-u1",
            "mem-u2",
            "mem-u3",
        ]
    assert not prov.plan_full().plan.changes


def test_memberships_of_an_owner_missing_from_the_target_get_dne_in_every_run() -> None:
    # Found by deleting a person the sync may not insert: an incremental run
    # recalculated the person's new membership, planned nothing, said SUCCESS,
    # and every membership record of the person still said "in the target".
    source = _campus()
    target = InMemoryTarget(id_attributes={"entity": "uid"})
    # The people come from the identity system: the sync only sets isMemberOf.
    target.insert_entities(
        [ProvisioningEntity(id=u, attributes={"uid": u}) for u in ("u1", "u2", "u3")]
    )
    prov, seq = _synced(
        source,
        target=target,
        **_IS_MEMBER_OF_ON_PEOPLE_FROM_IDM,
    )
    target.delete_entities([target.entities["u2"]])  # by hand
    source.add_group("apps:ldap:courses")
    source.add_member("apps:ldap:courses", "u2")
    source.add_member("apps:ldap:courses", "u3")
    result = prov.incremental_sync(source.events(seq))
    assert result.status is SyncStatus.WARNING, result.summary()
    dne = "its entity is not in the target and may not be inserted"
    courses = ("grp-00003", "mem-u2")
    assert result.errors[(ObjectType.MEMBERSHIP, courses)].message == dne
    assert target.entities["u3"].values("isMemberOf") == {"apps:ldap:courses"}
    full = prov.full_sync()
    records = prov.store.load(P).records
    for key in ((ObjectType.MEMBERSHIP, ("grp-00001", "mem-u2")), (ObjectType.MEMBERSHIP, courses)):
        assert full.errors[key].message == dne
        assert not records[key].in_target


def _member_values(**settings: Any) -> dict[str, Any]:
    """``group_attributes`` with the member's subject id as its value, and *settings*."""
    attribute = {"name": "member", "field": "subject_id", **settings}
    return {"type": "group_attributes", "attribute": attribute}


def test_a_member_value_that_fails_its_rules_is_an_error_without_a_recalc() -> None:
    """A non-recalc add whose value breaks a rule fails that membership alone, unread."""
    source = _campus()
    source.add_subject("u3xx")
    prov, seq = _synced(
        source,
        memberships=_member_values(max_length=2),
    )
    source.add_member("apps:ldap:staff", "u3xx")
    source.add_member("apps:ldap:staff", "u3")
    target = prov.target
    assert isinstance(target, InMemoryTarget)
    target.calls.clear()
    result = prov.incremental_sync(source.events(seq))
    assert result.status is SyncStatus.WARNING, result.summary()
    assert result.incremental is not None
    assert result.incremental.non_recalc == 2
    pair = ("grp-00001", "mem-u3xx")
    error = result.errors[(ObjectType.MEMBERSHIP, pair)]
    assert error.code is SyncErrorCode.LEN
    assert error.message == "value 'u3xx' is 4 characters long, max 2"
    assert target.calls == [("update_groups", 1)]  # u3's value, and nothing read
    assert _members(prov, "staff") == {"u1", "u2", "u3"}
    record = prov.store.load(P).records[(ObjectType.MEMBERSHIP, pair)]
    assert record.error_code is SyncErrorCode.LEN
    assert not record.in_target


def test_a_membership_object_that_fails_its_rules_is_an_error_without_a_recalc() -> None:
    source = _campus()
    source.add_group("apps:ldap:other")
    source.add_member("apps:ldap:other", "u3")  # so u3 is in the target already
    target = InMemoryTarget(id_attributes={"group": "cn", "entity": "uid"})
    prov, seq = _synced(
        source,
        target=target,
        entities={"attributes": [{"name": "uid", "field": "subject_id"}], "matching": ["uid"]},
        memberships={
            "type": "membership_objects",
            "attributes": [
                {"name": "g", "field": "group.name"},
                {"name": "u", "field": "entity.subject_id"},
                {
                    "name": "k",
                    "template": "{group.extension}-{entity.subject_id}",
                    "valid_pattern": "(?!staff-u3$).*",
                },
            ],
            "matching": [["g", "u"]],
        },
    )
    source.add_member("apps:ldap:staff", "u3")
    target.calls.clear()
    result = prov.incremental_sync(source.events(seq))
    assert result.status is SyncStatus.WARNING, result.summary()
    assert result.incremental is not None
    assert result.incremental.non_recalc == 1
    error = result.errors[(ObjectType.MEMBERSHIP, ("grp-00001", "mem-u3"))]
    assert error.code is SyncErrorCode.INV
    assert target.calls == []  # neither read nor written
    assert not [m for m in target.memberships.values() if m.get("k") == "staff-u3"]


@pytest.mark.parametrize("run", ["incremental", "full"])
def test_a_member_whose_value_is_ignored_is_inv_and_nothing_is_written(run: str) -> None:
    """A real member whose value is one of ``ignore_values``: INV on that membership.

    An ignored value is never written nor removed, so the membership cannot
    be provisioned. Before, it was left out without a word: no error, no
    record, and the member was provisioned by nothing anyone could see.
    """
    source = _campus()
    source.add_subject("u5")
    prov, seq = _synced(
        source,
        memberships=_member_values(ignore_values=["U5", "cn=placeholder"], case_sensitive=False),
    )
    source.add_member("apps:ldap:staff", "u5")
    result = prov.incremental_sync(source.events(seq)) if run == "incremental" else prov.full_sync()
    assert result.status is SyncStatus.WARNING, result.summary()
    key = (ObjectType.MEMBERSHIP, ("grp-00001", "mem-u5"))
    assert result.errors[key].code is SyncErrorCode.INV
    assert "'u5' is one of the ignored values" in result.errors[key].message
    assert _members(prov, "staff") == {"u1", "u2"}
    record = prov.store.load(P).records[key]
    assert (record.provisionable, record.in_target, record.error_code) == (
        True,
        False,
        SyncErrorCode.INV,
    )
    assert not prov.plan_full().plan.changes


def test_an_entity_that_failed_is_retried_as_a_recalc_and_gets_its_memberships() -> None:
    source = _campus()
    broken = {"on": True}
    target = InMemoryTarget(
        id_attributes={"group": "cn", "entity": "uid"},
        fail=lambda op, bean: broken["on"] and op == "insert_entities" and bean.get("uid") == "u3",
    )
    prov, seq = _synced(
        source,
        target=target,
        entities={"attributes": [{"name": "uid", "field": "subject_id"}], "matching": ["uid"]},
        memberships={
            "type": "entity_attributes",
            "attribute": {"name": "isMemberOf", "field": "name"},
        },
    )
    source.add_member("apps:ldap:staff", "u3")
    failed = prov.incremental_sync(source.events(seq))
    assert failed.status is SyncStatus.ERROR, failed.summary()
    key = (ObjectType.ENTITY, "mem-u3")
    assert prov.store.load(P).records[key].error_code is SyncErrorCode.ERR
    broken["on"] = False
    retried = prov.incremental_sync([])
    assert retried.status is SyncStatus.SUCCESS, retried.summary()
    assert retried.incremental is not None
    assert retried.incremental.retried == 2  # the entity, and its membership that failed with it
    assert retried.incremental.recalc_entities == ("mem-u3",)
    assert retried.incremental.recalc_memberships == (("grp-00001", "mem-u3"),)
    assert prov.store.load(P).records[key].error_code is None
    assert target.entities["u3"].values("isMemberOf") == {"apps:ldap:staff"}
    assert not prov.plan_full().plan.changes


def test_a_delete_of_a_member_value_the_sync_did_not_insert_is_recalculated_and_kept() -> None:
    """The delete policy is judged by a recalc, which leaves another's value alone."""
    source = _campus()
    target = InMemoryTarget(id_attributes={"group": "cn"})
    # The group was in the target before the sync, u2 a member of it already.
    target.seed(
        groups=[ProvisioningGroup(id="staff", attributes={"cn": "staff", "member": {"u2"}})]
    )
    prov, seq = _synced(source, target=target)
    staff = next(g.id for g in source.snapshot().groups if g.get("extension") == "staff")
    record = prov.store.load(P).records[(ObjectType.MEMBERSHIP, (staff, "mem-u2"))]
    assert record.in_target
    assert not record.inserted_by_us
    source.remove_member("apps:ldap:staff", "u2")
    result = prov.incremental_sync(source.events(seq))
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert result.incremental is not None
    assert result.incremental.non_recalc == 0
    assert result.incremental.recalc_memberships == ((staff, "mem-u2"),)
    assert _members(prov, "staff") == {"u1", "u2"}
    assert not prov.plan_full().plan.changes  # a full sync keeps it too


def test_a_membership_event_older_than_its_record_is_recalculated_not_applied() -> None:
    """An event that happened before a run wrote its membership's record is read again.

    The first batch ended before the event; its group's recalc read Grouper
    after the event, so the record is newer than what the event says.
    """
    source = _campus()
    prov, seq = _synced(source)
    source.update_group("apps:ldap:staff", description="Staff")  # recalculates the group
    source.remove_member("apps:ldap:staff", "u2")
    first, late = source.events(seq)
    assert prov.incremental_sync([first]).status is SyncStatus.SUCCESS
    assert _members(prov, "staff") == {"u1"}
    staff = next(g.id for g in source.snapshot().groups if g.get("extension") == "staff")
    record = prov.store.load(P).records[(ObjectType.MEMBERSHIP, (staff, "mem-u2"))]
    assert not record.in_target
    assert record.last_sync is not None
    assert late.occurred <= record.last_sync
    source.add_member("apps:ldap:staff", "u2")  # and back, before the late event arrives
    result = prov.incremental_sync([late])
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert result.incremental is not None
    assert result.incremental.non_recalc == 0
    assert result.incremental.recalc_memberships == ((staff, "mem-u2"),)
    assert _members(prov, "staff") == {"u1", "u2"}


@pytest.mark.parametrize("value_changes", [True, False])
def test_values_another_system_gave_people_are_kept_whatever_the_delete_policy(
    value_changes: bool,  # a parameter
) -> None:
    """``not_in_grouper`` removes only values of groups that are or were provisioned.

    Found by pointing ``entity_attributes`` at people whose entitlements
    other systems set too: every run removed theirs from anyone in a
    provisioned group.
    """
    source = _campus()
    source.add_group("apps:ldap:courses")
    source.add_member("apps:ldap:courses", "u3")
    target = InMemoryTarget(id_attributes={"entity": "uid"}, value_changes=value_changes)
    foreign = "urn:other:library"
    target.insert_entities(
        [
            ProvisioningEntity(id=u, attributes={"uid": u, "ent": frozenset({foreign})})
            for u in ("u1", "u2", "u3")
        ]
    )
    # Grouper's value, added by hand to a person who is not in the group.
    target.entities["u3"] = target.entities["u3"].with_attributes(
        {"ent": frozenset({foreign, "urn:g:apps:ldap:staff"})}
    )
    prov, seq = _synced(
        source,
        target=target,
        **_URN_ENTITLEMENTS_OF_ANY_SYSTEM,
    )

    def held() -> dict[str, frozenset[object]]:
        return {u: e.values("ent") for u, e in sorted(target.entities.items())}

    assert held() == {
        "u1": {foreign, "urn:g:apps:ldap:staff"},
        "u2": {foreign, "urn:g:apps:ldap:staff"},
        # staff is provisioned: its value is Grouper's to remove
        "u3": {foreign, "urn:g:apps:ldap:courses"},
    }
    source.delete_group("apps:ldap:staff")
    source.add_member("apps:ldap:courses", "u1")
    result = prov.incremental_sync(source.events(seq))
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert held() == {
        "u1": {foreign, "urn:g:apps:ldap:courses"},
        "u2": {foreign},
        "u3": {foreign, "urn:g:apps:ldap:courses"},
    }
    assert not prov.plan_full().plan.changes


@pytest.mark.parametrize("value_changes", [True, False])
def test_the_value_of_a_provisioned_group_without_members_is_grouper_s_to_remove(
    value_changes: bool,  # a parameter
) -> None:
    """Under ``not_in_grouper``, a provisioned group's value goes even when nobody holds it.

    Found by fuzzing hand edits, and met when moving from another
    provisioner with no sync records: a value counted as a group's only
    when someone was given it in the run or a record held it, so the value
    of a group whose last member had left stayed on people for good. A
    Grouper group that is not provisioned still names no value of Grouper's.
    """
    source = _campus()
    source.add_group("apps:ldap:empty")
    source.add_member("apps:ldap:staff", "u3")
    target = InMemoryTarget(id_attributes={"entity": "uid"}, value_changes=value_changes)
    left = {"urn:g:apps:ldap:empty", "urn:g:other:wiki", "urn:other:library"}
    target.insert_entities(
        [
            ProvisioningEntity(id=u, attributes={"uid": u, "ent": frozenset(left)})
            for u in ("u1", "u2", "u3")
        ]
    )
    _synced(
        source,
        target=target,
        **_URN_ENTITLEMENTS_OF_ANY_SYSTEM,
    )
    # other:wiki is Grouper's group, but not provisioned here: its value is kept.
    kept = {"urn:g:apps:ldap:staff", "urn:g:other:wiki", "urn:other:library"}
    assert {u: e.values("ent") for u, e in target.entities.items()} == dict.fromkeys(
        ("u1", "u2", "u3"), kept
    )


class _DictReads(InMemorySource):
    """A source whose targeted reads give plain dicts (a caller's bug)."""

    def retrieve_groups(self, ids: Collection[str]) -> list[ProvisioningGroup]:
        return [{"id": g.id} for g in super().retrieve_groups(ids)]  # type: ignore[misc]

    def partial_snapshot(self, **kwargs: Any) -> GrouperSnapshot:
        return {"groups": []}  # type: ignore[return-value]


def test_targeted_reads_that_break_the_source_contract_stop_the_run_as_a_source_error() -> None:
    # Found with the probe of misbehaving sources: an incremental run failed
    # with "'dict' object has no attribute 'id'" where a full sync said
    # SOURCE_ERROR for the same data.
    source = _DictReads()
    for subject in ("u1", "u2"):
        source.add_subject(subject)
    source.add_group("apps:ldap:staff")
    source.add_member("apps:ldap:staff", "u1")
    source.mark("apps:ldap", P, scope="sub")
    prov, seq = _synced(source)
    source.add_member("apps:ldap:staff", "u2")
    result = prov.incremental_sync(source.events(seq))
    assert result.status is SyncStatus.SOURCE_ERROR
    assert "retrieve_groups()[0] is dict {'id': 'grp-00001'}, not a ProvisioningGroup" in (
        result.message
    )
    with pytest.raises(SourceError, match=r"partial_snapshot\(\) gave dict \{'groups': \[\]\}"):
        read_partial(source, groups=["grp-00001"], members=[], memberships=[])
    with pytest.raises(SourceError, match=r"retrieve_entities\(\)\[0\]: its id is NoneType"):
        read_entities(_NoneEntities(), ["mem-u1"])
    with pytest.raises(SourceError, match=r"\[0\]: its id 'mem-\\udcff' has a lone surrogate"):
        read_entities(_OddEntities(), ["mem-u1"])


class _OddEntities(InMemorySource):
    def retrieve_entities(self, ids: Collection[str]) -> list[ProvisioningEntity]:
        return [ProvisioningEntity(id="mem-\udcff")]  # no store can keep the id


class _NoneEntities(InMemorySource):
    def retrieve_entities(self, ids: Collection[str]) -> list[ProvisioningEntity]:
        return [ProvisioningEntity(id=None)]  # type: ignore[arg-type]  # the bug under test


def _deleting_entities(**member: Any) -> ProvisionerConfig:
    """Groups with member values, entities operated and deleted when Grouper drops them."""
    return ProvisionerConfig.from_dict(
        {
            "name": P,
            "groups": {
                "attributes": [
                    {"name": "cn", "field": "name"},
                    {"name": "description", "field": "description"},
                ],
                "matching": ["cn"],
            },
            "entities": {
                "attributes": [{"name": "uid", "field": "subject_id"}],
                "matching": ["uid"],
                "delete_policy": "not_in_grouper",
            },
            "memberships": {
                "type": "group_attributes",
                "attribute": {"name": "member", "field": "subject_id", **member},
            },
        }
    )


def _two_members(group: str) -> tuple[InMemorySource, InMemoryTarget]:
    """*group* with u0 and u1 as members, its folder marked; an empty target keyed by name."""
    source = InMemorySource()
    for subject in ("u0", "u1"):
        source.add_subject(subject)
    source.add_group(group)
    source.add_member(group, "u0")
    source.add_member(group, "u1")
    source.mark(group.rpartition(":")[0], P, scope="sub")
    return source, InMemoryTarget(id_attributes={"group": "cn", "entity": "uid"})


def test_a_membership_never_written_still_counts_when_its_member_leaves() -> None:
    """The delete of a membership not in the target is no "redundant delete" for its member.

    u1's value fails the attribute's pattern (INV), so that membership is
    never written; u1 is provisioned through it all the same. Found by a
    fuzzer: when u1 left the group, the incremental run dropped the delete
    as redundant, and u1 stayed in the target until the next full sync.
    """
    source, target = _two_members("apps:ldap:staff")
    prov = Provisioner(_deleting_entities(valid_pattern="u0"), source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.WARNING  # u1's membership: INV
    assert "u1" in target.entities
    seen = len(source.changes)
    source.remove_member("apps:ldap:staff", "u1")
    result = prov.incremental_sync(source.events(seen))
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert "u1" not in target.entities
    assert not prov.plan_full().plan.changes


def _membership_facts(store: MemorySyncStore) -> dict[object, tuple[object, ...]]:
    """Each membership record's provisionable, in-target and error code."""
    return {
        key[1]: (r.provisionable, r.in_target, r.error_code)
        for key, r in store.load(P).records.items()
        if key[0] is ObjectType.MEMBERSHIP
    }


@pytest.mark.parametrize("kind", ["group_attributes", "entity_attributes", "membership_objects"])
def test_a_membership_in_error_has_a_record_with_its_error(kind: str) -> None:
    """A membership whose value fails its pattern is recorded: provisionable, out, INV.

    With membership values it has no value, and so had no record: the run's
    result named the error, but the sync tables did not (membership objects
    always had one), and an incremental run could not know its member was
    provisioned by it.
    """
    member: dict[str, Any]
    if kind == "entity_attributes":
        member = {"name": "isMemberOf", "field": "name", "valid_pattern": "apps:ldap:staff"}
    else:
        member = {"name": "member", "field": "subject_id", "valid_pattern": "u0"}
    data = _deleting_entities().to_dict()
    if kind == "membership_objects":
        data["memberships"] = {
            "type": kind,
            "attributes": [
                {"name": "g", "field": "group.name"},
                {"name": "u", "field": "entity.subject_id", "valid_pattern": "u0"},
            ],
            "matching": [["g", "u"]],
        }
    else:
        data["memberships"] = {"type": kind, "attribute": member}
    source, target = _two_members("apps:ldap:staff")
    source.add_group("apps:ldap:crew")
    source.add_member("apps:ldap:crew", "u1")
    store = MemorySyncStore()
    prov = Provisioner(ProvisionerConfig.from_dict(data), source, target, store)
    assert prov.full_sync().status is SyncStatus.WARNING
    staff, crew = prov.source.snapshot().groups[0].id, prov.source.snapshot().groups[1].id
    u1 = next(e.id for e in source.snapshot().entities if e.get("subject_id") == "u1")
    # The crew's name fails the pattern of values on entities; u1's id, that of values on groups.
    bad = {(crew, u1)} if kind == "entity_attributes" else {(staff, u1), (crew, u1)}
    facts = _membership_facts(store)
    assert {m: facts[m] for m in bad} == dict.fromkeys(bad, (True, False, SyncErrorCode.INV))
    assert {r.grouper_id for r in store.error_records(P)} == bad


@pytest.mark.parametrize("run", ["full", "incremental"])
def test_a_membership_in_error_that_leaves_grouper_has_its_error_cleared(run: str) -> None:
    """Its record says not provisionable, and the error (nothing is left to do) goes.

    Found by comparing the records of incremental runs with a full sync's:
    a full sync kept the INV of a membership Grouper had dropped, for good;
    an incremental run left the record provisionable (a recalculated
    membership was not one the run covered).
    """
    source, target = _two_members("apps:ldap:staff")
    store = MemorySyncStore()
    prov = Provisioner(_deleting_entities(valid_pattern="u0"), source, target, store)
    assert prov.full_sync().status is SyncStatus.WARNING  # u1's membership: INV
    assert len(store.error_records(P)) == 1
    seen = len(source.changes)
    source.remove_member("apps:ldap:staff", "u1")
    result = prov.full_sync() if run == "full" else prov.incremental_sync(source.events(seen))
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert store.error_records(P) == []
    assert sorted(_membership_facts(store).values(), key=str) == [
        (False, False, None),
        (True, True, None),
    ]


def test_a_member_provisioned_only_by_a_membership_in_error_goes_with_its_group() -> None:
    """The group's delete recalculates the members its records name, those in error too.

    u1's only membership fails the pattern (INV): u1 is provisioned by it
    but it is not in the target. Found by a fuzzer: when the group was
    deleted in Grouper, the incremental run did not know u1 was its member,
    and u1 stayed in the target until the next full sync.
    """
    source, target = _two_members("apps:ldap:staff")
    store = MemorySyncStore()
    prov = Provisioner(_deleting_entities(valid_pattern="u0"), source, target, store)
    assert prov.full_sync().status is SyncStatus.WARNING
    assert {"u0", "u1"} <= set(target.entities)
    seen = len(source.changes)
    source.delete_group("apps:ldap:staff")
    result = prov.incremental_sync(source.events(seen))
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert not target.entities
    assert not prov.plan_full().plan.changes
    assert store.error_records(P) == []


def test_an_entity_a_recalc_deletes_is_recorded_as_a_full_sync_records_it() -> None:
    """Not provisionable, not in the target: the recalc covers the entities it reads whole.

    Found by comparing the records of incremental runs with a full sync's:
    the entity went from the target, but its record still said Grouper
    wanted it (the recalc marked only its groups' objects as covered).
    """
    source, target = _two_members("apps:ldap:staff")
    store = MemorySyncStore()
    prov = Provisioner(_deleting_entities(), source, target, store)
    assert prov.full_sync().status is SyncStatus.SUCCESS
    u1 = next(e.id for e in source.snapshot().entities if e.get("subject_id") == "u1")
    seen = len(source.changes)
    source.remove_member("apps:ldap:staff", "u1")
    result = prov.incremental_sync(source.events(seen))
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert "u1" not in target.entities
    record = store.load(P).records[ObjectType.ENTITY, u1]
    assert (record.provisionable, record.in_target) == (False, False)
    assert record.provisionable_end is not None


def test_a_new_groups_new_member_is_recorded_as_a_full_sync_records_them() -> None:
    """A member new to the records, added with a new group, is recalculated and recorded.

    People come from the identity system (entities neither inserted nor
    deleted); grouperprov adds entitlements. Found by the real-directory
    property test once it compared records: the group's recalc wrote u0's
    value, but u0 had no record until the next full sync (a delete policy
    that asks the records would not have known grouperprov provisioned them).
    """
    config = ProvisionerConfig.from_dict(
        {
            "name": P,
            "groups": {"attributes": [{"name": "cn", "field": "name"}], "operate": False},
            "entities": {
                "attributes": [{"name": "uid", "field": "subject_id"}],
                "matching": ["uid"],
                "insert": False,
                "delete": False,
            },
            "memberships": {
                "type": "entity_attributes",
                "attribute": {"name": "entitlement", "template": "urn:{name}"},
            },
        }
    )
    source = InMemorySource()
    source.add_subject("u0")
    source.mark("apps", P)
    target = InMemoryTarget(id_attributes={"group": "cn", "entity": "uid"})
    target.seed(entities=[ProvisioningEntity(id="u0", attributes={"uid": "u0"})])
    store = MemorySyncStore()
    prov = Provisioner(config, source, target, store)
    assert prov.full_sync().status is SyncStatus.SUCCESS
    seen = len(source.changes)
    source.add_group("apps:wiki")
    source.add_member("apps:wiki", "u0")
    result = prov.incremental_sync(source.events(seen))
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert target.entities["u0"].get("entitlement") == frozenset({"urn:apps:wiki"})
    u0 = next(e.id for e in source.snapshot().entities)
    record = store.load(P).records[ObjectType.ENTITY, u0]
    assert (record.provisionable, record.in_target, record.target_id) == (True, True, "u0")


def test_a_member_a_group_sync_removed_is_deleted_by_the_next_incremental_run() -> None:
    """A group sync never deletes entities; the incremental run after it does, as a full sync.

    The group sync removed u1's last membership; the batch after it also
    recalculates the group (a description changed), and the group's recalc
    finds members by their records in the target, where u1's membership no
    longer was. Found by a fuzzer mixing group syncs and incremental runs.
    """
    source, target = _two_members("apps:ldap:staff")
    prov = Provisioner(_deleting_entities(), source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    seen = len(source.changes)
    source.remove_member("apps:ldap:staff", "u1")
    source.update_group("apps:ldap:staff", description="Staff")
    assert prov.sync_group("apps:ldap:staff").status is SyncStatus.SUCCESS
    assert "u1" in target.entities  # a group sync never deletes entities
    result = prov.incremental_sync(source.events(seen))
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert "u1" not in target.entities
    assert not prov.plan_full().plan.changes


def test_a_groups_last_member_leaving_with_their_entity_recalculated_empties_the_group() -> None:
    """``groups_require_members``: the group of a membership delete is recalculated, always.

    u0 is the group's only member; their value fails its pattern (INV), so
    the membership never reached the target. In the batch, u0 also changed
    (their entity is recalculated anyway), and the membership delete went
    with the entity's recalc alone. Found by a fuzzer: the group, now
    without members (MEM), stayed in the target until the next full sync.
    """
    data = _deleting_entities(valid_pattern="u9").to_dict()
    data["provisionable"] = {"groups_require_members": True}
    source = InMemorySource()
    source.add_subject("u0")
    source.add_group("apps:ldap:staff")
    source.add_member("apps:ldap:staff", "u0")
    source.mark("apps:ldap", P, scope="sub")
    target = InMemoryTarget(id_attributes={"group": "cn", "entity": "uid"})
    prov = Provisioner(ProvisionerConfig.from_dict(data), source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.WARNING  # u0's membership: INV
    assert set(target.groups) == {"apps:ldap:staff"}
    seen = len(source.changes)
    source.update_subject("u0", email="u0@example.edu")
    source.remove_member("apps:ldap:staff", "u0")
    result = prov.incremental_sync(source.events(seen))
    assert result.status in {SyncStatus.SUCCESS, SyncStatus.WARNING}, result.summary()
    assert not target.groups
    assert not prov.plan_full().plan.changes


def test_a_marked_folders_members_in_error_are_recorded_as_a_full_sync_records_them() -> None:
    """A group new to the target brings its members with no record, those in error too.

    The folder is marked: its group goes in with u0; u1's entity fails
    (LEN on ``cn``) and cannot be inserted. Found by a fuzzer: u1 had no
    record at all until the next full sync (only the entities the plan
    inserted were recalculated, and u1's error was narrowed away).
    """
    data = _deleting_entities().to_dict()
    data["entities"]["attributes"].append({"name": "cn", "field": "subject_id", "max_length": 2})
    source, target = _two_members("c:crew")
    source.add_subject("u10")
    source.add_member("c:crew", "u10")
    source.unmark("c", P)
    store = MemorySyncStore()
    prov = Provisioner(ProvisionerConfig.from_dict(data), source, target, store)
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert not target.groups
    seen = len(source.changes)
    source.mark("c", P, scope="sub")
    result = prov.incremental_sync(source.events(seen))
    assert result.status is SyncStatus.WARNING, result.summary()
    assert set(target.entities) == {"u0", "u1"}

    def facts() -> dict[object, object]:
        return {
            k: (r.provisionable, r.in_target, r.error_code)
            for k, r in store.load(P).records.items()
        }

    u10 = next(e.id for e in source.snapshot().entities if e.get("subject_id") == "u10")
    assert facts()[ObjectType.ENTITY, u10] == (True, False, SyncErrorCode.LEN)
    before = facts()
    assert prov.full_sync().status is SyncStatus.WARNING
    assert facts() == before


def test_a_member_a_group_sync_left_behind_by_a_membership_in_error_goes_at_the_next_run() -> None:
    """A membership that was never in the target (INV) still names its member to the recalc.

    The folder was unmarked; a group sync deleted the group (never
    entities). u1's membership had failed its pattern, so it never reached
    the target: only its record's end of being provisionable says the
    group sync took it. Found by a fuzzer: the marker's recalc looked at u0
    (whose membership left the target) but not u1, who stayed.
    """
    source, target = _two_members("apps:ldap:staff")
    prov = Provisioner(_deleting_entities(valid_pattern="u0"), source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.WARNING  # u1's membership: INV
    seen = len(source.changes)
    source.unmark("apps:ldap", P)
    assert prov.sync_group("apps:ldap:staff").status is SyncStatus.SUCCESS
    assert not target.groups
    assert set(target.entities) == {"u0", "u1"}  # a group sync never deletes entities
    result = prov.incremental_sync(source.events(seen))
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert not target.entities
    assert not prov.plan_full().plan.changes


def test_a_group_recalc_looks_at_members_who_left_since_the_last_full_sync_only() -> None:
    """A group's churn before the last full sync is not read again at each of its recalcs.

    That full sync dealt with those members already (u1 was deleted with
    their last membership). A member whose membership left since in a group
    sync (u2, still in the target: group syncs never delete entities) is
    recalculated with the group, and deleted, as a full sync would.
    """
    source, target = _two_members("apps:ldap:staff")
    source.add_subject("u2")
    source.add_member("apps:ldap:staff", "u2")
    names = {e.id: str(e.get("subject_id")) for e in source.snapshot().entities}
    prov = Provisioner(_deleting_entities(), source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    source.remove_member("apps:ldap:staff", "u1")
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert "u1" not in target.entities

    def recalculated(seen: int) -> list[str]:
        result = prov.incremental_sync(source.events(seen))
        assert result.status is SyncStatus.SUCCESS, result.summary()
        assert result.incremental is not None
        return sorted(names[e] for e in result.incremental.recalc_entities)

    seen = len(source.changes)
    source.update_group("apps:ldap:staff", description="Staff")
    assert recalculated(seen) == ["u0", "u2"]  # no group sync since the full sync
    seen = len(source.changes)
    source.remove_member("apps:ldap:staff", "u2")
    assert prov.sync_group("apps:ldap:staff").status is SyncStatus.SUCCESS
    assert "u2" in target.entities  # a group sync never deletes entities
    source.update_group("apps:ldap:staff", description="All staff")
    assert "u2" in recalculated(seen)
    assert set(target.entities) == {"u0"}
    assert not prov.plan_full().plan.changes


def test_members_of_a_folder_no_longer_provisioned_go_after_a_group_sync_took_their_groups() -> (
    None
):
    """The marker's recalc looks at members whose memberships a group sync took out first.

    Membership objects. The folder was unmarked; a group sync of its group
    deleted the group and its memberships (never entities); the incremental run for the marker
    event recalculated the group, which found no member in the target, and
    left the people. Found by a fuzzer mixing group syncs, markers and
    incremental runs.
    """
    source, target = _two_members("c:crew")
    objects = {
        "type": "membership_objects",
        "attributes": [
            {"name": "g", "field": "group.name"},
            {"name": "u", "field": "entity.subject_id"},
        ],
        "matching": [["g", "u"]],
    }
    config = ProvisionerConfig.from_dict({**_deleting_entities().to_dict(), "memberships": objects})
    target = InMemoryTarget(id_attributes={"group": "cn", "entity": "uid"})
    prov = Provisioner(config, source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    seen = len(source.changes)
    source.unmark("c", P)
    assert prov.sync_group("c:crew").status is SyncStatus.SUCCESS
    assert set(target.entities) == {"u0", "u1"}  # a group sync never deletes entities
    result = prov.incremental_sync(source.events(seen))
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert not target.entities
    assert not prov.plan_full().plan.changes


def _is_member_of_on_people(**provisionable: Any) -> ProvisionerConfig:
    """Groups not operated; people by uid, with isMemberOf listing their groups."""
    return ProvisionerConfig.from_dict(
        {
            "name": P,
            "groups": {"operate": False},
            "entities": {
                "attributes": [{"name": "uid", "field": "subject_id"}],
                "matching": ["uid"],
            },
            "memberships": {
                "type": "entity_attributes",
                "attribute": {"name": "isMemberOf", "field": "name"},
            },
            "provisionable": provisionable,
        }
    )


def test_a_group_left_out_for_no_members_is_recorded_back_when_one_joins() -> None:
    """Groups not operated (isMemberOf on people): the first member clears the group's MEM.

    The member was new to the target, so the membership event recalculated
    that entity alone, which wrote the value; the group's record kept MEM
    until the next full sync.
    Found by a fuzzer of the LDAP target.
    """
    config = _is_member_of_on_people(groups_require_members=True)
    source, _ = _two_members("apps:ldap:staff")
    source.add_subject("u2")  # in no group yet: not provisionable
    source.add_group("apps:ldap:empty")
    empty = source.snapshot().groups[-1].id
    target = InMemoryTarget(id_attributes={"entity": "uid"})
    prov = Provisioner(config, source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.WARNING
    assert _record_of(prov, ObjectType.GROUP, empty).error_code is SyncErrorCode.MEM
    seen = len(source.changes)
    source.add_member("apps:ldap:empty", "u2")
    result = prov.incremental_sync(source.events(seen))
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert _record_of(prov, ObjectType.GROUP, empty).error_code is None
    assert target.entities["u2"].values("isMemberOf") == frozenset({"apps:ldap:empty"})
    before = record_facts(prov)
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert record_facts(prov) == before


def test_a_renamed_groups_old_value_whose_removal_failed_is_removed_by_the_retry() -> None:
    """isMemberOf: the new name is written, the old one's removal fails; the retry removes it.

    The membership's record took the new value, and no record held the old
    one any more: to every later run, a full sync included, it was a value
    some other system had put there, never removed. A person kept the
    renamed group's old name for good. Found by a fuzzer of the LDAP target
    that makes writes fail.
    """
    calls: list[str] = []
    broken = {"on": False}

    def fail(op: str, _bean: object) -> bool:
        if broken["on"] and op == "update_entities":
            calls.append(op)
            return len(calls) == 1  # the first: the old value's removal
        return False

    config = _is_member_of_on_people()
    source = InMemorySource()
    source.add_subject("u1")
    source.add_group("apps:ldap:staff")
    source.add_member("apps:ldap:staff", "u1")
    source.mark("apps:ldap", P, scope="sub")
    target = InMemoryTarget(id_attributes={"entity": "uid"}, fail=fail)
    prov = Provisioner(config, source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    staff = source.snapshot().groups[0].id
    seen = len(source.changes)
    source.rename_group("apps:ldap:staff", "apps:ldap:faculty")
    broken["on"] = True
    assert prov.incremental_sync(source.events(seen)).status is SyncStatus.ERROR
    assert target.entities["u1"].values("isMemberOf") == {"apps:ldap:staff", "apps:ldap:faculty"}
    record = _record_of(prov, ObjectType.MEMBERSHIP, (staff, "mem-u1"))
    # The record holds the old value, left in the target, until it is gone.
    assert (record.in_target, record.target_id, record.error_code) == (
        True,
        ("mem-u1", "apps:ldap:staff"),
        SyncErrorCode.ERR,
    )
    broken["on"] = False
    assert prov.incremental_sync([]).status is SyncStatus.SUCCESS
    assert target.entities["u1"].values("isMemberOf") == {"apps:ldap:faculty"}
    record = _record_of(prov, ObjectType.MEMBERSHIP, (staff, "mem-u1"))
    assert (record.target_id, record.error_code) == (("mem-u1", "apps:ldap:faculty"), None)
    before = record_facts(prov)
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert record_facts(prov) == before


def test_a_group_is_deleted_only_after_all_its_membership_objects() -> None:
    """u1's membership object cannot be deleted: the group and u1 stay (ERR); u0 goes.

    Deleted anyway, the group left u1's row naming no group, which a new
    group of the same name took over later, with a member it never had.
    """
    broken = {"on": False}
    prov, source = _failing_deletes("memberships", broken, entity="u1")
    target = prov.target
    assert isinstance(target, InMemoryTarget)
    staff = source.snapshot().groups[0].id
    seen = len(source.changes)
    source.remove_member("apps:ldap:staff", "u0")
    source.remove_member("apps:ldap:staff", "u1")  # no member left: MEM, deleted
    broken["on"] = True
    assert prov.incremental_sync(source.events(seen)).status is SyncStatus.ERROR
    assert list(target.memberships) == [("apps:ldap:staff", "u1")]
    assert set(target.groups) == {"apps:ldap:staff"}
    assert set(target.entities) == {"u1"}  # u0, whose membership went, went too
    group = _record_of(prov, ObjectType.GROUP, staff)
    assert (group.in_target, group.error_code) == (True, SyncErrorCode.ERR)
    assert group.error_message is not None
    assert group.error_message.startswith("a membership object of it was not deleted")
    broken["on"] = False
    assert prov.incremental_sync([]).status is SyncStatus.WARNING  # MEM again, as it should
    assert (target.groups, target.entities, target.memberships) == ({}, {}, {})
    assert _record_of(prov, ObjectType.GROUP, staff).error_code is SyncErrorCode.MEM
    assert not prov.plan_full().plan.changes


def _g0_and_r2() -> InMemorySource:
    """a:g0 with u0 and a:r2 with u1, their folder marked."""
    source = InMemorySource()
    for subject in ("u0", "u1"):
        source.add_subject(subject)
    source.mark("a", P, scope="sub")
    source.add_group("a:g0")
    source.add_member("a:g0", "u0")
    source.add_group("a:r2")
    source.add_member("a:r2", "u1")
    return source


@pytest.mark.parametrize("policy", ["not_in_grouper", "inserted_by_us"])
@pytest.mark.parametrize(
    ("left", "again"),
    [("deleted", False), ("deleted", True), ("renamed", False)],
    ids=["retried", "renamed-again-first", "other-renamed-away"],
)
def test_a_renamed_groups_old_object_whose_delete_failed_is_deleted_by_the_retry(
    policy: str, left: str, again: bool
) -> None:
    """a:g0 becomes a:r2 as a:r2 is deleted, and the delete of a:g0's own old object fails.

    The renamed group takes over the deleted group's target object (they
    match by name). The deleted group's record, free now, keeps the old
    object (g0), with the error, until a retry deletes it; the renamed
    group's record holds its new object. Moved to the new object at once,
    no record held g0 any more, and no incremental run found it; under
    ``inserted_by_us`` (the default) nothing said any more that grouperprov
    had inserted it, and it stayed for good. *again*: the group is renamed
    once more (a:r7) while the delete still fails; the old object is still
    the deleted group's record's to delete. With a:r2 renamed away (a:r3)
    instead of deleted, its record is in use: the renamed group's record
    keeps its old object until the retry, which finds the group by its name
    as well as by its link.
    """
    broken = {"on": False}
    source = _g0_and_r2()
    other = next(g.id for g in source.snapshot().groups if g.get("name") == "a:r2")
    inner = InMemoryTarget(id_attributes={"group": "cn"})
    target = FailingTarget(
        inner, lambda op, bean: broken["on"] and op == "delete_groups" and bean.id == "g0"
    )
    groups = {
        "attributes": [{"name": "cn", "field": "extension"}],
        "matching": ["cn"],
        "delete_policy": policy,
    }
    prov = Provisioner(_config(groups=groups), source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    seen = len(source.changes)
    if left == "deleted":
        source.delete_group("a:r2")
    else:
        source.rename_group("a:r2", "a:r3")
    source.rename_group("a:g0", "a:r2")
    renamed = next(g.id for g in source.snapshot().groups if g.get("name") == "a:r2")
    broken["on"] = True
    assert prov.incremental_sync(source.events(seen)).status is SyncStatus.ERROR
    assert target.failures == [("delete_groups", "g0")]
    others = {} if left == "deleted" else {"r3": {"u1"}}
    assert {g: inner.groups[g].values("member") for g in inner.groups} == {
        "g0": {"u0"},
        "r2": {"u0"},
        **others,
    }
    # The record that keeps g0 until it is deleted: the deleted group's, else the renamed one's.
    keeper = _record_of(prov, ObjectType.GROUP, other if left == "deleted" else renamed)
    assert (keeper.target_id, keeper.in_target, keeper.error_code) == (
        "g0",
        True,
        SyncErrorCode.ERR,
    )
    assert keeper.inserted_by_us
    if left == "deleted":
        record = _record_of(prov, ObjectType.GROUP, renamed)
        assert (record.target_id, record.in_target, record.error_code) == ("r2", True, None)
        assert not keeper.provisionable
    name = "r2"
    if again:
        seen = len(source.changes)
        source.rename_group("a:r2", "a:r7")
        assert prov.incremental_sync(source.events(seen)).status is SyncStatus.ERROR
        name = "r7"
    broken["on"] = False
    assert prov.incremental_sync([]).status is SyncStatus.SUCCESS
    assert {g: inner.groups[g].values("member") for g in inner.groups} == {
        name: {"u0"},
        **others,
    }
    record = _record_of(prov, ObjectType.GROUP, renamed)
    assert (record.target_id, record.in_target, record.error_code) == (name, True, None)
    assert record.inserted_by_us
    if left == "deleted":
        record = _record_of(prov, ObjectType.GROUP, other)
        assert (record.target_id, record.in_target, record.error_code) == (None, False, None)
    as_a_full_sync_leaves_it(prov)


@pytest.mark.parametrize("full", [False, True], ids=["incremental", "full"])
def test_a_group_renamed_onto_a_deleted_groups_name_does_not_inherit_its_members(
    full: bool,
) -> None:
    """a:g0 becomes a:r2 as a:r2 is deleted: a:r2's old member loses the access.

    The renamed group takes over the deleted group's target object (they
    match by name), with the members grouperprov wrote for the other
    group. Their records are under the other group's id: looked up under
    the renamed group's alone, they were nobody's, and under
    ``inserted_by_us`` (the default) u1 stayed a member for good.
    """
    source = _g0_and_r2()
    target = InMemoryTarget(id_attributes={"group": "cn"})
    prov = Provisioner(_config(), source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    seen = len(source.changes)
    source.delete_group("a:r2")
    source.rename_group("a:g0", "a:r2")
    result = prov.full_sync() if full else prov.incremental_sync(source.events(seen))
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert {g: target.groups[g].values("member") for g in target.groups} == {"r2": {"u0"}}
    assert not prov.plan_full().plan.changes
    before = record_facts(prov)
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert record_facts(prov) == before


@pytest.mark.parametrize("policy", ["inserted_by_us", "removed_from_grouper", "not_in_grouper"])
@pytest.mark.parametrize("how", ["deleted", "renamed"])
@pytest.mark.parametrize("whole", [False, True], ids=["value-changes", "whole-lists"])
def test_a_member_a_group_took_over_by_name_whose_removal_failed_is_removed_by_the_retry(
    policy: str, how: str, whole: bool
) -> None:
    """a:g0 becomes a:r2 and takes the object of the a:r2 that left, with u1; removing u1 fails.

    The group that left (deleted, or renamed away) had u1, written by
    grouperprov; the renamed group has u0. Once the target takes writes again,
    one incremental run with no events removes u1. Before, the failed
    value's record stayed under the group that left, whose object was
    another's now: no retry found the value as grouperprov's, and under
    ``inserted_by_us`` or ``removed_from_grouper`` u1 stayed for good.
    """
    broken = {"on": False}
    source = _g0_and_r2()
    inner = InMemoryTarget(id_attributes={"group": "cn"}, value_changes=not whole)
    target = FailingTarget(
        inner, lambda op, bean: broken["on"] and op == "update_groups" and bean.id == "r2"
    )
    config = _config(
        groups={
            "attributes": [{"name": "cn", "field": "extension"}],
            "matching": ["cn"],
            "delete_policy": policy,
        },
        memberships={
            "type": "group_attributes",
            "attribute": {"name": "member", "field": "subject_id"},
            "delete_policy": policy,
        },
    )
    prov = Provisioner(config, source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    seen = len(source.changes)
    if how == "deleted":
        source.delete_group("a:r2")
    else:
        source.rename_group("a:r2", "a:r3")
    source.rename_group("a:g0", "a:r2")
    broken["on"] = True
    assert prov.incremental_sync(source.events(seen)).status is SyncStatus.ERROR
    assert ("update_groups", "r2") in target.failures
    assert "u1" in inner.groups["r2"].values("member")  # its removal failed
    broken["on"] = False
    assert prov.incremental_sync([]).status is SyncStatus.SUCCESS
    wanted = {"r2": {"u0"}} if how == "deleted" else {"r2": {"u0"}, "r3": {"u1"}}
    assert {g: inner.groups[g].values("member") for g in inner.groups} == wanted
    as_a_full_sync_leaves_it(prov)


def test_a_member_taken_over_whose_value_is_now_invalid_is_removed_by_the_retry() -> None:
    """As above, u1 joining the renamed group with a value now invalid (INV): u1's old value goes.

    The membership of u1 in the renamed group is in Grouper, in error; the
    value the other group had for u1 is on the object all the same, and is
    grouperprov's: the membership's record says so, with the error, until
    a retry removes the value.
    """
    broken = {"on": False}
    source = InMemorySource()
    for subject in ("u0", "u1"):
        source.add_subject(subject, email=f"{subject}@x")
    source.mark("a", P, scope="sub")
    for name, subject in (("a:g0", "u0"), ("a:r2", "u1")):
        source.add_group(name)
        source.add_member(name, subject)
    inner = InMemoryTarget(id_attributes={"group": "cn"})
    target = FailingTarget(
        inner, lambda op, bean: broken["on"] and op == "update_groups" and bean.id == "r2"
    )
    memberships = {
        "type": "group_attributes",
        "attribute": {"name": "member", "field": "email", "valid_pattern": "[a-z0-9]+@x"},
    }
    prov = Provisioner(_config(memberships=memberships), source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    seen = len(source.changes)
    source.delete_group("a:r2")
    source.rename_group("a:g0", "a:r2")
    source.add_member("a:r2", "u1")
    source.update_subject("u1", email="not valid")
    broken["on"] = True
    assert prov.incremental_sync(source.events(seen)).status is SyncStatus.ERROR
    assert inner.groups["r2"].values("member") == {"u1@x"}  # nothing written
    (renamed,) = (g.id for g in source.snapshot().groups)
    record = _record_of(prov, ObjectType.MEMBERSHIP, (renamed, "mem-u1"))
    assert (record.provisionable, record.in_target, record.target_id) == (
        True,
        True,
        (renamed, "u1@x"),
    )
    broken["on"] = False
    assert prov.incremental_sync([]).status is SyncStatus.WARNING  # u1's INV
    assert {g: inner.groups[g].values("member") for g in inner.groups} == {"r2": {"u0@x"}}
    record = _record_of(prov, ObjectType.MEMBERSHIP, (renamed, "mem-u1"))
    assert (record.provisionable, record.in_target, record.error_code) == (
        True,
        False,
        SyncErrorCode.INV,
    )
    as_a_full_sync_leaves_it(prov, SyncStatus.WARNING)


@pytest.mark.parametrize("whole", [False, True], ids=["row-deletes", "whole-lists"])
def test_a_row_whose_delete_failed_as_its_group_moved_is_deleted_by_the_retry(
    whole: bool,
) -> None:
    """a:g0 is renamed a:g9 as u1 leaves it; the rename moves its rows, deleting u1's fails.

    The membership left Grouper, and its row went with its group to the
    group's new key. Its record kept the row's old target id: the retry
    found the row under the new key as no record's, and under
    ``inserted_by_us`` kept it for good.
    """
    broken = {"on": False}
    source = InMemorySource()
    for subject in ("u0", "u1"):
        source.add_subject(subject)
    source.mark("a", "prop", scope="sub")
    source.add_group("a:g0")
    for subject in ("u0", "u1"):
        source.add_member("a:g0", subject)
    source.add_group("a:other")  # u1 stays provisioned
    source.add_member("a:other", "u1")
    operations = (
        set(Operation)
        - {
            Operation.INSERT_MEMBERSHIP,
            Operation.INSERT_MEMBERSHIPS,
            Operation.DELETE_MEMBERSHIP,
            Operation.DELETE_MEMBERSHIPS,
        }
        if whole
        else None
    )
    inner = InMemoryTarget(operations=operations, id_attributes={"group": "cn", "entity": "uid"})
    writes = {"replace_group_memberships", "delete_memberships"}
    target = FailingTarget(inner, lambda op, _bean: broken["on"] and op in writes)
    config = _property_config(MembershipType.MEMBERSHIP_OBJECTS, "inserted_by_us", False)
    prov = Provisioner(config, source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    seen = len(source.changes)
    source.rename_group("a:g0", "a:g9")
    source.remove_member("a:g9", "u1")
    broken["on"] = True
    assert prov.incremental_sync(source.events(seen)).status is SyncStatus.ERROR
    # Moved with their group, u1's not deleted.
    assert set(inner.memberships) == {("a:g9", "u0"), ("a:g9", "u1"), ("a:other", "u1")}
    broken["on"] = False
    assert prov.incremental_sync([]).status is SyncStatus.SUCCESS
    assert set(inner.memberships) == {("a:g9", "u0"), ("a:other", "u1")}
    as_a_full_sync_leaves_it(prov)


def test_a_group_sync_leaves_a_persons_failed_list_to_the_retry() -> None:
    """u0's isMemberOf list (a whole list) failed to drop a:x; a group sync of a:y comes next.

    The group sync sees u0's values of a:y only (a:x is out of its view) and
    finds them right. It left u0 without the error of its failed list, so
    no retry recalculated u0 whole, and a:x stayed on u0 for good. A run
    that sees part of a person's list now leaves that error to the retry.
    """
    broken = {"on": False}
    source = InMemorySource()
    source.add_subject("u0")
    source.mark("a", "prop", scope="sub")
    for name in ("a:x", "a:y"):
        source.add_group(name)
        source.add_member(name, "u0")
    inner = InMemoryTarget(id_attributes={"group": "cn", "entity": "uid"}, value_changes=False)
    target = FailingTarget(inner, lambda op, _bean: broken["on"] and op == "update_entities")
    config = _property_config(MembershipType.ENTITY_ATTRIBUTES, "inserted_by_us", False)
    prov = Provisioner(config, source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    seen = len(source.changes)
    source.delete_group("a:x")
    broken["on"] = True
    assert prov.incremental_sync(source.events(seen)).status is SyncStatus.ERROR
    broken["on"] = False
    assert inner.entities["u0"].values("isMemberOf") == {"a:x", "a:y"}
    assert prov.sync_group("a:y").status is SyncStatus.SUCCESS
    assert prov.incremental_sync([]).status is SyncStatus.SUCCESS
    assert inner.entities["u0"].values("isMemberOf") == {"a:y"}
    as_a_full_sync_leaves_it(prov)


@pytest.mark.parametrize("kind", list(MembershipType))
def test_what_a_group_takes_over_by_name_stays_grouperprovs(kind: MembershipType) -> None:
    """A new a:g1 takes the object and members of the a:g1 deleted in the batch; then goes too.

    Under ``inserted_by_us`` (the default), what the new group took over
    was recorded as found in the target, not inserted by grouperprov: when
    the new group was deleted in turn, its object (or its members' rows, or
    the people's ``isMemberOf`` values) stayed for good.
    """
    source = InMemorySource()
    for subject in ("u0", "u1"):
        source.add_subject(subject)
    source.mark("a", "prop", scope="sub")
    source.add_group("a:g1")
    source.add_member("a:g1", "u0")
    source.add_group("a:g2")
    source.add_member("a:g2", "u1")
    target = InMemoryTarget(id_attributes={"group": "cn", "entity": "uid"})
    config = _property_config(kind, "inserted_by_us", require_members=False)
    prov = Provisioner(config, source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    seen = len(source.changes)
    source.delete_group("a:g1")
    source.add_group("a:g1")  # another group, of the same name
    source.add_member("a:g1", "u0")
    assert prov.incremental_sync(source.events(seen)).status is SyncStatus.SUCCESS
    seen = len(source.changes)
    source.delete_group("a:g1")
    assert prov.incremental_sync(source.events(seen)).status is SyncStatus.SUCCESS
    assert set(target.groups) == {"a:g2"}
    assert set(target.entities) == {"u1"}
    assert not [m for m in target.memberships if m[0] == "a:g1"]
    assert not prov.plan_full().plan.changes
    before = record_facts(prov)
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert record_facts(prov) == before
