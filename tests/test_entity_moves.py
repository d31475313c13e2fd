"""People renamed onto one another's ``uid``: every run that moves one moves all it concerns.

Where the ``uid`` comes from the person's name, two people who swap names
(or one renamed onto the ``uid`` another leaves) are paired by a full sync
with each other's entries. A run of part of the campus (a group sync, an
incremental recalc of one of them) must do the same: move each person's
values and records together, and leave no entry holding another person's
groups.
"""

from __future__ import annotations

from typing import Any

import pytest

from grouperprov import (
    MembershipType,
    ObjectType,
    Operation,
    Provisioner,
    ProvisionerConfig,
    ProvisioningEntity,
    SyncResult,
    SyncStatus,
)
from grouperprov.stores import MemorySyncStore
from grouperprov.testing import InMemorySource, InMemoryTarget
from test_incremental import _CountingSource as _Source

P = "people"
_OK = (SyncStatus.SUCCESS, SyncStatus.WARNING)
_POLICIES = ["inserted_by_us", "not_in_grouper", "removed_from_grouper"]


def _config(kind: MembershipType, policy: str, **entities: Any) -> ProvisionerConfig:
    """``uid`` (and group ``cn``) from the name; *entities*: more entity settings."""
    data: dict[str, Any] = {
        "name": P,
        "groups": {
            "attributes": [{"name": "cn", "field": "name"}],
            "matching": ["cn"],
            "delete_policy": policy,
        },
        "entities": {
            "attributes": [{"name": "uid", "field": "name"}],
            "matching": ["uid"],
            "delete_policy": policy,
            **entities,
        },
        "memberships": {"type": kind.value, "delete_policy": policy},
    }
    if kind is MembershipType.ENTITY_ATTRIBUTES:
        data["memberships"]["attribute"] = {"name": "isMemberOf", "field": "name"}
    elif kind is MembershipType.GROUP_ATTRIBUTES:
        data["memberships"]["attribute"] = {"name": "member", "field": "name"}
    else:
        data["memberships"]["attributes"] = [
            {"name": "g", "field": "group.name"},
            {"name": "u", "field": "entity.name"},
        ]
        data["memberships"]["matching"] = [["g", "u"]]
    return ProvisionerConfig.from_dict(data)


def _campus(
    kind: MembershipType = MembershipType.ENTITY_ATTRIBUTES,
    policy: str = "inserted_by_us",
    *,
    ids_by_uid: bool = True,
    operations: set[Operation] | None = None,
) -> tuple[_Source, InMemoryTarget, Provisioner]:
    """Ann (``n0``) in ``a:x``, Bob (``n1``) in ``a:y`` and ``a:z``, provisioned."""
    source = _Source()
    source.add_subject("u0", name="n0")
    source.add_subject("u1", name="n1")
    source.mark("a", P, scope="sub")
    for name in ("a:x", "a:y", "a:z"):
        source.add_group(name)
    source.add_member("a:x", "u0")
    source.add_member("a:y", "u1")
    source.add_member("a:z", "u1")
    target = InMemoryTarget(
        operations=operations,
        id_attributes={"group": "cn", "entity": "uid"} if ids_by_uid else None,
    )
    prov = Provisioner(_config(kind, policy), source, target, MemorySyncStore())
    assert prov.full_sync().status in _OK
    return source, target, prov


def _lists(target: InMemoryTarget, kind: MembershipType) -> dict[str, set[str]]:
    """Each group's members in the target, by ``uid``."""
    lists: dict[str, set[str]] = {str(g.get("cn")): set() for g in target.groups.values()}
    if kind is MembershipType.ENTITY_ATTRIBUTES:
        for entity in target.entities.values():
            for name in entity.values("isMemberOf"):
                lists.setdefault(str(name), set()).add(str(entity.get("uid")))
    elif kind is MembershipType.GROUP_ATTRIBUTES:
        for group in target.groups.values():
            lists[str(group.get("cn"))] |= {str(v) for v in group.values("member")}
    else:
        for row in target.memberships.values():
            lists.setdefault(str(row.get("g")), set()).add(str(row.get("u")))
    return lists


def _uids(target: InMemoryTarget) -> list[str]:
    return sorted(str(e.get("uid")) for e in target.entities.values())


def _recalculated(prov: Provisioner, source: _Source, entity: str) -> SyncResult:
    """A requested recalc of *entity*, alone in its run; whole reads counted from it."""
    prov.request_sync(entities=[entity], requested_by="test")
    source.snapshots = 0
    result = prov.incremental_sync([])
    assert result.status in _OK, result.summary()
    return result


def _settled(prov: Provisioner) -> None:
    """A full plan now changes nothing: the run left what a full sync would."""
    plan = prov.plan_full().plan
    assert plan.changes == (), plan.summary()


@pytest.mark.parametrize("ids_by_uid", [True, False])
@pytest.mark.parametrize("policy", _POLICIES)
def test_a_group_sync_moves_people_who_swap_names_with_all_their_values(
    policy: str, ids_by_uid: bool
) -> None:
    kind = MembershipType.ENTITY_ATTRIBUTES
    source, target, prov = _campus(kind, policy, ids_by_uid=ids_by_uid)
    source.update_subject("u0", name="n1")
    source.update_subject("u1", name="n0")

    result = prov.sync_group("a:x")  # Ann's group: Bob's are not selected

    assert result.status in _OK, result.summary()
    # Ann's a:x went to her new entry, and Bob's a:y and a:z came off it,
    # to his: no entry holds the other person's groups.
    assert _lists(target, kind) == {"a:x": {"n1"}, "a:y": {"n0"}, "a:z": {"n0"}}
    assert _uids(target) == ["n0", "n1"]
    _settled(prov)


@pytest.mark.parametrize("policy", _POLICIES)
@pytest.mark.parametrize("kind", list(MembershipType))
def test_a_group_sync_deletes_the_entry_a_person_moved_off(
    kind: MembershipType, policy: str
) -> None:
    source, target, prov = _campus(kind, policy)
    source.update_subject("u0", name="n1")  # onto Bob's uid
    source.update_subject("u1", name="n5")  # Bob to a free one

    result = prov.sync_group("a:x")

    assert result.status in _OK, result.summary()
    # Ann's old entry (n0) is gone, as a full sync deletes it. Kept, no
    # record held it: with entity_attributes its a:x stayed for good, and
    # with the other types an entry of no one stayed.
    assert _lists(target, kind) == {"a:x": {"n1"}, "a:y": {"n5"}, "a:z": {"n5"}}
    assert _uids(target) == ["n1", "n5"]
    _settled(prov)


@pytest.mark.parametrize("policy", _POLICIES)
@pytest.mark.parametrize("kind", list(MembershipType))
def test_a_recalc_of_one_of_two_people_who_swap_names_recalculates_both(
    kind: MembershipType, policy: str
) -> None:
    source, target, prov = _campus(kind, policy, ids_by_uid=False)
    source.update_subject("u0", name="n1")
    source.update_subject("u1", name="n0")
    result = _recalculated(prov, source, "mem-u0")

    assert result.incremental is not None
    assert result.incremental.recalc_entities == ("mem-u0", "mem-u1")
    assert source.snapshots == 1  # who holds Bob's entry: the records of all
    # One entry per uid (not two "n1"), each with its own person's groups.
    assert _uids(target) == ["n0", "n1"]
    assert _lists(target, kind) == {"a:x": {"n1"}, "a:y": {"n0"}, "a:z": {"n0"}}
    _settled(prov)


def test_a_person_renamed_to_a_free_uid_is_recalculated_from_the_part_alone() -> None:
    kind = MembershipType.ENTITY_ATTRIBUTES
    source, target, prov = _campus(kind, ids_by_uid=False)
    source.update_subject("u0", name="n7")
    result = _recalculated(prov, source, "mem-u0")

    assert result.incremental is not None
    assert result.incremental.recalc_entities == ("mem-u0",)
    assert source.snapshots == 0  # the search for n7 found no other entry
    assert _lists(target, kind) == {"a:x": {"n7"}, "a:y": {"n1"}, "a:z": {"n1"}}
    _settled(prov)


def test_a_person_renamed_where_the_target_cannot_search_is_recalculated_from_a_full_read() -> None:
    kind = MembershipType.ENTITY_ATTRIBUTES
    operations = set(Operation) - {Operation.SEARCH_ENTITIES}
    source, target, prov = _campus(kind, ids_by_uid=False, operations=operations)
    source.update_subject("u0", name="n1")
    source.update_subject("u1", name="n0")
    _recalculated(prov, source, "mem-u0")

    assert source.snapshots == 1  # whether n1 is another's entry: only a full read tells
    assert _lists(target, kind) == {"a:x": {"n1"}, "a:y": {"n0"}, "a:z": {"n0"}}
    _settled(prov)


def test_the_records_follow_the_people_a_group_sync_moves() -> None:
    source, target, prov = _campus(ids_by_uid=True)
    source.update_subject("u0", name="n1")
    source.update_subject("u1", name="n0")

    prov.sync_group("a:x")

    records = prov.store.load(P).records
    assert records[ObjectType.ENTITY, "mem-u0"].target_id == "n1"
    assert records[ObjectType.ENTITY, "mem-u1"].target_id == "n0"
    assert sorted(target.entities) == ["n0", "n1"]


def test_a_value_left_on_the_entry_a_person_takes_over_goes_despite_their_failed_insert() -> None:
    kind = MembershipType.ENTITY_ATTRIBUTES
    failing = {"on": False}

    def fail(_op: str, bean: object) -> bool:
        return failing["on"] and getattr(bean, "get", lambda _n: None)("uid") == "n0"

    source = _Source()
    source.add_subject("u1", name="n0")
    source.add_subject("u2", name="n3")
    source.mark("a", P, scope="sub")
    source.add_group("a:g")
    source.add_member("a:g", "u2")
    target = InMemoryTarget(fail=fail)
    prov = Provisioner(_config(kind, "inserted_by_us"), source, target, MemorySyncStore())
    assert prov.full_sync().status in _OK
    source.add_member("a:g", "u1")
    failing["on"] = True
    prov.full_sync()  # Ann's (u1) entry is not inserted: her record of a:g says so
    failing["on"] = False
    assert _lists(target, kind) == {"a:g": {"n3"}}
    # Ann takes Bob's name (and his entry), Bob hers; the group is renamed.
    source.update_subject("u1", name="n3")
    source.update_subject("u2", name="n0")
    source.rename_group("a:g", "a:h")

    result = prov.full_sync()

    assert result.status in _OK, result.summary()
    # Bob's a:g on the entry Ann takes over was grouperprov's (Bob's record
    # says so). Judged by Ann's own record of a:g (never written), it stayed,
    # and once the group was renamed no record held it: for good.
    assert _lists(target, kind) == {"a:h": {"n0", "n3"}}
    _settled(prov)


@pytest.mark.parametrize("policy", _POLICIES)
def test_a_row_another_person_takes_over_is_not_deleted_by_a_recalc_of_the_one_who_left(
    policy: str,
) -> None:
    kind = MembershipType.MEMBERSHIP_OBJECTS
    source, target, prov = _campus(kind, policy, ids_by_uid=False)
    source.add_member("a:x", "u1")
    assert prov.full_sync().status in _OK
    # They swap names, and Bob (u1) leaves a:x: Ann now answers to Bob's row.
    source.update_subject("u0", name="n1")
    source.update_subject("u1", name="n0")
    source.remove_member("a:x", "u1")
    _recalculated(prov, source, "mem-u0")

    records = prov.store.load(P).records
    left = records[ObjectType.MEMBERSHIP, (_group_id(source, "a:x"), "mem-u1")]
    assert not left.in_target  # the row is Ann's now: Bob's record let it go
    _recalculated(prov, source, "mem-u1")

    # Read with Bob's record alone, the row looked like his, and went.
    assert _lists(target, kind) == {"a:x": {"n1"}, "a:y": {"n0"}, "a:z": {"n0"}}
    _settled(prov)


def _group_id(source: InMemorySource, name: str) -> str:
    return next(g.id for g in source.snapshot().groups if g.get("name") == name)


def _identity_campus(
    policy: str, *, fail: Any = None, value_changes: bool = True
) -> tuple[_Source, InMemoryTarget, Provisioner]:
    """People from the identity system (entries neither inserted nor deleted): Ann, ``n0``."""
    config = _config(MembershipType.ENTITY_ATTRIBUTES, policy, insert=False, delete=False)
    source = _Source()
    source.add_subject("u0", name="n0")
    source.mark("a", P, scope="sub")
    source.add_group("a:x")
    source.add_member("a:x", "u0")
    target = InMemoryTarget(fail=fail, value_changes=value_changes)
    # The identity system's entries: Ann's, and the one of her new netid.
    target.insert_entities(
        [
            ProvisioningEntity(id="", attributes={"uid": "n0", "isMemberOf": "other:club"}),
            ProvisioningEntity(id="", attributes={"uid": "n7"}),
        ]
    )
    prov = Provisioner(config, source, target, MemorySyncStore())
    assert prov.full_sync().status in _OK
    return source, target, prov


def _values(target: InMemoryTarget) -> dict[str, set[str]]:
    return {
        str(e.get("uid")): set(map(str, e.values("isMemberOf"))) for e in target.entities.values()
    }


@pytest.mark.parametrize("value_changes", [True, False], ids=["values", "whole lists"])
@pytest.mark.parametrize("run", ["full", "incremental", "group"])
@pytest.mark.parametrize("policy", _POLICIES)
def test_a_person_given_another_entry_leaves_no_group_on_the_old_one(
    policy: str, run: str, value_changes: bool
) -> None:
    source, target, prov = _identity_campus(policy, value_changes=value_changes)
    assert _values(target) == {"n0": {"a:x", "other:club"}, "n7": set()}
    seq = len(source.changes)
    source.update_subject("u0", name="n7")  # a new netid: its entry, the old one kept

    if run == "full":
        result = prov.full_sync()
    elif run == "incremental":
        result = prov.incremental_sync(source.events(seq))
    else:
        result = prov.sync_group("a:x")

    assert result.status in _OK, result.summary()
    # Her group went with her; the old entry keeps only what is not Grouper's.
    # Left there, whoever was given the old netid next had her groups.
    assert _values(target) == {"n0": {"other:club"}, "n7": {"a:x"}}
    assert result.plan is not None
    assert "left_behind" in {r.rule for c in result.plan.changes for r in c.reasons}
    _settled(prov)


@pytest.mark.parametrize("value_changes", [True, False], ids=["values", "whole lists"])
def test_a_failed_removal_from_the_old_entry_is_retried(value_changes: bool) -> None:
    failing: dict[str, object] = {"id": None}

    def fail(op: str, bean: object) -> bool:
        return op.startswith("update") and getattr(bean, "id", None) == failing["id"]

    source, target, prov = _identity_campus(
        "inserted_by_us", fail=fail, value_changes=value_changes
    )
    old = next(e.id for e in target.entities.values() if e.get("uid") == "n0")
    new = next(e.id for e in target.entities.values() if e.get("uid") == "n7")
    failing["id"] = old  # each write to Ann's old entry fails
    source.update_subject("u0", name="n7")

    result = prov.full_sync()

    assert result.errors, result.summary()
    assert _values(target) == {"n0": {"a:x", "other:club"}, "n7": {"a:x"}}
    record = prov.store.load(P).records[ObjectType.ENTITY, "mem-u0"]
    assert (record.target_id, record.error_code) == (old, "ERR")  # held until the retry
    failing["id"] = None

    retry = prov.incremental_sync([])

    assert retry.status in _OK, retry.summary()
    assert _values(target) == {"n0": {"other:club"}, "n7": {"a:x"}}
    record = prov.store.load(P).records[ObjectType.ENTITY, "mem-u0"]
    assert (record.target_id, record.error_code) == (new, None)
    _settled(prov)
