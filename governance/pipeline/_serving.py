"""Serving the registered models: loading one after its checksum, one account's reasons, re-rendering a card."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from governance.card import render_html, write_card
from governance.data import prepare
from governance.train import MODEL_TYPES

if TYPE_CHECKING:
    from governance.config import GovernanceConfig
    from governance.data import Dataset
    from governance.explain import AccountExplanation
    from governance.registry import Registry, ResolvedModel, VerifiedCard
    from governance.train import ScoringModel

__all__ = ["AccountReasons", "account_reasons", "check_features", "load_scoring_model", "rerender_card"]


@dataclass(frozen=True)
class AccountReasons:
    """``governance explain --account``: one account's reasons, and which model gave them.

    The document holds the account's pseudonym, never its identifier.
    """

    explanation: AccountExplanation
    model: ResolvedModel
    data_sha256: str

    @property
    def data_matches_training(self) -> bool:
        """Whether the data is the one the model was trained on (same fingerprint)."""
        return bool(self.model.data_sha256) and self.model.data_sha256 == self.data_sha256

    def file_name(self, suffix: str = ".json") -> str:
        """Return the explanation's file name: ``explanation-<pseudonym>-v<version><suffix>``.

        Named by the account's pseudonym (never its identifier) and by the model,
        so that two versions' explanations of one account never overwrite each
        other; a candidate of the latest run, which has no version, is named by its
        run (``explanation-<pseudonym>-run-<run id><suffix>``).

        Parameters
        ----------
        suffix
            ``.json`` (what ``governance explain`` writes) or ``.html``.

        Returns
        -------
        str
        """
        pseudonym = self.explanation.pseudonym
        model = f"v{self.model.version}" if self.model.version is not None else f"run-{self.model.run_id}"
        return f"explanation-{pseudonym}-{model}{suffix}"

    def to_dict(self) -> dict[str, Any]:
        """Return the ``governance.reasons/1`` document."""
        return {
            **self.explanation.to_dict(),
            "model": {
                "candidate": self.model.candidate,
                "run_id": self.model.run_id,
                "version": self.model.version,
                "source": self.model.source,
            },
            "data": {"sha256": self.data_sha256, "matches_training": self.data_matches_training},
        }


def account_reasons(
    config: GovernanceConfig,
    account_id: str,
    *,
    model_version: int | None = None,
    candidate: str | None = None,
) -> AccountReasons:
    """Why one account got its score, from the champion, a registered version, or a candidate of the latest run.

    The identifier is pseudonymized with the configured key at once and only
    its pseudonym is used from then on; the account must be in the prepared
    data (consent given), and the model is loaded only after its checksum is
    verified (:func:`governance.registry.load_model`).

    Parameters
    ----------
    config
        The validated config.
    account_id
        The account's identifier as the user knows it.
    model_version, candidate
        A registered model version, or a candidate of the latest finished run;
        neither: the registered model's ``champion``.

    Raises
    ------
    DataValidationError
        No usable account has this identifier (unknown, or excluded for lack of
        consent: not told apart).
    ConfigError
        No such version, candidate or champion; or the model reads features the data lacks.
    RegistryError
        MLflow cannot be reached (exit 3).
    PrivacyError
        The model's files do not match their checksum (exit 4).
    """
    from governance.config import pseudonym_key
    from governance.explain import account_row, explain_account
    from governance.privacy import pseudonymize_one
    from governance.registry.anchor import check_config_ledger

    check_config_ledger(config)
    dataset = prepare(config)
    pseudonym = pseudonymize_one(account_id, pseudonym_key(config).secret)
    account_row(dataset, pseudonym)  # an unknown account fails before MLflow is asked anything
    resolved, model = load_scoring_model(config, model_version=model_version, candidate=candidate)
    check_features(model, dataset, resolved)
    explanation = explain_account(model, dataset, pseudonym, config=config, name=resolved.candidate)
    return AccountReasons(explanation=explanation, model=resolved, data_sha256=dataset.fingerprint)


def load_scoring_model(
    config: GovernanceConfig,
    *,
    model_version: int | None = None,
    candidate: str | None = None,
    alias: str = "champion",
    registry: Registry | None = None,
) -> tuple[ResolvedModel, ScoringModel]:
    """Load the champion (or a registered version, or a candidate of the latest run) after its checksum is verified.

    Parameters
    ----------
    config
        The validated config (tracking URI, registered model).
    model_version
        A registered version instead of the alias.
    candidate
        A candidate of the latest run instead of a registered version.
    alias
        The registry alias to load by default.
    registry
        The registry client to use, when the caller already holds one; by default one is
        built from the config.

    Returns
    -------
    tuple of (ResolvedModel, ScoringModel)
        Where the model came from, and the model.

    Raises
    ------
    ConfigError
        (exit 2) No such version, candidate or alias; or the model is not a governance scoring model.
    RegistryError
        (exit 3) MLflow cannot be reached.
    PrivacyError
        (exit 4) The model's files do not match their checksum.
    """
    from governance.errors import ConfigError, Problem
    from governance.registry import Registry
    from governance.train import ScoringModel

    registry = registry or Registry.for_config(config)
    resolved = registry.resolve_model(
        experiment=config.mlflow.experiment, version=model_version, candidate=candidate, alias=alias
    )
    model = registry.load_model(resolved.run_id, trusted_types=MODEL_TYPES)
    if not isinstance(model, ScoringModel):
        raise ConfigError([Problem("model", f"{resolved.source} is not a governance scoring model")])
    return resolved, model


def check_features(model: ScoringModel, dataset: Dataset, resolved: ResolvedModel) -> None:
    """Refuse a model that reads features the prepared data lacks (the config changed since it was trained).

    Parameters
    ----------
    model
        The loaded model.
    dataset
        The prepared data.
    resolved
        Where the model came from (named in the error).

    Raises
    ------
    ConfigError
        (exit 2) Naming the missing features.
    """
    from governance.errors import ConfigError, Problem

    missing = [f for f in model.features if f not in dataset.features]
    if missing:
        raise ConfigError(
            [
                Problem(
                    "features",
                    f"{resolved.source} reads {len(missing)} feature(s) the config no longer declares: "
                    f"{', '.join(missing)}",
                    "use it with the config it was trained with",
                )
            ]
        )


def rerender_card(
    config: GovernanceConfig, verified: VerifiedCard, *, texts: Mapping[str, str] | None = None
) -> tuple[Path, Path] | None:
    """Write a registered version's current card over its files in ``<output.reports>/cards/<candidate>/``.

    Only when those files describe the same version and run (a later run may have written
    the candidate's folder since); the figures saved beside the card are embedded again.
    Returns the paths written, or None when the folder belongs to another version.

    Parameters
    ----------
    config
        The validated config (``output.reports``).
    verified
        The registered version's verified card.
    texts
        Feedback texts the registry card leaves out (feedback about one account, kept in the
        ledger alone), by item id: shown on the local files.

    Returns
    -------
    tuple of (Path, Path) or None
        ``card.json`` and ``card.html``, or None when the folder belongs to another version.
    """
    from governance.card import ModelCard, load_figures

    folder = config.output.reports / "cards" / verified.candidate
    try:
        local = json.loads((folder / "card.json").read_text(encoding="utf-8"))
        model = local["model"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if str(model.get("version")) != str(verified.version) or model.get("run_id") != verified.run_id:
        return None
    data = dict(verified.card)
    if texts:
        feedback = dict(data.get("feedback") or {})
        feedback["items"] = [
            {**item, "text": texts.get(str(item.get("id")), item.get("text"))} for item in feedback.get("items") or []
        ]
        data["feedback"] = feedback
    card = ModelCard.from_dict(data)
    json_path, html_path = write_card(card, folder, html=render_html(card, load_figures(folder)))
    assert html_path is not None
    return json_path, html_path
