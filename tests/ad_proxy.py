"""A proxy in front of slapd that answers as Active Directory does, where the LDAP target cares.

No free server behaves as Active Directory, so the tests put this proxy
between the LDAP target and a real slapd. Every message passes as it is,
except for what AD does otherwise:

- **Range retrieval.** OpenLDAP sends every value of an attribute at once;
  AD sends at most ``MaxValRange`` (1,500 by default): a search that asks
  for ``member`` gets ``member;range=0-1499``, and the client asks for
  ``member;range=1500-*`` and so on until a range ends in ``*``. The proxy
  asks slapd for the whole attribute and cuts its values to the range.
- **Result codes of member values.** AD answers the add of a member there
  already with ``entryAlreadyExists`` (68), and the delete of one not there
  with ``unwillingToPerform`` (53), where OpenLDAP says
  ``attributeOrValueExists`` (20) and ``noSuchAttribute`` (16).
- **Members that name no entry.** AD refuses a member DN with no entry
  (``noSuchObject``, 32); OpenLDAP keeps it. With :attr:`exists` set, the
  proxy answers so an add or modify that adds such a member.

``mode`` makes it answer as a faulty server would, for the target's checks:
``"skewed"`` starts each later range one value late, ``"plain"`` answers a
range request with the plain attribute, ``"busy"`` fails range requests,
``"stubborn"`` refuses every member delete (53) and keeps the member.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

from ldap3.protocol.rfc4511 import AttributeValue, LDAPMessage, Vals
from pyasn1.codec.ber import decoder, encoder

_SEQUENCE, _OCTET_STRING, _ENUMERATED = 0x30, 0x04, 0x0A
_SEARCH_REQUEST, _MODIFY_REQUEST, _MODIFY_RESPONSE = 0x63, 0x66, 0x67
_ADD_REQUEST, _ADD_RESPONSE = 0x68, 0x69
_MODIFY_ADD, _MODIFY_DELETE = 0, 1
_NO_SUCH_ATTRIBUTE, _TYPE_OR_VALUE_EXISTS, _NO_SUCH_OBJECT = 16, 20, 32
_BUSY, _UNWILLING_TO_PERFORM, _ENTRY_ALREADY_EXISTS = 51, 53, 68
_AS_AD = {_TYPE_OR_VALUE_EXISTS: _ENTRY_ALREADY_EXISTS, _NO_SUCH_ATTRIBUTE: _UNWILLING_TO_PERFORM}


def _elements(data: bytes) -> list[tuple[int, bytes]]:
    """The (tag, contents) of each BER element in *data* (one-byte tags, definite lengths)."""
    found = []
    at = 0
    while at < len(data):
        tag, size, at = data[at], data[at + 1], at + 2
        if size & 0x80:
            count = size & 0x7F
            size, at = int.from_bytes(data[at : at + count]), at + count
        found.append((tag, data[at : at + size]))
        at += size
    return found


def _tlv(tag: int, contents: bytes) -> bytes:
    size = len(contents)
    length = bytes([size]) if size < 0x80 else bytes([0x80 | 4]) + size.to_bytes(4)
    return bytes([tag]) + length + contents


def _join(elements: list[tuple[int, bytes]]) -> bytes:
    return b"".join(_tlv(tag, contents) for tag, contents in elements)


def _messages(sock: socket.socket) -> Iterator[bytes]:
    """Each whole LDAP message (a BER SEQUENCE of definite length) from *sock*."""
    buffer = b""
    while True:
        while len(buffer) >= 2:  # a tag and a length's first byte
            size, head = buffer[1], 2
            if size & 0x80:
                head += size & 0x7F
                size = int.from_bytes(buffer[2:head]) if len(buffer) >= head else -1
            if size < 0 or len(buffer) < head + size:
                break
            yield buffer[: head + size]
            buffer = buffer[head + size :]
        data = sock.recv(65536)
        if not data:
            return
        buffer += data


class _Link:
    """One client's connection and its own to slapd."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client, self.upstream = client, upstream
        self.lock = threading.Lock()  # both directions may answer the client
        self.asked: dict[int, int] = {}  # search message id: the first value its range asks for
        self.modifies: set[int] = set()  # modify message ids, whose codes are AD's

    def to_client(self, data: bytes) -> None:
        with self.lock:
            self.client.sendall(data)


class ActiveDirectoryProxy:
    """Listens on 127.0.0.1; each client gets a connection of its own to *upstream*."""

    def __init__(self, upstream: str, *, attribute: str = "member", max_values: int = 5) -> None:
        host, port = upstream.removeprefix("ldap://").rsplit(":", 1)
        self._upstream = (host, int(port))
        self.attribute = attribute.lower()
        self.max_values = max_values
        self.mode = "ad"
        self.asked: list[str] = []  # the ranges asked for, as the client wrote them
        self.before_range: Callable[[], None] | None = None  # runs before each is passed on
        self.exists: Callable[[str], bool] | None = None  # whether a member's DN names an entry
        self.errors: list[Exception] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ldap://127.0.0.1:{self._listener.getsockname()[1]}"
        self._sockets: list[socket.socket] = [self._listener]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        """Stop; raise the first fault of the proxy's own, if there was one."""
        self._closed = True
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        if self.errors:
            raise self.errors[0]

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            link = _Link(client, socket.create_connection(self._upstream))
            self._sockets += [link.client, link.upstream]
            if self._closed:  # since the listener's last accept
                self.close()
                return
            for pump in (self._requests, self._answers):
                threading.Thread(target=self._guarded, args=(pump, link), daemon=True).start()

    def _guarded(self, pump: Callable[[_Link], None], link: _Link) -> None:
        try:
            pump(link)
        except OSError:
            pass
        except Exception as exc:  # noqa: BLE001  # a fault of the proxy's own: the test must see it
            self.errors.append(exc)
        for sock in (link.client, link.upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _requests(self, link: _Link) -> None:
        for raw in _messages(link.client):
            # Walked by hand: pyasn1 cannot read every filter back with ldap3's definitions.
            ((_, body),) = _elements(raw)
            parts = _elements(body)
            message_id, (tag, request) = int.from_bytes(parts[0][1], signed=True), parts[1]
            sent = raw
            if tag == _SEARCH_REQUEST:
                sent = self._search(link, message_id, parts)
            elif tag in {_MODIFY_REQUEST, _ADD_REQUEST}:
                refusal = self._refusal(tag, request)
                if refusal is not None:
                    answer = _ADD_RESPONSE if tag == _ADD_REQUEST else _MODIFY_RESPONSE
                    result = _tlv(_ENUMERATED, bytes([refusal])) + _tlv(_OCTET_STRING, b"")
                    result += _tlv(_OCTET_STRING, b"refused as Active Directory would")
                    parts[1] = (answer, result)
                    link.to_client(_tlv(_SEQUENCE, _join(parts)))
                    continue
                if tag == _MODIFY_REQUEST:
                    link.modifies.add(message_id)
            link.upstream.sendall(sent)

    def _search(self, link: _Link, message_id: int, parts: list[tuple[int, bytes]]) -> bytes:
        tag, request = parts[1]
        fields = _elements(request)
        names = [value.decode() for _, value in _elements(fields[-1][1])]
        for place, selector in enumerate(names):
            name, _, option = selector.partition(";")
            if name.lower() == self.attribute and option.lower().startswith("range="):
                self.asked.append(selector)
                link.asked[message_id] = int(option[6:].split("-")[0])
                names[place] = name
                if self.before_range is not None:
                    self.before_range()
                fields[-1] = (_SEQUENCE, _join([(_OCTET_STRING, n.encode()) for n in names]))
                parts[1] = (tag, _join(fields))
                break
        return _tlv(_SEQUENCE, _join(parts))

    def _refusal(self, tag: int, request: bytes) -> int | None:
        """The code AD would refuse this modify or add with, where slapd would take it."""
        changes = _elements(request)[1][1]
        for _, change in _elements(changes):
            if tag == _MODIFY_REQUEST:
                (_, operation), (_, modification) = _elements(change)
                op = int.from_bytes(operation)
            else:
                op, modification = _MODIFY_ADD, change
            (_, name), (_, values) = _elements(modification)
            if name.decode().lower() != self.attribute:
                continue
            members = [v.decode() for _, v in _elements(values)]
            if op == _MODIFY_DELETE and self.mode == "stubborn":
                return _UNWILLING_TO_PERFORM
            if op == _MODIFY_ADD and self.exists and not all(map(self.exists, members)):
                return _NO_SUCH_OBJECT
        return None

    def _answers(self, link: _Link) -> None:
        for raw in _messages(link.upstream):
            link.to_client(self._answer(link, raw))

    def _answer(self, link: _Link, raw: bytes) -> bytes:
        ((_, body),) = _elements(raw)
        parts = _elements(body)
        message_id, (tag, result) = int.from_bytes(parts[0][1], signed=True), parts[1]
        if tag == _MODIFY_RESPONSE and message_id in link.modifies:
            link.modifies.discard(message_id)
            fields = _elements(result)
            code = _AS_AD.get(fields[0][1][0])
            if code is not None:
                fields[0] = (_ENUMERATED, bytes([code]))
                parts[1] = (tag, _join(fields))
                return _tlv(_SEQUENCE, _join(parts))
            return raw
        message, _ = decoder.decode(raw, asn1Spec=LDAPMessage())
        operation = message["protocolOp"]
        if operation.getName() == "searchResDone":
            if link.asked.pop(message_id, None) is not None and self.mode == "busy":
                operation.getComponent()["resultCode"] = _BUSY
                return bytes(encoder.encode(message))
            return raw
        if operation.getName() != "searchResEntry":
            return raw
        for partial in operation.getComponent()["attributes"]:
            if str(partial["type"]).lower() != self.attribute:
                continue
            values = [bytes(v) for v in partial["vals"]]
            start = link.asked.get(message_id)
            if start is None and len(values) <= self.max_values:
                return raw  # few enough: sent as they are, as AD does
            if start is not None and self.mode == "plain":
                return raw
            low = start or 0
            if low >= len(values):  # fewer values than when the first range was sent
                partial["type"] = f"{partial['type']}-gone"  # not the attribute: none of it
                return bytes(encoder.encode(message))
            part = values[low : low + self.max_values]
            end = "*" if low + len(part) == len(values) else str(low + len(part) - 1)
            shown = low + 1 if low and self.mode == "skewed" else low
            partial["type"] = f"{partial['type']};range={shown}-{end}"
            vals = Vals()
            for place, value in enumerate(part):
                vals.setComponentByPosition(place, AttributeValue(value))
            partial.setComponentByName("vals", vals)
            return bytes(encoder.encode(message))
        return raw
