"""InMemorySource: a Grouper registry in memory, for tests, demos and examples."""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

from grouperprov._beans import ProvisioningEntity, ProvisioningGroup, ProvisioningMembership
from grouperprov._events import ChangeEvent, EventKind
from grouperprov._source import GrouperSnapshot, MarkerScope, ProvisioningMarker

__all__ = ["InMemorySource"]


class InMemorySource:
    """A :class:`~grouperprov.GrouperSource` kept in memory.

    Build it with :meth:`add_group`, :meth:`add_subject`, :meth:`add_member`
    and :meth:`mark` (or :meth:`from_dict` / :meth:`from_json`); change it the
    same way between runs. Every change is appended to :attr:`changes`, with a
    sequence number, as Grouper's change log would have it.

    Attributes:
        changes: The change log: dicts with ``sequence``, ``event`` and details.
    """

    def __init__(self) -> None:
        self._groups: dict[str, ProvisioningGroup] = {}
        self._made = 0
        self._by_name: dict[str, str] = {}
        self._subjects: dict[str, ProvisioningEntity] = {}
        # Each membership's bean, made once (a snapshot shares them: beans are immutable).
        self._members: dict[tuple[str, str], ProvisioningMembership] = {}
        self._markers: dict[str, tuple[ProvisioningMarker, ...]] = {}
        self.changes: list[dict[str, object]] = []

    def _log(self, event: str, **details: object) -> None:
        self.changes.append(
            {
                "sequence": len(self.changes) + 1,
                "event": event,
                "occurred": datetime.now(tz=UTC),
                **details,
            }
        )

    def events(self, after: int = 0) -> list[ChangeEvent]:
        """The change log since sequence number *after*, as Grouper's change-log events."""
        return [_event(change) for change in self.changes if int(change["sequence"]) > after]  # type: ignore[call-overload]  # an int

    # -- building and changing ----------------------------------------------------

    def add_group(
        self,
        name: str,
        *,
        id: str | None = None,  # noqa: A002  # Grouper's name for it
        description: str | None = None,
        display_name: str | None = None,
    ) -> ProvisioningGroup:
        """Add a group by full name (its folders need no adding); return it."""
        if name in self._by_name:
            msg = f"group {name!r} exists already"
            raise ValueError(msg)
        self._made += 1  # never reused, also after deletes
        gid = id or f"grp-{self._made:05d}"
        group = ProvisioningGroup.from_grouper(
            gid,
            name,
            id_index=self._made + 10_000,
            description=description,
            display_name=display_name or name,
        )
        self._groups[gid] = group
        self._by_name[name] = gid
        self._log("group_add", group_id=gid, name=name)
        return group

    def delete_group(self, name: str) -> None:
        """Delete a group and its memberships."""
        gid = self._by_name.pop(name)
        del self._groups[gid]
        self._members = {k: m for k, m in self._members.items() if k[0] != gid}
        self._log("group_delete", group_id=gid, name=name)

    def rename_group(self, name: str, new_name: str) -> None:
        """Rename (or move) a group: its name, extension and display name change, its id stays."""
        if new_name in self._by_name:
            msg = f"group {new_name!r} exists already"
            raise ValueError(msg)
        gid = self._group_id(name)
        del self._by_name[name]
        self._by_name[new_name] = gid
        self._groups[gid] = self._groups[gid].with_attributes(
            {
                "name": new_name,
                "extension": new_name.rpartition(":")[2],
                "display_name": new_name,
            }
        )
        self._log("group_rename", group_id=gid, name=new_name, old_name=name)

    def update_group(self, name: str, **fields: object) -> None:
        """Change a group's fields (``description=...``)."""
        gid = self._group_id(name)
        self._groups[gid] = self._groups[gid].with_attributes(fields)
        self._log("group_update", group_id=gid, name=name, fields=sorted(fields))

    def update_subject(self, subject_id: str, **fields: str | None) -> None:
        """Change a subject's fields (``name=...``, ``email=...``)."""
        member_id = f"mem-{subject_id}"
        self._subjects[member_id] = self._subjects[member_id].with_attributes(fields)
        self._log("subject_change", member_id=member_id, subject_id=subject_id)

    def add_subject(
        self, subject_id: str, *, source: str = "ldap", **fields: str | None
    ) -> ProvisioningEntity:
        """Add a subject (its member id is ``mem-<subject_id>``); return it."""
        entity = ProvisioningEntity.from_grouper(
            f"mem-{subject_id}", subject_id, subject_source_id=source, **fields
        )
        self._subjects[entity.id] = entity
        return entity

    def _group_id(self, name: str) -> str:
        """The id of the group named *name*; a ``KeyError`` that says so if there is none."""
        gid = self._by_name.get(name)
        if gid is None:
            msg = f"no group {name!r}; add it first"
            raise KeyError(msg)
        return gid

    def add_member(self, group_name: str, subject_id: str) -> None:
        """Make a subject a member of a group."""
        key = (self._group_id(group_name), f"mem-{subject_id}")
        if key[1] not in self._subjects:
            msg = f"no subject {subject_id!r}; add it first"
            raise KeyError(msg)
        if key not in self._members:
            self._members[key] = ProvisioningMembership(group_id=key[0], entity_id=key[1])
        self._log("membership_add", group_id=key[0], member_id=key[1])

    def remove_member(self, group_name: str, subject_id: str) -> None:
        """Remove a subject from a group."""
        key = (self._group_id(group_name), f"mem-{subject_id}")
        self._members.pop(key, None)
        self._log("membership_delete", group_id=key[0], member_id=key[1])

    def mark(
        self,
        name: str,
        provisioner: str,
        *,
        scope: MarkerScope | str = MarkerScope.SUB,
        provisionable: bool = True,
        metadata: Mapping[str, object] | None = None,
    ) -> None:
        """Put a provisioning marker on a folder or group (replaces this provisioner's)."""
        marker = ProvisioningMarker(
            provisioner=provisioner,
            provisionable=provisionable,
            scope=MarkerScope(scope),
            metadata=dict(metadata or {}),
        )
        others = tuple(m for m in self._markers.get(name, ()) if m.provisioner != provisioner)
        self._markers[name] = (*others, marker)
        self._log("marker_set", name=name, provisioner=provisioner)

    def unmark(self, name: str, provisioner: str) -> None:
        """Remove a provisioning marker."""
        kept = tuple(m for m in self._markers.get(name, ()) if m.provisioner != provisioner)
        self._markers[name] = kept
        self._log("marker_delete", name=name, provisioner=provisioner)

    # -- GrouperSource -----------------------------------------------------------

    def snapshot(self) -> GrouperSnapshot:
        """Everything now."""
        pairs = sorted(self._members)
        used = {e for _, e in pairs}
        return GrouperSnapshot(
            groups=tuple(self._groups.values()),
            entities=tuple(e for i, e in self._subjects.items() if i in used),
            memberships=tuple(map(self._members.__getitem__, pairs)),
            markers=dict(self._markers),
        )

    def partial_snapshot(
        self,
        *,
        groups: Collection[str],
        members: Collection[str],
        memberships: Collection[tuple[str, str]] = (),
    ) -> GrouperSnapshot:
        """Part of Grouper now (see :meth:`grouperprov.PartialGrouperSource.partial_snapshot`)."""
        whole, of_members, asked = set(groups), set(members), set(memberships)
        pairs = [
            (g, e)
            for g, e in sorted(self._members)
            if g in whole or e in of_members or (g, e) in asked
        ]
        kept = {g for g, _ in pairs} | whole | {g for g, _ in asked}
        used = {e for _, e in pairs}
        return GrouperSnapshot(
            groups=tuple(g for i, g in self._groups.items() if i in kept),
            entities=tuple(e for i, e in self._subjects.items() if i in used),
            memberships=tuple(self._members[pair] for pair in pairs),
            markers=dict(self._markers),
        )

    def retrieve_groups(self, ids: Collection[str]) -> list[ProvisioningGroup]:
        """The groups with these ids."""
        return [self._groups[i] for i in ids if i in self._groups]

    def retrieve_entities(self, ids: Collection[str]) -> list[ProvisioningEntity]:
        """The entities with these member ids."""
        return [self._subjects[i] for i in ids if i in self._subjects]

    def retrieve_memberships(self, group_ids: Collection[str]) -> list[ProvisioningMembership]:
        """Every membership of these groups."""
        wanted = set(group_ids)
        return [self._members[pair] for pair in sorted(self._members) if pair[0] in wanted]

    # -- loading -----------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InMemorySource:
        """Build from plain data.

        ``{"subjects": [{"subject_id": ..., "source": ..., "name": ...}],
        "groups": [{"name": ..., "description": ..., "members": [subject ids]}],
        "markers": [{"name": ..., "provisioner": ..., "scope": "sub",
        "provisionable": true, "metadata": {...}}]}``
        """
        source = cls()
        for subject in data.get("subjects", ()):
            fields = dict(subject)
            source.add_subject(fields.pop("subject_id"), **fields)
        for index, group in enumerate(data.get("groups", ())):
            fields = dict(group)
            members = fields.pop("members", ())
            if "name" not in fields:
                msg = f"groups[{index}]: a group needs a name"
                raise KeyError(msg)
            source.add_group(fields.pop("name"), **fields)
            for member in members:
                source.add_member(group["name"], member)
        for marker in data.get("markers", ()):
            fields = dict(marker)
            source.mark(fields.pop("name"), fields.pop("provisioner"), **fields)
        return source

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> InMemorySource:
        """Build from a JSON file in the :meth:`from_dict` shape."""
        with open(path, encoding="utf-8") as f:  # noqa: PTH123  # accepts PathLike
            return cls.from_dict(json.load(f))


_EVENT_KINDS = {
    "group_add": EventKind.GROUP_ADD,
    "group_delete": EventKind.GROUP_DELETE,
    "group_rename": EventKind.GROUP_UPDATE,
    "group_update": EventKind.GROUP_UPDATE,
    "membership_add": EventKind.MEMBERSHIP_ADD,
    "membership_delete": EventKind.MEMBERSHIP_DELETE,
    "marker_set": EventKind.MARKER_CHANGE,
    "marker_delete": EventKind.MARKER_CHANGE,
    "subject_change": EventKind.SUBJECT_CHANGE,
}


def _event(change: Mapping[str, Any]) -> ChangeEvent:
    kind = _EVENT_KINDS[str(change["event"])]
    group = kind in (EventKind.GROUP_ADD, EventKind.GROUP_UPDATE, EventKind.GROUP_DELETE)
    fields = change.get("fields")
    return ChangeEvent(
        sequence=int(change["sequence"]),
        kind=kind,
        occurred=change["occurred"],
        group_id=change.get("group_id"),
        group_name=change.get("name") if group else None,
        member_id=change.get("member_id"),
        subject_id=change.get("subject_id"),
        name=change.get("name") if kind is EventKind.MARKER_CHANGE else None,
        changed="name" if change["event"] == "group_rename" else (fields[0] if fields else None),
        old_value=change.get("old_name"),
    )
