"""``governance review`` and ``governance promote``: a reviewer's decision, and making a version champion."""

from __future__ import annotations

from typing import Annotated

import typer

from governance.cli._app import ConfigOption, ModelVersionOption, app, guard, out

__all__ = ["promote_command", "review_command"]


@app.command("review")
def review_command(
    config_path: ConfigOption,
    model_version: ModelVersionOption,
    reviewer: Annotated[str, typer.Option("--reviewer", help="Who decides (no e-mail or phone).", show_default=False)],
    note: Annotated[
        str,
        typer.Option(
            "--note", help="Why; published on the card (names no account, no contact details).", show_default=False
        ),
    ],
    approve: Annotated[bool, typer.Option("--approve", help="Approve the version.")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="Reject the version.")] = False,
) -> None:
    """Record a review of a model version: on its card and in its tags (a rejected champion is demoted)."""
    from governance._screen import text_screen
    from governance.config import load_config, tracking_uri
    from governance.errors import ConfigError, Problem, ProblemCode
    from governance.pipeline import ensure_data
    from governance.pipeline._export import check_export_target, sync_champion, synced_on_failure
    from governance.registry import record_review

    with guard():
        if approve == reject:
            where = "--approve/--reject"
            raise ConfigError(
                [Problem(where, "expected exactly one of them", code=ProblemCode.CONFLICT, parameter=where)]
            )
        config = load_config(config_path)
        check_export_target(config)
        name = config.mlflow.registered_model
        ensure_data(config)  # the note is screened against every row's identifier and personal data
        with synced_on_failure(config):
            outcome = record_review(
                tracking_uri(config),
                registered_model=name,
                version=model_version,
                decision="approve" if approve else "reject",
                reviewer=reviewer,
                note=note,
                required_approvals=config.policy.required_approvals,
                timeout=config.mlflow.timeout_seconds,
                retries=config.mlflow.max_retries,
                screen=text_screen(config),
            )
        required = config.policy.required_approvals
        out.print(
            f"recorded {'an approval' if approve else 'a rejection'} of {name} version {model_version} "
            f"by {outcome.review.reviewer} at {outcome.review.at}"
        )
        out.print(
            f"approvals: {len(outcome.approvals)} of {required} required"
            + (f" ({', '.join(outcome.approvals)})" if outcome.approvals else "")
            + (f"; standing rejections: {', '.join(outcome.rejections)}" if outcome.rejections else "")
        )
        out.print(f"card sha256 {outcome.card_sha256}")
        for repair in outcome.repairs:
            out.print(f"demoted: {repair}")
        out.print(sync_champion(config).describe())  # a rejected champion's export goes; a reviewed card is re-exported


@app.command("promote")
def promote_command(config_path: ConfigOption, model_version: ModelVersionOption) -> None:
    """Make a model version champion after re-checking its gate verdict, card checksums and approvals."""
    from governance.config import load_config, tracking_uri
    from governance.pipeline._export import check_export_target, sync_champion, synced_on_failure
    from governance.registry import promote

    with guard():
        config = load_config(config_path)
        check_export_target(config)
        name = config.mlflow.registered_model
        with synced_on_failure(config):  # a champion that fails verification is demoted, then refused
            result = promote(
                tracking_uri(config),
                registered_model=name,
                version=model_version,
                required_approvals=config.policy.required_approvals,
                timeout=config.mlflow.timeout_seconds,
                retries=config.mlflow.max_retries,
            )
        for repair in result.repairs:
            out.print(f"repaired: {repair}")
        if result.champion != model_version:
            holder = f"version {result.champion}" if result.champion is not None else "no version"
            out.print(
                f"{name} version {model_version} passed every check and was made champion, but a concurrent "
                f"promotion wrote after it: champion is now {holder} (last writer wins)"
            )
        elif not result.changed:
            out.print(f"{name} version {model_version} is already champion; every check passed again")
        else:
            previous = f"version {result.previous_champion}" if result.previous_champion is not None else "none"
            out.print(f"{name} version {model_version} is now champion (previous_champion: {previous})")
        out.print(sync_champion(config).describe())
