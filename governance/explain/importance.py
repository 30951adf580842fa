"""Importance statistics of SHAP values: overall, by group, group differences, with intervals.

Group differences
    For each attribute, feature and group: the group's mean signed SHAP value
    minus the reference group's (the configured reference, else the largest
    group), with simultaneous (Bonferroni over the attribute's comparisons)
    normal intervals from the bootstrap standard error; a difference whose
    interval excludes zero is flagged and described in words.

Words
    The texts of the card's ``explanations`` block count and describe rows with
    the config's word for one (``purpose.subject``: ``the scores of sex female
    applicants relative to male applicants``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from governance.explain._common import _interval, _json_float, _json_interval
from governance.explain.sampling import Sample, _background, stratified_sample
from governance.explain.values import ADDITIVITY_TOLERANCE, Method, ShapValues, shap_values

if TYPE_CHECKING:
    import pandas as pd

    from governance.config import GovernanceConfig
    from governance.data import Dataset
    from governance.explain.minimization import Minimization
    from governance.explain.proxies import ProxyReport
    from governance.train import ScoringModel

__all__ = [
    "Additivity",
    "Explanation",
    "FeatureImportance",
    "GroupDifference",
    "GroupImportance",
    "HeldFixed",
    "explain",
]

_CHUNK = 250  # bootstrap replicates computed at a time (memory stays bounded)


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class Additivity:
    """Whether SHAP values plus base values reproduce the model's log-odds on every explained account."""

    max_error: float
    tolerance: float

    @property
    def ok(self) -> bool:
        """True when the largest error is within the tolerance."""
        return self.max_error <= self.tolerance

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return {"max_error": _json_float(self.max_error), "tolerance": self.tolerance, "ok": self.ok}


@dataclass(frozen=True)
class FeatureImportance:
    """Mean absolute SHAP value of a feature over the explained population, with its interval."""

    feature: str
    mean_abs: float
    ci: tuple[float, float] | None
    mean: float

    def to_dict(self) -> dict[str, Any]:
        """Return the card's ``global[]`` item."""
        return {
            "feature": self.feature,
            "mean_abs": self.mean_abs,
            "ci": _json_interval(self.ci),
            "mean": self.mean,
        }


@dataclass(frozen=True)
class GroupImportance:
    """A feature's mean absolute and mean signed SHAP value within one group.

    ``mean`` < 0: on average the feature pushes this group's scores down.
    Values are None for a group too small to publish (``n_published``).
    """

    attribute: str
    group: str
    feature: str
    n: int | None
    mean_abs: float | None
    mean: float | None
    ci: tuple[float, float] | None
    mean_ci: tuple[float, float] | None
    n_published: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the card's ``by_group[]`` item."""
        out = {
            "attribute": self.attribute,
            "group": self.group,
            "feature": self.feature,
            "n": self.n,
            "mean_abs": _json_float(self.mean_abs),
            "mean": _json_float(self.mean),
            "ci": _json_interval(self.ci),
            "mean_ci": _json_interval(self.mean_ci),
        }
        if self.n_published is not None:
            out["n_published"] = self.n_published
        return out


@dataclass(frozen=True)
class GroupDifference:
    """How differently a feature moves one group's scores than the reference group's.

    ``difference`` = mean signed SHAP value in ``groups[0]`` minus in
    ``groups[1]`` (the reference); ``ci`` is simultaneous over the attribute's
    comparisons; ``flagged`` when it excludes zero.
    """

    attribute: str
    feature: str
    groups: tuple[str, str]
    difference: float
    ci: tuple[float, float] | None
    flagged: bool
    text: str

    def to_dict(self) -> dict[str, Any]:
        """Return the card's ``group_differences[]`` item."""
        return {
            "attribute": self.attribute,
            "feature": self.feature,
            "groups": list(self.groups),
            "difference": self.difference,
            "ci": _json_interval(self.ci),
            "flagged": self.flagged,
            "text": self.text,
        }


@dataclass(frozen=True)
class HeldFixed:
    """The sensitive attribute a model reads at inference, held at each row's own group.

    Its direct effect is not any feature's: it is the difference between the
    groups' base values (the model's mean log-odds over the background
    rows, all put in that group). ``subject`` is the word for one row in the note.
    """

    attribute: str
    base_by_group: Mapping[str, float]
    reference: str | None
    subject: str = "row"

    def to_dict(self) -> dict[str, Any]:
        """Plain data, with each group's base value relative to the reference group."""
        ref = self.base_by_group.get(self.reference) if self.reference is not None else None
        return {
            "attribute": self.attribute,
            "note": f"a sensitive attribute the model reads at inference; held fixed at each {self.subject}'s own "
            "group, never explained as a feature or given as a reason",
            "base_by_group": {g: float(v) for g, v in self.base_by_group.items()},
            "reference": self.reference,
            "difference_to_reference": None
            if ref is None
            else {g: float(v - ref) for g, v in self.base_by_group.items() if g != self.reference},
        }


@dataclass(frozen=True)
class Explanation:
    """Everything the card says about how one candidate uses its features.

    Attributes
    ----------
    candidate
        The candidate's name.
    method, explainer, space
        How the SHAP values were computed, and in which space (``log_odds``).
    features
        The explained features.
    sample_sizes, sample_rows, per_group, split
        The stratified sample (accounts per attribute and group).
    background
        Background accounts of the linear and model-agnostic explainers.
    base_value
        Mean base value over the explained population.
    global_importance, by_group, group_differences
        Importances with intervals, per group, and flagged differences.
    held_fixed
        The sensitive attribute held fixed (models that read one at inference).
    additivity
        The additivity check; ``degraded`` when it failed.
    proxies, minimization
        The proxy checks and the minimization audit (shared by candidates on the same data).
    bootstrap, confidence, seed
        The intervals' replicates, level and seed.
    subject, subjects
        The word for one row and its plural (``config.purpose``), in the block's texts.
    seconds
        Wall-clock time of each part (not compared).
    """

    candidate: str
    method: Method
    explainer: str
    space: str
    features: tuple[str, ...]
    sample_sizes: Mapping[str, Mapping[str, int]]
    sample_rows: int
    per_group: int
    split: str
    background: int
    base_value: float
    global_importance: tuple[FeatureImportance, ...]
    by_group: tuple[GroupImportance, ...]
    group_differences: tuple[GroupDifference, ...]
    held_fixed: HeldFixed | None
    additivity: Additivity
    proxies: ProxyReport | None
    minimization: Minimization | None
    bootstrap: int
    confidence: float
    seed: int
    publish_min_group_size: int = 10
    subject: str = "row"
    subjects: str = "rows"
    seconds: Mapping[str, float] = field(default_factory=dict, compare=False)

    @property
    def degraded(self) -> bool:
        """True when the additivity check failed: the values do not fully account for the scores."""
        return not self.additivity.ok

    def top_features(self, k: int = 5) -> tuple[str, ...]:
        """Return the ``k`` features with the largest mean absolute SHAP value."""
        return tuple(item.feature for item in self.global_importance[:k])

    def to_dict(self) -> dict[str, Any]:
        """Return the card's ``explanations`` block (DESIGN.md), JSON-safe (no NaN)."""
        sample: dict[str, int | None] = {}
        for attribute, sizes in self.sample_sizes.items():
            for group, n in sizes.items():
                sample[f"{attribute}={group}"] = n if n >= self.publish_min_group_size else None
        out: dict[str, Any] = {
            "candidate": self.candidate,
            "method": self.method,
            "explainer": self.explainer,
            "space": self.space,
            "space_note": _space_note(self.subject),
            "sample": sample,
            "sample_rows": self.sample_rows,
            "sample_per_group": self.per_group,
            "split": self.split,
            "background_rows": self.background,
            "base_value": self.base_value,
            "degraded": self.degraded,
            "additivity": self.additivity.to_dict(),
            "held_fixed": None if self.held_fixed is None else self.held_fixed.to_dict(),
            "global": [g.to_dict() for g in self.global_importance],
            "by_group": [g.to_dict() for g in self.by_group],
            "group_differences": [d.to_dict() for d in self.group_differences],
            "bootstrap": {"replicates": self.bootstrap, "confidence": self.confidence, "seed": self.seed},
        }
        if self.proxies is not None:
            out.update(self.proxies.to_dict(subjects=self.subjects))
        if self.minimization is not None:
            out["minimization"] = self.minimization.to_dict(subjects=self.subjects)
        return out


def _space_note(subject: str) -> str:
    """Return how to read a contribution to the log-odds, for one row named ``subject``."""
    return (
        f"contributions to the log-odds of the score, logit(score); +0.69 doubles the {subject}'s odds, "
        "-0.69 halves them"
    )


def explain(
    model: ScoringModel,
    dataset: Dataset,
    *,
    config: GovernanceConfig,
    name: str,
    proxies: ProxyReport | None = None,
    minimization: Minimization | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Explanation:
    """Explain one fitted candidate for its card: SHAP overall and by group, with intervals.

    Parameters
    ----------
    model
        The fitted candidate.
    dataset
        The prepared data; the test split is explained, training accounts are the background.
    config
        The run's config (``explain``, ``sensitive`` sections; ``purpose.subject``, the word for a row).
    name
        The candidate's name.
    proxies, minimization
        Results computed once for several candidates (:func:`detect_proxies`,
        :func:`minimize_features`); left out of the explanation when None.
    clock
        Source of time for ``seconds``.

    Returns
    -------
    Explanation
        Frozen plain data; ``to_dict()`` is the card's ``explanations`` block.
    """
    spec = config.explain
    subject, subjects = config.purpose.subject, config.purpose.subjects
    start = clock()
    sample, sensitive, values = _sampled_values(model, dataset, config=config)
    shap_seconds = clock() - start
    start = clock()
    stats = _Statistics(values, sample, bootstrap=spec.bootstrap, seed=spec.seed, confidence=spec.confidence)
    global_importance = stats.global_importance()
    references = {a.name: a.reference for a in config.sensitive.attributes}
    publish_min = config.sensitive.publish_min_group_size
    by_group, differences = _by_attribute(
        stats,
        sample,
        order=[item.feature for item in global_importance],
        references=references,
        publish_min=publish_min,
        min_rows=max(config.sensitive.min_group_size, publish_min),
        subjects=subjects,
    )
    overall, w = sample.overall()
    return Explanation(
        candidate=name,
        method=values.method,
        explainer=values.explainer,
        space=values.space,
        features=values.features,
        sample_sizes=sample.sizes,
        sample_rows=len(sample),
        per_group=spec.sample_per_group,
        split="test",
        background=values.background,
        base_value=float(np.sum(w * values.base_values[overall]) / np.sum(w)) if len(w) else 0.0,
        global_importance=global_importance,
        by_group=tuple(by_group),
        group_differences=tuple(differences),
        held_fixed=_held_fixed(values, sensitive, references=references, publish_min=publish_min, subject=subject),
        additivity=Additivity(values.additivity_error, ADDITIVITY_TOLERANCE),
        proxies=proxies,
        minimization=minimization,
        bootstrap=spec.bootstrap,
        confidence=spec.confidence,
        seed=spec.seed,
        publish_min_group_size=publish_min,
        subject=subject,
        subjects=subjects,
        seconds=MappingProxyType({"shap": shap_seconds, "statistics": clock() - start}),
    )


def _sampled_values(
    model: ScoringModel, dataset: Dataset, *, config: GovernanceConfig
) -> tuple[Sample, pd.DataFrame, ShapValues]:
    """Return the stratified sample of test accounts, their attributes, and their SHAP values."""
    spec = config.explain
    test = dataset.test
    sample = stratified_sample(test.sensitive, per_group=spec.sample_per_group, seed=spec.seed)
    X = test.X.iloc[sample.rows].reset_index(drop=True)
    sensitive = test.sensitive.iloc[sample.rows].reset_index(drop=True)
    background = _background(dataset, size=spec.background_size, seed=spec.seed)
    return sample, sensitive, shap_values(model, X, sensitive, background=background, seed=spec.seed)


def _by_attribute(
    stats: _Statistics,
    sample: Sample,
    *,
    order: Sequence[str],
    references: Mapping[str, str | None],
    publish_min: int,
    min_rows: int,
    subjects: str,
) -> tuple[list[GroupImportance], list[GroupDifference]]:
    """Return the importances of every sampled group and their differences to each attribute's reference."""
    by_group: list[GroupImportance] = []
    differences: list[GroupDifference] = []
    for attribute, sizes in sample.sizes.items():
        groups = sorted(sizes)
        by_group += stats.by_group(attribute, groups, order=order, publish_min=publish_min)
        configured = references.get(attribute)
        # none configured, or absent from the data: the largest group
        reference: str = (
            configured
            if configured is not None and configured in sizes
            else max(groups, key=lambda g: (sample.population[attribute][g], g))
        )
        differences += stats.differences(
            attribute, groups, reference=reference, order=order, min_rows=min_rows, subjects=subjects
        )
    return by_group, differences


def _held_fixed(
    values: ShapValues,
    sensitive: pd.DataFrame,
    *,
    references: Mapping[str, str | None],
    publish_min: int,
    subject: str,
) -> HeldFixed | None:
    """Return the held-fixed attribute's base value per published group, when the model reads one."""
    if values.held_fixed is None:
        return None
    labels = sensitive[values.held_fixed].astype(str).to_numpy()
    base_by_group = {
        g: float(values.base_values[labels == g][0])
        for g in sorted(set(labels.tolist()))
        if int((labels == g).sum()) >= publish_min
    }
    return HeldFixed(values.held_fixed, MappingProxyType(base_by_group), references.get(values.held_fixed), subject)


class _Statistics:
    """Means of SHAP values over the sample's strata, with row-bootstrap replicates."""

    def __init__(self, values: ShapValues, sample: Sample, *, bootstrap: int, seed: int, confidence: float):
        self.features = values.features
        self.signed = values.values
        self.absolute = np.abs(values.values)
        self.sample = sample
        self.confidence = confidence
        n = len(sample)
        rng = np.random.default_rng([seed, 104729])
        # one set of replicates for every scope, so differences between groups keep their joint distribution
        self._counts = [
            rng.multinomial(n, np.full(n, 1.0 / n), size=min(_CHUNK, bootstrap - start)).astype(np.float64)
            for start in range(0, bootstrap if n else 0, _CHUNK)
        ]

    def _estimate(self, rows: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the weighted mean |SHAP| and mean SHAP over ``rows``."""
        total = w.sum()
        return (w @ self.absolute[rows]) / total, (w @ self.signed[rows]) / total

    def _replicates(self, rows: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(replicates, features) bootstrap estimates of the mean |SHAP| and mean SHAP over ``rows``."""
        absolute, signed = [], []
        for counts in self._counts:
            cw = counts[:, rows] * w
            total = cw.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                absolute.append((cw @ self.absolute[rows]) / total[:, None])
                signed.append((cw @ self.signed[rows]) / total[:, None])
        if not absolute:
            empty = np.empty((0, len(self.features)))
            return empty, empty
        return np.vstack(absolute), np.vstack(signed)

    def _percentile(self, replicates: np.ndarray) -> list[tuple[float, float] | None]:
        """Return each column's percentile interval, or None when too few replicates are finite."""
        alpha = 1.0 - self.confidence
        out: list[tuple[float, float] | None] = []
        for column in replicates.T:
            finite = column[np.isfinite(column)]
            if len(finite) < max(2, 0.9 * len(column)):
                out.append(None)
                continue
            out.append(_interval(np.quantile(finite, [alpha / 2, 1 - alpha / 2])))
        return out

    def global_importance(self) -> tuple[FeatureImportance, ...]:
        """Return the overall importances (stratified estimate), largest first."""
        rows, w = self.sample.overall()
        if not len(rows):
            return tuple(FeatureImportance(f, 0.0, None, 0.0) for f in self.features)
        mean_abs, mean = self._estimate(rows, w)
        cis = self._percentile(self._replicates(rows, w)[0])
        items = [FeatureImportance(f, float(mean_abs[j]), cis[j], float(mean[j])) for j, f in enumerate(self.features)]
        return tuple(sorted(items, key=lambda item: (-item.mean_abs, item.feature)))

    def by_group(
        self, attribute: str, groups: Sequence[str], *, order: Sequence[str], publish_min: int
    ) -> list[GroupImportance]:
        """Return the importances in each group of ``attribute``; groups under ``publish_min`` hidden."""
        index = {f: j for j, f in enumerate(self.features)}
        out = []
        for group in groups:
            rows = self.sample.members(attribute, group)
            if len(rows) < publish_min:
                hidden = f"fewer than {publish_min}"
                out += [
                    GroupImportance(attribute, group, f, None, None, None, None, None, n_published=hidden)
                    for f in order
                ]
                continue
            ones = np.ones(len(rows))
            mean_abs, mean = self._estimate(rows, ones)
            rep_abs, rep_signed = self._replicates(rows, ones)
            ci_abs, ci_signed = self._percentile(rep_abs), self._percentile(rep_signed)
            for f in order:
                j = index[f]
                out.append(
                    GroupImportance(
                        attribute, group, f, len(rows), float(mean_abs[j]), float(mean[j]), ci_abs[j], ci_signed[j]
                    )
                )
        return out

    def differences(
        self,
        attribute: str,
        groups: Sequence[str],
        *,
        reference: str,
        order: Sequence[str],
        min_rows: int,
        subjects: str = "rows",
    ) -> list[GroupDifference]:
        """Return each group's mean SHAP minus the reference group's, with simultaneous intervals, in words."""
        from scipy.stats import norm

        index = {f: j for j, f in enumerate(self.features)}
        ref_rows = self.sample.members(attribute, reference)
        compared = [g for g in groups if g != reference and len(self.sample.members(attribute, g)) >= min_rows]
        if len(ref_rows) < min_rows or not compared:
            return []
        comparisons = len(compared) * len(self.features)
        alpha = 1.0 - self.confidence
        z = float(norm.ppf(1.0 - alpha / (2 * comparisons)))
        _, ref_mean = self._estimate(ref_rows, np.ones(len(ref_rows)))
        ref_rep = self._replicates(ref_rows, np.ones(len(ref_rows)))[1]
        out = []
        for group in compared:
            rows = self.sample.members(attribute, group)
            _, mean = self._estimate(rows, np.ones(len(rows)))
            rep = self._replicates(rows, np.ones(len(rows)))[1] - ref_rep
            for f in order:
                j = index[f]
                difference = float(mean[j] - ref_mean[j])
                column = rep[:, j][np.isfinite(rep[:, j])]
                ci = None
                if len(column) >= 2:
                    se = float(np.std(column, ddof=1))
                    ci = (difference - z * se, difference + z * se)
                flagged = ci is not None and (ci[0] > 0 or ci[1] < 0)
                text = _difference_text(
                    attribute,
                    f,
                    group,
                    reference,
                    difference,
                    ci,
                    flagged=flagged,
                    confidence=self.confidence,
                    subjects=subjects,
                )
                out.append(GroupDifference(attribute, f, (group, reference), difference, ci, flagged, text))
        return out


def _difference_text(
    attribute: str,
    feature: str,
    group: str,
    reference: str,
    difference: float,
    ci: tuple[float, float] | None,
    *,
    flagged: bool,
    confidence: float,
    subjects: str,
) -> str:
    """Return a group difference in plain words, the rows named ``subjects``."""
    direction = "raises" if difference > 0 else "lowers"
    interval = (
        f" ({confidence:.0%} simultaneous interval {ci[0]:+.3f} to {ci[1]:+.3f})"
        if ci is not None
        else " (no interval)"
    )
    if flagged:
        return (
            f"{feature} {direction} the scores of {attribute} {group} {subjects} relative to {reference} {subjects}, "
            f"by {abs(difference):.3f} log-odds on average{interval}"
        )
    return (
        f"no clear difference: {feature} moves the scores of {attribute} {group} and {reference} {subjects} alike "
        f"(difference {difference:+.3f} log-odds{interval})"
    )
