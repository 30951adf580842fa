"""Runs: opening and always ending them, and what is logged to them (params, metrics, datasets, audit results).

:func:`tracked_run` opens a run and :meth:`RunHandle.child` a nested one (tag
``mlflow.parentRunId``). Either always ends: FINISHED when its block
completes, FAILED when it raises, KILLED on KeyboardInterrupt or SystemExit
(a cancel, :class:`governance._cancel.Cancelled`, is a SystemExit), never left
RUNNING. Params, tags and metric names that look like personal data are refused
before they reach MLflow.

Every write first checks for a cancel (:func:`governance._cancel.check`): nothing
is logged after SIGTERM or Ctrl-C. Every run records the process that opened it
(tags ``governance.process.pid`` and ``governance.process.host``), and opening a
run reaps the stale runs of its experiment, those a SIGKILL or a lost server
left RUNNING (:func:`reap_stale_runs`): marked KILLED, with tag
``governance.reaped`` saying why; then it settles the registrations of the
registry's model that such a process left unfinished (completed from the run's
audit record, or tagged abandoned: :func:`governance.registry._evidence.settle_registrations`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from governance import _cancel
from governance.errors import RegistryError
from governance.registry._client import Registry, safe_uri, scoped_env
from governance.registry._values import check_values

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.tracking import MlflowClient

    from governance.registry.models import LoggedModel

__all__ = [
    "MAX_PARAM_CHARS",
    "DatasetRecord",
    "RunHandle",
    "dataset_record",
    "log_audit_results",
    "metric_name",
    "process_tags",
    "reap_stale_runs",
    "stale_reason",
    "tracked_run",
    "tree_sha256",
]

#: The longest param value logged as a param; longer ones go to a JSON artifact (MLflow truncates silently).
MAX_PARAM_CHARS = 250
#: MLflow dataset digests are stored in 36 characters; the full fingerprint goes in a tag.
_DIGEST_CHARS = 32
#: MLflow takes at most 1,000 metrics per batch.
_METRICS_PER_BATCH = 900
_METRIC_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. :/]")


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

    Returns
    -------
    DatasetRecord
    """
    from governance.registry._mlflow import dataset_entity

    with scoped_env():  # mlflow may be imported here first: quietly
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
        entity = dataset_entity(dataset)
    return DatasetRecord(entity=entity, fingerprint=fingerprint)


@dataclass(frozen=True)
class RunHandle:
    """An open MLflow run; every method writes through the registry's client.

    Attributes
    ----------
    registry
        The store the run is in.
    run_id, experiment_id
        The run and its experiment.
    """

    registry: Registry
    run_id: str
    experiment_id: str

    @property
    def client(self) -> MlflowClient:
        """The registry's MLflow client."""
        return self.registry.client

    @property
    def uri(self) -> str:
        """The tracking URI."""
        return self.registry.uri

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log parameters (stringified; refused when they look like personal data).

        Parameters
        ----------
        params
            Parameter names and values.

        Raises
        ------
        ValueError
            When a value is longer than ``MAX_PARAM_CHARS`` (MLflow would truncate it
            silently): put it in a JSON artifact instead (:meth:`log_dict`).
        """
        _cancel.check()
        from mlflow.entities import Param

        checked = check_values("param", params)
        long = [k for k, v in checked.items() if len(v) > MAX_PARAM_CHARS]
        if long:
            raise ValueError(
                f"param value(s) longer than {MAX_PARAM_CHARS} characters: {', '.join(long)}; "
                "log them in a JSON artifact instead"
            )
        with self.registry.call("log params"):
            self.client.log_batch(self.run_id, params=[Param(k, v) for k, v in checked.items()])

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        """Log finite metrics; non-finite ones are refused rather than stored as 1.8e308.

        Parameters
        ----------
        metrics
            Metric names and values.
        """
        _cancel.check()
        from mlflow.entities import Metric

        check_values("metric", dict.fromkeys(metrics, ""))
        bad = [k for k, v in metrics.items() if not math.isfinite(v)]
        if bad:
            raise ValueError(f"metrics must be finite numbers; not finite: {', '.join(bad)}")
        now = int(time.time() * 1000)
        with self.registry.call("log metrics"):
            self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()])

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags (stringified; refused when they look like personal data).

        Parameters
        ----------
        tags
            Tag names and values.
        """
        _cancel.check()
        from mlflow.entities import RunTag

        checked = check_values("tag", tags)
        with self.registry.call("set tags"):
            self.client.log_batch(self.run_id, tags=[RunTag(k, v) for k, v in checked.items()])

    def log_dict(self, payload: Mapping[str, Any], artifact_file: str) -> None:
        """Log a JSON artifact.

        Parameters
        ----------
        payload
            The document.
        artifact_file
            Its path in the run's artifacts.
        """
        _cancel.check()
        with self.registry.call("log an artifact"):
            self.client.log_dict(self.run_id, dict(payload), artifact_file)

    def log_json(self, payload: Mapping[str, Any], artifact_file: str) -> str:
        """Log a JSON artifact in canonical form and return the sha256 of its bytes.

        Exact and large values belong here rather than in params (MLflow truncates
        long params silently); record the checksum in a tag to detect later changes.

        Parameters
        ----------
        payload
            The document.
        artifact_file
            Its path in the run's artifacts.

        Returns
        -------
        str
            sha256 of the bytes stored.
        """
        _cancel.check()
        text = json.dumps(payload, indent=2, sort_keys=True, allow_nan=False) + "\n"
        with self.registry.call("log an artifact"):
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
        _cancel.check()
        from mlflow.entities import DatasetInput, InputTag

        checked = check_values("input tag", {"data.sha256": dataset.fingerprint, **(tags or {})})
        input_tags = [InputTag("mlflow.data.context", context), *(InputTag(k, v) for k, v in checked.items())]
        with self.registry.call("log a dataset input"):
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

        See :func:`governance.registry.models.log_model`.

        Parameters
        ----------
        model
            A fitted classifier with ``predict_proba``.
        input_example
            A few model-input rows without personal data (see :func:`governance.train.example_input`).
        trusted_types
            Types beyond skops' defaults that the model contains.
        name
            Name of the logged model.
        metadata
            Plain facts stored in the model's MLmodel file.

        Returns
        -------
        LoggedModel
        """
        from governance.registry.models import log_model

        return log_model(
            self, model, input_example=input_example, trusted_types=trusted_types, name=name, metadata=metadata
        )

    @contextmanager
    def child(self, run_name: str, *, tags: Mapping[str, Any] | None = None) -> Iterator[RunHandle]:
        """Open a nested run (tag ``mlflow.parentRunId``) that always ends with a terminal status.

        Parameters
        ----------
        run_name
            Display name of the nested run.
        tags
            Tags set at creation.

        Yields
        ------
        RunHandle
            The nested run.

        Raises
        ------
        RegistryError
            When the store cannot be written (exit code 3).
        """
        _cancel.check()
        checked = check_values("tag", tags or {})
        with self.registry.call("open a nested run"):
            run = self.client.create_run(
                self.experiment_id,
                run_name=run_name,
                tags={**checked, **process_tags(), "mlflow.parentRunId": self.run_id},
            )
        handle = RunHandle(registry=self.registry, run_id=run.info.run_id, experiment_id=self.experiment_id)
        with _terminated(handle):
            yield handle


@contextmanager
def _terminated(handle: RunHandle) -> Iterator[None]:
    """End the run whatever happens: FINISHED, FAILED on an exception, KILLED on a cancel, an interrupt or an exit."""
    status = "FAILED"
    try:
        yield
        _cancel.check()  # cancelled while it was open: KILLED, not FINISHED
        status = "FINISHED"
    except BaseException as exc:
        status = "FAILED" if isinstance(exc, Exception) else "KILLED"
        raise
    finally:
        try:
            with scoped_env(handle.registry.request_env()):
                handle.client.set_terminated(handle.run_id, status=status)
        except Exception as exc:  # never mask the original error; say the run may be left open
            if status == "FINISHED":
                raise RegistryError(
                    f"could not close MLflow run {handle.run_id} at {safe_uri(handle.uri)}: {type(exc).__name__}"
                ) from exc


def _experiment_id(client: MlflowClient, name: str, uri: str) -> str:
    """Return the experiment's id, restored when deleted, created (artifacts beside a SQLite store) when missing."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if experiment.lifecycle_stage == "deleted":
            client.restore_experiment(experiment.experiment_id)
        return str(experiment.experiment_id)
    artifact_location = None
    if uri.startswith("sqlite:///"):
        artifact_location = (Path(uri[len("sqlite:///") :]).parent / "artifacts").resolve().as_uri()
    return str(client.create_experiment(name, artifact_location=artifact_location))


#: Run tags naming the process that opened a run, so that a later run can tell whether it is gone.
PID_TAG, HOST_TAG = "governance.process.pid", "governance.process.host"
#: Tag set on a run marked KILLED by a later run, saying why.
REAPED_TAG = "governance.reaped"
#: A RUNNING run older than this is stale whatever its process (another machine's runs cannot be probed).
STALE_RUN_SECONDS = 24 * 3600.0
#: At most this many RUNNING runs are looked at per opened run.
_REAP_LIMIT = 500


def _host() -> str:
    """Return the machine's name for the host tag (``unknown`` when it looks like personal data)."""
    import socket

    from governance.privacy import redact

    name = socket.gethostname()[:200]
    return name if name and redact(name) == name else "unknown"


def process_tags() -> dict[str, str]:
    """Return the tags naming this process (pid and host), set on every run it opens.

    Returns
    -------
    dict of str to str
        ``governance.process.pid`` and ``governance.process.host``.
    """
    return {PID_TAG: str(os.getpid()), HOST_TAG: _host()}


def _process_gone(pid_text: str) -> bool:
    """Whether no process of this machine has the pid (False when it exists or cannot be told)."""
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, but not ours to signal; or the platform cannot tell
        return False
    return False


def stale_reason(
    tags: Mapping[str, str],
    start_ms: int,
    *,
    now: float,
    max_age: float = STALE_RUN_SECONDS,
    what: str = "the run",
    state: str = "RUNNING",
) -> str:
    """Say why a RUNNING run (or an unfinished registration) is stale, or return ``""`` when it may still be going on.

    Parameters
    ----------
    tags
        The tags naming its process (``governance.process.pid`` / ``.host``).
    start_ms
        Its start time, in milliseconds since the epoch.
    now
        The current time, in seconds since the epoch.
    max_age
        Age past which it is stale whatever its process.
    what, state
        What its process left unfinished, and its state, for the reason.

    Returns
    -------
    str
        The reason, in words, or ``""``.
    """
    pid, host = tags.get(PID_TAG, ""), tags.get(HOST_TAG, "")
    if pid and host and host == _host() and _process_gone(pid):
        return f"its process (pid {pid} on this machine) is gone: it was killed or crashed without ending {what}"
    age = now - start_ms / 1000.0
    if start_ms and age > max_age:
        return f"it was still {state} {age / 3600:.1f} h after it started (more than {max_age / 3600:.0f} h)"
    return ""


def reap_stale_runs(client: MlflowClient, experiment_id: str, *, max_age: float = STALE_RUN_SECONDS) -> list[str]:
    """Mark KILLED the RUNNING runs of an experiment that no process will end (tag ``governance.reaped``).

    A run is stale when the process that opened it, on this machine, is gone
    (SIGKILL, a crash, a server lost mid-run), or when it started more than
    ``max_age`` seconds ago. Runs of live processes are left alone.

    Parameters
    ----------
    client
        The registry's client (inside :meth:`Registry.call`).
    experiment_id
        The experiment.
    max_age
        Age in seconds past which a RUNNING run is stale whatever its process.

    Returns
    -------
    list of str
        The run ids reaped.
    """
    from mlflow.entities import ViewType

    running = client.search_runs(
        [experiment_id], "attributes.status = 'RUNNING'", run_view_type=ViewType.ACTIVE_ONLY, max_results=_REAP_LIMIT
    )
    now, reaped = time.time(), []
    for found in running:
        reason = stale_reason(found.data.tags, int(found.info.start_time or 0), now=now, max_age=max_age)
        if not reason:
            continue
        _cancel.check()
        client.set_tag(found.info.run_id, REAPED_TAG, f"marked KILLED by a later run: {reason}")
        client.set_terminated(found.info.run_id, status="KILLED")
        reaped.append(str(found.info.run_id))
    return reaped


@contextmanager
def open_run(
    registry: Registry, *, experiment: str, run_name: str, tags: Mapping[str, Any] | None = None
) -> Iterator[RunHandle]:
    """:meth:`Registry.run`: open a run in the registry's store that always ends with a terminal status."""
    _cancel.check()
    checked = check_values("tag", tags or {})
    with registry.call("open a run"):
        client = registry.client
        experiment_id = _experiment_id(client, experiment, registry.uri)
        reap_stale_runs(client, experiment_id)
        if registry.model_name:  # then the registrations such runs left unfinished
            from governance.registry._evidence import settle_registrations

            settle_registrations(client, registry.model_name)
        run = client.create_run(experiment_id, run_name=run_name, tags={**checked, **process_tags()})
    handle = RunHandle(registry=registry, run_id=run.info.run_id, experiment_id=experiment_id)
    with _terminated(handle):
        yield handle


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

    A wrapper of :meth:`Registry.run` for one call: ``Registry(uri, timeout=..., retries=...).run(...)``.

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

    Yields
    ------
    RunHandle
        The open run.

    Raises
    ------
    RegistryError
        When the store cannot be reached or written (exit code 3).
    """
    with Registry(uri, timeout=timeout, retries=retries).run(
        experiment=experiment, run_name=run_name, tags=tags
    ) as handle:
        yield handle


def metric_name(*parts: str) -> str:
    """Return an MLflow metric name from parts (``group.ownership.minority_owned.selection_rate``).

    MLflow accepts letters, digits and ``_ - . : /`` and spaces; anything else
    (`` & `` of intersections, ``=``) becomes ``_``.

    Parameters
    ----------
    *parts
        The name's parts, joined with ``.``.

    Returns
    -------
    str
    """
    return ".".join(_METRIC_NAME_UNSAFE.sub("_", part.replace(" & ", "_x_")) for part in parts)


def tag_run_in(registry: Registry, run_id: str, *, tags: Mapping[str, Any]) -> None:
    """:meth:`Registry.tag_run`: tags checked for personal data, then set in one batch."""
    _cancel.check()
    from mlflow.entities import RunTag

    checked = check_values("tag", tags)
    with registry.call("tag the run"):
        registry.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in checked.items()])


def log_audit_results_to(
    registry: Registry, run_id: str, *, metrics: Mapping[str, float], files: Sequence[Path], artifact_path: str
) -> None:
    """:meth:`Registry.log_audit_results`: metrics in batches, then the files."""
    _cancel.check()
    from mlflow.entities import Metric

    check_values("metric", dict.fromkeys(metrics, ""))
    finite = {k: float(v) for k, v in metrics.items() if math.isfinite(float(v))}
    with registry.call("log the audit results"):
        client = registry.client
        now = int(time.time() * 1000)
        items = [Metric(k, v, now, 0) for k, v in sorted(finite.items())]
        for start in range(0, len(items), _METRICS_PER_BATCH):
            client.log_batch(run_id, metrics=items[start : start + _METRICS_PER_BATCH])
        for file in files:
            client.log_artifact(run_id, str(file), artifact_path)


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
    Metric names that look like personal data are refused (exit 4). A wrapper of
    :meth:`Registry.log_audit_results` for one call.

    Parameters
    ----------
    uri
        Tracking URI.
    run_id
        The candidate's run.
    metrics
        Metric names and values; non-finite values are skipped.
    files
        Report files to log as artifacts.
    artifact_path
        Folder of the files in the run's artifacts.
    timeout, retries
        Bound on each HTTP request and on its retries.
    """
    Registry(uri, timeout=timeout, retries=retries).log_audit_results(
        run_id, metrics=metrics, files=files, artifact_path=artifact_path
    )
