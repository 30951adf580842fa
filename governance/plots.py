"""Figures for the model card, drawn with matplotlib (imported lazily, Agg backend).

Every function takes finished results (an audit report, explanation
dictionaries, arrays of the audited split) and returns a :class:`Figure`:
PNG bytes plus the alt text and caption that the card prints with it. Groups
smaller than the publication minimum are never drawn (their curves and bars
would reveal a handful of accounts); the alt text says which were left out.
Output is deterministic: no timestamps or software versions in the PNG.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MplFigure

    from governance.audit import AuditReport

__all__ = [
    "Figure",
    "calibration_by_group",
    "candidate_tradeoff",
    "group_metric_bars",
    "roc_by_group",
    "shap_importance_by_group",
]

_PALETTE = ("#1b6ca8", "#d1495b", "#edae49", "#00798c", "#66a182", "#8d6a9f", "#30638e", "#a44a3f")
_LABELS = {
    "selection_rate": "selection rate",
    "true_positive_rate": "true positive rate",
    "false_positive_rate": "false positive rate",
    "precision": "precision",
    "auc": "AUC",
}


@dataclass(frozen=True)
class Figure:
    """A rendered figure: PNG bytes, its alt text for screen readers and a caption."""

    key: str
    title: str
    alt: str
    png: bytes


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.dpi": 100,
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "svg.hashsalt": "governance",
        }
    )
    return plt


def _png(fig: MplFigure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buffer.getvalue()


def _shown(names: Sequence[str], sizes: Sequence[int], minimum: int) -> tuple[list[int], list[str]]:
    keep = [i for i, n in enumerate(sizes) if n >= minimum]
    hidden = [names[i] for i, n in enumerate(sizes) if n < minimum]
    return keep, hidden


def _hidden_note(hidden: Sequence[str], minimum: int) -> str:
    if not hidden:
        return ""
    return f" Not drawn (fewer than {minimum} accounts): {', '.join(hidden)}."


def group_metric_bars(
    report: AuditReport,
    attribute: str,
    *,
    metrics: Sequence[str] = ("selection_rate", "true_positive_rate", "false_positive_rate"),
    publish_min: int = 10,
) -> Figure:
    """Bars of per-group metrics with their bootstrap intervals as error bars.

    Groups with insufficient data are drawn hatched and without an interval.
    """
    plt = _pyplot()
    groups = [g for g in report.groups if g.attribute == attribute]
    keep, hidden = _shown([g.group for g in groups], [g.n for g in groups], publish_min)
    shown = [groups[i] for i in keep]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(shown) * len(metrics) / 2 + 2), 3.2))
    width = 0.8 / max(1, len(metrics))
    x = np.arange(len(shown))
    described = []
    for j, metric in enumerate(metrics):
        values, low, high, hatch = [], [], [], []
        for g in shown:
            mv = g.metrics[metric]
            v = mv.value if mv.value is not None else 0.0
            values.append(v)
            lo, hi = mv.ci if mv.ci is not None else (v, v)
            low.append(max(0.0, v - lo))
            high.append(max(0.0, hi - v))
            hatch.append(mv.status != "ok" or g.status != "ok")
        bars = ax.bar(
            x + (j - (len(metrics) - 1) / 2) * width,
            values,
            width,
            yerr=[low, high],
            capsize=2,
            color=_PALETTE[j % len(_PALETTE)],
            label=_LABELS.get(metric, metric.replace("_", " ")),
            error_kw={"elinewidth": 0.8},
        )
        for bar, dim in zip(bars, hatch, strict=True):
            if dim:
                bar.set_hatch("///")
                bar.set_alpha(0.45)
        described.append(
            f"{_LABELS.get(metric, metric)}: "
            + ", ".join(f"{g.group} {v:.2f}" for g, v in zip(shown, values, strict=True))
        )
    ax.set_xticks(
        x, [g.group for g in shown], rotation=20 if len(shown) > 4 else 0, ha="right" if len(shown) > 4 else "center"
    )
    ax.set_ylim(0, 1)
    ax.set_ylabel("rate")
    ax.legend(frameon=False, ncols=len(metrics), loc="upper center", bbox_to_anchor=(0.5, 1.15))
    title = f"Decision rates by {attribute} (95% intervals)"
    alt = (
        f"Bar chart of {', '.join(_LABELS.get(m, m) for m in metrics)} for each {attribute} group, "
        f"with bootstrap intervals. " + "; ".join(described) + "." + _hidden_note(hidden, publish_min)
    )
    return Figure(key=f"rates-{attribute}", title=title, alt=alt, png=_png(fig))


def _group_arrays(groups: np.ndarray, publish_min: int) -> tuple[list[str], list[str]]:
    names, counts = np.unique(groups.astype(str), return_counts=True)
    keep, hidden = _shown(list(names), list(counts), publish_min)
    return [str(names[i]) for i in keep], hidden


def roc_by_group(
    y_true: np.ndarray, scores: np.ndarray, groups: np.ndarray, *, attribute: str, publish_min: int = 10
) -> Figure:
    """ROC curve of each group (groups with one label class are skipped and named)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    shown, hidden = _group_arrays(groups, publish_min)
    parts = []
    skipped = []
    for i, name in enumerate(shown):
        mask = groups.astype(str) == name
        if len(np.unique(y_true[mask])) < 2:
            skipped.append(name)
            continue
        fpr, tpr, _ = roc_curve(y_true[mask], scores[mask])
        auc = roc_auc_score(y_true[mask], scores[mask])
        ax.plot(fpr, tpr, color=_PALETTE[i % len(_PALETTE)], linewidth=1.3, label=f"{name} (AUC {auc:.2f})")
        parts.append(f"{name} {auc:.2f}")
    ax.plot([0, 1], [0, 1], color="#999999", linewidth=0.8, linestyle="--")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(frameon=False, fontsize=7, loc="lower right")
    alt = f"ROC curves by {attribute} on the test split; AUC per group: {', '.join(parts) or 'none'}."
    if skipped:
        alt += f" Skipped (one outcome class only): {', '.join(skipped)}."
    alt += _hidden_note(hidden, publish_min)
    return Figure(key=f"roc-{attribute}", title=f"ROC by {attribute}", alt=alt, png=_png(fig))


def calibration_by_group(
    y_true: np.ndarray,
    scores: np.ndarray,
    groups: np.ndarray,
    *,
    attribute: str,
    bins: int = 10,
    publish_min: int = 10,
) -> Figure:
    """Observed conversion rate against mean score, in score deciles, per group."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    edges = np.unique(np.quantile(scores, np.linspace(0, 1, bins + 1)))
    shown, hidden = _group_arrays(groups, publish_min)
    gaps = []
    for i, name in enumerate(shown):
        mask = groups.astype(str) == name
        which = np.clip(np.searchsorted(edges, scores[mask], side="right") - 1, 0, len(edges) - 2)
        count = np.bincount(which, minlength=len(edges) - 1)
        used = count > 0
        mean_score = np.bincount(which, weights=scores[mask], minlength=len(edges) - 1)[used] / count[used]
        observed = np.bincount(which, weights=y_true[mask].astype(float), minlength=len(edges) - 1)[used] / count[used]
        ax.plot(
            mean_score, observed, marker="o", markersize=3, linewidth=1.1, color=_PALETTE[i % len(_PALETTE)], label=name
        )
        gaps.append(f"{name} {float(np.mean(scores[mask]) - np.mean(y_true[mask])):+.3f}")
    top = float(max(1e-6, np.max(scores)))
    ax.plot([0, top], [0, top], color="#999999", linewidth=0.8, linestyle="--")
    ax.set_xlabel("mean score in bin")
    ax.set_ylabel("observed conversion rate")
    ax.legend(frameon=False, fontsize=7, loc="upper left")
    alt = (
        f"Calibration curves by {attribute}: observed conversion against mean score in score deciles. "
        f"Mean score minus conversion rate per group: {', '.join(gaps)}." + _hidden_note(hidden, publish_min)
    )
    return Figure(key=f"calibration-{attribute}", title=f"Calibration by {attribute}", alt=alt, png=_png(fig))


def shap_importance_by_group(
    by_group: Sequence[Mapping[str, Any]], *, attribute: str, top: int = 8, publish_groups: Sequence[str] | None = None
) -> Figure:
    """Mean absolute SHAP value of the top features, one bar per group.

    ``by_group`` is the card's ``explanations.by_group`` list.
    """
    plt = _pyplot()
    rows = [r for r in by_group if r["attribute"] == attribute]
    if publish_groups is not None:
        rows = [r for r in rows if r["group"] in publish_groups]
    groups = sorted({str(r["group"]) for r in rows})
    totals: dict[str, float] = {}
    for r in rows:
        totals[str(r["feature"])] = totals.get(str(r["feature"]), 0.0) + float(r["mean_abs"])
    features = sorted(totals, key=lambda f: (-totals[f], f))[:top]
    fig, ax = plt.subplots(figsize=(6.0, 0.35 * len(features) * max(1, len(groups)) / 2 + 1.5))
    height = 0.8 / max(1, len(groups))
    y = np.arange(len(features))
    value = {(str(r["group"]), str(r["feature"])): float(r["mean_abs"]) for r in rows}
    for j, group in enumerate(groups):
        ax.barh(
            y + (j - (len(groups) - 1) / 2) * height,
            [value.get((group, f), 0.0) for f in features],
            height,
            color=_PALETTE[j % len(_PALETTE)],
            label=group,
        )
    ax.set_yticks(y, features)
    ax.invert_yaxis()
    ax.set_xlabel("mean |SHAP value|")
    ax.legend(frameon=False, fontsize=7, loc="lower right")
    alt = (
        f"Horizontal bars of the mean absolute SHAP value of the {len(features)} most important features, "
        f"for each {attribute} group ({', '.join(groups)}). Most important overall: {', '.join(features[:3])}."
    )
    return Figure(key=f"shap-{attribute}", title=f"Feature importance by {attribute}", alt=alt, png=_png(fig))


def candidate_tradeoff(candidates: Sequence[Mapping[str, Any]], *, chosen: str | None, disparity_label: str) -> Figure:
    """Each candidate's performance against its worst disparity; the chosen one is ringed.

    ``candidates`` is the card's ``candidates`` list (``name``, ``auc``, ``worst_disparity``, ``verdict``).
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    colors = {"pass": "#2a9d5c", "fail": "#c0392b", "inconclusive": "#e0a100"}
    described = []
    for c in candidates:
        auc, gap = c.get("auc"), c.get("worst_disparity")
        if auc is None or gap is None:
            continue
        color = colors.get(str(c.get("verdict")), "#777777")
        ax.scatter([gap], [auc], s=40, color=color, zorder=3)
        ax.annotate(str(c["name"]), (gap, auc), textcoords="offset points", xytext=(5, 3), fontsize=7)
        if c["name"] == chosen:
            ax.scatter([gap], [auc], s=160, facecolors="none", edgecolors="#222222", linewidths=1.5, zorder=4)
        described.append(f"{c['name']} AUC {float(auc):.3f}, disparity {float(gap):.3f}, {c.get('verdict')}")
    ax.set_xlabel(disparity_label)
    ax.set_ylabel("AUC (test)")
    for verdict, color in colors.items():
        ax.scatter([], [], color=color, label=verdict)
    ax.legend(frameon=False, fontsize=7, loc="lower right")
    alt = (
        f"Scatter of candidates: AUC against {disparity_label}; "
        + "; ".join(described)
        + (f". The chosen model is {chosen}, ringed." if chosen else ". No candidate was chosen.")
    )
    return Figure(key="candidates", title="Candidates: performance against disparity", alt=alt, png=_png(fig))
