"""The examples in examples/ run as the README says, against servers they start themselves."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from grouperprov.testing import PostgresServer, SlapdServer

EXAMPLES = Path(__file__).parent.parent / "examples"


def _run(name: str) -> str:
    done = subprocess.run(  # noqa: S603  # our own example, this interpreter
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.usefixtures("slapd_server")  # slapd is here (else skipped, or failed in CI)
def test_groups_to_openldap_with_member_dns() -> None:
    out = _run("ldap_group_attributes.py")
    assert (
        "cn=calculus,ou=courses,ou=ldap,ou=apps,ou=groups,dc=example,dc=edu: uid=alan, uid=grace"
        in out
    )
    assert "cn=staff,ou=ldap,ou=apps,ou=groups,dc=example,dc=edu: uid=ada, uid=o'brien\\2C j" in out
    assert "wiki" not in out  # outside the provisioned folder
    assert out.rstrip().endswith("a full sync now plans 0 changes")


@pytest.mark.usefixtures("slapd_server")
def test_entitlements_on_people_in_openldap() -> None:
    out = _run("ldap_entitlements.py")
    assert "uid=alan,ou=people,dc=example,dc=edu: (none)" in out  # left readers
    # Grace came without the eduPerson class; her first entitlement brought it.
    assert "uid=grace,ou=people,dc=example,dc=edu: (none) (no eduPerson)" in out
    assert "uid=grace,ou=people,dc=example,dc=edu: editors (eduPerson)" in out
    assert out.rstrip().endswith("a full sync now plans 0 changes")


@pytest.mark.usefixtures("postgres_server")
def test_memberships_to_a_postgresql_table() -> None:
    out = _run("postgres_membership_table.py")
    assert (
        "app_memberships: [('apps:sql:admins', 'ada'), ('apps:sql:admins', 'grace'), "
        "('apps:sql:staff', 'ada')]"
    ) in out
    assert "events: 2 events, 2 applied as they are" in out
    assert out.rstrip().endswith("a full sync now plans 0 changes")


def test_the_examples_use_the_fixture_servers() -> None:
    # What the README promises: each example of a server starts the test
    # fixtures' one (the command's example keeps SQLite files instead).
    texts = {p.name: p.read_text() for p in EXAMPLES.glob("*.py")}
    assert texts.pop("cli_provisioner.py")
    assert set(texts) == {
        "ldap_group_attributes.py",
        "ldap_entitlements.py",
        "postgres_membership_table.py",
    }
    for name, text in texts.items():
        server = PostgresServer if name.startswith("postgres") else SlapdServer
        assert f"with {server.__name__}() as server:" in text, name


def test_the_command_runs_a_provisioner_of_ones_own_process_after_process(
    tmp_path: Path,
) -> None:
    # As under cron: each command a process of its own, the state in files.
    def grouperprov(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603  # the command of this checkout, this interpreter
            [sys.executable, "-m", "grouperprov.cli", *args, "--app-dir", str(EXAMPLES)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            cwd=tmp_path,
            env={**os.environ, "GROUPERPROV_EXAMPLE_DIR": str(tmp_path)},
        )

    app = "cli_provisioner:provisioner"
    planned = grouperprov("plan", app)
    assert planned.returncode == 0, planned.stderr
    assert planned.stdout.startswith("Plan for 'campus-sql': 96 changes, 0 errors\n")
    with sqlite3.connect(tmp_path / "campus.db") as db:  # the plan wrote nothing
        assert db.execute("SELECT count(*) FROM groups").fetchone() == (0,)
    db.close()
    first = grouperprov("sync", app)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("full sync of 'campus-sql': SUCCESS, 96 changes made")
    again = grouperprov("sync", app)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("full sync of 'campus-sql': SUCCESS, 0 changes made")
    group = grouperprov("sync", app, "--group", "school:staff:math")
    assert group.returncode == 0, group.stderr
    assert group.stdout.startswith("group sync of 'campus-sql': SUCCESS, 0 changes made")
    assert planned.stderr == first.stderr == ""  # no warning: the records are in a file
