"""Crash safety: a run killed at any point loses nothing, and the next full sync converges."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from crash_worker import POINTS, config, target
from grouperprov import ObjectType, Provisioner, ProvisioningGroup, SyncStatus
from grouperprov.cli import DEMO_PROVISIONER, demo_campus
from grouperprov.stores import SqliteSyncStore

WORKER = Path(__file__).with_name("crash_worker.py")


@pytest.mark.parametrize("point", POINTS)
def test_a_run_killed_at_any_point_loses_nothing(tmp_path: Path, point: str) -> None:
    db, store_path = tmp_path / "target.db", tmp_path / "state.db"
    legacy = target(str(db))  # a group the target had before grouperprov came
    legacy.insert_groups(
        [ProvisioningGroup(id="", attributes={"name": "legacy:unknown", "description": "old"})]
    )
    legacy.close()

    killed = subprocess.run(  # noqa: S603  # our own worker
        [sys.executable, str(WORKER), str(db), str(store_path), point], timeout=120, check=False
    )
    assert killed.returncode == -signal.SIGKILL, killed

    source = demo_campus()
    store = SqliteSyncStore(store_path)
    provisioner = Provisioner(config(), source, target(str(db)), store)
    result = provisioner.full_sync()
    assert result.status is SyncStatus.SUCCESS, result.summary()
    assert provisioner.plan_full().plan.changes == ()  # converged

    # Everything grouperprov put in the target is recorded as its own, whenever it died.
    state = store.load(DEMO_PROVISIONER)
    names = {g.id: g.get_str("name") for g in source.snapshot().groups}
    in_target = {
        names[str(key[1])]: record
        for key, record in state.records.items()
        if key[0] is ObjectType.GROUP and record.in_target
    }
    rows = {str(row[1]) for row in target(str(db)).table("groups")}
    assert set(in_target) == rows - {"legacy:unknown"}
    assert all(r.inserted_by_us for r in in_target.values())
    memberships = [r for k, r in state.records.items() if k[0] is ObjectType.MEMBERSHIP]
    assert len([r for r in memberships if r.in_target]) == len(target(str(db)).table("memberships"))
    assert all(r.inserted_by_us for r in memberships if r.in_target)

    # So a group that leaves Grouper is deleted, and the legacy group is still left alone.
    gone = "school:courses:math:math101"
    assert gone in rows
    source.delete_group(gone)
    assert provisioner.full_sync().status is SyncStatus.SUCCESS
    rows_after = {str(row[1]) for row in target(str(db)).table("groups")}
    assert rows_after == rows - {gone}
    assert "legacy:unknown" in rows_after
