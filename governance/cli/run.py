"""``governance run`` and ``governance train``: the whole governance loop, or its training step."""

from __future__ import annotations

import time

import typer

from governance.cli._app import Bars, ConfigOption, app, err, guard, out, progress_bars, sigterm_ends_runs, styled

__all__ = ["run_command", "train_command"]


@app.command("run")
def run_command(config_path: ConfigOption) -> None:
    """Run the whole governance loop: data, candidates, audit, explanations, cards, gate, registry, promotion.

    Exit 0 when a candidate passed the gate (it becomes champion, or candidate
    while approvals are missing), 1 when none passed.
    """
    from governance.cli._tables import print_cards, print_outcome
    from governance.config import load_config
    from governance.pipeline import run

    with guard(), sigterm_ends_runs():
        config = load_config(config_path)
        start = time.perf_counter()
        with progress_bars() as progress:
            result = run(config, progress=Bars(progress))
        print_outcome(result.training, data_path=config.data.path, start=None)
        print_cards(result, reports=config.output.reports)
        for card in result.cards:
            if card.matches_version is not None:
                out.print(
                    f"registry: {card.name} matches version {card.matches_version} (same data, config, policy and "
                    "model); reused, no new version registered"
                )
        out.print(f"done in {time.perf_counter() - start:.1f} s")
        if not result.passed:
            err.print(
                styled("gate:", "bold red", "no candidate passed; no champion was chosen (see the cards for why)")
            )
            raise typer.Exit(1)


@app.command("train")
def train_command(config_path: ConfigOption) -> None:
    """Train every candidate of the config and track each in MLflow (one parent run, one nested run each)."""
    from governance.cli._tables import print_outcome
    from governance.config import load_config
    from governance.pipeline import train

    with guard(), sigterm_ends_runs():
        config = load_config(config_path)
        start = time.perf_counter()
        with progress_bars() as progress:
            outcome = train(config, progress=Bars(progress))
        print_outcome(outcome, data_path=config.data.path, start=start)
