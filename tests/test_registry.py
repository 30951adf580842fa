from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

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
