"""Targeted reads for incremental recalcs: only what the objects concerned need.

A recalculation of some groups, entities and memberships compares them as a
full sync would, but it need not read the campus. With a source that reads
part of Grouper (:class:`~grouperprov.PartialGrouperSource`) and a target that
reads objects by id, it reads:

1. the sync records of the groups and members concerned (their membership
   records too), widened as the rules say (a delete may empty an entity or a
   group, which is then recalculated as well);
2. from Grouper: the groups recalculated, whole; the members concerned, with
   every membership; the groups those members are or were in (beans only).
   The members of recalculated memberships are members concerned only where
   their other memberships matter: when entities are operated (an entity is
   provisioned, and deleted, by all of its memberships) or hold the values
   (``entity_attributes``), or memberships are objects. Otherwise
   (``group_attributes`` with entities not operated, the usual LDAP set-up)
   a membership's recalc reads that membership, its group and its entity, and
   the group's value of that member only;
3. the sync records of every object that brings (of its entities only where
   entities play a part, or cache subject links);
4. from the target: every group and entity of that part of Grouper, and those
   the records link to it (by target id, else by a search attribute or a
   single-attribute matching key), and the membership objects of those groups.

The plan made from that part is narrowed to the objects concerned, as before,
so what the part leaves out (the other members of a group a member is in) is
never changed. When a rule cannot be kept with targeted reads, :func:`read_part`
returns ``None`` and the recalc reads both sides in full, as a full sync does:
the source cannot read part of Grouper; a folder's groups or groups named in a
control message must be looked up by name; ``required_group`` (every entity's
provisioning depends on another group's memberships); a target that replaces
whole lists, of values or of membership objects (a part of the list would
replace the whole); a target that
cannot read by id or search for an object with no target id yet.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterable, Mapping
from typing import TYPE_CHECKING, cast

import attrs

from ._beans import (
    ProvisioningEntity,
    ProvisioningGroup,
    ProvisioningMembership,
    Scalar,
    is_text,
    with_stored_value,
)
from ._behavior import Behavior, compared_config, replaces_lists
from ._config import MembershipType, ObjectConfig, ObjectType, ProvisionerConfig
from ._records import SyncRecord
from ._source import GrouperSnapshot, PartialGrouperSource, read_groups, read_partial
from ._store import SyncState
from ._target import Capabilities, Operation, TargetData
from ._translate import Translation, Translator

if TYPE_CHECKING:
    from ._incremental import Work
    from ._provisioner import Provisioner

Key = tuple[ObjectType, Hashable]
_READS = {
    ObjectType.GROUP: (Operation.RETRIEVE_GROUPS, Operation.SEARCH_GROUPS),
    ObjectType.ENTITY: (Operation.RETRIEVE_ENTITIES, Operation.SEARCH_ENTITIES),
}


@attrs.frozen
class Part:
    """What a targeted recalc reads: part of Grouper, of the records and of the target.

    Attributes:
        snapshot: The part of Grouper.
        state: The sync records of what it holds.
        target: The target objects of that part.
        groups: The groups read whole (their true sizes are known).
        members: The members read with every membership.
        pairs: The memberships recalculated.
    """

    snapshot: GrouperSnapshot
    state: SyncState
    target: TargetData
    groups: frozenset[str]
    members: frozenset[str]
    pairs: frozenset[tuple[str, str]] = frozenset()

    def view(
        self, translator: Translator, translation: Translation, target: TargetData
    ) -> TargetData:
        """What of *target* to compare: only the membership values of what was read whole.

        Of a group (or entity) read only in part, the values (or membership
        objects) of the members (or groups) read whole, and of the memberships
        recalculated, are kept. The others are
        left out of the comparison rather than compared with a Grouper side that
        does not hold them (and so planned away, then left out).
        """
        kind = translator.membership_type
        attribute = translator.membership_attribute
        if kind is MembershipType.MEMBERSHIP_OBJECTS:
            return attrs.evolve(target, memberships=tuple(self._kept_memberships(target)))
        if attribute is None:
            return target
        owner_type = (
            ObjectType.GROUP if kind is MembershipType.GROUP_ATTRIBUTES else ObjectType.ENTITY
        )
        whole = self.groups if owner_type is ObjectType.GROUP else self.members
        other = self.members if owner_type is ObjectType.GROUP else self.groups
        owners = {
            str(r.target_id): str(key[1])
            for key, r in self.state.records.items()
            if key[0] is owner_type and r.target_id is not None
        }
        recorded: dict[str, set[Hashable]] = {}
        side = 1 if owner_type is ObjectType.GROUP else 0
        plain = translator.strings_are_forms(owner_type, attribute)
        for key, r in self.state.records.items():
            pair, value = key[1], r.target_id
            if (
                isinstance(pair, tuple)
                and isinstance(value, tuple)
                and (pair[side] in other or pair in self.pairs)
            ):
                forms = recorded.setdefault(str(pair[1 - side]), set())
                item = value[1]
                if plain and type(item) is str:
                    if item:  # the value is its own form (value_map's rule)
                        forms.add(item)
                else:
                    forms.update(translator.value_map(owner_type, attribute, frozenset((item,))))
        beans = target.groups if owner_type is ObjectType.GROUP else target.entities
        kept = []
        for bean in beans:
            owner = owners.get(bean.id)
            if owner is None or owner in whole:
                kept.append(bean)
                continue
            allowed = recorded.get(owner, set()) | set(translation.membership_values.get(owner, {}))
            part = translator.values_among(owner_type, attribute, bean.get(attribute), allowed)
            kept.append(with_stored_value(bean, attribute, part))  # values the bean held
        if owner_type is ObjectType.GROUP:
            return attrs.evolve(target, groups=tuple(cast("list[ProvisioningGroup]", kept)))
        return attrs.evolve(target, entities=tuple(cast("list[ProvisioningEntity]", kept)))

    def _kept_memberships(self, target: TargetData) -> Iterable[ProvisioningMembership]:
        pairs = {
            r.target_id: key[1]
            for key, r in self.state.records.items()
            if key[0] is ObjectType.MEMBERSHIP and r.target_id is not None
        }
        groups = {
            str(r.target_id)
            for key, r in self.state.records.items()
            if key[0] is ObjectType.GROUP and key[1] in self.groups and r.target_id is not None
        }
        for membership in target.memberships:
            pair = pairs.get(membership.id)
            if (
                membership.group_id in groups
                or not isinstance(pair, tuple)
                or pair[1] in self.members
            ):
                yield membership


def read_part(
    p: Provisioner,
    behavior: Behavior,
    work: Work,
    widen: Callable[[Work, SyncState], None],
    *,
    known: tuple[Collection[Key], SyncState],
) -> Part | None:
    """Read what recalculating *work* needs (see the module rules); ``None``: read it all.

    *widen* adds to *work* what its recalculation may empty, from the records
    given; it is called until nothing more is added. *known* is keys whose
    records were read in this run already, and those records (the keys with
    none have none): they are not read again.
    """
    config = p.config
    source = p.source
    if not isinstance(source, PartialGrouperSource) or not _targetable(config, behavior, work):
        return None
    name = config.name
    whole = entities_play_a_part(config)
    records: dict[Key, SyncRecord] = {}
    done_groups: set[str] = set()
    done_members: set[str] = set()
    done_pairs: set[tuple[str, str]] = set()
    provisioner = known[1].provisioner
    while True:
        groups = work.groups - done_groups
        fresh = _members(work, whole=whole) - done_members
        pairs = work.memberships - done_pairs
        if not groups and not fresh and not pairs:
            break
        keys: list[Key] = [(ObjectType.GROUP, g) for g in groups]
        keys += [(ObjectType.ENTITY, m) for m in fresh]
        keys += [(ObjectType.MEMBERSHIP, pair) for pair in pairs]
        keys = _unknown(keys, known, records)
        if keys or groups or fresh:
            loaded = p.store.load_records(name, keys, groups=groups, members=fresh)
            records.update(loaded.records)
            provisioner = loaded.provisioner
        done_groups |= groups
        done_members |= fresh
        done_pairs |= pairs
        widen(work, SyncState(provisioner=provisioner, records=records))
    members = _members(work, whole=whole)
    # A recalculated membership is read as that row where its member's other
    # memberships play no part, else with every membership of its member.
    part = read_partial(
        source,
        groups=sorted(work.groups),
        members=sorted(members),
        memberships=() if whole else sorted(work.memberships),
    )
    snapshot = _with_groups(p, part, _recorded_groups(records, work))
    keys = [(ObjectType.GROUP, g.id) for g in snapshot.groups]
    keys += [(ObjectType.MEMBERSHIP, (m.group_id, m.entity_id)) for m in snapshot.memberships]
    if whole or config.subject_link is not None:
        # Entity records count where entities do, and where they cache subject
        # links; else the part's plan neither reads nor writes them.
        keys += [(ObjectType.ENTITY, e.id) for e in snapshot.entities]
        keys += [(ObjectType.ENTITY, str(k[1][1])) for k in records if isinstance(k[1], tuple)]
    missing = _unknown([k for k in keys if k not in records], known, records)
    last = p.store.load_records(name, missing)  # the provisioner record comes with it
    records.update(last.records)
    state = SyncState(provisioner=last.provisioner, records=records)
    target = _read_target(p, behavior, snapshot, state)
    if target is None:
        return None
    return Part(
        snapshot=snapshot,
        state=state,
        target=target,
        groups=frozenset(work.groups),
        members=frozenset(members),
        pairs=frozenset(work.memberships),
    )


def _unknown(
    keys: list[Key], known: tuple[Collection[Key], SyncState], records: dict[Key, SyncRecord]
) -> list[Key]:
    """*keys* this run has not read yet; the records of those it has go into *records*."""
    asked, state = known
    unknown: list[Key] = []
    for key in keys:
        if key not in asked:
            unknown.append(key)
        elif (record := state.records.get(key)) is not None:
            records[key] = record
    return unknown


def entities_play_a_part(config: ProvisionerConfig) -> bool:
    """Whether entities count in a membership's sync beyond its value.

    They do when operated, and when memberships are objects or entity values
    (an entity's target id addresses them). Then a membership's recalc reads
    its member with every membership (module rules), and classifying
    membership events reads entity records; with group values and entities
    not operated, only the group and the value count.
    """
    return config.entities.operate or config.memberships.type is not MembershipType.GROUP_ATTRIBUTES


def _members(work: Work, *, whole: bool) -> set[str]:
    """The members a recalc reads with every membership: its entities (and its pairs')."""
    return work.entities | {m for _, m in work.memberships} if whole else set(work.entities)


def _targetable(config: ProvisionerConfig, behavior: Behavior, work: Work) -> bool:
    """Whether the rules can be kept with targeted reads (see the module docstring)."""
    if work.folders or work.group_names or config.provisionable.required_group is not None:
        return False
    return not replaces_lists(behavior)


def _pair(key: Key) -> bool:
    return key[0] is ObjectType.MEMBERSHIP and isinstance(key[1], tuple)


def _recorded_groups(records: dict[Key, SyncRecord], work: Work) -> set[str]:
    """The groups the records say the members concerned are in (a left group included)."""
    groups = {str(key[1][0]) for key in records if isinstance(key[1], tuple)}
    return groups | work.groups | {g for g, _ in work.memberships}


def _with_groups(p: Provisioner, part: GrouperSnapshot, wanted: Collection[str]) -> GrouperSnapshot:
    """*part* with the beans of the groups in *wanted* it lacks (and Grouper has)."""
    have = {g.id for g in part.groups}
    lacking = sorted(set(wanted) - have)
    if not lacking:
        return part
    extra = [g for g in read_groups(p.source, lacking) if g.id not in have]
    return attrs.evolve(part, groups=part.groups + tuple(extra))


def _read_target(
    p: Provisioner, behavior: Behavior, snapshot: GrouperSnapshot, state: SyncState
) -> TargetData | None:
    """The target objects of *snapshot*'s part of Grouper; ``None`` if the target cannot tell."""
    caps = behavior.capabilities
    translator = Translator(compared_config(p.config, caps))
    records = state.records
    found: dict[ObjectType, list[ProvisioningGroup | ProvisioningEntity]] = {}
    for object_type, selected, beans in (
        (ObjectType.GROUP, behavior.groups.select, snapshot.groups),
        (ObjectType.ENTITY, behavior.entities.select, snapshot.entities),
    ):
        if not selected:
            continue
        linked, in_error = _linked(records, object_type)
        read = _owners(p, translator, object_type, beans, linked, caps, in_error)
        if read is None:
            return None
        found[object_type] = read
    groups = cast("list[ProvisioningGroup]", found.get(ObjectType.GROUP, []))
    entities = cast("list[ProvisioningEntity]", found.get(ObjectType.ENTITY, []))
    group_ids = [g.id for g in groups]
    memberships: tuple[object, ...] = ()
    if (
        behavior.memberships.select
        and behavior.membership_type is MembershipType.MEMBERSHIP_OBJECTS
    ):
        if not caps.can(Operation.RETRIEVE_MEMBERSHIPS_BY_GROUPS):
            return None
        ids = set(group_ids) | {
            str(r.target_id[0])
            for key, r in records.items()
            if _pair(key) and isinstance(r.target_id, tuple)
        }
        memberships = tuple(p.target.retrieve_memberships_by_groups(sorted(ids))) if ids else ()
    return TargetData(
        groups=tuple(groups),
        entities=tuple(entities),
        memberships=memberships,  # type: ignore[arg-type]  # membership objects
    )


def _linked(
    records: Mapping[Key, SyncRecord], object_type: ObjectType
) -> tuple[dict[str, str], frozenset[str]]:
    """Grouper id -> target id of the records of *object_type* that have one; those in error."""
    linked: dict[str, str] = {}
    in_error: set[str] = set()
    for key, r in records.items():
        if key[0] is object_type and r.target_id is not None:
            linked[str(key[1])] = str(r.target_id)
            if r.error_code is not None:
                in_error.add(str(key[1]))
    return linked, frozenset(in_error)


def _owners(  # noqa: PLR0917  # the pieces of one read
    p: Provisioner,
    translator: Translator,
    object_type: ObjectType,
    beans: Iterable[ProvisioningGroup | ProvisioningEntity],
    linked: dict[str, str],
    caps: Capabilities,
    in_error: Collection[str] = frozenset(),
) -> list[ProvisioningGroup | ProvisioningEntity] | None:
    """The target objects of *beans*: by the target ids the records link, else by search.

    An object in error whose linked object does not hold its matching
    values now is looked up by them too, as a full sync sees it: a group
    renamed onto the name of an object another group left is paired with
    that object by name, and the record keeps its old object while that
    one's delete fails (see the record keeper). Read by its link alone, the
    retry paired the group with its old object again, and its rename
    failed on the object of its new name, run after run.
    """
    settings: ObjectConfig = (
        p.config.groups if object_type is ObjectType.GROUP else p.config.entities
    )
    retrieve = _READS[object_type][0]
    ids = set(linked.values())
    unlinked = [b for b in beans if b.id not in linked]
    if ids and not caps.can(retrieve):
        return None
    found: dict[str, ProvisioningGroup | ProvisioningEntity] = {}
    if ids:
        reader = (
            p.target.retrieve_groups
            if object_type is ObjectType.GROUP
            else p.target.retrieve_entities
        )
        found.update((b.id, b) for b in reader(sorted(ids)))
        # A link that leads nowhere (an entry moved or deleted by hand): looked
        # up as an unlinked object is, where a full sync would find it by its
        # matching value. Read by its link alone, it was taken for missing and
        # inserted again beside the moved entry, and both got MAT ever after.
        unlinked += [b for b in beans if b.id in linked and linked[b.id] not in found]
        moved = [
            b
            for b in beans
            if linked.get(b.id) in found
            and _moved_from(translator, object_type, b, found[linked[b.id]], settings)
        ]
        unlinked += [b for b in moved if b.id in in_error]
        taken = [b for b in moved if b.id not in in_error]
        if taken and _taken(p, translator, object_type, taken, linked, settings, caps):
            return None
    if unlinked:
        searched = _searcher(p, object_type, settings, caps)
        if searched is None:
            return None
        names, finder = searched
        matcher_search = _search_values(translator, object_type, unlinked, names)
        if matcher_search is None:
            return None
        for attribute, values in matcher_search.items():
            found.update((b.id, b) for b in finder(attribute, sorted(values, key=str)))
    return [found[k] for k in sorted(found)]


def _taken(  # noqa: PLR0917  # the pieces of one read
    p: Provisioner,
    translator: Translator,
    object_type: ObjectType,
    moved: list[ProvisioningGroup | ProvisioningEntity],
    linked: dict[str, str],
    settings: ObjectConfig,
    caps: Capabilities,
) -> bool:
    """Whether an object of *moved* (renamed) now matches a target object other than its own.

    Two people who swap names (``uid``), each named as the other was: a
    recalc of one alone paired them with the other's entry, by name, as a
    full sync does, while the other's record still held it. The other's
    values stayed on it, and their own old entry (the other's now) kept
    theirs; under ``removed_from_grouper`` for good, each with the other's
    groups. Or, paired by its link, its rename failed on the other's name
    run after run, and its memberships went to the other's entry. Such a
    recalc reads both sides in full (``True``), so that it covers every
    record the move concerns (see ``_take_holders`` in
    :mod:`grouperprov._incremental_run`). A target that cannot search:
    ``True`` too.
    """
    searched = _searcher(p, object_type, settings, caps)
    if searched is None:
        return True
    names, finder = searched
    for bean in moved:  # one by one (renames are few): whose object each search finds
        # Moved, it has a matching value its linked object lacks: something to search by.
        wanted = _search_values(translator, object_type, [bean], names)
        own = linked[bean.id]
        for attribute, values in (wanted or {}).items():
            if any(b.id != own for b in finder(attribute, sorted(values, key=str))):
                return True
    return False


_Finder = Callable[[str, list[Scalar]], Iterable[ProvisioningGroup | ProvisioningEntity]]
"""A target's search by one attribute's values (``search_groups``, ``search_entities``)."""


def _searcher(
    p: Provisioner, object_type: ObjectType, settings: ObjectConfig, caps: Capabilities
) -> tuple[tuple[str, ...], _Finder] | None:
    """The attributes to look objects up by, and the target's search; ``None``: it cannot."""
    names = tuple(
        dict.fromkeys([*settings.search, *(k[0] for k in settings.matching if len(k) == 1)])
    )
    if not names or not caps.can(_READS[object_type][1]):
        return None
    if object_type is ObjectType.GROUP:
        return names, p.target.search_groups
    return names, p.target.search_entities


def _moved_from(
    translator: Translator,
    object_type: ObjectType,
    bean: ProvisioningGroup | ProvisioningEntity,
    linked: ProvisioningGroup | ProvisioningEntity,
    settings: ObjectConfig,
) -> bool:
    """Whether *bean*'s single-attribute matching values are not all held by its *linked* object.

    Compared as text ignoring case: a difference of case only costs a search.
    """
    names = [k[0] for k in settings.matching if len(k) == 1]
    wanted = _search_values(translator, object_type, [bean], tuple(dict.fromkeys(names)))
    for name, values in (wanted or {}).items():
        held = linked.get(name)
        have = held if isinstance(held, frozenset) else {held}
        if {str(v).casefold() for v in values} - {str(v).casefold() for v in have}:
            return True
    return False


def _search_values(
    translator: Translator,
    object_type: ObjectType,
    beans: Iterable[ProvisioningGroup | ProvisioningEntity],
    names: tuple[str, ...],
) -> dict[str, set[Scalar]] | None:
    """Per search attribute, the values to look *beans* up by; ``None`` if one has none."""
    wanted: dict[str, set[Scalar]] = {}
    for bean in beans:
        translated = (
            translator.translate_group(bean)  # type: ignore[arg-type]  # a group
            if object_type is ObjectType.GROUP
            else translator.translate_entity(bean)  # type: ignore[arg-type]  # an entity
        )
        found = False
        for name in names:
            value = translated.bean.get(name)
            if isinstance(value, frozenset):
                value = next(iter(value)) if len(value) == 1 else None
            if value is None or value == "":
                continue
            found = True
            if isinstance(value, str) and not is_text(value):
                continue  # a lone surrogate: no target holds it, and sent, it failed the read
            wanted.setdefault(name, set()).add(value)
        if not found:
            return None
    return wanted
