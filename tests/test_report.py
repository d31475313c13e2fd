"""status_report and explain_object: what a store knows, in words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from grouperprov import (
    FailsafeState,
    ObjectType,
    ProvisionerRecord,
    SyncErrorCode,
    SyncRecord,
    SyncType,
)
from grouperprov._report import explain_object, status_report
from grouperprov.stores import MemorySyncStore

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _store() -> MemorySyncStore:
    store = MemorySyncStore()
    errors = [
        SyncRecord(
            object_type=ObjectType.GROUP,
            grouper_id=f"g{i}",
            provisionable=True,
            provisionable_start=T0,
            error_code=SyncErrorCode.LEN,
            error_message=f"cn too long ({i})",
            error_time=T0 + timedelta(minutes=i),
        )
        for i in range(5)
    ]
    others = [
        SyncRecord(
            object_type=ObjectType.GROUP,
            grouper_id="gone",
            provisionable_start=T0,
            provisionable_end=T0,
            in_target_end=T0,
            error_code=SyncErrorCode.ERR,
            error_message="boom",
        ),
        SyncRecord(
            object_type=ObjectType.ENTITY,
            grouper_id="m1",
            target_id="uid=jo",
            in_target=True,
            in_target_start=T0,
            links=("uid=jo", None),
            subject_link="jo@example.edu",
        ),
        SyncRecord(
            object_type=ObjectType.MEMBERSHIP,
            grouper_id=("g1", "m1"),
            in_target=True,
        ),
    ]
    failsafe = FailsafeState(tripped_at=T0, reasons=("group 'g1': 50 % removed, max 20 %",))
    store.save(ProvisionerRecord(name="p", failsafe=failsafe), errors + others)
    return store


def test_status_shows_errors_failsafe_and_lease() -> None:
    store = _store()
    assert status_report(store, "p", now=T0).splitlines() == [
        "provisioner 'p'",
        "  no runs yet",
        "  group records: 6, 0 in the target",
        "  entity records: 1, 1 in the target",
        "  membership records: 1, 1 in the target",
        "  objects in error ERR: 1",
        "    group 'gone': boom",
        "  objects in error LEN: 5",
        "    group 'g4': cn too long (4)",
        "    group 'g3': cn too long (3)",
        "    group 'g2': cn too long (2)",
        "  failsafe: tripped at 2026-03-01T08:00:00+00:00, NOT approved",
        "    group 'g1': 50 % removed, max 20 %",
    ]
    state = store.load("p")
    approved = FailsafeState(
        tripped_at=T0, reasons=("x",), approved_by="alice", approved_at=T0 + timedelta(hours=1)
    )
    store.save(ProvisionerRecord(name="p", failsafe=approved), ())
    lease = store.acquire_lease("p", SyncType.FULL, "host:1:ab", now=T0, ttl=timedelta(minutes=2))
    assert lease is not None
    report = status_report(store, "p", now=T0 + timedelta(minutes=1))
    assert "  failsafe: tripped at 2026-03-01T08:00:00+00:00, approved by alice at " in report
    assert "  job lease: held, full run by host:1:ab since 2026-03-01T08:00:00+00:00" in report
    assert "job lease: expired" in status_report(store, "p", now=T0 + timedelta(hours=1))
    assert len(state.records) == 8


def test_explain_finds_objects_by_id_target_id_or_link() -> None:
    state = _store().load("p")
    by_link = explain_object(state, ObjectType.ENTITY, "jo@example.edu")
    assert by_link == explain_object(state, ObjectType.ENTITY, "uid=jo")
    assert by_link.splitlines() == [
        "entity 'm1' (p):",
        "  provisionable: never",
        "  in target: yes, since 2026-03-01T08:00:00+00:00, as 'uid=jo'",
        "  origin: pre-existing",
        "  cached links: 'uid=jo'; subject link 'jo@example.edu'",
        "  last error: none",
        "  last written: never",
        "  memberships: 1 recorded, 1 in the target",
    ]
    gone = explain_object(state, ObjectType.GROUP, "gone").splitlines()
    assert gone[1:3] == [
        "  provisionable: no (until 2026-03-01T08:00:00+00:00)",
        "  in target: no (left 2026-03-01T08:00:00+00:00)",
    ]
    assert "  last error: ERR at never: boom" in gone
    g1 = explain_object(state, ObjectType.GROUP, "g1")
    assert "  provisionable: yes, since 2026-03-01T08:00:00+00:00" in g1
    membership = explain_object(state, ObjectType.MEMBERSHIP, "g1")
    assert membership == "no membership record of 'p' has the id, target id or link 'g1'"
