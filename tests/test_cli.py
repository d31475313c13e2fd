from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from grouperprov.cli import main


def test_demo_provisions_changes_and_converges(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "demo.db"
    assert main(["demo", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "full sync of 'campus-sql': SUCCESS, 96 changes made, 0 objects in error" in out
    assert "  delete group 'school:staff:physics' [8]" in out
    assert "insert membership 'school:courses:math:math101 / flo35'" in out
    assert "school:staff:history: no longer provisionable, not in target" in out
    assert "5. A third run changes nothing ==\nfull sync of 'campus-sql': SUCCESS, 0 changes" in out
    assert "6. grouperprov status --store" in out
    assert "  last full run: SUCCESS at" in out
    with sqlite3.connect(db) as conn:
        names = {row[0] for row in conn.execute("SELECT name FROM groups")}
        (members,) = conn.execute("SELECT count(*) FROM memberships").fetchone()
    assert "apps:wiki:editors" not in names
    assert "school:courses:archive:math099" not in names
    assert "school:staff:math" in names
    assert "school:staff:physics" not in names
    assert f"{members} membership records in target" in out


def test_demo_refuses_an_existing_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "demo.db"
    db.write_text("")
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--db", str(db)])
    assert exit_info.value.code == 2
    assert "exists; the demo starts from an empty database" in capsys.readouterr().err


def test_demo_uses_a_temporary_database_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    assert "grouperprov-demo-" in capsys.readouterr().out


def test_status_and_explain_read_the_demo_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "demo.db"
    assert main(["demo", "--db", str(db)]) == 0
    capsys.readouterr()
    store = tmp_path / "demo-state.db"
    assert main(["status", "--store", str(store)]) == 0
    status = capsys.readouterr().out
    assert status.startswith("provisioner 'campus-sql'\n")
    assert "  last full run: SUCCESS at" in status
    assert "  group records: " in status
    with sqlite3.connect(db) as conn:
        (row,) = conn.execute(
            "SELECT rowid FROM groups WHERE name = 'school:courses:math:math101'"
        ).fetchone()
    with sqlite3.connect(store) as conn:
        (group_id,) = conn.execute(
            "SELECT group_id FROM gp_sync_group WHERE target_id = ?", (json.dumps(str(row)),)
        ).fetchone()
    assert main(["explain", "--store", str(store), "--group", group_id]) == 0
    explained = capsys.readouterr().out
    assert f"group {group_id!r} (campus-sql):" in explained
    assert "  provisionable: yes, since " in explained
    assert "  origin: inserted by grouperprov" in explained
    assert "  memberships: 9 recorded, 9 in the target" in explained
    assert main(["explain", "--store", str(store), "--group", str(row)]) == 0  # by target id
    assert f"group {group_id!r} (campus-sql):" in capsys.readouterr().out
    assert main(["explain", "--store", str(store), "--subject", "nobody"]) == 0
    assert "no entity record of 'campus-sql' has the id" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["status", "--store", str(tmp_path / "missing.db")])
    assert "no such sync store" in capsys.readouterr().err


def test_status_refuses_a_file_that_is_not_a_sync_store_and_leaves_it_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by pointing the command at the wrong files: a file that was not a
    # database ended in a traceback, and another application's database was
    # given the store's tables by a command that only reads.
    garbage = tmp_path / "notes.db"
    garbage.write_text("not a database")
    with pytest.raises(SystemExit) as caught:
        main(["status", "--store", str(garbage)])
    assert caught.value.code == 2
    assert f"{garbage}: cannot be opened as a SQLite sync store" in capsys.readouterr().err
    app = tmp_path / "app.db"
    with sqlite3.connect(app) as connection:
        connection.execute("CREATE TABLE accounts (id TEXT)")
    connection.close()
    with pytest.raises(SystemExit):
        main(["explain", "--store", str(app), "--group", "x"])
    assert "a SQLite database, but not a grouperprov sync store" in capsys.readouterr().err
    with sqlite3.connect(app) as connection:
        tables = connection.execute("SELECT name FROM sqlite_master").fetchall()
    connection.close()
    assert tables == [("accounts",)]
    # An empty file (a store not made yet, a path touched by mistake) stays empty.
    empty = tmp_path / "state.db"
    empty.touch()
    with pytest.raises(SystemExit):
        main(["status", "--store", str(empty)])
    assert "an empty database, not a sync store yet" in capsys.readouterr().err
    assert empty.stat().st_size == 0
