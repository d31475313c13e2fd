"""What the SQL stores share: the record tables, and records as rows and back.

A row holds the record's columns in :data:`RECORD_COLUMNS` order. Each store
says how it writes a time and a flag (SQLite: fixed-width UTC text and 0/1;
PostgreSQL: ``timestamptz`` and ``boolean``), and how it reads a time back.
"""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

import attrs

from grouperprov._beans import is_text
from grouperprov._codes import SyncErrorCode, exception_text
from grouperprov._config import ObjectType
from grouperprov._events import ControlKind, ControlMessage, RejectedEvent
from grouperprov._memo import Memo
from grouperprov._records import FailsafeState, ProvisionerRecord, SyncRecord, SyncType
from grouperprov.exceptions import StoreError

SCHEMA_VERSION = 3
"""The schema version this grouperprov writes, in both SQL stores.

SQLite keeps it as ``PRAGMA user_version``, PostgreSQL in the table
``gp_schema``. Both move to the next version together.
"""

RECORD_COLUMNS = (
    "target_id",
    "provisionable",
    "provisionable_start",
    "provisionable_end",
    "in_target",
    "in_target_start",
    "in_target_end",
    "inserted_by_us",
    "last_sync",
    "error_code",
    "error_message",
    "error_time",
    "link1",
    "link2",
    "link3",
    "link4",
    "subject_link",
)

# What each record column holds, where it is not text: the SQL stores give each
# kind its own type.
TIME_COLUMNS = frozenset(
    {
        "provisionable_start",
        "provisionable_end",
        "in_target_start",
        "in_target_end",
        "last_sync",
        "error_time",
    }
)
FLAG_COLUMNS = frozenset({"provisionable", "in_target", "inserted_by_us"})

# Per object type: the table and its key columns (after the provisioner).
TABLES: dict[ObjectType, tuple[str, tuple[str, ...]]] = {
    ObjectType.GROUP: ("gp_sync_group", ("group_id",)),
    ObjectType.ENTITY: ("gp_sync_member", ("member_id",)),
    ObjectType.MEMBERSHIP: ("gp_sync_membership", ("group_id", "member_id")),
}

_json_str: Callable[[str], str] = json.encoder.encode_basestring_ascii  # what json.dumps uses

MAX_LINKS = 4  # link1 .. link4, as in Grouper's sync tables

_T = TypeVar("_T")

# What a value read from a store's row can raise when the row was written by
# something else (edited by hand, another program): the read names the row.
_UNREADABLE = (ValueError, TypeError, KeyError, StoreError)


def read_field(where: str, column: str, value: Any, convert: Callable[[Any], _T]) -> _T:  # noqa: ANN401  # a column's value
    """*value* of *column* in the row *where* names, converted; else a :class:`StoreError`.

    The error names the row and the column, and says what to do: the store's
    rows are written by grouperprov alone, so one that cannot be read was
    changed by something else.
    """
    try:
        return convert(value)
    except _UNREADABLE as exc:
        raise unreadable(where, column, value, exc) from exc


def unreadable(where: str, column: str, value: object, exc: BaseException) -> StoreError:
    """The error of a row whose *column* holds what grouperprov never writes there."""
    return StoreError(
        f"{where}: {column} = {value!r} cannot be read ({exception_text(exc)}); the row was"
        " changed by something other than grouperprov: correct or delete it"
    )


def schema_v1(*, text: str, time: str, flag: Callable[[str], str], log_id: str) -> list[str]:
    """The statements of schema version 1, in one SQL store's types.

    Args:
        text: The type of text columns.
        time: The type of time columns.
        flag: The definition of a flag column (its type and constraints), by name.
        log_id: The definition of the log's generated primary key.
    """

    def record_table(table: str, keys: tuple[str, ...]) -> list[str]:
        key_columns = ", ".join(f"{k} {text} NOT NULL" for k in keys)
        columns = ", ".join(
            f"{c} {flag(c) if c in FLAG_COLUMNS else time if c in TIME_COLUMNS else text}"
            for c in RECORD_COLUMNS
        )
        primary = ", ".join(("provisioner", *keys))
        return [
            (
                f"CREATE TABLE {table} (provisioner {text} NOT NULL REFERENCES gp_provisioner "
                f"(name), {key_columns}, {columns}, PRIMARY KEY ({primary}))"
            ),
            (
                f"CREATE INDEX {table}_errors ON {table} (provisioner, error_code, error_time) "
                "WHERE error_code IS NOT NULL"
            ),
            f"CREATE INDEX {table}_target ON {table} (provisioner, target_id)",
        ]

    return [
        (
            f"CREATE TABLE gp_provisioner (name {text} PRIMARY KEY, failsafe_tripped_at {time}, "
            f"failsafe_reasons {text}, failsafe_approved_by {text}, failsafe_approved_at {time})"
        ),
        (
            f"CREATE TABLE gp_job (provisioner {text} NOT NULL REFERENCES gp_provisioner (name), "
            f"sync_type {text} NOT NULL, last_run {time} NOT NULL, "
            "PRIMARY KEY (provisioner, sync_type))"
        ),
        (
            f"CREATE TABLE gp_lease (provisioner {text} PRIMARY KEY, sync_type {text} NOT NULL, "
            f"holder {text} NOT NULL, acquired {time} NOT NULL, heartbeat {time} NOT NULL, "
            f"expires {time} NOT NULL)"
        ),
        (
            f"CREATE TABLE gp_sync_log (id {log_id}, provisioner {text} NOT NULL, "
            f"sync_type {text} NOT NULL, started {time} NOT NULL, finished {time} NOT NULL, "
            f"status {text} NOT NULL, summary {text} NOT NULL)"
        ),
        "CREATE INDEX gp_sync_log_finished ON gp_sync_log (provisioner, finished)",
        *(stmt for table, keys in TABLES.values() for stmt in record_table(table, keys)),
    ]


def storable_text(value: Any, *, nul: bool = False) -> Any:  # noqa: ANN401  # text, or what holds it
    r"""*value* with the text a store cannot hold as escapes, through tuples, lists and attrs.

    A lone surrogate (a Python string may hold one: JSON's ``"\ud800"``
    escapes make them, and bytes decoded with ``surrogateescape``; UTF-8
    cannot encode it) becomes its escape, the six characters ``\ud800``;
    with *nul*, so does a NUL (PostgreSQL's text cannot hold U+0000) as
    ``\u0000``. A target id is left alone: it is kept as JSON, which escapes
    both.
    """
    if type(value) is str:
        if nul:
            value = value.replace("\x00", "\\u0000")
        return value if is_text(value) else value.encode("utf-8", "backslashreplace").decode()
    if isinstance(value, tuple | list):
        return type(value)(storable_text(v, nul=nul) for v in value)
    if attrs.has(type(value)):
        changes = {
            f.alias: storable_text(getattr(value, f.name), nul=nul)
            for f in attrs.fields(type(value))
            if f.init and f.name != "target_id"
        }
        return attrs.evolve(value, **changes)
    return value


def encode_id(value: Hashable | None) -> str | None:
    """A target id as JSON text (a tuple as a list), or ``None``."""
    if value.__class__ is str:
        return _json_str(value)  # the usual case, in C
    if value is None:
        return None
    if value.__class__ is tuple and all(part.__class__ is str for part in value):
        return "[" + ", ".join(map(_json_str, value)) + "]"  # as json.dumps writes it
    if isinstance(value, tuple):
        return json.dumps(list(value))
    if isinstance(value, str | int | bool):
        return json.dumps(value)
    msg = f"a target id must be a str, int, bool or a tuple of them, got {value!r}"
    raise StoreError(msg)


def decode_id(text: str | None) -> Hashable | None:
    """The inverse of :func:`encode_id`."""
    if text is None:
        return None
    if "\\" not in text:  # nothing escaped: no quote inside a string, so split on quotes
        if text[0] == '"':
            return text[1:-1]
        if text.startswith('["') and text.endswith('"]'):
            parts = text[2:-2].split('", "')
            if not any('"' in part for part in parts):  # strings only (a quote: something else)
                return tuple(parts)
    value = json.loads(text)
    return tuple(value) if isinstance(value, list) else value


class TimeCache(Memo):
    """A store's conversion of each distinct time, worked out once per save or load.

    The records of one run share a handful of times (the run's own, mostly),
    so a save of a million records encodes a few times, not millions; a load
    parses a few. ``None`` stays ``None``. Use its ``__getitem__`` as the
    *time* of :func:`record_row` or the *parse_time* of :func:`record_from_row`.
    """

    def __init__(self, encode: Callable[[Any], Any]) -> None:
        super().__init__(encode)
        self[None] = None


def record_key(record: SyncRecord) -> tuple[str, ...]:
    """The key columns' values of *record* (after the provisioner).

    Raises:
        StoreError: The record's Grouper id does not fit its table's key.
    """
    grouper_id = record.grouper_id
    if record.object_type is ObjectType.MEMBERSHIP:
        if (
            isinstance(grouper_id, tuple)
            and len(grouper_id) == 2  # noqa: PLR2004  # (group id, entity id)
            and all(isinstance(part, str) for part in grouper_id)
        ):
            return grouper_id
        msg = f"a membership record's grouper_id must be (group id, entity id), got {grouper_id!r}"
        raise StoreError(msg)
    if isinstance(grouper_id, str):
        return (grouper_id,)
    msg = f"a {record.object_type.value} record's grouper_id must be a str, got {grouper_id!r}"
    raise StoreError(msg)


def record_row(
    provisioner: str,
    record: SyncRecord,
    *,
    time: Callable[[Any], Any],
    flag: Callable[[bool], Any],
) -> tuple[Any, ...]:
    """*record* as a row: provisioner, key columns, then :data:`RECORD_COLUMNS`.

    Raises:
        StoreError: The store cannot keep the record (see :func:`record_key`,
            more than four links, or what *time* refuses).
    """
    key = record_key(record)
    if len(record.links) > MAX_LINKS:
        msg = (
            f"{record.object_type.value} {record.grouper_id!r}: at most {MAX_LINKS} links, "
            f"got {len(record.links)}"
        )
        raise StoreError(msg)
    links = (*record.links, None, None, None, None)[:MAX_LINKS]
    return (
        provisioner,
        *key,
        encode_id(record.target_id),
        flag(record.provisionable),
        time(record.provisionable_start),
        time(record.provisionable_end),
        flag(record.in_target),
        time(record.in_target_start),
        time(record.in_target_end),
        flag(record.inserted_by_us),
        time(record.last_sync),
        record.error_code.value if record.error_code else None,
        record.error_message,
        time(record.error_time),
        *links,
        record.subject_link,
    )


def record_from_row(
    object_type: ObjectType,
    grouper_id: Hashable,
    row: Sequence[Any],
    *,
    parse_time: Callable[[Any], Any],
) -> SyncRecord:
    """The record of a row's :data:`RECORD_COLUMNS` values."""
    (
        target_id,
        provisionable,
        provisionable_start,
        provisionable_end,
        in_target,
        in_target_start,
        in_target_end,
        inserted_by_us,
        last_sync,
        error_code,
        error_message,
        error_time,
        link1,
        link2,
        link3,
        link4,
        subject_link,
    ) = row
    if link4 is None and link3 is None and link2 is None:
        links: tuple[str | None, ...] = () if link1 is None else (link1,)
    else:
        links = (link1, link2, link3, link4)
        while links[-1] is None:
            links = links[:-1]
    return SyncRecord(
        object_type=object_type,
        grouper_id=grouper_id,
        target_id=decode_id(target_id),
        provisionable=bool(provisionable),
        provisionable_start=parse_time(provisionable_start),
        provisionable_end=parse_time(provisionable_end),
        in_target=bool(in_target),
        in_target_start=parse_time(in_target_start),
        in_target_end=parse_time(in_target_end),
        inserted_by_us=bool(inserted_by_us),
        last_sync=parse_time(last_sync),
        error_code=SyncErrorCode(error_code) if error_code is not None else None,
        error_message=error_message,
        error_time=parse_time(error_time),
        links=links,
        subject_link=subject_link,
    )


def select_records(table: str, keys: Sequence[str], placeholder: str) -> str:
    """The query of one provisioner's rows of a record table (keys first)."""
    columns = ", ".join((*keys, *RECORD_COLUMNS))
    return f"SELECT {columns} FROM {table} WHERE provisioner = {placeholder}"  # noqa: S608  # fixed names


def add_records(
    into: dict[tuple[ObjectType, Hashable], SyncRecord],
    object_type: ObjectType,
    width: int,
    rows: Iterable[Sequence[Any]],
    *,
    parse_time: Callable[[Any], Any],
) -> None:
    """Add the records of rows from :func:`select_records` (*width* key columns)."""
    for row in rows:
        grouper_id: Hashable = row[0] if width == 1 else (row[0], row[1])
        try:
            into[(object_type, grouper_id)] = record_from_row(
                object_type, grouper_id, row[width:], parse_time=parse_time
            )
        except _UNREADABLE as exc:
            raise _bad_record(object_type, grouper_id, row[width:], parse_time, exc) from exc


def _bad_record(
    object_type: ObjectType,
    grouper_id: Hashable,
    values: Sequence[Any],
    parse_time: Callable[[Any], Any],
    exc: BaseException,
) -> StoreError:
    """The error of a record row :func:`record_from_row` could not read: which column."""
    table, _ = TABLES[object_type]
    where = f"{table}, the record of {object_type.value} {grouper_id!r}"
    convert: dict[str, Callable[[Any], object]] = {
        "target_id": decode_id,
        "error_code": lambda code: None if code is None else SyncErrorCode(code),
    }
    for column, value in zip(RECORD_COLUMNS, values, strict=True):
        check = parse_time if column in TIME_COLUMNS else convert.get(column)
        if check is None:
            continue
        try:
            check(value)
        except _UNREADABLE as found:
            return unreadable(where, column, value, found)
    return StoreError(
        f"{where} cannot be read: {exception_text(exc)}"
    )  # pragma: no cover  # each column is checked above


def provisioner_queries(placeholder: str) -> tuple[str, str]:
    """The queries of a provisioner's own row and of its jobs' last runs."""
    columns = (
        "failsafe_tripped_at, failsafe_reasons, failsafe_approved_by, failsafe_approved_at, "
        "last_sequence"
    )
    failsafe = f"SELECT {columns} FROM gp_provisioner WHERE name = {placeholder}"  # noqa: S608  # a placeholder, not a value
    jobs = f"SELECT sync_type, last_run FROM gp_job WHERE provisioner = {placeholder}"  # noqa: S608  # a placeholder, not a value
    return failsafe, jobs


def provisioner_from_rows(
    name: str,
    failsafe_row: Sequence[Any] | None,
    job_rows: Iterable[Sequence[Any]],
    *,
    parse_time: Callable[[Any], datetime | None],
) -> ProvisionerRecord:
    """The provisioner record of the rows of :func:`provisioner_queries`."""
    last_run: dict[SyncType, datetime | None] = {}
    for sync_type, when in job_rows:
        where = f"gp_job, the last run of {name!r} ({sync_type!r})"
        last_run[read_field(where, "sync_type", sync_type, SyncType)] = read_field(
            where, "last_run", when, parse_time
        )
    failsafe = None
    if failsafe_row is not None and failsafe_row[0] is not None:
        where = f"gp_provisioner, the row of {name!r}"
        failsafe = FailsafeState(
            tripped_at=read_field(where, "failsafe_tripped_at", failsafe_row[0], parse_time),  # type: ignore[arg-type]  # not null here
            reasons=read_field(where, "failsafe_reasons", failsafe_row[1], _strings),
            approved_by=failsafe_row[2],
            approved_at=read_field(where, "failsafe_approved_at", failsafe_row[3], parse_time),
        )
    return ProvisionerRecord(
        name=name,
        last_run=last_run,  # type: ignore[arg-type]  # not null
        failsafe=failsafe,
        last_sequence=None if failsafe_row is None else failsafe_row[4],
    )


def _strings(text: str) -> tuple[str, ...]:
    """A JSON list of strings, as a tuple."""
    value = json.loads(text)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        msg = "not a JSON list of strings"
        raise ValueError(msg)
    return tuple(value)


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    """A JSON list of [group id, entity id] pairs, as a tuple of tuples."""
    value = json.loads(text)
    if not isinstance(value, list) or not all(
        isinstance(v, list) and len(v) == 2 and all(isinstance(p, str) for p in v)  # noqa: PLR2004  # a pair
        for v in value
    ):
        msg = "not a JSON list of [group id, entity id] pairs"
        raise ValueError(msg)
    return tuple((g, m) for g, m in value)


def provisioner_upsert(placeholder: str) -> str:
    """The statement writing a provisioner's own row (see :func:`provisioner_values`)."""
    columns = (
        "name",
        "failsafe_tripped_at",
        "failsafe_reasons",
        "failsafe_approved_by",
        "failsafe_approved_at",
        "last_sequence",
    )
    values = ", ".join([placeholder] * len(columns))
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
    return (
        f"INSERT INTO gp_provisioner ({', '.join(columns)}) VALUES ({values}) "  # noqa: S608  # fixed names and placeholders
        f"ON CONFLICT (name) DO UPDATE SET {updates}"
    )


def provisioner_values(record: ProvisionerRecord, time: Callable[[Any], Any]) -> tuple[Any, ...]:
    """The values of :func:`provisioner_upsert` for *record*."""
    failsafe = record.failsafe
    return (
        record.name,
        time(failsafe.tripped_at) if failsafe else None,
        json.dumps(list(failsafe.reasons)) if failsafe else None,
        failsafe.approved_by if failsafe else None,
        time(failsafe.approved_at) if failsafe else None,
        record.last_sequence,
    )


def purge_condition(placeholder: str) -> str:
    """The SQL condition of a purgeable record, *placeholder* being the cut-off time.

    Out of the target, not provisionable, and nothing about it newer than the
    cut-off (see :func:`grouperprov._store.purgeable`).
    """
    old = " AND ".join(
        f"({c} IS NULL OR {c} < {placeholder})"
        for c in ("provisionable_end", "in_target_end", "last_sync", "error_time")
    )
    return f"NOT provisionable AND NOT in_target AND {old}"


def schema_v2(*, text: str, time: str, number: str, log_id: str) -> list[str]:
    """The statements from schema version 1 to 2: the incremental sync's state.

    The last processed sequence number, the rejected events (the error queue),
    the control messages, and an index of memberships by member.
    """
    return [
        f"ALTER TABLE gp_provisioner ADD COLUMN last_sequence {number}",
        (
            f"CREATE TABLE gp_rejected_event (id {log_id}, provisioner {text} NOT NULL, "
            f"received {time} NOT NULL, sequence {number}, reason {text} NOT NULL, "
            f"payload {text} NOT NULL)"
        ),
        "CREATE INDEX gp_rejected_event_received ON gp_rejected_event (provisioner, received)",
        (
            f"CREATE TABLE gp_control (provisioner {text} NOT NULL, id {text} NOT NULL, "
            f"kind {text} NOT NULL, requested_by {text} NOT NULL, requested_at {time} NOT NULL, "
            f"group_ids {text} NOT NULL, entity_ids {text} NOT NULL, "
            f"membership_ids {text} NOT NULL, acknowledged_at {time}, outcome {text}, "
            "PRIMARY KEY (provisioner, id))"
        ),
        (
            "CREATE INDEX gp_control_pending ON gp_control (provisioner, requested_at) "
            "WHERE acknowledged_at IS NULL"
        ),
        "CREATE INDEX gp_sync_membership_member ON gp_sync_membership (provisioner, member_id)",
    ]


def schema_v3() -> list[str]:
    """The statements from schema version 2 to 3: the record tables lose an index.

    Version 1 indexed the records by target id, and no query ever used it; a
    run that writes many records paid for it on every row (in SQLite, about a
    sixth of an incremental run's writes).
    """
    return [f"DROP INDEX IF EXISTS {table}_target" for table, _ in TABLES.values()]


_CHUNK = 400  # values per IN list: well under SQLite's limit of bound parameters


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def load_some(
    cur: Any,  # noqa: ANN401  # a sqlite3 connection or a psycopg cursor
    placeholder: str,
    provisioner: str,
    keys: Collection[tuple[ObjectType, Hashable]],
    groups: Collection[str],
    *,
    members: Collection[str] = (),
    parse_time: Callable[[Any], Any],
) -> dict[tuple[ObjectType, Hashable], SyncRecord]:
    """The records of *keys*, every membership record of *groups* and of *members*, indexed."""
    found: dict[tuple[ObjectType, Hashable], SyncRecord] = {}
    wanted: dict[ObjectType, list[Any]] = {t: [] for t in TABLES}
    for object_type, grouper_id in keys:
        if object_type is ObjectType.MEMBERSHIP:
            if isinstance(grouper_id, tuple) and len(grouper_id) == 2:  # noqa: PLR2004  # a pair
                wanted[object_type].append(grouper_id)
        elif isinstance(grouper_id, str):
            wanted[object_type].append(grouper_id)
    p = placeholder
    for object_type, (table, columns) in TABLES.items():
        base = select_records(table, columns, p)
        for chunk in _chunks(sorted(set(wanted[object_type]))):
            if object_type is ObjectType.MEMBERSHIP:
                # A join with the pairs, not "(group_id, member_id) IN (VALUES ...)",
                # which SQLite answers by scanning all of the provisioner's rows.
                pairs = ", ".join([f"({p}, {p})"] * len(chunk))
                selected = ", ".join(f"t.{c}" for c in (*columns, *RECORD_COLUMNS))
                sql = (
                    f"SELECT {selected} FROM (VALUES {pairs}) AS v JOIN {table} AS t"  # noqa: S608  # fixed names
                    f" ON t.provisioner = {p} AND t.group_id = v.column1"
                    " AND t.member_id = v.column2"
                )
                params: list[Any] = [*(part for pair in chunk for part in pair), provisioner]
            else:
                sql = f"{base} AND {columns[0]} IN ({', '.join([p] * len(chunk))})"
                params = [provisioner, *chunk]
            add_records(
                found, object_type, len(columns), cur.execute(sql, params), parse_time=parse_time
            )
    table, columns = TABLES[ObjectType.MEMBERSHIP]
    base = select_records(table, columns, p)
    for column, ids in (("group_id", groups), ("member_id", members)):
        for chunk in _chunks(sorted(set(ids))):
            sql = f"{base} AND {column} IN ({', '.join([p] * len(chunk))})"
            add_records(
                found,
                ObjectType.MEMBERSHIP,
                2,
                cur.execute(sql, [provisioner, *chunk]),
                parse_time=parse_time,
            )
    return found


def provisioned_pairs(
    cur: Any,  # noqa: ANN401  # a sqlite3 connection or a psycopg cursor
    placeholder: str,
    provisioner: str,
    members: Collection[str],
) -> list[tuple[str, str]]:
    """The (group, member) ids of the provisionable membership records of *members*.

    Through the index by member, and only those two columns: no record is
    built (see :func:`grouperprov._links.link_records`, which asks whether
    members leaving a membership have another).
    """
    table, _ = TABLES[ObjectType.MEMBERSHIP]
    p = placeholder
    found: list[tuple[str, str]] = []
    for chunk in _chunks(sorted(set(members))):
        sql = (
            f"SELECT group_id, member_id FROM {table} WHERE provisioner = {p}"  # noqa: S608  # fixed names
            f" AND member_id IN ({', '.join([p] * len(chunk))}) AND provisionable"
        )
        found.extend((str(g), str(m)) for g, m in cur.execute(sql, [provisioner, *chunk]))
    return found


def load_errors(
    cur: Any,  # noqa: ANN401  # a sqlite3 connection or a psycopg cursor
    placeholder: str,
    provisioner: str,
    *,
    parse_time: Callable[[Any], Any],
) -> list[SyncRecord]:
    """Every record with an error, oldest error first (through the error indexes)."""
    found: dict[tuple[ObjectType, Hashable], SyncRecord] = {}
    for object_type, (table, columns) in TABLES.items():
        sql = f"{select_records(table, columns, placeholder)} AND error_code IS NOT NULL"
        add_records(
            found, object_type, len(columns), cur.execute(sql, [provisioner]), parse_time=parse_time
        )
    return sorted(found.values(), key=lambda r: (r.error_time is None, r.error_time or 0))


def save_queue(
    cur: Any,  # noqa: ANN401  # a sqlite3 connection or a psycopg cursor
    placeholder: str,
    provisioner: str,
    rejected: Sequence[RejectedEvent],
    acknowledged: Sequence[ControlMessage],
    *,
    time: Callable[[Any], Any],
    now: datetime,
) -> None:
    """Keep a run's rejected events, and acknowledge the control messages it carried out."""
    p = placeholder
    if rejected:
        cur.executemany(
            "INSERT INTO gp_rejected_event (provisioner, received, sequence, reason, payload) "  # noqa: S608  # fixed names and placeholders
            f"VALUES ({p}, {p}, {p}, {p}, {p})",
            [
                (provisioner, time(r.received or now), r.sequence, r.reason, r.payload)
                for r in rejected
            ],
        )
    if acknowledged:
        cur.executemany(
            _control_upsert(p),
            [control_values(provisioner, m, time) for m in acknowledged],
        )


_CONTROL_COLUMNS = (
    "provisioner",
    "id",
    "kind",
    "requested_by",
    "requested_at",
    "group_ids",
    "entity_ids",
    "membership_ids",
    "acknowledged_at",
    "outcome",
)


def _control_upsert(placeholder: str) -> str:
    values = ", ".join([placeholder] * len(_CONTROL_COLUMNS))
    return (
        f"INSERT INTO gp_control ({', '.join(_CONTROL_COLUMNS)}) VALUES ({values}) "  # noqa: S608  # fixed names and placeholders
        "ON CONFLICT (provisioner, id) DO UPDATE SET "
        "acknowledged_at = excluded.acknowledged_at, outcome = excluded.outcome"
    )


def control_values(
    provisioner: str, message: ControlMessage, time: Callable[[Any], Any]
) -> tuple[Any, ...]:
    """A control message as a row of ``gp_control``."""
    return (
        provisioner,
        message.id,
        message.kind.value,
        message.requested_by,
        time(message.requested_at),
        json.dumps(list(message.groups)),
        json.dumps(list(message.entities)),
        json.dumps([list(m) for m in message.memberships]),
        time(message.acknowledged_at),
        message.outcome,
    )


def insert_control(
    cur: Any,  # noqa: ANN401  # a sqlite3 connection or a psycopg cursor
    placeholder: str,
    provisioner: str,
    message: ControlMessage,
    *,
    time: Callable[[Any], Any],
) -> None:
    """Keep a new control message; :class:`StoreError` if its id is taken."""
    values = ", ".join([placeholder] * len(_CONTROL_COLUMNS))
    cursor = cur.execute(
        f"INSERT INTO gp_control ({', '.join(_CONTROL_COLUMNS)}) VALUES ({values}) "  # noqa: S608  # fixed names and placeholders
        "ON CONFLICT (provisioner, id) DO NOTHING",
        control_values(provisioner, message, time),
    )
    if cursor.rowcount == 0:
        msg = f"a control message with id {message.id!r} is already kept for {provisioner!r}"
        raise StoreError(msg)


def select_controls(
    cur: Any,  # noqa: ANN401  # a sqlite3 connection or a psycopg cursor
    placeholder: str,
    provisioner: str,
    *,
    pending: bool,
    parse_time: Callable[[Any], Any],
) -> list[ControlMessage]:
    """The control messages of *provisioner* (only pending ones if *pending*), oldest first."""
    where = " AND acknowledged_at IS NULL" if pending else ""
    rows = cur.execute(
        f"SELECT {', '.join(_CONTROL_COLUMNS[1:])} FROM gp_control "  # noqa: S608  # fixed names
        f"WHERE provisioner = {placeholder}{where} ORDER BY requested_at, id",
        [provisioner],
    )
    return [_control(provisioner, row, parse_time) for row in rows]


def _control(
    provisioner: str, row: Sequence[Any], parse_time: Callable[[Any], Any]
) -> ControlMessage:
    where = f"gp_control, the message {row[0]!r} of {provisioner!r}"
    return ControlMessage(
        id=row[0],
        kind=read_field(where, "kind", row[1], ControlKind),
        requested_by=row[2],
        requested_at=read_field(where, "requested_at", row[3], parse_time),
        groups=read_field(where, "group_ids", row[4], _strings),
        entities=read_field(where, "entity_ids", row[5], _strings),
        memberships=read_field(where, "membership_ids", row[6], _pairs),
        acknowledged_at=read_field(where, "acknowledged_at", row[7], parse_time),
        outcome=row[8],
    )


def select_rejected(
    cur: Any,  # noqa: ANN401  # a sqlite3 connection or a psycopg cursor
    placeholder: str,
    provisioner: str,
    *,
    parse_time: Callable[[Any], Any],
) -> list[RejectedEvent]:
    """The error queue of *provisioner*, oldest first."""
    rows = cur.execute(
        "SELECT payload, reason, sequence, received FROM gp_rejected_event "  # noqa: S608  # fixed names and placeholders
        f"WHERE provisioner = {placeholder} ORDER BY received, id",
        [provisioner],
    )
    return [
        RejectedEvent(
            payload=row[0],
            reason=row[1],
            sequence=row[2],
            received=read_field(
                f"gp_rejected_event, an event of {provisioner!r}", "received", row[3], parse_time
            ),
        )
        for row in rows
    ]
