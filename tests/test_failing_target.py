"""FailingTarget: another target's reads as they are, its writes failing on demand."""

from __future__ import annotations

import sqlite3

import pytest

from grouperprov import (
    AttributeChange,
    Provisioner,
    ProvisionerConfig,
    ProvisioningEntity,
    ProvisioningGroup,
    ProvisioningMembership,
    SyncErrorCode,
    SyncStatus,
)
from grouperprov.stores import MemorySyncStore
from grouperprov.targets.sql import SqlLayout, SqlTarget
from grouperprov.testing import (
    FailingTarget,
    InjectedFailure,
    InMemorySource,
    InMemoryTarget,
    check_target_dao,
)


def _group(name: str) -> ProvisioningGroup:
    return ProvisioningGroup(id=name, attributes={"cn": name, "description": "d"})


def test_a_bulk_write_sends_the_others_in_one_call_and_reports_each_in_order() -> None:
    inner = InMemoryTarget(id_attributes={"group": "cn"})
    target = FailingTarget(inner, lambda op, bean: op == "insert_groups" and bean.id == "b")
    outcomes = target.insert_groups([_group("a"), _group("b"), _group("c")])
    assert [o.ok for o in outcomes] == [True, False, True]
    assert outcomes[1].error == "injected failure in insert_groups for 'b'"
    assert outcomes[2].stored is not None
    assert outcomes[2].stored.id == "c"
    assert sorted(inner.groups) == ["a", "c"]
    assert ("insert_groups", 2) in inner.calls  # one call, the two that did not fail
    assert target.failures == [("insert_groups", "b")]


def test_a_bulk_write_whose_objects_all_fail_calls_nothing() -> None:
    inner = InMemoryTarget(id_attributes={"group": "cn"})
    inner.insert_group(_group("a"))
    target = FailingTarget(inner, lambda op, _bean: op == "update_groups")
    change = AttributeChange.replace("description", "new")
    (outcome,) = target.update_groups([(inner.groups["a"], [change])])
    assert not outcome.ok
    assert inner.groups["a"].get("description") == "d"
    assert not any(name == "update_groups" for name, _ in inner.calls)


def test_a_single_write_raises_and_writes_nothing() -> None:
    inner = InMemoryTarget()
    target = FailingTarget(inner, lambda op, _bean: op == "insert_entity")
    with pytest.raises(InjectedFailure, match="injected failure in insert_entity for 'e1'"):
        target.insert_entity(ProvisioningEntity(id="e1", attributes={"uid": "e1"}))
    assert inner.entities == {}
    stored = target.insert_group(_group("a"))  # not picked: written
    assert stored is not None
    assert [g.id for g in target.retrieve_all_groups()] == [stored.id]
    group = inner.groups[stored.id]
    target.replace_group_memberships(group, [ProvisioningMembership(stored.id, "x")])
    assert list(inner.memberships) == [(stored.id, "x")]


def test_reads_capabilities_and_other_attributes_pass_through() -> None:
    inner = InMemoryTarget(id_attributes={"group": "cn"})
    target = FailingTarget(inner, lambda _op, _bean: True)
    assert target.capabilities() == inner.capabilities()
    assert target.groups is inner.groups  # the wrapped target's own attribute
    assert target.target is inner
    assert repr(target).startswith("FailingTarget(")
    with pytest.raises(AttributeError):
        _ = target.no_such_attribute


def test_a_with_block_closes_the_wrapped_target() -> None:
    """``with FailingTarget(LdapTarget(...)) as target:`` unbinds, as the target's own does."""

    class Connected(InMemoryTarget):
        closed = 0

        def close(self) -> None:
            self.closed += 1

    inner = Connected()
    with FailingTarget(inner, lambda _op, _bean: False) as target:
        assert target.target is inner
    assert inner.closed == 1
    FailingTarget(InMemoryTarget(), lambda _op, _bean: False).close()  # nothing to close: fine


def test_a_failing_target_that_fails_nothing_keeps_the_dao_contract() -> None:
    check_target_dao(
        lambda: FailingTarget(InMemoryTarget(), lambda _op, _bean: False),
        multi_valued_attribute="member",
        membership=ProvisioningMembership,
    )


def test_a_sync_through_it_records_the_failures_and_retries_them() -> None:
    """The SQL target on SQLite, whose group table refuses a group: ERR, then retried."""
    broken = {"on": True}
    layout = SqlLayout.from_dict(
        {
            "groups": {
                "table": "g",
                "id_column": "cn",
                "id_attribute": "cn",
                "columns": ["cn"],
                "attribute_table": "ga",
                "multi_valued": ["member"],
            }
        }
    )
    inner = SqlTarget(sqlite3.connect(":memory:"), layout)
    inner.create_tables()
    target = FailingTarget(
        inner, lambda op, bean: broken["on"] and op == "insert_groups" and bean.get("cn") == "a:b"
    )
    config = ProvisionerConfig.from_dict(
        {
            "name": "t",
            "groups": {"attributes": [{"name": "cn", "field": "name"}], "matching": ["cn"]},
            "entities": {"operate": False},
            "memberships": {
                "type": "group_attributes",
                "attribute": {"name": "member", "field": "subject_id"},
            },
        }
    )
    source = InMemorySource()
    source.add_subject("u1")
    for name in ("a:a", "a:b"):
        source.add_group(name)
        source.add_member(name, "u1")
    source.mark("a", "t", scope="sub")
    store = MemorySyncStore()
    prov = Provisioner(config, source, target, store)
    assert prov.full_sync().status is SyncStatus.ERROR
    assert [op for op, _ in target.failures] == ["insert_groups"]
    assert [g.id for g in inner.retrieve_all_groups()] == ["a:a"]
    failed = {k[0].value: r.error_code for k, r in store.load("t").records.items() if r.error_code}
    assert failed == {"group": SyncErrorCode.ERR, "membership": SyncErrorCode.ERR}
    broken["on"] = False
    # Errors a full sync saw wait for the next one (the incremental runs leave them).
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert sorted(g.id for g in inner.retrieve_all_groups()) == ["a:a", "a:b"]
    assert all(g.values("member") == {"u1"} for g in inner.retrieve_all_groups())
    assert all(r.error_code is None for r in store.load("t").records.values())
