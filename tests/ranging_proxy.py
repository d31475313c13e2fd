"""A proxy in front of slapd that sends an attribute's values in ranges, as Active Directory does.

OpenLDAP sends every value of an attribute at once. Active Directory sends
at most ``MaxValRange`` (1,500 by default): a search that asks for
``member`` gets ``member;range=0-1499``, and the client asks for
``member;range=1500-*`` and so on until a range ends in ``*``. No free
server does this, so the tests put this proxy between the LDAP target and a
real slapd: every message passes as it is, except searches that ask for a
range (the proxy asks slapd for the whole attribute) and the entries that
answer searches (the proxy cuts the attribute's values to a range, named as
AD names it).

``mode`` makes it answer as a faulty server would, for the target's checks:
``"skewed"`` starts each later range one value late, ``"plain"`` answers a
range request with the plain attribute, ``"busy"`` fails range requests.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

from ldap3.protocol.rfc4511 import AttributeValue, LDAPMessage, Vals
from pyasn1.codec.ber import decoder, encoder

_BUSY = 51
_SEQUENCE, _OCTET_STRING, _SEARCH_REQUEST = 0x30, 0x04, 0x63


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


def _messages(sock: socket.socket) -> Iterator[bytes]:
    """Each whole LDAP message (a BER SEQUENCE of definite length) from *sock*."""
    buffer = b""
    while True:
        while True:
            if len(buffer) >= 2:  # a tag and a length's first byte
                size = buffer[1]
                head = 2
                if size & 0x80:
                    count = size & 0x7F
                    head += count
                    size = int.from_bytes(buffer[2:head]) if len(buffer) >= head else -1
                if size >= 0 and len(buffer) >= head + size:
                    yield buffer[: head + size]
                    buffer = buffer[head + size :]
                    continue
            break
        data = sock.recv(65536)
        if not data:
            return
        buffer += data


class RangingProxy:
    """Listens on 127.0.0.1; each client gets a connection of its own to *upstream*."""

    def __init__(self, upstream: str, *, attribute: str = "member", max_values: int = 5) -> None:
        host, port = upstream.removeprefix("ldap://").rsplit(":", 1)
        self._upstream = (host, int(port))
        self.attribute = attribute.lower()
        self.max_values = max_values
        self.mode = "ad"
        self.asked: list[str] = []  # the ranges asked for, as the client wrote them
        self.before_range: Callable[[], None] | None = None  # runs before each is passed on
        self.errors: list[Exception] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ldap://127.0.0.1:{self._listener.getsockname()[1]}"
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        """Stop; raise the first fault of the proxy's own, if there was one."""
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
            upstream = socket.create_connection(self._upstream)
            self._sockets += [client, upstream]
            asked: dict[int, int] = {}  # message id: the first value its range asks for
            for source, sink, change in (
                (client, upstream, self._request),
                (upstream, client, self._answer),
            ):
                threading.Thread(
                    target=self._pump, args=(source, sink, change, asked), daemon=True
                ).start()

    def _pump(
        self,
        source: socket.socket,
        sink: socket.socket,
        change: Callable[[bytes, dict[int, int]], bytes],
        asked: dict[int, int],
    ) -> None:
        try:
            for message in _messages(source):
                sink.sendall(change(message, asked))
        except OSError:
            pass
        except Exception as exc:  # noqa: BLE001  # a fault of the proxy's own: the test must see it
            self.errors.append(exc)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def _request(self, raw: bytes, asked: dict[int, int]) -> bytes:
        # Walked by hand: pyasn1 cannot read every filter back with ldap3's definitions.
        ((_, body),) = _elements(raw)
        parts = _elements(body)
        message_id, (tag, request) = int.from_bytes(parts[0][1], signed=True), parts[1]
        if tag != _SEARCH_REQUEST:
            return raw
        fields = _elements(request)
        names = [value.decode() for _, value in _elements(fields[-1][1])]
        for place, selector in enumerate(names):
            name, _, option = selector.partition(";")
            if name.lower() == self.attribute and option.lower().startswith("range="):
                self.asked.append(selector)
                asked[message_id] = int(option[6:].split("-")[0])
                names[place] = name
                if self.before_range is not None:
                    self.before_range()
                selection = b"".join(_tlv(_OCTET_STRING, n.encode()) for n in names)
                fields[-1] = (_SEQUENCE, selection)
                parts[1] = (tag, b"".join(_tlv(t, v) for t, v in fields))
                return _tlv(_SEQUENCE, b"".join(_tlv(t, v) for t, v in parts))
        return raw

    def _answer(self, raw: bytes, asked: dict[int, int]) -> bytes:
        message, _ = decoder.decode(raw, asn1Spec=LDAPMessage())
        operation = message["protocolOp"]
        message_id = int(message["messageID"])
        if operation.getName() == "searchResDone":
            if asked.pop(message_id, None) is not None and self.mode == "busy":
                operation.getComponent()["resultCode"] = _BUSY
                return bytes(encoder.encode(message))
            return raw
        if operation.getName() != "searchResEntry":
            return raw
        partials = operation.getComponent()["attributes"]
        for partial in partials:
            if str(partial["type"]).lower() != self.attribute:
                continue
            values = [bytes(v) for v in partial["vals"]]
            start = asked.get(message_id)
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
