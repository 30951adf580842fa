"""A hostile tester's erasures: a ledger deleted or rolled back, a champion that keeps an erased account.

The ledger's head is anchored in the MLflow experiment and on every card, so a ledger that
no longer holds it (deleted, restored from an older copy, dropped from the config) is refused
with exit 4 by every command that reads it. An erasure marks the versions that learned from the
account; past the grace period they are refused wherever they would be used or promoted,
until a retrained version replaces them. An erased account's access request makes no report,
and feedback about an account never reaches MLflow, whose cards outlive any erasure.
Real runs, a real SQLite MLflow store, the command line in a subprocess where it is tested.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from governance.config import load_config, tracking_uri
from governance.data import prepare
from governance.datasets import generate_accounts
from governance.errors import PrivacyError
from governance.ledger import read_state, stamp
from governance.pipeline import export_folder, run
from governance.privacy import pseudonymize
from governance.registry import verified_card
from governance.registry.anchor import ENTRIES_TAG, HEAD_TAG
from governance.subjects import access, add_feedback, erase
from tests.conftest import ROOT, TEST_KEY

LEDGER_FILES = ("ledger.jsonl", "ledger.jsonl.vault.json", "ledger.jsonl.head.json")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the command line in its own process, as a CI job does."""
    env = {**os.environ, "GOVERNANCE_PSEUDONYM_KEY": TEST_KEY, "PYTHONPATH": str(ROOT), "COLUMNS": "250"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run(
        [sys.executable, "-m", "governance", *args], capture_output=True, text=True, env=env, timeout=600
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, default_raw: dict[str, Any]) -> dict[str, Any]:
    """Accounts and a small config: one plain candidate, cheap explanations, a store of its own."""
    folder = tmp_path_factory.mktemp("erasure")
    frame = generate_accounts(6000, seed=21, bias=0.0)
    frame.to_parquet(folder / "accounts.parquet", index=False)
    policy = yaml.safe_load(Path(default_raw["policy"]["file"]).read_text())
    policy["rules"] = [r for r in policy["rules"] if r["name"] == "overall AUC"]
    policy["required_approvals"] = 0
    (folder / "policy.yaml").write_text(yaml.safe_dump(policy, sort_keys=False))
    raw = copy.deepcopy(default_raw)
    raw["data"]["path"] = str(folder / "accounts.parquet")
    raw["data"].pop("generate", None)
    raw["policy"] = {"file": str(folder / "policy.yaml")}
    raw["mlflow"]["embedded_store"] = str(folder / "mlruns")
    raw["candidates"] = [c for c in raw["candidates"] if c["name"] == "baseline_logreg"]
    raw["audit"]["bootstrap"] = 50
    raw["explain"].update({"background_size": 30, "sample_per_group": 60, "bootstrap": 30})
    raw["explain"].update({"proxy_rows": 3000, "minimization_rows": 2000})
    return {"folder": folder, "raw": raw, "frame": frame}


def _config(world: dict[str, Any], tmp_path: Path, **changes: Any) -> Path:
    """A config with its own ledger, experiment, registered model and reports in ``tmp_path``."""
    raw = copy.deepcopy(world["raw"])
    raw["subjects"] = {"ledger": str(tmp_path / "ledger.jsonl")}
    raw["mlflow"].update({"experiment": f"x-{tmp_path.name}", "registered_model": f"m-{tmp_path.name}"})
    raw["output"] = {"reports": str(tmp_path / "reports"), "models": str(tmp_path / "models")}
    for key, value in changes.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _consented_ids(frame: pd.DataFrame) -> list[str]:
    ok = (
        frame["consent_marketing"].astype(bool) & (frame["lawful_basis"] != "none") & frame["consent_timestamp"].notna()
    )
    return [str(a) for a in frame.loc[ok, "account_id"]]


def _runs(config_path: Path) -> int:
    config = load_config(config_path)
    client = MlflowClient(tracking_uri(config))
    experiment = client.get_experiment_by_name(config.mlflow.experiment)
    return 0 if experiment is None else len(client.search_runs([experiment.experiment_id]))


def _snapshot(tmp_path: Path, to: Path) -> None:
    to.mkdir()
    for name in LEDGER_FILES:
        shutil.copy2(tmp_path / name, to / name)


# ---------------------------------------------------------------- the ledger anchored outside its folder


def test_a_deleted_ledger_is_refused_by_every_command_that_reads_it(world: dict[str, Any], tmp_path: Path) -> None:
    config_path = _config(world, tmp_path)
    config = load_config(config_path)
    ids = _consented_ids(world["frame"])
    erase(config, ids[0], reason="erasure request")
    experiment = MlflowClient(tracking_uri(config)).get_experiment_by_name(config.mlflow.experiment)
    assert experiment is not None
    state = read_state(config.subjects.ledger, secret=TEST_KEY.encode())
    assert experiment.tags[HEAD_TAG] == state.entries[-1].hash and experiment.tags[ENTRIES_TAG] == "1"
    for name in LEDGER_FILES:
        (tmp_path / name).unlink()
    runs = _runs(config_path)

    verified = _cli("ledger", "verify", "--config", str(config_path))
    assert verified.returncode == 4, verified.stdout + verified.stderr
    assert "does not exist: it was deleted" in verified.stderr and "intact" not in verified.stdout
    for args in (
        ("run", "--config", str(config_path)),
        ("subject", "access", ids[1], "--config", str(config_path)),
        ("subject", "erase", ids[2], "--config", str(config_path), "--reason", "another request"),
    ):
        refused = _cli(*args)
        assert refused.returncode == 4, (args, refused.stdout + refused.stderr)
        assert "anchors the data-subject ledger" in refused.stderr
        assert "Traceback" not in refused.stderr
    # nothing was trained, and nothing was written about anybody
    assert _runs(config_path) == runs
    assert not (tmp_path / "ledger.jsonl").exists() and not (tmp_path / "reports" / "subjects").exists()


def test_a_ledger_restored_from_an_older_copy_is_refused(world: dict[str, Any], tmp_path: Path) -> None:
    config_path = _config(world, tmp_path)
    config = load_config(config_path)
    ids = _consented_ids(world["frame"])
    erase(config, ids[0], reason="first erasure")
    _snapshot(tmp_path, tmp_path / "backup")
    erase(config, ids[1], reason="second erasure")
    for name in LEDGER_FILES:  # an older, intact copy: it verifies alone
        shutil.copy2(tmp_path / "backup" / name, tmp_path / name)

    verified = _cli("ledger", "verify", "--config", str(config_path))
    assert verified.returncode == 4, verified.stdout + verified.stderr
    assert "holds 1 entries without that head: it was rolled back" in verified.stderr
    # the second erasure is not undone: the account is not used, because nothing is
    with pytest.raises(PrivacyError, match="anchors the data-subject ledger at 2 entries") as caught:
        _prepare_checked(config_path)
    assert caught.value.exit_code == 4


def _prepare_checked(config_path: Path) -> Any:
    """What a run does before it reads the data: the ledger's anchor, then the data."""
    from governance.registry.anchor import check_config_ledger

    config = load_config(config_path)
    check_config_ledger(config)
    return prepare(config)


def test_a_ledger_dropped_from_the_config_is_refused(world: dict[str, Any], tmp_path: Path) -> None:
    config_path = _config(world, tmp_path)
    erase(load_config(config_path), _consented_ids(world["frame"])[0], reason="erasure request")
    raw = yaml.safe_load(config_path.read_text())
    raw["subjects"]["ledger"] = None
    config_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    runs = _runs(config_path)
    refused = _cli("run", "--config", str(config_path))
    assert refused.returncode == 4, refused.stdout + refused.stderr
    assert "the config names no ledger" in refused.stderr
    assert _runs(config_path) == runs


def test_a_restored_ledger_that_holds_the_anchored_head_is_accepted(world: dict[str, Any], tmp_path: Path) -> None:
    config_path = _config(world, tmp_path)
    config = load_config(config_path)
    ids = _consented_ids(world["frame"])
    erase(config, ids[0], reason="first erasure")
    _snapshot(tmp_path, tmp_path / "backup")
    for name in LEDGER_FILES:
        (tmp_path / name).unlink()
    for name in LEDGER_FILES:  # the backup holds the anchored head: the restore is the fix the error names
        shutil.copy2(tmp_path / "backup" / name, tmp_path / name)
    verified = _cli("ledger", "verify", "--config", str(config_path))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "ledger intact: 1 entries" in verified.stdout


# ---------------------------------------------------------------- erasure reaches the models trained with it


def _side(config_path: Path, ids: list[str], code: int) -> list[str]:
    """Identifiers of consented accounts in one side of the split (0 train, 2 test)."""
    dataset = prepare(load_config(config_path))
    wanted = set(dataset.pseudonyms[dataset.split == code])
    return [i for i, p in zip(ids, pseudonymize(ids, TEST_KEY.encode()), strict=True) if p in wanted]


@pytest.mark.slow
def test_an_erasure_expires_the_champion_trained_with_the_account_until_a_retrained_one_replaces_it(
    world: dict[str, Any], tmp_path: Path
) -> None:
    config_path = _config(world, tmp_path, subjects={"erasure_grace_days": 30})
    config = load_config(config_path)
    first = run(config)
    assert first.alias == "champion", first.cards
    version = first.champion_version
    assert version is not None
    ids = _consented_ids(world["frame"])
    trained, tested = _side(config_path, ids, 0), _side(config_path, ids, 2)
    uri, name = tracking_uri(config), config.mlflow.registered_model
    client = MlflowClient(uri, registry_uri=uri)

    # an account only audited on (test split): the model carries nothing of it, nothing expires
    audited = erase(config, tested[0], reason="erasure of an audited account")
    assert audited.expiring == {}
    assert "erasure.expires_at" not in client.get_model_version(name, str(version)).tags
    # an account it learned from, erased under a config with no grace period: the version expires at once
    no_grace = config.model_copy(update={"subjects": config.subjects.model_copy(update={"erasure_grace_days": 0})})
    learned = erase(no_grace, trained[0], reason="erasure of a trained account")
    assert set(learned.expiring) == {version}
    deadline = client.get_model_version(name, str(version)).tags["erasure.expires_at"]
    assert deadline == learned.expiring[version] and deadline <= stamp(datetime.now(UTC))
    # a later erasure with the 30-day grace keeps the earliest deadline
    later = erase(config, trained[1], reason="a later erasure")
    assert later.expiring == {version: deadline}

    # refused wherever it would be used or promoted; a data subject still gets an access report
    other = trained[2]
    explained = _cli("explain", "--account", other, "--config", str(config_path))
    assert explained.returncode == 4, explained.stdout + explained.stderr
    assert "grace period ended" in explained.stderr and other not in explained.stderr
    report = access(config, other).to_dict()
    assert report["score"] is None and "may no longer be used" in report["score_note"]
    promoted = _cli("promote", "--model-version", str(version), "--config", str(config_path))
    assert promoted.returncode == 1 and "grace period ended" in promoted.stderr, promoted.stderr
    # the promotion path re-verifies the champion, finds it expired, and takes its alias away
    assert "champion" not in client.get_registered_model(name).aliases

    # retrained without the erased accounts: a new version replaces it and is used again
    second = run(config)
    assert second.alias == "champion" and second.champion_version not in (None, version)
    card = json.loads(Path(second.cards[0].card_json).read_text())
    state = read_state(config.subjects.ledger, secret=TEST_KEY.encode())
    erasures = [e for e in state.entries if e.kind == "erase"]
    assert card["data"]["excluded"]["erased"] == len(erasures) == 3
    assert card["data"]["ledger"]["head"] == state.entries[-1].hash
    assert card["data"]["ledger"]["entries"] == len(state.entries)
    assert "erasure.expires_at" not in client.get_model_version(name, str(second.champion_version)).tags
    explained = _cli("explain", "--account", other, "--config", str(config_path))
    assert explained.returncode == 0, explained.stdout + explained.stderr

    # feedback about an account: its text never reaches MLflow, and leaves the local card on erasure
    text = "The ranking of this account ignores its recent expansion into a second market entirely."
    add_feedback(config, model_version=int(second.champion_version or 0), text=text, account_id=trained[3])
    local = config.output.reports / "cards" / "baseline_logreg"
    assert text in (local / "card.html").read_text() and text in (local / "card.json").read_text()
    store = world["folder"] / "mlruns"
    assert store.exists()
    assert not [p for p in store.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]
    card_now = verified_card(uri, registered_model=name, version=int(second.champion_version or 0)).card
    assert [i["text"] for i in card_now["feedback"]["items"]] == [None]
    # the exported champion (what a deployment picks up) follows its card, without the text
    exported = json.loads((export_folder(config) / "card.json").read_text())
    assert exported["feedback"]["items"] == card_now["feedback"]["items"]
    erased = erase(config, trained[3], reason="erasure after feedback")
    assert erased.feedback_updated == (second.champion_version,)
    assert text not in (local / "card.html").read_text() and text not in (local / "card.json").read_text()
    assert text not in Path(str(config.subjects.ledger) + ".vault.json").read_text()
    # nothing of that account's was ever written where erasure cannot reach: the store's files, run by run
    assert not [p for p in store.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]
    html = (local / "card.html").read_text()
    assert not [a for a in trained[:4] if a in html]
