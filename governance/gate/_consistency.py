"""A card checked against itself: every derived number the gate judges, recomputed from the card's own table.

The ``fairness`` block (a ``governance.audit/1`` document) keeps, for every group, the
events each rate divides (``events: [successes, trials]``) and the group's rows. Every
number derived from them is recomputed here and must agree to :data:`TOLERANCE`:

* each group's confusion matrix is one matrix: the base rate's trials are the group's
  rows, the true positive rate divides the positives, precision the selected rows, and
  so on; each rate is its successes over its trials; ``calibration_gap`` is
  ``mean_score - base_rate``;
* each status follows the audit's rules (a group below ``min_group_size`` and a rate with
  fewer than ``min_events`` trials have ``insufficient_data``), so no group is hidden
  from a rule by relabelling it;
* for every attribute and intersection whose groups all carry their events, the groups
  add up to the overall events, rows and mean score;
* the point estimate of every disparity (difference, ratio, against the reference) and
  of every named fairness metric is the spread of the compared groups' values, and
  ``groups_compared`` is their number;
* every interval holds its point estimate and lies in its metric's range, and a group's
  or the overall interval is the one its events or standard error give at the audit's
  confidence;
* the ``performance`` entries copied from ``fairness.overall`` equal them.

A disparity's simultaneous interval is not recomputed here (the gate recomputes those it
judges from the groups' events); what the evidence itself rests on (an AUC's standard
error, a bootstrap's) cannot be recomputed without the data. Numbers that are not derived (an AUC, a mean score) can only be
checked for these relations; a card signed at its source is the answer to a consistent
forgery. A mismatch is a security refusal (:class:`InconsistentCardError`, exit 4).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from governance.audit import AuditReport, MetricValue
from governance.audit._disparities import group_interval
from governance.errors import PrivacyError, Problem
from governance.metrics import FAIRNESS_DEFINITIONS
from governance.stats import z_value

__all__ = ["TOLERANCE", "InconsistentCardError", "check_consistency"]

#: Largest absolute difference allowed between a number on the card and its recomputation
#: (float rounding of a sum or a division is far below it; any edit a reader could see is above).
TOLERANCE: Final = 1e-9
_FIX: Final = "the card was changed after its audit: regenerate it with `governance run`, never edit it by hand"
_SIGNED: Final = frozenset({"calibration_gap"})
#: Rates whose events add up over the groups of an attribute (precision at k takes the top k of each group).
_ADDITIVE: Final = (
    "base_rate",
    "selection_rate",
    "true_positive_rate",
    "false_positive_rate",
    "false_negative_rate",
    "true_negative_rate",
    "precision",
    "negative_predictive_value",
    "accuracy",
    "auc",
)
_MAX_PROBLEMS: Final = 25
_CALIBRATION: Final = ("calibration_gap", "mean_score", "base_rate")


class InconsistentCardError(PrivacyError):
    """The card's derived numbers disagree with its own per-group table; ``.problems`` names each field."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        shown = [f"  - {p}" for p in self.problems[:_MAX_PROBLEMS]]
        if len(self.problems) > _MAX_PROBLEMS:
            shown.append(f"  - ... and {len(self.problems) - _MAX_PROBLEMS} more")
        super().__init__(
            f"refusing the card: {len(self.problems)} number(s) disagree with what the card's own per-group "
            f"table gives (tolerance {TOLERANCE:g}); {_FIX}:\n" + "\n".join(shown)
        )


def _num(value: Any) -> str:
    """Format a number for a message: exact enough to see the difference."""
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.10g}"
    return repr(value)[:40]


def _differs(found: Any, expected: float | int | None) -> bool:
    """Whether a number on the card differs from its recomputation (None only equals None)."""
    if expected is None or found is None:
        return (expected is None) != (found is None)
    if not isinstance(found, int | float) or isinstance(found, bool):
        return True
    return not (math.isfinite(found) and abs(float(found) - float(expected)) <= TOLERANCE)


class _Findings:
    """The problems found, each naming the field, the number found and the number recomputed."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def compare(self, where: str, found: Any, expected: float | int | None, source: str) -> None:
        if _differs(found, expected):
            self.problems.append(Problem(where, f"found {_num(found)}, but {source} gives {_num(expected)}", _FIX))

    def status(self, where: str, found: str, expected: str, why: str) -> None:
        if found != expected:
            self.problems.append(Problem(where, f"found status {found!r}, but {why} gives {expected!r}", _FIX))


def _rate_status(name: str, value: MetricValue, group_ok: bool, min_events: int) -> str:
    """Return the status the audit gives a rate (or an AUC: its fewer of positives and negatives) from its events."""
    assert value.events is not None
    trials = min(value.events) if name == "auc" else value.events[1]
    if value.value is None or (name != "auc" and trials == 0):
        return "undefined"
    if not group_ok or trials < min_events:
        return "insufficient_data"
    return "ok"


def _events(metrics: Mapping[str, MetricValue]) -> dict[str, tuple[int, int]]:
    return {name: v.events for name, v in metrics.items() if v.events is not None}


def _matrix_relations(events: Mapping[str, tuple[int, int]], rows: int) -> Iterator[tuple[str, int, int, str]]:
    """``(field, found, expected, source)`` of every relation between the rates of one confusion matrix."""
    base, selected = events.get("base_rate"), events.get("selection_rate")
    for name in ("base_rate", "selection_rate", "accuracy"):
        if name in events:
            yield f"{name}.events[1]", events[name][1], rows, "the group's rows"
    if base is not None:
        positives, negatives = base[0], rows - base[0]
        for name, expected in (
            ("true_positive_rate", positives),
            ("false_negative_rate", positives),
            ("false_positive_rate", negatives),
            ("true_negative_rate", negatives),
        ):
            if name in events:
                yield f"{name}.events[1]", events[name][1], expected, "base_rate.events (its positives or negatives)"
        if "auc" in events:
            yield "auc.events[0]", events["auc"][0], positives, "base_rate.events (the positives)"
            yield "auc.events[1]", events["auc"][1], negatives, "base_rate.events (the negatives)"
    tp = events.get("true_positive_rate", (None, None))[0]
    fp = events.get("false_positive_rate", (None, None))[0]
    tn = events.get("true_negative_rate", (None, None))[0]
    if tp is not None and "false_negative_rate" in events:
        fn, p = events["false_negative_rate"]
        yield "false_negative_rate.events[0]", fn, p - tp, "true_positive_rate.events (positives - true positives)"
    if fp is not None and tn is not None:
        yield "true_negative_rate.events[0]", tn, events["false_positive_rate"][1] - fp, "false_positive_rate.events"
    if selected is not None:
        if tp is not None and fp is not None:
            yield "selection_rate.events[0]", selected[0], tp + fp, "true + false positives"
        if "precision" in events:
            yield "precision.events[1]", events["precision"][1], selected[0], "selection_rate.events (selected rows)"
        if "negative_predictive_value" in events:
            found = events["negative_predictive_value"][1]
            yield "negative_predictive_value.events[1]", found, rows - selected[0], "rows - selected rows"
    if tp is not None and "precision" in events:
        yield "precision.events[0]", events["precision"][0], tp, "true_positive_rate.events (true positives)"
    if tn is not None and "negative_predictive_value" in events:
        yield "negative_predictive_value.events[0]", events["negative_predictive_value"][0], tn, "true negatives"
    if tp is not None and tn is not None and "accuracy" in events:
        yield "accuracy.events[0]", events["accuracy"][0], tp + tn, "true positives + true negatives"


def _check_metrics(
    at: str, metrics: Mapping[str, MetricValue], rows: int, group_ok: bool, report: AuditReport, found: _Findings
) -> None:
    """Check one table of metrics (a group's, or the overall one): its matrix, its rates, statuses and intervals."""
    events = _events(metrics)
    for field, number, expected, source in _matrix_relations(events, rows):
        found.compare(f"{at}.{field}", number, expected, source)
    if "count" in metrics:
        found.compare(f"{at}.count.value", metrics["count"].value, rows, "the group's rows (n)")
    for name, value in metrics.items():
        where = f"{at}.{name}"
        if value.events is not None and name != "auc":
            k, n = value.events
            found.compare(f"{where}.value", value.value, k / n if n else None, f"its events [{k}, {n}]")
        if value.events is not None:
            why = f"its events and min_events {report.min_events}" + ("" if group_ok else " in a small group")
            found.status(f"{where}.status", value.status, _rate_status(name, value, group_ok, report.min_events), why)
        elif not group_ok and value.status == "ok" and name != "count":
            found.status(f"{where}.status", value.status, "insufficient_data", "a group below min_group_size")
        _check_interval(where, value, (-1.0, 1.0) if name in _SIGNED else (0.0, 1.0), found)
        _check_evidence(where, value, report, found)
    gap, mean, base = (metrics.get(m, MetricValue(None, None, "undefined")).value for m in _CALIBRATION)
    if gap is not None and mean is not None and base is not None:
        found.compare(f"{at}.calibration_gap.value", gap, mean - base, "mean_score - base_rate")


def _check_evidence(where: str, value: MetricValue, report: AuditReport, found: _Findings) -> None:
    """Check that an interval is the one its evidence (events, standard error) gives at the audit's confidence."""
    if value.ci is None or value.method is None or value.status != "ok":
        return
    expected = group_interval(value, z_value(report.bootstrap.confidence))
    if expected is None:
        return
    source = f"its {value.method} evidence at confidence {report.bootstrap.confidence:g}"
    for side in (0, 1):
        found.compare(f"{where}.ci[{side}]", value.ci[side], expected[side], source)


def _check_interval(where: str, value: MetricValue, bounds: tuple[float, float], found: _Findings) -> None:
    """Check that an interval holds its point estimate and lies within the metric's range."""
    if value.ci is None or value.value is None or isinstance(value.value, bool):
        return
    low, high = value.ci
    if not (low - TOLERANCE <= value.value <= high + TOLERANCE):
        found.problems.append(
            Problem(f"{where}.ci", f"[{_num(low)}, {_num(high)}] does not hold its value {_num(value.value)}", _FIX)
        )
    if low < bounds[0] - TOLERANCE or high > bounds[1] + TOLERANCE:
        found.problems.append(
            Problem(
                f"{where}.ci",
                f"[{_num(low)}, {_num(high)}] leaves the metric's range [{bounds[0]:g}, {bounds[1]:g}]",
                _FIX,
            )
        )


def _withheld_bound(card: Mapping[str, Any]) -> int | None:
    """Return the publication minimum the card's withheld groups were held back under; None when unknown."""
    fairness = card.get("fairness")
    bounds: set[int] = set()
    for group in fairness.get("groups", []) if isinstance(fairness, Mapping) else []:
        if isinstance(group, Mapping) and group.get("n") is None:
            text = str(group.get("n_published", ""))
            digits = text.removeprefix("fewer than ").strip()
            if not digits.isdigit():
                return None
            bounds.add(int(digits))
    return max(bounds) if bounds else 0


def _check_group_tables(report: AuditReport, found: _Findings) -> None:
    """Check every group's own table (a withheld group, ``n`` null, has nothing left to judge)."""
    for i, group in enumerate(report.groups):
        at = f"fairness.groups[{i}]"
        if group.n is None:
            found.status(f"{at}.status", group.status, "insufficient_data", "a group withheld from publication")
            for name, value in group.metrics.items():
                if value.value is not None or value.status == "ok":
                    found.compare(f"{at}.metrics.{name}.value", value.value, None, "a group withheld from publication")
            continue
        expected = "ok" if group.n >= report.min_group_size else "insufficient_data"
        found.status(f"{at}.status", group.status, expected, f"its {group.n} rows and min_group_size")
        _check_metrics(f"{at}.metrics", group.metrics, group.n, group.n >= report.min_group_size, report, found)


def _check_sum(
    where: str, overall: int, known: int, withheld: int, bound: int | None, found: _Findings, source: str
) -> None:
    """Overall = the sum of the groups; with withheld groups, the rest must fit in them (each fewer than ``bound``)."""
    if not withheld:
        found.compare(where, overall, known, source)
    elif bound is not None and not (0 <= overall - known <= withheld * max(bound - 1, 0)):
        found.problems.append(
            Problem(
                where,
                f"found {overall}, but {source} gives {known} plus {withheld} withheld group(s) of fewer than {bound}",
                _FIX,
            )
        )


def _check_totals(report: AuditReport, bound: int | None, found: _Findings) -> None:
    """Each attribute's groups add up to the overall rows, events and mean score."""
    by_attribute: dict[str, list[Any]] = {}
    for group in report.groups:
        by_attribute.setdefault(group.attribute, []).append(group)
    for attribute in report.attributes:
        groups = by_attribute.get(attribute.name, [])
        if not groups:
            continue
        source = f"the sum over the groups of {attribute.name}"
        shown = [g for g in groups if g.n is not None and g.n > 0]
        withheld = sum(g.n is None for g in groups)
        _check_sum("fairness.rows", report.rows, sum(g.n for g in shown if g.n), withheld, bound, found, source)
        for name in _ADDITIVE:
            overall = report.overall.get(name)
            parts = [g.metrics.get(name) for g in shown]
            if overall is None or overall.events is None or any(p is None or p.events is None for p in parts):
                continue  # a group without its events (cards from before they were kept): nothing to add up
            for side in (0, 1):
                total = sum(p.events[side] for p in parts if p is not None and p.events is not None)
                where = f"fairness.overall.{name}.events[{side}]"
                _check_sum(where, overall.events[side], total, withheld, bound, found, source)
        mean = report.overall.get("mean_score")
        means = [(g.n, g.metrics.get("mean_score")) for g in shown]
        if withheld or mean is None or mean.value is None or any(m is None or m.value is None for _, m in means):
            continue
        weighted = sum(float(n or 0) * float(m.value) for n, m in means if m is not None and m.value is not None)
        rows = sum(n or 0 for n, _ in means)
        found.compare("fairness.overall.mean_score.value", mean.value, weighted / rows, source + " (weighted)")


def _point(values: Sequence[float], reference: float | None, statistic: str, metric: str) -> float | None:
    """Return the point estimate of a spread of the compared groups' values, as the audit makes it, or None."""
    if len(values) < 2:
        return None
    ratio = statistic.endswith("ratio")
    if ratio and (metric in _SIGNED or max(values) <= 0):
        return None
    if statistic.startswith("reference"):
        if reference is None:
            return None
        others = list(values)
        others.remove(reference)
        if ratio:
            pairs = [min(v, reference) / max(v, reference) for v in others if max(v, reference) > 0]
            return min(pairs) if pairs else None
        return max(abs(v - reference) for v in others)
    return min(values) / max(values) if ratio else max(values) - min(values)


def _comparable_evidence(values: Sequence[MetricValue]) -> bool:
    """Whether the compared values carry what a pair's interval needs (events of proportions, or standard errors)."""
    methods = {v.method for v in values}
    if methods == {"wilson-cc"}:
        return all(v.events is not None for v in values)
    return methods <= {"delong-logit", "bootstrap-se"} and all(v.se is not None for v in values)


class _Spreads:
    """The compared groups' values of every attribute and metric, read once (a card may hold many groups)."""

    def __init__(self, report: AuditReport) -> None:
        self.by_attribute: dict[str, list[Any]] = {}
        for group in report.groups:
            self.by_attribute.setdefault(group.attribute, []).append(group)
        self.summaries = {a.name: a for a in report.attributes}
        self.cache: dict[tuple[str, str], tuple[list[tuple[str, float]], str | None]] = {}
        self.evidence: dict[tuple[str, str], bool] = {}

    def compared(self, attribute: str, metric: str) -> tuple[list[tuple[str, float]], str | None]:
        """Return the ``(group, value)`` pairs a disparity of one metric compares, and the reference group."""
        key = (attribute, metric)
        if key not in self.cache:
            summary = self.summaries.get(attribute)
            scope = None if summary is None or summary.compared_groups is None else set(summary.compared_groups)
            values, kept = [], []
            for g in self.by_attribute.get(attribute, []):
                value = g.metrics.get(metric)
                ok = value is not None and value.status == "ok" and value.value is not None
                if ok and value is not None and value.value is not None and (scope is None or g.group in scope):
                    values.append((str(g.group), float(value.value)))
                    kept.append(value)
            self.cache[key] = (values, None if summary is None else summary.reference)
            self.evidence[key] = _comparable_evidence(kept)
        return self.cache[key]

    def optional(self, attribute: str, metric: str) -> bool:
        """Whether a statistic against the reference may be absent: without the pairs' evidence the audit gives none."""
        self.compared(attribute, metric)
        return not self.evidence[(attribute, metric)]

    def statistic(self, attribute: str, metric: str, statistic: str) -> float | None:
        """Recompute one disparity statistic of one attribute from its groups."""
        values, reference = self.compared(attribute, metric)
        ref_value = next((v for name, v in values if name == reference), None)
        return _point([v for _, v in values], ref_value, statistic, metric)


def _check_spread(
    where: str, value: MetricValue, expected: float | None, source: str, found: _Findings, *, optional: bool = False
) -> None:
    """Check a printed spread against its recomputation: the same value, and a value only when one exists."""
    if optional and value.value is None and value.status != "ok":
        pass  # the audit gives none without the pairs' evidence
    elif expected is None:
        if value.status == "ok" and value.value is not None:
            found.compare(f"{where}.value", value.value, None, source)
    elif value.status == "ok" or value.value is not None:
        found.compare(f"{where}.value", value.value, expected, source)
    else:
        found.status(f"{where}.status", value.status, "ok", source)
    _check_interval(where, value, (0.0, 2.0 if source.endswith("calibration_gap") else 1.0), found)


def _check_disparities(report: AuditReport, found: _Findings) -> None:
    """Recompute every disparity's and named fairness metric's point estimate from the compared groups."""
    spreads = _Spreads(report)
    for i, item in enumerate(report.disparities):
        at = f"fairness.disparities[{i}]"
        source = f"the groups of {item.attribute} compared on {item.metric}"
        values, _ = spreads.compared(item.attribute, item.metric)
        found.compare(f"{at}.groups_compared", item.groups_compared, len(values), source)
        for key, value in (("difference", item.difference), ("ratio", item.ratio)):
            expected = spreads.statistic(item.attribute, item.metric, key)
            _check_spread(f"{at}.{key}", value, expected, source, found)
        for key, ref in (("difference", item.reference_difference), ("ratio", item.reference_ratio)):
            if ref is not None:
                expected = spreads.statistic(item.attribute, item.metric, f"reference_{key}")
                optional = spreads.optional(item.attribute, item.metric)
                _check_spread(f"{at}.reference.{key}", ref, expected, source, found, optional=optional)
    for i, named in enumerate(report.fairness):
        if named.metric not in FAIRNESS_DEFINITIONS:
            continue
        metrics, statistic = FAIRNESS_DEFINITIONS[named.metric]
        parts = [spreads.statistic(named.attribute, m, statistic) for m in metrics]
        pick = min if statistic == "ratio" else max
        expected = None if any(p is None for p in parts) else pick(p for p in parts if p is not None)
        source = f"the {statistic} of {' and '.join(metrics)} over the groups of {named.attribute}"
        _check_spread(f"fairness.fairness[{i}]", named.value, expected, source, found)


def check_consistency(report: AuditReport, card: Mapping[str, Any]) -> None:
    """Recompute every derived number of a card's fairness block from its per-group table; refuse a mismatch.

    Parameters
    ----------
    report
        The card's ``fairness`` block, read (:func:`governance.card.read_evidence`).
    card
        The card document (its ``performance`` entries are compared with ``fairness.overall``).

    Raises
    ------
    InconsistentCardError
        (exit 4) Naming each field that disagrees, the number found and the number recomputed.
    """
    found = _Findings()
    bound = _withheld_bound(card)
    _check_group_tables(report, found)
    _check_metrics("fairness.overall", report.overall, report.rows, True, report, found)
    _check_totals(report, bound, found)
    if bound is not None and bound <= report.min_group_size:  # else a withheld group may have been compared
        _check_disparities(report, found)
    performance = card.get("performance")
    for name, entry in (performance if isinstance(performance, Mapping) else {}).items():
        overall = report.overall.get(str(name))
        if overall is not None and isinstance(entry, Mapping):
            source = f"fairness.overall.{name}, of which it is a copy"
            found.compare(f"performance.{name}.value", entry.get("value"), overall.value, source)
            ci = entry.get("ci")
            for side in (0, 1):
                if overall.ci is not None and isinstance(ci, list | tuple) and len(ci) == 2:
                    found.compare(f"performance.{name}.ci[{side}]", ci[side], overall.ci[side], source)
    if found.problems:
        raise InconsistentCardError(found.problems)
