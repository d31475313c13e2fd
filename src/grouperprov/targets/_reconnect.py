"""What the real targets do when the server drops their connection: one policy for both."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from grouperprov.exceptions import TargetUnavailable

__all__ = ["reconnecting"]

_R = TypeVar("_R")


def reconnecting(
    what: str,
    run: Callable[[], _R],
    *,
    retry: bool,
    lost: Callable[[Exception], str | None],
    reconnect: Callable[[str, str], None],
    where: str,
    log: logging.Logger,
) -> _R:
    """Run *run*; where it lost its connection, connect again, and retry a read once.

    Servers restart and fail over, and they and the load balancers in front
    of them close idle connections. A read (*retry*) is tried once more on
    the new connection; a write is not (part of it may have been done): it
    fails as :class:`TargetUnavailable`, its objects get an error, the run's
    next operations go over the new connection, and the next run sees what
    the target holds.

    Args:
        what: The operation, for the messages.
        run: The operation.
        retry: Whether *run* may be run again (reads).
        lost: The reason, in words, if an exception of *run* means the
            connection was lost; ``None`` for any other (raised as it is).
        reconnect: Connect again, given *what* and the reason; it raises
            :class:`TargetUnavailable` when it cannot.
        where: The server, for the messages (never a password).
        log: The target's logger.
    """
    try:
        return run()
    except Exception as exc:
        reason = lost(exc)
        if reason is None:
            raise
        cause = exc
    log.warning("%s: the connection to %s was lost (%s)", what, where, reason)
    reconnect(what, reason)
    if retry:
        try:
            return run()
        except Exception as exc:
            again = lost(exc)
            if again is None:
                raise
            cause, reason = exc, again
            reconnect(what, reason)
    msg = f"{what}: the connection to {where} was lost: {reason}"
    raise TargetUnavailable(msg) from cause
