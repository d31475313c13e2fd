"""What a store knows, in words: the ``status`` and ``explain`` commands."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable
from datetime import UTC, datetime

from ._config import ObjectType
from ._records import SyncRecord, SyncType
from ._store import SyncState, SyncStore

__all__ = ["explain_object", "status_report"]

_SHOWN_ERRORS = 3
_EPOCH = datetime.min.replace(tzinfo=UTC)


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value is not None else "never"


def status_report(store: SyncStore, provisioner: str, *, now: datetime) -> str:
    """Last runs, objects in error by code (with the first messages), failsafe and lease."""
    state = store.load(provisioner)
    lines = [f"provisioner {provisioner!r}"]
    logs = store.logs(provisioner)
    for sync_type in SyncType:
        last = next((entry for entry in reversed(logs) if entry.sync_type is sync_type), None)
        if last is None:
            continue
        lines.append(
            f"  last {sync_type.value} run: {last.status} at {_when(last.finished)} "
            f"({(last.finished - last.started).total_seconds():.1f} s): {last.summary}"
        )
    if not logs:
        lines.append("  no runs yet")
    records = state.records.values()
    counts = Counter((r.object_type, r.in_target) for r in records)
    for object_type in ObjectType:
        total = sum(n for (t, _), n in counts.items() if t is object_type)
        if total:
            lines.append(
                f"  {object_type.value} records: {total}, "
                f"{counts[(object_type, True)]} in the target"
            )
    lines.extend(_errors(records))
    failsafe = state.provisioner.failsafe
    if failsafe is not None:
        if failsafe.blocking:
            lines.append(f"  failsafe: tripped at {_when(failsafe.tripped_at)}, NOT approved")
        else:
            lines.append(
                f"  failsafe: tripped at {_when(failsafe.tripped_at)}, approved by "
                f"{failsafe.approved_by} at {_when(failsafe.approved_at)}"
            )
        lines.extend(f"    {reason}" for reason in failsafe.reasons)
    lease = store.current_lease(provisioner)
    if lease is not None:
        state_word = "held" if lease.expires > now else "expired"
        lines.append(
            f"  job lease: {state_word}, {lease.sync_type.value} run by {lease.holder} "
            f"since {_when(lease.acquired)}, last heartbeat {_when(lease.heartbeat)}"
        )
    return "\n".join(lines)


def _errors(records: Iterable[SyncRecord]) -> list[str]:
    by_code: dict[str, list[SyncRecord]] = {}
    for record in records:
        if record.error_code is not None:
            by_code.setdefault(record.error_code.value, []).append(record)
    lines = []
    for code, failing in sorted(by_code.items()):
        lines.append(f"  objects in error {code}: {len(failing)}")
        latest = sorted(failing, key=lambda r: r.error_time or _EPOCH, reverse=True)
        lines.extend(
            f"    {record.object_type.value} {record.grouper_id!r}: {record.error_message}"
            for record in latest[:_SHOWN_ERRORS]
        )
    return lines


def _matches(record: SyncRecord, wanted: str) -> bool:
    target: Hashable | None = record.target_id
    ids = (target,) if not isinstance(target, tuple) else (target, *target)
    return (
        record.grouper_id == wanted
        or wanted in ids
        or wanted in record.links
        or record.subject_link == wanted
    )


def explain_object(state: SyncState, object_type: ObjectType, wanted: str) -> str:
    """Everything the sync records say about one group or entity.

    *wanted* is matched against Grouper ids, target ids and cached links (the
    store keeps ids and links, not Grouper names).
    """
    found = [
        r for r in state.records.values() if r.object_type is object_type and _matches(r, wanted)
    ]
    if not found:
        return (
            f"no {object_type.value} record of {state.provisioner.name!r} has the id, "
            f"target id or link {wanted!r}"
        )
    lines: list[str] = []
    for record in found:
        lines.append(f"{object_type.value} {record.grouper_id!r} ({state.provisioner.name}):")
        lines.append(
            "  provisionable: "
            + (
                f"yes, since {_when(record.provisionable_start)}"
                if record.provisionable
                else f"no (until {_when(record.provisionable_end)})"
                if record.provisionable_start
                else "never"
            )
        )
        lines.append(
            "  in target: "
            + (
                f"yes, since {_when(record.in_target_start)}, as {record.target_id!r}"
                if record.in_target
                else f"no (left {_when(record.in_target_end)})"
            )
        )
        lines.append(
            "  origin: " + ("inserted by grouperprov" if record.inserted_by_us else "pre-existing")
        )
        links = [link for link in record.links if link is not None]
        if links or record.subject_link:
            shown = ", ".join(repr(link) for link in links)
            subject = f"; subject link {record.subject_link!r}" if record.subject_link else ""
            lines.append(f"  cached links: {shown or 'none'}{subject}")
        if record.error_code is not None:
            lines.append(
                f"  last error: {record.error_code.value} at {_when(record.error_time)}: "
                f"{record.error_message}"
            )
        else:
            lines.append("  last error: none")
        lines.append(f"  last written: {_when(record.last_sync)}")
        if object_type is not ObjectType.MEMBERSHIP:
            index = 0 if object_type is ObjectType.GROUP else 1
            members = [
                r
                for (t, key), r in state.records.items()
                if t is ObjectType.MEMBERSHIP
                and isinstance(key, tuple)
                and key[index] == record.grouper_id
            ]
            lines.append(
                f"  memberships: {len(members)} recorded, "
                f"{sum(1 for r in members if r.in_target)} in the target"
            )
    return "\n".join(lines)
