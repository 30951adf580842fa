"""The account a data-subject request is about, and the ledger and key the config names.

The requester gives an identifier; it is pseudonymized at once with the configured key,
the account found by its pseudonym, and the identifier never stored, logged or printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from governance.config import GovernanceConfig, pseudonym_key
from governance.data import load_table
from governance.errors import ConfigError, DataValidationError, Problem, RegistryError
from governance.ledger import Entry
from governance.privacy import pseudonymize, pseudonymize_one


@dataclass(frozen=True)
class _Account:
    """One account as the source file holds it: its pseudonym and raw row (never leaves this module)."""

    pseudonym: str
    row: pd.Series
    frame: pd.DataFrame  # the whole source table (to validate against and to read categories from)
    position: int


def _ledger_path(config: GovernanceConfig) -> Path:
    """Return the config's ledger; ConfigError when it names none."""
    if config.subjects.ledger is None:
        raise ConfigError(
            [
                Problem(
                    "subjects.ledger",
                    "expected the path of the data-subject ledger, found none",
                    "set subjects.ledger in the config (configs/default.yaml uses ../data/ledger.jsonl)",
                )
            ]
        )
    return config.subjects.ledger


def _secret(config: GovernanceConfig) -> bytes:
    """Return the pseudonymization key resolved into the config."""
    return pseudonym_key(config).secret


def _unknown() -> DataValidationError:
    """Build the error of an identifier no account has (without repeating it)."""
    return DataValidationError(
        [
            Problem(
                "ID",
                "no account in the data has this identifier",
                "check the identifier as it appears in the data's id column (the identifier is not repeated here)",
            )
        ]
    )


def _find(config: GovernanceConfig, account_id: str, secret: bytes) -> _Account:
    """Find the account's source row by pseudonym; DataValidationError (not echoing the id) when absent."""
    from governance.pipeline import ensure_data

    ensure_data(config)
    frame = load_table(config.data.path)
    if config.data.id_column not in frame.columns:
        raise DataValidationError(
            [Problem(config.data.id_column, "missing column (the config declares it as the id column)")]
        )
    pseudonym = pseudonymize_one(account_id, secret)
    every = pseudonymize(frame[config.data.id_column].tolist(), secret)
    found = np.flatnonzero(every == pseudonym)
    if len(found) == 0:
        raise _unknown()
    if len(found) > 1:
        raise DataValidationError(
            [Problem(config.data.id_column, f"{len(found)} rows share this identifier; expected one per account")]
        )
    position = int(found[0])
    return _Account(pseudonym=pseudonym, row=frame.iloc[position], frame=frame, position=position)


def _personal_values(config: GovernanceConfig, account: _Account) -> list[str]:
    """List the account's identifier and personal data: a reason or feedback text must not contain them."""
    names = [config.data.id_column, *config.data.pii_columns]
    return [str(account.row[n]) for n in names if n in account.row.index and pd.notna(account.row[n])]


def _guard_ledger(config: GovernanceConfig) -> None:
    """Refuse a ledger that no longer holds the head anchored in MLflow (exit 4), before a request reads it."""
    from governance.registry.anchor import check_config_ledger

    check_config_ledger(config)


def _anchor_entry(config: GovernanceConfig, entry: Entry) -> None:
    """Anchor the ledger's new head in MLflow once a request is recorded.

    The entry stands either way (the request was answered); when MLflow cannot be reached,
    the next command that reads the ledger anchors it, and the error says so (exit 3).
    """
    from governance.registry.anchor import check_config_ledger

    try:
        check_config_ledger(config)
    except RegistryError as exc:
        raise RegistryError(
            f"{exc}; the request is recorded (ledger entry {entry.seq}), and the next command that reads the ledger "
            "anchors it in MLflow"
        ) from exc
