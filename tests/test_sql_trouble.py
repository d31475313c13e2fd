"""Which database errors fail a whole batch: about the database, not about its objects."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from grouperprov.exceptions import ConfigError, ConfigProblem, TargetUnavailable
from grouperprov.targets._sql_trouble import trouble


@pytest.mark.parametrize(
    ("sqlstate", "expected"),
    [
        ("55P03", "unavailable"),  # lock_timeout
        ("57014", "unavailable"),  # statement_timeout
        ("25006", "unavailable"),  # a read-only transaction (a standby)
        ("53100", "unavailable"),  # disk full
        ("08006", "unavailable"),  # connection failure
        ("42703", "setup"),  # undefined column
        ("42501", "setup"),  # permission denied
        ("3F000", "setup"),  # no such schema
        ("23505", None),  # a key already there: that row's
        ("22001", None),  # a value too long for its column
        ("54000", None),  # a value too long for its index (OperationalError in psycopg)
        ("P0001", None),  # a trigger's RAISE EXCEPTION
        ("40P01", None),  # a deadlock: tried again one by one
    ],
)
def test_postgres_errors_are_told_apart_by_sqlstate(sqlstate: str, expected: str | None) -> None:
    errors = pytest.importorskip("psycopg.errors", reason="pip install 'grouperprov[postgres]'")
    assert trouble(errors.lookup(sqlstate)("text")) == expected


def test_psycopg2_codes_and_other_drivers_classes_tell_too() -> None:
    class Psycopg2Error(Exception):
        pgcode = "55P03"

    class OperationalError(Exception):
        pass

    class ProgrammingError(Exception):
        pass

    class LockTimeoutError(OperationalError):
        pass

    assert trouble(Psycopg2Error()) == "unavailable"
    assert trouble(LockTimeoutError()) == "unavailable"  # by its DB-API base class
    assert trouble(ProgrammingError()) == "setup"
    assert trouble(ValueError("x")) is None
    # The target's own errors pass through its reads as they are.
    assert trouble(TargetUnavailable("down")) is None
    assert trouble(ConfigError([ConfigProblem("groups.table", "no table")])) is None


def test_sqlite_errors_are_told_apart_by_result_code(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    connection = sqlite3.connect(path, timeout=0)
    connection.execute("CREATE TABLE t (a TEXT PRIMARY KEY CHECK (a <> 'bad'))")
    connection.commit()

    def error(sql: str, *params: object) -> sqlite3.Error:
        with pytest.raises(sqlite3.Error) as caught:
            connection.execute(sql, params)
        connection.rollback()
        return caught.value

    assert trouble(error("SELECT * FROM nope")) == "setup"
    assert trouble(error("INSERT INTO t (b) VALUES (1)")) == "setup"
    assert trouble(error("INSERT INTO t VALUES ('bad')")) is None  # the row's own
    assert trouble(error("INSERT INTO t VALUES (?)", [1])) is None  # a type it cannot bind
    assert trouble(error("SELECT no_such_function(1)")) is None  # SQLITE_ERROR, not a name
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    assert trouble(error("SELECT * FROM t")) == "unavailable"  # database is locked
    other.execute("ROLLBACK")
    connection.set_authorizer(lambda *_: sqlite3.SQLITE_DENY)
    assert trouble(error("SELECT * FROM t")) == "setup"  # not authorized
    other.close()
    connection.close()
