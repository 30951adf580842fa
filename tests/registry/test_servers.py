"""Unreachable and real MLflow servers: a fast, clear failure, and the same runs and models as a local store."""

from __future__ import annotations

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

import numpy as np
import pytest
import requests
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from governance.cli import app
from governance.config import load_config, tracking_uri
from governance.data import prepare
from governance.pipeline import train
from governance.registry import load_model
from governance.train import MODEL_TYPES, train_candidate
from tests.conftest import WriteConfig
from tests.registry.test_models import _candidate


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
