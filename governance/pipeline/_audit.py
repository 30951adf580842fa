"""The config's audit of a candidate: its scores on a split, audited with the config's rule, groups and bootstrap."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from governance.config import GovernanceConfig, SensitiveAttribute
from governance.data import Split
from governance.train import TrainedCandidate

if TYPE_CHECKING:
    import pandas as pd

    from governance.audit import AuditReport

__all__ = ["audit_candidate", "audit_scores"]


def audit_scores(config: GovernanceConfig, y: np.ndarray, scores: np.ndarray, sensitive: pd.DataFrame) -> AuditReport:
    """Audit scores with the config's decision rule, groups, intersections, bootstrap and small-group rules.

    Parameters
    ----------
    config
        The validated config (decision rule, attributes, bootstrap, group minimums).
    y, scores
        Labels and scores of the audited rows.
    sensitive
        Their sensitive attributes.

    Returns
    -------
    AuditReport
        The audit.
    """
    from governance.audit import audit

    attributes = config.sensitive.attributes
    return audit(
        y,
        scores,
        sensitive={a.name: sensitive[a.name].to_numpy() for a in attributes},
        threshold=config.audit.threshold,
        top_k=config.audit.top_k,
        precision_at_k_share=config.audit.precision_at_k,
        intersections=[list(i) for i in config.sensitive.intersections],
        reference={a.name: a.reference for a in attributes if a.reference is not None},
        categories={a.name: _audited_groups(a, sensitive[a.name]) for a in attributes if a.groups is not None},
        n_boot=config.audit.bootstrap,
        confidence=config.audit_confidence,
        seed=config.audit.seed,
        min_group_size=config.sensitive.min_group_size,
        min_events=config.sensitive.min_events,
        missing={a.name: a.missing for a in attributes},
        missing_label={a.name: a.missing_label for a in attributes},
    )


def audit_candidate(
    config: GovernanceConfig, split: Split, candidate: TrainedCandidate
) -> tuple[AuditReport, np.ndarray]:
    """Score a candidate on a split and audit it with the config's decision rule; returns the report and the scores.

    Parameters
    ----------
    config
        The validated config.
    split
        The rows to audit (the test split).
    candidate
        The trained candidate.

    Returns
    -------
    tuple of (AuditReport, numpy.ndarray)
        The audit and the scores.
    """
    scores = np.asarray(candidate.score(split.X, split.sensitive), dtype=np.float64)
    return audit_scores(config, split.y, scores, split.sensitive), scores


def _audited_groups(attribute: SensitiveAttribute, values: pd.Series) -> list[str]:
    """List the groups the audit may find: the declared ones, and the missing-value group when it occurs.

    :func:`governance.data.prepare` has already put missing values in ``missing_label`` (with
    ``missing: group``), so the audit sees that label as a value, and must accept it.
    """
    groups = list(attribute.groups or ())
    label = attribute.missing_label
    if attribute.missing == "group" and label not in groups and bool((values == label).any()):
        groups.append(label)
    return groups
