from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, settings

from grouperprov.testing import PostgresServer, ServerUnavailable, SlapdServer

# CI runs more examples; locally the default keeps the loop quick.
settings.register_profile("ci", max_examples=300, deadline=None)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile(
    "thorough", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


_T = TypeVar("_T")

# -- real servers ------------------------------------------------------------------
# CI sets GROUPERPROV_REQUIRE_SERVERS=1: a server that cannot start there fails
# the tests instead of skipping them.


def _unavailable(reason: str) -> None:
    if os.environ.get("GROUPERPROV_REQUIRE_SERVERS"):
        pytest.fail(reason)
    pytest.skip(reason)


def _started(server: Callable[[], _T], client: str, extra: str) -> Iterator[_T]:
    """A server of the session's own, started, and stopped at the end."""
    if importlib.util.find_spec(client) is None:
        _unavailable(f"{client} is not installed: pip install -e '.[{extra}]'")
    try:
        started = server()
        started.start()  # type: ignore[attr-defined]  # a PostgresServer or a SlapdServer
    except ServerUnavailable as exc:
        _unavailable(str(exc))
    yield started
    started.stop()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server of the test session's own, on 127.0.0.1."""
    yield from _started(PostgresServer, "psycopg", "postgres")


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """A new, empty database on the session's PostgreSQL server."""
    return postgres_server.create_database()


@pytest.fixture(scope="session")
def slapd_server() -> Iterator[SlapdServer]:
    """An OpenLDAP server of the test session's own, on 127.0.0.1."""
    yield from _started(SlapdServer, "ldap3", "ldap")


@pytest.fixture(scope="session")
def slapd_tls_server() -> Iterator[SlapdServer]:
    """One that speaks TLS too (StartTLS and ldaps://), with a throw-away CA."""
    yield from _started(lambda: SlapdServer(tls=True), "ldap3", "ldap")
