"""The LDAP target's own add-request encoding, against the one ldap3 and pyasn1 write."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ldap3.operation.add import add_operation
from ldap3.protocol.rfc4511 import LDAPMessage, MessageID, ProtocolOp
from pyasn1.codec.ber.encoder import encode

from grouperprov._beans import Scalar
from grouperprov.targets._ldap_wire import add_request, wire_value


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
