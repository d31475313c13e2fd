"""The documentation tells the truth: examples run, the reference is complete."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import attrs
import pytest

from grouperprov import (
    AttributeConfig,
    FailsafeConfig,
    MembershipsConfig,
    ObjectConfig,
    ProvisionableConfig,
    ProvisionerConfig,
    SubjectLinkConfig,
)
from grouperprov.targets import AttributeTable, MembershipTable, ObjectTable
from grouperprov.targets.ldap import LdapEntities, LdapGroups

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
_BLOCK = re.compile(r"^```(python|text)\n(.*?)^```", re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize(
    "page",
    [
        "docs/getting-started.md",
        "docs/provisioner.md",
        "docs/engine.md",
        "docs/targets.md",
        "docs/migrating.md",
        "README.md",
    ],
)
def test_examples_run_and_print_what_the_page_shows(page: str) -> None:
    blocks = _BLOCK.findall((ROOT / page).read_text(encoding="utf-8"))
    assert blocks, page
    namespace: dict[str, object] = {}
    printed = ""
    for kind, body in blocks:
        if kind == "python":
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(body, f"{page} example", "exec"), namespace)  # noqa: S102
            printed = out.getvalue()
        else:
            assert printed == body, f"{page}: output differs"
            printed = ""


@pytest.mark.parametrize(
    ("cls", "section"),
    [
        (ProvisionerConfig, "## Top level"),
        (ObjectConfig, "## `[groups]` and `[entities]`"),
        (MembershipsConfig, "## `[memberships]`"),
        (AttributeConfig, "## Attributes"),
        (ProvisionableConfig, "## `[provisionable]`"),
        (FailsafeConfig, "## `[failsafe]`"),
        (SubjectLinkConfig, "## `[subject_link]`"),
    ],
)
def test_configuration_reference_documents_every_setting(cls: type, section: str) -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert section in text
    body = text.split(section, 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", body, re.MULTILINE))
    assert documented == {f.name for f in attrs.fields(cls)}


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = readme.split("<!-- test-command -->\n```console\n", 1)[1].split("\n", 1)[0]
    assert command.startswith("python3.11 -m venv .venv")
    assert "nox -s tests" in command
    assert "<!-- test-command -->" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_ci_runs_the_readme_demo_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = readme.split("<!-- demo-command -->\n```console\n", 1)[1].split("\n", 1)[0]
    assert command.endswith("grouperprov demo")
    assert "<!-- demo-command -->" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("cls", "heading"),
    [
        (ObjectTable, "Groups and entities (`ObjectTable`)"),
        (AttributeTable, "The attribute table (`AttributeTable`)"),
        (MembershipTable, "Membership objects (`MembershipTable`)"),
    ],
)
def test_the_sql_layout_reference_documents_every_setting(cls: type, heading: str) -> None:
    text = (DOCS / "targets.md").read_text(encoding="utf-8")
    table = text.split(heading, 1)[1].split("\n\n", 2)[1]
    documented = set(re.findall(r"^\| `(\w+)` \|", table, re.MULTILINE))
    assert documented == {f.name for f in attrs.fields(cls)}


@pytest.mark.parametrize("cls", [LdapGroups, LdapEntities])
def test_the_ldap_reference_documents_every_setting(cls: type) -> None:
    text = (DOCS / "targets.md").read_text(encoding="utf-8")
    table = text.split(f"`{cls.__name__}`:\n", 1)[1].lstrip("\n").split("\n\n", 1)[0]
    documented = set(re.findall(r"^\| `(\w+)` \|", table, re.MULTILINE))
    assert documented == {f.name for f in attrs.fields(cls)}
