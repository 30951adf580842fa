from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pytest
import requests
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from governance.cli import _sigterm_ends_runs, app
from governance.config import Candidate, load_config, tracking_uri, validate_config
from governance.data import Dataset, prepare
from governance.errors import PrivacyError
from governance.pipeline import train
from governance.registry import LoggedModel, load_model, safe_uri, tracked_run
from governance.train import MODEL_TYPES, TrainedCandidate, example_input, train_candidate
from tests.conftest import TEST_KEY, WriteConfig


def test_a_run_that_fails_midway_ends_failed(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(RuntimeError, match="boom"), tracked_run(uri, experiment="e", run_name="r") as handle:
        handle.log_params({"a": 1})
        raise RuntimeError("boom")
    assert MlflowClient(uri).get_run(handle.run_id).info.status == "FAILED"


def test_personal_data_is_refused_before_it_reaches_mlflow(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with tracked_run(uri, experiment="e", run_name="r") as handle:
        with pytest.raises(PrivacyError) as info:
            handle.log_params({"contact": "ana.diaz@bluebridge.com"})
        assert "ana.diaz" not in str(info.value)
        with pytest.raises(PrivacyError):
            handle.set_tags({"phone": "+1 415 555 0101"})
    run = MlflowClient(uri).get_run(handle.run_id)
    assert run.data.params == {} and "phone" not in run.data.tags


def test_non_finite_metrics_are_refused(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with tracked_run(uri, experiment="e", run_name="r") as handle, pytest.raises(ValueError, match="not finite: auc"):
        handle.log_metrics({"auc": float("nan")})


def test_safe_uri_hides_credentials() -> None:
    assert safe_uri("https://bob:pw@host:5000/x") == "https://host:5000/x"
    assert safe_uri("sqlite:////tmp/m.db") == "sqlite:////tmp/m.db"


# ---------------------------------------------------------------- runs: nested, failed, killed, long values


def test_a_nested_run_names_its_parent_and_a_failure_inside_ends_both_failed(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(RuntimeError, match="boom"), tracked_run(uri, experiment="e", run_name="parent") as parent:
        with parent.child("fine", tags={"candidate.kind": "lightgbm"}) as fine:
            fine.log_metrics({"test_auc": 0.7})
        with parent.child("broken") as broken:
            raise RuntimeError("boom")
    client = MlflowClient(uri)
    assert client.get_run(parent.run_id).info.status == "FAILED"
    assert client.get_run(broken.run_id).info.status == "FAILED"
    fine_run = client.get_run(fine.run_id)
    assert fine_run.info.status == "FINISHED"
    assert fine_run.data.tags["mlflow.parentRunId"] == parent.run_id
    assert fine_run.data.tags["candidate.kind"] == "lightgbm"


def test_sigterm_during_a_run_ends_it_killed_not_running(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    before = signal.getsignal(signal.SIGTERM)
    with (
        pytest.raises(SystemExit) as info,
        _sigterm_ends_runs(),
        tracked_run(uri, experiment="e", run_name="r") as handle,
        handle.child("candidate") as child,
    ):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)  # the handler raises SystemExit before this returns
    assert info.value.code == 128 + signal.SIGTERM
    client = MlflowClient(uri)
    assert client.get_run(handle.run_id).info.status == "KILLED"
    assert client.get_run(child.run_id).info.status == "KILLED"
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_param_mlflow_would_truncate_is_refused(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with tracked_run(uri, experiment="e", run_name="r") as handle:
        with pytest.raises(ValueError, match="longer than 250 characters: features"):
            handle.log_params({"features": "x" * 251})
        digest = handle.log_json({"features": "x" * 251, "auc": 0.75}, "exact.json")
    text = Path(MlflowClient(uri).download_artifacts(handle.run_id, "exact.json", str(tmp_path))).read_bytes()
    assert hashlib.sha256(text).hexdigest() == digest and json.loads(text)["features"] == "x" * 251


# ---------------------------------------------------------------- models: round trip, checksum, example


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


# ---------------------------------------------------------------- unreachable and real servers


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_server_fails_fast_with_exit_code_3_and_no_traceback(write_config: WriteConfig) -> None:
    port = _free_port()  # nothing listens once the socket is closed

    def edit(raw: dict[str, Any]) -> None:
        raw["mlflow"]["tracking_uri"] = f"http://127.0.0.1:{port}"
        raw["candidates"] = raw["candidates"][:1]

    path = write_config(edit=edit)
    result = CliRunner().invoke(app, ["train", "--config", str(path)])
    assert result.exit_code == 3, result.output
    assert f"MLflow tracking server at http://127.0.0.1:{port} did not answer" in result.stderr
    # the bounded probe gave up after mlflow.max_retries + 1 attempts (the seconds it took: bench/bench_unreachable.py)
    assert "after 3 attempt(s)" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_the_probe_budget_cuts_retries_short_whatever_the_config_allows(write_config: WriteConfig) -> None:
    port = _free_port()

    def edit(raw: dict[str, Any]) -> None:
        raw["mlflow"].update({"tracking_uri": f"http://127.0.0.1:{port}", "max_retries": 10, "timeout_seconds": 120})
        raw["candidates"] = raw["candidates"][:1]

    result = CliRunner().invoke(app, ["train", "--config", str(write_config(edit=edit))])
    assert result.exit_code == 3, result.output
    attempts = re.search(r"after (\d+) attempt\(s\)", result.stderr)
    assert attempts is not None, result.stderr
    # 11 attempts with exponential pauses would wait over 8 minutes; PROBE_BUDGET_SECONDS stops them
    assert 1 <= int(attempts.group(1)) < 11


@pytest.mark.slow
def test_sigterm_to_a_training_process_ends_its_runs_killed(write_config: WriteConfig) -> None:
    def edit(raw: dict[str, Any]) -> None:
        (slow,) = [c for c in raw["candidates"] if c["name"] == "lightgbm_fair_selection"]
        slow["params"]["n_estimators"] = 400  # long enough to be caught training
        slow["mitigation"]["params"]["max_iter"] = 50
        raw["candidates"] = [raw["candidates"][0], slow]

    path = write_config(edit=edit)
    config = load_config(path)
    command = [str(Path(sys.executable).parent / "governance"), "train", "--config", str(path)]
    client = MlflowClient(tracking_uri(config))
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as process:
        try:
            deadline = time.monotonic() + 120
            while not _running(client, config.mlflow.experiment, "lightgbm_fair_selection"):
                assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
                assert time.monotonic() < deadline, "the slow candidate never started"
                time.sleep(0.2)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 128 + signal.SIGTERM
        finally:
            if process.poll() is None:
                process.kill()
    experiment = client.get_experiment_by_name(config.mlflow.experiment)
    statuses = {r.info.run_name: r.info.status for r in client.search_runs([experiment.experiment_id])}
    assert statuses == {"governance-run": "KILLED", "baseline_logreg": "FINISHED", "lightgbm_fair_selection": "KILLED"}


def _running(client: MlflowClient, experiment: str, run_name: str) -> bool:
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return False
    runs = client.search_runs([found.experiment_id], filter_string=f"attributes.run_name = '{run_name}'")
    return any(r.info.status == "RUNNING" for r in runs)


MLFLOW = Path(sys.executable).parent / "mlflow"


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``mlflow server`` on 127.0.0.1 (SQLite backend, proxied artifacts); stopped afterwards."""
    folder = tmp_path_factory.mktemp("server")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    command = [
        str(MLFLOW), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}", "--artifacts-destination", str(folder / "artifacts"),
    ]  # fmt: skip
    with (folder / "server.log").open("wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if requests.get(f"{url}/health", timeout=2).ok:
                        break
                except requests.RequestException:
                    pass
                assert server.poll() is None, (folder / "server.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "mlflow server did not become healthy within 120 s"
                time.sleep(0.5)
            yield url
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=20)


@pytest.mark.slow
def test_training_against_a_real_mlflow_server_logs_nested_runs_and_loadable_models(
    mlflow_server: str, write_config: WriteConfig, default_raw: dict[str, Any]
) -> None:
    keep = ("baseline_logreg", "logreg_group_thresholds")

    def edit(raw: dict[str, Any]) -> None:
        raw["mlflow"]["tracking_uri"] = mlflow_server
        raw["candidates"] = [c for c in raw["candidates"] if c["name"] in keep]

    config = load_config(write_config(edit=edit))
    outcome = train(config)
    client = MlflowClient(mlflow_server)
    assert client.get_run(outcome.run_id).info.status == "FINISHED"
    children = client.search_runs(
        [client.get_run(outcome.run_id).info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{outcome.run_id}'",
    )
    assert sorted(r.data.tags["candidate.name"] for r in children) == sorted(keep)
    assert all(r.info.status == "FINISHED" and r.inputs.dataset_inputs for r in children)
    dataset = prepare(config)
    for candidate in outcome.candidates:
        loaded = load_model(mlflow_server, candidate.run_id, trusted_types=MODEL_TYPES)
        again = train_candidate(_candidate(default_raw, candidate.name), dataset, seed=config.seed)
        assert np.array_equal(loaded.scores(dataset.test.X, dataset.test.sensitive), again.score_split(dataset.test))
