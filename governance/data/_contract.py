"""The data contract: what a raw table must hold before anything uses it.

:func:`validate` checks a table against the config and raises one
:class:`~governance.errors.DataValidationError` with every problem;
:func:`refuse_personal_data` refuses declared columns whose values look like
personal data; :func:`consent_mask` says which rows may be used, and why the
others may not. Messages never contain cell values: they name columns,
counts and types.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from governance.config import GovernanceConfig
from governance.errors import DataValidationError, PrivacyError, Problem
from governance.privacy import looks_like_pii

__all__ = ["consent_mask", "refuse_personal_data", "validate"]

_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})
_CONTINUOUS_DISTINCT = 50


def _is_missing(series: pd.Series) -> pd.Series:
    """Flag missing values, counting blank strings as missing."""
    missing = series.isna()
    if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
        missing = missing | series.astype("string").str.strip().eq("").fillna(False).astype(bool)
    return missing


def _as_bool(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse a consent flag: (value, recognised) per row; missing counts as not recognised."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.fillna(False).astype(bool), series.notna()
    if pd.api.types.is_numeric_dtype(series.dtype):
        value = series == 1
        return value, series.isin([0, 1])
    text = series.astype("string").str.strip().str.lower()
    value = text.isin(list(_TRUE)).fillna(False).astype(bool)
    known = (value | text.isin(list(_FALSE)).fillna(False)).astype(bool)
    return value, known


def validate(frame: pd.DataFrame, config: GovernanceConfig) -> None:
    """Check a raw table against the config; raise once with every problem.

    Checks: all required columns present; numeric features numeric; a binary
    label without missing values; unique, non-missing identifiers; no missing
    sensitive values (unless the attribute maps them to a group); no
    continuous sensitive attribute; a readable consent flag; at least one row.

    Parameters
    ----------
    frame
        The raw table, as the file holds it.
    config
        The validated config.

    Raises
    ------
    DataValidationError
        Listing every problem, by column, with counts and types, never values.
    """
    data = config.data
    problems: list[Problem] = []
    if len(frame) == 0:
        problems.append(Problem("(rows)", "the file has no rows", "check the export that produced it"))
    problems += _column_problems(frame, config)
    if data.id_column in frame.columns:
        problems += _id_problems(frame[data.id_column], data.id_column)
    if data.label in frame.columns:
        problems += _label_problems(frame[data.label], data.label)
    problems += _numeric_feature_problems(frame, config)
    problems += _sensitive_value_problems(frame, config)
    if data.consent.column is not None and data.consent.column in frame.columns:
        problems += _consent_flag_problems(frame[data.consent.column], data.consent.column)
    if problems:
        raise DataValidationError(problems)


def _column_problems(frame: pd.DataFrame, config: GovernanceConfig) -> list[Problem]:
    """List the declared columns the table lacks."""
    data = config.data
    required: dict[str, str] = {data.id_column: "id column", data.label: "label"}
    required.update({f.name: "feature" for f in config.features})
    required.update({a.name: "sensitive attribute" for a in config.sensitive.attributes})
    consent = data.consent
    # the fix of a missing consent column names the config key, and says which can be null
    fixes: dict[str, str] = {}
    for key, what in (
        ("column", "consent column"),
        ("timestamp_column", "consent timestamp column"),
        ("lawful_basis_column", "lawful basis column"),
    ):
        col = getattr(consent, key)
        if col:
            required[col] = what
            skip = (
                f"or set `data.consent.{key}: null` to skip that check (the card says it was not checked)"
                if key != "column"
                else "or, when the whole dataset has one lawful basis, replace the consent columns with "
                "`data.consent.lawful_basis:` (research, contract, ...) and a `reason:`"
            )
            fixes[col] = f"add it to the data, fix `data.consent.{key}`, {skip}"
    return [
        Problem(
            col,
            f"missing column (the config declares it as the {required[col]})",
            fixes.get(col, "add it to the data or fix the name in the config"),
        )
        for col in required
        if col not in frame.columns
    ]


def _id_problems(ids: pd.Series, name: str) -> list[Problem]:
    """List missing and duplicated identifiers."""
    problems = []
    n_missing = int(_is_missing(ids).sum())
    if n_missing:
        problems.append(Problem(name, f"{n_missing} row(s) have no identifier; expected one per account"))
    n_dup = int(ids[~_is_missing(ids)].duplicated().sum())
    if n_dup:
        problems.append(
            Problem(name, f"{n_dup} duplicated identifier(s); expected one row per account", "deduplicate the accounts")
        )
    return problems


def _label_problems(label: pd.Series, name: str) -> list[Problem]:
    """List missing labels and labels that are not binary 0/1."""
    problems = []
    n_missing = int(label.isna().sum())
    if n_missing:
        problems.append(Problem(name, f"{n_missing} row(s) have no label; expected 0 or 1 on every row"))
    present = label.dropna()
    if pd.api.types.is_bool_dtype(present.dtype):
        return problems
    if not pd.api.types.is_numeric_dtype(present.dtype):
        problems.append(
            Problem(name, f"the label must be binary 0/1, found {present.dtype} values", "encode it as 0/1")
        )
    elif not present.isin([0, 1]).all():
        distinct = present.nunique()
        problems.append(
            Problem(
                name,
                f"the label must be binary 0/1, found {distinct} distinct values outside or besides 0/1",
                "encode it as 0/1",
            )
        )
    return problems


def _numeric_feature_problems(frame: pd.DataFrame, config: GovernanceConfig) -> list[Problem]:
    """List numeric features that hold text, or infinite numbers."""
    problems = []
    for feat in config.features:
        if feat.name not in frame.columns or feat.type != "numeric":
            continue
        column = frame[feat.name]
        if pd.api.types.is_bool_dtype(column.dtype):
            continue
        if not pd.api.types.is_numeric_dtype(column.dtype):
            problems.append(
                Problem(
                    f"features.{feat.name}",
                    f"declared numeric, found {column.dtype} values",
                    "fix the data or declare `type: categorical`",
                )
            )
            continue
        n_inf = int(np.isinf(column.to_numpy(dtype=np.float64, na_value=np.nan)).sum())
        if n_inf:
            problems.append(
                Problem(f"features.{feat.name}", f"{n_inf} infinite value(s); expected finite numbers or missing")
            )
    return problems


def _sensitive_value_problems(frame: pd.DataFrame, config: GovernanceConfig) -> list[Problem]:
    """List sensitive attributes with missing values (unless grouped) or continuous values."""
    problems = []
    for attr in config.sensitive.attributes:
        if attr.name not in frame.columns:
            continue
        column = frame[attr.name]
        n_missing = int(_is_missing(column).sum())
        if n_missing and attr.missing == "error":
            problems.append(
                Problem(
                    attr.name,
                    f"{n_missing} row(s) have no value for this sensitive attribute",
                    f"fill them, or set `missing: group` to audit them as {attr.missing_label!r}",
                )
            )
        numeric = pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype)
        if attr.bins is not None:
            if not numeric:
                problems.append(
                    Problem(
                        attr.name,
                        f"has `bins` but holds {column.dtype} values, not numbers",
                        "remove `bins` and declare its `categories`, or fix the data",
                    )
                )
        elif numeric and column.nunique(dropna=True) > _CONTINUOUS_DISTINCT:
            kind = "integers" if pd.api.types.is_integer_dtype(column.dtype) else "numbers"
            low, high = float(column.min()), float(column.max())
            problems.append(
                Problem(
                    attr.name,
                    f"looks continuous ({column.nunique()} distinct {kind}, from {low:g} to {high:g}); "
                    "expected categories, and each distinct value would be a group too small to judge",
                    f"bin it into bands: add `bins: [{_edges_hint(low, high)}]` to this attribute in "
                    "sensitive.attributes (increasing edges; each band runs from its edge, included, to the next)",
                )
            )
    return problems


def _edges_hint(low: float, high: float) -> str:
    """Propose three round bin edges inside [low, high] (the quartiles of the range, rounded)."""
    span = high - low
    step = 10.0 ** int(np.floor(np.log10(span / 4))) if span > 0 else 1.0
    edges = sorted({round((low + span * q) / step) * step for q in (0.25, 0.5, 0.75)})
    return ", ".join(f"{e:g}" for e in edges)


def _consent_flag_problems(flag: pd.Series, name: str) -> list[Problem]:
    """List consent flags that are present but not a yes/no value."""
    _, known = _as_bool(flag)
    unreadable = int((~known & flag.notna()).sum())
    if not unreadable:
        return []
    return [
        Problem(
            name,
            f"{unreadable} value(s) are not a yes/no consent flag; expected true/false, yes/no or 1/0",
        )
    ]


def refuse_personal_data(frame: pd.DataFrame, config: GovernanceConfig) -> None:
    """Refuse features and audit attributes whose values look like e-mails or phone numbers.

    Parameters
    ----------
    frame
        The raw table.
    config
        The validated config.

    Raises
    ------
    PrivacyError
        Naming every such column and what its values look like, never a value.
    """
    flagged = []
    columns = [(f"features.{f.name}", f.name) for f in config.features]
    columns += [(f"sensitive.{a.name}", a.name) for a in config.sensitive.attributes]
    for where, name in columns:
        if name in frame.columns:
            kind = looks_like_pii(frame[name])
            if kind:
                flagged.append(f"{where}: its values look like {kind}")
    if flagged:
        raise PrivacyError(
            "refusing personal data as model input or audit group: "
            + "; ".join(flagged)
            + ". Remove these columns from the config (list them under data.pii_columns)."
        )


def consent_mask(frame: pd.DataFrame, config: GovernanceConfig) -> tuple[np.ndarray, dict[str, int]]:
    """Tell which rows may be used, and how many are excluded for each reason.

    A row may be used when its consent flag is true, its consent timestamp is
    present (and neither in the future nor older than ``max_age_days``
    relative to ``as_of`` when configured), and its lawful basis is accepted.
    A row failing several checks is counted under the first, in that order.

    Parameters
    ----------
    frame
        The table, with its consent columns.
    config
        The validated config.

    Returns
    -------
    tuple of numpy.ndarray and dict
        A boolean mask of the usable rows, and the rows excluded by reason (reasons with none left out).
    """
    keep = np.ones(len(frame), dtype=bool)
    excluded: dict[str, int] = {}
    for reason, failed in _consent_failures(frame, config):
        hit = keep & failed
        excluded[reason] = int(hit.sum())
        keep &= ~failed
    return keep, {k: v for k, v in excluded.items() if v}


def _consent_failures(frame: pd.DataFrame, config: GovernanceConfig) -> list[tuple[str, np.ndarray]]:
    """List each consent check, in order, with the rows that fail it."""
    consent = config.data.consent
    reasons: list[tuple[str, np.ndarray]] = []
    if consent.column is None:
        # a dataset-wide lawful basis (validated with its reason): no per-row consent check applies
        return reasons
    value, known = _as_bool(frame[consent.column])
    reasons.append(("consent_missing", ~known.to_numpy()))
    reasons.append(("consent_not_given", known.to_numpy() & ~value.to_numpy()))
    if consent.timestamp_column:
        stamps = pd.to_datetime(frame[consent.timestamp_column], errors="coerce", utc=True)
        reasons.append(("consent_timestamp_missing", stamps.isna().to_numpy()))
        if consent.as_of is not None:
            as_of = pd.Timestamp(consent.as_of, tz="UTC") + pd.Timedelta(days=1)
            reasons.append(("consent_timestamp_in_future", (stamps >= as_of).fillna(False).to_numpy(dtype=bool)))
            if consent.max_age_days is not None:
                oldest = as_of - pd.Timedelta(days=consent.max_age_days + 1)
                reasons.append(("consent_expired", (stamps < oldest).fillna(False).to_numpy(dtype=bool)))
    if consent.lawful_basis_column:
        basis = frame[consent.lawful_basis_column].astype("string").str.strip().str.lower()
        accepted = [b.lower() for b in consent.accepted_lawful_bases]
        reasons.append(("lawful_basis_not_accepted", ~basis.isin(accepted).fillna(False).to_numpy(dtype=bool)))
    return reasons
