"""SHAP values: additive in log-odds for every kind of candidate, sensitive attributes held fixed, no global side effects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from governance.config import GovernanceConfig
from governance.data import Dataset
from governance.explain import (
    ADDITIVITY_TOLERANCE,
    _background,
    _permutation_values,
    _view,
    explain,
    shap_values,
)
from governance.train import TrainedCandidate
from tests.conftest import ROOT
from tests.explain.conftest import EXPECTED_METHOD, KINDS, READS_SENSITIVE

# ---------------------------------------------------------------- SHAP values


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_shap_values_plus_base_give_the_models_log_odds_for_every_candidate_kind(
    dataset: Dataset, trained: dict[str, TrainedCandidate], kind: str
) -> None:
    model = trained[kind].model
    test = dataset.test
    rows = np.arange(0, len(test), 20)
    values = shap_values(
        model,
        test.X.iloc[rows],
        test.sensitive.iloc[rows],
        background=_background(dataset, size=30, seed=0),
        seed=0,
    )
    assert values.values.shape == (len(rows), len(dataset.features))
    assert values.features == dataset.features and "ownership" not in values.features
    scores = trained[kind].score(test.X.iloc[rows], test.sensitive.iloc[rows])
    assert np.allclose(values.output, np.log(scores) - np.log1p(-scores))
    assert values.additivity_error <= ADDITIVITY_TOLERANCE
    assert np.allclose(values.values.sum(axis=1) + values.base_values, values.output, atol=1e-9)
    assert values.method == EXPECTED_METHOD[kind] and values.space == "log_odds"
    assert values.held_fixed == ("ownership" if kind in READS_SENSITIVE else None)


def test_the_model_agnostic_explainer_reproduces_exact_linear_shap_values(
    dataset: Dataset, trained: dict[str, TrainedCandidate]
) -> None:
    # one antithetic permutation is exact for an additive model: this checks the feature masking, one-hot included
    model = trained["logistic_regression"].model
    rows = dataset.test.X.iloc[:40]
    background = _background(dataset, size=30, seed=0)
    exact = shap_values(model, rows, background=background)
    view = _view(model)
    prepared = view.prepare.transform(rows.reset_index(drop=True))
    agnostic, base = _permutation_values(view, prepared, view.prepare.transform(background), None, seed=0)
    assert np.allclose(agnostic, exact.values, atol=1e-9)
    assert np.allclose(base, exact.base_values, atol=1e-9)


def test_models_that_read_a_sensitive_attribute_hold_it_fixed_at_the_accounts_own_group(
    dataset: Dataset, trained: dict[str, TrainedCandidate], config: GovernanceConfig
) -> None:
    for kind in sorted(READS_SENSITIVE):
        explanation = explain(trained[kind].model, dataset, config=config, name=kind)
        assert "ownership" not in explanation.features
        assert explanation.held_fixed is not None and explanation.held_fixed.attribute == "ownership"
        # the attribute's own effect is in each group's base value, not in any feature
        assert set(explanation.held_fixed.base_by_group) == set(dataset.sensitive["ownership"])
        assert len(set(explanation.held_fixed.base_by_group.values())) > 1
        held = explanation.to_dict()["held_fixed"]
        assert held["reference"] == "none" and set(held["difference_to_reference"]) == {
            "minority_owned",
            "women_owned",
            "veteran_owned",
        }


# ---------------------------------------------------------------- what explaining imports


def test_explaining_never_loads_a_plotting_or_templating_library(tmp_path: Path) -> None:
    script = """
import sys
import numpy as np, pandas as pd
from governance.explain import shap_values
from governance.train import ScoringModel
rng = np.random.default_rng(0)
X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.choice(["x", "y"], 300).astype(object)})
y = (X["a"] + rng.normal(size=300) > 0).astype(int)
for kind in ("logistic_regression", "lightgbm"):
    model = ScoringModel(kind, {}, features=["a", "b"], categorical=["b"]).fit(X, y)
    assert shap_values(model, X.iloc[:5], background=X.iloc[:20]).additivity_error < 1e-6
# linear and LightGBM values are computed without shap (which imports matplotlib.pyplot when it can)
print(",".join(m for m in ("matplotlib", "jinja2", "shap") if m in sys.modules))
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""


def test_explaining_leaves_numpys_global_generator_and_the_warning_filters_as_they_were(
    dataset: Dataset, trained: dict[str, TrainedCandidate]
) -> None:
    import warnings

    background = _background(dataset, size=30, seed=0)
    rows = dataset.test.X.iloc[:20]
    state, filters = np.random.get_state(), list(warnings.filters)
    # the model-agnostic explainer (shap's own seeds numpy's global generator) and the one that imports shap
    first = shap_values(trained["exponentiated_gradient"].model, rows, background=background, seed=3)
    shap_values(trained["hist_gradient_boosting"].model, rows, background=background, seed=3)
    after = np.random.get_state()
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2:] == after[2:]
    assert warnings.filters == filters
    again = shap_values(trained["exponentiated_gradient"].model, rows, background=background, seed=3)
    assert np.array_equal(first.values, again.values)
    other = shap_values(trained["exponentiated_gradient"].model, rows, background=background, seed=4)
    assert not np.array_equal(first.values, other.values)  # the seed draws the permutations
