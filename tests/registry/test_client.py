"""The Registry client: one client, request bounds scoped to each call, nothing left in the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LogisticRegression

from governance.errors import RegistryError
from governance.registry import Registry, load_model, tracked_run, version_history


def _environ() -> dict[str, str]:
    """os.environ, without the session id MLflow's telemetry thread (started by ``import mlflow``) may unset any time."""
    return {k: v for k, v in os.environ.items() if k != "_MLFLOW_TELEMETRY_SESSION_ID"}


def _tiny_model() -> tuple[LogisticRegression, pd.DataFrame]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    return LogisticRegression().fit(frame, (frame["a"] > 0).astype(int)), frame.head(3)


def test_registry_operations_leave_os_environ_exactly_as_they_found_it(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    model, example = _tiny_model()
    before = _environ()
    with tracked_run(uri, experiment="e", run_name="r") as parent, parent.child("c") as child:
        assert _environ() == before  # between calls too, not only at the end
        child.log_params({"C": 1.0})
        child.log_metrics({"auc": 0.7})
        logged = child.log_model(model, input_example=example, trusted_types=[])
        assert _environ() == before
    loaded = load_model(uri, child.run_id, trusted_types=[])
    assert version_history(uri, registered_model="nothing-yet") == ()
    assert _environ() == before
    assert np.array_equal(loaded.predict_proba(example), model.predict_proba(example))
    # the model belongs to its run's experiment, not to MLflow's default one
    assert MlflowClient(uri).get_logged_model(logged.model_id).experiment_id == child.experiment_id


def test_request_bounds_hold_inside_a_call_only_and_a_users_backoff_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "3")
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    registry = Registry(f"sqlite:///{tmp_path / 'mlflow.db'}", timeout=4.2, retries=1)
    with registry.call("look"):
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "1"
        assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "5"
        assert os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] == "3"
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ
    assert os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] == "3"


def test_one_client_is_built_once_and_an_injected_one_is_used_as_is(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    registry = Registry(uri, model_name="m")
    assert registry.client is registry.client
    mine = MlflowClient(tracking_uri=uri, registry_uri=uri)
    injected = Registry(uri, model_name="m", client=mine)
    assert injected.client is mine
    with injected.run(experiment="e", run_name="r") as handle:
        assert handle.client is mine
    assert mine.get_run(handle.run_id).info.status == "FINISHED"


def test_a_store_failure_inside_a_call_is_a_registry_error_without_credentials() -> None:
    registry = Registry("https://bob:secret@127.0.0.1:9")
    with pytest.raises(RegistryError, match=r"could not look at https://127\.0\.0\.1:9") as info, registry.call("look"):
        raise ConnectionError("connection refused")
    assert "secret" not in str(info.value)


def test_version_methods_need_a_model_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no model_name"):
        Registry(f"sqlite:///{tmp_path / 'mlflow.db'}").version_history()


def test_importing_the_registry_loads_no_mlflow() -> None:
    code = "import sys, governance.registry; print('mlflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_calls_from_several_threads_leave_the_environment_unchanged(tmp_path: Path) -> None:
    import threading

    before = _environ()
    barrier = threading.Barrier(4)

    def work(retries: int) -> None:
        registry = Registry(f"sqlite:///{tmp_path / 'mlflow.db'}", retries=retries)
        barrier.wait()
        for _ in range(20):
            with registry.call("look"):
                assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == str(retries)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _environ() == before
