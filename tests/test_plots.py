from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest

from governance import plots
from governance.audit import AuditReport, audit
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


def test_every_figure_decodes_and_describes_itself(
    report: AuditReport, data: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> None:
    y, scores, groups = data
    figures = [
        plots.group_metric_bars(report, "region"),
        plots.roc_by_group(y, scores, groups, attribute="region"),
        plots.calibration_by_group(y, scores, groups, attribute="region"),
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


def test_groups_below_the_publication_minimum_are_not_drawn(
    report: AuditReport, data: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> None:
    y, scores, groups = data
    bars = plots.group_metric_bars(report, "region", publish_min=10)
    roc = plots.roc_by_group(y, scores, groups, attribute="region", publish_min=10)
    for figure in (bars, roc):
        assert "Not drawn (fewer than 10 accounts): tiny." in figure.alt
        assert "tiny 0" not in figure.alt


def test_figures_are_deterministic(report: AuditReport) -> None:
    assert plots.group_metric_bars(report, "region").png == plots.group_metric_bars(report, "region").png


def test_importing_plots_does_not_import_matplotlib() -> None:
    code = "import sys, governance.plots; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"
