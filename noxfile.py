"""Automation: ``nox -s tests``, ``mypy``, ``lint``, ``docs``, and ``bench`` (not by default)."""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = False
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["tests", "mypy", "lint", "docs"]

PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHON = "3.11"


def _group(name: str) -> list[str]:
    return list(nox.project.dependency_groups(PYPROJECT, name))


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the whole test suite with branch coverage."""
    session.install("-e", ".", *_group("tests"))
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest", *session.posargs)
    session.run("coverage", "report")


@nox.session(python=PYTHON)
def mypy(session: nox.Session) -> None:
    """Type-check src, tests and this file with mypy --strict."""
    session.install("-e", ".", *_group("typing"), "nox")
    session.run("mypy", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Lint and check formatting with ruff."""
    session.install(*_group("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the Sphinx docs; any warning is an error."""
    session.install("-e", ".", *_group("docs"))
    session.run(
        "sphinx-build", "-W", "--keep-going", "-n", "-b", "html",
        "docs", "docs/_build/html",
    )  # fmt: skip


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Run every benchmark in benchmarks/ (``name = value`` lines); posargs go to each.

    For example ``nox -s bench -- --scale 0.1`` for a quick look at a tenth of
    the campus. The figures are ratios against floors measured in the same run.
    """
    session.install("-e", ".[postgres,ldap]")
    for script in sorted(Path("benchmarks").glob("bench_*.py")):
        session.log(f"benchmark {script.name}")
        session.run("python", str(script), *session.posargs)
