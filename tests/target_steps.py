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


def converges_then_follows(
    prov: Provisioner,
    source: InMemorySource,
    steps: Sequence[Step],
    apply: Callable[[InMemorySource, Step], None],
) -> None:
    """A full sync converges (a second plan is empty); after *steps*, incremental equals full.

    Both in the target (a full sync plans nothing) and in the records (a full
    sync changes none of what they say of their objects).
    """
    assert prov.full_sync().status is SyncStatus.SUCCESS
    assert not prov.plan_full().plan.changes  # converged, and idempotent
    seq = len(source.changes)
    for step in steps:
        apply(source, step)
    result = prov.incremental_sync(source.events(seq))
    assert result.status is SyncStatus.SUCCESS, result.summary()
    _as_a_full_sync_leaves_it(prov)


def recovers_after_failures(
    prov: Provisioner,
    source: InMemorySource,
    steps: Sequence[Step],
    apply: Callable[[InMemorySource, Step], None],
    broken: dict[str, bool],
) -> None:
    """Writes fail in the incremental run of *steps*; once healed, the next run retries them.

    *prov*'s target fails writes while ``broken["on"]`` (a
    :class:`~grouperprov.testing.FailingTarget`). After the failing run,
    one incremental run with no events retries every error (all of them
    younger than ``retry_recent_seconds``); then the target and the records
    are as a full sync leaves them.
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
    _as_a_full_sync_leaves_it(prov)


def renaming_apart(
    apply: Callable[[InMemorySource, Step], None],
) -> Callable[[InMemorySource, Step], None]:
    """*apply*, with each rename to a name of its own (``~1``, ``~2``, ... added).

    For :func:`recovers_after_failures`: a group renamed to the name of a
    group deleted in the same batch takes over that group's target object,
    and if the delete of its own old object then fails, no record holds
    that object any more, so no retry finds it: it waits for the next full
    sync (a known limit, see the incremental docs).
    """
    made = iter(range(1, 1_000_000))

    def applied(source: InMemorySource, step: Step) -> None:
        if step[0] != "rename":
            apply(source, step)
            return
        before = {g.id: g.get("name") for g in source.snapshot().groups}
        apply(source, step)
        for group in source.snapshot().groups:
            if before.get(group.id) not in (None, group.get("name")):
                source.rename_group(str(group.get("name")), f"{group.get('name')}~{next(made)}")

    return applied


def _as_a_full_sync_leaves_it(prov: Provisioner) -> None:
    """A full sync plans nothing, and changes nothing the records say."""
    plan = prov.plan_full().plan
    assert not plan.changes, plan.summary()  # incremental equals full
    before = record_facts(prov)
    assert prov.full_sync().status is SyncStatus.SUCCESS
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
