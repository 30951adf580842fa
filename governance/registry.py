"""MLflow: the only module that talks to the tracking store and the model registry.

Every function takes the tracking URI as an argument (see
:func:`governance.config.tracking_uri`), so tests run against temporary
stores and real local servers. The embedded default is a SQLite file; its
artifacts go to an ``artifacts`` folder beside it.

A run opened with :func:`tracked_run` always ends: FINISHED when the block
completes, FAILED when it raises (KILLED on KeyboardInterrupt). Values that
look like personal data are refused before they reach MLflow.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from governance.errors import GovernanceError, PrivacyError, RegistryError
from governance.privacy import redact

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

__all__ = ["RunHandle", "safe_uri", "tracked_run"]


def _client(uri: str, *, timeout: float, retries: int) -> MlflowClient:
    # MLflow's defaults retry for minutes; bound them before the first request.
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(retries)
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(int(max(1, timeout)))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # no schema-migration chatter on first use
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def safe_uri(uri: str) -> str:
    """The URI as it may be shown: never with credentials."""
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    if parts.username or parts.password:
        host = parts.hostname or ""
        return parts._replace(netloc=host + (f":{parts.port}" if parts.port else "")).geturl()
    return uri


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


@dataclass(frozen=True)
class RunHandle:
    """An open MLflow run; every method writes through the client."""

    client: MlflowClient
    run_id: str
    experiment_id: str

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log parameters (stringified; refused when they look like personal data)."""
        from mlflow.entities import Param

        checked = _check_values("param", params)
        self.client.log_batch(self.run_id, params=[Param(k, v) for k, v in checked.items()])

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        """Log finite metrics; non-finite ones are refused rather than stored as 1.8e308."""
        import math

        from mlflow.entities import Metric

        _check_values("metric", dict.fromkeys(metrics, ""))
        bad = [k for k, v in metrics.items() if not math.isfinite(v)]
        if bad:
            raise ValueError(f"metrics must be finite numbers; not finite: {', '.join(bad)}")
        import time

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()])

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags (stringified; refused when they look like personal data)."""
        from mlflow.entities import RunTag

        checked = _check_values("tag", tags)
        self.client.log_batch(self.run_id, tags=[RunTag(k, v) for k, v in checked.items()])

    def log_dict(self, payload: Mapping[str, Any], artifact_file: str) -> None:
        """Log a JSON artifact."""
        self.client.log_dict(self.run_id, dict(payload), artifact_file)


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
    try:
        client = _client(uri, timeout=timeout, retries=retries)
        experiment_id = _experiment_id(client, experiment, uri)
        run = client.create_run(experiment_id, run_name=run_name, tags=_check_values("tag", tags or {}))
    except GovernanceError:
        raise
    except Exception as exc:
        raise RegistryError(
            f"cannot open an MLflow run at {safe_uri(uri)}: {type(exc).__name__}: {redact(str(exc))[:300]}"
        ) from exc
    handle = RunHandle(client=client, run_id=run.info.run_id, experiment_id=experiment_id)
    status = "FAILED"
    try:
        yield handle
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        try:
            client.set_terminated(handle.run_id, status=status)
        except Exception as exc:  # never mask the original error; say the run may be left open
            if status == "FINISHED":
                raise RegistryError(f"could not close MLflow run {handle.run_id}: {type(exc).__name__}") from exc
