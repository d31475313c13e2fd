"""Change events and control messages: what the incremental sync consumes.

Grouper's change log reaches grouperprov as :class:`ChangeEvent` values, made by
:func:`parse_event` from plain dicts or by :func:`parse_grouper_message` from the
JSON its messaging change-log consumer publishes (``{"esbEvent": [...]}``). An
event that cannot be understood becomes a :class:`RejectedEvent` with the reason:
it is kept (in the store's error queue), never silently dropped, and it does
not stop the rest of the batch.

:func:`coalesce` folds a batch's membership events into their final state, a
pure function: a burst of add, remove, add on one membership is one add.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

__all__ = [
    "ChangeEvent",
    "CoalescedMembership",
    "ControlKind",
    "ControlMessage",
    "EventKind",
    "MembershipAction",
    "RejectedEvent",
    "coalesce",
    "parse_event",
    "parse_events",
    "parse_grouper_message",
]

MEMBERS_FIELD = "members"
"""The membership field of a group's member list (other fields are privileges)."""

_MAX_SEQUENCE = 2**63 - 1  # a signed 64-bit integer: what SQLite and PostgreSQL keep


class EventKind(enum.StrEnum):
    """What happened in Grouper."""

    GROUP_ADD = "group_add"
    GROUP_UPDATE = "group_update"
    """Any change of the group's own fields (renamed, described, moved)."""
    GROUP_DELETE = "group_delete"
    MEMBERSHIP_ADD = "membership_add"
    MEMBERSHIP_UPDATE = "membership_update"
    """The membership's own data changed (its enabled dates, say); it is recalculated."""
    MEMBERSHIP_DELETE = "membership_delete"
    MARKER_CHANGE = "marker_change"
    """A provisioning marker was added, changed or removed on a folder or group."""
    SUBJECT_CHANGE = "subject_change"
    """A subject's attributes changed (name, email, identifiers)."""


_MEMBERSHIP_KINDS = frozenset(
    {EventKind.MEMBERSHIP_ADD, EventKind.MEMBERSHIP_UPDATE, EventKind.MEMBERSHIP_DELETE}
)
_GROUP_KINDS = frozenset({EventKind.GROUP_ADD, EventKind.GROUP_UPDATE, EventKind.GROUP_DELETE})


def _sequence_in_range(_: object, __: object, value: int) -> None:
    if not 0 <= value <= _MAX_SEQUENCE:
        msg = f"sequence: {value} is not between 0 and {_MAX_SEQUENCE} (what a sync store keeps)"
        raise ValueError(msg)


def _optional_sequence(instance: object, attribute: object, value: int | None) -> None:
    if value is not None:
        _sequence_in_range(instance, attribute, value)


def _aware(_: object, attribute: attrs.Attribute[Any], value: datetime | None) -> None:
    """A time with a timezone (``None`` where allowed): a naive one cannot be placed in time.

    Accepted, it failed later, far away ("can't compare offset-naive and
    offset-aware datetimes"), and its ``to_dict`` was refused by ``parse_event``.
    """
    given: object = value  # whatever was passed
    if given is None and attribute.name == "received":
        return
    if not isinstance(given, datetime) or given.tzinfo is None:
        msg = (
            f"{attribute.name}: expected a time with a timezone (datetime.now(tz=UTC)), "
            f"not {given!r:.80}"
        )
        raise ValueError(msg)


def _event_kind(value: EventKind | str) -> EventKind:
    # Given as text, a kind compared unequal (``is``) to every member: the event
    # was taken for none of the kinds it names.
    return EventKind(value)


def _control_kind(value: ControlKind | str) -> ControlKind:
    return ControlKind(value)


@attrs.frozen(kw_only=True)
class ChangeEvent:
    """One change-log event.

    Attributes:
        sequence: Grouper's change-log sequence number: events are processed
            in this order, and the provisioner remembers the last one it
            processed. From 0 to 2**63 - 1 (a store keeps a signed 64-bit
            integer); another is a ``ValueError``.
        kind: What happened.
        occurred: When it happened in Grouper (timezone-aware).
        group_id: The group's id (group and membership events).
        group_name: The group's full name (after a rename, the new one).
        member_id: The member's id (membership and subject events).
        subject_id: The subject's id.
        source_id: The subject's source.
        field: For membership events, the list changed: ``"members"``, or a
            privilege (``"admins"``, ``"updaters"``, ...).
        name: For marker changes, the folder or group carrying the marker.
        changed: For group updates, which field changed (``"name"``, ...).
        old_value: That field's value before the change (a rename's old name).
    """

    sequence: int = attrs.field(validator=_sequence_in_range)
    kind: EventKind = attrs.field(converter=_event_kind)
    occurred: datetime = attrs.field(validator=_aware)
    group_id: str | None = None
    group_name: str | None = None
    member_id: str | None = None
    subject_id: str | None = None
    source_id: str | None = None
    field: str = MEMBERS_FIELD
    name: str | None = None
    changed: str | None = None
    old_value: str | None = None

    @property
    def membership(self) -> tuple[str, str] | None:
        """``(group_id, member_id)`` for membership events, else ``None``."""
        if self.kind in _MEMBERSHIP_KINDS and self.group_id and self.member_id:
            return (self.group_id, self.member_id)
        return None

    def to_dict(self) -> dict[str, object]:
        """The event as a plain dict (what :func:`parse_event` reads back)."""
        data: dict[str, object] = {
            "sequence": self.sequence,
            "kind": self.kind.value,
            "occurred": self.occurred.isoformat(),
        }
        for name in ("group_id", "group_name", "member_id", "subject_id", "source_id"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        if self.kind in _MEMBERSHIP_KINDS:
            data["field"] = self.field
        for name in ("name", "changed", "old_value"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        return data


@attrs.frozen(kw_only=True)
class RejectedEvent:
    """An event that could not be understood, kept with the reason.

    Attributes:
        payload: The event as received (JSON text).
        reason: What is wrong with it, naming the field.
        sequence: Its sequence number, when that much could be read (in the
            range of :attr:`ChangeEvent.sequence`).
        received: When a run received it (set by the run that keeps it).
    """

    payload: str
    reason: str
    sequence: int | None = attrs.field(default=None, validator=_optional_sequence)
    received: datetime | None = attrs.field(default=None, validator=_aware)


class ControlKind(enum.StrEnum):
    """What a control message asks for."""

    FULL_SYNC = "full_sync"
    """Run a full sync now (the incremental path runs it)."""
    SYNC_OBJECTS = "sync_objects"
    """Recalculate these groups, entities and memberships now (the "provision
    group" button)."""


@attrs.frozen(kw_only=True)
class ControlMessage:
    """A request from a UI or a script, kept in the store until acknowledged.

    Attributes:
        id: Its id (the store's).
        kind: What it asks for.
        groups: Groups to recalculate, by id or full name, with all their
            memberships.
        entities: Entities (member ids) to recalculate.
        memberships: Memberships ``(group id, member id)`` to recalculate.
        requested_by: Who asked.
        requested_at: When.
        acknowledged_at: When a run carried it out (``None``: pending).
        outcome: What became of it, in words.
    """

    id: str
    kind: ControlKind = attrs.field(converter=_control_kind)
    requested_by: str
    requested_at: datetime = attrs.field(validator=_aware)
    groups: tuple[str, ...] = ()
    entities: tuple[str, ...] = ()
    memberships: tuple[tuple[str, str], ...] = ()
    acknowledged_at: datetime | None = None
    outcome: str | None = None


# -- parsing -------------------------------------------------------------------


class _BadEventError(ValueError):
    pass


def _text(data: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        if required:
            msg = f"{key}: required, missing"
            raise _BadEventError(msg)
        return None
    if not isinstance(value, str):
        msg = f"{key}: expected a string, got {type(value).__name__} {value!r}"
        raise _BadEventError(msg)
    return value


def _sequence(value: object, key: str) -> int:
    if isinstance(value, bool) or value is None:
        msg = f"{key}: expected a whole number, got {value!r}"
        raise _BadEventError(msg)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value)
    else:
        msg = f"{key}: expected a whole number, got {type(value).__name__} {value!r}"
        raise _BadEventError(msg)
    if number < 0:
        msg = f"{key}: must not be negative, got {number}"
        raise _BadEventError(msg)
    if number > _MAX_SEQUENCE:
        msg = f"{key}: {number} is larger than {_MAX_SEQUENCE}, the largest a sync store keeps"
        raise _BadEventError(msg)
    return number


def _time(value: object, key: str) -> datetime:
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            msg = f"{key}: not an ISO 8601 time: {value!r}"
            raise _BadEventError(msg) from None
    else:
        msg = f"{key}: expected an ISO 8601 time, got {type(value).__name__} {value!r}"
        raise _BadEventError(msg)
    if when.tzinfo is None:
        msg = f"{key}: the time has no timezone: {value!r}"
        raise _BadEventError(msg)
    try:
        return when.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before the first UTC time there is
        msg = f"{key}: out of the range of times: {value!r}"
        raise _BadEventError(msg) from None


_REQUIRED: Mapping[EventKind, tuple[str, ...]] = {
    EventKind.GROUP_ADD: ("group_id", "group_name"),
    EventKind.GROUP_UPDATE: ("group_id", "group_name"),
    EventKind.GROUP_DELETE: ("group_id",),
    EventKind.MEMBERSHIP_ADD: ("group_id", "member_id"),
    EventKind.MEMBERSHIP_UPDATE: ("group_id", "member_id"),
    EventKind.MEMBERSHIP_DELETE: ("group_id", "member_id"),
    EventKind.MARKER_CHANGE: ("name",),
    EventKind.SUBJECT_CHANGE: ("member_id",),
}

_DICT_KEYS = frozenset(
    {
        "sequence",
        "kind",
        "occurred",
        "group_id",
        "group_name",
        "member_id",
        "subject_id",
        "source_id",
        "field",
        "name",
        "changed",
        "old_value",
    }
)


def _payload(data: object) -> str:
    try:
        return json.dumps(data, sort_keys=True, default=str)
    except (TypeError, ValueError):  # pragma: no cover - default=str makes anything dumpable
        return repr(data)


def _sequence_of(data: object, key: str) -> int | None:
    if not isinstance(data, Mapping):
        return None
    try:
        return _sequence(data.get(key), key)
    except _BadEventError:
        return None


def _mapping(data: object) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        msg = f"expected an event (a mapping), got {type(data).__name__}"
        raise _BadEventError(msg)
    return data


def _from_dict(data: Mapping[str, Any]) -> ChangeEvent:
    unknown = sorted(str(k) for k in data if k not in _DICT_KEYS)
    if unknown:
        msg = f"{unknown[0]}: unknown field"
        raise _BadEventError(msg)
    kind_text = _text(data, "kind", required=True) or ""
    try:
        kind = EventKind(kind_text)
    except ValueError:
        known = ", ".join(repr(k.value) for k in EventKind)
        msg = f"kind: expected one of {known}, got {kind_text!r}"
        raise _BadEventError(msg) from None
    fields = {
        name: _text(data, name, required=name in _REQUIRED[kind])
        for name in (
            "group_id",
            "group_name",
            "member_id",
            "subject_id",
            "source_id",
            "name",
            "changed",
            "old_value",
        )
    }
    return ChangeEvent(
        sequence=_sequence(data.get("sequence"), "sequence"),
        kind=kind,
        occurred=_time(data.get("occurred"), "occurred"),
        field=_text(data, "field") or MEMBERS_FIELD,
        **fields,
    )


def parse_event(
    data: Mapping[str, Any] | ChangeEvent | RejectedEvent,
) -> ChangeEvent | RejectedEvent:
    """An event from a plain dict (as :meth:`ChangeEvent.to_dict` writes it).

    Returns a :class:`RejectedEvent` naming the field at fault when *data* is
    not a valid event; never raises for bad data. A :class:`ChangeEvent` or
    a :class:`RejectedEvent` (from :func:`parse_grouper_message`, say) is
    returned as it is.
    """
    if isinstance(data, ChangeEvent | RejectedEvent):
        return data
    try:
        return _from_dict(_mapping(data))
    except _BadEventError as exc:
        return RejectedEvent(
            payload=_payload(data), reason=str(exc), sequence=_sequence_of(data, "sequence")
        )


def parse_events(
    items: Iterable[Mapping[str, Any] | ChangeEvent | RejectedEvent],
) -> tuple[list[ChangeEvent], list[RejectedEvent]]:
    """Parse several events: the good ones, and the rejected ones with their reasons.

    A lone event (a mapping, a :class:`ChangeEvent`) is one event, not its
    keys; text or bytes is one rejected event that says to read it with
    :func:`parse_grouper_message` (each letter was rejected on its own).

    Raises:
        TypeError: *items* is not iterable (``None``, say).
    """
    good: list[ChangeEvent] = []
    bad: list[RejectedEvent] = []
    given: object = items  # whatever was passed
    if isinstance(given, str | bytes | bytearray):
        text = given if isinstance(given, str) else bytes(given).decode("utf-8", "replace")
        reason = (
            f"a {type(given).__name__} is not a list of events; read a message of "
            "Grouper's with parse_grouper_message"
        )
        return good, [RejectedEvent(payload=text, reason=reason)]
    if isinstance(given, Mapping | ChangeEvent | RejectedEvent):
        items = [given]
    elif not isinstance(given, Iterable):
        msg = f"expected an iterable of events, not {type(given).__name__}"
        raise TypeError(msg)
    for item in items:
        parsed = parse_event(item)
        (good if isinstance(parsed, ChangeEvent) else bad).append(parsed)  # type: ignore[arg-type]  # sorted by type
    return good, bad


# Grouper's change-log event types, and what grouperprov makes of them.
_GROUPER_KINDS: Mapping[str, EventKind] = {
    "GROUP_ADD": EventKind.GROUP_ADD,
    "GROUP_UPDATE": EventKind.GROUP_UPDATE,
    "GROUP_DELETE": EventKind.GROUP_DELETE,
    "MEMBERSHIP_ADD": EventKind.MEMBERSHIP_ADD,
    "MEMBERSHIP_UPDATE": EventKind.MEMBERSHIP_UPDATE,
    "MEMBERSHIP_DELETE": EventKind.MEMBERSHIP_DELETE,
    "PRIVILEGE_ADD": EventKind.MEMBERSHIP_ADD,
    "PRIVILEGE_UPDATE": EventKind.MEMBERSHIP_UPDATE,
    "PRIVILEGE_DELETE": EventKind.MEMBERSHIP_DELETE,
    "ATTRIBUTE_ASSIGN_ADD": EventKind.MARKER_CHANGE,
    "ATTRIBUTE_ASSIGN_DELETE": EventKind.MARKER_CHANGE,
    "ATTRIBUTE_ASSIGN_VALUE_ADD": EventKind.MARKER_CHANGE,
    "ATTRIBUTE_ASSIGN_VALUE_DELETE": EventKind.MARKER_CHANGE,
    "MEMBER_UPDATE": EventKind.SUBJECT_CHANGE,
    "MEMBER_CHANGE_SUBJECT": EventKind.SUBJECT_CHANGE,
}

GROUPER_IGNORED = frozenset(
    {
        "STEM_ADD",
        "STEM_UPDATE",
        "STEM_DELETE",
        "GROUP_FIELD_ADD",
        "GROUP_FIELD_UPDATE",
        "GROUP_FIELD_DELETE",
        "GROUP_TYPE_ADD",
        "GROUP_TYPE_UPDATE",
        "GROUP_TYPE_DELETE",
        "ATTRIBUTE_DEF_ADD",
        "ATTRIBUTE_DEF_UPDATE",
        "ATTRIBUTE_DEF_DELETE",
        "ATTRIBUTE_DEF_NAME_ADD",
        "ATTRIBUTE_DEF_NAME_UPDATE",
        "ATTRIBUTE_DEF_NAME_DELETE",
        "ENTITY_ADD",
        "ENTITY_UPDATE",
        "ENTITY_DELETE",
        "MEMBER_ADD",
        "MEMBER_DELETE",
    }
)
"""Grouper event types that never concern a provisioner: skipped, not rejected."""


def _grouper_event(data: object) -> ChangeEvent | RejectedEvent | None:
    """One event of a Grouper message (``None``: a type that concerns no provisioner)."""
    try:
        return _from_grouper(_mapping(data))
    except _BadEventError as exc:
        return RejectedEvent(
            payload=_payload(data), reason=str(exc), sequence=_sequence_of(data, "sequenceNumber")
        )


def _from_grouper(data: Mapping[str, Any]) -> ChangeEvent | None:
    event_type = _text(data, "eventType", required=True) or ""
    if event_type in GROUPER_IGNORED:
        return None
    kind = _GROUPER_KINDS.get(event_type)
    if kind is None:
        msg = f"eventType: unknown Grouper event type {event_type!r}"
        raise _BadEventError(msg)
    sequence = _sequence(data.get("sequenceNumber"), "sequenceNumber")
    micros = data.get("createdOnMicros")
    if isinstance(micros, bool) or not isinstance(micros, int):
        msg = f"createdOnMicros: expected microseconds since 1970, got {micros!r}"
        raise _BadEventError(msg)
    try:
        occurred = datetime.fromtimestamp(micros / 1_000_000, tz=UTC)
    except (OverflowError, ValueError, OSError):  # past year 9999, or before year 1
        msg = f"createdOnMicros: out of the range of times, got {micros!r}"
        raise _BadEventError(msg) from None
    return _grouper_fields(data, event_type, kind, sequence, occurred)


def _grouper_fields(
    data: Mapping[str, Any], event_type: str, kind: EventKind, sequence: int, occurred: datetime
) -> ChangeEvent:
    if kind in _GROUP_KINDS:
        return ChangeEvent(
            sequence=sequence,
            kind=kind,
            occurred=occurred,
            group_id=_text(data, "id", required=True),
            group_name=_text(data, "name", required=kind is not EventKind.GROUP_DELETE),
            changed=_text(data, "propertyChanged"),
            old_value=_text(data, "propertyOldValue"),
        )
    if kind in _MEMBERSHIP_KINDS:
        privilege = event_type.startswith("PRIVILEGE_")
        if privilege and _text(data, "ownerType") not in (None, "group"):
            # A folder or attribute privilege: nothing a provisioner keeps.
            msg = f"ownerType: only group privileges are memberships, got {data['ownerType']!r}"
            raise _BadEventError(msg)
        return ChangeEvent(
            sequence=sequence,
            kind=kind,
            occurred=occurred,
            group_id=_text(data, "ownerId" if privilege else "groupId", required=True),
            group_name=_text(data, "ownerName" if privilege else "groupName"),
            member_id=_text(data, "memberId", required=True),
            subject_id=_text(data, "subjectId"),
            source_id=_text(data, "sourceId"),
            field=_text(data, "privilegeName" if privilege else "fieldName") or MEMBERS_FIELD,
        )
    if kind is EventKind.MARKER_CHANGE:
        return ChangeEvent(
            sequence=sequence,
            kind=kind,
            occurred=occurred,
            name=_text(data, "ownerName") or _text(data, "name", required=True),
        )
    return ChangeEvent(
        sequence=sequence,
        kind=kind,
        occurred=occurred,
        member_id=_text(data, "memberId") or _text(data, "id", required=True),
        subject_id=_text(data, "subjectId"),
        source_id=_text(data, "sourceId"),
    )


def _decoded(text: str | bytes) -> tuple[object, str] | RejectedEvent:
    """A message's JSON and its text; or the message rejected, with the reason."""
    if isinstance(text, bytes):
        try:
            payload = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            kept = text.decode("utf-8-sig", "replace")
            return RejectedEvent(payload=kept, reason=f"not UTF-8: {exc}")
    else:
        payload = text.removeprefix("\ufeff")
    try:
        return json.loads(payload), payload
    except json.JSONDecodeError as exc:
        return RejectedEvent(payload=payload, reason=f"not JSON: {exc}")
    except RecursionError:
        reason = "not JSON as Grouper writes it: nested too deeply"
        return RejectedEvent(payload=payload, reason=reason)


def parse_grouper_message(
    text: str | bytes | Mapping[str, Any],
) -> tuple[list[ChangeEvent], list[RejectedEvent]]:
    """The events of one message of Grouper's messaging change-log consumer.

    The message is ``{"esbEvent": [event, ...]}``; each event has
    ``eventType``, ``sequenceNumber``, ``createdOnMicros`` and the fields of
    its type (``groupId``, ``groupName``, ``memberId``, ``subjectId``,
    ``sourceId``, ``fieldName`` for memberships; ``id``, ``name``,
    ``propertyChanged``, ``propertyOldValue`` for groups; ``ownerId``,
    ``ownerName``, ``privilegeName`` for privileges). Types that concern no
    provisioner (folder events, say) are skipped; an event that is not
    understood is rejected with the reason; a message that is not JSON, or
    not of that shape, is one rejected event. A byte order mark before it
    is ignored (RFC 8259 lets a parser do so); bytes that are not UTF-8 are
    one rejected event too, kept with the bad bytes shown as U+FFFD: read
    with them replaced, a name would have been another group's. A message
    your client decoded already (a dict) is taken as it is.

    Raises:
        TypeError: *text* is neither text, bytes nor a mapping.
    """
    given: object = text  # whatever was passed
    if isinstance(given, Mapping):  # decoded already, by the caller's message client
        data: object = given
        payload = _payload(given)
    elif isinstance(given, str | bytes):
        decoded = _decoded(given)
        if isinstance(decoded, RejectedEvent):
            return [], [decoded]
        data, payload = decoded
    else:
        msg = (
            "parse_grouper_message takes a message as text, bytes or its decoded "
            f"JSON object, not {type(given).__name__}"
        )
        raise TypeError(msg)
    events = data.get("esbEvent") if isinstance(data, dict) else None
    if not isinstance(events, list):
        return [], [RejectedEvent(payload=payload, reason='esbEvent: expected {"esbEvent": [...]}')]
    good: list[ChangeEvent] = []
    bad: list[RejectedEvent] = []
    for item in events:
        parsed = _grouper_event(item)
        if isinstance(parsed, ChangeEvent):
            good.append(parsed)
        elif parsed is not None:
            bad.append(parsed)
    return good, bad


# -- coalescing ----------------------------------------------------------------


class MembershipAction(enum.StrEnum):
    """The net effect of a batch's events on one membership."""

    ADD = "add"
    DELETE = "delete"


@attrs.frozen(kw_only=True)
class CoalescedMembership:
    """One membership's events of a batch, folded.

    Attributes:
        group_id: The group.
        member_id: The member.
        action: The net action: that of the last add or delete; ``None`` when
            the batch only updated the membership.
        updated: Whether an update event was among them (the membership's own
            data changed: it is recalculated).
        inconsistent: Whether the events disagree with each other (an add
            after an add, a delete after a delete: one went missing), so only
            a recalculation can be trusted.
        first: The first event (the oldest).
        last: The last event.
        count: How many events were folded.
    """

    group_id: str
    member_id: str
    action: MembershipAction | None
    updated: bool
    inconsistent: bool
    first: ChangeEvent
    last: ChangeEvent
    count: int


def coalesce(events: Iterable[ChangeEvent]) -> dict[tuple[str, str], CoalescedMembership]:
    """Fold a batch's membership events (of the members list) per membership.

    Events are taken in sequence order; other events are ignored. The net
    action is that of the last add or delete, so applying the folded action
    to any starting state gives what applying the events one by one gives.
    """
    folded: dict[tuple[str, str], CoalescedMembership] = {}
    for event in sorted(events, key=lambda e: e.sequence):
        key = event.membership
        if key is None or event.field != MEMBERS_FIELD:
            continue
        action = (
            MembershipAction.ADD
            if event.kind is EventKind.MEMBERSHIP_ADD
            else MembershipAction.DELETE
            if event.kind is EventKind.MEMBERSHIP_DELETE
            else None
        )
        updated = action is None
        before = folded.get(key)
        if before is None:
            folded[key] = CoalescedMembership(
                group_id=key[0],
                member_id=key[1],
                action=action,
                updated=updated,
                inconsistent=False,
                first=event,
                last=event,
                count=1,
            )
            continue
        repeated = action is not None and action is before.action
        folded[key] = attrs.evolve(
            before,
            action=action or before.action,
            updated=before.updated or updated,
            inconsistent=before.inconsistent or repeated,
            last=event,
            count=before.count + 1,
        )
    return folded
