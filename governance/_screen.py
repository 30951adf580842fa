"""The text screen of a config's data: every row's identifier, names and contact details, read once per command.

:func:`text_screen` builds a :class:`governance.privacy.TextScreen` from the data's id
column and its ``pii_columns``, from a frame the command already holds or else by reading
only those columns from the data file. Every free text a person types (reasons, review
notes, feedback) is checked against it with :func:`governance.privacy.screen_text`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from governance.config import GovernanceConfig
from governance.errors import DataValidationError, Problem
from governance.privacy import TextScreen

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["screen_columns", "text_screen"]


def screen_columns(config: GovernanceConfig) -> tuple[str, ...]:
    """Name the columns a text is screened against: the id column, then the personal data columns.

    Parameters
    ----------
    config
        The validated config.

    Returns
    -------
    tuple of str
        ``data.id_column`` and ``data.pii_columns``, without repeats.
    """
    return tuple(dict.fromkeys((config.data.id_column, *config.data.pii_columns)))


def _read_columns(path: Path, wanted: tuple[str, ...]) -> pd.DataFrame:
    """Read only the ``wanted`` columns the file has (CSV or Parquet), never echoing a cell on failure."""
    import pandas as pd
    import pyarrow.parquet as pq

    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise DataValidationError([Problem("data.path", f"expected a .csv or .parquet file, found {path.name!r}")])
    if not path.is_file():
        raise DataValidationError(
            [
                Problem(
                    "data.path",
                    f"file not found: {path}",
                    "free texts are screened against the data's identifiers and personal data; run the command "
                    "where the data is, or add `data.generate` to create it",
                )
            ]
        )
    try:
        if suffix == ".parquet":
            present = set(pq.read_schema(path).names)
            return pd.read_parquet(path, columns=[c for c in wanted if c in present])
        header = set(pd.read_csv(path, nrows=0).columns)
        columns = [c for c in wanted if c in header]
        return pd.read_csv(path, usecols=columns, dtype=str, keep_default_na=False, na_values=[""])
    except (OSError, ValueError) as exc:
        raise DataValidationError(
            [Problem("data.path", f"cannot parse {path.name} as {suffix[1:]} ({type(exc).__name__})")]
        ) from None


def text_screen(config: GovernanceConfig, frame: pd.DataFrame | None = None) -> TextScreen:
    """Build the screen of every row's identifier and personal data, once for the command.

    Parameters
    ----------
    config
        The validated config (its data file, id column and personal data columns).
    frame
        The source table when the command already loaded it; otherwise only the id and
        personal data columns are read from ``data.path``.

    Returns
    -------
    TextScreen
        The normalized values of every row (erased accounts included: a text must not name them either).

    Raises
    ------
    DataValidationError
        (exit 2) The data file is missing or unreadable.
    """
    wanted = screen_columns(config)
    table = frame if frame is not None else _read_columns(Path(config.data.path), wanted)
    screen = TextScreen()
    for column in wanted:
        if column not in table.columns:
            continue
        values = table[column].tolist()
        if column == config.data.id_column:
            screen.add_identifiers(values)
        else:
            screen.add_personal(values)
    return screen
