"""Every private MLflow API the registry uses, in one place.

MLflow offers no public way to do these few things; each is wrapped here so
that a change in MLflow breaks one file, and ``tests/registry/test_mlflow_private.py``
names the API and the MLflow version when one moves.

``PRIVATE_APIS`` lists them as ``(module, attribute)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["PRIVATE_APIS", "allow_model_load", "dataset_entity", "fluent_tracking_uri"]

#: ``(module, attribute)`` of every private MLflow API used here.
PRIVATE_APIS: tuple[tuple[str, str], ...] = (
    ("mlflow.tracking._tracking_service.utils", "_use_tracking_uri"),
    ("mlflow.data.pandas_dataset.PandasDataset", "_to_mlflow_entity"),
)


@contextmanager
def fluent_tracking_uri(uri: str) -> Iterator[None]:
    """Point MLflow's process-wide fluent tracking URI at ``uri`` for the block, then restore it.

    ``mlflow.sklearn.log_model`` resolves its store only through the fluent URI;
    ``_use_tracking_uri`` restores the previous one, but also unsets
    ``MLFLOW_TRACKING_URI`` on the way out when no URI had been set in code, so
    the variable is put back as it was.
    """
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    from governance.registry._client import scoped_env

    with scoped_env(defaults={}, keep=("MLFLOW_TRACKING_URI",)), _use_tracking_uri(uri):
        yield


@contextmanager
def allow_model_load() -> Iterator[None]:
    """Let ``mlflow.sklearn.log_model`` load the model it has just written, for the block only.

    ``log_model`` validates the serving input example by loading the model in
    this process, and MLflow gates every sklearn format, skops included, behind
    ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION`` (true by default). A user who set it
    to false would get a failed validation of our own model; the variable is
    restored afterwards. Loading for use goes through :func:`governance.registry.load_model`,
    which never reads this variable: skops with the caller's trust list only.
    """
    from governance.registry._client import scoped_env

    with scoped_env({"MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true"}, defaults={}):
        yield


def dataset_entity(dataset: Any) -> Any:
    """Return the ``mlflow.entities.Dataset`` of an ``mlflow.data`` dataset (its schema is inferred here, lazily).

    ``MlflowClient.log_inputs`` takes entities; the public ``mlflow.log_input``
    converts through this same private method, but needs the fluent active run.
    """
    return dataset._to_mlflow_entity()
