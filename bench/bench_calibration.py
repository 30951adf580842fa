"""Benchmark: the calibration grid, this engine against fairlearn's percentile bootstrap on the same samples.

Usage: ``python bench/bench_calibration.py [--quick] [--rules R ...] [--samples N] [--peer-samples N]
[--peer-boot B] [--peer-groups judged|all] [--seed S] [--jobs J]``

For every cell of ``tests/calibration_grid.py`` (a rule, group sizes, a base rate and
selection share, and a true value of the rule's statistic, compliant or breaching):

- ours: the gate's verdict on ``--samples`` draws (the same draws as ``simulate``), its
  false-verdict rate (fails of a compliant truth, passes of a breaching one), the share
  decided (pass or fail: the power) and the coverage of the group rate intervals (exact,
  the lowest over the judged groups, for the rate rules; Monte Carlo for group_auc), with
  the Monte Carlo share of covering intervals over the samples beside it;
- the peer: fairlearn's ``MetricFrame`` with ``n_boot=--peer-boot`` and
  ``ci_quantiles=[0.025, 0.975]`` on the rows of the first ``--peer-samples`` of the same
  draws (``rows_of``), judged by the same interval rule (pass when the whole percentile
  interval is on the good side of the bound, fail when wholly on the bad side); its
  coverage is the share of per-group percentile intervals (``by_group_ci``) covering the
  true rate. Equalized odds: fairlearn's public API gives the percentile interval of each
  difference (TPR, FPR) but not of their per-replicate maximum, so the peer's interval is
  ``[max of the low ends, max of the high ends]`` of the two, from one MetricFrame (the
  same replicates). ``--peer-groups judged`` (default) gives the peer the rows of the groups
  this engine judges in that sample (>= 30 rows and >= 10 events in each rate's
  denominator), so both judge the same claim; ``all`` gives it every group.

Ours is also run on the peer's rows (``audit`` then ``gate.evaluate``), to time it on the
same input as the peer and to check it gives the count-level verdict.

Then the issue's headline case: UCI Adult's race group sizes with exactly equal TPR (0.6)
and FPR (0.1) in every group, judged against ``equalized odds difference <= 0.1``.

``--quick``: 2 layouts and 2 rate settings, 10 peer samples of 100 replicates (unless set).
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import time
import warnings
import zlib
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate
from sklearn.metrics import roc_auc_score

from tests.calibration_grid import (
    _AUC,
    BOUNDS,
    LAYOUTS,
    MIN_EVENTS,
    MIN_GROUP_SIZE,
    RATES,
    Cell,
    Outcome,
    Rule,
    _auc_scores,
    cells,
    draw_counts,
    exact_coverage,
    gate_on_rows,
    group_rates,
    judge_auc,
    judge_counts,
    rows_of,
    rule_policy,
)

PeerGroups = Literal["judged", "all"]
QUICK_LAYOUTS = ("4 groups, 30 smallest", "3 groups of 1,000")
QUICK_RATES = ((0.1, 0.2), (0.5, 0.5))
QUANTILES = [0.025, 0.975]
ADULT_SIZES = (8345, 938, 312, 93, 82)
ADULT_BASE = (0.26, 0.12, 0.27, 0.12, 0.10)
_PEER_METRICS: dict[Rule, dict[str, Any]] = {
    "four_fifths": {"selection_rate": selection_rate},
    "dp_difference": {"selection_rate": selection_rate},
    "equal_opportunity": {"true_positive_rate": true_positive_rate},
    "equalized_odds": {"true_positive_rate": true_positive_rate, "false_positive_rate": false_positive_rate},
    "group_auc": {"auc": roc_auc_score},
}


@dataclass(frozen=True)
class Options:
    """What every cell is run with."""

    samples: int
    peer_samples: int
    peer_boot: int
    peer_groups: PeerGroups
    seed: int


@dataclass(frozen=True)
class CellResult:
    """Both engines on one cell: verdict counts, coverage and the seconds spent."""

    cell: Cell
    ours: Outcome
    ours_coverage: float | None  # exact for the rate rules, Monte Carlo for group_auc
    peer: Outcome
    ours_seconds: float  # over ours.samples
    rows_seconds: float  # ours on the peer's rows (audit + evaluate), over peer.samples
    peer_seconds: float  # over peer.samples
    mismatches: int  # samples where ours on rows differs from ours on counts


def _judged_rows(rule: Rule, y: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Rows of the groups this engine judges: enough rows, and enough events in each rate's denominator."""
    keep = np.zeros(len(g), dtype=bool)
    for name in np.unique(g):
        rows = g == name
        n, pos = int(rows.sum()), int(y[rows].sum())
        need = {
            "four_fifths": n,
            "dp_difference": n,
            "equal_opportunity": pos,
            "equalized_odds": min(pos, n - pos),
            "group_auc": min(pos, n - pos),
        }[rule]
        if n >= MIN_GROUP_SIZE and need >= MIN_EVENTS:
            keep |= rows
    return keep


def _interval_verdict(low: float, high: float, *, bound: float, side: str) -> str:
    """The interval rule on a percentile interval: wholly on the good side passes, wholly on the bad side fails."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "inconclusive"
    if side == "min":
        return "pass" if low >= bound else "fail" if high < bound else "inconclusive"
    return "pass" if high <= bound else "fail" if low > bound else "inconclusive"


def _true_rates(cell: Cell) -> dict[str, np.ndarray]:
    """Each group's true value of every metric the peer computes."""
    selection, tpr, fpr = group_rates(cell)
    auc = np.array([cell.truth if i == cell.deviant else max(_AUC, cell.truth) for i in range(len(cell.sizes))])
    return {"selection_rate": selection, "true_positive_rate": tpr, "false_positive_rate": fpr, "auc": auc}


def peer_judge(
    rule: Rule,
    y: np.ndarray,
    pred: np.ndarray,
    g: np.ndarray,
    *,
    n_boot: int,
    random_state: int,
    groups: PeerGroups,
    truths: dict[str, np.ndarray] | None = None,
) -> tuple[str, int, int]:
    """fairlearn's verdict on one sample, and how many of its per-group intervals cover the truth, of how many."""
    if groups == "judged":
        keep = _judged_rows(rule, y, g)
        y, pred, g = y[keep], pred[keep], g[keep]
    if len(np.unique(g)) < (1 if rule == "group_auc" else 2):
        return "insufficient_data", 0, 0
    bound, side = BOUNDS[rule]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined rates or AUCs in a replicate, pandas deprecations in fairlearn
        frame = MetricFrame(
            metrics=_PEER_METRICS[rule],
            y_true=y,
            y_pred=pred,
            sensitive_features=g,
            n_boot=n_boot,
            ci_quantiles=QUANTILES,
            random_state=random_state,
        )
        low_by_group, high_by_group = frame.by_group_ci
        if rule == "group_auc":
            verdicts = [
                _interval_verdict(lo, hi, bound=bound, side=side)
                for lo, hi in zip(low_by_group["auc"], high_by_group["auc"], strict=True)
            ]
            verdict = "fail" if "fail" in verdicts else "inconclusive" if "inconclusive" in verdicts else "pass"
        else:
            low, high = frame.ratio_ci() if rule == "four_fifths" else frame.difference_ci()
            verdict = _interval_verdict(float(low.max()), float(high.max()), bound=bound, side=side)
    covered = intervals = 0
    if truths is not None:
        for metric in _PEER_METRICS[rule]:
            for name, lo, hi in zip(low_by_group.index, low_by_group[metric], high_by_group[metric], strict=True):
                if math.isfinite(lo) and math.isfinite(hi):
                    intervals += 1
                    covered += bool(lo <= truths[metric][int(str(name)[1:])] <= hi)
    return verdict, covered, intervals


def run_cell(cell: Cell, options: Options) -> CellResult:
    """Both engines on the same samples of one cell."""
    rng = np.random.default_rng([options.seed, zlib.crc32(cell.label().encode())])  # as simulate() seeds it
    policy = rule_policy(cell.rule) if cell.rule != "group_auc" else None
    truths = _true_rates(cell)
    ours, peer = Outcome(cell), Outcome(cell)
    ours_seconds = rows_seconds = peer_seconds = 0.0
    mismatches = 0
    for i in range(options.samples):
        with_peer = i < options.peer_samples
        if cell.rule == "group_auc":
            if with_peer:  # judge_auc draws its rows from rng: draw the same ones from a copy
                y, pred, g = _auc_scores(cell, copy.deepcopy(rng))
            start = time.perf_counter()
            verdict, found = judge_auc(cell, rng)
            elapsed = time.perf_counter() - start
            ours_seconds += elapsed
            rows_seconds += elapsed if with_peer else 0.0
        else:
            start = time.perf_counter()
            counts = draw_counts(cell, rng)
            verdict, found = judge_counts(cell, counts)
            ours_seconds += time.perf_counter() - start
            if with_peer:
                y, pred, g = rows_of(cell, counts)
                assert policy is not None
                start = time.perf_counter()
                mismatches += gate_on_rows(y, pred, g, policy) != verdict
                rows_seconds += time.perf_counter() - start
        ours.add(verdict)
        for value, truth in found:
            if value.ci is not None:
                ours.intervals += 1
                ours.covered += value.ci[0] <= truth <= value.ci[1]
        if with_peer:
            start = time.perf_counter()
            seed = int(
                np.random.SeedSequence([options.seed, zlib.crc32(cell.label().encode()), i]).generate_state(1)[0]
            )
            peer_verdict, covered, intervals = peer_judge(
                cell.rule,
                y,
                pred,
                g,
                n_boot=options.peer_boot,
                random_state=seed,
                groups=options.peer_groups,
                truths=truths,
            )
            peer_seconds += time.perf_counter() - start
            peer.add(peer_verdict)
            peer.covered += covered
            peer.intervals += intervals
    coverage = ours.coverage if cell.rule == "group_auc" else exact_coverage(cell)
    return CellResult(cell, ours, coverage, peer, ours_seconds, rows_seconds, peer_seconds, mismatches)


def _pct(x: float | None) -> str:
    return "     -" if x is None else f"{100 * x:5.1f}%"


def _ratio(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{x:.4f} (1/{1 / x:.0f})" if x < 1 else f"{x:.1f}"


def _cov(x: float | None) -> str:
    return "    -" if x is None else f"{x:.3f}"


HEADER = (
    f"{'rule':<17} {'layout':<23} {'base':>4} {'share':>5} {'truth':>5} {'':<9} | "
    f"{'false':>6} {'decided':>7} {'cov':>5} {'cov mc':>6} | {'n':>3} {'false':>6} {'decided':>7} {'cov mc':>6}"
)


def cell_line(r: CellResult) -> str:
    """One fixed-width line: the cell, then ours, then the peer."""
    c = r.cell
    return (
        f"{c.rule:<17} {c.layout:<23} {c.base_rate:>4g} {c.share:>5g} {c.truth:>5g} "
        f"{'compliant' if c.compliant else 'breach':<9} | "
        f"{_pct(r.ours.false_rate)} {_pct(r.ours.decided):>7} {_cov(r.ours_coverage)} {_cov(r.ours.coverage):>6} | "
        f"{r.peer.samples:>3} {_pct(r.peer.false_rate)} {_pct(r.peer.decided):>7} {_cov(r.peer.coverage):>6}"
    )


def _summary_figures(results: Sequence[CellResult], engine: str) -> tuple[float | None, float | None, float, float]:
    """Worst false-fail (compliant) and false-pass (breach) rate, mean decided share, lowest coverage."""
    outcomes = [(r.ours if engine == "ours" else r.peer) for r in results]
    fails = [o.false_rate for o in outcomes if o.cell.compliant and o.samples]
    passes = [o.false_rate for o in outcomes if not o.cell.compliant and o.samples]
    decided = float(np.mean([o.decided for o in outcomes if o.samples]))
    if engine == "ours":
        coverages = [r.ours_coverage for r in results if r.ours_coverage is not None]
    else:
        coverages = [c for o in outcomes if (c := o.coverage) is not None]
    return (max(fails) if fails else None, max(passes) if passes else None, decided, min(coverages, default=math.nan))


def summary(results: Sequence[CellResult]) -> list[str]:
    """Per rule: both engines' worst false verdicts, mean power, lowest coverage and seconds per sample."""
    lines = [
        f"{'rule':<17} {'engine':<10} {'cells':>5} {'samples':>7} {'worst false-fail':>16} "
        f"{'worst false-pass':>16} {'mean decided':>12} {'min cov':>7} {'s/sample':>9} {'ratio to peer':>17}"
    ]
    for rule in BOUNDS:
        rows = [r for r in results if r.cell.rule == rule]
        if not rows:
            continue
        ours_n = sum(r.ours.samples for r in rows)
        peer_n = sum(r.peer.samples for r in rows)
        counts_s = sum(r.ours_seconds for r in rows) / ours_n
        rows_s = sum(r.rows_seconds for r in rows) / peer_n if peer_n else math.nan
        peer_s = sum(r.peer_seconds for r in rows) / peer_n if peer_n else math.nan
        for engine, n, seconds, ratio in (
            ("ours", ours_n, counts_s, counts_s / peer_s),
            ("ours rows", peer_n, rows_s, rows_s / peer_s),
            ("fairlearn", peer_n, peer_s, math.nan),
        ):
            if engine == "ours rows":
                if rule == "group_auc":
                    continue  # ours already runs on rows for the AUC rule
                lines.append(
                    f"{'':<17} {engine:<10} {'':>5} {n:>7} {'(audit + gate.evaluate on the peer rows)':>62} "
                    f"{'':>7} {seconds:>9.4f} {_ratio(ratio):>17}"
                )
                continue
            fail, passed, decided, cov = _summary_figures(rows, "ours" if engine == "ours" else "peer")
            lines.append(
                f"{rule if engine == 'ours' else '':<17} {engine:<10} {len(rows):>5} {n:>7} {_pct(fail):>16} "
                f"{_pct(passed):>16} {_pct(decided):>12} {_cov(cov):>7} {seconds:>9.4f} {_ratio(ratio):>17}"
            )
        mismatched = sum(r.mismatches for r in rows)
        if rule != "group_auc":
            lines.append(f"{'':<17} ours on rows gave the count-level verdict in all but {mismatched} samples")
    return lines


def headline(samples: int, peer_samples: int, n_boot: int, seed: int) -> list[str]:
    """The issue's case: equal TPR and FPR in every group at UCI Adult's race group sizes."""
    rng = np.random.default_rng([seed, 14])
    sizes = np.array(ADULT_SIZES)
    g = np.repeat([f"g{i}" for i in range(len(sizes))], sizes)
    policy = rule_policy("equalized_odds")
    ours: list[str] = []
    peer: dict[PeerGroups, list[str]] = {"all": [], "judged": []}
    ours_s = peer_s = 0.0
    for i in range(samples):
        y = rng.random(len(g)) < np.repeat(ADULT_BASE, sizes)
        d = np.where(y, rng.random(len(g)) < 0.6, rng.random(len(g)) < 0.1)
        start = time.perf_counter()
        ours.append(gate_on_rows(y, d, g, policy))
        ours_s += time.perf_counter() - start
        if i < peer_samples:
            for groups, verdicts in peer.items():
                start = time.perf_counter()
                verdicts.append(
                    peer_judge(
                        "equalized_odds", y, d, g, n_boot=n_boot, random_state=seed * 100_003 + i, groups=groups
                    )[0]
                )
                peer_s += time.perf_counter() - start if groups == "all" else 0.0

    def counts(v: list[str]) -> str:
        return (
            f"fail {v.count('fail'):>3} of {len(v):>3} ({_pct(v.count('fail') / len(v)).strip()}), "
            f"pass {v.count('pass'):>3}, inconclusive {v.count('inconclusive'):>3}"
        )

    return [
        "== The issue's case: UCI Adult race group sizes 8,345 / 938 / 312 / 93 / 82, base rates "
        "0.26 / 0.12 / 0.27 / 0.12 / 0.10,",
        "   TPR 0.6 and FPR 0.1 in every group (equal: truth 0), rule equalized odds difference <= 0.1",
        f"ours (audit + gate.evaluate on the card)                    {counts(ours)}   {ours_s / samples:.4f} s/sample",
        f"fairlearn percentile bootstrap ({n_boot} replicates), all groups  {counts(peer['all'])}   "
        f"{peer_s / max(1, len(peer['all'])):.4f} s/sample",
        f"fairlearn percentile bootstrap, groups ours judges         {counts(peer['judged'])}",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100, help="samples per cell for ours (default 100)")
    parser.add_argument(
        "--peer-samples", type=int, default=None, help="the first that many samples go to the peer (40; quick 10)"
    )
    parser.add_argument("--peer-boot", type=int, default=None, help="fairlearn bootstrap replicates (200; quick 100)")
    parser.add_argument("--peer-groups", choices=["judged", "all"], default="judged", help="groups given to the peer")
    parser.add_argument("--rules", nargs="+", choices=list(BOUNDS), default=None, help="rules to run (default all)")
    parser.add_argument("--quick", action="store_true", help=f"layouts {QUICK_LAYOUTS}, rates {QUICK_RATES}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="cells run in that many processes")
    parser.add_argument("--headline-samples", type=int, default=400, help="samples of the UCI Adult case (400)")
    parser.add_argument(
        "--headline-peer-samples", type=int, default=None, help="of which the peer judges the first (40; quick 10)"
    )
    parser.add_argument("--no-headline", action="store_true", help="skip the UCI Adult case")
    args = parser.parse_args()
    peer_samples = args.peer_samples if args.peer_samples is not None else (10 if args.quick else 40)
    peer_boot = args.peer_boot if args.peer_boot is not None else (100 if args.quick else 200)
    options = Options(args.samples, min(peer_samples, args.samples), peer_boot, args.peer_groups, args.seed)
    grid = list(
        cells(
            rules=args.rules,
            layouts=QUICK_LAYOUTS if args.quick else tuple(LAYOUTS),
            rates=QUICK_RATES if args.quick else RATES,
        )
    )

    print(f"== Calibration grid: {len(grid)} cells, seed {args.seed}")
    print(
        f"ours: {options.samples} samples per cell; cov = exact coverage of the group rate intervals (lowest over "
        "judged groups; group_auc: Monte Carlo), cov mc = share of covering intervals over the samples"
    )
    print(
        f"peer: fairlearn MetricFrame percentile bootstrap, {options.peer_boot} replicates, quantiles 0.025/0.975, on "
        f"the rows of the first {options.peer_samples} of the same samples, {options.peer_groups} groups; "
        "equalized odds = [max of low ends, max of high ends] of the TPR and FPR difference intervals "
        "(no per-replicate max in fairlearn's API); cov mc = share of by_group_ci intervals covering the true rate"
    )
    print(f"{'':<68} | {'ours':<29} | peer")
    print(HEADER)
    results: list[CellResult] = []
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        mapped = (
            pool.map(run_cell, grid, [options] * len(grid))
            if args.jobs > 1
            else map(run_cell, grid, [options] * len(grid))
        )
        for k, result in enumerate(mapped, start=1):
            results.append(result)
            print(cell_line(result), flush=True)
            print(
                f"[{k}/{len(grid)}] {result.cell.label()}: ours {result.ours_seconds:.2f}s, "
                f"peer {result.peer_seconds:.1f}s, elapsed {time.perf_counter() - start:.0f}s",
                file=sys.stderr,
                flush=True,
            )
    print()
    print("== Summary per rule (false rates of the peer rest on its fewer samples)")
    for line in summary(results):
        print(line)
    print(f"grid wall time {time.perf_counter() - start:.0f}s with {args.jobs} process(es)")
    if not args.no_headline:
        print()
        headline_peer = args.headline_peer_samples if args.headline_peer_samples is not None else peer_samples
        for line in headline(args.headline_samples, min(headline_peer, args.headline_samples), peer_boot, args.seed):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
