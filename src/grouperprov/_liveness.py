"""Whether a server closed an idle connection, seen from its socket without a round trip."""

from __future__ import annotations

import select

__all__ = ["closed_by_peer"]


def closed_by_peer(fileno: int) -> bool:
    """Whether the idle connection on socket *fileno* was closed by its server.

    Between operations a client asks nothing, so nothing should come: a
    server that restarts, fails over or drops an idle client sends its last
    message ("terminating connection") and closes, and the socket turns
    readable. A socket that cannot be polled any more is closed too.
    """
    try:
        readable, _, _ = select.select([fileno], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
