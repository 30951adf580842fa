"""What the benchmarks share: the demo config on generated data, and a cap on training rows.

Benchmarks never read or write the repository's data-subject ledger: their data is
generated afresh, so each config points ``subjects.ledger`` at nothing (or at its own folder).
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from governance.config import GovernanceConfig, validate_config
from governance.data import Dataset, prepare
from governance.datasets import write_accounts

ROOT = Path(__file__).resolve().parents[1]
TRAIN_CAP = 200_000


def demo_raw() -> dict[str, Any]:
    """The demo config as plain data, with no data-subject ledger."""
    raw: dict[str, Any] = copy.deepcopy(yaml.safe_load((ROOT / "configs" / "default.yaml").read_text()))
    raw["subjects"] = {"ledger": None}
    return raw


def demo_data(rows: int, folder: Path) -> tuple[GovernanceConfig, Dataset]:
    """The demo config on ``rows`` generated accounts (seed 42, bias 1.0) written in ``folder``, prepared."""
    raw = demo_raw()
    path = folder / f"accounts-{rows}.parquet"
    write_accounts(path, rows=rows, seed=42, bias=1.0)
    raw["data"]["path"] = str(path)
    raw["data"].pop("generate", None)
    config = validate_config(raw, base_dir=ROOT / "configs")  # the policy file is relative to it
    return config, prepare(config)


def capped(dataset: Dataset, cap: int, seed: int) -> tuple[Dataset, int]:
    """The dataset with at most ``cap`` training rows (the others leave every split), and its training rows."""
    train_rows = np.flatnonzero(dataset.split == 0)
    if len(train_rows) <= cap:
        return dataset, len(train_rows)
    dropped = np.random.default_rng(seed).permutation(train_rows)[cap:]
    split = dataset.split.copy()
    split[dropped] = 3
    return dataclasses.replace(dataset, split=split), cap
