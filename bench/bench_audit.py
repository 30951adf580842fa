"""Benchmark: governance.audit against fairlearn's MetricFrame, measured in the same run.

Usage: ``python bench/bench_audit.py [--quick]``

1. The peer workload (``/work/shared/peer-bench/fairlearn_metricframe.py``): 5 metrics
   (selection rate, TPR, FPR, accuracy, count) over 24 intersectional groups (6 regions x 4
   size bands), with fairlearn's difference and ratio; 100k rows without and with 100
   bootstrap replicates, and 1M rows without. The audit gets the same decisions and
   attributes (it also reports both single attributes and every disparity); its point
   estimates are checked against fairlearn's.
2. The target: 10M rows, 48 intersectional groups (6 regions x 8 size bands), every
   metric (scores, threshold 0.4), 1,000 replicates; time and peak memory allocated beyond
   the inputs (tracemalloc, in a second run so tracing does not slow the timed one).

``--quick``: 100k rows with 10 replicates for the peer comparison (no 1M run) and 1M rows
for the target. Exit status 1 when a point estimate differs from fairlearn's.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, count, false_positive_rate, selection_rate, true_positive_rate
from sklearn.metrics import accuracy_score

from governance.audit import METRICS, AuditReport, audit

REGIONS = np.array(["NA", "EMEA", "APAC", "LATAM", "ANZ", "MEA"])
SIZES_4 = np.array(["micro", "small", "mid", "ent"])
SIZES_8 = np.array(["micro", "small", "mid", "ent", "large", "huge", "giant", "mega"])
PEER_METRICS = {
    "selection_rate": selection_rate,
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
    "accuracy": accuracy_score,
    "count": count,
}


def peer_data(n: int, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The peer script's data: region, size band, label, score (same generator and seed)."""
    rng = np.random.default_rng(0)
    region = rng.choice(REGIONS, n)
    size = rng.choice(sizes, n)
    y = rng.random(n) < 0.2
    p = np.clip(0.2 + 0.3 * y + rng.normal(0, 0.2, n), 0, 1)
    return region, size, y, p


def compare(n: int, n_boot: int) -> tuple[float, float, float]:
    """Time fairlearn and the audit on the same work; return both times and the largest point difference."""
    region, size, y, p = peer_data(n, SIZES_4)
    decisions = p > 0.4
    start = time.perf_counter()
    frame = MetricFrame(
        metrics=PEER_METRICS,
        y_true=y,
        y_pred=decisions,
        sensitive_features=pd.DataFrame({"region": region, "size": size}),
        n_boot=n_boot if n_boot > 0 else None,
        ci_quantiles=[0.025, 0.975] if n_boot > 0 else None,
        random_state=0,
    )
    differences, ratios = frame.difference(), frame.ratio()
    fairlearn_time = time.perf_counter() - start

    start = time.perf_counter()
    report = audit(
        y,
        decisions=decisions,
        sensitive={"region": region, "size": size},
        intersections="all",
        n_boot=n_boot,
        min_group_size=1,
    )
    audit_time = time.perf_counter() - start

    worst = 0.0
    for (r, s), row in frame.by_group.iterrows():
        group = report.group("region & size", f"{r} & {s}")
        for metric, value in row.items():
            ours = group.metrics[str(metric)].value
            worst = max(worst, abs((ours if ours is not None else np.nan) - value))
    for metric in PEER_METRICS:
        if metric == "count":
            continue
        disparity = report.disparity("region & size", metric)
        for ours, theirs in (
            (disparity.difference.value, differences[metric]),
            (disparity.ratio.value, ratios[metric]),
        ):
            worst = max(worst, abs((ours if ours is not None else np.nan) - theirs))
    return fairlearn_time, audit_time, worst


def target(n: int, n_boot: int) -> tuple[float, float, int, str]:
    """Time the full audit on n rows with 48 intersectional groups; then its peak memory beyond the inputs."""
    region, size, y, p = peer_data(n, SIZES_8)

    def run() -> AuditReport:
        return audit(
            y, p, sensitive={"region": region, "size": size}, threshold=0.4, intersections="all", n_boot=n_boot
        )

    start = time.perf_counter()
    report = run()
    elapsed = time.perf_counter() - start
    groups = sum(1 for g in report.groups if g.attribute == "region & size")
    detail = f"{report.bootstrap.scheme} draw over {report.bootstrap.cells:,} cells, {report.bootstrap.bins_used} bins"
    del report
    tracemalloc.start()
    run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak / 2**30, groups, detail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs, for a smoke test")
    quick = parser.parse_args().quick

    print("== governance.audit vs fairlearn MetricFrame: same data, 5 metrics, 24 intersectional groups")
    print(f"{'rows':>10} {'n_boot':>6} {'fairlearn':>10} {'audit':>8} {'ratio':>8} {'max |point diff|':>17}")
    runs = [(100_000, 0), (100_000, 10)] if quick else [(100_000, 0), (100_000, 100), (1_000_000, 0)]
    exact = True
    for n, n_boot in runs:
        theirs, ours, worst = compare(n, n_boot)
        exact &= worst <= 1e-9
        print(f"{n:>10,} {n_boot:>6} {theirs:>9.2f}s {ours:>7.3f}s {theirs / ours:>7.0f}x {worst:>17.1e}")

    n, n_boot = (1_000_000, 100) if quick else (10_000_000, 1000)
    print(f"== target: {n:,} rows, 48 intersectional groups, all {len(METRICS)} metrics, {n_boot:,} replicates")
    elapsed, peak_gb, groups, detail = target(n, n_boot)
    print(f"groups {groups}; {detail}")
    print(f"time {elapsed:.2f}s (target < 10 s: {'met' if elapsed < 10 else 'MISSED'})")
    print(f"peak memory beyond the inputs {peak_gb:.2f} GB (target < 2 GB: {'met' if peak_gb < 2 else 'MISSED'})")
    if not exact:
        print("point estimates differ from fairlearn's")
    return 0 if exact else 1


if __name__ == "__main__":
    raise SystemExit(main())
