"""The LDAP target's own encoding of adds and searches and decoding of search answers.

Each is checked against what ldap3 and pyasn1 write for the same message.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ldap3 import DEREF_ALWAYS
from ldap3.operation.add import add_operation
from ldap3.operation.search import search_operation
from ldap3.protocol.convert import build_controls_list
from ldap3.protocol.rfc2696 import RealSearchControlValue, paged_search_control
from ldap3.protocol.rfc4511 import (
    LDAPDN,
    AttributeDescription,
    AttributeValue,
    LDAPMessage,
    LDAPString,
    MessageID,
    PartialAttribute,
    PartialAttributeList,
    ProtocolOp,
    ResultCode,
    SearchResultDone,
    SearchResultEntry,
    Vals,
)
from pyasn1.codec.ber.encoder import encode

from grouperprov import escape_filter_value
from grouperprov._beans import Scalar
from grouperprov.targets._ldap_wire import (
    SEARCH_DONE,
    SEARCH_ENTRY,
    LdapProtocolError,
    MessageReader,
    add_request,
    all_of,
    any_of,
    equal,
    search_done,
    search_entry,
    search_request,
    wire_value,
)


def _pyasn1(message_id: int, dn: str, attributes: dict[str, list[Scalar]]) -> bytes:
    """The bytes ldap3 sends for the same add (no schema: values as the wire has them)."""
    sent = {name: [wire_value(v) for v in values] for name, values in attributes.items()}
    message = LDAPMessage()
    message["messageID"] = MessageID(message_id)
    message["protocolOp"] = ProtocolOp().setComponentByName(
        "addRequest", add_operation(dn, sent, None)
    )
    return bytes(encode(message))


_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
# Values around 128 bytes too: the short and the long form of a value's length.
_long_text = st.text(st.characters(codec="ascii"), min_size=120, max_size=140)
_values = st.lists(
    st.one_of(_text, _long_text, st.integers(-(2**70), 2**70), st.booleans()),
    min_size=1,
    max_size=6,
)
_names = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,15}", fullmatch=True)


@given(
    message_id=st.integers(1, 2**31 - 1),
    dn=_text,
    attributes=st.dictionaries(_names, _values, max_size=5),
)
def test_an_add_request_is_byte_for_byte_what_ldap3_sends(
    message_id: int, dn: str, attributes: dict[str, list[Scalar]]
) -> None:
    assert add_request(message_id, dn, attributes) == _pyasn1(message_id, dn, attributes)


@pytest.mark.parametrize("members", [0, 1, 3, 2_000, 30_000])
def test_long_requests_take_the_long_length_forms(members: int) -> None:
    """Lengths past 127, 255 and 65,535 bytes: one, two and three length bytes."""
    values: list[Scalar] = [f"uid=s{i:06d},ou=people,dc=example,dc=org" for i in range(members)]
    attributes: dict[str, list[Scalar]] = {"objectClass": ["groupOfNames"], "cn": ["g"]}
    if values:
        attributes["member"] = values
    data = add_request(2**31 - 1, "cn=g,ou=groups,dc=example,dc=org", attributes)
    assert data == _pyasn1(2**31 - 1, "cn=g,ou=groups,dc=example,dc=org", attributes)


def test_booleans_go_as_the_ldap_boolean_syntax_says() -> None:
    assert [wire_value(v) for v in (True, False, 7, "x")] == ["TRUE", "FALSE", "7", "x"]


@pytest.mark.parametrize("message_id", [0, -1, 2**31])
def test_a_message_id_out_of_range_is_refused(message_id: int) -> None:
    with pytest.raises(ValueError, match="1 to 2\\*\\*31 - 1"):
        add_request(message_id, "cn=x", {})


# -- searches ------------------------------------------------------------------


def _pyasn1_search(  # the fields of a search
    message_id: int,
    *,
    base: str,
    scope: int,
    text_filter: str,
    attributes: list[str],
    page_size: int,
    cookie: bytes,
) -> bytes:
    request = search_operation(
        base, text_filter, scope, DEREF_ALWAYS, attributes, 0, 0, False, None, None
    )
    message = LDAPMessage()
    message["messageID"] = MessageID(message_id)
    message["protocolOp"] = ProtocolOp().setComponentByName("searchRequest", request)
    message["controls"] = build_controls_list([paged_search_control(False, page_size, cookie)])
    return bytes(encode(message))


# ldap3 strips white space around a filter's values (" a " asks for "a"); the
# values built from parts are sent as they are, so the texts compared have none.
_filter_values = st.lists(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=20).filter(lambda v: v == v.strip()),
    min_size=1,
    max_size=4,
)


@given(
    message_id=st.integers(1, 2**31 - 1),
    base=_text,
    scope=st.sampled_from([0, 1, 2]),
    values=_filter_values,
    attributes=st.lists(_names, max_size=4),
    page_size=st.integers(1, 2**31 - 1),
    cookie=st.binary(max_size=200),
)
def test_a_search_request_is_byte_for_byte_what_ldap3_sends(  # noqa: PLR0917  # hypothesis's
    message_id: int,
    base: str,
    scope: int,
    values: list[str],
    attributes: list[str],
    page_size: int,
    cookie: bytes,
) -> None:
    """Filters built from parts are ldap3's of the same filter text, its values escaped."""
    ours = all_of(equal("objectClass", "groupOfNames"), any_of(*(equal("cn", v) for v in values)))
    terms = "".join(f"(cn={escape_filter_value(v)})" for v in values)
    text = f"(&(objectClass=groupOfNames)(|{terms}))"
    sent = search_request(
        message_id, base, scope, ours, attributes, page_size=page_size, cookie=cookie
    )
    assert sent == _pyasn1_search(
        message_id,
        base=base,
        scope=scope,
        text_filter=text,
        attributes=attributes,
        page_size=page_size,
        cookie=cookie,
    )


def test_a_filter_value_is_sent_as_it_is_white_space_and_filter_syntax_too() -> None:
    value = " a*)(uid=*) "
    data = value.encode()
    assert (
        equal("cn", value)
        == b"\xa3" + bytes([len(data) + 6]) + b"\x04\x02cn\x04" + bytes([len(data)]) + data
    )


def _entry_message(
    message_id: int, dn: bytes, attributes: list[tuple[bytes, list[bytes]]]
) -> bytes:
    entry = SearchResultEntry()
    entry["object"] = LDAPDN(dn)
    listed = PartialAttributeList()
    for n, (name, values) in enumerate(attributes):
        attribute = PartialAttribute()
        attribute["type"] = AttributeDescription(name)
        vals = Vals()
        for m, value in enumerate(values):
            vals.setComponentByPosition(m, AttributeValue(value))
        attribute["vals"] = vals
        listed.setComponentByPosition(n, attribute)
    entry["attributes"] = listed
    message = LDAPMessage()
    message["messageID"] = MessageID(message_id)
    message["protocolOp"] = ProtocolOp().setComponentByName("searchResEntry", entry)
    return bytes(encode(message))


def _done_message(
    message_id: int, code: int, text: str, cookie: bytes | None, *, critical: bool = False
) -> bytes:
    done = SearchResultDone()
    done["resultCode"] = ResultCode(code)
    done["matchedDN"] = LDAPDN("")
    done["diagnosticMessage"] = LDAPString(text)
    message = LDAPMessage()
    message["messageID"] = MessageID(message_id)
    message["protocolOp"] = ProtocolOp().setComponentByName("searchResDone", done)
    if cookie is not None:
        value = RealSearchControlValue()
        value["size"] = 0
        value["cookie"] = cookie
        message["controls"] = build_controls_list(
            [
                ("1.3.6.1.4.1.4203.1.10.1", False, None),  # another control first
                ("1.2.840.113556.1.4.319", critical, encode(value)),
            ]
        )
    return bytes(encode(message))


_raw = st.one_of(st.binary(max_size=20), st.binary(min_size=120, max_size=300))
_entries = st.tuples(
    _raw,
    st.lists(st.tuples(st.binary(min_size=1, max_size=12), st.lists(_raw, max_size=5)), max_size=4),
)


def _chunks(data: bytes, size: int) -> Callable[[int], bytes]:
    """A socket's recv that gives *data* at most *size* bytes at a time, then the end."""
    at = 0

    def receive(limit: int) -> bytes:
        nonlocal at
        part = data[at : at + min(size, limit)]
        at += len(part)
        return part

    return receive


@given(
    entries=st.lists(_entries, max_size=5),
    cookie=st.one_of(st.none(), st.binary(max_size=40)),
    critical=st.booleans(),
    size=st.sampled_from([1, 7, 1 << 16]),
)
def test_search_answers_read_back_what_pyasn1_encoded(
    entries: list[tuple[bytes, list[tuple[bytes, list[bytes]]]]],
    cookie: bytes | None,
    critical: bool,
    size: int,
) -> None:
    """Entries, values of any length (the long length forms too), the cookie; any chunking."""
    stream = b"".join(_entry_message(9, dn, attributes) for dn, attributes in entries)
    stream += _done_message(9, 0, "fine", cookie, critical=critical)
    reader = MessageReader(_chunks(stream, size))
    for dn, attributes in entries:
        message_id, operation, data, at = reader.next()
        assert (message_id, operation) == (9, SEARCH_ENTRY)
        assert search_entry(data, at) == (dn, attributes)
    message_id, operation, data, at = reader.next()
    assert (message_id, operation) == (9, SEARCH_DONE)
    done = search_done(data, at)
    assert (done.code, done.message, done.cookie) == (0, "fine", cookie or b"")
    with pytest.raises(ConnectionResetError, match="closed the connection"):
        reader.next()


def test_a_failed_search_says_its_code_and_message() -> None:
    data = _done_message(3, 32, "no such object", None)
    done = search_done(*MessageReader(_chunks(data, 100)).next()[2:])
    assert (done.code, done.message, done.cookie) == (32, "no such object", b"")


def test_an_answer_cut_short_is_a_closed_connection() -> None:
    data = _entry_message(4, b"cn=x", [(b"cn", [b"x"])])
    with pytest.raises(ConnectionResetError, match="in the middle of an answer"):
        MessageReader(_chunks(data[:-1], 100)).next()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x31\x03\x02\x01\x01", "starts with 0x30, not 0x31"),
        (b"\x30\x80\x02\x01\x01\x00\x00", "no definite length"),
        (b"\x30\x85\x00\x00\x00\x00\x01", "no definite length"),
        (b"\x30\x03\x04\x01\x01", "expected tag 0x02 at byte 2, found 0x04"),
        (b"\x30\x03\x02\x01\x01", "message 1 has no operation"),
        (b"\x30\x03\x02\x05\x01", "runs past its container"),
        (b"\x30\x01\x02", "cut short at byte 2"),
    ],
)
def test_bytes_that_are_not_an_ldap_message_are_refused(data: bytes, problem: str) -> None:
    with pytest.raises(LdapProtocolError, match=problem):
        MessageReader(_chunks(data, 100)).next()


def test_a_long_message_length_is_read_across_chunks() -> None:
    values = [b"v" * 200] * 400  # an 80 kB entry: three bytes of length
    data = _entry_message(5, b"cn=big", [(b"member", values)])
    assert data[1] == 0x83
    message_id, _, entry, at = MessageReader(_chunks(data, 1)).next()
    assert (message_id, search_entry(entry, at)) == (5, (b"cn=big", [(b"member", values)]))


def test_a_value_that_is_not_an_octet_string_is_refused() -> None:
    data = bytearray(_entry_message(6, b"cn=x", [(b"cn", [b"x"])]))
    data[data.rindex(b"\x04\x01x")] = 0x02  # the value tagged INTEGER
    with pytest.raises(LdapProtocolError, match="expected tag 0x04"):
        search_entry(bytes(data), MessageReader(_chunks(bytes(data), 100)).next()[3])


def test_an_element_without_a_definite_length_is_refused() -> None:
    """Inside a message too: an entry whose DN says its length is indefinite (0x80)."""
    data = b"\x64\x06\x04\x80cn=x"
    with pytest.raises(LdapProtocolError, match="at byte 2 has no definite length"):
        search_entry(data, 0)


def _read_all(stream: bytes) -> None:
    """Read *stream* as the target does: entries until the search's end."""
    reader = MessageReader(_chunks(stream, 64))
    while True:
        _, operation, data, at = reader.next()
        if operation == SEARCH_ENTRY:
            search_entry(data, at)
        elif operation == SEARCH_DONE:
            search_done(data, at)
            return


# Bytes that mean something in BER here: tags, short and long length forms.
_BER_BYTES = (0x00, 0x01, 0x02, 0x04, 0x30, 0x31, 0x64, 0x65, 0x7F, 0x80, 0x81, 0x84, 0xA0, 0xFF)


@pytest.mark.parametrize(
    "stream",
    [
        _entry_message(9, b"cn=x", [(b"member", [b"", b"a", b"v" * 5]), (b"cn", [b"x"])])
        + _done_message(9, 0, "fine", None),
        _entry_message(9, b"cn=y", [(b"member", [b"w" * 200]), (b"cn", [])])
        + _done_message(9, 0, "fine", b"ck"),
    ],
    ids=["short values", "a long value and a cookie"],
)
def test_a_corrupted_answer_is_read_or_refused_never_a_crash(stream: bytes) -> None:
    """Every byte of a search's answer changed to each BER-like byte, whole and cut after it.

    What the decoder cannot read is an ``LdapProtocolError`` (or the
    connection closing, for a cut), which the target treats as a lost
    connection; an ``IndexError`` or a ``ValueError`` of another kind would
    end the run instead.
    """
    for where in range(len(stream)):
        for byte in _BER_BYTES:
            changed = stream[:where] + bytes([byte]) + stream[where + 1 :]
            for data in (changed, changed[: where + 1]):
                with contextlib.suppress(LdapProtocolError, ConnectionResetError):
                    _read_all(data)


@pytest.mark.parametrize(
    "data",
    [
        # An entry whose last attribute's values end with one byte: a value's tag and no length.
        b"\x64\x0d\x04\x01x\x30\x08\x30\x06\x04\x01a\x31\x01\x04",
        b"\x64\x10\x04\x01x\x30\x0b\x30\x09\x04\x01a\x31\x04\x04\x01v\x04",
    ],
)
def test_a_value_cut_to_its_tag_is_refused(data: bytes) -> None:
    with pytest.raises(LdapProtocolError):
        search_entry(data, 0)
