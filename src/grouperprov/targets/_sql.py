"""SqlTarget: groups, entities and memberships in tables of any DB-API 2 database."""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import logging
import operator
import re
import sqlite3
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any, Concatenate, NamedTuple, ParamSpec, Protocol, TypeVar

from grouperprov._beans import (
    AttributeValue,
    ProvisioningEntity,
    ProvisioningGroup,
    ProvisioningMembership,
    Scalar,
    is_text,
)
from grouperprov._closing import Closing
from grouperprov._codes import exception_text
from grouperprov._config import ObjectType
from grouperprov._config_check import type_problems
from grouperprov._liveness import closed_by_peer
from grouperprov._target import (
    AttributeChange,
    Capabilities,
    ChangeOp,
    Operation,
    TargetDAO,
    WriteOutcome,
    applied,
)
from grouperprov.exceptions import ConfigError, ConfigProblem, TargetUnavailable
from grouperprov.targets._reconnect import reconnecting
from grouperprov.targets._sql_layout import (
    MembershipTable,
    ObjectTable,
    SqlLayout,
    quote,
    used_columns,
)
from grouperprov.targets._sql_trouble import trouble
from grouperprov.targets._sql_values import plain, read_scalar, row_attributes

__all__ = ["SqlTarget"]

log = logging.getLogger("grouperprov.targets.sql")


class _Cursor(Protocol):
    """The part of a DB-API 2 cursor the target uses."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> object: ...
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> object: ...
    def fetchone(self) -> Any: ...  # noqa: ANN401  # a row of the driver's
    def fetchall(self) -> list[Any]: ...
    def close(self) -> object: ...
    @property
    def rowcount(self) -> int: ...
    @property
    def description(self) -> Sequence[Sequence[Any]] | None: ...


Owner = ProvisioningGroup | ProvisioningEntity
_T = TypeVar("_T")
_OwnerT = TypeVar("_OwnerT", bound=ProvisioningGroup | ProvisioningEntity)

_MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}
_GROUP_OPS = {op for op in Operation if "group" in op.value and "membership" not in op.value}
_ENTITY_OPS = {op for op in Operation if "entit" in op.value and "membership" not in op.value}
_MEMBERSHIP_OPS = {op for op in Operation if "membership" in op.value}


class _ObjectError(ValueError):
    """One object cannot be written as it is (its outcome says why)."""


_P = ParamSpec("_P")
_R = TypeVar("_R")


# PostgreSQL's character(n) (bpchar): its values are padded with spaces to n.
_BPCHAR_OID = 1042


def _unpadded(cur: _Cursor, rows: list[Any]) -> list[Any]:
    """*rows* of a PostgreSQL cursor with the padding of its ``character(n)`` values cut.

    PostgreSQL keeps a ``CHAR(8)`` value ``'ada'`` as ``'ada     '`` and gives
    it back so; its comparisons ignore those spaces, so the value means
    ``'ada'``. Read padded, a key would not be the one written (its group
    inserted again in every run, its memberships under another key), and a
    value would differ from Grouper's in every run.
    """
    padded = [i for i, column in enumerate(cur.description or ()) if column[1] == _BPCHAR_OID]
    if not padded:
        return rows  # the usual case: no column of that type
    cut = [list(row) for row in rows]
    for row in cut:
        for i in padded:
            if type(row[i]) is str:
                row[i] = row[i].rstrip(" ")
    return cut


class _Column(NamedTuple):
    """What the check of a table learns of one column."""

    required: bool  # an insert must give it a value (NOT NULL, no default)
    folds: bool  # the database compares its values ignoring case
    generated: bool = False  # the database makes its values, and refuses others


_NOCASE = re.compile(r'\bCOLLATE\s+(?:"NOCASE"|NOCASE\b)', re.IGNORECASE)


_CONSTRAINTS = frozenset({"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"})
_LITERAL = re.compile(r"'(?:[^']|'')*'")


def _nocase_columns(sql: str) -> frozenset[str]:
    """The columns a SQLite ``CREATE TABLE`` statement declares ``COLLATE NOCASE``.

    Its column definitions are split at the commas outside parentheses and
    quotes; each one's first word (unquoted) is the column's name.
    """
    body = sql[sql.find("(") + 1 : sql.rfind(")")] if "(" in sql else ""
    parts: list[str] = []
    depth, quote_char, start = 0, "", 0
    for i, ch in enumerate(body):
        if quote_char:
            if ch == quote_char or (quote_char == "[" and ch == "]"):
                quote_char = ""
        elif ch in "\"'`[":
            quote_char = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    parts.append(body[start:])
    found: set[str] = set()
    for part in parts:
        text = part.strip()
        match = re.match(r'"((?:[^"]|"")*)"|`([^`]*)`|\[([^\]]*)\]|([^\s(]+)', text)
        if match is None or (match.group(4) or "").upper() in _CONSTRAINTS:
            continue  # a table constraint, not a column
        if _NOCASE.search(_LITERAL.sub("''", text[match.end() :])):  # not in a default's text
            name = next(g for g in match.groups() if g is not None)
            found.add(name.replace('""', '"'))
    return frozenset(found)


def _attempt(
    cur: _Cursor, name: str, run: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs
) -> _R | Exception:
    """``run(*args)`` in savepoint *name*: its result, or the exception that undid it alone.

    The savepoint is released either way, so the transaction goes on as if
    a refused *run* had not been tried. An error that is about the database,
    not about what *run* wrote (a lock not granted, a full disk: see
    :func:`._sql_trouble.trouble`), is raised: the next attempt would meet
    it too, after as long a wait.
    """
    cur.execute(f"SAVEPOINT {name}")
    try:
        result = run(*args, **kwargs)
    except Exception as exc:
        cur.execute(f"ROLLBACK TO SAVEPOINT {name}")
        cur.execute(f"RELEASE SAVEPOINT {name}")
        if trouble(exc) == "unavailable":
            raise
        return exc
    cur.execute(f"RELEASE SAVEPOINT {name}")
    return result


def _findable(values: Iterable[str]) -> list[str]:
    """*values* a table can hold, sorted, once each.

    One with a lone surrogate (not UTF-8 text) is in no table, and bound as
    a parameter it failed the whole read (``UnicodeEncodeError``).
    """
    return sorted({v for v in values if is_text(v)})


def _keyed(rows: list[Any], width: int, table: str, key: Sequence[str]) -> list[Any]:
    """*rows* without those whose key (their first *width* values) has a NULL.

    Such a row (SQLite lets a non-integer primary key hold NULL; a table made
    without a key may too) cannot be told apart from another or written by
    its key, so the sync must not see it: it would plan the row's delete in
    every run and never do it. It is left alone, with a warning.
    """
    if not any(None in map(operator.itemgetter(i), rows) for i in range(width)):
        return rows  # the usual case, checked in C
    kept = [r for r in rows if None not in r[:width]]
    log.warning(
        "%d rows of %r have no value (NULL) in %s: they cannot be told apart or written by"
        " their key, so they are left alone",
        len(rows) - len(kept),
        table,
        " or ".join(repr(k) for k in key),
    )
    return kept


def _guarded(
    *, retry: bool, recheck: str | None = None
) -> Callable[[Callable[Concatenate[SqlTarget, _P], _R]], Callable[Concatenate[SqlTarget, _P], _R]]:
    """A DAO method that survives a lost connection, as :func:`._reconnect.reconnecting` says.

    It runs after the check of the tables (:meth:`SqlTarget._check_tables`):
    of them all once; and with *recheck*, the layout's part it names
    (``groups``...) before every call (the full reads, where a column renamed
    since would have the sync delete what it misreads).
    """

    def wrap(
        method: Callable[Concatenate[SqlTarget, _P], _R],
    ) -> Callable[Concatenate[SqlTarget, _P], _R]:
        @functools.wraps(method)
        def run(self: SqlTarget, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
            def checked() -> _R:
                if not self._checked:
                    self._check_tables()
                elif recheck is not None:
                    self._check_tables(recheck)
                return method(self, *args, **kwargs)

            self._revive()
            try:
                return reconnecting(
                    method.__name__,
                    checked,
                    retry=retry,
                    lost=self._lost,
                    reconnect=self._reconnect,
                    where="the database",
                    log=log,
                )
            except Exception as exc:
                kind = trouble(exc)  # None for the target's own errors (ConfigError...)
                if not retry or kind is None:
                    raise
                if kind == "setup":
                    self._check_tables()  # a layout its tables no longer fit: ConfigError
                # A read the run cannot do without: the run stops, and saves nothing.
                why = exception_text(exc).splitlines()[0]  # PostgreSQL's next lines quote the SQL
                msg = f"{method.__name__}: the database did not serve the read: {why}"
                raise TargetUnavailable(msg) from exc

        return run

    return wrap


class SqlTarget(Closing, TargetDAO):
    """A target DAO over tables of a SQL database, through any DB-API 2 connection.

    The tables are described by a :class:`SqlLayout`: a group table, an entity
    table and a membership table (for ``membership_objects``), each optional,
    with single-valued attributes as columns and multi-valued ones (a group's
    ``member`` list for ``group_attributes``, an entity's ``isMemberOf`` for
    ``entity_attributes``) as rows of an attribute table. Every value is bound
    as a parameter; table and column names come only from the layout, where
    they are checked as identifiers and quoted.

    Reads and writes go in batches (``executemany``, *batch_size* objects at a
    time, one transaction each). When a batch fails, it is rolled back and its
    objects are written one by one, each in a savepoint, so that one bad row
    becomes a failure of that object only.

    On a psycopg 3 connection, each batch of membership rows is one ``COPY``
    straight into the membership table, in a savepoint; if the table refuses
    a row (one already there), the batch goes with ``COPY`` into a temporary
    staging table and is moved into the membership table by one ``INSERT ...
    SELECT ... ON CONFLICT``: the same result as the many-row ``INSERT``,
    several times faster (see *copy*).

    A connection the database drops (a restart, a failover, an idle
    timeout) is a :class:`~grouperprov.exceptions.TargetUnavailable`. Given a
    *connect* function instead of a connection, the target connects again:
    a read is then tried once more; a write cut off is not (part of it may
    have been done), it fails for its objects and the next one goes over the
    new connection.

    Args:
        connection: An open DB-API 2 connection (``sqlite3``, ``psycopg``...),
            or a function of no arguments that opens one (to connect again).
            The target commits its own transactions on it.
        layout: The tables: a :class:`SqlLayout`, or the plain data
            :meth:`SqlLayout.from_dict` takes (a ``ConfigError`` names each
            problem's key path).
        batch_size: The largest number of objects per statement batch.
        paramstyle: The driver's placeholder style (``qmark`` or ``format``);
            found from the driver module when not given.
        copy: Whether membership rows go in through ``COPY`` (needs psycopg 3
            and the right to create temporary tables); ``None``, the default,
            uses it on psycopg 3 connections.

    Raises:
        TypeError: *connection* is not a DB-API 2 connection or a function
            of no arguments, or it is an asyncio connection; *layout* is
            neither a layout nor a mapping.
        ConfigError: The layout is invalid, or *batch_size* or *copy* is of
            the wrong type.
    """

    def __init__(
        self,
        connection: Any,  # noqa: ANN401  # any DB-API 2 connection
        layout: SqlLayout | Mapping[str, Any],
        *,
        batch_size: int = 1000,
        paramstyle: str | None = None,
        copy: bool | None = None,
    ) -> None:
        given: object = layout  # as given, whatever the annotation says
        if isinstance(given, Mapping):
            layout = SqlLayout.from_dict(given)  # plain data, as from TOML
        elif not isinstance(given, SqlLayout):
            msg = (  # the value is not shown: a connection string may hold a password
                f"SqlTarget layout= takes a SqlLayout or the mapping SqlLayout.from_dict "
                f"takes, not {type(given).__name__}"
            )
            raise TypeError(msg)
        assert isinstance(layout, SqlLayout)  # noqa: S101  # for the type checker
        layout.check()
        _check_settings(batch_size, copy)
        factory = callable(connection) and not hasattr(connection, "cursor")
        self._connect: Callable[[], Any] | None = connection if factory else None
        self._db = self._open() if factory else connection
        connection = self._db
        _check_connection(connection)
        driver = _driver(connection)
        if driver in _OTHER_SQL:
            msg = (
                f"SqlTarget writes the SQL of PostgreSQL and SQLite (double-quoted names,"
                f" INSERT ... ON CONFLICT), which {_OTHER_SQL[driver]} does not take; this"
                f" {driver} connection's database would refuse its statements"
            )
            raise ValueError(msg)
        self.layout = layout
        self._batch = max(1, batch_size)
        # Set while a failed batch is written again one object at a time: values
        # of multi-valued attributes are then tried one by one too (see _add_values).
        self._careful = False
        style = paramstyle or _paramstyle(connection)
        if style not in _MARKS:
            msg = f"unsupported paramstyle {style!r} (qmark, format or pyformat)"
            raise ValueError(msg)
        self._p = _MARKS[style]
        self._sqlite = isinstance(connection, sqlite3.Connection)
        psycopg3 = driver == "psycopg"
        self._postgres = driver in {"psycopg", "psycopg2"}
        if copy and not psycopg3:
            msg = f"copy=True needs a psycopg 3 connection, not {type(connection).__name__}"
            raise ValueError(msg)
        self._copy = psycopg3 if copy is None else copy
        # Whether the tables were found to have the layout's columns (see _check_tables).
        self._checked = False
        # Column names compare as the database compares them: exactly on
        # PostgreSQL (quoted names), ignoring case elsewhere.
        self._column_form: Callable[[str], str] = (lambda n: n) if self._postgres else str.casefold
        # The columns the database compares ignoring case (in that form), by
        # table, as _check_tables found them.
        self._folding: dict[str, frozenset[str]] = {}
        # The columns whose values the database makes (generated), by table, alike.
        self._generated: dict[str, frozenset[str]] = {}

    def close(self) -> None:
        """Close the connection if the target opened it (given a connect function).

        A connection passed in is the caller's: it is left open.
        """
        if self._connect is not None:
            self._db.close()

    def _open(self) -> Any:  # noqa: ANN401  # a DB-API 2 connection
        assert self._connect is not None  # noqa: S101  # a factory was given
        try:
            return self._connect()
        except Exception as exc:
            # The driver's message names the server; the function's arguments stay out.
            msg = f"cannot connect to the database: {exception_text(exc)}"
            raise TargetUnavailable(msg) from exc

    def _lost(self, exc: Exception) -> str | None:
        """Why the connection was lost, if *exc* means it was; else ``None``.

        A connection is lost when the driver says it is closed or broken
        (psycopg's ``closed`` and ``broken``).
        """
        if isinstance(exc, TargetUnavailable):
            return None
        if not (getattr(self._db, "closed", False) or getattr(self._db, "broken", False)):
            return None
        return exception_text(exc)

    def _revive(self) -> None:
        """Connect again, before an operation, where the server closed the idle connection.

        Only with a connect function (a connection passed in is the
        caller's: its loss says so when it is used), and on a connection
        with a socket to look at (``fileno()``, as psycopg's has): a
        database that restarted between runs is connected to again before
        anything is sent, so a write is not cut off for it.
        """
        if self._connect is None:
            return
        fileno = getattr(self._db, "fileno", None)
        if fileno is None:
            return
        if getattr(self._db, "closed", False) or closed_by_peer(fileno()):
            self._reconnect("the next operation", "the server closed it while it was idle")

    def _reconnect(self, what: str, reason: str) -> None:
        """A new connection, from the connect function; without one, TargetUnavailable."""
        if self._connect is None:
            msg = (
                f"{what}: the connection to the database was lost ({reason});"
                " give SqlTarget a function that connects, to have it connect again"
            )
            raise TargetUnavailable(msg)
        with contextlib.suppress(Exception):
            self._db.close()
        self._db = self._open()
        self._checked = False
        log.info("connected to the database again")

    def __repr__(self) -> str:
        tables = [t.table for t in (self.layout.groups, self.layout.entities) if t]
        if self.layout.memberships:
            tables.append(self.layout.memberships.table)
        return f"SqlTarget(tables={tables!r})"  # never the connection (it may hold a password)

    def capabilities(self) -> Capabilities:
        """Every operation of the tables the layout has, in batches of *batch_size*.

        The attributes kept are the layout's: an object table's columns and
        multi-valued attributes, the membership table's columns. Those whose
        column the database compares ignoring case (PostgreSQL: ``citext``, a
        nondeterministic collation; SQLite: ``COLLATE NOCASE``) are
        :attr:`~grouperprov.Capabilities.case_insensitive`; those whose
        column the database makes (``GENERATED ALWAYS``, a generated column)
        are :attr:`~grouperprov.Capabilities.read_only`. Finding them
        checks the tables once, as the first operation would; while the
        tables cannot be read (not made yet, the database down), none is
        declared, and the first operation says why.
        """
        caps = Capabilities.of(self)
        missing: set[Operation] = set()
        kept: dict[ObjectType, frozenset[str]] = {}
        folding, generating = self._column_kinds()

        def among(
            by_table: Mapping[str, frozenset[str]], table: str, columns: Mapping[str, str]
        ) -> set[str]:
            """The attributes of *columns* whose column in *table* is in *by_table*'s."""
            found = by_table.get(table, frozenset())
            return {n for n, c in columns.items() if self._column_form(c) in found}

        folded: dict[ObjectType, frozenset[str]] = {}
        generated: dict[ObjectType, frozenset[str]] = {}
        for object_type, table, ops in (
            (ObjectType.GROUP, self.layout.groups, _GROUP_OPS),
            (ObjectType.ENTITY, self.layout.entities, _ENTITY_OPS),
        ):
            if table is None:
                missing |= ops
                continue
            kept[object_type] = frozenset(table.columns) | frozenset(table.multi_valued)
            if made := among(generating, table.table, table.columns):
                generated[object_type] = frozenset(made)
            names = among(folding, table.table, table.columns)
            a = table.attribute_table
            if a is not None and self._column_form(a.value_column) in folding.get(a.table, ()):
                names |= set(table.multi_valued)
            if names:
                folded[object_type] = frozenset(names)
        m = self.layout.memberships
        if m is None:
            missing |= _MEMBERSHIP_OPS
        else:
            kept[ObjectType.MEMBERSHIP] = frozenset(m.columns)
            if made := among(generating, m.table, m.columns):
                generated[ObjectType.MEMBERSHIP] = frozenset(made)
            names = among(folding, m.table, m.columns)
            if names:
                folded[ObjectType.MEMBERSHIP] = frozenset(names)
        sizes = {op: self._batch for op in caps.operations if op.value.endswith("s")}
        return Capabilities(
            caps.operations - missing, sizes, caps.value_changes, kept, folded, generated
        )

    def _column_kinds(self) -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
        """The columns that fold case and those generated, by table; none while unreadable."""
        try:
            return self._checked_columns()
        except (ConfigError, TargetUnavailable) as exc:
            log.debug("no case-insensitive or generated columns known: %s", exc)
            return {}, {}

    @_guarded(retry=True)
    def _checked_columns(self) -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
        return self._folding, self._generated

    # -- schema -----------------------------------------------------------------

    def create_tables(self) -> None:
        """Create the layout's tables if they do not exist (for tests, demos, new set-ups).

        Columns are ``TEXT`` unless the layout's ``types`` say otherwise (key
        columns too: a group name in ``VARCHAR(200)``, a member id in
        ``CHAR(8)``); a generated id is ``INTEGER PRIMARY KEY`` in SQLite and
        an identity column elsewhere. A key column an attribute is written to
        (``columns = {name = "name"}`` with ``id_column = "name"``) is not
        generated: it has that column's type.
        """
        statements: list[str] = []
        for table in (self.layout.groups, self.layout.entities):
            if table is not None:
                statements.extend(self._object_ddl(table))
        if self.layout.memberships is not None:
            m = self.layout.memberships
            cols = [
                f"{quote(m.group_column)} {m.types.get(m.group_column, 'TEXT')} NOT NULL",
                f"{quote(m.entity_column)} {m.types.get(m.entity_column, 'TEXT')} NOT NULL",
            ]
            cols += [f"{quote(c)} {m.types.get(c, 'TEXT')}" for c in m.columns.values()]
            cols.append(f"PRIMARY KEY ({quote(m.group_column)}, {quote(m.entity_column)})")
            statements.append(f"CREATE TABLE IF NOT EXISTS {quote(m.table)} ({', '.join(cols)})")
            statements.append(self._index_ddl(m.table, [m.entity_column]))
        with self._transaction() as cur:
            for statement in statements:
                cur.execute(statement)

    def _object_ddl(self, table: ObjectTable) -> Iterator[str]:
        # An attribute written into the key column makes the key, as id_attribute
        # does: a generated (integer) key column refused its values on every insert
        # ("invalid input syntax for type bigint", SQLite's "datatype mismatch").
        written = table.id_column in table.columns.values()
        if table.id_attribute is not None or written:
            key = f"{quote(table.id_column)} {table.types.get(table.id_column, 'TEXT')} PRIMARY KEY"
        elif self._sqlite:
            key = f"{quote(table.id_column)} INTEGER PRIMARY KEY"
        else:
            key = f"{quote(table.id_column)} BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
        cols = [key]
        cols += [
            f"{quote(c)} {table.types.get(c, 'TEXT')}"
            for c in dict.fromkeys(table.columns.values())
            if c != table.id_column
        ]
        yield f"CREATE TABLE IF NOT EXISTS {quote(table.table)} ({', '.join(cols)})"
        a = table.attribute_table
        if a is not None:
            yield (
                f"CREATE TABLE IF NOT EXISTS {quote(a.table)} ("
                f"{quote(a.owner_column)} TEXT NOT NULL, {quote(a.name_column)} TEXT NOT NULL, "
                f"{quote(a.value_column)} TEXT NOT NULL, PRIMARY KEY ({quote(a.owner_column)}, "
                f"{quote(a.name_column)}, {quote(a.value_column)}))"
            )
            yield self._index_ddl(a.table, [a.name_column, a.value_column])

    def _index_ddl(self, table: str, columns: Sequence[str]) -> str:
        """``CREATE INDEX`` on *columns* of *table* (``schema.table`` too).

        The index is named after the table and the last column. Its schema is
        the table's: PostgreSQL takes it from the table (the index's name has
        none), SQLite from the index's name (the table's must then have none).
        """
        schema, _, name = table.rpartition(".")
        index = f"{table.replace('.', '_')}_{columns[-1]}_idx"
        on, index = (name, f"{schema}.{index}") if self._sqlite and schema else (table, index)
        names = ", ".join(quote(c) for c in columns)
        return f"CREATE INDEX IF NOT EXISTS {quote(index)} ON {quote(on)} ({names})"

    def _check_tables(self, part: str | None = None) -> None:
        """Check that the tables have the layout's columns: all, or those of one *part*.

        All of them before the first operation; at a full read, those of the
        part it reads (``groups``, ``entities``, ``memberships``).

        A column the table lacks must stop the run before anything is
        written: SQLite takes a double-quoted name it does not know for a
        string, so a misspelt ``group_column`` read every row as a member of
        a group named after the column, and the delete of those "memberships"
        matched every row of each entity (a name compared with itself).
        Names compare as the database does: exactly on PostgreSQL (quoted
        names), ignoring case elsewhere.

        Raises:
            ConfigError: Every column missing, or table that cannot be read,
                each with its key path in the layout.
        """
        problems: list[ConfigProblem] = []
        fold = self._column_form
        for (path, table), columns in used_columns(self.layout).items():
            if part is not None and path.partition(".")[0] != part:
                continue
            try:
                found = self._columns_of(table)
            except Exception as exc:
                if self._lost(exc) is not None:
                    raise
                why = exception_text(exc).splitlines()[0]  # PostgreSQL's next lines quote the SQL
                if trouble(exc) == "unavailable":  # a lock, not the layout
                    msg = f"cannot read table {table!r}: {why}"
                    raise TargetUnavailable(msg) from exc
                problems.append(ConfigProblem(path, f"cannot read table {table!r}: {why}"))
                continue
            if found is None:
                why = f"no table {table!r} in the database"
                like = self._tables_like(table)
                if like:
                    why += (
                        f"; it has {', '.join(map(repr, like))} (quoted names are exact on"
                        " PostgreSQL, and a table outside the search_path needs its schema)"
                    )
                problems.append(ConfigProblem(path, why))
                continue
            have = {fold(n) for n in found}
            # On PostgreSQL, a name that differs in case only is not the column.
            cased = {n.casefold(): n for n in found}
            before = len(problems)
            for key, column in columns:
                if fold(column) in have:
                    continue
                near = cased.get(column.casefold())
                why = f"table {table!r} has no column {column!r} (its columns: "
                why += f"{', '.join(sorted(found))})"
                if near is not None:
                    why += f"; quoted names are exact on PostgreSQL: write {near!r}"
                problems.append(ConfigProblem(key, why))
            if len(problems) == before:  # a misspelt column would be named twice
                required = [n for n, c in found.items() if c.required]
                problems += self._unwritten(path, table, columns, fold, required)
            self._folding[table] = frozenset(fold(n) for n, c in found.items() if c.folds)
            self._generated[table] = frozenset(fold(n) for n, c in found.items() if c.generated)
        m = self.layout.memberships
        if m is not None and part in {None, "memberships"} and not problems:
            pair = (m.group_column, m.entity_column)
            if self._unique_on(m.table, pair) is False:
                why = (
                    f"table {m.table!r} has no primary key or unique constraint on exactly"
                    f" ({', '.join(pair)}): a membership written twice (a run retried after"
                    " a crash) would be two rows, and inserts need one (ON CONFLICT); add"
                    f" one: CREATE UNIQUE INDEX {m.table.rpartition('.')[2]}_pair"
                    f" ON {m.table} ({', '.join(pair)})"
                )
                problems.append(ConfigProblem("memberships.table", why))
        if problems:
            self._checked = False  # until it passes: every operation checks all again
            raise ConfigError(problems)
        if part is None:
            self._checked = True

    def _unwritten(
        self,
        path: str,
        table: str,
        columns: Sequence[tuple[str, str]],
        fold: Callable[[str], str],
        required: Sequence[str],
    ) -> list[ConfigProblem]:
        """The *required* columns every insert into *table* would leave empty.

        A ``NOT NULL`` column with no default that the layout does not write
        (an application's ``created_by``) refused every row, one at a time, in
        every run: 3,000 memberships took 2 s to fail on PostgreSQL. So does
        the key column of a table whose keys the database makes (no
        ``id_attribute``) when it has no default or identity.
        """
        if not required:
            return []
        written = {fold(column) for _, column in columns}
        kind = path.partition(".")[0]
        owner = self.layout.groups if kind == "groups" else self.layout.entities
        made = (  # the key column, when no attribute writes it
            path == f"{kind}.table"
            and owner is not None
            and owner.id_attribute is None
            and fold(owner.id_column) not in {fold(c) for c in owner.columns.values()}
            and fold(owner.id_column)
        )
        problems: list[ConfigProblem] = []
        for column in required:
            if fold(column) == made:
                why = (
                    f"the database makes the keys of {table!r} (there is no id_attribute),"
                    f" but its column {column!r} has no default or identity: every insert"
                    " would fail; give it one, or set id_attribute"
                )
                problems.append(ConfigProblem(f"{kind}.id_column", why))
            elif fold(column) not in written:
                why = (
                    f"table {table!r} has a NOT NULL column {column!r} with no default, which"
                    " the layout does not write: every insert would fail; give it a default,"
                    " or write it (a column of the layout)"
                )
                problems.append(ConfigProblem(path, why))
        return problems

    def _unique_on(self, table: str, columns: tuple[str, str]) -> bool | None:
        """Whether a unique index of *table* (a primary key) is on exactly *columns*.

        ``None`` on a database other than PostgreSQL and SQLite: not looked at.
        """
        with self._transaction() as cur:
            if self._postgres:
                # The key columns of each whole-table unique index, by name.
                cur.execute(
                    "SELECT count(*) FROM pg_catalog.pg_index i WHERE i.indrelid ="  # noqa: S608  # placeholders
                    f" to_regclass({self._p}) AND i.indisunique AND i.indpred IS NULL"
                    " AND i.indexprs IS NULL AND i.indnkeyatts = 2 AND ARRAY("
                    "SELECT a.attname::text FROM pg_catalog.pg_attribute a"
                    " WHERE a.attrelid = i.indrelid AND a.attnum IN (i.indkey[0], i.indkey[1])"
                    f") @> {self._p}::text[]",
                    [quote(table), list(columns)],
                )
                return bool(cur.fetchone()[0])
            if not self._sqlite:
                return None
            schema, _, name = table.rpartition(".")
            prefix = f"{quote(schema)}." if schema else ""
            wanted = {c.casefold() for c in columns}
            cur.execute(f"PRAGMA {prefix}index_list({quote(name)})")
            # (seq, name, unique, origin, partial) per index
            indexes = [row[1] for row in cur.fetchall() if row[2] and not row[4]]
            for index in indexes:
                cur.execute(f"PRAGMA {prefix}index_info({quote(index)})")
                if {str(row[2]).casefold() for row in cur.fetchall()} == wanted:
                    return True
            return False

    def _columns_of(self, table: str) -> dict[str, _Column] | None:
        """*table*'s columns: whether an insert must give each a value, whether it folds case.

        ``None`` when PostgreSQL has no such table. A column must be given a
        value when it is ``NOT NULL`` with no default (nor identity, nor
        generated; SQLite's ``INTEGER PRIMARY KEY`` is the row id, which it
        makes); that is known on PostgreSQL and SQLite only, elsewhere no
        column is. A column folds case when it is PostgreSQL's ``citext`` or
        has a nondeterministic collation, or is SQLite's ``COLLATE NOCASE``;
        elsewhere none is known to.

        PostgreSQL's are read from its catalog (``pg_attribute``), which needs
        no privilege on the table: a role granted only the layout's columns
        (column privileges) could not run ``SELECT *``. Elsewhere, the
        columns of an empty ``SELECT *`` (a table the database lacks raises).
        """
        with self._transaction() as cur:
            if self._postgres:
                cur.execute(
                    "SELECT a.attname, a.attnotnull AND NOT a.atthasdef AND a.attidentity = ''"  # noqa: S608  # a placeholder
                    # collisdeterministic is PostgreSQL 12's: read through JSON, an
                    # older server's catalog (without it) reads as deterministic.
                    " AND a.attgenerated = '', t.typname = 'citext' OR NOT coalesce(("
                    "to_jsonb(c) ->> 'collisdeterministic')::boolean, true),"
                    " a.attgenerated <> '' OR a.attidentity = 'a'"  # GENERATED ALWAYS
                    " FROM pg_catalog.pg_attribute a"
                    " JOIN pg_catalog.pg_type t ON t.oid = a.atttypid"
                    " LEFT JOIN pg_catalog.pg_collation c ON c.oid = a.attcollation"
                    f" WHERE a.attrelid = to_regclass({self._p}) AND a.attnum > 0"
                    " AND NOT a.attisdropped ORDER BY a.attnum",
                    [quote(table)],  # the name as the statements write it, as a value
                )
                rows = cur.fetchall()
                if not rows:  # to_regclass: NULL for no table (a table has a column)
                    return None
                return {str(r[0]): _Column(bool(r[1]), bool(r[2]), bool(r[3])) for r in rows}
            cur.execute(f"SELECT * FROM {quote(table)} WHERE 1 = 0")  # noqa: S608  # checked name
            names = [str(d[0]) for d in cur.description or ()]
            if not self._sqlite:
                return {n: _Column(required=False, folds=False) for n in names}
            schema, _, name = table.rpartition(".")
            prefix = f"{quote(schema)}." if schema else ""
            cur.execute(f"PRAGMA {prefix}table_xinfo({quote(name)})")
            # (cid, name, type, notnull, default, pk, hidden) per column; hidden
            # 2 or 3: a generated column (table_info leaves those out).
            every = cur.fetchall()
            generated = {str(r[1]) for r in every if r[6] in {2, 3}}
            rows = [r for r in every if str(r[1]) not in generated]
            keys = [r for r in rows if r[5]]
            rowid = (  # INTEGER PRIMARY KEY: the row id, which SQLite makes
                str(keys[0][1]) if len(keys) == 1 and str(keys[0][2]).upper() == "INTEGER" else None
            )
            required = {str(r[1]) for r in rows if r[3] and r[4] is None and str(r[1]) != rowid}
            cur.execute(
                f"SELECT sql FROM {prefix}sqlite_master WHERE type = 'table'"  # noqa: S608  # checked name
                f" AND name = {self._p} COLLATE NOCASE",
                [name],
            )
            made = cur.fetchone()
            nocase = {
                c.casefold() for c in _nocase_columns(str(made[0]) if made and made[0] else "")
            }
            return {
                n: _Column(n in required, n.casefold() in nocase, n in generated) for n in names
            }

    def _tables_like(self, table: str) -> list[str]:
        """PostgreSQL's tables named as *table* is but for case or schema: what to write.

        Asked only on PostgreSQL: elsewhere a table that is not there fails
        the read of its columns, which says why.
        """
        schema, _, name = table.rpartition(".")
        try:
            with self._transaction() as cur:
                cur.execute(
                    "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c"  # noqa: S608  # a placeholder
                    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')"
                    f" AND lower(c.relname) = lower({self._p})"
                    " AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
                    " ORDER BY 1, 2",
                    [name],
                )
                rows = [(str(r[0]), str(r[1])) for r in cur.fetchall()]
        except Exception:  # noqa: BLE001  # pragma: no cover  # a hint only; the catalog is every role's to read
            return []
        if schema:
            rows = [r for r in rows if r[0].casefold() == schema.casefold()] or rows
        return [f"{n}.{t}" for n, t in rows[:5]]

    # -- plumbing ---------------------------------------------------------------

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def _in(self, count: int) -> str:
        return ", ".join([self._p] * count)

    def _chunks(self, items: Sequence[_T]) -> Iterator[Sequence[_T]]:
        for start in range(0, len(items), self._batch):
            yield items[start : start + self._batch]

    def _table(self, kind: type[Owner | _OwnerT]) -> ObjectTable:
        table = self.layout.groups if kind is ProvisioningGroup else self.layout.entities
        if table is None:  # pragma: no cover  # capabilities leave these operations out
            msg = f"the layout has no {'group' if kind is ProvisioningGroup else 'entity'} table"
            raise NotImplementedError(msg)
        return table

    # -- reads ------------------------------------------------------------------

    def _fetched(self, cur: _Cursor) -> list[Any]:
        """The rows of the statement *cur* ran, ``character(n)`` padding cut (PostgreSQL)."""
        rows = cur.fetchall()
        return _unpadded(cur, rows) if self._postgres else rows

    def _read(
        self, kind: type[_OwnerT], where: str = "", params: Sequence[object] = ()
    ) -> list[_OwnerT]:
        table = self._table(kind)
        names = list(table.columns)
        columns = [quote(table.id_column), *(quote(table.columns[n]) for n in names)]
        sql = f"SELECT {', '.join(columns)} FROM {quote(table.table)}{where}"  # noqa: S608  # checked names
        with self._transaction() as cur:  # reads end their transaction too
            cur.execute(sql, list(params))
            rows = _keyed(self._fetched(cur), 1, table.table, (table.id_column,))
        multi = self._multi(table, [str(r[0]) for r in rows])
        as_they_are = plain(rows)  # most results: no value to read by a rule
        beans: list[_OwnerT] = []
        for row in rows:
            target_id = str(row[0])
            values: dict[str, AttributeValue] = (
                {n: v for n, v in zip(names, row[1:], strict=True) if v is not None}
                if as_they_are
                else row_attributes(
                    names, row[1:], functools.partial(_place, table.table, target_id, table.columns)
                )
            )
            values.update(multi.get(target_id, {}))
            beans.append(kind(id=target_id, attributes=values))
        beans.sort(key=lambda b: b.id)
        return beans

    def _multi(
        self, table: ObjectTable, ids: Sequence[str]
    ) -> dict[str, dict[str, frozenset[Scalar]]]:
        a = table.attribute_table
        found: dict[str, dict[str, set[Scalar]]] = {}
        if a is None or not table.multi_valued or not ids:
            return {}
        with self._transaction() as cur:  # reads end their transaction too
            for chunk in self._chunks(list(ids)):
                owner, name = quote(a.owner_column), quote(a.name_column)
                cur.execute(
                    f"SELECT {owner}, {name}, {quote(a.value_column)} FROM {quote(a.table)}"  # noqa: S608  # checked names
                    f" WHERE {owner} IN ({self._in(len(chunk))})"
                    f" AND {name} IN ({self._in(len(table.multi_valued))})",
                    [*chunk, *table.multi_valued],
                )
                for row_owner, row_name, value in self._fetched(cur):
                    if value is None:  # a NULL value is no value, as a NULL column is
                        continue
                    if type(value) is not str:
                        value = read_scalar(  # noqa: PLW2901  # read as a bean value
                            value, functools.partial(_value_place, a.table, row_owner, row_name)
                        )
                    found.setdefault(str(row_owner), {}).setdefault(row_name, set()).add(value)
        return {o: {n: frozenset(v) for n, v in by.items()} for o, by in found.items()}

    def _by_ids(self, kind: type[_OwnerT], ids: Collection[str]) -> list[_OwnerT]:
        table = self._table(kind)
        found: list[_OwnerT] = []
        for chunk in self._chunks(_findable(ids)):
            where = f" WHERE {quote(table.id_column)} IN ({self._in(len(chunk))})"
            found.extend(self._read(kind, where, chunk))
        return sorted(found, key=lambda b: b.id)

    def _search(
        self, kind: type[_OwnerT], attribute: str, values: Collection[Scalar]
    ) -> list[_OwnerT]:
        table = self._table(kind)
        wanted = _findable(str(v) for v in values)
        if not wanted:
            return []
        if attribute in table.columns:
            found: list[_OwnerT] = []
            column = quote(table.columns[attribute])
            for chunk in self._chunks(wanted):
                found.extend(
                    self._read(kind, f" WHERE {column} IN ({self._in(len(chunk))})", chunk)
                )
            return sorted(found, key=lambda b: b.id)
        a = table.attribute_table
        if a is None or attribute not in table.multi_valued:
            return []
        owners: set[str] = set()
        with self._transaction() as cur:  # reads end their transaction too
            for chunk in self._chunks(wanted):
                cur.execute(
                    f"SELECT {quote(a.owner_column)} FROM {quote(a.table)}"  # noqa: S608  # checked names
                    f" WHERE {quote(a.name_column)} = {self._p}"
                    f" AND {quote(a.value_column)} IN ({self._in(len(chunk))})",
                    [attribute, *chunk],
                )
                owners.update(str(r[0]) for r in self._fetched(cur))
        return self._by_ids(kind, owners)

    @_guarded(retry=True, recheck="groups")
    def retrieve_all_groups(self) -> list[ProvisioningGroup]:
        """Every row of the group table, with its multi-valued attributes."""
        return self._read(ProvisioningGroup)

    @_guarded(retry=True, recheck="entities")
    def retrieve_all_entities(self) -> list[ProvisioningEntity]:
        """Every row of the entity table, with its multi-valued attributes."""
        return self._read(ProvisioningEntity)

    @_guarded(retry=True)
    def retrieve_groups(self, ids: Collection[str]) -> list[ProvisioningGroup]:
        """The groups with these target ids (by the primary key, in batches)."""
        return self._by_ids(ProvisioningGroup, ids)

    @_guarded(retry=True)
    def retrieve_entities(self, ids: Collection[str]) -> list[ProvisioningEntity]:
        """The entities with these target ids."""
        return self._by_ids(ProvisioningEntity, ids)

    @_guarded(retry=True)
    def search_groups(self, attribute: str, values: Collection[Scalar]) -> list[ProvisioningGroup]:
        """The groups whose *attribute* (a column, or multi-valued) has one of *values*."""
        return self._search(ProvisioningGroup, attribute, values)

    @_guarded(retry=True)
    def search_entities(
        self, attribute: str, values: Collection[Scalar]
    ) -> list[ProvisioningEntity]:
        """The entities whose *attribute* has one of *values*."""
        return self._search(ProvisioningEntity, attribute, values)

    def _memberships(
        self, where: str = "", params: Sequence[object] = ()
    ) -> list[ProvisioningMembership]:
        m = self._membership_table()
        names = list(m.columns)
        columns = [quote(m.group_column), quote(m.entity_column)]
        columns += [quote(m.columns[n]) for n in names]
        with self._transaction() as cur:  # reads end their transaction too
            cur.execute(f"SELECT {', '.join(columns)} FROM {quote(m.table)}{where}", list(params))  # noqa: S608  # checked names
            rows = _keyed(self._fetched(cur), 2, m.table, (m.group_column, m.entity_column))
        as_they_are = plain(rows)  # most results: no value to read by a rule
        found = [
            ProvisioningMembership(
                group_id=str(row[0]),
                entity_id=str(row[1]),
                attributes={n: v for n, v in zip(names, row[2:], strict=True) if v is not None}
                if as_they_are
                else row_attributes(
                    names,
                    row[2:],
                    functools.partial(_place, m.table, (str(row[0]), str(row[1])), m.columns),
                ),
            )
            for row in rows
        ]
        return sorted(found, key=lambda m: m.id)

    def _membership_table(self) -> MembershipTable:
        if self.layout.memberships is None:  # pragma: no cover  # capabilities leave these out
            msg = "the layout has no membership table"
            raise NotImplementedError(msg)
        return self.layout.memberships

    @_guarded(retry=True, recheck="memberships")
    def retrieve_all_memberships(self) -> list[ProvisioningMembership]:
        """Every row of the membership table."""
        return self._memberships()

    def _memberships_by(self, column: str, ids: Collection[str]) -> list[ProvisioningMembership]:
        found: list[ProvisioningMembership] = []
        for chunk in self._chunks(_findable(ids)):
            found.extend(
                self._memberships(f" WHERE {quote(column)} IN ({self._in(len(chunk))})", chunk)
            )
        return sorted(found, key=lambda m: m.id)

    @_guarded(retry=True)
    def retrieve_memberships_by_groups(
        self, group_ids: Collection[str]
    ) -> list[ProvisioningMembership]:
        """The membership rows of the groups with these target ids."""
        return self._memberships_by(self._membership_table().group_column, group_ids)

    @_guarded(retry=True)
    def retrieve_memberships_by_entities(
        self, entity_ids: Collection[str]
    ) -> list[ProvisioningMembership]:
        """The membership rows of the entities with these target ids."""
        return self._memberships_by(self._membership_table().entity_column, entity_ids)

    # -- writes -----------------------------------------------------------------

    def _write(
        self,
        items: Sequence[_T],
        bulk: Callable[[Any, Sequence[_T]], list[WriteOutcome]],
    ) -> list[WriteOutcome]:
        """Write *items* a batch at a time; a failing batch again one by one in savepoints."""
        outcomes: list[WriteOutcome] = []
        for chunk in self._chunks(items):
            try:
                with self._transaction() as cur:
                    outcomes.extend(bulk(cur, chunk))
                continue
            except Exception as exc:
                if trouble(exc) == "unavailable":
                    # Each object alone would meet it too (and wait out a lock
                    # timeout each): the batch fails, for all its objects.
                    raise
                log.debug("a batch failed: its objects are written one by one", exc_info=True)
            self._careful = True
            try:
                with self._transaction() as cur:
                    for item in chunk:
                        done = _attempt(cur, "grouperprov_object", bulk, cur, [item])
                        if isinstance(done, Exception):  # this object's outcome
                            done = [WriteOutcome.failure(exception_text(done))]
                        outcomes += done
            finally:
                self._careful = False
        return outcomes

    def _written(self, table: str, columns: Mapping[str, str]) -> tuple[str, ...]:
        """The attributes of *columns* an insert writes: not those the database makes.

        A generated column (``GENERATED ALWAYS``) refuses any value, ``NULL``
        too: inserts leave it out, and the database fills it in.
        """
        made = self._generated.get(table, frozenset())
        return tuple(n for n, c in columns.items() if self._column_form(c) not in made)

    def _row(self, table: ObjectTable, bean: Owner, names: Sequence[str]) -> list[object]:
        """The values of *bean* for the columns of *names* (the attributes written)."""
        unknown = set(bean.attributes) - set(table.columns) - set(table.multi_valued)
        if unknown:
            msg = f"no column for the attributes {sorted(unknown)} in {table.table!r}"
            raise _ObjectError(msg)
        row: list[object] = []
        for name in names:
            value = bean.get(name)
            if isinstance(value, frozenset):
                msg = f"{name!r} is a column: it holds one value, not {len(value)}"
                raise _ObjectError(msg)
            row.append(value)
        return row

    def _insert_owners(self, kind: type[_OwnerT], beans: Sequence[_OwnerT]) -> list[WriteOutcome]:
        table = self._table(kind)
        names = self._written(table.table, table.columns)

        def bulk(cur: _Cursor, chunk: Sequence[_OwnerT]) -> list[WriteOutcome]:
            outcomes: list[WriteOutcome] = []
            rows: list[list[object]] = []
            written: list[tuple[str, _OwnerT]] = []
            for bean in chunk:
                try:
                    row = self._row(table, bean, names)
                    target_id = self._new_id(table, bean)
                except _ObjectError as exc:
                    outcomes.append(WriteOutcome.failure(str(exc)))
                    continue
                rows.append(row if target_id is None else [target_id, *row])
                written.append((target_id or "", bean))
                outcomes.append(WriteOutcome.success())
            columns = [quote(table.columns[n]) for n in names]
            stored: list[str] = []
            if table.id_attribute is not None:
                dedup = [c for c in columns if c != quote(table.id_column)]
                keep = [i for i, c in enumerate(columns) if c != quote(table.id_column)]
                listed = ", ".join([quote(table.id_column), *dedup])
                sql = (
                    f"INSERT INTO {quote(table.table)} ({listed})"  # noqa: S608  # checked names
                    f" VALUES ({self._in(len(dedup) + 1)})"
                )
                cur.executemany(sql, [[r[0], *(r[1 + i] for i in keep)] for r in rows])
                stored = [t for t, _ in written]
            else:
                sql = (
                    f"INSERT INTO {quote(table.table)} ({', '.join(columns)})"  # noqa: S608  # checked names
                    f" VALUES ({self._in(len(columns))}) RETURNING {quote(table.id_column)}"
                )
                for row in rows:
                    cur.execute(sql, row)
                    stored.append(str(cur.fetchone()[0]))
            self._clear_orphans(cur, table, stored)
            ids = iter(stored)
            beans_iter = iter(written)
            result: list[WriteOutcome] = []
            for outcome in outcomes:
                if not outcome.ok:
                    result.append(outcome)
                    continue
                _, bean = next(beans_iter)
                target_id = next(ids)
                failed: list[tuple[str, Scalar, str]] = []
                self._add_values(cur, table, target_id, bean.attributes, failed)
                inserted = kind(id=target_id, attributes=bean.attributes)
                result.append(WriteOutcome.partial(failed, stored=inserted))
            return result

        return self._write(beans, bulk)

    def _clear_orphans(self, cur: _Cursor, table: ObjectTable, owners: Sequence[str]) -> None:
        """Remove attribute rows that name owners just inserted: no row owned them.

        They are left when an owner's row was deleted without its attribute
        rows (by hand, with no foreign key); kept, they would refuse the new
        owner's values on their primary key in every run, or give it values
        no one wrote. Only the layout's multi-valued attributes are touched.
        """
        a = table.attribute_table
        if a is None or not table.multi_valued or not owners:
            return
        cur.execute(
            f"DELETE FROM {quote(a.table)} WHERE {quote(a.owner_column)}"  # noqa: S608  # checked names
            f" IN ({self._in(len(owners))}) AND {quote(a.name_column)}"
            f" IN ({self._in(len(table.multi_valued))})",
            [*owners, *table.multi_valued],
        )
        if cur.rowcount > 0:
            log.warning(
                "removed %d %s of %r whose owners were not in %r (left when those rows were"
                " deleted): their keys are taken again",
                cur.rowcount,
                "row" if cur.rowcount == 1 else "rows",
                a.table,
                table.table,
            )

    def _new_id(self, table: ObjectTable, bean: Owner) -> str | None:
        if table.id_attribute is None:
            return None
        value = bean.get(table.id_attribute)
        if value is None or isinstance(value, frozenset) or value == "":
            msg = f"no single value of {table.id_attribute!r} to make the target id"
            raise _ObjectError(msg)
        return str(value)

    def _add_values(
        self,
        cur: _Cursor,
        table: ObjectTable,
        owner: str,
        values: Mapping[str, AttributeValue],
        failed: list[tuple[str, Scalar, str]],
    ) -> None:
        """Add the rows of *owner*'s multi-valued *values*.

        While a failed batch is written again (``_careful``), a refused
        statement is tried value by value, each in a savepoint: a value the
        table will not take (too long for its column, a check) goes to
        *failed* as ``(attribute, value, why)``, and the others are written.
        """
        named = [
            (name, v)
            for name in table.multi_valued
            for v in sorted(_as_set(values.get(name)), key=str)
        ]
        if not named:
            return
        a = table.attribute_table
        assert a is not None  # noqa: S101  # checked by the layout
        sql = (
            f"INSERT INTO {quote(a.table)} ({quote(a.owner_column)}, {quote(a.name_column)},"  # noqa: S608  # checked names
            f" {quote(a.value_column)}) VALUES ({self._in(3)})"
        )
        rows = [(owner, name, str(v)) for name, v in named]
        if not self._careful:
            cur.executemany(sql, rows)
            return
        if isinstance(_attempt(cur, "grouperprov_values", cur.executemany, sql, rows), Exception):
            for row, (name, value) in zip(rows, named, strict=True):
                done = _attempt(cur, "grouperprov_value", cur.execute, sql, row)
                if isinstance(done, Exception):  # this value's failure
                    failed.append((name, value, exception_text(done)))

    def _remove_values(
        self,
        cur: _Cursor,
        table: ObjectTable,
        owner: str,
        name: str,
        values: Iterable[Scalar] | None,
    ) -> None:
        a = table.attribute_table
        assert a is not None  # noqa: S101  # checked by the layout
        base = (
            f"DELETE FROM {quote(a.table)} WHERE {quote(a.owner_column)} = {self._p}"  # noqa: S608  # checked names
            f" AND {quote(a.name_column)} = {self._p}"
        )
        if values is None:
            cur.execute(base, [owner, name])
        else:
            cur.executemany(
                f"{base} AND {quote(a.value_column)} = {self._p}",
                [(owner, name, str(v)) for v in values],
            )

    def _update_owners(
        self, kind: type[_OwnerT], updates: Sequence[tuple[_OwnerT, Sequence[AttributeChange]]]
    ) -> list[WriteOutcome]:
        table = self._table(kind)

        def bulk(
            cur: _Cursor, chunk: Sequence[tuple[_OwnerT, Sequence[AttributeChange]]]
        ) -> list[WriteOutcome]:
            outcomes: list[WriteOutcome] = []
            for bean, changes in chunk:
                try:
                    self._check_changes(table, changes)
                    key = self._new_key(table, bean.id, changes)
                except _ObjectError as exc:
                    outcomes.append(WriteOutcome.failure(str(exc)))
                    continue
                failed: list[tuple[str, Scalar, str]] = []
                if key is not None:
                    self._clear_key(cur, kind, key)
                # The row is found by its key: a change of the key column goes
                # last. Sent first, it moved the row, and the changes after it
                # (a new description with the rename) updated no row, unnoticed.
                ordered = (
                    sorted(changes, key=lambda c: c.attribute == table.id_attribute)
                    if key is not None
                    else changes
                )
                for change in ordered:
                    self._apply_change(cur, table, bean.id, change, failed)
                if key is None:
                    outcomes.append(WriteOutcome.partial(failed))
                    continue
                self._move_key(cur, kind, bean.id, key)
                moved = kind(id=key, attributes=applied(bean.attributes, changes))
                outcomes.append(WriteOutcome.partial(failed, stored=moved))
            return outcomes

        return self._write(updates, bulk)

    def _check_changes(self, table: ObjectTable, changes: Sequence[AttributeChange]) -> None:
        for change in changes:
            name = change.attribute
            if name in table.multi_valued:
                continue
            if name not in table.columns:
                msg = f"no column for the attribute {name!r} in {table.table!r}"
                raise _ObjectError(msg)
            if change.op is not ChangeOp.REPLACE or isinstance(change.value, frozenset):
                msg = f"{name!r} is a column: it takes one value, replaced"
                raise _ObjectError(msg)
            if table.columns[name] == table.id_column and table.id_attribute != name:
                msg = f"{name!r} is the key column {table.id_column!r}: it cannot change"
                raise _ObjectError(msg)

    def _new_key(
        self, table: ObjectTable, key: str, changes: Sequence[AttributeChange]
    ) -> str | None:
        """The key a change of the key's own attribute gives the row; ``None`` if it keeps its own.

        The key is made from :attr:`ObjectTable.id_attribute` on insert (a
        group's name, say): a rename in Grouper changes it, as a modify DN
        changes an LDAP entry's DN.
        """
        for change in changes:
            if (
                change.attribute == table.id_attribute
                and table.columns.get(change.attribute) == table.id_column
            ):
                if change.value is None or change.value == "":
                    msg = f"no value of {change.attribute!r} to make the key"
                    raise _ObjectError(msg)
                new = str(change.value)
                return None if new == key else new
        return None

    def _members_of(self, kind: type[_OwnerT]) -> tuple[str, str] | None:
        """The membership table and its column that name an owner of *kind* by its key."""
        m = self.layout.memberships
        if m is None:
            return None
        return m.table, m.group_column if kind is ProvisioningGroup else m.entity_column

    def _clear_key(self, cur: _Cursor, kind: type[_OwnerT], new: str) -> None:
        """Before a key moves to *new*: remove the rows that name it while no row has it.

        They were left by a row deleted by hand (with no foreign key), and
        the owner would take on their values and members. This runs before
        the key column changes: a foreign key ``ON UPDATE CASCADE`` moves the
        owner's own rows to the new key with it, and they must not be taken
        for such rows. A row that has the key already is left alone (the
        move then fails on the key, for that object alone).
        """
        table = self._table(kind)
        cur.execute(
            f"SELECT 1 FROM {quote(table.table)} WHERE {quote(table.id_column)} = {self._p}",  # noqa: S608  # checked names
            [new],
        )
        if cur.fetchall():
            return
        self._clear_orphans(cur, table, [new])
        named = self._members_of(kind)
        if named is None:
            return
        members, column = named
        cur.execute(
            f"DELETE FROM {quote(members)} WHERE {quote(column)} = {self._p}",  # noqa: S608  # checked names
            [new],
        )
        if cur.rowcount > 0:
            log.warning(
                "removed %d rows of %r that named %r, which no row of %r had",
                cur.rowcount,
                members,
                new,
                table.table,
            )

    def _move_key(self, cur: _Cursor, kind: type[_OwnerT], old: str, new: str) -> None:
        """Give the rows that name an owner by its old key (values, memberships) the new key.

        The owner's own row has it already (its key column was updated);
        rows a foreign key ``ON UPDATE CASCADE`` moved with it are not found
        under the old key again.
        """
        table = self._table(kind)
        moves: list[tuple[str, str]] = []
        if table.attribute_table is not None:
            moves.append((table.attribute_table.table, table.attribute_table.owner_column))
        named = self._members_of(kind)
        if named is not None:
            moves.append(named)
        for name, column in moves:
            cur.execute(
                f"UPDATE {quote(name)} SET {quote(column)} = {self._p}"  # noqa: S608  # checked names
                f" WHERE {quote(column)} = {self._p}",
                [new, old],
            )

    def _apply_change(
        self,
        cur: _Cursor,
        table: ObjectTable,
        owner: str,
        change: AttributeChange,
        failed: list[tuple[str, Scalar, str]],
    ) -> None:
        name = change.attribute
        if name not in table.multi_valued:
            cur.execute(
                f"UPDATE {quote(table.table)} SET {quote(table.columns[name])} = {self._p}"  # noqa: S608  # checked names
                f" WHERE {quote(table.id_column)} = {self._p}",
                [change.value, owner],
            )
            return
        values = sorted(change.values(), key=str)
        if change.op is ChangeOp.REPLACE:
            self._remove_values(cur, table, owner, name, None)
        elif change.op is ChangeOp.REMOVE:
            self._remove_values(cur, table, owner, name, values)
            return
        else:
            self._remove_values(cur, table, owner, name, values)  # an ADD of a value there is fine
        self._add_values(cur, table, owner, {name: frozenset(values)}, failed)

    def _delete_owners(self, kind: type[_OwnerT], beans: Sequence[_OwnerT]) -> list[WriteOutcome]:
        table = self._table(kind)

        def bulk(cur: _Cursor, chunk: Sequence[_OwnerT]) -> list[WriteOutcome]:
            ids = [[b.id] for b in chunk]
            a = table.attribute_table
            if a is not None:
                cur.executemany(
                    f"DELETE FROM {quote(a.table)} WHERE {quote(a.owner_column)} = {self._p}",  # noqa: S608  # checked names
                    ids,
                )
            named = self._members_of(kind)
            if named is not None:
                members, column = named
                cur.executemany(
                    f"DELETE FROM {quote(members)} WHERE {quote(column)} = {self._p}",  # noqa: S608  # checked names
                    ids,
                )
            cur.executemany(
                f"DELETE FROM {quote(table.table)} WHERE {quote(table.id_column)} = {self._p}",  # noqa: S608  # checked names
                ids,
            )
            return [WriteOutcome.success() for _ in chunk]

        return self._write(beans, bulk)

    @_guarded(retry=False)
    def insert_groups(self, groups: Sequence[ProvisioningGroup]) -> list[WriteOutcome]:
        """Insert group rows (and their multi-valued attributes' rows)."""
        return self._insert_owners(ProvisioningGroup, groups)

    @_guarded(retry=False)
    def update_groups(
        self, updates: Sequence[tuple[ProvisioningGroup, Sequence[AttributeChange]]]
    ) -> list[WriteOutcome]:
        """Replace columns; add, remove or replace multi-valued attributes' rows."""
        return self._update_owners(ProvisioningGroup, updates)

    @_guarded(retry=False)
    def delete_groups(self, groups: Sequence[ProvisioningGroup]) -> list[WriteOutcome]:
        """Delete group rows, their attribute rows and their membership rows (idempotent)."""
        return self._delete_owners(ProvisioningGroup, groups)

    @_guarded(retry=False)
    def insert_entities(self, entities: Sequence[ProvisioningEntity]) -> list[WriteOutcome]:
        """Insert entity rows."""
        return self._insert_owners(ProvisioningEntity, entities)

    @_guarded(retry=False)
    def update_entities(
        self, updates: Sequence[tuple[ProvisioningEntity, Sequence[AttributeChange]]]
    ) -> list[WriteOutcome]:
        """Replace columns; add, remove or replace multi-valued attributes' rows."""
        return self._update_owners(ProvisioningEntity, updates)

    @_guarded(retry=False)
    def delete_entities(self, entities: Sequence[ProvisioningEntity]) -> list[WriteOutcome]:
        """Delete entity rows, their attribute rows and their membership rows (idempotent)."""
        return self._delete_owners(ProvisioningEntity, entities)

    def _membership_row(
        self, membership: ProvisioningMembership, known: frozenset[str], names: Sequence[str]
    ) -> list[object]:
        """The row of *membership*; *known*: the membership table's attributes, *names* written."""
        values = membership.attributes
        if not known.issuperset(values):
            unknown = sorted(set(values) - known)
            msg = f"no column for the membership attributes {unknown}"
            raise _ObjectError(msg)
        row: list[object] = [membership.group_id, membership.entity_id, *map(values.get, names)]
        if frozenset in map(type, row):  # rare: found in C, named below
            name = next(n for n, v in zip(names, row[2:], strict=True) if type(v) is frozenset)
            msg = f"{name!r} is a column: it holds one value"
            raise _ObjectError(msg)
        return row

    def _copy_direct(self, cur: _Cursor, sql: str, rows: Sequence[Sequence[object]]) -> bool:
        """COPY *rows* straight into their table, in a savepoint; whether every row went in.

        A refused row (a key already there, a NOT NULL) undoes the whole COPY
        and nothing else of the transaction.
        """

        def copy() -> None:
            with cur.copy(sql) as out:  # type: ignore[attr-defined]  # psycopg 3 cursors
                for row in rows:
                    out.write_row(row)

        error = _attempt(cur, "grouperprov_copy", copy)
        if not isinstance(error, Exception):
            return True
        # The staging table's path tells the rows apart.
        log.debug("COPY refused a row: the batch goes through the staging table", exc_info=error)
        return False

    @_guarded(retry=False)
    def insert_memberships(
        self, memberships: Sequence[ProvisioningMembership]
    ) -> list[WriteOutcome]:
        """Insert membership rows, many per statement (one already there is updated).

        The membership table needs a primary key or unique constraint on its
        group and entity columns (:meth:`create_tables` makes one): inserts are
        ``INSERT ... ON CONFLICT``, so inserting again is idempotent.
        """
        m = self._membership_table()
        names = self._written(m.table, m.columns)
        columns = [quote(m.group_column), quote(m.entity_column)]
        columns += [quote(m.columns[n]) for n in names]
        key = f"{quote(m.group_column)}, {quote(m.entity_column)}"
        others = [quote(m.columns[n]) for n in names]
        conflict = (
            f" ON CONFLICT ({key}) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in others)
            if others
            else f" ON CONFLICT ({key}) DO NOTHING"
        )
        row_marks = f"({self._in(len(columns))})"
        stage = quote(f"grouperprov_stage_{m.table.replace('.', '_')}")
        known = frozenset(m.columns)

        def bulk(cur: _Cursor, chunk: Sequence[ProvisioningMembership]) -> list[WriteOutcome]:
            outcomes: list[WriteOutcome] = []
            rows: list[list[object]] = []
            for membership in chunk:
                try:
                    rows.append(self._membership_row(membership, known, names))
                except _ObjectError as exc:
                    outcomes.append(WriteOutcome.failure(str(exc)))
                    continue
                outcomes.append(WriteOutcome.success(membership))
            if len(rows) > 1 and self._copy:
                listed = ", ".join(columns)
                if self._copy_direct(cur, f"COPY {quote(m.table)} ({listed}) FROM STDIN", rows):
                    return outcomes
                # A row was refused (most often one already there): COPY into a
                # staging table of the same columns and types, without the
                # table's constraints (emptied at every commit), then one
                # INSERT ... SELECT with the same conflict rule.
                cur.execute(
                    f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS"  # noqa: S608  # checked names
                    f" AS SELECT {listed} FROM {quote(m.table)} WITH NO DATA"
                )
                with cur.copy(f"COPY {stage} ({listed}) FROM STDIN") as out:  # type: ignore[attr-defined]  # psycopg 3 cursors
                    for row in rows:
                        out.write_row(row)
                cur.execute(
                    f"INSERT INTO {quote(m.table)} ({listed})"  # noqa: S608  # checked names
                    f" SELECT {listed} FROM {stage}{conflict}"
                )
            elif rows:
                cur.execute(
                    f"INSERT INTO {quote(m.table)} ({', '.join(columns)})"  # noqa: S608  # checked names
                    f" VALUES {', '.join([row_marks] * len(rows))}{conflict}",
                    [value for row in rows for value in row],
                )
            return outcomes

        return self._write(memberships, bulk)

    @_guarded(retry=False)
    def update_memberships(
        self, updates: Sequence[tuple[ProvisioningMembership, Sequence[AttributeChange]]]
    ) -> list[WriteOutcome]:
        """Replace membership columns."""
        m = self._membership_table()

        def bulk(
            cur: _Cursor, chunk: Sequence[tuple[ProvisioningMembership, Sequence[AttributeChange]]]
        ) -> list[WriteOutcome]:
            outcomes: list[WriteOutcome] = []
            for membership, changes in chunk:
                bad = [
                    c
                    for c in changes
                    if c.attribute not in m.columns
                    or c.op is not ChangeOp.REPLACE
                    or isinstance(c.value, frozenset)
                ]
                if bad:
                    outcomes.append(
                        WriteOutcome.failure(f"cannot {bad[0].op.value} {bad[0].attribute!r}")
                    )
                    continue
                for change in changes:
                    column = quote(m.columns[change.attribute])
                    cur.execute(
                        f"UPDATE {quote(m.table)} SET {column} = {self._p}"  # noqa: S608  # checked names
                        f" WHERE {quote(m.group_column)} = {self._p}"
                        f" AND {quote(m.entity_column)} = {self._p}",
                        [change.value, membership.group_id, membership.entity_id],
                    )
                outcomes.append(WriteOutcome.success())
            return outcomes

        return self._write(updates, bulk)

    @_guarded(retry=False)
    def delete_memberships(
        self, memberships: Sequence[ProvisioningMembership]
    ) -> list[WriteOutcome]:
        """Delete membership rows (deleting a missing row succeeds)."""
        m = self._membership_table()

        def bulk(cur: _Cursor, chunk: Sequence[ProvisioningMembership]) -> list[WriteOutcome]:
            cur.executemany(
                f"DELETE FROM {quote(m.table)} WHERE {quote(m.group_column)} = {self._p}"  # noqa: S608  # checked names
                f" AND {quote(m.entity_column)} = {self._p}",
                [[x.group_id, x.entity_id] for x in chunk],
            )
            return [WriteOutcome.success() for _ in chunk]

        return self._write(memberships, bulk)


class _Transaction:
    """A cursor in a transaction: committed on success, rolled back on an exception.

    On a connection in autocommit mode, the block is an explicit transaction
    (psycopg 3's ``connection.transaction()``; ``BEGIN`` on a ``sqlite3``
    connection made with ``isolation_level=None``, which ``commit()`` and
    ``rollback()`` then end): without one, every statement would commit by
    itself, a batch would not be all or nothing (the rows before a refused
    one stayed, and the retry one by one reported them as refused),
    savepoints would fail, and the ``COPY`` staging table would be emptied
    between its ``COPY`` and its ``INSERT``.
    """

    def __init__(self, connection: Any) -> None:  # noqa: ANN401  # any DB-API 2 connection
        self._db = connection
        self._cur: Any = None
        self._block: Any = None

    def __enter__(self) -> _Cursor:
        db = self._db
        if getattr(db, "autocommit", False) is True and hasattr(db, "transaction"):
            self._block = db.transaction()
            self._block.__enter__()
        cursor = _tuple_cursor(db)
        self._cur = cursor
        # (Where the caller's own transaction is open, the batch joins it.)
        if (
            isinstance(db, sqlite3.Connection)
            and db.isolation_level is None
            and not db.in_transaction
        ):
            cursor.execute("BEGIN")
        return cursor

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        try:
            if self._block is not None:
                self._block.__exit__(kind, exc, tb)  # commits, or rolls back on an exception
            elif kind is None:
                self._db.commit()
            else:
                self._db.rollback()
        finally:
            self._cur.close()


def _tuple_cursor(connection: Any) -> _Cursor:  # noqa: ANN401  # any DB-API 2 connection
    """A cursor of *connection* whose rows are tuples, whatever rows the connection makes.

    An application's own connection may make dicts or named tuples
    (psycopg's ``row_factory=dict_row``, a ``sqlite3`` ``row_factory``):
    rows are read by position here, and a named tuple cannot even hold a
    column selected twice.
    """
    if _driver(connection) == "psycopg":
        rows = importlib.import_module("psycopg.rows")
        cursor: _Cursor = connection.cursor(row_factory=rows.tuple_row)
        return cursor
    cursor = connection.cursor()
    if isinstance(connection, sqlite3.Connection):
        cursor.row_factory = None  # type: ignore[attr-defined]  # a sqlite3 cursor's
    return cursor


def _place(table: str, row: object, columns: Mapping[str, str], name: str) -> str:
    """Where attribute *name* of a row is read from, for an error."""
    return f"table {table!r}, row {row!r}, column {columns[name]!r}"


def _value_place(table: str, owner: object, name: object) -> str:
    """Where a value of an attribute table is read from, for an error."""
    return f"table {table!r}, row of {str(owner)!r}, value of {name!r}"


def _as_set(value: AttributeValue) -> frozenset[Scalar]:
    if value is None:
        return frozenset()
    if isinstance(value, frozenset):
        return value
    return frozenset((value,))


def _check_connection(connection: object) -> None:
    """Refuse what is not a synchronous DB-API 2 connection, naming what it is.

    A connection string, or an asyncio connection (psycopg's
    ``AsyncConnection``, whose methods only make coroutines), would fail
    later and obscurely: every statement of the latter is dropped unrun,
    and ``create_tables()`` seemed to succeed.

    Raises:
        TypeError: *connection* has no ``cursor()`` and ``commit()``, or its
            ``commit()`` is a coroutine function.
    """
    kind = f"{type(connection).__module__}.{type(connection).__qualname__}"
    commit = getattr(connection, "commit", None)
    if not callable(getattr(connection, "cursor", None)) or not callable(commit):
        msg = (
            "SqlTarget needs a DB-API 2 connection (with cursor() and commit()) or a"
            f" function of no arguments that opens one, not {kind}; for PostgreSQL,"
            " SqlTarget(lambda: psycopg.connect(dsn), layout)"
        )
        raise TypeError(msg)
    if inspect.iscoroutinefunction(commit):
        msg = (
            f"SqlTarget needs a synchronous connection, not the asyncio {kind}; for"
            " psycopg, psycopg.connect(...) rather than AsyncConnection.connect(...)"
        )
        raise TypeError(msg)


# Drivers of databases whose SQL the target's is not (MySQL and MariaDB quote
# names with backticks and write ON DUPLICATE KEY; SQL Server and Oracle MERGE).
_OTHER_SQL = {
    "pymysql": "MySQL or MariaDB",
    "MySQLdb": "MySQL or MariaDB",
    "mysql": "MySQL",
    "mariadb": "MariaDB",
    "pymssql": "SQL Server",
    "oracledb": "Oracle",
    "cx_Oracle": "Oracle",
}


def _driver(connection: object) -> str:
    """The top package of the driver *connection* comes from (``psycopg``, ``sqlite3``...).

    A connection of a class of the application's own, derived from a
    driver's (``class AppConnection(psycopg.Connection)``), is the driver's.
    """
    modules = [kind.__module__.split(".")[0] for kind in type(connection).__mro__]
    known = [m for m in modules if m in {"psycopg", "psycopg2", "sqlite3"}]
    return known[0] if known else modules[0]


def _check_settings(batch_size: object, copy: object) -> None:
    """Refuse settings of the wrong type before a connection is opened.

    ``copy="false"`` (read from an environment variable) is true, and turned
    on the COPY it meant to turn off; a batch size given as text failed in
    ``max()``.
    """
    problems = type_problems(
        {"batch_size": ("positive whole", batch_size), "copy": ("optional flag", copy)}
    )
    if problems:
        raise ConfigError(problems)


def _paramstyle(connection: object) -> str:
    """The paramstyle of the driver module *connection* comes from."""
    module = _driver(connection)
    try:
        return str(importlib.import_module(module).paramstyle)
    except (ImportError, AttributeError):
        msg = f"cannot tell the paramstyle of {type(connection).__name__}: pass paramstyle="
        raise ValueError(msg) from None
