"""Monitoring: the population stability index, and the champion re-audited on new batches against a real store.

The PSI tests compare :func:`population_stability_index` with the documented formula written out in
plain numpy. The integration tests run the real pipeline once per module (two plain logistic
regressions on 200,000 unbiased accounts, into an embedded SQLite MLflow store) so that both pass
the gate, one is ``champion`` and the other ``previous_champion``; then they re-audit the champion
on a batch from the same distribution and on a batch where one ownership group's engagement
signals collapsed.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from governance.cli import app
from governance.config import GovernanceConfig, load_config, tracking_uri
from governance.datasets import generate_accounts
from governance.errors import GateFailure
from governance.gate import card_policy, evaluate, read_card
from governance.monitor import MonitorOutcome, monitor, population_stability_index
from governance.registry import DEMOTED_TAG, promote, verified_card
from tests.conftest import TEST_KEY

runner = CliRunner()

# ---------------------------------------------------------------- the population stability index


def _expected_psi(reference: np.ndarray, new: np.ndarray, bins: int = 10) -> float:
    """The module docstring's PSI, written out: reference deciles as edges (ties merged), missing values
    a bin of their own, bins neither sample uses dropped, half an account added to every bin."""
    ref_finite = reference[np.isfinite(reference)]
    edges = np.unique(np.quantile(ref_finite, np.arange(1, bins) / bins))
    lows = np.concatenate([[-np.inf], edges])
    highs = np.concatenate([edges, [np.inf]])

    def counts(values: np.ndarray) -> np.ndarray:
        finite = values[np.isfinite(values)]
        per_bin = [np.sum((finite >= lo) & (finite < hi)) for lo, hi in zip(lows, highs, strict=True)]
        return np.array([np.sum(~np.isfinite(values)), *per_bin], dtype=np.float64)

    p, q = counts(reference), counts(new)
    used = (p + q) > 0
    p, q = p[used] + 0.5, q[used] + 0.5
    p, q = p / p.sum(), q / q.sum()
    return float(np.sum((q - p) * np.log(q / p)))


def test_identical_samples_have_a_psi_of_zero() -> None:
    values = np.random.default_rng(0).normal(size=2000)
    assert population_stability_index(values, values) == pytest.approx(0.0, abs=1e-12)
    assert population_stability_index(list(values), pd.Series(values)) == pytest.approx(0.0, abs=1e-12)
    labels = ["a", "b", "b", "c"] * 100
    assert population_stability_index(labels, labels, categorical=True) == pytest.approx(0.0, abs=1e-12)


def test_psi_equals_the_documented_formula_on_a_hand_computed_case() -> None:
    rng = np.random.default_rng(1)
    reference = rng.normal(size=1000)
    new = np.concatenate([rng.normal(0.3, 1.2, size=690), [np.nan] * 10])  # missing values only in the batch
    expected = _expected_psi(reference, new)
    assert expected > 0.05
    assert population_stability_index(reference, new) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_psi_merges_tied_deciles_and_drops_bins_neither_sample_uses() -> None:
    rng = np.random.default_rng(2)
    reference = rng.poisson(0.4, size=3000).astype(np.float64)  # mostly zeros: most deciles tie
    new = rng.poisson(0.9, size=2000).astype(np.float64)
    assert len(np.unique(np.quantile(reference, np.arange(1, 10) / 10))) < 9
    expected = _expected_psi(reference, new)
    assert population_stability_index(reference, new) == pytest.approx(expected, rel=1e-12)
    # with 4 bins the edges and so the value change: bins is honoured
    assert population_stability_index(reference, new, bins=4) == pytest.approx(_expected_psi(reference, new, 4))


def test_psi_of_a_tiny_hand_computed_case() -> None:
    # deciles of 1..10 are 1.9, 2.8, ..., 9.1: every value has a bin of its own (plus the missing bin, unused)
    reference = np.arange(1.0, 11.0)
    new = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 10.0, 10.0, 10.0, 10.0, 10.0])
    p = np.full(10, (1 + 0.5) / (10 + 5))
    q = np.array([5.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 5.5]) / 15
    expected = float(np.sum((q - p) * np.log(q / p)))
    assert population_stability_index(reference, new) == pytest.approx(expected, rel=1e-12)


def test_psi_grows_with_a_growing_mean_shift() -> None:
    rng = np.random.default_rng(3)
    reference = rng.normal(size=20_000)
    noise = rng.normal(size=20_000)
    values = [population_stability_index(reference, noise + shift) for shift in (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)]
    assert values == sorted(values) and len(set(values)) == len(values), values
    assert values[0] < 0.01
    assert values[3] > 0.1  # half a standard deviation: at least moderate
    assert values[4] > 0.25  # one standard deviation: significant


def test_categorical_psi_counts_an_unseen_category_in_a_bin_of_its_own() -> None:
    reference = ["a"] * 50 + ["b"] * 30 + ["c"] * 20
    new = ["a"] * 40 + ["b"] * 30 + ["c"] * 10 + ["d"] * 15 + ["e"] * 5
    # bins: unseen (d and e together), a, b, c; the missing bin is used by neither sample
    p = (np.array([0, 50, 30, 20]) + 0.5) / (100 + 2.0)
    q = (np.array([20, 40, 30, 10]) + 0.5) / (100 + 2.0)
    expected = float(np.sum((q - p) * np.log(q / p)))
    assert population_stability_index(reference, new, categorical=True) == pytest.approx(expected, rel=1e-12)
    # missing values are a bin of their own, apart from the unseen categories
    with_missing = [*new[:-5], None, None, None, None, None]
    p = (np.array([0, 0, 50, 30, 20]) + 0.5) / (100 + 2.5)
    q = (np.array([5, 15, 40, 30, 10]) + 0.5) / (100 + 2.5)
    expected = float(np.sum((q - p) * np.log(q / p)))
    assert population_stability_index(reference, with_missing, categorical=True) == pytest.approx(expected, rel=1e-12)


def test_psi_of_an_empty_sample_is_refused() -> None:
    with pytest.raises(ValueError, match="two non-empty samples, found 3 and 0"):
        population_stability_index([1, 2, 3], [])


_values = st.lists(
    st.one_of(st.floats(min_value=-1e6, max_value=1e6), st.integers(-5, 5).map(float), st.just(float("nan"))),
    min_size=1,
    max_size=200,
)


@settings(max_examples=200, deadline=None)
@given(reference=_values, new=_values)
def test_psi_is_never_negative_and_zero_for_a_sample_against_itself(reference: list[float], new: list[float]) -> None:
    psi = population_stability_index(reference, new)
    assert np.isfinite(psi) and psi >= -1e-12
    assert population_stability_index(reference, reference) == pytest.approx(0.0, abs=1e-12)
    assert population_stability_index(new, new) == pytest.approx(0.0, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(
    reference=st.lists(st.sampled_from(["a", "b", "c", None]), min_size=1, max_size=100),
    new=st.lists(st.sampled_from(["a", "b", "d", None]), min_size=1, max_size=100),
)
def test_categorical_psi_is_never_negative(reference: list[str | None], new: list[str | None]) -> None:
    assert population_stability_index(reference, new, categorical=True) >= -1e-12
    assert population_stability_index(new, new, categorical=True) == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------- a real champion, re-audited

ROWS = 200_000  # at 100,000 the four-fifths rule's interval still straddles 0.8 on unbiased data: inconclusive
BATCH_ROWS = 100_000
SHIFTED = ("web_visits_30d", "content_downloads_90d", "email_opens_90d", "email_clicks_90d", "intent_score")
GROUP = "minority_owned"
FOUR_FIFTHS = "four-fifths rule on selection rate by ownership"


@dataclass(frozen=True)
class Store:
    """The pipeline's output: a config, its store, two passing versions, and two batches."""

    config_path: Path
    config: GovernanceConfig
    uri: str
    name: str
    same: Path
    drifted: Path
    batch: pd.DataFrame

    def aliases(self) -> dict[str, int]:
        model = MlflowClient(self.uri).get_registered_model(self.name)
        return {alias: int(version) for alias, version in (model.aliases or {}).items()}

    def tags(self, version: int) -> dict[str, str]:
        return dict(MlflowClient(self.uri).get_model_version(self.name, str(version)).tags or {})


def _drifted(frame: pd.DataFrame) -> pd.DataFrame:
    """One ownership group's engagement and intent collapse to a tenth: the champion stops selecting it."""
    out = frame.copy()
    rows = out["ownership"] == GROUP
    for column in SHIFTED:
        out.loc[rows, column] = (out.loc[rows, column] * 0.1).round().astype(out[column].dtype)
    return out


@contextmanager
def _keyed() -> Iterator[None]:
    """The test key, for module-scoped fixtures (the autouse fixture that sets it is per test)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GOVERNANCE_PSEUDONYM_KEY", TEST_KEY)
        patch.delenv("GOVERNANCE_STRICT", raising=False)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        yield


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, default_raw: dict[str, Any]) -> Store:
    """`pipeline.run` on unbiased data with two plain candidates (about 20 s), then the second made champion."""
    from governance.pipeline import run

    folder = tmp_path_factory.mktemp("monitor")
    generate_accounts(ROWS, seed=11, bias=0.0).to_parquet(folder / "accounts.parquet", index=False)
    batch = generate_accounts(BATCH_ROWS, seed=12, bias=0.0)
    batch.to_parquet(folder / "same.parquet", index=False)
    _drifted(generate_accounts(BATCH_ROWS, seed=13, bias=0.0)).to_parquet(folder / "drifted.parquet", index=False)

    raw = copy.deepcopy(default_raw)
    raw["data"]["path"] = str(folder / "accounts.parquet")
    raw["data"].pop("generate", None)
    raw["mlflow"]["embedded_store"] = str(folder / "mlruns")
    raw["output"] = {"reports": str(folder / "reports"), "models": str(folder / "models")}
    raw["subjects"] = {"ledger": str(folder / "ledger.jsonl")}
    (base,) = [c for c in raw["candidates"] if c["name"] == "baseline_logreg"]
    raw["candidates"] = [
        base,
        {**copy.deepcopy(base), "name": "logreg_strong", "params": {"C": 0.01, "max_iter": 1000}},
    ]
    raw["audit"]["bootstrap"] = 100
    raw["explain"].update(sample_per_group=50, bootstrap=0, proxy_rows=2000, minimization_rows=1000, background_size=20)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))

    with _keyed():
        config = load_config(path)
        outcome = run(config)
        assert [c.verdict for c in outcome.cards] == ["pass", "pass"], [(c.name, c.verdict) for c in outcome.cards]
        assert outcome.alias == "champion" and outcome.champion_version is not None
        uri = tracking_uri(config)
        other = next(c.version for c in outcome.cards if c.version != outcome.champion_version)
        promoted = promote(uri, registered_model=config.mlflow.registered_model, version=other, required_approvals=0)
    assert promoted.previous_champion == outcome.champion_version
    return Store(
        config_path=path,
        config=config,
        uri=uri,
        name=config.mlflow.registered_model,
        same=folder / "same.parquet",
        drifted=folder / "drifted.parquet",
        batch=batch,
    )


# monitoring cards are dated before the module started, a second apart: their folders never collide
_EPOCH = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


@pytest.fixture(scope="module")
def passed(store: Store) -> tuple[MonitorOutcome, int, dict[str, int]]:
    """The champion re-audited on a batch from its own distribution: the outcome, the version, the aliases before."""
    champion = store.aliases()["champion"]
    before = store.aliases()
    with _keyed():
        return monitor(store.config, store.same, now=_EPOCH), champion, before


@pytest.fixture(scope="module")
def failed(store: Store) -> tuple[MonitorOutcome, int, dict[str, int]]:
    """The champion re-audited on the drifted batch, without --demote."""
    champion = store.aliases()["champion"]
    before = store.aliases()
    with _keyed():
        return monitor(store.config, store.drifted, now=_EPOCH + timedelta(seconds=1)), champion, before


def _drift(outcome: MonitorOutcome, feature: str, group: str | None = None) -> dict[str, Any]:
    drift = outcome.document["drift"]
    rows = drift["overall"] if group is None else [d for d in drift["groups"] if d["group"] == group]
    (found,) = [d for d in rows if d["feature"] == feature]
    return dict(found)


def _rule(outcome: MonitorOutcome, name: str) -> Any:
    (found,) = [r for r in outcome.gate.rules if r.name == name]
    return found


@pytest.mark.slow
def test_a_batch_from_the_same_distribution_passes_and_writes_a_monitoring_card(
    store: Store, passed: tuple[MonitorOutcome, int, dict[str, int]]
) -> None:
    import jsonschema

    from tests.test_card import _schema

    outcome, champion, before = passed
    assert outcome.verdict == "pass" and outcome.passed
    assert outcome.version == champion and outcome.demotion is None
    assert outcome.folder.parent == store.config.output.reports / "monitoring"
    assert outcome.folder.name == f"{_EPOCH.strftime('%Y%m%dT%H%M%SZ')}-v{champion}"
    assert sorted(p.name for p in outcome.folder.iterdir()) == ["card.html", "card.json", "monitoring.json"]
    card = read_card(outcome.folder / "card.json")
    jsonschema.validate(card, _schema())
    assert card["gate"]["verdict"] == "pass"
    assert card["model"]["valid_until"] == (_EPOCH.date() + timedelta(days=90)).isoformat()
    assert card["monitoring"]["schema"] == "governance.monitoring/1"
    assert card["monitoring"]["champion"]["version"] == champion
    assert card["monitoring"]["verdict"] == "pass" and card["monitoring"]["demotion"] is None
    assert card["data"]["rows_in"] == BATCH_ROWS
    assert json.loads((outcome.folder / "monitoring.json").read_text()) == card["monitoring"]
    assert (outcome.folder / "card.html").read_text().startswith("<!DOCTYPE html>")

    offline = evaluate(card, card_policy(card), today=_EPOCH.date())
    assert offline.verdict == outcome.verdict
    assert [(r.name, r.verdict) for r in offline.rules] == [(r.name, r.verdict) for r in outcome.gate.rules]

    rules = {r["name"]: r for r in outcome.document["comparison"]["rules"]}
    assert rules[FOUR_FIFTHS]["card_verdict"] == "pass" and rules[FOUR_FIFTHS]["new_verdict"] == "pass"
    assert {p["metric"] for p in outcome.document["comparison"]["performance"]} >= {"auc"}
    assert store.aliases() == before  # a pass moves nothing


@pytest.mark.slow
def test_a_monitoring_run_is_tracked_and_the_version_is_tagged(
    store: Store, passed: tuple[MonitorOutcome, int, dict[str, int]]
) -> None:
    outcome, champion, _ = passed
    client = MlflowClient(store.uri)
    run = client.get_run(outcome.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "governance-monitor"
    assert run.data.tags["monitor.verdict"] == "pass"
    assert run.data.tags["model.version"] == str(champion)
    assert "monitoring" in {a.path for a in client.list_artifacts(outcome.run_id)}
    assert {a.path for a in client.list_artifacts(outcome.run_id, "monitoring")} >= {
        "monitoring/card.json",
        "monitoring/monitoring.json",
    }
    assert any(key.startswith("psi") for key in run.data.metrics)
    tags = store.tags(champion)  # the latest monitoring of the version (a later test may re-audit it)
    latest = client.get_run(tags["monitor.run_id"])
    assert latest.info.run_name == "governance-monitor" and latest.data.tags["model.version"] == str(champion)
    assert tags["monitor.verdict"] == latest.data.tags["monitor.verdict"]
    assert tags["monitor.at"]
    if tags["monitor.run_id"] == outcome.run_id:
        assert tags["monitor.verdict"] == "pass" and tags["monitor.at"] == outcome.document["at"]


@pytest.mark.slow
def test_no_drift_is_reported_on_a_batch_from_the_same_distribution(
    passed: tuple[MonitorOutcome, int, dict[str, int]],
) -> None:
    outcome, _, _ = passed
    drift = outcome.document["drift"]
    assert {d["status"] for d in drift["overall"]} == {"stable"}
    judged = [d for d in drift["groups"] if d["psi"] is not None]
    assert judged and sum(d["status"] == "stable" for d in judged) >= 0.95 * len(judged)
    assert drift["significant_count"] == 0
    assert {c["attribute"]: c["status"] for c in drift["composition"]} == {"ownership": "stable", "size_band": "stable"}


@pytest.mark.slow
def test_group_level_drift_fails_the_champion_and_without_demote_changes_no_alias(
    store: Store, failed: tuple[MonitorOutcome, int, dict[str, int]]
) -> None:
    outcome, champion, before = failed
    assert outcome.verdict == "fail" and not outcome.passed
    assert outcome.version == champion
    assert _rule(outcome, FOUR_FIFTHS).verdict == "fail"
    assert outcome.demotion is None and outcome.document["demotion"] is None
    assert store.aliases() == before
    assert DEMOTED_TAG not in store.tags(champion)
    rules = {r["name"]: r for r in outcome.document["comparison"]["rules"]}
    assert rules[FOUR_FIFTHS]["card_verdict"] == "pass" and rules[FOUR_FIFTHS]["new_verdict"] == "fail"
    assert read_card(outcome.folder / "card.json")["gate"]["verdict"] == "fail"


@pytest.mark.slow
def test_drift_confined_to_one_group_is_significant_within_it_and_smaller_overall(
    failed: tuple[MonitorOutcome, int, dict[str, int]],
) -> None:
    outcome, _, _ = failed
    for feature in (*SHIFTED, "score"):
        within = _drift(outcome, feature, GROUP)
        overall = _drift(outcome, feature)
        assert within["status"] == "significant", within
        assert overall["psi"] < within["psi"] and overall["status"] != "significant", (feature, overall)
        for other in ("none", "women_owned", "veteran_owned"):
            if feature != "score":
                assert _drift(outcome, feature, other)["status"] == "stable", (feature, other)
    for feature in ("employee_count", "tech_fit_score", "hq_postcode_cluster"):
        assert _drift(outcome, feature, GROUP)["status"] == "stable", feature
    worst = outcome.document["drift"]["worst"][0]
    assert (worst["attribute"], worst["group"]) == ("ownership", GROUP)
    card = read_card(outcome.folder / "card.json")
    assert any("shifted significantly" in c for c in card["caveats"])


@pytest.mark.slow
def test_demote_gives_champion_back_to_the_previous_champion_and_the_demoted_version_is_never_promoted(
    store: Store,
) -> None:
    before = store.aliases()
    champion, previous = before["champion"], before.get("previous_champion")
    assert previous is not None and previous != champion, before
    outcome = monitor(store.config, store.drifted, demote=True, now=_EPOCH + timedelta(seconds=2))
    assert outcome.verdict == "fail" and outcome.version == champion
    demotion = outcome.demotion
    assert demotion is not None
    assert (demotion.version, demotion.was_champion, demotion.champion) == (champion, True, previous)
    assert demotion.changed and any(f"back to version {previous}" in r for r in demotion.repairs)
    after = store.aliases()
    assert after.get("champion") == previous
    assert "previous_champion" not in after  # the demoted version is no rollback target
    assert store.tags(champion)[DEMOTED_TAG] == outcome.run_id
    assert verified_card(store.uri, registered_model=store.name).version == previous
    written = json.loads((outcome.folder / "monitoring.json").read_text())
    assert written["demotion"]["champion_after"] == previous and written["demotion"]["version"] == champion
    with pytest.raises(GateFailure, match="demoted") as refused:
        promote(store.uri, registered_model=store.name, version=champion, required_approvals=0)
    assert refused.value.exit_code == 1
    assert refused.value.report["reason"] == "demoted"
    assert store.aliases() == after


@pytest.mark.slow
def test_a_monitoring_card_past_its_valid_until_date_fails_the_offline_gate(
    passed: tuple[MonitorOutcome, int, dict[str, int]],
) -> None:
    outcome, _, _ = passed
    path = outcome.folder / "card.json"
    card = read_card(path)
    expired = date.fromisoformat(card["model"]["valid_until"]) + timedelta(days=1)
    report = evaluate(card, card_policy(card), today=expired)
    assert report.verdict == "fail"
    (validity,) = [r for r in report.rules if r.name == "card validity"]
    assert validity.verdict == "fail" and f"the card expired on {card['model']['valid_until']}" in validity.reason
    assert evaluate(card, card_policy(card), today=expired - timedelta(days=1)).verdict == "pass"
    result = runner.invoke(app, ["gate", "--card", str(path), "--today", expired.isoformat()])
    assert result.exit_code == 1, result.output
    assert "expired" in result.output


_COMPANY = re.compile(r"\b[A-Z][a-z]+ [A-Z][a-z]+ (?:Inc|LLC|Ltd|GmbH|Group|Co|SA|BV)\b")
_EMAIL = re.compile(r"[a-z]+\.[a-z]+@[a-z]+\.com")
_PHONE = re.compile(r"\+1 \d{3} 555 \d{4}")


@pytest.mark.slow
def test_no_identifier_or_personal_data_reaches_the_monitoring_folder(
    store: Store,
    passed: tuple[MonitorOutcome, int, dict[str, int]],
    failed: tuple[MonitorOutcome, int, dict[str, int]],
) -> None:
    batch = store.batch
    names, emails, phones = (set(batch[c]) for c in ("company_name", "contact_email", "contact_phone"))
    files = [p for p in (store.config.output.reports / "monitoring").rglob("*") if p.is_file()]
    assert len(files) >= 6
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"ACC-\d{8}", text), path  # no account identifier, of any account
        assert not set(_COMPANY.findall(text)) & names, path
        assert not set(_EMAIL.findall(text)) & emails, path
        assert not set(_PHONE.findall(text)) & phones, path
    for needle in [*batch["account_id"].iloc[:50], *batch["company_name"].iloc[:50], *batch["contact_email"].iloc[:50]]:
        assert all(needle not in path.read_text(encoding="utf-8") for path in files), needle
    # the patterns above would find them: check them on the batch itself
    sample = " ".join(batch[["account_id", "company_name", "contact_email", "contact_phone"]].iloc[0])
    assert re.search(r"ACC-\d{8}", sample) and _COMPANY.search(sample)
    assert _EMAIL.search(sample) and _PHONE.search(sample)


# ---------------------------------------------------------------- the command (last: it lands in cli.py separately)


@pytest.mark.slow
def test_the_monitor_command_exits_0_on_a_pass_and_1_on_a_fail(store: Store) -> None:
    config = str(store.config_path)
    passing = runner.invoke(app, ["monitor", "--config", config, "--data", str(store.same)])
    assert passing.exit_code == 0, passing.output
    before = store.aliases()
    failing = runner.invoke(app, ["monitor", "--config", config, "--data", str(store.drifted)])
    assert failing.exit_code == 1, failing.output
    assert store.aliases() == before  # without --demote
