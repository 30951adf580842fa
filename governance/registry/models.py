"""Models: logging a scikit-learn model in the skops format, and loading it back only when it is what was logged.

:func:`log_model` logs a model with the ``skops`` serialization (no pickle),
a signature and an input example, then downloads what the store holds and
records its sha256 (tag ``model.sha256``). :func:`load_model` verifies that
checksum before deserializing, and deserializes only the types its caller
names: never a model we did not create, and never the trust list written
inside the model file.

``model.sha256`` differs between identical trainings (MLmodel names the run,
the skops zip dates its members and names them by object address), so
:func:`content_sha256` also hashes what the model *is*: the skops schema with
its object addresses renumbered in order of appearance and each file it names
replaced by the sha256 of that file's bytes (tag ``model.content_sha256``).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata as package_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from governance import _cancel
from governance.errors import PrivacyError
from governance.registry._client import Registry
from governance.registry._values import check_values
from governance.registry.runs import tree_sha256

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.tracking import MlflowClient

    from governance.registry.runs import RunHandle

__all__ = ["LoggedModel", "content_sha256", "download_model", "load_model", "log_model"]

_REQUIREMENTS = ("scikit-learn", "skops", "numpy", "pandas", "scipy", "lightgbm", "fairlearn", "governance")


@dataclass(frozen=True)
class LoggedModel:
    """A model as stored by MLflow: its id, URI, the sha256 of its files and of its content.

    Attributes
    ----------
    sha256
        The stored files, byte for byte (what :func:`load_model` verifies).
    content_sha256
        The model itself (:func:`content_sha256`): equal for identical trainings.
    """

    model_id: str
    uri: str
    sha256: str
    content_sha256: str = ""


def _canonical_node(node: Any, ids: dict[Any, int], files: Mapping[str, str]) -> Any:
    """Return a skops schema node with object addresses renumbered and file names replaced by their sha256."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "__id__":
                out[key] = ids.setdefault(value, len(ids))
            elif key == "file" and isinstance(value, str) and value in files:
                out[key] = files[value]
            else:
                out[key] = _canonical_node(value, ids, files)
        return out
    if isinstance(node, list):
        return [_canonical_node(item, ids, files) for item in node]
    return node


def content_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a skops file's content, independent of when it was written and where objects lay in memory.

    skops names each array file by the address of its object and dates every
    zip member, so two dumps of equal models differ byte for byte. This hashes
    the schema with every ``__id__`` renumbered in order of first appearance
    (references keep pointing at the same object) and every ``file`` replaced
    by the sha256 of that member's bytes: equal models give equal digests.

    Parameters
    ----------
    path
        A ``model.skops`` file.

    Returns
    -------
    str
        64 hex characters.
    """
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if n != "schema.json"]
        files = {n: hashlib.sha256(archive.read(n)).hexdigest() for n in names}
        schema = json.loads(archive.read("schema.json"))
    canonical = _canonical_node(schema, {}, files)
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _mlflow_sklearn() -> Any:
    """``mlflow.sklearn``, imported without the warning MLflow raises about its own type hints."""
    with warnings.catch_warnings():
        # mlflow.pyfunc infers schemas from its own pydantic models at import time and warns about their `Any`
        warnings.filterwarnings("ignore", message=".*Any type hint is inferred as AnyType", category=UserWarning)
        import mlflow.pyfunc
        import mlflow.sklearn
    return mlflow.sklearn


def download_model(client: MlflowClient, model_id: str, folder: str, *, uri: str) -> Path:
    """Download a logged model's files from its own artifact location (no process-wide MLflow state).

    Parameters
    ----------
    client
        The registry's client.
    model_id
        The MLflow logged model.
    folder
        Where to put the files.
    uri
        Tracking URI.

    Returns
    -------
    pathlib.Path
        The local folder of the model.
    """
    import mlflow.artifacts

    location = client.get_logged_model(model_id).artifact_location
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=folder, tracking_uri=uri))


def _requirements() -> list[str]:
    """Return the pinned requirements written with the model."""
    out = []
    for name in _REQUIREMENTS:
        try:
            out.append(f"{name}=={package_metadata.version(name)}")
        except package_metadata.PackageNotFoundError:
            out.append(name)
    return out


def _new_logged_model(handle: RunHandle, name: str) -> str:
    """Create the run's logged model in the run's experiment (not the fluent default experiment); its id."""
    from mlflow.tracking.context import registry as context_registry

    client = handle.client
    params = dict(client.get_run(handle.run_id).data.params)
    created = client.create_logged_model(
        handle.experiment_id,
        name=name,
        source_run_id=handle.run_id,
        params=params,
        tags=context_registry.resolve_tags(),
    )
    return str(created.model_id)


def log_model(
    handle: RunHandle,
    model: Any,
    *,
    input_example: pd.DataFrame,
    trusted_types: Sequence[str],
    name: str = "model",
    metadata: Mapping[str, Any] | None = None,
) -> LoggedModel:
    """Log a fitted scikit-learn classifier (skops format) to a run, then checksum what the store holds.

    The signature maps the input example's columns to ``predict_proba``'s
    two columns; the python_function flavor predicts with ``predict_proba``.
    Tags ``model.uri``, ``model.id``, ``model.sha256`` and
    ``model.content_sha256`` (:func:`content_sha256`) are set on the run.

    Parameters
    ----------
    handle
        The open run.
    model
        A fitted classifier with ``predict_proba``.
    input_example
        A few model-input rows without personal data (see :func:`governance.train.example_input`).
    trusted_types
        Types beyond skops' defaults that the model contains (checked now, by a
        test load, and again by :func:`load_model`).
    name
        Name of the logged model.
    metadata
        Plain facts stored in the model's MLmodel file.

    Returns
    -------
    LoggedModel
    """
    from mlflow.models import infer_signature

    from governance.registry._mlflow import allow_model_load, fluent_tracking_uri

    _cancel.check()
    sklearn_flavor = _mlflow_sklearn()
    checked = check_values("model metadata", metadata or {})
    signature = infer_signature(input_example, model.predict_proba(input_example))
    registry = handle.registry
    with registry.call("log the model"):
        model_id = _new_logged_model(handle, name)
        with fluent_tracking_uri(registry.uri), allow_model_load():
            info = sklearn_flavor.log_model(
                model,
                name=name,
                run_id=handle.run_id,
                model_id=model_id,
                signature=signature,
                input_example=input_example,
                serialization_format="skops",
                skops_trusted_types=list(trusted_types),
                pyfunc_predict_fn="predict_proba",
                pip_requirements=_requirements(),
                metadata=checked,
            )
    with tempfile.TemporaryDirectory(prefix="governance-model-") as tmp, registry.call("read the model back"):
        local = download_model(registry.client, str(info.model_id), tmp, uri=registry.uri)
        digest, content = tree_sha256(local), content_sha256(local / "model.skops")
    logged = LoggedModel(model_id=str(info.model_id), uri=str(info.model_uri), sha256=digest, content_sha256=content)
    handle.set_tags(
        {
            "model.uri": logged.uri,
            "model.id": logged.model_id,
            "model.sha256": logged.sha256,
            "model.content_sha256": logged.content_sha256,
        }
    )
    return logged


def _checked_files(local: Path, *, run_id: str, expected: str) -> dict[str, Any]:
    """Return the sklearn flavor of a downloaded model whose files hash to ``expected`` and are in the skops format."""
    import yaml

    actual = tree_sha256(local)
    if actual != expected:
        raise PrivacyError(
            f"refusing to load the model of run {run_id}: its files hash to sha256 {actual[:12]}..., "
            f"not the {expected[:12]}... recorded when it was logged; it was changed after logging"
        )
    flavor: dict[str, Any] = (
        (yaml.safe_load((local / "MLmodel").read_text()) or {}).get("flavors", {}).get("sklearn", {})
    )
    if flavor.get("serialization_format") != "skops":
        raise PrivacyError(
            f"refusing to load the model of run {run_id}: expected the skops format, found "
            f"{flavor.get('serialization_format')!r}; pickled models execute code when loaded"
        )
    return flavor


def load_model_from(registry: Registry, run_id: str, *, trusted_types: Sequence[str]) -> Any:
    """:meth:`Registry.load_model`: verify the files against the run's checksum, then deserialize with skops."""
    with registry.call("read the run"):
        client = registry.client
        tags = client.get_run(run_id).data.tags
    model_id, expected = tags.get("model.id"), tags.get("model.sha256")
    if not model_id or not expected:
        raise PrivacyError(
            f"refusing to load a model from run {run_id}: it has no model.id / model.sha256 tags; "
            "governance loads only models it logged and checksummed"
        )
    with tempfile.TemporaryDirectory(prefix="governance-model-") as tmp:
        with registry.call("download the model"):
            local = download_model(client, model_id, tmp, uri=registry.uri)
        flavor = _checked_files(local, run_id=run_id, expected=expected)
        import skops.io  # type: ignore[import-untyped]
        from skops.io.exceptions import UntrustedTypesFoundException  # type: ignore[import-untyped]

        try:
            return skops.io.load(local / str(flavor.get("pickled_model", "model.skops")), trusted=list(trusted_types))
        except UntrustedTypesFoundException as exc:
            raise PrivacyError(
                f"refusing to load the model of run {run_id}: it contains types that are not trusted ({exc})"
            ) from exc


def load_model(uri: str, run_id: str, *, trusted_types: Sequence[str], timeout: float = 10.0, retries: int = 2) -> Any:
    """Load the model a governance run logged, after checking it is byte for byte what was logged.

    A wrapper of :meth:`Registry.load_model` for one call.

    Parameters
    ----------
    uri
        Tracking URI.
    run_id
        The (nested) run that logged the model; its tags ``model.uri`` and
        ``model.sha256`` say where the model is and what it must hash to.
    trusted_types
        The only types, beyond skops' defaults, that may be deserialized (the
        list inside the model file is ignored).
    timeout, retries
        Bound on each HTTP request and on its retries.

    Returns
    -------
    Any
        The fitted scikit-learn model.

    Raises
    ------
    PrivacyError
        (exit 4) When the run has no checksum, the files do not match it, the
        model is not in the skops format, or it contains types not trusted.
    RegistryError
        When the store cannot be reached or read (exit 3).
    """
    return Registry(uri, timeout=timeout, retries=retries).load_model(run_id, trusted_types=trusted_types)
