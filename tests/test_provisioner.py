"""The Provisioner, from Grouper's behaviour."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import attrs
import pytest

from grouperprov import (
    AttributeChange,
    LogRecord,
    ObjectType,
    Operation,
    Provisioner,
    ProvisionerConfig,
    ProvisionerRecord,
    ProvisioningGroup,
    SyncErrorCode,
    SyncRecord,
    SyncStatus,
    SyncType,
)
from grouperprov.exceptions import StalePlanError, TargetUnavailable
from grouperprov.stores import MemorySyncStore
from grouperprov.testing import InMemorySource, InMemoryTarget

P = "campus-ldap"


def _config(**overrides: Any) -> ProvisionerConfig:
    data: dict[str, Any] = {
        "name": P,
        "groups": {
            "attributes": [
                {"name": "cn", "field": "extension"},
                {"name": "description", "field": "description"},
            ],
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


def _groups(**overrides: Any) -> dict[str, Any]:
    groups: dict[str, Any] = {
        "attributes": [
            {"name": "cn", "field": "extension"},
            {"name": "description", "field": "description"},
        ],
        "matching": ["cn"],
    }
    groups.update(overrides)
    return groups


def _campus(members: int = 3) -> InMemorySource:
    source = InMemorySource()
    for i in range(members):
        source.add_subject(f"u{i}", name=f"User {i}")
    source.add_group("apps:ldap:staff", description="Staff")
    source.add_group("apps:ldap:courses:math101")
    source.add_group("apps:wiki:editors")
    for i in range(members):
        source.add_member("apps:ldap:staff", f"u{i}")
    source.add_member("apps:ldap:courses:math101", "u0")
    source.add_member("apps:wiki:editors", "u1")
    source.mark("apps:ldap", P, scope="sub")
    return source


def _provisioner(source: InMemorySource, **kwargs: Any) -> Any:
    from grouperprov import Provisioner  # noqa: PLC0415

    target = kwargs.pop("target", None) or InMemoryTarget(id_attributes={"group": "cn"})
    store = kwargs.pop("store", None) or MemorySyncStore()
    return Provisioner(_config(**kwargs), source, target, store)


def test_a_folder_marked_sub_provisions_its_groups_and_nothing_outside() -> None:
    source = _campus()
    prov = _provisioner(source)
    result = prov.full_sync()
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert set(prov.target.groups) == {"staff", "math101"}
    assert prov.target.groups["staff"].get("member") == frozenset({"u0", "u1", "u2"})
    second = prov.full_sync()
    assert second.plan is not None
    assert second.plan.empty
    assert second.status is SyncStatus.SUCCESS


def test_scope_one_and_opt_out() -> None:
    source = _campus()
    source.mark("apps:ldap", P, scope="one")
    prov = _provisioner(source)
    prov.full_sync()
    assert set(prov.target.groups) == {"staff"}
    source.mark("apps:ldap", P, scope="sub")
    source.mark("apps:ldap:courses", P, provisionable=False)
    prov.full_sync()
    assert set(prov.target.groups) == {"staff"}


def test_a_tripped_failsafe_writes_nothing_and_blocks_until_approved() -> None:
    source = _campus(members=10)
    prov = _provisioner(source, failsafe={"max_group_percent_removed": 20})
    prov.full_sync()
    assert len(prov.target.groups["staff"].get("member")) == 10
    for i in range(5):
        source.remove_member("apps:ldap:staff", f"u{i}")
    refused = prov.full_sync()
    assert refused.status is SyncStatus.ERROR_FAILSAFE
    assert refused.failsafe[0].startswith(
        "group 'apps:ldap:staff' (grp-00001) would lose 5 of its 10 members (50%)"
    )
    assert len(prov.target.groups["staff"].get("member")) == 10
    # Still blocked on the next run, even without a new trip.
    again = prov.full_sync()
    assert again.status is SyncStatus.ERROR_FAILSAFE
    assert again.message == "blocked by an earlier failsafe trip that is not approved"
    state = prov.store.load(P)
    assert state.provisioner.failsafe is not None
    assert state.provisioner.failsafe.blocking
    returned = prov.approve_failsafe("jo@example.edu")
    approved = prov.store.load(P).provisioner.failsafe
    assert approved is not None
    assert returned == approved
    assert approved.approved_by == "jo@example.edu"
    assert approved.approved_at is not None
    done = prov.full_sync()
    assert done.status is SyncStatus.SUCCESS, done.summary()
    assert len(prov.target.groups["staff"].get("member")) == 5
    assert prov.store.load(P).provisioner.failsafe is None
    with pytest.raises(LookupError, match="has not tripped"):
        prov.approve_failsafe("jo")


def test_overall_failsafe_thresholds() -> None:
    source = _campus()
    prov = _provisioner(
        source,
        failsafe={"max_percent_groups_removed": 40, "max_percent_memberships_removed": 50},
        groups={**_config().to_dict()["groups"], "delete_policy": "inserted_by_us"},
    )
    prov.full_sync()
    source.unmark("apps:ldap", P)
    refused = prov.full_sync()
    assert refused.status is SyncStatus.ERROR_FAILSAFE
    assert refused.failsafe == (
        "2 of 2 managed groups would be deleted (100%), more than max_percent_groups_removed = 40%",
    )


def test_groups_that_require_members_lifecycle() -> None:
    source = _campus()
    source.add_group("apps:ldap:empty")
    prov = _provisioner(source, provisionable={"groups_require_members": True})
    result = prov.full_sync()
    assert result.errors[(ObjectType.GROUP, "grp-00004")].code is SyncErrorCode.MEM
    assert result.status is SyncStatus.WARNING
    assert "empty" not in prov.target.groups
    source.add_member("apps:ldap:empty", "u0")
    prov.full_sync()
    assert prov.target.groups["empty"].get("member") == frozenset({"u0"})
    source.remove_member("apps:ldap:empty", "u0")
    prov.full_sync()
    assert "empty" not in prov.target.groups
    # Deleted for MEM: the record keeps the error and says the group is no
    # longer provisionable (nor in the target).
    record = prov.store.load(P).records[(ObjectType.GROUP, "grp-00004")]
    assert record.error_code is SyncErrorCode.MEM
    assert not record.provisionable
    assert record.provisionable_end is not None
    assert not record.in_target


def test_a_person_who_leaves_every_provisioned_group_loses_the_values_we_put_there() -> None:
    """entity_attributes, people never deleted: the entry stays, its entitlements go."""
    source = _campus()
    target = InMemoryTarget(id_attributes={"entity": "uid"})
    prov = _provisioner(
        source,
        target=target,
        groups={"operate": False},
        entities={
            "attributes": [{"name": "uid", "field": "subject_id"}],
            "matching": ["uid"],
            "delete": False,
        },
        memberships={
            "type": "entity_attributes",
            "attribute": {"name": "isMemberOf", "field": "name"},
        },
    )
    prov.full_sync()
    assert target.entities["u0"].values("isMemberOf") == {
        "apps:ldap:staff",
        "apps:ldap:courses:math101",
    }
    source.remove_member("apps:ldap:staff", "u2")  # u2's only provisioned group
    result = prov.full_sync()
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert "u2" in target.entities  # never deleted
    assert target.entities["u2"].values("isMemberOf") == frozenset()
    assert prov.full_sync().plan.empty


def test_delete_only_what_we_inserted() -> None:
    source = _campus()
    target = InMemoryTarget(id_attributes={"group": "cn"})
    target.seed(groups=[ProvisioningGroup(id="legacy", attributes={"cn": "legacy"})])
    prov = _provisioner(source, target=target)
    prov.full_sync()
    source.delete_group("apps:ldap:courses:math101")
    prov.full_sync()
    assert set(target.groups) == {"legacy", "staff"}
    record = prov.store.load(P).records[(ObjectType.GROUP, "grp-00002")]
    assert record.inserted_by_us
    assert not record.in_target
    assert not record.provisionable


def test_a_dry_run_writes_nothing_to_target_or_store() -> None:
    source = _campus()
    prov = _provisioner(source)
    result = prov.full_sync(dry_run=True)
    assert result.dry_run
    assert result.plan is not None
    assert not result.plan.empty
    assert prov.target.groups == {}
    assert prov.store.load(P).records == {}
    assert prov.store.logs(P) == []


def test_sync_records_agree_with_the_target() -> None:
    source = _campus()
    prov = _provisioner(source)
    prov.full_sync()
    records = prov.store.load(P).records
    staff = records[(ObjectType.GROUP, "grp-00001")]
    assert staff.target_id == "staff"
    assert staff.in_target
    assert staff.provisionable
    assert staff.inserted_by_us
    assert staff.last_sync is not None
    member = records[(ObjectType.MEMBERSHIP, ("grp-00001", "mem-u0"))]
    assert member.in_target
    assert member.target_id == ("grp-00001", "u0")
    outside = (ObjectType.GROUP, "grp-00003")
    assert outside not in records
    (log,) = prov.store.logs(P)
    assert log.status == "SUCCESS"
    assert log.sync_type is SyncType.FULL


class _CountingStore(MemorySyncStore):
    """A memory store that keeps the records of each save."""

    def __init__(self) -> None:
        super().__init__()
        self.saved: list[list[SyncRecord]] = []

    def save(
        self, provisioner: Any, records: Any, **kwargs: Any
    ) -> None:  # the protocol's arguments
        records = list(records)
        self.saved.append(records)
        super().save(provisioner, records, **kwargs)


def _ticking(start: datetime) -> Any:  # a clock
    """A clock one minute later at every call."""
    times = (start + timedelta(minutes=i) for i in range(1_000_000))
    return lambda: next(times)


def test_a_run_that_finds_everything_as_recorded_writes_no_records() -> None:
    """Only records that say something new are written; last_sync stays where it was."""
    source = _campus()
    store = _CountingStore()
    prov = _provisioner(source, store=store)
    prov.clock = _ticking(datetime(2026, 12, 1, tzinfo=UTC))
    prov.full_sync()
    before = prov.store.load(P).records
    assert len(store.saved[-1]) == len(before) > 0
    again = prov.full_sync()
    assert again.plan is not None
    assert again.plan.empty
    assert store.saved[-1] == []
    assert prov.store.load(P).records == before
    # A changed group: its record alone is written (and its last_sync moves).
    source.add_member("apps:ldap:courses:math101", "u2")
    prov.full_sync()
    (written,) = store.saved[-1]
    assert written.grouper_id == ("grp-00002", "mem-u2")
    after = prov.store.load(P).records
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed == {(ObjectType.MEMBERSHIP, ("grp-00002", "mem-u2"))}


@pytest.mark.parametrize("policy", ["not_in_grouper", "inserted_by_us"])
def test_a_record_in_error_is_written_at_every_try(policy: str) -> None:
    """Its last_sync is when it was last tried: retries are paced by it.

    With ``inserted_by_us``, each try writes an insert intent ahead; the
    record after the failed insert replaces it (it was not inserted by us).
    """
    source = _campus()
    target = InMemoryTarget(
        id_attributes={"group": "cn"}, fail=lambda _op, bean: bean.id == "grp-00002"
    )
    prov = _provisioner(source, target=target, groups=_groups(delete_policy=policy))
    prov.clock = _ticking(datetime(2026, 12, 1, tzinfo=UTC))
    key = (ObjectType.GROUP, "grp-00002")
    prov.full_sync()
    first = prov.store.load(P).records[key]
    prov.full_sync()
    second = prov.store.load(P).records[key]
    assert second.error_code is first.error_code is SyncErrorCode.ERR
    assert second.error_time == first.error_time  # the same error: when it first happened
    assert first.last_sync is not None
    assert second.last_sync is not None
    assert second.last_sync > first.last_sync
    assert not second.inserted_by_us


@pytest.mark.parametrize("kind", ["group_attributes", "membership_objects"])
def test_a_data_error_found_again_is_not_written_again(kind: str) -> None:
    """INV (LEN, REQ, MEM) changes with Grouper's data, and is not retried: nothing new.

    A pattern that keeps service accounts out (``u[0-9]+``) makes an INV of
    each of their memberships. Each no-change full sync wrote all those
    records again (once membership values had records in error, as
    membership objects always had); only a retried error's record must be
    (its last_sync paces the retries).
    """
    pattern = {"valid_pattern": "u[0-9]+"}
    source = _campus()
    source.add_subject("svc-backup")
    source.add_member("apps:ldap:courses:math101", "svc-backup")
    memberships: dict[str, Any] = (
        {"type": kind, "attribute": {"name": "member", "field": "subject_id", **pattern}}
        if kind == "group_attributes"
        else {
            "type": kind,
            "attributes": [
                {"name": "g", "field": "group.name"},
                {"name": "u", "field": "entity.subject_id", **pattern},
            ],
            "matching": [["g", "u"]],
        }
    )
    store = _CountingStore()
    prov = _provisioner(source, store=store, memberships=memberships)
    prov.clock = _ticking(datetime(2026, 12, 1, tzinfo=UTC))
    assert prov.full_sync().status is SyncStatus.WARNING
    (inv,) = store.error_records(P)
    assert inv.error_code is SyncErrorCode.INV
    before = prov.store.load(P).records
    again = prov.full_sync()
    assert again.status is SyncStatus.WARNING
    assert store.saved[-1] == []
    assert prov.store.load(P).records == before


def test_a_config_the_target_cannot_serve_is_a_config_error() -> None:
    source = _campus()
    target = InMemoryTarget(operations=set())
    prov = _provisioner(source, target=target)
    result = prov.full_sync()
    assert result.status is SyncStatus.CONFIG_ERROR
    assert "groups.insert: the target cannot insert groups" in result.message
    assert result.summary().startswith(f"full sync of {P!r}: CONFIG_ERROR, 0 changes made")
    later = prov.incremental_sync(source.events())
    assert later.status is SyncStatus.CONFIG_ERROR
    assert "groups.insert: the target cannot insert groups" in later.message


def test_failed_objects_make_an_error_status_and_are_recorded() -> None:
    source = _campus()
    target = InMemoryTarget(
        id_attributes={"group": "cn"}, fail=lambda _op, bean: bean.id == "grp-00002"
    )
    prov = _provisioner(source, target=target)
    result = prov.full_sync()
    assert result.status is SyncStatus.ERROR
    record = prov.store.load(P).records[(ObjectType.GROUP, "grp-00002")]
    assert record.error_code is SyncErrorCode.ERR
    assert record.error_message is not None
    target._fail = lambda _op, _bean: False
    fixed = prov.full_sync()
    assert fixed.status is SyncStatus.SUCCESS
    assert prov.store.load(P).records[(ObjectType.GROUP, "grp-00002")].error_code is None


def _objects_config() -> dict[str, Any]:
    return {
        "memberships": {
            "attributes": [
                {"name": "group", "field": "group.extension"},
                {"name": "user", "field": "entity.subject_id"},
            ],
            "matching": [["group", "user"]],
            "delete_policy": "inserted_by_us",
        }
    }


@pytest.mark.parametrize("replace_only", [False, True])
def test_membership_object_records_follow_inserts_and_removals(replace_only: bool) -> None:
    from grouperprov import Operation  # noqa: PLC0415

    source = _campus()
    ops = set(Operation)
    if replace_only:
        ops -= {
            Operation.INSERT_MEMBERSHIP,
            Operation.INSERT_MEMBERSHIPS,
            Operation.DELETE_MEMBERSHIP,
            Operation.DELETE_MEMBERSHIPS,
        }
    target = InMemoryTarget(id_attributes={"group": "cn"}, operations=ops)
    prov = _provisioner(source, target=target, **_objects_config())
    prov.full_sync()
    key = (ObjectType.MEMBERSHIP, ("grp-00001", "mem-u1"))
    record = prov.store.load(P).records[key]
    assert record.in_target
    assert record.inserted_by_us
    assert record.target_id == ("staff", "mem-u1")
    source.remove_member("apps:ldap:staff", "u1")
    result = prov.full_sync()
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert ("staff", "mem-u1") not in target.memberships
    record = prov.store.load(P).records[key]
    assert not record.in_target
    assert not record.provisionable


def test_only_the_first_errors_of_a_code_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    source = _campus()
    for i in range(4):
        source.add_group(f"apps:ldap:{'x' * 30}{i}")
    prov = _provisioner(
        source,
        logged_errors_per_code=2,
        groups={
            "attributes": [{"name": "cn", "field": "extension", "max_length": 20}],
            "matching": ["cn"],
        },
    )
    with caplog.at_level("WARNING", logger="grouperprov.provisioner"):
        result = prov.full_sync()
    assert result.error_counts() == {"LEN": 4}
    assert sum("LEN [cn]" in r.getMessage() for r in caplog.records) == 2
    assert "2 more objects with LEN not logged one by one" in caplog.text


def test_a_group_sync_recalculates_only_that_group() -> None:
    source = _campus()
    prov = _provisioner(source)
    result = prov.sync_group("apps:ldap:staff")
    assert result.sync_type is SyncType.GROUP
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert set(prov.target.groups) == {"staff"}
    assert prov.target.groups["staff"].get("member") == frozenset({"u0", "u1", "u2"})
    # The full sync then adds only what the group sync left out.
    full = prov.full_sync()
    assert full.plan is not None
    assert [c.object_id for c in full.plan.changes if c.object_type is ObjectType.GROUP] == [
        "grp-00002"
    ]
    (log_full,) = [entry for entry in prov.store.logs(P) if entry.sync_type is SyncType.FULL]
    assert log_full.status == "SUCCESS"


def test_a_group_sync_leaves_other_groups_and_their_records_alone() -> None:
    source = _campus()
    prov = _provisioner(
        source, groups={**_config().to_dict()["groups"], "delete_policy": "not_in_grouper"}
    )
    prov.target.seed(groups=[ProvisioningGroup(id="unrelated", attributes={"cn": "unrelated"})])
    prov.full_sync()
    assert "unrelated" not in prov.target.groups  # the full sync deletes it (not_in_grouper)
    prov.target.seed(groups=[ProvisioningGroup(id="unrelated", attributes={"cn": "unrelated"})])
    source.remove_member("apps:ldap:staff", "u2")
    source.add_member("apps:ldap:courses:math101", "u2")
    result = prov.sync_group("apps:ldap:courses:math101")
    assert result.status is SyncStatus.SUCCESS
    assert "unrelated" in prov.target.groups
    assert prov.target.groups["math101"].get("member") == frozenset({"u0", "u2"})
    assert prov.target.groups["staff"].get("member") == frozenset({"u0", "u1", "u2"})
    records = prov.store.load(P).records
    assert records[(ObjectType.GROUP, "grp-00001")].provisionable
    assert records[(ObjectType.MEMBERSHIP, ("grp-00001", "mem-u2"))].in_target


def _entitlements(lists: dict[str, Sequence[str]]) -> InMemorySource:
    """``u0`` and ``u1``, the groups of *lists* with their members, the folder ``apps`` marked."""
    source = InMemorySource()
    for subject in ("u0", "u1"):
        source.add_subject(subject)
    for name, members in lists.items():
        source.add_group(name)
        for subject in members:
            source.add_member(name, subject)
    source.mark("apps", P, scope="sub")
    return source


def _entitlements_config(**entities: Any) -> ProvisionerConfig:
    """Groups not operated; people by uid with the groups' names in ``isMemberOf``."""
    policy = entities.pop("delete_policy", None)
    memberships: dict[str, Any] = {
        "type": "entity_attributes",
        "attribute": {"name": "isMemberOf", "field": "name"},
    }
    if policy is not None:
        entities["delete_policy"] = memberships["delete_policy"] = policy
    return ProvisionerConfig.from_dict(
        {
            "name": P,
            "groups": {"operate": False},
            "entities": {
                "attributes": [{"name": "uid", "field": "subject_id"}],
                "matching": ["uid"],
                **entities,
            },
            "memberships": memberships,
        }
    )


@pytest.mark.parametrize("value_changes", [True, False], ids=["value-changes", "whole-lists"])
@pytest.mark.parametrize("policy", ["not_in_grouper", "removed_from_grouper", "inserted_by_us"])
def test_a_group_sync_changes_only_its_groups_values_on_people(
    policy: str, value_changes: bool
) -> None:
    """Entitlements: a group sync changes its group's values and leaves people's other groups'.

    Found by a fuzzer comparing group syncs and incremental runs with full
    syncs: with ``entity_attributes``, a group sync saw a person's values
    from their other groups as gone from Grouper, and removed them; and it
    never looked at a member who had left the group, whose value stayed.
    A target that only replaces whole lists got a list without the values
    the group sync had not looked at (found by comparing the target with
    Grouper): they are sent back with it.
    """
    source = _entitlements({"apps:a": ["u0", "u1"], "apps:b": ["u0", "u1"]})
    config = _entitlements_config(delete_policy=policy)
    target = InMemoryTarget(id_attributes={"entity": "uid"}, value_changes=value_changes)
    prov = Provisioner(config, source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    source.remove_member("apps:a", "u0")
    result = prov.sync_group("apps:a")
    assert result.status is SyncStatus.SUCCESS, result.summary()
    # u0 left apps:a: that value goes. u1 is still in both: apps:b stays.
    assert target.entities["u0"].get("isMemberOf") == frozenset({"apps:b"})
    assert target.entities["u1"].get("isMemberOf") == frozenset({"apps:a", "apps:b"})
    assert not prov.plan_full().plan.changes


@pytest.mark.parametrize("how", ["group deleted", "member left"])
@pytest.mark.parametrize("delete", [True, False], ids=["entities-deleted", "entities-kept"])
def test_a_group_sync_takes_the_value_off_a_member_it_was_the_last_group_of(
    how: str, delete: bool
) -> None:
    """Entitlements: a member whose last group goes keeps no value of it after a group sync.

    ``u0`` is in ``apps:a`` alone; the group is deleted (and synced by its
    id), or ``u0`` leaves it. ``u0`` is then in no scope, and a group sync
    never deletes entities: it used to leave ``apps:a`` on the entry, where
    an incremental run or a full sync took it off (found by a fuzzer that
    compares the target with Grouper).
    """
    source = _entitlements({"apps:a": ["u0", "u1"], "apps:b": ["u1"]})
    config = _entitlements_config(delete=delete)
    target = InMemoryTarget(id_attributes={"entity": "uid"})
    prov = Provisioner(config, source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    (group_id,) = [g.id for g in source.snapshot().groups if g.get("name") == "apps:a"]
    if how == "group deleted":
        source.delete_group("apps:a")
    else:
        source.remove_member("apps:a", "u0")
    result = prov.sync_group(group_id)
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert target.entities["u0"].values("isMemberOf") == frozenset()
    expected = {"apps:b"} if how == "group deleted" else {"apps:a", "apps:b"}
    assert target.entities["u1"].values("isMemberOf") == expected
    assert not prov.plan_full().plan.changes or delete  # a full sync deletes u0 when it may


def test_a_group_sync_deletes_a_group_that_is_no_longer_provisionable() -> None:
    source = _campus()
    prov = _provisioner(source)
    prov.full_sync()
    source.mark("apps:ldap:courses", P, provisionable=False)
    result = prov.sync_group(folder="apps:ldap:courses")
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert set(prov.target.groups) == {"staff"}
    record = prov.store.load(P).records[(ObjectType.GROUP, "grp-00002")]
    assert not record.provisionable
    assert not record.in_target
    assert prov.store.load(P).records[(ObjectType.GROUP, "grp-00001")].provisionable


def test_a_group_sync_never_deletes_entities() -> None:
    config = _config(
        entities={
            "attributes": [{"name": "uid", "field": "subject_id"}],
            "matching": ["uid"],
            "delete_policy": "not_in_grouper",
        }
    )
    from grouperprov import Provisioner, ProvisioningEntity  # noqa: PLC0415

    target = InMemoryTarget(id_attributes={"group": "cn", "entity": "uid"})
    target.seed(entities=[ProvisioningEntity(id="stranger", attributes={"uid": "stranger"})])
    prov = Provisioner(config, _campus(), target)
    prov.sync_group("apps:ldap:staff")
    assert "stranger" in target.entities
    assert {"u0", "u1", "u2"} <= set(target.entities)
    prov.full_sync()
    assert "stranger" not in target.entities


def test_a_group_deleted_from_grouper_is_group_synced_by_its_recorded_id() -> None:
    """Its name is gone from Grouper; its id, in its sync record, still names it.

    Before, a group sync of a deleted group was refused by name and by id
    alike: only an incremental run or a full sync could take it away.
    """
    source = _campus()
    prov = _provisioner(source)
    prov.full_sync()
    source.delete_group("apps:ldap:courses:math101")
    with pytest.raises(LookupError, match="named by its id"):
        prov.sync_group("apps:ldap:courses:math101")
    result = prov.sync_group("grp-00002")
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert set(prov.target.groups) == {"staff"}
    record = prov.store.load(P).records[(ObjectType.GROUP, "grp-00002")]
    assert (record.provisionable, record.in_target) == (False, False)
    with pytest.raises(LookupError, match="nor a sync record"):
        prov.sync_group("grp-99999")


def test_a_group_sync_of_unknown_groups_or_folders_is_refused() -> None:
    prov = _provisioner(_campus())
    with pytest.raises(LookupError, match="no group 'apps:nope' in Grouper"):
        prov.sync_group("apps:nope")
    with pytest.raises(LookupError, match="no group under the folder 'apps:nope' in Grouper"):
        prov.sync_group(folder="apps:nope")


def test_a_group_sync_dry_run_and_config_errors() -> None:
    prov = _provisioner(_campus())
    result = prov.sync_group("apps:ldap:staff", dry_run=True)
    assert result.dry_run
    assert prov.target.groups == {}
    broken = _provisioner(_campus(), target=InMemoryTarget(operations=set()))
    assert broken.sync_group("apps:ldap:staff").status is SyncStatus.CONFIG_ERROR


def test_a_renamed_group_is_updated_through_its_target_link() -> None:
    source = _campus()
    target = InMemoryTarget()  # target ids of its own, as a remote id or a DN
    prov = _provisioner(source, target=target)
    prov.full_sync()
    (target_id,) = [t for t, g in target.groups.items() if g.get("cn") == "staff"]
    source.rename_group("apps:ldap:staff", "apps:ldap:employees")
    planned = prov.plan_full()
    changes = [(c.action.value, c.object_type.value) for c in planned.plan.changes]
    assert changes == [("update", "group")]
    gid = source.snapshot().groups[0].id
    match = planned.comparison.matches[ObjectType.GROUP]
    assert match.pairs[gid] == target_id
    assert str(match.matched_by[gid]) == f"target link={target_id!r}"
    prov.apply(planned)
    assert target.groups[target_id].get("cn") == "employees"
    assert target.groups[target_id].get("member") == frozenset({"u0", "u1", "u2"})
    assert prov.store.load(P).records[(ObjectType.GROUP, gid)].target_id == target_id
    assert not prov.plan_full().plan.changes


def test_without_its_record_a_renamed_group_is_replaced() -> None:
    # The same rename with the sync records lost: nothing links the two, so a
    # new object is inserted, and the old one, which no record says
    # grouperprov inserted, is left alone.
    source = _campus()
    target = InMemoryTarget()
    prov = _provisioner(source, target=target)
    prov.full_sync()
    source.rename_group("apps:ldap:staff", "apps:ldap:employees")
    fresh = _provisioner(source, target=target, store=MemorySyncStore())
    changes = sorted(
        (c.action.value, c.object_type.value, len(c.memberships))
        for c in fresh.plan_full().plan.changes
    )
    # The new group's three members come with its insert, in one change.
    assert changes == [("insert", "group", 0), ("insert", "membership", 3)]
    fresh.full_sync()
    assert sorted(g.get_str("cn") or "" for g in target.groups.values()) == [
        "employees",
        "math101",
        "staff",
    ]


def _reloaded(target: InMemoryTarget) -> InMemoryTarget:
    """The same groups under new target ids, as after a target was reloaded."""
    fresh = InMemoryTarget()
    fresh.seed(groups=[attrs.evolve(g, id=f"reloaded-{g.id}") for g in target.groups.values()])
    return fresh


def test_cached_attributes_are_kept_in_the_records_as_written_then_as_read() -> None:
    source = _campus()
    prov = _provisioner(
        source, target=InMemoryTarget(), groups=_groups(cached_attributes=["cn", "description"])
    )
    prov.full_sync()
    staff = next(g.id for g in source.snapshot().groups if g.get("extension") == "staff")
    math = next(g.id for g in source.snapshot().groups if g.get("extension") == "math101")
    records = prov.store.load(P).records
    assert records[(ObjectType.GROUP, staff)].links == ("staff", "Staff")
    # No description: nothing to cache for it.
    assert records[(ObjectType.GROUP, math)].links == ("math101", None)
    # Someone edits the target; the run puts it back and caches what it wrote.
    (target_id,) = [t for t, g in prov.target.groups.items() if g.get("cn") == "staff"]
    prov.target.groups[target_id] = prov.target.groups[target_id].with_attributes(
        {"description": "Edited"}
    )
    source.update_group("apps:ldap:staff", description="All staff")
    prov.full_sync()
    assert prov.store.load(P).records[(ObjectType.GROUP, staff)].links == ("staff", "All staff")


def test_a_rename_with_new_target_ids_is_matched_by_the_cached_values() -> None:
    source = _campus()
    target = InMemoryTarget()
    prov = _provisioner(source, target=target, groups=_groups(cached_attributes=["cn"]))
    prov.full_sync()
    source.rename_group("apps:ldap:staff", "apps:ldap:employees")
    reloaded = _reloaded(target)
    again = _provisioner(
        source, target=reloaded, store=prov.store, groups=_groups(cached_attributes=["cn"])
    )
    planned = again.plan_full()
    gid = next(g.id for g in source.snapshot().groups if g.get("extension") == "employees")
    match = planned.comparison.matches[ObjectType.GROUP]
    assert str(match.matched_by[gid]) == "cn='staff'"
    changes = [(c.action.value, c.object_type.value) for c in planned.plan.changes]
    assert changes == [("update", "group")]
    again.apply(planned)
    assert sorted(g.get_str("cn") or "" for g in reloaded.groups.values()) == [
        "employees",
        "math101",
    ]
    record = again.store.load(P).records[(ObjectType.GROUP, gid)]
    assert record.links == ("employees",)
    assert record.target_id == match.pairs[gid]


def test_without_cached_attributes_the_same_rename_inserts_a_new_group() -> None:
    source = _campus()
    target = InMemoryTarget()
    prov = _provisioner(source, target=target)
    prov.full_sync()
    assert all(not r.links for r in prov.store.load(P).records.values())
    source.rename_group("apps:ldap:staff", "apps:ldap:employees")
    again = _provisioner(source, target=_reloaded(target), store=prov.store)
    changes = sorted((c.action.value, c.object_type.value) for c in again.plan_full().plan.changes)
    assert ("insert", "group") in changes
    assert ("update", "group") not in changes


def test_cached_values_claimed_by_two_groups_pair_neither() -> None:
    source = _campus()
    target = InMemoryTarget()
    prov = _provisioner(source, target=target, groups=_groups(cached_attributes=["cn"]))
    prov.full_sync()
    staff = next(g.id for g in source.snapshot().groups if g.get("extension") == "staff")
    math = next(g.id for g in source.snapshot().groups if g.get("extension") == "math101")
    state = prov.store.load(P)
    # A record edited by hand (or by a bug) now caches math101's cn too.
    prov.store.save(
        state.provisioner,
        [attrs.evolve(state.records[(ObjectType.GROUP, staff)], links=("math101",))],
    )
    source.rename_group("apps:ldap:staff", "apps:ldap:employees")
    source.rename_group("apps:ldap:courses:math101", "apps:ldap:courses:math102")
    again = _provisioner(
        source, target=_reloaded(target), store=prov.store, groups=_groups(cached_attributes=["cn"])
    )
    planned = again.plan_full()
    errors = {e.object_id: e.error.code for e in planned.plan.errors}
    assert errors.get(staff) is SyncErrorCode.MAT
    assert errors.get(math) is SyncErrorCode.MAT
    assert not [c for c in planned.plan.changes if c.action.value == "delete"]


class _Crash(BaseException):
    """Stands for the process dying: nothing in grouperprov catches it."""


def _dies_at_second_group_insert() -> InMemoryTarget:
    inserts = 0

    def fail(operation: str, _bean: object) -> bool:
        nonlocal inserts
        if operation == "insert_groups":
            inserts += 1
            if inserts == 2:  # the second group
                raise _Crash
        return False

    return InMemoryTarget(
        id_attributes={"group": "cn"},
        batch_sizes={Operation.INSERT_GROUPS: 1},
        fail=fail,
    )


@pytest.mark.parametrize("interval", [timedelta(0), None])
def test_checkpoints_save_what_a_long_run_wrote_before_it_died(interval: timedelta | None) -> None:
    source = _campus()
    target = _dies_at_second_group_insert()
    prov = _provisioner(source, target=target)
    prov.checkpoint_interval = interval
    with pytest.raises(_Crash):
        prov.full_sync()
    (written,) = target.groups  # the first group made it, the second did not
    records = prov.store.load(P).records
    in_target = {r.target_id for r in records.values() if r.in_target}
    if interval is None:
        # Only the insert intents were saved: the next full sync repairs the rest.
        assert in_target == set()
        assert all(r.inserted_by_us and not r.in_target for r in records.values())
    else:
        assert in_target == {written}
        (record,) = [r for r in records.values() if r.in_target]
        assert record.inserted_by_us
        assert record.in_target_start is not None
        # Nothing is recorded in the target that was not written yet.
        assert not any(r.in_target for r in records.values() if r.target_id != written)
    # Either way the next run converges.
    prov.target = InMemoryTarget(id_attributes={"group": "cn"})
    prov.target.seed(groups=target.groups.values())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert not prov.plan_full().plan.changes


class _WatchedStore(MemorySyncStore):
    """Keeps what each save wrote, and whether it was the run's last (with a log)."""

    def __init__(self) -> None:
        super().__init__()
        self.saves: list[tuple[list[SyncRecord], bool]] = []

    def save(
        self,
        provisioner: ProvisionerRecord,
        records: Iterable[SyncRecord],
        *,
        log: LogRecord | None = None,
        **queue: Any,  # the rejected events and acknowledged messages, passed on
    ) -> None:
        records = list(records)
        self.saves.append((records, log is not None))
        super().save(provisioner, records, log=log, **queue)


def test_a_checkpoint_records_errors_and_deletes_as_they_happen() -> None:
    source = _campus()
    store = _WatchedStore()
    target = InMemoryTarget(
        id_attributes={"group": "cn"},
        fail=lambda op, bean: op == "update_groups" and bean.get("cn") == "staff",
    )
    prov = _provisioner(source, target=target, store=store)
    prov.full_sync()
    source.delete_group("apps:ldap:courses:math101")
    source.add_subject("u9")
    source.add_member("apps:ldap:staff", "u9")
    prov.checkpoint_interval = timedelta(0)
    store.saves.clear()
    result = prov.full_sync()
    assert result.status is SyncStatus.ERROR
    *checkpoints, (_, last) = store.saves
    assert last
    saved = {(r.object_type, r.grouper_id): r for records, _ in checkpoints for r in records}
    math = next(
        k for k, r in store.load(P).records.items() if r.in_target_end and k[0] is ObjectType.GROUP
    )
    assert not saved[math].in_target  # the delete, saved as it happened
    u9 = next(k for k in saved if k[0] is ObjectType.MEMBERSHIP and k[1][1] == "mem-u9")  # type: ignore[index]
    assert saved[u9].error_code is SyncErrorCode.ERR  # the failed add, with its error
    assert not saved[u9].in_target
    # The memberships and groups that nothing was written for are not in any checkpoint.
    staff = next(g.id for g in source.snapshot().groups if g.get("extension") == "staff")
    assert (ObjectType.MEMBERSHIP, (staff, "mem-u0")) not in saved
    assert (ObjectType.MEMBERSHIP, (staff, "mem-u0")) in store.load(P).records


class _Unreachable(InMemoryTarget):
    """A target whose reads fail as an unreachable one's do, while *down* is set."""

    down = False

    def _reached(self) -> None:
        if self.down:
            msg = "cannot connect to mem://here: nothing listens"
            raise TargetUnavailable(msg)

    def retrieve_all_data(self) -> Any:  # as the base class
        self._reached()
        return super().retrieve_all_data()

    def retrieve_groups(self, ids: Any) -> list[Any]:  # as the base class
        self._reached()
        return super().retrieve_groups(ids)


def test_a_target_that_cannot_be_reached_stops_the_run_and_saves_nothing() -> None:
    """Full, group and incremental (recalc) runs: TARGET_UNAVAILABLE, no event taken."""
    source = _campus()
    target = _Unreachable(id_attributes={"group": "cn"})
    prov = _provisioner(source, target=target)
    assert prov.full_sync().status is SyncStatus.SUCCESS
    before = prov.store.load(P)
    seq = len(source.changes)
    source.update_group("apps:ldap:staff", description="Everyone")  # a recalc
    events = source.events(seq)
    target.down = True
    results = [
        prov.full_sync(),
        prov.sync_group("apps:ldap:staff"),
        prov.incremental_sync(events),
    ]
    assert [r.status for r in results] == [SyncStatus.TARGET_UNAVAILABLE] * 3
    assert all("cannot connect to mem://here" in r.message for r in results)
    after = prov.store.load(P)
    assert after.provisioner == before.provisioner  # no event marked processed
    assert after.records == before.records
    target.down = False
    assert prov.incremental_sync(events).status is SyncStatus.SUCCESS
    assert target.groups["staff"].get("description") == "Everyone"


class _DiesBeforeRecords(_WatchedStore):
    """Saves the insert intents, then dies where the run's records are saved (once)."""

    def __init__(self) -> None:
        super().__init__()
        self.dying = True

    def save(
        self,
        provisioner: ProvisionerRecord,
        records: Iterable[SyncRecord],
        *,
        log: LogRecord | None = None,
        **queue: Any,
    ) -> None:
        if log is not None and self.dying:
            self.dying = False
            raise _Crash
        super().save(provisioner, records, log=log, **queue)

    @property
    def intents(self) -> list[SyncRecord]:
        """What the saves before the run's records wrote: the insert intents."""
        return [r for records, last in self.saves if not last for r in records]


@pytest.mark.parametrize("group_policy", ["inserted_by_us", "not_in_grouper"])
def test_values_written_with_a_new_group_stay_ours_when_the_run_dies_before_its_records(
    group_policy: str,
) -> None:
    source = _campus()
    store = _DiesBeforeRecords()
    prov = _provisioner(source, store=store, groups=_groups(delete_policy=group_policy))
    with pytest.raises(_Crash):
        prov.full_sync()
    assert prov.target.groups["staff"].get("member") == frozenset({"u0", "u1", "u2"})
    intents = {r.object_type for r in store.intents}
    if group_policy == "inserted_by_us":
        # The new groups' intents stand for the values written with them.
        assert intents == {ObjectType.GROUP}
    else:
        # No intent of the group's: the values have their own.
        assert intents == {ObjectType.MEMBERSHIP}
        assert len(store.intents) == 4
    again = _provisioner(
        source, target=prov.target, store=store, groups=_groups(delete_policy=group_policy)
    )
    assert again.full_sync().status is SyncStatus.SUCCESS
    records = store.load(P).records
    memberships = [r for k, r in records.items() if k[0] is ObjectType.MEMBERSHIP]
    assert len(memberships) == 4
    assert all(r.in_target and r.inserted_by_us for r in memberships)
    # So what leaves Grouper leaves the target (delete_policy inserted_by_us).
    source.remove_member("apps:ldap:staff", "u1")
    assert again.full_sync().status is SyncStatus.SUCCESS
    assert prov.target.groups["staff"].get("member") == frozenset({"u0", "u2"})


def test_values_found_in_a_group_that_finished_its_insert_are_not_claimed() -> None:
    # A value someone else put in a group grouperprov inserted, in a finished
    # run, is not grouperprov's: only an unfinished insert's intent speaks for values.
    source = _campus()
    prov = _provisioner(source)
    assert prov.full_sync().status is SyncStatus.SUCCESS
    source.add_subject("u9")
    source.add_member("apps:ldap:staff", "u9")
    staff = prov.target.groups["staff"]
    prov.target.seed(groups=[staff.with_attributes({"member": staff.values("member") | {"u9"}})])
    assert prov.full_sync().status is SyncStatus.SUCCESS
    record = prov.store.load(P).records[ObjectType.MEMBERSHIP, ("grp-00001", "mem-u9")]
    assert record.in_target
    assert not record.inserted_by_us


def test_memberships_that_share_a_value_keep_their_records_run_after_run() -> None:
    """Two members with the same value: both records hold one target id, and stay as they are."""
    source = InMemorySource()
    for subject in ("a1", "a2", "b"):
        source.add_subject(subject, name="Alex" if subject.startswith("a") else "Bo")
    source.add_group("apps:ldap:staff")
    for subject in ("a1", "a2", "b"):
        source.add_member("apps:ldap:staff", subject)
    source.mark("apps:ldap", P, scope="sub")
    prov = _provisioner(
        source,
        memberships={"type": "group_attributes", "attribute": {"name": "member", "field": "name"}},
    )
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert prov.target.groups["staff"].get("member") == frozenset({"Alex", "Bo"})
    first = prov.store.load(P).records
    shared = [
        k for k, r in first.items() if isinstance(r.target_id, tuple) and "Alex" in r.target_id
    ]
    assert len(shared) == 2  # one target id (the group's value "Alex"), two records
    again = prov.full_sync()
    assert again.status is SyncStatus.SUCCESS
    assert again.plan is not None
    assert again.plan.empty
    kept = prov.store.load(P).records
    assert {k: attrs.evolve(r, last_sync=None) for k, r in kept.items()} == {
        k: attrs.evolve(r, last_sync=None) for k, r in first.items()
    }
    # One of the two leaves: the value stays, for the other, and only its record changes.
    source.remove_member("apps:ldap:staff", "a2")
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert prov.target.groups["staff"].get("member") == frozenset({"Alex", "Bo"})
    after = prov.store.load(P).records
    left = {k: after[k] for k in shared}
    assert sorted(r.provisionable for r in left.values()) == [False, True]
    assert all(r.in_target for r in left.values() if r.provisionable)


@pytest.mark.parametrize("sync", ["full", "group"])
def test_no_collection_runs_between_a_syncs_plan_and_its_records(sync: str) -> None:
    """The cyclic collector stays off from the plan's first read to the records' save.

    It is on while the run takes the job lease, which may mean waiting.

    Turned back on between the plan and its writes, it would walk everything
    the plan holds (the youngest generation is all that was made while it
    was off), for nothing: the plan is still in use.
    """
    import gc  # noqa: PLC0415  # this test alone

    collections: list[int] = []
    marks: dict[str, int] = {}

    class Source(InMemorySource):
        def snapshot(self) -> Any:  # the base's snapshot
            marks["read"] = len(collections)
            return super().snapshot()

    class Store(MemorySyncStore):
        def acquire_lease(self, *args: Any, **kwargs: Any) -> Any:
            marks["collector on while taking the lease"] = int(gc.isenabled())
            return super().acquire_lease(*args, **kwargs)

        def save(self, *args: Any, **kwargs: Any) -> None:
            marks["saved"] = len(collections)
            super().save(*args, **kwargs)

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    source = Source()
    for g in range(3):
        source.add_group(f"apps:ldap:g{g}")
    for i in range(300):  # enough for the plan to pass the collector's threshold
        source.add_subject(f"u{i}")
        source.add_member(f"apps:ldap:g{i % 3}", f"u{i}")
    source.mark("apps:ldap", P, scope="sub")
    prov = _provisioner(source, store=Store())
    gc.callbacks.append(count)
    try:
        assert gc.isenabled()
        result = prov.full_sync() if sync == "full" else prov.sync_group(folder="apps:ldap")
    finally:
        gc.callbacks.remove(count)
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert marks["saved"] == marks["read"], (collections, marks)
    # Not paused while the run may wait for the lease (up to lease_wait).
    assert marks["collector on while taking the lease"] == 1
    assert gc.isenabled()


@pytest.mark.parametrize("value_changes", [True, False])
def test_a_multi_valued_attribute_changes_by_its_values_or_whole(value_changes: bool) -> None:
    """Values added and removed one by one; a target that cannot gets the whole set."""
    from grouperprov import Provisioner  # noqa: PLC0415

    def tags(*values: str) -> ProvisionerConfig:
        return _config(
            groups=_groups(
                attributes=[
                    {"name": "cn", "field": "extension"},
                    {"name": "tags", "static": list(values), "multi_valued": True},
                ]
            )
        )

    source = _campus()
    target = InMemoryTarget(id_attributes={"group": "cn"}, value_changes=value_changes)
    store = MemorySyncStore()
    assert (
        Provisioner(tags("a", "b"), source, target, store).full_sync().status is SyncStatus.SUCCESS
    )
    result = Provisioner(tags("a", "c", "d"), source, target, store).full_sync()
    assert result.status is SyncStatus.SUCCESS
    assert result.plan is not None
    changes = {c.attribute_changes for c in result.plan.changes}
    if value_changes:
        assert changes == {  # removals first
            (AttributeChange.remove("tags", ["b"]), AttributeChange.add("tags", ["c", "d"]))
        }
    else:
        assert changes == {(AttributeChange.replace("tags", frozenset({"a", "c", "d"})),)}
    assert {g.values("tags") for g in target.groups.values()} == {frozenset({"a", "c", "d"})}


@pytest.mark.parametrize("sync", ["full", "incremental"])
def test_a_member_whose_insert_fails_is_left_out_of_its_groups(sync: str) -> None:
    """Its value is not written (with a new group, or to one already there): DNE, until it is in.

    Before, a new group was inserted (before the people) with every member
    value, those of people whose insert then failed included: a value that
    names nobody in the directory, or, where names collide, somebody else.
    """
    from grouperprov import Provisioner  # noqa: PLC0415

    broken = {"on": True}
    source = _campus()
    source.add_group("apps:ldap:empty")  # a new group with no member values at all
    target = InMemoryTarget(
        id_attributes={"group": "cn", "entity": "uid"},
        fail=lambda op, bean: broken["on"] and op == "insert_entities" and bean.get("uid") == "u2",
    )
    config = _config(
        entities={"attributes": [{"name": "uid", "field": "subject_id"}], "matching": ["uid"]}
    )
    prov = Provisioner(config, source, target, MemorySyncStore())
    snapshot = source.snapshot()
    staff = next(g.id for g in snapshot.groups if g.get("name") == "apps:ldap:staff")
    key = (ObjectType.MEMBERSHIP, (staff, "mem-u2"))

    def members() -> frozenset[object]:
        (group,) = [g for g in target.groups.values() if g.get("cn") == "staff"]
        return group.values("member")

    if sync == "full":
        first = prov.full_sync()
    else:  # the group and its members arrive as events
        source.unmark("apps:ldap", P)
        assert prov.full_sync().status is SyncStatus.SUCCESS
        seq = len(source.changes)
        source.mark("apps:ldap", P, scope="sub")
        first = prov.incremental_sync(source.events(seq))
    assert first.status is SyncStatus.ERROR
    assert members() == {"u0", "u1"}  # u2 is not in the target: neither is its value
    error = first.errors[key]
    assert error.code is SyncErrorCode.DNE
    assert "its entity was not inserted" in error.message
    record = prov.store.load(P).records[key]
    assert not record.in_target
    assert record.error_code is SyncErrorCode.DNE
    again = prov.full_sync()  # the group is there now: the value alone, still not written
    assert again.errors[key].code is SyncErrorCode.DNE
    assert members() == {"u0", "u1"}
    broken["on"] = False
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert members() == {"u0", "u1", "u2"}
    assert prov.plan_full().plan.changes == ()
    assert "empty" in {g.get("cn") for g in target.groups.values()}


@pytest.mark.parametrize("failing", ["insert_groups", "insert_entities"])
def test_membership_objects_of_an_owner_whose_insert_failed_are_not_sent(failing: str) -> None:
    # Found with a group row PostgreSQL refused (a NUL in its description):
    # its membership rows went in under the group's Grouper id, naming no
    # row of the target, and were deleted as stale and written again in
    # every run.
    from grouperprov import Provisioner  # noqa: PLC0415

    broken = {"on": True}
    source = _campus()
    target = InMemoryTarget(
        id_attributes={"group": "cn", "entity": "uid"},
        fail=lambda op, bean: (
            broken["on"]
            and op == failing
            and bean.get("cn" if "group" in op else "uid") in {"staff", "u1"}
        ),
    )
    config = _config(
        entities={"attributes": [{"name": "uid", "field": "subject_id"}], "matching": ["uid"]},
        memberships={
            "type": "membership_objects",
            "attributes": [
                {"name": "group_name", "field": "group.name"},
                {"name": "subject_id", "field": "entity.subject_id"},
            ],
            "matching": [["group_name", "subject_id"]],
        },
    )
    prov = Provisioner(config, source, target, MemorySyncStore())
    for _ in range(2):
        result = prov.full_sync()
        assert result.status is SyncStatus.ERROR
        # Each membership row names a group and a person the target has.
        assert {m.group_id for m in target.memberships.values()} <= set(target.groups)
        assert {m.entity_id for m in target.memberships.values()} <= set(target.entities)
        dne = {k: e for k, e in result.errors.items() if e.code is SyncErrorCode.DNE}
        members = {cast("tuple[str, str]", k[1])[1] for k in dne}
        if failing == "insert_groups":  # staff's three memberships
            assert members == {"mem-u0", "mem-u1", "mem-u2"}
        else:  # u1's: in staff alone
            assert members == {"mem-u1"}
        assert all("was not inserted: injected failure" in e.message for e in dne.values())
    broken["on"] = False
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert not prov.plan_full().plan.changes
    assert len(target.memberships) == 4  # staff's three, math101's one


def test_a_group_whose_insert_fails_is_left_out_of_its_members_values() -> None:
    """The other way round (``entity_attributes``): no ``isMemberOf`` for a group not there."""
    from grouperprov import Provisioner  # noqa: PLC0415

    source = _campus()
    target = InMemoryTarget(
        id_attributes={"group": "cn", "entity": "uid"},
        fail=lambda op, bean: op == "insert_groups" and bean.get("cn") == "math101",
    )
    config = _config(
        entities={"attributes": [{"name": "uid", "field": "subject_id"}], "matching": ["uid"]},
        memberships={
            "type": "entity_attributes",
            "attribute": {"name": "isMemberOf", "field": "extension"},
        },
    )
    prov = Provisioner(config, source, target, MemorySyncStore())
    result = prov.full_sync()
    assert result.status is SyncStatus.ERROR
    (u0,) = [e for e in target.entities.values() if e.get("uid") == "u0"]
    assert u0.values("isMemberOf") == {"staff"}  # not math101: that group is not there
    math = next(
        g.id for g in source.snapshot().groups if g.get("name") == "apps:ldap:courses:math101"
    )
    error = result.errors[(ObjectType.MEMBERSHIP, (math, "mem-u0"))]
    assert error.code is SyncErrorCode.DNE
    assert error.message.startswith("its group was not inserted")


def test_a_replaced_member_list_leaves_out_a_member_whose_insert_failed() -> None:
    """A target without value changes gets the whole list: without the new person who is not in."""
    from grouperprov import Provisioner  # noqa: PLC0415

    broken = {"on": False}
    source = _campus(members=2)
    target = InMemoryTarget(
        id_attributes={"group": "cn", "entity": "uid"},
        value_changes=False,
        fail=lambda op, bean: broken["on"] and op == "insert_entities" and bean.get("uid") == "u9",
    )
    config = _config(
        entities={"attributes": [{"name": "uid", "field": "subject_id"}], "matching": ["uid"]}
    )
    prov = Provisioner(config, source, target, MemorySyncStore())
    assert prov.full_sync().status is SyncStatus.SUCCESS
    broken["on"] = True
    source.add_subject("u9")
    source.add_member("apps:ldap:staff", "u9")
    source.remove_member("apps:ldap:staff", "u1")  # the list changes otherwise too
    source.remove_member("apps:ldap:courses:math101", "u0")  # a list with nothing to leave out
    staff = next(g.id for g in source.snapshot().groups if g.get("name") == "apps:ldap:staff")

    def members() -> frozenset[object]:
        (group,) = [g for g in target.groups.values() if g.get("cn") == "staff"]
        return group.values("member")

    result = prov.full_sync()
    assert result.status is SyncStatus.ERROR
    assert members() == {"u0"}  # u1 gone, u9 not written
    error = result.errors[(ObjectType.MEMBERSHIP, (staff, "mem-u9"))]
    assert error.code is SyncErrorCode.DNE
    assert "its entity was not inserted" in error.message
    assert (ObjectType.MEMBERSHIP, (staff, "mem-u0")) not in result.errors
    broken["on"] = False
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert members() == {"u0", "u9"}
    assert prov.plan_full().plan.changes == ()


def test_a_read_only_provisioner_keeps_its_records_as_the_target_is() -> None:
    # Found by running read only: the records said every object was inserted
    # (and inserted by grouperprov) while the target stayed empty, and the
    # full sync's time made the next incremental run drop older events.
    source = _campus()
    target = InMemoryTarget(id_attributes={"group": "cn"})
    store = MemorySyncStore()
    read_only = _provisioner(source, target=target, store=store, read_only=True)
    assert read_only.full_sync().status is SyncStatus.SUCCESS
    assert target.groups == {}
    state = store.load(P)
    assert state.records == {}
    assert state.provisioner.last_run == {}
    (logged,) = store.logs(P)
    assert "read only: none sent" in logged.summary
    source.add_member("apps:ldap:courses:math101", "u1")
    events = source.events()
    assert read_only.incremental_sync(events).status is SyncStatus.SUCCESS
    assert store.load(P).provisioner.last_sequence == events[-1].sequence
    assert store.load(P).records == {}
    # Writing again: everything goes in, recorded as inserted by grouperprov.
    writing = _provisioner(source, target=target, store=store)
    assert writing.full_sync().status is SyncStatus.SUCCESS
    assert target.groups["math101"].values("member") == {"u0", "u1"}
    records = store.load(P).records
    assert records
    assert all(r.in_target and r.inserted_by_us for r in records.values())


_GOOD_ARGS: dict[str, Any] = {
    "config": _config(),
    "source": InMemorySource(),
    "target": InMemoryTarget(),
}


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        (
            {"config": {"name": P}},
            TypeError,
            (
                "config= takes a ProvisionerConfig (ProvisionerConfig.from_dict(data), "
                ".from_toml(text) or .load(path)), not dict"
            ),
        ),
        (
            {"source": InMemorySource().snapshot()},
            TypeError,
            (
                "source= takes a GrouperSource (an object whose snapshot() returns a "
                "GrouperSnapshot), not a GrouperSnapshot"
            ),
        ),
        ({"source": object()}, TypeError, "source= takes a GrouperSource (an object with a"),
        ({"target": InMemoryTarget}, TypeError, "not the class InMemoryTarget: make one"),
        ({"target": object()}, TypeError, "target= takes a TargetDAO"),
        (
            {"store": "state.db"},
            TypeError,
            (
                "store= takes a SyncStore, not the path 'state.db': open it with "
                "grouperprov.stores.open_store(...)"
            ),
        ),
        (
            {"store": "postgresql://gp:s3cret@db.example.edu/grouperprov"},
            TypeError,
            "store= takes a SyncStore, not a PostgreSQL connection string: open it with",
        ),
        ({"store": {}}, TypeError, "store= takes a SyncStore (grouperprov.stores), not dict"),
        ({"clock": datetime.now(tz=UTC)}, TypeError, "clock= takes a function that returns"),
        ({"lease_ttl": 120}, TypeError, "lease_ttl= takes a timedelta"),
        ({"lease_ttl": timedelta(0)}, ValueError, "lease_ttl= must be more than 0, not 0:00:00"),
        ({"lease_wait": timedelta(seconds=-1)}, ValueError, "lease_wait= must be 0 or more"),
        ({"checkpoint_interval": 60.0}, TypeError, "checkpoint_interval= takes a timedelta"),
    ],
)
def test_a_provisioner_refuses_arguments_of_the_wrong_kind_saying_what_to_pass(
    changes: dict[str, Any], error: type[Exception], message: str
) -> None:
    # Found by passing what newcomers pass (a dict, a path, a class, seconds):
    # each failed at the first run, far from the mistake, with an
    # AttributeError such as "'str' object has no attribute 'acquire_lease'".
    with pytest.raises(error) as caught:
        Provisioner(**{**_GOOD_ARGS, **changes})
    assert message in str(caught.value)
    assert "s3cret" not in str(caught.value)  # a connection string's password is never shown


def test_a_wrong_argument_is_named_by_its_kind_not_shown() -> None:
    # A settings dict given for the configuration may hold the LDAP password.
    settings = {"name": P, "ldap_password": "s3cret"}
    with pytest.raises(TypeError) as caught:
        Provisioner(**{**_GOOD_ARGS, "config": settings})
    assert str(caught.value).endswith("not dict")
    assert "s3cret" not in str(caught.value)


class _HalfAStore:
    """A store of the caller's that has not caught up with the protocol."""

    def load(self, provisioner: str) -> None:
        raise NotImplementedError

    def save(self, *args: object) -> None:
        raise NotImplementedError


class _SnapshotOnly:
    def snapshot(self) -> None:
        raise NotImplementedError


def test_a_source_lacking_methods_is_told_which() -> None:
    # With its snapshot alone, a source failed a full sync half way (an entity
    # kept in the target is read with retrieve_entities) with an AttributeError.
    with pytest.raises(TypeError) as caught:
        Provisioner(**{**_GOOD_ARGS, "source": _SnapshotOnly()})
    assert str(caught.value) == (
        "Provisioner source= takes a GrouperSource: _SnapshotOnly lacks retrieve_groups,"
        " retrieve_entities, retrieve_memberships, which group syncs, incremental runs and"
        " full syncs use"
    )


def test_a_store_lacking_methods_is_told_which() -> None:
    # It was "takes a SyncStore, not _HalfAStore", with no word of what it lacks.
    with pytest.raises(TypeError) as caught:
        Provisioner(**{**_GOOD_ARGS, "store": _HalfAStore()})
    assert str(caught.value) == (
        "Provisioner store= takes a SyncStore: _HalfAStore lacks acquire_lease, add_control,"
        " controls, current_lease, error_records, load_records, logs, purge, rejected_events,"
        " release_lease, renew_lease (grouperprov.testing.check_sync_store checks a store)"
    )


def test_a_provisioner_takes_what_it_documents() -> None:
    provisioner = Provisioner(
        **_GOOD_ARGS,
        lease_wait=timedelta(0),
        checkpoint_interval=None,
        clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert provisioner.full_sync().status is SyncStatus.SUCCESS
    with pytest.raises(TypeError, match="store= takes a SyncStore"):
        provisioner.store = "state.db"  # type: ignore[assignment]  # checked when set too


def test_group_sync_takes_a_list_and_refuses_nothing_or_the_wrong_kind() -> None:
    # Found by calling it as one does: a list was "unhashable type: 'list'",
    # and a group sync of nothing returned SUCCESS having done nothing.
    prov = _provisioner(_campus())
    result = prov.sync_group(["apps:ldap:staff", "apps:ldap:courses:math101"])
    assert result.status is SyncStatus.SUCCESS
    assert {str(g.get("cn")) for g in prov.target.retrieve_all_groups()} == {
        "staff",
        "math101",
    }
    with pytest.raises(ValueError, match="a group sync needs groups"):
        prov.sync_group()
    with pytest.raises(TypeError, match=r"folder: expected a name \(a string\), not list"):
        prov.plan_groups(folder=["apps:ldap"])
    with pytest.raises(TypeError, match="groups: expected names"):
        prov.plan_groups(None)
    with pytest.raises(TypeError, match="group: expected a name"):
        prov.diagnostics(group=["apps:ldap:staff"])


def test_request_sync_takes_lone_names_and_refuses_what_is_not_a_request() -> None:
    # Found the same way: a lone group name was kept as its letters, and a
    # membership that was not a pair failed with "not enough values to unpack".
    prov = _provisioner(_campus())
    message = prov.request_sync(
        groups="apps:ldap:staff", memberships=("apps:ldap:staff", "u1"), requested_by="jo"
    )
    assert message.groups == ("apps:ldap:staff",)
    assert message.memberships == (("apps:ldap:staff", "u1"),)
    with pytest.raises(ValueError, match=r"memberships\[1\]: expected a \(group, member\) pair"):
        prov.request_sync(memberships=[("g", "m"), ("g",)], requested_by="jo")
    with pytest.raises(ValueError, match="request_sync needs requested_by"):
        prov.request_sync(groups=["g"], requested_by=" ")
    with pytest.raises(TypeError, match="entities: expected names"):
        prov.request_sync(entities=[5], requested_by="jo")


def test_an_approval_needs_someone_who_approves() -> None:
    # An approval by None recorded nothing that counted: the trip stayed blocking.
    prov = _provisioner(_campus())
    with pytest.raises(ValueError, match="approve_failsafe needs who approves, not None"):
        prov.approve_failsafe(None)


def test_a_clock_without_a_timezone_is_refused_before_anything_is_done() -> None:
    # clock=datetime.now is easy to write: its naive times were kept by the
    # in-memory store, refused by the SQL stores, and compared with aware
    # ones far away from the mistake.
    source, target, store = _campus(), InMemoryTarget(), MemorySyncStore()
    with pytest.raises(TypeError, match=r"clock= gives times without a timezone: pass lambda"):
        Provisioner(_config(), source, target, store, clock=datetime.now)
    naive = Provisioner(
        _config(),
        source,
        target,
        store,
        clock=lambda: datetime(2026, 1, 1),  # noqa: DTZ001  # naive on purpose
    )
    with pytest.raises(ValueError, match=r"the provisioner's clock gave datetime.datetime\(2026"):
        naive.full_sync()
    assert target.groups == {}
    assert store.current_lease(P) is None
    assert store.load(P).records == {}
    assert attrs.evolve(naive, clock=naive.clock).clock == naive.clock  # wrapped once


def test_a_plan_applied_twice_or_after_a_newer_run_is_refused_as_stale() -> None:
    # Found by applying one plan twice (a retry in the caller's code): every
    # group and member was inserted again, and every later run met them as
    # ambiguous matches (MAT) with nothing left to fix them.
    source = _campus()
    prov = _provisioner(source, target=InMemoryTarget())
    planned = prov.plan_full()
    assert prov.apply(planned).status is SyncStatus.SUCCESS
    groups = len(prov.target.groups)
    with pytest.raises(StalePlanError, match="is stale: it was applied already; nothing"):
        prov.apply(planned)
    assert len(prov.target.groups) == groups
    # A plan made before another run: that run's changes would be undone.
    older = prov.plan_full()
    source.add_member("apps:ldap:staff", "u0")
    assert prov.full_sync().status is SyncStatus.SUCCESS
    with pytest.raises(StalePlanError, match=r"stale: a full sync of 20\d\d-.* saved its records"):
        prov.apply(older)
    assert prov.apply(prov.plan_full()).status is SyncStatus.SUCCESS  # a fresh plan goes
    assert prov.apply(prov.plan_full(), dry_run=True).dry_run  # a dry run writes nothing
    other = Provisioner(
        _config(name="other"), source, InMemoryTarget(), prov.store, lease_wait=timedelta(0)
    )
    with pytest.raises(ValueError, match="the plan is of 'campus-ldap', not of 'other'"):
        other.apply(prov.plan_full())
