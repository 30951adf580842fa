"""The promotion gate: a policy's rules judged on a card's evidence, then one decision.

:func:`evaluate` reads a card (the ``card.json`` document, as plain data) and
a :class:`~governance.config.PolicySpec`, judges every rule and returns a
frozen :class:`GateReport`; its :meth:`GateReport.to_dict` is the card's
``gate`` block. It works offline from the card alone: the exact values of the
card's ``fairness`` block (a ``governance.audit/1`` document), never MLflow
params or metrics.

Rules
-----
A metric rule names a metric, a scope, a bound and a side (``max``: the value
must be at most the bound; ``min``: at least):

``overall``
    The metric over all audited rows (the audit's ``overall``; metrics the
    audit lacks are read from the card's ``performance`` block).
``groups``
    The metric in every group of ``attribute`` (every attribute and
    intersection when ``attribute`` is null), each judged on its own.
``disparity``
    A named fairness metric (``equalized_odds_difference``, ...) or a
    ``statistic`` of a per-group metric (``difference``, ``ratio``,
    ``reference_difference``, ``reference_ratio``) across the groups of
    ``attribute`` (every attribute and intersection when null).

Judging one value (:func:`judge`)
---------------------------------
``decision: interval`` (the default): the value passes when its whole
confidence interval is on the good side of the bound, fails when the whole
interval is on the bad side, and is inconclusive otherwise. The interval is
widened to include the point estimate should it ever exclude it, so an
interval verdict never contradicts the point estimate: pass under
``interval`` implies pass under ``point``, and fail implies fail. A value
without an interval is inconclusive. ``decision: point`` compares the point
estimate alone. A value that is null, NaN or ``undefined`` never satisfies a
bound.

Intervals, recomputed from the card's evidence
----------------------------------------------
Every interval a rule judges is recomputed from the evidence the card keeps
(``events`` of a rate, ``se`` of an AUC or a mean) at the rule's level, with
the audit's own functions (:mod:`governance.stats`): so a rule is
simultaneous over the comparisons it makes. A ``groups`` rule judges each
group at the Bonferroni level over the groups judged; a ``disparity`` rule
recomputes each attribute's spread pair by pair (simultaneous over its
pairs) at the Bonferroni level over the attributes it covers; equalized odds
counts the pairs of both rates. The rule's level is ``policy.confidence``,
or with ``policy.error_control: bonferroni`` that level divided over the
statistical rules (:class:`ErrorControl`, which the card states). With the
defaults, a single-attribute rule's interval is exactly the card's. Values
without evidence (cards written before it was kept) are judged on the card's
interval. Each inconclusive comparison says what would decide it (``decide``):
about how many more test-split rows of which group, at the observed value.

A rule with several comparisons (groups, or every attribute) fails when one
fails, is inconclusive when none fails and one is inconclusive, and passes
when the others pass. Groups with insufficient data (below ``min_group_size``,
fewer than ``min_events`` in the rate's denominator, or whose metric is
undefined) are not judged but listed, in the rule's ``comparisons``, its
reason and the report's warnings; a rule with nothing left to judge is
``insufficient_data``, which counts as inconclusive.

Other rules, always exact (no interval):

``card validity``
    Days until the card expires, at least 0. The card expires at the earlier
    of ``model.valid_until`` and ``model.created`` + the policy's
    ``valid_for_days``; a card past that date fails.
``no proxy features`` (``fail_on_proxies``)
    No model feature flagged as a proxy of a sensitive attribute in
    ``explanations.proxies``.
``minimal feature set`` (``require_minimal_features``)
    ``explanations.minimization.removable`` is empty.

Flagged proxies and removable features are warnings when their rule is off.
Missing evidence (no ``explanations`` block) makes its rule inconclusive;
malformed evidence is bad input.

A card checked against itself
-----------------------------
Before any rule is judged, every derived number of the ``fairness`` block is
recomputed from the card's own per-group table (:func:`check_consistency`):
rates from their events, each group's confusion matrix as one matrix, the
statuses from ``min_group_size`` and ``min_events``, the overall events and
rows as the sum of each attribute's groups, every disparity's and named
fairness metric's point estimate from the compared groups, every interval
holding its point estimate within the metric's range, and ``performance``
equal to the ``fairness.overall`` it copies. A number that disagrees (by more
than :data:`TOLERANCE`) is a security refusal, :class:`InconsistentCardError`
(exit 4), naming the field and both numbers: an edited card is never judged.

The decision
------------
Every rule is judged, then the gate decides once: ``fail`` when a rule
fails; else ``inconclusive`` when a rule is inconclusive (or has insufficient
data) and its ``on_inconclusive`` (the rule's, else the policy's) is
``fail``; else ``pass``, with a warning for each inconclusive rule allowed by
``on_inconclusive: warn``. ``governance gate`` exits 0 on pass, 1 otherwise,
2 on bad input (a malformed card or policy, a rule on an attribute or metric
the card lacks), 4 when the card disagrees with itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Final

from governance.card import SCHEMA, CardEvidence, card_policy, junit_xml, policy_sha256, read_card, read_evidence
from governance.errors import ConfigError, GateFailure, Problem
from governance.gate._consistency import TOLERANCE, InconsistentCardError, check_consistency
from governance.gate._results import Comparison, ErrorControl, GateReport, GateVerdict, RuleOutcome
from governance.gate._rules import (
    _check_rules_fit_card,
    _insufficient_warning,
    _metric_rule,
    _minimization_rule,
    _minimization_warning,
    _proxy_rule,
    _proxy_warning,
    _treatment_rule,
    _validity_rule,
    judge,
)

if TYPE_CHECKING:
    from governance.policy import PolicySpec

__all__ = [
    "CARD_SCHEMA",
    "TOLERANCE",
    "Comparison",
    "ErrorControl",
    "GateReport",
    "InconsistentCardError",
    "RuleOutcome",
    "card_policy",
    "check_consistency",
    "evaluate",
    "judge",
    "junit_xml",
    "policy_sha256",
    "read_card",
    "require_pass",
]

#: The card schema the gate reads (:data:`governance.card.SCHEMA`).
CARD_SCHEMA: Final = SCHEMA


def evaluate(card: Mapping[str, Any], policy: PolicySpec, *, today: date | None = None) -> GateReport:
    """Judge every rule of a policy on a card's evidence, then decide once.

    Parameters
    ----------
    card
        The card as plain data (``json.load`` of ``card.json``): it must have
        ``schema: governance.card/1`` and a ``fairness`` block (a
        ``governance.audit/1`` document); ``model.valid_until`` /
        ``model.created``, ``performance``, ``data.features`` and
        ``explanations`` are read when present.
    policy
        The policy: rules, decision mode, ``on_inconclusive``, validity
        period, proxy and minimization rules.
    today
        The date validity is judged at; default today in UTC.

    Returns
    -------
    GateReport
        The decision and every rule's verdict; ``to_dict()`` is the card's ``gate`` block.

    Raises
    ------
    DataValidationError
        When the card is malformed: every problem, by JSON path.
    ConfigError
        When the policy has no rules, or a rule names an attribute or metric the card lacks.
    InconsistentCardError
        (exit 4) When a derived number of the card disagrees with its own per-group table.
    """
    as_of = today or datetime.now(UTC).date()
    _require_rules(policy)
    overall = {r.metric for r in policy.rules if r.scope == "overall"}
    evidence = read_evidence(card, audit=bool(policy.rules), performance=overall)
    report = evidence.audit
    if report is not None:
        check_consistency(report, card)  # the numbers judged are the card's own table's, or nothing is judged
        _check_rules_fit_card(policy.rules, report, evidence.performance)
    control = ErrorControl.of(policy)
    results = (
        [_metric_rule(rule, report, evidence.performance, policy, control.rule_confidence) for rule in policy.rules]
        if report
        else []
    )
    warnings = [w for r in results for w in _insufficient_warning(r)]
    _add_card_rules(evidence, policy, as_of, results, warnings)
    warnings += [
        f"{r.name}: {r.verdict.replace('_', ' ')} ({r.reason}); allowed by on_inconclusive 'warn'"
        for r in results
        if r.verdict in ("inconclusive", "insufficient_data") and not r.blocks
    ]
    return GateReport(
        verdict=_gate_verdict(results),
        rules=tuple(results),
        warnings=tuple(warnings),
        decided_by=policy.decision,
        as_of=as_of,
        policy_sha256=policy_sha256(policy),
        error_control=control,
    )


def _require_rules(policy: PolicySpec) -> None:
    """Refuse a policy that checks nothing: a configuration error, not a pass."""
    if not policy.rules and not policy.fail_on_proxies and not policy.require_minimal_features:
        raise ConfigError(
            [
                Problem(
                    "policy.rules",
                    "the policy has no rules, so the gate would check nothing about performance or fairness",
                    "add rules (see configs/policies/default.yaml, the policy for any data)",
                )
            ]
        )


def _add_card_rules(
    evidence: CardEvidence, policy: PolicySpec, as_of: date, results: list[RuleOutcome], warnings: list[str]
) -> None:
    """Judge the rules on the card's facts (proxies, minimization, validity, sensitive use), and their warnings."""
    explanations = evidence.explanations
    if policy.fail_on_proxies:
        results.append(_proxy_rule(explanations, policy.on_inconclusive))
    elif explanations.flagged:
        warnings.append(_proxy_warning(explanations))
    if policy.require_minimal_features:
        results.append(_minimization_rule(explanations, policy.on_inconclusive))
    elif explanations.removable:
        warnings.append(_minimization_warning(explanations))
    results.append(_validity_rule(evidence.valid_until, evidence.created, policy, as_of))
    treatment = _treatment_rule(evidence.model, policy)
    if treatment is not None:
        results.append(treatment)


def _gate_verdict(results: Sequence[RuleOutcome]) -> GateVerdict:
    """Fail when a rule fails; else inconclusive when a rule blocks; else pass."""
    if any(r.verdict == "fail" for r in results):
        return "fail"
    if any(r.blocks for r in results):
        return "inconclusive"
    return "pass"


def require_pass(report: GateReport) -> GateReport:
    """Return the report when the gate passed; raise :class:`GateFailure` (exit 1) otherwise.

    Parameters
    ----------
    report
        The gate's report.

    Returns
    -------
    GateReport
        The same report.

    Raises
    ------
    GateFailure
        With ``.report`` the report, and its one-line summary as message.
    """
    if not report.passed:
        raise GateFailure(f"the gate did not pass: {report.summary()}", report=report)
    return report


# The name this type had before results took the one suffix convention (``*Outcome`` for what an
# action did, ``*Report`` for what an analysis found); kept so that code written against it works.
RuleResult = RuleOutcome
