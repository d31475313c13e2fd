"""The table layout of a SQL target: which tables and columns hold what, validated."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, cast

import attrs

from grouperprov import _convert
from grouperprov._config_check import shape_problems
from grouperprov.exceptions import ConfigError, ConfigProblem

__all__ = ["AttributeTable", "MembershipTable", "ObjectTable", "SqlLayout", "quote"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def quote(name: str) -> str:
    """Quote a table or column name (``schema.table`` too) checked as SQL identifiers.

    Raises:
        ValueError: A part is not letters, digits and ``_`` (starting with a
            letter or ``_``): such a name could carry SQL of its own.
    """
    parts = name.split(".")
    if len(parts) > 2 or not all(_IDENTIFIER.match(p) for p in parts):  # noqa: PLR2004  # schema.table
        msg = f"not a valid SQL identifier: {name!r} (letters, digits and _; schema.table at most)"
        raise ValueError(msg)
    return ".".join(f'"{p}"' for p in parts)


# A column's SQL type for create_tables(): words (TEXT, DOUBLE PRECISION, NOT
# NULL, COLLATE NOCASE), a double-quoted name ("C"), a size or precision
# ((200), (10, 2)), an array ([]). Nothing else: no single quote, semicolon, comment
# or expression, so a type from configuration carries no SQL of its own.
_TYPE_PART = r'(?:[A-Za-z_][A-Za-z0-9_]*|"[^"\x00]+"|\(\s*\d+\s*(?:,\s*\d+\s*)?\)|\[\])'
_SQL_TYPE = re.compile(rf"[A-Za-z_][A-Za-z0-9_]*(?:\s*{_TYPE_PART})*\s*\Z")


def _types(value: object) -> dict[str, str]:
    """Column types from config: ``{column: SQL type}``."""
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        msg = "expected a table of column = SQL type"
        raise TypeError(msg)
    return {str(k): v for k, v in value.items()}


def _type_problems(
    path: str, types: Mapping[str, str], columns: Mapping[str, str]
) -> Iterator[ConfigProblem]:
    """The problems of *types*: a type for no column, for one that takes none, or not a type.

    *columns* maps each column of the table to why it takes no type, or to
    ``""`` when it takes one.
    """
    for column, sql_type in types.items():
        if column not in columns:
            known = ", ".join(sorted(columns)) or "none"
            yield ConfigProblem(
                f"{path}.{column}",
                f"not a column of this table, so no type of it (columns: {known})",
            )
        elif columns[column]:
            yield ConfigProblem(f"{path}.{column}", columns[column])
        elif not _SQL_TYPE.match(sql_type.strip()):
            yield ConfigProblem(
                f"{path}.{column}",
                f"not a SQL type: {sql_type!r} (words, a quoted name, a size such as "
                "(200) or (10, 2), []: no quotes, semicolons, comments or expressions)",
            )


def _given_columns(value: Mapping[str, str] | Iterable[str]) -> Mapping[str, str]:
    """Columns given in code: a list of names is each attribute in its namesake column.

    A list failed with "dictionary update sequence element #1 has length
    11"; anything else but a mapping is left for :meth:`SqlLayout.check`.
    """
    if isinstance(value, list | tuple):
        return {str(v): str(v) for v in value}
    return value if isinstance(value, Mapping) else cast("Mapping[str, str]", value)


def _columns(value: object) -> dict[str, str]:
    """A column mapping from config: ``{attribute: column}``, or a list of shared names."""
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return {str(v): str(v) for v in value}
    msg = "expected a table of attribute = column, or a list of names"
    raise TypeError(msg)


@attrs.frozen(kw_only=True)
class AttributeTable:
    """Multi-valued attributes kept as rows: (owner's target id, attribute name, one value).

    Attributes:
        table: The table's name.
        owner_column: The column holding the owner's target id.
        name_column: The column holding the attribute's name.
        value_column: The column holding one value.
    """

    table: str
    owner_column: str = "owner_id"
    name_column: str = "attribute_name"
    value_column: str = "attribute_value"


@attrs.frozen(kw_only=True)
class ObjectTable:
    """The table of groups or of entities.

    Attributes:
        table: The table's name.
        id_column: The column holding the target id (the primary key).
        columns: Single-valued attributes, by attribute name: the column of each.
        id_attribute: The attribute whose value becomes an inserted row's
            target id (a group's name, a subject id); ``None``: the database
            generates it (an identity or ``INTEGER PRIMARY KEY`` column). When
            its column is :attr:`id_column`, the attribute cannot change.
        attribute_table: Where :attr:`multi_valued` attributes are kept.
        multi_valued: Attributes kept as rows of :attr:`attribute_table` (a
            group's ``member`` list, an entity's ``isMemberOf``).
        types: SQL types of columns for :meth:`SqlTarget.create_tables`
            (default ``TEXT``), by column name, the id column's too when
            :attr:`id_attribute` gives the id. Each is checked: words
            (``DOUBLE PRECISION``, ``NOT NULL``, ``COLLATE NOCASE``), a
            double-quoted name, a size (``VARCHAR(200)``), ``[]``; nothing
            that could carry SQL of its own.
    """

    table: str
    id_column: str = "id"
    columns: Mapping[str, str] = attrs.field(factory=dict, converter=_given_columns)
    id_attribute: str | None = None
    attribute_table: AttributeTable | None = None
    multi_valued: tuple[str, ...] = attrs.field(default=(), converter=_convert.names)
    types: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class MembershipTable:
    """The table of membership objects (type ``membership_objects``).

    Attributes:
        table: The table's name.
        group_column: The column holding the group's target id.
        entity_column: The column holding the entity's target id (with entities
            not provisioned, the id grouperprov gives: Grouper's member id).
        columns: The membership's own attributes, by attribute name: the column of each.
        types: SQL types of columns for :meth:`SqlTarget.create_tables`
            (default ``TEXT``), by column name, the group and entity
            columns' too; checked as :attr:`ObjectTable.types` are.
    """

    table: str
    group_column: str = "group_id"
    entity_column: str = "entity_id"
    columns: Mapping[str, str] = attrs.field(factory=dict, converter=_given_columns)
    types: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class SqlLayout:
    """Which tables and columns of a database hold the target's groups, entities and memberships.

    Build it in Python or with :meth:`from_dict` (a TOML table, say). Every
    table and column name is checked as a SQL identifier, and the whole layout
    is validated at once (:meth:`check`).

    Attributes:
        groups: The group table (``None``: the target holds no groups).
        entities: The entity table.
        memberships: The membership table (membership objects).
    """

    groups: ObjectTable | None = None
    entities: ObjectTable | None = None
    memberships: MembershipTable | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SqlLayout:
        """A layout from plain data (``{"groups": {"table": ..., "columns": ...}, ...}``).

        Raises:
            ConfigError: Every problem, each with its key path.
        """
        problems = [
            ConfigProblem(key, "unknown table kind (groups, entities or memberships)")
            for key in sorted(set(data) - {"groups", "entities", "memberships"})
        ]
        parts: dict[str, Any] = {}
        for kind in ("groups", "entities", "memberships"):
            section = data.get(kind)
            if section is None:
                continue
            if not isinstance(section, Mapping):
                problems.append(ConfigProblem(kind, "expected a table"))
                continue
            made = _section(kind, section, problems)
            if made is not None:
                parts[kind] = made
        layout = cls(**parts)
        problems.extend(p for p in layout._problems() if p.path or not problems)  # its own
        if problems:
            raise ConfigError(problems)
        return layout

    def check(self) -> None:
        """Validate the layout as a whole.

        Raises:
            ConfigError: Every problem found, each with its key path.
        """
        problems = list(self._problems())
        if problems:
            raise ConfigError(problems)

    def _problems(self) -> Iterator[ConfigProblem]:
        shape = list(shape_problems(self, "", loader="SqlLayout.from_dict"))
        if shape:
            yield from shape  # what follows reads the tables' fields
            return
        if self.groups is None and self.entities is None and self.memberships is None:
            yield ConfigProblem("", "a SQL layout needs at least one table")
        for kind, table in (("groups", self.groups), ("entities", self.entities)):
            if table is not None:
                yield from _object_problems(kind, table)
        if self.memberships is not None:
            m = self.memberships
            names = {"table": m.table, "group_column": m.group_column}
            names["entity_column"] = m.entity_column
            yield from _identifiers("memberships", names)
            yield from _identifiers("memberships.columns", dict(m.columns))
            used = [m.group_column, m.entity_column, *m.columns.values()]
            if len(set(used)) != len(used):
                yield ConfigProblem("memberships.columns", "a column holds two things")
            yield from _type_problems("memberships.types", m.types, dict.fromkeys(used, ""))


def used_columns(layout: SqlLayout) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """The columns the target reads and writes, by ``(key path, table)``: ``(key path, column)``.

    The key paths name the layout's settings (``groups.columns.description``,
    ``memberships.group_column``), for the errors of a check against the
    database.
    """
    used: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for kind, table in (("groups", layout.groups), ("entities", layout.entities)):
        if table is None:
            continue
        columns = [(f"{kind}.id_column", table.id_column)]
        columns += [(f"{kind}.columns.{a}", c) for a, c in table.columns.items()]
        used[f"{kind}.table", table.table] = columns
        a = table.attribute_table
        if a is not None and table.multi_valued:
            path = f"{kind}.attribute_table"
            used[f"{path}.table", a.table] = [
                (f"{path}.owner_column", a.owner_column),
                (f"{path}.name_column", a.name_column),
                (f"{path}.value_column", a.value_column),
            ]
    m = layout.memberships
    if m is not None:
        columns = [
            ("memberships.group_column", m.group_column),
            ("memberships.entity_column", m.entity_column),
        ]
        columns += [(f"memberships.columns.{a}", c) for a, c in m.columns.items()]
        used["memberships.table", m.table] = columns
    return used


def _object_problems(kind: str, table: ObjectTable) -> Iterator[ConfigProblem]:
    yield from _identifiers(kind, {"table": table.table, "id_column": table.id_column})
    yield from _identifiers(f"{kind}.columns", dict(table.columns))
    both = set(table.columns) & set(table.multi_valued)
    if both:
        yield ConfigProblem(
            f"{kind}.multi_valued", f"{sorted(both)} also have a column in {kind}.columns"
        )
    if table.id_attribute is not None and table.id_attribute not in table.columns:
        yield ConfigProblem(
            f"{kind}.id_attribute",
            f"{table.id_attribute!r} has no column in {kind}.columns",
        )
    if table.multi_valued and table.attribute_table is None:
        yield ConfigProblem(
            f"{kind}.attribute_table", "multi_valued attributes need an attribute table"
        )
    if table.attribute_table is not None:
        a = table.attribute_table
        yield from _identifiers(
            f"{kind}.attribute_table",
            {
                "table": a.table,
                "owner_column": a.owner_column,
                "name_column": a.name_column,
                "value_column": a.value_column,
            },
        )
    others = [c for c in table.columns.values() if c != table.id_column]
    if len(set(others)) != len(others):
        yield ConfigProblem(f"{kind}.columns", "two attributes share a column")
    columns = dict.fromkeys(others, "")
    columns[table.id_column] = (
        ""
        if table.id_attribute is not None or table.id_column in table.columns.values()
        else "the database makes this id (INTEGER PRIMARY KEY, an identity column): "
        "its type is not configurable"
    )
    yield from _type_problems(f"{kind}.types", table.types, columns)


def _identifiers(path: str, names: Mapping[str, str]) -> Iterator[ConfigProblem]:
    for key, name in names.items():
        try:
            quote(name)
        except ValueError as exc:
            yield ConfigProblem(f"{path}.{key}", str(exc))


_OBJECT_KEYS = {"table", "id_column", "columns", "id_attribute"}
_OBJECT_KEYS |= {"attribute_table", "multi_valued", "types"}
_MEMBERSHIP_KEYS = {"table", "group_column", "entity_column", "columns", "types"}
_ATTRIBUTE_KEYS = {"table", "owner_column", "name_column", "value_column"}


def _section(
    kind: str, data: Mapping[str, Any], problems: list[ConfigProblem]
) -> ObjectTable | MembershipTable | None:
    allowed = _MEMBERSHIP_KEYS if kind == "memberships" else _OBJECT_KEYS
    problems.extend(
        ConfigProblem(f"{kind}.{key}", "unknown setting") for key in sorted(set(data) - allowed)
    )
    if not isinstance(data.get("table"), str):
        problems.append(ConfigProblem(f"{kind}.table", "expected the table's name"))
        return None
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in allowed:
            continue
        path = f"{kind}.{key}"
        if key in {"columns", "types"}:
            try:
                values[key] = _columns(value) if key == "columns" else _types(value)
            except TypeError as exc:
                problems.append(ConfigProblem(path, str(exc)))
        elif key == "multi_valued":
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                problems.append(ConfigProblem(path, "expected a list of attribute names"))
            else:
                values[key] = tuple(value)
        elif key == "attribute_table":
            values[key] = _attribute_table(path, value, problems)
        elif not isinstance(value, str):
            problems.append(ConfigProblem(path, "expected a name"))
        else:
            values[key] = value
    if kind == "memberships":
        return MembershipTable(**values)
    return ObjectTable(**values)


def _attribute_table(
    path: str, value: object, problems: list[ConfigProblem]
) -> AttributeTable | None:
    if isinstance(value, str):
        return AttributeTable(table=value)
    if not isinstance(value, Mapping):
        problems.append(ConfigProblem(path, "expected a table's name, or a table"))
        return None
    unknown = sorted(set(value) - _ATTRIBUTE_KEYS)
    problems.extend(ConfigProblem(f"{path}.{key}", "unknown setting") for key in unknown)
    names = {k: v for k, v in value.items() if k in _ATTRIBUTE_KEYS}
    bad = [k for k, v in names.items() if not isinstance(v, str)]
    problems.extend(ConfigProblem(f"{path}.{key}", "expected a name") for key in bad)
    if bad or "table" not in names:
        if "table" not in names:
            problems.append(ConfigProblem(f"{path}.table", "expected the table's name"))
        return None
    return AttributeTable(**names)
