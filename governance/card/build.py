"""Building cards: the run card of one audited candidate and the monitoring card of a champion on a new batch.

Publication rule: a group with fewer rows than
``sensitive.publish_min_group_size`` is published as "fewer than k": its
count and its metric values are removed from the card (a rate over three
rows reveals them), and the plots leave it out. Such groups are below
``min_group_size`` too, so no verdict rests on them either way.

Words: a card counts and describes rows with the config's word for one row
(``purpose.subject``, recorded on the card), and its caveats are the
run's facts plus ``purpose.caveats`` as written: nothing domain-specific is added.

The JSON is deterministic: the same config and data give the same bytes
except for timestamps (``model.created``, ``model.valid_until``, review
times) and the identifiers MLflow assigns (run id, model version, the model
artifact checksum).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from governance.card._data import consent_block, ledger_block, sensitive_entry, subject_entry, subject_words
from governance.card._model import MONITORING_SCHEMA, ModelCard, policy_sha256
from governance.metrics import PERFORMANCE_METRICS

if TYPE_CHECKING:
    from governance.audit import AuditReport
    from governance.config import GovernanceConfig
    from governance.data import Dataset
    from governance.registry import VerifiedCard

__all__ = ["build_card", "candidate_entry", "monitoring_card", "publishable_fairness"]


def publishable_fairness(document: Mapping[str, Any], *, publish_min: int, subjects: str = "rows") -> dict[str, Any]:
    """Reduce the groups of an audit document below the publication minimum reduced to "fewer than k".

    Their ``n`` becomes ``null`` with ``"n_published": "fewer than k"`` and every metric
    value and interval is removed (status ``insufficient_data``, reason "not published").

    Parameters
    ----------
    document
        A ``governance.audit/1`` document.
    publish_min
        ``sensitive.publish_min_group_size``.
    subjects
        The word for the rows (``config.purpose.subjects``), in the reason.

    Returns
    -------
    dict
        A copy of the document; the input is not changed.
    """
    from governance.privacy import withhold_groups

    out = json.loads(json.dumps(document))
    note = f"fewer than {publish_min} {subjects}; not published"
    withhold_groups(out.get("groups", []), publish_min, note=note, empty=True)
    return dict(out)


def _worst_disparity(
    document: Mapping[str, Any], attributes: Sequence[str]
) -> tuple[float | None, str, list[float] | None]:
    """Return the largest demographic parity difference over the single sensitive attributes, and its interval."""
    worst: tuple[float | None, str, list[float] | None] = (None, "", None)
    for item in document.get("fairness", []):
        if item.get("metric") != "demographic_parity_difference" or item.get("attribute") not in attributes:
            continue
        value = item.get("value")
        if value is not None and (worst[0] is None or value > worst[0]):
            ci = item.get("ci")
            worst = (
                float(value),
                f"demographic_parity_difference ({item['attribute']})",
                None if ci is None else list(ci),
            )
    return worst


def candidate_entry(
    *,
    name: str,
    kind: str,
    mitigation: str | None,
    uses_sensitive_at_inference: bool,
    audit: AuditReport,
    attributes: Sequence[str],
    verdict: str | None,
) -> dict[str, Any]:
    """One row of the card's candidate comparison.

    Parameters
    ----------
    name, kind, mitigation, uses_sensitive_at_inference
        The candidate's facts.
    audit
        Its audit on the test split.
    attributes
        The attributes whose demographic parity difference is compared.
    verdict
        The gate's verdict on its card, or None before the gate.

    Returns
    -------
    dict
        ``name``, ``kind``, ``mitigation``, ``uses_sensitive_at_inference``, ``auc``,
        ``worst_disparity``, ``worst_disparity_metric`` and ``verdict``.
    """
    document = audit.to_dict()
    worst, label, worst_ci = _worst_disparity(document, attributes)
    auc = audit.overall["auc"].value
    auc_ci = audit.overall["auc"].ci
    return {
        "name": name,
        "kind": kind,
        "mitigation": mitigation,
        "uses_sensitive_at_inference": uses_sensitive_at_inference,
        "auc": auc,
        "worst_disparity": worst,
        "worst_disparity_metric": label,
        "auc_ci": None if auc_ci is None else [auc_ci[0], auc_ci[1]],
        "worst_disparity_ci": worst_ci,
        "verdict": verdict,
    }


def _policy_dict(config: GovernanceConfig) -> dict[str, Any]:
    """Return the policy as the card records it (JSON data)."""
    policy: dict[str, Any] = config.policy.model_dump(mode="json")
    return policy


def build_card(
    *,
    config: GovernanceConfig,
    dataset: Dataset,
    candidate: Mapping[str, Any],
    audit: AuditReport,
    explanations: Mapping[str, Any] | None,
    candidates: Sequence[Mapping[str, Any]],
    run_id: str,
    created: datetime,
    git_commit: str,
    model_sha256: str = "",
    version: str | None = None,
    validation: Mapping[str, float] | None = None,
    reviews: Sequence[Mapping[str, Any]] = (),
    feedback: Sequence[Mapping[str, Any]] = (),
) -> ModelCard:
    """Assemble the card of one audited candidate (the gate is added with :meth:`ModelCard.with_gate`).

    Parameters
    ----------
    config, dataset
        The run's config and prepared data.
    candidate
        ``name``, ``kind``, ``mitigation``, ``constraint``, ``attribute``,
        ``uses_sensitive_at_inference``, ``score_method`` of the candidate.
    audit
        The audit of the candidate on the test split.
    explanations
        The explanations block (DESIGN's contract), or None when not computed.
    candidates
        The comparison rows of every candidate of the run (:func:`candidate_entry`).
    run_id, created, git_commit, model_sha256, version
        Lineage.
    validation
        Validation metrics of the candidate (no intervals), shown beside the test audit.
    reviews, feedback
        Reviews and open feedback items recorded so far.

    Returns
    -------
    ModelCard
        The card, ungated.
    """
    publish_min = config.sensitive.publish_min_group_size
    performance: dict[str, Any] = {name: audit.overall[name].to_dict() for name in PERFORMANCE_METRICS}
    if validation:
        performance["validation"] = {k: float(v) for k, v in sorted(validation.items())}
    card_data = _run_data(config, dataset, candidate)
    if explanations is not None and "minimization" in explanations:
        card_data["minimization"] = explanations["minimization"]
    model = _run_model(config, candidate, run_id=run_id, created=created, version=version)
    return ModelCard(
        model=model,
        lineage={
            "git_commit": git_commit,
            "config_sha256": config.sha256,
            "data_sha256": dataset.fingerprint,
            "model_sha256": model_sha256,
            "policy_sha256": policy_sha256(config.policy),
        },
        purpose={
            "intended_use": config.purpose.intended_use,
            "out_of_scope": list(config.purpose.out_of_scope),
            "owner": config.purpose.owner,
            "subject": subject_entry(config),
            **_risk_and_status(config),
        },
        data=card_data,
        performance=performance,
        fairness=publishable_fairness(audit.to_dict(), publish_min=publish_min, subjects=config.purpose.subjects),
        explanations=None if explanations is None else dict(explanations),
        candidates=tuple(dict(c) for c in candidates),
        gate=None,
        policy=_policy_dict(config),
        reviews=tuple(dict(r) for r in reviews),
        feedback={"contact": config.purpose.contact, "items": [dict(i) for i in feedback]},
        caveats=tuple(_caveats(config, dataset, audit, candidate, explanations)),
    )


def _risk_and_status(config: GovernanceConfig) -> dict[str, Any]:
    """Return ``purpose.risk`` and the declared ``purpose.status``, when the config gives them (else nothing)."""
    fields: dict[str, Any] = {}
    if config.purpose.risk is not None:
        fields["risk"] = {"rating": config.purpose.risk.rating, "rationale": config.purpose.risk.rationale}
    if config.purpose.status is not None:
        fields["status"] = config.purpose.status
    return fields


def _run_model(
    config: GovernanceConfig, candidate: Mapping[str, Any], *, run_id: str, created: datetime, version: str | None
) -> dict[str, Any]:
    """Build the ``model`` section of a run card: the candidate, its run, its dates."""
    valid_until = (created + timedelta(days=config.policy.valid_for_days)).date().isoformat()
    return {
        "name": config.mlflow.registered_model,
        "candidate": candidate["name"],
        "kind": candidate.get("kind"),
        "mitigation": candidate.get("mitigation"),
        "constraint": candidate.get("constraint"),
        "attribute": candidate.get("attribute"),
        "uses_sensitive_at_inference": bool(candidate.get("uses_sensitive_at_inference")),
        "score_method": candidate.get("score_method", ""),
        "version": version,
        "run_id": run_id,
        "created": created.isoformat(timespec="seconds"),
        "valid_until": valid_until,
    }


def _run_data(config: GovernanceConfig, dataset: Dataset, candidate: Mapping[str, Any]) -> dict[str, Any]:
    """Build the ``data`` section of a run card: rows, split, features, sensitive attributes, pseudonymization."""
    split_sizes = {
        name: int((dataset.split == code).sum()) for code, name in enumerate(("train", "validation", "test"))
    }
    uses_sensitive = bool(candidate.get("uses_sensitive_at_inference"))
    return {
        "source": Path(dataset.source).name,
        "rows_in": dataset.rows_in,
        "rows_used": dataset.rows_used,
        "excluded": dict(dataset.excluded),
        "split": split_sizes,
        "features": [{"name": f.name, "justification": f.justification, "type": f.type} for f in config.features],
        "dropped_columns": [{"name": k, "reason": v} for k, v in dataset.dropped_columns.items()],
        "consent": consent_block(
            config.data.consent, dataset.excluded, subject=config.purpose.subject, subjects=config.purpose.subjects
        ),
        "sensitive": [
            sensitive_entry(
                a,
                use="audit and inference" if uses_sensitive and a.name == candidate.get("attribute") else "audit only",
            )
            for a in config.sensitive.attributes
        ],
        "pseudonymization": {
            "method": dataset.pseudonymization.method,
            "development_key": dataset.pseudonymization.development_key,
        },
        "publish_min_group_size": config.sensitive.publish_min_group_size,
        "corrections_applied": dataset.corrected,
        "ledger": ledger_block(*dataset.ledger),
    }


def _caveats(
    config: GovernanceConfig,
    dataset: Dataset,
    audit: AuditReport,
    candidate: Mapping[str, Any],
    explanations: Mapping[str, Any] | None,
) -> list[str]:
    """List what a reader must keep in mind: key, sensitive use, small groups, intervals, proxies, the config's."""
    subjects = config.purpose.subjects
    notes = []
    if dataset.pseudonymization.development_key:
        notes.append(
            "Identifiers were pseudonymized with the public development key, which anyone can reverse: "
            "do not use this card's lineage with real data."
        )
    if candidate.get("uses_sensitive_at_inference"):
        notes.append(
            f"This model reads the sensitive attribute {candidate.get('attribute')!r} when it scores "
            f"({candidate.get('mitigation')}). Using a sensitive attribute at decision time is disparate "
            "treatment in many jurisdictions: obtain legal review before use."
        )
    small = sorted({f"{g.attribute}: {g.group}" for g in audit.groups if g.status != "ok"})
    if small:
        notes.append(
            f"{len(small)} group(s) have too few {subjects} for a verdict (below {audit.min_group_size}); "
            "their fairness is unknown, not established."
        )
    notes.append(
        f"Intervals of the test split are at {audit.bootstrap.confidence:.0%}: rates by the continuity-corrected "
        "Wilson interval, AUCs by DeLong, and each disparity pair by pair, simultaneously over the pairs it "
        f"compares. A rate is judged only from {audit.min_events} events in its denominator (positives, "
        f"negatives, selected {subjects}); groups with fewer are listed, their fairness unknown, not established."
    )
    if explanations is not None:
        flagged = sorted({p["feature"] for p in explanations.get("proxies", []) if p.get("flagged")})
        if flagged:
            notes.append(f"Proxy features for a sensitive attribute: {', '.join(flagged)}.")
    notes.extend(config.purpose.caveats)
    return notes


def monitoring_card(
    champion: VerifiedCard,
    audit_report: AuditReport,
    batch: Dataset,
    *,
    config: GovernanceConfig,
    drift: Mapping[str, Any],
    created: datetime,
    valid_for_days: int,
    batch_name: str,
) -> ModelCard:
    """Re-issue the champion's card on the batch's evidence (ungated; the gate is added with ``with_gate``).

    Model, lineage, purpose, explanations, candidates, policy and feedback are the
    champion card's (the model has not changed; a champion card without ``purpose.subject``
    gets the config's word for a row); data (with the consent checks of the config the
    batch was read with), performance and fairness are the batch's; ``model.created``
    is now and ``model.valid_until`` ``valid_for_days`` later (the champion card's
    policy); reviews start empty; ``monitoring`` holds the batch, the drift and (once
    gated) the comparison.

    Parameters
    ----------
    champion
        The champion's verified card and registry facts.
    audit_report, batch
        The audit of the champion on the prepared batch, and the batch.
    config
        The validated config.
    drift
        The drift report (:func:`governance.monitor.drift_report`).
    created, valid_for_days
        When the monitoring card is dated, and its validity (the champion card's policy).
    batch_name
        The batch's file name.

    Returns
    -------
    ModelCard
        The monitoring card, ungated.
    """
    source = champion.card
    purpose = {"subject": subject_entry(config), **source["purpose"]}  # a card from before the word: the config's
    subject, subjects = subject_words(purpose)
    model = dict(source["model"])
    facts = _champion_facts(champion, model)
    model["created"] = created.isoformat(timespec="seconds")
    model["valid_until"] = (created + timedelta(days=valid_for_days)).date().isoformat()
    return ModelCard(
        model=model,
        lineage=dict(source["lineage"]),
        purpose=purpose,
        data=_batch_data(source, batch, config=config, batch_name=batch_name, words=(subject, subjects)),
        performance={name: audit_report.overall[name].to_dict() for name in PERFORMANCE_METRICS},
        fairness=publishable_fairness(
            audit_report.to_dict(), publish_min=config.sensitive.publish_min_group_size, subjects=subjects
        ),
        explanations=source.get("explanations"),
        candidates=tuple(source.get("candidates", ())),
        gate=None,
        policy=dict(source["policy"]),
        reviews=(),
        feedback=dict(source.get("feedback") or {}),
        caveats=tuple(_monitoring_caveats(champion, batch, batch_name=batch_name, drift=drift, subjects=subjects)),
        monitoring={
            "schema": MONITORING_SCHEMA,
            "at": created.isoformat(timespec="seconds"),
            "champion": facts,
            "batch": {
                "source": batch_name,
                "rows_in": batch.rows_in,
                "rows_used": batch.rows_used,
                "excluded": dict(batch.excluded),
                "fingerprint": batch.fingerprint,
            },
            "drift": dict(drift),
            "comparison": None,
            "demotion": None,
        },
    )


def _champion_facts(champion: VerifiedCard, model: Mapping[str, Any]) -> dict[str, Any]:
    """Describe the champion a monitoring card re-audits: its registry version and its card's dates and verdict."""
    return {
        "registered_model": champion.registered_model,
        "version": champion.version,
        "run_id": champion.run_id,
        "candidate": champion.candidate,
        "card_sha256": champion.card_sha256,
        "card_created": model.get("created"),
        "card_valid_until": model.get("valid_until"),
        "card_verdict": (champion.card.get("gate") or {}).get("verdict"),
    }


def _batch_data(
    source: Mapping[str, Any],
    batch: Dataset,
    *,
    config: GovernanceConfig,
    batch_name: str,
    words: tuple[str, str],
) -> dict[str, Any]:
    """Build the ``data`` section of a monitoring card: the batch's rows and consent, the champion card's features."""
    return {
        "source": batch_name,
        "rows_in": batch.rows_in,
        "rows_used": batch.rows_used,
        "excluded": dict(batch.excluded),
        "split": {"monitoring": batch.rows_used},
        "features": list(source.get("data", {}).get("features", [])),
        "dropped_columns": [{"name": k, "reason": v} for k, v in batch.dropped_columns.items()],
        "consent": consent_block(config.data.consent, batch.excluded, subject=words[0], subjects=words[1]),
        "sensitive": list(source.get("data", {}).get("sensitive", [])),
        "pseudonymization": {
            "method": batch.pseudonymization.method,
            "development_key": batch.pseudonymization.development_key,
        },
        "publish_min_group_size": config.sensitive.publish_min_group_size,
        "corrections_applied": batch.corrected,
        "ledger": ledger_block(*batch.ledger),
    }


def _monitoring_caveats(
    champion: VerifiedCard, batch: Dataset, *, batch_name: str, drift: Mapping[str, Any], subjects: str
) -> list[str]:
    """List the monitoring card's caveats: what was re-audited, significant drift, then the champion card's."""
    caveats = [
        f"Monitoring card: champion version {champion.version} ({champion.candidate}) re-audited on the batch "
        f"{batch_name} ({batch.rows_used:,} {subjects}), with the policy of its own card. Its explanations, proxy "
        "checks and candidate comparison are those of its card, from training.",
        *[c for c in champion.card.get("caveats", []) if isinstance(c, str)],
    ]
    if int(drift.get("significant_count", 0)):
        caveats.insert(
            1,
            f"{drift['significant_count']} feature distribution(s), overall or within a group, shifted significantly "
            f"(PSI >= {drift['significant']}) since training.",
        )
    return caveats
