"""The ``grouperprov`` command.

``grouperprov demo`` provisions a sample campus into a SQLite file, changes it,
and provisions again, showing the plans, the results and the sync records.
``grouperprov status`` and ``grouperprov explain`` read a SQLite sync store.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from ._config import ObjectType, ProvisionerConfig
from ._provisioner import Provisioner
from ._report import explain_object, status_report
from .exceptions import StoreError
from .stores import SqliteSyncStore, open_store
from .targets import SqliteTableTarget
from .testing import InMemorySource

__all__ = ["main"]

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
    names = [args.provisioner] if args.provisioner else store.provisioners()
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


_STORE_HELP = (
    "the sync store: a SQLite file, or a PostgreSQL connection string or URL "
    "(keep its password in PGPASSWORD or ~/.pgpass, not on the command line)"
)


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
    args = parser.parse_args(argv)
    if args.command in {"status", "explain"}:
        return _inspect(parser, args, sys.stdout)
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
