"""The figures of a card: one list for a run card and for a monitoring batch, and keeping them beside the card."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from governance._files import atomic_write, canonical_json

if TYPE_CHECKING:
    from governance.audit import AuditReport
    from governance.card._model import ModelCard
    from governance.config import GovernanceConfig
    from governance.plots import Figure

__all__ = ["card_figures", "load_figures", "save_figures"]


def card_figures(
    config: GovernanceConfig,
    report: AuditReport,
    *,
    run_card: ModelCard | None = None,
    explanations: Mapping[str, Any] | None = None,
) -> list[Figure]:
    """Draw the figures of a card: rates by group, then ROC and calibration by the first sensitive attribute.

    A run card adds the SHAP importance by group (when the explanations have it) and
    the trade-off between the run's candidates; a monitoring batch has neither.

    Parameters
    ----------
    config
        The validated config (sensitive attributes, publication minimum, the word for a row).
    report
        The audit the figures show, as :func:`governance.audit.audit` returned it (with its
        curves): the figures draw its numbers and compute none.
    run_card
        The run card, for the candidate trade-off; None for a monitoring batch.
    explanations
        The run card's explanations block, for SHAP importance by group.

    Returns
    -------
    list of Figure
        In the order the card shows them.
    """
    from governance import plots

    publish_min = config.sensitive.publish_min_group_size
    subjects = config.purpose.subjects
    figures = [
        plots.group_metric_bars(report, a, publish_min=publish_min, subjects=subjects) for a in config.sensitive.names
    ]
    first = config.sensitive.names[0]
    figures.append(plots.roc_by_group(report, attribute=first, publish_min=publish_min, subjects=subjects))
    figures.append(plots.calibration_by_group(report, attribute=first, publish_min=publish_min, subjects=subjects))
    if run_card is None:
        return figures
    if explanations is not None and explanations.get("by_group"):
        published = [
            str(g["group"])
            for g in run_card.fairness.get("groups", [])
            if g.get("attribute") == first and g.get("n") is not None
        ]
        figures.append(
            plots.shap_importance_by_group(explanations["by_group"], attribute=first, publish_groups=published)
        )
    figures.append(
        plots.candidate_tradeoff(
            run_card.candidates,
            chosen=run_card.model["candidate"],
            disparity_label="largest demographic parity difference",
        )
    )
    return figures


_FIGURES = "figures"


def save_figures(folder: Path, figures: Sequence[Figure]) -> None:
    """Keep a card's figures beside it (``figures/<n>.png`` and ``figures/figures.json``) for later renders.

    Parameters
    ----------
    folder
        The card's folder.
    figures
        The figures, in order.
    """
    target = folder / _FIGURES
    index = []
    for i, figure in enumerate(figures):
        name = f"{i:02d}.png"
        atomic_write(target / name, figure.png)
        index.append(
            {
                "key": figure.key,
                "title": figure.title,
                "alt": figure.alt,
                "file": name,
                "sha256": hashlib.sha256(figure.png).hexdigest(),
            }
        )
    atomic_write(target / "figures.json", canonical_json({"schema": "governance.figures/1", "figures": index}))


def load_figures(folder: Path) -> list[Figure]:
    """Read back the figures :func:`save_figures` kept, in order.

    Parameters
    ----------
    folder
        The card's folder.

    Returns
    -------
    list of Figure
        The figures; none when they are missing or do not match their checksums.
    """
    from governance.plots import Figure

    try:
        index = json.loads((folder / _FIGURES / "figures.json").read_text(encoding="utf-8"))
        figures = []
        for item in index["figures"]:
            png = (folder / _FIGURES / Path(str(item["file"])).name).read_bytes()
            if hashlib.sha256(png).hexdigest() != item["sha256"]:
                return []
            figures.append(Figure(key=str(item["key"]), title=str(item["title"]), alt=str(item["alt"]), png=png))
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return figures
