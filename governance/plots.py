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

Figures are made to be read on a screen and on paper: drawn at twice their
size in CSS pixels (:attr:`Figure.width` and :attr:`Figure.height` give the
size to show them at), in a colour-blind-safe palette whose every colour has
at least 3:1 contrast against white, and with every series told apart by
shape too (marker, line style or hatch), so a grey print still separates
groups and verdicts. Text that comes from data (group, attribute, feature and
candidate names) is drawn literally: math text is off for every label, so a
``$`` is a dollar sign, never a formula.
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

# Okabe-Ito without its orange, sky blue and yellow (each under 3:1 against white): blue, vermillion,
# bluish green, reddish purple, black. Groups beyond five repeat a colour but never a marker and line style.
_PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#000000")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_LINESTYLES: tuple[Any, ...] = (
    "-",
    "--",
    ":",
    "-.",
    (0, (5, 1, 1, 1, 1, 1)),
    (0, (1, 3)),
    (0, (8, 2)),
    (0, (3, 1, 3, 5)),
)
_HATCHES = ("", "////", "....", "xxxx", "\\\\", "++++", "oo", "----")
_REFERENCE_LINE = "#767676"  # the chance and perfect-calibration diagonals: 4.5:1 against white
# Verdicts differ by marker and colour: a filled circle passes, a cross fails, a triangle is undecided.
_VERDICTS = {
    "pass": ("#009E73", "o"),
    "fail": ("#D55E00", "X"),
    "inconclusive": ("#0072B2", "^"),
}
_NO_VERDICT = ("#5F5F5F", "s")
_SCALE = 2  # pixels per CSS pixel: figures are drawn at 2x for print and high-density screens
_CSS_DPI = 100  # figure inches times this are the CSS pixels the card shows
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

    @property
    def width(self) -> int:
        """Return the width to show the figure at, in CSS pixels (the PNG is twice as wide)."""
        return _png_size(self.png)[0] // _SCALE

    @property
    def height(self) -> int:
        """Return the height to show the figure at, in CSS pixels (the PNG is twice as high)."""
        return _png_size(self.png)[1] // _SCALE


def _png_size(png: bytes) -> tuple[int, int]:
    """Return the pixel width and height a PNG's header states (0, 0 when it is no PNG)."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        return 0, 0
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def _series(i: int) -> dict[str, Any]:
    """Return the colour, marker and line style of the ``i``-th group: no two of the first eight share a shape."""
    return {
        "color": _PALETTE[i % len(_PALETTE)],
        "marker": _MARKERS[i % len(_MARKERS)],
        "linestyle": _LINESTYLES[i % len(_LINESTYLES)],
    }


@contextmanager
def _drawing(figsize: tuple[float, float]) -> Iterator[tuple[MplFigure, Axes]]:
    """Yield a new figure on its own Agg canvas with one axes, under the figures' style (rcParams restored).

    Math text is off (``text.parse_math``) and TeX is never used: every text the
    figure holds, tick labels and legends included, is drawn as the characters given.
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    style: dict[Any, Any] = {
        "figure.dpi": _CSS_DPI,
        "savefig.dpi": _CSS_DPI * _SCALE,
        "text.parse_math": False,
        "text.usetex": False,
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
        Each metric has its own colour and hatch; groups with insufficient data are
        drawn faded with a dashed outline.
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
    """Draw one metric's bars (faded with a dashed outline when not ``ok``) and return the values drawn."""
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
        hatch=_HATCHES[color % len(_HATCHES)],
        edgecolor="white",
        linewidth=0.6,
        label=_LABELS.get(metric, metric.replace("_", " ")),
        error_kw={"elinewidth": 0.8},
    )
    for bar, dim in zip(bars, hatch, strict=True):
        if dim:
            bar.set_alpha(0.4)
            bar.set_edgecolor("#000000")
            bar.set_linestyle("--")
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
                **_series(i),
                markersize=4,
                markevery=max(1, len(curve.false_positive_rate) // 6),
                linewidth=1.3,
                label=f"{curve.group} (AUC {auc:.2f})",
            )
            parts.append(f"{curve.group} {auc:.2f}")
        ax.plot([0, 1], [0, 1], color=_REFERENCE_LINE, linewidth=0.8, linestyle=(0, (2, 2)))
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
                **_series(i),
                markersize=4,
                linewidth=1.1,
                label=curve.group,
            )
            top = max(top, *curve.bin_mean_score)
            gap = report.group(attribute, curve.group).metrics["calibration_gap"].value
            gaps.append(f"{curve.group} {'undefined' if gap is None else format(gap, '+.3f')}")
        ax.plot([0, top], [0, top], color=_REFERENCE_LINE, linewidth=0.8, linestyle=(0, (2, 2)))
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
        Horizontal bars, one per feature and group; each group has its own colour and hatch.
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
                hatch=_HATCHES[j % len(_HATCHES)],
                edgecolor="white",
                linewidth=0.6,
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
    """Draw each candidate's performance against its worst disparity, with intervals; the chosen one is ringed.

    Parameters
    ----------
    candidates
        The card's ``candidates`` list (``name``, ``auc``, ``worst_disparity``, ``verdict``;
        optionally ``auc_ci`` and ``worst_disparity_ci``, each ``[low, high]``, drawn as
        interval bars; a missing or null interval draws no bar).
    chosen
        Name of the chosen candidate, or None.
    disparity_label
        Label of the disparity axis.

    Returns
    -------
    Figure
        A scatter: the verdict is told by marker shape and colour (legend), the chosen one ringed.
    """
    described = []
    seen: set[str] = set()
    with _drawing((5.2, 3.6)) as (fig, ax):
        for c in candidates:
            auc, gap = c.get("auc"), c.get("worst_disparity")
            if auc is None or gap is None:
                continue
            verdict = str(c.get("verdict")) if c.get("verdict") in _VERDICTS else "no verdict"
            seen.add(verdict)
            _candidate_point(ax, float(gap), float(auc), c, _VERDICTS.get(verdict, _NO_VERDICT))
            if c["name"] == chosen:
                ax.scatter([gap], [auc], s=180, facecolors="none", edgecolors="#000000", linewidths=1.5, zorder=4)
            described.append(f"{c['name']} AUC {float(auc):.3f}, disparity {float(gap):.3f}, {c.get('verdict')}")
        ax.set_xlabel(disparity_label)
        ax.set_ylabel("AUC (test)")
        for verdict, (color, marker) in [*_VERDICTS.items(), ("no verdict", _NO_VERDICT)]:
            if verdict in _VERDICTS or verdict in seen:
                ax.scatter([], [], color=color, marker=marker, s=40, label=verdict)
        if chosen is not None:
            ax.scatter([], [], s=120, facecolors="none", edgecolors="#000000", linewidths=1.5, label="chosen")
        ax.legend(frameon=False, fontsize=7, loc="lower right")
        png = _png(fig)
    alt = (
        f"Scatter of candidates: AUC against {disparity_label}; "
        + "; ".join(described)
        + (f". The chosen model is {chosen}, ringed." if chosen else ". No candidate was chosen.")
    )
    return Figure(key="candidates", title="Candidates: performance against disparity", alt=alt, png=png)


def _interval(value: float, ci: Any) -> list[float] | None:
    """Return the error-bar lengths ``[below, above]`` of an interval ``[low, high]``, or None when it is not one."""
    if not isinstance(ci, Sequence) or isinstance(ci, str) or len(ci) != 2:
        return None
    low, high = ci
    if not isinstance(low, int | float) or not isinstance(high, int | float) or not low <= value <= high:
        return None
    return [value - float(low), float(high) - value]


def _candidate_point(ax: Axes, gap: float, auc: float, entry: Mapping[str, Any], style: tuple[str, str]) -> None:
    """Draw one candidate: its marker, its AUC and disparity intervals when it has them, and its name."""
    color, marker = style
    xerr, yerr = _interval(gap, entry.get("worst_disparity_ci")), _interval(auc, entry.get("auc_ci"))
    if xerr is not None or yerr is not None:
        ax.errorbar(
            [gap],
            [auc],
            xerr=None if xerr is None else [[xerr[0]], [xerr[1]]],
            yerr=None if yerr is None else [[yerr[0]], [yerr[1]]],
            fmt="none",
            ecolor=color,
            elinewidth=0.9,
            capsize=2.5,
            zorder=2,
        )
    ax.scatter([gap], [auc], s=40, color=color, marker=marker, zorder=3)
    ax.annotate(str(entry["name"]), (gap, auc), textcoords="offset points", xytext=(5, 3), fontsize=7)
