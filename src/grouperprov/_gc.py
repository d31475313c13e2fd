"""Pausing the cyclic garbage collector while a run builds millions of acyclic objects."""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_depth = 0  # blocks inside paused_gc() now, in every thread
_restore = False  # whether the collector was on when the first of them began


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Turn the cyclic collector off for the block, and back on after it if it was on.

    Planning and applying a campus create millions of tuples, strings and
    beans that hold no reference cycles; every collection of the oldest
    generation walks all of them again and frees nothing (a third of a full
    sync's time, measured). Reference counting still frees what is dropped,
    and a collection runs as usual once the block is left.

    Blocks may nest and may overlap in several threads (the collector is one
    per process): it is turned back on when the last of them ends, and only
    if it was on when the first began.
    """
    global _depth, _restore  # noqa: PLW0603  # one collector per process
    with _lock:
        if _depth == 0:
            _restore = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _restore:
                gc.enable()
