"""Built-in targets.

- :class:`SqlTarget` (also ``grouperprov.targets.sql``): groups, entities and
  memberships in tables of any DB-API 2 database (SQLite, PostgreSQL, ...),
  laid out as a :class:`SqlLayout` says.
- ``grouperprov.targets.ldap``: :class:`~grouperprov.targets.ldap.LdapTarget`, groups
  and people in an LDAP directory (the ``ldap`` extra, ldap3).
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
