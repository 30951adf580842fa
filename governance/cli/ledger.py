"""``governance ledger verify``: check the tamper-evident ledger of data-subject requests."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from governance.cli._app import ConfigOption, err, guard, ledger_app, say

__all__ = ["ledger_verify"]


@ledger_app.command("verify")
def ledger_verify(
    config_path: ConfigOption,
    head: Annotated[
        str | None,
        typer.Option(
            "--head", help="A head hash printed earlier: the ledger must still contain it (detects rollback)."
        ),
    ] = None,
) -> None:
    """Check every entry's hash, seal and link: exit 0 intact, 4 tampered (naming the first bad entry)."""
    from governance.config import load_config
    from governance.errors import PrivacyError
    from governance.subjects import verify_ledger

    with guard():
        config = load_config(config_path)
        result = verify_ledger(config, expected_head=head)
        for note in result.notes:
            say(f"note: {note}")
        if not result.ok:
            for problem in result.problems:
                err.print(Text(f"  {problem}"))
            raise PrivacyError(
                f"the ledger fails verification: {len(result.problems)} problem(s); the first bad entry is "
                f"{result.first_bad} ({result.problems[0]})"
            )
        say(f"ledger intact: {result.entries} entries; head {result.head or '(empty)'}")
