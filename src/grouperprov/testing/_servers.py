"""Throw-away database servers for tests and benchmarks, on 127.0.0.1 in a temporary folder."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["PostgresServer", "ServerUnavailable", "SlapdServer"]

_DEBIAN_ROOT = Path("/usr/lib/postgresql")  # Debian's packages: /usr/lib/postgresql/<n>/bin
_INSTALL_HINT = "install them with `apt-get install -y postgresql` (Debian, Ubuntu)"
_SLAPD_HINT = "install it with `apt-get install -y slapd ldap-utils` (Debian, Ubuntu)"
_SCHEMAS = Path("/etc/ldap/schema")  # Debian's slapd package
_SLAPD_SCHEMAS = ("core", "cosine", "inetorgperson", "nis")


class ServerUnavailable(RuntimeError):  # noqa: N818  # reads as a condition, like TimeoutError's peers
    """A test server cannot be started here; the message says why and how to fix it."""


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path.parent.name)) or (0,)


def find_postgres_bindir() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: on ``PATH``, else Debian's newest."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    candidates = sorted(_DEBIAN_ROOT.glob("*/bin"), key=_version_key)
    for bindir in reversed(candidates):
        if (bindir / "pg_ctl").exists() and (bindir / "initdb").exists():
            return bindir
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class _ThrowAway:
    """A server that a ``with`` block starts and stops (its subclass has the two)."""

    def start(self) -> None:  # pragma: no cover  # every subclass has its own
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover  # every subclass has its own
        raise NotImplementedError

    def halt(self) -> None:  # pragma: no cover  # every subclass has its own
        raise NotImplementedError

    def _started_once(self) -> bool:  # pragma: no cover  # every subclass has its own
        raise NotImplementedError

    def _start_again(self) -> None:  # pragma: no cover  # every subclass has its own
        raise NotImplementedError

    def restart(self) -> None:
        """Stop the server if it runs, and start it again on the same ports with the same data.

        Every client connection is dropped, as when a server restarts, fails
        over, or a load balancer closes idle connections: a client has to
        connect again.

        Raises:
            RuntimeError: The server was never started, or was stopped.
            ServerUnavailable: It would not start again.
        """
        if not self._started_once():
            msg = "the server was never started, or was stopped"
            raise RuntimeError(msg)
        self.halt()
        self._start_again()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class PostgresServer(_ThrowAway):
    """A PostgreSQL server of its own: ``initdb`` in a temporary folder, ``pg_ctl`` start.

    It listens on 127.0.0.1 only, on a free port, with ``trust`` authentication
    for the ``postgres`` user, and is removed with its folder by :meth:`stop`.
    PostgreSQL refuses to run as root: as root, the server runs as the
    ``postgres`` system user (Debian's package creates it).

    Use it as a context manager, or call :meth:`start` and :meth:`stop`::

        with PostgresServer() as server:
            dsn = server.create_database()

    Args:
        bindir: The folder of ``initdb`` and ``pg_ctl`` (default: found on
            ``PATH`` or under ``/usr/lib/postgresql``).
        durable: Keep ``fsync`` on. Off by default: tests need no crash safety
            of the server itself, and run faster without it.

    Raises:
        ServerUnavailable: The binaries are missing, or the server would not start.
    """

    def __init__(self, bindir: Path | None = None, *, durable: bool = False) -> None:
        found = bindir or find_postgres_bindir()
        if found is None:
            msg = f"PostgreSQL server binaries (initdb, pg_ctl) not found; {_INSTALL_HINT}"
            raise ServerUnavailable(msg)
        self.bindir = found
        self.durable = durable
        self.port = 0
        self.folder: Path | None = None
        self._databases = 0

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(  # noqa: S603  # our own fixed command line
            command, capture_output=True, text=True, check=False, timeout=120
        )

    def start(self) -> None:
        """Create the cluster and start the server (waits until it accepts connections)."""
        self.folder = Path(tempfile.mkdtemp(prefix="grouperprov-pg-"))
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                self.stop()
                msg = (
                    "running as root, and there is no 'postgres' user to run the server; "
                    + _INSTALL_HINT
                )
                raise ServerUnavailable(msg) from None
            os.chown(self.folder, user.pw_uid, user.pw_gid)
        data = self.folder / "data"
        done = self._run(
            "initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"
        )
        if done.returncode != 0:
            self.stop()
            msg = f"initdb failed: {done.stderr.strip() or done.stdout.strip()}"
            raise ServerUnavailable(msg)
        for _ in range(5):  # the port may be taken between finding it and binding it
            self.port = _free_port()
            done = self._pg_ctl_start()
            if done.returncode == 0:
                return
        log = self.folder / "server.log"
        detail = log.read_text()[-2000:] if log.exists() else done.stderr
        self.stop()
        msg = f"PostgreSQL would not start: {detail.strip()}"
        raise ServerUnavailable(msg)

    def _pg_ctl_start(self) -> subprocess.CompletedProcess[str]:
        assert self.folder is not None  # noqa: S101  # started
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder}" + (
            "" if self.durable else " -c fsync=off -c synchronous_commit=off"
        )
        return self._run(
            "pg_ctl", "-D", str(self.folder / "data"), "-o", options,
            "-l", str(self.folder / "server.log"), "-w", "-t", "60", "start",
        )  # fmt: skip

    def halt(self) -> None:
        """Stop the server and keep its data: it is down until :meth:`restart`.

        A fast shutdown: clients are disconnected, and what was committed is
        kept (an immediate one would lose the last asynchronous commits).
        """
        if self.folder is not None and (self.folder / "data" / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop")

    def _started_once(self) -> bool:
        return self.folder is not None and bool(self.port)

    def _start_again(self) -> None:
        done = self._pg_ctl_start()
        if done.returncode != 0:
            msg = f"PostgreSQL would not start again: {(done.stderr or done.stdout).strip()}"
            raise ServerUnavailable(msg)

    def stop(self) -> None:
        """Stop the server at once and remove its folder."""
        if self.folder is None:
            return
        data = self.folder / "data"
        if (data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq connection string for database *dbname* as the ``postgres`` user."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"

    def create_database(self) -> str:
        """Create a new, empty database and return its connection string."""
        import psycopg  # noqa: PLC0415  # optional: only who creates databases needs it

        self._databases += 1
        name = f"test_{os.getpid()}_{self._databases}"
        with contextlib.closing(psycopg.connect(self.dsn(), autocommit=True)) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)


class SlapdServer(_ThrowAway):
    """An OpenLDAP server of its own: ``slapd`` on 127.0.0.1 with a throw-away database.

    Its configuration (a ``slapd.conf``) loads the core, cosine, inetorgperson
    and nis schemas of the system and two small schemas shipped with
    grouperprov: eduPerson (``eduPersonEntitlement``, ``isMemberOf``) and
    Active Directory's binary identifiers (``objectGUID``, ``objectSid``,
    on entries of the ``extensibleObject`` class); and one ``mdb``
    database for ``suffix`` (``dc=example,dc=edu``), whose administrator is
    ``bind_dn`` with ``password`` (class attributes). The base entry and the
    ``ou=groups`` and ``ou=people`` branches are there from the start.
    :meth:`stop` stops it and removes its folder.

    With ``tls=True`` it makes a throw-away certificate authority and a
    server certificate for 127.0.0.1 (with the ``openssl`` program), speaks
    StartTLS on :attr:`url` and listens on :attr:`ldaps_url` too; clients
    check the server against :attr:`ca_file`.

    With *access*, the database has those access rules, in order, instead
    of slapd's default (everyone reads): a bind that is not the
    administrator may then be refused what a real directory's ACLs refuse.
    Each is one ``access`` directive without its keyword, such as
    ``'to attrs=member by dn.exact="cn=svc,dc=example,dc=edu" =rscxa by * read'``
    (``a``: may add values, not delete them); see ``slapd.access(5)``.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.

    Args:
        tls: Serve TLS too (StartTLS and ``ldaps://``).
        access: The database's access rules.

    Raises:
        ServerUnavailable: ``slapd`` or ``slapadd`` is missing (or, with TLS,
            ``openssl``), or the server would not start.
        ValueError: An access rule spans lines (it would be more directives).
    """

    suffix = "dc=example,dc=edu"
    bind_dn = "cn=admin,dc=example,dc=edu"
    password = "test-only-secret"  # noqa: S105  # a throw-away server on loopback

    def __init__(self, *, tls: bool = False, access: Sequence[str] = ()) -> None:
        if isinstance(access, str):
            msg = "access is a sequence of rules, not one string"
            raise TypeError(msg)
        for rule in access:
            if "\n" in rule or "\r" in rule:
                msg = f"an access rule is one line: {rule!r}"
                raise ValueError(msg)
        self.access = tuple(access)
        self.tls = tls
        self.openssl = shutil.which("openssl")
        if tls and self.openssl is None:
            msg = (
                "the openssl program is not installed (it makes the test certificates);"
                " install it with `apt-get install -y openssl` (Debian, Ubuntu)"
            )
            raise ServerUnavailable(msg)
        self.slapd = shutil.which("slapd") or _sbin("slapd")
        self.slapadd = shutil.which("slapadd") or _sbin("slapadd")
        if self.slapd is None or self.slapadd is None:
            msg = f"the OpenLDAP server (slapd, slapadd) is not installed; {_SLAPD_HINT}"
            raise ServerUnavailable(msg)
        missing = [n for n in _SLAPD_SCHEMAS if not (_SCHEMAS / f"{n}.schema").exists()]
        if missing:
            msg = f"the schemas {missing} are not in {_SCHEMAS}; {_SLAPD_HINT}"
            raise ServerUnavailable(msg)
        self.port = 0
        self.tls_port = 0
        self._urls = ""
        self.folder: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's ``ldap://`` URL."""
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        """The server's ``ldaps://`` URL (``tls=True``)."""
        if not self.tls:
            msg = "this server was started without TLS (SlapdServer(tls=True))"
            raise RuntimeError(msg)
        return f"ldaps://127.0.0.1:{self.tls_port}"

    @property
    def ca_file(self) -> str:
        """The PEM file of the certificate authority that signed the server's certificate."""
        if not self.tls or self.folder is None:
            msg = "this server has no certificate authority (SlapdServer(tls=True), started)"
            raise RuntimeError(msg)
        return str(self.folder / "ca.pem")

    def _certificates(self, folder: Path) -> list[str]:
        """Make a CA and a server certificate for 127.0.0.1; slapd's TLS directives."""
        assert self.openssl is not None  # noqa: S101  # checked in __init__
        key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        (folder / "server.ext").write_text(
            "subjectAltName = IP:127.0.0.1, DNS:localhost\n"
            "basicConstraints = critical, CA:FALSE\n"
            "keyUsage = critical, digitalSignature\n"
            "extendedKeyUsage = serverAuth\n"
        )
        ca = ["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"]
        ca += ["-subj", "/CN=grouperprov throw-away test CA"]
        request = ["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]
        sign = ["-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"]
        sign += ["-out", "server.pem", "-days", "2", "-extfile", "server.ext"]
        commands = [
            [self.openssl, "req", "-x509", *key, *ca],
            [self.openssl, "req", *key, *request],
            [self.openssl, "x509", "-req", *sign],
        ]
        for command in commands:
            done = subprocess.run(  # noqa: S603  # our own fixed command lines
                command, cwd=folder, capture_output=True, text=True, check=False, timeout=60
            )
            if done.returncode != 0:
                msg = f"openssl could not make the test certificates: {done.stderr.strip()}"
                raise ServerUnavailable(msg)
        return [
            f"TLSCACertificateFile {folder / 'ca.pem'}",
            f"TLSCertificateFile {folder / 'server.pem'}",
            f"TLSCertificateKeyFile {folder / 'server.key'}",
        ]

    def _config(self, folder: Path) -> Path:
        schemas = [str(_SCHEMAS / f"{n}.schema") for n in _SLAPD_SCHEMAS]
        own = Path(__file__).with_name("schema")
        schemas += [str(own / "eduperson.schema"), str(own / "activedirectory.schema")]
        lines = [f"include {path}" for path in schemas]
        if self.tls:
            lines += self._certificates(folder)
        lines += [
            f"pidfile {folder / 'slapd.pid'}",
            f"argsfile {folder / 'slapd.args'}",
            "modulepath /usr/lib/ldap",
            "moduleload back_mdb",
            "database mdb",
            "maxsize 1073741824",
            f'suffix "{self.suffix}"',
            f'rootdn "{self.bind_dn}"',
            f"rootpw {self.password}",
            f"directory {folder / 'data'}",
            "index objectClass eq",
            "index cn,uid,member,uniqueMember,memberUid,isMemberOf,eduPersonEntitlement eq",
            *(f"access {rule}" for rule in self.access),
        ]
        config = folder / "slapd.conf"
        config.write_text("\n".join(lines) + "\n")
        return config

    def start(self) -> None:
        """Create the database with its base entries and start the server."""
        self.folder = Path(tempfile.mkdtemp(prefix="grouperprov-slapd-"))
        (self.folder / "data").mkdir()
        try:
            config = self._config(self.folder)
        except ServerUnavailable:
            self.stop()
            raise
        base = self.folder / "base.ldif"
        base.write_text(
            f"dn: {self.suffix}\nobjectClass: dcObject\nobjectClass: organization\n"
            "dc: example\no: Example University\n\n"
            f"dn: ou=groups,{self.suffix}\nobjectClass: organizationalUnit\nou: groups\n\n"
            f"dn: ou=people,{self.suffix}\nobjectClass: organizationalUnit\nou: people\n"
        )
        assert self.slapadd is not None  # noqa: S101  # checked in __init__
        done = subprocess.run(  # noqa: S603  # our own fixed command line
            [self.slapadd, "-f", str(config), "-l", str(base)],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if done.returncode != 0:
            self.stop()
            msg = f"slapadd failed: {done.stderr.strip()}"
            raise ServerUnavailable(msg)
        for _ in range(5):  # the port may be taken between finding it and binding it
            self.port = _free_port()
            urls = self.url + "/"
            if self.tls:
                self.tls_port = _free_port()
                urls += " " + self.ldaps_url + "/"
            if self._launch(config, urls):
                self._urls = urls
                return
        detail = (self.folder / "slapd.log").read_text(errors="replace")[-2000:]
        self.stop()
        msg = f"slapd would not start: {detail.strip()}"
        raise ServerUnavailable(msg)

    def _launch(self, config: Path, urls: str) -> bool:
        """Start slapd listening on *urls*; whether it listens (else it is stopped)."""
        assert self.folder is not None  # noqa: S101  # started
        assert self.slapd is not None  # noqa: S101  # checked in __init__
        with (self.folder / "slapd.log").open("ab") as log:  # the child keeps its copy
            self._process = subprocess.Popen(  # noqa: S603  # our own fixed command line
                [self.slapd, "-f", str(config), "-h", urls, "-d", "0"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if self._wait():
            return True
        self._process.kill()
        self._process.wait()
        return False

    def halt(self) -> None:
        """Stop slapd and keep its data: the directory is down until :meth:`restart`."""
        self._terminate()

    def _started_once(self) -> bool:
        return self.folder is not None and bool(self._urls)

    def _start_again(self) -> None:
        assert self.folder is not None  # noqa: S101  # _started_once
        if not self._launch(self.folder / "slapd.conf", self._urls):
            detail = (self.folder / "slapd.log").read_text(errors="replace")[-2000:]
            msg = f"slapd would not start again: {detail.strip()}"
            raise ServerUnavailable(msg)

    def _terminate(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def _wait(self) -> bool:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                return False
            ports = [self.port, self.tls_port] if self.tls else [self.port]
            if all(_listening(port) for port in ports):
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        self._terminate()
        self._urls = ""
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def _listening(port: int) -> bool:
    with (
        contextlib.suppress(OSError),
        socket.create_connection(("127.0.0.1", port), timeout=0.5),
    ):
        return True
    return False


def _sbin(name: str) -> str | None:
    path = Path("/usr/sbin") / name
    return str(path) if path.exists() else None
