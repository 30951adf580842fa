"""Explanations of a run's candidates: proxies of the sensitive attributes, then SHAP for each candidate."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from governance.config import GovernanceConfig
    from governance.data import Dataset
    from governance.explain import Explanation, Minimization, ProxyReport
    from governance.train import ScoringModel, TrainedCandidate

__all__ = ["config_proxies", "explain_candidates"]

Progress = Callable[[str, int, int], None]


def config_proxies(config: GovernanceConfig, dataset: Dataset) -> ProxyReport:
    """Proxy detection on the prepared data with the config's thresholds (shared by every candidate).

    Parameters
    ----------
    config
        The validated config (explain thresholds, sensitive attributes).
    dataset
        The prepared data.

    Returns
    -------
    ProxyReport
        Every feature's association with every sensitive attribute.
    """
    from governance.explain import detect_proxies

    spec = config.explain
    return detect_proxies(
        dataset.X,
        dataset.sensitive,
        categorical=dataset.categorical,
        nmi_threshold=spec.proxy_nmi_threshold,
        auc_threshold=spec.proxy_auc_threshold,
        derived_from={a.name: a.derived_from for a in config.sensitive.attributes},
        min_group_size=config.sensitive.min_group_size,
        joint_rows=spec.proxy_rows,
        seed=spec.seed,
    )


def explain_candidates(
    config: GovernanceConfig,
    dataset: Dataset,
    trained: Sequence[TrainedCandidate],
    *,
    progress: Progress | None = None,
) -> dict[str, Explanation]:
    """Explain every trained candidate for its card: SHAP by group, proxies, minimization.

    Proxies depend only on the data, so they are measured once; the
    minimization audit depends only on a candidate's estimator and
    hyper-parameters (its mitigation adds no feature), so candidates sharing
    them share it.

    Parameters
    ----------
    config, dataset
        The run's config and prepared data.
    trained
        The fitted candidates.
    progress
        Called as ``progress("explain candidates", done, total)``.

    Returns
    -------
    dict
        Each candidate's :class:`~governance.explain.Explanation`, by name;
        ``to_dict()`` is the card's ``explanations`` block.
    """
    from governance.explain import explain, minimize_features

    spec = config.explain
    proxies = config_proxies(config, dataset)
    minimizations: dict[str, Minimization] = {}
    out: dict[str, Explanation] = {}
    for i, candidate in enumerate(trained):
        if progress is not None:
            progress("explain candidates", i, len(trained))
        key = _estimator_key(candidate.model)
        if key not in minimizations:
            minimizations[key] = minimize_features(
                candidate.model,
                dataset,
                tolerance=spec.minimization_tolerance,
                rows=spec.minimization_rows,
                seed=spec.seed,
                confidence=spec.confidence,
            )
        out[candidate.name] = explain(
            candidate.model,
            dataset,
            config=config,
            name=candidate.name,
            proxies=proxies,
            minimization=minimizations[key],
        )
    if progress is not None:
        progress("explain candidates", len(trained), len(trained))
    return out


def _estimator_key(model: ScoringModel) -> str:
    """Candidates with the same estimator, effective hyper-parameters, features and seed refit identically."""
    params = {k: repr(v) for k, v in sorted(model.base_estimator().get_params(deep=False).items())}
    return json.dumps(
        [model.kind, params, list(model.features), list(model.categorical), model.seed], sort_keys=True, default=repr
    )
