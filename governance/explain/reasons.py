"""Reason codes: why one account got its score, in plain words.

Reason codes (:func:`explain_account`)
    One account's largest contributions in plain words, with its value's
    place among all accounts of the data: ``42 website visits in the last 30
    days, more than 90% of accounts: raises the score``. Only the account's
    own feature values appear; never its identifier, never another account's
    data, never a sensitive attribute. A coded category reads as its words
    from the feature's ``describe_values`` (:func:`_phrase`), and the rows are
    counted with the config's word for one (``purpose.subjects``: ``12% of
    applicants``).
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from governance.errors import DataValidationError, Problem
from governance.explain._common import _json_float
from governance.explain.sampling import _background
from governance.explain.values import _SPACE_NOTE, SPACE, Method, ShapValues, shap_values

if TYPE_CHECKING:
    from governance.config import Feature, GovernanceConfig
    from governance.data import Dataset
    from governance.train import ScoringModel

__all__ = ["AccountExplanation", "Reason", "account_row", "explain_account"]

# ---------------------------------------------------------------- reason codes


@dataclass(frozen=True)
class Reason:
    """One reason for an account's score: its value of a feature and which way it moves the score.

    ``share_lower`` / ``share_equal`` / ``share_higher``: the shares of accounts
    whose value is below, equal to and above this account's (numbers);
    ``share_equal`` alone for a category.
    """

    feature: str
    value: float | str | None
    contribution: float
    direction: Literal["raises", "lowers"]
    text: str
    share_lower: float | None = None
    share_equal: float | None = None
    share_higher: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        value = self.value
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        return {
            "feature": self.feature,
            "value": value,
            "contribution": self.contribution,
            "direction": self.direction,
            "text": self.text,
            "share_lower": _json_float(self.share_lower),
            "share_equal": _json_float(self.share_equal),
            "share_higher": _json_float(self.share_higher),
        }


@dataclass(frozen=True)
class AccountExplanation:
    """Why one account got its score, in plain words; keyed by its pseudonym, never its identifier."""

    pseudonym: str
    candidate: str
    score: float
    percentile: float
    accounts: int
    log_odds: float
    base_value: float
    method: Method
    explainer: str
    reasons: tuple[Reason, ...]
    held_fixed: str | None
    additivity_error: float
    space: str = SPACE
    subject: str = "account"
    subjects: str = "accounts"

    @property
    def score_text(self) -> str:
        """The score and its place among all scored rows, counted with the config's word for them."""
        return (
            f"score {self.score:.3f}, higher than {math.floor(self.percentile)}% of {self.accounts:,} {self.subjects}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the ``governance.reasons/1`` document (without the model's lineage, which the caller adds)."""
        return {
            "schema": "governance.reasons/1",
            "pseudonym": self.pseudonym,
            "candidate": self.candidate,
            "score": self.score,
            "percentile": self.percentile,
            "accounts": self.accounts,
            "score_text": self.score_text,
            "subject": self.subject,
            "subjects": self.subjects,
            "space": self.space,
            "space_note": _SPACE_NOTE,
            "log_odds": self.log_odds,
            "base_value": self.base_value,
            "method": self.method,
            "explainer": self.explainer,
            "additivity_error": _json_float(self.additivity_error),
            "held_fixed": None
            if self.held_fixed is None
            else {
                "attribute": self.held_fixed,
                "note": "the model also reads this sensitive attribute when it scores; it is held fixed at the "
                f"{self.subject}'s own value and is never a reason",
            },
            "reasons": [r.to_dict() for r in self.reasons],
        }


def _words(name: str) -> str:
    """Return a feature name as words."""
    return name.replace("_", " ")


def _format_value(value: float) -> str:
    """Return a number as an account's value is printed (thousands separated, three significant digits)."""
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _phrase(feature: Feature | None, name: str, value: str) -> str:
    """Return the feature's value in words, from its ``describe`` phrase and ``describe_values`` words when declared.

    A code named in ``describe_values`` reads as its words: in the ``describe``
    phrase when there is one (``"checking account: {value}"`` and ``A11:
    "checking balance below 0"`` read ``checking account: checking balance
    below 0``), else as the words alone (``checking balance below 0``: the
    words are written to be read, so they need no feature name before them;
    declare ``describe`` to add one). A code not named there reads as itself,
    in the ``describe`` phrase or the default one (``checking status is A15``,
    or ``employee count of 1,200`` for a number).

    Parameters
    ----------
    feature
        The declared feature (None: not declared, the default phrase).
    name
        The feature's name.
    value
        The value as text: a category's code, or a formatted number.

    Returns
    -------
    str
        The value in words.
    """
    described = feature is not None and value in (feature.describe_values or {})
    words = feature.value_words(value) if feature is not None else value
    template = feature.describe if feature is not None and feature.describe else None
    if template is None:
        if described:
            return words
        categorical = feature is not None and feature.type == "categorical"
        template = f"{_words(name)} is {{value}}" if categorical else f"{_words(name)} of {{value}}"
    return string.Formatter().vformat(template, (), {"value": words})


def _percent(share: float) -> str:
    """Return a share as a whole percentage, rounded down."""
    return f"{math.floor(100.0 * share + 1e-9)}%"


def _reason(
    name: str,
    raw: Any,
    contribution: float,
    column: pd.Series,
    *,
    feature: Feature | None,
    categorical: bool,
    subjects: str = "accounts",
) -> Reason:
    """Return a reason in plain words, with the value's place among all rows of the data (counted as ``subjects``)."""
    direction: Literal["raises", "lowers"] = "raises" if contribution > 0 else "lowers"
    effect = f"{direction} the score"
    missing = raw is None or (isinstance(raw, float) and math.isnan(raw)) or bool(pd.isna(raw))
    if missing:
        text = f"no {_words(name)} recorded: {effect}"
        share = float(column.isna().mean()) if len(column) else None
        return Reason(name, None, contribution, direction, text, share_equal=share)
    if categorical:
        value = str(raw)
        share = float((column.astype(str) == value).mean())
        text = f"{_phrase(feature, name, value)} ({_percent(share)} of {subjects}): {effect}"
        return Reason(name, value, contribution, direction, text, share_equal=share)
    number = float(raw)
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    values = values[np.isfinite(values)]
    lower = float((values < number).mean()) if len(values) else 0.0
    equal = float((values == number).mean()) if len(values) else 0.0
    higher = float((values > number).mean()) if len(values) else 0.0
    if equal >= 0.5:
        place = f"the same as {_percent(equal)} of {subjects}"
    elif lower >= higher:
        place = f"more than {_percent(lower)} of {subjects}"
    else:
        place = f"less than {_percent(higher)} of {subjects}"
    text = f"{_phrase(feature, name, _format_value(number))}, {place}: {effect}"
    return Reason(name, number, contribution, direction, text, lower, equal, higher)


def account_row(dataset: Dataset, pseudonym: str) -> int:
    """Return the position of the account with this pseudonym in the prepared data.

    Raises
    ------
    DataValidationError
        When no usable account has it: unknown, or excluded for lack of consent.
        The two are not told apart (whether a record exists is itself personal
        data about an account that withheld consent), and the identifier is not
        repeated.
    """
    found = np.flatnonzero(dataset.pseudonyms == pseudonym)
    if len(found) != 1:
        raise DataValidationError(
            [
                Problem(
                    "--account",
                    "no usable account has this identifier: it is unknown, or excluded because it has no valid "
                    "consent (excluded accounts are never scored or explained)",
                    "check the identifier as it appears in the data's id column",
                )
            ]
        )
    return int(found[0])


def explain_account(
    model: ScoringModel,
    dataset: Dataset,
    pseudonym: str,
    *,
    config: GovernanceConfig,
    name: str,
    scores: np.ndarray | None = None,
) -> AccountExplanation:
    """Why one account got its score: its largest SHAP contributions, in plain words.

    Parameters
    ----------
    model
        The fitted candidate (the champion, or a named version).
    dataset
        The prepared data: the account, the distribution its values are compared
        with, the background accounts, and every account's score for its percentile.
    pseudonym
        The account's keyed pseudonym (never the raw identifier).
    config
        The config (``explain.reason_codes``, ``explain.background_size``, the features' ``describe`` and
        ``describe_values``, ``purpose.subject`` for the words of the text).
    name
        The candidate's name, for the record.
    scores
        Every account's score, when already computed (else computed here).

    Returns
    -------
    AccountExplanation
        Score, percentile and up to ``explain.reason_codes`` reasons; deterministic.

    Raises
    ------
    DataValidationError
        When no usable account has this pseudonym: unknown, or excluded for lack
        of consent (the two are not told apart, and the identifier is not repeated).
    """
    row = account_row(dataset, pseudonym)
    spec = config.explain
    X = dataset.X.iloc[[row]].reset_index(drop=True)
    sensitive = dataset.sensitive.iloc[[row]].reset_index(drop=True)
    values = shap_values(
        model,
        X,
        sensitive,
        background=_background(dataset, size=spec.background_size, seed=spec.seed),
        seed=spec.seed,
    )
    every = model.scores(dataset.X, dataset.sensitive) if scores is None else scores
    score = float(every[row])
    declared = {f.name: f for f in config.features}
    subjects = config.purpose.subjects
    reasons = _reasons(values, X, dataset, declared=declared, limit=spec.reason_codes, subjects=subjects)
    return AccountExplanation(
        pseudonym=pseudonym,
        candidate=name,
        score=score,
        percentile=100.0 * float((every < score).mean()),
        accounts=len(every),
        log_odds=float(values.output[0]),
        base_value=float(values.base_values[0]),
        method=values.method,
        explainer=values.explainer,
        reasons=reasons,
        held_fixed=values.held_fixed,
        additivity_error=values.additivity_error,
        subject=config.purpose.subject,
        subjects=subjects,
    )


def _reasons(
    values: ShapValues,
    X: pd.DataFrame,
    dataset: Dataset,
    *,
    declared: Mapping[str, Feature],
    limit: int,
    subjects: str,
) -> tuple[Reason, ...]:
    """Return the account's ``limit`` largest non-zero contributions as reasons, the largest first."""
    contributions = values.values[0]
    ranked = sorted(range(len(values.features)), key=lambda j: (-abs(contributions[j]), j))
    reasons = []
    for j in ranked[:limit]:
        if contributions[j] == 0.0:
            continue
        feature = values.features[j]
        reasons.append(
            _reason(
                feature,
                X.at[0, feature],
                float(contributions[j]),
                dataset.X[feature],
                feature=declared.get(feature),
                categorical=feature in dataset.categorical,
                subjects=subjects,
            )
        )
    return tuple(reasons)
