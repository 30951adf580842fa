"""The right of access: what is held on one account, and why it got its score.

:func:`access` reports the declared fields held on the account (model features,
audit-only sensitive attributes, the recorded outcome), its consent status and lawful
basis, which registered model versions were trained with it and on which side of the
split, its current score, percentile and reason codes from the champion, the purpose of
the scoring, and the ledger's history of the account; the report is recorded in the
ledger as an ``access`` entry. No other account's data: the percentile is the only
figure that involves other accounts. :class:`Score` (the champion's score of one
account) is shared with :func:`governance.subjects.correct`.

The report speaks of a row with the config's words (``purpose.subject`` and its
plural, recorded in the document's ``words`` so that it renders the same later),
and shows a coded category with its words from ``describe_values`` and the code in
parentheses (``checking balance below 0 (A11)``, in a held field's ``value_text``).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from governance.config import GovernanceConfig, SensitiveAttribute, tracking_uri
from governance.data import consent_mask, prepare
from governance.errors import ConfigError, DataValidationError, PrivacyError
from governance.ledger import Entry, SubjectState, append, read_state, stamp
from governance.subjects._account import _Account, _anchor_entry, _find, _guard_ledger, _ledger_path, _secret

if TYPE_CHECKING:
    from governance.config import Feature
    from governance.data import Dataset
    from governance.registry import ResolvedModel
    from governance.train import ScoringModel

__all__ = ["ACCESS_SCHEMA", "AccessReport", "Score", "access"]

ACCESS_SCHEMA: Final = "governance.access/1"


def _plain(value: Any) -> Any:
    """Convert to a JSON-ready scalar (numpy and pandas scalars, missing values as None)."""
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


# ---------------------------------------------------------------- scoring with the champion


@dataclass(frozen=True)
class Score:
    """An account's score from one model: the score, its percentile among the scored accounts, the model."""

    score: float
    percentile: float
    accounts: int
    model_version: int | None
    candidate: str
    subjects: str = "accounts"

    def to_dict(self) -> dict[str, Any]:
        """Return the score as plain data.

        Returns
        -------
        dict
            The score as JSON-ready data.
        """
        return {
            "score": self.score,
            "percentile": self.percentile,
            "accounts": self.accounts,
            "model_version": self.model_version,
            "candidate": self.candidate,
            "text": self.text,
        }

    @property
    def text(self) -> str:
        """The score in words."""
        return (
            f"score {self.score:.3f}, higher than {math.floor(self.percentile)}% of {self.accounts:,} {self.subjects} "
            f"(model version {self.model_version}, {self.candidate})"
        )


def _champion(config: GovernanceConfig) -> tuple[ResolvedModel, ScoringModel] | str:
    """Load the champion after its checksum is verified; why there is none, in words, when it cannot be used.

    No version holds the alias, or the one that does was trained with an account erased since
    and its grace period ended: the account then has no current score, and the report says why.
    """
    from governance.pipeline import load_scoring_model

    try:
        return load_scoring_model(config)
    except ConfigError as exc:
        if any("no version with the alias" in p.message for p in exc.problems):
            return _no_champion(config.purpose.subject)
        raise
    except PrivacyError as exc:
        if exc.code == "expired":
            return f"the champion may no longer be used, so the {config.purpose.subject} has no current score: {exc}"
        raise


def _score(
    champion: tuple[ResolvedModel, ScoringModel] | str,
    dataset: Dataset,
    pseudonym: str,
    *,
    subject: str = "account",
    subjects: str = "accounts",
) -> tuple[Score | None, str | None]:
    """Find the row's score in the prepared data, or None and why (said with the config's words for a row)."""
    from governance.pipeline import check_features

    if isinstance(champion, str):
        return None, champion
    found = np.flatnonzero(dataset.pseudonyms == pseudonym)
    if len(found) != 1:
        return None, _not_scored(subject)
    resolved, model = champion
    check_features(model, dataset, resolved)
    scores = np.asarray(model.scores(dataset.X, dataset.sensitive), dtype=np.float64)
    own = float(scores[int(found[0])])
    percentile = 100.0 * float(np.mean(scores < own))
    return (
        Score(
            score=own,
            percentile=percentile,
            accounts=len(scores),
            model_version=resolved.version,
            candidate=resolved.candidate,
            subjects=subjects,
        ),
        None,
    )


def _no_champion(subject: str) -> str:
    """Say why a row has no score before any model is champion."""
    return f"no model is champion yet, so the {subject} has no current score"


def _not_scored(subject: str) -> str:
    """Say why a row excluded from use has no score."""
    return f"the {subject} is excluded from scoring (see its status)"


# ---------------------------------------------------------------- access


@dataclass(frozen=True)
class AccessReport:
    """A data-subject access report (``governance.access/1``), keyed by pseudonym."""

    document: Mapping[str, Any]
    entry: Entry | None
    erased_at: str | None = None  # the account was erased then: nothing is held, no report is written

    @property
    def pseudonym(self) -> str:
        """The account's pseudonym."""
        return str(self.document["account"]["pseudonym"])

    def to_dict(self) -> dict[str, Any]:
        """Return the access report's document.

        Returns
        -------
        dict
            The access report as JSON-ready data.
        """
        return dict(self.document)


def _status(state: SubjectState, pseudonym: str, consent_reason: str | None) -> tuple[str, str]:
    if pseudonym in state.erased:
        return "erased", f"erased on {state.erased[pseudonym]}: excluded from every use since"
    if pseudonym in state.withdrawn:
        return "consent_withdrawn", f"consent withdrawn on {state.withdrawn[pseudonym]}: excluded from every use since"
    if consent_reason is not None:
        return "excluded", f"not used: {consent_reason.replace('_', ' ')}"
    return "active", "used for training, auditing and scoring"


def _consent(config: GovernanceConfig, account: _Account) -> tuple[dict[str, Any], str | None]:
    """Read the account's consent facts from the source, and why it is excluded (None: valid consent)."""
    spec = config.data.consent
    one = account.frame.iloc[[account.position]].reset_index(drop=True)
    keep, excluded = consent_mask(one, config)
    reason = None if bool(keep[0]) else next(iter(excluded), "consent_not_valid")
    facts: dict[str, Any] = {
        "given": _consent_given(one[spec.column]) if spec.column in one.columns else None,
        "recorded_at": _plain(account.row.get(spec.timestamp_column)) if spec.timestamp_column else None,
        "lawful_basis": _plain(account.row.get(spec.lawful_basis_column)) if spec.lawful_basis_column else None,
        "accepted_lawful_bases": list(spec.accepted_lawful_bases),
        "valid": reason is None,
        "reason_not_valid": reason,
    }
    return facts, reason


def _consent_given(column: pd.Series) -> bool | None:
    """Read the consent flag of a one-row column as the data layer reads it (None: missing or unreadable)."""
    from governance.data._contract import _as_bool

    value, known = _as_bool(column)
    return bool(value.iloc[0]) if bool(known.iloc[0]) else None


def _value_text(feature: Feature, value: Any) -> str | None:
    """Return a coded category as it reads: its ``describe_values`` words with the code in parentheses.

    Parameters
    ----------
    feature
        The declared feature.
    value
        The value held (JSON-ready; None when unknown).

    Returns
    -------
    str or None
        ``checking balance below 0 (A11)``; None when the value is unknown or has no
        words (a number, or a code not in ``describe_values``: it reads as itself).
    """
    if value is None or feature.type != "categorical" or str(value) not in (feature.describe_values or {}):
        return None
    return f"{feature.value_words(value)} ({value})"


def _held(config: GovernanceConfig, account: _Account, state: SubjectState) -> list[dict[str, Any]]:
    """List the declared fields held on the account, with the corrections applied and what each is used for."""
    corrections = state.corrections.get(account.pseudonym, {})
    purpose = config.purpose
    held: list[dict[str, Any]] = []
    for feature in config.features:
        corrected = feature.name in corrections
        value = _plain(corrections[feature.name][0] if corrected else account.row.get(feature.name))
        held.append(
            {
                "field": feature.name,
                "role": "model feature",
                "value": value,
                "value_text": _value_text(feature, value),
                "corrected": corrected,
                "used_for": "scoring (an input of the model)",
                "justification": feature.justification,
            }
        )
    for attribute in config.sensitive.attributes:
        value, corrected = _attribute_value(attribute, account, corrections)
        held.append(
            {
                "field": attribute.name,
                "role": "sensitive attribute",
                "value": value,
                "value_text": None,
                "corrected": corrected,
                "used_for": "fairness audits only: never an input of the model, never a reason for a score",
                "justification": f"to check that the scores treat groups of {purpose.subjects} fairly",
            }
        )
    held.append(
        {
            "field": config.data.label,
            "role": "recorded outcome",
            "value": _plain(account.row.get(config.data.label)),
            "value_text": None,
            "corrected": False,
            "used_for": "training and auditing (what the model learns to predict)",
            "justification": f"the outcome the score predicts, as recorded for the {purpose.subject}",
        }
    )
    return held


def _attribute_value(
    attribute: SensitiveAttribute, account: _Account, corrections: Mapping[str, tuple[Any, int]]
) -> tuple[Any, bool]:
    """Return a sensitive attribute's value as the audit uses it, and whether a correction set it.

    An attribute computed from a feature (``source``) is that feature's band, from its corrected
    value when it was corrected: the file's own column of that name is never read.
    """
    if attribute.source is None:
        corrected = attribute.name in corrections
        return _plain(corrections[attribute.name][0] if corrected else account.row.get(attribute.name)), corrected
    corrected = attribute.source in corrections
    number = pd.to_numeric(
        pd.Series([corrections[attribute.source][0] if corrected else account.row.get(attribute.source)]),
        errors="coerce",
    ).iloc[0]
    if pd.isna(number) or attribute.bins is None or attribute.groups is None:
        return None, corrected
    band = int(np.searchsorted(np.asarray(attribute.bins, dtype=np.float64), float(number), side="right"))
    return attribute.groups[min(band, len(attribute.groups) - 1)], corrected


def _training_use(
    config: GovernanceConfig, pseudonym: str, state: SubjectState, current: Dataset
) -> list[dict[str, Any]]:
    """For each registered version: whether the account was in its data, and on which side of the split.

    A version's data is replayed (the configured file with the ledger entries recorded before
    the version's run started); only when its fingerprint equals the version's recorded
    ``data.sha256`` is the answer known, otherwise it is ``unknown`` (the file changed since).
    ``current`` is the data with every entry of ``state`` applied: the replay of a version trained
    after the latest entry, so it is not prepared again.
    """
    from governance.registry import version_history

    versions = version_history(
        tracking_uri(config),
        registered_model=config.mlflow.registered_model,
        timeout=config.mlflow.timeout_seconds,
        retries=config.mlflow.max_retries,
    )
    names = {0: "train", 1: "validation", 2: "test"}
    # A version's data is the file with the ledger entries recorded before it was trained: prepare
    # it once per number of such entries (usually once), and compare fingerprints.
    times = sorted(e.at for e in state.entries)

    def side(dataset: Dataset) -> tuple[str, str]:
        found = np.flatnonzero(dataset.pseudonyms == pseudonym)
        return dataset.fingerprint, names[int(dataset.split[found[0]])] if len(found) == 1 else "not used"

    prepared: dict[int, tuple[str, str] | None] = {len(times): side(current)}
    replayed: dict[str, str] = {}
    for facts in versions:
        if not facts.data_sha256 or facts.trained_at is None or facts.data_sha256 in replayed:
            continue
        applied = bisect_right(times, stamp(facts.trained_at))
        if applied not in prepared:
            try:
                prepared[applied] = side(prepare(config, as_of=facts.trained_at))
            except DataValidationError:
                prepared[applied] = None
        known = prepared[applied]
        if known is not None and known[0] == facts.data_sha256:
            replayed[facts.data_sha256] = known[1]
    meanings = _use_meanings(config.purpose.subject)
    rows: list[dict[str, Any]] = []
    for facts in versions:
        used = replayed.get(facts.data_sha256)
        rows.append(
            {
                "model_version": facts.version,
                "candidate": facts.candidate,
                "trained_at": None if facts.trained_at is None else _stamp(facts.trained_at),
                "aliases": list(facts.aliases),
                "verdict": facts.verdict,
                "used": used if used is not None else "unknown",
                "meaning": meanings[used if used is not None else "unknown"],
            }
        )
    return rows


def _use_meanings(subject: str) -> dict[str, str]:
    """Say what each use of a row's data by a model version means, with the config's word for a row.

    Parameters
    ----------
    subject
        The word for one row (``purpose.subject``).

    Returns
    -------
    dict
        The meaning of ``train``, ``validation``, ``test``, ``not used`` and ``unknown``.
    """
    data = f"the {subject}'s data"
    return {
        "train": f"the model learned from {data}",
        "validation": f"{data} was used to choose between models, not to fit this one",
        "test": f"{data} was used to audit the model (performance and fairness), not to fit it",
        "not used": f"{data} was not used (no valid consent, or excluded at the time)",
        "unknown": "cannot be told: the data file changed since this version was trained",
    }


def access(
    config: GovernanceConfig,
    account_id: str,
    *,
    now: datetime | None = None,
) -> AccessReport:
    """Report what is held on one account and why it got its score; recorded in the ledger as an ``access`` entry.

    Parameters
    ----------
    config
        The validated config (data, ledger, registered model).
    account_id
        The identifier as the requester knows it; pseudonymized at once, never stored.
    now
        The report's time (default: now, UTC).

    Returns
    -------
    AccessReport
        The report, also recorded in the ledger; for an erased account only ``erased_at``
        (nothing is held about it, so no report is made and nothing new is recorded).

    Raises
    ------
    ConfigError
        (exit 2) No ledger configured.
    DataValidationError
        (exit 2) No account has this identifier.
    PrivacyError
        (exit 4) The ledger fails verification; the champion's files fail their checksum.
    RegistryError
        (exit 3) MLflow or the ledger's files cannot be reached.
    """
    ledger = _ledger_path(config)
    secret = _secret(config)
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    account = _find(config, account_id, secret)
    _guard_ledger(config)
    state = read_state(ledger, secret=secret)
    if account.pseudonym in state.erased:
        # nothing is held about an erased account: no report about it is made, and no new entry names it
        erased = state.erased[account.pseudonym]
        return AccessReport(
            document={"account": {"pseudonym": account.pseudonym}, "status": "erased"}, entry=None, erased_at=erased
        )
    consent, reason = _consent(config, account)
    status, status_text = _status(state, account.pseudonym, reason)
    subject = config.purpose.subject
    document: dict[str, Any] = {
        "schema": ACCESS_SCHEMA,
        "generated_at": _stamp(moment),
        "words": {"subject": subject, "subjects": config.purpose.subjects},
        "account": {
            "pseudonym": account.pseudonym,
            "note": f"the {subject} is named here by its keyed pseudonym; its identifier is neither stored nor shown",
        },
        "controller": {"owner": config.purpose.owner, "contact": config.purpose.contact},
        "purpose": {"intended_use": config.purpose.intended_use, "out_of_scope": list(config.purpose.out_of_scope)},
        "status": status,
        "status_text": status_text,
    }
    document.update(_held_and_used(config, account, state, status, consent))
    document["rights"] = [
        "correct a value: governance subject correct ID --set FIELD=VALUE --reason TEXT",
        "withdraw consent: governance subject withdraw-consent ID",
        "erasure: governance subject erase ID --reason TEXT",
        f"contest the score or give feedback: {config.purpose.contact or 'the model owner'}",
    ]
    entry = append(ledger, secret=secret, kind="access", pseudonym=account.pseudonym, at=moment)
    _anchor_entry(config, entry)
    document["history"] = [e.summary() for e in (*state.history(account.pseudonym), entry)]
    return AccessReport(document=document, entry=entry)


def _held_and_used(
    config: GovernanceConfig, account: _Account, state: SubjectState, status: str, consent: dict[str, Any]
) -> dict[str, Any]:
    """Build the report's consent, held fields, training use and score of an account not erased."""
    held = _held(config, account, state)
    current = prepare(config, subjects=state)  # the ledger was verified and read by the caller
    training = _training_use(config, account.pseudonym, state, current)
    score, score_note = _access_score(config, account.pseudonym, status, current)
    return {
        "consent": {**consent, "withdrawn_at": state.withdrawn.get(account.pseudonym)},
        "held": held,
        "held_note": (
            "Only the declared fields are listed; the columns "
            + ", ".join(config.data.pii_columns or ("(none)",))
            + " are personal data the tool drops on loading and never uses or shows"
        ),
        "training": training,
        "score": score,
        "score_note": score_note,
    }


def _access_score(
    config: GovernanceConfig, pseudonym: str, status: str, dataset: Dataset
) -> tuple[dict[str, Any] | None, str | None]:
    """Score an active account with the champion: score, percentile and reason codes."""
    from governance.explain import explain_account
    from governance.pipeline import check_features

    if status != "active":
        return None, _not_scored(config.purpose.subject)
    champion = _champion(config)
    if isinstance(champion, str):
        return None, champion
    resolved, model = champion
    check_features(model, dataset, resolved)
    explanation = explain_account(model, dataset, pseudonym, config=config, name=resolved.candidate)
    return (
        {
            "model_version": resolved.version,
            "candidate": resolved.candidate,
            "score": explanation.score,
            "percentile": explanation.percentile,
            "accounts": explanation.accounts,
            "text": explanation.score_text,
            "reasons": [r.to_dict() for r in explanation.reasons],
            "reasons_note": "each reason is one feature's contribution (SHAP, in log-odds) to the score; sensitive "
            "attributes are never reasons",
        },
        None,
    )
