"""The Grouper side: sources, provisioning markers, and what is provisionable.

A :class:`GrouperSource` gives a snapshot of Grouper's groups, entities,
memberships and provisioning markers. :func:`provisionable_scope` decides, as a
pure function, which of them this provisioner provisions.
"""

from __future__ import annotations

import enum
import operator
import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Protocol, TypeVar, runtime_checkable

import attrs

from ._beans import (
    ProvisioningEntity,
    ProvisioningGroup,
    ProvisioningMembership,
    bean_problems,
)
from ._codes import ObjectError, SyncErrorCode
from ._config import ProvisionerConfig
from .exceptions import SourceError

_Owner = TypeVar("_Owner", ProvisioningGroup, ProvisioningEntity)

__all__ = [
    "GrouperSnapshot",
    "GrouperSource",
    "MarkerScope",
    "ProvisionableGroup",
    "ProvisioningMarker",
    "Scope",
    "provisionable_scope",
    "resolve_marker",
]


class MarkerScope(enum.StrEnum):
    """How far a folder's provisioning marker reaches."""

    ONE = "one"
    """The folder's direct child groups."""
    SUB = "sub"
    """Every group below the folder."""


def _marker_scope(value: MarkerScope | str) -> MarkerScope:
    # Given as text ("one"), the scope was no member: a folder marked for its
    # direct children provisioned every group below it, silently.
    return MarkerScope(value)


@attrs.frozen(kw_only=True)
class ProvisioningMarker:
    """A provisioning marker on a Grouper folder or group.

    Attributes:
        provisioner: The provisioner it is for.
        provisionable: ``False`` opts the folder or group out.
        scope: For folder markers, how far they reach.
        metadata: Data for translation (a target name override, flags); reaches
            translation functions as ``TranslationContext.metadata``.
    """

    provisioner: str
    provisionable: bool = True
    scope: MarkerScope = attrs.field(default=MarkerScope.SUB, converter=_marker_scope)
    metadata: Mapping[str, object] = attrs.field(factory=dict, hash=False)


# Each read once, into a tuple: a generator given for a field was used up by
# the contract check, and the plan saw no memberships (every member removed).
def _groups(value: Iterable[ProvisioningGroup]) -> tuple[ProvisioningGroup, ...]:
    return value if type(value) is tuple else tuple(value)


def _entities(value: Iterable[ProvisioningEntity]) -> tuple[ProvisioningEntity, ...]:
    return value if type(value) is tuple else tuple(value)


def _memberships(value: Iterable[ProvisioningMembership]) -> tuple[ProvisioningMembership, ...]:
    return value if type(value) is tuple else tuple(value)


def _markers(
    value: Mapping[str, ProvisioningMarker | Iterable[ProvisioningMarker]],
) -> Mapping[str, tuple[ProvisioningMarker, ...]]:
    """Each name's markers as a tuple; a lone marker is one (it was iterated, and failed)."""
    given: object = value  # as given, whatever the annotation says
    if not isinstance(given, Mapping):
        msg = (
            f"GrouperSnapshot.markers is {type(given).__name__} {given!r:.80}; it maps "
            "folder and group names to their ProvisioningMarkers"
        )
        raise TypeError(msg)
    return {
        name: (found,)
        if isinstance(found, ProvisioningMarker | str)
        else tuple(found)  # a str: refused by the contract check
        for name, found in value.items()
    }


@attrs.frozen(kw_only=True)
class GrouperSnapshot:
    """Grouper's data at one moment.

    The bean fields take any iterable (a list, a generator) and keep a tuple;
    *markers* takes a marker or an iterable of them per name.

    Attributes:
        groups: Every group (Grouper-side beans with the standard fields).
        entities: Every entity that is a member of some group.
        memberships: Every membership.
        markers: Provisioning markers by folder or group full name.
    """

    groups: tuple[ProvisioningGroup, ...] = attrs.field(default=(), converter=_groups)
    entities: tuple[ProvisioningEntity, ...] = attrs.field(default=(), converter=_entities)
    memberships: tuple[ProvisioningMembership, ...] = attrs.field(
        default=(), converter=_memberships
    )
    markers: Mapping[str, tuple[ProvisioningMarker, ...]] = attrs.field(
        factory=dict, hash=False, converter=_markers
    )


@runtime_checkable
class PartialGrouperSource(Protocol):
    """A :class:`GrouperSource` that can also read part of Grouper, for incremental recalcs.

    Optional: with a source that has it, an incremental run that recalculates
    some groups, entities and memberships reads only what they need from
    Grouper (and the target), so its cost grows with the events, not with the
    campus. Without it, recalcs read the whole snapshot.
    """

    def partial_snapshot(
        self,
        *,
        groups: Collection[str],
        members: Collection[str],
        memberships: Collection[tuple[str, str]] = (),
    ) -> GrouperSnapshot:
        """Part of Grouper, as one consistent snapshot.

        It holds the groups with the ids in *groups*, each with every one of
        its memberships; the entities with the member ids in *members*, each
        with every one of its memberships and the groups of those memberships;
        the memberships with the ``(group id, member id)`` pairs in
        *memberships* (a pair's group is there even when Grouper lacks the
        membership);
        every entity that is a member in what it returns; and the provisioning
        markers of its groups and of every folder above them (all markers do
        too). Ids Grouper does not have are left out. Groups, entities and
        memberships come in the order :meth:`GrouperSource.snapshot` gives them.

        *memberships* lets a recalc of single memberships read those rows,
        not every membership of their members: the recalc of one membership
        with group values and entities not operated needs only it.
        """
        ...


@runtime_checkable
class GrouperSource(Protocol):
    """Where Grouper data comes from: what the library calls, callers provide."""

    def snapshot(self) -> GrouperSnapshot:
        """Everything, as one consistent snapshot (for a full sync)."""
        ...

    def retrieve_groups(self, ids: Collection[str]) -> list[ProvisioningGroup]:
        """The groups with these ids (for a group sync); missing ids are left out."""
        ...

    def retrieve_entities(self, ids: Collection[str]) -> list[ProvisioningEntity]:
        """The entities with these member ids; missing ids are left out."""
        ...

    def retrieve_memberships(self, group_ids: Collection[str]) -> list[ProvisioningMembership]:
        """Every membership of these groups."""
        ...


@attrs.frozen(kw_only=True)
class ProvisionableGroup:
    """A provisionable group and why.

    Attributes:
        marker: The marker that made it provisionable.
        marked_at: The full name of the folder or group that carries it.
    """

    marker: ProvisioningMarker
    marked_at: str


@attrs.frozen(kw_only=True)
class Scope:
    """What one provisioner provisions from a snapshot.

    Attributes:
        groups: Provisionable groups by id, with the marker that decided.
        entities: Provisionable entities by id.
        memberships: Memberships between provisionable groups and entities.
        errors: Groups left out with an error (MEM), by id.
        excluded: Groups that are not provisionable, by id, with the reason.
    """

    groups: Mapping[str, ProvisionableGroup]
    entities: Mapping[str, ProvisioningEntity]
    memberships: tuple[ProvisioningMembership, ...]
    errors: Mapping[str, ObjectError]
    excluded: Mapping[str, str]

    def metadata(self) -> dict[str, Mapping[str, object]]:
        """Marker metadata by group id, for translation."""
        return {gid: g.marker.metadata for gid, g in self.groups.items() if g.marker.metadata}


_GROUP_ID = operator.attrgetter("group_id")
_ENTITY_ID = operator.attrgetter("entity_id")


def _ancestors(name: str) -> list[str]:
    """The folders above a group, nearest first: ``a:b:c`` -> ``["a:b", "a"]``."""
    parts = name.split(":")
    return [":".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)]


def resolve_marker(
    group_name: str,
    markers: Mapping[str, tuple[ProvisioningMarker, ...]],
    provisioner: str,
) -> tuple[ProvisioningMarker, str] | None:
    """The marker that decides whether a group is provisionable, and where it is.

    The group's own marker first, then its folders nearest first; a folder
    marker with scope ``one`` reaches direct children only. ``None`` when no
    marker reaches the group.
    """
    own = _own_marker(group_name, markers, provisioner)
    if own is not None:
        return own
    parent = group_name.rpartition(":")[0]
    return _folder_marker(parent, markers, provisioner) if parent else None


def _own_marker(
    group_name: str,
    markers: Mapping[str, tuple[ProvisioningMarker, ...]],
    provisioner: str,
) -> tuple[ProvisioningMarker, str] | None:
    """The group's own marker for *provisioner*, and where it is (the group)."""
    for marker in markers.get(group_name, ()):
        if marker.provisioner == provisioner:
            return marker, group_name
    return None


def _folder_marker(
    parent: str,
    markers: Mapping[str, tuple[ProvisioningMarker, ...]],
    provisioner: str,
) -> tuple[ProvisioningMarker, str] | None:
    """The marker that reaches the groups directly in *parent*, and where it is."""
    for depth, folder in enumerate((parent, *_ancestors(parent))):
        for marker in markers.get(folder, ()):
            if marker.provisioner != provisioner:
                continue
            if marker.scope is MarkerScope.ONE and depth > 0:
                continue
            return marker, folder
    return None


_SHOWN = 20  # problems listed in a SourceError's message; the rest are counted


def check_read(
    groups: Sequence[ProvisioningGroup] = (), entities: Sequence[ProvisioningEntity] = ()
) -> None:
    """Refuse read groups and entities that break the source contract: a SourceError.

    The checks are those of :func:`provisionable_scope` on groups and entities.
    """
    problems: list[str] = []
    _check_owners(GrouperSnapshot(groups=tuple(groups), entities=tuple(entities)), problems)
    _refuse(problems)


def _check_types(snapshot: GrouperSnapshot, problems: list[str]) -> None:
    """Add a problem for each item that is not a bean of its kind with text ids, or not a marker.

    Left in, such an item failed later with an ``AttributeError`` (a dict for
    a group), or was taken for another object (a group id of ``5`` was not
    the ``"5"`` its memberships name).
    """
    checks = (
        ("groups", snapshot.groups, ProvisioningGroup),
        ("entities", snapshot.entities, ProvisioningEntity),
        ("memberships", snapshot.memberships, ProvisioningMembership),
    )
    for label, beans, kind in checks:
        problems.extend(bean_problems(label, beans, kind, stored_ids=True))
    for name, marked in snapshot.markers.items():
        markers: Sequence[object] = marked  # as given: the check is of what was given
        problems.extend(
            f"markers[{name!r}]: {type(m).__name__} {m!r:.80} is not a ProvisioningMarker"
            for m in markers
            if not isinstance(m, ProvisioningMarker)
        )


def _check_owners(snapshot: GrouperSnapshot, problems: list[str]) -> None:
    """Add the problems of the snapshot's groups and entities: types, ids, and groups' names."""
    _check_types(snapshot, problems)
    if problems:
        return  # what follows reads the beans' fields
    for kind, beans in (("group", snapshot.groups), ("entity", snapshot.entities)):
        ids = [b.id for b in beans]
        if len(set(ids)) != len(ids):
            twice = sorted(i for i, n in Counter(ids).items() if n > 1)
            problems.extend(f"two or more {kind} beans with the id {i!r}" for i in twice)
        if "" in ids:
            problems.append(f"a {kind} with an empty id")
    for group in snapshot.groups:
        name = group.attributes.get("name")
        if type(name) is not str or not name:
            problems.append(f"group {group.id!r}: its name is {name!r}, not a non-empty string")


def _dangling(
    snapshot: GrouperSnapshot,
    memberships: Sequence[ProvisioningMembership],
    provisionable: Collection[str],
    problems: list[str],
) -> None:
    """Add a problem for each membership of a provisionable group whose entity the snapshot lacks.

    Left out, such a member would be taken for one Grouper does not have, and
    removed from the group in the target. A membership of a group the
    snapshot lacks is not a problem: a source may leave out the groups it
    does not provision, and their memberships are not provisioned either.
    """
    entities = {e.id for e in snapshot.entities}
    problems.extend(
        f"membership {m.id!r}: its entity {m.entity_id!r} is not in the snapshot"
        for m in memberships
        if m.group_id in provisionable and m.entity_id not in entities
    )


def _refuse(problems: Sequence[str]) -> None:
    if problems:
        shown = "\n  ".join(problems[:_SHOWN])
        more = f"\n  ... and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""
        msg = (
            f"the Grouper source gave data that breaks its contract ({len(problems)}"
            f" problem{'s' if len(problems) != 1 else ''}); nothing was planned:\n  {shown}{more}"
        )
        raise SourceError(msg)


def read_groups(source: GrouperSource, ids: Collection[str]) -> list[ProvisioningGroup]:
    """``source.retrieve_groups(ids)``, checked as a snapshot's groups are (see :func:`_read`)."""
    return _read(source.retrieve_groups(ids), "retrieve_groups()", ProvisioningGroup)


def read_entities(source: GrouperSource, ids: Collection[str]) -> list[ProvisioningEntity]:
    """``source.retrieve_entities(ids)``, checked as a snapshot's entities are."""
    return _read(source.retrieve_entities(ids), "retrieve_entities()", ProvisioningEntity)


def _read(given: Iterable[_Owner], label: str, kind: type[_Owner]) -> list[_Owner]:
    """*given* as a list of beans of *kind* with text ids.

    Raises:
        SourceError: Something in it is not (each offender named by its place).
    """
    found = list(given)
    _refuse(list(bean_problems(label, found, kind, stored_ids=True)))
    return found


def read_partial(
    source: PartialGrouperSource,
    *,
    groups: Collection[str],
    members: Collection[str],
    memberships: Collection[tuple[str, str]],
) -> GrouperSnapshot:
    """``source.partial_snapshot(...)``, checked to be a :class:`GrouperSnapshot`.

    Raises:
        SourceError: It gave something else.
    """
    part: object = source.partial_snapshot(groups=groups, members=members, memberships=memberships)
    if not isinstance(part, GrouperSnapshot):
        _refuse(
            [f"partial_snapshot() gave {type(part).__name__} {part!r:.80}, not a GrouperSnapshot"]
        )
    return part  # type: ignore[return-value]  # refused above when it is not one


def provisionable_scope(config: ProvisionerConfig, snapshot: GrouperSnapshot) -> Scope:
    """Decide which groups, entities and memberships *config*'s provisioner provisions.

    Raises:
        SourceError: The snapshot breaks the :class:`GrouperSource` contract:
            an item that is not a bean of its kind, an id that is not text, a
            marker that is not a :class:`ProvisioningMarker`, two groups (or
            entities) with one id, a group whose name is not a
            non-empty string, a membership of a provisionable group whose
            entity it lacks.
    """
    problems: list[str] = []
    _check_owners(snapshot, problems)
    _refuse(problems)
    settings = config.provisionable
    pattern = re.compile(settings.group_name_pattern) if settings.group_name_pattern else None
    groups: dict[str, ProvisionableGroup] = {}
    excluded: dict[str, str] = {}
    markers, provisioner = snapshot.markers, config.name
    # The groups of one folder share what reaches them from the folders: worked out once.
    by_folder: dict[str, tuple[ProvisioningMarker, str] | None] = {}
    for group in snapshot.groups:
        name: str = group.attributes["name"]  # type: ignore[assignment]  # checked above
        found = _own_marker(name, markers, provisioner)
        if found is None:
            parent = name.rpartition(":")[0]
            if parent not in by_folder:
                by_folder[parent] = _folder_marker(parent, markers, provisioner) if parent else None
            found = by_folder[parent]
        if found is None:
            excluded[group.id] = "no provisioning marker for this provisioner reaches it"
        elif not found[0].provisionable:
            excluded[group.id] = f"opted out by the marker on {found[1]!r}"
        elif pattern is not None and not pattern.fullmatch(name):
            excluded[group.id] = f"its name does not match {pattern.pattern!r}"
        else:
            groups[group.id] = ProvisionableGroup(marker=found[0], marked_at=found[1])
    entities = {e.id: e for e in snapshot.entities}
    if settings.subject_sources:
        allowed = set(settings.subject_sources)
        entities = {i: e for i, e in entities.items() if e.get("subject_source_id") in allowed}
    if settings.required_group is not None:
        required = {g.id for g in snapshot.groups if g.get("name") == settings.required_group}
        members = {m.entity_id for m in snapshot.memberships if m.group_id in required}
        entities = {i: e for i, e in entities.items() if i in members}
    memberships: Sequence[ProvisioningMembership] = snapshot.memberships
    if not (
        all(map(groups.__contains__, map(_GROUP_ID, memberships)))
        and all(map(entities.__contains__, map(_ENTITY_ID, memberships)))
    ):
        # Checked in C above; only when some membership is out does Python filter
        # (and look for memberships of what the snapshot lacks).
        _dangling(snapshot, memberships, groups, problems)
        _refuse(problems)
        memberships = [m for m in memberships if m.group_id in groups and m.entity_id in entities]
    errors: dict[str, ObjectError] = {}
    if settings.groups_require_members:
        populated = set(map(_GROUP_ID, memberships))
        for gid in list(groups):
            if gid not in populated:
                del groups[gid]
                errors[gid] = ObjectError(
                    SyncErrorCode.MEM,
                    "no provisionable members, and groups_require_members is on",
                )
    in_groups = set(map(_ENTITY_ID, memberships))
    return Scope(
        groups=groups,
        entities={i: e for i, e in entities.items() if i in in_groups},
        memberships=tuple(memberships),
        errors=errors,
        excluded=excluded,
    )
