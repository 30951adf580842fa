"""``governance subject``: data-subject rights (access, correction, erasure, consent withdrawal)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from governance.cli._app import (
    AccountArgument,
    ConfigOption,
    guard,
    output_file,
    say,
    subject_app,
    write_json,
    write_text,
)

__all__ = ["subject_access", "subject_correct", "subject_erase", "subject_withdraw"]


@subject_app.command("access")
def subject_access(
    account: AccountArgument,
    config_path: ConfigOption,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Also write the report as an HTML page here.", callback=output_file),
    ] = None,
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write the JSON here (default: <output.reports>/subjects/<pseudonym>/access.json).",
            callback=output_file,
        ),
    ] = None,
) -> None:
    """Show what is held on an account, its consent, the models trained with it, its score and reasons."""
    from governance.card import render_access_html
    from governance.cli._tables import print_access
    from governance.config import load_config
    from governance.subjects import access

    with guard():
        config = load_config(config_path)
        report = access(config, account)
        if report.erased_at is not None:
            say(
                f"{config.purpose.subject} {report.pseudonym}: erased on {report.erased_at}; nothing is held about it, "
                "so no report is written and nothing new is recorded"
            )
            return
        document = report.to_dict()
        print_access(report.pseudonym, document)
        target = out_path or config.output.reports / "subjects" / report.pseudonym / "access.json"
        write_json(target, document)
        say(f"wrote {target}")
        if html is not None:
            write_text(html, render_access_html(document))
            say(f"wrote {html}")
        if report.entry is not None:
            say(f"recorded as ledger entry {report.entry.seq} (head {report.entry.hash})")


@subject_app.command("correct")
def subject_correct(
    account: AccountArgument,
    config_path: ConfigOption,
    assignments: Annotated[
        list[str],
        typer.Option(
            "--set", help="FIELD=VALUE, repeatable; an empty VALUE records the value as unknown.", show_default=False
        ),
    ],
    reason: Annotated[
        str, typer.Option("--reason", help="Why (recorded; never name the account).", show_default=False)
    ],
) -> None:
    """Correct an account's values: validated, recorded in the ledger, used from now on; shows the score change."""
    from governance.config import load_config
    from governance.subjects import correct, parse_assignments

    with guard():
        wanted = parse_assignments(assignments)
        config = load_config(config_path)
        result = correct(config, account, wanted, reason=reason)
        say(f"{config.purpose.subject} {result.pseudonym}: corrected {', '.join(result.fields)}")
        say(f"recorded as ledger entry {result.entry.seq} (head {result.entry.hash})")
        if result.before is not None and result.after is not None:
            say(f"before: {result.before.text}")
            say(f"after:  {result.after.text}")
            say(f"change: {result.after.score - result.before.score:+.4f}")
        else:
            say(f"score: not shown ({result.note or 'no champion, or the account is not scored'})")


@subject_app.command("erase")
def subject_erase(
    account: AccountArgument,
    config_path: ConfigOption,
    reason: Annotated[
        str, typer.Option("--reason", help="Why (recorded; never name the account).", show_default=False)
    ],
) -> None:
    """Erase an account: excluded from all later training, scoring and reports; its ledger records purged."""
    from governance.cli._tables import print_request
    from governance.config import load_config
    from governance.subjects import erase

    with guard():
        config = load_config(config_path)
        print_request(erase(config, account, reason=reason), what="erased", subject=config.purpose.subject)


@subject_app.command("withdraw-consent")
def subject_withdraw(
    account: AccountArgument,
    config_path: ConfigOption,
    reason: Annotated[str, typer.Option("--reason", help="Why (optional; never name the account).")] = "",
) -> None:
    """Record that an account withdrew its consent: excluded from all later training, scoring and reports."""
    from governance.cli._tables import print_request
    from governance.config import load_config
    from governance.subjects import withdraw_consent

    with guard():
        config = load_config(config_path)
        print_request(
            withdraw_consent(config, account, reason=reason), what="consent withdrawn", subject=config.purpose.subject
        )
