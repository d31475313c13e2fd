"""The real targets' one policy for a connection the server dropped, on plain functions."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest

from grouperprov.exceptions import TargetUnavailable
from grouperprov.targets._reconnect import reconnecting

log = logging.getLogger("tests.reconnect")


class _DroppedError(Exception):
    """What a driver raises for a lost connection, here."""


def _steps(*outcomes: object) -> Callable[[], object]:
    """Each call gives the next outcome; an exception is raised."""
    left: Iterator[object] = iter(outcomes)

    def run() -> object:
        outcome = next(left)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return run


def _run(
    run: Callable[[], object], *, retry: bool, connects: list[str] | None = None
) -> tuple[object, list[str]]:
    made = [] if connects is None else connects
    result = reconnecting(
        "read of x",
        run,
        retry=retry,
        lost=lambda exc: "gone" if isinstance(exc, _DroppedError) else None,
        reconnect=lambda what, reason: made.append(f"{what}: {reason}"),
        where="db://here",
        log=log,
    )
    return result, made


def test_a_read_that_lost_its_connection_is_tried_again_on_a_new_one() -> None:
    assert _run(_steps(_DroppedError(), "rows"), retry=True) == ("rows", ["read of x: gone"])


def test_lost_twice_it_fails_with_the_second_cause_and_connects_again_for_what_follows() -> None:
    second = _DroppedError()
    connects: list[str] = []
    message = "read of x: the connection to db://here was lost: gone"
    with pytest.raises(TargetUnavailable, match=message) as caught:
        _run(_steps(_DroppedError(), second), retry=True, connects=connects)
    assert caught.value.__cause__ is second
    assert connects == ["read of x: gone", "read of x: gone"]


def test_a_write_is_not_tried_again() -> None:
    with pytest.raises(TargetUnavailable, match="was lost: gone"):
        _run(_steps(_DroppedError(), "never"), retry=False)


@pytest.mark.parametrize("retry", [True, False])
def test_other_errors_are_raised_as_they_are(retry: bool) -> None:
    with pytest.raises(KeyError):
        _run(_steps(KeyError("x")), retry=retry)
    with pytest.raises(ValueError, match="bad row"):
        _run(_steps(_DroppedError(), ValueError("bad row")), retry=True)
