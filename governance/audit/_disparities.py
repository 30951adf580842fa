"""Disparities across groups, judged pair by pair: max - min, min / max and against a reference.

A spread over several groups is a statement about every pair of them:
``max - min <= b`` holds exactly when ``|p_i - p_j| <= b`` for every pair, and
``min / max >= b`` when ``min(p_i, p_j) / max(p_i, p_j) >= b`` for every pair.
So the interval of a spread is built from intervals of the pairs, made for
differences and ratios of proportions (Newcombe; Miettinen-Nurminen score) or
of estimates with standard errors (AUC, means), each at the Bonferroni level
``1 - alpha / m`` over the ``m`` pairs compared. All ``m`` pair intervals then
hold together with probability at least ``1 - alpha``, and so does the
interval of the spread derived from them:

``difference``
    ``[max over pairs of the lowest |d| in the pair's interval, max over pairs of the highest |d|]``.
``ratio``
    ``[min over pairs of the lowest min(theta, 1/theta), min over pairs of the highest]``;
    a pair whose ratio interval holds 1 has upper end 1.

A bound judged on that interval fails only when some pair is shown beyond it
(a false fail needs a pair interval to miss its truth) and passes only when
every pair is shown within it (a false pass needs the breaching pair's interval
to miss its truth): both errors are at most ``alpha / 2`` per side, whatever
the number of groups. When the groups are equal, the pair intervals hold 0
(or a ratio of 1), so the spread's interval reaches 0 (or 1): the plug-in
max - min of noisy groups, biased away from equality, is no longer what the
interval is centred on.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np

from governance.audit._report import Array, MetricValue
from governance.stats import (
    logit_interval,
    newcombe_difference,
    normal_difference,
    normal_ratio,
    score_ratio,
    wilson_cc,
    z_value,
)

#: Past this many pairwise comparisons a spread is judged from the groups' simultaneous intervals
#: (O(groups) instead of O(groups**2), and narrower there); see :func:`_spread_of_groups`.
MAX_PAIRS = 20_000
_UNREALISTIC = 100.0  # past this many times the data, the rows needed are not a useful number

Statistic = Literal["difference", "ratio", "reference_difference", "reference_ratio"]


@dataclass(frozen=True, slots=True)
class GroupEstimate:
    """One group's estimate of one metric, with what its interval rests on."""

    name: str
    rows: int
    value: MetricValue


@dataclass(frozen=True, slots=True)
class PairInterval:
    """One pair's statistic (``|a - b|`` or ``min / max``) and its simultaneous interval."""

    a: str
    b: str
    value: float
    low: float
    high: float
    rows_a: int
    rows_b: int


@dataclass(frozen=True, slots=True)
class Spread:
    """A disparity statistic over several groups, its simultaneous interval and the pairs behind it."""

    value: float
    low: float
    high: float
    comparisons: int
    method: str
    pairs: tuple[PairInterval, ...]


def comparable(values: Iterable[tuple[str, int, MetricValue]]) -> list[GroupEstimate]:
    """Return the groups a disparity compares: ``(name, rows, value)`` whose value is ``ok`` and defined."""
    return [GroupEstimate(name, rows, v) for name, rows, v in values if v.status == "ok" and v.value is not None]


def group_interval(value: MetricValue, z: float) -> tuple[float, float] | None:
    """Return the interval of one estimate at the normal quantile ``z``, by its own method; None when it has none."""
    if value.value is None:
        return None
    if value.method == "wilson-cc" and value.events is not None:
        low, high = wilson_cc(value.events[0], value.events[1], z)
    elif value.method == "delong-logit" and value.events is not None and value.se is not None:
        low, high = logit_interval(value.value, value.se**2, value.events[0], value.events[1], z)
    elif value.method == "bootstrap-se" and value.se is not None and value.se > 0:
        low, high = np.asarray(value.value - z * value.se), np.asarray(value.value + z * value.se)
    else:
        return None
    lo, hi = float(low), float(high)
    return (lo, hi) if math.isfinite(lo) and math.isfinite(hi) else None


def _pair_method(values: Sequence[MetricValue]) -> str | None:
    methods = {v.method for v in values}
    if methods == {"wilson-cc"} and all(v.events is not None for v in values):
        return "proportions"
    if methods <= {"delong-logit", "bootstrap-se"} and all(v.se is not None for v in values):
        return "normal"
    return None


def comparisons(groups: int, statistic: Statistic) -> int:
    """Pairs compared by a statistic over ``groups`` groups (all pairs, or each group against the reference)."""
    if statistic.startswith("reference"):
        return max(groups - 1, 0)
    return groups * (groups - 1) // 2


RatioCache = dict[tuple[bytes, float], tuple[Array, Array]]


def _index(groups: Sequence[GroupEstimate], statistic: Statistic, reference: str | None) -> list[tuple[int, int]]:
    """Return the pairs a statistic compares: every pair, or each group with the reference."""
    if statistic.startswith("reference"):
        ref = [i for i, g in enumerate(groups) if g.name == reference]
        return [(i, ref[0]) for i in range(len(groups)) if i != ref[0]] if ref else []
    return [(i, j) for i in range(len(groups)) for j in range(i + 1, len(groups))]


def _ratio_key(k1: Array, n1: Array, k2: Array, n2: Array, z: float) -> tuple[bytes, float]:
    return np.stack([k1, n1, k2, n2]).tobytes(), z


def ratio_cache(
    requests: Sequence[Sequence[tuple[Sequence[GroupEstimate], Statistic]]],
    *,
    reference: str | None,
    confidence: float,
) -> RatioCache:
    """Compute the score intervals of every ratio pair that :func:`spread` will need for ``requests``, in one call.

    The bisection of the score interval costs the same for one ratio as for
    thousands; an audit asks for a few dozen spreads per attribute, so solving them
    together saves most of its time. :func:`spread` with ``cache=`` reads them.
    """
    keys: list[tuple[bytes, float]] = []
    parts: list[tuple[Array, Array, Array, Array, Array]] = []
    for families in requests:
        total = sum(comparisons(len(groups), statistic) for groups, statistic in families)
        if total == 0 or total > MAX_PAIRS:
            continue
        z = z_value(confidence, total)
        for groups, statistic in families:
            if not statistic.endswith("ratio") or _pair_method([g.value for g in groups]) != "proportions":
                continue
            index = _index(groups, statistic, reference)
            if not index:
                continue
            ia = np.asarray([i for i, _ in index])
            ib = np.asarray([j for _, j in index])
            events = np.asarray([g.value.events for g in groups], dtype=np.float64)
            k, n = events[:, 0], events[:, 1]
            keys.append(_ratio_key(k[ia], n[ia], k[ib], n[ib], z))
            parts.append((k[ia], n[ia], k[ib], n[ib], np.full(len(ia), z)))
    if not parts:
        return {}
    low, high = score_ratio(*(np.concatenate([p[i] for p in parts]) for i in range(5)))
    out: RatioCache = {}
    start = 0
    for key, part in zip(keys, parts, strict=True):
        stop = start + len(part[0])
        out[key] = (low[start:stop], high[start:stop])
        start = stop
    return out


def pair_intervals(
    groups: Sequence[GroupEstimate],
    *,
    statistic: Statistic,
    reference: str | None,
    z: float,
    cache: RatioCache | None = None,
) -> tuple[PairInterval, ...] | None:
    """Every pair's statistic and interval at ``z``; None when the estimates carry no evidence to compare."""
    method = _pair_method([g.value for g in groups])
    if method is None:
        return None
    index = _index(groups, statistic, reference)
    if not index:
        return ()
    ia = np.asarray([i for i, _ in index])
    ib = np.asarray([j for _, j in index])
    values = np.asarray([g.value.value for g in groups], dtype=np.float64)
    ratio = statistic.endswith("ratio")
    if method == "proportions":
        events = np.asarray([g.value.events for g in groups], dtype=np.float64)
        k, n = events[:, 0], events[:, 1]
        if ratio:
            key = _ratio_key(k[ia], n[ia], k[ib], n[ib], z)
            cached = None if cache is None else cache.get(key)
            low, high = cached if cached is not None else score_ratio(k[ia], n[ia], k[ib], n[ib], z)
        else:
            low, high = newcombe_difference(k[ia], n[ia], k[ib], n[ib], z)
    else:
        se = np.asarray([g.value.se for g in groups], dtype=np.float64)
        if ratio:
            low, high = normal_ratio(values[ia], se[ia], values[ib], se[ib], z)
        else:
            low, high = normal_difference(values[ia], se[ia], values[ib], se[ib], z)
    a, b = values[ia], values[ib]
    with np.errstate(divide="ignore", invalid="ignore"):
        if ratio:
            top = np.maximum(a, b)
            keep = (top > 0) & ~(np.isnan(low) & np.isnan(high))  # both zero: nothing about a ratio
            point = np.where(top > 0, np.minimum(a, b) / np.where(top > 0, top, 1.0), np.nan)
            inverse_high = np.where(high > 0, 1.0 / high, np.inf)  # 1 / inf = 0
            holds_one = (low <= 1.0) & (high >= 1.0)
            s_lo = np.where(holds_one, np.minimum(low, inverse_high), np.where(high < 1.0, low, inverse_high))
            s_hi = np.where(holds_one, 1.0, np.where(high < 1.0, high, 1.0 / low))
        else:
            keep = np.ones(len(index), dtype=bool)
            point = np.abs(a - b)
            s_lo = np.where((low <= 0.0) & (high >= 0.0), 0.0, np.minimum(np.abs(low), np.abs(high)))
            s_hi = np.maximum(np.abs(low), np.abs(high))
    s_lo, s_hi = np.minimum(s_lo, point), np.maximum(s_hi, point)
    names = [g.name for g in groups]
    rows = [g.rows for g in groups]
    return tuple(
        PairInterval(names[i], names[j], v, lo, hi, rows[i], rows[j])
        for (i, j), v, lo, hi, k in zip(index, point.tolist(), s_lo.tolist(), s_hi.tolist(), keep.tolist(), strict=True)
        if k
    )


def spread(
    families: Sequence[tuple[Sequence[GroupEstimate], Statistic]],
    *,
    reference: str | None,
    confidence: float,
    cache: RatioCache | None = None,
) -> Spread | None:
    """Return the worst statistic over one or more families of pairs, simultaneous over all of them.

    Several families make one statistic together: equalized odds is the worse of
    the true and false positive rate spreads, so its pairs are both families'
    pairs and its Bonferroni level counts them all. None when no pair can be
    compared (fewer than two groups, no evidence, every pair undefined).
    """
    if not families:
        return None
    total = sum(comparisons(len(groups), statistic) for groups, statistic in families)
    if total == 0:
        return None
    if total > MAX_PAIRS:
        return _spread_of_groups(families, reference=reference, confidence=confidence)
    z = z_value(confidence, total)
    pairs: list[PairInterval] = []
    for groups, statistic in families:
        found = pair_intervals(groups, statistic=statistic, reference=reference, z=z, cache=cache)
        if found is None:
            return None
        pairs.extend(found)
    if not pairs:
        return None
    ratio = families[0][1].endswith("ratio")
    pick = min if ratio else max
    value = pick(p.value for p in pairs)
    low = pick(p.low for p in pairs)
    high = pick(p.high for p in pairs)
    kinds = {_pair_method([g.value for g in groups]) for groups, _ in families}
    if kinds == {"proportions"}:
        method = "score-ratio" if ratio else "newcombe"
    else:
        method = "normal"
    return Spread(value, low, high, total, method, tuple(pairs))


def _spread_of_groups(
    families: Sequence[tuple[Sequence[GroupEstimate], Statistic]], *, reference: str | None, confidence: float
) -> Spread | None:
    """Derive a spread's interval from every group's interval, simultaneous over the groups (for very many groups).

    With K groups all K intervals hold together at the Bonferroni level over K, and
    the spread of the true rates then lies within the spread of the intervals:
    ``max - min`` in ``[max(0, max low - min high), max high - min low]`` and
    ``min / max`` in ``[min low / max high, min(1, min high / max low)]``. Its cost
    is O(K) where the pairs cost O(K**2); past a few hundred groups it is also the
    narrower of the two (the pairs' Bonferroni level grows with K**2).
    """
    total = sum(len(groups) for groups, _ in families)
    z = z_value(confidence, total)
    ratio = families[0][1].endswith("ratio")
    lows: list[float] = []
    highs: list[float] = []
    best: tuple[float, float, float, PairInterval] | None = None
    for groups, statistic in families:
        if _pair_method([g.value for g in groups]) is None:
            return None
        ends = [group_interval(g.value, z) for g in groups]
        if any(e is None for e in ends):
            return None
        lo = np.asarray([cast(tuple[float, float], e)[0] for e in ends])
        hi = np.asarray([cast(tuple[float, float], e)[1] for e in ends])
        values = np.asarray([cast(float, g.value.value) for g in groups])
        if statistic.startswith("reference"):
            where = [i for i, g in enumerate(groups) if g.name == reference]
            if not where:
                continue
            r = where[0]
            others = np.asarray([i for i in range(len(groups)) if i != r])
            if not len(others):
                continue
            if ratio:
                top = np.maximum(values[others], values[r])
                point_each = np.where(top > 0, np.minimum(values[others], values[r]) / np.where(top > 0, top, 1), 1)
                low_each = np.minimum(lo[others] / hi[r], lo[r] / hi[others])
                # the closest the two intervals come: 1 when they overlap
                with np.errstate(divide="ignore", invalid="ignore"):
                    high_each = np.where(
                        hi[others] < lo[r], hi[others] / lo[r], np.where(hi[r] < lo[others], hi[r] / lo[others], 1.0)
                    )
                k = int(np.argmin(point_each))
            else:
                point_each = np.abs(values[others] - values[r])
                low_each = np.maximum.reduce([np.zeros(len(others)), lo[others] - hi[r], lo[r] - hi[others]])
                high_each = np.maximum(hi[others] - lo[r], hi[r] - lo[others])
                k = int(np.argmax(point_each))
            a, b = int(others[k]), r
            value, low, high = float(point_each[k]), float(low_each.min() if ratio else low_each.max()), None
            high = float(high_each.min() if ratio else high_each.max())
        else:
            a, b = int(np.argmax(values)), int(np.argmin(values))
            if ratio:
                if values[a] <= 0:
                    continue
                value = float(values[b] / values[a])
                low = float(lo.min() / hi.max()) if hi.max() > 0 else 0.0
                high = float(min(1.0, hi.min() / lo.max())) if lo.max() > 0 else 1.0
            else:
                value = float(values[a] - values[b])
                low = float(max(0.0, lo.max() - hi.min()))
                high = float(hi.max() - lo.min())
        pair = PairInterval(
            groups[a].name, groups[b].name, value, min(low, value), max(high, value), groups[a].rows, groups[b].rows
        )
        worse = best is None or (value < best[0] if ratio else value > best[0])
        lows.append(pair.low)
        highs.append(pair.high)
        if worse:
            best = (value, pair.low, pair.high, pair)
    if best is None:
        return None
    pick = min if ratio else max
    return Spread(best[0], pick(lows), pick(highs), total, "simultaneous-groups", (best[3],))


@dataclass(frozen=True, slots=True)
class Decider:
    """What would decide an inconclusive comparison: the group to grow and about how many rows."""

    group: str
    more_rows: int
    factor: float
    direction: Literal["compliance", "breach"]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "group": self.group,
            "more_rows": self.more_rows if math.isfinite(self.factor) else None,
            "factor": self.factor if math.isfinite(self.factor) else None,
            "direction": self.direction,
            "text": self.text(),
        }

    def text(self) -> str:
        """Return the sentence a card and a reviewer read."""
        if self.factor == math.inf:
            return "the observed value sits on the bound, so no sample size decides it at the observed gap"
        if self.factor > _UNREALISTIC:
            return (
                f"the observed value is almost on the bound: only about {self.factor:,.0f} times the data "
                f"({self.group} and every other group) would decide it at the observed gap"
            )
        return (
            f"about {self.more_rows:,} more test-split rows of {self.group} (the other groups grown in "
            f"proportion) would decide this at the observed gap, showing {self.direction}"
        )


def _factor(value: float, low: float, high: float, bound: float, side: Literal["max", "min"]) -> tuple[float, str]:
    """How many times more data shrinks the interval enough to decide, at the observed value (1 / sqrt(n))."""
    good = value <= bound if side == "max" else value >= bound
    gap = abs(bound - value)
    if gap == 0:
        return math.inf, "compliance"
    if good:
        half = (high - value) if side == "max" else (value - low)
        return max(1.0, (half / gap) ** 2), "compliance"
    half = (value - low) if side == "max" else (high - value)
    return max(1.0, (half / gap) ** 2), "breach"


def decider_of_spread(found: Spread, bound: float, side: Literal["max", "min"]) -> Decider | None:
    """Return the pair deciding an inconclusive spread and the rows its smaller group needs (None when decided)."""
    decided_fail = any((p.low > bound) if side == "max" else (p.high < bound) for p in found.pairs)
    if decided_fail:
        return None
    open_pairs = [p for p in found.pairs if (p.high > bound if side == "max" else p.low < bound)]
    if not open_pairs:
        return None
    scored = [(p, *_factor(p.value, p.low, p.high, bound, side)) for p in open_pairs]
    breaches = [item for item in scored if item[2] == "breach"]
    # a shown breach needs one pair decided (the easiest); compliance needs every open pair (the hardest)
    pair, factor, direction = min(breaches, key=lambda t: t[1]) if breaches else max(scored, key=lambda t: t[1])
    group, rows = (pair.a, pair.rows_a) if pair.rows_a <= pair.rows_b else (pair.b, pair.rows_b)
    more = 0 if factor == math.inf else math.ceil(rows * (factor - 1.0))
    return Decider(group, more, factor, cast(Literal["compliance", "breach"], direction))


def decider_of_value(
    group: str, rows: int, value: float, ci: tuple[float, float], bound: float, side: Literal["max", "min"]
) -> Decider:
    """Say what would decide one inconclusive estimate (a group's or the overall one)."""
    factor, direction = _factor(value, ci[0], ci[1], bound, side)
    more = 0 if factor == math.inf else math.ceil(rows * (factor - 1.0))
    return Decider(group, more, factor, cast(Literal["compliance", "breach"], direction))
