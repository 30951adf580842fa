"""Importance statistics, group differences and the card's explanations block."""

from __future__ import annotations

import json
import re
from typing import Any

import pandas as pd
import pytest

from governance.config import GovernanceConfig
from governance.data import Dataset
from governance.explain import (
    ADDITIVITY_TOLERANCE,
    Explanation,
    detect_proxies,
    explain,
    minimize_features,
)
from governance.train import TrainedCandidate
from tests.explain.conftest import _config, _prepare

# ---------------------------------------------------------------- importance, groups, the card's block


def test_explanations_are_deterministic_and_give_the_same_top_features(
    dataset: Dataset, trained: dict[str, TrainedCandidate], config: GovernanceConfig
) -> None:
    model = trained["exponentiated_gradient"].model
    first = explain(model, dataset, config=config, name="eg")
    second = explain(model, dataset, config=config, name="eg")
    assert first.to_dict() == second.to_dict()
    assert first.top_features(5) == second.top_features(5)
    assert not first.degraded


def test_the_explanations_block_has_the_card_contract_and_is_json_safe(
    dataset: Dataset, trained: dict[str, TrainedCandidate], config: GovernanceConfig
) -> None:
    model = trained["lightgbm"].model
    proxies = detect_proxies(
        dataset.X,
        dataset.sensitive,
        categorical=dataset.categorical,
        derived_from={"size_band": ["employee_count"]},
        joint_rows=2000,
    )
    minimization = minimize_features(model, dataset, tolerance=0.005, rows=1000)
    block = explain(model, dataset, config=config, name="lgbm", proxies=proxies, minimization=minimization).to_dict()
    json.dumps(block, allow_nan=False)
    assert block["method"] == "tree" and block["space"] == "log_odds"
    assert all(re.fullmatch(r"(ownership|size_band)=\w+", key) for key in block["sample"])
    assert {"feature", "mean_abs", "ci"} <= set(block["global"][0])
    assert {"attribute", "group", "feature", "mean_abs", "mean", "ci"} <= set(block["by_group"][0])
    assert {"attribute", "feature", "groups", "difference", "ci", "text"} <= set(block["group_differences"][0])
    assert {"feature", "attribute", "nmi", "auc", "flagged"} <= set(block["proxies"][0])
    assert set(block["joint_proxy_auc"]) == {"ownership", "size_band"}
    assert {"method", "tolerance", "removable", "minimal_set"} <= set(block["minimization"])
    assert block["minimization"]["method"] == "drop_column_retraining"
    ranked = [g["mean_abs"] for g in block["global"]]
    assert ranked == sorted(ranked, reverse=True)
    for item in block["global"]:
        assert item["ci"][0] <= item["mean_abs"] <= item["ci"][1]


def test_the_planted_proxy_pushes_the_penalized_groups_scores_down(
    dataset: Dataset, trained: dict[str, TrainedCandidate], config: GovernanceConfig
) -> None:
    explanation = explain(trained["logistic_regression"].model, dataset, config=config, name="lr")
    flagged = {(d.attribute, d.feature, d.groups) for d in explanation.group_differences if d.flagged}
    assert ("ownership", "hq_postcode_cluster", ("minority_owned", "none")) in flagged
    (difference,) = [
        d
        for d in explanation.group_differences
        if d.feature == "hq_postcode_cluster" and d.groups == ("minority_owned", "none")
    ]
    assert difference.difference < 0 and difference.ci is not None and difference.ci[1] < 0
    assert difference.text.startswith("hq_postcode_cluster lowers the scores of ownership minority_owned accounts")
    (by_group,) = [
        g
        for g in explanation.by_group
        if g.attribute == "ownership" and g.group == "minority_owned" and g.feature == "hq_postcode_cluster"
    ]
    assert by_group.mean is not None and by_group.mean < 0  # it pushes the group's scores down


def test_groups_too_small_to_publish_get_no_numbers(
    accounts: pd.DataFrame, default_raw: dict[str, Any], trained: dict[str, TrainedCandidate]
) -> None:
    frame = accounts.copy()
    frame["ownership"] = frame["ownership"].astype(object)
    frame.loc[frame.index[:12], "ownership"] = "cooperative"  # about 2 in the test split
    config = _config(default_raw)
    config = config.model_copy(
        update={
            "sensitive": config.sensitive.model_copy(
                update={
                    "attributes": (
                        config.sensitive.attributes[0].model_copy(update={"categories": None}),
                        config.sensitive.attributes[1],
                    )
                }
            )
        }
    )
    data = _prepare(frame, config)
    explanation = explain(trained["logistic_regression"].model, data, config=config, name="lr")
    hidden = [g for g in explanation.by_group if g.group == "cooperative"]
    assert hidden and all(g.mean_abs is None and g.n is None and g.n_published == "fewer than 10" for g in hidden)
    block = explanation.to_dict()
    assert block["sample"]["ownership=cooperative"] is None
    assert not any("cooperative" in d["groups"] for d in block["group_differences"])


def test_the_explanation_result_is_plain_frozen_data(
    dataset: Dataset, trained: dict[str, TrainedCandidate], config: GovernanceConfig
) -> None:
    explanation = explain(trained["logistic_regression"].model, dataset, config=config, name="lr")
    assert isinstance(explanation, Explanation)
    with pytest.raises(AttributeError):
        explanation.candidate = "other"  # type: ignore[misc]


def test_explain_candidates_measures_proxies_once_and_shares_minimization_between_equal_estimators(
    dataset: Dataset, trained: dict[str, TrainedCandidate], config: GovernanceConfig
) -> None:
    from governance.pipeline import explain_candidates

    chosen = [trained[k] for k in ("logistic_regression", "threshold_optimizer", "lightgbm")]
    seen: list[tuple[str, int, int]] = []
    explanations = explain_candidates(
        config, dataset, chosen, progress=lambda stage, done, total: seen.append((stage, done, total))
    )
    assert list(explanations) == [c.name for c in chosen]
    linear, thresholds, trees = (explanations[c.name] for c in chosen)
    assert linear.proxies is thresholds.proxies is trees.proxies  # measured once for the data
    assert linear.minimization is thresholds.minimization  # same estimator: the mitigation adds no feature
    assert trees.minimization is not linear.minimization
    assert seen[-1] == ("explain candidates", 3, 3)
    for explanation in explanations.values():
        block = explanation.to_dict()
        assert block["proxies"] and block["minimization"]["removable"] is not None
        json.dumps(block, allow_nan=False)


def test_an_additivity_failure_marks_the_explanation_degraded(
    dataset: Dataset, trained: dict[str, TrainedCandidate], config: GovernanceConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = trained["lightgbm"].model
    honest = model.scores
    # a model whose scores drift from what its trees say: the values no longer add up to its log-odds
    monkeypatch.setattr(model, "scores", lambda X, sensitive=None: honest(X, sensitive) * 0.9)
    explanation = explain(model, dataset, config=config, name="drifting")
    assert explanation.degraded and explanation.additivity.max_error > ADDITIVITY_TOLERANCE
    block = explanation.to_dict()
    assert block["degraded"] is True and block["additivity"]["ok"] is False
    assert block["global"]  # still reported, marked degraded rather than dropped


def test_the_blocks_texts_name_rows_with_the_configs_word(
    dataset: Dataset, trained: dict[str, TrainedCandidate], default_raw: dict[str, Any]
) -> None:
    raw = {**default_raw, "purpose": {**default_raw["purpose"], "subject": "person"}}
    people = _config(raw)
    model = trained["correlation_remover"].model  # reads ownership at inference: it is held fixed
    proxies = detect_proxies(dataset.X, dataset.sensitive, categorical=dataset.categorical, joint_rows=500)
    minimization = minimize_features(trained["logistic_regression"].model, dataset, tolerance=0.005, rows=1000)
    block = explain(model, dataset, config=people, name="cr", proxies=proxies, minimization=minimization).to_dict()
    assert all(" people " in d["text"] for d in block["group_differences"])
    assert "held fixed at each person's own group" in block["held_fixed"]["note"]
    assert "the person's odds" in block["space_note"]
    assert "among people in the same feature bin" in block["proxy_method"]["auc"]
    assert "The same validation people choose and test the set" in block["minimization"]["note"]
    texts = [block["space_note"], block["held_fixed"]["note"], block["proxy_method"]["auc"]]
    texts += [block["minimization"]["note"], *(d["text"] for d in block["group_differences"])]
    assert not any("account" in text for text in texts)
