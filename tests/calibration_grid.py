"""Simulated truths for the calibration of the gate's verdicts (``tests/test_calibration.py``, ``bench/bench_calibration.py``).

Each :class:`Cell` fixes a truth: group sizes, a base rate, a selection share and
per-group rates (or AUCs) whose disparity is known exactly, on one side of a
rule's bound or the other. :func:`simulate` draws samples from that truth and
judges each one the way the gate does, so the share of samples that fail (for a
compliant truth) or pass (for a breaching one) is the rule's false-verdict rate.

Rate rules are simulated at the level of the counts the audit derives from rows
(binomial draws per group, with the audit's eligibility rules: ``min_group_size``
rows and ``min_events`` in the rate's denominator), then judged by the gate's own
functions: the simultaneous pairwise spread (``governance.audit._disparities.spread``)
and ``governance.gate.judge``. ``test_calibration.py`` checks on the same samples
that ``audit()`` on rows followed by ``gate.evaluate`` on the card gives exactly the
same verdicts. The AUC rule is simulated on rows through ``audit()`` itself.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

import numpy as np

from governance.audit import AuditReport, MetricValue, audit
from governance.audit._disparities import GroupEstimate, Statistic, spread
from governance.config import PolicySpec
from governance.gate import CARD_SCHEMA, evaluate, judge
from governance.stats import wilson_cc, z_value

Rule = Literal["four_fifths", "dp_difference", "equalized_odds", "equal_opportunity", "group_auc"]

CONFIDENCE = 0.95
MIN_GROUP_SIZE = 30
MIN_EVENTS = 10
#: rule -> (bound, side)
BOUNDS: dict[Rule, tuple[float, Literal["max", "min"]]] = {
    "four_fifths": (0.8, "min"),
    "dp_difference": (0.1, "max"),
    "equalized_odds": (0.1, "max"),
    "equal_opportunity": (0.1, "max"),
    "group_auc": (0.65, "min"),
}
#: rule -> truths of its statistic: compliant ones (at and inside the bound), then breaching ones
TRUTHS: dict[Rule, tuple[float, ...]] = {
    "four_fifths": (1.0, 0.9, 0.8, 0.75, 0.7),
    "dp_difference": (0.0, 0.05, 0.1, 0.15, 0.2),
    "equalized_odds": (0.0, 0.05, 0.1, 0.15, 0.2),
    "equal_opportunity": (0.0, 0.05, 0.1, 0.15, 0.2),
    "group_auc": (0.75, 0.7, 0.65, 0.6, 0.55),
}
#: group sizes: few and many groups, smallest 30 to 1,000 rows (the first: UCI Adult's test split by race)
LAYOUTS: dict[str, tuple[int, ...]] = {
    "adult race (5)": (8345, 938, 312, 93, 82),
    "2 groups, 30 smallest": (1000, 30),
    "4 groups, 30 smallest": (2000, 500, 100, 30),
    "12 groups, 60 smallest": (400,) * 6 + (200,) * 4 + (100, 60),
    "48 groups, 30 to 1,000": tuple(round(float(x)) for x in np.geomspace(1000, 30, 48)),
    "3 groups of 1,000": (1000, 1000, 1000),
}
#: (base rate, selection share) pairs
RATES: tuple[tuple[float, float], ...] = ((0.02, 0.05), (0.1, 0.2), (0.3, 0.3), (0.5, 0.5))
_TPR, _FPR = 0.6, 0.1  # rates of the groups that do not deviate, for the equalized odds truths
_AUC = 0.75


@dataclass(frozen=True)
class Cell:
    """One simulated truth: the rule, group sizes and rates, the statistic's true value."""

    rule: Rule
    layout: str
    sizes: tuple[int, ...]
    base_rate: float
    share: float
    truth: float
    deviant: int  # the group whose rate (or AUC) differs; the smallest

    @property
    def bound(self) -> float:
        return BOUNDS[self.rule][0]

    @property
    def side(self) -> Literal["max", "min"]:
        return BOUNDS[self.rule][1]

    @property
    def compliant(self) -> bool:
        return self.truth <= self.bound if self.side == "max" else self.truth >= self.bound

    def label(self) -> str:
        return (
            f"{self.rule} | {self.layout} | base {self.base_rate:g}, share {self.share:g} | "
            f"truth {self.truth:g} ({'compliant' if self.compliant else 'breach'})"
        )


@dataclass
class Outcome:
    """Verdicts over the samples of one cell, and the coverage of the per-group rate intervals."""

    cell: Cell
    samples: int = 0
    fail: int = 0
    passed: int = 0
    inconclusive: int = 0
    covered: int = 0
    intervals: int = 0
    verdicts: list[str] = field(default_factory=list)

    @property
    def false_verdicts(self) -> int:
        """Fails of a compliant truth, or passes of a breaching one."""
        return self.fail if self.cell.compliant else self.passed

    @property
    def false_rate(self) -> float:
        return self.false_verdicts / self.samples if self.samples else 0.0

    @property
    def decided(self) -> float:
        """Share of samples with a verdict (pass or fail): the power."""
        return (self.fail + self.passed) / self.samples if self.samples else 0.0

    @property
    def coverage(self) -> float | None:
        return self.covered / self.intervals if self.intervals else None

    def add(self, verdict: str) -> None:
        self.samples += 1
        self.verdicts.append(verdict)
        if verdict == "fail":
            self.fail += 1
        elif verdict == "pass":
            self.passed += 1
        else:
            self.inconclusive += 1


def cells(
    *,
    rules: Sequence[Rule] | None = None,
    layouts: Sequence[str] | None = None,
    rates: Sequence[tuple[float, float]] | None = None,
) -> Iterator[Cell]:
    """Every combination of rule, truth, layout and rates (each restricted when given)."""
    for rule in rules or tuple(BOUNDS):
        for layout, (base, share), truth in itertools.product(layouts or tuple(LAYOUTS), rates or RATES, TRUTHS[rule]):
            sizes = LAYOUTS[layout]
            if rule == "group_auc" and len(sizes) > 12:
                continue  # rows through audit(): the layouts with 48 groups cost minutes, kept for the bench
            deviant = judged_deviant(rule, sizes, base)
            if deviant is None:
                continue  # no group the audit would judge: every sample is insufficient_data
            yield Cell(rule, layout, sizes, base, share, truth, deviant)


def judged_deviant(rule: Rule, sizes: Sequence[int], base: float) -> int | None:
    """The smallest group that the audit judges in nearly every sample: the one whose rate deviates.

    The gate judges only groups with ``min_group_size`` rows and ``min_events`` in the
    rate's denominator, and lists the others as not judged (a warning on the card): its
    verdicts are claims about the judged groups, so the truths put the deviation in one.
    Nearly every sample: an expected denominator of at least twice ``min_events``.
    """
    expected = {
        "four_fifths": lambda n: n,
        "dp_difference": lambda n: n,
        "equalized_odds": lambda n: min(n * base, n * (1 - base)),
        "equal_opportunity": lambda n: n * base,
        "group_auc": lambda n: min(n * base, n * (1 - base)),
    }[rule]
    candidates = [i for i, n in enumerate(sizes) if n >= MIN_GROUP_SIZE and expected(n) >= 2 * MIN_EVENTS]
    return min(candidates, key=lambda i: sizes[i]) if candidates else None


def group_rates(cell: Cell) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True selection rate, true positive rate and false positive rate of each group."""
    k = len(cell.sizes)
    selection = np.full(k, cell.share)
    tpr = np.full(k, _TPR)
    fpr = np.full(k, _FPR)
    if cell.rule == "four_fifths":
        selection[cell.deviant] = cell.share * cell.truth
    elif cell.rule == "dp_difference":
        shifted = cell.share - cell.truth
        selection[cell.deviant] = shifted if shifted >= 0 else cell.share + cell.truth
    elif cell.rule in ("equalized_odds", "equal_opportunity"):
        tpr[cell.deviant] = _TPR - cell.truth
    return selection, tpr, fpr


def _estimate(k: int, n: int, rows: int) -> MetricValue:
    """A group's rate as the audit reports it: eligible by rows and by the events it divides by."""
    if n == 0:
        return MetricValue(None, None, "undefined")
    value = k / n
    if rows < MIN_GROUP_SIZE or n < MIN_EVENTS:
        return MetricValue(value, None, "insufficient_data", events=(k, n))
    low, high = wilson_cc(k, n, z_value(CONFIDENCE))
    return MetricValue(value, (float(low), float(high)), "ok", None, "wilson-cc", (k, n))


def _families(
    estimates: Sequence[Sequence[GroupEstimate]], statistic: Statistic
) -> list[tuple[Sequence[GroupEstimate], Statistic]] | None:
    """The audit's families: each metric needs two comparable groups, else the rule has insufficient data."""
    if any(len(e) < 2 for e in estimates):
        return None
    return [(e, statistic) for e in estimates]


def judge_counts(cell: Cell, counts: dict[str, np.ndarray]) -> tuple[str, list[tuple[MetricValue, float]]]:
    """The gate's verdict on one sample of counts, and the eligible group rates with their truths."""
    selection, tpr, fpr = group_rates(cell)
    sizes = np.asarray(cell.sizes)
    names = [f"g{i}" for i in range(len(sizes))]
    truths: list[tuple[MetricValue, float]] = []
    if cell.rule in ("four_fifths", "dp_difference"):
        values = [_estimate(int(k), int(n), int(n)) for k, n in zip(counts["selected"], sizes, strict=True)]
        truths = [(v, float(t)) for v, t in zip(values, selection, strict=True) if v.status == "ok"]
        groups = [
            [GroupEstimate(nm, int(n), v) for nm, n, v in zip(names, sizes, values, strict=True) if v.status == "ok"]
        ]
        statistic: Statistic = "ratio" if cell.rule == "four_fifths" else "difference"
    else:
        pos = counts["positives"]
        tp_values = [_estimate(int(k), int(m), int(n)) for k, m, n in zip(counts["tp"], pos, sizes, strict=True)]
        fp_values = [_estimate(int(k), int(n - m), int(n)) for k, m, n in zip(counts["fp"], pos, sizes, strict=True)]
        truths = [(v, float(t)) for v, t in zip(tp_values, tpr, strict=True) if v.status == "ok"]
        groups = [
            [GroupEstimate(nm, int(n), v) for nm, n, v in zip(names, sizes, tp_values, strict=True) if v.status == "ok"]
        ]
        if cell.rule == "equalized_odds":
            truths += [(v, float(t)) for v, t in zip(fp_values, fpr, strict=True) if v.status == "ok"]
            groups.append(
                [
                    GroupEstimate(nm, int(n), v)
                    for nm, n, v in zip(names, sizes, fp_values, strict=True)
                    if v.status == "ok"
                ]
            )
        statistic = "difference"
    families = _families(groups, statistic)
    if families is None:
        return "insufficient_data", truths
    found = spread(families, reference=None, confidence=CONFIDENCE)
    if found is None:
        return "insufficient_data", truths
    verdict, _ = judge(found.value, (found.low, found.high), bound=cell.bound, side=cell.side, decision="interval")
    return verdict, truths


def draw_counts(cell: Cell, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One sample of the counts the audit derives from rows."""
    selection, tpr, fpr = group_rates(cell)
    sizes = np.asarray(cell.sizes)
    positives = rng.binomial(sizes, cell.base_rate)
    return {
        "selected": rng.binomial(sizes, selection),
        "positives": positives,
        "tp": rng.binomial(positives, tpr),
        "fp": rng.binomial(sizes - positives, fpr),
    }


def rows_of(cell: Cell, counts: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows (labels, decisions, groups) that hold exactly these counts, for ``audit(decisions=...)``."""
    labels, decisions, groups = [], [], []
    for i, n in enumerate(cell.sizes):
        if cell.rule in ("four_fifths", "dp_difference"):
            k = int(counts["selected"][i])
            y = np.zeros(n, dtype=bool)
            y[: max(1, n // 3)] = True  # labels do not matter to selection rates
            d = np.zeros(n, dtype=bool)
            d[:k] = True
            d = d[np.argsort(np.arange(n) * 7919 % n)]  # spread the selected rows over both labels
        else:
            m, tp, fp = int(counts["positives"][i]), int(counts["tp"][i]), int(counts["fp"][i])
            y = np.zeros(n, dtype=bool)
            y[:m] = True
            d = np.zeros(n, dtype=bool)
            d[:tp] = True
            d[m : m + fp] = True
        labels.append(y)
        decisions.append(d)
        groups.append(np.full(n, f"g{i}"))
    return np.concatenate(labels), np.concatenate(decisions), np.concatenate(groups)


def _auc_scores(cell: Cell, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows with binormal scores: a group's AUC is Phi(d / sqrt 2) for separation d."""
    from scipy.special import ndtri

    labels, scores, groups = [], [], []
    for i, n in enumerate(cell.sizes):
        auc = cell.truth if i == cell.deviant else max(_AUC, cell.truth)
        separation = math.sqrt(2.0) * float(ndtri(auc))
        y = rng.random(n) < cell.base_rate
        labels.append(y)
        scores.append(rng.normal(size=n) + separation * y)
        groups.append(np.full(n, f"g{i}"))
    return np.concatenate(labels), np.concatenate(scores), np.concatenate(groups)


def judge_auc(cell: Cell, rng: np.random.Generator) -> tuple[str, list[tuple[MetricValue, float]]]:
    """One sample of the per-group AUC rule: rows through ``audit()``, the card through ``gate.evaluate``."""
    y, s, g = _auc_scores(cell, rng)
    report = audit(
        y, s, sensitive={"group": g}, top_k=cell.share, n_boot=0, min_group_size=MIN_GROUP_SIZE, min_events=MIN_EVENTS
    )
    truths = [
        (grp.metrics["auc"], cell.truth if int(grp.group[1:]) == cell.deviant else max(_AUC, cell.truth))
        for grp in report.groups
        if grp.metrics["auc"].status == "ok"
    ]
    return str(evaluate(_card(report), rule_policy("group_auc")).rules[0].verdict), truths


def simulate(cell: Cell, samples: int, seed: int) -> Outcome:
    """Judge ``samples`` draws from a cell's truth; count verdicts and the coverage of group intervals."""
    rng = np.random.default_rng([seed, zlib.crc32(cell.label().encode())])
    outcome = Outcome(cell)
    for _ in range(samples):
        if cell.rule == "group_auc":
            verdict, truths = judge_auc(cell, rng)
        else:
            verdict, truths = judge_counts(cell, draw_counts(cell, rng))
        outcome.add(verdict)
        for value, truth in truths:
            if value.ci is not None:
                outcome.intervals += 1
                outcome.covered += value.ci[0] <= truth <= value.ci[1]
    return outcome


def allowed_false(samples: int, rate: float = 0.05, level: float = 0.001) -> int:
    """Largest count of false verdicts consistent with a true rate of at most ``rate`` (one-sided, at ``level``).

    The Monte Carlo tolerance of the calibration test: a cell fails only when its
    false-verdict count is significantly above 5 % (binomial test at 0.001).
    """
    from scipy.stats import binom

    return int(binom.isf(level, samples, rate))


@functools.cache
def _coverage_fixed(n: int, p: float) -> float:
    """Exact coverage of the audit's rate interval for ``n`` trials at true rate ``p`` (binomial enumeration)."""
    from scipy.stats import binom

    k = np.arange(n + 1)
    low, high = wilson_cc(k, np.full(n + 1, n), z_value(CONFIDENCE))
    return float(binom.pmf(k, n, p)[(low <= p) & (p <= high)].sum())


def _coverage_random(n: int, share: float, p: float) -> float:
    """Exact coverage for a rate over a random denominator ``m ~ Binomial(n, share)``, given ``m >= min_events``."""
    from scipy.stats import binom

    m = np.arange(MIN_EVENTS, n + 1)
    weights = binom.pmf(m, n, share)
    keep = weights > 1e-12 * weights.max() if weights.size else weights.astype(bool)
    m, weights = m[keep], weights[keep]
    if not weights.sum():
        return 1.0
    covered = np.array([_coverage_fixed(int(x), p) for x in m])
    return float((weights * covered).sum() / weights.sum())


def exact_coverage(cell: Cell) -> float:
    """The lowest exact coverage of the group rate intervals the rule rests on, over the cell's judged groups."""
    selection, tpr, fpr = group_rates(cell)
    out = []
    for i, n in enumerate(cell.sizes):
        if n < MIN_GROUP_SIZE:
            continue
        if cell.rule in ("four_fifths", "dp_difference"):
            out.append(_coverage_fixed(n, float(selection[i])))
        elif cell.rule in ("equalized_odds", "equal_opportunity"):
            out.append(_coverage_random(n, cell.base_rate, float(tpr[i])))
            if cell.rule == "equalized_odds":
                out.append(_coverage_random(n, 1 - cell.base_rate, float(fpr[i])))
    return min(out) if out else 1.0


_POLICY_RULES: dict[str, tuple[str, str]] = {
    "four_fifths": ("demographic_parity_ratio", "disparity"),
    "dp_difference": ("demographic_parity_difference", "disparity"),
    "equalized_odds": ("equalized_odds_difference", "disparity"),
    "equal_opportunity": ("equal_opportunity_difference", "disparity"),
    "group_auc": ("auc", "groups"),
}


def rule_policy(rule: str) -> PolicySpec:
    """A policy with the one rule of a grid rule, on the attribute ``group``."""
    bound, side = BOUNDS[cast(Rule, rule)]
    metric, scope = _POLICY_RULES[rule]
    spec = {
        "confidence": CONFIDENCE,
        "rules": [{"name": rule, "metric": metric, "scope": scope, "attribute": "group", "bound": bound, "side": side}],
    }
    return PolicySpec.model_validate(spec)


def _card(report: AuditReport) -> dict[str, object]:
    """The card the gate reads (through JSON, as ``governance gate`` does), with the audit as its fairness block."""
    card: dict[str, object] = json.loads(
        json.dumps({"schema": CARD_SCHEMA, "model": {"valid_until": "2099-01-01"}, "fairness": report.to_dict()})
    )
    return card


def gate_on_rows(y: np.ndarray, d: np.ndarray, g: np.ndarray, policy: PolicySpec) -> str:
    """The product's own path on rows: ``audit()``, the card as JSON, ``gate.evaluate``; the rule's verdict."""
    report = audit(
        y,
        decisions=d,
        sensitive={"group": g},
        n_boot=0,
        min_group_size=MIN_GROUP_SIZE,
        min_events=MIN_EVENTS,
        confidence=CONFIDENCE,
    )
    return str(evaluate(_card(report), policy).rules[0].verdict)
