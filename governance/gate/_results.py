"""The gate's result types, plain data: one comparison, one rule's verdict, the error control, the report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

if TYPE_CHECKING:
    from governance.policy import PolicySpec

__all__ = ["Comparison", "ErrorControl", "GateReport", "GateVerdict", "Mode", "RuleOutcome", "RuleVerdict", "Side"]

RuleVerdict: TypeAlias = Literal["pass", "fail", "inconclusive", "insufficient_data"]
GateVerdict: TypeAlias = Literal["pass", "fail", "inconclusive"]
Side: TypeAlias = Literal["max", "min"]
Mode: TypeAlias = Literal["interval", "point"]

_MAX_LISTED: Final = 10  # groups named in a reason or warning; the rest are counted


def _num(value: float) -> str:
    """Print a number as the gate's reasons do."""
    return f"{value:.4g}"


def _listing(names: Sequence[str]) -> str:
    """At most ten names, then how many more."""
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (f" and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else "")


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
    verdict: RuleVerdict
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
class RuleOutcome:
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
    verdict: RuleVerdict
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
    def from_dict(cls, data: Mapping[str, Any]) -> RuleOutcome:
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
        """Return the error control a policy asks for."""
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
        """Return the statement the card prints."""
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

    verdict: GateVerdict
    rules: tuple[RuleOutcome, ...]
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
            rules=tuple(RuleOutcome.from_dict(r) for r in data["rules"]),
            warnings=tuple(data.get("warnings", ())),
            decided_by=data["decided_by"],
            as_of=date.fromisoformat(data["as_of"]),
            policy_sha256=data.get("policy_sha256", ""),
            error_control=None if data.get("error_control") is None else ErrorControl.from_dict(data["error_control"]),
        )
