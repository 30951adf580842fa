"""``governance run`` and ``governance train``: the steps composed in one straight line.

config -> data (generated when missing) -> prepare -> for each candidate: train,
then log to MLflow in a nested run -> ``reports/summary.json``. Each step is a
plain function of the previous step's frozen result; nothing here computes or
renders, it only composes. Later steps (audit, explanations, card, gate,
promotion) join the same line.

MLflow layout: one parent run per invocation (params of the data, the dataset
as an input, tags ``git.commit``, ``config.sha256``, ``data.sha256``) and one
nested run per candidate (its effective params, validation and test metrics,
the model with signature and a synthetic input example, the dataset input,
``candidate.json`` with every exact value, and tags naming the candidate's
kind, mitigation and whether it reads the sensitive attribute at inference).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from governance.config import GovernanceConfig, tracking_uri
from governance.data import Dataset, prepare
from governance.datasets import write_accounts
from governance.train import MODEL_TYPES, TrainedCandidate, example_input, train_candidate

if TYPE_CHECKING:
    from governance.registry import DatasetRecord, RunHandle

__all__ = ["CandidateOutcome", "Outcome", "ensure_data", "git_commit", "run", "train", "write_json"]

Progress = Callable[[str, int, int], None]

#: Longest param value logged as an MLflow param; the exact value is always in ``candidate.json``.
_PARAM_CHARS = 250


@dataclass(frozen=True)
class CandidateOutcome:
    """What a run learned about one candidate.

    Run ids, model URIs and checksums, and timings differ between identical
    runs, so they are left out of equality: two outcomes are equal when they
    learned the same facts.
    """

    name: str
    kind: str
    mitigation: str | None
    validation_auc: float
    test_auc: float
    constraint: str | None = None
    attribute: str | None = None
    uses_sensitive_at_inference: bool = False
    score_method: str = ""
    inputs: tuple[str, ...] = ()
    validation: dict[str, float] = field(default_factory=dict)
    test: dict[str, float] = field(default_factory=dict)
    run_id: str = field(default="", compare=False)
    model_uri: str = field(default="", compare=False)
    model_sha256: str = field(default="", compare=False)
    fit_seconds: float = field(default=0.0, compare=False)


@dataclass(frozen=True)
class Outcome:
    """The result of ``governance run`` (and ``governance train``)."""

    run_id: str
    tracking_uri: str
    data_generated: bool
    rows_in: int
    rows_used: int
    excluded: dict[str, int]
    fingerprint: str
    development_key: bool
    candidates: tuple[CandidateOutcome, ...]


def git_commit(folder: Path | None = None) -> str:
    """The commit of the code being run, or ``unknown`` outside a git checkout."""
    here = folder or Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and commit else "unknown"


def ensure_data(config: GovernanceConfig, *, progress: Progress | None = None) -> bool:
    """Generate the configured synthetic data when the data file is missing.

    Returns
    -------
    bool
        Whether the file was generated.
    """
    spec = config.data.generate
    if spec is None or config.data.path.exists():
        return False

    def report(done: int, total: int) -> None:
        if progress is not None:
            progress("generate data", done, total)

    write_accounts(config.data.path, rows=spec.rows, seed=spec.seed, bias=spec.bias, progress=report)
    return True


def train(config: GovernanceConfig, *, progress: Progress | None = None) -> Outcome:
    """Train every candidate and track it in MLflow (``governance train``).

    Parameters
    ----------
    config
        The validated config.
    progress
        Called as ``progress(stage, done, total)`` while long steps run
        (``generate data``, then ``train candidates`` once per candidate).

    Returns
    -------
    Outcome
        The parent MLflow run id and each candidate's facts.

    Raises
    ------
    RegistryError
        When MLflow cannot be reached or written (the runs end FAILED).
    """
    outcome, _ = _train_and_track(config, progress=progress)
    return outcome


def run(config: GovernanceConfig, *, progress: Progress | None = None) -> Outcome:
    """Run the governance pipeline on a validated config (``governance run``).

    Parameters
    ----------
    config
        The validated config.
    progress
        Called as ``progress(stage, done, total)`` while long steps run.

    Returns
    -------
    Outcome
        The MLflow run id and each candidate's performance; also written to
        ``<output.reports>/summary.json``.
    """
    outcome, _ = _train_and_track(config, progress=progress)
    write_json(config.output.reports / "summary.json", {"schema": "governance.summary/1", **asdict(outcome)})
    return outcome


def _train_and_track(
    config: GovernanceConfig, *, progress: Progress | None
) -> tuple[Outcome, tuple[TrainedCandidate, ...]]:
    from governance.registry import tracked_run

    generated = ensure_data(config, progress=progress)
    dataset: Dataset = prepare(config)
    uri = tracking_uri(config)
    tags = {
        "git.commit": git_commit(),
        "config.sha256": config.sha256,
        "data.sha256": dataset.fingerprint,
        "pseudonymization.development_key": str(dataset.pseudonymization.development_key).lower(),
    }
    trained_all: list[TrainedCandidate] = []
    outcomes: list[CandidateOutcome] = []
    with tracked_run(
        uri,
        experiment=config.mlflow.experiment,
        run_name="governance-run",
        tags=tags,
        timeout=config.mlflow.timeout_seconds,
        retries=config.mlflow.max_retries,
    ) as parent:
        parent.log_params(
            {
                "data.rows_in": dataset.rows_in,
                "data.rows_used": dataset.rows_used,
                "data.features": len(dataset.features),
                "audit.decision": f"top_k={config.audit.top_k}"
                if config.audit.top_k is not None
                else f"threshold={config.audit.threshold}",
                "seed": config.seed,
                "candidates": len(config.candidates),
            }
        )
        parent.log_dict(
            {"features": list(dataset.features), "candidates": [c.name for c in config.candidates]}, "run.json"
        )
        parent.log_metrics({f"data.excluded.{reason}": float(n) for reason, n in dataset.excluded.items()})
        data_record = _dataset_record(dataset, config)
        parent.log_input(data_record, context="training", tags={"data.rows_used": dataset.rows_used})
        total = len(config.candidates)
        for i, candidate in enumerate(config.candidates):
            if progress is not None:
                progress("train candidates", i, total)
            candidate_tags = {
                **tags,
                "candidate.name": candidate.name,
                "candidate.kind": candidate.kind,
                "candidate.mitigation": candidate.mitigation.kind if candidate.mitigation else "none",
            }
            with parent.child(candidate.name, tags=candidate_tags) as child:
                trained = train_candidate(candidate, dataset, seed=config.seed, attribute=config.sensitive.names[0])
                outcome = _log_candidate(child, trained, dataset, config, data_record)
            parent.log_metrics(
                {f"{trained.name}.validation_auc": trained.validation_auc, f"{trained.name}.test_auc": trained.test_auc}
            )
            trained_all.append(trained)
            outcomes.append(outcome)
        if progress is not None:
            progress("train candidates", total, total)
    result = Outcome(
        run_id=parent.run_id,
        tracking_uri=uri,
        data_generated=generated,
        rows_in=dataset.rows_in,
        rows_used=dataset.rows_used,
        excluded=dict(dataset.excluded),
        fingerprint=dataset.fingerprint,
        development_key=dataset.pseudonymization.development_key,
        candidates=tuple(outcomes),
    )
    return result, tuple(trained_all)


def _dataset_record(dataset: Dataset, config: GovernanceConfig) -> DatasetRecord:
    """The data used, for MLflow: schema, rows and fingerprint; the source is the file name only."""
    from governance.registry import dataset_record

    return dataset_record(
        dataset.X.assign(**{dataset.label: dataset.y}),
        name=config.data.path.stem,
        fingerprint=dataset.fingerprint,
        source=config.data.path.name,
    )


def _jsonable(value: Any) -> Any:
    """Plain JSON data; anything else (an estimator's class weights, ...) as its repr."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def _log_candidate(
    child: RunHandle, trained: TrainedCandidate, dataset: Dataset, config: GovernanceConfig, data_record: DatasetRecord
) -> CandidateOutcome:
    """Everything MLflow keeps about one candidate, in its nested run."""
    params = {k: _jsonable(v) for k, v in trained.params.items()}
    child.log_params({k: v if len(str(v)) <= _PARAM_CHARS else "(in candidate.json)" for k, v in params.items()})
    metrics = {f"validation_{k}": v for k, v in trained.validation.items()}
    metrics |= {f"test_{k}": v for k, v in trained.test.items()}
    child.log_metrics({**metrics, "fit_seconds": trained.fit_seconds})
    child.set_tags(
        {
            "candidate.constraint": trained.constraint or "none",
            "candidate.attribute": trained.attribute or "none",
            "candidate.uses_sensitive_at_inference": str(trained.uses_sensitive_at_inference).lower(),
            "candidate.score_method": trained.score_method,
        }
    )
    child.log_input(data_record, context="training", tags={"data.rows_used": dataset.rows_used})
    train = dataset.train
    logged = child.log_model(
        trained.model,
        input_example=example_input(trained.model.model_input(train.X, train.sensitive)),
        trusted_types=MODEL_TYPES,
        metadata={
            "candidate": trained.name,
            "uses_sensitive_at_inference": trained.uses_sensitive_at_inference,
            "inputs": ",".join(trained.inputs),
        },
    )
    facts = {
        "schema": "governance.candidate/1",
        "name": trained.name,
        "kind": trained.kind,
        "mitigation": trained.mitigation,
        "constraint": trained.constraint,
        "attribute": trained.attribute,
        "uses_sensitive_at_inference": trained.uses_sensitive_at_inference,
        "inputs": list(trained.inputs),
        "score_method": trained.score_method,
        "params": params,
        "metrics": metrics,
        "model": {"uri": logged.uri, "sha256": logged.sha256},
        "data_sha256": dataset.fingerprint,
        "config_sha256": config.sha256,
    }
    child.set_tags({"candidate.json.sha256": child.log_json(facts, "candidate.json")})
    return CandidateOutcome(
        name=trained.name,
        kind=trained.kind,
        mitigation=trained.mitigation,
        validation_auc=trained.validation_auc,
        test_auc=trained.test_auc,
        constraint=trained.constraint,
        attribute=trained.attribute,
        uses_sensitive_at_inference=trained.uses_sensitive_at_inference,
        score_method=trained.score_method,
        inputs=trained.inputs,
        validation=dict(trained.validation),
        test=dict(trained.test),
        run_id=child.run_id,
        model_uri=logged.uri,
        model_sha256=logged.sha256,
        fit_seconds=trained.fit_seconds,
    )


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Write JSON atomically: a reader sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2, sort_keys=True, allow_nan=False)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
