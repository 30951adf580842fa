"""Models: logged in the skops format, checksummed, loaded back only when unchanged."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from governance.config import Candidate, validate_config
from governance.data import Dataset, prepare
from governance.errors import PrivacyError
from governance.registry import LoggedModel, load_model, tracked_run
from governance.train import MODEL_TYPES, TrainedCandidate, example_input, train_candidate
from tests.conftest import TEST_KEY


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory, accounts: pd.DataFrame, default_raw: dict[str, Any]) -> Dataset:
    raw = copy.deepcopy(default_raw)
    path = tmp_path_factory.mktemp("data") / "accounts.parquet"
    accounts.to_parquet(path, index=False)
    raw["data"]["path"] = str(path)
    raw["data"].pop("generate", None)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GOVERNANCE_PSEUDONYM_KEY", TEST_KEY)
        return prepare(validate_config(raw))


def _candidate(default_raw: dict[str, Any], name: str) -> Candidate:
    (spec,) = [c for c in default_raw["candidates"] if c["name"] == name]
    return Candidate.model_validate(spec)


def _log(uri: str, trained: TrainedCandidate, dataset: Dataset) -> tuple[str, LoggedModel]:
    with tracked_run(uri, experiment="e", run_name="r") as parent, parent.child(trained.name) as child:
        frame = trained.model.model_input(dataset.train.X, dataset.train.sensitive)
        logged = child.log_model(trained.model, input_example=example_input(frame), trusted_types=MODEL_TYPES)
    return child.run_id, logged


@pytest.mark.parametrize("name", ["lightgbm_fair_selection", "logreg_group_thresholds", "hist_gradient_boosting"])
def test_a_logged_model_loads_back_and_scores_exactly_as_before(
    tmp_path: Path, dataset: Dataset, default_raw: dict[str, Any], name: str
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    trained = train_candidate(_candidate(default_raw, name), dataset, seed=42)
    run_id, logged = _log(uri, trained, dataset)
    tags = MlflowClient(uri).get_run(run_id).data.tags
    assert tags["model.sha256"] == logged.sha256 and tags["model.id"] == logged.model_id
    loaded = load_model(uri, run_id, trusted_types=MODEL_TYPES)
    assert loaded.uses_sensitive_at_inference == trained.uses_sensitive_at_inference
    assert np.array_equal(loaded.scores(dataset.test.X, dataset.test.sensitive), trained.score_split(dataset.test))


def test_logging_a_model_leaves_the_environment_and_mlflow_state_as_they_were(
    tmp_path: Path, dataset: Dataset, default_raw: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    before = mlflow.get_tracking_uri()
    trained = train_candidate(_candidate(default_raw, "baseline_logreg"), dataset, seed=42)
    _log(f"sqlite:///{tmp_path / 'mlflow.db'}", trained, dataset)
    assert os.environ["MLFLOW_TRACKING_URI"] == f"sqlite:///{tmp_path / 'elsewhere.db'}"
    assert mlflow.get_tracking_uri() == before
    assert "MLFLOW_ALLOW_PICKLE_DESERIALIZATION" not in os.environ and "MLFLOW_EXPERIMENT_ID" not in os.environ


def test_a_model_changed_after_logging_is_refused_before_it_is_deserialized(
    tmp_path: Path, dataset: Dataset, default_raw: dict[str, Any]
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    trained = train_candidate(_candidate(default_raw, "baseline_logreg"), dataset, seed=42)
    run_id, logged = _log(uri, trained, dataset)
    location = MlflowClient(uri).get_logged_model(logged.model_id).artifact_location
    (stored,) = Path(urlsplit(location).path).rglob("model.skops")
    stored.write_bytes(stored.read_bytes() + b"\0")
    with pytest.raises(PrivacyError, match="changed after logging") as info:
        load_model(uri, run_id, trusted_types=MODEL_TYPES)
    assert info.value.exit_code == 4


def test_a_run_without_a_model_checksum_is_refused(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with tracked_run(uri, experiment="e", run_name="r") as handle:
        handle.set_tags({"model.id": "m-123"})
    with pytest.raises(PrivacyError, match=r"no model.id / model.sha256 tags"):
        load_model(uri, handle.run_id, trusted_types=MODEL_TYPES)


def test_the_logged_input_example_is_synthetic_and_carries_no_identifier(
    tmp_path: Path, dataset: Dataset, accounts: pd.DataFrame, default_raw: dict[str, Any]
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    trained = train_candidate(_candidate(default_raw, "logreg_decorrelated"), dataset, seed=42)
    _, logged = _log(uri, trained, dataset)
    location = MlflowClient(uri).get_logged_model(logged.model_id).artifact_location
    folder = Path(urlsplit(location).path)
    example = json.loads((folder / "input_example.json").read_text())
    assert example["columns"] == list(trained.inputs)  # the features, and ownership: this model reads it
    text = "\n".join(p.read_text() for p in folder.rglob("*") if p.suffix in {".json", ".yaml", ""} and p.is_file())
    for column in ("account_id", "company_name", "contact_email", "contact_phone"):
        assert not any(str(v) in text for v in accounts[column]), column
    assert not any(p in text for p in dataset.pseudonyms)
    rows = set(map(tuple, trained.model.model_input(dataset.X, dataset.sensitive).astype(str).to_numpy()))
    assert not any(tuple(map(str, row)) in rows for row in example["data"])
