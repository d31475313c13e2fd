"""check_sync_store: the contract every sync store keeps, as one callable check."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import attrs

from grouperprov._codes import SyncErrorCode, exception_text
from grouperprov._config import ObjectType
from grouperprov._events import ControlKind, ControlMessage, RejectedEvent
from grouperprov._records import FailsafeState, LogRecord, ProvisionerRecord, SyncRecord, SyncType
from grouperprov._store import SyncStore
from grouperprov.exceptions import GrouperprovError, LeaseLostError

__all__ = ["StoreContractError", "check_sync_store"]

_T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class StoreContractError(AssertionError):
    """A sync store broke the contract; the message names the rule."""


def _expect(condition: bool, rule: str, detail: object = "") -> None:  # an assertion
    if not condition:
        msg = f"{rule}" + (f": {detail}" if detail != "" else "")
        raise StoreContractError(msg)


def _records() -> list[SyncRecord]:
    later = _T0 + timedelta(minutes=5)
    return [
        SyncRecord(
            object_type=ObjectType.GROUP,
            grouper_id="g-1",
            target_id="cn=math,ou=groups",
            provisionable=True,
            provisionable_start=_T0,
            in_target=True,
            in_target_start=later,
            inserted_by_us=True,
            last_sync=later,
            links=("cn=math,ou=groups", None, "42"),
        ),
        SyncRecord(
            object_type=ObjectType.GROUP,
            grouper_id="g-2",
            provisionable=False,
            provisionable_start=_T0,
            provisionable_end=later,
            error_code=SyncErrorCode.LEN,
            error_message="cn: value 'x...' is 70 characters long, max 64",
            error_time=later,
        ),
        SyncRecord(
            object_type=ObjectType.ENTITY,
            grouper_id="m-1",
            target_id="uid=jdoe,ou=people",
            in_target=True,
            subject_link="jdoe@example.edu",
        ),
        SyncRecord(
            object_type=ObjectType.MEMBERSHIP,
            grouper_id=("g-1", "m-1"),
            target_id=("cn=math,ou=groups", "uid=jdoe"),
            provisionable=True,
            in_target=True,
        ),
        SyncRecord(
            object_type=ObjectType.MEMBERSHIP,
            grouper_id=("g-1", "m-2"),
            target_id=("g-1", 1001),  # a membership value: (owner, value)
            provisionable=True,
        ),
    ]


def _check_records(store: SyncStore) -> None:
    name = "contract-records"
    state = store.load(name)
    _expect(state.provisioner.name == name, "a new provisioner loads with its name")
    _expect(not state.records, "a new provisioner has no records", dict(state.records))
    _expect(state.provisioner.failsafe is None, "a new provisioner has no failsafe state")
    records = _records()
    record = ProvisionerRecord(name=name, last_run={SyncType.FULL: _T0})
    log = LogRecord(
        provisioner=name,
        sync_type=SyncType.FULL,
        started=_T0,
        finished=_T0 + timedelta(seconds=3),
        status="SUCCESS",
        summary="5 changes",
    )
    store.save(record, records, log=log)
    loaded = store.load(name)
    want = {(r.object_type, r.grouper_id): r for r in records}
    _expect(dict(loaded.records) == want, "records load as they were saved", dict(loaded.records))
    _expect(
        dict(loaded.provisioner.last_run) == {SyncType.FULL: _T0},
        "last run times load as saved",
        loaded.provisioner.last_run,
    )
    _expect(store.logs(name) == [log], "the log holds the run", store.logs(name))
    changed = attrs.evolve(records[0], in_target=False, in_target_end=_T0 + timedelta(hours=1))
    store.save(
        attrs.evolve(record, last_run={SyncType.FULL: _T0, SyncType.GROUP: _T0}),
        [changed],
    )
    loaded = store.load(name)
    _expect(
        loaded.records[(ObjectType.GROUP, "g-1")] == changed,
        "saving a record again replaces it",
        loaded.records.get((ObjectType.GROUP, "g-1")),
    )
    _expect(len(loaded.records) == len(records), "saving some records keeps the others")
    _expect(
        set(loaded.provisioner.last_run) == {SyncType.FULL, SyncType.GROUP},
        "last run times of every sync type are kept",
    )
    _expect(not store.load("contract-other").records, "provisioners do not share records")


def _check_some_records(store: SyncStore) -> None:
    name = "contract-some"
    records = _records()
    store.save(ProvisionerRecord(name=name, last_sequence=41), records)
    keys = [(ObjectType.GROUP, "g-2"), (ObjectType.ENTITY, "m-1"), (ObjectType.GROUP, "nope")]
    some = store.load_records(name, keys)
    _expect(
        set(some.records) == {(ObjectType.GROUP, "g-2"), (ObjectType.ENTITY, "m-1")},
        "load_records gives the records of the keys that exist, and no others",
        sorted(map(str, some.records)),
    )
    _expect(some.provisioner.last_sequence == 41, "the last sequence number loads as saved")  # noqa: PLR2004
    pair = store.load_records(name, [(ObjectType.MEMBERSHIP, ("g-1", "m-2"))])
    _expect(
        list(pair.records.values()) == [records[4]],
        "load_records finds a membership by its (group, member) pair",
        dict(pair.records),
    )
    of_group = store.load_records(name, [], groups=["g-1", "g-9"])
    _expect(
        set(of_group.records)
        == {(ObjectType.MEMBERSHIP, ("g-1", "m-1")), (ObjectType.MEMBERSHIP, ("g-1", "m-2"))},
        "load_records(groups=...) gives every membership record of those groups",
        sorted(map(str, of_group.records)),
    )
    of_member = store.load_records(name, [], members=["m-2"], groups=["g-9"])
    _expect(
        set(of_member.records) == {(ObjectType.MEMBERSHIP, ("g-1", "m-2"))},
        "load_records(members=...) gives every membership record of those members",
        sorted(map(str, of_member.records)),
    )
    many = [(ObjectType.GROUP, f"x-{i}") for i in range(1000)] + [(ObjectType.GROUP, "g-1")]
    _expect(
        set(store.load_records(name, many).records) == {(ObjectType.GROUP, "g-1")},
        "load_records takes a thousand keys at once",
    )
    errors = store.error_records(name)
    _expect(
        [(r.object_type, r.grouper_id) for r in errors] == [(ObjectType.GROUP, "g-2")],
        "error_records gives the records with an error",
        errors,
    )


def _check_queue(store: SyncStore) -> None:
    name = "contract-queue"
    _expect(store.rejected_events(name) == [], "a new provisioner has no rejected events")
    _expect(store.controls(name) == [], "a new provisioner has no control messages")
    first = ControlMessage(
        id="c-1",
        kind=ControlKind.SYNC_OBJECTS,
        requested_by="admin",
        requested_at=_T0,
        groups=("apps:ldap:staff",),
        entities=("m-1",),
        memberships=(("g-1", "m-1"),),
    )
    second = ControlMessage(
        id="c-2", kind=ControlKind.FULL_SYNC, requested_by="cron", requested_at=_T0 + timedelta(1)
    )
    store.add_control(name, second)
    store.add_control(name, first)
    _expect(
        store.controls(name) == [first, second],
        "control messages load oldest first",
        store.controls(name),
    )
    try:
        store.add_control(name, first)
    except GrouperprovError:
        pass
    else:
        _expect(False, "a control message id is kept once")  # fails
    rejected = RejectedEvent(
        payload='{"kind": "x"}', reason="kind: unknown", sequence=7, received=_T0
    )
    done = attrs.evolve(first, acknowledged_at=_T0 + timedelta(2), outcome="3 changes")
    store.save(
        ProvisionerRecord(name=name, last_sequence=7), [], rejected=[rejected], acknowledged=[done]
    )
    _expect(
        store.rejected_events(name) == [rejected],
        "rejected events are kept",
        store.rejected_events(name),
    )
    _expect(store.controls(name) == [second], "an acknowledged message is no longer pending")
    _expect(
        store.controls(name, pending=False) == [done, second],
        "an acknowledged message is kept with when and what became of it",
        store.controls(name, pending=False),
    )
    _expect(store.load(name).provisioner.last_sequence == 7, "the last sequence number is saved")  # noqa: PLR2004
    _expect(
        store.rejected_events("contract-other") == [], "provisioners do not share the error queue"
    )


def _check_nul_text(store: SyncStore) -> None:
    r"""Text with a NUL (U+0000) is kept, or written ``\u0000`` where the database cannot hold it.

    Bytes off a message queue become a rejected event's payload as they came;
    a store that refused them failed the run, and every run the message was
    delivered to again.
    """
    name = "contract-nul"
    record = SyncRecord(
        object_type=ObjectType.GROUP,
        grouper_id="g-nul",
        error_code=SyncErrorCode.ERR,
        error_message="refused: \x00",
        error_time=_T0,
        last_sync=_T0,
    )
    rejected = RejectedEvent(payload="\x00\x01 off the queue", reason="not JSON", received=_T0)
    store.save(ProvisionerRecord(name=name), [record], rejected=[rejected])
    kept = store.load(name).records.get((ObjectType.GROUP, "g-nul"))
    message = kept.error_message if kept is not None else None
    _expect(
        message in {"refused: \x00", "refused: \\u0000"},
        "an error message with a NUL is kept (or with the NUL as \\u0000)",
        message,
    )
    asked = ControlMessage(
        id="c-nul", kind=ControlKind.FULL_SYNC, requested_by="ad\x00min", requested_at=_T0
    )
    store.add_control(name, asked)
    by = [m.requested_by for m in store.controls(name)]
    _expect(
        by in (["ad\x00min"], ["ad\\u0000min"]),
        "a control message with a NUL is kept (or with the NUL as \\u0000)",
        by,
    )
    payloads = [r.payload for r in store.rejected_events(name)]
    _expect(
        payloads in (["\x00\x01 off the queue"], ["\\u0000\x01 off the queue"]),
        "a rejected event's payload with a NUL is kept (or with the NUL as \\u0000)",
        payloads,
    )


def _either(kept: object, given: object, escaped: object, rule: str) -> None:
    _expect(kept in (given, escaped), rule, kept)


def _check_surrogate_text(store: SyncStore) -> None:
    r"""Text with a lone surrogate is kept, or written as its escape (``\udcff``).

    UTF-8 cannot encode one, yet a Python string may hold it: a target's
    value read from bytes that are not UTF-8 (a cached link), an error
    message quoting it, a payload off a queue. A store that refused it lost
    the run's records, and every later run's.
    """
    name = "contract-surrogate"
    odd = SyncRecord(
        object_type=ObjectType.GROUP,
        grouper_id="g-odd",
        error_code=SyncErrorCode.ERR,
        error_message="refused: \ud800",
        error_time=_T0,
        last_sync=_T0,
        links=("guid-\udcff",),
        subject_link="who-\udcfe",
    )
    plain = attrs.evolve(
        odd, grouper_id="g-plain", error_message="plain", links=(), subject_link=None
    )
    rejected = RejectedEvent(payload="\udcff off the queue", reason="not UTF-8", received=_T0)
    log = LogRecord(
        provisioner=name,
        sync_type=SyncType.FULL,
        started=_T0,
        finished=_T0,
        status="ERROR",
        summary="group 'a:\ud800'",
    )
    store.save(ProvisionerRecord(name=name), [odd, plain], log=log, rejected=[rejected])
    records = store.load(name).records
    _expect((ObjectType.GROUP, "g-plain") in records, "the save's other records are kept")
    kept = records.get((ObjectType.GROUP, "g-odd"))
    _expect(kept is not None, "a record with a lone surrogate in its text is kept")
    assert kept is not None  # noqa: S101  # for the type checker
    rule = "text with a lone surrogate is kept (or as its escape, \\udcff)"
    _either(kept.error_message, "refused: \ud800", "refused: \\ud800", rule)
    _either(kept.links, ("guid-\udcff",), ("guid-\\udcff",), rule)
    _either(kept.subject_link, "who-\udcfe", "who-\\udcfe", rule)
    payloads = [r.payload for r in store.rejected_events(name)]
    _either(payloads, ["\udcff off the queue"], ["\\udcff off the queue"], rule)
    summaries = [entry.summary for entry in store.logs(name)]
    _either(summaries, ["group 'a:\ud800'"], ["group 'a:\\ud800'"], rule)
    asked = ControlMessage(
        id="c-odd", kind=ControlKind.FULL_SYNC, requested_by="ad\udcffmin", requested_at=_T0
    )
    store.add_control(name, asked)
    by = [m.requested_by for m in store.controls(name)]
    _either(by, ["ad\udcffmin"], ["ad\\udcffmin"], rule)


def _failing(records: list[SyncRecord]) -> Iterator[SyncRecord]:
    yield from records
    msg = "the caller failed half way"
    raise RuntimeError(msg)


def _check_atomic(store: SyncStore) -> None:
    name = "contract-atomic"
    store.save(ProvisionerRecord(name=name), _records()[:1])
    before = store.load(name)
    try:
        store.save(
            ProvisionerRecord(name=name, last_run={SyncType.FULL: _T0}),
            _failing(_records()[1:]),
        )
    except RuntimeError:
        pass
    else:
        _expect(False, "a save whose records fail half way raises")
    after = store.load(name)
    _expect(after == before, "a failed save leaves the store as it was", after)


def _check_failsafe(store: SyncStore) -> None:
    name = "contract-failsafe"
    tripped = FailsafeState(tripped_at=_T0, reasons=("group 'a': 60 % removed, max 20 %",))
    store.save(ProvisionerRecord(name=name, failsafe=tripped), ())
    loaded = store.load(name).provisioner.failsafe
    _expect(loaded == tripped, "a tripped failsafe loads as saved", loaded)
    _expect(loaded is not None and loaded.blocking, "a tripped failsafe blocks")
    approved = attrs.evolve(tripped, approved_by="alice", approved_at=_T0 + timedelta(hours=1))
    store.save(ProvisionerRecord(name=name, failsafe=approved), ())
    loaded = store.load(name).provisioner.failsafe
    _expect(loaded == approved, "an approval is kept with who and when", loaded)
    store.save(ProvisionerRecord(name=name), ())
    _expect(store.load(name).provisioner.failsafe is None, "a cleared failsafe stays cleared")


def _check_lease(store: SyncStore) -> None:
    name = "contract-lease"
    ttl = timedelta(seconds=30)
    _expect(store.current_lease(name) is None, "nobody holds a new provisioner's lease")
    first = store.acquire_lease(name, SyncType.FULL, "a", now=_T0, ttl=ttl)
    _expect(
        first is not None and first.holder == "a" and first.expires == _T0 + ttl,
        "a free lease is taken",
        first,
    )
    assert first is not None  # noqa: S101  # for the type checker, checked above
    other = store.acquire_lease(name, SyncType.INCREMENTAL, "b", now=_T0 + ttl / 2, ttl=ttl)
    _expect(other is None, "a held lease is not given to another holder", other)
    again = store.acquire_lease(name, SyncType.FULL, "a", now=_T0 + ttl / 3, ttl=ttl)
    _expect(
        again is not None and again.acquired == _T0 and again.expires == _T0 + ttl / 3 + ttl,
        "the holder taking its lease again renews it",
        again,
    )
    renewed = store.renew_lease(first, now=_T0 + ttl / 2, ttl=ttl)
    _expect(renewed.expires == _T0 + ttl / 2 + ttl, "a heartbeat pushes the expiry", renewed)
    _expect(store.current_lease(name) == renewed, "the stored lease is the renewed one")
    late = _T0 + ttl * 3
    taken = store.acquire_lease(name, SyncType.INCREMENTAL, "b", now=late, ttl=ttl)
    _expect(taken is not None and taken.holder == "b", "an expired lease is taken over", taken)
    try:
        store.renew_lease(first, now=late, ttl=ttl)
    except LeaseLostError:
        pass
    else:
        _expect(False, "renewing a lease taken over raises LeaseLostError")
    store.release_lease(first)
    _expect(store.current_lease(name) == taken, "releasing someone else's lease does nothing")
    assert taken is not None  # noqa: S101  # for the type checker, checked above
    store.release_lease(taken)
    _expect(store.current_lease(name) is None, "a released lease is free")


def _check_purge(store: SyncStore) -> None:
    name = "contract-purge"
    old, recent = _T0 - timedelta(days=100), _T0 - timedelta(days=1)
    gone = SyncRecord(
        object_type=ObjectType.GROUP,
        grouper_id="gone",
        provisionable_start=old,
        provisionable_end=old,
        in_target_end=old,
        last_sync=old,
    )
    records = [
        gone,
        attrs.evolve(gone, grouper_id="left-recently", in_target_end=recent),
        attrs.evolve(gone, grouper_id="still-provisionable", provisionable=True),
        attrs.evolve(gone, grouper_id="still-in-target", in_target=True),
        attrs.evolve(
            gone,
            object_type=ObjectType.MEMBERSHIP,
            grouper_id=("gone", "m"),
        ),
    ]
    logs = [
        LogRecord(
            provisioner=name,
            sync_type=SyncType.FULL,
            started=when,
            finished=when,
            status="SUCCESS",
            summary="",
        )
        for when in (old, recent)
    ]
    store.save(ProvisionerRecord(name=name), records, log=logs[0])
    store.save(ProvisionerRecord(name=name), (), log=logs[1])
    counts = store.purge(name, records_before=_T0 - timedelta(days=30), logs_before=recent)
    _expect(counts == (2, 1), "purge reports what it deleted", counts)
    left = {key[1] for key in store.load(name).records}
    _expect(
        left == {"left-recently", "still-provisionable", "still-in-target"},
        "purge deletes only records out of the target, not provisionable, and old",
        left,
    )
    _expect(store.logs(name) == logs[1:], "purge deletes only old logs", store.logs(name))


CHECKS: tuple[Callable[[SyncStore], None], ...] = (
    _check_records,
    _check_some_records,
    _check_queue,
    _check_nul_text,
    _check_surrogate_text,
    _check_atomic,
    _check_failsafe,
    _check_lease,
    _check_purge,
)


def check_sync_store(make_store: Callable[[], SyncStore]) -> None:
    r"""Check that a sync store keeps the contract every store keeps.

    Each check gets a new store from *make_store* (an empty one). The checks:
    records of every object type load exactly as saved (tuple ids, links,
    errors, times), saving again replaces and keeps the rest, provisioners are
    separate, text with a NUL is kept (or written as the text ``\u0000``:
    PostgreSQL's text cannot hold it), text with a lone surrogate is kept
    (or written as its escape, ``\udcff``: UTF-8 cannot encode it), a save
    that fails half way leaves nothing behind, the failsafe and its approval
    are kept, the job lease is exclusive, renewable, taken over once expired
    and released only by its holder, and purging deletes exactly what the
    retention rule allows.

    Raises:
        StoreContractError: A rule is broken; the message names it.
    """
    for check in CHECKS:
        store = make_store()
        try:
            check(store)
        except GrouperprovError as exc:
            msg = f"{check.__name__.removeprefix('_check_')}: {exception_text(exc)}"
            raise StoreContractError(msg) from exc
