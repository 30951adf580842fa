"""Candidate scoring models as scikit-learn estimators, built from the config.

Every candidate is a :class:`ScoringModel`: a scikit-learn classifier around
``Pipeline([("prepare", ColumnTransformer), ("model", estimator)])``. Numeric
features are imputed with the median, passed through a signed ``log1p``
(revenue and head counts are heavy-tailed) and standardized; categorical
features are imputed with a constant and one-hot encoded (unknown categories
ignored at scoring time). The estimator is ``logistic_regression``,
``hist_gradient_boosting`` or ``lightgbm``; its hyper-parameters come from the
config, and every random step is seeded from the config's ``seed``.

Account scoring acts on ranked lists, so every candidate, mitigated or not,
gives a *continuous* score in [0, 1]: ``predict_proba(X)[:, 1]``. How each
fairness mitigation (fairlearn) yields one:

``None``
    The pipeline's ``predict_proba``.
``reweighing``
    Pre-processing (Kamiran & Calders 2012): each training row of group ``a``
    and label ``y`` is weighted ``P(a) P(y) / P(a, y)``, so that label and group
    are independent in the weighted training data; the estimator is fitted with
    these ``sample_weight`` and scores with its own ``predict_proba``. The
    sensitive attribute is needed at training only.
``exponentiated_gradient``
    In-processing (Agarwal et al. 2018). fairlearn's ``ExponentiatedGradient``
    returns a randomized classifier: base estimators ``h_t`` (fitted on
    reweighted, relabelled data) with weights ``w_t``. Its own decision
    probability mixes their *hard* 0/1 decisions, which gives a handful of
    distinct values; the score here mixes their *probabilities* instead,
    ``sum_t w_t h_t.predict_proba(X)[:, 1]``, which ranks. Training only.
``threshold_optimizer``
    Post-processing (Hardt et al. 2016). fairlearn's ``ThresholdOptimizer``
    picks, per group ``a``, thresholds ``t0, t1`` on the base score ``s`` used
    with probabilities ``p0, p1`` (and for equalized odds, a share
    ``p_ignore`` of a constant decision ``c``). The score replaces every hard
    step ``[s > t]`` by its logistic smoothing ``sigmoid(logit s - logit t)``:
    ``p_ignore c + (1 - p_ignore) (p0 sigmoid(logit s - logit t0) + p1 sigmoid(logit s - logit t1))``.
    Within a group it is monotone in the base score, at 0.5 it reproduces
    the optimizer's deterministic decisions, and across groups it applies
    the group-specific thresholds. It **needs the sensitive attribute at
    inference** (disparate treatment in many jurisdictions; the card shows it).
``correlation_remover``
    Pre-processing. fairlearn's ``CorrelationRemover`` projects the prepared
    features onto the complement of the one-hot sensitive attribute, removing
    their linear correlation with it (exactly: equal group means), and the
    estimator is fitted on the result. The projection subtracts a group
    specific offset, so it **needs the sensitive attribute at inference** as
    an input of the transform. Linear decorrelation suits linear models; a tree
    model can read the group back from the offsets, so prefer
    ``logistic_regression`` as its base.

A model that needs the sensitive attribute at inference lists it in
``ScoringModel.inputs_`` (and so in its MLflow signature) and says so in
``uses_sensitive_at_inference``; all others read the declared features only.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from governance._mitigations import (
    _Decorrelate,
    _eg_args,
    _fit_exponentiated_gradient,
    _fit_threshold_optimizer,
    _GroupThresholds,
    _Mixture,
    _moment_args,
    reweighing_weights,
)
from governance.config import Candidate
from governance.data import Dataset, Split
from governance.errors import ConfigError, Problem

__all__ = [
    "MODEL_TYPES",
    "SCORE_METHODS",
    "USES_SENSITIVE_AT_INFERENCE",
    "ScoringModel",
    "TrainedCandidate",
    "build_model",
    "build_pipeline",
    "example_input",
    "reweighing_weights",
    "score_metrics",
    "train_candidate",
]

#: How each mitigation (``None``: none) turns into a continuous ranking score.
SCORE_METHODS: Mapping[str | None, str] = MappingProxyType(
    {
        None: "predict_proba(X)[:, 1] of the fitted pipeline",
        "reweighing": "predict_proba(X)[:, 1] of the pipeline fitted with Kamiran-Calders weights "
        "P(a)P(y)/P(a,y) (label independent of group in the weighted training data)",
        "exponentiated_gradient": "sum_t w_t * h_t.predict_proba(X)[:, 1]: the weights of ExponentiatedGradient's "
        "randomized classifier applied to the probabilities (not the 0/1 decisions) of its base estimators",
        "threshold_optimizer": "ThresholdOptimizer's group-specific thresholds smoothed in logit space: "
        "p_ignore*c + (1-p_ignore)*(p0*sigmoid(logit s - logit t0) + p1*sigmoid(logit s - logit t1)) "
        "on the base score s of the row's group; needs the sensitive attribute at inference",
        "correlation_remover": "predict_proba(X')[:, 1] where X' are the prepared features with their linear "
        "correlation with the one-hot sensitive attribute removed; needs the sensitive attribute at inference",
    }
)

#: Whether a model with this mitigation reads the sensitive attribute when it scores.
USES_SENSITIVE_AT_INFERENCE: Mapping[str | None, bool] = MappingProxyType(
    {
        None: False,
        "reweighing": False,
        "exponentiated_gradient": False,
        "threshold_optimizer": True,
        "correlation_remover": True,
    }
)

# still importable from here: models saved before the mitigations moved name them governance.train.*
_MOVED = (_Mixture, _GroupThresholds, _Decorrelate)

#: Types a fitted ScoringModel may contain beyond what skops trusts by default; the
#: registry allows exactly these (and nothing read from a model file) when loading.
MODEL_TYPES: tuple[str, ...] = (
    "collections.OrderedDict",
    "numpy.dtype",
    "governance.train.ScoringModel",
    "governance.train._signed_log1p",
    "governance._mitigations._Mixture",
    "governance._mitigations._GroupThresholds",
    "governance._mitigations._Decorrelate",
    # where these classes lived before: models saved then still name them so, and still load
    "governance.train._Mixture",
    "governance.train._GroupThresholds",
    "governance.train._Decorrelate",
    "fairlearn.preprocessing._correlation_remover.CorrelationRemover",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)

#: Rows scored at a time: row-wise models give the same bits in any chunking.
_CHUNK_ROWS = 16_384


@functools.cache
def _thread_pools() -> Any:
    """Return the native thread pools (OpenMP, BLAS) of this process, LightGBM's included."""
    import lightgbm  # noqa: F401  # load its OpenMP runtime before the controller takes stock
    from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

    return ThreadpoolController()


def _one_thread() -> Any:
    """Return a context in which native code (OpenMP, BLAS) runs on one thread."""
    # A multi-threaded OpenMP loop stalls, by orders of magnitude, whenever another process holds a
    # core (a shared CI machine: seen here, 80 s instead of 0.2 s for a small HistGradientBoosting),
    # and one thread gives the same bits on every machine. LightGBM's own n_jobs still applies inside it.
    return _thread_pools().limit(limits=1)


# ---------------------------------------------------------------- building blocks


def _signed_log1p(x: np.ndarray) -> np.ndarray:
    """sign(x) log(1 + |x|): tames heavy tails, keeps the sign and zero."""
    out: np.ndarray = np.sign(x) * np.log1p(np.abs(x))
    return out


def _preprocessor(numeric: Sequence[str], categorical: Sequence[str]) -> ColumnTransformer:
    """Return the ColumnTransformer that imputes, transforms and scales numbers and one-hot encodes categories."""
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


def _lightgbm_aliases() -> frozenset[str]:
    """Return LightGBM's parameter aliases, read from its private ``lightgbm.basic._ConfigAliases``.

    The package's only use of a private LightGBM API (LightGBM publishes no list of
    its aliases); ``tests/test_train.py`` fails, naming it and the installed
    LightGBM version, when it moves.
    """
    from lightgbm.basic import _ConfigAliases

    return frozenset(alias for aliases in _ConfigAliases._get_all_param_aliases().values() for alias in aliases)


def _lightgbm_names() -> frozenset[str]:
    """Every parameter name and alias LightGBM accepts (its booster params are not typed arguments)."""
    import lightgbm

    names = frozenset(lightgbm.LGBMClassifier().get_params())
    try:
        return names | _lightgbm_aliases()
    except (
        ImportError,
        AttributeError,
    ):  # pragma: no cover - moved: only the typed names are allowed (the test says so)
        return names


def _estimator(kind: str, params: Mapping[str, Any], seed: int) -> Any:
    """Return the unfitted estimator of ``kind``; raises TypeError/ValueError on parameters it refuses."""
    args = dict(params)
    if kind == "logistic_regression":
        args.setdefault("max_iter", 1000)
        args.setdefault("random_state", seed)
        estimator: Any = LogisticRegression(**args)
    elif kind == "hist_gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier

        args.setdefault("random_state", seed)
        estimator = HistGradientBoostingClassifier(**args)
    elif kind == "lightgbm":
        import lightgbm

        unknown = sorted(set(args) - _lightgbm_names())
        if unknown:
            raise TypeError(f"unknown LightGBM parameter(s): {', '.join(unknown)}")
        args.setdefault("random_state", seed)
        args.setdefault("n_jobs", 1)
        args.setdefault("deterministic", True)
        args.setdefault("verbose", -1)
        estimator = lightgbm.LGBMClassifier(**args)
    else:  # the config's Literal makes this unreachable from a validated config
        raise ValueError(f"unknown estimator kind {kind!r}")
    if hasattr(estimator, "_parameter_constraints"):  # scikit-learn's own parameter checks, before fitting
        estimator._validate_params()
    return estimator


# ---------------------------------------------------------------- the scoring model


class ScoringModel(ClassifierMixin, BaseEstimator):  # type: ignore[misc]  # scikit-learn has no type hints
    """A candidate scoring model: preprocessing, an estimator and an optional fairness mitigation.

    A scikit-learn classifier whose ``predict_proba(X)[:, 1]`` is the
    continuous score that ranks accounts (see the module docstring for how each
    mitigation yields it). ``X`` is a DataFrame with the columns ``inputs_``:
    the features, plus the sensitive attribute for the mitigations that need it
    at inference (``uses_sensitive_at_inference``).

    Parameters
    ----------
    kind
        ``logistic_regression``, ``hist_gradient_boosting`` or ``lightgbm``.
    params
        The estimator's hyper-parameters.
    features, categorical
        The model features, and the subset that is categorical.
    mitigation
        ``None``, ``reweighing``, ``exponentiated_gradient``, ``threshold_optimizer``
        or ``correlation_remover``.
    constraint
        For ``exponentiated_gradient`` and ``threshold_optimizer``:
        ``demographic_parity``, ``equalized_odds`` or ``true_positive_rate_parity``.
    attribute
        The sensitive attribute the mitigation acts on.
    mitigation_params
        Options of the fairlearn mitigator (``eps``, ``max_iter``, ``objective``, ``alpha``, ...).
    seed
        Seed of every random step.
    """

    def __init__(
        self,
        kind: str = "logistic_regression",
        params: Mapping[str, Any] | None = None,
        *,
        features: Sequence[str] = (),
        categorical: Sequence[str] = (),
        mitigation: str | None = None,
        constraint: str | None = None,
        attribute: str | None = None,
        mitigation_params: Mapping[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        self.kind = kind
        self.params = params
        self.features = features
        self.categorical = categorical
        self.mitigation = mitigation
        self.constraint = constraint
        self.attribute = attribute
        self.mitigation_params = mitigation_params
        self.seed = seed

    @property
    def uses_sensitive_at_inference(self) -> bool:
        """Whether scoring reads the sensitive attribute (disparate treatment in many jurisdictions)."""
        return USES_SENSITIVE_AT_INFERENCE[self.mitigation]

    @property
    def score_method(self) -> str:
        """How the continuous score is computed, in words."""
        return SCORE_METHODS[self.mitigation]

    @property
    def inputs(self) -> tuple[str, ...]:
        """The columns ``predict_proba`` reads, in order."""
        extra = (self.attribute,) if self.uses_sensitive_at_inference and self.attribute else ()
        return (*self._features(), *extra)

    def _features(self) -> tuple[str, ...]:
        """Return the declared features, or, when none are declared, every column the model was fitted on."""
        return tuple(self.features) or tuple(getattr(self, "features_", ()))

    def __sklearn_tags__(self) -> Any:
        """Return scikit-learn's tags: missing values are imputed; one positive class (binary)."""
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.classifier_tags.multi_class = False
        return tags

    def base_estimator(self) -> Any:
        """Return the unfitted estimator (raises TypeError or ValueError on parameters it refuses)."""
        return _estimator(self.kind, self.params or {}, self.seed)

    def base_pipeline(self) -> Pipeline:
        """Return the unfitted ``Pipeline([("prepare", ...), ("model", ...)])`` without mitigation."""
        numeric = [f for f in self._features() if f not in set(self.categorical)]
        return Pipeline([("prepare", _preprocessor(numeric, list(self.categorical))), ("model", self.base_estimator())])

    def fit(self, X: pd.DataFrame, y: Any, *, sensitive: pd.DataFrame | None = None) -> Self:
        """Fit on the features ``X`` (and, for mitigations, the audit-only ``sensitive`` frame).

        Parameters
        ----------
        X
            The model matrix: a DataFrame with the features (every column when
            none are declared), or an array of them in the declared order.
        y
            Binary labels (two classes; the larger one is the positive class).
        sensitive
            Audit-only attributes, aligned with ``X``; required with a mitigation.
        """
        with _one_thread():
            return self._fit(X, y, sensitive)

    def _fit(self, X: pd.DataFrame, y: Any, sensitive: pd.DataFrame | None) -> Self:
        """Fit the pipeline and the mitigation (called on one native thread)."""
        data = self._frame(X, fitted=False)
        self.features_ = tuple(self.features) or tuple(str(c) for c in data.columns)
        labels = self._labels(y, rows=len(data))
        frame = data.loc[:, list(self.features_)].reset_index(drop=True)
        pipeline = self.base_pipeline()
        mitigation_params = dict(self.mitigation_params or {})
        if self.mitigation is None:
            self.model_: Any = pipeline.fit(frame, labels)
        else:
            if sensitive is None or self.attribute is None or self.attribute not in sensitive:
                raise ValueError(
                    f"the {self.mitigation} mitigation needs the sensitive attribute {self.attribute!r} at training; "
                    "pass it in `sensitive`"
                )
            groups = sensitive[self.attribute].astype(str).reset_index(drop=True)
            if self.mitigation == "reweighing":
                self.model_ = pipeline.fit(frame, labels, model__sample_weight=reweighing_weights(labels, groups))
            elif self.mitigation == "exponentiated_gradient":
                prepare = pipeline.named_steps["prepare"].fit(frame)
                mixture = _fit_exponentiated_gradient(
                    pipeline.named_steps["model"],
                    prepare.transform(frame),
                    labels,
                    groups,
                    constraint=str(self.constraint),
                    params=mitigation_params,
                )
                self.model_ = Pipeline([("prepare", prepare), ("model", mixture)])
            elif self.mitigation == "threshold_optimizer":
                base = pipeline.fit(frame, labels)
                rules = _fit_threshold_optimizer(
                    base, frame, labels, groups, constraint=str(self.constraint), params=mitigation_params
                )
                self.model_ = _GroupThresholds(base, self.attribute, rules).fit(frame, labels)
            elif self.mitigation == "correlation_remover":
                decorrelate = _Decorrelate(pipeline.named_steps["prepare"], self.attribute, **mitigation_params)
                self.model_ = Pipeline([("prepare", decorrelate), ("model", pipeline.named_steps["model"])])
                self.model_.fit(frame.assign(**{self.attribute: groups.to_numpy()}), labels)
            else:
                raise ValueError(f"unknown mitigation {self.mitigation!r}")
        self.n_features_in_ = len(self.inputs)
        return self

    def _frame(self, X: Any, *, fitted: bool) -> pd.DataFrame:
        """Return ``X`` as a DataFrame: as given, or an array's columns named as the model reads them."""
        from sklearn.utils.validation import check_array

        if isinstance(X, pd.DataFrame):
            if not len(X):
                raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is required.")
            return X if all(isinstance(c, str) for c in X.columns) else X.set_axis([str(c) for c in X.columns], axis=1)
        # rejects sparse, complex, one-dimensional and empty input with scikit-learn's own messages
        array = check_array(X, ensure_all_finite="allow-nan")
        width = array.shape[1]
        names = list(self.inputs) if fitted else list(self.features) or [f"x{j}" for j in range(width)]
        if len(names) != width:
            raise ValueError(
                f"X has {width} features, but {type(self).__name__} is expecting {len(names)} features as input"
            )
        return pd.DataFrame(array, columns=names)

    def _labels(self, y: Any, *, rows: int) -> np.ndarray:
        """Return ``y`` as 0/1 (1 for ``classes_[1]``), refusing anything but two classes of one label per row."""
        from sklearn.utils.multiclass import check_classification_targets, unique_labels
        from sklearn.utils.validation import check_array, column_or_1d

        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        target = column_or_1d(check_array(y, ensure_2d=False, dtype=None, input_name="y"), warn=True)
        check_classification_targets(target)
        if len(target) != rows:
            raise ValueError(f"X has {rows} rows but y has {len(target)} labels: they must describe the same accounts")
        classes = unique_labels(target)
        if len(classes) != 2:
            raise ValueError(
                "Only binary classification is supported: a scoring model needs two classes in y, "
                f"a negative and a positive; found {len(classes)} class(es)"
            )
        # 0/1 labels of any integer width keep the classes [0, 1] (int64), as scores and decisions always had
        binary = np.issubdtype(classes.dtype, np.number) and set(classes.tolist()) == {0, 1}
        self.classes_ = np.array([0, 1]) if binary else classes
        labels: np.ndarray = (target == classes[1]).astype(np.int64)
        return labels

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """``[1 - score, score]`` for each row of ``X`` (a DataFrame with the columns ``inputs``, or an array)."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "model_")
        X = self._frame(X, fitted=True)
        missing = [c for c in self.inputs if c not in X]
        if missing:
            raise ValueError(
                f"the model reads {len(self.inputs)} column(s) and {len(missing)} are missing: {', '.join(missing)}"
            )
        frame = X.loc[:, list(self.inputs)]
        with _one_thread():
            # in chunks: memory stays bounded (the prepared matrix is dense) and the work stays in cache
            parts = [
                self.model_.predict_proba(frame.iloc[i : i + _CHUNK_ROWS]) for i in range(0, len(frame), _CHUNK_ROWS)
            ]
        out: np.ndarray = np.vstack(parts) if parts else np.empty((0, 2))
        return out

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """``classes_[1]`` where the score is at least 0.5, else ``classes_[0]`` (ranking uses the score, not this)."""
        positive = self.predict_proba(X)[:, 1] >= 0.5
        out: np.ndarray = self.classes_[positive.astype(np.int64)]
        return out

    def scores(self, X: pd.DataFrame, sensitive: pd.DataFrame | None = None) -> np.ndarray:
        """Return the continuous ranking score of each account, in [0, 1].

        Parameters
        ----------
        X
            The features.
        sensitive
            Audit-only attributes; needed only when ``uses_sensitive_at_inference``.
        """
        return self.predict_proba(self.model_input(X, sensitive))[:, 1]

    def model_input(self, X: pd.DataFrame, sensitive: pd.DataFrame | None = None) -> pd.DataFrame:
        """Return the frame ``predict_proba`` reads: the features, plus the sensitive attribute when it is needed."""
        frame = X.loc[:, list(self._features())].reset_index(drop=True)
        if not self.uses_sensitive_at_inference:
            return frame
        if sensitive is None or self.attribute is None or self.attribute not in sensitive:
            raise ValueError(
                f"the {self.mitigation} mitigation needs the sensitive attribute {self.attribute!r} at inference; "
                "pass it in `sensitive`"
            )
        return frame.assign(**{self.attribute: sensitive[self.attribute].astype(str).to_numpy()})


# ---------------------------------------------------------------- from the config


def _params_problem(candidate: Candidate, where: str, exc: BaseException) -> ConfigError:
    """Return the ConfigError of a candidate whose parameters ``where`` refused, with the cause."""
    owner = candidate.mitigation.kind if where == "mitigation.params" and candidate.mitigation else candidate.kind
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return ConfigError(
        [
            Problem(
                f"candidates.{candidate.name}.{where}",
                f"not accepted by {owner}: {text[:300]}",
                "see the estimator's documentation for its parameters",
            )
        ]
    )


def build_model(
    candidate: Candidate, *, features: Sequence[str], categorical: Sequence[str], seed: int, default_attribute: str
) -> ScoringModel:
    """Return the unfitted :class:`ScoringModel` of a candidate, its parameters checked.

    Parameters
    ----------
    candidate
        The candidate from the config.
    features, categorical
        The model features, and the subset that is categorical.
    seed
        Seed of every random step.
    default_attribute
        The sensitive attribute a mitigation acts on when the candidate names none.

    Raises
    ------
    ConfigError
        Naming ``candidates.<name>.params`` or ``candidates.<name>.mitigation.params``
        when the estimator or the mitigator refuses a parameter.
    """
    mitigation = candidate.mitigation
    model = ScoringModel(
        candidate.kind,
        dict(candidate.params),
        features=tuple(features),
        categorical=tuple(categorical),
        mitigation=mitigation.kind if mitigation else None,
        constraint=mitigation.constraint if mitigation else None,
        attribute=(mitigation.attribute or default_attribute) if mitigation else None,
        mitigation_params=dict(mitigation.params) if mitigation else None,
        seed=seed,
    )
    try:
        model.base_estimator()
    except (TypeError, ValueError) as exc:
        raise _params_problem(candidate, "params", exc) from exc
    if mitigation is not None:
        try:
            _check_mitigation_params(mitigation.kind, dict(mitigation.params))
        except (TypeError, ValueError) as exc:
            raise _params_problem(candidate, "mitigation.params", exc) from exc
    return model


def _check_mitigation_params(kind: str, params: dict[str, Any]) -> None:
    """Construct the mitigator with ``params`` so that a refused one fails before any fitting."""
    if kind == "exponentiated_gradient":
        from fairlearn.reductions import DemographicParity, ExponentiatedGradient

        ExponentiatedGradient(LogisticRegression(), DemographicParity(**_moment_args(params)), **_eg_args(params))
    elif kind == "threshold_optimizer":
        from fairlearn.postprocessing import ThresholdOptimizer

        ThresholdOptimizer(estimator=LogisticRegression(), **params)
    elif kind == "correlation_remover":
        _Decorrelate(None, "", **params)
    elif params:
        raise TypeError(f"{kind} takes no parameters, found {', '.join(sorted(params))}")


def build_pipeline(candidate: Candidate, *, numeric: Sequence[str], categorical: Sequence[str], seed: int) -> Pipeline:
    """Return the unfitted Pipeline of a candidate, without its mitigation.

    Raises
    ------
    ConfigError
        When the candidate's hyper-parameters are not accepted by its estimator.
    """
    model = build_model(
        candidate.model_copy(update={"mitigation": None}),
        features=[*numeric, *categorical],
        categorical=categorical,
        seed=seed,
        default_attribute="",
    )
    return model.base_pipeline()


# ---------------------------------------------------------------- training


def score_metrics(y: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Overall ranking and calibration metrics of a score: ``auc``, ``average_precision``, ``log_loss``, ``brier``."""
    from governance.stats import auc_of_scores

    labels = np.asarray(y).astype(np.int64)
    clipped = np.clip(scores, 1e-15, 1.0 - 1e-15)
    auc = auc_of_scores(labels, scores)  # the AUC the audit and the card compute, ties 1/2
    return {
        "auc": math.nan if auc is None else auc,
        "average_precision": float(average_precision_score(labels, scores)),
        "log_loss": float(log_loss(labels, clipped, labels=[0, 1])),
        "brier": float(brier_score_loss(labels, scores)),
    }


@dataclass(frozen=True)
class TrainedCandidate:
    """A fitted candidate, what it needs at inference, and its overall performance.

    Attributes
    ----------
    name, kind, mitigation, constraint, attribute
        From the config (``attribute``: the sensitive attribute the mitigation acts on).
    uses_sensitive_at_inference
        Whether scoring reads the sensitive attribute.
    inputs
        The columns the model reads when it scores.
    score_method
        How the continuous score is computed.
    params
        The estimator's effective hyper-parameters (defaults included) and the mitigation's options.
    model
        The fitted :class:`ScoringModel`.
    validation, test
        :func:`score_metrics` on the validation and test splits.
    fit_seconds
        Wall-clock training time (not compared: it differs between identical runs).
    """

    name: str
    kind: str
    mitigation: str | None
    constraint: str | None
    attribute: str | None
    uses_sensitive_at_inference: bool
    inputs: tuple[str, ...]
    score_method: str
    params: Mapping[str, Any]
    model: ScoringModel = field(compare=False)
    validation: Mapping[str, float]
    test: Mapping[str, float]
    fit_seconds: float = field(default=0.0, compare=False)

    @property
    def validation_auc(self) -> float:
        """AUC on the validation split."""
        return self.validation["auc"]

    @property
    def test_auc(self) -> float:
        """AUC on the test split."""
        return self.test["auc"]

    def score(self, X: pd.DataFrame, sensitive: pd.DataFrame | None = None) -> np.ndarray:
        """Return the continuous ranking score in [0, 1] (``sensitive`` only when the model needs it)."""
        return self.model.scores(X, sensitive)

    def score_split(self, split: Split) -> np.ndarray:
        """Return the score of every row of a split."""
        return self.model.scores(split.X, split.sensitive)


def _effective_params(model: ScoringModel) -> dict[str, Any]:
    """Return the estimator's parameters as fitted, defaults included, for the record."""
    estimator = model.base_estimator()
    params = {f"estimator.{k}": v for k, v in sorted(estimator.get_params(deep=False).items())}
    params["seed"] = model.seed
    if model.mitigation is not None:
        params["mitigation.kind"] = model.mitigation
        params["mitigation.constraint"] = model.constraint
        params["mitigation.attribute"] = model.attribute
        params.update({f"mitigation.{k}": v for k, v in sorted((model.mitigation_params or {}).items())})
    return params


def train_candidate(
    candidate: Candidate,
    dataset: Dataset,
    *,
    seed: int,
    attribute: str | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> TrainedCandidate:
    """Fit one candidate on the training split and measure it on the validation and test splits.

    Parameters
    ----------
    candidate
        The candidate from the config.
    dataset
        The prepared data.
    seed
        Seed of every random step.
    attribute
        The sensitive attribute a mitigation acts on when the candidate names
        none; default the dataset's first sensitive attribute.
    clock
        Source of time for ``fit_seconds``.

    Raises
    ------
    ConfigError
        When the estimator or the mitigator refuses a parameter.
    """
    default_attribute = attribute or str(dataset.sensitive.columns[0])
    model = build_model(
        candidate,
        features=dataset.features,
        categorical=dataset.categorical,
        seed=seed,
        default_attribute=default_attribute,
    )
    train, validation, test = dataset.train, dataset.validation, dataset.test
    start = clock()
    try:
        model.fit(train.X, train.y, sensitive=train.sensitive)
    except Exception as exc:
        if _is_parameter_error(exc):
            raise _params_problem(candidate, "params", exc) from exc
        raise
    seconds = clock() - start
    return TrainedCandidate(
        name=candidate.name,
        kind=candidate.kind,
        mitigation=model.mitigation,
        constraint=model.constraint,
        attribute=model.attribute,
        uses_sensitive_at_inference=model.uses_sensitive_at_inference,
        inputs=model.inputs,
        score_method=model.score_method,
        params=MappingProxyType(_effective_params(model)),
        model=model,
        validation=MappingProxyType(score_metrics(validation.y, model.scores(validation.X, validation.sensitive))),
        test=MappingProxyType(score_metrics(test.y, model.scores(test.X, test.sensitive))),
        fit_seconds=seconds,
    )


def _is_parameter_error(exc: BaseException) -> bool:
    """Errors that estimators raise for refused hyper-parameters found only while fitting (LightGBM)."""
    return type(exc).__name__ in {"LightGBMError", "InvalidParameterError"}


def example_input(frame: pd.DataFrame, *, rows: int = 5) -> pd.DataFrame:
    """Synthetic rows shaped like ``frame``, for an MLflow input example: no row is any account's record.

    Each numeric column takes evenly spaced quantiles of its own values
    (nearest observed value) and each other column cycles through its most
    frequent values, column by column independently; so the example shows
    realistic values and types without reproducing an account, and never
    contains an identifier (the model matrix holds none).

    Parameters
    ----------
    frame
        Model input rows (features, plus a sensitive attribute when the model reads one).
    rows
        Number of example rows.
    """
    quantiles = np.linspace(0.1, 0.9, rows)
    columns: dict[str, Any] = {}
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            values = column.dropna().quantile(quantiles, interpolation="nearest").to_numpy()
            columns[str(name)] = pd.Series(values).astype(column.dtype)
        else:
            common = column.dropna().astype(str).value_counts().index.tolist() or ["(missing)"]
            columns[str(name)] = pd.Series([common[i % len(common)] for i in range(rows)], dtype=column.dtype)
    return pd.DataFrame(columns)
