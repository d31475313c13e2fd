"""The public surface: what ``grouperprov`` exports, documents and imports."""

from __future__ import annotations

import inspect
import subprocess
import sys
import types

import pytest

import grouperprov
from grouperprov import exceptions


def _isort_key(name: str) -> tuple[int, str]:
    # The order ruff keeps: CONSTANTS, then Classes, then functions.
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_sorted_and_complete() -> None:
    assert grouperprov.__all__ == sorted(grouperprov.__all__, key=_isort_key)
    for name in grouperprov.__all__:
        assert hasattr(grouperprov, name), name
    public = {
        name
        for name, value in vars(grouperprov).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name not in {"annotations", "PackageNotFoundError", "version"}
    }
    assert public == set(grouperprov.__all__)


def test_every_public_class_and_function_is_documented() -> None:
    for name in [*grouperprov.__all__, *exceptions.__all__]:
        value = getattr(grouperprov, name, None) or getattr(exceptions, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), name


def test_exceptions_share_one_base() -> None:
    for name in exceptions.__all__:
        cls = getattr(exceptions, name)
        if inspect.isclass(cls) and issubclass(cls, BaseException):
            assert issubclass(cls, exceptions.GrouperprovError)


def test_version_is_a_string() -> None:
    assert isinstance(grouperprov.__version__, str)
    assert grouperprov.__version__


def test_import_needs_only_the_core_dependencies() -> None:
    code = (
        "import sys, grouperprov, grouperprov.testing\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'hypothesis', 'ldap3', 'psycopg', 'pytest'})\n"
        "print(','.join(bad))"
    )
    out = subprocess.run(  # noqa: S603  # our own interpreter and code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


@pytest.mark.parametrize(
    ("missing", "load", "extra"),
    [
        ("ldap3", "import grouperprov.targets.ldap", "ldap"),
        ("psycopg", "from grouperprov.stores import PostgresSyncStore", "postgres"),
    ],
)
def test_an_extra_not_installed_is_named_with_the_command_that_installs_it(
    missing: str, load: str, extra: str
) -> None:
    """Without ldap3, the import said only "No module named 'ldap3'".

    Run in a process of its own, where the module is made missing.
    """
    code = f"import sys; sys.modules[{missing!r}] = None\n{load}"
    done = subprocess.run(  # noqa: S603  # this interpreter, code of the test's own
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert f"pip install 'grouperprov[{extra}]'" in done.stderr.splitlines()[-1], done.stderr
