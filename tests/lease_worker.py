"""A process that runs one full sync against a shared store (for test_leases.py).

Usage: python lease_worker.py STORE LOG NAME [hold]

STORE is a SQLite file or a PostgreSQL connection string (see ``open_store``).

It writes "NAME start T" when its run starts working (the target's first read,
with the job lease held) and "NAME end T STATUS" when the run is over, to LOG.
With "hold" it takes the lease and then sleeps until it is killed.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from grouperprov import Provisioner, ProvisionerConfig, SyncType, TargetData
from grouperprov._lease import LeaseKeeper
from grouperprov.stores import open_store
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
    result = provisioner.full_sync()
    _log(log_path, f"{name} end {time.time()} {result.status.value}")


def _now() -> datetime:
    return datetime.now(tz=UTC)


if __name__ == "__main__":
    main()
