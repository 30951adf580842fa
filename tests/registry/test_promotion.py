"""Promotion: registering audited candidates, reviews, and the champion alias, including races between processes.

Every test uses real candidate runs (logistic regressions trained once per module by
``governance.pipeline.train`` into one SQLite store) and its own registered model, so tests
never see each other's versions or aliases.
"""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from governance.cli import app
from governance.config import validate_config
from governance.errors import ConfigError, GateFailure, PrivacyError, RegistryError
from governance.pipeline import CandidateOutcome, train
from governance.registry import (
    LEASE_TAG,
    Contender,
    ModelVersionRecord,
    nominate,
    promote,
    promote_best,
    record_review,
    register_candidate,
)
from tests.conftest import TEST_KEY

POOL_SIZE = 40


@dataclass
class Pool:
    """Finished candidate runs in one store; each test takes its own."""

    uri: str
    raw: dict[str, Any]
    folder: Path
    outcomes: list[CandidateOutcome] = field(default_factory=list)

    def take(self, n: int) -> list[CandidateOutcome]:
        assert len(self.outcomes) >= n, "raise POOL_SIZE"
        taken, self.outcomes[:] = self.outcomes[:n], self.outcomes[n:]
        return taken


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory, accounts: pd.DataFrame, default_raw: dict[str, Any]) -> Pool:
    folder = tmp_path_factory.mktemp("promotion")
    accounts.to_parquet(folder / "accounts.parquet", index=False)
    raw = copy.deepcopy(default_raw)
    raw["data"]["path"] = str(folder / "accounts.parquet")
    raw["data"].pop("generate", None)
    raw["mlflow"]["tracking_uri"] = f"sqlite:///{folder / 'mlflow.db'}"
    raw["output"] = {"reports": str(folder / "reports"), "models": str(folder / "models")}
    (base,) = [c for c in raw["candidates"] if c["name"] == "baseline_logreg"]
    raw["candidates"] = [
        {**copy.deepcopy(base), "name": f"logreg_{i:02d}", "params": {**base["params"], "C": 0.05 + i / 20}}
        for i in range(POOL_SIZE)
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GOVERNANCE_PSEUDONYM_KEY", TEST_KEY)
        outcome = train(validate_config(raw))
    return Pool(uri=raw["mlflow"]["tracking_uri"], raw=raw, folder=folder, outcomes=list(outcome.candidates))


@pytest.fixture
def name() -> str:
    """A registered model of the test's own."""
    return f"scoring-{uuid.uuid4().hex[:10]}"


def _card(outcome: CandidateOutcome, verdict: str) -> dict[str, Any]:
    """A governance.card/1 document as the card step writes it (reviews come later)."""
    ratio = 0.86 if verdict == "pass" else 0.61
    return {
        "schema": "governance.card/1",
        "model": {
            "name": "account-scoring",
            "candidate": outcome.name,
            "run_id": outcome.run_id,
            "created": "2026-01-15T09:30:00Z",
            "valid_until": "2026-04-15",
        },
        "lineage": {
            "git_commit": "0" * 40,
            "config_sha256": "a" * 64,
            "data_sha256": "b" * 64,
            "model_sha256": outcome.model_sha256,
            "policy_sha256": "c" * 64,
        },
        "purpose": {
            "intended_use": "Rank B2B accounts by their propensity to buy within 90 days.",
            "out_of_scope": ["Credit, pricing or eligibility decisions."],
        },
        "data": {
            "rows_in": 4000,
            "rows_used": 3803,
            "excluded": {"consent_not_given": 197},
            "features": [{"name": "intent_score", "justification": "Third-party buying-intent signal."}],
            "dropped_columns": ["company_name", "contact_email", "contact_phone"],
            "sensitive": ["ownership", "size_band"],
            "pseudonymization": {"method": "HMAC-SHA256, 128-bit hex", "development_key": False},
        },
        "performance": {
            "auc": {"value": outcome.test_auc, "ci": [outcome.test_auc - 0.03, outcome.test_auc + 0.03], "status": "ok"}
        },
        "fairness": {"schema": "governance.audit/1", "rows": 761, "min_group_size": 30},
        "explanations": {"method": "shap", "space": "transformed", "global": []},
        "policy": {"rules": [], "on_inconclusive": "fail", "required_approvals": 1},
        "candidates": [
            {
                "name": outcome.name,
                "kind": "logistic_regression",
                "mitigation": None,
                "uses_sensitive_at_inference": False,
                "auc": outcome.validation_auc,
                "worst_disparity": 1 - ratio,
                "verdict": verdict,
            }
        ],
        "gate": {
            "verdict": verdict,
            "rules": [
                {
                    "name": "four-fifths rule on selection rate by ownership",
                    "metric": "selection_rate",
                    "scope": "disparity",
                    "bound": 0.8,
                    "side": "min",
                    "observed": ratio,
                    "ci": [ratio - 0.04, ratio + 0.04],
                    "verdict": verdict,
                    "reason": "the whole interval is above 0.8" if verdict == "pass" else "the interval is below 0.8",
                }
            ],
        },
        "reviews": [],
        "feedback": {"contact": "privacy@example.com", "items": []},
        "caveats": ["Trained on synthetic accounts – Kamiran–Calders weights, not real companies."],
    }


def _register(pool: Pool, name: str, verdicts: list[str]) -> list[ModelVersionRecord]:
    return [
        register_candidate(pool.uri, registered_model=name, run_id=o.run_id, card=_card(o, verdict))
        for o, verdict in zip(pool.take(len(verdicts)), verdicts, strict=True)
    ]


def _client(pool: Pool) -> MlflowClient:
    return MlflowClient(tracking_uri=pool.uri, registry_uri=pool.uri)


def _aliases(pool: Pool, name: str) -> dict[str, int]:
    return {alias: int(v) for alias, v in _client(pool).get_registered_model(name).aliases.items()}


def _artifacts(pool: Pool, run_id: str) -> Path:
    return Path(urlsplit(_client(pool).get_run(run_id).info.artifact_uri).path)


def _stored_card(pool: Pool, record: ModelVersionRecord) -> tuple[Path, dict[str, Any]]:
    sha = _client(pool).get_model_version(record.registered_model, str(record.version)).tags["card.sha256"]
    path = _artifacts(pool, record.run_id) / "card" / f"{sha}.json"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
    return path, json.loads(path.read_bytes())


def _review(pool: Pool, name: str, version: int, decision: Any, reviewer: str, **options: Any) -> Any:
    note = options.pop("note", "Read the whole card.")
    return record_review(
        pool.uri, registered_model=name, version=version, decision=decision, reviewer=reviewer, note=note, **options
    )


# ---------------------------------------------------------------- registration


def test_registering_a_candidate_attaches_its_card_and_the_audit_record(pool: Pool, name: str) -> None:
    (record,) = _register(pool, name, ["pass"])
    client = _client(pool)
    version = client.get_model_version(name, str(record.version))
    run = client.get_run(record.run_id)
    assert version.status == "READY" and record.status == "READY"
    assert version.run_id == run.info.run_id
    assert version.source == client.get_logged_model(run.data.tags["model.id"]).artifact_location
    tags = version.tags
    assert tags["gate.verdict"] == "pass" and tags["candidate.name"] == record.candidate
    assert tags["model.sha256"] == run.data.tags["model.sha256"] and tags["data.sha256"] == run.data.tags["data.sha256"]
    assert tags["review.count"] == "0"
    # the run keeps the audit record: the verdict and the checksum of the card as audited
    assert run.data.tags["gate.verdict"] == "pass" and run.data.tags["card.sha256"] == tags["card.sha256"]
    _, card = _stored_card(pool, record)
    assert card["model"] | {"version": record.version, "registered_model": name} == card["model"]
    assert card["model"]["run_id"] == record.run_id and card["reviews"] == []
    assert card["gate"]["verdict"] == record.verdict == "pass"


def test_registering_the_same_run_again_returns_its_version_instead_of_a_duplicate(
    pool: Pool, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (outcome,) = pool.take(1)
    original = MlflowClient.set_model_version_tag

    def crash_before_the_card(self: MlflowClient, model: str, version: str, key: str, value: str) -> None:
        if key == "card.sha256":
            raise ConnectionError("store went away")
        original(self, model, version, key, value)

    monkeypatch.setattr(MlflowClient, "set_model_version_tag", crash_before_the_card)
    with pytest.raises(RegistryError, match="could not register the candidate"):
        register_candidate(pool.uri, registered_model=name, run_id=outcome.run_id, card=_card(outcome, "pass"))
    monkeypatch.setattr(MlflowClient, "set_model_version_tag", original)
    with pytest.raises(GateFailure, match="registration did not complete"):
        promote(pool.uri, registered_model=name, version=1, required_approvals=0)

    first = register_candidate(pool.uri, registered_model=name, run_id=outcome.run_id, card=_card(outcome, "pass"))
    again = register_candidate(pool.uri, registered_model=name, run_id=outcome.run_id, card=_card(outcome, "pass"))
    assert first == again and first.version == 1 and first.card_sha256
    assert len(_client(pool).search_model_versions(f"name = '{name}'")) == 1
    with pytest.raises(ConfigError, match="an audit record is never rewritten"):
        register_candidate(pool.uri, registered_model=name, run_id=outcome.run_id, card=_card(outcome, "fail"))
    with pytest.raises(ConfigError, match="a run is registered once"):
        register_candidate(pool.uri, registered_model=f"{name}-b", run_id=outcome.run_id, card=_card(outcome, "pass"))
    assert not _client(pool).search_model_versions(f"name = '{name}-b'")


def test_a_card_that_breaks_the_contract_is_refused_with_every_problem(pool: Pool, name: str) -> None:
    outcome = pool.outcomes[0]  # refused before MLflow is asked: the run stays free for another test
    card = _card(outcome, "pass") | {"schema": "governance.card/0", "gate": {"rules": []}}
    card["reviews"] = [{"reviewer": "Ana", "decision": "approve", "note": "fine", "at": "2026-01-01T00:00:00Z"}]
    with pytest.raises(ConfigError) as info:
        register_candidate(pool.uri, registered_model=name, run_id=outcome.run_id, card=card)
    assert [p.location for p in info.value.problems] == ["card.schema", "card.gate.verdict", "card.reviews"]
    with pytest.raises(ConfigError, match="finite numbers"):
        bad = _card(outcome, "pass")
        bad["performance"]["auc"]["value"] = float("nan")
        register_candidate(pool.uri, registered_model=name, run_id=outcome.run_id, card=bad)


def test_a_run_without_a_checksummed_model_is_never_registered(pool: Pool, name: str) -> None:
    from governance.registry import tracked_run

    with tracked_run(pool.uri, experiment="elsewhere", run_name="hand-made") as handle:
        handle.set_tags({"model.id": "m-0123"})
    card = _card(pool.outcomes[0], "pass")
    card["model"]["run_id"] = handle.run_id
    with pytest.raises(PrivacyError, match="registers only models it logged and checksummed"):
        register_candidate(pool.uri, registered_model=name, run_id=handle.run_id, card=card)


# ---------------------------------------------------------------- promotion


def test_promoting_passing_versions_moves_champion_and_keeps_the_previous_one(pool: Pool, name: str) -> None:
    a, b = _register(pool, name, ["pass", "pass"])
    first = promote(pool.uri, registered_model=name, version=a.version, required_approvals=0)
    assert (first.champion, first.previous_champion, first.changed) == (a.version, None, True)
    assert _aliases(pool, name) == {"champion": a.version}
    second = promote(pool.uri, registered_model=name, version=b.version, required_approvals=0)
    assert (second.champion, second.previous_champion) == (b.version, a.version)
    assert _aliases(pool, name) == {"champion": b.version, "previous_champion": a.version}
    rollback = promote(pool.uri, registered_model=name, version=a.version, required_approvals=0)
    assert rollback.previous_champion == b.version
    assert _aliases(pool, name) == {"champion": a.version, "previous_champion": b.version}
    again = promote(pool.uri, registered_model=name, version=a.version, required_approvals=0)
    assert not again.changed and _aliases(pool, name) == {"champion": a.version, "previous_champion": b.version}
    assert LEASE_TAG not in _client(pool).get_registered_model(name).tags  # the lease is released


@pytest.mark.parametrize("verdict", ["fail", "inconclusive"])
def test_a_version_whose_gate_did_not_pass_is_refused_and_the_aliases_stay(pool: Pool, name: str, verdict: str) -> None:
    champion, failing = _register(pool, name, ["pass", verdict])
    promote(pool.uri, registered_model=name, version=champion.version, required_approvals=0)
    with pytest.raises(GateFailure, match=f"its gate verdict is '{verdict}'") as info:
        promote(pool.uri, registered_model=name, version=failing.version, required_approvals=0)
    assert info.value.exit_code == 1 and info.value.report["reason"] == "verdict"
    assert _aliases(pool, name) == {"champion": champion.version}
    with pytest.raises(GateFailure, match="to nominate"):
        nominate(pool.uri, registered_model=name, version=failing.version)
    assert _aliases(pool, name) == {"champion": champion.version}


def _tamper_file(pool: Pool, record: ModelVersionRecord) -> None:
    path, card = _stored_card(pool, record)
    card["gate"]["verdict"] = "pass"
    card["gate"]["rules"][0]["observed"] = 0.97
    path.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")


def _forge_consistently(pool: Pool, record: ModelVersionRecord) -> None:
    """Rewrite the card and the version's checksum tag together: only the run's audit record disagrees."""
    path, card = _stored_card(pool, record)
    card["gate"]["rules"][0]["observed"] = 0.99
    data = (json.dumps(card, indent=2, sort_keys=True) + "\n").encode()
    sha = hashlib.sha256(data).hexdigest()
    (path.parent / f"{sha}.json").write_bytes(data)
    _client(pool).set_model_version_tag(record.registered_model, str(record.version), "card.sha256", sha)


def _retag_verdict(pool: Pool, record: ModelVersionRecord) -> None:
    _client(pool).set_model_version_tag(record.registered_model, str(record.version), "gate.verdict", "pass")


def _delete_card(pool: Pool, record: ModelVersionRecord) -> None:
    _stored_card(pool, record)[0].unlink()


@pytest.mark.parametrize(
    ("tamper", "verdict", "message"),
    [
        (_tamper_file, "fail", "the card was changed after it was recorded"),
        (_forge_consistently, "pass", "differs from the audit record"),
        (_retag_verdict, "fail", "tag gate.verdict of the version"),
        (_delete_card, "pass", "is missing from run"),
    ],
)
def test_a_card_changed_after_registration_is_refused_as_tampering(
    pool: Pool, name: str, tamper: Any, verdict: str, message: str
) -> None:
    (record,) = _register(pool, name, [verdict])
    tamper(pool, record)
    with pytest.raises(PrivacyError, match=message) as info:
        promote(pool.uri, registered_model=name, version=record.version, required_approvals=0)
    assert info.value.exit_code == 4
    assert _aliases(pool, name) == {}
    with pytest.raises(PrivacyError, match=message):  # a review never re-signs a tampered card
        _review(pool, name, record.version, "approve", "Ana")


def test_a_model_changed_after_the_audit_is_refused(pool: Pool, name: str) -> None:
    (record,) = _register(pool, name, ["pass"])
    location = _client(pool).get_logged_model(record.model_id).artifact_location
    (stored,) = Path(urlsplit(location).path).rglob("model.skops")
    stored.write_bytes(stored.read_bytes() + b"\0")
    with pytest.raises(PrivacyError, match="model files hash to"):
        promote(pool.uri, registered_model=name, version=record.version, required_approvals=0)
    assert _aliases(pool, name) == {}


def test_a_version_whose_run_did_not_finish_is_refused(pool: Pool, name: str) -> None:
    (record,) = _register(pool, name, ["pass"])
    _client(pool).set_terminated(record.run_id, status="KILLED")
    with pytest.raises(GateFailure, match="ended KILLED, not FINISHED") as info:
        promote(pool.uri, registered_model=name, version=record.version, required_approvals=0)
    assert info.value.report["reason"] == "run"


def test_a_version_that_is_not_ready_is_refused_as_an_infrastructure_state(
    pool: Pool, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (record,) = _register(pool, name, ["pass"])
    original = MlflowClient.get_model_version

    def pending(self: MlflowClient, model: str, version: str) -> Any:
        found = original(self, model, version)
        found._status = "PENDING_REGISTRATION"
        return found

    monkeypatch.setattr(MlflowClient, "get_model_version", pending)
    with pytest.raises(RegistryError, match="its status is PENDING_REGISTRATION, not READY") as info:
        promote(pool.uri, registered_model=name, version=record.version, required_approvals=0)
    assert info.value.exit_code == 3
    monkeypatch.setattr(MlflowClient, "get_model_version", original)
    assert _aliases(pool, name) == {}


def test_an_unknown_version_is_bad_input(pool: Pool, name: str) -> None:
    (record,) = _register(pool, name, ["pass"])
    with pytest.raises(ConfigError, match=rf"has no version 7; expected one of 1..{record.version}") as info:
        promote(pool.uri, registered_model=name, version=7, required_approvals=0)
    assert info.value.exit_code == 2


# ---------------------------------------------------------------- reviews and approvals


def test_approvals_are_counted_per_reviewer_and_a_rejection_blocks_until_that_reviewer_approves(
    pool: Pool, name: str
) -> None:
    (record,) = _register(pool, name, ["pass"])
    version = record.version
    run_tags_before = _client(pool).get_run(record.run_id).data.tags

    def refused(reason: str) -> None:
        with pytest.raises(GateFailure) as info:
            promote(pool.uri, registered_model=name, version=version, required_approvals=2)
        assert info.value.report["reason"] == reason
        assert _aliases(pool, name) == {}

    refused("approvals")
    at = datetime(2026, 2, 3, 10, 0, tzinfo=UTC)
    first = _review(pool, name, version, "approve", "Ana Ruiz", at=at, note="Disparities within policy.")
    assert first.approvals == ("Ana Ruiz",) and first.review.at == "2026-02-03T10:00:00Z"
    _review(pool, name, version, "approve", "ana ruiz ")  # the same person again: still one approval
    refused("approvals")
    rejected = _review(pool, name, version, "reject", "Ben Okafor", note="Explain the proxy warning first.")
    assert rejected.rejections == ("Ben Okafor",) and rejected.approvals == ("ana ruiz",)
    refused("rejected")
    _review(pool, name, version, "approve", "Ben Okafor", note="Proxy explained in the caveats.")
    result = promote(pool.uri, registered_model=name, version=version, required_approvals=2)
    assert result.champion == version

    tags = _client(pool).get_model_version(name, str(version)).tags
    assert (tags["review.count"], tags["review.approvals"], tags["review.rejections"]) == ("4", "2", "0")
    assert tags["review.1.reviewer"] == "Ana Ruiz" and tags["review.3.decision"] == "reject"
    assert tags["review.1.note"] == "Disparities within policy." and tags["review.1.at"] == "2026-02-03T10:00:00Z"
    _, card = _stored_card(pool, record)
    assert [(r["reviewer"], r["decision"]) for r in card["reviews"]] == [
        ("Ana Ruiz", "approve"),
        ("ana ruiz", "approve"),
        ("Ben Okafor", "reject"),
        ("Ben Okafor", "approve"),
    ]
    assert card["reviews"][2]["note"] == "Explain the proxy warning first."
    # the audit record does not move: the audited part of the card is unchanged
    assert _client(pool).get_run(record.run_id).data.tags["card.sha256"] == run_tags_before["card.sha256"]
    assert tags["card.sha256"] != run_tags_before["card.sha256"]


def test_a_review_with_personal_data_or_without_a_reason_is_refused_before_anything_is_written(
    pool: Pool, name: str
) -> None:
    (record,) = _register(pool, name, ["pass"])
    with pytest.raises(PrivacyError, match="its note looks like it holds personal data") as info:
        _review(pool, name, record.version, "approve", "Ana", note="ok, ask ana.ruiz@bluebridge.com")
    assert "ana.ruiz" not in str(info.value)
    with pytest.raises(PrivacyError, match="its reviewer looks like"):
        _review(pool, name, record.version, "approve", "+1 415 555 0101")
    with pytest.raises(ConfigError) as problems:
        _review(pool, name, record.version, "maybe", "x" * 101, note="  ", at=datetime(2026, 1, 1))
    assert [p.location for p in problems.value.problems] == ["decision", "reviewer", "note", "at"]
    with pytest.raises(ConfigError, match="at most 2000 characters"):
        _review(pool, name, record.version, "approve", "Ana", note="y" * 2001)
    assert _client(pool).get_model_version(name, str(record.version)).tags["review.count"] == "0"


def test_rejecting_the_champion_demotes_it_to_the_previous_champion(pool: Pool, name: str) -> None:
    a, b = _register(pool, name, ["pass", "pass"])
    promote(pool.uri, registered_model=name, version=a.version, required_approvals=0)
    promote(pool.uri, registered_model=name, version=b.version, required_approvals=0)
    outcome = _review(pool, name, b.version, "reject", "Ben", note="Scores drift for small accounts.")
    assert outcome.champion == a.version and "to version" in outcome.repairs[0]
    assert _aliases(pool, name) == {"champion": a.version}
    last = _review(pool, name, a.version, "reject", "Ben", note="Same drift here.")
    assert last.champion is None and _aliases(pool, name) == {}  # no verified version left: no champion at all


# ---------------------------------------------------------------- failures, repairs and the lease


def test_a_failed_promotion_leaves_the_aliases_as_they_were(
    pool: Pool, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, c = _register(pool, name, ["pass", "pass", "pass"])
    promote(pool.uri, registered_model=name, version=b.version, required_approvals=0)
    promote(pool.uri, registered_model=name, version=a.version, required_approvals=0)
    nominate(pool.uri, registered_model=name, version=c.version)
    before = _aliases(pool, name)
    assert before == {"champion": a.version, "previous_champion": b.version, "candidate": c.version}
    original = MlflowClient.set_registered_model_alias

    def fail_on_champion(self: MlflowClient, model: str, alias: str, version: str) -> None:
        if alias == "champion":
            raise ConnectionError("connection reset")
        original(self, model, alias, version)

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", fail_on_champion)
    with pytest.raises(RegistryError, match="could not promote the model version") as info:
        promote(pool.uri, registered_model=name, version=c.version, required_approvals=0)
    assert info.value.exit_code == 3
    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", original)
    assert _aliases(pool, name) == before


def test_a_failing_version_written_as_champion_behind_our_back_is_repaired(
    pool: Pool, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    good, bad = _register(pool, name, ["pass", "fail"])
    original = MlflowClient.set_registered_model_alias
    raced: list[bool] = []

    def racing_writer(self: MlflowClient, model: str, alias: str, version: str) -> None:
        original(self, model, alias, version)
        if alias == "champion" and not raced:  # another tool moves the alias right after ours, unchecked
            raced.append(True)
            original(self, model, "champion", str(bad.version))

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", racing_writer)
    result = promote(pool.uri, registered_model=name, version=good.version, required_approvals=0)
    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", original)
    assert raced and result.champion == good.version
    assert result.repairs == (
        f"moved alias champion from version {bad.version}, which fails verification, to version {good.version}",
    )
    assert _aliases(pool, name) == {"champion": good.version}

    # set by hand (no previous_champion recorded), then refused: the refusal takes the alias away from it
    _client(pool).set_registered_model_alias(name, "champion", str(bad.version))
    with pytest.raises(GateFailure, match="it was champion: removed alias champion from version"):
        promote(pool.uri, registered_model=name, version=bad.version, required_approvals=0)
    assert _aliases(pool, name) == {}


def test_a_held_lease_is_waited_for_and_an_expired_one_is_taken_over(pool: Pool, name: str) -> None:
    (record,) = _register(pool, name, ["pass"])
    client = _client(pool)
    client.set_registered_model_tag(name, LEASE_TAG, f"other-token {time.time() + 60:.3f} promote version 9")
    with pytest.raises(RegistryError, match=r"another process holds the promotion lease .*promote version 9") as info:
        promote(pool.uri, registered_model=name, version=record.version, required_approvals=0, lease_wait=0.5)
    assert info.value.exit_code == 3
    assert _aliases(pool, name) == {}
    client.set_registered_model_tag(name, LEASE_TAG, f"crashed-token {time.time() - 1:.3f} promote version 9")
    assert promote(pool.uri, registered_model=name, version=record.version, required_approvals=0).changed
    assert LEASE_TAG not in client.get_registered_model(name).tags


# ---------------------------------------------------------------- promoting the best candidate of a run


def test_promote_best_makes_champion_without_required_approvals_and_candidate_with_them(pool: Pool, name: str) -> None:
    records = _register(pool, name, ["pass", "pass", "fail"])
    scored = [Contender(r, m) for r, m in zip(records, [0.74, 0.77, 0.90], strict=True)]
    assert promote_best(pool.uri, registered_model=name, candidates=scored[2:], required_approvals=0) is None
    assert _aliases(pool, name) == {}
    result = promote_best(pool.uri, registered_model=name, candidates=scored, required_approvals=1)
    assert result is not None and result.alias == "candidate" and result.version == records[1].version
    assert _aliases(pool, name) == {"candidate": records[1].version}
    _review(pool, name, records[1].version, "approve", "Ana")
    promote(pool.uri, registered_model=name, version=records[1].version, required_approvals=1)
    assert _aliases(pool, name) == {"champion": records[1].version}  # no longer a candidate

    other = f"{name}-open"
    fresh = _register(pool, other, ["pass", "pass"])
    result = promote_best(
        pool.uri,
        registered_model=other,
        candidates=[Contender(fresh[0], 0.8, undecided=("a rule (inconclusive)",)), Contender(fresh[1], 0.7)],
        required_approvals=0,
    )
    # the lower metric wins: it passed with every rule decided
    assert result is not None and result.alias == "champion" and result.champion == fresh[1].version


# ---------------------------------------------------------------- the commands


def _config(pool: Pool, name: str, tmp_path: Path, **mlflow: Any) -> Path:
    raw = copy.deepcopy(pool.raw)
    raw["mlflow"] |= {"registered_model": name, **mlflow}
    raw["policy"] = {"required_approvals": 1}  # inline: the demo's policy file has none
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_review_and_promote_commands_exit_with_the_documented_codes(pool: Pool, name: str, tmp_path: Path) -> None:
    passing, failing, tampered = _register(pool, name, ["pass", "fail", "pass"])
    _tamper_file(pool, tampered)
    config = str(_config(pool, name, tmp_path))
    runner = CliRunner()

    def run(*args: str | int) -> Any:
        result = runner.invoke(app, [*map(str, args), "--config", config])
        assert "Traceback" not in result.output
        return result

    result = run("promote", "--model-version", passing.version)
    assert result.exit_code == 1 and "0 approval(s) of the 1 the policy requires" in result.stderr
    assert (
        run(
            "review", "--model-version", passing.version, "--approve", "--reject", "--reviewer", "A", "--note", "n"
        ).exit_code
        == 2
    )
    result = run(
        "review", "--model-version", passing.version, "--approve", "--reviewer", "Ana", "--note", "call +1 415 555 0101"
    )
    assert result.exit_code == 4 and "555" not in result.output
    result = run(
        "review", "--model-version", passing.version, "--approve", "--reviewer", "Ana Ruiz", "--note", "Within policy."
    )
    assert result.exit_code == 0, result.output
    assert f"recorded an approval of {name} version {passing.version} by Ana Ruiz" in result.stdout
    assert "approvals: 1 of 1 required (Ana Ruiz)" in result.stdout
    result = run("promote", "--model-version", passing.version)
    assert result.exit_code == 0, result.output
    assert f"{name} version {passing.version} is now champion (previous_champion: none)" in result.stdout
    assert run("promote", "--model-version", failing.version).exit_code == 1
    assert run("promote", "--model-version", tampered.version).exit_code == 4
    assert run("promote", "--model-version", 99).exit_code == 2
    assert _aliases(pool, name) == {"champion": passing.version}

    unreachable = str(
        _config(pool, name, tmp_path, tracking_uri="http://127.0.0.1:9", max_retries=0, timeout_seconds=1)
    )
    result = runner.invoke(app, ["promote", "--model-version", "1", "--config", unreachable])
    assert result.exit_code == 3 and "did not answer" in result.stderr


# ---------------------------------------------------------------- races between processes

WORKER = r"""
import json, sys, time
from pathlib import Path
from governance.errors import GovernanceError
from governance.registry import promote
uri, name, versions, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ready, go = Path(sys.argv[5]), Path(sys.argv[6])
ready.touch()
while not go.exists():
    time.sleep(0.01)
for _ in range(rounds):
    for version in map(int, versions.split(",")):
        try:
            result = promote(uri, registered_model=name, version=version, required_approvals=0)
            print(json.dumps({"version": version, "exit": 0, "champion": result.champion}), flush=True)
        except GovernanceError as exc:
            print(json.dumps({"version": version, "exit": exc.exit_code, "error": str(exc)[:300]}), flush=True)
"""

POLLER = r"""
import json, sys, time
from pathlib import Path
from mlflow.tracking import MlflowClient
uri, name, stop, ready = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
client = MlflowClient(tracking_uri=uri, registry_uri=uri)
seen, polls, errors = set(), 0, 0
ready.touch()
while not stop.exists():
    try:
        champion = client.get_registered_model(name).aliases.get("champion")
        seen.add(None if champion is None else int(champion))
        polls += 1
    except Exception:
        errors += 1
    time.sleep(0.01)
print(json.dumps({"seen": sorted(seen, key=str), "polls": polls, "errors": errors}))
"""


REVIEWER = r"""
import json, sys, time
from pathlib import Path
from governance.registry import record_review
uri, name, version, who, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
ready, go = Path(sys.argv[6]), Path(sys.argv[7])
ready.touch()
while not go.exists():
    time.sleep(0.01)
for i in range(count):
    outcome = record_review(uri, registered_model=name, version=version, decision="approve", reviewer=who, note=f"check {i}")
    print(json.dumps({"reviews": outcome.review.note}), flush=True)
"""


def _spawn(script: str, *args: object) -> subprocess.Popen[str]:
    command = [sys.executable, "-c", script, *map(str, args)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@contextmanager
def _processes(folder: Path, *specs: tuple[str, tuple[object, ...]]) -> Iterator[list[subprocess.Popen[str]]]:
    """Start processes that each touch a ready file, then wait on a common go file; kill leftovers at the end."""
    go = folder / "go"
    readies = [folder / f"ready-{i}" for i in range(len(specs))]
    processes = [_spawn(script, *args, ready, go) for (script, args), ready in zip(specs, readies, strict=True)]
    try:
        deadline = time.monotonic() + 120
        while not all(r.exists() for r in readies):
            for process in processes:
                assert process.poll() is None, process.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the processes did not start within 120 s"
            time.sleep(0.05)
        go.touch()
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)


@pytest.mark.slow
def test_racing_promotions_in_two_processes_never_leave_a_failing_champion(
    pool: Pool, name: str, tmp_path: Path
) -> None:
    a, c, failing, rejected, tampered = _register(pool, name, ["pass", "pass", "fail", "pass", "pass"])
    _review(pool, name, rejected.version, "reject", "Ben", note="Not before the proxy review.")
    _tamper_file(pool, tampered)
    promote(pool.uri, registered_model=name, version=a.version, required_approvals=0)
    passing = {a.version, c.version}
    stop = tmp_path / "stop"
    with _processes(
        tmp_path,
        (POLLER, (pool.uri, name, stop)),
        (WORKER, (pool.uri, name, f"{a.version},{failing.version},{tampered.version}", 5)),
        (WORKER, (pool.uri, name, f"{c.version},{rejected.version}", 7)),
    ) as (poller, *workers):
        outputs = [worker.communicate(timeout=300) for worker in workers]
        stop.touch()
        polled, poll_errors = poller.communicate(timeout=60)
    for worker, (_, errors) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, errors[-3000:]
    assert poller.returncode == 0, poll_errors[-3000:]
    results = [json.loads(line) for out, _ in outputs for line in out.splitlines()]
    assert len(results) == 5 * 3 + 7 * 2
    exits: dict[int, set[int]] = {}
    for item in results:
        exits.setdefault(item["version"], set()).add(item["exit"])
    assert exits == {a.version: {0}, c.version: {0}, failing.version: {1}, rejected.version: {1}, tampered.version: {4}}
    assert all(item["champion"] in passing for item in results if item["exit"] == 0)
    seen = json.loads(polled)
    assert seen["polls"] >= 20 and set(seen["seen"]) <= passing, seen
    final = _aliases(pool, name)
    assert final["champion"] in passing and final["previous_champion"] in passing, final
    assert not promote(pool.uri, registered_model=name, version=final["champion"], required_approvals=0).changed


@pytest.mark.slow
def test_concurrent_reviews_in_two_processes_are_all_kept(pool: Pool, name: str, tmp_path: Path) -> None:
    (record,) = _register(pool, name, ["pass"])
    with _processes(
        tmp_path,
        (REVIEWER, (pool.uri, name, record.version, "Ana", 3)),
        (REVIEWER, (pool.uri, name, record.version, "Ben", 3)),
    ) as reviewers:
        outputs = [reviewer.communicate(timeout=300) for reviewer in reviewers]
    for reviewer, (_, errors) in zip(reviewers, outputs, strict=True):
        assert reviewer.returncode == 0, errors[-3000:]
    _, card = _stored_card(pool, record)
    assert sorted((r["reviewer"], r["note"]) for r in card["reviews"]) == [
        (who, f"check {i}") for who in ("Ana", "Ben") for i in range(3)
    ]
    tags = _client(pool).get_model_version(name, str(record.version)).tags
    assert (tags["review.count"], tags["review.approvals"]) == ("6", "2")
