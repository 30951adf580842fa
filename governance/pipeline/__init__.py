"""``governance run`` and ``governance train``: the steps composed in one straight line.

config -> data (generated when missing) -> prepare -> for each candidate: train,
then log to MLflow in a nested run -> audit on the test split -> explanations ->
card -> gate -> registry -> promotion -> ``reports/summary.json``. Each step is a
plain function of the previous step's frozen result; nothing here computes or
renders, it only composes.

``_run.py``
    :func:`run` and :func:`train` (the composition), their outcomes
    (:class:`Outcome`, :class:`RunOutcome`, ...), :func:`audit_scores` and
    :func:`audit_candidate` (the config's audit), the MLflow layout of a run.
``_versions.py``
    :func:`register_or_match`: a candidate becomes a new registry version, or reuses the
    version an identical candidate (same lineage) registered before.
``_explanations.py``
    :func:`config_proxies` and :func:`explain_candidates`: the explanations of a run's candidates.
``_serving.py``
    The registered models in use: :func:`load_scoring_model` (after its checksum),
    :func:`check_features`, :func:`account_reasons` (``governance explain --account``)
    and :func:`rerender_card`.
``_export.py``
    :func:`sync_champion`: ``output.models`` holds the champion as a deployment picks it up
    (:func:`export_folder`), checked up front by :func:`check_export_target`.
"""

from governance.pipeline._explanations import config_proxies, explain_candidates
from governance.pipeline._export import ExportOutcome, check_export_target, export_folder, sync_champion
from governance.pipeline._run import (
    CandidateOutcome,
    CardOutcome,
    Outcome,
    RunOutcome,
    audit_candidate,
    audit_scores,
    ensure_data,
    git_commit,
    run,
    train,
    write_json,
)
from governance.pipeline._serving import (
    AccountReasons,
    account_reasons,
    check_features,
    load_scoring_model,
    rerender_card,
)

__all__ = [
    "AccountReasons",
    "CandidateOutcome",
    "CardOutcome",
    "ExportOutcome",
    "Outcome",
    "RunOutcome",
    "account_reasons",
    "audit_candidate",
    "audit_scores",
    "check_export_target",
    "check_features",
    "config_proxies",
    "ensure_data",
    "explain_candidates",
    "export_folder",
    "git_commit",
    "load_scoring_model",
    "rerender_card",
    "run",
    "sync_champion",
    "train",
    "write_json",
]
