"""``governance run``: the steps composed in one straight line.

config -> data (generated when missing) -> candidates -> MLflow. Each step is
a plain function of the previous step's frozen result; nothing here computes
or renders, it only composes. Later steps (audit, explanations, card, gate,
promotion) join the same line.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from governance.config import GovernanceConfig, tracking_uri
from governance.data import Dataset, prepare
from governance.datasets import write_accounts
from governance.train import train_candidate

__all__ = ["CandidateOutcome", "Outcome", "ensure_data", "git_commit", "run", "write_json"]

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class CandidateOutcome:
    """What a run learned about one candidate."""

    name: str
    kind: str
    mitigation: str | None
    validation_auc: float
    test_auc: float


@dataclass(frozen=True)
class Outcome:
    """The result of ``governance run``."""

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


def run(config: GovernanceConfig, *, progress: Progress | None = None) -> Outcome:
    """Run the governance pipeline on a validated config.

    Parameters
    ----------
    config
        The validated config.
    progress
        Called as ``progress(stage, done, total)`` while long steps run.

    Returns
    -------
    Outcome
        The MLflow run id and each candidate's performance.
    """
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
    outcomes = []
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
                "data.features": ",".join(dataset.features),
                "audit.decision": f"top_k={config.audit.top_k}"
                if config.audit.top_k is not None
                else f"threshold={config.audit.threshold}",
                "seed": config.seed,
            }
        )
        parent.log_metrics({f"data.excluded.{reason}": float(n) for reason, n in dataset.excluded.items()})
        total = len(config.candidates)
        for i, candidate in enumerate(config.candidates):
            if progress is not None:
                progress("train candidates", i, total)
            trained = train_candidate(candidate, dataset, seed=config.seed)
            parent.log_metrics(
                {f"{trained.name}.validation_auc": trained.validation_auc, f"{trained.name}.test_auc": trained.test_auc}
            )
            outcomes.append(
                CandidateOutcome(
                    trained.name, trained.kind, trained.mitigation, trained.validation_auc, trained.test_auc
                )
            )
        if progress is not None:
            progress("train candidates", total, total)
    outcome = Outcome(
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
    write_json(config.output.reports / "summary.json", {"schema": "governance.summary/1", **asdict(outcome)})
    return outcome


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
