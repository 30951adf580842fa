"""Rectification, erasure and consent withdrawal: the rights that change what is held on an account."""

from __future__ import annotations

import math
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import pandas as pd

from governance.config import GovernanceConfig
from governance.data import correctable_fields, prepare
from governance.errors import ConfigError, Problem
from governance.ledger import Entry, SubjectState, Verification, append, read_state, verify
from governance.subjects._access import Score, _champion, _score, _training_use
from governance.subjects._account import _Account, _anchor_entry, _find, _guard_ledger, _ledger_path, _secret
from governance.subjects._feedback import _screened, _sync_feedback

__all__ = ["Correction", "Request", "correct", "erase", "parse_assignments", "verify_ledger", "withdraw_consent"]

MAX_REASON_CHARS: Final = 500
_MAX_CATEGORIES_SHOWN: Final = 20


# ---------------------------------------------------------------- rectification


def parse_assignments(assignments: Sequence[str]) -> dict[str, str]:
    """Parse ``FIELD=VALUE`` texts into a mapping; every malformed or repeated one is reported at once.

    Parameters
    ----------
    assignments
        Texts such as ``employee_count=42``.

    Returns
    -------
    dict of str to str
        Field name to its new value, as text.

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
        source = attributes[name].source if name in attributes else None
        if source is not None:
            problems.append(
                Problem(
                    where,
                    f"expected a correctable field, found {name!r}, which is computed from {source!r} "
                    "each time the data is prepared (sensitive.attributes[].source)",
                    f"correct {source} instead (--set {source}=...): {name} follows it",
                )
            )
            continue
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
        binned = kind == "sensitive attribute" and attributes[name].bins is not None
        if kind == "numeric feature" or binned:
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
        """Return the correction as plain data (the field names, never the values).

        Returns
        -------
        dict
            The correction as JSON-ready data (the field names, never the values).
        """
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
        Why (recorded in the ledger's vault; must name no account).
    now
        When (default: now).

    Returns
    -------
    Correction
        The entry recorded, the fields changed and the scores before and after.

    Raises
    ------
    ConfigError
        (exit 2) A field that cannot be corrected, a value that breaks the data contract, no reason.
    DataValidationError
        (exit 2) No account has this identifier.
    PrivacyError
        (exit 4) The reason holds an identifier, a name or contact details of any row; the ledger fails verification.
    """
    ledger = _ledger_path(config)
    secret = _secret(config)
    account = _find(config, account_id, secret)
    typed = _check_values(config, account, values)
    text = _screened(config, reason, what="--reason", limit=MAX_REASON_CHARS, frame=account.frame)
    _guard_ledger(config)
    state = read_state(ledger, secret=secret)
    if account.pseudonym in state.erased:
        raise ConfigError(
            [
                Problem(
                    "ID",
                    f"the {config.purpose.subject} was erased on {state.erased[account.pseudonym]}; "
                    "nothing is held to correct",
                )
            ]
        )
    champion = _champion(config)
    subject, subjects = config.purpose.subject, config.purpose.subjects
    before, _ = _score(champion, prepare(config, subjects=state), account.pseudonym, subject=subject, subjects=subjects)
    entry = append(
        ledger,
        secret=secret,
        kind="correct",
        pseudonym=account.pseudonym,
        fields=sorted(typed),
        content={"values": typed, "reason": text},
        at=now,
    )
    _anchor_entry(config, entry)
    after, why = _score(champion, prepare(config), account.pseudonym, subject=subject, subjects=subjects)
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
    expiring: Mapping[int, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the request as plain data.

        Returns
        -------
        dict
            The request as JSON-ready data.
        """
        return {
            "pseudonym": self.pseudonym,
            "kind": self.kind,
            "ledger_entry": None if self.entry is None else self.entry.seq,
            "ledger_head": None if self.entry is None else self.entry.hash,
            "recorded_earlier": self.earlier,
            "removed_reports": list(self.removed),
            "feedback_updated_on_versions": list(self.feedback_updated),
            "versions_expiring": {str(v): at for v, at in sorted(self.expiring.items())},
        }


def _remove_reports(config: GovernanceConfig, pseudonym: str, *, access_reports: bool) -> tuple[str, ...]:
    """Delete the reports about this account alone (its reason codes; its access reports on erasure)."""
    reports = config.output.reports
    removed: list[str] = []
    folder = reports / "explanations"
    # explanation-<pseudonym>-v<version>.json per model version (and <pseudonym>.json, the older name)
    targets = [folder / f"{pseudonym}.json", *sorted(folder.glob(f"explanation-{pseudonym}-*"))]
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

    Parameters
    ----------
    config
        The validated config.
    account_id
        The identifier as the requester knows it; pseudonymized at once, never stored.
    reason
        Why (recorded in the ledger's vault; must name no account).
    now
        When (default: now).

    Returns
    -------
    Request
        The entry recorded (None when the account was erased before), the reports removed and the cards updated.

    Raises
    ------
    ConfigError
        (exit 2) No ledger configured; no reason.
    DataValidationError
        (exit 2) No account has this identifier.
    PrivacyError
        (exit 4) The reason holds an identifier, a name or contact details of any row; the ledger fails verification.
    """
    ledger = _ledger_path(config)
    secret = _secret(config)
    account = _find(config, account_id, secret)
    text = _screened(config, reason, what="--reason", limit=MAX_REASON_CHARS, frame=account.frame)
    _guard_ledger(config)
    state = read_state(ledger, secret=secret)
    if account.pseudonym in state.erased:
        removed = _remove_reports(config, account.pseudonym, access_reports=True)
        return Request(account.pseudonym, "erase", None, state.erased[account.pseudonym], removed)
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    versions = sorted(
        {e.model_version for e, _ in state.feedback if e.pseudonym == account.pseudonym and e.model_version}
    )
    # the versions that learned from the account are marked first: if MLflow cannot be reached, nothing is
    # recorded and the request can be made again; marking twice keeps the earliest deadline
    expiring = _mark_trained_with(config, account.pseudonym, state, erased_at=moment)
    entry = append(
        ledger, secret=secret, kind="erase", pseudonym=account.pseudonym, content={"reason": text}, at=moment
    )
    _anchor_entry(config, entry)
    removed = _remove_reports(config, account.pseudonym, access_reports=True)
    updated = _sync_feedback(config, versions, secret=secret) if versions else ()
    return Request(account.pseudonym, "erase", entry, None, removed, updated, expiring)


#: How an access report's training use names the sides of the split a model learned or chose from.
_LEARNED_FROM = frozenset({"train", "validation", "unknown"})


def _mark_trained_with(
    config: GovernanceConfig, pseudonym: str, state: SubjectState, *, erased_at: datetime
) -> dict[int, str]:
    """Tag the registered versions whose data held the account with the end of their grace period.

    A version learned from the account when the account was in its training or validation
    split, or when that cannot be told (the data file changed since): a version only audited
    on it (test split) carries nothing of it.
    """
    from governance.registry import Registry
    from governance.registry.anchor import mark_erasure

    current = prepare(config, subjects=state)
    versions = [
        int(row["model_version"])
        for row in _training_use(config, pseudonym, state, current)
        if row["used"] in _LEARNED_FROM
    ]
    if not versions:
        return {}
    return mark_erasure(
        Registry.for_config(config), versions, erased_at=erased_at, grace_days=config.subjects.erasure_grace_days
    )


def withdraw_consent(
    config: GovernanceConfig, account_id: str, *, reason: str = "", now: datetime | None = None
) -> Request:
    """Record a consent withdrawal: the account is excluded from all later training, scoring and reports.

    Parameters
    ----------
    config
        The validated config.
    account_id
        The identifier as the requester knows it; pseudonymized at once, never stored.
    reason
        Why, optionally (recorded in the ledger's vault; must name no account).
    now
        When (default: now).

    Returns
    -------
    Request
        The entry recorded (None when recorded before) and the reports removed.

    Raises
    ------
    ConfigError, DataValidationError, PrivacyError
        As :func:`erase` (the reason is optional here).
    """
    ledger = _ledger_path(config)
    secret = _secret(config)
    account = _find(config, account_id, secret)
    text = _screened(config, reason, what="--reason", limit=MAX_REASON_CHARS, required=False, frame=account.frame)
    _guard_ledger(config)
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
    _anchor_entry(config, entry)
    removed = _remove_reports(config, account.pseudonym, access_reports=False)
    return Request(account.pseudonym, "withdraw_consent", entry, None, removed)


# ---------------------------------------------------------------- the ledger


def verify_ledger(config: GovernanceConfig, *, expected_head: str | None = None) -> Verification:
    """Verify the config's ledger with the config's key (:func:`governance.ledger.verify`).

    Parameters
    ----------
    config
        The validated config (its ledger and its key).
    expected_head
        The head hash the ledger must end with, when known.

    Returns
    -------
    Verification
        The outcome, naming the first bad entry.
    """
    from governance.registry.anchor import check_config_ledger

    found = verify(_ledger_path(config), secret=_secret(config), expected_head=expected_head)
    if found.ok:
        check_config_ledger(config)  # intact on its own: it must still hold the head anchored in MLflow (exit 4)
    return found
