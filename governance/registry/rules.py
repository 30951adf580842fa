"""The promotion rules, as pure functions over the evidence: testable without a store.

What may take an alias (:func:`refusal`), who approved or rejected
(:func:`latest_decisions`), and which candidate of a run should be champion
(:func:`rank_candidates`, :func:`choose_champion`, :func:`champion_reason`).
The evidence itself is read and verified from the store by
:mod:`governance.registry._evidence`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from governance.errors import GateFailure, GovernanceError, RegistryError
from governance.ledger import stamp
from governance.registry.records import DEMOTED_TAG, READY, ModelVersionRecord, Review

__all__ = [
    "Contender",
    "Evidence",
    "champion_reason",
    "choose_champion",
    "latest_decisions",
    "rank_candidates",
    "refusal",
]


@dataclass(frozen=True)
class Evidence:
    """A version as re-read and verified from the store.

    Attributes
    ----------
    version, run_id
        The version and its run.
    status, run_status
        MLflow's status of the version (``READY``) and of its run (``FINISHED``).
    verdict
        The gate verdict on its card.
    card, card_sha256
        The card as stored and its checksum.
    reviews
        The card's reviews, in order.
    demoted
        The monitoring run that demoted it (empty: never demoted).
    expires_at
        End of its grace period, as it was trained with an account erased since (empty: none).
    """

    version: int
    run_id: str
    status: str
    run_status: str
    verdict: str
    card: dict[str, Any]
    card_sha256: str
    reviews: tuple[Review, ...]
    demoted: str = ""
    expires_at: str = ""

    @property
    def expired(self) -> bool:
        """Whether its grace period after an erasure of an account it was trained with has ended."""
        return bool(self.expires_at) and self.expires_at <= stamp(datetime.now(UTC))

    @property
    def approvals(self) -> tuple[str, ...]:
        """Reviewers whose latest decision is an approval."""
        return latest_decisions(self.reviews, "approve")

    @property
    def rejections(self) -> tuple[str, ...]:
        """Reviewers whose latest decision is a rejection."""
        return latest_decisions(self.reviews, "reject")


def latest_decisions(reviews: Sequence[Review], decision: str) -> tuple[str, ...]:
    """Reviewers whose latest decision is ``decision``; one person counts once, however often they review.

    Parameters
    ----------
    reviews
        Reviews in the order they were recorded.
    decision
        ``approve`` or ``reject``.

    Returns
    -------
    tuple of str
        The reviewers' names as they last wrote them, in order of first review.
    """
    latest: dict[str, Review] = {}
    for review in reviews:
        latest[review.reviewer.strip().casefold()] = review
    return tuple(r.reviewer for r in latest.values() if r.decision == decision)


def refusal(evidence: Evidence, *, name: str, action: str, required: int | None) -> GovernanceError | None:
    """Why this version may not take the alias, or None when it may.

    Parameters
    ----------
    evidence
        The version as verified from the store.
    name
        The registered model's name, for the message.
    action
        What is refused (``promote``, ``nominate``, ``keep``), for the message.
    required
        Approving reviewers required; None skips the approval count (nomination).

    Returns
    -------
    GovernanceError or None
        RegistryError when the version is not READY; GateFailure (``report["reason"]``:
        ``run``, ``verdict``, ``demoted``, ``expired``, ``rejected``, ``approvals``) otherwise.
    """
    label = f"{name!r} version {evidence.version}"
    report: dict[str, Any] = {
        "registered_model": name,
        "version": evidence.version,
        "run_id": evidence.run_id,
        "verdict": evidence.verdict,
        "approvals": list(evidence.approvals),
        "rejections": list(evidence.rejections),
        "required_approvals": required,
    }
    if evidence.status != READY:
        return RegistryError(
            f"refusing to {action} {label}: its status is {evidence.status}, not READY; "
            "wait for the registry to finish creating it, or register the candidate again"
        )
    why = _evidence_refusal(evidence, required=required)
    if why is None:
        return None
    reason, text = why
    return GateFailure(f"refusing to {action} {label}: {text}", report={**report, "reason": reason})


def _evidence_refusal(evidence: Evidence, *, required: int | None) -> tuple[str, str] | None:
    """Return the first rule a READY version breaks, as ``(reason, sentence)``; None when it breaks none."""
    if evidence.run_status != "FINISHED":
        return "run", (
            f"its run {evidence.run_id} ended {evidence.run_status}, not FINISHED; "
            "the audit of an unfinished run is no evidence"
        )
    if evidence.verdict != "pass":
        return "verdict", (
            f"its gate verdict is {evidence.verdict!r}; only a version whose gate "
            "passed can take this alias (its card lists the rules)"
        )
    if evidence.demoted:
        return "demoted", (
            f"it failed its re-evaluation on new data and was demoted (monitoring "
            f"run {evidence.demoted}); audit a new version (governance run), or delete the version tag "
            f"{DEMOTED_TAG} after review"
        )
    if evidence.expired:
        return "expired", (
            f"it was trained with an account erased since, and its grace period ended at {evidence.expires_at}; "
            "train a version without the erased accounts (governance run) and promote it"
        )
    if evidence.rejections:
        return "rejected", (
            f"rejected by {', '.join(evidence.rejections)}; a rejection stands until the same reviewer approves"
        )
    if required is not None and len(evidence.approvals) < required:
        return "approvals", (
            f"{len(evidence.approvals)} approval(s) of the {required} the policy "
            f"requires; record reviews with `governance review --model-version {evidence.version} --approve ...`"
        )
    return None


@dataclass(frozen=True)
class Contender:
    """A registered candidate of a run, as the champion choice sees it.

    Attributes
    ----------
    record
        The registered version; ``record.verdict`` is the gate's verdict on its card.
    selection
        ``policy.selection_metric`` on the validation split (the test split is the
        one audited); higher is better.
    undecided
        The rules the gate let through without a decision: verdict ``inconclusive``
        or ``insufficient_data``, allowed as warnings by ``on_inconclusive: warn``;
        one ``"<rule> (<verdict>)"`` each. Empty when every rule passed.
    blocked
        Why the version may take no alias whatever its gate (an existing version an
        identical re-run matched, since demoted or rejected), in words; empty when it may.
    """

    record: ModelVersionRecord
    selection: float
    undecided: tuple[str, ...] = ()
    blocked: str = ""

    @property
    def decided(self) -> bool:
        """Whether every rule of its gate was decided (none allowed through as a warning)."""
        return not self.undecided


def rank_candidates(candidates: Sequence[Contender]) -> tuple[Contender, ...]:
    """Return the candidates that may become champion, best first.

    Only versions whose gate passed, whose selection metric is finite and that
    are not blocked take part. One that passed with every rule decided ranks
    above one that passed with undecided rules allowed as warnings, whatever
    their metrics; then the higher selection metric; then the candidate's name,
    then the lower version (so the order never depends on the input order).

    Parameters
    ----------
    candidates
        Every registered candidate of the run, passing or not.

    Returns
    -------
    tuple of Contender
        The eligible candidates in rank order; empty when none passed.
    """
    eligible = [c for c in candidates if c.record.verdict == "pass" and math.isfinite(c.selection) and not c.blocked]
    return tuple(sorted(eligible, key=lambda c: (not c.decided, -c.selection, c.record.candidate, c.record.version)))


def choose_champion(candidates: Sequence[Contender]) -> ModelVersionRecord | None:
    """Return the version that should be champion: the first of :func:`rank_candidates`, or None when none passed.

    Parameters
    ----------
    candidates
        Every registered candidate of the run.

    Returns
    -------
    ModelVersionRecord or None
    """
    ranked = rank_candidates(candidates)
    return ranked[0].record if ranked else None


def _rule_count(n: int) -> str:
    """``1 rule``, ``2 rules``."""
    return f"{n} rule" if n == 1 else f"{n} rules"


def champion_reason(candidates: Sequence[Contender], *, metric: str) -> str:
    """Why :func:`choose_champion` chose what it chose, in one sentence for the run's summary.

    Parameters
    ----------
    candidates
        Every registered candidate of the run, as given to :func:`choose_champion`.
    metric
        The selection metric's name (``policy.selection_metric``), as printed.

    Returns
    -------
    str
        For instance ``"lightgbm_fair: passed with every rule decided; validation auc 0.771 (best of 2
        such candidates)"``; when no candidate passed, what the candidates' verdicts were.
    """
    ranked = rank_candidates(candidates)
    if not ranked:
        tally = {v: sum(c.record.verdict == v for c in candidates) for v in ("pass", "fail", "inconclusive")}
        counted = ", ".join(f"{n} {v}" for v, n in tally.items() if n) or "no candidates"
        text = f"no candidate passed the gate ({counted})"
        blocked = [c for c in candidates if c.record.verdict == "pass" and c.blocked]
        if blocked:
            text += f"; {len(blocked)} that passed may take no alias: " + "; ".join(c.blocked for c in blocked)
        elif tally["pass"]:
            text += f"; those that passed have no finite validation {metric}"
        return text
    best = ranked[0]
    peers = [c for c in ranked if c.decided == best.decided]
    standing = f"best of {len(peers)} such candidates" if len(peers) > 1 else "the only such candidate"
    score = f"validation {metric} {best.selection:.3f} ({standing})"
    if best.decided:
        text = f"{best.record.candidate}: passed with every rule decided; {score}"
        others = len(ranked) - len(peers)
        if others:
            text += (
                f"; ranked above {others} passing candidate{'s' if others > 1 else ''} "
                "with undecided rules allowed as warnings"
            )
        return text
    return (
        f"{best.record.candidate}: passed with {_rule_count(len(best.undecided))} undecided (allowed as "
        f"{'a warning' if len(best.undecided) == 1 else 'warnings'} by on_inconclusive: warn): "
        f"{', '.join(best.undecided)}; no candidate passed with every rule decided; {score}"
    )
