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
kind, mitigation and whether it reads the sensitive attribute at inference,
the model's content checksum ``model.content_sha256`` and its lineage
``lineage.sha256``; ``registry.matches_version`` when an existing version was reused).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from governance import _cancel
from governance._files import atomic_write, canonical_json
from governance.card import ModelCard, build_card, candidate_entry, render_html, save_figures, write_card
from governance.config import GovernanceConfig
from governance.data import Dataset, Split, prepare
from governance.datasets import write_accounts
from governance.pipeline._audit import audit_candidate, audit_scores
from governance.pipeline._explanations import explain_candidates
from governance.pipeline._export import check_export_target, sync_champion
from governance.pipeline._serial import checked, lock_path, store_lock
from governance.pipeline._versions import register_or_match
from governance.train import MODEL_TYPES, TrainedCandidate, example_input, train_candidate

if TYPE_CHECKING:
    from governance.audit import AuditReport
    from governance.gate import GateReport
    from governance.registry import (
        Contender,
        DatasetRecord,
        Registry,
        RunHandle,
    )

__all__ = [
    "CandidateOutcome",
    "CardOutcome",
    "Outcome",
    "RunOutcome",
    "audit_candidate",
    "audit_scores",
    "ensure_data",
    "git_commit",
    "run",
    "train",
    "write_json",
]

Progress = Callable[[str, int, int], None]

#: Longest param value logged as an MLflow param; the exact value is always in ``candidate.json``.
_PARAM_CHARS = 250


@dataclass(frozen=True)
class CandidateOutcome:
    """What a run learned about one candidate.

    Run ids, model URIs and file checksums, and timings differ between identical
    runs, so they are left out of equality: two outcomes are equal when they
    learned the same facts. The model's content checksum and the lineage
    (:func:`governance.registry.lineage_sha256`) are equal for identical runs.
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
    model_content_sha256: str = ""
    lineage_sha256: str = ""


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
    """Return the commit of the code being run, or ``unknown`` outside a git checkout.

    Parameters
    ----------
    folder
        Where to ask git; default this package's folder.

    Returns
    -------
    str
        The commit hash, or ``unknown``.
    """
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
    """Generate the configured synthetic data when the data file is missing or was generated differently.

    Generated files get a sidecar ``<file>.generated.json`` recording ``rows``,
    ``seed`` and ``bias``; when the config asks for other values the file is
    generated again. A file without a sidecar is the user's data and is never
    overwritten.

    Parameters
    ----------
    config
        The validated config.
    progress
        Called as ``progress(stage, done, total)`` while rows are generated.

    Returns
    -------
    bool
        Whether the file was generated.
    """
    spec = config.data.generate
    if spec is None:
        return False
    path = config.data.path
    sidecar = path.with_name(path.name + ".generated.json")
    wanted = {"generator": "governance.datasets/1", "rows": spec.rows, "seed": spec.seed, "bias": spec.bias}
    if path.exists():
        try:
            recorded = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False  # not generated by us (or by an older version): never overwrite it
        if recorded == wanted:
            return False

    def report(done: int, total: int) -> None:
        if progress is not None:
            progress("generate data", done, total)

    write_accounts(path, rows=spec.rows, seed=spec.seed, bias=spec.bias, progress=report)
    write_json(sidecar, wanted)
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
    registry, report = _registry(config), checked(progress)
    with store_lock(lock_path(registry.uri, config.output.reports), progress=report):
        outcome, _, _ = _train_and_track(config, registry, progress=report)
    return outcome


def run(config: GovernanceConfig, *, progress: Progress | None = None, now: datetime | None = None) -> RunOutcome:
    """Run the whole governance loop on a validated config (``governance run``).

    data -> candidates (trained and tracked) -> audit of each on the test
    split -> explanations -> card -> gate -> card with the comparison of every
    candidate and its verdict -> HTML card and plots -> registry version per
    candidate -> promotion of the best passing one. A candidate identical to a
    registered version (same data, config, policy and model content: its
    lineage) reuses that version instead of adding one; its card outcome says
    which (``matches_version``).

    Parameters
    ----------
    config
        The validated config.
    progress
        Called as ``progress(stage, done, total)`` while long steps run.
    now
        The time the cards are dated (default: now, UTC); validity runs from it.

    Returns
    -------
    RunOutcome
        Training facts, each candidate's verdict and card, and the champion.
        Also written to ``<output.reports>/summary.json``.
    """
    created = (now or datetime.now(UTC)).replace(microsecond=0)
    check_export_target(config)  # like every output path: refused before any training
    registry, report = _registry(config), checked(progress)
    with store_lock(lock_path(registry.uri, config.output.reports), progress=report):
        return _run_locked(config, registry, report, created)


def _run_locked(config: GovernanceConfig, registry: Registry, progress: Progress, created: datetime) -> RunOutcome:
    """:func:`run`, once the store is ours; ``progress`` checks for a cancel at every call."""
    from governance.gate import evaluate

    outcome, trained, dataset = _train_and_track(config, registry, progress=progress)
    audits = _audit_all(config, dataset.test, trained, progress)
    explained = explain_candidates(config, dataset, trained, progress=progress)
    _cancel.check()
    evidence = _RunEvidence(
        config=config,
        dataset=dataset,
        facts={c.name: c for c in outcome.candidates},
        audits=audits,
        explanations={name: e.to_dict() for name, e in explained.items()},
        created=created,
        commit=git_commit(),
    )
    verdicts = {
        c.name: evaluate(evidence.card(c.name, ()).to_dict(), config.policy, today=created.date()) for c in trained
    }
    comparison = [
        candidate_entry(
            name=c.name,
            kind=c.kind,
            mitigation=c.mitigation,
            uses_sensitive_at_inference=c.uses_sensitive_at_inference,
            audit=evidence.audits[c.name][0],
            attributes=_policy_attributes(config),
            verdict=verdicts[c.name].verdict,
        )
        for c in trained
    ]
    cards, registered = _publish(evidence, registry, trained, verdicts, comparison, progress)
    summary = config.output.reports / "summary.json"
    pending = RunOutcome(outcome, tuple(cards), None, None, None, None, why="the promotion did not complete")
    _write_summary(summary, pending)  # a full disk stops the run here, before any alias moves
    _cancel.check()  # the last safe point before an alias may move: after it, the run completes
    result = _promote(config, registry, outcome, cards, registered)
    _write_summary(summary, result)
    if result.alias is not None:
        sync_champion(config, registry)  # output.models holds the champion, whichever version that is now
    return result


def _write_summary(path: Path, outcome: RunOutcome) -> None:
    """Write ``summary.json``; a storage failure (a full disk, a read-only folder) is exit 3, naming the file."""
    from governance.errors import RegistryError

    try:
        write_json(path, outcome.to_dict())
    except OSError as exc:
        raise RegistryError(
            f"cannot write the run's summary {path}: {type(exc).__name__} ({exc.strerror or 'storage error'}); "
            "free space or make output.reports writable, then run again (no alias was moved before this summary)"
            if outcome.alias is None
            else f"cannot write the run's summary {path} after the promotion: {type(exc).__name__}; "
            "the registry holds the outcome (governance promote / the MLflow UI show the champion)"
        ) from exc


def _registry(config: GovernanceConfig) -> Registry:
    """Build the one registry client of a run or a training."""
    from governance.registry import Registry

    return Registry.for_config(config)


def _audit_all(
    config: GovernanceConfig, test: Split, trained: Sequence[TrainedCandidate], progress: Progress | None
) -> dict[str, tuple[AuditReport, np.ndarray]]:
    """Every candidate audited on the test split: its report and its scores."""
    audits: dict[str, tuple[AuditReport, np.ndarray]] = {}
    for i, candidate in enumerate(trained):
        if progress is not None:
            progress("audit candidates", i, len(trained))
        audits[candidate.name] = audit_candidate(config, test, candidate)
    if progress is not None:
        progress("audit candidates", len(trained), len(trained))
    return audits


@dataclass(frozen=True)
class _RunEvidence:
    """What a run's cards are built from: the config, the data, each candidate's facts, audit and explanations."""

    config: GovernanceConfig
    dataset: Dataset
    facts: Mapping[str, CandidateOutcome]
    audits: Mapping[str, tuple[AuditReport, np.ndarray]]
    explanations: Mapping[str, Mapping[str, Any]]
    created: datetime
    commit: str

    def card(self, name: str, comparison: Sequence[Mapping[str, Any]]) -> ModelCard:
        """Build the ungated card of one candidate, with the run's candidate comparison."""
        fact = self.facts[name]
        return build_card(
            config=self.config,
            dataset=self.dataset,
            candidate=_candidate_facts(fact),
            audit=self.audits[name][0],
            explanations=self.explanations.get(name),
            candidates=comparison,
            run_id=fact.run_id,
            created=self.created,
            git_commit=self.commit,
            model_sha256=fact.model_sha256,
            validation=fact.validation,
        )


def _publish(
    evidence: _RunEvidence,
    registry: Registry,
    trained: Sequence[TrainedCandidate],
    verdicts: Mapping[str, GateReport],
    comparison: Sequence[Mapping[str, Any]],
    progress: Progress | None,
) -> tuple[list[CardOutcome], list[Contender]]:
    """Each candidate's gated card registered (or the version it matches reused), written and logged; the contenders."""
    from governance.registry import Contender

    config = evidence.config
    cards: list[CardOutcome] = []
    registered: list[Contender] = []
    for i, candidate in enumerate(trained):
        if progress is not None:
            progress("cards and registry", i, len(trained))
        fact, audited = evidence.facts[candidate.name], evidence.audits[candidate.name]
        card = evidence.card(candidate.name, comparison).with_gate(verdicts[candidate.name].to_dict())
        card, record, matched = register_or_match(registry, card, run_id=fact.run_id, lineage=fact.lineage_sha256)
        folder = config.output.reports / "cards" / candidate.name
        paths = _write_card_files(
            config, card, evidence.dataset.test, audited, evidence.explanations.get(candidate.name), folder
        )
        _log_results(config, registry, fact.run_id, audited[0], paths)
        selection = fact.validation.get(config.policy.selection_metric, float("nan"))
        undecided = _undecided_rules(verdicts[candidate.name])
        blocked = "" if matched is None else matched.blocked
        registered.append(Contender(record, selection, undecided=undecided, blocked=blocked))
        cards.append(
            CardOutcome(
                name=candidate.name,
                verdict=card.gate["verdict"] if card.gate else "inconclusive",
                version=record.version,
                card_json=paths[0],
                card_html=paths[1],
                test_auc=audited[0].overall["auc"].value,
                worst_disparity=next(e["worst_disparity"] for e in comparison if e["name"] == candidate.name),
                uses_sensitive_at_inference=candidate.uses_sensitive_at_inference,
                matches_version=None if matched is None else record.version,
            )
        )
    if progress is not None:
        progress("cards and registry", len(trained), len(trained))
    return cards, registered


def _promote(
    config: GovernanceConfig,
    registry: Registry,
    outcome: Outcome,
    cards: Sequence[CardOutcome],
    registered: Sequence[Contender],
) -> RunOutcome:
    """Promote the best passing candidate (when the policy lets one be promoted); the run's outcome."""
    from governance.registry import champion_reason

    why = champion_reason(registered, metric=config.policy.selection_metric)
    promotion = registry.promote_best(registered, required_approvals=config.policy.required_approvals)
    chosen = None
    if promotion is not None:
        chosen = next(c for c in cards if c.version == promotion.version)
    return RunOutcome(
        training=outcome,
        cards=tuple(cards),
        chosen=None if chosen is None else chosen.name,
        alias=None if promotion is None else promotion.alias,
        champion_version=None if promotion is None else promotion.champion,
        previous_champion=None if promotion is None else promotion.previous_champion,
        why=why,
    )


def _undecided_rules(report: GateReport) -> tuple[str, ...]:
    """List the rules of a passing gate that were let through undecided (``on_inconclusive: warn``), as ``rule (verdict)``."""
    if not report.passed:
        return ()
    return tuple(f"{r.name} ({r.verdict.replace('_', ' ')})" for r in report.rules if r.verdict != "pass")


@dataclass(frozen=True)
class CardOutcome:
    """One audited candidate: its verdict, registry version and card files.

    ``matches_version`` is set when the candidate is identical (same data,
    config, policy and model content) to a version registered before: that
    version is reused (``version`` is it) and no version was added.
    """

    name: str
    verdict: str
    version: int
    card_json: Path
    card_html: Path | None
    test_auc: float | None
    worst_disparity: float | None
    uses_sensitive_at_inference: bool
    matches_version: int | None = None


@dataclass(frozen=True)
class RunOutcome:
    """The result of ``governance run``: training, each candidate's card and verdict, the promotion.

    ``chosen`` is the best passing candidate and ``alias`` what it got:
    ``champion`` when its approvals are met, else ``candidate``; both None when
    no candidate passed. A candidate that passed with every rule decided ranks
    above one that passed with undecided rules allowed as warnings, then
    ``policy.selection_metric`` on the validation split decides (see
    :func:`governance.registry.rank_candidates`). ``why`` says, in one
    sentence, why ``chosen`` won, or why no candidate was chosen.
    """

    training: Outcome
    cards: tuple[CardOutcome, ...]
    chosen: str | None
    alias: str | None
    champion_version: int | None
    previous_champion: int | None
    why: str

    @property
    def passed(self) -> bool:
        """Whether at least one candidate passed the gate."""
        return self.chosen is not None

    def to_dict(self) -> dict[str, Any]:
        """Return the ``governance.summary/2`` document written to ``reports/summary.json``."""
        return {
            "schema": "governance.summary/2",
            **asdict(self.training),
            "cards": [
                {
                    **asdict(c),
                    "card_json": str(c.card_json),
                    "card_html": None if c.card_html is None else str(c.card_html),
                }
                for c in self.cards
            ],
            "chosen": self.chosen,
            "alias": self.alias,
            "champion_version": self.champion_version,
            "previous_champion": self.previous_champion,
            "why": self.why,
        }


def _policy_attributes(config: GovernanceConfig) -> list[str]:
    """List the attributes the policy's disparity rules name (else every single attribute): where disparity matters."""
    named = [
        r.attribute for r in config.policy.rules if r.scope == "disparity" and r.attribute in config.sensitive.names
    ]
    return list(dict.fromkeys(a for a in named if a is not None)) or list(config.sensitive.names)


def _candidate_facts(fact: CandidateOutcome) -> dict[str, Any]:
    return {
        "name": fact.name,
        "kind": fact.kind,
        "mitigation": fact.mitigation,
        "constraint": fact.constraint,
        "attribute": fact.attribute,
        "uses_sensitive_at_inference": fact.uses_sensitive_at_inference,
        "score_method": fact.score_method,
    }


def _write_card_files(
    config: GovernanceConfig,
    card: ModelCard,
    test: Split,
    audited: tuple[AuditReport, np.ndarray],
    explanations: Mapping[str, Any] | None,
    folder: Path,
) -> tuple[Path, Path, Path]:
    """card.json, card.html (with its plots) and audit.json of one candidate, written atomically."""
    from governance.card import card_figures

    report, _ = audited
    figures = card_figures(config, report, run_card=card, explanations=explanations)
    json_path, html_path = write_card(card, folder, html=render_html(card, figures))
    save_figures(folder, figures)  # so that a later render (feedback) embeds the same figures
    audit_path = folder / "audit.json"
    write_json(audit_path, card.fairness)
    assert html_path is not None
    return json_path, html_path, audit_path


def _log_results(
    config: GovernanceConfig, registry: Registry, run_id: str, report: AuditReport, paths: Sequence[Path]
) -> None:
    """Per-group metrics (published groups only) and the report files, in the candidate's run."""
    from governance.registry import metric_name

    publish_min = config.sensitive.publish_min_group_size
    metrics: dict[str, float] = {}
    for name, value in report.overall.items():
        if value.value is not None:
            metrics[metric_name("audit", name)] = value.value
    for group in report.groups:
        if group.n < publish_min:
            continue
        for name in ("selection_rate", "true_positive_rate", "false_positive_rate", "precision", "auc"):
            value = group.metrics[name]
            if value.value is not None and value.status == "ok":
                metrics[metric_name("group", group.attribute, group.group, name)] = value.value
    for item in report.fairness:
        if item.value.value is not None:
            metrics[metric_name("fairness", item.attribute, item.metric)] = item.value.value
    registry.log_audit_results(run_id, metrics=metrics, files=paths)


def _train_and_track(
    config: GovernanceConfig, registry: Registry, *, progress: Progress | None
) -> tuple[Outcome, tuple[TrainedCandidate, ...], Dataset]:
    """Train and log every candidate under one parent run; the training facts, the models and the data."""
    from governance.audit import check_audit_size
    from governance.registry.anchor import check_config_ledger

    generated = ensure_data(config, progress=progress)
    # a deleted or rolled-back ledger would bring erased accounts back: refused before the data is read
    check_config_ledger(config, registry=registry)
    dataset: Dataset = prepare(config)
    # an audit with too many groups is refused now, before any training or MLflow write
    test = dataset.test.sensitive
    check_audit_size(test, [list(i) for i in config.sensitive.intersections])
    tags = {
        "git.commit": git_commit(),
        "config.sha256": config.sha256,
        "data.sha256": dataset.fingerprint,
        "pseudonymization.development_key": str(dataset.pseudonymization.development_key).lower(),
    }
    trained_all: list[TrainedCandidate] = []
    outcomes: list[CandidateOutcome] = []
    with registry.run(experiment=config.mlflow.experiment, run_name="governance-run", tags=tags) as parent:
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
        tracking_uri=registry.uri,
        data_generated=generated,
        rows_in=dataset.rows_in,
        rows_used=dataset.rows_used,
        excluded=dict(dataset.excluded),
        fingerprint=dataset.fingerprint,
        development_key=dataset.pseudonymization.development_key,
        candidates=tuple(outcomes),
    )
    return result, tuple(trained_all), dataset


def _dataset_record(dataset: Dataset, config: GovernanceConfig) -> DatasetRecord:
    """Describe the data used, for MLflow: schema, rows and fingerprint; the source is the file name only."""
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
    from governance.policy import policy_sha256
    from governance.registry import LINEAGE_TAG, lineage_sha256

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
    lineage = lineage_sha256(
        data_sha256=dataset.fingerprint,
        config_sha256=config.sha256,
        policy_sha256=policy_sha256(config.policy),
        candidate=trained.name,
        model_content_sha256=logged.content_sha256,
    )
    child.set_tags({LINEAGE_TAG: lineage})
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
        "model": {"uri": logged.uri, "sha256": logged.sha256, "content_sha256": logged.content_sha256},
        "data_sha256": dataset.fingerprint,
        "config_sha256": config.sha256,
        "lineage_sha256": lineage,
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
        model_content_sha256=logged.content_sha256,
        lineage_sha256=lineage,
    )


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Write JSON atomically: a reader sees the old file or the new one, never half of one.

    Parameters
    ----------
    path
        The file.
    payload
        Plain JSON data (written as canonical JSON).
    """
    atomic_write(path, canonical_json(payload))
