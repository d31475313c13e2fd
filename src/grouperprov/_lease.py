"""Holding a provisioner's job lease for the length of a run, with a heartbeat."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from ._records import JobLease, SyncType
from ._store import SyncStore
from .exceptions import LeaseLostError


def new_holder() -> str:
    """A holder name unique to this run: host, process id and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeaseKeeper:
    """Takes a lease (waiting up to a limit), renews it in a thread, gives it back.

    Args:
        store: The store holding the lease.
        provisioner: Whose lease.
        sync_type: The kind of run taking it.
        ttl: How long the lease lasts without a heartbeat; the heartbeat comes
            every third of it.
        wait: How long to wait for a lease another run holds.
        clock: What time it is.
    """

    def __init__(
        self,
        store: SyncStore,
        provisioner: str,
        sync_type: SyncType,
        *,
        ttl: timedelta,
        wait: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._provisioner = provisioner
        self._sync_type = sync_type
        self._ttl = ttl
        self._wait = wait
        self._clock = clock
        self._holder = new_holder()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lease: JobLease | None = None
        self.lost: LeaseLostError | None = None
        self.blocked_by: JobLease | None = None

    def acquire(self) -> bool:
        """Take the lease, waiting while another run holds it; ``False`` if it never came."""
        deadline = time.monotonic() + self._wait.total_seconds()
        poll = min(1.0, max(0.01, self._ttl.total_seconds() / 20))
        while True:
            self.lease = self._store.acquire_lease(
                self._provisioner, self._sync_type, self._holder, now=self._clock(), ttl=self._ttl
            )
            if self.lease is not None:
                break
            if time.monotonic() >= deadline:
                self.blocked_by = self._store.current_lease(self._provisioner)
                return False
            time.sleep(poll)
        self._thread = threading.Thread(
            target=self._beat, name=f"grouperprov-lease-{self._provisioner}", daemon=True
        )
        self._thread.start()
        return True

    def _beat(self) -> None:
        interval = self._ttl.total_seconds() / 3
        while not self._stop.wait(interval):
            lease = self.lease
            if lease is None:  # pragma: no cover  # released while the thread woke
                return
            try:
                self.lease = self._store.renew_lease(lease, now=self._clock(), ttl=self._ttl)
            except LeaseLostError as exc:
                self.lost = exc
                return

    def check(self) -> None:
        """Raise :class:`LeaseLostError` if the heartbeat found the lease taken over."""
        if self.lost is not None:
            raise self.lost

    def release(self) -> None:
        """Stop the heartbeat and give the lease back."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.lease is not None and self.lost is None:
            self._store.release_lease(self.lease)
        self.lease = None
