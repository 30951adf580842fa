"""Shared fixtures of the explanation tests: a config, 4,000 prepared accounts, every kind of candidate trained."""

from __future__ import annotations

import copy
from typing import Any

import pandas as pd
import pytest

from governance.config import Candidate, GovernanceConfig, validate_config
from governance.data import Dataset, prepare
from governance.train import TrainedCandidate, train_candidate
from tests.conftest import TEST_KEY

SMALL_LGBM = {"n_estimators": 30, "num_leaves": 7}
# every kind of candidate: the three estimators plain, and each mitigation
KINDS: dict[str, dict[str, Any]] = {
    "logistic_regression": {"kind": "logistic_regression"},
    "hist_gradient_boosting": {"kind": "hist_gradient_boosting", "params": {"max_iter": 30}},
    "lightgbm": {"kind": "lightgbm", "params": SMALL_LGBM},
    "reweighing": {"kind": "lightgbm", "params": SMALL_LGBM, "mitigation": {"kind": "reweighing"}},
    "exponentiated_gradient": {
        "kind": "lightgbm",
        "params": SMALL_LGBM,
        "mitigation": {
            "kind": "exponentiated_gradient",
            "constraint": "demographic_parity",
            "params": {"max_iter": 5, "costs": {"fp": 0.15, "fn": 0.85}},
        },
    },
    "threshold_optimizer": {
        "kind": "logistic_regression",
        "mitigation": {
            "kind": "threshold_optimizer",
            "constraint": "demographic_parity",
            "params": {"objective": "balanced_accuracy_score"},
        },
    },
    "correlation_remover": {"kind": "logistic_regression", "mitigation": {"kind": "correlation_remover"}},
}
EXPECTED_METHOD = {
    "logistic_regression": "linear",
    "hist_gradient_boosting": "tree",
    "lightgbm": "tree",
    "reweighing": "tree",
    "exponentiated_gradient": "permutation",
    "threshold_optimizer": "permutation",
    "correlation_remover": "linear",
}
READS_SENSITIVE = {"threshold_optimizer", "correlation_remover"}


def _config(raw: dict[str, Any], **explain: Any) -> GovernanceConfig:
    raw = copy.deepcopy(raw)
    raw["data"].pop("generate", None)
    raw["explain"].update(
        {
            "sample_per_group": 150,
            "background_size": 30,
            "bootstrap": 200,
            "minimization_rows": 3000,
            "proxy_rows": 3000,
        }
    )
    raw["explain"].update(explain)
    return validate_config(raw)


def _prepare(frame: pd.DataFrame, config: GovernanceConfig) -> Dataset:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GOVERNANCE_PSEUDONYM_KEY", TEST_KEY)
        return prepare(config, frame=frame)


@pytest.fixture(scope="package")
def config(default_raw: dict[str, Any]) -> GovernanceConfig:
    return _config(default_raw)


@pytest.fixture(scope="package")
def dataset(accounts: pd.DataFrame, config: GovernanceConfig) -> Dataset:
    """4,000 biased accounts (bias 1.0)."""
    return _prepare(accounts, config)


@pytest.fixture(scope="package")
def trained(dataset: Dataset) -> dict[str, TrainedCandidate]:
    out = {}
    for name, spec in KINDS.items():
        out[name] = train_candidate(Candidate.model_validate({"name": name, **spec}), dataset, seed=1)
    return out
