from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from grouperprov import SyncStatus, SyncType, WriteOutcome
from grouperprov.cli import (
    EXIT_INTERRUPTED,
    EXIT_TEMPFAIL,
    EXIT_TERMINATED,
    exit_status,
    main,
)


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
    # A misspelt provisioner read as one with "no runs yet".
    with pytest.raises(SystemExit) as caught:
        main(["status", "--store", str(store), "--provisioner", "campus-ldap"])
    assert caught.value.code == 2
    assert "has no provisioner 'campus-ldap' (it has 'campus-sql')" in capsys.readouterr().err


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


# -- plan, sync and approve: the caller's provisioner, named as module:attribute

_APP = """
from datetime import timedelta

from grouperprov import Provisioner, ProvisionerConfig
from grouperprov.cli import DEMO_CONFIG, demo_campus
from grouperprov.exceptions import ConfigError, TargetUnavailable
from grouperprov.stores import SqliteSyncStore
from grouperprov.testing import InMemoryTarget

source = demo_campus()
target = InMemoryTarget()
store = SqliteSyncStore({state!r})


def make():
    config = ProvisionerConfig.from_toml(DEMO_CONFIG)
    return Provisioner(config, source, target, store, lease_wait=timedelta(0))


provisioner = make()
holder = {{"provisioner": provisioner}}


def unreachable():
    raise TargetUnavailable("ldap://ldap.example.edu: connection refused")


def misconfigured():
    raise ConfigError("groups.matching: no attribute 'cn'")


def not_a_provisioner():
    return target
"""


@pytest.fixture
def app(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, Any]]:
    """A module of the caller's that builds a provisioner, and its name; cleaned up after."""
    name = f"campus_app_{request.node.name.split('[')[0]}"
    (tmp_path / f"{name}.py").write_text(_APP.format(state=str(tmp_path / "state.db")))
    root, ours = logging.getLogger(), logging.getLogger("grouperprov")
    handlers, level, our_level = list(root.handlers), root.level, ours.level
    saved_path = list(sys.path)
    yield name, lambda: sys.modules[name]
    sys.modules.pop(name, None)
    sys.path[:] = saved_path
    root.handlers[:], root.level = handlers, level
    ours.setLevel(our_level)


def _cli(tmp_path: Path, *args: str) -> int:
    return main([*args, "--app-dir", str(tmp_path)])


def test_plan_shows_what_a_sync_would_do_and_writes_nothing(
    tmp_path: Path, app: tuple[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    name, module = app
    assert _cli(tmp_path, "plan", f"{name}:provisioner", "--changes", "2") == 0
    out = capsys.readouterr().out
    assert out.startswith("Plan for 'campus-sql': 96 changes, 0 errors\n")
    assert "  insert group 'school:courses:math:math101' [grp-00001]\n" in out
    assert "  ... and 94 more\n" in out
    assert out.endswith("a full sync would end SUCCESS\n")
    assert module().target.retrieve_all_groups() == []
    assert module().store.logs("campus-sql") == []
    assert _cli(tmp_path, "plan", f"{name}:make", "--group", "school:staff:math") == 0
    out = capsys.readouterr().out
    assert out.startswith("Plan for 'campus-sql': 5 changes, 0 errors\n")
    assert out.endswith("a group sync would end SUCCESS\n")


def test_sync_runs_a_full_sync_then_a_group_sync(
    tmp_path: Path, app: tuple[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    name, module = app
    assert _cli(tmp_path, "sync", f"{name}:provisioner") == 0
    assert capsys.readouterr().out.startswith(
        "full sync of 'campus-sql': SUCCESS, 96 changes made, 0 objects in error\n"
    )
    assert len(module().target.retrieve_all_groups()) == 12
    module().source.add_member("school:courses:math:math101", "flo35")
    module().source.add_member("school:courses:math:math201", "flo35")
    assert _cli(tmp_path, "sync", f"{name}:make", "--group", "school:courses:math:math101") == 0
    assert capsys.readouterr().out.startswith(
        "group sync of 'campus-sql': SUCCESS, 1 change made, 0 objects in error\n"
        "  insert membership: 1\n"
    )
    assert _cli(tmp_path, "sync", f"{name}:make", "--folder", "school:courses:math") == 0
    assert "SUCCESS, 1 change made" in capsys.readouterr().out


def test_a_tripped_failsafe_fails_the_command_until_approved(
    tmp_path: Path, app: tuple[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    name, module = app
    spec = f"{name}:provisioner"
    assert _cli(tmp_path, "approve", spec, "--by", "alice") == 1
    assert (
        "grouperprov: the failsafe of 'campus-sql' has not tripped; nothing to approve"
        in capsys.readouterr().err
    )
    assert _cli(tmp_path, "approve", spec, "--by", " ") == 2
    assert "approve_failsafe needs who approves, not ' '" in capsys.readouterr().err
    assert _cli(tmp_path, "sync", spec) == 0
    source = module().source
    math101 = source.snapshot().groups[0]
    assert math101.get("name") == "school:courses:math:math101"
    for membership in source.retrieve_memberships([math101.id])[0:6]:
        source.remove_member("school:courses:math:math101", membership.entity_id[len("mem-") :])
    capsys.readouterr()
    assert _cli(tmp_path, "plan", spec) == 1
    out = capsys.readouterr().out
    assert "failsafe: group 'school:courses:math:math101'" in out
    assert "a full sync would end ERROR_FAILSAFE" in out
    assert _cli(tmp_path, "sync", spec) == 1
    assert "ERROR_FAILSAFE" in capsys.readouterr().out
    assert _cli(tmp_path, "approve", spec, "--by", "alice") == 0
    assert "the next run of 'campus-sql' may go ahead despite the failsafe (" in (
        capsys.readouterr().out
    )
    assert _cli(tmp_path, "sync", spec) == 0
    assert "SUCCESS, 6 changes made" in capsys.readouterr().out


def test_a_run_to_try_again_later_exits_75(
    tmp_path: Path, app: tuple[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    name, module = app
    assert _cli(tmp_path, "plan", f"{name}:provisioner") == 0  # imports the module
    held = module().store.acquire_lease(
        "campus-sql", SyncType.FULL, "another-host", now=datetime.now(UTC), ttl=timedelta(hours=1)
    )
    assert held is not None
    assert _cli(tmp_path, "sync", f"{name}:provisioner") == EXIT_TEMPFAIL
    assert "BUSY" in capsys.readouterr().out
    assert _cli(tmp_path, "sync", f"{name}:unreachable") == EXIT_TEMPFAIL
    assert (
        "grouperprov: the target is unavailable: ldap://ldap.example.edu: connection refused"
        in capsys.readouterr().err
    )
    assert _cli(tmp_path, "plan", f"{name}:misconfigured") == 1
    assert capsys.readouterr().err == (
        "grouperprov: invalid provisioner configuration (1 problem):\n"
        "  groups.matching: no attribute 'cn'\n"
    )


@pytest.mark.parametrize(
    ("suffix", "message"),
    [
        ("", "name the provisioner as module:attribute, as in campus_ldap:provisioner"),
        (":", "name the provisioner as module:attribute"),
        (":nothing", "has no attribute 'nothing'"),
        (":holder.provisioner", "has no attribute 'holder.provisioner'"),
        (":source", "InMemorySource is not a Provisioner nor a function that returns one"),
        (":not_a_provisioner", "returned InMemoryTarget, not a Provisioner"),
    ],
)
def test_an_app_that_is_not_a_provisioner_is_a_usage_error(
    tmp_path: Path,
    app: tuple[str, Any],
    suffix: str,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name, _ = app
    with pytest.raises(SystemExit) as caught:
        _cli(tmp_path, "sync", f"{name}{suffix}")
    assert caught.value.code == 2
    assert message in capsys.readouterr().err


def test_a_missing_module_is_a_usage_error_but_a_missing_import_inside_it_is_shown(
    tmp_path: Path, app: tuple[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    name, _ = app
    with pytest.raises(SystemExit) as caught:
        _cli(tmp_path, "plan", f"{name}_gone:provisioner")
    assert caught.value.code == 2
    assert (
        f"there is no module '{name}_gone' (looked in {tmp_path.resolve()} and the Python path)"
        in capsys.readouterr().err
    )
    with pytest.raises(SystemExit):
        _cli(tmp_path, "plan", f"{name}.sub:provisioner")  # a module is not a package
    assert f"there is no module '{name}.sub'" in capsys.readouterr().err
    broken = f"{name}_broken"
    (tmp_path / f"{broken}.py").write_text("import grouperprov_no_such_package\n")
    try:
        with pytest.raises(ModuleNotFoundError, match="grouperprov_no_such_package"):
            _cli(tmp_path, "plan", f"{broken}:provisioner")
    finally:
        sys.modules.pop(broken, None)


def test_usage_errors_of_plan_and_sync(
    tmp_path: Path, app: tuple[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    name, _ = app
    with pytest.raises(SystemExit) as caught:
        _cli(tmp_path, "sync", f"{name}:provisioner", "--asynchronous", "--group", "g")
    assert caught.value.code == 2
    assert "--asynchronous is for a full sync" in capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:
        _cli(tmp_path, "sync", f"{name}:provisioner", "--group", "school:nothing")
    assert caught.value.code == 2
    assert "no group 'school:nothing' in Grouper" in capsys.readouterr().err


def test_an_asynchronous_sync_asks_for_recalculation(
    tmp_path: Path, app: tuple[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    name, module = app
    assert _cli(tmp_path, "sync", f"{name}:provisioner", "--asynchronous") == 0
    assert "asynchronous: recalculation requested" in capsys.readouterr().out
    assert module().target.retrieve_all_groups() == []
    assert len(module().store.controls("campus-sql")) == 1


def test_verbose_logs_each_run(
    tmp_path: Path, app: tuple[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    name, _ = app
    assert _cli(tmp_path, "sync", f"{name}:provisioner", "-v") == 0
    assert logging.getLogger("grouperprov").level == logging.INFO
    (line,) = [r.getMessage() for r in caplog.records if r.name == "grouperprov.provisioner"]
    assert line.startswith("campus-sql: full sync SUCCESS: 96 changes, 0 objects in error (read ")
    assert line.endswith(" s)")


@pytest.mark.parametrize("status", list(SyncStatus))
def test_exit_status_of_each_run_status(status: SyncStatus) -> None:
    expected = {
        SyncStatus.SUCCESS: 0,
        SyncStatus.WARNING: 0,
        SyncStatus.BUSY: 75,
        SyncStatus.TARGET_UNAVAILABLE: 75,
    }.get(status, 1)
    assert exit_status(status) == expected


def test_plan_lists_a_hundred_changes_unless_told(
    tmp_path: Path, app: tuple[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # A campus's first plan has millions of changes: all of them was the default.
    name, module = app
    assert _cli(tmp_path, "plan", f"{name}:provisioner") == 0  # imports the module
    source = module().source
    for i in range(30):
        source.add_subject(f"extra{i:02d}")
        source.add_member("school:courses:math:math101", f"extra{i:02d}")
    capsys.readouterr()
    assert _cli(tmp_path, "plan", f"{name}:provisioner") == 0
    out = capsys.readouterr().out
    assert out.startswith("Plan for 'campus-sql': 126 changes, 0 errors\n")
    assert "  ... and 26 more\n" in out
    assert _cli(tmp_path, "plan", f"{name}:provisioner", "--changes", "all") == 0
    assert "more" not in capsys.readouterr().out
    for wrong in ("-1", "some"):
        with pytest.raises(SystemExit) as caught:
            _cli(tmp_path, "plan", f"{name}:provisioner", "--changes", wrong)
        assert caught.value.code == 2
        assert f"expected a number of changes or 'all', not '{wrong}'" in capsys.readouterr().err


def _interrupt() -> None:
    raise KeyboardInterrupt


def _terminate() -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)  # the handler raises before this ends
    raise AssertionError


@pytest.mark.parametrize(
    "case",
    [(_interrupt, EXIT_INTERRUPTED, "interrupted"), (_terminate, EXIT_TERMINATED, "terminated")],
    ids=["ctrl-c", "sigterm"],
)
def test_a_stopped_run_exits_as_shells_report_it_and_gives_its_lease_back(
    tmp_path: Path,
    app: tuple[str, Any],
    capsys: pytest.CaptureFixture[str],
    case: tuple[Callable[[], None], int, str],
) -> None:
    # Ctrl-C ended in a traceback; SIGTERM (systemd stopping a unit) left the
    # lease to lapse.
    stop, status, said = case
    name, module = app
    assert _cli(tmp_path, "plan", f"{name}:provisioner") == 0  # imports the module

    def stopped(*_: object) -> list[WriteOutcome]:
        stop()
        return []

    module().target.insert_groups = stopped
    before = signal.getsignal(signal.SIGTERM)
    assert _cli(tmp_path, "sync", f"{name}:provisioner") == status
    assert capsys.readouterr().err.endswith(f"grouperprov: {said}\n")
    assert module().store.current_lease("campus-sql") is None
    assert signal.getsignal(signal.SIGTERM) is before  # put back


def test_a_provisioner_that_keeps_its_records_in_memory_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each command is a process of its own: records kept in memory are gone at
    # its end, so nothing was ever known to be inserted by grouperprov.
    (tmp_path / "forgetful_app.py").write_text(
        "from grouperprov import Provisioner, ProvisionerConfig\n"
        "from grouperprov.cli import DEMO_CONFIG, demo_campus\n"
        "from grouperprov.testing import InMemoryTarget\n"
        "provisioner = Provisioner(\n"
        "    ProvisionerConfig.from_toml(DEMO_CONFIG), demo_campus(), InMemoryTarget()\n"
        ")\n"
    )
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "forgetful_app", raising=False)
    try:
        assert _cli(tmp_path, "plan", "forgetful_app:provisioner") == 0
    finally:
        sys.modules.pop("forgetful_app", None)
    assert capsys.readouterr().err.startswith(
        "grouperprov: warning: the provisioner keeps its sync records in memory"
    )
