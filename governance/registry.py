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
Promotion
    :func:`register_candidate` makes every audited candidate a model version
    with its card (``card/<sha256>.json`` in the run) and the run's audit
    record (tags ``gate.verdict``, ``card.sha256``); :func:`record_review`
    appends reviews to the card; :func:`promote` moves ``champion`` only to a
    version re-verified from the store, and re-verifies after moving it
    (aliases are last-writer-wins in MLflow: there is no compare-and-set).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import random
import re
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from governance.errors import ConfigError, GateFailure, GovernanceError, PrivacyError, Problem, RegistryError
from governance.privacy import redact

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.tracking import MlflowClient

__all__ = [
    "DEMOTED_TAG",
    "Contender",
    "DatasetRecord",
    "DemotionResult",
    "LoggedModel",
    "ModelVersionRecord",
    "PromotionResult",
    "ResolvedModel",
    "Review",
    "ReviewOutcome",
    "RunHandle",
    "VerifiedCard",
    "VersionFacts",
    "canonical_card",
    "champion_reason",
    "choose_champion",
    "dataset_record",
    "demote",
    "load_model",
    "log_audit_results",
    "metric_name",
    "nominate",
    "promote",
    "promote_best",
    "rank_candidates",
    "record_feedback",
    "record_review",
    "register_candidate",
    "resolve_model",
    "safe_uri",
    "tag_version",
    "tracked_run",
    "tree_sha256",
    "verified_card",
    "version_history",
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
    attempts = 0
    for attempt in range(retries + 1):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        attempts += 1
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
        f"the MLflow tracking server at {safe_uri(uri)} did not answer ({problem}) after {attempts} attempt(s) "
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


# ================================================================ model registry: versions, reviews, promotion
# Promotion's own section. Every audited candidate becomes a version of the registered model; the alias
# `champion` moves only to a version re-verified from the store: READY, run FINISHED, card checksums equal to
# the run's audit record, gate verdict "pass", enough approvals and no standing rejection. MLflow aliases are
# last-writer-wins without compare-and-set, so promotions and reviews also take an advisory lease (a
# registered-model tag), and every promotion re-reads the alias after moving it and repairs a champion that
# fails verification. Safety rests on verify-before-set and verify-after-set, never on the lease alone.

#: Schema of the card documents attached to model versions.
CARD_SCHEMA = "governance.card/1"
#: Folder, in a candidate run's artifacts, of its cards; each is stored as ``card/<sha256>.json``.
CARD_FOLDER = "card"
#: Alias of the promoted version.
CHAMPION = "champion"
#: Alias of the version that was champion before the current one.
PREVIOUS_CHAMPION = "previous_champion"
#: Alias of the best passing version that still awaits approvals.
CANDIDATE = "candidate"
#: Registered-model tag of the advisory lease: ``<token> <expiry, epoch seconds> <purpose>``.
LEASE_TAG = "governance.lease"
#: A lease left by a crashed process stops blocking others after this long.
LEASE_TTL_SECONDS = 120.0
#: Version tag set when monitoring demoted the version (the monitoring run id): it cannot be champion again.
DEMOTED_TAG = "monitor.demoted"
#: Longest reviewer name and review note accepted.
MAX_REVIEWER_CHARS = 100
MAX_NOTE_CHARS = 2000

VERDICTS = ("pass", "fail", "inconclusive")
Decision = Literal["approve", "reject"]

_LEASE_SETTLE_SECONDS = 0.2  # between writing the lease and reading it back, so a racing writer's tag lands first
_SETTLE_ROUNDS = 5
_REVIEW_WRITES = 3
_READY = "READY"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class ModelVersionRecord:
    """A registered candidate: one version of the registered model, as the registry holds it.

    Attributes
    ----------
    registered_model, version
        Where it is registered.
    run_id
        The candidate's (nested) run: its tags ``gate.verdict`` and ``card.sha256`` are the audit record.
    candidate
        The candidate's name.
    verdict
        The gate verdict on its card: ``pass``, ``fail`` or ``inconclusive``.
    card_sha256
        sha256 of its current card (``card/<sha256>.json`` in the run's artifacts).
    model_id
        The MLflow logged model (``models:/<model_id>``).
    status
        MLflow's status of the version (``READY`` once created).
    aliases
        Aliases pointing at it when it was read.
    """

    registered_model: str
    version: int
    run_id: str
    candidate: str
    verdict: str
    card_sha256: str
    model_id: str
    status: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Review:
    """One reviewer's decision on a model version, as it appears on the card."""

    reviewer: str
    decision: Decision
    note: str
    at: str

    def to_dict(self) -> dict[str, str]:
        """The card's ``reviews[]`` item."""
        return {"reviewer": self.reviewer, "decision": self.decision, "note": self.note, "at": self.at}


@dataclass(frozen=True)
class ReviewOutcome:
    """What :func:`record_review` recorded, and where the version stands afterwards.

    ``approvals`` and ``rejections`` name the reviewers whose latest decision is
    an approval or a rejection. ``repairs`` says how aliases moved when a
    rejected champion was demoted.
    """

    registered_model: str
    version: int
    review: Review
    approvals: tuple[str, ...]
    rejections: tuple[str, ...]
    card_sha256: str
    champion: int | None
    repairs: tuple[str, ...] = ()


@dataclass(frozen=True)
class PromotionResult:
    """The outcome of :func:`promote` or :func:`nominate`.

    Attributes
    ----------
    alias
        ``champion`` or ``candidate``: what this call gave the version.
    previous_champion
        The version that became ``previous_champion`` (None: none, or unchanged).
    champion
        The version holding ``champion`` after the final verification: another
        verified version when a concurrent promotion wrote after this one (last writer wins).
    changed
        Whether this call moved an alias.
    repairs
        Aliases moved because the champion failed verification.
    """

    registered_model: str
    version: int
    alias: Literal["champion", "candidate"]
    previous_champion: int | None
    champion: int | None
    changed: bool
    repairs: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Evidence:
    """A version as re-read and verified from the store."""

    version: int
    run_id: str
    status: str
    run_status: str
    verdict: str
    card: dict[str, Any]
    card_sha256: str
    reviews: tuple[Review, ...]
    demoted: str = ""

    @property
    def approvals(self) -> tuple[str, ...]:
        return _latest_decisions(self.reviews, "approve")

    @property
    def rejections(self) -> tuple[str, ...]:
        return _latest_decisions(self.reviews, "reject")


def _latest_decisions(reviews: Sequence[Review], decision: str) -> tuple[str, ...]:
    """Reviewers whose latest decision is ``decision``; one person counts once, however often they review."""
    latest: dict[str, Review] = {}
    for review in reviews:
        latest[review.reviewer.strip().casefold()] = review
    return tuple(r.reviewer for r in latest.values() if r.decision == decision)


def _registry_client(uri: str, *, timeout: float, retries: int) -> MlflowClient:
    """A client whose registry is the tracking store itself, whatever MLFLOW_REGISTRY_URI says."""
    _client(uri, timeout=timeout, retries=retries)  # request bounds and the reachability probe
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _error_code(exc: BaseException) -> str:
    return str(getattr(exc, "error_code", ""))


def canonical_card(card: Mapping[str, Any]) -> bytes:
    """The bytes a card is stored and hashed as: sorted keys, 2-space indent, UTF-8, finite numbers, final newline.

    The same bytes as :meth:`governance.card.ModelCard.to_json` for the same document.

    Raises
    ------
    ValueError
        When the card holds NaN or infinity, or values JSON cannot represent.
    """
    from governance._files import canonical_json

    return canonical_json(card)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _audited_part(card: Mapping[str, Any]) -> dict[str, Any]:
    """The card as audited: without its reviews and its feedback items, which are appended after registration."""
    audited = {**card, "reviews": []}
    feedback = card.get("feedback")
    if isinstance(feedback, Mapping) and "items" in feedback:
        audited["feedback"] = {**feedback, "items": []}
    return audited


def _check_card(card: Any, *, run_id: str) -> dict[str, Any]:
    """Every problem of a card given for registration, at once; returns a plain-data copy."""
    if not isinstance(card, Mapping):
        raise ConfigError([Problem("card", f"expected a JSON object, found {type(card).__name__}")])
    problems: list[Problem] = []
    if card.get("schema") != CARD_SCHEMA:
        problems.append(Problem("card.schema", f"expected {CARD_SCHEMA!r}, found {card.get('schema')!r}"))
    gate = card.get("gate")
    verdict = gate.get("verdict") if isinstance(gate, Mapping) else None
    if verdict not in VERDICTS:
        problems.append(Problem("card.gate.verdict", f"expected one of {', '.join(VERDICTS)}, found {verdict!r}"))
    if card.get("reviews") not in (None, [], ()):
        problems.append(
            Problem(
                "card.reviews",
                "a card is registered before any review; found reviews already on it",
                "record reviews with record_review (governance review) after registration",
            )
        )
    feedback = card.get("feedback")
    if isinstance(feedback, Mapping) and feedback.get("items") not in (None, [], ()):
        problems.append(
            Problem(
                "card.feedback.items",
                "a card is registered before any feedback; found feedback items already on it",
                "record feedback with record_feedback (governance feedback add) after registration",
            )
        )
    model = card.get("model", {})
    if not isinstance(model, Mapping):
        problems.append(Problem("card.model", f"expected an object, found {type(model).__name__}"))
    elif model.get("run_id") not in (None, run_id):
        problems.append(
            Problem("card.model.run_id", f"expected the registered run {run_id!r}, found {model.get('run_id')!r}")
        )
    try:
        plain: dict[str, Any] = json.loads(canonical_card(card)) if not problems else {}
    except (TypeError, ValueError) as exc:
        problems.append(Problem("card", f"expected plain JSON data with finite numbers: {exc}"))
        plain = {}
    if problems:
        raise ConfigError(problems)
    return plain


def _model_version(client: MlflowClient, name: str, version: int) -> Any:
    """The version, or a ConfigError naming the versions that exist."""
    try:
        return client.get_model_version(name, str(version))
    except Exception as exc:
        if _error_code(exc) != "RESOURCE_DOES_NOT_EXIST":
            raise
    try:
        found = sorted(int(v.version) for v in client.search_model_versions(f"name = '{_quoted(name)}'"))
    except Exception:
        found = []
    expected = f"one of {found[0]}..{found[-1]}" if found else "none: nothing is registered under that name yet"
    raise ConfigError(
        [Problem("model version", f"{name!r} has no version {version}; expected {expected}", "check --model-version")]
    )


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _aliases(client: MlflowClient, name: str) -> dict[str, int]:
    return {str(alias): int(version) for alias, version in client.get_registered_model(name).aliases.items()}


def _record(name: str, mv: Any) -> ModelVersionRecord:
    tags = mv.tags or {}
    return ModelVersionRecord(
        registered_model=name,
        version=int(mv.version),
        run_id=str(mv.run_id or ""),
        candidate=tags.get("candidate.name", ""),
        verdict=tags.get("gate.verdict", ""),
        card_sha256=tags.get("card.sha256", ""),
        model_id=tags.get("model.id", ""),
        status=str(mv.status),
        aliases=tuple(sorted(mv.aliases or ())),
    )


def _read_card(client: MlflowClient, run_id: str, sha: str) -> bytes | None:
    """The bytes of ``card/<sha>.json`` in the run's artifacts, or None when it is not there."""
    with tempfile.TemporaryDirectory(prefix="governance-card-") as tmp:
        try:
            path = client.download_artifacts(run_id, f"{CARD_FOLDER}/{sha}.json", tmp)
        except Exception as exc:
            if _error_code(exc) in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND") or isinstance(exc, OSError):
                return None
            raise
        file = Path(path)
        return file.read_bytes() if file.is_file() else None


def _await_ready(client: MlflowClient, name: str, mv: Any, *, seconds: float) -> Any:
    """The version once READY; RegistryError when its creation failed or is still pending after ``seconds``."""
    deadline = time.monotonic() + seconds
    while str(mv.status) == "PENDING_REGISTRATION" and time.monotonic() < deadline:
        time.sleep(0.5)
        mv = client.get_model_version(name, str(mv.version))
    if str(mv.status) != _READY:
        raise RegistryError(
            f"{name!r} version {mv.version} is {mv.status}, not READY, after {seconds:.0f} s "
            f"({redact(str(mv.status_message or ''))[:200]}); register the candidate again"
        )
    return mv


def register_candidate(
    uri: str,
    *,
    registered_model: str,
    run_id: str,
    card: Mapping[str, Any],
    timeout: float = 10.0,
    retries: int = 2,
    await_seconds: float = 60.0,
) -> ModelVersionRecord:
    """Register an audited candidate as a version of the registered model, with its card attached.

    The version's source is the model the candidate run logged (run tags
    ``model.id`` and ``model.sha256``: only models governance logged and
    checksummed are registered). Its card, completed with
    ``model.registered_model``, ``model.version`` and ``model.run_id``, is
    stored in the run's artifacts as ``card/<sha256>.json``. The run gets the
    audit record (tags ``gate.verdict`` and ``card.sha256``, written once); the
    version gets tags ``candidate.name``, ``model.id``, ``model.sha256``,
    ``data.sha256``, ``gate.verdict``, ``review.count`` / ``.approvals`` /
    ``.rejections`` and, last, ``card.sha256`` (a version without it is an
    unfinished registration).

    Registering the same run again returns its existing version (completing an
    interrupted registration) instead of creating a duplicate.

    Parameters
    ----------
    uri
        Tracking URI (the registry is the tracking store).
    registered_model
        Name of the registered model (``mlflow.registered_model``); created when missing.
    run_id
        The candidate's run, which logged the model.
    card
        The ``governance.card/1`` document, without reviews; ``gate.verdict`` is read from it.
    timeout, retries
        Bound on each HTTP request and on its retries.
    await_seconds
        Longest wait for the version to become ``READY``.

    Returns
    -------
    ModelVersionRecord

    Raises
    ------
    ConfigError
        (exit 2) The card breaks its contract, the run is unknown, or the run is
        already registered with a different card (an audit record is never rewritten).
    PrivacyError
        (exit 4) The run has no checksummed model.
    RegistryError
        (exit 3) MLflow cannot be reached or written, or the version did not become READY in time.
    """
    from mlflow.exceptions import MlflowException

    if not _RUN_ID.match(run_id):
        raise ConfigError([Problem("run_id", f"expected an MLflow run id, found {run_id!r}")])
    plain = _check_card(card, run_id=run_id)
    verdict = str(plain["gate"]["verdict"])
    with _infrastructure("register the candidate", uri):
        client = _registry_client(uri, timeout=timeout, retries=retries)
        try:
            run = client.get_run(run_id)
        except MlflowException as exc:
            if _error_code(exc) != "RESOURCE_DOES_NOT_EXIST":
                raise
            raise ConfigError([Problem("run_id", f"no run {run_id!r} at {safe_uri(uri)}")]) from exc
        tags = run.data.tags
        model_id, model_sha = tags.get("model.id", ""), tags.get("model.sha256", "")
        if not model_id or not model_sha:
            raise PrivacyError(
                f"refusing to register run {run_id}: it has no model.id / model.sha256 tags; "
                "governance registers only models it logged and checksummed"
            )
        try:
            client.create_registered_model(registered_model, description="Account scoring, governed by governance.")
        except MlflowException as exc:
            if _error_code(exc) not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                raise
        existing = sorted(
            (v for v in client.search_model_versions(f"run_id = '{run_id}'") if v.name == registered_model),
            key=lambda v: int(v.version),
        )
        if existing:
            mv = client.get_model_version(registered_model, existing[0].version)
        elif tags.get("card.sha256"):
            raise ConfigError(
                [
                    Problem(
                        "run_id",
                        f"run {run_id} already holds the audit record of a registration elsewhere (card.sha256 "
                        f"{tags['card.sha256'][:12]}...); a run is registered once and its audit record never rewritten",
                        f"audit a new run to register it under {registered_model!r} (governance run)",
                    )
                ]
            )
        else:
            logged = client.get_logged_model(model_id)
            mv = client.create_model_version(
                registered_model,
                source=logged.artifact_location,  # not models:/<id>: the SQL store resolves that with global state
                run_id=run_id,
                model_id=model_id,
                tags={
                    "candidate.name": tags.get("candidate.name", ""),
                    "model.id": model_id,
                    "model.sha256": model_sha,
                    "data.sha256": tags.get("data.sha256", ""),
                },
                await_creation_for=0,  # waited for below, quietly and with our own message
            )
        mv = _await_ready(client, registered_model, mv, seconds=await_seconds)
        version = int(mv.version)
        audited = copy.deepcopy(plain)
        audited["model"] = {
            **(audited.get("model") or {}),
            "registered_model": registered_model,
            "version": version,
            "run_id": run_id,
        }
        audited["reviews"] = []
        data = canonical_card(audited)  # feedback items are refused at registration: this is the audited part
        sha = _sha(data)
        recorded = tags.get("card.sha256")
        if recorded and recorded != sha:
            raise ConfigError(
                [
                    Problem(
                        "card",
                        f"run {run_id} is already registered as {registered_model!r} version {version} with another "
                        f"card (sha256 {recorded[:12]}..., this one {sha[:12]}...); an audit record is never rewritten",
                        "audit a new run instead (governance run)",
                    )
                ]
            )
        if mv.tags.get("card.sha256"):
            return _record(registered_model, mv)  # already complete: registering again changes nothing
        client.log_text(run_id, data.decode("utf-8"), f"{CARD_FOLDER}/{sha}.json")
        client.set_tag(run_id, "gate.verdict", verdict)
        client.set_tag(run_id, "card.sha256", sha)
        for key, value in (
            ("gate.verdict", verdict),
            ("review.count", "0"),
            ("review.approvals", "0"),
            ("review.rejections", "0"),
            ("card.sha256", sha),  # last: its presence marks a complete registration
        ):
            client.set_model_version_tag(registered_model, str(version), key, value)
        return _record(registered_model, client.get_model_version(registered_model, str(version)))


def _evidence(client: MlflowClient, name: str, version: int, *, uri: str, deep: bool) -> _Evidence:
    """Re-read a version and check it against its run's audit record; tampering raises PrivacyError.

    ``deep`` also re-hashes the model's files against ``model.sha256``.
    """
    from mlflow.exceptions import MlflowException

    label = f"{name!r} version {version}"
    mv = _model_version(client, name, version)
    run_id = str(mv.run_id or "")
    tags = mv.tags or {}
    sha = tags.get("card.sha256", "")
    if not sha:
        raise GateFailure(
            f"{label} has no card: its registration did not complete, so there is no audit to rely on; "
            "register the candidate again",
            report={"registered_model": name, "version": version, "reason": "unregistered"},
        )
    if not run_id:
        raise PrivacyError(f"refusing {label}: it names no run, so it has no audit record")
    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        if _error_code(exc) != "RESOURCE_DOES_NOT_EXIST":
            raise
        raise PrivacyError(f"refusing {label}: its run {run_id}, the audit record, no longer exists") from exc
    record = run.data.tags
    problems = [
        f"tag {key} of the version ({str(tags.get(key))[:16]!r}) differs from its run's audit record "
        f"({str(record.get(key))[:16]!r})"
        for key in ("model.id", "model.sha256", "gate.verdict")
        if not tags.get(key) or tags.get(key) != record.get(key)
    ]
    audited = record.get("card.sha256", "")
    if not _SHA256.match(sha) or not _SHA256.match(audited):
        problems.append("its card.sha256 tags are not sha256 digests")
    if problems:
        raise PrivacyError(f"refusing {label}: " + "; ".join(problems) + "; it was changed after the audit")
    logged = client.get_logged_model(tags["model.id"])
    if str(logged.source_run_id) != run_id or str(mv.source) != str(logged.artifact_location):
        raise PrivacyError(
            f"refusing {label}: its source is not the model its run {run_id} logged ({tags['model.id']}); "
            "it was changed after registration"
        )
    data = _read_card(client, run_id, sha)
    if data is None:
        raise PrivacyError(f"refusing {label}: its card {CARD_FOLDER}/{sha[:12]}....json is missing from run {run_id}")
    if _sha(data) != sha:
        raise PrivacyError(
            f"refusing {label}: its card hashes to sha256 {_sha(data)[:12]}..., not the {sha[:12]}... recorded in "
            "tag card.sha256; the card was changed after it was recorded"
        )
    try:
        card = json.loads(data)
        audited_now = _sha(canonical_card(_audited_part(card)))
        verdict = str(card["gate"]["verdict"])
        model = card["model"]
        reviews = tuple(
            Review(reviewer=str(r["reviewer"]), decision=r["decision"], note=str(r["note"]), at=str(r["at"]))
            for r in card["reviews"]
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise PrivacyError(f"refusing {label}: its card is not a governance card ({type(exc).__name__})") from exc
    if audited_now != audited:
        raise PrivacyError(
            f"refusing {label}: the audited part of its card (everything but the reviews) differs from the audit "
            f"record of run {run_id} (card.sha256 {audited[:12]}...); it was changed after the audit"
        )
    if (
        verdict != tags.get("gate.verdict")
        or str(model.get("version")) != str(version)
        or model.get("run_id") != run_id
    ):
        raise PrivacyError(f"refusing {label}: its card describes another verdict, version or run than its tags")
    if any(r.decision not in ("approve", "reject") for r in reviews):
        raise PrivacyError(f"refusing {label}: its card holds a review that is neither an approval nor a rejection")
    if deep:
        with tempfile.TemporaryDirectory(prefix="governance-model-") as tmp:
            actual = tree_sha256(_download_model(client, tags["model.id"], tmp, uri=uri))
        if actual != record.get("model.sha256"):
            raise PrivacyError(
                f"refusing {label}: its model files hash to sha256 {actual[:12]}..., not the "
                f"{str(record.get('model.sha256'))[:12]}... recorded when they were logged; they changed after the audit"
            )
    return _Evidence(
        version=version,
        run_id=run_id,
        status=str(mv.status),
        run_status=str(run.info.status),
        verdict=verdict,
        card=card,
        card_sha256=sha,
        reviews=reviews,
        demoted=str(tags.get(DEMOTED_TAG, "")),
    )


def _refusal(evidence: _Evidence, *, name: str, action: str, required: int | None) -> GovernanceError | None:
    """Why this version may not take the alias (None: it may); ``required=None`` skips the approval count."""
    label = f"{name!r} version {evidence.version}"
    report: dict[str, Any] = {
        "registered_model": name,
        "version": evidence.version,
        "run_id": evidence.run_id,
        "verdict": evidence.verdict,
        "approvals": list(evidence.approvals),
        "rejections": list(evidence.rejections),
        "required_approvals": required,
    }
    if evidence.status != _READY:
        return RegistryError(
            f"refusing to {action} {label}: its status is {evidence.status}, not READY; "
            "wait for the registry to finish creating it, or register the candidate again"
        )
    if evidence.run_status != "FINISHED":
        return GateFailure(
            f"refusing to {action} {label}: its run {evidence.run_id} ended {evidence.run_status}, not FINISHED; "
            "the audit of an unfinished run is no evidence",
            report={**report, "reason": "run"},
        )
    if evidence.verdict != "pass":
        return GateFailure(
            f"refusing to {action} {label}: its gate verdict is {evidence.verdict!r}; only a version whose gate "
            "passed can take this alias (its card lists the rules)",
            report={**report, "reason": "verdict"},
        )
    if evidence.demoted:
        return GateFailure(
            f"refusing to {action} {label}: it failed its re-evaluation on new data and was demoted (monitoring "
            f"run {evidence.demoted}); audit a new version (governance run), or delete the version tag "
            f"{DEMOTED_TAG} after review",
            report={**report, "reason": "demoted"},
        )
    if evidence.rejections:
        return GateFailure(
            f"refusing to {action} {label}: rejected by {', '.join(evidence.rejections)}; a rejection stands "
            "until the same reviewer approves",
            report={**report, "reason": "rejected"},
        )
    if required is not None and len(evidence.approvals) < required:
        return GateFailure(
            f"refusing to {action} {label}: {len(evidence.approvals)} approval(s) of the {required} the policy "
            f"requires; record reviews with `governance review --model-version {evidence.version} --approve ...`",
            report={**report, "reason": "approvals"},
        )
    return None


def _holds(client: MlflowClient, name: str, version: int, *, uri: str, required: int, deep: bool) -> bool:
    """Whether a version passes every check a champion must pass, now."""
    try:
        evidence = _evidence(client, name, version, uri=uri, deep=deep)
    except GovernanceError:  # a refusal, tampering, or no such version; store failures propagate
        return False
    return _refusal(evidence, name=name, action="keep", required=required) is None


@contextmanager
def _lease(client: MlflowClient, name: str, *, purpose: str, wait: float) -> Iterator[None]:
    """Hold the advisory lease of a registered model (tag ``governance.lease``) for the block.

    Write our token, wait, read it back: we hold the lease when it is still ours.
    MLflow has no compare-and-set, so two writers can in rare timings both
    believe they hold it; nothing relies on it for safety (see :func:`promote`).
    It serializes the read-modify-write of cards and of ``previous_champion``.
    """
    token = f"{uuid.uuid4().hex}"
    deadline = time.monotonic() + wait
    holder: tuple[str, float, str] | None = None
    while True:
        holder = _lease_holder(client, name)
        if holder is None or holder[1] < time.time() or holder[0] == token:
            expires = time.time() + LEASE_TTL_SECONDS
            try:
                client.set_registered_model_tag(name, LEASE_TAG, f"{token} {expires:.3f} {purpose}")
            except Exception as exc:  # two first writers collide in the store (SQLite: UNIQUE constraint)
                if not _is_write_conflict(exc):
                    raise
            else:
                time.sleep(_LEASE_SETTLE_SECONDS)
                holder = _lease_holder(client, name)
                if holder is not None and holder[0] == token:
                    break
        if time.monotonic() >= deadline:
            until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(holder[1])) if holder else "?"
            raise RegistryError(
                f"another process holds the promotion lease of {name!r} ({holder[2] if holder else '?'}, until "
                f"{until}); retry when it is done, or delete the registered-model tag {LEASE_TAG} if its holder crashed"
            )
        time.sleep(random.uniform(0.05, 0.25))  # jitter: two waiters do not retry in lockstep
    try:
        yield
    finally:
        try:
            holder = _lease_holder(client, name)
            if holder is not None and holder[0] == token:
                client.delete_registered_model_tag(name, LEASE_TAG)
        except Exception:  # the lease expires by itself; never mask the block's own outcome
            pass


def _is_write_conflict(exc: BaseException) -> bool:
    """A concurrent write lost a race in the store: another writer inserted the same key, or held the lock."""
    text = str(exc).lower()
    return any(marker in text for marker in ("unique constraint", "database is locked", "integrityerror", "duplicate"))


def _lease_holder(client: MlflowClient, name: str) -> tuple[str, float, str] | None:
    value = client.get_registered_model(name).tags.get(LEASE_TAG, "")
    token, _, rest = str(value).partition(" ")
    expires, _, purpose = rest.partition(" ")
    try:
        return (token, float(expires), purpose) if token else None
    except ValueError:
        return (token, 0.0, purpose)  # unreadable: treat as expired


def _settle(
    client: MlflowClient, name: str, *, uri: str, ours: int | None, fallbacks: Sequence[int | None], required: int
) -> tuple[int | None, tuple[str, ...]]:
    """Re-read ``champion`` until it names a version that passes verification, repairing it when it does not.

    A failing champion is replaced by ``ours`` (when it still passes), else the
    first passing fallback, else ``previous_champion``, else the alias is removed:
    a failing version never stays champion. Returns the champion and the repairs made.
    """
    repairs: list[str] = []
    for _ in range(_SETTLE_ROUNDS):
        aliases = _aliases(client, name)
        current = aliases.get(CHAMPION)
        if current is None or _holds(client, name, current, uri=uri, required=required, deep=current != ours):
            return current, tuple(repairs)
        options = [v for v in (ours, *fallbacks, aliases.get(PREVIOUS_CHAMPION)) if v is not None and v != current]
        replacement = next(
            (v for v in dict.fromkeys(options) if _holds(client, name, v, uri=uri, required=required, deep=v != ours)),
            None,
        )
        if replacement is None:
            client.delete_registered_model_alias(name, CHAMPION)
            repairs.append(
                f"removed alias champion from version {current}: it fails verification, and no verified version could replace it"
            )
        else:
            client.set_registered_model_alias(name, CHAMPION, str(replacement))
            repairs.append(
                f"moved alias champion from version {current}, which fails verification, to version {replacement}"
            )
            if aliases.get(PREVIOUS_CHAMPION) == replacement:
                client.delete_registered_model_alias(name, PREVIOUS_CHAMPION)
    raise RegistryError(
        f"the champion of {name!r} kept changing while it was verified ({_SETTLE_ROUNDS} rounds); "
        "run `governance promote` again"
    )


def _demote_if_champion(
    client: MlflowClient, name: str, version: int, *, uri: str, required: int
) -> tuple[int | None, tuple[str, ...]]:
    """After a version was found failing: if it is champion, replace it (see :func:`_settle`)."""
    aliases = _aliases(client, name)
    if aliases.get(CHAMPION) != version:
        return aliases.get(CHAMPION), ()
    return _settle(client, name, uri=uri, ours=None, fallbacks=(aliases.get(PREVIOUS_CHAMPION),), required=required)


def _with_note(exc: GovernanceError, note: str) -> GovernanceError:
    """The same refusal with a sentence added (what happened to the aliases)."""
    if isinstance(exc, GateFailure):
        return GateFailure(f"{exc}; {note}", report=exc.report)
    return type(exc)(f"{exc}; {note}")


def promote(
    uri: str,
    *,
    registered_model: str,
    version: int,
    required_approvals: int,
    timeout: float = 10.0,
    retries: int = 2,
    lease_wait: float = 60.0,
) -> PromotionResult:
    """Give a version the alias ``champion`` after re-checking all its evidence; the old champion becomes ``previous_champion``.

    The protocol, under the registered model's advisory lease:

    1. re-read the version and verify it: status ``READY``; its run ``FINISHED``;
       its card file hashes to tag ``card.sha256``, the card's audited part to the
       run's audit record, and verdict, model id and model checksum agree between
       card, version and run; the model's files still hash to ``model.sha256``;
       gate verdict ``pass``; at least ``required_approvals`` approving reviewers
       and no reviewer whose latest decision is a rejection. Any failure refuses
       before an alias moves (and demotes the version if it was champion);
    2. move ``previous_champion`` to the old champion, then ``champion`` to the
       version, then drop ``candidate`` from it; if a write fails, the aliases
       touched are put back as they were;
    3. re-read ``champion`` and verify whatever version it names; one that fails
       (a concurrent rejection, a write by another tool) is replaced by a verified
       version, or the alias is removed. Two verified promotions racing end
       with the later writer as champion, which is a verified version either way.

    Parameters
    ----------
    uri
        Tracking URI.
    registered_model
        Name of the registered model.
    version
        The version to promote.
    required_approvals
        Approving reviewers required (``policy.required_approvals``).
    timeout, retries
        Bound on each HTTP request and on its retries.
    lease_wait
        Longest wait for another promotion or review of the same model to finish.

    Returns
    -------
    PromotionResult

    Raises
    ------
    GateFailure
        (exit 1) Gate verdict not ``pass``, approvals missing, a standing
        rejection, an unfinished run or registration; ``.report`` says which (``reason``).
    PrivacyError
        (exit 4) The card, the tags or the model changed after the audit.
    ConfigError
        (exit 2) No such version.
    RegistryError
        (exit 3) MLflow unreachable or failing, version not READY, or the lease not obtained in time.
    """
    with _infrastructure("promote the model version", uri):
        client = _registry_client(uri, timeout=timeout, retries=retries)
        _model_version(client, registered_model, version)
        with _lease(client, registered_model, purpose=f"promote version {version}", wait=lease_wait):
            try:
                evidence = _evidence(client, registered_model, version, uri=uri, deep=True)
                refusal = _refusal(evidence, name=registered_model, action="promote", required=required_approvals)
            except (GateFailure, PrivacyError) as exc:
                refusal = exc
            if refusal is not None:
                champion, repairs = _demote_if_champion(
                    client, registered_model, version, uri=uri, required=required_approvals
                )
                if repairs:
                    raise _with_note(refusal, f"it was champion: {'; '.join(repairs)}") from refusal
                raise refusal
            before = _aliases(client, registered_model)
            old = before.get(CHAMPION)
            changed = old != version or before.get(CANDIDATE) == version
            if changed:
                _move_aliases(client, registered_model, version, before)
            champion, repairs = _settle(
                client, registered_model, uri=uri, ours=version, fallbacks=(old,), required=required_approvals
            )
            if champion != version and not _holds(
                client, registered_model, version, uri=uri, required=required_approvals, deep=False
            ):
                raise GateFailure(
                    f"{registered_model!r} version {version} stopped passing verification while it was promoted "
                    f"(a concurrent review?); champion is {champion if champion is not None else 'unset'}: "
                    + "; ".join(repairs),
                    report={"registered_model": registered_model, "version": version, "reason": "changed"},
                )
    return PromotionResult(
        registered_model=registered_model,
        version=version,
        alias="champion",
        previous_champion=old if changed and old != version else None,
        champion=champion,
        changed=changed,
        repairs=repairs,
    )


def _move_aliases(client: MlflowClient, name: str, version: int, before: Mapping[str, int]) -> None:
    """previous_champion <- old champion, champion <- version, candidate dropped; all or nothing."""
    old = before.get(CHAMPION)
    touched: list[str] = []
    try:
        if old is not None and old != version:
            touched.append(PREVIOUS_CHAMPION)
            client.set_registered_model_alias(name, PREVIOUS_CHAMPION, str(old))
        touched.append(CHAMPION)
        client.set_registered_model_alias(name, CHAMPION, str(version))
        if before.get(CANDIDATE) == version:
            touched.append(CANDIDATE)
            client.delete_registered_model_alias(name, CANDIDATE)
    except BaseException:
        for alias in reversed(touched):  # a failed promotion leaves the registry as it was
            try:
                if before.get(alias) is None:
                    client.delete_registered_model_alias(name, alias)
                else:
                    client.set_registered_model_alias(name, alias, str(before[alias]))
            except Exception:
                pass  # the final verification of the next promotion repairs what could not be put back
        raise


def nominate(
    uri: str,
    *,
    registered_model: str,
    version: int,
    timeout: float = 10.0,
    retries: int = 2,
    lease_wait: float = 60.0,
) -> PromotionResult:
    """Give a version whose gate passed the alias ``candidate``: proposed for review, not yet approved.

    Verified as for :func:`promote` except the approval count; a version that
    is already champion keeps that alias and is not nominated.

    Raises
    ------
    GateFailure, PrivacyError, ConfigError, RegistryError
        As :func:`promote`.
    """
    with _infrastructure("nominate the model version", uri):
        client = _registry_client(uri, timeout=timeout, retries=retries)
        _model_version(client, registered_model, version)
        with _lease(client, registered_model, purpose=f"nominate version {version}", wait=lease_wait):
            evidence = _evidence(client, registered_model, version, uri=uri, deep=True)
            refusal = _refusal(evidence, name=registered_model, action="nominate", required=None)
            if refusal is not None:
                raise refusal
            before = _aliases(client, registered_model)
            changed = before.get(CANDIDATE) != version and before.get(CHAMPION) != version
            if changed:
                client.set_registered_model_alias(registered_model, CANDIDATE, str(version))
    return PromotionResult(
        registered_model=registered_model,
        version=version,
        alias="candidate",
        previous_champion=None,
        champion=before.get(CHAMPION),
        changed=changed,
    )


@dataclass(frozen=True)
class Contender:
    """A registered candidate of a run, as the champion choice sees it.

    Attributes
    ----------
    record
        The registered version; ``record.verdict`` is the gate's verdict on its card.
    selection
        ``policy.selection_metric`` on the validation split (the test split is the
        one audited); higher is better.
    undecided
        The rules the gate let through without a decision: verdict ``inconclusive``
        or ``insufficient_data``, allowed as warnings by ``on_inconclusive: warn``;
        one ``"<rule> (<verdict>)"`` each. Empty when every rule passed.
    """

    record: ModelVersionRecord
    selection: float
    undecided: tuple[str, ...] = ()

    @property
    def decided(self) -> bool:
        """Whether every rule of its gate was decided (none allowed through as a warning)."""
        return not self.undecided


def rank_candidates(candidates: Sequence[Contender]) -> tuple[Contender, ...]:
    """The candidates that may become champion, best first.

    Only versions whose gate passed and whose selection metric is finite take
    part. One that passed with every rule decided ranks above one that passed
    with undecided rules allowed as warnings, whatever their metrics; then the
    higher selection metric; then the candidate's name, then the lower version
    (so the order never depends on the input order).

    Parameters
    ----------
    candidates
        Every registered candidate of the run, passing or not.

    Returns
    -------
    tuple of Contender
        The eligible candidates in rank order; empty when none passed.
    """
    eligible = [c for c in candidates if c.record.verdict == "pass" and math.isfinite(c.selection)]
    return tuple(sorted(eligible, key=lambda c: (not c.decided, -c.selection, c.record.candidate, c.record.version)))


def choose_champion(candidates: Sequence[Contender]) -> ModelVersionRecord | None:
    """The version that should be champion: the first of :func:`rank_candidates`, or None when none passed."""
    ranked = rank_candidates(candidates)
    return ranked[0].record if ranked else None


def _rule_count(n: int) -> str:
    return f"{n} rule" if n == 1 else f"{n} rules"


def champion_reason(candidates: Sequence[Contender], *, metric: str) -> str:
    """Why :func:`choose_champion` chose what it chose, in one sentence for the run's summary.

    Parameters
    ----------
    candidates
        Every registered candidate of the run, as given to :func:`choose_champion`.
    metric
        The selection metric's name (``policy.selection_metric``), as printed.

    Returns
    -------
    str
        For instance ``"lightgbm_fair: passed with every rule decided; validation auc 0.771 (best of 2
        such candidates)"``; when no candidate passed, what the candidates' verdicts were.
    """
    ranked = rank_candidates(candidates)
    if not ranked:
        tally = {v: sum(c.record.verdict == v for c in candidates) for v in ("pass", "fail", "inconclusive")}
        counted = ", ".join(f"{n} {v}" for v, n in tally.items() if n) or "no candidates"
        text = f"no candidate passed the gate ({counted})"
        if tally["pass"]:
            text += f"; those that passed have no finite validation {metric}"
        return text
    best = ranked[0]
    peers = [c for c in ranked if c.decided == best.decided]
    standing = f"best of {len(peers)} such candidates" if len(peers) > 1 else "the only such candidate"
    score = f"validation {metric} {best.selection:.3f} ({standing})"
    if best.decided:
        text = f"{best.record.candidate}: passed with every rule decided; {score}"
        others = len(ranked) - len(peers)
        if others:
            text += (
                f"; ranked above {others} passing candidate{'s' if others > 1 else ''} "
                "with undecided rules allowed as warnings"
            )
        return text
    return (
        f"{best.record.candidate}: passed with {_rule_count(len(best.undecided))} undecided (allowed as "
        f"{'a warning' if len(best.undecided) == 1 else 'warnings'} by on_inconclusive: warn): "
        f"{', '.join(best.undecided)}; no candidate passed with every rule decided; {score}"
    )


def promote_best(
    uri: str,
    *,
    registered_model: str,
    candidates: Sequence[Contender],
    required_approvals: int,
    timeout: float = 10.0,
    retries: int = 2,
    lease_wait: float = 60.0,
) -> PromotionResult | None:
    """Promote the best passing candidate of a run: ``champion`` when its approvals are met, else ``candidate``.

    What ``governance run`` does with the versions it registered (see
    :func:`choose_champion`). A fresh version has no reviews, so it becomes
    ``champion`` only when the policy requires no approval. Returns None, and
    moves no alias, when no candidate passed.

    Raises
    ------
    GateFailure, PrivacyError, ConfigError, RegistryError
        As :func:`promote`, except that missing approvals give the ``candidate`` alias instead.
    """
    best = choose_champion(candidates)
    if best is None:
        return None
    try:
        return promote(
            uri,
            registered_model=registered_model,
            version=best.version,
            required_approvals=required_approvals,
            timeout=timeout,
            retries=retries,
            lease_wait=lease_wait,
        )
    except GateFailure as exc:
        if not isinstance(exc.report, Mapping) or exc.report.get("reason") != "approvals":
            raise
    return nominate(
        uri,
        registered_model=registered_model,
        version=best.version,
        timeout=timeout,
        retries=retries,
        lease_wait=lease_wait,
    )


def _checked_review(decision: str, reviewer: str, note: str, at: datetime | None) -> Review:
    """Every problem of a review at once (ConfigError); personal data in it is refused (PrivacyError)."""
    problems: list[Problem] = []
    if decision not in ("approve", "reject"):
        problems.append(Problem("decision", f"expected 'approve' or 'reject', found {decision!r}"))
    reviewer, note = reviewer.strip(), note.strip()
    if not reviewer:
        problems.append(Problem("reviewer", "expected the reviewer's name, found nothing"))
    elif len(reviewer) > MAX_REVIEWER_CHARS or _CONTROL.search(reviewer) or "\n" in reviewer:
        problems.append(
            Problem("reviewer", f"expected one line of at most {MAX_REVIEWER_CHARS} characters, found {len(reviewer)}")
        )
    if not note:
        problems.append(Problem("note", "expected a note saying why, found nothing", "every review states its reason"))
    elif len(note) > MAX_NOTE_CHARS:
        problems.append(Problem("note", f"expected at most {MAX_NOTE_CHARS} characters, found {len(note)}"))
    elif _CONTROL.search(note):
        problems.append(Problem("note", "expected text, found control characters"))
    if at is not None and at.tzinfo is None:
        problems.append(Problem("at", "expected a timezone-aware time, found a naive one"))
    if problems:
        raise ConfigError(problems)
    for field_name, text in (("reviewer", reviewer), ("note", note)):
        if redact(text) != text:
            raise PrivacyError(
                f"refusing the review: its {field_name} looks like it holds personal data (an e-mail address or a "
                "phone number); reviews are published on the card, so leave contact details out"
            )
    moment = (at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    checked: Decision = "approve" if decision == "approve" else "reject"
    return Review(reviewer=reviewer, decision=checked, note=note, at=moment)


def _review_tags(client: MlflowClient, name: str, version: int, reviews: Sequence[Review]) -> None:
    """The reviews of the committed card as version tags, writing only those that differ."""
    current = client.get_model_version(name, str(version)).tags or {}
    wanted = {
        "review.count": str(len(reviews)),
        "review.approvals": str(len(_latest_decisions(reviews, "approve"))),
        "review.rejections": str(len(_latest_decisions(reviews, "reject"))),
    }
    for i, review in enumerate(reviews, start=1):
        wanted |= {f"review.{i}.{key}": value for key, value in review.to_dict().items()}
    for key, value in wanted.items():
        if current.get(key) != value:
            client.set_model_version_tag(name, str(version), key, value)


def record_review(
    uri: str,
    *,
    registered_model: str,
    version: int,
    decision: Decision,
    reviewer: str,
    note: str,
    at: datetime | None = None,
    required_approvals: int = 0,
    timeout: float = 10.0,
    retries: int = 2,
    lease_wait: float = 60.0,
) -> ReviewOutcome:
    """Record a reviewer's approval or rejection of a version: on its card and in its tags.

    Under the registered model's lease, the current card is verified (as for
    :func:`promote`: a tampered card is never re-signed by a review), the review
    is appended to its ``reviews``, the new card is stored as
    ``card/<sha256>.json`` and tag ``card.sha256`` is switched to it (one write:
    the commit point); then the summary tags ``review.count``,
    ``review.approvals``, ``review.rejections`` and ``review.<n>.reviewer`` /
    ``.decision`` / ``.note`` / ``.at`` are written. A rejection of the current
    champion demotes it: ``previous_champion`` takes its place when it still
    passes verification, otherwise the alias is removed.

    Each reviewer counts once: their latest decision stands.

    Parameters
    ----------
    uri
        Tracking URI.
    registered_model, version
        The version reviewed.
    decision
        ``approve`` or ``reject``.
    reviewer
        Who decides (one line, at most 100 characters; no e-mail address or phone number).
    note
        Why (at most 2,000 characters; no e-mail address or phone number).
    at
        When (timezone-aware); now by default.
    required_approvals
        The policy's count, used to verify a replacement champion after a demotion.
    timeout, retries, lease_wait
        As :func:`promote`.

    Returns
    -------
    ReviewOutcome

    Raises
    ------
    ConfigError
        (exit 2) An empty or too long reviewer or note, an unknown decision, no such version.
    PrivacyError
        (exit 4) Personal data in the review, or the card was changed after it was recorded.
    RegistryError
        (exit 3) MLflow unreachable or failing, or the lease not obtained in time.
    """
    review = _checked_review(decision, reviewer, note, at)
    with _infrastructure("record the review", uri):
        client = _registry_client(uri, timeout=timeout, retries=retries)
        _model_version(client, registered_model, version)
        with _lease(client, registered_model, purpose=f"review version {version}", wait=lease_wait):
            name, number = registered_model, str(version)
            evidence = _evidence(client, name, version, uri=uri, deep=False)
            for _ in range(_REVIEW_WRITES):
                if review in evidence.reviews:
                    break
                card = {**evidence.card, "reviews": [r.to_dict() for r in (*evidence.reviews, review)]}
                data = canonical_card(card)
                sha = _sha(data)
                client.log_text(evidence.run_id, data.decode("utf-8"), f"{CARD_FOLDER}/{sha}.json")
                client.set_model_version_tag(name, number, "card.sha256", sha)  # the commit point
                # read back: a concurrent writer holding the lease by mistake may have overwritten this card
                time.sleep(_LEASE_SETTLE_SECONDS)
                evidence = _evidence(client, name, version, uri=uri, deep=False)
            if review not in evidence.reviews:
                raise RegistryError(
                    f"concurrent reviews of {name!r} version {version} kept overwriting this one; run the command again"
                )
            _review_tags(client, name, version, evidence.reviews)
            approvals, rejections = evidence.approvals, evidence.rejections
            champion, repairs = (
                _demote_if_champion(client, name, version, uri=uri, required=required_approvals)
                if rejections
                else (_aliases(client, name).get(CHAMPION), ())
            )
    return ReviewOutcome(
        registered_model=registered_model,
        version=version,
        review=review,
        approvals=approvals,
        rejections=rejections,
        card_sha256=evidence.card_sha256,
        champion=champion,
        repairs=repairs,
    )


# ---------------------------------------------------------------- feedback, monitoring and demotion (issue #7)


@dataclass(frozen=True)
class VerifiedCard:
    """A version's current card, re-read from the store and verified against its run's audit record.

    Attributes
    ----------
    registered_model, version, run_id, candidate
        Which version.
    card
        The card document as stored (reviews and feedback included).
    card_sha256
        Its checksum (version tag ``card.sha256``).
    aliases
        Aliases pointing at the version when it was read.
    """

    registered_model: str
    version: int
    run_id: str
    candidate: str
    card: Mapping[str, Any]
    card_sha256: str
    aliases: tuple[str, ...] = ()


def verified_card(
    uri: str,
    *,
    registered_model: str,
    version: int | None = None,
    alias: str = CHAMPION,
    timeout: float = 10.0,
    retries: int = 2,
) -> VerifiedCard:
    """The current card of a version (or of the version an alias names), verified as promotion verifies it.

    Raises
    ------
    ConfigError
        (exit 2) No such version, or no version holds the alias.
    PrivacyError
        (exit 4) The card, its tags or its run changed after the audit.
    GateFailure
        (exit 1) The version's registration did not complete.
    RegistryError
        (exit 3) MLflow cannot be reached or read.
    """
    with _infrastructure("read the model version's card", uri):
        client = _registry_client(uri, timeout=timeout, retries=retries)
        if version is None:
            try:
                version = int(client.get_model_version_by_alias(registered_model, alias).version)
            except Exception as exc:
                if _error_code(exc) not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                    raise
                raise ConfigError(
                    [
                        Problem(
                            "model",
                            f"registered model {registered_model!r} has no version with the alias {alias!r}",
                            "promote a version first (governance run, or governance promote)",
                        )
                    ]
                ) from None
        evidence = _evidence(client, registered_model, version, uri=uri, deep=False)
        return _verified(client, registered_model, version, evidence)


def _verified(client: MlflowClient, name: str, version: int, evidence: _Evidence) -> VerifiedCard:
    mv = client.get_model_version(name, str(version))
    return VerifiedCard(
        registered_model=name,
        version=version,
        run_id=evidence.run_id,
        candidate=str((mv.tags or {}).get("candidate.name", "")),
        card=evidence.card,
        card_sha256=evidence.card_sha256,
        aliases=tuple(sorted(mv.aliases or ())),
    )


def record_feedback(
    uri: str,
    *,
    registered_model: str,
    version: int,
    items: Sequence[Mapping[str, Any]],
    timeout: float = 10.0,
    retries: int = 2,
    lease_wait: float = 60.0,
) -> VerifiedCard:
    """Make a version's card list exactly these feedback items (``feedback.items``), as reviews are recorded.

    Under the registered model's lease the current card is verified (a changed card is
    never re-signed), the new card is stored as ``card/<sha256>.json`` and tag
    ``card.sha256`` is switched to it (the commit point), then tag ``feedback.count``.
    Feedback is not part of the audited card, so the audit record is unchanged. The
    items come from the ledger (:mod:`governance.ledger`): recording them all each time
    makes a failed update complete at the next one.

    Parameters
    ----------
    uri
        Tracking URI.
    registered_model, version
        The version the feedback is about.
    items
        The card's ``feedback.items``: ``id``, ``text``, ``at``, ``about_account``, ``status``.
    timeout, retries, lease_wait
        As :func:`promote`.

    Returns
    -------
    VerifiedCard
        The card as now stored.

    Raises
    ------
    ConfigError, PrivacyError, GateFailure, RegistryError
        As :func:`verified_card`; RegistryError also when the lease is not obtained in time.
    """
    wanted = [dict(item) for item in items]
    for item in wanted:
        _check_values("feedback", {str(item.get("id")): item.get("text", "")})
    with _infrastructure("record the feedback", uri):
        client = _registry_client(uri, timeout=timeout, retries=retries)
        _model_version(client, registered_model, version)
        with _lease(client, registered_model, purpose=f"feedback on version {version}", wait=lease_wait):
            name, number = registered_model, str(version)
            evidence = _evidence(client, name, version, uri=uri, deep=False)
            for _ in range(_REVIEW_WRITES):
                feedback = dict(evidence.card.get("feedback") or {})
                if feedback.get("items") == wanted:
                    break
                card = {**evidence.card, "feedback": {**feedback, "contact": feedback.get("contact"), "items": wanted}}
                data = canonical_card(card)
                sha = _sha(data)
                client.log_text(evidence.run_id, data.decode("utf-8"), f"{CARD_FOLDER}/{sha}.json")
                client.set_model_version_tag(name, number, "card.sha256", sha)  # the commit point
                time.sleep(_LEASE_SETTLE_SECONDS)
                evidence = _evidence(client, name, version, uri=uri, deep=False)
            if (evidence.card.get("feedback") or {}).get("items") != wanted:
                raise RegistryError(
                    f"concurrent writes to the card of {name!r} version {version} kept overwriting the feedback; "
                    "run the command again"
                )
            client.set_model_version_tag(name, number, "feedback.count", str(len(wanted)))
            return _verified(client, name, version, evidence)


def tag_version(
    uri: str,
    *,
    registered_model: str,
    version: int,
    tags: Mapping[str, Any],
    timeout: float = 10.0,
    retries: int = 2,
) -> None:
    """Set informational tags on a model version (``monitor.verdict``, ``monitor.run_id``, ...).

    Raises
    ------
    PrivacyError
        (exit 4) A value that looks like personal data.
    RegistryError
        (exit 3) MLflow cannot be reached or written.
    """
    checked = _check_values("version tag", tags)
    with _infrastructure("tag the model version", uri):
        client = _registry_client(uri, timeout=timeout, retries=retries)
        _model_version(client, registered_model, version)
        for key, value in checked.items():
            client.set_model_version_tag(registered_model, str(version), key, value)


@dataclass(frozen=True)
class DemotionResult:
    """What :func:`demote` did.

    Attributes
    ----------
    version
        The version demoted (tag ``monitor.demoted`` set: it can never be champion again).
    was_champion
        Whether it held ``champion`` when the demotion started.
    champion
        The version holding ``champion`` after the final verification (None: no champion).
    changed
        Whether an alias moved.
    repairs
        What happened to the aliases, in words.
    """

    registered_model: str
    version: int
    was_champion: bool
    champion: int | None
    changed: bool
    repairs: tuple[str, ...] = ()


def demote(
    uri: str,
    *,
    registered_model: str,
    version: int,
    monitoring_run: str,
    required_approvals: int,
    timeout: float = 10.0,
    retries: int = 2,
    lease_wait: float = 60.0,
) -> DemotionResult:
    """Take ``champion`` from a version that failed its re-evaluation, giving it back to ``previous_champion``.

    The protocol, under the registered model's lease (promotion's):

    1. tag the version ``monitor.demoted = <monitoring run>`` first, so that no promotion,
       review or repair running now or later can make it champion again (promotion
       verification refuses a demoted version);
    2. if it still holds ``champion``: verify ``previous_champion`` as a promotion would
       (READY, run FINISHED, card checksums equal to the audit record, model files
       re-hashed, verdict pass, approvals, no rejection, not demoted) and move ``champion``
       to it, dropping ``previous_champion`` (the demoted version is no rollback target);
       when it does not verify, remove ``champion``: no version is better than a failing one;
    3. re-read ``champion`` and verify whatever version it names, repairing it as
       :func:`promote` does (MLflow aliases are last-writer-wins).

    Parameters
    ----------
    uri
        Tracking URI.
    registered_model, version
        The version that failed.
    monitoring_run
        The MLflow run of the monitoring that found it failing (recorded in the tag).
    required_approvals
        The policy's count, to verify the replacement.
    timeout, retries, lease_wait
        As :func:`promote`.

    Raises
    ------
    ConfigError
        (exit 2) No such version.
    RegistryError
        (exit 3) MLflow cannot be reached or written, or the lease not obtained in time.
    """
    checked = _check_values("version tag", {DEMOTED_TAG: monitoring_run})
    with _infrastructure("demote the model version", uri):
        client = _registry_client(uri, timeout=timeout, retries=retries)
        _model_version(client, registered_model, version)
        with _lease(client, registered_model, purpose=f"demote version {version}", wait=lease_wait):
            client.set_model_version_tag(registered_model, str(version), DEMOTED_TAG, checked[DEMOTED_TAG])
            before = _aliases(client, registered_model)
            was_champion = before.get(CHAMPION) == version
            repairs: list[str] = []
            if was_champion:
                previous = before.get(PREVIOUS_CHAMPION)
                if (
                    previous is not None
                    and previous != version
                    and _holds(client, registered_model, previous, uri=uri, required=required_approvals, deep=True)
                ):
                    client.set_registered_model_alias(registered_model, CHAMPION, str(previous))
                    client.delete_registered_model_alias(registered_model, PREVIOUS_CHAMPION)
                    repairs.append(f"moved alias champion from version {version} back to version {previous}")
                else:
                    client.delete_registered_model_alias(registered_model, CHAMPION)
                    why = (
                        "no previous_champion"
                        if previous is None or previous == version
                        else f"previous_champion (version {previous}) fails verification"
                    )
                    repairs.append(f"removed alias champion from version {version}: {why}, so no version is champion")
            elif before.get(PREVIOUS_CHAMPION) == version:
                client.delete_registered_model_alias(registered_model, PREVIOUS_CHAMPION)
                repairs.append(f"removed alias previous_champion from version {version}")
            champion, settled = _settle(
                client, registered_model, uri=uri, ours=None, fallbacks=(), required=required_approvals
            )
    return DemotionResult(
        registered_model=registered_model,
        version=version,
        was_champion=was_champion,
        champion=champion,
        changed=bool(repairs or settled),
        repairs=(*repairs, *settled),
    )


@dataclass(frozen=True)
class VersionFacts:
    """What the registry says about one version, for an access report: which data trained it, and when."""

    version: int
    run_id: str
    candidate: str
    data_sha256: str
    trained_at: datetime | None
    aliases: tuple[str, ...]
    verdict: str


def version_history(
    uri: str, *, registered_model: str, timeout: float = 10.0, retries: int = 2
) -> tuple[VersionFacts, ...]:
    """Every version of the registered model, oldest first, with its training data's fingerprint and time.

    A registered model that does not exist yet has no versions (an empty tuple).

    Raises
    ------
    RegistryError
        (exit 3) MLflow cannot be reached or read.
    """
    with _infrastructure("list the model versions", uri):
        client = _registry_client(uri, timeout=timeout, retries=retries)
        try:
            versions = list(client.search_model_versions(f"name = '{_quoted(registered_model)}'"))
        except Exception as exc:
            if _error_code(exc) == "RESOURCE_DOES_NOT_EXIST":
                return ()
            raise
        out = []
        for mv in sorted(versions, key=lambda v: int(v.version)):
            run_id = str(mv.run_id or "")
            started: datetime | None = None
            if run_id:
                try:
                    run = client.get_run(run_id)
                    started = datetime.fromtimestamp(run.info.start_time / 1000.0, tz=UTC)
                except Exception as exc:
                    if _error_code(exc) != "RESOURCE_DOES_NOT_EXIST":
                        raise
            tags = mv.tags or {}
            out.append(
                VersionFacts(
                    version=int(mv.version),
                    run_id=run_id,
                    candidate=tags.get("candidate.name", ""),
                    data_sha256=tags.get("data.sha256", ""),
                    trained_at=started,
                    aliases=tuple(sorted(mv.aliases or ())),
                    verdict=tags.get("gate.verdict", ""),
                )
            )
    return tuple(out)


# ---------------------------------------------------------------- which model to explain (issue #5)


@dataclass(frozen=True)
class ResolvedModel:
    """The logged model a command uses, and how it was chosen.

    Attributes
    ----------
    run_id
        The candidate's (nested) run, which logged and checksummed the model (see :func:`load_model`).
    candidate
        The candidate's name (tag ``candidate.name``).
    source
        How it was chosen, in words (``alias 'champion' of 'account-scoring' (version 3)``).
    version
        The registered model version, when chosen through the registry.
    data_sha256
        Fingerprint of the data the candidate was trained on (tag ``data.sha256``).
    """

    run_id: str
    candidate: str
    source: str
    version: int | None = None
    data_sha256: str = ""


def resolve_model(
    uri: str,
    *,
    experiment: str,
    registered_model: str,
    version: int | None = None,
    candidate: str | None = None,
    alias: str = "champion",
    timeout: float = 10.0,
    retries: int = 2,
) -> ResolvedModel:
    """Find the run whose model to load: a registered version, a named candidate, or the alias (``champion``).

    Parameters
    ----------
    uri
        Tracking URI.
    experiment
        The config's experiment (for ``candidate``).
    registered_model
        The registered model's name (for ``version`` and ``alias``).
    version
        A registered model version.
    candidate
        A candidate of the latest finished ``governance-run`` of the experiment.
    alias
        The alias to follow when neither ``version`` nor ``candidate`` is given.
    timeout, retries
        Bound on each HTTP request and on its retries.

    Raises
    ------
    ConfigError
        (exit 2) The version, candidate or alias does not exist; the message says what does.
    RegistryError
        (exit 3) The store cannot be reached or read.
    """
    if version is not None and candidate is not None:
        raise ConfigError([Problem("--model-version/--candidate", "expected at most one of them, found both")])
    with _infrastructure("resolve the model", uri):
        _client(uri, timeout=timeout, retries=retries)
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        if candidate is not None:
            return _candidate_run(client, experiment=experiment, candidate=candidate)
        try:
            if version is not None:
                mv = client.get_model_version(registered_model, str(version))
                source = f"version {version} of {registered_model!r}"
            else:
                mv = client.get_model_version_by_alias(registered_model, alias)
                source = f"alias {alias!r} of {registered_model!r} (version {mv.version})"
        except Exception as exc:
            if str(getattr(exc, "error_code", "")) not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise
            names = _latest_candidates(client, experiment)
            hint = f"candidates of the latest run: {', '.join(names)}" if names else "no finished run yet"
            what = f"no version {version}" if version is not None else f"no version with the alias {alias!r}"
            raise ConfigError(
                [
                    Problem(
                        "--model-version" if version is not None else "model",
                        f"registered model {registered_model!r} has {what}",
                        f"name a registered version with --model-version N, or a candidate with --candidate NAME ({hint})",
                    )
                ]
            ) from None
        run_id = str(mv.run_id or "")
        if not run_id:
            raise ConfigError([Problem("model", f"{source} names no run, so its checksum cannot be verified")])
        tags = client.get_run(run_id).data.tags
        return ResolvedModel(
            run_id=run_id,
            candidate=tags.get("candidate.name", ""),
            source=source,
            version=int(mv.version),
            data_sha256=tags.get("data.sha256", ""),
        )


def _latest_parent(client: MlflowClient, experiment: str) -> Any:
    """The latest finished ``governance-run`` of the experiment, or None."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return None
    runs = client.search_runs(
        [found.experiment_id],
        filter_string="attributes.status = 'FINISHED' and attributes.run_name = 'governance-run'",
        order_by=["attributes.start_time DESC"],
        max_results=50,
    )
    return next((r for r in runs if "mlflow.parentRunId" not in r.data.tags), None)


def _children(client: MlflowClient, parent: Any) -> list[Any]:
    return list(
        client.search_runs(
            [parent.info.experiment_id],
            filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'",
            max_results=1000,
        )
    )


def _latest_candidates(client: MlflowClient, experiment: str) -> list[str]:
    parent = _latest_parent(client, experiment)
    if parent is None:
        return []
    return sorted({c.data.tags.get("candidate.name", "") for c in _children(client, parent)} - {""})


def _candidate_run(client: MlflowClient, *, experiment: str, candidate: str) -> ResolvedModel:
    parent = _latest_parent(client, experiment)
    if parent is None:
        raise ConfigError(
            [
                Problem(
                    "--candidate",
                    f"experiment {experiment!r} has no finished governance run",
                    "train the candidates first (governance train --config PATH)",
                )
            ]
        )
    children = _children(client, parent)
    for child in children:
        if child.data.tags.get("candidate.name") == candidate and child.info.status == "FINISHED":
            return ResolvedModel(
                run_id=str(child.info.run_id),
                candidate=candidate,
                source=f"candidate {candidate!r} of run {parent.info.run_id}",
                data_sha256=child.data.tags.get("data.sha256", ""),
            )
    names = sorted({c.data.tags.get("candidate.name", "") for c in children} - {""})
    raise ConfigError(
        [
            Problem(
                "--candidate",
                f"the latest run of {experiment!r} has no finished candidate {candidate!r}; "
                f"expected one of {', '.join(names) or 'none'}",
            )
        ]
    )


# ==== audit results: metrics and report files of an audited candidate run =======================


_METRIC_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. :/]")


def metric_name(*parts: str) -> str:
    """An MLflow metric name from parts (``group.ownership.minority_owned.selection_rate``).

    MLflow accepts letters, digits and ``_ - . : /`` and spaces; anything else
    (`` & `` of intersections, ``=``) becomes ``_``.
    """
    return ".".join(_METRIC_NAME_UNSAFE.sub("_", part.replace(" & ", "_x_")) for part in parts)


def log_audit_results(
    uri: str,
    run_id: str,
    *,
    metrics: Mapping[str, float],
    files: Sequence[Path],
    artifact_path: str = "report",
    timeout: float = 10.0,
    retries: int = 2,
) -> None:
    """Log an audited candidate's metrics and report files (card, audit, plots) to its run.

    The run may already be finished (MLflow accepts it): the audit follows
    training once every candidate is known, since each card compares them all.
    Metric names that look like personal data are refused (exit 4).
    """
    from mlflow.entities import Metric

    _check_values("metric", dict.fromkeys(metrics, ""))
    finite = {k: float(v) for k, v in metrics.items() if math.isfinite(float(v))}
    with _infrastructure("log the audit results", uri):
        client = _client(uri, timeout=timeout, retries=retries)
        now = int(time.time() * 1000)
        items = [Metric(k, v, now, 0) for k, v in sorted(finite.items())]
        for start in range(0, len(items), 900):  # MLflow takes at most 1,000 metrics per batch
            client.log_batch(run_id, metrics=items[start : start + 900])
        for file in files:
            client.log_artifact(run_id, str(file), artifact_path)
