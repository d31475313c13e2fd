from __future__ import annotations

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
    assert out.rstrip().endswith("SUCCESS, 0 changes made, 0 objects in error")
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
