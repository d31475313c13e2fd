"""Benchmark: ``Provisioner.plan_full()`` on a generated campus, against a floor.

The campus has 20,000 groups, 200,000 entities and 1,000,000 memberships (at
``--scale 1``); the target holds what a provisioner would have written, with
1 % of the memberships missing, 0.5 % extra and 1 % of the groups changed.

The floor, measured in the same process: build a set of the (group, entity)
pairs of each side and take both differences, which is the least any
reconciliation must do. Times are the best of ``--repeat`` runs. Each variant
runs in a process of its own so that its peak memory is its own.

Every figure is printed on a line of its own as ``name = value``.
"""

from __future__ import annotations

import argparse
import gc
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import campus  # the benchmark's own helper, beside this file

from grouperprov import Provisioner

VARIANTS = ("objects", "group_attributes")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _floor(data: campus.Campus, variant: str) -> float:
    start = time.perf_counter()
    grouper = {(m.group_id, m.entity_id) for m in data.snapshot.memberships}
    if variant == "objects":
        target = {(m.group_id, m.entity_id) for m in data.target_memberships}
    else:
        target = {(g.id, v) for g in data.target_groups for v in g.values("member")}
    missing = grouper - target
    extra = target - grouper
    elapsed = time.perf_counter() - start
    if not missing or not extra:
        msg = "the generated drift is missing"
        raise SystemExit(msg)
    return elapsed


def run_variant(variant: str, scale: float, repeat: int) -> None:
    """Measure one variant in this process and print its figures."""
    data = campus.build(
        groups=int(20_000 * scale),
        entities=int(200_000 * scale),
        memberships=int(1_000_000 * scale),
        variant=variant,
    )
    source = campus.SnapshotSource(data.snapshot)
    config = campus.config(variant)
    gc.collect()
    inputs_mb = _rss_mb()
    floor = min(_floor(data, variant) for _ in range(repeat))
    best = float("inf")
    changes = 0
    for _ in range(repeat):
        provisioner = Provisioner(config, source, campus.target_for(data))
        start = time.perf_counter()
        planned = provisioner.plan_full()
        best = min(best, time.perf_counter() - start)
        changes = len(planned.plan.changes)
        del planned, provisioner
        gc.collect()
    expected = data.missing + data.extra + data.changed
    if changes != expected:
        msg = f"{variant}: the plan has {changes} changes, the drift is {expected}"
        raise SystemExit(msg)
    prefix = f"{variant}_"
    print(f"{prefix}memberships = {len(data.snapshot.memberships)}")
    print(f"{prefix}plan_changes = {changes}")
    print(f"{prefix}floor_s = {floor:.3f}")
    print(f"{prefix}plan_full_s = {best:.3f}")
    print(f"{prefix}plan_full_over_floor = {best / floor:.1f}")
    print(f"{prefix}inputs_rss_mb = {inputs_mb:.0f}")
    print(f"{prefix}peak_rss_mb = {_rss_mb():.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="1 = 1,000,000 memberships")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; best kept")
    parser.add_argument("--variant", choices=VARIANTS, help="run one variant in this process")
    args = parser.parse_args()
    if args.variant:
        run_variant(args.variant, args.scale, args.repeat)
        return
    for variant in VARIANTS:
        command = [sys.executable, __file__, "--variant", variant]
        command += ["--scale", str(args.scale), "--repeat", str(args.repeat)]
        subprocess.run(command, check=True)  # noqa: S603  # this script, this interpreter


if __name__ == "__main__":
    main()
