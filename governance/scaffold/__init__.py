"""``governance init``: from a data file to a commented config and policy, with nothing invented.

:func:`propose` reads a table (columns, types, counts; never prints a cell value)
and decides, column by column, what each one is: the identifier, the label, personal
data, a sensitive attribute (categories or bands, with a reference group), a consent
column or a model feature. :func:`write_scaffold` writes the config and its policy
file (``<config stem>.policy.yaml``) atomically, and never over an existing file unless
asked. What only a person can say is left as a ``TODO`` that config validation refuses:
why each feature may be used, and the lawful basis of the data when it has no consent
column.

Files: this module decides; ``_text.py`` writes the YAML texts, and holds the generic policy
:data:`DEFAULT_POLICY` (also shipped as ``configs/policies/default.yaml``).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from governance._config_base import bin_labels
from governance._files import atomic_path
from governance.errors import ConfigError, Problem
from governance.privacy import looks_like_pii
from governance.scaffold._text import (
    DEFAULT_POLICY,
    TODO_JUSTIFICATION,
    TODO_REASON,
    ColumnChoice,
    _Attribute,
    _config_text,
    _Consent,
    _number,
    policy_path_of,
)

__all__ = [
    "DEFAULT_POLICY",
    "TODO_JUSTIFICATION",
    "TODO_REASON",
    "ColumnChoice",
    "Scaffold",
    "policy_path_of",
    "propose",
    "write_scaffold",
]

#: Distinct numbers above which a sensitive attribute is audited in bands (the data contract's rule).
_CONTINUOUS_DISTINCT = 50
#: Share of distinct values above which a text column is free text or an identifier, not a category.
_TEXT_DISTINCT_SHARE = 0.5
_MIN_TEXT_DISTINCT = 50

_PII_WORDS = frozenset(
    {
        "name", "names", "firstname", "lastname", "fullname", "surname", "forename", "givenname", "familyname",
        "email", "mail", "emailaddress", "phone", "telephone", "tel", "mobile", "cell", "cellphone", "fax",
        "address", "street", "ssn", "passport", "iban", "dob", "birthdate", "dateofbirth", "nin",
    }
)  # fmt: skip
_PII_JOINED = ("email", "phone", "socialsecurity", "dateofbirth", "birthdate", "firstname", "lastname", "fullname")
_SENSITIVE_HINTS = frozenset(
    {"age", "sex", "gender", "race", "ethnicity", "religion", "nationality", "disability", "marital", "origin"}
)
_ID_NAME = re.compile(r"^(?:[Ii][Dd]|[Kk][Ee][Yy])$|[_\-\s.](?:id|ID|Id|key|KEY|Key)$|[a-z0-9](?:ID|Id)$")
#: weaker names of an identifier, tried only when no column is named like an id
_REF_NAME = re.compile(r"(?i)^(?:ref|uuid|guid)$|[_\-\s.](?:ref|no|nr|number|uuid|guid)$")
_PII_QUALIFIERS = frozenset(
    {"first", "last", "full", "given", "family", "middle", "maiden", "contact", "customer", "client", "applicant",
     "person", "personal", "user", "holder", "owner", "company", "home", "work", "primary", "private", "e", "of",
     "number", "no", "nr", "num", "ip", "postal", "mailing", "birth", "date", "social", "security", "1", "2"}
)  # fmt: skip
_CONSENT_NAME = re.compile(r"(?i)^(consent.*|.*[_\-\s]consent|lawful_?basis.*)$")
_TIME_WORDS = ("time", "date", "timestamp", "_at", "when")


@dataclass(frozen=True)
class Scaffold:
    """A proposed config and its policy, not yet written.

    Parameters
    ----------
    config_path
        Where the config goes.
    policy_path
        Where its policy goes (``<config stem>.policy.yaml``, beside it).
    config_text
        The commented YAML config.
    policy_text
        The commented YAML policy (:data:`DEFAULT_POLICY`).
    columns
        The decision for every column, in the file's order.
    todos
        How many ``TODO`` values the config holds (each refused by ``governance config check``).
    """

    config_path: Path
    policy_path: Path
    config_text: str
    policy_text: str
    columns: tuple[ColumnChoice, ...]
    todos: int


def propose(
    frame: pd.DataFrame,
    *,
    data_path: Path,
    label: str | None,
    config_path: Path,
    id_column: str | None = None,
    sensitive: Sequence[str] = (),
    subject: str = "record",
) -> Scaffold:
    """Decide what every column is and write the config and the policy as text.

    Parameters
    ----------
    frame
        The table (its values are read, never printed, except the label's).
    data_path
        The file it came from (the config names it relative to the config's folder).
    label
        The outcome column: 0/1 or true/false (None: refused, naming the columns that could be one).
    config_path
        Where the config will be written; the policy goes beside it.
    id_column
        The identifier column (default: a column whose name looks like an id and whose values are unique).
    sensitive
        The audit-only attributes.
    subject
        The word for one row (``applicant``, ``person``...).

    Returns
    -------
    Scaffold
        The texts and the decision for every column.

    Raises
    ------
    ConfigError
        With every reason the file cannot be scaffolded (no label, a label that is not binary,
        no identifier, an unknown sensitive column, a subject that is not a word).
    """
    columns = [str(c) for c in frame.columns]
    frame = frame.set_axis(columns, axis=1)
    if label is None:
        raise ConfigError([_no_label(frame)], source=str(data_path))
    chosen_id, attributes = _checked(frame, label, id_column, sensitive, subject, source=str(data_path))
    choices = {label: ColumnChoice(label, "label", _label_detail(frame[label]))}
    choices[chosen_id] = ColumnChoice(chosen_id, "id", "unique on every row; pseudonymized, never a feature")
    for attr in attributes:
        choices[attr.name] = ColumnChoice(attr.name, "sensitive", _attribute_detail(attr))
    consent, consent_choices = _consent(frame, taken=set(choices))
    choices.update(consent_choices)
    features = _features(frame, choices)
    if not features:
        raise ConfigError(
            [Problem("(columns)", "no column is left to be a model feature", "check --id, --label and --sensitive")],
            source=str(data_path),
        )
    text = _config_text(
        len(frame),
        data_path=data_path,
        config_path=config_path,
        stem=data_path.stem,
        label=label,
        id_column=chosen_id,
        subject=subject,
        attributes=attributes,
        consent=consent,
        pii_columns=[c for c in columns if choices[c].role == "pii"],
        features=features,
        left_out=[choices[c] for c in columns if choices[c].role == "left out"],
    )
    return Scaffold(
        config_path=config_path,
        policy_path=policy_path_of(config_path),
        config_text=text,
        policy_text=DEFAULT_POLICY,
        columns=tuple(choices[c] for c in columns),
        todos=sum(line.lstrip().split(":", 1)[-1].strip().startswith('"TODO') for line in text.splitlines()),
    )


def write_scaffold(scaffold: Scaffold, *, force: bool = False) -> None:
    """Write the config and its policy, each atomically (a temporary file renamed over the target).

    Parameters
    ----------
    scaffold
        What :func:`propose` returned.
    force
        Replace files that exist (default: refuse, and write nothing).

    Raises
    ------
    ConfigError
        When a target exists and ``force`` is false; neither file is then written.
    """
    targets = ((scaffold.config_path, scaffold.config_text), (scaffold.policy_path, scaffold.policy_text))
    existing = [path for path, _ in targets if path.exists()]
    if existing and not force:
        raise ConfigError(
            [
                Problem(str(path), "the file exists; init never overwrites a file", "pass --force to replace it")
                for path in existing
            ]
        )
    for path, text in targets:
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")


# ---------------------------------------------------------------- the columns


def _checked(
    frame: pd.DataFrame, label: str, id_column: str | None, sensitive: Sequence[str], subject: str, *, source: str
) -> tuple[str, list[_Attribute]]:
    """Choose the id and the attributes, or refuse with every reason at once."""
    problems = _label_problems(frame, label)
    chosen_id, id_problems = _choose_id(frame, id_column, label)
    problems += id_problems
    attributes, attr_problems = _attributes(frame, sensitive, taken={label, chosen_id or ""})
    problems += attr_problems
    if not re.fullmatch(r"[A-Za-z][A-Za-z -]{0,59}", subject):
        problems.append(
            Problem.for_parameter(
                "subject", f"expected one word for a row (letters), found {subject!r}", "e.g. --subject applicant"
            )
        )
    if problems or chosen_id is None:
        raise ConfigError(problems, source=source)
    return chosen_id, attributes


def _no_label(frame: pd.DataFrame) -> Problem:
    """Refuse to go on without a label, naming the columns that could be one (names only)."""
    two = [str(c) for c in frame.columns if frame[c].nunique() == 2]
    hint = f"; columns with two values: {', '.join(map(repr, two[:10]))}" if two else ""
    return Problem.for_parameter(
        "label",
        "no label given; the score predicts a yes/no outcome, and init never guesses which",
        f"pass --label COLUMN (a 0/1 or true/false column){hint}",
    )


def _features(frame: pd.DataFrame, choices: dict[str, ColumnChoice]) -> list[tuple[str, str, str]]:
    """Decide every column not yet decided: personal data, left out, or a feature (name, kind, note)."""
    features: list[tuple[str, str, str]] = []
    for name in map(str, frame.columns):
        if name in choices:
            continue
        pii = _pii_reason(name, frame[name])
        if pii is not None:
            choices[name] = ColumnChoice(name, "pii", f"{pii}; dropped right after loading, never shown")
            continue
        kind, note = _feature_kind(frame[name])
        if kind is None:
            choices[name] = ColumnChoice(name, "left out", note)
            continue
        features.append((name, kind, note))
        choices[name] = ColumnChoice(name, "feature", kind + (f" ({note})" if note else ""))
    return features


def _close(name: str, columns: Iterable[object]) -> str:
    """Say which column was probably meant, or list the columns."""
    names = [str(c) for c in columns]
    match = difflib.get_close_matches(name, names, n=1)
    if match:
        return f"did you mean {match[0]!r}?"
    shown = ", ".join(repr(c) for c in names[:20])
    return f"the file's columns are {shown}" + (" ..." if len(names) > 20 else "")


def _label_problems(frame: pd.DataFrame, label: str) -> list[Problem]:
    """Refuse a label that is missing from the file, has gaps, or is not binary 0/1 (or true/false)."""
    if label not in frame.columns:
        return [Problem.for_parameter("label", f"no column {label!r} in the file", _close(label, frame.columns))]
    column = frame[label]
    problems = []
    n_missing = int(column.isna().sum())
    if n_missing:
        problems.append(
            Problem.for_parameter("label", f"{n_missing} row(s) have no {label!r}", "drop those rows or label them")
        )
    present = column.dropna()
    if pd.api.types.is_bool_dtype(present.dtype):
        values: list[object] = sorted(set(present.tolist()))
    else:
        values = sorted(set(present.tolist()), key=str)
    binary = pd.api.types.is_bool_dtype(present.dtype) or (
        pd.api.types.is_numeric_dtype(present.dtype) and set(values) <= {0, 1}
    )
    if binary and len(values) == 2:
        return problems
    if binary:
        found = f"only the value {values[0]!r}" if values else "no value"
        problems.append(Problem.for_parameter("label", f"{label!r} holds {found}; a score needs both 0s and 1s"))
    elif len(values) == 2:
        low, high = (str(v) for v in values)
        problems.append(
            Problem.for_parameter(
                "label",
                f"the label must be binary 0/1 (or true/false); {label!r} holds the two values {low!r} and {high!r}",
                f"recode it so that 1 marks the outcome the score predicts, e.g. with pandas "
                f"df[{label!r}] = (df[{label!r}].astype(str) == {high!r}).astype(int), save the file, run init again",
            )
        )
    else:
        shown = ", ".join(repr(str(v)) for v in values[:5]) + (", ..." if len(values) > 5 else "")
        problems.append(
            Problem.for_parameter(
                "label",
                f"the label must be binary 0/1 (or true/false); {label!r} holds {len(values)} distinct values ({shown})",
                "choose a yes/no outcome and recode it as 0/1 (1: the outcome the score predicts)",
            )
        )
    return problems


def _label_detail(column: pd.Series) -> str:
    """Describe a binary label: its share of ones."""
    share = float(column.astype(np.float64).mean())
    return f"binary, {share:.1%} of rows are 1 (the outcome the score predicts)"


def _unique_and_present(column: pd.Series) -> bool:
    """Tell whether every row has a value and no value repeats."""
    return not column.isna().any() and not column.duplicated().any()


def _choose_id(frame: pd.DataFrame, id_column: str | None, label: str) -> tuple[str | None, list[Problem]]:
    """Take ``--id``, else the first id-like column with unique non-missing values."""
    if id_column is not None:
        if id_column not in frame.columns:
            return None, [
                Problem.for_parameter("id", f"no column {id_column!r} in the file", _close(id_column, frame.columns))
            ]
        column = frame[id_column]
        if not _unique_and_present(column):
            dup, miss = int(column.dropna().duplicated().sum()), int(column.isna().sum())
            return None, [
                Problem.for_parameter(
                    "id",
                    f"{id_column!r} does not identify a row: {dup} repeated and {miss} missing value(s)",
                    "pass a column with one distinct value per row, or add one",
                )
            ]
        return id_column, []
    looks = [c for c in frame.columns if _ID_NAME.search(c) and c != label]
    looks += [c for c in frame.columns if _REF_NAME.search(c) and c != label and c not in looks]
    for name in looks:
        if _unique_and_present(frame[name]):
            return name, []
    # no name says "identifier": the one text or integer column (not personal data) of distinct values, if one
    distinct = [
        c
        for c in frame.columns
        if c != label
        and not pd.api.types.is_float_dtype(frame[c].dtype)
        and not pd.api.types.is_bool_dtype(frame[c].dtype)
        and _pii_reason(str(c), frame[c]) is None
        and _unique_and_present(frame[c])
    ]
    if len(distinct) == 1 and len(frame) > 1:
        return str(distinct[0]), []
    seen = f"; {', '.join(map(repr, looks))} look like identifiers but repeat or miss values" if looks else ""
    return None, [
        Problem.for_parameter(
            "id",
            f"no column identifies a row uniquely (looked for columns named id, *_id, *_ref, *_no, ...ID or key with "
            f"unique, non-missing values, and for a single column of distinct values{seen})",
            "add one (a row number, if rows are never updated) or pass --id COLUMN",
        )
    ]


def _attributes(
    frame: pd.DataFrame, names: Sequence[str], *, taken: set[str]
) -> tuple[list[_Attribute], list[Problem]]:
    """Propose every ``--sensitive`` attribute, or say why one cannot be."""
    problems: list[Problem] = []
    attributes: list[_Attribute] = []
    if not names:
        hints = [c for c in frame.columns if set(_tokens(c)) & _SENSITIVE_HINTS]
        seen = f"; columns whose names suggest one: {', '.join(map(repr, hints))}" if hints else ""
        problems.append(
            Problem.for_parameter(
                "sensitive",
                "no sensitive attribute given; the audit compares groups of at least one",
                f"pass --sensitive COLUMN[,COLUMN...]{seen}",
            )
        )
    for name in dict.fromkeys(names):
        if name not in frame.columns:
            problems.append(
                Problem.for_parameter(
                    "sensitive", f"no column {name!r} in the file", _close(name, frame.columns), key=name
                )
            )
        elif name in taken:
            problems.append(
                Problem.for_parameter(
                    "sensitive", f"{name!r} is the label or the id, not an attribute to audit", key=name
                )
            )
        else:
            attributes.append(_attribute(name, frame[name]))
    return attributes, problems


def _attribute(name: str, column: pd.Series) -> _Attribute:
    """Propose categories (every value, sorted) or round bands of a many-valued number, and the largest group."""
    numeric = pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype)
    present = column.dropna()
    bins: tuple[float, ...] | None = None
    categories: tuple[str, ...] | None = None
    if numeric and present.nunique() > _CONTINUOUS_DISTINCT:
        bins = _round_edges(present.to_numpy(dtype=np.float64))
        labels = np.asarray(bin_labels(bins), dtype=object)
        groups = pd.Series(labels[np.searchsorted(np.asarray(bins), present.to_numpy(dtype=np.float64), side="right")])
        order = list(bin_labels(bins))
    else:
        groups = present.astype("string")
        distinct = groups.unique()
        if numeric:
            order = [str(v) for v in sorted(set(present.tolist()))]
            order = [o for o in order if o in set(distinct)] or sorted(map(str, distinct))
        else:
            order = sorted(map(str, distinct))
        categories = tuple(order)
    counts = groups.value_counts()
    reference = max(order, key=lambda g: (int(counts.get(g, 0)), -order.index(g)))
    missing_label = None
    if present.size < column.size:
        missing_label = next(m for m in ("unknown", "missing", "(missing)", "(no value)") if m not in order)
    return _Attribute(name, categories, bins, reference, missing_label, len(order) + (missing_label is not None))


def _nice(step: float) -> float:
    """Round a step down to 1, 2 or 5 times a power of ten."""
    if not step > 0 or not math.isfinite(step):
        return 1.0
    power = 10.0 ** math.floor(math.log10(step))
    return max(m for m in (1.0, 2.0, 5.0) if m * power <= step * (1 + 1e-9)) * power


def _round_edges(values: np.ndarray) -> tuple[float, ...]:
    """Return a few round band edges near the quartiles, each with values on both sides."""
    low, high = float(values.min()), float(values.max())
    q1, q2, q3 = (float(q) for q in np.quantile(values, [0.25, 0.5, 0.75]))
    step = _nice(((q3 - q1) or (high - low)) / 4)
    edges = sorted({round(q / step) * step for q in (q1, q2, q3)})
    kept = [e for e in edges if low < e <= high] or [q2]
    return tuple(float(int(e)) if float(e).is_integer() else round(e, 10) for e in kept)


def _attribute_detail(attr: _Attribute) -> str:
    """Describe a proposed attribute (its groups are written in the config, not printed)."""
    if attr.bins is not None:
        text = f"many numbers: {len(attr.bins) + 1} bands, edges {', '.join(_number(b) for b in attr.bins)}"
    else:
        text = f"{len(attr.categories or ())} categories"
    text += f"; reference: the largest group, {attr.reference!r}"
    if attr.missing_label is not None:
        text += f"; missing values audited as {attr.missing_label!r}"
    return text


def _consent(frame: pd.DataFrame, *, taken: set[str]) -> tuple[_Consent | None, dict[str, ColumnChoice]]:
    """Find per-row consent columns (consent*, *_consent, lawful_basis*): a flag, its time, its basis."""
    found = [c for c in frame.columns if c not in taken and _CONSENT_NAME.match(c)]
    basis = next((c for c in found if "lawful" in c.lower()), None)
    times = [c for c in found if c != basis and any(w in c.lower() for w in _TIME_WORDS)]
    flags = [c for c in found if c != basis and c not in times]
    if not flags:
        return None, {
            c: ColumnChoice(c, "left out", "looks like a consent column, but no consent flag column was found")
            for c in found
        }
    consent = _Consent(flags[0], times[0] if times else None, basis)
    used = [c for c in (consent.column, consent.timestamp_column, consent.lawful_basis_column) if c]
    choices = {c: ColumnChoice(c, "consent", "per-row consent check; never a feature") for c in used}
    choices.update({c: ColumnChoice(c, "left out", "another consent-like column") for c in found if c not in used})
    return consent, choices


def _tokens(name: str) -> list[str]:
    """Split a column name into lower-case words (``contactEmail``, ``contact_email`` -> contact, email)."""
    return [t.lower() for t in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", name)]


def _pii_reason(name: str, column: pd.Series) -> str | None:
    """Say why a column looks like personal data: by its name, or by its values (e-mails, phone numbers)."""
    tokens = _tokens(name)
    joined = "".join(tokens)
    if (tokens and all(t in _PII_WORDS or t in _PII_QUALIFIERS for t in tokens) and set(tokens) & _PII_WORDS) or any(
        joined.endswith(j) for j in _PII_JOINED
    ):
        return "personal data by its name"
    found = looks_like_pii(column)
    return f"holds {found}" if found else None


def _feature_kind(column: pd.Series) -> tuple[str | None, str]:
    """Tell a feature's type by dtype (numeric or categorical); dates and free text are left out (with why)."""
    if pd.api.types.is_bool_dtype(column.dtype):
        return "numeric", "true/false"
    if pd.api.types.is_datetime64_any_dtype(column.dtype) or isinstance(column.dtype, pd.PeriodDtype):
        return None, "dates: derive a number (days since ...) if the score needs one"
    if pd.api.types.is_numeric_dtype(column.dtype):
        distinct = column.nunique()
        if pd.api.types.is_integer_dtype(column.dtype) and distinct <= 10:
            return "numeric", f"{distinct} distinct integers: are they codes?"
        return "numeric", ""
    present = column.dropna()
    distinct = present.nunique()
    if distinct > _MIN_TEXT_DISTINCT and distinct > _TEXT_DISTINCT_SHARE * len(present):
        return None, f"{distinct} distinct texts in {len(present)} rows: free text or an identifier, not categories"
    return "categorical", f"{distinct} categories"
