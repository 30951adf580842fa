"""Explanations that serve fairness: SHAP by group, proxies, data minimization, reason codes.

Everything here works on bounded samples, so the cost does not grow with the
data, and returns frozen results of plain data: :meth:`Explanation.to_dict`
is the card's ``explanations`` block (DESIGN.md). Nothing here imports a
plotting, templating or tracking library; shap is imported lazily.

Contents, one concept per module:

``values``
    SHAP values of a fitted candidate in log-odds (:class:`ShapValues`,
    :func:`shap_values`): the explainer for each kind of candidate, the model
    seen from inside, sensitive attributes held fixed, additivity.
``sampling``
    The stratified sample of test accounts to explain (:class:`Sample`,
    :func:`stratified_sample`) and the explainers' background accounts.
``importance``
    Importance statistics with bootstrap intervals, overall, by group and as
    group differences (:class:`FeatureImportance`, :class:`GroupImportance`,
    :class:`GroupDifference`, :class:`HeldFixed`, :class:`Additivity`), and the
    card's explanation of one candidate (:func:`explain`, :class:`Explanation`).
``proxies``
    Features that reveal a sensitive attribute (:func:`detect_proxies`,
    :class:`ProxyCheck`, :class:`JointProxy`, :class:`ProxyReport`).
``minimization``
    Features a candidate does not need, on evidence (:func:`minimize_features`,
    :class:`FeatureLoss`, :class:`Minimization`).
``reasons``
    One account's reason codes in plain words (:func:`explain_account`,
    :func:`account_row`, :class:`Reason`, :class:`AccountExplanation`).
``_common``
    Small shared helpers (log-odds, intervals, JSON-safe numbers).
"""

from __future__ import annotations

from governance.explain.importance import (
    Additivity,
    Explanation,
    FeatureImportance,
    GroupDifference,
    GroupImportance,
    HeldFixed,
    explain,
)
from governance.explain.minimization import FeatureLoss, Minimization, _paired_loss, minimize_features
from governance.explain.proxies import JointProxy, ProxyCheck, ProxyReport, _auc_from_cells, _nmi, detect_proxies
from governance.explain.reasons import AccountExplanation, Reason, _reason, account_row, explain_account
from governance.explain.sampling import Sample, _background, stratified_sample
from governance.explain.values import (
    ADDITIVITY_TOLERANCE,
    SPACE,
    ShapValues,
    _permutation_values,
    _shap,
    _view,
    shap_values,
)

__all__ = [
    "ADDITIVITY_TOLERANCE",
    "SPACE",
    "AccountExplanation",
    "Additivity",
    "Explanation",
    "FeatureImportance",
    "FeatureLoss",
    "GroupDifference",
    "GroupImportance",
    "HeldFixed",
    "JointProxy",
    "Minimization",
    "ProxyCheck",
    "ProxyReport",
    "Reason",
    "Sample",
    "ShapValues",
    "account_row",
    "detect_proxies",
    "explain",
    "explain_account",
    "minimize_features",
    "shap_values",
    "stratified_sample",
]

# private names kept importable for the tests and the explanation benchmark
_PRIVATE = (_auc_from_cells, _background, _nmi, _paired_loss, _permutation_values, _reason, _shap, _view)
