"""Re-evaluation of the champion on a new labelled batch: fairness, performance, drift and the gate again.

A model that was fair on last quarter's accounts must be checked on this quarter's.
:func:`monitor` loads the batch through the same data layer as training
(schema checks, the data-subject ledger, the consent filter), scores it with the
champion (loaded only after its checksum is verified), audits the whole batch
with the config's decision rule, compares every metric with the champion card's
(value and interval, then and now), measures data drift, and gates a
*monitoring card* with the champion card's own policy. The monitoring card is a
``governance.card/1`` document with a ``monitoring`` block, so ``governance gate``
checks it offline like any card, validity date included.

Drift is the population stability index (PSI) of each feature, of the score,
and of each sensitive attribute's group shares, between the champion's training
split (the reference) and the batch::

    PSI = sum over bins of (q_i - p_i) * ln(q_i / p_i)

with p the reference shares and q the batch shares. Numbers are binned at the
reference's deciles (``monitor.psi_bins`` bins; ties merge bins, missing values
get a bin of their own); categories are bins, and a category the reference never
saw falls in an "unseen" bin. Shares are smoothed by half an account per bin, so
an empty bin gives a finite value. Within each group of each sensitive
attribute, a feature's PSI compares the group's batch with the same group's
reference on the same bins: a shift confined to one group shows there even when
the overall distribution hardly moves. Under no drift PSI is about
(bins - 1) x (1/n_reference + 1/n_batch): not small for a small group binned
finely (a group of 300 accounts over 20 categories reaches 0.25 by chance), so
every value carries its sampling ``noise``, the PSI two samples of its sizes
from one distribution exceed with probability 1/1000 (PSI x n_ref n_new /
(n_ref + n_new) is asymptotically chi-squared with bins - 1 degrees of
freedom), and values computed on fewer than ``sensitive.min_group_size``
accounts on either side are not computed at all.
Status: ``stable`` below ``monitor.psi_moderate`` (0.1) or within the noise,
``moderate`` below ``monitor.psi_significant`` (0.25), ``significant`` from
there on: the usual bounds (Siddiqi, *Credit Risk Scorecards*, 2006). Drift
informs; the gate's rules decide.

Computation here imports no presentation or tracking library at module level:
plots and MLflow are imported inside :func:`monitor`, which composes the steps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

import numpy as np
import pandas as pd

from governance.card import MONITORING_SCHEMA, ModelCard, monitoring_card
from governance.metrics import PERFORMANCE_METRICS

if TYPE_CHECKING:
    from governance.audit import AuditReport
    from governance.config import GovernanceConfig, PolicySpec
    from governance.data import Dataset
    from governance.gate import GateReport
    from governance.plots import Figure
    from governance.registry import DemotionOutcome, Registry, VerifiedCard

__all__ = [
    "SCHEMA",
    "Drift",
    "MonitorOutcome",
    "compare",
    "drift_report",
    "monitor",
    "monitoring_card",
    "population_stability_index",
]

#: The version of a monitoring card's ``monitoring`` block (:data:`governance.card.MONITORING_SCHEMA`).
SCHEMA: Final = MONITORING_SCHEMA
Status: TypeAlias = Literal["stable", "moderate", "significant", "insufficient_data"]
_SMOOTHING: Final = 0.5
#: A PSI within the sampling noise at this level is ``stable`` whatever its size (see :func:`sampling_noise`).
NOISE_LEVEL: Final = 0.999
_MISSING: Final = "\x00missing"
_UNSEEN: Final = "\x00unseen"


# ---------------------------------------------------------------- population stability index


@dataclass(frozen=True)
class _Bins:
    """How values fall into the bins of one feature: numbers by edges, categories by label."""

    categorical: bool
    edges: np.ndarray
    labels: tuple[str, ...]

    @property
    def count(self) -> int:
        """Bins, the missing-value bin (and the unseen-category bin) included."""
        return len(self.labels) + 2 if self.categorical else len(self.edges) + 2

    def codes(self, values: pd.Series) -> np.ndarray:
        """Return the bin of every value: 0 for a missing value, then the value bins."""
        if self.categorical:
            text = values.astype("string")
            missing = text.isna().to_numpy()
            index = {label: i + 2 for i, label in enumerate(self.labels)}
            codes = np.array([index.get(v, 1) for v in text.fillna(_MISSING).tolist()], dtype=np.int64)
            codes[missing] = 0
            return codes
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
        codes = np.searchsorted(self.edges, numbers, side="right").astype(np.int64) + 1
        codes[~np.isfinite(numbers)] = 0
        return codes


def _bins_of(reference: pd.Series, *, categorical: bool, bins: int) -> _Bins:
    """Bins from the reference: its quantiles for numbers (ties merged), its categories otherwise."""
    if categorical:
        labels = tuple(sorted(str(v) for v in reference.dropna().astype("string").unique()))
        return _Bins(categorical=True, edges=np.empty(0), labels=labels)
    numbers = reference.to_numpy(dtype=np.float64, na_value=np.nan)
    numbers = numbers[np.isfinite(numbers)]
    if not len(numbers):
        return _Bins(categorical=False, edges=np.empty(0), labels=())
    edges = np.unique(np.quantile(numbers, np.arange(1, bins) / bins))
    return _Bins(categorical=False, edges=edges, labels=())


def _psi_and_bins(reference_codes: np.ndarray, new_codes: np.ndarray, count: int) -> tuple[float, int]:
    """PSI and the number of bins it was computed on (the bins either side uses)."""
    p = np.bincount(reference_codes, minlength=count).astype(np.float64)
    q = np.bincount(new_codes, minlength=count).astype(np.float64)
    used = (p + q) > 0  # a bin neither side uses (the missing bin, often) adds nothing and is left out
    p, q = p[used], q[used]
    p = (p + _SMOOTHING) / (p.sum() + _SMOOTHING * len(p))
    q = (q + _SMOOTHING) / (q.sum() + _SMOOTHING * len(q))
    return float(np.sum((q - p) * np.log(q / p))), int(used.sum())


def _psi(reference_codes: np.ndarray, new_codes: np.ndarray, count: int) -> float:
    return _psi_and_bins(reference_codes, new_codes, count)[0]


def sampling_noise(bins: int, n_reference: int, n_new: int, *, level: float = NOISE_LEVEL) -> float:
    """Return the PSI two samples of these sizes from one distribution exceed with probability ``1 - level``.

    PSI is the symmetric (Jeffreys) divergence of the two histograms; under no drift
    ``PSI * n_reference * n_new / (n_reference + n_new)`` is asymptotically chi-squared
    with ``bins - 1`` degrees of freedom. A PSI below this bound cannot be told from
    sampling noise: small groups binned finely reach 0.25 by chance alone.

    Parameters
    ----------
    bins
        Bins the two histograms have.
    n_reference, n_new
        Accounts on each side.
    level
        The probability the noise bound holds under no drift.

    Returns
    -------
    float
        The bound; 0 with fewer than two bins or an empty side.
    """
    from scipy.stats import chi2

    if bins < 2 or n_reference <= 0 or n_new <= 0:
        return 0.0
    effective = n_reference * n_new / (n_reference + n_new)
    return float(chi2.ppf(level, bins - 1) / effective)


def population_stability_index(
    reference: pd.Series | Sequence[Any],
    new: pd.Series | Sequence[Any],
    *,
    categorical: bool = False,
    bins: int = 10,
) -> float:
    """PSI between a reference sample and a new one (see the module docstring for the method).

    Parameters
    ----------
    reference, new
        The values (numbers, or categories with ``categorical=True``); missing values are a bin.
    categorical
        Bin by category instead of by the reference's quantiles.
    bins
        Quantile bins for numbers.

    Returns
    -------
    float
        0 for identical distributions; about 0.1 a moderate shift, 0.25 and more a significant one.

    Raises
    ------
    ValueError
        When either sample is empty.

    Examples
    --------
    >>> round(population_stability_index([1, 2, 3, 4] * 50, [1, 2, 3, 4] * 50), 6)
    0.0
    """
    ref = reference if isinstance(reference, pd.Series) else pd.Series(list(reference))
    out = new if isinstance(new, pd.Series) else pd.Series(list(new))
    if not len(ref) or not len(out):
        raise ValueError(f"PSI needs two non-empty samples, found {len(ref)} and {len(out)} values")
    binning = _bins_of(ref, categorical=categorical, bins=bins)
    return _psi(binning.codes(ref), binning.codes(out), binning.count)


def _status(psi: float | None, *, moderate: float, significant: float, noise: float = 0.0) -> Status:
    if psi is None:
        return "insufficient_data"
    if psi <= noise:
        return "stable"  # no larger than two samples of one distribution give by chance
    if psi >= significant:
        return "significant"
    return "moderate" if psi >= moderate else "stable"


@dataclass(frozen=True)
class Drift:
    """One PSI value: a feature (or ``score``) overall or within one group, or a group composition.

    ``n_reference`` / ``n_new`` are None for groups smaller than the publication minimum;
    ``noise`` is the PSI two samples of these sizes reach by chance (:func:`sampling_noise`):
    a PSI at or below it is ``stable`` whatever the thresholds say.
    """

    feature: str
    attribute: str | None
    group: str | None
    psi: float | None
    status: Status
    n_reference: int | None
    n_new: int | None
    noise: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return {
            "feature": self.feature,
            "attribute": self.attribute,
            "group": self.group,
            "psi": self.psi,
            "status": self.status,
            "n_reference": self.n_reference,
            "n_new": self.n_new,
            "noise": self.noise,
        }


def drift_report(
    reference: Dataset,
    batch: Dataset,
    *,
    reference_scores: np.ndarray,
    batch_scores: np.ndarray,
    config: GovernanceConfig,
) -> dict[str, Any]:
    """Measure the drift (PSI) between the reference (the training split) and the batch.

    The PSI of every feature and of the score, overall and within each group of each
    sensitive attribute, and of each attribute's group shares. Groups with fewer than
    ``sensitive.min_group_size`` accounts on either side get no value
    (``insufficient_data``); groups below ``sensitive.publish_min_group_size`` are not
    published with their counts.

    Parameters
    ----------
    reference, batch
        The prepared reference data (its training split is used) and the new batch.
    reference_scores, batch_scores
        The champion's scores of the reference's training split and of the batch.
    config
        The validated config (``monitor`` bins and bounds, group sizes).

    Returns
    -------
    dict
        ``overall``, ``groups``, ``composition``, ``worst`` and the counts of moderate
        and significant drifts, with the method's parameters.
    """
    spec = config.monitor
    train = reference.train
    columns: dict[str, tuple[pd.Series, pd.Series, bool]] = {
        name: (train.X[name], batch.X[name], name in reference.categorical) for name in reference.features
    }
    columns["score"] = (pd.Series(reference_scores), pd.Series(batch_scores), False)
    binned: _Binned = {}
    for name, (ref, new, categorical) in columns.items():
        binning = _bins_of(ref, categorical=categorical, bins=spec.psi_bins)
        binned[name] = (binning.codes(ref), binning.codes(new.reset_index(drop=True)), binning.count)
    everyone = (np.arange(len(train)), np.arange(len(batch.y)))
    overall = [_judged(binned, name, None, None, everyone, config) for name in columns]
    by_group: list[Drift] = []
    composition: list[dict[str, Any]] = []
    for attribute in config.sensitive.names:
        ref_groups = train.sensitive[attribute].astype(str).to_numpy()
        new_groups = batch.sensitive[attribute].astype(str).to_numpy()
        for group in sorted(set(ref_groups) | set(new_groups)):
            rows = (np.flatnonzero(ref_groups == group), np.flatnonzero(new_groups == group))
            by_group += [_judged(binned, name, attribute, group, rows, config) for name in columns]
        composition.append(_composition(attribute, ref_groups, new_groups, config))
    judged_values = [d for d in (*overall, *by_group) if d.psi is not None]
    worst = sorted(judged_values, key=lambda d: (d.status != "significant", d.status != "moderate", -(d.psi or 0.0)))[
        :5
    ]
    return {
        "method": "population stability index",
        "bins": spec.psi_bins,
        "smoothing": _SMOOTHING,
        "noise_level": NOISE_LEVEL,
        "moderate": spec.psi_moderate,
        "significant": spec.psi_significant,
        "reference": "the champion's training split of the configured data (after the ledger and consent)",
        "overall": [d.to_dict() for d in overall],
        "groups": [d.to_dict() for d in by_group],
        "composition": composition,
        "worst": [d.to_dict() for d in worst],
        "significant_count": sum(d.status == "significant" for d in (*overall, *by_group)),
        "moderate_count": sum(d.status == "moderate" for d in (*overall, *by_group)),
    }


#: Per feature: the reference's bin codes, the batch's, and the number of bins.
_Binned: TypeAlias = dict[str, tuple[np.ndarray, np.ndarray, int]]


def _judged(
    binned: _Binned,
    feature: str,
    attribute: str | None,
    group: str | None,
    rows: tuple[np.ndarray, np.ndarray],
    config: GovernanceConfig,
) -> Drift:
    """Measure the drift of one feature on some rows of each side; none below the minimum group size."""
    spec = config.monitor
    ref_rows, new_rows = rows
    n_ref, n_new = len(ref_rows), len(new_rows)
    small = attribute is not None and min(n_ref, n_new) < config.sensitive.min_group_size
    hidden = attribute is not None and min(n_ref, n_new) < config.sensitive.publish_min_group_size
    value = noise = None
    if not small and n_ref and n_new:
        ref_codes, new_codes, count = binned[feature]
        psi, used = _psi_and_bins(ref_codes[ref_rows], new_codes[new_rows], count)
        value, noise = round(psi, 6), round(sampling_noise(used, n_ref, n_new), 6)
    return Drift(
        feature=feature,
        attribute=attribute,
        group=group,
        psi=value,
        status=_status(value, moderate=spec.psi_moderate, significant=spec.psi_significant, noise=noise or 0.0),
        n_reference=None if hidden else n_ref,
        n_new=None if hidden else n_new,
        noise=noise,
    )


def _composition(
    attribute: str, ref_groups: np.ndarray, new_groups: np.ndarray, config: GovernanceConfig
) -> dict[str, Any]:
    """Measure the drift of one attribute's group shares; shares of unpublished groups are left out."""
    spec = config.monitor
    value = round(population_stability_index(pd.Series(ref_groups), pd.Series(new_groups), categorical=True), 6)
    groups_noise = sampling_noise(len(set(ref_groups) | set(new_groups)), len(ref_groups), len(new_groups))
    shares = {}
    for group in sorted(set(ref_groups) | set(new_groups)):
        counts = (int((ref_groups == group).sum()), int((new_groups == group).sum()))
        hidden = min(counts) < config.sensitive.publish_min_group_size
        shares[group] = {
            "reference": None if hidden else counts[0] / len(ref_groups),
            "new": None if hidden else counts[1] / len(new_groups),
        }
    return {
        "attribute": attribute,
        "psi": value,
        "status": _status(value, moderate=spec.psi_moderate, significant=spec.psi_significant, noise=groups_noise),
        "noise": round(groups_noise, 6),
        "shares": shares,
    }


# ---------------------------------------------------------------- comparison with the card


def _metric(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        return {"value": None, "ci": None, "status": "undefined"}
    return {"value": value.get("value"), "ci": value.get("ci"), "status": value.get("status")}


def _change(then: Mapping[str, Any], now: Mapping[str, Any]) -> dict[str, Any]:
    before, after = then.get("value"), now.get("value")
    change = None if before is None or after is None else float(after) - float(before)
    ci = now.get("ci")
    outside = None
    if before is not None and isinstance(ci, list | tuple) and len(ci) == 2:
        outside = not (min(ci) <= float(before) <= max(ci))
    return {"card": dict(then), "new": dict(now), "change": change, "card_value_outside_new_interval": outside}


def compare(card: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """Every performance and fairness metric and every gate rule: the card's value, the new one, the change.

    Parameters
    ----------
    card
        The champion's card document.
    new
        The monitoring card document (gated).

    Returns
    -------
    dict
        ``performance`` (per metric), ``fairness`` (per attribute and named metric) and ``rules``
        (per rule: verdict and observed value then and now). ``card_value_outside_new_interval``
        says whether the new interval excludes the card's value: a change the batch shows beyond noise.
    """
    performance = [
        {"metric": name, **_change(_metric(card.get("performance", {}).get(name)), _metric(new["performance"][name]))}
        for name in PERFORMANCE_METRICS
        if name in new.get("performance", {})
    ]
    then = {(f.get("attribute"), f.get("metric")): f for f in card.get("fairness", {}).get("fairness", [])}
    fairness = [
        {"attribute": f["attribute"], "metric": f["metric"], **_change(_metric(then.get(key)), _metric(f))}
        for f in new.get("fairness", {}).get("fairness", [])
        if (key := (f.get("attribute"), f.get("metric"))) in then
    ]
    rules_then = {r.get("name"): r for r in (card.get("gate") or {}).get("rules", [])}
    rules = [
        {
            "name": r["name"],
            "card_verdict": rules_then.get(r["name"], {}).get("verdict"),
            "card_observed": rules_then.get(r["name"], {}).get("observed"),
            "new_verdict": r["verdict"],
            "new_observed": r.get("observed"),
            "new_ci": r.get("ci"),
        }
        for r in (new.get("gate") or {}).get("rules", [])
    ]
    return {"performance": performance, "fairness": fairness, "rules": rules}


# ---------------------------------------------------------------- composition


@dataclass(frozen=True)
class MonitorOutcome:
    """What :func:`monitor` found and did.

    Attributes
    ----------
    verdict
        The gate's decision on the batch: ``pass``, ``fail`` or ``inconclusive``.
    gate
        The rule-by-rule report.
    version, candidate
        The champion re-evaluated.
    folder
        ``<output.reports>/monitoring/<time>-v<version>/``: ``card.json``, ``card.html``, ``monitoring.json``.
    run_id
        The MLflow run ``governance-monitor``.
    demotion
        What ``--demote`` did, or None.
    document
        The ``governance.monitoring/1`` document (``monitoring.json``).
    """

    verdict: str
    gate: GateReport
    version: int
    candidate: str
    folder: Path
    run_id: str
    demotion: DemotionOutcome | None
    document: Mapping[str, Any]

    @property
    def passed(self) -> bool:
        """Whether the champion passed on the batch."""
        return self.verdict == "pass"


Progress = Callable[[str, int, int], None]


def monitor(
    config: GovernanceConfig,
    data: str | Path,
    *,
    demote: bool = False,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> MonitorOutcome:
    """Re-audit the champion on a new labelled batch, gate it, record it; optionally demote a failing champion.

    Steps: verify and load the champion (card from the registry, model files against
    their checksum); prepare the batch (schema, ledger, consent) and the reference (the
    configured data's training split); score both; audit the whole batch with the
    config's decision rule; measure drift; build the monitoring card and gate it with
    the champion card's policy; compare with the champion's card; write
    ``card.json``, ``card.html`` and ``monitoring.json`` to
    ``<output.reports>/monitoring/<UTC time>-v<version>/``; log an MLflow run
    ``governance-monitor`` (tags ``monitor.verdict``, ``model.version``,
    ``data.sha256`` of the batch; audit and PSI metrics; the files); tag the version
    ``monitor.verdict`` / ``monitor.run_id`` / ``monitor.at``. With ``demote`` and a
    ``fail`` verdict, :func:`governance.registry.demote` gives ``champion`` back to a
    verified ``previous_champion`` (or removes it). An inconclusive verdict never
    demotes: it is no evidence that the champion got worse.

    Parameters
    ----------
    config
        The validated config (the champion's registered model, the data's schema).
    data
        The new batch (.csv or .parquet), with the same columns as the training data and the label.
    demote
        Take ``champion`` from a champion that fails.
    now
        The time the monitoring card is dated (default: now, UTC).
    progress
        Called as ``progress(stage, done, total)``.

    Raises
    ------
    ConfigError
        (exit 2) No champion; a model that reads features the config lacks.
    DataValidationError
        (exit 2) The batch breaks the data contract.
    PrivacyError
        (exit 4) The champion's card or model changed after its audit; a tampered ledger.
    RegistryError
        (exit 3) MLflow cannot be reached or written.
    """
    from governance.card import card_figures
    from governance.registry import Registry

    def step(done: int) -> None:
        if progress is not None:
            progress("monitor", done, 6)

    created = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    if demote:
        from governance.pipeline._export import check_export_target

        check_export_target(config)  # a demotion re-exports the champion: its folder is checked first
    registry = Registry.for_config(config)
    step(0)
    champion, policy, scored = _load_champion(config, registry, data, step)
    batch, _, _, _ = scored
    card, report, drift = _batch_card(config, champion, scored, created=created, policy=policy, data=data)
    step(4)
    card, gate, monitoring = _gated(card, champion, policy, created)
    folder = _monitoring_folder(config, created, champion.version)
    step(5)
    figures = card_figures(config, report)
    writer = _Writer(card, monitoring, folder, figures)
    outcome = _record(
        config, registry, champion, batch, gate, writer, report=report, drift=drift, demote=demote, policy=policy
    )
    step(6)
    return outcome


def _gated(
    card: ModelCard, champion: VerifiedCard, policy: PolicySpec, created: datetime
) -> tuple[ModelCard, GateReport, dict[str, Any]]:
    """Gate the monitoring card with the champion card's policy, and its ``monitoring`` block with the comparison."""
    from governance.gate import evaluate

    gate = evaluate(card.to_dict(), policy, today=created.date())
    card = card.with_gate(gate.to_dict())
    monitoring = dict(card.monitoring or {})
    monitoring["comparison"] = compare(champion.card, card.to_dict())
    monitoring["verdict"] = gate.verdict
    expires = str(champion.card.get("model", {}).get("valid_until") or "")
    if expires and expires < created.date().isoformat():
        monitoring["champion_card_expired"] = True
    return card, gate, monitoring


def _load_champion(
    config: GovernanceConfig, registry: Registry, data: str | Path, step: Callable[[int], None]
) -> tuple[VerifiedCard, PolicySpec, tuple[Dataset, Dataset, np.ndarray, np.ndarray]]:
    """Verify and load the champion, prepare the batch and the reference, and score both."""
    from governance.card import card_policy
    from governance.data import prepare
    from governance.pipeline import check_features, load_scoring_model
    from governance.registry.anchor import check_config_ledger
    from governance.registry.resolve import verify_alias

    champion = registry.verified_card()
    with registry.call("verify the champion"):
        # an alias moved by hand onto a version governance would not promote is never monitored as champion
        verify_alias(registry, "champion", champion.version)
    resolved, model = load_scoring_model(config, model_version=champion.version, registry=registry)
    policy = card_policy(champion.card)
    step(1)
    check_config_ledger(config, registry=registry)  # a deleted or rolled-back ledger would bring erased accounts back
    batch = prepare(config, path=data)
    reference = prepare(config)
    check_features(model, batch, resolved)
    step(2)
    batch_scores = np.asarray(model.scores(batch.X, batch.sensitive), dtype=np.float64)
    reference_scores = np.asarray(model.scores(reference.train.X, reference.train.sensitive), dtype=np.float64)
    step(3)
    return champion, policy, (batch, reference, batch_scores, reference_scores)


def _batch_card(
    config: GovernanceConfig,
    champion: VerifiedCard,
    scored: tuple[Dataset, Dataset, np.ndarray, np.ndarray],
    *,
    created: datetime,
    policy: PolicySpec,
    data: str | Path,
) -> tuple[ModelCard, AuditReport, dict[str, Any]]:
    """Audit the batch, measure its drift, and re-issue the champion's card on it (ungated)."""
    from governance.pipeline import audit_scores

    batch, reference, batch_scores, reference_scores = scored
    report = audit_scores(config, batch.y, batch_scores, batch.sensitive)
    drift = drift_report(reference, batch, reference_scores=reference_scores, batch_scores=batch_scores, config=config)
    card = monitoring_card(
        champion,
        report,
        batch,
        config=config,
        drift=drift,
        created=created,
        valid_for_days=policy.valid_for_days,
        batch_name=Path(data).name,
    )
    return card, report, drift


def _monitoring_folder(config: GovernanceConfig, created: datetime, version: int) -> Path:
    """``<output.reports>/monitoring/<UTC time>-v<version>/``, never one a monitoring already wrote."""
    base = config.output.reports / "monitoring" / f"{created.strftime('%Y%m%dT%H%M%SZ')}-v{version}"
    folder, n = base, 1
    while folder.exists():  # two monitorings in the same second: never overwrite the first one's card
        n += 1
        folder = base.with_name(f"{base.name}-{n}")
    return folder


@dataclass(frozen=True)
class _Writer:
    """Writes the monitoring card's files, before and after a demotion."""

    card: ModelCard
    monitoring: Mapping[str, Any]
    folder: Path
    figures: Sequence[Figure]

    def write(self, demotion: Mapping[str, Any] | None) -> ModelCard:
        """Write ``card.json``, ``card.html`` and ``monitoring.json`` with this demotion; return the card."""
        from governance.card import render_html, write_card
        from governance.pipeline import write_json

        final = ModelCard.from_dict({**self.card.to_dict(), "monitoring": {**self.monitoring, "demotion": demotion}})
        write_card(final, self.folder, html=render_html(final, self.figures))
        write_json(self.folder / "monitoring.json", dict(final.monitoring or {}))
        return final


def _record(
    config: GovernanceConfig,
    registry: Registry,
    champion: VerifiedCard,
    batch: Dataset,
    gate: GateReport,
    writer: _Writer,
    *,
    report: AuditReport,
    drift: Mapping[str, Any],
    demote: bool,
    policy: PolicySpec,
) -> MonitorOutcome:
    """Record the MLflow run ``governance-monitor``: params, the demotion, the version's tags, metrics and files."""
    final = writer.write(None)
    tags = {
        "monitor.verdict": gate.verdict,
        "model.version": champion.version,
        "candidate.name": champion.candidate,
        "champion.card.sha256": champion.card_sha256,
        "data.sha256": batch.fingerprint,
        "monitor.card.sha256": final.sha256,
    }
    result: DemotionOutcome | None = None
    with registry.run(experiment=config.mlflow.experiment, run_name="governance-monitor", tags=tags) as run:
        run.log_params({"batch.rows_in": batch.rows_in, "batch.rows_used": batch.rows_used, "demote": demote})
        if demote and gate.verdict == "fail":
            result = registry.demote(
                champion.version, monitoring_run=run.run_id, required_approvals=policy.required_approvals
            )
            final = writer.write(_demotion_facts(result, run.run_id))
        registry.tag_version(
            champion.version,
            tags={"monitor.verdict": gate.verdict, "monitor.run_id": run.run_id, "monitor.at": writer.monitoring["at"]},
        )
        registry.log_audit_results(
            run.run_id,
            metrics=_monitor_metrics(report, drift),
            files=[writer.folder / file for file in ("card.json", "card.html", "monitoring.json")],
            artifact_path="monitoring",
        )
    if result is not None:
        from governance.pipeline._export import sync_champion

        sync_champion(config, registry)  # a demoted champion's export goes, or becomes the version that got it back
    return MonitorOutcome(
        verdict=gate.verdict,
        gate=gate,
        version=champion.version,
        candidate=champion.candidate,
        folder=writer.folder,
        run_id=run.run_id,
        demotion=result,
        document=dict(final.monitoring or {}),
    )


def _demotion_facts(result: DemotionOutcome, monitoring_run: str) -> dict[str, Any]:
    """Describe what ``--demote`` did, as the monitoring card records it."""
    return {
        "version": result.version,
        "was_champion": result.was_champion,
        "champion_after": result.champion,
        "repairs": list(result.repairs),
        "monitoring_run": monitoring_run,
    }


def _monitor_metrics(report: AuditReport, drift: Mapping[str, Any]) -> dict[str, float]:
    """Collect the run's metrics: the audit's overall and fairness values, every PSI computed."""
    from governance.registry import metric_name

    metrics = {metric_name("audit", k): v.value for k, v in report.overall.items() if v.value is not None}
    metrics |= {
        metric_name("fairness", f.attribute, f.metric): f.value.value
        for f in report.fairness
        if f.value.value is not None
    }
    metrics |= {metric_name("psi", d["feature"]): d["psi"] for d in drift["overall"] if d["psi"] is not None}
    metrics |= {
        metric_name("psi", str(d["attribute"]), str(d["group"]), d["feature"]): d["psi"]
        for d in drift["groups"]
        if d["psi"] is not None and d["n_new"] is not None
    }
    return {k: float(v) for k, v in metrics.items()}
