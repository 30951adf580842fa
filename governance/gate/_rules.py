"""The gate's rules: judging one value, the metric rules on the audit's evidence, the rules on the card's facts."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Literal, cast

from governance.audit import AuditReport, MetricValue
from governance.audit._disparities import (
    Decider,
    GroupEstimate,
    Spread,
    Statistic,
    comparable,
    decider_of_spread,
    decider_of_value,
    group_interval,
    spread,
)
from governance.card.validate import CardExplanations
from governance.errors import ConfigError, Problem
from governance.gate._results import Comparison, Mode, RuleOutcome, RuleVerdict, Side, _listing, _num
from governance.metrics import FAIRNESS_DEFINITIONS, FAIRNESS_METRICS
from governance.stats import z_value

if TYPE_CHECKING:
    from governance.policy import PolicyRule, PolicySpec

__all__ = ["judge"]


def judge(
    observed: float | None,
    ci: tuple[float, float] | None,
    *,
    bound: float,
    side: Side,
    decision: Mode,
) -> tuple[RuleVerdict, str]:
    """Judge one value against a bound.

    Parameters
    ----------
    observed
        The point estimate; None or NaN when undefined.
    ci
        Its ``(low, high)`` confidence interval, or None.
    bound
        The bound (finite).
    side
        ``max``: the value must be at most ``bound``; ``min``: at least.
    decision
        ``interval``: pass when the whole interval (widened to include the
        point estimate) is on the good side, fail when it is wholly on the bad
        side, inconclusive otherwise or without an interval. ``point``: the
        point estimate decides.

    Returns
    -------
    tuple of (verdict, reason)
        ``pass``, ``fail`` or ``inconclusive``, and why with the numbers.

    Examples
    --------
    >>> judge(0.9, (0.85, 0.95), bound=0.8, side="min", decision="interval")
    ('pass', 'whole interval [0.85, 0.95] at or above the minimum 0.8')
    >>> judge(0.9, (0.7, 0.95), bound=0.8, side="min", decision="interval")[0]
    'inconclusive'
    """
    if observed is None or not math.isfinite(observed):
        return "inconclusive", "undefined value; an undefined value never satisfies a bound"
    good_word = "at or below the maximum" if side == "max" else "at or above the minimum"
    bad_word = "above the maximum" if side == "max" else "below the minimum"

    def good(x: float) -> bool:
        return x <= bound if side == "max" else x >= bound

    if decision == "point":
        if good(observed):
            return "pass", f"point estimate {_num(observed)} {good_word} {_num(bound)}"
        return "fail", f"point estimate {_num(observed)} {bad_word} {_num(bound)}"
    if ci is None or not (math.isfinite(ci[0]) and math.isfinite(ci[1])):
        return (
            "inconclusive",
            f"point estimate {_num(observed)} has no confidence interval, which decision 'interval' needs; "
            "re-audit with bootstrap replicates, or use decision 'point'",
        )
    low, high = min(ci[0], ci[1], observed), max(ci[0], ci[1], observed)
    span = f"[{_num(low)}, {_num(high)}]"
    if (low, high) != (min(ci), max(ci)):
        span += f" (the interval [{_num(ci[0])}, {_num(ci[1])}] widened to the point estimate {_num(observed)})"
    worst, best = (high, low) if side == "max" else (low, high)
    if good(worst):
        return "pass", f"whole interval {span} {good_word} {_num(bound)}"
    if not good(best):
        return "fail", f"whole interval {span} {bad_word} {_num(bound)}"
    return "inconclusive", f"interval {span} straddles the bound {_num(bound)}: the data cannot tell"


def _attributes(rule: PolicyRule, report: AuditReport) -> list[str]:
    names = [a.name for a in report.attributes]
    return names if rule.attribute is None else [rule.attribute]


def _check_rules_fit_card(
    rules: Sequence[PolicyRule], report: AuditReport, performance: Mapping[str, MetricValue]
) -> None:
    """Refuse a rule on an attribute or metric the card does not have (a policy / card mismatch)."""
    problems: list[Problem] = []
    attributes = [a.name for a in report.attributes]
    group_metrics = set().union(*(g.metrics for g in report.groups)) if report.groups else set()
    for i, rule in enumerate(rules):
        where = f"policy.rules[{i}] ({rule.name})"
        if rule.attribute is not None and rule.attribute not in attributes:
            problems.append(
                Problem(
                    where,
                    f"attribute {rule.attribute!r} is not audited in the card; expected one of {attributes}",
                    "fix the rule, or audit that attribute",
                )
            )
        if rule.scope == "overall" and rule.metric not in report.overall and rule.metric not in performance:
            problems.append(Problem(where, f"the card has no overall {rule.metric!r} (fairness.overall, performance)"))
        elif rule.scope == "groups" and rule.metric not in group_metrics:
            problems.append(Problem(where, f"the card's groups have no metric {rule.metric!r}"))
        elif rule.scope == "disparity":
            if rule.metric in FAIRNESS_METRICS:
                if rule.statistic is not None:
                    problems.append(Problem(where, f"{rule.metric!r} is already a disparity; remove `statistic`"))
                elif not any(f.metric == rule.metric for f in report.fairness):
                    problems.append(Problem(where, f"the card has no fairness metric {rule.metric!r}"))
            elif rule.statistic is None:
                problems.append(
                    Problem(where, f"a disparity of the per-group metric {rule.metric!r} needs a `statistic`")
                )
            elif not any(d.metric == rule.metric for d in report.disparities):
                problems.append(Problem(where, f"the card has no disparity of {rule.metric!r}"))
    if problems:
        raise ConfigError(problems, source="the policy, against the card")


def _metric_rule(
    rule: PolicyRule,
    report: AuditReport,
    performance: Mapping[str, MetricValue],
    policy: PolicySpec,
    confidence: float,
) -> RuleOutcome:
    comparisons = _comparisons(rule, report, performance, policy.decision, confidence)
    verdict, chosen = _combine(comparisons, rule.side)
    unjudged = [_where(c) or "overall" for c in comparisons if c.verdict == "insufficient_data"]
    if chosen is None:
        reason = "nothing to judge: " + ("every comparison lacks data" if comparisons else "no group or attribute")
    else:
        reason = chosen.reason
        if len(comparisons) > 1:
            reason = f"{_where(chosen) or 'overall'}: {reason}"
            judged = len(comparisons) - len(unjudged)
            reason += f" (worst of {judged} judged)" if judged > 1 else ""
        if unjudged and chosen.verdict != "insufficient_data":
            reason += f"; not judged for lack of data: {_listing(unjudged)}"
    return RuleOutcome(
        name=rule.name,
        metric=rule.metric,
        scope=rule.scope,
        attribute=rule.attribute,
        statistic=rule.statistic,
        bound=rule.bound,
        side=rule.side,
        observed=None if chosen is None else chosen.observed,
        ci=None if chosen is None else chosen.ci,
        verdict=verdict,
        reason=reason,
        on_inconclusive=rule.on_inconclusive or policy.on_inconclusive,
        at=None if chosen is None else _where(chosen),
        comparisons=tuple(comparisons),
    )


def _where(comparison: Comparison) -> str | None:
    if comparison.attribute is None:
        return None
    if comparison.group is None:
        return comparison.attribute
    return f"{comparison.attribute}: {comparison.group}"


def _combine(comparisons: Sequence[Comparison], side: Side) -> tuple[RuleVerdict, Comparison | None]:
    """Fail beats inconclusive beats pass; insufficient data only when nothing else was judged."""

    def badness(c: Comparison) -> float:
        if c.observed is None:
            return math.inf
        return c.observed if side == "max" else -c.observed

    order: tuple[RuleVerdict, ...] = ("fail", "inconclusive", "pass", "insufficient_data")
    for verdict in order:
        matching = [c for c in comparisons if c.verdict == verdict]
        if matching:  # the worst value on the rule's verdict is the one to show
            return verdict, max(matching, key=badness)
    return "insufficient_data", None


def _comparisons(
    rule: PolicyRule, report: AuditReport, performance: Mapping[str, MetricValue], decision: Mode, confidence: float
) -> list[Comparison]:
    """Every value a rule judges, with intervals recomputed from the card's evidence at the rule's confidence.

    A rule's comparisons are judged simultaneously: the groups of a ``groups`` rule
    and the attributes of a ``disparity`` rule share the rule's error by Bonferroni.
    Values without evidence (cards written before it was recorded) keep the card's interval.
    """
    if rule.scope == "overall":
        value = report.overall.get(rule.metric) or performance[rule.metric]
        value = _at_level(value, z_value(confidence))
        return [_judged(None, None, value, rule, decision, group_level=False, rows=report.rows)]
    if rule.scope == "groups":
        wanted = set(_attributes(rule, report))
        chosen = []
        for group in report.groups:
            if group.attribute not in wanted:
                continue
            value = group.metrics[rule.metric]
            if group.status != "ok" and value.status == "ok":  # a small group's value carries no verdict
                value = MetricValue(value.value, None, "insufficient_data", group.reason)
            chosen.append((group, value))
        judged = sum(v.status == "ok" and v.value is not None for _, v in chosen)
        z = z_value(confidence, max(judged, 1))
        return [
            _judged(g.attribute, g.group, _at_level(v, z), rule, decision, group_level=True, rows=g.n)
            for g, v in chosen
        ]
    out = []
    attributes = _attributes(rule, report)
    level = 1.0 - (1.0 - confidence) / max(len(attributes), 1)
    for attribute in attributes:
        value, excluded, found = _disparity_value(rule, report, attribute, level)
        comparison = _judged(attribute, None, value, rule, decision, group_level=False, spread_found=found)
        if excluded and comparison.verdict != "insufficient_data":
            note = f"; not compared (too few rows or events, or undefined): {_listing(list(excluded))}"
            comparison = replace(comparison, reason=comparison.reason + note, not_compared=excluded)
        out.append(comparison)
    return out


def _at_level(value: MetricValue, z: float) -> MetricValue:
    """Return the value with its interval at the normal quantile ``z``, when it carries the evidence to recompute it."""
    if value.status != "ok" or value.method is None:
        return value
    ci = group_interval(value, z)
    return replace(value, ci=ci) if ci is not None else value


def _disparity_value(
    rule: PolicyRule, report: AuditReport, attribute: str, confidence: float
) -> tuple[MetricValue, tuple[str, ...], Spread | None]:
    """Return the rule's disparity of one attribute, recomputed pair by pair at ``confidence`` from the groups' evidence."""
    if rule.metric in FAIRNESS_METRICS:
        named = [f for f in report.fairness if f.attribute == attribute and f.metric == rule.metric]
        if not named:
            return MetricValue(None, None, "insufficient_data", f"not audited for {attribute}"), (), None
        printed, excluded = named[0].value, named[0].excluded_groups
        metrics, named_statistic = FAIRNESS_DEFINITIONS[rule.metric]
        statistic: Statistic = named_statistic
    else:
        found = [d for d in report.disparities if d.attribute == attribute and d.metric == rule.metric]
        if not found:
            return MetricValue(None, None, "insufficient_data", f"not audited for {attribute}"), (), None
        disparity = found[0]
        value: MetricValue | None
        if rule.statistic == "difference":
            value = disparity.difference
        elif rule.statistic == "ratio":
            value = disparity.ratio
        elif rule.statistic == "reference_difference":
            value = disparity.reference_difference
        else:
            value = disparity.reference_ratio
        if value is None:
            why = f"{attribute} has no reference group in the audit; set one (sensitive.attributes[].reference)"
            return MetricValue(None, None, "insufficient_data", why), disparity.excluded_groups, None
        printed, excluded = value, disparity.excluded_groups
        metrics, statistic = (rule.metric,), cast(Statistic, rule.statistic)
    if printed.status != "ok" or printed.value is None or printed.method is None:
        return printed, excluded, None
    summary = next((a for a in report.attributes if a.name == attribute), None)
    reference = summary.reference if summary is not None else None
    families: list[tuple[Sequence[GroupEstimate], Statistic]] = []
    for metric in metrics:
        estimates = comparable(
            (g.group, g.n, g.metrics[metric]) for g in report.groups if g.attribute == attribute and metric in g.metrics
        )
        families.append((estimates, statistic))
    recomputed = spread(families, reference=reference, confidence=confidence)
    if recomputed is None:
        return printed, excluded, None
    value = replace(printed, value=recomputed.value, ci=(recomputed.low, recomputed.high))
    return replace(value, comparisons=recomputed.comparisons), excluded, recomputed


def _judged(
    attribute: str | None,
    group: str | None,
    value: MetricValue,
    rule: PolicyRule,
    decision: Mode,
    *,
    group_level: bool,
    rows: int | None = None,
    spread_found: Spread | None = None,
) -> Comparison:
    """Judge one audit value; small groups and a group's undefined metric are not judged."""
    if value.status == "insufficient_data":
        return Comparison(
            attribute, group, value.value, value.ci, "insufficient_data", value.reason or "insufficient data"
        )
    if value.status == "undefined" or value.value is None:
        why = f"undefined ({value.reason})" if value.reason else "undefined"
        if group_level:  # as the audit's disparities do: a group without the metric is listed, not judged
            return Comparison(attribute, group, None, None, "insufficient_data", why)
        return Comparison(attribute, group, None, None, "inconclusive", f"{why}; an undefined value never passes")
    verdict, reason = judge(value.value, value.ci, bound=rule.bound, side=rule.side, decision=decision)
    decider: Decider | None = None
    if verdict == "inconclusive" and value.ci is not None:
        if spread_found is not None:
            decider = decider_of_spread(spread_found, rule.bound, rule.side)
        elif rows is not None:
            where = group if group is not None else "all groups"
            decider = decider_of_value(where, rows, value.value, value.ci, rule.bound, rule.side)
    if decider is not None:
        reason += "; " + decider.text()
    if value.comparisons is not None and value.comparisons > 1:
        reason += f" (interval simultaneous over {value.comparisons} pairwise comparisons)"
    return Comparison(
        attribute,
        group,
        value.value,
        value.ci,
        verdict,
        reason,
        decide=None if decider is None else decider.to_dict(),
    )


def _insufficient_warning(result: RuleOutcome) -> list[str]:
    """Warn of the groups a passing or failing rule could not look at: listed, never silently dropped."""
    if result.verdict == "insufficient_data":
        return []  # the rule's own verdict says it
    warnings = []
    unjudged = [_where(c) or "overall" for c in result.comparisons if c.verdict == "insufficient_data"]
    if unjudged:
        warnings.append(f"{result.name}: not judged for lack of data: {_listing(unjudged)}")
    for c in result.comparisons:
        if c.not_compared:
            warnings.append(
                f"{result.name}: {c.attribute}: not compared (too few rows or events, or undefined): {_listing(c.not_compared)}"
            )
    return warnings


def _fact_rule(
    name: str,
    metric: str,
    scope: str,
    side: Side,
    on_inconclusive: Literal["fail", "warn"],
    *,
    attribute: str | None = None,
) -> Callable[[float | None, RuleVerdict, str], RuleOutcome]:
    """Make a built-in rule on a fact of the card (no interval, bound 0): returns its verdict maker."""

    def result(observed: float | None, verdict: RuleVerdict, reason: str) -> RuleOutcome:
        return RuleOutcome(
            name=name,
            metric=metric,
            scope=scope,
            attribute=attribute,
            statistic=None,
            bound=0.0,
            side=side,
            observed=observed,
            ci=None,
            verdict=verdict,
            reason=reason,
            on_inconclusive=on_inconclusive,
        )

    return result


def _validity_rule(valid_until: date | None, created: date | None, policy: PolicySpec, as_of: date) -> RuleOutcome:
    ends: list[tuple[date, str]] = []
    if valid_until is not None:
        ends.append((valid_until, "model.valid_until"))
    if created is not None:
        ends.append((created + timedelta(days=policy.valid_for_days), f"model.created + {policy.valid_for_days} days"))
    rule = _fact_rule("card validity", "days_until_expiry", "card", "min", policy.on_inconclusive)
    if not ends:
        reason = "the card states neither model.valid_until nor model.created, so its validity cannot be checked"
        return rule(None, "inconclusive", reason)
    expiry, source = min(ends, key=lambda end: end[0])  # the card's own date first on a tie
    days = (expiry - as_of).days
    if days >= 0:
        return rule(
            float(days),
            "pass",
            f"valid until {expiry.isoformat()} ({source}): {days} day(s) left on {as_of.isoformat()}",
        )
    reason = (
        f"the card expired on {expiry.isoformat()} ({source}), {-days} day(s) before {as_of.isoformat()}; "
        "re-audit the model and issue a new card"
    )
    return rule(float(days), "fail", reason)


def _treatment_rule(model: Mapping[str, Any], policy: PolicySpec) -> RuleOutcome | None:
    """Fail a model that reads a sensitive attribute when it scores, unless the policy allows it (disparate treatment)."""
    if "uses_sensitive_at_inference" not in model:
        return None
    reads = model.get("uses_sensitive_at_inference") is True
    attribute = model.get("attribute") if reads else None
    rule = _fact_rule(
        "no sensitive attribute at inference",
        "uses_sensitive_at_inference",
        "model",
        "max",
        policy.on_inconclusive,
        attribute=attribute if isinstance(attribute, str) else None,
    )
    if not reads:
        return rule(0.0, "pass", "the model does not read a sensitive attribute when it scores")
    if policy.allow_sensitive_at_inference:
        reason = (
            f"the model reads {attribute!r} when it scores; allowed by allow_sensitive_at_inference "
            "(disparate treatment in many jurisdictions: the card asks for legal review)"
        )
        return rule(1.0, "pass", reason)
    reason = (
        f"the model reads the sensitive attribute {attribute!r} when it scores ({model.get('mitigation')}), "
        "which is disparate treatment in many jurisdictions; choose a candidate that does not, or set "
        "allow_sensitive_at_inference after legal review"
    )
    return rule(1.0, "fail", reason)


def _is_number(value: Any) -> bool:
    """Whether the value is a finite number (not a boolean)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _describe_proxies(explanations: CardExplanations) -> str:
    """Describe the flagged proxies in words, with their NMI and AUC."""
    parts = []
    for proxy in explanations.flagged:
        numbers = ", ".join(f"{k.upper()} {_num(proxy[k])}" for k in ("nmi", "auc") if _is_number(proxy.get(k)))
        parts.append(f"{proxy.get('feature')} reveals {proxy.get('attribute')}" + (f" ({numbers})" if numbers else ""))
    return _listing(parts)


def _proxy_rule(explanations: CardExplanations, on_inconclusive: Literal["fail", "warn"]) -> RuleOutcome:
    """``no proxy features``: no model feature flagged as a proxy of a sensitive attribute."""
    rule = _fact_rule("no proxy features", "flagged_proxies", "explanations", "max", on_inconclusive)
    if explanations.proxies is None:
        where = "explanations.proxies" if explanations.present else "explanations block"
        return rule(
            None, "inconclusive", f"the card has no {where}, so proxies of sensitive attributes cannot be checked"
        )
    if explanations.flagged:
        reason = (
            f"{_describe_proxies(explanations)}: remove the feature, or justify it and turn off fail_on_proxies "
            "with a reviewer's sign-off"
        )
        return rule(float(len(explanations.flagged)), "fail", reason)
    return rule(0.0, "pass", f"no model feature is flagged as a proxy ({len(explanations.proxies)} checked)")


def _proxy_warning(explanations: CardExplanations) -> str:
    """Warn of flagged proxies when ``fail_on_proxies`` is off."""
    return (
        "proxies of sensitive attributes among the features (fail_on_proxies is off): "
        f"{_describe_proxies(explanations)}"
    )


def _describe_removable(explanations: CardExplanations) -> str:
    """Describe the removable features in words, with how they were found."""
    how = f" by {explanations.method}" if explanations.method else ""
    tolerance = f" within a tolerance of {_num(explanations.tolerance)}" if explanations.tolerance is not None else ""
    return f"{_listing(list(explanations.removable or ()))} can be removed{how}{tolerance}"


def _minimization_rule(explanations: CardExplanations, on_inconclusive: Literal["fail", "warn"]) -> RuleOutcome:
    """``minimal feature set``: no feature the model does not need."""
    rule = _fact_rule("minimal feature set", "removable_features", "explanations", "max", on_inconclusive)
    if explanations.removable is None:
        where = "explanations.minimization" if explanations.present else "explanations block"
        return rule(None, "inconclusive", f"the card has no {where}, so data minimization cannot be checked")
    if explanations.removable:
        reason = f"{_describe_removable(explanations)}: drop them from features (data minimization)"
        return rule(float(len(explanations.removable)), "fail", reason)
    return rule(0.0, "pass", "no feature can be removed")


def _minimization_warning(explanations: CardExplanations) -> str:
    """Warn of removable features when ``require_minimal_features`` is off."""
    return f"features not needed (require_minimal_features is off): {_describe_removable(explanations)}"
