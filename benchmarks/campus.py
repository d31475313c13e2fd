"""A generated campus for benchmarks: groups, entities, memberships, and a drifted target.

Everything is deterministic for a seed. The Grouper side is built as a
:class:`~grouperprov.GrouperSnapshot` directly (a source that only hands it
out), and the target side as what the provisioner would have written, then
drifted: some memberships missing, some extra, some groups changed.
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Collection

import attrs

from grouperprov import (
    AttributeMap,
    ChangeEvent,
    GrouperSnapshot,
    Provisioner,
    ProvisionerConfig,
    ProvisioningEntity,
    ProvisioningGroup,
    ProvisioningMarker,
    ProvisioningMembership,
    SyncStatus,
)
from grouperprov.testing import InMemoryTarget

PROVISIONER = "campus"

MEMBERSHIP_OBJECTS = """
name = "campus"

[groups]
matching = ["name"]
attributes = [
  { name = "name", field = "name" },
  { name = "description", field = "description" },
]

[entities]
operate = false

[memberships]
type = "membership_objects"
matching = [["group_name", "subject_id"]]
update = false
delete_policy = "not_in_grouper"
attributes = [
  { name = "group_name", field = "group.name" },
  { name = "subject_id", field = "entity.subject_id" },
]
"""

GROUP_ATTRIBUTES = """
name = "campus"

[groups]
matching = ["name"]
attributes = [
  { name = "name", field = "name" },
  { name = "description", field = "description" },
]

[entities]
operate = false

[memberships]
type = "group_attributes"
attribute = { name = "member", field = "subject_id" }
delete_policy = "not_in_grouper"
"""


@attrs.frozen
class Campus:
    """A generated campus: the Grouper snapshot and the drifted target's contents."""

    snapshot: GrouperSnapshot
    target_groups: tuple[ProvisioningGroup, ...]
    target_memberships: tuple[ProvisioningMembership, ...]
    missing: int
    extra: int
    changed: int


class SnapshotSource:
    """A :class:`~grouperprov.GrouperSource` that hands out one prepared snapshot."""

    def __init__(self, snapshot: GrouperSnapshot) -> None:
        self._snapshot = snapshot

    def snapshot(self) -> GrouperSnapshot:
        return self._snapshot

    def replace(self, snapshot: GrouperSnapshot) -> None:
        """Grouper after some changes."""
        self._snapshot = snapshot

    def retrieve_groups(self, ids: Collection[str]) -> list[ProvisioningGroup]:
        wanted = set(ids)
        return [g for g in self._snapshot.groups if g.id in wanted]

    def retrieve_entities(self, ids: Collection[str]) -> list[ProvisioningEntity]:
        wanted = set(ids)
        return [e for e in self._snapshot.entities if e.id in wanted]

    def retrieve_memberships(self, group_ids: Collection[str]) -> list[ProvisioningMembership]:
        wanted = set(group_ids)
        return [m for m in self._snapshot.memberships if m.group_id in wanted]


def config(variant: str) -> ProvisionerConfig:
    """The provisioner configuration of a variant (``objects`` or ``group_attributes``)."""
    text = MEMBERSHIP_OBJECTS if variant == "objects" else GROUP_ATTRIBUTES
    return ProvisionerConfig.from_toml(text)


def build(
    *,
    groups: int,
    entities: int,
    memberships: int,
    variant: str,
    seed: int = 20261122,
) -> Campus:
    """Generate a campus and the target state a provisioner would find.

    1 % of the memberships are missing from the target, 0.5 % more are there
    that Grouper does not have, and 1 % of the groups have a changed
    description.
    """
    rng = random.Random(seed)  # noqa: S311  # benchmark data, not security
    empty = AttributeMap()
    group_beans = []
    names = []
    for i in range(groups):
        name = f"campus:dept{i % 200:03d}:group{i:06d}"
        names.append(name)
        group_beans.append(
            ProvisioningGroup(
                id=f"g{i:06d}",
                attributes=AttributeMap(
                    {
                        "id": f"g{i:06d}",
                        "name": name,
                        "extension": f"group{i:06d}",
                        "description": f"Group {i}",
                    }
                ),
            )
        )
    subject_ids = [f"s{i:07d}" for i in range(entities)]
    entity_beans = [
        ProvisioningEntity(
            id=f"m{i:07d}",
            attributes=AttributeMap({"id": f"m{i:07d}", "subject_id": subject_ids[i]}),
        )
        for i in range(entities)
    ]
    per_group = memberships // groups
    pairs: list[tuple[int, int]] = []
    for g in range(groups):
        pairs.extend((g, e) for e in rng.sample(range(entities), per_group))
    grouper_memberships = tuple(
        ProvisioningMembership(group_beans[g].id, entity_beans[e].id, empty) for g, e in pairs
    )
    snapshot = GrouperSnapshot(
        groups=tuple(group_beans),
        entities=tuple(entity_beans),
        memberships=grouper_memberships,
        markers={"campus": (ProvisioningMarker(provisioner=PROVISIONER),)},
    )

    missing = len(pairs) // 100
    extra = len(pairs) // 200
    changed = groups // 100
    missing_pairs = set(rng.sample(range(len(pairs)), missing))
    present = [p for i, p in enumerate(pairs) if i not in missing_pairs]
    existing = set(pairs)
    added: list[tuple[int, int]] = []
    while len(added) < extra:
        pair = (rng.randrange(groups), rng.randrange(entities))
        if pair not in existing:
            existing.add(pair)
            added.append(pair)
    changed_groups = set(rng.sample(range(groups), changed))

    members: dict[int, set[str]] = {g: set() for g in range(groups)}
    for g, e in present + added:
        members[g].add(subject_ids[e])
    target_groups = []
    for g in range(groups):
        values: dict[str, object] = {
            "name": names[g],
            "description": f"Group {g}" + (" (edited)" if g in changed_groups else ""),
        }
        if variant != "objects":
            values["member"] = frozenset(members[g])
        target_groups.append(ProvisioningGroup(id=f"tg{g:06d}", attributes=values))
    target_memberships: tuple[ProvisioningMembership, ...] = ()
    if variant == "objects":
        target_memberships = tuple(
            ProvisioningMembership(
                f"tg{g:06d}",
                subject_ids[e],
                AttributeMap({"group_name": names[g], "subject_id": subject_ids[e]}),
            )
            for g, e in present + added
        )
    return Campus(
        snapshot=snapshot,
        target_groups=tuple(target_groups),
        target_memberships=target_memberships,
        missing=missing,
        extra=extra,
        changed=changed,
    )


def target_for(campus: Campus) -> InMemoryTarget:
    """An in-memory target holding the campus's target side."""
    target = InMemoryTarget()
    target.seed(groups=campus.target_groups, memberships=campus.target_memberships)
    return target


def timed_incremental(provisioner: Provisioner, events: list[ChangeEvent], kind: str) -> float:
    """The seconds one incremental run of *events* takes; each event must go the *kind* way.

    *kind* is ``"non_recalc"`` (applied as they are) or ``"recalc"`` (each
    membership recalculated); a run that fails, or takes another way, ends
    the benchmark with what it did instead.
    """
    gc.collect()
    start = time.perf_counter()
    result = provisioner.incremental_sync(events)
    elapsed = time.perf_counter() - start
    summary = result.incremental
    if result.status is not SyncStatus.SUCCESS or summary is None:
        msg = f"{kind}: the incremental run did not succeed: {result.summary()}"
        raise SystemExit(msg)
    applied = summary.non_recalc if kind == "non_recalc" else len(summary.recalc_memberships)
    if applied != len(events):
        msg = f"{kind}: {applied} of {len(events)} events went the {kind} way: {summary}"
        raise SystemExit(msg)
    return elapsed
