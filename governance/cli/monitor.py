"""``governance monitor``: re-audit the champion on a new labelled batch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from governance.cli._app import Bars, ConfigOption, app, err, guard, progress_bars, say, sigterm_ends_runs, styled

__all__ = ["monitor_command"]


@app.command("monitor")
def monitor_command(
    config_path: ConfigOption,
    data: Annotated[
        Path, typer.Option("--data", help="The new labelled batch (.csv or .parquet).", show_default=False)
    ],
    demote: Annotated[
        bool, typer.Option("--demote", help="When the champion fails, move champion back to previous_champion.")
    ] = False,
) -> None:
    """Re-audit the champion on a new labelled batch: exit 0 pass, 1 fail or inconclusive."""
    from governance.cli._tables import print_gate, print_monitoring
    from governance.config import load_config
    from governance.gate import require_pass
    from governance.monitor import monitor

    with guard(), sigterm_ends_runs():
        config = load_config(config_path)
        with progress_bars() as progress:
            outcome = monitor(config, data, demote=demote, progress=Bars(progress))
        say(f"champion: version {outcome.version} ({outcome.candidate}); monitoring run {outcome.run_id}")
        print_monitoring(dict(outcome.document))
        print_gate(outcome.gate, policy_source="the champion card's own")
        if outcome.document.get("champion_card_expired"):
            err.print(
                styled("warning:", "yellow", "the champion's card is past its valid-until date: audit a new version")
            )
        if outcome.demotion is not None:
            for repair in outcome.demotion.repairs:
                say(f"demoted: {repair}")
        elif outcome.verdict == "fail" and not demote:
            say("the champion keeps its alias: rerun with --demote to move champion back to previous_champion")
        say(f"monitoring card: {outcome.folder / 'card.html'}")
        require_pass(outcome.gate)
