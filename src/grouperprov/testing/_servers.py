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
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["PostgresServer", "ServerUnavailable"]

_DEBIAN_ROOT = Path("/usr/lib/postgresql")  # Debian's packages: /usr/lib/postgresql/<n>/bin
_INSTALL_HINT = "install them with `apt-get install -y postgresql` (Debian, Ubuntu)"


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


class PostgresServer:
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
            options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder}" + (
                "" if self.durable else " -c fsync=off -c synchronous_commit=off"
            )
            done = self._run(
                "pg_ctl", "-D", str(data), "-o", options, "-l", str(self.folder / "server.log"),
                "-w", "-t", "60", "start",
            )  # fmt: skip
            if done.returncode == 0:
                return
        log = self.folder / "server.log"
        detail = log.read_text()[-2000:] if log.exists() else done.stderr
        self.stop()
        msg = f"PostgreSQL would not start: {detail.strip()}"
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
