"""A hostile tester's edits: a card edited to pass, a model that runs code, an alias moved by hand, a run deleted.

The gate recomputes a card's derived numbers from its own per-group table; promotion verifies
the model's types, its lineage and that its run is kept; an alias is used only on a version
governance could have given it. Real audits, a real SQLite MLflow store in a temporary
folder, and the command line in a subprocess where it is what is tested.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from governance._files import canonical_json
from governance.audit import AuditReport, audit
from governance.config import validate_config
from governance.errors import GateFailure, PrivacyError
from governance.gate import CARD_SCHEMA, InconsistentCardError, evaluate
from governance.pipeline import CandidateOutcome, train
from governance.policy import validate_policy
from governance.registry import ModelVersionRecord, promote, register_candidate
from governance.registry.runs import tree_sha256
from governance.train import MODEL_TYPES
from tests.conftest import ROOT, TEST_KEY
from tests.registry.test_promotion import _card

TODAY = date(2026, 1, 15)
FOUR_FIFTHS = {
    "name": "four-fifths rule",
    "metric": "selection_rate",
    "scope": "disparity",
    "attribute": "ownership",
    "statistic": "ratio",
    "bound": 0.8,
    "side": "min",
}


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the command line in its own process, as a CI job does."""
    env = {**os.environ, "GOVERNANCE_PSEUDONYM_KEY": TEST_KEY, "PYTHONPATH": str(ROOT), "COLUMNS": "250"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run(
        [sys.executable, "-m", "governance", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600
    )


# ---------------------------------------------------------------- a card edited to pass


@pytest.fixture(scope="module")
def biased() -> AuditReport:
    """Group b's scores pushed down: selection ratio about 0.29, far below the four-fifths bound."""
    rng = np.random.default_rng(1)
    groups = np.repeat(["a", "b"], 3000)
    y = (rng.random(6000) < 0.3).astype(int)
    scores = 1 / (1 + np.exp(-(2 * y - 1 + rng.normal(0, 1, 6000) + np.where(groups == "b", -1.5, 0.0))))
    return audit(y, scores, sensitive={"ownership": groups}, top_k=0.3, n_boot=100, reference={"ownership": "a"})


def _failing_card(report: AuditReport) -> dict[str, Any]:
    card: dict[str, Any] = {
        "schema": CARD_SCHEMA,
        "model": {"name": "account-scoring", "candidate": "c", "version": "3", "valid_until": "2026-03-01"},
        "fairness": report.to_dict(),
        "policy": {"rules": [FOUR_FIFTHS]},
    }
    loaded: dict[str, Any] = json.loads(json.dumps(card, allow_nan=False))
    return loaded


def _edit_five_numbers(card: dict[str, Any]) -> dict[str, Any]:
    """Make group b look selected as often as group a: its rate and events, and the three ratios printed from them."""
    edited = copy.deepcopy(card)
    fairness = edited["fairness"]
    a, b = (g for g in fairness["groups"] if g["attribute"] == "ownership")
    a_rate, b_rate = a["metrics"]["selection_rate"], b["metrics"]["selection_rate"]
    b_rate["events"][0] = a_rate["events"][0]  # 1
    b_rate["value"] = a_rate["value"]  # 2
    (disparity,) = [d for d in fairness["disparities"] if d["metric"] == "selection_rate"]
    disparity["ratio"]["value"] = 0.97  # 3
    disparity["reference"]["ratio"]["value"] = 0.97  # 4
    (named,) = [f for f in fairness["fairness"] if f["metric"] == "demographic_parity_ratio"]
    named["value"] = 0.97  # 5
    return edited


def test_five_edited_fairness_numbers_are_refused_and_an_untouched_card_gates_as_before(
    biased: AuditReport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    card = _failing_card(biased)
    policy = validate_policy(card["policy"])
    edited = _edit_five_numbers(card)
    assert evaluate(card, policy, today=TODAY).verdict == "fail"
    with monkeypatch.context() as unchecked:  # the attack, shown: judged on its numbers alone, the edit passes
        unchecked.setattr("governance.gate.check_consistency", lambda *_: None)
        assert evaluate(edited, policy, today=TODAY).verdict == "pass"
    with pytest.raises(InconsistentCardError) as info:
        evaluate(edited, policy, today=TODAY)
    assert info.value.exit_code == 4
    wheres = {p.location for p in info.value.problems}
    assert any(w.endswith("metrics.selection_rate.events[0]") for w in wheres)
    assert any(w.endswith("ratio.value") and w.startswith("fairness.disparities[") for w in wheres)

    untouched, forged = tmp_path / "card.json", tmp_path / "edited.json"
    untouched.write_text(json.dumps(card))
    forged.write_text(json.dumps(edited))
    before = _cli("gate", "--card", str(untouched), "--today", "2026-01-15")
    assert before.returncode == 1, before.stdout + before.stderr  # fails, as it always did
    assert "gate fail" in before.stdout
    after = _cli("gate", "--card", str(forged), "--today", "2026-01-15")
    assert after.returncode == 4, after.stdout + after.stderr
    assert "Traceback" not in after.stderr and "gate pass" not in after.stdout
    # names the field, the number found and the number recomputed from the card's own table
    b_index = next(
        i for i, g in enumerate(card["fairness"]["groups"]) if g["attribute"] == "ownership" and g["group"] == "b"
    )
    (b,) = [g for g in card["fairness"]["groups"] if g["attribute"] == "ownership" and g["group"] == "b"]
    true_selected = b["metrics"]["true_positive_rate"]["events"][0] + b["metrics"]["false_positive_rate"]["events"][0]
    text = " ".join(after.stderr.split())
    assert f"fairness.groups[{b_index}].metrics.selection_rate.events[0]" in text
    assert f"but true + false positives gives {true_selected}" in text


def test_a_derived_number_edited_alone_names_the_field_and_both_values(biased: AuditReport) -> None:
    card = _failing_card(biased)
    edited = copy.deepcopy(card)
    (named,) = [f for f in edited["fairness"]["fairness"] if f["metric"] == "demographic_parity_ratio"]
    true_value = named["value"]
    named["value"] = 0.97
    with pytest.raises(InconsistentCardError) as info:
        evaluate(edited, validate_policy(card["policy"]), today=TODAY)
    index = edited["fairness"]["fairness"].index(named)
    value, interval = info.value.problems  # its value, and its interval that no longer holds it
    assert value.location == f"fairness.fairness[{index}].value"
    assert "found 0.97" in value.message and f"gives {true_value:.10g}" in value.message
    assert interval.location == f"fairness.fairness[{index}].ci" and "does not hold its value 0.97" in interval.message


def test_an_interval_that_does_not_hold_its_value_is_refused(biased: AuditReport) -> None:
    card = _failing_card(biased)
    group = card["fairness"]["groups"][0]["metrics"]["auc"]
    group["ci"] = [group["value"] + 0.01, 1.2]
    with pytest.raises(InconsistentCardError, match=r"(?s)does not hold its value.*leaves the metric's range"):
        evaluate(card, validate_policy(card["policy"]), today=TODAY)


# ---------------------------------------------------------------- registered versions


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, accounts: pd.DataFrame, default_raw: dict[str, Any]) -> Any:
    """Finished candidate runs (four logistic regressions) in one SQLite store."""
    folder = tmp_path_factory.mktemp("hostile-verify")
    accounts.to_parquet(folder / "accounts.parquet", index=False)
    raw = copy.deepcopy(default_raw)
    raw["data"]["path"] = str(folder / "accounts.parquet")
    raw["data"].pop("generate", None)
    raw["mlflow"]["tracking_uri"] = f"sqlite:///{folder / 'mlflow.db'}"
    raw["output"] = {"reports": str(folder / "reports"), "models": str(folder / "models")}
    raw["subjects"] = {"ledger": str(folder / "ledger.jsonl")}
    raw["explain"] = {**raw.get("explain", {}), "background_size": 30}
    (base,) = [c for c in raw["candidates"] if c["name"] == "baseline_logreg"]
    raw["candidates"] = [
        {**copy.deepcopy(base), "name": f"logreg_{i}", "params": {**base["params"], "C": 0.1 + i / 10}}
        for i in range(5)
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GOVERNANCE_PSEUDONYM_KEY", TEST_KEY)
        outcome = train(validate_config(raw))
    return {"uri": raw["mlflow"]["tracking_uri"], "raw": raw, "folder": folder, "outcomes": list(outcome.candidates)}


def _take(store: Any) -> CandidateOutcome:
    taken: CandidateOutcome = store["outcomes"].pop()
    return taken


def _register(store: Any, name: str, verdict: str) -> ModelVersionRecord:
    outcome = _take(store)
    return register_candidate(store["uri"], registered_model=name, run_id=outcome.run_id, card=_card(outcome, verdict))


def _client(store: Any) -> MlflowClient:
    return MlflowClient(tracking_uri=store["uri"], registry_uri=store["uri"])


def _aliases(store: Any, name: str) -> dict[str, int]:
    return {alias: int(v) for alias, v in _client(store).get_registered_model(name).aliases.items()}


def _plant_os_system(store: Any, record: ModelVersionRecord) -> None:
    """As an attacker with write access would: a model that holds os.system, every checksum recomputed to match."""
    import skops.io  # type: ignore[import-untyped]

    client = _client(store)
    folder = Path(urlsplit(client.get_logged_model(record.model_id).artifact_location).path)
    (file,) = folder.rglob("model.skops")
    model = skops.io.load(file, trusted=list(MODEL_TYPES))
    model.hook = os.system  # called by nobody yet: loading it is the attack surface
    skops.io.dump(model, file)
    assert "posix.system" in skops.io.get_untrusted_types(file=file) or "nt.system" in skops.io.get_untrusted_types(
        file=file
    )
    digest = tree_sha256(folder)
    name, version = record.registered_model, str(record.version)
    client.set_tag(record.run_id, "model.sha256", digest)
    client.set_model_version_tag(name, version, "model.sha256", digest)
    artifacts = Path(urlsplit(client.get_run(record.run_id).info.artifact_uri).path)
    old = client.get_model_version(name, version).tags["card.sha256"]
    card = json.loads((artifacts / "card" / f"{old}.json").read_bytes())
    card["lineage"]["model_sha256"] = digest
    data = canonical_json(card)
    sha = hashlib.sha256(data).hexdigest()
    (artifacts / "card" / f"{sha}.json").write_bytes(data)
    client.set_tag(record.run_id, "card.sha256", sha)
    client.set_model_version_tag(name, version, "card.sha256", sha)


def test_a_model_wrapping_os_system_with_every_checksum_recomputed_is_never_promoted(store: Any) -> None:
    name = f"scoring-{uuid.uuid4().hex[:10]}"
    champion = _register(store, name, "pass")
    promote(store["uri"], registered_model=name, version=champion.version, required_approvals=0)
    hostile = _register(store, name, "pass")
    _plant_os_system(store, hostile)
    with pytest.raises(PrivacyError, match=r"types the loading path does not trust \((posix|nt)\.system\)") as info:
        promote(store["uri"], registered_model=name, version=hostile.version, required_approvals=0)
    assert info.value.exit_code == 4
    assert _aliases(store, name) == {"champion": champion.version}  # no alias moved


def test_a_version_whose_run_was_deleted_is_never_promoted(store: Any) -> None:
    name = f"scoring-{uuid.uuid4().hex[:10]}"
    record = _register(store, name, "pass")
    _client(store).delete_run(record.run_id)
    with pytest.raises(PrivacyError, match="was deleted") as info:
        promote(store["uri"], registered_model=name, version=record.version, required_approvals=0)
    assert info.value.exit_code == 4
    assert _aliases(store, name) == {}
    _client(store).restore_run(record.run_id)  # restored, it is evidence again
    outcome = promote(store["uri"], registered_model=name, version=record.version, required_approvals=0)
    assert outcome.champion == record.version


def test_a_card_whose_lineage_names_another_model_is_never_promoted(store: Any) -> None:
    name = f"scoring-{uuid.uuid4().hex[:10]}"
    outcome = _take(store)
    card = _card(outcome, "pass")
    card["lineage"]["model_sha256"] = "f" * 64
    record = register_candidate(store["uri"], registered_model=name, run_id=outcome.run_id, card=card)
    with pytest.raises(PrivacyError, match=r"lineage\.model_sha256"):
        promote(store["uri"], registered_model=name, version=record.version, required_approvals=0)
    assert _aliases(store, name) == {}


def test_an_alias_moved_by_hand_onto_a_failing_version_is_refused_by_explain_and_subject_access(
    store: Any, accounts: pd.DataFrame, tmp_path: Path
) -> None:
    name = f"scoring-{uuid.uuid4().hex[:10]}"
    failing = _register(store, name, "fail")
    with pytest.raises(GateFailure):  # governance never gives it the alias
        promote(store["uri"], registered_model=name, version=failing.version, required_approvals=0)
    _client(store).set_registered_model_alias(name, "champion", str(failing.version))  # by hand

    raw = copy.deepcopy(store["raw"])
    raw["mlflow"]["registered_model"] = name
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    consented = accounts[accounts["consent_marketing"].astype(bool) & (accounts["lawful_basis"] != "none")]
    account = str(consented[consented["consent_timestamp"].notna()]["account_id"].iloc[0])
    expected = (
        f"champion alias points at version {failing.version} whose gate verdict is fail; moved outside governance?"
    )
    for args in (("explain", "--account", account), ("subject", "access", account)):
        result = _cli(*args, "--config", str(config), cwd=tmp_path)
        assert result.returncode == 4, result.stdout + result.stderr
        assert expected in " ".join(result.stderr.split()), result.stderr
        assert account not in result.stdout + result.stderr
    assert not list((store["folder"] / "reports").rglob("explanation-*.json"))  # nothing was written from it


def test_a_narrowed_standard_error_is_refused_by_the_interval_it_no_longer_gives(biased: AuditReport) -> None:
    card = _failing_card(biased)
    auc = card["fairness"]["overall"]["auc"]
    auc["se"] = auc["se"] / 10  # a narrower interval decides what the data could not
    with pytest.raises(InconsistentCardError, match=r"fairness\.overall\.auc\.ci\[0\]: found .* delong-logit evidence"):
        evaluate(card, validate_policy(card["policy"]), today=TODAY)
