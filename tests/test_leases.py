"""The job lease: runs of one provisioner never overlap, and a dead holder's lease lapses."""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from grouperprov import (
    Provisioner,
    ProvisioningGroup,
    SyncResult,
    SyncStatus,
    SyncType,
    WriteOutcome,
)
from grouperprov.exceptions import LeaseLostError
from grouperprov.stores import MemorySyncStore, open_store
from grouperprov.testing import InMemorySource, InMemoryTarget
from lease_worker import CONFIG

WORKER = Path(__file__).with_name("lease_worker.py")


def _source() -> InMemorySource:
    source = InMemorySource()
    source.add_group("a:b")
    source.mark("a", "shared")
    return source


def _now() -> datetime:
    return datetime.now(tz=UTC)


def test_a_run_finding_the_lease_held_waits_then_reports_busy() -> None:
    store = MemorySyncStore()
    held = store.acquire_lease(
        "shared", SyncType.INCREMENTAL, "other:1", now=_now(), ttl=timedelta(hours=1)
    )
    assert held is not None
    target = InMemoryTarget()
    provisioner = Provisioner(
        CONFIG, _source(), target, store, lease_wait=timedelta(milliseconds=50)
    )
    result = provisioner.full_sync()
    assert result.status is SyncStatus.BUSY
    assert "held by other:1 (incremental sync" in result.message
    assert target.groups == {}
    planned = provisioner.plan_full()  # planning reads only: no lease needed
    assert provisioner.apply(planned).status is SyncStatus.BUSY
    assert provisioner.full_sync(dry_run=True).status is SyncStatus.SUCCESS
    store.release_lease(held)
    assert provisioner.full_sync().status is SyncStatus.SUCCESS
    assert store.current_lease("shared") is None  # given back at the end


class _Paused(InMemoryTarget):
    """Holds its first group insert until told to go on."""

    def __init__(self) -> None:
        super().__init__()
        self.writing, self.go_on = threading.Event(), threading.Event()

    def insert_groups(self, groups: Sequence[ProvisioningGroup]) -> list[WriteOutcome]:
        self.writing.set()
        assert self.go_on.wait(10)
        return super().insert_groups(groups)


def test_another_thread_s_apply_does_not_share_a_run_s_lease() -> None:
    # Found by running one provisioner from two threads: the lease a run held
    # was the provisioner's, so another thread's apply() took it for its own
    # and wrote while that run wrote.
    target = _Paused()
    provisioner = Provisioner(CONFIG, _source(), target, MemorySyncStore(), lease_wait=timedelta(0))
    planned = provisioner.plan_full()
    results: dict[str, SyncResult] = {}
    run = threading.Thread(target=lambda: results.update(full=provisioner.full_sync()))
    run.start()
    try:
        assert target.writing.wait(10)
        other = provisioner.apply(planned)  # this thread, while the run writes
    finally:
        target.go_on.set()
        run.join(10)
    assert other.status is SyncStatus.BUSY
    assert results["full"].status is SyncStatus.SUCCESS


class _Thief(InMemoryTarget):
    """Lets another run take the lease while this one writes."""

    def __init__(self, store: MemorySyncStore) -> None:
        super().__init__()
        self.store = store

    def insert_groups(self, groups: Sequence[ProvisioningGroup]) -> list[WriteOutcome]:
        later = _now() + timedelta(hours=1)  # ours has expired by then
        self.store.acquire_lease(
            "shared", SyncType.FULL, "thief", now=later, ttl=timedelta(hours=2)
        )
        time.sleep(0.3)  # the heartbeat finds out
        return super().insert_groups(groups)


def test_a_run_whose_lease_is_taken_over_stops_before_writing_its_records() -> None:
    store = MemorySyncStore()
    target = _Thief(store)
    provisioner = Provisioner(
        CONFIG, _source(), target, store, lease_ttl=timedelta(milliseconds=150)
    )
    with pytest.raises(LeaseLostError, match="is now held by 'thief'"):
        provisioner.full_sync()
    # Only the insert intents written ahead of the target writes: the next run repairs.
    records = store.load("shared").records.values()
    assert [(r.inserted_by_us, r.in_target) for r in records] == [(True, False)]
    lease = store.current_lease("shared")
    assert lease is not None
    assert lease.holder == "thief"  # and the thief's lease is left alone


def _intervals(log: Path) -> dict[str, tuple[float, float, str]]:
    starts: dict[str, float] = {}
    releases: dict[str, float] = {}
    result: dict[str, tuple[float, float, str]] = {}
    for line in log.read_text().splitlines():
        name, event, when, *rest = line.split()
        if event == "start":
            starts.setdefault(name, float(when))
        elif event == "release":
            releases[name] = float(when)
        elif event == "end":
            result[name] = (starts[name], releases.get(name, float(when)), rest[0])
    return result


@pytest.fixture(params=["sqlite", "postgres"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a shared store lives: a SQLite file, or a PostgreSQL database."""
    location = (
        request.getfixturevalue("postgres_dsn")
        if request.param == "postgres"
        else str(tmp_path / "store.db")
    )
    open_store(location)  # create the schema once, before the race
    return location


def test_concurrent_processes_never_overlap_on_a_shared_store(
    shared_store: str, tmp_path: Path
) -> None:
    """Two full and two incremental runs race: one after the other, never two at once."""
    store, log = shared_store, tmp_path / "runs.log"
    modes: list[list[str]] = [[], ["incremental"], [], ["incremental"]]
    workers = [
        subprocess.Popen([sys.executable, str(WORKER), store, str(log), f"w{i}", *mode])  # noqa: S603
        for i, mode in enumerate(modes)
    ]
    for worker in workers:
        assert worker.wait(timeout=120) == 0
    runs = sorted(_intervals(log).values())
    assert len(runs) == 4
    assert all(status == "SUCCESS" for _, _, status in runs)
    for (_, end, _), (start, _, _) in itertools.pairwise(runs):
        assert end <= start, runs  # one after the other, never two at once


def test_a_killed_holders_lease_is_taken_over_after_it_expires(
    shared_store: str, tmp_path: Path
) -> None:
    store, log = shared_store, tmp_path / "runs.log"
    holder = subprocess.Popen([sys.executable, str(WORKER), store, str(log), "dead", "hold"])  # noqa: S603
    deadline = time.monotonic() + 60
    while not (log.exists() and "dead holding" in log.read_text()):
        assert time.monotonic() < deadline, "the holder never took the lease"
        time.sleep(0.05)
    holder.kill()
    holder.wait()
    dead = open_store(store).current_lease("shared")
    assert dead is not None
    assert dead.holder.split(":")[1] == str(holder.pid)  # left behind by the killed process
    heir = subprocess.run(  # noqa: S603
        [sys.executable, str(WORKER), store, str(log), "heir"], timeout=120, check=True
    )
    assert heir.returncode == 0
    start, _, status = _intervals(log)["heir"]
    assert status == "SUCCESS"
    assert start >= dead.expires.timestamp()  # it waited for the dead lease to lapse
    assert open_store(store).current_lease("shared") is None
