"""A process that runs the demo's full sync and kills itself at a chosen point (test_crash.py).

Usage: python crash_worker.py TARGET_DB STORE POINT

POINT is where the process dies with SIGKILL, as a crash would:

- ``before-target``: at the first target write, before it is made;
- ``mid-target``: at the first membership write, the groups already written;
- ``before-store``: when the run's records are about to be saved;
- ``mid-store``: inside the store's transaction, the rows written, before COMMIT;
- ``after-store``: just after the records are saved.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from grouperprov import (
    LogRecord,
    Provisioner,
    ProvisionerConfig,
    ProvisionerRecord,
    ProvisioningGroup,
    ProvisioningMembership,
    SyncRecord,
    WriteOutcome,
)
from grouperprov.cli import DEMO_CONFIG, demo_campus
from grouperprov.stores import SqliteSyncStore
from grouperprov.targets import SqliteTableTarget

LEASE_TTL = timedelta(seconds=1)
POINTS = ("before-target", "mid-target", "before-store", "mid-store", "after-store")


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def target(path: str) -> SqliteTableTarget:
    """The demo's target (its default columns are the demo configuration's)."""
    return SqliteTableTarget(path)


class DyingTarget(SqliteTableTarget):
    def __init__(self, path: str, point: str) -> None:
        super().__init__(path)
        self.point = point

    def insert_groups(self, groups: Sequence[ProvisioningGroup]) -> list[WriteOutcome]:
        if self.point == "before-target":
            die()
        return super().insert_groups(groups)

    def insert_memberships(
        self, memberships: Sequence[ProvisioningMembership]
    ) -> list[WriteOutcome]:
        if self.point == "mid-target":
            die()
        return super().insert_memberships(memberships)


class DyingStore(SqliteSyncStore):
    def __init__(self, path: str, point: str) -> None:
        super().__init__(path)
        self.point = point

    def save(
        self,
        provisioner: ProvisionerRecord,
        records: Iterable[SyncRecord],
        *,
        log: LogRecord | None = None,
        **queue: Any,  # the rejected events and acknowledged messages, passed on
    ) -> None:
        if log is None:  # the insert intents, written before the target writes
            super().save(provisioner, records, log=log, **queue)
            return
        if self.point == "before-store":
            die()
        if self.point == "mid-store":

            def trace(statement: str) -> None:
                if statement.strip().upper() == "COMMIT":
                    die()

            self._connect().set_trace_callback(trace)
        super().save(provisioner, records, log=log, **queue)
        if self.point == "after-store":
            die()


def config() -> ProvisionerConfig:
    return ProvisionerConfig.from_toml(DEMO_CONFIG)


def main(argv: Sequence[str]) -> Any:
    db, store, point = argv
    if point not in POINTS:
        raise SystemExit(f"unknown point {point!r}; one of {', '.join(POINTS)}")
    provisioner = Provisioner(
        config(),
        demo_campus(),
        DyingTarget(db, point),
        DyingStore(store, point),
        lease_ttl=LEASE_TTL,  # the lease it leaves behind lapses soon
    )
    provisioner.full_sync()
    raise SystemExit(f"{point}: the run ended without dying")


if __name__ == "__main__":
    main(sys.argv[1:])
