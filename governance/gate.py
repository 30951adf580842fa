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

The decision
------------
Every rule is judged, then the gate decides once: ``fail`` when a rule
fails; else ``inconclusive`` when a rule is inconclusive (or has insufficient
data) and its ``on_inconclusive`` (the rule's, else the policy's) is
``fail``; else ``pass``, with a warning for each inconclusive rule allowed by
``on_inconclusive: warn``. ``governance gate`` exits 0 on pass, 1 otherwise,
2 on bad input (a malformed card or policy, a rule on an attribute or metric
the card lacks).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal, TypeAlias, cast
from xml.etree import ElementTree

from governance.audit import SCHEMA as AUDIT_SCHEMA
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
from governance.config import FAIRNESS_METRICS, PolicyRule, PolicySpec, validate_policy
from governance.errors import ConfigError, DataValidationError, GateFailure, Problem
from governance.metrics import FAIRNESS_DEFINITIONS
from governance.stats import z_value

__all__ = [
    "CARD_SCHEMA",
    "Comparison",
    "ErrorControl",
    "GateReport",
    "RuleResult",
    "card_policy",
    "evaluate",
    "judge",
    "junit_xml",
    "policy_sha256",
    "read_card",
    "require_pass",
]

CARD_SCHEMA: Final = "governance.card/1"

Verdict: TypeAlias = Literal["pass", "fail", "inconclusive", "insufficient_data"]
Decision: TypeAlias = Literal["pass", "fail", "inconclusive"]
Side: TypeAlias = Literal["max", "min"]
Mode: TypeAlias = Literal["interval", "point"]

_STATUSES: Final = ("ok", "insufficient_data", "undefined")
_MAX_PROBLEMS: Final = 25  # a malformed card with thousands of groups is reported, not dumped
_MAX_LISTED: Final = 10  # groups named in a reason or warning; the rest are counted


# ---------------------------------------------------------------------------------------------
# Result types (plain data)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Comparison:
    """One judged value of a rule: the metric of one group, or one attribute's disparity.

    Parameters
    ----------
    attribute
        Attribute or intersection; None for the overall value.
    group
        Group name for scope ``groups``; None otherwise.
    observed
        The point estimate; None when undefined.
    ci
        Its confidence interval, as the card gives it; None when there is none.
    verdict
        ``pass``, ``fail``, ``inconclusive`` or ``insufficient_data`` (not judged).
    reason
        Why, in words, with the numbers.
    not_compared
        For a disparity: the groups left out of it (too few rows, metric
        undefined, declared but absent), as the audit lists them.
    """

    attribute: str | None
    group: str | None
    observed: float | None
    ci: tuple[float, float] | None
    verdict: Verdict
    reason: str
    not_compared: tuple[str, ...] = ()
    decide: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        out: dict[str, Any] = {
            "attribute": self.attribute,
            "group": self.group,
            "observed": self.observed,
            "ci": None if self.ci is None else [self.ci[0], self.ci[1]],
            "verdict": self.verdict,
            "reason": self.reason,
            "not_compared": list(self.not_compared),
        }
        if self.decide is not None:
            out["decide"] = dict(self.decide)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Comparison:
        """Rebuild from :meth:`to_dict` output."""
        ci = data.get("ci")
        return cls(
            attribute=data.get("attribute"),
            group=data.get("group"),
            observed=data.get("observed"),
            ci=None if ci is None else (ci[0], ci[1]),
            verdict=data["verdict"],
            reason=data["reason"],
            not_compared=tuple(data.get("not_compared", ())),
            decide=data.get("decide"),
        )


@dataclass(frozen=True, slots=True)
class RuleResult:
    """The verdict of one rule, with the evidence it rests on.

    Parameters
    ----------
    name
        The rule's name (``card validity``, ``no proxy features`` and
        ``minimal feature set`` for the built-in rules).
    metric
        The audit metric, or ``days_until_expiry``, ``flagged_proxies``, ``removable_features``.
    scope
        ``overall``, ``groups``, ``disparity``, ``card`` or ``explanations``.
    attribute
        The rule's attribute; None for every attribute (or none).
    statistic
        The disparity statistic of a per-group metric; None otherwise.
    bound, side
        The bound, and whether it is a maximum or a minimum.
    observed, ci
        The deciding comparison's value and interval (the worst one on the rule's verdict).
    verdict
        ``pass``, ``fail``, ``inconclusive`` or ``insufficient_data``.
    reason
        Why, in words, with the numbers.
    on_inconclusive
        What an inconclusive verdict of this rule does to the decision.
    at
        Where the deciding comparison is (``ownership``, ``ownership: veteran_owned``); None overall.
    comparisons
        Every value judged, including those not judged for lack of data.
    """

    name: str
    metric: str
    scope: str
    attribute: str | None
    statistic: str | None
    bound: float
    side: Side
    observed: float | None
    ci: tuple[float, float] | None
    verdict: Verdict
    reason: str
    on_inconclusive: Literal["fail", "warn"]
    at: str | None = None
    comparisons: tuple[Comparison, ...] = ()

    @property
    def blocks(self) -> bool:
        """Whether this rule stops the gate from passing."""
        return self.verdict == "fail" or (self.verdict != "pass" and self.on_inconclusive == "fail")

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form: the card contract's rule fields, then the details."""
        return {
            "name": self.name,
            "metric": self.metric,
            "scope": self.scope,
            "bound": self.bound,
            "side": self.side,
            "observed": self.observed,
            "ci": None if self.ci is None else [self.ci[0], self.ci[1]],
            "verdict": self.verdict,
            "reason": self.reason,
            "attribute": self.attribute,
            "statistic": self.statistic,
            "on_inconclusive": self.on_inconclusive,
            "at": self.at,
            "comparisons": [c.to_dict() for c in self.comparisons],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RuleResult:
        """Rebuild from :meth:`to_dict` output."""
        ci = data.get("ci")
        return cls(
            name=data["name"],
            metric=data["metric"],
            scope=data["scope"],
            attribute=data.get("attribute"),
            statistic=data.get("statistic"),
            bound=data["bound"],
            side=data["side"],
            observed=data.get("observed"),
            ci=None if ci is None else (ci[0], ci[1]),
            verdict=data["verdict"],
            reason=data["reason"],
            on_inconclusive=data.get("on_inconclusive", "fail"),
            at=data.get("at"),
            comparisons=tuple(Comparison.from_dict(c) for c in data.get("comparisons", ())),
        )


@dataclass(frozen=True, slots=True)
class ErrorControl:
    """How the gate holds its false verdicts: the level of each rule, and the bound over all of them.

    Parameters
    ----------
    confidence
        The policy's confidence.
    method
        ``per_rule`` or ``bonferroni`` (``policy.error_control``).
    rules
        Statistical rules (on the audit's evidence; the card-fact rules are exact).
    rule_confidence
        The level each statistical rule is judged at.
    """

    confidence: float
    method: Literal["per_rule", "bonferroni"]
    rules: int
    rule_confidence: float

    @classmethod
    def of(cls, policy: PolicySpec) -> ErrorControl:
        """The error control a policy asks for."""
        rules = len(policy.rules)
        level = policy.confidence
        if policy.error_control == "bonferroni" and rules > 1:
            level = 1.0 - (1.0 - policy.confidence) / rules
        return cls(policy.confidence, policy.error_control, rules, level)

    @property
    def per_rule_error(self) -> float:
        """Largest chance that one rule fails a compliant model (or passes a breaching one)."""
        return (1.0 - self.rule_confidence) / 2.0

    @property
    def family_wise_error(self) -> float:
        """Largest chance that any of the rules fails a compliant model (Bonferroni over the rules)."""
        return min(1.0, self.rules * self.per_rule_error)

    def text(self) -> str:
        """The statement the card prints."""
        head = (
            f"Each statistical rule is judged on intervals at {self.rule_confidence:.4g} confidence, simultaneous "
            "over the groups and pairs it compares, so it fails a compliant model, or passes a breaching one, "
            f"with probability at most {self.per_rule_error:.2%}."
        )
        if self.rules <= 1:
            return head
        if self.method == "bonferroni":
            return head + (
                f" The policy divides its error over the {self.rules} rules (Bonferroni), so the whole gate fails a "
                f"compliant model with probability at most {self.family_wise_error:.2%}."
            )
        return head + (
            f" Over its {self.rules} statistical rules the gate fails a compliant model with probability at most "
            f"{self.family_wise_error:.2%} (Bonferroni bound); set policy.error_control: bonferroni to hold the "
            f"whole gate at {self.per_rule_error:.2%}."
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "confidence": self.confidence,
            "method": self.method,
            "rules": self.rules,
            "rule_confidence": self.rule_confidence,
            "per_rule_false_verdict": self.per_rule_error,
            "family_wise_false_fail": self.family_wise_error,
            "text": self.text(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ErrorControl:
        """Rebuild from :meth:`to_dict` output."""
        return cls(data["confidence"], data["method"], data["rules"], data["rule_confidence"])


@dataclass(frozen=True, slots=True)
class GateReport:
    """The gate's decision and every rule's verdict; :meth:`to_dict` is the card's ``gate`` block.

    Parameters
    ----------
    verdict
        ``pass``, ``fail`` or ``inconclusive``.
    rules
        Every rule's result, in policy order, then the built-in rules.
    warnings
        What a reviewer must see even when the gate passes: groups not
        judged for lack of data, inconclusive rules allowed by
        ``on_inconclusive: warn``, proxies and removable features not enforced.
    decided_by
        The policy's decision mode, ``interval`` or ``point``.
    as_of
        The date the card's validity was judged at.
    policy_sha256
        :func:`policy_sha256` of the policy applied.
    """

    verdict: Decision
    rules: tuple[RuleResult, ...]
    warnings: tuple[str, ...]
    decided_by: Mode
    as_of: date
    policy_sha256: str
    error_control: ErrorControl | None = None

    @property
    def passed(self) -> bool:
        """Whether the gate passed (possibly with warnings)."""
        return self.verdict == "pass"

    @property
    def exit_code(self) -> int:
        """0 when the gate passed, 1 otherwise."""
        return 0 if self.passed else 1

    def summary(self) -> str:
        """One line: the decision and the rules behind it."""
        counts = {v: sum(r.verdict == v for r in self.rules) for v in ("pass", "fail", "inconclusive")}
        counts["inconclusive"] += sum(r.verdict == "insufficient_data" for r in self.rules)
        tally = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
        text = f"{self.verdict} ({len(self.rules)} rules: {tally}; decided by {self.decided_by})"
        blocking = [r.name for r in self.rules if r.blocks]
        if blocking:
            text += "; blocked by: " + _listing(blocking)
        return text

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form; ``json.dumps(..., allow_nan=False)`` accepts it."""
        return {
            "verdict": self.verdict,
            "rules": [r.to_dict() for r in self.rules],
            "warnings": list(self.warnings),
            "decided_by": self.decided_by,
            "as_of": self.as_of.isoformat(),
            "policy_sha256": self.policy_sha256,
            "error_control": None if self.error_control is None else self.error_control.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateReport:
        """Rebuild from :meth:`to_dict` output."""
        return cls(
            verdict=data["verdict"],
            rules=tuple(RuleResult.from_dict(r) for r in data["rules"]),
            warnings=tuple(data.get("warnings", ())),
            decided_by=data["decided_by"],
            as_of=date.fromisoformat(data["as_of"]),
            policy_sha256=data.get("policy_sha256", ""),
            error_control=None if data.get("error_control") is None else ErrorControl.from_dict(data["error_control"]),
        )


# ---------------------------------------------------------------------------------------------
# Judging one value
# ---------------------------------------------------------------------------------------------


def judge(
    observed: float | None,
    ci: tuple[float, float] | None,
    *,
    bound: float,
    side: Side,
    decision: Mode,
) -> tuple[Verdict, str]:
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


def _num(value: float) -> str:
    return f"{value:.4g}"


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (f" and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else "")


# ---------------------------------------------------------------------------------------------
# Reading and validating the card
# ---------------------------------------------------------------------------------------------


def read_card(path: str | Path) -> dict[str, Any]:
    """Read a ``card.json`` file: a JSON object, without NaN or infinities.

    Raises
    ------
    DataValidationError
        When the file cannot be read, is not JSON, holds NaN or Infinity, or is not an object.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DataValidationError([Problem(str(file), "card file not found", "check the path")]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DataValidationError([Problem(str(file), f"cannot read the card ({exc})")]) from exc

    def refuse(constant: str) -> float:
        raise ValueError(f"{constant} is not a number JSON allows; the card must hold finite numbers or null")

    try:
        data = json.loads(text, parse_constant=refuse)
    except json.JSONDecodeError as exc:
        raise DataValidationError(
            [Problem(str(file), f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")]
        ) from exc
    except ValueError as exc:
        raise DataValidationError([Problem(str(file), str(exc))]) from exc
    if not isinstance(data, dict):
        raise DataValidationError([Problem(str(file), f"expected a JSON object (a card), found {_kind(data)}")])
    return data


def policy_sha256(policy: PolicySpec) -> str:
    """sha256 of the policy's canonical JSON: what a card records as ``lineage.policy_sha256``.

    Canonical JSON is the card's: sorted keys, indent 2, UTF-8, no NaN, a trailing newline.
    """
    from governance._files import canonical_json

    return hashlib.sha256(canonical_json(policy.model_dump(mode="json"))).hexdigest()


def card_policy(card: Mapping[str, Any]) -> PolicySpec:
    """The policy a card carries (its ``policy`` field), checked against ``lineage.policy_sha256``.

    Raises
    ------
    ConfigError
        When the card carries no policy, or an invalid one.
    DataValidationError
        When the policy does not match the card's ``lineage.policy_sha256``.
    """
    if "policy" not in card or card["policy"] is None:
        raise ConfigError(
            [
                Problem(
                    "policy",
                    "the card carries no policy and none was given",
                    "give one (`governance gate --policy FILE`)",
                )
            ]
        )
    policy = validate_policy(card["policy"], source="the card's policy")
    lineage = card.get("lineage")
    recorded = lineage.get("policy_sha256") if isinstance(lineage, Mapping) else None
    if recorded is not None and recorded != policy_sha256(policy):
        raise DataValidationError(
            [
                Problem(
                    "lineage.policy_sha256",
                    "does not match the card's policy: the card was altered, or assembled from another policy",
                    "regenerate the card, or gate it with `--policy FILE`",
                )
            ]
        )
    return policy


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else "an infinity"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class _Checker:
    """Collects every problem of a card with its JSON path, then raises once."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: str, message: str, fix: str = "") -> None:
        self.problems.append(Problem(path, message, fix))

    def mapping(self, value: Any, path: str) -> Mapping[str, Any] | None:
        if isinstance(value, Mapping):
            return value
        self.add(path, f"expected an object, found {_kind(value)}")
        return None

    def listing(self, value: Any, path: str) -> list[Any] | None:
        if isinstance(value, list | tuple):
            return list(value)
        self.add(path, f"expected a list, found {_kind(value)}")
        return None

    def text(self, value: Any, path: str) -> None:
        if not isinstance(value, str):
            self.add(path, f"expected a string, found {_kind(value)}")

    def metric_value(self, value: Any, path: str) -> None:
        """A ``{value, ci, status, reason?}`` object."""
        item = self.mapping(value, path)
        if item is None:
            return
        at = path + "." if path else ""
        number = item.get("value")
        if number is not None and not _is_number(number):
            self.add(f"{at}value", f"expected a finite number or null, found {_kind(number)}")
        ci = item.get("ci")
        if ci is not None:
            if not (isinstance(ci, list | tuple) and len(ci) == 2 and all(_is_number(x) for x in ci)):
                self.add(f"{at}ci", f"expected [low, high] of finite numbers, or null; found {_kind(ci)}")
            elif ci[0] > ci[1]:
                self.add(f"{at}ci", "the low end is above the high end")
        status = item.get("status")
        if status not in _STATUSES:
            found = repr(status)[:40] if isinstance(status, str) else _kind(status)
            self.add(f"{at}status", f"expected 'ok', 'insufficient_data' or 'undefined', found {found}")
        reason = item.get("reason")
        if reason is not None and not isinstance(reason, str):
            self.add(f"{at}reason", f"expected a string, found {_kind(reason)}")

    def raise_if_any(self) -> None:
        if not self.problems:
            return
        problems = self.problems[:_MAX_PROBLEMS]
        if len(self.problems) > _MAX_PROBLEMS:
            problems.append(Problem("", f"... and {len(self.problems) - _MAX_PROBLEMS} more problems"))
        raise DataValidationError(problems, source="the card")


def _check_audit(doc: Any, check: _Checker) -> None:
    """The parts of a governance.audit/1 document the gate reads, with their JSON paths."""
    root = check.mapping(doc, "fairness")
    if root is None:
        return
    if root.get("schema") != AUDIT_SCHEMA:
        found = repr(root.get("schema"))[:60]
        check.add("fairness.schema", f"expected {AUDIT_SCHEMA!r}, found {found}")
        return
    overall = check.mapping(root.get("overall"), "fairness.overall")
    for name, value in (overall or {}).items():
        check.metric_value(value, f"fairness.overall.{name}")
    for i, group in enumerate(check.listing(root.get("groups"), "fairness.groups") or []):
        at = f"fairness.groups[{i}]"
        item = check.mapping(group, at)
        if item is None:
            continue
        check.text(item.get("attribute"), f"{at}.attribute")
        check.text(item.get("group"), f"{at}.group")
        if item.get("status") not in _STATUSES:
            check.add(f"{at}.status", "expected 'ok', 'insufficient_data' or 'undefined'")
        for name, value in (check.mapping(item.get("metrics"), f"{at}.metrics") or {}).items():
            check.metric_value(value, f"{at}.metrics.{name}")
    for i, disparity in enumerate(check.listing(root.get("disparities"), "fairness.disparities") or []):
        at = f"fairness.disparities[{i}]"
        item = check.mapping(disparity, at)
        if item is None:
            continue
        check.text(item.get("attribute"), f"{at}.attribute")
        check.text(item.get("metric"), f"{at}.metric")
        check.metric_value(item.get("difference"), f"{at}.difference")
        check.metric_value(item.get("ratio"), f"{at}.ratio")
        reference = item.get("reference")
        if reference is not None:
            ref = check.mapping(reference, f"{at}.reference")
            if ref is not None:
                check.text(ref.get("group"), f"{at}.reference.group")
                check.metric_value(ref.get("difference"), f"{at}.reference.difference")
                check.metric_value(ref.get("ratio"), f"{at}.reference.ratio")
        for j, name in enumerate(check.listing(item.get("excluded_groups"), f"{at}.excluded_groups") or []):
            check.text(name, f"{at}.excluded_groups[{j}]")
    for i, fairness in enumerate(check.listing(root.get("fairness"), "fairness.fairness") or []):
        at = f"fairness.fairness[{i}]"
        item = check.mapping(fairness, at)
        if item is None:
            continue
        check.text(item.get("attribute"), f"{at}.attribute")
        check.text(item.get("metric"), f"{at}.metric")
        check.metric_value(item, at)
        for j, name in enumerate(check.listing(item.get("excluded_groups"), f"{at}.excluded_groups") or []):
            check.text(name, f"{at}.excluded_groups[{j}]")


def _read_audit(card: Mapping[str, Any], check: _Checker) -> AuditReport | None:
    if "fairness" not in card:
        check.add("fairness", "missing: the card has no fairness block (the governance.audit/1 document)")
        return None
    before = len(check.problems)
    _check_audit(card["fairness"], check)
    if len(check.problems) > before:
        return None
    try:
        return AuditReport.from_dict(card["fairness"])
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        detail = f"missing key {exc}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        check.add("fairness", f"not a {AUDIT_SCHEMA} document ({detail[:200]})")
        return None


def _read_performance(card: Mapping[str, Any], wanted: set[str], check: _Checker) -> dict[str, MetricValue]:
    """The ``performance`` entries an overall rule needs (the audit lacks them); others are not the gate's."""
    performance = card.get("performance")
    if performance is None or not wanted:
        return {}
    block = check.mapping(performance, "performance")
    out: dict[str, MetricValue] = {}
    for name, value in (block or {}).items():
        if name not in wanted:
            continue
        before = len(check.problems)
        check.metric_value(value, f"performance.{name}")
        if len(check.problems) == before:
            out[str(name)] = MetricValue.from_dict(value)
    return out


def _parse_date(value: Any, path: str, check: _Checker) -> date | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            try:
                return datetime.fromisoformat(value).date()
            except ValueError:
                pass
    check.add(path, f"expected an ISO date (YYYY-MM-DD) or date-time, found {_kind(value)}")
    return None


# ---------------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------------


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
    """
    as_of = today or datetime.now(UTC).date()
    if not policy.rules and not policy.fail_on_proxies and not policy.require_minimal_features:
        raise ConfigError(
            [
                Problem(
                    "policy.rules",
                    "the policy has no rules, so the gate would check nothing about performance or fairness",
                    "add rules (see configs/policies/default.yaml)",
                )
            ]
        )
    if not isinstance(card, Mapping):
        raise DataValidationError([Problem("(card)", f"expected a JSON object, found {_kind(card)}")])
    check = _Checker()
    if card.get("schema") != CARD_SCHEMA:
        found = repr(card.get("schema"))[:60] if "schema" in card else "none"
        check.add("schema", f"expected {CARD_SCHEMA!r}, found {found}")
    report = _read_audit(card, check) if policy.rules else None
    overall = set(report.overall) if report is not None else set()
    wanted = {r.metric for r in policy.rules if r.scope == "overall" and r.metric not in overall}
    performance = _read_performance(card, wanted, check)
    model = (check.mapping(card["model"], "model") if card.get("model") is not None else None) or {}
    valid_until = _parse_date(model.get("valid_until"), "model.valid_until", check)
    created = _parse_date(model.get("created"), "model.created", check)
    explanations = _Explanations.read(card, check)
    check.raise_if_any()
    if report is not None:
        _check_rules_fit_card(policy.rules, report, performance)

    control = ErrorControl.of(policy)
    results = (
        [_metric_rule(rule, report, performance, policy, control.rule_confidence) for rule in policy.rules]
        if report
        else []
    )
    warnings = [w for r in results for w in _insufficient_warning(r)]
    if policy.fail_on_proxies:
        results.append(explanations.proxy_rule(policy.on_inconclusive))
    elif explanations.flagged:
        warnings.append(explanations.proxy_warning())
    if policy.require_minimal_features:
        results.append(explanations.minimization_rule(policy.on_inconclusive))
    elif explanations.removable:
        warnings.append(explanations.minimization_warning())
    results.append(_validity_rule(valid_until, created, policy, as_of))
    treatment = _treatment_rule(model, policy)
    if treatment is not None:
        results.append(treatment)

    blocking = [r for r in results if r.blocks]
    verdict: Decision
    if any(r.verdict == "fail" for r in results):
        verdict = "fail"
    elif blocking:
        verdict = "inconclusive"
    else:
        verdict = "pass"
    warnings += [
        f"{r.name}: {r.verdict.replace('_', ' ')} ({r.reason}); allowed by on_inconclusive 'warn'"
        for r in results
        if r.verdict in ("inconclusive", "insufficient_data") and not r.blocks
    ]
    return GateReport(
        verdict=verdict,
        rules=tuple(results),
        warnings=tuple(warnings),
        decided_by=policy.decision,
        as_of=as_of,
        policy_sha256=policy_sha256(policy),
        error_control=control,
    )


def require_pass(report: GateReport) -> GateReport:
    """Return the report when the gate passed; raise :class:`GateFailure` (exit 1) otherwise.

    Raises
    ------
    GateFailure
        With ``.report`` the report, and its one-line summary as message.
    """
    if not report.passed:
        raise GateFailure(f"the gate did not pass: {report.summary()}", report=report)
    return report


def _attributes(rule: PolicyRule, report: AuditReport) -> list[str]:
    names = [a.name for a in report.attributes]
    return names if rule.attribute is None else [rule.attribute]


def _check_rules_fit_card(
    rules: Sequence[PolicyRule], report: AuditReport, performance: Mapping[str, MetricValue]
) -> None:
    """A rule on an attribute or metric the card does not have is a policy / card mismatch."""
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
) -> RuleResult:
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
    return RuleResult(
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


def _combine(comparisons: Sequence[Comparison], side: Side) -> tuple[Verdict, Comparison | None]:
    """Fail beats inconclusive beats pass; insufficient data only when nothing else was judged."""

    def badness(c: Comparison) -> float:
        if c.observed is None:
            return math.inf
        return c.observed if side == "max" else -c.observed

    order: tuple[Verdict, ...] = ("fail", "inconclusive", "pass", "insufficient_data")
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
    """The value with its interval at the normal quantile ``z``, when it carries the evidence to recompute it."""
    if value.status != "ok" or value.method is None:
        return value
    ci = group_interval(value, z)
    return replace(value, ci=ci) if ci is not None else value


def _disparity_value(
    rule: PolicyRule, report: AuditReport, attribute: str, confidence: float
) -> tuple[MetricValue, tuple[str, ...], Spread | None]:
    """The rule's disparity of one attribute, recomputed pair by pair at ``confidence`` from the groups' evidence."""
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
    """A comparison from one audit value; small groups and a group's undefined metric are not judged."""
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


def _insufficient_warning(result: RuleResult) -> list[str]:
    """Groups a passing or failing rule could not look at: listed, never silently dropped."""
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
) -> Callable[[float | None, Verdict, str], RuleResult]:
    """A built-in rule on a fact of the card (no interval, bound 0): returns its verdict maker."""

    def result(observed: float | None, verdict: Verdict, reason: str) -> RuleResult:
        return RuleResult(
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


def _validity_rule(valid_until: date | None, created: date | None, policy: PolicySpec, as_of: date) -> RuleResult:
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


def _treatment_rule(model: Mapping[str, Any], policy: PolicySpec) -> RuleResult | None:
    """A model that reads a sensitive attribute when it scores fails unless the policy allows it (disparate treatment)."""
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


@dataclass(frozen=True)
class _Explanations:
    """What the gate reads from the card's ``explanations`` block."""

    present: bool
    proxies: tuple[Mapping[str, Any], ...] | None
    flagged: tuple[Mapping[str, Any], ...]
    removable: tuple[str, ...] | None
    method: str
    tolerance: float | None

    @classmethod
    def read(cls, card: Mapping[str, Any], check: _Checker) -> _Explanations:
        block = card.get("explanations")
        if block is None:
            return cls(False, None, (), None, "", None)
        explanations = check.mapping(block, "explanations") or {}
        features = _model_features(card, check)
        proxies: tuple[Mapping[str, Any], ...] | None = None
        if "proxies" in explanations:
            items = []
            for i, item in enumerate(check.listing(explanations["proxies"], "explanations.proxies") or []):
                at = f"explanations.proxies[{i}]"
                proxy = check.mapping(item, at)
                if proxy is None:
                    continue
                check.text(proxy.get("feature"), f"{at}.feature")
                check.text(proxy.get("attribute"), f"{at}.attribute")
                if not isinstance(proxy.get("flagged"), bool):
                    check.add(f"{at}.flagged", f"expected true or false, found {_kind(proxy.get('flagged'))}")
                for key in ("nmi", "auc"):
                    if proxy.get(key) is not None and not _is_number(proxy.get(key)):
                        check.add(f"{at}.{key}", f"expected a finite number or null, found {_kind(proxy.get(key))}")
                items.append(proxy)
            proxies = tuple(items)
        flagged = tuple(
            p for p in proxies or () if p.get("flagged") is True and (features is None or p.get("feature") in features)
        )
        removable: tuple[str, ...] | None = None
        method, tolerance = "", None
        if "minimization" in explanations:
            minimization = check.mapping(explanations["minimization"], "explanations.minimization") or {}
            names = check.listing(minimization.get("removable"), "explanations.minimization.removable") or []
            for i, name in enumerate(names):
                check.text(name, f"explanations.minimization.removable[{i}]")
            removable = tuple(str(n) for n in names)
            method = str(minimization.get("method") or "")
            raw_tolerance = minimization.get("tolerance")
            tolerance = (
                float(raw_tolerance) if isinstance(raw_tolerance, int | float) and _is_number(raw_tolerance) else None
            )
        return cls(True, proxies, flagged, removable, method, tolerance)

    def _describe_proxies(self) -> str:
        parts = []
        for proxy in self.flagged:
            numbers = ", ".join(f"{k.upper()} {_num(proxy[k])}" for k in ("nmi", "auc") if _is_number(proxy.get(k)))
            parts.append(
                f"{proxy.get('feature')} reveals {proxy.get('attribute')}" + (f" ({numbers})" if numbers else "")
            )
        return _listing(parts)

    def proxy_rule(self, on_inconclusive: Literal["fail", "warn"]) -> RuleResult:
        rule = _fact_rule("no proxy features", "flagged_proxies", "explanations", "max", on_inconclusive)
        if self.proxies is None:
            where = "explanations.proxies" if self.present else "explanations block"
            return rule(
                None, "inconclusive", f"the card has no {where}, so proxies of sensitive attributes cannot be checked"
            )
        if self.flagged:
            reason = (
                f"{self._describe_proxies()}: remove the feature, or justify it and turn off fail_on_proxies "
                "with a reviewer's sign-off"
            )
            return rule(float(len(self.flagged)), "fail", reason)
        return rule(0.0, "pass", f"no model feature is flagged as a proxy ({len(self.proxies)} checked)")

    def proxy_warning(self) -> str:
        return (
            f"proxies of sensitive attributes among the features (fail_on_proxies is off): {self._describe_proxies()}"
        )

    def _describe_removable(self) -> str:
        how = f" by {self.method}" if self.method else ""
        tolerance = f" within a tolerance of {_num(self.tolerance)}" if self.tolerance is not None else ""
        return f"{_listing(list(self.removable or ()))} can be removed{how}{tolerance}"

    def minimization_rule(self, on_inconclusive: Literal["fail", "warn"]) -> RuleResult:
        rule = _fact_rule("minimal feature set", "removable_features", "explanations", "max", on_inconclusive)
        if self.removable is None:
            where = "explanations.minimization" if self.present else "explanations block"
            return rule(None, "inconclusive", f"the card has no {where}, so data minimization cannot be checked")
        if self.removable:
            reason = f"{self._describe_removable()}: drop them from features (data minimization)"
            return rule(float(len(self.removable)), "fail", reason)
        return rule(0.0, "pass", "no feature can be removed")

    def minimization_warning(self) -> str:
        return f"features not needed (require_minimal_features is off): {self._describe_removable()}"


def _model_features(card: Mapping[str, Any], check: _Checker) -> set[str] | None:
    """The model's features from ``data.features``, when the card lists them."""
    data = card.get("data")
    if not isinstance(data, Mapping) or "features" not in data:
        return None
    names: set[str] = set()
    for i, item in enumerate(check.listing(data["features"], "data.features") or []):
        name = item.get("name") if isinstance(item, Mapping) else item
        if isinstance(name, str):
            names.add(name)
        else:
            check.add(f"data.features[{i}]", f"expected {{name, justification}} or a name, found {_kind(item)}")
    return names


# ---------------------------------------------------------------------------------------------
# JUnit XML
# ---------------------------------------------------------------------------------------------

# characters XML 1.0 cannot hold at all, even escaped
_NOT_XML: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(value: object) -> str:
    return _NOT_XML.sub("\ufffd", str(value))


def junit_xml(report: GateReport, *, suite: str = "governance gate") -> str:
    """The report as JUnit XML: one testsuite, one testcase per rule.

    A failed rule is a ``<failure type="fail">``; an inconclusive rule (or one
    with insufficient data) is a ``<failure type="inconclusive">`` when it
    blocks the gate and ``<skipped>`` when ``on_inconclusive: warn`` lets it
    pass. Messages carry the observed value, the interval and the bound. Every
    name and message is escaped by ElementTree; characters XML cannot hold are
    replaced by U+FFFD.
    """
    failures = sum(r.blocks for r in report.rules)
    skipped = sum(not r.blocks and r.verdict != "pass" for r in report.rules)
    counts = {"tests": str(len(report.rules)), "failures": str(failures), "errors": "0", "skipped": str(skipped)}
    root = ElementTree.Element("testsuites", {"name": _xml_text(suite), **counts})
    element = ElementTree.SubElement(root, "testsuite", {"name": _xml_text(suite), **counts})
    properties = ElementTree.SubElement(element, "properties")
    for key, value in (
        ("verdict", report.verdict),
        ("decided_by", report.decided_by),
        ("as_of", report.as_of.isoformat()),
        ("policy_sha256", report.policy_sha256),
    ):
        ElementTree.SubElement(properties, "property", {"name": key, "value": value})
    for rule in report.rules:
        case = ElementTree.SubElement(
            element, "testcase", {"classname": _xml_text(f"governance.gate.{rule.scope}"), "name": _xml_text(rule.name)}
        )
        message = _xml_text(_evidence(rule))
        if rule.verdict == "fail":
            ElementTree.SubElement(case, "failure", {"type": "fail", "message": message}).text = _xml_text(rule.reason)
        elif rule.verdict != "pass" and rule.blocks:
            failure = ElementTree.SubElement(case, "failure", {"type": rule.verdict, "message": message})
            failure.text = _xml_text(rule.reason)
        elif rule.verdict != "pass":
            ElementTree.SubElement(case, "skipped", {"message": message}).text = _xml_text(rule.reason)
        else:
            ElementTree.SubElement(case, "system-out").text = message
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _evidence(rule: RuleResult) -> str:
    observed = "undefined" if rule.observed is None else _num(rule.observed)
    interval = "none" if rule.ci is None else f"[{_num(rule.ci[0])}, {_num(rule.ci[1])}]"
    bound = ("<= " if rule.side == "max" else ">= ") + _num(rule.bound)
    where = f" at {rule.at}" if rule.at else ""
    return f"{rule.verdict}: {rule.metric}{where} observed {observed}, interval {interval}, bound {bound}"
