"""The look at an idle connection's socket, on real sockets."""

from __future__ import annotations

import socket

from grouperprov._liveness import closed_by_peer


def test_a_socket_is_closed_by_its_peer_when_it_has_something_to_read() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert not closed_by_peer(ours.fileno())  # idle: nothing to read
        theirs.close()  # the peer goes
        assert closed_by_peer(ours.fileno())
    assert closed_by_peer(-1)  # no socket at all
