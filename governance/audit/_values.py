"""From point estimates and their evidence to the report's values: group metrics, disparities, fairness metrics.

:class:`_Builder` gives every group's metrics their intervals by their own
method (Wilson with continuity correction for rates, DeLong for AUCs, the
bootstrap's standard error for means) and eligibility (rows and events), then
every disparity and named fairness metric its simultaneous pairwise interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from governance.audit._counting import _PROPORTIONS
from governance.audit._disparities import GroupEstimate, RatioCache, Statistic, comparable, ratio_cache, spread
from governance.audit._inputs import _Level
from governance.audit._report import (
    _DISPARITY_METRICS,
    _NO_SCORES,
    _NOT_PROBABILITIES,
    _PROBABILITY_METRICS,
    _SCORE_METRICS,
    _SIGNED_METRICS,
    _UNDEFINED,
    Array,
    Disparity,
    FairnessMetric,
    MetricValue,
)
from governance.metrics import FAIRNESS_DEFINITIONS, METRICS
from governance.stats import logit_interval, wilson_cc, z_value


@dataclass(frozen=True)
class _Evidence:
    """What the intervals of one level rest on: events per proportion, DeLong variance of the AUC."""

    events: Mapping[str, tuple[Array, Array]]
    auc_variance: Array | None


def _reason_too_few(events: int, what: str, minimum: int) -> str:
    return f"{events:,} {what}, fewer than {minimum} (sensitive.min_events): too few events for a verdict"


@dataclass(frozen=True)
class _Groups:
    """The groups of one level: rows, whether they reach min_group_size, and the reason when not."""

    sizes: list[int]
    ok_rows: list[bool]
    small: list[str | None]


@dataclass(frozen=True)
class _Builder:
    """Turns point estimates, their evidence and replicates into MetricValues, disparities and fairness metrics."""

    confidence: float
    n_boot: int
    min_group_size: int
    min_events: int
    has_scores: bool
    probabilities: bool = True

    @property
    def z(self) -> float:
        return z_value(self.confidence)

    def _not_given(self, metric: str) -> str | None:
        """Why a metric is undefined for every group whatever the data (no scores; scores not probabilities)."""
        if metric in _SCORE_METRICS and not self.has_scores:
            return _NO_SCORES
        if metric in _PROBABILITY_METRICS and not self.probabilities:
            return _NOT_PROBABILITIES
        return None

    def group_values(
        self, point: Mapping[str, Array], evidence: _Evidence, replicates: Mapping[str, Array] | None
    ) -> list[dict[str, MetricValue]]:
        """One metric mapping per group of a level (a hot loop for levels with many groups)."""
        sizes = point["count"].astype(np.int64).tolist()
        k = len(sizes)
        groups = _Groups(
            sizes=sizes,
            ok_rows=[n >= self.min_group_size for n in sizes],
            small=[
                None if n >= self.min_group_size else f"{n} rows, below min_group_size {self.min_group_size}"
                for n in sizes
            ],
        )
        out: list[dict[str, MetricValue]] = [{} for _ in range(k)]
        for metric in METRICS:
            if (why := self._not_given(metric)) is not None:
                column = [MetricValue(None, None, "undefined", why)] * k
            elif metric == "count":
                column = [
                    MetricValue(n, None, "ok" if ok else "insufficient_data", why)
                    for n, ok, why in zip(groups.sizes, groups.ok_rows, groups.small, strict=True)
                ]
            elif metric in evidence.events:
                column = self._rate_values(metric, point[metric].tolist(), evidence.events[metric], groups)
            elif metric == "auc":
                column = self._auc_values(point[metric], evidence, groups)
            else:
                column = self._mean_values(metric, point[metric].tolist(), replicates, groups)
            for g in range(k):
                out[g][metric] = column[g]
        return out

    def _rate_values(
        self, metric: str, values: list[float], events: tuple[Array, Array], groups: _Groups
    ) -> list[MetricValue]:
        """One proportion of every group: Wilson interval with continuity correction from its events."""
        undefined = MetricValue(None, None, "undefined", _UNDEFINED[metric])
        num, den = events
        low, high = wilson_cc(num, den, self.z)
        what = _PROPORTIONS[metric][2] if metric in _PROPORTIONS else "selected rows (top k)"
        nums, dens, lows, highs = num.tolist(), den.tolist(), low.tolist(), high.tolist()
        out: list[MetricValue] = []
        for g, value in enumerate(values):
            if value != value:  # NaN: a zero denominator
                out.append(undefined)
                continue
            counted = (int(nums[g]), int(dens[g]))
            if not groups.ok_rows[g]:
                out.append(MetricValue(value, None, "insufficient_data", groups.small[g], events=counted))
            elif dens[g] < self.min_events:
                reason = _reason_too_few(int(dens[g]), what, self.min_events)
                out.append(MetricValue(value, None, "insufficient_data", reason, events=counted))
            else:
                out.append(MetricValue(value, (lows[g], highs[g]), "ok", None, "wilson-cc", counted))
        return out

    def _auc_values(self, point: Array, evidence: _Evidence, groups: _Groups) -> list[MetricValue]:
        """Value the AUC of every group: DeLong interval on the logit scale."""
        undefined = MetricValue(None, None, "undefined", _UNDEFINED["auc"])
        positives = evidence.events["true_positive_rate"][1]
        negatives = evidence.events["false_positive_rate"][1]
        k = len(groups.sizes)
        variance = evidence.auc_variance if evidence.auc_variance is not None else np.full(k, np.nan)
        low, high = logit_interval(point, variance, positives, negatives, self.z)
        pos, neg = positives.tolist(), negatives.tolist()
        lows, highs, var = low.tolist(), high.tolist(), variance.tolist()
        out: list[MetricValue] = []
        for g, value in enumerate(point.tolist()):
            if value != value:
                out.append(undefined)
                continue
            events = (int(pos[g]), int(neg[g]))
            fewest = min(events)
            se = math.sqrt(var[g]) if var[g] == var[g] else None
            if not groups.ok_rows[g]:
                out.append(MetricValue(value, None, "insufficient_data", groups.small[g], events=events))
            elif fewest < self.min_events:
                what = "positives" if events[0] <= events[1] else "negatives"
                reason = _reason_too_few(fewest, what, self.min_events)
                out.append(MetricValue(value, None, "insufficient_data", reason, events=events, se=se))
            else:
                out.append(MetricValue(value, (lows[g], highs[g]), "ok", None, "delong-logit", events, se))
        return out

    def _mean_values(
        self, metric: str, values: list[float], replicates: Mapping[str, Array] | None, groups: _Groups
    ) -> list[MetricValue]:
        """Value a mean (mean_score, calibration_gap) of every group: normal with the bootstrap's standard error."""
        undefined = MetricValue(None, None, "undefined", _UNDEFINED[metric])
        se_list, note = self._bootstrap_se(metric, replicates, groups)
        z = self.z
        out: list[MetricValue] = []
        for g, value in enumerate(values):
            if value != value:
                out.append(undefined)
            elif not groups.ok_rows[g]:
                out.append(MetricValue(value, None, "insufficient_data", groups.small[g]))
            elif se_list[g] is not None:
                se = cast(float, se_list[g])
                out.append(MetricValue(value, (value - z * se, value + z * se), "ok", None, "bootstrap-se", None, se))
            else:
                out.append(MetricValue(value, None, "ok", note[g]))
        return out

    def _bootstrap_se(
        self, metric: str, replicates: Mapping[str, Array] | None, groups: _Groups
    ) -> tuple[list[float | None], list[str | None]]:
        """Bootstrap standard error of one mean per group with enough rows, or a note on why there is none."""
        k = len(groups.sizes)
        se_list: list[float | None] = [None] * k
        note: list[str | None] = [None] * k
        if replicates is None:
            return se_list, note
        eligible_slot = (np.cumsum(np.asarray(groups.ok_rows)) - 1).tolist()
        samples = replicates[metric]
        valid = np.count_nonzero(~np.isnan(samples), axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            spread = np.nanstd(np.where(valid > 1, samples, 0.0), axis=0, ddof=1)
        for g in range(k):
            if not groups.ok_rows[g]:
                continue
            column = eligible_slot[g]
            v = int(valid[column])
            if v < self.confidence * self.n_boot or v < 2:
                note[g] = f"no interval: undefined in {self.n_boot - v} of {self.n_boot} bootstrap replicates"
            elif spread[column] > 0:
                se_list[g] = float(spread[column])
            else:
                note[g] = "no interval: no variation across bootstrap replicates"
        return se_list, note

    def _value(
        self,
        estimates: Sequence[GroupEstimate],
        *,
        metric: str,
        statistic: Statistic,
        reference: str | None,
        families: Sequence[tuple[Sequence[GroupEstimate], Statistic]] | None = None,
        cache: RatioCache | None = None,
    ) -> MetricValue:
        """Value a disparity statistic with its simultaneous interval, from the pairs of compared groups."""
        kind = statistic.replace("_", " ")
        if (why := self._not_given(metric)) is not None:
            return MetricValue(None, None, "undefined", why)
        if len(estimates) < 2:
            return MetricValue(
                None,
                None,
                "insufficient_data",
                f"{len(estimates)} comparable groups; a {kind} needs 2 groups with enough rows and events "
                f"and a defined {metric}",
            )
        if statistic.endswith("ratio") and metric in _SIGNED_METRICS:
            return MetricValue(None, None, "undefined", f"a ratio of the signed {metric} is not meaningful")
        values = [cast(float, e.value.value) for e in estimates]
        if statistic.endswith("ratio") and max(values) <= 0:
            return MetricValue(
                None, None, "undefined", f"{metric} is 0 in every compared group; a ratio of zeros is undefined"
            )
        found = spread(
            families or [(estimates, statistic)], reference=reference, confidence=self.confidence, cache=cache
        )
        if found is None:
            # no evidence for an interval (a mean without bootstrap): the plug-in value alone
            if statistic == "difference":
                return MetricValue(max(values) - min(values), None, "ok")
            if statistic == "ratio":
                return MetricValue(min(values) / max(values), None, "ok")
            return MetricValue(None, None, "insufficient_data", "no interval for a comparison with the reference")
        return MetricValue(
            found.value, (found.low, found.high), "ok", None, found.method, comparisons=found.comparisons
        )

    def disparities(
        self, level: _Level, values: Sequence[Mapping[str, MetricValue]], counts: Array
    ) -> tuple[dict[str, Disparity], dict[str, list[GroupEstimate]], RatioCache]:
        """One disparity per metric (not count) of one level, the groups each compared, and the ratio intervals."""
        out: dict[str, Disparity] = {}
        sizes = counts.astype(np.int64).tolist()
        compared_out: dict[str, list[GroupEstimate]] = {}
        scope = None if level.compared is None else frozenset(level.compared)
        for metric in _DISPARITY_METRICS:
            compared_out[metric] = (
                []
                if self._not_given(metric) is not None
                else comparable(
                    (name, sizes[g], values[g][metric])
                    for g, name in enumerate(level.groups)
                    if scope is None or name in scope
                )
            )
        requests: list[list[tuple[Sequence[GroupEstimate], Statistic]]] = []
        for estimates in compared_out.values():
            requests.append([(estimates, "ratio")])
            requests.append([(estimates, "reference_ratio")])
        requests += [
            [(compared_out[m], statistic) for m in metrics]
            for metrics, statistic in FAIRNESS_DEFINITIONS.values()
            if len(metrics) > 1 and statistic == "ratio"
        ]
        cache = ratio_cache(requests, reference=level.reference_name, confidence=self.confidence)
        for metric in _DISPARITY_METRICS:
            estimates = compared_out[metric]
            included = {e.name for e in estimates}
            excluded = tuple(
                g for g in level.groups + level.absent if g not in included and (scope is None or g in scope)
            )
            ref_diff: MetricValue | None = None
            ref_ratio: MetricValue | None = None
            if level.reference is not None:
                ref_name = level.reference_name
                ref_value = values[level.reference][metric]
                if (why := self._not_given(metric)) is not None:
                    ref_diff = ref_ratio = MetricValue(None, None, "undefined", why)
                elif ref_name not in included:
                    why = (
                        f"the reference group has too few rows or events ({ref_value.reason})"
                        if ref_value.status == "insufficient_data"
                        else f"the reference group has no defined {metric}"
                    )
                    ref_diff = ref_ratio = MetricValue(None, None, "insufficient_data", why)
                else:
                    ref_diff = self._value(
                        estimates, metric=metric, statistic="reference_difference", reference=ref_name
                    )
                    ref_ratio = self._value(
                        estimates, metric=metric, statistic="reference_ratio", reference=ref_name, cache=cache
                    )
            out[metric] = Disparity(
                attribute=level.name,
                metric=metric,
                difference=self._value(estimates, metric=metric, statistic="difference", reference=None),
                ratio=self._value(estimates, metric=metric, statistic="ratio", reference=None, cache=cache),
                reference_group=level.reference_name,
                reference_difference=ref_diff,
                reference_ratio=ref_ratio,
                groups_compared=len(estimates),
                excluded_groups=excluded,
            )
        return out, compared_out, cache

    def fairness(
        self,
        level: _Level,
        disparities: Mapping[str, Disparity],
        estimates: Mapping[str, Sequence[GroupEstimate]],
        cache: RatioCache | None = None,
    ) -> list[FairnessMetric]:
        """Value the named fairness metrics of one attribute (:data:`FAIRNESS_DEFINITIONS`), from its disparities.

        A metric over one per-group metric is that metric's disparity; over two (equalized
        odds) it is one spread over both families of pairs, simultaneous over all of them.
        """
        out = []
        for name, (metrics, statistic) in FAIRNESS_DEFINITIONS.items():
            parts = [disparities[m] for m in metrics]
            excluded = tuple(dict.fromkeys(g for d in parts for g in d.excluded_groups))
            values = [getattr(d, statistic) for d in parts]
            if len(metrics) == 1:
                value = values[0]
            else:
                worst = next((v for v in values if v.status != "ok" or v.value is None), None)
                value = (
                    MetricValue(None, None, worst.status, worst.reason)
                    if worst is not None
                    else self._value(
                        estimates[metrics[0]],
                        metric=metrics[0],
                        statistic=statistic,
                        reference=None,
                        families=[(estimates[m], statistic) for m in metrics],
                        cache=cache,
                    )
                )
            out.append(FairnessMetric(level.name, name, value, excluded))
        return out
