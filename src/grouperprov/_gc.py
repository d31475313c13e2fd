"""Pausing the cyclic garbage collector while a run builds millions of acyclic objects."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Turn the cyclic collector off for the block, and back on after it if it was on.

    Planning a campus creates millions of tuples, strings and beans that hold
    no reference cycles; every collection of the oldest generation walks all
    of them again and frees nothing. Reference counting still frees what is
    dropped, and a collection runs as usual once the block is left.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
