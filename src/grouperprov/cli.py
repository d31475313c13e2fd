"""The ``grouperprov`` command.

``grouperprov demo`` provisions a sample campus into a SQLite file, changes it,
and provisions again, showing the plans, the results and the sync records.
``grouperprov plan``, ``sync`` and ``approve`` run your provisioner, named as
``module:attribute`` (a Provisioner, or a function that returns one): from cron,
a systemd timer or by hand. ``grouperprov status`` and ``grouperprov explain``
read a sync store.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import random
import signal
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from ._config import ObjectType, ProvisionerConfig
from ._provisioner import Provisioner, SyncResult, SyncStatus
from ._report import explain_object, status_report
from ._sources import dotted_attribute
from .exceptions import GrouperprovError, StoreError, TargetUnavailable
from .stores import MemorySyncStore, SqliteSyncStore, open_store
from .targets import SqliteTableTarget
from .testing import InMemorySource

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_TEMPFAIL",
    "EXIT_TERMINATED",
    "exit_status",
    "load_provisioner",
    "main",
]

EXIT_TEMPFAIL = 75
"""The exit status of a run to try again later (``BUSY``, ``TARGET_UNAVAILABLE``).

It is ``EX_TEMPFAIL`` of BSD's ``sysexits.h``.
"""

EXIT_INTERRUPTED = 130
"""The exit status of a command stopped by Ctrl-C (SIGINT), as shells report it."""

EXIT_TERMINATED = 143
"""The exit status of a command stopped by SIGTERM, as shells report it."""


class _TerminatedError(BaseException):
    """SIGTERM arrived: unwind as for Ctrl-C (a BaseException, so no handler eats it)."""


def _terminated(_signum: int, _frame: object) -> None:
    raise _TerminatedError


DEMO_PROVISIONER = "campus-sql"

DEMO_CONFIG = """
name = "campus-sql"

[groups]
matching = ["name"]
delete_policy = "inserted_by_us"
attributes = [
  { name = "name", field = "name" },
  { name = "description", field = "description" },
]

[entities]
operate = false

[memberships]
type = "membership_objects"
matching = [["group_name", "subject_id"]]
update = false
delete_policy = "inserted_by_us"
attributes = [
  { name = "group_name", field = "group.name" },
  { name = "subject_id", field = "entity.subject_id" },
]

[failsafe]
max_group_percent_removed = 50
min_group_size = 5
"""

_DEPARTMENTS = ("math", "physics", "history")
_COURSES = ("101", "201", "305")


def demo_campus(seed: int = 7) -> InMemorySource:
    """A small university: courses per department, staff groups, an archive.

    The ``school:courses`` folder is marked for the demo provisioner (scope
    ``sub``), its ``archive`` subfolder opted out; ``school:staff`` is marked with
    scope ``one``; ``apps:wiki:editors`` is not provisioned at all.
    """
    rng = random.Random(seed)  # noqa: S311  # sample data, not security
    source = InMemorySource()
    people = [
        f"{first}{n:02d}" for n, first in enumerate(["ada", "bo", "cy", "di", "ed", "flo"] * 6)
    ]
    for person in people:
        source.add_subject(person, name=person.capitalize(), email=f"{person}@example.edu")
    for dept in _DEPARTMENTS:
        for course in _COURSES:
            name = f"school:courses:{dept}:{dept}{course}"
            source.add_group(name, description=f"{dept.title()} {course} students")
            for person in rng.sample(people, 8):
                source.add_member(name, person)
        source.add_group(f"school:staff:{dept}", description=f"{dept.title()} staff")
        for person in rng.sample(people, 4):
            source.add_member(f"school:staff:{dept}", person)
    source.add_group("school:courses:archive:math099", description="Retired course")
    source.add_member("school:courses:archive:math099", people[0])
    source.add_group("apps:wiki:editors", description="Wiki editors")
    source.add_member("apps:wiki:editors", people[1])
    source.mark("school:courses", DEMO_PROVISIONER, scope="sub")
    source.mark("school:courses:archive", DEMO_PROVISIONER, provisionable=False)
    source.mark("school:staff", DEMO_PROVISIONER, scope="one")
    return source


def run_demo(db: Path, out: TextIO) -> int:
    """Run the demo against the SQLite file *db*; return the exit status."""
    config = ProvisionerConfig.from_toml(DEMO_CONFIG)
    source = demo_campus()
    target = SqliteTableTarget(
        db, group_columns=("name", "description"), membership_columns=("group_name", "subject_id")
    )
    state_path = state_file(db)
    store = SqliteSyncStore(state_path)
    provisioner = Provisioner(config, source, target, store)

    def show(title: str) -> None:
        out.write(f"\n== {title} ==\n")

    show("1. The first full sync: plan")
    first = provisioner.plan_full()
    out.write(first.plan.summary(max_changes=8) + "\n")
    show("1. The first full sync: result")
    out.write(provisioner.apply(first).summary() + "\n")
    out.write(
        f"target now holds {len(target.table('groups'))} groups and "
        f"{len(target.table('memberships'))} membership rows in {db}\n"
    )

    show("2. Changes in Grouper")
    source.add_member("school:courses:math:math101", "flo35")
    physics201 = next(
        g for g in source.snapshot().groups if g.get("name") == "school:courses:physics:physics201"
    )
    leaving = source.retrieve_memberships([physics201.id])[0].entity_id.removeprefix("mem-")
    source.remove_member("school:courses:physics:physics201", leaving)
    source.update_group(
        "school:courses:history:history305", description="History 305: the 20th century"
    )
    source.mark("school:staff", DEMO_PROVISIONER, provisionable=False)
    source.mark("school:staff:math", DEMO_PROVISIONER)
    out.write(
        f"added flo35 to math101, removed {leaving} from physics201, changed history305's\n"
        "description, opted the staff folder out but kept school:staff:math marked\n"
    )

    show("3. The second full sync: plan")
    second = provisioner.plan_full()
    out.write(second.plan.summary() + "\n")
    show("3. The second full sync: result")
    out.write(provisioner.apply(second).summary() + "\n")

    show("4. What the sync records say")
    state = store.load(DEMO_PROVISIONER)
    names = {g.id: g.get_str("name") for g in source.snapshot().groups}
    for (object_type, grouper_id), record in sorted(
        state.records.items(), key=lambda kv: str(kv[0])
    ):
        if object_type is not ObjectType.GROUP:
            continue
        status = "in target" if record.in_target else "not in target"
        origin = "inserted by grouperprov" if record.inserted_by_us else "pre-existing"
        provisionable = "provisionable" if record.provisionable else "no longer provisionable"
        name = names.get(str(grouper_id), str(grouper_id))
        out.write(f"{name}: {provisionable}, {status} (row {record.target_id}), {origin}\n")
    memberships = sum(
        1 for (t, _), r in state.records.items() if t is ObjectType.MEMBERSHIP and r.in_target
    )
    out.write(f"{memberships} membership records in target\n")
    show("5. A third run changes nothing")
    out.write(provisioner.full_sync().summary() + "\n")
    show(f"6. grouperprov status --store {state_path}")
    out.write(status_report(store, DEMO_PROVISIONER, now=datetime.now(tz=UTC)) + "\n")
    target.close()
    store.close()
    return 0


def state_file(db: Path) -> Path:
    """Where the demo keeps its sync store: beside the target database."""
    return db.with_name(f"{db.stem}-state.db")


def _inspect(parser: argparse.ArgumentParser, args: argparse.Namespace, out: TextIO) -> int:
    try:
        store = open_store(args.store, create=False)
    except (StoreError, ImportError) as exc:
        parser.error(str(exc))
    known = store.provisioners()
    if args.provisioner and args.provisioner not in known:
        # A misspelt name read as a provisioner with "no runs yet".
        has = f"it has {', '.join(repr(n) for n in known)}" if known else "it has none yet"
        parser.error(f"{store!r} has no provisioner {args.provisioner!r} ({has})")
    names = [args.provisioner] if args.provisioner else known
    if not names:
        out.write(f"{store!r}: no provisioner has run with this store yet\n")
        return 0
    for name in names:
        if args.command == "status":
            out.write(status_report(store, name, now=datetime.now(tz=UTC)) + "\n")
        else:
            kind = ObjectType.GROUP if args.group is not None else ObjectType.ENTITY
            out.write(explain_object(store.load(name), kind, args.group or args.subject) + "\n")
    return 0


class _AppError(ValueError):
    """The provisioner named on the command line cannot be had; the message says why."""


def load_provisioner(spec: str, app_dir: Path | None = None) -> Provisioner:
    """The provisioner *spec* names: ``module:attribute``, as in ``campus_ldap:provisioner``.

    The attribute (dotted names reach inside objects) is a
    :class:`~grouperprov.Provisioner`, or a function that takes no arguments and
    returns one (it is called once). *app_dir* goes first on the module search
    path, as the current folder does for ``python -m``.

    Raises:
        ValueError: *spec* is not ``module:attribute``, names a module that
            does not exist, an attribute the module lacks, or something that
            is not a provisioner and does not make one. An import that fails
            inside the module (a package it needs is missing) is not caught:
            its traceback says what went wrong.
    """
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        msg = f"{spec!r}: name the provisioner as module:attribute, as in campus_ldap:provisioner"
        raise _AppError(msg)
    if app_dir is not None and str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    try:
        found: object = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if module_name != missing and not module_name.startswith(f"{missing}."):
            raise  # the module is there; something it imports is not
        where = (
            f" (looked in {app_dir.resolve()} and the Python path)" if app_dir is not None else ""
        )
        msg = f"{spec!r}: there is no module {module_name!r}{where}"
        raise _AppError(msg) from None
    try:
        found = dotted_attribute(found, attribute)
    except AttributeError:
        msg = f"{spec!r}: {module_name!r} has no attribute {attribute!r}"
        raise _AppError(msg) from None
    if isinstance(found, Provisioner):
        return found
    if not callable(found):
        msg = (
            f"{spec!r}: {type(found).__name__} is not a Provisioner nor a function that returns one"
        )
        raise _AppError(msg)
    made = found()
    if not isinstance(made, Provisioner):
        msg = f"{spec!r}: returned {type(made).__name__}, not a Provisioner"
        raise _AppError(msg)
    return made


def exit_status(status: SyncStatus) -> int:
    """The command's exit status for a run that ended with *status*.

    0 for ``SUCCESS`` and ``WARNING`` (done; the warnings are object errors
    whose codes the configuration does not count as failing);
    :data:`EXIT_TEMPFAIL` (75) for ``BUSY`` and ``TARGET_UNAVAILABLE``, which
    the next run may not meet; 1 for the others (``ERROR``,
    ``ERROR_FAILSAFE``, ``CONFIG_ERROR``, ``SOURCE_ERROR``), which need someone
    to look.
    """
    if status in {SyncStatus.SUCCESS, SyncStatus.WARNING}:
        return 0
    if status in {SyncStatus.BUSY, SyncStatus.TARGET_UNAVAILABLE}:
        return EXIT_TEMPFAIL
    return 1


def _provisioner(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Provisioner:
    try:
        provisioner = load_provisioner(args.app, args.app_dir)
    except _AppError as exc:
        parser.error(str(exc))
    # A handler for the messages, unless the caller's module set logging up.
    # Only grouperprov's own loggers get more verbose: another library's debug
    # messages (an HTTP client's URLs) may carry what must not be shown.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.verbose:
        logging.getLogger("grouperprov").setLevel(logging.WARNING - 10 * min(args.verbose, 2))
    return provisioner


_FORGETFUL = (
    "grouperprov: warning: the provisioner keeps its sync records in memory, and they "
    "are lost when this command ends: nothing is known to be inserted by grouperprov "
    "(so the inserted_by_us delete policy deletes nothing) and a failsafe trip is "
    "forgotten; give it a SqliteSyncStore or a PostgresSyncStore\n"
)


def _run(
    parser: argparse.ArgumentParser, args: argparse.Namespace, out: TextIO, err: TextIO
) -> int:
    """``plan``, ``sync`` and ``approve``: run the named provisioner."""
    if args.command == "sync" and args.asynchronous and (args.group or args.folder):
        parser.error("--asynchronous is for a full sync: leave out --group and --folder")
    try:
        provisioner = _provisioner(parser, args)
        if isinstance(provisioner.store, MemorySyncStore):
            err.write(_FORGETFUL)
        if args.command == "approve":
            return _approve(provisioner, args.by, out, err)
        dry_run = args.command == "plan"
        try:
            if args.group or args.folder:
                result = provisioner.sync_group(*args.group, folder=args.folder, dry_run=dry_run)
            else:
                result = provisioner.full_sync(
                    dry_run=dry_run, asynchronous=getattr(args, "asynchronous", False)
                )
        except LookupError as exc:
            parser.error(str(exc))
    except TargetUnavailable as exc:  # from a function that makes the provisioner
        err.write(f"grouperprov: the target is unavailable: {exc}\n")
        return EXIT_TEMPFAIL
    except GrouperprovError as exc:
        err.write(f"grouperprov: {exc}\n")
        return 1
    out.write(_report(result, dry_run=dry_run, max_changes=args.changes) + "\n")
    return exit_status(result.status)


def _report(result: SyncResult, *, dry_run: bool, max_changes: int | None) -> str:
    if not dry_run or result.plan is None:
        return result.summary()
    lines = [result.plan.summary(max_changes=max_changes)]
    lines.extend(f"failsafe: {reason}" for reason in result.failsafe)
    lines.append(
        f"a {result.sync_type.value} sync would end {result.status.value}"
        + (f": {result.message}" if result.message else "")
    )
    return "\n".join(lines)


def _approve(provisioner: Provisioner, by: str, out: TextIO, err: TextIO) -> int:
    name = provisioner.config.name
    try:
        approved = provisioner.approve_failsafe(by)
    except LookupError as exc:
        err.write(f"grouperprov: {exc}; nothing to approve\n")
        return 1
    except ValueError as exc:  # --by "": who approves must be said
        err.write(f"grouperprov: {exc}\n")
        return 2
    reasons = "; ".join(approved.reasons)
    out.write(f"the next run of {name!r} may go ahead despite the failsafe ({reasons})\n")
    return 0


_STORE_HELP = (
    "the sync store: a SQLite file, or a PostgreSQL connection string or URL "
    "(keep its password in PGPASSWORD or ~/.pgpass, not on the command line)"
)


_LISTED = 100  # changes `plan` lists by default: a campus's first plan has millions


def _listed(text: str) -> int | None:
    """``--changes``: a number of changes to list, or ``all`` (``None``)."""
    if text == "all":
        return None
    try:
        number = int(text)
    except ValueError:
        number = -1
    if number < 0:
        msg = f"expected a number of changes or 'all', not {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return number


_APP_HELP = (
    "your provisioner as module:attribute (a Provisioner, or a function "
    "that returns one), as in campus_ldap:provisioner"
)


def _add_run_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    plan = commands.add_parser(
        "plan", help="read both sides and show what a sync would change, writing nothing"
    )
    sync = commands.add_parser("sync", help="a full sync, or a group sync with --group/--folder")
    approve = commands.add_parser(
        "approve", help="let the next run go ahead despite the failsafe that tripped"
    )
    for command in (plan, sync, approve):
        command.add_argument("app", metavar="APP", help=_APP_HELP)
        command.add_argument(
            "--app-dir",
            type=Path,
            default=Path(),
            help="where APP's module is (default: the current folder)",
        )
        command.add_argument(
            "-v",
            "--verbose",
            action="count",
            default=0,
            help="log more of grouperprov's messages (-v info, -vv debug)",
        )
    for command in (plan, sync):
        command.add_argument(
            "--group",
            action="append",
            default=[],
            help="group sync of this group (full name or Grouper id; repeatable)",
        )
        command.add_argument("--folder", help="group sync of this folder's groups")
    plan.add_argument(
        "--changes",
        type=_listed,
        default=_LISTED,
        metavar="N",
        help=(
            f"list at most N changes and N errors, or 'all' (default {_LISTED}; "
            "the counts are always complete)"
        ),
    )
    sync.add_argument(
        "--asynchronous",
        action="store_true",
        help="write nothing to the target: ask the incremental path to recalculate what differs",
    )
    sync.set_defaults(changes=None)
    approve.add_argument("--by", required=True, help="who approves (kept in the sync records)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``grouperprov`` command; return its exit status."""
    parser = argparse.ArgumentParser(prog="grouperprov", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="provision a sample campus into a SQLite file")
    demo.add_argument("--db", type=Path, help="the SQLite file (default: a new temporary file)")
    status = commands.add_parser(
        "status", help="last runs, errors, failsafe and lease of each provisioner in a store"
    )
    status.add_argument("--store", required=True, help=_STORE_HELP)
    status.add_argument("--provisioner", help="only this provisioner")
    explain = commands.add_parser("explain", help="what a store knows of one group or subject")
    explain.add_argument("--store", required=True, help=_STORE_HELP)
    explain.add_argument("--provisioner", help="only this provisioner")
    which = explain.add_mutually_exclusive_group(required=True)
    which.add_argument("--group", help="a group's Grouper id, target id or cached link")
    which.add_argument("--subject", help="an entity's member id, target id or subject link")
    _add_run_commands(commands)
    args = parser.parse_args(argv)
    if args.command in {"status", "explain"}:
        return _inspect(parser, args, sys.stdout)
    if args.command in {"plan", "sync", "approve"}:
        # SIGTERM (systemd stopping the unit) stops the run as Ctrl-C does: the
        # lease is given back on the way out, rather than left to lapse.
        previous = signal.signal(signal.SIGTERM, _terminated)
        try:
            return _run(parser, args, sys.stdout, sys.stderr)
        except KeyboardInterrupt:
            # The run gave its lease back on the way out; its records say what
            # it wrote (as after any stop, the next full sync reads both sides).
            sys.stderr.write("grouperprov: interrupted\n")
            return EXIT_INTERRUPTED
        except _TerminatedError:
            sys.stderr.write("grouperprov: terminated\n")
            return EXIT_TERMINATED
        finally:
            signal.signal(signal.SIGTERM, previous)
    if args.command == "demo":  # pragma: no branch  # the only other command
        if args.db is None:
            with tempfile.TemporaryDirectory(prefix="grouperprov-demo-") as folder:
                return run_demo(Path(folder) / "target.db", sys.stdout)
        for path in (args.db, state_file(args.db)):
            if path.exists():
                parser.error(f"{path} exists; the demo starts from an empty database")
        return run_demo(args.db, sys.stdout)
    return 2  # pragma: no cover  # argparse refuses unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
