"""Report types of the audit: plain, frozen data with their JSON forms, and the metric tables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias

import numpy.typing as npt

from governance.errors import DataValidationError, Problem
from governance.metrics import METRICS
from governance.privacy import withhold_groups

SCHEMA: Final = "governance.audit/1"

Status: TypeAlias = Literal["ok", "insufficient_data", "undefined"]
Array: TypeAlias = npt.NDArray[Any]

_SCORE_METRICS: Final = frozenset({"auc", "mean_score", "calibration_gap", "precision_at_k"})
#: The score metrics that read a score as a probability; the others only rank the scores.
_PROBABILITY_METRICS: Final = frozenset({"mean_score", "calibration_gap"})
_SIGNED_METRICS: Final = frozenset({"calibration_gap"})
_DISPARITY_METRICS: Final = tuple(m for m in METRICS if m != "count")

_UNDEFINED: Final[Mapping[str, str]] = {
    "count": "no rows",
    "base_rate": "no rows",
    "selection_rate": "no rows",
    "true_positive_rate": "no positive labels",
    "false_positive_rate": "no negative labels",
    "false_negative_rate": "no positive labels",
    "true_negative_rate": "no negative labels",
    "precision": "no positive decisions",
    "negative_predictive_value": "no negative decisions",
    "accuracy": "no rows",
    "auc": "only one label class",
    "mean_score": "no rows",
    "calibration_gap": "no rows",
    "precision_at_k": "no rows",
}
_NO_SCORES: Final = "no scores"
_NOT_PROBABILITIES: Final = "scores are not probabilities"


@dataclass(frozen=True, slots=True)
class MetricValue:
    """One estimate: the value, its interval, a status and, when useful, why and what it rests on.

    Parameters
    ----------
    value
        The point estimate; None when undefined.
    ci
        ``(low, high)`` interval at the audit's confidence, by ``method``; None
        for groups with insufficient data, or when not estimable.
    status
        ``"ok"``, ``"insufficient_data"`` or ``"undefined"``.
    reason
        Why the status is not ``"ok"``, or a note on the interval.
    method
        How the interval was made: ``wilson-cc`` (a proportion: Wilson with continuity correction), ``delong-logit``
        (an AUC), ``bootstrap-se`` (a mean, normal with the bootstrap standard
        error), ``newcombe``, ``score-ratio`` or ``normal`` (pairwise
        comparisons of a disparity, simultaneous over ``comparisons``).
    events
        For a proportion, ``(successes, trials)``: the events the rate divides
        by is ``trials``. For an AUC, ``(positives, negatives)``.
    se
        The standard error, for an AUC (DeLong) or a mean (bootstrap).
    comparisons
        For a disparity: the pairwise comparisons its interval is simultaneous over (Bonferroni).
    """

    value: float | None
    ci: tuple[float, float] | None
    status: Status
    reason: str | None = None
    method: str | None = None
    events: tuple[int, int] | None = None
    se: float | None = None
    comparisons: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form ``{"value", "ci", "status", "reason"?, "method"?, "events"?, "se"?, ...}``."""
        out: dict[str, Any] = {
            "value": self.value,
            "ci": None if self.ci is None else [self.ci[0], self.ci[1]],
            "status": self.status,
        }
        if self.reason is not None:
            out["reason"] = self.reason
        if self.method is not None:
            out["method"] = self.method
        if self.events is not None:
            out["events"] = [self.events[0], self.events[1]]
        if self.se is not None:
            out["se"] = self.se
        if self.comparisons is not None:
            out["comparisons"] = self.comparisons
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricValue:
        """Rebuild from :meth:`to_dict` output."""
        ci = data.get("ci")
        events = data.get("events")
        return cls(
            value=data.get("value"),
            ci=None if ci is None else (ci[0], ci[1]),
            status=data["status"],
            reason=data.get("reason"),
            method=data.get("method"),
            events=None if events is None else (int(events[0]), int(events[1])),
            se=data.get("se"),
            comparisons=data.get("comparisons"),
        )


@dataclass(frozen=True, slots=True)
class GroupMetrics:
    """Every metric of one group of one attribute or intersection.

    Parameters
    ----------
    attribute
        Attribute name, or intersection name (parts joined by ``" & "``).
    group
        Group name (for an intersection, the parts joined by ``" & "``).
    n
        Rows in the group (0 for an absent category or empty intersection).
    status
        ``"ok"`` or ``"insufficient_data"``.
    reason
        Why the group has insufficient data.
    metrics
        Metric name to :class:`MetricValue`, for every name in :data:`METRICS`.
    """

    attribute: str
    group: str
    n: int
    status: Status
    reason: str | None
    metrics: Mapping[str, MetricValue]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        out: dict[str, Any] = {"attribute": self.attribute, "group": self.group, "n": self.n, "status": self.status}
        if self.reason is not None:
            out["reason"] = self.reason
        out["metrics"] = {name: value.to_dict() for name, value in self.metrics.items()}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GroupMetrics:
        """Rebuild from :meth:`to_dict` output."""
        return cls(
            attribute=data["attribute"],
            group=data["group"],
            n=data["n"],
            status=data["status"],
            reason=data.get("reason"),
            metrics={name: MetricValue.from_dict(value) for name, value in data["metrics"].items()},
        )


@dataclass(frozen=True, slots=True)
class Disparity:
    """Between-group spread of one metric over one attribute or intersection.

    Parameters
    ----------
    attribute
        Attribute or intersection name.
    metric
        Metric name from :data:`METRICS` (not ``count``).
    difference
        Max - min over the compared groups.
    ratio
        Min / max over the compared groups.
    reference_group
        The configured reference group, if any.
    reference_difference
        Largest absolute difference between a compared group and the reference.
    reference_ratio
        Smallest ``min(a, r) / max(a, r)`` between a compared group and the reference.
    groups_compared
        Number of groups compared.
    excluded_groups
        Groups left out (too small, metric undefined, no rows); each group's
        entry in :attr:`AuditReport.groups` says why.
    """

    attribute: str
    metric: str
    difference: MetricValue
    ratio: MetricValue
    reference_group: str | None
    reference_difference: MetricValue | None
    reference_ratio: MetricValue | None
    groups_compared: int
    excluded_groups: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        reference: dict[str, Any] | None = None
        if self.reference_group is not None:
            assert self.reference_difference is not None and self.reference_ratio is not None
            reference = {
                "group": self.reference_group,
                "difference": self.reference_difference.to_dict(),
                "ratio": self.reference_ratio.to_dict(),
            }
        return {
            "attribute": self.attribute,
            "metric": self.metric,
            "difference": self.difference.to_dict(),
            "ratio": self.ratio.to_dict(),
            "reference": reference,
            "groups_compared": self.groups_compared,
            "excluded_groups": list(self.excluded_groups),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Disparity:
        """Rebuild from :meth:`to_dict` output."""
        reference = data.get("reference")
        return cls(
            attribute=data["attribute"],
            metric=data["metric"],
            difference=MetricValue.from_dict(data["difference"]),
            ratio=MetricValue.from_dict(data["ratio"]),
            reference_group=None if reference is None else reference["group"],
            reference_difference=None if reference is None else MetricValue.from_dict(reference["difference"]),
            reference_ratio=None if reference is None else MetricValue.from_dict(reference["ratio"]),
            groups_compared=data["groups_compared"],
            excluded_groups=tuple(data["excluded_groups"]),
        )


@dataclass(frozen=True, slots=True)
class FairnessMetric:
    """A named fairness metric (see :data:`FAIRNESS_METRICS`) of one attribute or intersection.

    Parameters
    ----------
    attribute
        Attribute or intersection name.
    metric
        One of :data:`FAIRNESS_METRICS`.
    value
        The estimate.
    excluded_groups
        Groups left out of at least one underlying comparison.
    """

    attribute: str
    metric: str
    value: MetricValue
    excluded_groups: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (the :class:`MetricValue` fields inline)."""
        return {
            "attribute": self.attribute,
            "metric": self.metric,
            **self.value.to_dict(),
            "excluded_groups": list(self.excluded_groups),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FairnessMetric:
        """Rebuild from :meth:`to_dict` output."""
        return cls(
            attribute=data["attribute"],
            metric=data["metric"],
            value=MetricValue.from_dict(data),
            excluded_groups=tuple(data["excluded_groups"]),
        )


@dataclass(frozen=True, slots=True)
class AttributeSummary:
    """What was audited for one attribute or intersection.

    Parameters
    ----------
    name
        Attribute name, or the parts joined by ``" & "``.
    parts
        The attribute names it is made of (one for a single attribute).
    groups
        Groups with rows.
    absent_groups
        Declared categories absent from the data, or empty intersection
        groups, by name (listed up to 1,000; see ``absent_count``).
    absent_count
        Number of declared-but-absent categories or empty intersection groups.
    missing_rows
        Rows whose value was missing and that were reported as the missing group.
    reference
        The reference group, if configured.
    compared_groups
        The groups its disparities and fairness metrics compare, when restricted (``compare``);
        None: every group. In the JSON only when restricted.
    """

    name: str
    parts: tuple[str, ...]
    groups: int
    absent_groups: tuple[str, ...]
    absent_count: int
    missing_rows: int
    reference: str | None
    compared_groups: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        out: dict[str, Any] = {
            "name": self.name,
            "parts": list(self.parts),
            "groups": self.groups,
            "absent_groups": list(self.absent_groups),
            "absent_count": self.absent_count,
            "missing_rows": self.missing_rows,
            "reference": self.reference,
        }
        if self.compared_groups is not None:
            out["compared_groups"] = list(self.compared_groups)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AttributeSummary:
        """Rebuild from :meth:`to_dict` output."""
        return cls(
            name=data["name"],
            parts=tuple(data["parts"]),
            groups=data["groups"],
            absent_groups=tuple(data["absent_groups"]),
            absent_count=data["absent_count"],
            missing_rows=data["missing_rows"],
            reference=data.get("reference"),
            compared_groups=None if data.get("compared_groups") is None else tuple(data["compared_groups"]),
        )


@dataclass(frozen=True, slots=True)
class DecisionRule:
    """How decisions were made.

    Parameters
    ----------
    kind
        ``"threshold"``, ``"top_k"`` or ``"decisions"`` (given by the caller).
    threshold
        The score threshold (for top-k, the k-th highest score); None for given decisions.
    top_k
        The top-k share, for a top-k rule.
    selected
        Rows with a positive decision.
    precision_at_k_share
        The share used by ``precision_at_k``; None without scores.
    """

    kind: Literal["threshold", "top_k", "decisions"]
    threshold: float | None
    top_k: float | None
    selected: int
    precision_at_k_share: float | None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "kind": self.kind,
            "threshold": self.threshold,
            "top_k": self.top_k,
            "selected": self.selected,
            "precision_at_k_share": self.precision_at_k_share,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DecisionRule:
        """Rebuild from :meth:`to_dict` output."""
        return cls(
            kind=data["kind"],
            threshold=data.get("threshold"),
            top_k=data.get("top_k"),
            selected=data["selected"],
            precision_at_k_share=data.get("precision_at_k_share"),
        )


@dataclass(frozen=True, slots=True)
class BootstrapInfo:
    """How the intervals were made.

    Parameters
    ----------
    replicates
        Bootstrap replicates (0: no intervals).
    confidence
        Interval level.
    seed
        Seed of ``numpy.random.SeedSequence``.
    score_bins
        Requested score bins.
    bins_used
        Bins after keeping ties together and adding the threshold edge.
    scheme
        ``"multinomial"`` (draw over cells) or ``"rows"`` (draw rows); the same distribution.
    cells
        Occupied cells.
    binning_error
        Largest ``|exact - binned|`` point estimate over groups with intervals,
        for ``auc`` and ``precision_at_k``: what the score bins lose (the AUC's
        DeLong variance is computed from them; point estimates stay exact).
    """

    replicates: int
    confidence: float
    seed: int
    score_bins: int
    bins_used: int
    scheme: Literal["multinomial", "rows", "none"]
    cells: int
    binning_error: Mapping[str, float]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "replicates": self.replicates,
            "confidence": self.confidence,
            "seed": self.seed,
            "score_bins": self.score_bins,
            "bins_used": self.bins_used,
            "scheme": self.scheme,
            "cells": self.cells,
            "binning_error": dict(self.binning_error),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BootstrapInfo:
        """Rebuild from :meth:`to_dict` output."""
        return cls(
            replicates=data["replicates"],
            confidence=data["confidence"],
            seed=data["seed"],
            score_bins=data["score_bins"],
            bins_used=data["bins_used"],
            scheme=data["scheme"],
            cells=data["cells"],
            binning_error=dict(data["binning_error"]),
        )


@dataclass(frozen=True, slots=True)
class GroupCurves:
    """The ROC and calibration curves of one group of one sensitive attribute: what a figure draws.

    Both come from the audit's counts per score bin. The group's AUC is its
    ``auc`` metric in :attr:`AuditReport.groups` (exact; the area under this
    curve differs by at most ``bootstrap.binning_error["auc"]`` for groups with intervals).

    Parameters
    ----------
    attribute
        Attribute name (single attributes only, not intersections).
    group
        Group name.
    false_positive_rate, true_positive_rate
        The ROC curve from ``(0, 0)`` to ``(1, 1)``, one point per score bin the group
        has rows in, from the highest scores down; empty when the group has one label class.
    bin_mean_score, bin_positive_rate, bin_count
        The calibration curve: per decile of all scores (the score bins merged, ties
        never split) that the group has rows in, ascending, its rows' mean score, share
        of positive labels and number of rows.
    """

    attribute: str
    group: str
    false_positive_rate: tuple[float, ...]
    true_positive_rate: tuple[float, ...]
    bin_mean_score: tuple[float, ...]
    bin_positive_rate: tuple[float, ...]
    bin_count: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class AuditReport:
    """The audit result; :meth:`to_dict` is the ``governance.audit/1`` document.

    Parameters
    ----------
    rows
        Rows audited.
    min_group_size
        Groups with fewer rows have ``insufficient_data``.
    decision_rule
        How decisions were made.
    bootstrap
        How intervals were made.
    attributes
        Single attributes (in the given order), then intersections.
    overall
        Metric name to value over all rows.
    groups
        Every group of every attribute and intersection.
    disparities
        One per attribute or intersection and metric (not ``count``).
    fairness
        The named fairness metrics per attribute or intersection.
    schema
        ``"governance.audit/1"``.
    min_events
        Rates whose denominator has fewer events have ``insufficient_data``.
    scores_are_probabilities
        Whether the scores were read as probabilities. False (scores outside [0, 1], or said so):
        they only rank, and ``mean_score`` and ``calibration_gap`` are ``undefined`` ("scores
        are not probabilities"). In the JSON only when False; True without scores.
    curves
        ROC and calibration curves of every group of every single attribute, for the figures
        (empty without scores). Not part of :meth:`to_dict`: counts per score bin would
        publish what the card withholds for groups below the publication minimum, so a
        report read back with :meth:`from_dict` has none, and two reports compare equal
        without them.
    """

    rows: int
    min_group_size: int
    decision_rule: DecisionRule
    bootstrap: BootstrapInfo
    attributes: tuple[AttributeSummary, ...]
    overall: Mapping[str, MetricValue]
    groups: tuple[GroupMetrics, ...]
    disparities: tuple[Disparity, ...]
    fairness: tuple[FairnessMetric, ...]
    schema: str = SCHEMA
    min_events: int = 10
    scores_are_probabilities: bool = True
    curves: tuple[GroupCurves, ...] = field(default=(), compare=False, repr=False)

    def group(self, attribute: str, group: str) -> GroupMetrics:
        """Return the metrics of one group; KeyError when there is no such group."""
        for item in self.groups:
            if item.attribute == attribute and item.group == group:
                return item
        raise KeyError(f"no group of that name in attribute {attribute!r}")

    def disparity(self, attribute: str, metric: str) -> Disparity:
        """Return the disparity of one metric over one attribute; KeyError when absent."""
        for item in self.disparities:
            if item.attribute == attribute and item.metric == metric:
                return item
        raise KeyError(f"no disparity {metric!r} for attribute {attribute!r}")

    def fairness_metric(self, attribute: str, metric: str) -> FairnessMetric:
        """Return one named fairness metric of one attribute; KeyError when absent."""
        for item in self.fairness:
            if item.attribute == attribute and item.metric == metric:
                return item
        raise KeyError(f"no fairness metric {metric!r} for attribute {attribute!r}")

    def to_dict(self, *, publish_min_group_size: int | None = None) -> dict[str, Any]:
        """Return the ``governance.audit/1`` document; ``json.dumps(..., allow_nan=False)`` accepts it.

        Parameters
        ----------
        publish_min_group_size
            When given, every group with at least one row but fewer than this many is published as
            "fewer than k": its ``n`` is null with ``"n_published"``, its metric values
            and intervals are removed, and so is the attribute's ``missing_rows`` when it is the missing
            group. None: every count and value, as computed.
        """
        document = {
            "schema": self.schema,
            "rows": self.rows,
            "min_group_size": self.min_group_size,
            "min_events": self.min_events,
            "decision_rule": self.decision_rule.to_dict(),
            "bootstrap": self.bootstrap.to_dict(),
            "attributes": [a.to_dict() for a in self.attributes],
            "overall": {name: value.to_dict() for name, value in self.overall.items()},
            "groups": [g.to_dict() for g in self.groups],
            "disparities": [d.to_dict() for d in self.disparities],
            "fairness": [f.to_dict() for f in self.fairness],
        }
        if not self.scores_are_probabilities:
            document["scores_are_probabilities"] = False
        if publish_min_group_size is not None:
            _withheld(document, publish_min_group_size)
        return document

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuditReport:
        """Rebuild a report from :meth:`to_dict` output (for example, read back from JSON).

        Raises
        ------
        DataValidationError
            When the document is not a ``governance.audit/1`` document.
        """
        if data.get("schema") != SCHEMA:
            raise DataValidationError([Problem("schema", f"expected {SCHEMA!r}, found another or none")])
        return cls(
            rows=data["rows"],
            min_group_size=data["min_group_size"],
            min_events=data.get("min_events", 10),
            decision_rule=DecisionRule.from_dict(data["decision_rule"]),
            bootstrap=BootstrapInfo.from_dict(data["bootstrap"]),
            attributes=tuple(AttributeSummary.from_dict(a) for a in data["attributes"]),
            overall={name: MetricValue.from_dict(value) for name, value in data["overall"].items()},
            groups=tuple(GroupMetrics.from_dict(g) for g in data["groups"]),
            disparities=tuple(Disparity.from_dict(d) for d in data["disparities"]),
            fairness=tuple(FairnessMetric.from_dict(f) for f in data["fairness"]),
            schema=data["schema"],
            scores_are_probabilities=data.get("scores_are_probabilities", True),
        )


def _withheld(document: dict[str, Any], publish_min: int) -> None:
    """Publish the groups with ``0 < n < publish_min`` of a document as "fewer than k", in place.

    A rate over three rows reveals them, so their count and every metric value go; a group with
    no rows (an absent category, an empty intersection) reveals no one and stays as it is. An
    attribute's ``missing_rows`` is its missing group's count, so it goes with that group.
    """
    withhold_groups(document["groups"], publish_min, note=f"fewer than {publish_min} rows; not published", empty=False)
    for attribute in document["attributes"]:
        if 0 < attribute["missing_rows"] < publish_min:  # the missing group has that many rows
            attribute["missing_rows"] = None
            attribute["missing_rows_published"] = f"fewer than {publish_min}"
