"""The columns a data file has, read from its header or schema alone, and the config's columns checked against them.

``governance config check`` uses it to find a misspelt column before anything is trained:
only the CSV header line or the Parquet schema is read, never a row.
"""

from __future__ import annotations

import csv
import difflib
import os
from pathlib import Path

from governance.config import GovernanceConfig
from governance.errors import DataValidationError, Problem

__all__ = ["column_problems", "read_columns"]

_SUFFIXES = (".csv", ".parquet")


def _suffix_problem(file: Path) -> Problem | None:
    """Refuse a data file that is neither CSV nor Parquet (by its suffix)."""
    if file.suffix.lower() in _SUFFIXES:
        return None
    return Problem(
        "data.path",
        f"expected a .csv or .parquet file, found {file.name!r}",
        "export the table as CSV or Parquet and point data.path at it",
    )


def read_columns(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """Return the column names of a CSV (its header line) or Parquet file (its schema), reading no row.

    Parameters
    ----------
    path
        A ``.csv`` or ``.parquet`` file.

    Returns
    -------
    tuple of str
        The columns, in the file's order.

    Raises
    ------
    DataValidationError
        When the file has another suffix, is missing, or its header cannot be read.
    """
    file = Path(path)
    problem = _suffix_problem(file)
    if problem is not None:
        raise DataValidationError([problem])
    if not file.is_file():
        raise DataValidationError([Problem("data.path", f"file not found: {file}", "check the path")])
    try:
        if file.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            return tuple(str(name) for name in pq.read_schema(file).names)
        with file.open("rb") as handle:  # the header line only: the rows are never decoded
            line = handle.readline().decode("utf-8-sig")
        header = next(csv.reader([line]), [])
    except (OSError, ValueError, UnicodeDecodeError, csv.Error) as exc:
        # parser messages can quote the file; do not echo them
        raise DataValidationError(
            [Problem("data.path", f"cannot read the columns of {file.name} ({type(exc).__name__})")]
        ) from None
    return tuple(header)


def _configured(config: GovernanceConfig) -> list[tuple[str, str]]:
    """List every column the config names, with where it names it."""
    data = config.data
    named = [("data.id_column", data.id_column), ("data.label", data.label)]
    named += [(f"data.consent.{key}", column) for key, column in _consent_columns(config)]
    named += [(f"data.pii_columns[{i}]", c) for i, c in enumerate(data.pii_columns)]
    named += [(f"features[{i}].name", f.name) for i, f in enumerate(config.features)]
    named += [(f"sensitive.attributes[{i}].name", a.name) for i, a in enumerate(config.sensitive.attributes)]
    return named


def _consent_columns(config: GovernanceConfig) -> list[tuple[str, str]]:
    """List the per-row consent columns the config reads (none with a dataset-wide basis)."""
    consent = config.data.consent
    pairs = (
        ("column", consent.column),
        ("timestamp_column", consent.timestamp_column),
        ("lawful_basis_column", consent.lawful_basis_column),
    )
    return [(key, column) for key, column in pairs if column] if consent.per_row else []


def column_problems(config: GovernanceConfig, *, read_data: bool = True) -> list[Problem]:
    """Check the data file's suffix, and that every column the config names is in the file.

    A file that ``data.generate`` creates and that does not exist yet is not a problem: its
    columns are the generator's.

    Parameters
    ----------
    config
        The validated config.
    read_data
        Read the file's header (or schema); False checks the suffix only.

    Returns
    -------
    list of Problem
        One per missing column (with the closest column of the file, when one is close), or
        the reason the file cannot be read; empty when all is well.
    """
    file = config.data.path
    problem = _suffix_problem(file)
    if problem is not None:
        return [problem]
    if not read_data or (config.data.generate is not None and not file.exists()):
        return []
    try:
        columns = read_columns(file)
    except DataValidationError as exc:
        return list(exc.problems)
    present = set(columns)
    problems = []
    for where, name in _configured(config):
        if name in present:
            continue
        close = difflib.get_close_matches(name, columns, n=1)
        fix = f"did you mean {close[0]!r}?" if close else f"the file has {len(columns)} columns; check the name"
        problems.append(Problem(where, f"column {name!r} is not in {file.name}", fix))
    return problems
