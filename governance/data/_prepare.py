"""Preparing a dataset: load, apply the ledger, consent, minimize, pseudonymize, split, fingerprint; split counts."""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import pandas as pd

from governance.config import GovernanceConfig, PseudonymKey, SensitiveSpec, pseudonym_key
from governance.data._contract import _is_missing, consent_mask, refuse_personal_data, validate
from governance.errors import DataValidationError, DevelopmentKeyWarning, Problem
from governance.ledger import SubjectState, read_state
from governance.privacy import PSEUDONYM_METHOD, pseudonymize

__all__ = [
    "Dataset",
    "GroupCounts",
    "Pseudonymization",
    "ScopeCounts",
    "Shortfall",
    "Split",
    "SplitCounts",
    "apply_corrections",
    "correctable_fields",
    "load_table",
    "prepare",
    "split_group_counts",
]

SplitName = Literal["train", "validation", "test"]
_SPLIT_CODES: dict[SplitName, int] = {"train": 0, "validation": 1, "test": 2}


@dataclass(frozen=True)
class Pseudonymization:
    """How identifiers were protected; the card shows it."""

    method: str
    development_key: bool


@dataclass(frozen=True)
class Split:
    """One side of the split: features, label, audit attributes and pseudonyms, aligned by row."""

    name: SplitName
    pseudonyms: np.ndarray
    X: pd.DataFrame
    y: np.ndarray
    sensitive: pd.DataFrame

    def __len__(self) -> int:
        """Count the rows of this side."""
        return len(self.y)


@dataclass(frozen=True)
class Dataset:
    """The data a run may use, after consent, minimization and pseudonymization.

    Attributes
    ----------
    source
        The file the data came from.
    rows_in, rows_used
        Rows in the file, and rows left after the consent filter.
    excluded
        Rows excluded before use, by reason (``erased``, ``consent_withdrawn``,
        ``consent_not_given``, ...).
    dropped_columns
        Every column of the file not used, mapped to why (``pii``, ``undeclared``,
        ``consent`` for the consent fields once applied).
    features, categorical
        Declared model features, and the subset treated as categorical.
    pseudonyms
        One keyed pseudonym per row (``str``); the raw identifiers are gone.
    X
        The model matrix: declared features only, never a sensitive attribute.
    y
        The label, ``int8`` 0/1.
    sensitive
        Audit-only attributes (string categories).
    split
        ``int8`` per row: 0 train, 1 validation, 2 test.
    fingerprint
        sha256 of the columns used, in order (pseudonym, features, sensitive, label).
    pseudonymization
        Method, and whether the public development key was used.
    group_sizes
        Accounts per group of each sensitive attribute.
    corrected
        Accounts used with at least one value corrected through the ledger.
    ledger
        The ledger entries applied: their number, and the last one's hash (None: none).
    """

    source: str
    rows_in: int
    rows_used: int
    excluded: Mapping[str, int]
    dropped_columns: Mapping[str, str]
    features: tuple[str, ...]
    categorical: tuple[str, ...]
    label: str
    pseudonyms: np.ndarray
    X: pd.DataFrame
    y: np.ndarray
    sensitive: pd.DataFrame
    split: np.ndarray
    fingerprint: str
    pseudonymization: Pseudonymization
    group_sizes: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    corrected: int = 0
    ledger: tuple[int, str | None] = (0, None)

    def part(self, name: SplitName) -> Split:
        """Rows of one side of the split.

        Parameters
        ----------
        name
            ``train``, ``validation`` or ``test``.

        Returns
        -------
        Split
            Its rows, aligned across features, label, audit attributes and pseudonyms.
        """
        rows = np.flatnonzero(self.split == _SPLIT_CODES[name])
        return Split(
            name=name,
            pseudonyms=self.pseudonyms[rows],
            X=self.X.iloc[rows].reset_index(drop=True),
            y=self.y[rows],
            sensitive=self.sensitive.iloc[rows].reset_index(drop=True),
        )

    @cached_property
    def train(self) -> Split:
        """The training rows."""
        return self.part("train")

    @cached_property
    def validation(self) -> Split:
        """The validation rows (model selection)."""
        return self.part("validation")

    @cached_property
    def test(self) -> Split:
        """The test rows (the audit)."""
        return self.part("test")


# ---------------------------------------------------------------- loading


def load_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CSV or Parquet file (chosen by suffix).

    Parameters
    ----------
    path
        A ``.csv`` or ``.parquet`` file.

    Returns
    -------
    pandas.DataFrame
        The table as the file holds it.

    Raises
    ------
    DataValidationError
        When the file is missing, unreadable or of another format.
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise DataValidationError([Problem("data.path", f"expected a .csv or .parquet file, found {file.name!r}")])
    if not file.is_file():
        raise DataValidationError(
            [Problem("data.path", f"file not found: {file}", "check the path, or add `data.generate` to create it")]
        )
    try:
        if suffix == ".parquet":
            return pd.read_parquet(file)
        # only empty cells are missing: "NA" is North America, "None" an ownership category
        return pd.read_csv(file, low_memory=False, keep_default_na=False, na_values=[""])
    except (OSError, ValueError) as exc:
        # parser messages can quote a line of the file; do not echo them
        raise DataValidationError(
            [Problem("data.path", f"cannot parse {file.name} as {suffix[1:]} ({type(exc).__name__})")]
        ) from None


# ---------------------------------------------------------------- the data-subject ledger

FieldKind = Literal["numeric feature", "categorical feature", "sensitive attribute"]


def correctable_fields(config: GovernanceConfig) -> dict[str, FieldKind]:
    """List the fields a data-subject correction may change, and what kind of value each takes.

    The declared model features and the audit-only sensitive attributes: the data the
    scoring and the audit rest on. Not the identifier, the label (an outcome recorded by
    sales, not a fact about the account a correction could establish), the consent fields
    (consent is given in the consent system of record, and withdrawn with
    ``governance subject withdraw-consent``), personal data columns (never used),
    undeclared columns (never used) or a sensitive attribute computed from a feature
    (``source``: its source is corrected instead, and the attribute follows).

    Parameters
    ----------
    config
        The validated config.

    Returns
    -------
    dict of str to str
        Field name to its kind: ``numeric feature``, ``categorical feature`` or ``sensitive attribute``.
    """
    kinds: dict[str, FieldKind] = {
        f.name: "numeric feature" if f.type == "numeric" else "categorical feature" for f in config.features
    }
    kinds.update(
        dict.fromkeys((a.name for a in config.sensitive.attributes if a.source is None), "sensitive attribute")
    )
    return kinds


def _correction_problem(config: GovernanceConfig, name: str, value: Any) -> str | None:
    """Why a recorded correction no longer fits the config (None: it fits). Never quotes the value."""
    kind = correctable_fields(config).get(name)
    if kind == "numeric feature":
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(float(value)):
            return "the field is numeric now and the recorded value is not a finite number"
    elif kind == "sensitive attribute":
        attr = next(a for a in config.sensitive.attributes if a.name == name)
        if attr.bins is not None:
            if value is None or isinstance(value, bool) or not isinstance(value, int | float):
                return "expected a number for this attribute audited in bands"
            return None
        if not isinstance(value, str):
            return "expected a category (text) for this sensitive attribute"
        if attr.categories is not None and value not in attr.categories:
            return f"the recorded value is not one of the declared categories {list(attr.categories)}"
    elif kind == "categorical feature" and value is not None and not isinstance(value, str | int | float):
        return "expected a category (text)"
    return None


def apply_corrections(
    frame: pd.DataFrame, pseudonyms: np.ndarray, state: SubjectState, config: GovernanceConfig
) -> tuple[pd.DataFrame, int]:
    """Overlay the ledger's corrections on the source values; returns the new table and the accounts corrected.

    Each corrected field takes the value of the latest correction; a field that is no longer
    correctable (no longer declared) is ignored, since it is not used. The input is not changed.

    Parameters
    ----------
    frame
        The source table.
    pseudonyms
        The pseudonym of each of the table's rows.
    state
        The ledger's corrections, by pseudonym.
    config
        The validated config.

    Returns
    -------
    tuple of pandas.DataFrame and int
        The corrected table (a new one) and the number of accounts corrected.

    Raises
    ------
    DataValidationError
        A recorded value that no longer fits the config (a feature declared numeric since,
        a category no longer declared): every problem, by ledger entry and field, never the value.
    """
    if not state.corrections:
        return frame, 0
    kinds = correctable_fields(config)
    rows = pd.Index(pseudonyms).get_indexer(list(state.corrections))
    updates: dict[str, tuple[list[int], list[Any]]] = {}
    problems: list[Problem] = []
    corrected = 0
    for row, (_, values) in zip(rows, state.corrections.items(), strict=True):
        if row < 0:
            continue  # not in this table
        used = False
        for name, (value, seq) in values.items():
            if name not in kinds or name not in frame.columns:
                continue
            problem = _correction_problem(config, name, value)
            if problem is not None:
                problems.append(
                    Problem(
                        f"ledger entry {seq}",
                        f"correction of {name}: {problem}",
                        "record the correction again (governance subject correct)",
                    )
                )
                continue
            target = updates.setdefault(name, ([], []))
            target[0].append(int(row))
            target[1].append(value)
            used = True
        corrected += used
    if problems:
        raise DataValidationError(problems)
    if not updates:
        return frame, 0
    replaced: dict[str, Any] = {}
    for name, (positions, new_values) in updates.items():
        if kinds[name] == "numeric feature":
            column = frame[name].to_numpy(dtype=np.float64, na_value=np.nan).copy()
            column[positions] = [np.nan if v is None else float(v) for v in new_values]
            replaced[name] = column
        else:
            texts = frame[name].astype(object).to_numpy(copy=True)
            texts[positions] = [None if v is None else str(v) for v in new_values]
            replaced[name] = pd.Series(texts, index=frame.index, dtype=object)
    return frame.assign(**replaced), corrected


def _rights_mask(pseudonyms: np.ndarray, state: SubjectState) -> tuple[np.ndarray, dict[str, int]]:
    """Rows the ledger still allows, and the others counted by reason: ``erased`` first, then ``consent_withdrawn``."""
    keep = np.ones(len(pseudonyms), dtype=bool)
    excluded: dict[str, int] = {}
    for reason, pseudonyms_of in (("erased", state.erased), ("consent_withdrawn", state.withdrawn)):
        if not pseudonyms_of:
            continue
        hit = keep & np.isin(pseudonyms, np.asarray(list(pseudonyms_of), dtype=object))
        if hit.any():
            excluded[reason] = int(hit.sum())
        keep &= ~hit
    return keep, excluded


# ---------------------------------------------------------------- split and fingerprint


def _split_codes(ids: pd.Series, strata: np.ndarray, *, validation: float, test: float, seed: int) -> np.ndarray:
    """Assign rows to train / validation / test within each stratum, by a seeded hash of the id."""
    hash_key = hashlib.sha256(f"governance-split-{seed}".encode()).hexdigest()[:16]
    order_key = pd.util.hash_array(ids.astype(str).to_numpy(dtype=object), hash_key=hash_key)
    order = np.lexsort((order_key, strata))
    sorted_strata = strata[order]
    starts = np.flatnonzero(np.r_[True, sorted_strata[1:] != sorted_strata[:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    rank = np.arange(len(order)) - np.repeat(starts, sizes)
    size = np.repeat(sizes, sizes)
    n_test = np.floor(size * test + 0.5)
    n_val = np.floor(size * (test + validation) + 0.5)
    sorted_codes = np.where(rank < n_test, 2, np.where(rank < n_val, 1, 0)).astype(np.int8)
    codes = np.empty(len(order), dtype=np.int8)
    codes[order] = sorted_codes
    return codes


def _column_bytes(series: pd.Series) -> bytes:
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        values = np.where(np.isnan(values), np.nan, values)  # one NaN bit pattern
        return values.astype("<f8").tobytes()
    text = series.astype("string").fillna("\x00<NA>")
    return "\x1f".join(text.tolist()).encode("utf-8")


def _fingerprint(columns: Mapping[str, pd.Series]) -> str:
    digest = hashlib.sha256()
    for name, series in columns.items():
        digest.update(name.encode("utf-8") + b"\x1e")
        digest.update(_column_bytes(series) + b"\x1d")
    return digest.hexdigest()


# ---------------------------------------------------------------- the whole layer


def prepare(
    config: GovernanceConfig,
    *,
    frame: pd.DataFrame | None = None,
    key: PseudonymKey | None = None,
    path: str | os.PathLike[str] | None = None,
    subjects: SubjectState | None = None,
    as_of: datetime | None = None,
) -> Dataset:
    """Load and prepare the data a run may use.

    Parameters
    ----------
    config
        The validated config.
    frame
        The raw table; read from ``path``, else ``config.data.path``, when omitted.
    key
        The pseudonymization key; default: the one resolved into the config by :func:`~governance.config.load_config`.
    path
        Another file with the same columns (a new batch to monitor); default ``config.data.path``.
    subjects
        The ledger's exclusions and corrections to apply; default: read from
        ``config.subjects.ledger`` (verified first). ``SubjectState()`` applies none.
    as_of
        Apply only the ledger entries recorded at or before this time (the data a past run used).

    Returns
    -------
    Dataset
        Consented, minimized, pseudonymized and split data.

    Raises
    ------
    DataValidationError
        Every schema problem at once, a recorded correction that no longer fits, or no usable
        row after the ledger and the consent filter.
    PrivacyError
        A declared feature or audit attribute whose values look like personal data,
        a missing key where one is required, or a ledger that fails verification.
    """
    data = config.data
    source = Path(path) if path is not None else data.path
    raw = _with_sources(load_table(source) if frame is None else frame, config)
    validate(raw, config)
    refuse_personal_data(raw, config)
    secret = _key(config, key)
    rows_in = len(raw)
    state = subjects if subjects is not None else read_state(config.subjects.ledger, secret=secret.secret, as_of=as_of)
    raw, every_pseudonym, excluded, corrected = _apply_ledger(raw, secret, state, config)
    keep, consent_excluded = consent_mask(raw, config)
    excluded.update(consent_excluded)
    if not keep.any():
        raise _nothing_usable(config, rows_in, excluded)
    used = raw.loc[keep].reset_index(drop=True)
    if corrected and not keep.all():
        corrected = int(np.isin(every_pseudonym[keep], np.asarray(list(state.corrections), dtype=object)).sum())
    X, sensitive = _model_matrix(used, config), _audit_attributes(used, config)
    y = used[data.label].astype(np.int8).to_numpy()
    pseudonyms = every_pseudonym[keep]
    return Dataset(
        source=str(source),
        rows_in=rows_in,
        rows_used=len(used),
        excluded=MappingProxyType(excluded),
        dropped_columns=MappingProxyType(_dropped_columns(raw, config)),
        features=config.feature_names,
        categorical=tuple(f.name for f in config.features if f.type == "categorical"),
        label=data.label,
        pseudonyms=pseudonyms,
        X=X,
        y=y,
        sensitive=sensitive,
        split=_split(used[data.id_column], sensitive, y, config),
        fingerprint=_fingerprint(_used_columns(pseudonyms, X, sensitive, y)),
        pseudonymization=Pseudonymization(method=PSEUDONYM_METHOD, development_key=secret.development_key),
        group_sizes=MappingProxyType(_group_sizes(sensitive)),
        corrected=corrected,
        ledger=(len(state.entries), state.entries[-1].hash if state.entries else None),
    )


def _with_sources(raw: pd.DataFrame, config: GovernanceConfig) -> pd.DataFrame:
    """Put each computed attribute's source values in its column, so the data contract checks what is banded.

    A column of the attribute's own name in the file is never read (it could only disagree with
    its source, as a copy the ledger's corrections do not reach); the bands themselves are computed
    after the corrections (:func:`_audit_attributes`). A source that does not hold numbers is
    reported by the check of its feature, once: its attribute's column is then left empty of problems.
    """
    copies: dict[str, pd.Series] = {}
    for attr in config.sensitive.attributes:
        if attr.source is None or attr.source not in raw.columns:
            continue
        column = raw[attr.source]
        numeric = pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype)
        copies[attr.name] = column if numeric else pd.Series(0.0, index=raw.index)
    return raw.assign(**copies) if copies else raw


def _key(config: GovernanceConfig, key: PseudonymKey | None) -> PseudonymKey:
    """Return the key given, else the config's; warn loudly when it is the development key."""
    secret = key if key is not None else pseudonym_key(config)
    if secret.development_key:
        warnings.warn(
            "GOVERNANCE_PSEUDONYM_KEY is not set: identifiers are pseudonymized with the PUBLIC development key, "
            "which anyone can reverse; the card will say so. Set a secret key before using real data.",
            DevelopmentKeyWarning,
            stacklevel=3,
        )
    return secret


def _apply_ledger(
    raw: pd.DataFrame, secret: PseudonymKey, state: SubjectState, config: GovernanceConfig
) -> tuple[pd.DataFrame, np.ndarray, dict[str, int], int]:
    """Pseudonymize, drop the accounts the ledger excludes, overlay its corrections.

    Returns the table, its pseudonyms, the rows excluded by reason and the accounts corrected.
    """
    pseudonyms = pseudonymize(raw[config.data.id_column].tolist(), secret.secret)
    allowed, excluded = _rights_mask(pseudonyms, state)
    if not allowed.all():
        raw = raw.loc[allowed].reset_index(drop=True)
        pseudonyms = pseudonyms[allowed]
    raw, corrected = apply_corrections(raw, pseudonyms, state, config)
    return raw, pseudonyms, excluded, corrected


def _nothing_usable(config: GovernanceConfig, rows_in: int, excluded: Mapping[str, int]) -> DataValidationError:
    """Build the error of a table whose every row the ledger or the consent filter excluded."""
    detail = ", ".join(f"{reason}: {count}" for reason, count in excluded.items()) or "the file is empty"
    return DataValidationError(
        [
            Problem(
                config.data.consent.column or "(rows)",
                f"no row is usable after the consent filter ({rows_in} rows in; excluded {detail})",
                "check the consent fields and data.consent.accepted_lawful_bases",
            )
        ]
    )


def _dropped_columns(raw: pd.DataFrame, config: GovernanceConfig) -> dict[str, str]:
    """Map every column not used to why: ``pii``, ``consent`` or ``undeclared``."""
    data = config.data
    kept_columns = {data.id_column, data.label, *config.feature_names, *config.sensitive.names}
    consent_columns = set(data.consent.columns)
    pii = set(data.pii_columns)
    return {
        str(col): "pii" if col in pii else "consent" if col in consent_columns else "undeclared"
        for col in raw.columns
        if col not in kept_columns
    }


def _model_matrix(used: pd.DataFrame, config: GovernanceConfig) -> pd.DataFrame:
    """Build the model matrix: declared features only, numbers as float64, categories as objects."""
    X = pd.DataFrame(index=pd.RangeIndex(len(used)))
    for feat in config.features:
        column = used[feat.name]
        if feat.type == "categorical":
            X[feat.name] = column.astype("string").astype(object).where(column.notna(), np.nan)
        else:
            X[feat.name] = column.to_numpy(dtype=np.float64, na_value=np.nan)
    return X


def _audit_attributes(used: pd.DataFrame, config: GovernanceConfig) -> pd.DataFrame:
    """Build the audit-only attributes as string categories (missing values grouped when configured).

    An attribute with a ``source`` is banded from its source feature's values, corrections included.
    """
    sensitive = pd.DataFrame(index=pd.RangeIndex(len(used)))
    for attr in config.sensitive.attributes:
        column = used[attr.column]
        values = column.astype("string") if attr.bins is None else _bands(column, attr.bins, attr.groups or ())
        if attr.missing == "group":
            values = values.where(~_is_missing(column), attr.missing_label)
        sensitive[attr.name] = values.astype(object)
    return sensitive


def _bands(column: pd.Series, bins: tuple[float, ...], labels: tuple[str, ...]) -> pd.Series:
    """Put each number in its band: from an edge (included) to the next (excluded); missing stays missing."""
    numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    codes = np.searchsorted(np.asarray(bins, dtype=np.float64), numbers, side="right")
    named = np.asarray(labels, dtype=object)[np.minimum(codes, len(labels) - 1)]
    return pd.Series(named, index=column.index, dtype="string").where(~np.isnan(numbers), pd.NA)


def _split(ids: pd.Series, sensitive: pd.DataFrame, y: np.ndarray, config: GovernanceConfig) -> np.ndarray:
    """Split the rows, stratified by the label and the cross of the sensitive attributes."""
    strata_frame = sensitive.copy()
    strata_frame["__label__"] = y
    strata = strata_frame.groupby(list(strata_frame.columns), sort=True, dropna=False).ngroup().to_numpy()
    split = config.data.split
    return _split_codes(ids, strata, validation=split.validation, test=split.test, seed=split.seed)


def _used_columns(
    pseudonyms: np.ndarray, X: pd.DataFrame, sensitive: pd.DataFrame, y: np.ndarray
) -> dict[str, pd.Series]:
    """List the columns the fingerprint covers, in order: pseudonym, features, sensitive, label."""
    columns: dict[str, pd.Series] = {"pseudonym": pd.Series(pseudonyms)}
    columns.update({name: X[name] for name in X.columns})
    columns.update({f"sensitive:{name}": sensitive[name] for name in sensitive.columns})
    columns["label"] = pd.Series(y)
    return columns


def _group_sizes(sensitive: pd.DataFrame) -> dict[str, Mapping[str, int]]:
    """Count the accounts per group of each sensitive attribute."""
    return {
        name: MappingProxyType(
            {str(k): int(v) for k, v in sensitive[name].value_counts(sort=False).sort_index().items()}
        )
        for name in sensitive.columns
    }


# ---------------------------------------------------------------- group counts per split

#: The rates a too-small denominator leaves unjudged, as the audit defines them.
_UNJUDGED: dict[str, str] = {
    "rows": "no metric of the group is judged",
    "positives": "true positive and false negative rates cannot be judged",
    "negatives": "false positive and true negative rates cannot be judged",
}


@dataclass(frozen=True)
class SplitCounts:
    """Rows of one group on one side of the split, by label."""

    rows: int
    positives: int
    negatives: int


@dataclass(frozen=True)
class Shortfall:
    """Why a group cannot be fully judged on the test split (the audited one).

    Attributes
    ----------
    what
        ``rows`` (below ``sensitive.min_group_size``), ``positives`` or
        ``negatives`` (below ``sensitive.min_events``).
    found, needed
        The group's count on the test split, and the configured minimum.
    """

    what: Literal["rows", "positives", "negatives"]
    found: int
    needed: int

    @property
    def message(self) -> str:
        """One phrase: the count, the minimum it misses, and what cannot be judged."""
        setting = "min_group_size" if self.what == "rows" else "min_events"
        noun = self.what if self.found != 1 else self.what[:-1]
        return f"{self.found:,} {noun}, fewer than {setting} {self.needed:,} ({_UNJUDGED[self.what]})"


@dataclass(frozen=True)
class GroupCounts:
    """One group of a sensitive attribute or intersection, counted on every side of the split.

    Attributes
    ----------
    group
        The group's name; for an intersection the parts joined by ``" & "``, as the audit names them.
    train, validation, test
        Its rows, positives and negatives on each side.
    declared_absent
        A declared category with no row in the data at all.
    shortfalls
        What the group lacks on the test split; empty when it can be judged.
        A group below ``min_group_size`` is not judged at all: its only
        shortfall is ``rows``; otherwise ``positives`` and ``negatives`` as they apply.
    """

    group: str
    train: SplitCounts
    validation: SplitCounts
    test: SplitCounts
    declared_absent: bool = False
    shortfalls: tuple[Shortfall, ...] = ()

    @property
    def insufficient(self) -> bool:
        """Whether the group falls short of a minimum on the test split."""
        return bool(self.shortfalls)


@dataclass(frozen=True)
class ScopeCounts:
    """The groups of one sensitive attribute or configured intersection.

    Attributes
    ----------
    name
        The attribute, or the intersection's attributes joined by ``" & "``.
    parts
        The attributes crossed (one for a single attribute).
    groups
        Groups in sorted order of their parts, then declared categories absent from the data.
    """

    name: str
    parts: tuple[str, ...]
    groups: tuple[GroupCounts, ...]


def _shortfalls(test: SplitCounts, *, min_group_size: int, min_events: int) -> tuple[Shortfall, ...]:
    """List what a group's test counts miss; a group below min_group_size is not judged at all, so only lacks rows."""
    if test.rows < min_group_size:
        return (Shortfall("rows", test.rows, min_group_size),)
    found: list[Shortfall] = []
    if test.positives < min_events:
        found.append(Shortfall("positives", test.positives, min_events))
    if test.negatives < min_events:
        found.append(Shortfall("negatives", test.negatives, min_events))
    return tuple(found)


def split_group_counts(dataset: Dataset, *, sensitive: SensitiveSpec) -> tuple[ScopeCounts, ...]:
    """Rows, positives and negatives per group, per side of the split, for every attribute and intersection.

    Only combinations that occur are counted (an intersection is never
    expanded to the product of its categories); declared categories of a
    single attribute that are absent from the data are listed with zero counts.

    Parameters
    ----------
    dataset
        The prepared data (:func:`prepare`).
    sensitive
        The config's ``sensitive`` section: attributes, intersections,
        ``min_group_size`` and ``min_events``, which decide each group's
        shortfalls on the test split.

    Returns
    -------
    tuple of ScopeCounts
        The single attributes in config order, then the intersections.
    """
    scopes = [(a.name,) for a in sensitive.attributes] + [tuple(i) for i in sensitive.intersections]
    declared = {a.name: a.groups or () for a in sensitive.attributes}
    codes = list(_SPLIT_CODES.values())
    result = []
    for parts in scopes:
        # positional column names: an attribute may be called anything, including a helper column's name
        table = pd.DataFrame({i: dataset.sensitive[p].to_numpy() for i, p in enumerate(parts)})
        table[len(parts)] = dataset.split
        table[len(parts) + 1] = dataset.y.astype(np.int64)
        grouped = table.groupby(list(range(len(parts) + 1)), sort=True, dropna=True)[len(parts) + 1]
        summary = grouped.agg(["size", "sum"])
        counts: dict[tuple[str, ...], dict[int, SplitCounts]] = {}
        keys: list[tuple[Any, ...]] = list(summary.index)  # at least two keys: the parts and the split
        for key, rows, pos in zip(keys, summary["size"].tolist(), summary["sum"].tolist(), strict=True):
            values, code = tuple(map(str, key[:-1])), int(key[-1])
            counts.setdefault(values, {})[code] = SplitCounts(int(rows), int(pos), int(rows) - int(pos))
        absent = [c for c in declared[parts[0]] if (c,) not in counts] if len(parts) == 1 else []
        empty = SplitCounts(0, 0, 0)
        groups = []
        for values, by_split in [*counts.items(), *(((c,), {}) for c in absent)]:
            train, validation, test = (by_split.get(code, empty) for code in codes)
            groups.append(
                GroupCounts(
                    group=" & ".join(values),
                    train=train,
                    validation=validation,
                    test=test,
                    declared_absent=not by_split,
                    shortfalls=_shortfalls(
                        test, min_group_size=sensitive.min_group_size, min_events=sensitive.min_events
                    ),
                )
            )
        result.append(ScopeCounts(name=" & ".join(parts), parts=parts, groups=tuple(groups)))
    return tuple(result)
