"""SqliteTableTarget: groups and membership rows in a SQLite file (standard library only)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import ClassVar

from grouperprov._beans import ProvisioningGroup, ProvisioningMembership, Scalar
from grouperprov._closing import Closing
from grouperprov._target import AttributeChange, ChangeOp, TargetDAO, WriteOutcome

__all__ = ["SqliteTableTarget"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _quote(name: str) -> str:
    """Quote a checked identifier for SQL (it can never carry SQL of its own)."""
    if not _IDENTIFIER.match(name):
        msg = f"not a valid SQL identifier: {name!r} (letters, digits and _ only)"
        raise ValueError(msg)
    return f'"{name}"'


class SqliteTableTarget(Closing, TargetDAO):
    """A group table and a membership table in one SQLite file.

    Groups are rows of ``groups`` (a generated ``id`` plus one text column per
    group attribute); memberships are rows of ``memberships`` (``group_id``
    referring to a group row, and one text column per membership attribute, the
    last of which identifies the entity). Group target ids are the row ids, as
    strings. The tables are created on
    first use. Every value is bound as a parameter; column names come from the
    constructor and are checked as identifiers.

    A minimal target for the demo and for tests; the configurable SQL target
    for real databases is :class:`~grouperprov.targets.SqlTarget`.

    Args:
        path: The SQLite file (created if missing), or ``":memory:"``.
        group_columns: The group attributes, one column each.
        membership_columns: The membership attributes, one column each.
    """

    batch_sizes: ClassVar = {"insert_groups": 500, "insert_memberships": 500}
    supports_value_changes: ClassVar = False  # columns hold one value each

    def __init__(
        self,
        path: str | Path,
        *,
        group_columns: Sequence[str] = ("name", "description"),
        membership_columns: Sequence[str] = ("group_name", "subject_id"),
    ) -> None:
        self._group_columns = tuple(group_columns)
        self._membership_columns = tuple(membership_columns)
        for name in (*self._group_columns, *self._membership_columns):
            _quote(name)
        self._db = sqlite3.connect(str(path))
        group_cols = "".join(f", {_quote(c)} TEXT" for c in self._group_columns)
        member_cols = "".join(f", {_quote(c)} TEXT" for c in self._membership_columns)
        with self._db:
            self._db.execute(
                f"CREATE TABLE IF NOT EXISTS groups (id INTEGER PRIMARY KEY{group_cols})"
            )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS memberships ("
                "group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE"
                f"{member_cols}, UNIQUE (group_id, {_quote(self._membership_columns[0])}"
                + "".join(f", {_quote(c)}" for c in self._membership_columns[1:])
                + "))"
            )

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    # -- reads ----------------------------------------------------------------

    def retrieve_all_groups(self) -> list[ProvisioningGroup]:
        """Every group row."""
        cols = ", ".join(_quote(c) for c in self._group_columns)
        rows = self._db.execute(f"SELECT id, {cols} FROM groups ORDER BY id").fetchall()
        return [
            ProvisioningGroup(
                id=str(row[0]), attributes=dict(zip(self._group_columns, row[1:], strict=True))
            )
            for row in rows
        ]

    def retrieve_all_memberships(self) -> list[ProvisioningMembership]:
        """Every membership row; its entity id is the last membership column's value."""
        cols = ", ".join(_quote(c) for c in self._membership_columns)
        rows = self._db.execute(
            f"SELECT group_id, {cols} FROM memberships ORDER BY rowid"
        ).fetchall()  # checked identifiers only
        return [
            ProvisioningMembership(
                group_id=str(row[0]),
                entity_id=str(row[-1]),
                attributes=dict(zip(self._membership_columns, row[1:], strict=True)),
            )
            for row in rows
        ]

    def search_groups(self, attribute: str, values: Collection[Scalar]) -> list[ProvisioningGroup]:
        """The groups whose *attribute* column holds one of *values*."""
        if attribute not in self._group_columns:
            return []
        wanted = {str(v) for v in values}
        return [g for g in self.retrieve_all_groups() if str(g.get(attribute)) in wanted]

    # -- writes ---------------------------------------------------------------

    def _group_row(self, group: ProvisioningGroup) -> list[object]:
        unknown = set(group.attributes) - set(self._group_columns)
        if unknown:
            msg = f"no column for the group attributes {sorted(unknown)}"
            raise ValueError(msg)
        return [_text(group.get(c)) for c in self._group_columns]

    def insert_groups(self, groups: Sequence[ProvisioningGroup]) -> list[WriteOutcome]:
        """Insert group rows, in one transaction per batch; report each row."""
        cols = ", ".join(_quote(c) for c in self._group_columns)
        marks = ", ".join("?" for _ in self._group_columns)
        outcomes: list[WriteOutcome] = []
        with self._db:
            for group in groups:
                try:
                    row = self._group_row(group)
                except (ValueError, TypeError) as exc:
                    outcomes.append(WriteOutcome.failure(str(exc)))
                    continue
                cursor = self._db.execute(f"INSERT INTO groups ({cols}) VALUES ({marks})", row)
                stored = ProvisioningGroup(id=str(cursor.lastrowid), attributes=group.attributes)
                outcomes.append(WriteOutcome.success(stored))
        return outcomes

    def update_groups(
        self, updates: Sequence[tuple[ProvisioningGroup, Sequence[AttributeChange]]]
    ) -> list[WriteOutcome]:
        """Apply REPLACE changes to group rows; ADD and REMOVE are refused."""
        outcomes: list[WriteOutcome] = []
        with self._db:
            for group, changes in updates:
                bad = [
                    c
                    for c in changes
                    if c.op is not ChangeOp.REPLACE or c.attribute not in self._group_columns
                ]
                if bad:
                    outcomes.append(
                        WriteOutcome.failure(
                            f"cannot apply {bad[0].op.value} to {bad[0].attribute!r}"
                        )
                    )
                    continue
                for change in changes:
                    self._db.execute(
                        f"UPDATE groups SET {_quote(change.attribute)} = ? WHERE id = ?",
                        (_text(change.value), int(group.id)),
                    )
                outcomes.append(WriteOutcome.success())
        return outcomes

    def delete_groups(self, groups: Sequence[ProvisioningGroup]) -> list[WriteOutcome]:
        """Delete group rows and their memberships (deleting a missing row succeeds)."""
        with self._db:
            for group in groups:
                self._db.execute("DELETE FROM memberships WHERE group_id = ?", (int(group.id),))
                self._db.execute("DELETE FROM groups WHERE id = ?", (int(group.id),))
        return [WriteOutcome.success() for _ in groups]

    def insert_memberships(
        self, memberships: Sequence[ProvisioningMembership]
    ) -> list[WriteOutcome]:
        """Insert membership rows (one already there is fine)."""
        cols = ", ".join(_quote(c) for c in self._membership_columns)
        marks = ", ".join("?" for _ in self._membership_columns)
        outcomes: list[WriteOutcome] = []
        with self._db:
            for membership in memberships:
                if not membership.group_id.isdigit():
                    outcomes.append(
                        WriteOutcome.failure(f"group {membership.group_id!r} is not in the target")
                    )
                    continue
                row = [
                    int(membership.group_id),
                    *(_text(membership.get(c)) for c in self._membership_columns),
                ]
                self._db.execute(
                    f"INSERT OR IGNORE INTO memberships (group_id, {cols}) VALUES (?, {marks})",
                    row,
                )
                # Report the row as it reads back: its entity id is the last column.
                stored = ProvisioningMembership(
                    group_id=membership.group_id,
                    entity_id=str(row[-1]),
                    attributes={c: membership.get(c) for c in self._membership_columns},
                )
                outcomes.append(WriteOutcome.success(stored))
        return outcomes

    def delete_memberships(
        self, memberships: Sequence[ProvisioningMembership]
    ) -> list[WriteOutcome]:
        """Delete membership rows (deleting a missing row succeeds)."""
        where = " AND ".join(f"{_quote(c)} IS ?" for c in self._membership_columns)
        with self._db:
            for membership in memberships:
                self._db.execute(
                    f"DELETE FROM memberships WHERE group_id = ? AND {where}",
                    [
                        int(membership.group_id),
                        *(_text(membership.get(c)) for c in self._membership_columns),
                    ],
                )
        return [WriteOutcome.success() for _ in memberships]

    def table(self, name: str) -> list[tuple[object, ...]]:
        """Every row of ``groups`` or ``memberships`` (for demos and tests)."""
        if name not in {"groups", "memberships"}:
            msg = f"no table {name!r}"
            raise ValueError(msg)
        return list(self._db.execute(f"SELECT * FROM {name} ORDER BY 1, 2"))


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, frozenset):
        msg = "a column holds one value, not a set"
        raise TypeError(msg)
    return str(value)
