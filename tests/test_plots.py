from __future__ import annotations

import dataclasses
import io
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from governance import plots
from governance.audit import AuditReport, MetricValue, audit
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    n = 3000
    groups = rng.choice(["north", "south", "east"], n, p=[0.5, 0.45, 0.05])
    groups[:4] = "tiny"
    y = (rng.random(n) < 0.15).astype(int)
    scores = np.clip(0.1 + 0.5 * y + rng.normal(0, 0.2, n), 0, 1)
    return y, scores, groups


@pytest.fixture(scope="module")
def report(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> AuditReport:
    y, scores, groups = data
    return audit(y, scores, sensitive={"region": groups}, top_k=0.2, n_boot=100, min_group_size=30)


def _decodes(png: bytes) -> tuple[int, ...]:
    import matplotlib.image

    image = matplotlib.image.imread(io.BytesIO(png), format="png")
    assert image.ndim == 3
    return tuple(image.shape)


def test_every_figure_decodes_and_describes_itself(report: AuditReport) -> None:
    figures = [
        plots.group_metric_bars(report, "region"),
        plots.roc_by_group(report, attribute="region"),
        plots.calibration_by_group(report, attribute="region"),
        plots.shap_importance_by_group(
            [
                {"attribute": "region", "group": g, "feature": f, "mean_abs": v, "mean": 0.0, "ci": None}
                for g in ("north", "south")
                for f, v in (("web_visits_30d", 0.3), ("intent_score", 0.2))
            ],
            attribute="region",
        ),
        plots.candidate_tradeoff(
            [
                {"name": "plain", "auc": 0.76, "worst_disparity": 0.08, "verdict": "fail"},
                {"name": "fair", "auc": 0.75, "worst_disparity": 0.02, "verdict": "pass"},
            ],
            chosen="fair",
            disparity_label="demographic parity difference",
        ),
    ]
    for figure in figures:
        height, width, _ = _decodes(figure.png)
        assert height > 100 and width > 100
        assert len(figure.alt) > 40 and figure.title
    assert "north" in figures[0].alt and "selection rate" in figures[0].alt
    assert "The chosen model is fair" in figures[-1].alt


def test_groups_below_the_publication_minimum_are_not_drawn(report: AuditReport) -> None:
    bars = plots.group_metric_bars(report, "region", publish_min=10, subjects="accounts")
    roc = plots.roc_by_group(report, attribute="region", publish_min=10, subjects="accounts")
    calibration = plots.calibration_by_group(report, attribute="region", publish_min=10, subjects="accounts")
    for figure in (bars, roc, calibration):
        assert "Not drawn (fewer than 10 accounts): tiny." in figure.alt
        assert "tiny 0" not in figure.alt


def test_alt_texts_count_rows_with_the_given_word(report: AuditReport) -> None:
    figures = [
        plots.group_metric_bars(report, "region", publish_min=10, subjects="applicants"),
        plots.roc_by_group(report, attribute="region", publish_min=10, subjects="applicants"),
        plots.calibration_by_group(report, attribute="region", publish_min=10, subjects="applicants"),
    ]
    for figure in figures:
        assert "Not drawn (fewer than 10 applicants): tiny." in figure.alt
        assert "account" not in figure.alt.lower() and "conversion" not in figure.alt.lower()
    assert "ROC curves by region on the audited applicants" in figures[1].alt
    # without a word, a plot does not guess a domain: it counts rows
    assert "Not drawn (fewer than 10 rows): tiny." in plots.roc_by_group(report, attribute="region").alt


def test_figures_are_deterministic(report: AuditReport) -> None:
    assert plots.group_metric_bars(report, "region").png == plots.group_metric_bars(report, "region").png
    assert plots.roc_by_group(report, attribute="region").png == plots.roc_by_group(report, attribute="region").png
    first = plots.calibration_by_group(report, attribute="region")
    assert first.png == plots.calibration_by_group(report, attribute="region").png


def _legend(draw: Any) -> dict[str, str]:
    """The legend labels of the one figure ``draw()`` makes, by group (matplotlib's Figure captured)."""
    from matplotlib.figure import Figure

    made: list[Figure] = []
    original = Figure.savefig

    def capture(self: Figure, *args: Any, **kwargs: Any) -> None:
        made.append(self)
        original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Figure, "savefig", capture)
        draw()
    (figure,) = made
    labels = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    return {label.split(" (")[0]: label for label in labels}


def test_roc_legend_prints_the_reports_auc_of_each_group(report: AuditReport) -> None:
    legend = _legend(lambda: plots.roc_by_group(report, attribute="region"))
    drawn = [g for g in report.groups if g.attribute == "region" and g.n >= 10]
    assert sorted(legend) == sorted(g.group for g in drawn)
    for group in drawn:
        auc = group.metrics["auc"].value
        assert auc is not None
        assert legend[group.group] == f"{group.group} (AUC {auc:.2f})"
    # the figure takes the AUC from the report, it does not compute one: change the report, the legend follows
    north = report.group("region", "north")
    changed = dataclasses.replace(north, metrics={**north.metrics, "auc": MetricValue(0.123, None, "ok")})
    edited = dataclasses.replace(report, groups=tuple(changed if g is north else g for g in report.groups))
    assert _legend(lambda: plots.roc_by_group(edited, attribute="region"))["north"] == "north (AUC 0.12)"


def test_roc_curve_area_is_the_reports_auc_within_what_the_bins_lose(report: AuditReport) -> None:
    judged = 0
    for curve in report.curves:
        group = report.group("region", curve.group)
        auc = group.metrics["auc"].value
        if auc is None:  # one label class: no curve
            assert curve.false_positive_rate == curve.true_positive_rate == ()
            continue
        assert (curve.false_positive_rate[0], curve.true_positive_rate[0]) == (0.0, 0.0)
        assert (curve.false_positive_rate[-1], curve.true_positive_rate[-1]) == (1.0, 1.0)
        if group.n >= report.min_group_size:
            area = float(np.trapezoid(curve.true_positive_rate, curve.false_positive_rate))
            assert area == pytest.approx(auc, abs=report.bootstrap.binning_error["auc"] + 1e-12)
            judged += 1
    assert judged == 3


def test_calibration_alt_text_gives_the_reports_gap(report: AuditReport) -> None:
    figure = plots.calibration_by_group(report, attribute="region")
    for group in ("north", "south", "east"):
        gap = report.group("region", group).metrics["calibration_gap"].value
        assert gap is not None
        assert f"{group} {gap:+.3f}" in figure.alt


def test_a_report_without_curves_is_refused_naming_the_attribute(report: AuditReport) -> None:
    read_back = AuditReport.from_dict(report.to_dict())
    with pytest.raises(ValueError, match="no curves for attribute 'region'"):
        plots.roc_by_group(read_back, attribute="region")


def test_drawing_leaves_matplotlibs_global_state_alone(report: AuditReport) -> None:
    # The package __init__ is bypassed: this checks what plots and the audit import, not the whole package.
    # rcParams["backend"] is read raw: reading it through rcParams resolves the backend (and imports pyplot).
    code = (
        "import sys, types, matplotlib\n"
        f"package = types.ModuleType('governance'); package.__path__ = [{str(ROOT / 'governance')!r}]\n"
        "sys.modules['governance'] = package\n"
        "def state():\n"
        "    rc = matplotlib.rcParams\n"
        "    return dict.__getitem__(rc, 'backend'), {k: rc[k] for k in rc if k != 'backend'}\n"
        "before = state()\n"
        "from governance import plots\n"
        "from governance.audit import audit\n"
        "y = [i % 3 == 0 for i in range(120)]\n"
        "r = audit(y, [i / 120 for i in range(120)], sensitive={'g': ['a', 'b'] * 60}, threshold=0.5)\n"
        "plots.roc_by_group(r, attribute='g'); plots.calibration_by_group(r, attribute='g')\n"
        "plots.group_metric_bars(r, 'g')\n"
        "print(state() == before, *(m in sys.modules for m in ('matplotlib.pyplot', 'sklearn')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.split() == ["True", "False", "False"]


def test_importing_plots_does_not_import_matplotlib() -> None:
    code = "import sys, governance.plots; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"
