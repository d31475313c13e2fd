"""Every exception grouperprov raises, under one base class.

The tree::

    GrouperprovError
    +-- ConfigError            the configuration is wrong (yours to fix); carries
    |                          every problem found, each with its key path
    +-- StoreError             the sync store cannot be used as it is (a schema
    |   |                      newer than this version knows, a damaged row)
    |   +-- LeaseLostError          another process took over this run's job lease
    +-- SourceError            the Grouper source gave data that breaks its
    |                          contract (two groups with one id, a group with
    |                          no name, a member it left out)
    +-- StalePlanError         a plan applied after another run (or the same
    |                          plan applied before) changed what it was made from
    +-- TargetUnavailable      a target cannot be reached, or refuses the
                               connection (TLS, credentials)

A problem with one object's *data* (a missing required value, a value too long,
an ambiguous match, a translation function that raised) is not an exception at all: it is a
:class:`~grouperprov.SyncErrorCode` recorded on that object, and the run goes on.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "GrouperprovError",
    "LeaseLostError",
    "SourceError",
    "StalePlanError",
    "StoreError",
    "TargetUnavailable",
]


class GrouperprovError(Exception):
    """Base class of every exception raised by grouperprov."""


@attrs.frozen
class ConfigProblem:
    """One thing wrong with a configuration.

    Attributes:
        path: Where the problem is, as a key path into the configuration
            (``groups.attributes[2].max_length``); empty for the top level.
        message: What is wrong and what was expected.
    """

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(GrouperprovError):
    """A configuration is invalid.

    All problems found are reported at once, so a configuration can be fixed in
    one pass rather than one error at a time.

    Args:
        problems: The problems: :class:`ConfigProblem` s, or text for a
            problem with no key path (``ConfigError("no such table: groups")``
            is one problem, as is one :class:`ConfigProblem`).

    Attributes:
        problems: Every problem found, in the order of the configuration.
    """

    problems: tuple[ConfigProblem, ...]

    def __init__(self, problems: Iterable[ConfigProblem | str] | ConfigProblem | str) -> None:
        if isinstance(problems, ConfigProblem | str):
            problems = (problems,)  # one problem, not a problem per letter
        self.problems = tuple(
            p if isinstance(p, ConfigProblem) else ConfigProblem("", str(p)) for p in problems
        )
        count = len(self.problems)
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"invalid provisioner configuration ({count} {noun}):\n{lines}")


class StoreError(GrouperprovError):
    """The sync store cannot be used as it is; the message says what and where."""


class LeaseLostError(StoreError):
    """This run's job lease expired and another run took it over: stop writing."""


class SourceError(GrouperprovError):
    """The Grouper source gave data that breaks its contract; the message lists each problem.

    Raised before anything is planned, so a run that meets it changes
    nothing. Such data is a fault of the source, not of one object: a group
    with no name cannot be told to be provisionable or not, and leaving it
    out would delete its entry from the target. Data that is merely odd (a
    subject with no id, two groups with the same target name) is an error
    code on the objects instead, and the run goes on.
    """


class StalePlanError(GrouperprovError):
    """A plan was applied after a run of its provisioner that came after it was made.

    That run (or an earlier apply of the same plan) changed the target and
    the sync records the plan was made from: applied, it would undo newer
    changes, or insert again what is there (twice, in a target that makes
    its own ids). Nothing was written; plan again.
    """


class TargetUnavailable(GrouperprovError):  # noqa: N818  # reads as a condition, like ConnectionError
    """A target cannot be reached, refuses the connection, or cannot serve what is asked now.

    The message names the target (its URL) and the reason (a certificate the
    CA does not vouch for, credentials refused, nothing listening, a table
    locked past the database's lock timeout); never a password. The
    library's own exception is chained as ``__cause__``.
    """
