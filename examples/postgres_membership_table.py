"""Grouper memberships to a PostgreSQL membership table (membership objects).

Run it from a checkout (``pip install '.[postgres]'``; Debian's ``postgresql``
package for the throw-away server)::

    python examples/postgres_membership_table.py                 # its own throw-away server
    python examples/postgres_membership_table.py "host=... dbname=... user=..."

The application reads two tables: ``app_groups`` (one row per provisioned
group) and ``app_memberships`` (one row per member of one). With no argument
it starts a throw-away PostgreSQL server on 127.0.0.1 (the test fixture's
``PostgresServer``), creates the tables, provisions, applies change-log
events, and prints both tables after each step.
"""

from __future__ import annotations

import sys

import psycopg

from grouperprov import Provisioner, ProvisionerConfig
from grouperprov.stores import MemorySyncStore
from grouperprov.targets.sql import MembershipTable, ObjectTable, SqlLayout, SqlTarget
from grouperprov.testing import InMemorySource, PostgresServer

CONFIG = """
name = "campus-sql"

[groups]
matching = ["name"]
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
attributes = [
  { name = "group_name", field = "group.name" },
  { name = "subject_id", field = "entity.subject_id" },
]
"""

LAYOUT = SqlLayout(
    groups=ObjectTable(
        table="app_groups",
        id_column="name",
        id_attribute="name",
        columns={"name": "name", "description": "description"},
    ),
    memberships=MembershipTable(
        table="app_memberships",
        group_column="group_id",  # the group's target id: its name, here
        entity_column="member_id",  # Grouper's member id (entities are not provisioned)
        columns={"group_name": "group_name", "subject_id": "subject_id"},
    ),
)


def campus() -> InMemorySource:
    source = InMemorySource()
    for subject in ("ada", "alan", "grace"):
        source.add_subject(subject)
    source.add_group("apps:sql:staff", description="All staff")
    source.add_group("apps:sql:admins", description="Administrators")
    for subject in ("ada", "alan"):
        source.add_member("apps:sql:staff", subject)
    source.add_member("apps:sql:admins", "ada")
    source.mark("apps:sql", "campus-sql", scope="sub")
    return source


def show(connection: psycopg.Connection[tuple[object, ...]]) -> None:
    groups = connection.execute("SELECT name, description FROM app_groups ORDER BY 1").fetchall()
    rows = connection.execute(
        "SELECT group_name, subject_id FROM app_memberships ORDER BY 1, 2"
    ).fetchall()
    connection.commit()
    print("  app_groups:", groups)
    print("  app_memberships:", rows)


def run(dsn: str) -> None:
    connection = psycopg.connect(dsn)
    viewer = psycopg.connect(dsn)
    target = SqlTarget(connection, LAYOUT)
    target.create_tables()
    source = campus()
    provisioner = Provisioner(
        ProvisionerConfig.from_toml(CONFIG), source, target, MemorySyncStore()
    )
    print(provisioner.full_sync().summary())
    show(viewer)
    seen = len(source.changes)
    source.add_member("apps:sql:admins", "grace")
    source.remove_member("apps:sql:staff", "alan")
    print(provisioner.incremental_sync(source.events(seen)).summary())
    show(viewer)
    print("a full sync now plans", len(provisioner.plan_full().plan.changes), "changes")
    viewer.close()
    connection.close()


def main() -> None:
    if len(sys.argv) == 2:  # noqa: PLR2004  # a connection string
        run(sys.argv[1])
        return
    with PostgresServer() as server:
        run(server.create_database())


if __name__ == "__main__":
    main()
