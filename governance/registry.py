"""MLflow: the only module that talks to the tracking store and the model registry.

Every function takes the tracking URI as an argument (see
:func:`governance.config.tracking_uri`), so tests run against temporary
stores and real local servers. The embedded default is a SQLite file; its
artifacts go to an ``artifacts`` folder beside it.

Runs
    :func:`tracked_run` opens a run and :meth:`RunHandle.child` a nested one
    (tag ``mlflow.parentRunId``). Either always ends: FINISHED when its block
    completes, FAILED when it raises, KILLED on KeyboardInterrupt or SystemExit
    (the CLI turns SIGTERM into SystemExit), never left RUNNING.
Reachability
    MLflow's HTTP client retries for minutes by default. Before the first
    request the retry count, the per-request timeout and the backoff are set
    from the config (``MLFLOW_HTTP_REQUEST_MAX_RETRIES``, ``_TIMEOUT``,
    ``_BACKOFF_FACTOR``, ``_BACKOFF_JITTER``: MLflow reads them at every
    request), and an HTTP server is probed at ``/health`` within a fixed budget,
    so an unreachable server gives a :class:`~governance.errors.RegistryError`
    (exit 3) in seconds, not minutes.
Privacy
    Params, tags and metric names that look like personal data are refused
    before they reach MLflow; error messages never carry credentials.
Models
    :meth:`RunHandle.log_model` logs a scikit-learn model with the ``skops``
    serialization (no pickle), a signature and an input example, then downloads
    what the store holds and records its sha256 (tag ``model.sha256``).
    :func:`load_model` verifies that checksum before deserializing, and
    deserializes only the types its caller names: never a model we did not
    create, and never the trust list written inside the model file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from governance.errors import GovernanceError, PrivacyError, RegistryError
from governance.privacy import redact

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.tracking import MlflowClient

__all__ = [
    "DatasetRecord",
    "LoggedModel",
    "RunHandle",
    "dataset_record",
    "load_model",
    "safe_uri",
    "tracked_run",
    "tree_sha256",
]

#: The longest param value logged as a param; longer ones go to a JSON artifact (MLflow truncates silently).
MAX_PARAM_CHARS = 250
#: Total time the reachability probe of an HTTP server may take, retries included.
PROBE_BUDGET_SECONDS = 20.0
#: MLflow dataset digests are stored in 36 characters; the full fingerprint goes in a tag.
_DIGEST_CHARS = 32
_REQUIREMENTS = ("scikit-learn", "skops", "numpy", "pandas", "scipy", "lightgbm", "fairlearn", "governance")


def _client(uri: str, *, timeout: float, retries: int) -> MlflowClient:
    # MLflow reads these at every request (mlflow.utils.rest_utils.http_request); set them before the first.
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(retries)
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(int(max(1, math.ceil(timeout))))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0.5")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # no schema-migration chatter on first use
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # the CLI draws its own progress
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    if uri.startswith(("http://", "https://")):
        _probe(uri, timeout=timeout, retries=retries)
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _probe(uri: str, *, timeout: float, retries: int) -> None:
    """Fail fast, with a clear message, when an HTTP tracking server does not answer at all."""
    import requests

    start = time.monotonic()
    deadline = start + PROBE_BUDGET_SECONDS
    problem = "no attempt"
    for attempt in range(retries + 1):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            # any HTTP answer (even 401 or 404 behind a proxy) shows the server is reachable
            requests.get(uri.rstrip("/") + "/health", timeout=min(timeout, remaining), allow_redirects=False)
            return
        except requests.exceptions.SSLError:
            return  # something answered the TLS handshake; MLflow checks certificates with its own settings
        except requests.RequestException as exc:
            problem = type(exc).__name__
        pause = min(0.5 * 2**attempt, deadline - time.monotonic())
        if attempt < retries and pause > 0:
            time.sleep(pause)
    raise RegistryError(
        f"the MLflow tracking server at {safe_uri(uri)} did not answer ({problem}) after {retries + 1} attempt(s) "
        f"in {time.monotonic() - start:.1f} s; start it, or point mlflow.tracking_uri / MLFLOW_TRACKING_URI "
        "at a running server (mlflow.max_retries and mlflow.timeout_seconds bound the wait)"
    )


def safe_uri(uri: str) -> str:
    """The URI as it may be shown: never with credentials."""
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    if parts.username or parts.password:
        host = parts.hostname or ""
        return parts._replace(netloc=host + (f":{parts.port}" if parts.port else "")).geturl()
    return uri


@contextmanager
def _infrastructure(action: str, uri: str) -> Iterator[None]:
    """Turn MLflow and storage failures into RegistryError (exit 3), without credentials in the message."""
    try:
        yield
    except GovernanceError:
        raise
    except Exception as exc:
        raise RegistryError(
            f"MLflow could not {action} at {safe_uri(uri)}: {type(exc).__name__}: {redact(str(exc))[:300]}"
        ) from exc


def _experiment_id(client: MlflowClient, name: str, uri: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if experiment.lifecycle_stage == "deleted":
            client.restore_experiment(experiment.experiment_id)
        return str(experiment.experiment_id)
    artifact_location = None
    if uri.startswith("sqlite:///"):
        artifact_location = (Path(uri[len("sqlite:///") :]).parent / "artifacts").resolve().as_uri()
    return str(client.create_experiment(name, artifact_location=artifact_location))


def _check_values(kind: str, values: Mapping[str, Any]) -> dict[str, str]:
    """Stringify and refuse anything that looks like an e-mail address or a phone number."""
    out = {}
    for key, value in values.items():
        text = str(value)
        if redact(str(key)) != str(key) or redact(text) != text:
            raise PrivacyError(
                f"refusing to log MLflow {kind} {redact(str(key))!r}: its value looks like personal data"
            )
        out[str(key)] = text
    return out


def tree_sha256(folder: str | os.PathLike[str]) -> str:
    """sha256 of a folder: every file's relative path and content, in path order.

    Parameters
    ----------
    folder
        A local folder (a downloaded MLflow model).

    Returns
    -------
    str
        64 hex characters; equal for equal trees, whatever their location.
    """
    root = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode("utf-8") + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).hexdigest().encode("ascii") + b"\n")
    return digest.hexdigest()


@dataclass(frozen=True)
class DatasetRecord:
    """What MLflow keeps about a dataset: schema, size, digest and source, never its values."""

    entity: Any
    fingerprint: str


def dataset_record(frame: pd.DataFrame, *, name: str, fingerprint: str, source: str) -> DatasetRecord:
    """Describe a dataset for :meth:`RunHandle.log_input` (computed once, logged to many runs).

    Parameters
    ----------
    frame
        The data; only its schema and row count reach MLflow.
    name
        Dataset name.
    fingerprint
        sha256 of the data; its first 32 characters are the MLflow digest (MLflow
        stores 36), the whole of it is the input tag ``data.sha256``.
    source
        Where the data came from, without personal data (a file name, not a home folder).
    """
    from mlflow.data.dataset_source_registry import get_registered_sources
    from mlflow.data.pandas_dataset import from_pandas

    # named, not resolved from the string: MLflow registers the local source twice and warns when resolving
    sources: list[Any] = list(get_registered_sources())
    local = next(s for s in sources if s.__name__ == "LocalArtifactDatasetSource")
    with warnings.catch_warnings():
        # a hint meant for model signatures (integer columns cannot hold missing values at inference);
        # a dataset's schema records the data as it is
        warnings.filterwarnings("ignore", message=".*Inferred schema contains integer column", category=UserWarning)
        dataset = from_pandas(frame, source=local(source), name=name, digest=fingerprint[:_DIGEST_CHARS])
        entity = dataset._to_mlflow_entity()  # the schema is inferred here, lazily
    return DatasetRecord(entity=entity, fingerprint=fingerprint)


@dataclass(frozen=True)
class LoggedModel:
    """A model as stored by MLflow: its id, URI and the sha256 of its files."""

    model_id: str
    uri: str
    sha256: str


@contextmanager
def _fluent(uri: str, experiment_id: str) -> Iterator[None]:
    """MLflow's model logging works through its process-wide fluent state; set it for one call, then restore."""
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri  # restores the previous URI and env

    # _use_tracking_uri unsets MLFLOW_TRACKING_URI on the way out when no URI had been set in code: keep the user's
    keys = ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID", "MLFLOW_ALLOW_PICKLE_DESERIALIZATION")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ["MLFLOW_EXPERIMENT_ID"] = experiment_id
    # MLflow validates the serving example by loading the model it has just written, in this process
    os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "true"
    try:
        with _use_tracking_uri(uri):
            yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _mlflow_sklearn() -> Any:
    """``mlflow.sklearn``, imported without the warning MLflow raises about its own type hints."""
    with warnings.catch_warnings():
        # mlflow.pyfunc infers schemas from its own pydantic models at import time and warns about their `Any`
        warnings.filterwarnings("ignore", message=".*Any type hint is inferred as AnyType", category=UserWarning)
        import mlflow.pyfunc
        import mlflow.sklearn
    return mlflow.sklearn


def _download_model(client: MlflowClient, model_id: str, folder: str, *, uri: str) -> Path:
    """Download a logged model's files from its own artifact location (no process-wide MLflow state)."""
    import mlflow.artifacts

    location = client.get_logged_model(model_id).artifact_location
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=folder, tracking_uri=uri))


def _requirements() -> list[str]:
    out = []
    for name in _REQUIREMENTS:
        try:
            out.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(name)
    return out


@dataclass(frozen=True)
class RunHandle:
    """An open MLflow run; every method writes through the client."""

    client: MlflowClient
    run_id: str
    experiment_id: str
    uri: str = ""

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log parameters (stringified; refused when they look like personal data).

        Raises
        ------
        ValueError
            When a value is longer than ``MAX_PARAM_CHARS`` (MLflow would truncate it
            silently): put it in a JSON artifact instead (:meth:`log_dict`).
        """
        from mlflow.entities import Param

        checked = _check_values("param", params)
        long = [k for k, v in checked.items() if len(v) > MAX_PARAM_CHARS]
        if long:
            raise ValueError(
                f"param value(s) longer than {MAX_PARAM_CHARS} characters: {', '.join(long)}; "
                "log them in a JSON artifact instead"
            )
        with _infrastructure("log params", self.uri):
            self.client.log_batch(self.run_id, params=[Param(k, v) for k, v in checked.items()])

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        """Log finite metrics; non-finite ones are refused rather than stored as 1.8e308."""
        from mlflow.entities import Metric

        _check_values("metric", dict.fromkeys(metrics, ""))
        bad = [k for k, v in metrics.items() if not math.isfinite(v)]
        if bad:
            raise ValueError(f"metrics must be finite numbers; not finite: {', '.join(bad)}")
        now = int(time.time() * 1000)
        with _infrastructure("log metrics", self.uri):
            self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()])

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags (stringified; refused when they look like personal data)."""
        from mlflow.entities import RunTag

        checked = _check_values("tag", tags)
        with _infrastructure("set tags", self.uri):
            self.client.log_batch(self.run_id, tags=[RunTag(k, v) for k, v in checked.items()])

    def log_dict(self, payload: Mapping[str, Any], artifact_file: str) -> None:
        """Log a JSON artifact."""
        with _infrastructure("log an artifact", self.uri):
            self.client.log_dict(self.run_id, dict(payload), artifact_file)

    def log_json(self, payload: Mapping[str, Any], artifact_file: str) -> str:
        """Log a JSON artifact in canonical form and return the sha256 of its bytes.

        Exact and large values belong here rather than in params (MLflow truncates
        long params silently); record the checksum in a tag to detect later changes.
        """
        text = json.dumps(payload, indent=2, sort_keys=True, allow_nan=False) + "\n"
        with _infrastructure("log an artifact", self.uri):
            self.client.log_text(self.run_id, text, artifact_file)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def log_input(self, dataset: DatasetRecord, *, context: str, tags: Mapping[str, Any] | None = None) -> None:
        """Log a dataset (see :func:`dataset_record`) as an input of the run, with its fingerprint.

        Parameters
        ----------
        dataset
            The dataset's schema, size, digest and source.
        context
            What the run used it for (``mlflow.data.context``: ``training``, ...).
        tags
            More input tags; ``data.sha256`` (the full fingerprint) is always set.
        """
        from mlflow.entities import DatasetInput, InputTag

        checked = _check_values("input tag", {"data.sha256": dataset.fingerprint, **(tags or {})})
        input_tags = [InputTag("mlflow.data.context", context), *(InputTag(k, v) for k, v in checked.items())]
        with _infrastructure("log a dataset input", self.uri):
            self.client.log_inputs(self.run_id, [DatasetInput(dataset.entity, tags=input_tags)])

    def log_model(
        self,
        model: Any,
        *,
        input_example: pd.DataFrame,
        trusted_types: Sequence[str],
        name: str = "model",
        metadata: Mapping[str, Any] | None = None,
    ) -> LoggedModel:
        """Log a fitted scikit-learn classifier (skops format), then checksum what the store holds.

        The signature maps the input example's columns to ``predict_proba``'s
        two columns; the python_function flavor predicts with ``predict_proba``.
        Tags ``model.uri``, ``model.id`` and ``model.sha256`` are set on the run.

        Parameters
        ----------
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
        """
        from mlflow.models import infer_signature

        sklearn_flavor = _mlflow_sklearn()
        checked = _check_values("model metadata", metadata or {})
        signature = infer_signature(input_example, model.predict_proba(input_example))
        with _infrastructure("log the model", self.uri), _fluent(self.uri, self.experiment_id):
            info = sklearn_flavor.log_model(
                model,
                name=name,
                run_id=self.run_id,
                signature=signature,
                input_example=input_example,
                serialization_format="skops",
                skops_trusted_types=list(trusted_types),
                pyfunc_predict_fn="predict_proba",
                pip_requirements=_requirements(),
                metadata=checked,
            )
        with (
            tempfile.TemporaryDirectory(prefix="governance-model-") as tmp,
            _infrastructure("read the model back", self.uri),
        ):
            digest = tree_sha256(_download_model(self.client, str(info.model_id), tmp, uri=self.uri))
        logged = LoggedModel(model_id=str(info.model_id), uri=str(info.model_uri), sha256=digest)
        self.set_tags({"model.uri": logged.uri, "model.id": logged.model_id, "model.sha256": logged.sha256})
        return logged

    @contextmanager
    def child(self, run_name: str, *, tags: Mapping[str, Any] | None = None) -> Iterator[RunHandle]:
        """Open a nested run (tag ``mlflow.parentRunId``) that always ends with a terminal status.

        Raises
        ------
        RegistryError
            When the store cannot be written (exit code 3).
        """
        checked = _check_values("tag", tags or {})
        with _infrastructure("open a nested run", self.uri):
            run = self.client.create_run(
                self.experiment_id, run_name=run_name, tags={**checked, "mlflow.parentRunId": self.run_id}
            )
        handle = RunHandle(client=self.client, run_id=run.info.run_id, experiment_id=self.experiment_id, uri=self.uri)
        with _terminated(handle):
            yield handle


@contextmanager
def _terminated(handle: RunHandle) -> Iterator[None]:
    """End the run whatever happens: FINISHED, FAILED on an exception, KILLED on an interrupt or exit."""
    status = "FAILED"
    try:
        yield
        status = "FINISHED"
    except BaseException as exc:
        status = "FAILED" if isinstance(exc, Exception) else "KILLED"
        raise
    finally:
        try:
            handle.client.set_terminated(handle.run_id, status=status)
        except Exception as exc:  # never mask the original error; say the run may be left open
            if status == "FINISHED":
                raise RegistryError(
                    f"could not close MLflow run {handle.run_id} at {safe_uri(handle.uri)}: {type(exc).__name__}"
                ) from exc


@contextmanager
def tracked_run(
    uri: str,
    *,
    experiment: str,
    run_name: str,
    tags: Mapping[str, Any] | None = None,
    timeout: float = 10.0,
    retries: int = 2,
) -> Iterator[RunHandle]:
    """Open an MLflow run that always ends with a terminal status.

    Parameters
    ----------
    uri
        Tracking URI (``sqlite:///...``, ``http://...``, ``file:...``).
    experiment
        Experiment name; created when missing.
    run_name
        Display name of the run.
    tags
        Tags set at creation.
    timeout, retries
        Bound on each HTTP request and on its retries.

    Raises
    ------
    RegistryError
        When the store cannot be reached or written (exit code 3).
    """
    checked = _check_values("tag", tags or {})
    with _infrastructure("open a run", uri):
        client = _client(uri, timeout=timeout, retries=retries)
        experiment_id = _experiment_id(client, experiment, uri)
        run = client.create_run(experiment_id, run_name=run_name, tags=checked)
    handle = RunHandle(client=client, run_id=run.info.run_id, experiment_id=experiment_id, uri=uri)
    with _terminated(handle):
        yield handle


def load_model(uri: str, run_id: str, *, trusted_types: Sequence[str], timeout: float = 10.0, retries: int = 2) -> Any:
    """Load the model a governance run logged, after checking it is byte for byte what was logged.

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
    import yaml

    with _infrastructure("read the run", uri):
        client = _client(uri, timeout=timeout, retries=retries)
        tags = client.get_run(run_id).data.tags
    model_id, expected = tags.get("model.id"), tags.get("model.sha256")
    if not model_id or not expected:
        raise PrivacyError(
            f"refusing to load a model from run {run_id}: it has no model.id / model.sha256 tags; "
            "governance loads only models it logged and checksummed"
        )
    with tempfile.TemporaryDirectory(prefix="governance-model-") as tmp:
        with _infrastructure("download the model", uri):
            local = _download_model(client, model_id, tmp, uri=uri)
        actual = tree_sha256(local)
        if actual != expected:
            raise PrivacyError(
                f"refusing to load the model of run {run_id}: its files hash to sha256 {actual[:12]}..., "
                f"not the {expected[:12]}... recorded when it was logged; it was changed after logging"
            )
        flavor = (yaml.safe_load((local / "MLmodel").read_text()) or {}).get("flavors", {}).get("sklearn", {})
        if flavor.get("serialization_format") != "skops":
            raise PrivacyError(
                f"refusing to load the model of run {run_id}: expected the skops format, found "
                f"{flavor.get('serialization_format')!r}; pickled models execute code when loaded"
            )
        import skops.io  # type: ignore[import-untyped]
        from skops.io.exceptions import UntrustedTypesFoundException  # type: ignore[import-untyped]

        try:
            return skops.io.load(local / str(flavor.get("pickled_model", "model.skops")), trusted=list(trusted_types))
        except UntrustedTypesFoundException as exc:
            raise PrivacyError(
                f"refusing to load the model of run {run_id}: it contains types that are not trusted ({exc})"
            ) from exc
