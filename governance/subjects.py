"""Data-subject rights: access, rectification, erasure, consent withdrawal and feedback.

Each right is one function here and one ``governance`` command; every request is an
entry of the hash-chained ledger (:mod:`governance.ledger`), keyed by the account's
keyed pseudonym, never by its identifier. The identifier the requester gives is
pseudonymized at once with the configured key and never stored, logged or printed.

``access``
    What is held on the account (the declared fields only: model features, audit-only
    sensitive attributes, the recorded outcome), its consent status and lawful basis,
    which registered model versions were trained with it and on which side of the split,
    its current score, percentile and reason codes from the champion, the purpose of the
    scoring, and the ledger's history of the account. No other account's data: the
    percentile is the only figure that involves other accounts.
``correct``
    Validates the new values against the data contract, records them (values in the
    ledger's vault, field names in the entry) and shows the score before and after:
    from then on every command reads the corrected values (corrections overlay the
    source file; :func:`governance.data.prepare`).
``erase`` / ``withdraw_consent``
    The account is excluded from every later training, scoring and report (counted on
    the next card as ``erased`` / ``consent_withdrawn``); the reports already written
    about it alone (its reason codes, its access report) are deleted; an erasure also
    purges what the ledger's vault held about it (its corrections and feedback texts),
    keeping only the pseudonym and the fact of each request. The source system of
    record must delete the row itself: this tool never rewrites the user's data file.
``feedback``
    Stakeholder feedback on a registered model version, recorded in the ledger and
    listed on that version's card (in the registry and the local card files); it is
    :mod:`governance.feedback`, re-exported here.

Models trained before a request still embody the account's data: the next
``governance run`` trains without it. The access report says which versions those are.
"""

from __future__ import annotations

import math
import shutil
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from governance._subject_account import _Account, _find, _ledger_path, _personal_values, _secret
from governance.config import GovernanceConfig, tracking_uri
from governance.data import consent_mask, correctable_fields, prepare
from governance.errors import ConfigError, DataValidationError, Problem
from governance.feedback import MAX_FEEDBACK_CHARS as MAX_FEEDBACK_CHARS  # re-exported: its old home
from governance.feedback import FeedbackOutcome, _sync_feedback, add_feedback
from governance.ledger import Entry, SubjectState, Verification, append, check_text, read_state, stamp, verify

if TYPE_CHECKING:
    from governance.data import Dataset
    from governance.registry import ResolvedModel
    from governance.train import ScoringModel

__all__ = [
    "ACCESS_SCHEMA",
    "AccessReport",
    "Correction",
    "FeedbackOutcome",
    "Request",
    "Score",
    "access",
    "add_feedback",
    "correct",
    "erase",
    "parse_assignments",
    "verify_ledger",
    "withdraw_consent",
]

ACCESS_SCHEMA: Final = "governance.access/1"
MAX_REASON_CHARS: Final = 500
_MAX_CATEGORIES_SHOWN: Final = 20


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

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
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
            f"score {self.score:.3f}, higher than {math.floor(self.percentile)}% of {self.accounts:,} accounts "
            f"(model version {self.model_version}, {self.candidate})"
        )


def _champion(config: GovernanceConfig) -> tuple[ResolvedModel, ScoringModel] | None:
    """Load the champion after its checksum is verified; None when no version holds the alias."""
    from governance.pipeline import load_scoring_model

    try:
        return load_scoring_model(config)
    except ConfigError as exc:
        if any("no version with the alias" in p.message for p in exc.problems):
            return None
        raise


def _score(
    champion: tuple[ResolvedModel, ScoringModel] | None, dataset: Dataset, pseudonym: str
) -> tuple[Score | None, str | None]:
    """Find the account's score in the prepared data, or None and why."""
    from governance.pipeline import check_features

    if champion is None:
        return None, "no model is champion yet, so the account has no current score"
    found = np.flatnonzero(dataset.pseudonyms == pseudonym)
    if len(found) != 1:
        return None, "the account is excluded from scoring (see its status)"
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
        ),
        None,
    )


# ---------------------------------------------------------------- access


@dataclass(frozen=True)
class AccessReport:
    """A data-subject access report (``governance.access/1``), keyed by pseudonym."""

    document: Mapping[str, Any]
    entry: Entry

    @property
    def pseudonym(self) -> str:
        """The account's pseudonym."""
        return str(self.document["account"]["pseudonym"])

    def to_dict(self) -> dict[str, Any]:
        """Return the document."""
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
    from governance.data_checks import _as_bool

    value, known = _as_bool(column)
    return bool(value.iloc[0]) if bool(known.iloc[0]) else None


def _held(config: GovernanceConfig, account: _Account, state: SubjectState) -> list[dict[str, Any]]:
    """List the declared fields held on the account, with the corrections applied and what each is used for."""
    corrections = state.corrections.get(account.pseudonym, {})
    held: list[dict[str, Any]] = []
    for feature in config.features:
        value = account.row.get(feature.name)
        corrected = feature.name in corrections
        held.append(
            {
                "field": feature.name,
                "role": "model feature",
                "value": _plain(corrections[feature.name][0] if corrected else value),
                "corrected": corrected,
                "used_for": "scoring (an input of the model)",
                "justification": feature.justification,
            }
        )
    for attribute in config.sensitive.attributes:
        value = account.row.get(attribute.name)
        corrected = attribute.name in corrections
        held.append(
            {
                "field": attribute.name,
                "role": "sensitive attribute",
                "value": _plain(corrections[attribute.name][0] if corrected else value),
                "corrected": corrected,
                "used_for": "fairness audits only: never an input of the model, never a reason for a score",
                "justification": "to check that the scores treat groups of accounts fairly",
            }
        )
    held.append(
        {
            "field": config.data.label,
            "role": "recorded outcome",
            "value": _plain(account.row.get(config.data.label)),
            "corrected": False,
            "used_for": "training and auditing (what the model learns to predict)",
            "justification": "whether the account bought: the outcome the score predicts",
        }
    )
    return held


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
                "meaning": _USE_MEANING[used if used is not None else "unknown"],
            }
        )
    return rows


_USE_MEANING: Final = {
    "train": "the model learned from the account's data",
    "validation": "the account's data was used to choose between models, not to fit this one",
    "test": "the account's data was used to audit the model (performance and fairness), not to fit it",
    "not used": "the account's data was not used (no valid consent, or excluded at the time)",
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
    state = read_state(ledger, secret=secret)
    consent, reason = _consent(config, account)
    status, status_text = _status(state, account.pseudonym, reason)
    document: dict[str, Any] = {
        "schema": ACCESS_SCHEMA,
        "generated_at": _stamp(moment),
        "account": {
            "pseudonym": account.pseudonym,
            "note": "the account is named here by its keyed pseudonym; its identifier is neither stored nor shown",
        },
        "controller": {"owner": config.purpose.owner, "contact": config.purpose.contact},
        "purpose": {"intended_use": config.purpose.intended_use, "out_of_scope": list(config.purpose.out_of_scope)},
        "status": status,
        "status_text": status_text,
    }
    if status == "erased":
        document.update(
            {
                "consent": None,
                "held": [],
                "held_note": "the account was erased: no value of it is used or reported any more",
                "training": [],
                "score": None,
                "score_note": "erased accounts are not scored",
            }
        )
    else:
        document["consent"] = {**consent, "withdrawn_at": state.withdrawn.get(account.pseudonym)}
        document["held"] = _held(config, account, state)
        document["held_note"] = (
            "Only the declared fields are listed; the columns "
            + ", ".join(config.data.pii_columns or ("(none)",))
            + " are personal data the tool drops on loading and never uses or shows"
        )
        current = prepare(config, subjects=state)  # the ledger was verified and read just above
        document["training"] = _training_use(config, account.pseudonym, state, current)
        document["score"], document["score_note"] = _access_score(config, account.pseudonym, status, current)
    document["rights"] = [
        "correct a value: governance subject correct ID --set FIELD=VALUE --reason TEXT",
        "withdraw consent: governance subject withdraw-consent ID",
        "erasure: governance subject erase ID --reason TEXT",
        f"contest the score or give feedback: {config.purpose.contact or 'the model owner'}",
    ]
    entry = append(ledger, secret=secret, kind="access", pseudonym=account.pseudonym, at=moment)
    document["history"] = [e.summary() for e in (*state.history(account.pseudonym), entry)]
    return AccessReport(document=document, entry=entry)


def _access_score(
    config: GovernanceConfig, pseudonym: str, status: str, dataset: Dataset
) -> tuple[dict[str, Any] | None, str | None]:
    """Score an active account with the champion: score, percentile and reason codes."""
    from governance.explain import explain_account
    from governance.pipeline import check_features

    if status != "active":
        return None, "the account is excluded from scoring (see its status)"
    champion = _champion(config)
    if champion is None:
        return None, "no model is champion yet, so the account has no current score"
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


# ---------------------------------------------------------------- rectification


def parse_assignments(assignments: Sequence[str]) -> dict[str, str]:
    """``FIELD=VALUE`` texts as a mapping; every malformed or repeated one is reported at once.

    Raises
    ------
    ConfigError
        (exit 2) Naming each bad assignment by position (its value is not repeated).
    """
    problems: list[Problem] = []
    parsed: dict[str, str] = {}
    if not assignments:
        problems.append(Problem("--set", "expected at least one FIELD=VALUE, found none"))
    for i, text in enumerate(assignments, start=1):
        name, sep, value = text.partition("=")
        name = name.strip()
        if not sep or not name:
            problems.append(Problem(f"--set #{i}", "expected FIELD=VALUE", "for example --set web_visits_30d=42"))
        elif name in parsed:
            problems.append(Problem(f"--set #{i}", f"{name} is set twice", "set each field once"))
        else:
            parsed[name] = value.strip()
    if problems:
        raise ConfigError(problems)
    return parsed


def _check_values(config: GovernanceConfig, account: _Account, wanted: Mapping[str, str]) -> dict[str, Any]:
    """Typed, validated new values; every problem at once, never quoting another account's value."""
    kinds = correctable_fields(config)
    attributes = {a.name: a for a in config.sensitive.attributes}
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    for name, text in wanted.items():
        kind = kinds.get(name)
        where = f"--set {name}"
        if kind is None:
            problems.append(
                Problem(
                    where,
                    f"expected a correctable field ({', '.join(kinds)}), found {name[:60]!r}",
                    "the identifier, the recorded outcome, the consent fields and personal data columns are not "
                    "corrected here (consent: governance subject withdraw-consent)",
                )
            )
            continue
        column = account.frame[name] if name in account.frame.columns else pd.Series([], dtype=object)
        if text == "":
            if kind == "sensitive attribute" and attributes[name].missing != "group":
                problems.append(Problem(where, "expected a value; this attribute may not be missing"))
            else:
                values[name] = None
            continue
        if kind == "numeric feature":
            try:
                number = float(text)
            except ValueError:
                problems.append(Problem(where, f"expected a number, found {text[:40]!r}"))
                continue
            if not math.isfinite(number):
                problems.append(Problem(where, f"expected a finite number, found {text[:40]!r}"))
                continue
            present = pd.to_numeric(column, errors="coerce").dropna()
            if len(present) and bool((present >= 0).all()) and number < 0:
                problems.append(Problem(where, f"expected a number >= 0 (the field is never negative), found {text}"))
                continue
            if len(present) and bool((present == present.round()).all()) and number != round(number):
                problems.append(Problem(where, f"expected a whole number (the field counts), found {text}"))
                continue
            values[name] = int(number) if number == round(number) and abs(number) < 2**53 else number
        else:
            attribute = attributes.get(name)
            if attribute is not None and attribute.categories is not None:
                allowed = sorted(attribute.categories)
            else:
                allowed = sorted({str(v) for v in column.dropna().tolist()})
            if text not in allowed:
                shown = ", ".join(allowed[:_MAX_CATEGORIES_SHOWN]) + (
                    " ..." if len(allowed) > _MAX_CATEGORIES_SHOWN else ""
                )
                problems.append(
                    Problem(where, f"expected one of the field's categories ({shown}), found {text[:40]!r}")
                )
                continue
            values[name] = text
    if problems:
        raise ConfigError(problems)
    return values


@dataclass(frozen=True)
class Correction:
    """What :func:`correct` recorded and what it changed."""

    pseudonym: str
    entry: Entry
    fields: tuple[str, ...]
    before: Score | None
    after: Score | None
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        """Plain data (the field names, never the values)."""
        return {
            "pseudonym": self.pseudonym,
            "ledger_entry": self.entry.seq,
            "ledger_head": self.entry.hash,
            "fields": list(self.fields),
            "score_before": None if self.before is None else self.before.to_dict(),
            "score_after": None if self.after is None else self.after.to_dict(),
            "note": self.note,
        }


def correct(
    config: GovernanceConfig,
    account_id: str,
    values: Mapping[str, str],
    *,
    reason: str,
    now: datetime | None = None,
) -> Correction:
    """Record a correction of the account's values and score it before and after with the champion.

    Parameters
    ----------
    config
        The validated config.
    account_id
        The identifier as the requester knows it.
    values
        Field name to new value, as text (``""``: the value is unknown); see :func:`parse_assignments`.
    reason
        Why (recorded in the ledger's vault; must not name the account).
    now
        When (default: now).

    Raises
    ------
    ConfigError
        (exit 2) A field that cannot be corrected, a value that breaks the data contract, no reason.
    DataValidationError
        (exit 2) No account has this identifier.
    PrivacyError
        (exit 4) The reason holds personal data; the ledger fails verification.
    """
    ledger = _ledger_path(config)
    secret = _secret(config)
    account = _find(config, account_id, secret)
    typed = _check_values(config, account, values)
    text = check_text(reason, what="--reason", limit=MAX_REASON_CHARS, forbidden=_personal_values(config, account))
    state = read_state(ledger, secret=secret)
    if account.pseudonym in state.erased:
        raise ConfigError(
            [Problem("ID", f"the account was erased on {state.erased[account.pseudonym]}; nothing is held to correct")]
        )
    champion = _champion(config)
    before, _ = _score(champion, prepare(config, subjects=state), account.pseudonym)
    entry = append(
        ledger,
        secret=secret,
        kind="correct",
        pseudonym=account.pseudonym,
        fields=sorted(typed),
        content={"values": typed, "reason": text},
        at=now,
    )
    after, why = _score(champion, prepare(config), account.pseudonym)
    return Correction(
        pseudonym=account.pseudonym, entry=entry, fields=tuple(sorted(typed)), before=before, after=after, note=why
    )


# ---------------------------------------------------------------- erasure and consent withdrawal


@dataclass(frozen=True)
class Request:
    """What :func:`erase` or :func:`withdraw_consent` recorded (``entry`` None: it was recorded before)."""

    pseudonym: str
    kind: str
    entry: Entry | None
    earlier: str | None
    removed: tuple[str, ...] = ()
    feedback_updated: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return {
            "pseudonym": self.pseudonym,
            "kind": self.kind,
            "ledger_entry": None if self.entry is None else self.entry.seq,
            "ledger_head": None if self.entry is None else self.entry.hash,
            "recorded_earlier": self.earlier,
            "removed_reports": list(self.removed),
            "feedback_updated_on_versions": list(self.feedback_updated),
        }


def _remove_reports(config: GovernanceConfig, pseudonym: str, *, access_reports: bool) -> tuple[str, ...]:
    """Delete the reports about this account alone (its reason codes; its access reports on erasure)."""
    reports = config.output.reports
    removed: list[str] = []
    targets = [reports / "explanations" / f"{pseudonym}.json"]
    if access_reports:
        targets.append(reports / "subjects" / pseudonym)
    for target in targets:
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        else:
            continue
        removed.append(str(target.relative_to(reports)))
    return tuple(removed)


def erase(config: GovernanceConfig, account_id: str, *, reason: str, now: datetime | None = None) -> Request:
    """Record an erasure: the account is excluded from all later use and the ledger's records of it purged.

    An account already erased is not recorded twice (``entry`` None, ``earlier`` its date).

    Raises
    ------
    ConfigError
        (exit 2) No ledger configured; no reason.
    DataValidationError
        (exit 2) No account has this identifier.
    PrivacyError
        (exit 4) The reason names the account or holds contact details; the ledger fails verification.
    """
    ledger = _ledger_path(config)
    secret = _secret(config)
    account = _find(config, account_id, secret)
    text = check_text(reason, what="--reason", limit=MAX_REASON_CHARS, forbidden=_personal_values(config, account))
    state = read_state(ledger, secret=secret)
    if account.pseudonym in state.erased:
        removed = _remove_reports(config, account.pseudonym, access_reports=True)
        return Request(account.pseudonym, "erase", None, state.erased[account.pseudonym], removed)
    versions = sorted(
        {e.model_version for e, _ in state.feedback if e.pseudonym == account.pseudonym and e.model_version}
    )
    entry = append(ledger, secret=secret, kind="erase", pseudonym=account.pseudonym, content={"reason": text}, at=now)
    removed = _remove_reports(config, account.pseudonym, access_reports=True)
    updated = _sync_feedback(config, versions, secret=secret) if versions else ()
    return Request(account.pseudonym, "erase", entry, None, removed, updated)


def withdraw_consent(
    config: GovernanceConfig, account_id: str, *, reason: str = "", now: datetime | None = None
) -> Request:
    """Record a consent withdrawal: the account is excluded from all later training, scoring and reports.

    Raises
    ------
    ConfigError, DataValidationError, PrivacyError
        As :func:`erase` (the reason is optional here).
    """
    ledger = _ledger_path(config)
    secret = _secret(config)
    account = _find(config, account_id, secret)
    text = check_text(
        reason, what="--reason", limit=MAX_REASON_CHARS, required=False, forbidden=_personal_values(config, account)
    )
    state = read_state(ledger, secret=secret)
    if account.pseudonym in state.erased:
        return Request(account.pseudonym, "withdraw_consent", None, state.erased[account.pseudonym])
    if account.pseudonym in state.withdrawn:
        removed = _remove_reports(config, account.pseudonym, access_reports=False)
        return Request(account.pseudonym, "withdraw_consent", None, state.withdrawn[account.pseudonym], removed)
    entry = append(
        ledger,
        secret=secret,
        kind="withdraw_consent",
        pseudonym=account.pseudonym,
        content={"reason": text} if text else None,
        at=now,
    )
    removed = _remove_reports(config, account.pseudonym, access_reports=False)
    return Request(account.pseudonym, "withdraw_consent", entry, None, removed)


# ---------------------------------------------------------------- the ledger


def verify_ledger(config: GovernanceConfig, *, expected_head: str | None = None) -> Verification:
    """:func:`governance.ledger.verify` on the config's ledger with the config's key."""
    return verify(_ledger_path(config), secret=_secret(config), expected_head=expected_head)
