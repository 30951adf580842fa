"""The private MLflow APIs the registry uses still exist where governance.registry._mlflow expects them."""

from __future__ import annotations

import importlib
import os
from typing import Any

import pytest

from governance.registry._mlflow import PRIVATE_APIS, fluent_tracking_uri


def _resolve(module: str, attribute: str) -> Any:
    """Import ``module`` (its last parts may be classes) and return ``attribute`` of it."""
    parts = module.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            target = getattr(target, name)
        return getattr(target, attribute)
    raise ImportError(module)


@pytest.mark.parametrize(("module", "attribute"), PRIVATE_APIS, ids=[f"{m}.{a}" for m, a in PRIVATE_APIS])
def test_every_private_mlflow_api_the_registry_uses_still_exists(module: str, attribute: str) -> None:
    import mlflow

    try:
        _resolve(module, attribute)
    except (ImportError, AttributeError) as exc:
        pytest.fail(
            f"MLflow {mlflow.__version__} no longer has the private API {module}.{attribute} that "
            f"governance/registry/_mlflow.py uses ({type(exc).__name__}: {exc}); adapt that file",
            pytrace=False,
        )


def test_the_fluent_tracking_uri_is_restored_with_the_environment(tmp_path: Any, monkeypatch: Any) -> None:
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'users.db'}")
    before_env, before_uri = dict(os.environ), mlflow.get_tracking_uri()
    with fluent_tracking_uri(f"sqlite:///{tmp_path / 'ours.db'}"):
        assert mlflow.get_tracking_uri() == f"sqlite:///{tmp_path / 'ours.db'}"
    assert dict(os.environ) == before_env and mlflow.get_tracking_uri() == before_uri
