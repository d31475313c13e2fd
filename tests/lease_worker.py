"""A process that runs one full or incremental sync against a shared store (for test_leases.py).

Usage: python lease_worker.py STORE LOG NAME [hold | incremental]

STORE is a SQLite file or a PostgreSQL connection string (see ``open_store``).

It writes to LOG "NAME start T" when its run takes the job lease (and again at
the target's first read), "NAME release T" just before it gives the lease back,
and "NAME end T STATUS" when the run is over.
With "hold" it takes the lease and then sleeps until it is killed; with
"incremental" it runs an incremental sync of the group's change-log events
(a recalculation, which reads the target) instead of a full sync.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from grouperprov import JobLease, Provisioner, ProvisionerConfig, SyncType, TargetData
from grouperprov._lease import LeaseKeeper
from grouperprov.stores import SyncStore, open_store
from grouperprov.testing import InMemorySource, InMemoryTarget

CONFIG = ProvisionerConfig.from_dict(
    {
        "name": "shared",
        "groups": {"matching": ["name"], "attributes": [{"name": "name", "field": "name"}]},
        "entities": {"operate": False},
        "memberships": {"operate": False},
    }
)


def _log(path: Path, line: str) -> None:
    with path.open("a") as out:
        out.write(f"{line}\n")


class SlowTarget(InMemoryTarget):
    def __init__(self, log: Path, name: str) -> None:
        super().__init__()
        self._log, self._name = log, name

    def retrieve_all_data(self) -> TargetData:
        _log(self._log, f"{self._name} start {time.time()}")
        time.sleep(0.3)
        return super().retrieve_all_data()


def _logging_leases(store: SyncStore, log: Path, name: str) -> None:
    """Log when *store* hands this process the lease and when it is given back."""
    acquire, release = store.acquire_lease, store.release_lease

    def acquire_lease(*args: Any, **kwargs: Any) -> JobLease | None:
        lease = acquire(*args, **kwargs)
        if lease is not None:
            _log(log, f"{name} start {time.time()}")
        return lease

    def release_lease(lease: JobLease) -> None:
        _log(log, f"{name} release {time.time()}")
        release(lease)

    store.acquire_lease = acquire_lease  # type: ignore[method-assign]  # a test probe
    store.release_lease = release_lease  # type: ignore[method-assign]  # a test probe


def main() -> None:
    log_path, name = Path(sys.argv[2]), sys.argv[3]
    store = open_store(sys.argv[1])
    ttl = timedelta(seconds=1.5)
    if sys.argv[4:] == ["hold"]:
        keeper = LeaseKeeper(store, "shared", SyncType.FULL, ttl=ttl, wait=timedelta(0), clock=_now)
        if not keeper.acquire():
            raise SystemExit(f"{name}: could not take the lease")
        _log(log_path, f"{name} holding {time.time()}")
        time.sleep(3600)  # killed by the test, lease still held
    _logging_leases(store, log_path, name)
    source = InMemorySource()
    source.add_group("a:b", description="x")
    source.mark("a", "shared")
    provisioner = Provisioner(
        CONFIG,
        source,
        SlowTarget(log_path, name),
        store,
        lease_ttl=ttl,
        lease_wait=timedelta(seconds=60),
    )
    if sys.argv[4:] == ["incremental"]:
        result = provisioner.incremental_sync(source.events())
    else:
        result = provisioner.full_sync()
    _log(log_path, f"{name} end {time.time()} {result.status.value}")


def _now() -> datetime:
    return datetime.now(tz=UTC)


if __name__ == "__main__":
    main()
