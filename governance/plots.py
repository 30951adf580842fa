"""Figures for the model card, drawn with matplotlib's object-oriented API (imported lazily).

Every function takes finished results (an audit report, explanation
dictionaries, the card's candidate list) and returns a :class:`Figure`: PNG
bytes plus the alt text and caption that the card prints with it. Figures draw,
they do not compute: the ROC and calibration curves and every AUC and gap they
print are the audit report's own (:attr:`governance.audit.AuditReport.curves`
and its group metrics), so a figure cannot disagree with the card. Groups
smaller than the publication minimum are never drawn (their curves and bars
would reveal a handful of rows); the alt text says which were left out, counting
rows with the word the card uses for them (``subjects``: ``applicants``, ``accounts``).

Each figure is a :class:`matplotlib.figure.Figure` on its own Agg canvas, styled
inside :func:`matplotlib.rc_context`: no pyplot, no backend switch, no global
state changed. Output is deterministic: no timestamps or software versions in the PNG.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure as MplFigure

    from governance.audit import AuditReport, GroupCurves, GroupMetrics

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
    """A rendered figure: PNG bytes, its alt text for screen readers and a caption.

    Parameters
    ----------
    key
        Stable identifier of the figure (for example ``"roc-region"``).
    title
        Caption printed above the figure.
    alt
        Alt text: what the figure shows, in words and numbers.
    png
        The PNG bytes.
    """

    key: str
    title: str
    alt: str
    png: bytes


@contextmanager
def _drawing(figsize: tuple[float, float]) -> Iterator[tuple[MplFigure, Axes]]:
    """Yield a new figure on its own Agg canvas with one axes, under the figures' style (rcParams restored)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    style: dict[Any, Any] = {
        "figure.dpi": 100,
        "savefig.dpi": 100,
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "svg.hashsalt": "governance",
    }
    with matplotlib.rc_context(style):
        fig = MplFigure(figsize=figsize)
        FigureCanvasAgg(fig)
        yield fig, fig.subplots()


def _png(fig: MplFigure) -> bytes:
    """Render ``fig`` to PNG bytes without metadata that would change between runs."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def _shown(names: Sequence[str], sizes: Sequence[int], minimum: int) -> tuple[list[int], list[str]]:
    """Return the indices of the groups drawn (at least ``minimum`` rows) and the names of those left out."""
    keep = [i for i, n in enumerate(sizes) if n >= minimum]
    hidden = [names[i] for i, n in enumerate(sizes) if n < minimum]
    return keep, hidden


def _hidden_note(hidden: Sequence[str], minimum: int, subjects: str) -> str:
    """Return the alt text's sentence naming the groups not drawn."""
    if not hidden:
        return ""
    return f" Not drawn (fewer than {minimum} {subjects}): {', '.join(hidden)}."


def group_metric_bars(
    report: AuditReport,
    attribute: str,
    *,
    metrics: Sequence[str] = ("selection_rate", "true_positive_rate", "false_positive_rate"),
    publish_min: int = 10,
    subjects: str = "rows",
) -> Figure:
    """Draw bars of per-group metrics with their intervals as error bars.

    Parameters
    ----------
    report
        The audit report.
    attribute
        The attribute (or intersection) whose groups are drawn.
    metrics
        Metrics drawn, one bar per group and metric.
    publish_min
        Groups with fewer rows are not drawn; the alt text names them.
    subjects
        The word for the rows in the alt text (``config.purpose.subjects``).

    Returns
    -------
    Figure
        Groups with insufficient data are drawn hatched and without an interval.
    """
    groups = [g for g in report.groups if g.attribute == attribute]
    keep, hidden = _shown([g.group for g in groups], [g.n for g in groups], publish_min)
    shown = [groups[i] for i in keep]
    width = 0.8 / max(1, len(metrics))
    x = np.arange(len(shown))
    described = []
    with _drawing((max(5.0, 1.1 * len(shown) * len(metrics) / 2 + 2), 3.2)) as (fig, ax):
        for j, metric in enumerate(metrics):
            values = _metric_bars(ax, shown, metric, x + (j - (len(metrics) - 1) / 2) * width, width, j)
            described.append(
                f"{_LABELS.get(metric, metric)}: "
                + ", ".join(f"{g.group} {v:.2f}" for g, v in zip(shown, values, strict=True))
            )
        ax.set_xticks(
            x,
            [g.group for g in shown],
            rotation=20 if len(shown) > 4 else 0,
            ha="right" if len(shown) > 4 else "center",
        )
        ax.set_ylim(0, 1)
        ax.set_ylabel("rate")
        ax.legend(frameon=False, ncols=len(metrics), loc="upper center", bbox_to_anchor=(0.5, 1.15))
        png = _png(fig)
    title = f"Decision rates by {attribute} (95% intervals)"
    alt = (
        f"Bar chart of {', '.join(_LABELS.get(m, m) for m in metrics)} for each {attribute} group, "
        f"with bootstrap intervals. " + "; ".join(described) + "." + _hidden_note(hidden, publish_min, subjects)
    )
    return Figure(key=f"rates-{attribute}", title=title, alt=alt, png=png)


def _metric_bars(
    ax: Axes, shown: Sequence[GroupMetrics], metric: str, x: np.ndarray, width: float, color: int
) -> list[float]:
    """Draw one metric's bars (hatched when not ``ok``) and return the values drawn."""
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
        x,
        values,
        width,
        yerr=[low, high],
        capsize=2,
        color=_PALETTE[color % len(_PALETTE)],
        label=_LABELS.get(metric, metric.replace("_", " ")),
        error_kw={"elinewidth": 0.8},
    )
    for bar, dim in zip(bars, hatch, strict=True):
        if dim:
            bar.set_hatch("///")
            bar.set_alpha(0.45)
    return values


def _curves_of(report: AuditReport, attribute: str, publish_min: int) -> tuple[list[GroupCurves], list[str]]:
    """Return the curves of the attribute's groups drawn and the names of those left out (too few rows)."""
    curves = [c for c in report.curves if c.attribute == attribute]
    if not curves:
        raise ValueError(
            f"the report has no curves for attribute {attribute!r}: curves exist for the single attributes "
            "of an audit with scores, on the report audit() returned (AuditReport.from_dict does not "
            "restore them); audit with scores and pass that report"
        )
    sizes = [report.group(attribute, c.group).n for c in curves]
    keep, hidden = _shown([c.group for c in curves], sizes, publish_min)
    return [curves[i] for i in keep], hidden


def roc_by_group(report: AuditReport, *, attribute: str, publish_min: int = 10, subjects: str = "rows") -> Figure:
    """Draw the ROC curve of each group from the audit's curves, with the report's AUC in the legend.

    Parameters
    ----------
    report
        The report :func:`governance.audit.audit` returned (with scores): its
        :attr:`~governance.audit.AuditReport.curves` are drawn.
    attribute
        A single sensitive attribute of the report.
    publish_min
        Groups with fewer rows are not drawn; the alt text names them.
    subjects
        The word for the rows in the alt text (``config.purpose.subjects``).

    Returns
    -------
    Figure
        Groups with one label class (no ROC curve, AUC undefined) are skipped and named.

    Raises
    ------
    ValueError
        When the report has no curves for ``attribute``.
    """
    shown, hidden = _curves_of(report, attribute, publish_min)
    parts = []
    skipped = []
    with _drawing((4.2, 4.0)) as (fig, ax):
        for i, curve in enumerate(shown):
            auc = report.group(attribute, curve.group).metrics["auc"].value
            if auc is None or not curve.false_positive_rate:
                skipped.append(curve.group)
                continue
            ax.plot(
                curve.false_positive_rate,
                curve.true_positive_rate,
                color=_PALETTE[i % len(_PALETTE)],
                linewidth=1.3,
                label=f"{curve.group} (AUC {auc:.2f})",
            )
            parts.append(f"{curve.group} {auc:.2f}")
        ax.plot([0, 1], [0, 1], color="#999999", linewidth=0.8, linestyle="--")
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.legend(frameon=False, fontsize=7, loc="lower right")
        png = _png(fig)
    alt = f"ROC curves by {attribute} on the audited {subjects}; AUC per group: {', '.join(parts) or 'none'}."
    if skipped:
        alt += f" Skipped (one outcome class only): {', '.join(skipped)}."
    alt += _hidden_note(hidden, publish_min, subjects)
    return Figure(key=f"roc-{attribute}", title=f"ROC by {attribute}", alt=alt, png=png)


def calibration_by_group(
    report: AuditReport, *, attribute: str, publish_min: int = 10, subjects: str = "rows"
) -> Figure:
    """Draw the observed share of positive labels against the mean score, in deciles of all scores, per group.

    Parameters
    ----------
    report
        The report :func:`governance.audit.audit` returned (with scores): its
        :attr:`~governance.audit.AuditReport.curves` are drawn.
    attribute
        A single sensitive attribute of the report.
    publish_min
        Groups with fewer rows are not drawn; the alt text names them.
    subjects
        The word for the rows in the alt text (``config.purpose.subjects``).

    Returns
    -------
    Figure
        The alt text gives each group's ``calibration_gap`` from the report.

    Raises
    ------
    ValueError
        When the report has no curves for ``attribute``.
    """
    shown, hidden = _curves_of(report, attribute, publish_min)
    gaps = []
    top = 1e-6
    with _drawing((4.2, 4.0)) as (fig, ax):
        for i, curve in enumerate(shown):
            ax.plot(
                curve.bin_mean_score,
                curve.bin_positive_rate,
                marker="o",
                markersize=3,
                linewidth=1.1,
                color=_PALETTE[i % len(_PALETTE)],
                label=curve.group,
            )
            top = max(top, *curve.bin_mean_score)
            gap = report.group(attribute, curve.group).metrics["calibration_gap"].value
            gaps.append(f"{curve.group} {'undefined' if gap is None else format(gap, '+.3f')}")
        ax.plot([0, top], [0, top], color="#999999", linewidth=0.8, linestyle="--")
        ax.set_xlabel("mean score in bin")
        ax.set_ylabel("observed share of positives")
        ax.legend(frameon=False, fontsize=7, loc="upper left")
        png = _png(fig)
    alt = (
        f"Calibration curves by {attribute}: observed share of positive labels against mean score in score "
        f"deciles. Mean score minus share of positives per group: {', '.join(gaps) or 'none'}."
        + _hidden_note(hidden, publish_min, subjects)
    )
    return Figure(key=f"calibration-{attribute}", title=f"Calibration by {attribute}", alt=alt, png=png)


def shap_importance_by_group(
    by_group: Sequence[Mapping[str, Any]], *, attribute: str, top: int = 8, publish_groups: Sequence[str] | None = None
) -> Figure:
    """Draw the mean absolute SHAP value of the top features, one bar per group.

    Parameters
    ----------
    by_group
        The card's ``explanations.by_group`` list.
    attribute
        The attribute whose groups are drawn.
    top
        Features drawn, the most important over all groups first.
    publish_groups
        Groups that may be drawn (the published ones); None: all.

    Returns
    -------
    Figure
        Horizontal bars, one per feature and group.
    """
    rows = [r for r in by_group if r["attribute"] == attribute]
    if publish_groups is not None:
        rows = [r for r in rows if r["group"] in publish_groups]
    groups = sorted({str(r["group"]) for r in rows})
    totals: dict[str, float] = {}
    for r in rows:
        totals[str(r["feature"])] = totals.get(str(r["feature"]), 0.0) + float(r["mean_abs"])
    features = sorted(totals, key=lambda f: (-totals[f], f))[:top]
    height = 0.8 / max(1, len(groups))
    y = np.arange(len(features))
    value = {(str(r["group"]), str(r["feature"])): float(r["mean_abs"]) for r in rows}
    with _drawing((6.0, 0.35 * len(features) * max(1, len(groups)) / 2 + 1.5)) as (fig, ax):
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
        png = _png(fig)
    alt = (
        f"Horizontal bars of the mean absolute SHAP value of the {len(features)} most important features, "
        f"for each {attribute} group ({', '.join(groups)}). Most important overall: {', '.join(features[:3])}."
    )
    return Figure(key=f"shap-{attribute}", title=f"Feature importance by {attribute}", alt=alt, png=png)


def candidate_tradeoff(candidates: Sequence[Mapping[str, Any]], *, chosen: str | None, disparity_label: str) -> Figure:
    """Draw each candidate's performance against its worst disparity; the chosen one is ringed.

    Parameters
    ----------
    candidates
        The card's ``candidates`` list (``name``, ``auc``, ``worst_disparity``, ``verdict``).
    chosen
        Name of the chosen candidate, or None.
    disparity_label
        Label of the disparity axis.

    Returns
    -------
    Figure
        A scatter, coloured by verdict.
    """
    colors = {"pass": "#2a9d5c", "fail": "#c0392b", "inconclusive": "#e0a100"}
    described = []
    with _drawing((5.2, 3.6)) as (fig, ax):
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
        png = _png(fig)
    alt = (
        f"Scatter of candidates: AUC against {disparity_label}; "
        + "; ".join(described)
        + (f". The chosen model is {chosen}, ringed." if chosen else ". No candidate was chosen.")
    )
    return Figure(key="candidates", title="Candidates: performance against disparity", alt=alt, png=png)
