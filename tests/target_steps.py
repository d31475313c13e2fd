"""Random Grouper changes for the convergence tests of the real targets (SQL, LDAP)."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Collection, Sequence

from hypothesis import strategies as st

from grouperprov import Provisioner, SyncStatus
from grouperprov.testing import InMemorySource

Step = tuple[str, int, str]


def steps(subjects: Sequence[str], *, groups: int, max_size: int) -> st.SearchStrategy[list[Step]]:
    """Lists of (what, which group, which subject) steps for :func:`apply_step`."""
    return st.lists(
        st.tuples(
            st.sampled_from(["add", "remove", "group", "delete", "rename"]),
            st.integers(0, groups - 1),
            st.sampled_from(list(subjects)),
        ),
        max_size=max_size,
    )


DELETE_POLICIES = st.sampled_from(["not_in_grouper", "inserted_by_us", "removed_from_grouper"])
"""The three delete policies, for the properties of the real targets."""

RESIDUES = st.sets(st.integers(0, 4), min_size=1, max_size=3)
"""Which checksum residues :func:`failing` fails writes for."""


def apply_step(
    source: InMemorySource, step: Step, *, rename_suffix: str = "", group_suffix: str = ""
) -> None:
    """Make one change in Grouper under the folder ``a``.

    New groups are named ``a:g<n><group_suffix>``, renamed ones
    ``a:r<n><rename_suffix>``.
    """
    kind, index, subject = step
    names = sorted(str(g.get("name")) for g in source.snapshot().groups)
    if kind == "group":
        if f"a:g{index}{group_suffix}" not in names:
            source.add_group(f"a:g{index}{group_suffix}", description=subject)
        return
    if not names:
        return
    name = names[index % len(names)]
    if kind == "add":
        source.add_member(name, subject)
    elif kind == "remove":
        source.remove_member(name, subject)
    elif kind == "delete":
        source.delete_group(name)
    elif f"a:r{index}{rename_suffix}" not in names:
        source.rename_group(name, f"a:r{index}{rename_suffix}")


Lists = Callable[[], dict[str, set[str]]]
"""What a target holds: each group's full name, with its members' subject ids."""


def grouper_lists(source: InMemorySource) -> dict[str, set[str]]:
    """What Grouper says the target should hold: every group under ``a``, with its members.

    Worked out from Grouper alone (the steps make groups under the folder
    ``a``, which the tests mark), not by the engine's rules.
    """
    snapshot = source.snapshot()
    names = {g.id: str(g.get("name")) for g in snapshot.groups}
    subjects = {e.id: str(e.get("subject_id")) for e in snapshot.entities}
    lists: dict[str, set[str]] = {n: set() for n in names.values() if n.startswith("a:")}
    for m in snapshot.memberships:
        if names[m.group_id] in lists:
            lists[names[m.group_id]].add(subjects[m.entity_id])
    return lists


def _says_what_grouper_says(source: InMemorySource, lists: Lists | None, *, empty: bool) -> None:
    """The target's lists are Grouper's (*empty*: whether it shows groups without members)."""
    if lists is None:
        return
    wanted = grouper_lists(source)
    if not empty:
        wanted = {name: members for name, members in wanted.items() if members}
    assert lists() == wanted


def converges_then_follows(
    prov: Provisioner,
    source: InMemorySource,
    steps: Sequence[Step],
    apply: Callable[[InMemorySource, Step], None],
    lists: Lists | None = None,
    *,
    empty: bool = True,
) -> None:
    """A full sync converges (a second plan is empty); after *steps*, incremental equals full.

    Both in the target (a full sync plans nothing) and in the records (a full
    sync changes none of what they say of their objects). With *lists*
    (what the target holds), the target also says what Grouper says, after
    the full sync and after the incremental run: a full sync that agrees
    with an incremental run may share its mistake.
    """
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert not prov.plan_full().plan.changes  # converged, and idempotent
    _says_what_grouper_says(source, lists, empty=empty)
    seq = len(source.changes)
    for step in steps:
        apply(source, step)
    result = prov.incremental_sync(source.events(seq))
    assert result.status is SyncStatus.SUCCESS, result.summary()
    _says_what_grouper_says(source, lists, empty=empty)
    as_a_full_sync_leaves_it(prov)


def recovers_after_failures(  # noqa: PLR0917  # the run and what checks it
    prov: Provisioner,
    source: InMemorySource,
    steps: Sequence[Step],
    apply: Callable[[InMemorySource, Step], None],
    broken: dict[str, bool],
    lists: Lists | None = None,
    *,
    empty: bool = True,
) -> None:
    """Writes fail in the incremental run of *steps*; once healed, the next run retries them.

    *prov*'s target fails writes while ``broken["on"]`` (a
    :class:`~grouperprov.testing.FailingTarget`). After the failing run,
    one incremental run with no events retries every error (all of them
    younger than ``retry_recent_seconds``); then the target and the records
    are as a full sync leaves them (and, with *lists*, the target says what
    Grouper says).
    """
    assert prov.full_sync().status is SyncStatus.SUCCESS
    seq = len(source.changes)
    for step in steps:
        apply(source, step)
    broken["on"] = True
    try:
        summary = prov.incremental_sync(source.events(seq)).incremental
    finally:
        broken["on"] = False
    assert summary is not None
    assert summary.full_sync is None  # a full sync's errors would wait for the next one
    result = prov.incremental_sync([])
    assert result.status is SyncStatus.SUCCESS, result.summary()
    _says_what_grouper_says(source, lists, empty=empty)
    as_a_full_sync_leaves_it(prov)


def as_a_full_sync_leaves_it(prov: Provisioner, status: SyncStatus = SyncStatus.SUCCESS) -> None:
    """A full sync plans nothing, and changes nothing the records say (it ends in *status*)."""
    plan = prov.plan_full().plan
    assert not plan.changes, plan.summary()  # incremental equals full
    before = record_facts(prov)
    assert prov.full_sync().status is status
    after = record_facts(prov)
    assert after == before, {k: (before.get(k), v) for k, v in after.items() if before.get(k) != v}


def failing(residues: Collection[int]) -> Callable[[str, object], bool]:
    """A stable pick of the writes to fail: by a checksum of the operation and object id."""

    def fail(operation: str, bean: object) -> bool:
        key = f"{operation} {getattr(bean, 'id', bean)!r}".encode()
        return zlib.crc32(key) % 5 in residues

    return fail


def record_facts(prov: Provisioner) -> dict[object, object]:
    """What each record says of its object: provisionable, in the target, error, target id."""
    return {
        key: (r.provisionable, r.in_target, r.error_code, r.target_id, r.subject_link)
        for key, r in prov.store.load(prov.config.name).records.items()
    }
