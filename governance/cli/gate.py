"""``governance gate``: re-evaluate a card's evidence against a policy, offline."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from governance.cli._app import app, guard, out, output_file, write_text

__all__ = ["gate_command"]


def _as_of(today: str | None) -> date | None:
    """Parse the ``--today`` date; ``None`` means today (UTC)."""
    from governance.errors import ConfigError, Problem, ProblemCode

    if today is None:
        return None
    try:
        return date.fromisoformat(today)
    except ValueError:
        problem = Problem(
            "--today",
            f"expected a date YYYY-MM-DD, found {today[:40]!r}",
            code=ProblemCode.INVALID_VALUE,
            parameter="--today",
        )
        raise ConfigError([problem]) from None


@app.command("gate")
def gate_command(
    card: Annotated[Path, typer.Option("--card", help="The card.json to gate.", show_default=False)],
    policy: Annotated[
        Path | None, typer.Option("--policy", help="A policy YAML file (default: the policy the card carries).")
    ] = None,
    junit: Annotated[
        Path | None,
        typer.Option("--junit", help="Also write the verdicts as JUnit XML here.", callback=output_file),
    ] = None,
    today: Annotated[
        str | None,
        typer.Option("--today", help="Judge the card's validity on this date, YYYY-MM-DD (default: today, UTC)."),
    ] = None,
) -> None:
    """Re-evaluate a card's evidence against a policy, offline: exit 0 pass, 1 fail or inconclusive, 2 bad input, 4 a card that disagrees with itself."""
    from governance.cli._tables import print_gate
    from governance.gate import card_policy, evaluate, junit_xml, read_card, require_pass
    from governance.policy import load_policy

    with guard():
        as_of = _as_of(today)
        document = read_card(card)
        spec = load_policy(policy) if policy is not None else card_policy(document)
        report = evaluate(document, spec, today=as_of)
        print_gate(report, policy_source=str(policy) if policy is not None else "the card's own")
        if junit is not None:
            write_text(junit, junit_xml(report))
            out.print(Text(f"wrote {junit}"))
        require_pass(report)
