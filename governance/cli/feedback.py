"""``governance feedback add``: stakeholder feedback on a model version, shown on its card."""

from __future__ import annotations

from typing import Annotated

import typer

from governance.cli._app import ConfigOption, ModelVersionOption, feedback_app, guard, say

__all__ = ["feedback_add"]


@feedback_app.command("add")
def feedback_add(
    config_path: ConfigOption,
    model_version: ModelVersionOption,
    text: Annotated[str, typer.Option("--text", help="The feedback (published on the card).", show_default=False)],
    account: Annotated[
        str | None, typer.Option("--account", help="The account it is about (its identifier; never shown).")
    ] = None,
) -> None:
    """Record feedback on a model version; its card lists it from now on."""
    from governance.config import load_config
    from governance.subjects import add_feedback

    with guard():
        config = load_config(config_path)
        result = add_feedback(config, model_version=model_version, text=text, account_id=account)
        say(f"recorded feedback F{result.entry.seq} on version {result.version} (ledger head {result.entry.hash})")
        say(
            f"the card of version {result.version} now lists {result.items} open feedback item(s); "
            f"card sha256 {result.card_sha256}"
        )
        for path in result.card_files:
            say(f"wrote {path}")
