"""The BER bytes of LDAP add and search requests and of search answers (RFC 4511).

ldap3 builds each request as a tree of pyasn1 objects, turns it back into a
dict, then encodes the tree: about 0.7 ms for a group of 50 members, more
than the directory takes to store it. The add request is a small, fixed
shape, so it is encoded here, byte for byte what pyasn1 writes (the tests
check it against ldap3's own encoding), in a few microseconds.

The answers to a search are decoded here too: ldap3 decodes every value
into a tree of lists, then formats each one through its schema helpers
(about 8 µs a member DN); a search entry is a fixed shape, and its values
are sliced out of the message as bytes (a member DN in a few hundred
nanoseconds), left for the caller to decode once per distinct value.

Every string goes in as an OCTET STRING with its length in front: no value,
DN or attribute name is ever parsed or escaped here, and none can change the
shape of the message. Filters are built from their parts, never from text,
so no value can widen a search.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import attrs

from grouperprov._beans import Scalar

__all__ = [
    "SEARCH_DONE",
    "SEARCH_ENTRY",
    "SEARCH_REFERENCE",
    "LdapProtocolError",
    "MessageReader",
    "SearchDone",
    "add_request",
    "all_of",
    "any_of",
    "equal",
    "search_done",
    "search_entry",
    "search_request",
    "wire_value",
]

_SEQUENCE = 0x30
_SET = 0x31
_INTEGER = 0x02
_OCTET_STRING = 0x04
_ENUMERATED = 0x0A
_BOOLEAN = 0x01
_ADD_REQUEST = 0x68  # [APPLICATION 8], constructed
_SEARCH_REQUEST = 0x63  # [APPLICATION 3], constructed
SEARCH_ENTRY = 0x64  # [APPLICATION 4], constructed
SEARCH_DONE = 0x65  # [APPLICATION 5], constructed
SEARCH_REFERENCE = 0x73  # [APPLICATION 19], constructed
_CONTROLS = 0xA0  # [0] of an LDAPMessage
_FILTER_AND = 0xA0  # [0] SET OF Filter
_FILTER_OR = 0xA1  # [1] SET OF Filter
_FILTER_EQUAL = 0xA3  # [3] AttributeValueAssertion
_PAGED_RESULTS = "1.2.840.113556.1.4.319"  # RFC 2696
_PAGED_RESULTS_OID = _PAGED_RESULTS.encode()
_NO_END = 1 << 62  # the end of a message still being received: not known yet
_DEREF_ALWAYS = 3  # what ldap3's searches ask for


def wire_value(value: Scalar) -> str:
    """A value as the directory is sent it: booleans as RFC 4517's ``TRUE`` and ``FALSE``."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return str(value)


def _length(size: int) -> bytes:
    """BER definite length: one byte below 128, else 0x80 + the count of bytes that follow."""
    if size < 0x80:  # noqa: PLR2004  # the short form's bound
        return bytes((size,))
    body = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes((tag,)) + _length(len(body)) + body


def _octets(text: str) -> bytes:
    data = text.encode("utf-8")
    return _tlv(_OCTET_STRING, data)


# The tag and short-form length of every OCTET STRING shorter than 128 bytes.
_SHORT_OCTETS = tuple(bytes((_OCTET_STRING, size)) for size in range(0x80))


def _values(values: Sequence[Scalar]) -> bytes:
    """A SET OF the values as OCTET STRINGs: :func:`_octets` of each, in a tight loop.

    A campus sends a DN per member: most are strings shorter than 128 bytes,
    whose tag and length come from a table.
    """
    parts = []
    for value in values:
        data = (value if type(value) is str else wire_value(value)).encode("utf-8")
        size = len(data)
        parts.append(
            _SHORT_OCTETS[size] + data if size < 0x80 else _tlv(_OCTET_STRING, data)  # noqa: PLR2004  # the short form's bound
        )
    return _tlv(_SET, b"".join(parts))


def add_request(message_id: int, dn: str, attributes: Mapping[str, Sequence[Scalar]]) -> bytes:
    """The whole LDAPMessage of an add of *dn* with *attributes*, without controls.

    Args:
        message_id: The message's id, 1 to 2**31 - 1.
        dn: The new entry's DN, escaped already (RFC 4514).
        attributes: Each attribute's values, in the order they are sent.
    """
    listed = b"".join(
        _tlv(_SEQUENCE, _octets(name) + _values(values)) for name, values in attributes.items()
    )
    return _message(message_id, _tlv(_ADD_REQUEST, _octets(dn) + _tlv(_SEQUENCE, listed)))


def _integer(tag: int, number: int) -> bytes:
    """A non-negative INTEGER (or ENUMERATED): two's complement, so a set top bit takes a zero."""
    return _tlv(tag, number.to_bytes((number.bit_length() + 8) // 8, "big"))


def _message(message_id: int, operation: bytes, controls: bytes = b"") -> bytes:
    if not 0 < message_id < 2**31:
        msg = f"an LDAP message id is 1 to 2**31 - 1, not {message_id}"
        raise ValueError(msg)
    return _tlv(_SEQUENCE, _integer(_INTEGER, message_id) + operation + controls)


# -- filters (RFC 4511 section 4.5.1.7), built from their parts ----------------


def equal(attribute: str, value: str | bytes) -> bytes:
    """The filter ``(attribute=value)``: *value* goes as it is (text in UTF-8), unescaped."""
    raw = _tlv(_OCTET_STRING, value) if isinstance(value, bytes) else _octets(value)
    return _tlv(_FILTER_EQUAL, _octets(attribute) + raw)


def all_of(*filters: bytes) -> bytes:
    """The filter ``(&...)`` of *filters*."""
    return _tlv(_FILTER_AND, b"".join(filters))


def any_of(*filters: bytes) -> bytes:
    """The filter ``(|...)`` of *filters*."""
    return _tlv(_FILTER_OR, b"".join(filters))


def search_request(  # the fields of a SearchRequest
    message_id: int,
    base: str,
    scope: int,
    ldap_filter: bytes,
    attributes: Sequence[str],
    *,
    page_size: int,
    cookie: bytes = b"",
) -> bytes:
    """The whole LDAPMessage of a search, with the paged results control (RFC 2696).

    Args:
        message_id: The message's id, 1 to 2**31 - 1.
        base: The base DN, escaped already (RFC 4514).
        scope: 0 the base entry, 1 one level, 2 the whole subtree.
        ldap_filter: A filter from :func:`equal`, :func:`all_of` and :func:`any_of`.
        attributes: The attributes to return.
        page_size: Entries per page.
        cookie: The cookie of the page before (empty for the first page).
    """
    request = _tlv(
        _SEARCH_REQUEST,
        _octets(base)
        + _integer(_ENUMERATED, scope)
        + _integer(_ENUMERATED, _DEREF_ALWAYS)
        + _integer(_INTEGER, 0)  # no size limit
        + _integer(_INTEGER, 0)  # no time limit
        + _tlv(_BOOLEAN, b"\x00")  # types and values
        + ldap_filter
        + _tlv(_SEQUENCE, b"".join(_octets(name) for name in attributes)),
    )
    paged = _tlv(_SEQUENCE, _integer(_INTEGER, page_size) + _tlv(_OCTET_STRING, cookie))
    control = _tlv(_SEQUENCE, _octets(_PAGED_RESULTS) + _tlv(_OCTET_STRING, paged))
    return _message(message_id, request, _tlv(_CONTROLS, control))


# -- answers -------------------------------------------------------------------


class LdapProtocolError(ValueError):
    """The directory's answer is not the BER of an LDAP message (the stream is lost)."""


def _header(
    data: bytes | bytearray, at: int, end: int, tag: int | None = None
) -> tuple[int, int, int]:
    """(tag, start of the body, end of the body) of the element at *at*; definite lengths only."""
    if at + 2 > end:
        msg = f"an element is cut short at byte {at}"
        raise LdapProtocolError(msg)
    found = data[at]
    if tag is not None and found != tag:
        msg = f"expected tag 0x{tag:02x} at byte {at}, found 0x{found:02x}"
        raise LdapProtocolError(msg)
    size = data[at + 1]
    start = at + 2
    if size >= 0x80:  # noqa: PLR2004  # the long form
        count = size & 0x7F
        if count == 0 or count > 4:  # noqa: PLR2004  # indefinite, or past 4 GiB
            msg = f"an element at byte {at} has no definite length LDAP allows"
            raise LdapProtocolError(msg)
        size = int.from_bytes(data[start : start + count], "big")
        start += count
    if start + size > end:
        msg = f"an element at byte {at} runs past its container"
        raise LdapProtocolError(msg)
    return found, start, start + size


class MessageReader:
    """Whole LDAPMessages off a connection, one at a time.

    Args:
        receive: Reads up to *n* bytes (``socket.recv``); ``b""`` at the end
            of the connection.
    """

    def __init__(self, receive: Callable[[int], bytes]) -> None:
        self._receive = receive
        self._buffer = bytearray()

    def _fill(self, size: int) -> None:
        while len(self._buffer) < size:
            data = self._receive(1 << 16)
            if not data:
                msg = "the directory closed the connection in the middle of an answer"
                raise ConnectionResetError(msg)
            self._buffer += data

    def next(self) -> tuple[int, int, bytes, int]:
        """(message id, operation tag, the message, where the operation starts).

        Raises:
            LdapProtocolError: The bytes are not an LDAPMessage.
            ConnectionResetError: The connection ended first.
            OSError: Receiving failed (``TimeoutError`` when the socket's timeout passed).
        """
        self._fill(2)
        buffer = self._buffer
        if buffer[0] != _SEQUENCE:
            msg = f"an LDAP message starts with 0x30, not 0x{buffer[0]:02x}"
            raise LdapProtocolError(msg)
        if buffer[1] >= 0x80:  # noqa: PLR2004  # the long form: its length bytes first
            self._fill(2 + min(buffer[1] & 0x7F, 4))  # more than 4 is refused just below
        _, start, end = _header(buffer, 0, _NO_END)  # the body is read next, whatever its size
        self._fill(end)
        data = bytes(buffer[:end])
        del buffer[:end]  # cheap: a bytearray drops its front without moving the rest
        _, id_start, id_end = _header(data, start, end, _INTEGER)
        message_id = int.from_bytes(data[id_start:id_end], "big", signed=True)
        if id_end >= end:
            msg = f"LDAP message {message_id} has no operation"
            raise LdapProtocolError(msg)
        return message_id, data[id_end], data, id_end


def search_entry(data: bytes, at: int) -> tuple[bytes, list[tuple[bytes, list[bytes]]]]:
    """The DN and the attributes of the SearchResultEntry at *at*, all as the bytes sent.

    The values of each attribute are sliced out in one tight loop: most are
    OCTET STRINGs shorter than 128 bytes, whose length is one byte.
    """
    _, start, end = _header(data, at, len(data), SEARCH_ENTRY)
    _, dn_start, dn_end = _header(data, start, end, _OCTET_STRING)
    _, at, listed_end = _header(data, dn_end, end, _SEQUENCE)
    attributes: list[tuple[bytes, list[bytes]]] = []
    while at < listed_end:
        _, body, at = _header(data, at, listed_end, _SEQUENCE)
        _, name_start, name_end = _header(data, body, at, _OCTET_STRING)
        _, value, values_end = _header(data, name_end, at, _SET)
        values: list[bytes] = []
        while value < values_end:
            if (
                data[value] == _OCTET_STRING
                and value + 1 < values_end  # its length byte is inside the set
                and (size := data[value + 1]) < 0x80  # noqa: PLR2004  # the short form
                and value + 2 + size <= values_end
            ):
                values.append(data[value + 2 : value + 2 + size])
                value += 2 + size
            else:
                _, value_start, value = _header(data, value, values_end, _OCTET_STRING)
                values.append(data[value_start:value])
        attributes.append((data[name_start:name_end], values))
    return data[dn_start:dn_end], attributes


@attrs.frozen
class SearchDone:
    """A SearchResultDone: the result code, the server's message, the paged results cookie."""

    code: int
    message: str
    cookie: bytes


def search_done(data: bytes, at: int) -> SearchDone:
    """The SearchResultDone at *at* of a message whose controls may follow it."""
    _, start, end = _header(data, at, len(data), SEARCH_DONE)
    _, code_start, code_end = _header(data, start, end, _ENUMERATED)
    _, _, matched_end = _header(data, code_end, end, _OCTET_STRING)
    _, text_start, text_end = _header(data, matched_end, end, _OCTET_STRING)
    cookie = b""
    if end < len(data):
        _, at, controls_end = _header(data, end, len(data), _CONTROLS)
        while at < controls_end:
            _, body, at = _header(data, at, controls_end, _SEQUENCE)
            _, oid_start, oid_end = _header(data, body, at, _OCTET_STRING)
            if data[oid_start:oid_end] != _PAGED_RESULTS_OID:
                continue
            rest = oid_end
            if rest < at and data[rest] == _BOOLEAN:
                rest = _header(data, rest, at)[2]  # the criticality
            _, value_start, value_end = _header(data, rest, at, _OCTET_STRING)
            _, inner, inner_end = _header(data, value_start, value_end, _SEQUENCE)
            _, _, size_end = _header(data, inner, inner_end, _INTEGER)
            _, cookie_start, cookie_end = _header(data, size_end, inner_end, _OCTET_STRING)
            cookie = data[cookie_start:cookie_end]
    return SearchDone(
        code=int.from_bytes(data[code_start:code_end], "big"),
        message=data[text_start:text_end].decode("utf-8", "replace"),
        cookie=cookie,
    )
