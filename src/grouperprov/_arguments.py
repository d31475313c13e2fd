"""The checks of what callers pass to a :class:`~grouperprov.Provisioner` and its calls.

Each argument is checked as it is given. Given wrong (a dict for the
configuration, a path for the store, a list for ``*groups``, a naive clock),
it failed at the first run with an ``AttributeError`` far from the mistake;
the messages here say what to pass.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import attrs

from ._config import ProvisionerConfig
from ._source import GrouperSnapshot
from ._store import SyncStore
from ._target import TargetDAO
from .stores import _is_postgres

__all__ = [
    "aware_clock",
    "check_config_argument",
    "check_duration",
    "check_source",
    "check_store",
    "check_target",
    "given_name",
    "given_names",
    "given_pairs",
]


def _wrong(name: str, value: object, wanted: str) -> TypeError:
    # The value itself is shown only when it is a number or a time: a dict or
    # a string given for the configuration or the store may hold a password.
    shown = f" {value!r:.60}" if isinstance(value, int | float | timedelta | datetime) else ""
    return TypeError(f"Provisioner {name}= takes {wanted}, not {type(value).__name__}{shown}")


# Each argument checked as it is given: given wrong, it failed at the first
# run with an AttributeError far from the mistake ('dict' object has no
# attribute 'name', 'str' object has no attribute 'acquire_lease').
def check_config_argument(_: object, __: object, value: Any) -> None:  # noqa: ANN401  # anything may be given
    if not isinstance(value, ProvisionerConfig):
        raise _wrong(
            "config",
            value,
            "a ProvisionerConfig (ProvisionerConfig.from_dict(data), .from_toml(text) "
            "or .load(path))",
        )


_SOURCE_METHODS = ("snapshot", "retrieve_groups", "retrieve_entities", "retrieve_memberships")


def check_source(_: object, __: object, value: Any) -> None:  # noqa: ANN401  # anything may be given
    if isinstance(value, GrouperSnapshot):
        msg = (
            "Provisioner source= takes a GrouperSource (an object whose snapshot() "
            "returns a GrouperSnapshot), not a GrouperSnapshot: its data is read at each run"
        )
        raise TypeError(msg)
    missing = [m for m in _SOURCE_METHODS if not callable(getattr(value, m, None))]
    if "snapshot" in missing:
        raise _wrong("source", value, "a GrouperSource (an object with a snapshot() method)")
    if missing:
        # A source with its snapshot alone failed a full sync half way (an
        # entity kept in the target is read with retrieve_entities), with an
        # AttributeError; group syncs and incremental runs read with them all.
        msg = (
            f"Provisioner source= takes a GrouperSource: {type(value).__name__} lacks "
            f"{', '.join(missing)}, which group syncs, incremental runs and full syncs use"
        )
        raise TypeError(msg)


def check_target(_: object, __: object, value: Any) -> None:  # noqa: ANN401  # anything may be given
    if isinstance(value, type) and issubclass(value, TargetDAO):
        msg = f"Provisioner target= takes a target, not the class {value.__name__}: make one"
        raise TypeError(msg)
    if not isinstance(value, TargetDAO):
        raise _wrong("target", value, "a TargetDAO (an instance of a subclass)")


_STORE_METHODS = frozenset(
    name
    for name, member in vars(SyncStore).items()
    if not name.startswith("_") and callable(member)
)


def check_store(_: object, __: object, value: Any) -> None:  # noqa: ANN401  # anything may be given
    if isinstance(value, str | os.PathLike):
        # A connection string may hold a password: it is never shown.
        shown = (
            "a PostgreSQL connection string"
            if isinstance(value, str) and _is_postgres(value)
            else f"the path {os.fspath(value)!r}"
        )
        msg = (
            f"Provisioner store= takes a SyncStore, not {shown}: "
            "open it with grouperprov.stores.open_store(...)"
        )
        raise TypeError(msg)
    missing = sorted(m for m in _STORE_METHODS if not callable(getattr(value, m, None)))
    if len(missing) == len(_STORE_METHODS):
        raise _wrong("store", value, "a SyncStore (grouperprov.stores)")
    if missing:  # a store of the caller's that lacks some: say which
        msg = (
            f"Provisioner store= takes a SyncStore: {type(value).__name__} lacks "
            f"{', '.join(missing)} (grouperprov.testing.check_sync_store checks a store)"
        )
        raise TypeError(msg)


@attrs.frozen
class _AwareClock:
    """The caller's clock, each time checked to have a timezone.

    ``clock=datetime.now`` is easy to write; its naive times were kept by an
    in-memory store, refused by the others, and compared with aware ones
    far from the mistake ("can't compare offset-naive and offset-aware").
    """

    clock: Callable[[], datetime]

    def __call__(self) -> datetime:
        now = self.clock()
        given: object = now  # whatever the clock gave
        if not isinstance(given, datetime) or given.tzinfo is None:
            msg = (
                f"the provisioner's clock gave {given!r:.80}, not a time with a timezone: "
                "pass one that does, as lambda: datetime.now(tz=UTC)"
            )
            raise ValueError(msg)
        return now


_NAIVE_CLOCKS = (datetime.now, datetime.utcnow, datetime.today)


def aware_clock(value: Callable[[], datetime]) -> Callable[[], datetime]:
    given: object = value  # whatever was passed
    if isinstance(given, _AwareClock):
        return given
    if not callable(given):
        raise _wrong("clock", given, "a function that returns the time (a datetime)")
    if given in _NAIVE_CLOCKS:
        msg = "Provisioner clock= gives times without a timezone: pass lambda: datetime.now(tz=UTC)"
        raise TypeError(msg)
    return _AwareClock(value)


def check_duration(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:  # noqa: ANN401  # anything may be given
    if value is None and attribute.name == "checkpoint_interval":
        return
    if not isinstance(value, timedelta):
        raise _wrong(attribute.name, value, "a timedelta (datetime.timedelta(seconds=...))")
    if value < timedelta(0) or (attribute.name == "lease_ttl" and not value):
        least = "more than 0" if attribute.name == "lease_ttl" else "0 or more"
        msg = f"Provisioner {attribute.name}= must be {least}, not {value}"
        raise ValueError(msg)


def given_names(what: str, values: Iterable[object]) -> tuple[str, ...]:
    """*values* as names: each a string, or an iterable of strings (a list given for ``*args``).

    A lone string is one name, never its letters; anything else is a
    ``TypeError`` that names *what* (a list was "unhashable type: 'list'").
    """
    found: list[str] = []
    for value in values:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, Iterable):
            msg = f"{what}: expected names (strings), not {type(value).__name__} {value!r:.60}"
            raise TypeError(msg)
        for item in items:
            if not isinstance(item, str):
                msg = f"{what}: expected names (strings), not {type(item).__name__} {item!r:.60}"
                raise TypeError(msg)
            found.append(item)
    return tuple(found)


def given_name(what: str, value: object) -> None:
    if value is not None and not isinstance(value, str):
        msg = f"{what}: expected a name (a string), not {type(value).__name__} {value!r:.60}"
        raise TypeError(msg)


def given_pairs(values: Iterable[object]) -> tuple[tuple[str, str], ...]:
    """Memberships as (group, member) pairs; a lone pair is one."""
    items = list(values)
    if len(items) == 2 and all(isinstance(i, str) for i in items):  # noqa: PLR2004  # one pair
        items = [tuple(items)]
    pairs: list[tuple[str, str]] = []
    for index, item in enumerate(items):
        if isinstance(item, str) or not isinstance(item, Iterable) or len(pair := tuple(item)) != 2:  # noqa: PLR2004
            msg = f"memberships[{index}]: expected a (group, member) pair, not {item!r:.60}"
            raise ValueError(msg)
        pairs.append((str(pair[0]), str(pair[1])))
    return tuple(pairs)
