"""grouperprov.testing.PostgresServer: finding the programs, and failing clearly."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from grouperprov.stores._postgres import _close_all
from grouperprov.testing import PostgresServer, ServerUnavailable, SlapdServer, _servers


@pytest.fixture
def fake_bindir() -> Iterator[Path]:
    """A folder the postgres user can read too (the server runs as it under root)."""
    folder = Path(tempfile.mkdtemp(prefix="grouperprov-fake-pg-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def _program(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH | 0o444)


def test_the_programs_are_found_on_the_path_first(
    fake_bindir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _program(fake_bindir, "initdb", "exit 0")
    _program(fake_bindir, "pg_ctl", "exit 0")
    monkeypatch.setenv("PATH", str(fake_bindir))
    assert _servers.find_postgres_bindir() == fake_bindir.resolve()


def test_then_debians_newest_version(fake_bindir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for version in ("9.6", "15", "13"):
        bindir = fake_bindir / version / "bin"
        bindir.mkdir(parents=True)
        _program(bindir, "initdb", "exit 0")
        _program(bindir, "pg_ctl", "exit 0")
    (fake_bindir / "16" / "bin").mkdir(parents=True)  # an incomplete one is passed over
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(_servers, "_DEBIAN_ROOT", fake_bindir)
    assert _servers.find_postgres_bindir() == fake_bindir / "15" / "bin"


def test_without_the_programs_the_error_says_how_to_install_them(
    fake_bindir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(_servers, "_DEBIAN_ROOT", fake_bindir)
    with pytest.raises(ServerUnavailable, match=r"apt-get install -y postgresql"):
        PostgresServer()


def test_a_failing_initdb_is_reported_and_cleaned_up(fake_bindir: Path) -> None:
    _program(fake_bindir, "initdb", "echo 'initdb: disk full' >&2; exit 1")
    server = PostgresServer(fake_bindir)
    with pytest.raises(ServerUnavailable, match="initdb failed: initdb: disk full"):
        server.start()
    assert server.folder is None


def test_a_server_that_will_not_start_is_reported_with_its_log(fake_bindir: Path) -> None:
    _program(fake_bindir, "initdb", 'mkdir -p "$2"')
    _program(fake_bindir, "pg_ctl", 'echo "FATAL: could not bind" > "$6"; exit 1')
    server = PostgresServer(fake_bindir)
    with pytest.raises(ServerUnavailable, match="would not start: FATAL: could not bind"):
        server.start()
    assert server.folder is None
    server.stop()  # nothing left to stop: fine


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as 'postgres'")
def test_as_root_without_a_postgres_user_the_error_says_so(
    fake_bindir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_such_user(name: str) -> object:
        raise KeyError(name)

    monkeypatch.setattr("grouperprov.testing._servers.pwd.getpwnam", no_such_user)
    with pytest.raises(ServerUnavailable, match="no 'postgres' user"):
        PostgresServer(fake_bindir).start()


def test_a_real_server_starts_serves_and_is_removed(postgres_server: PostgresServer) -> None:
    with PostgresServer(postgres_server.bindir) as server:
        folder = server.folder
        assert folder is not None
        with psycopg.connect(server.create_database()) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    assert not folder.exists()


def test_a_forked_child_leaves_its_parents_connections_open(postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn) as conn:
        _close_all([(os.getpid() + 1, conn)])  # opened by "another process"
        assert not conn.closed


# -- SlapdServer ---------------------------------------------------------------------


def test_slapd_missing_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    monkeypatch.setattr(_servers, "_sbin", lambda _name: None)
    with pytest.raises(ServerUnavailable, match=r"apt-get install -y slapd ldap-utils"):
        SlapdServer()


def test_missing_schemas_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(_servers, "_SCHEMAS", tmp_path)
    with pytest.raises(ServerUnavailable, match=r"\['core', 'cosine', 'inetorgperson', 'nis'\]"):
        SlapdServer()


def test_access_rules_are_one_line_each() -> None:
    """A rule with a line break would be more directives than the caller wrote."""
    with pytest.raises(ValueError, match="an access rule is one line"):
        SlapdServer(access=["to * by * read\naccess to * by * write"])
    with pytest.raises(TypeError, match="a sequence of rules, not one string"):
        SlapdServer(access="to * by * read")


def test_a_slapd_that_will_not_start_reports_its_log(
    fake_bindir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _program(fake_bindir, "slapadd", "exit 0")
    _program(fake_bindir, "slapd", "echo 'bad config line 7'; exit 1")
    monkeypatch.setenv("PATH", str(fake_bindir))
    server = SlapdServer()
    with pytest.raises(ServerUnavailable, match=r"slapd would not start: .*bad config line 7"):
        server.start()
    assert server.folder is None  # cleaned up


def test_a_failing_slapadd_is_reported(fake_bindir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _program(fake_bindir, "slapadd", "echo 'no database' >&2; exit 1")
    _program(fake_bindir, "slapd", "exit 1")
    monkeypatch.setenv("PATH", str(fake_bindir))
    with pytest.raises(ServerUnavailable, match="slapadd failed: no database"):
        SlapdServer().start()


def test_the_server_runs_as_a_context_manager_and_cleans_up(slapd_server: SlapdServer) -> None:
    # slapd_server: slapd is here (or the test is skipped, or in CI failed, with the reason).
    with SlapdServer() as server:
        assert server.port != slapd_server.port
        folder = server.folder
        assert folder is not None
        assert server.url.startswith("ldap://127.0.0.1:")
    assert not folder.exists()


def test_tls_needs_openssl_and_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "openssl" else real(name))
    with pytest.raises(ServerUnavailable, match=r"apt-get install -y openssl"):
        SlapdServer(tls=True)


@pytest.mark.usefixtures("slapd_server")  # slapd is here (or the test is skipped, or fails)
def test_a_failing_openssl_is_reported_and_cleaned_up(
    fake_bindir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _program(fake_bindir, "openssl", "echo 'no entropy' >&2; exit 1")
    monkeypatch.setenv("PATH", f"{fake_bindir}:{os.environ['PATH']}")
    server = SlapdServer(tls=True)
    with pytest.raises(ServerUnavailable, match="openssl could not make the test certificates"):
        server.start()
    assert server.folder is None


def test_tls_addresses_exist_only_on_a_tls_server(
    slapd_server: SlapdServer, slapd_tls_server: SlapdServer
) -> None:
    with pytest.raises(RuntimeError, match="without TLS"):
        _ = slapd_server.ldaps_url
    with pytest.raises(RuntimeError, match="no certificate authority"):
        _ = slapd_server.ca_file
    assert slapd_tls_server.ldaps_url.startswith("ldaps://127.0.0.1:")
    assert Path(slapd_tls_server.ca_file).read_text().startswith("-----BEGIN CERTIFICATE-----")


@pytest.mark.usefixtures("slapd_server")  # slapd is here (or the test is skipped, or fails)
def test_a_stopped_server_cannot_be_restarted() -> None:
    server = SlapdServer()
    with pytest.raises(RuntimeError, match="never started"):
        server.restart()
    server.start()
    server.halt()
    server.restart()  # down, then up again on the same port
    assert _servers._listening(server.port)
    server.stop()
    with pytest.raises(RuntimeError, match="or was stopped"):
        server.restart()


def test_a_postgres_server_never_started_cannot_be_restarted(
    postgres_server: PostgresServer,
) -> None:
    server = PostgresServer(postgres_server.bindir)
    with pytest.raises(RuntimeError, match="never started"):
        server.restart()
    server.halt()  # nothing to stop: nothing happens
