"""Change events: parsing (plain dicts, Grouper's messages), rejection with reasons, coalescing."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from grouperprov import (
    ChangeEvent,
    ControlKind,
    ControlMessage,
    EventKind,
    MembershipAction,
    RejectedEvent,
    coalesce,
    parse_event,
    parse_events,
    parse_grouper_message,
)

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _membership(
    sequence: int, kind: EventKind, group: str = "g1", member: str = "m1"
) -> ChangeEvent:
    return ChangeEvent(
        sequence=sequence,
        kind=kind,
        occurred=T0 + timedelta(seconds=sequence),
        group_id=group,
        member_id=member,
    )


_names = st.text("abcxyz:_-", min_size=1, max_size=8)
events = st.builds(
    ChangeEvent,
    sequence=st.integers(0, 2**62),
    kind=st.sampled_from(EventKind),
    occurred=st.datetimes(timezones=st.just(UTC)),
    group_id=_names,
    group_name=_names,
    member_id=_names,
    subject_id=st.none() | _names,
    source_id=st.none() | _names,
    field=st.sampled_from(["members", "admins"]),
    name=_names,
    changed=st.none() | _names,
    old_value=st.none() | _names,
)


@given(events)
def test_an_event_survives_its_dict_and_json_form(event: ChangeEvent) -> None:
    data = json.loads(json.dumps(event.to_dict()))
    parsed = parse_event(data)
    assert isinstance(parsed, ChangeEvent)
    # Only membership events have a field; the others read back with the default.
    expected = event if event.membership is not None else attrs.evolve(event, field="members")
    assert parsed == expected


def test_bad_events_are_rejected_with_the_field_at_fault() -> None:
    base = {
        "sequence": 7,
        "kind": "membership_add",
        "occurred": T0.isoformat(),
        "group_id": "g",
        "member_id": "m",
    }
    cases = [
        ({**base, "member_id": ""}, "member_id: required, missing"),
        ({**base, "member_id": 3}, "member_id: expected a string, got int 3"),
        ({**base, "kind": "membership_added"}, "kind: expected one of 'group_add'"),
        ({**base, "occurred": "2026-11-01T12:00:00"}, "occurred: the time has no timezone"),
        ({**base, "occurred": "yesterday"}, "occurred: not an ISO 8601 time: 'yesterday'"),
        ({**base, "sequence": -1}, "sequence: must not be negative, got -1"),
        ({**base, "sequence": "7a"}, "sequence: expected a whole number, got str '7a'"),
        ({**base, "sequence": True}, "sequence: expected a whole number, got True"),
        ({**base, "group": "g"}, "group: unknown field"),
        ({**base, "occurred": 5}, "occurred: expected an ISO 8601 time, got int 5"),
    ]
    for data, reason in cases:
        rejected = parse_event(data)
        assert isinstance(rejected, RejectedEvent), data
        assert rejected.reason.startswith(reason), (rejected.reason, reason)
        assert json.loads(rejected.payload) == json.loads(json.dumps(data))
    rejected = parse_event(["not", "a", "mapping"])  # type: ignore[arg-type]  # bad input on purpose
    assert isinstance(rejected, RejectedEvent)
    assert rejected.reason == "expected an event (a mapping), got list"
    assert rejected.sequence is None
    # The sequence number is kept when it could be read, to find the event again.
    missing = parse_event({**base, "group_id": None})
    assert isinstance(missing, RejectedEvent)
    assert missing.sequence == 7


def test_a_batch_keeps_its_good_events_when_some_are_bad() -> None:
    good = _membership(1, EventKind.MEMBERSHIP_ADD)
    parsed, rejected = parse_events([good.to_dict(), {"kind": "nope"}, good])
    assert parsed == [good, good]
    assert [r.reason.split(":")[0] for r in rejected] == ["kind"]


def _esb(*events: object) -> str:
    return json.dumps({"esbEvent": list(events)})


MICROS = int(T0.timestamp() * 1_000_000)

# A membership add as Grouper's messaging change-log consumer writes it.
_GROUPER_ADD = {
    "eventType": "MEMBERSHIP_ADD",
    "sequenceNumber": "101",
    "createdOnMicros": MICROS,
    "groupId": "g-uuid",
    "groupName": "apps:ldap:staff",
    "memberId": "m-uuid",
    "subjectId": "jdoe",
    "sourceId": "ldap",
    "fieldName": "members",
    "membershipType": "flattened",
}


def test_grouper_messages_become_events() -> None:
    message = _esb(
        _GROUPER_ADD,
        {
            "eventType": "PRIVILEGE_ADD",
            "sequenceNumber": "102",
            "createdOnMicros": MICROS,
            "ownerType": "group",
            "ownerId": "g-uuid",
            "ownerName": "apps:ldap:staff",
            "memberId": "m-uuid",
            "privilegeName": "admins",
        },
        {
            "eventType": "GROUP_UPDATE",
            "sequenceNumber": "103",
            "createdOnMicros": MICROS + 1,
            "id": "g-uuid",
            "name": "apps:ldap:employees",
            "propertyChanged": "name",
            "propertyOldValue": "apps:ldap:staff",
        },
        {"eventType": "STEM_ADD", "sequenceNumber": "104", "createdOnMicros": MICROS},
        {
            "eventType": "ATTRIBUTE_ASSIGN_ADD",
            "sequenceNumber": "105",
            "createdOnMicros": MICROS,
            "ownerName": "apps:ldap",
        },
        {
            "eventType": "MEMBER_CHANGE_SUBJECT",
            "sequenceNumber": "106",
            "createdOnMicros": MICROS,
            "memberId": "m-uuid",
            "subjectId": "jdoe2",
        },
        {
            "eventType": "GROUP_DELETE",
            "sequenceNumber": "107",
            "createdOnMicros": MICROS,
            "id": "g",
        },
    )
    parsed, rejected = parse_grouper_message(message.encode())
    assert rejected == []
    add, privilege, rename, marker, subject, delete = parsed
    assert add == ChangeEvent(
        sequence=101,
        kind=EventKind.MEMBERSHIP_ADD,
        occurred=T0,
        group_id="g-uuid",
        group_name="apps:ldap:staff",
        member_id="m-uuid",
        subject_id="jdoe",
        source_id="ldap",
    )
    assert add.membership == ("g-uuid", "m-uuid")
    assert privilege.kind is EventKind.MEMBERSHIP_ADD
    assert privilege.field == "admins"
    assert (rename.kind, rename.group_name, rename.changed, rename.old_value) == (
        EventKind.GROUP_UPDATE,
        "apps:ldap:employees",
        "name",
        "apps:ldap:staff",
    )
    assert rename.occurred == T0 + timedelta(microseconds=1)
    assert rename.membership is None
    assert (marker.kind, marker.name) == (EventKind.MARKER_CHANGE, "apps:ldap")
    assert (subject.kind, subject.member_id, subject.subject_id) == (
        EventKind.SUBJECT_CHANGE,
        "m-uuid",
        "jdoe2",
    )
    assert (delete.kind, delete.group_id, delete.group_name) == (EventKind.GROUP_DELETE, "g", None)


def test_bad_grouper_messages_and_events_are_rejected() -> None:
    assert parse_grouper_message("{not json")[1][0].reason.startswith("not JSON: ")
    (not_utf8,) = parse_grouper_message(b'{"esbEvent": [{"groupName": "caf\xe9"}]}')[1]
    assert not_utf8.reason.startswith("not UTF-8: 'utf-8' codec can't decode byte 0xe9")
    assert not_utf8.payload == '{"esbEvent": [{"groupName": "caf\ufffd"}]}'
    # A byte order mark is ignored, in bytes or in text (RFC 8259).
    for marked in (b'\xef\xbb\xbf{"esbEvent": []}', '\ufeff{"esbEvent": []}'):
        assert parse_grouper_message(marked) == ([], [])
    (shape,) = parse_grouper_message('{"events": []}')[1]
    assert shape.reason == 'esbEvent: expected {"esbEvent": [...]}'
    message = _esb(
        {"eventType": "MEMBERSHIP_ADD", "sequenceNumber": "1", "createdOnMicros": MICROS},
        {"eventType": "GROUP_RENAMED", "sequenceNumber": "2", "createdOnMicros": MICROS},
        {"eventType": "GROUP_ADD", "sequenceNumber": "3", "createdOnMicros": "soon", "id": "g"},
        {
            "eventType": "PRIVILEGE_ADD",
            "sequenceNumber": "4",
            "createdOnMicros": MICROS,
            "ownerType": "stem",
            "ownerId": "s",
            "memberId": "m",
        },
        "not an object",
        {"eventType": "GROUP_ADD", "sequenceNumber": "6", "createdOnMicros": MICROS, "id": "g"},
    )
    parsed, rejected = parse_grouper_message(message)
    assert parsed == []
    assert [(r.sequence, r.reason) for r in rejected] == [
        (1, "groupId: required, missing"),
        (2, "eventType: unknown Grouper event type 'GROUP_RENAMED'"),
        (3, "createdOnMicros: expected microseconds since 1970, got 'soon'"),
        (4, "ownerType: only group privileges are memberships, got 'stem'"),
        (None, "expected an event (a mapping), got str"),
        (6, "name: required, missing"),
    ]


_kinds = st.sampled_from(
    [EventKind.MEMBERSHIP_ADD, EventKind.MEMBERSHIP_DELETE, EventKind.MEMBERSHIP_UPDATE]
)


@given(
    st.lists(st.tuples(st.sampled_from(["g1", "g2"]), st.sampled_from(["m1", "m2"]), _kinds)),
    st.sets(st.tuples(st.sampled_from(["g1", "g2"]), st.sampled_from(["m1", "m2"]))),
    st.randoms(),
)
def test_coalescing_equals_applying_the_events_one_by_one(
    steps: list[tuple[str, str, EventKind]], start: set[tuple[str, str]], rnd: object
) -> None:
    batch = [_membership(i, kind, g, m) for i, (g, m, kind) in enumerate(steps)]
    one_by_one = set(start)
    for event in batch:
        key = event.membership
        assert key is not None
        if event.kind is EventKind.MEMBERSHIP_ADD:
            one_by_one.add(key)
        elif event.kind is EventKind.MEMBERSHIP_DELETE:
            one_by_one.discard(key)
    shuffled = list(batch)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]  # a random.Random
    folded = coalesce(shuffled)  # order of arrival does not matter: sequence numbers do
    final = set(start)
    for key, item in folded.items():
        if item.action is MembershipAction.ADD:
            final.add(key)
        elif item.action is MembershipAction.DELETE:
            final.discard(key)
    assert final == one_by_one
    for key, item in folded.items():
        mine = [e for e in batch if e.membership == key]
        assert item.count == len(mine)
        assert (item.first, item.last) == (mine[0], mine[-1])
        assert item.updated == any(e.kind is EventKind.MEMBERSHIP_UPDATE for e in mine)
        actions = [e.kind for e in mine if e.kind is not EventKind.MEMBERSHIP_UPDATE]
        assert item.inconsistent == any(a == b for a, b in itertools.pairwise(actions))


def test_coalescing_ignores_privileges_and_other_events() -> None:
    admins = attrs.evolve(_membership(1, EventKind.MEMBERSHIP_ADD), field="admins")
    group = ChangeEvent(
        sequence=2, kind=EventKind.GROUP_ADD, occurred=T0, group_id="g1", group_name="a:b"
    )
    assert coalesce([admins, group]) == {}


def test_what_a_store_cannot_keep_or_a_parser_cannot_read_is_rejected_not_raised() -> None:
    """Each of these raised (ValueError, OverflowError, RecursionError), or, for a
    sequence past 2**63 - 1, was taken and then failed the run's save (SQLite:
    "Python int too large"), again with every delivery of the message."""
    event = {"eventType": "MEMBERSHIP_ADD", "groupId": "g", "memberId": "m"}
    for micros in (10**20, -(10**20), 2**63):
        (late,) = parse_grouper_message(
            _esb({**event, "sequenceNumber": 1, "createdOnMicros": micros})
        )[1]
        assert late.reason == f"createdOnMicros: out of the range of times, got {micros}"
    (huge,) = parse_grouper_message(_esb({**event, "sequenceNumber": 2**63, "createdOnMicros": 1}))[
        1
    ]
    assert huge.reason.startswith(f"sequenceNumber: {2**63} is larger than {2**63 - 1}")
    assert parse_grouper_message(
        _esb({**event, "sequenceNumber": 2**63 - 1, "createdOnMicros": 1})
    )[0]
    for digits in ("\u00b2", "\uff11\uff12", "\u0661\u0662"):  # superscript, full-width, Arabic
        text = _esb({**event, "createdOnMicros": 1}).replace(
            "}", f', "sequenceNumber": "{digits}"}}', 1
        )
        (odd,) = parse_grouper_message(text)[1]
        assert odd.reason.startswith("sequenceNumber: expected a whole number, got str")
    (deep,) = parse_grouper_message("[" * 100_000 + "]" * 100_000)[1]
    assert deep.reason == "not JSON as Grouper writes it: nested too deeply"
    base = {"sequence": 1, "kind": "group_add", "group_id": "g", "group_name": "a:g"}
    for when in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        rejected = parse_event({**base, "occurred": when})
        assert isinstance(rejected, RejectedEvent)
        assert rejected.reason == f"occurred: out of the range of times: {when!r}"
    given = RejectedEvent(payload="x", reason="y")
    assert parse_event(given) is given
    assert parse_events([given]) == ([], [given])
    with pytest.raises(ValueError, match="is not between 0 and"):
        ChangeEvent(sequence=2**63, kind=EventKind.GROUP_ADD, occurred=T0)
    with pytest.raises(ValueError, match="is not between 0 and"):
        RejectedEvent(payload="x", reason="y", sequence=-1)


def test_a_lone_event_is_one_event_and_text_one_rejection() -> None:
    # Found by passing what a consumer has at hand: a lone event was taken
    # for its keys, and a message's text for its letters (each one rejected
    # into the error queue).
    good = _membership(1, EventKind.MEMBERSHIP_ADD)
    assert parse_events(good.to_dict()) == ([good], [])  # type: ignore[arg-type]  # one event
    assert parse_events(good) == ([good], [])  # type: ignore[arg-type]
    message = _esb({"eventType": "MEMBERSHIP_ADD"})
    for passed in (message, message.encode()):
        parsed, (rejected,) = parse_events(passed)  # type: ignore[arg-type]  # the mistake
        assert parsed == []
        assert rejected.payload == message
        assert rejected.reason.endswith(
            "is not a list of events; read a message of Grouper's with parse_grouper_message"
        )
    with pytest.raises(TypeError, match="expected an iterable of events, not NoneType"):
        parse_events(None)  # type: ignore[arg-type]


def test_a_grouper_message_decoded_already_is_taken_as_it_is() -> None:
    decoded = parse_grouper_message({"esbEvent": [_GROUPER_ADD]})
    assert decoded == parse_grouper_message(_esb(_GROUPER_ADD))
    assert len(decoded[0]) == 1
    (shape,) = parse_grouper_message({"events": []})[1]
    assert shape.payload == '{"events": []}'
    assert shape.reason == 'esbEvent: expected {"esbEvent": [...]}'
    with pytest.raises(TypeError, match="text, bytes or its decoded JSON object, not NoneType"):
        parse_grouper_message(None)  # type: ignore[arg-type]


def test_events_and_control_messages_refuse_naive_times() -> None:
    # Accepted, a naive time failed the run far away ("can't compare
    # offset-naive and offset-aware datetimes"), and its to_dict() was one
    # parse_event rejects.
    naive = datetime(2026, 1, 1)  # noqa: DTZ001  # naive on purpose
    with pytest.raises(ValueError, match=r"occurred: expected a time with a timezone"):
        ChangeEvent(sequence=1, kind=EventKind.MEMBERSHIP_ADD, occurred=naive, group_id="g")
    with pytest.raises(ValueError, match=r"received: expected a time with a timezone"):
        RejectedEvent(payload="{}", reason="x", received=naive)
    assert RejectedEvent(payload="{}", reason="x").received is None
    with pytest.raises(ValueError, match=r"requested_at: expected a time with a timezone"):
        ControlMessage(id="1", kind=ControlKind.FULL_SYNC, requested_by="jo", requested_at=naive)


def test_a_kind_given_as_text_is_that_kind() -> None:
    # Given as text, an event's kind was none of the kinds: the event named a
    # membership add and was handled as no such thing.
    event = ChangeEvent(sequence=1, kind="membership_add", occurred=T0, group_id="g")
    assert event.kind is EventKind.MEMBERSHIP_ADD
    assert event == ChangeEvent(
        sequence=1, kind=EventKind.MEMBERSHIP_ADD, occurred=T0, group_id="g"
    )
    with pytest.raises(ValueError, match="'member_add' is not a valid EventKind"):
        ChangeEvent(sequence=1, kind="member_add", occurred=T0)
    message = ControlMessage(id="1", kind="full_sync", requested_by="jo", requested_at=T0)
    assert message.kind is ControlKind.FULL_SYNC
