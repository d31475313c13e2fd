"""The BER bytes of an LDAP add request (RFC 4511 section 4.7), written directly.

ldap3 builds each request as a tree of pyasn1 objects, turns it back into a
dict, then encodes the tree: about 0.7 ms for a group of 50 members, more
than the directory takes to store it. The add request is a small, fixed
shape, so it is encoded here, byte for byte what pyasn1 writes (the tests
check it against ldap3's own encoding), in a few microseconds.

Every string goes in as an OCTET STRING with its length in front: no value,
DN or attribute name is ever parsed or escaped here, and none can change the
shape of the message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from grouperprov._beans import Scalar

__all__ = ["add_request", "wire_value"]

_SEQUENCE = 0x30
_SET = 0x31
_INTEGER = 0x02
_OCTET_STRING = 0x04
_ADD_REQUEST = 0x68  # [APPLICATION 8], constructed


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
    if not 0 < message_id < 2**31:
        msg = f"an LDAP message id is 1 to 2**31 - 1, not {message_id}"
        raise ValueError(msg)
    listed = b"".join(
        _tlv(_SEQUENCE, _octets(name) + _values(values)) for name, values in attributes.items()
    )
    request = _tlv(_ADD_REQUEST, _octets(dn) + _tlv(_SEQUENCE, listed))
    # An INTEGER is two's complement, so a positive id whose top bit is set
    # takes a leading zero byte: (bit_length + 8) // 8 bytes.
    number = message_id.to_bytes((message_id.bit_length() + 8) // 8, "big")
    return _tlv(_SEQUENCE, _tlv(_INTEGER, number) + request)
