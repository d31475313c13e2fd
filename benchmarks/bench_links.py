"""Benchmark: incremental membership deletes with subject links, against the same without.

The Active Directory set-up: ``group_attributes`` with members written by
their subject links, entities not operated, so an entity's sync record only
caches its link. An incremental run that takes members out of groups reads
the records of every other membership of each of them, to record whether
they are still provisioned (see the incremental page of the docs). This
measures what that costs, in the same process and on the same campus
(200,000 memberships of 20,000 people in 2,000 groups at ``--scale 1``,
records in a SQLite store):

- the baseline: ``--deletes`` membership deletes (10,000 at scale 1, scaled)
  applied as they are, members written by their subject ids (no link
  records to keep);
- the same deletes with members written by their subject links.

Each run is on a freshly provisioned campus; with ``--repeat N`` each is run
N times and the best kept, as the machines are shared. Every figure is
printed on a line of its own as ``name = value``.
"""

from __future__ import annotations

import argparse
import gc
import random
import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs

sys.path.insert(0, str(Path(__file__).parent))

import campus  # the benchmark's own helper, beside this file

from grouperprov import (
    ChangeEvent,
    EventKind,
    Provisioner,
    ProvisionerConfig,
    ProvisioningMembership,
    SubjectLinkConfig,
    SyncStatus,
    TranslationContext,
)
from grouperprov.stores import SqliteSyncStore
from grouperprov.testing import InMemoryTarget


def _link(context: TranslationContext) -> str:
    return f"{context.field('subject_id')}@campus.example.edu"


def _config(*, links: bool) -> ProvisionerConfig:
    config = campus.config("group_attributes")
    if not links:
        return config
    ms = config.memberships
    assert ms.attribute is not None  # noqa: S101  # the variant has one
    return attrs.evolve(
        config,
        memberships=attrs.evolve(ms, attribute=attrs.evolve(ms.attribute, field="subject_link")),
        subject_link=SubjectLinkConfig(function=_link),
    )


def _run(
    data: campus.Campus,
    folder: Path,
    gone: list[ProvisioningMembership],
    *,
    links: bool,
) -> float:
    """Provision the campus from empty, then time the incremental run of the deletes."""
    source = campus.SnapshotSource(data.snapshot)
    store = SqliteSyncStore(folder / f"store-{len(list(folder.iterdir()))}.db")
    provisioner = Provisioner(_config(links=links), source, InMemoryTarget(), store)
    first = provisioner.full_sync()
    if first.status is not SyncStatus.SUCCESS:
        msg = f"the first full sync did not succeed: {first.summary()}"
        raise SystemExit(msg)
    dropped = {(m.group_id, m.entity_id) for m in gone}
    snapshot = data.snapshot
    remaining = tuple(m for m in snapshot.memberships if (m.group_id, m.entity_id) not in dropped)
    source.replace(attrs.evolve(snapshot, memberships=remaining))  # Grouper after the deletes
    names = {g.id: str(g.get("name")) for g in snapshot.groups}
    subjects = {e.id: str(e.get("subject_id")) for e in snapshot.entities}
    later = datetime.now(tz=UTC) + timedelta(seconds=1)
    events = [
        ChangeEvent(
            sequence=i,
            kind=EventKind.MEMBERSHIP_DELETE,
            occurred=later,
            group_id=m.group_id,
            group_name=names[m.group_id],
            member_id=m.entity_id,
            subject_id=subjects[m.entity_id],
        )
        for i, m in enumerate(gone, start=1)
    ]
    return campus.timed_incremental(provisioner, events, "non_recalc")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="1 = 200,000 memberships")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measure (best kept)")
    parser.add_argument("--deletes", type=int, default=10_000, help="deletes at scale 1")
    args = parser.parse_args()
    scale = args.scale
    data = campus.build(
        groups=max(1, int(2_000 * scale)),
        entities=max(10, int(20_000 * scale)),
        memberships=max(10, int(200_000 * scale)),
        variant="group_attributes",
    )
    rng = random.Random(20261207)  # noqa: S311  # benchmark data, not security
    memberships = data.snapshot.memberships
    count = min(len(memberships), max(1, int(args.deletes * scale)))
    gone = [memberships[i] for i in sorted(rng.sample(range(len(memberships)), count))]
    folder = Path(tempfile.mkdtemp(prefix="bench-links-"))
    best = {False: float("inf"), True: float("inf")}
    for _ in range(max(1, args.repeat)):
        for links in (False, True):  # interleaved: the machine's load falls on both
            best[links] = min(best[links], _run(data, folder, gone, links=links))
            gc.collect()
    shutil.rmtree(folder)
    print(f"links_memberships = {len(memberships)}")
    print(f"links_deletes = {count}")
    print(f"links_plain_delete_s = {best[False]:.3f}")
    print(f"links_delete_s = {best[True]:.3f}")
    print(f"links_delete_over_plain_delete = {best[True] / best[False]:.2f}")


if __name__ == "__main__":
    main()
