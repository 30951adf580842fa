"""Candidate scoring models as scikit-learn Pipelines, built from the config.

Every candidate is ``Pipeline([("prepare", ColumnTransformer), ("model", estimator)])``:
numeric features are imputed with the median, passed through a signed
``log1p`` (revenue and head counts are heavy-tailed) and standardized;
categorical features are imputed with a constant and one-hot encoded
(unknown categories ignored at scoring time). Every random step is seeded
from the config. A candidate's score is ``predict_proba(X)[:, 1]``, a
continuous propensity used to rank accounts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from governance.config import Candidate
from governance.data import Dataset
from governance.errors import ConfigError, Problem

__all__ = ["TrainedCandidate", "build_pipeline", "train_candidate"]


@dataclass(frozen=True)
class TrainedCandidate:
    """A fitted candidate and its headline performance."""

    name: str
    kind: str
    mitigation: str | None
    model: Pipeline
    validation_auc: float
    test_auc: float


def _signed_log1p(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.sign(x) * np.log1p(np.abs(x))
    return out


def _preprocessor(numeric: Sequence[str], categorical: Sequence[str]) -> ColumnTransformer:
    numeric_steps = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            ("log", FunctionTransformer(_signed_log1p, feature_names_out="one-to-one")),
            ("scale", StandardScaler()),
        ]
    )
    categorical_steps = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value="(missing)")),
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    return ColumnTransformer(
        [("numeric", numeric_steps, list(numeric)), ("categorical", categorical_steps, list(categorical))],
        verbose_feature_names_out=False,
    )


def _estimator(candidate: Candidate, seed: int) -> Any:
    params = dict(candidate.params)
    if candidate.kind == "logistic_regression":
        params.setdefault("max_iter", 1000)
        return LogisticRegression(random_state=seed, **params)
    if candidate.kind == "hist_gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(random_state=seed, **params)
    import lightgbm

    params.setdefault("verbose", -1)
    params.setdefault("n_jobs", 1)
    return lightgbm.LGBMClassifier(random_state=seed, **params)


def build_pipeline(candidate: Candidate, *, numeric: Sequence[str], categorical: Sequence[str], seed: int) -> Pipeline:
    """The unfitted Pipeline of a candidate.

    Raises
    ------
    ConfigError
        When the candidate's hyper-parameters are not accepted by its estimator.
    """
    try:
        estimator = _estimator(candidate, seed)
    except TypeError as exc:
        raise ConfigError(
            [Problem(f"candidates.{candidate.name}.params", f"not accepted by {candidate.kind}: {exc}")]
        ) from exc
    return Pipeline([("prepare", _preprocessor(numeric, categorical)), ("model", estimator)])


def train_candidate(candidate: Candidate, dataset: Dataset, *, seed: int) -> TrainedCandidate:
    """Fit one candidate on the training split and measure its validation and test AUC."""
    if candidate.mitigation is not None:
        raise ConfigError(
            [
                Problem(
                    f"candidates.{candidate.name}.mitigation",
                    "fairness mitigations are not trainable in this version",
                    "remove the mitigation",
                )
            ]
        )
    numeric = [f for f in dataset.features if f not in dataset.categorical]
    model = build_pipeline(candidate, numeric=numeric, categorical=dataset.categorical, seed=seed)
    train, validation, test = dataset.train, dataset.validation, dataset.test
    model.fit(train.X, train.y)
    return TrainedCandidate(
        name=candidate.name,
        kind=candidate.kind,
        mitigation=None,
        model=model,
        validation_auc=float(roc_auc_score(validation.y, model.predict_proba(validation.X)[:, 1])),
        test_auc=float(roc_auc_score(test.y, model.predict_proba(test.X)[:, 1])),
    )
