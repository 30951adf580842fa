"""Figures a reviewer can read and print: 2x pixels, contrast, shapes, literal text, the same bytes."""

from __future__ import annotations

import html
import io
import re
import struct
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from governance import plots
from governance.audit import AuditReport, audit

HOSTILE = ("$5$ & <b>", "a$b", "שלום", "مرحبا", "back\\slash")
EIGHT = tuple(f"g{i}" for i in range(8))


def _contrast(color: Any) -> float:
    """WCAG 2 contrast ratio of a colour against white."""
    from matplotlib.colors import to_rgb

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in to_rgb(color))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return 1.05 / (luminance + 0.05)


def _drawn(draw: Callable[[], plots.Figure]) -> tuple[Any, plots.Figure]:
    """The matplotlib Figure ``draw()`` saves (the library's savefig wrapped, still called) and its result."""
    from matplotlib.figure import Figure

    made: list[Figure] = []
    original = Figure.savefig

    def capture(self: Figure, *args: Any, **kwargs: Any) -> None:
        made.append(self)
        original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Figure, "savefig", capture)
        result = draw()
    (figure,) = made
    return figure, result


def _report(names: tuple[str, ...], attribute: str = "region") -> AuditReport:
    rng = np.random.default_rng(7)
    n = 400 * len(names)
    groups = np.repeat(np.array(names, dtype=object), n // len(names))
    y = (rng.random(n) < 0.3).astype(int)
    scores = np.clip(0.2 + 0.4 * y + rng.normal(0, 0.2, n), 0, 1)
    return audit(y, scores, sensitive={attribute: groups}, top_k=0.2, n_boot=30, min_group_size=30)


def _shap(names: tuple[str, ...], attribute: str = "region") -> list[dict[str, Any]]:
    return [
        {"attribute": attribute, "group": g, "feature": f, "mean_abs": v + 0.01 * i, "mean": 0.0, "ci": None}
        for i, g in enumerate(names)
        for f, v in (("income $ per month", 0.3), ("loan <amount>", 0.2))
    ]


CANDIDATES = [
    {"name": "plain", "auc": 0.76, "worst_disparity": 0.08, "verdict": "fail", "auc_ci": [0.73, 0.79]},
    {
        "name": "fair",
        "auc": 0.75,
        "worst_disparity": 0.02,
        "verdict": "pass",
        "auc_ci": [0.72, 0.78],
        "worst_disparity_ci": [0.0, 0.05],
    },
    {"name": "maybe", "auc": 0.74, "worst_disparity": 0.05, "verdict": "inconclusive"},
]


def _all(report: AuditReport, names: tuple[str, ...], attribute: str = "region") -> list[Callable[[], plots.Figure]]:
    return [
        lambda: plots.group_metric_bars(report, attribute),
        lambda: plots.roc_by_group(report, attribute=attribute),
        lambda: plots.calibration_by_group(report, attribute=attribute),
        lambda: plots.shap_importance_by_group(_shap(names, attribute), attribute=attribute),
        lambda: plots.candidate_tradeoff(CANDIDATES, chosen="fair", disparity_label="parity difference"),
    ]


@pytest.fixture(scope="module")
def eight() -> AuditReport:
    return _report(EIGHT)


def _png_header(png: bytes) -> tuple[int, int, float]:
    """Width, height and dots per inch (pHYs) of a PNG."""
    width, height = struct.unpack(">II", png[16:24])
    at = png.index(b"pHYs")
    per_metre, _, unit = struct.unpack(">IIB", png[at + 4 : at + 13])
    assert unit == 1
    return width, height, per_metre * 0.0254


def test_figures_are_drawn_at_twice_their_css_size(eight: AuditReport) -> None:
    for draw in _all(eight, EIGHT):
        mpl_figure, figure = _drawn(draw)
        width, height, dpi = _png_header(figure.png)
        assert dpi == pytest.approx(200, abs=0.5)
        # the size shown is what the same figure measured at 100 dpi (the card's layout before): half the pixels
        at_100 = io.BytesIO()
        mpl_figure.savefig(at_100, format="png", dpi=100, bbox_inches="tight")
        css_width, css_height, _ = _png_header(at_100.getvalue())
        assert (figure.width, figure.height) == (width // 2, height // 2)
        # (within the few pixels the tight bounding box rounds differently at another resolution)
        assert figure.width == pytest.approx(css_width, rel=0.02)
        assert figure.height == pytest.approx(css_height, rel=0.02)
        assert figure.width >= 300


def test_every_colour_has_three_to_one_contrast_against_white(eight: AuditReport) -> None:
    from matplotlib.collections import PathCollection
    from matplotlib.patches import Rectangle

    named = [*plots._PALETTE, plots._REFERENCE_LINE, plots._NO_VERDICT[0], *(c for c, _ in plots._VERDICTS.values())]
    assert all(_contrast(c) >= 3.0 for c in named), {c: round(_contrast(c), 2) for c in named}
    # and what is drawn uses nothing else: every line, marker and full-strength bar of every figure
    for draw in _all(eight, EIGHT):
        mpl_figure, _ = _drawn(draw)
        (ax,) = mpl_figure.axes
        colours = [line.get_color() for line in ax.get_lines() if line.get_xdata() is not None]
        colours += [tuple(fc) for c in ax.collections if isinstance(c, PathCollection) for fc in c.get_facecolors()]
        colours += [p.get_facecolor() for p in ax.patches if isinstance(p, Rectangle) and (p.get_alpha() or 1.0) == 1.0]
        assert colours
        for colour in colours:
            assert _contrast(colour[:3] if isinstance(colour, tuple) else colour) >= 3.0, colour


def test_groups_differ_by_shape_not_only_colour(eight: AuditReport) -> None:
    for draw in _all(eight, EIGHT)[1:3]:  # ROC and calibration: one line per group
        mpl_figure, _ = _drawn(draw)
        lines = [line for line in mpl_figure.axes[0].get_lines() if str(line.get_label()).split(" (")[0] in EIGHT]
        assert len(lines) == 8
        assert len({line.get_marker() for line in lines}) == 8  # eight groups, eight marker shapes
        assert {str(line.get_linestyle()) for line in lines} >= {"-", "--", ":", "-."}
        # colours repeat after five groups; the shape still tells them apart
        assert len({line.get_color() for line in lines}) == len(plots._PALETTE)
    for draw in (_all(eight, EIGHT)[3], _all(eight, EIGHT)[0]):  # bars: each series its own hatch
        mpl_figure, _ = _drawn(draw)
        ax = mpl_figure.axes[0]
        hatches = [
            container.patches[0].get_hatch() or "" for container in ax.containers if hasattr(container, "patches")
        ]
        assert len(hatches) == len(set(hatches)) >= 3
        legend = ax.get_legend()
        assert [h.get_hatch() or "" for h in legend.legend_handles] == hatches


def test_verdicts_differ_by_marker_shape_with_a_legend_and_intervals() -> None:
    from matplotlib.collections import PathCollection
    from matplotlib.container import ErrorbarContainer

    mpl_figure, figure = _drawn(
        lambda: plots.candidate_tradeoff(CANDIDATES, chosen="fair", disparity_label="parity difference")
    )
    ax = mpl_figure.axes[0]
    points = [
        c for c in ax.collections if isinstance(c, PathCollection) and len(c.get_offsets()) and c.get_zorder() == 3
    ]
    assert len(points) == 3
    shapes = {tuple(map(tuple, p.get_paths()[0].vertices.round(3))) for p in points}
    assert len(shapes) == 3, "pass, fail and inconclusive must have three different markers"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["pass", "fail", "inconclusive", "chosen"]
    # intervals: plain has an AUC interval, fair both, maybe none (no bar, no error)
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 2
    segments = sorted(
        tuple(map(tuple, np.asarray(seg).round(3)))
        for bar in bars
        for lines in bar.lines[2]
        for seg in lines.get_segments()
    )
    assert ((0.02, 0.72), (0.02, 0.78)) in segments and ((0.0, 0.75), (0.05, 0.75)) in segments
    assert ((0.08, 0.73), (0.08, 0.79)) in segments and len(segments) == 3
    assert "The chosen model is fair, ringed." in figure.alt


@pytest.mark.parametrize("bad", [None, [0.1], ["a", "b"], [0.9, 0.95], "0.1-0.2"])
def test_an_absent_or_malformed_interval_draws_no_bar(bad: Any) -> None:
    from matplotlib.container import ErrorbarContainer

    entry = {"name": "x", "auc": 0.7, "worst_disparity": 0.1, "verdict": None, "auc_ci": bad}
    mpl_figure, _ = _drawn(lambda: plots.candidate_tradeoff([entry], chosen=None, disparity_label="gap"))
    ax = mpl_figure.axes[0]
    assert not [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["pass", "fail", "inconclusive", "no verdict"]


def test_text_from_data_is_drawn_literally() -> None:
    from matplotlib.text import Text

    attribute = "price $ band"
    report = _report(HOSTILE, attribute)
    draws = _all(report, HOSTILE, attribute)[:4]
    hostile_candidates = [{**c, "name": name} for c, name in zip(CANDIDATES, HOSTILE, strict=False)]
    draws.append(lambda: plots.candidate_tradeoff(hostile_candidates, chosen=HOSTILE[1], disparity_label="gap $x$"))
    for draw in draws:
        mpl_figure, figure = _drawn(draw)
        texts = mpl_figure.findobj(Text)
        assert texts and all(not t.get_parse_math() for t in texts)
        assert all(not t.get_usetex() for t in texts)
        shown = "\n".join(t.get_text() for t in texts)
        expected = HOSTILE[:3] if figure.key == "candidates" else HOSTILE
        for name in expected:
            assert name in shown, (figure.key, name)
        assert figure.png.startswith(b"\x89PNG")
    # the math-text switch does not leak: outside a figure matplotlib's own default is untouched
    import matplotlib

    assert matplotlib.rcParams["text.parse_math"] is True


def test_same_inputs_give_the_same_png_bytes() -> None:
    report = _report(HOSTILE, "price $ band")
    for draw in _all(report, HOSTILE, "price $ band"):
        assert draw().png == draw().png


# --- a whole card whose categories are hostile ---------------------------------------------------------------

CATEGORIES = ("a$b & co", "<i>שלום</i>", "مرحبا", "$5$")


@pytest.fixture(scope="module")
def hostile_card() -> tuple[str, list[plots.Figure]]:
    from governance.card import build_card, candidate_entry, card_figures, render_html
    from governance.config import PseudonymKey, validate_config
    from governance.data import prepare
    from governance.pipeline import audit_candidate
    from governance.train import train_candidate

    rng = np.random.default_rng(3)
    n = 3000
    income = np.round(rng.lognormal(10.3, 0.5, n), -2)
    loan = np.round(rng.lognormal(8.8, 0.6, n), -1)
    logit = 1.2 * np.log(income / loan) - 1.5
    frame = pd.DataFrame(
        {
            "applicant_id": [f"APP-{i:06d}" for i in range(n)],
            "group": rng.choice(CATEGORIES, n),
            "income": income,
            "loan_amount": loan,
            "repaid": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int),
        }
    )
    raw = {
        "version": 1,
        "seed": 5,
        "purpose": {
            "intended_use": "Order credit applications for manual review.",
            "out_of_scope": ["Refusing credit without a human review."],
            "owner": "Credit risk",
            "contact": "review@example.org",
            "subject": "applicant",
        },
        "data": {
            "path": "/nonexistent/applicants.parquet",
            "id_column": "applicant_id",
            "label": "repaid",
            "consent": {"lawful_basis": "research", "reason": "A synthetic study of literal text in figures"},
            "split": {"validation": 0.2, "test": 0.3, "seed": 5},
        },
        "features": [
            {"name": "income", "justification": "Income bounds the repayment."},
            {"name": "loan_amount", "justification": "The amount sets the burden."},
        ],
        "sensitive": {
            "attributes": [{"name": "group", "categories": list(CATEGORIES), "reference": CATEGORIES[0]}],
            "min_group_size": 30,
            "publish_min_group_size": 10,
        },
        "candidates": [{"name": "logreg", "kind": "logistic_regression", "params": {"C": 1.0, "max_iter": 500}}],
        "audit": {"top_k": 0.3, "bootstrap": 30, "seed": 5},
        "mlflow": {"experiment": "literal", "registered_model": "literal"},
    }
    config = validate_config(raw)
    dataset = prepare(config, frame=frame, key=PseudonymKey(b"literal-test-key-0123456789", False))
    trained = train_candidate(config.candidates[0], dataset, seed=5)
    report, _ = audit_candidate(config, dataset.test, trained)
    entry = candidate_entry(
        name=trained.name,
        kind=trained.kind,
        mitigation=None,
        uses_sensitive_at_inference=False,
        audit=report,
        attributes=["group"],
        verdict="pass",
    )
    facts = {
        "name": trained.name,
        "kind": trained.kind,
        "mitigation": None,
        "uses_sensitive_at_inference": False,
        "score_method": trained.score_method,
    }
    card = build_card(
        config=config,
        dataset=dataset,
        candidate=facts,
        audit=report,
        explanations=None,
        candidates=[entry],
        run_id="run-literal",
        created=datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
        git_commit="abc123",
        validation=trained.validation,
    ).with_gate({"verdict": "pass", "rules": []})
    figures = card_figures(config, report, run_card=card)
    return render_html(card, figures), figures


def test_a_card_with_hostile_categories_escapes_them_and_draws_its_figures(
    hostile_card: tuple[str, list[plots.Figure]],
) -> None:
    page, figures = hostile_card
    assert [f.key for f in figures] == ["rates-group", "roc-group", "calibration-group", "candidates"]
    for figure in figures:
        assert figure.png.startswith(b"\x89PNG") and figure.width > 0
        assert 'src="data:image/png;base64,' in page
    for name in CATEGORIES:
        assert html.escape(name) in page, name
        assert any(name in f.alt for f in figures), name
    assert "<i>" not in page
    assert len(re.findall(r"<img ", page)) == len(figures)


def test_the_hostile_card_opens_in_a_browser_with_every_figure_decoded(
    hostile_card: tuple[str, list[plots.Figure]], tmp_path: Path
) -> None:
    from governance.card import load_figures, save_figures
    from tests.conftest import open_in_chrome

    page, figures = hostile_card
    save_figures(tmp_path, figures)
    again = load_figures(tmp_path)
    assert [(f.png, f.width, f.height) for f in again] == [(f.png, f.width, f.height) for f in figures]
    (tmp_path / "card.html").write_text(page, encoding="utf-8")
    opened = open_in_chrome(tmp_path / "card.html")
    natural = [(True, _png_header(f.png)[0]) for f in figures]
    assert [(complete, width) for complete, width, _ in opened["images"]] == natural
    assert [width // 2 for _, width in natural] == [f.width for f in figures]
    assert all(alt > 40 for _, _, alt in opened["images"])
    assert not [m for m in opened["console"] if m.get("level") == "SEVERE"]
