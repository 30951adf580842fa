"""Runs always end with a terminal status, and refuse values MLflow would store wrongly."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from governance.cli._app import sigterm_ends_runs
from governance.errors import PrivacyError
from governance.registry import safe_uri, tracked_run


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
        sigterm_ends_runs(),
        tracked_run(uri, experiment="e", run_name="r") as handle,
        handle.child("candidate") as child,
    ):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.1)  # the handler only sets the flag; the command stops at its next safe point
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
