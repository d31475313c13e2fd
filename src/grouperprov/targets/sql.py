"""The SQL target: groups, entities and memberships in tables of any DB-API 2 database.

See :class:`SqlTarget` and :class:`SqlLayout`; the "targets" documentation page
has the configuration reference and worked examples.
"""

from __future__ import annotations

from grouperprov.targets._sql import SqlTarget
from grouperprov.targets._sql_layout import AttributeTable, MembershipTable, ObjectTable, SqlLayout

__all__ = ["AttributeTable", "MembershipTable", "ObjectTable", "SqlLayout", "SqlTarget"]
