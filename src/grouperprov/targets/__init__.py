"""Built-in targets.

- :class:`SqlTarget` (also ``grouperprov.targets.sql``): groups, entities and
  memberships in tables of any DB-API 2 database (SQLite, PostgreSQL, ...),
  laid out as a :class:`SqlLayout` says.
- :class:`SqliteTableTarget`: groups and membership rows in a SQLite file, using
  only the standard library (for the demo, tests and small set-ups).
"""

from __future__ import annotations

from grouperprov.targets._sql import SqlTarget
from grouperprov.targets._sql_layout import AttributeTable, MembershipTable, ObjectTable, SqlLayout
from grouperprov.targets._table import SqliteTableTarget

__all__ = [
    "AttributeTable",
    "MembershipTable",
    "ObjectTable",
    "SqlLayout",
    "SqlTarget",
    "SqliteTableTarget",
]
