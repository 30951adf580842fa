from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from governance import plots
from governance.audit import AuditReport, audit
from governance.card import ModelCard, build_card, candidate_entry, render_html, summarize, write_card
from governance.config import GovernanceConfig, PseudonymKey, validate_config
from governance.data import Dataset, prepare
from governance.datasets import generate_accounts
from tests.conftest import DEFAULT_CONFIG

HOSTILE_GROUP = "<script>alert(1)</script>"
HOSTILE_FEATURE = '"><img src=x onerror=alert(1)>'
FORMULA = '=HYPERLINK("http://evil.example","x")'
CREATED = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def setup() -> tuple[GovernanceConfig, Dataset, AuditReport, pd.DataFrame]:
    frame = generate_accounts(5000, seed=11, bias=1.0)
    frame.loc[frame.index[:400], "ownership"] = HOSTILE_GROUP
    frame[HOSTILE_FEATURE] = np.arange(len(frame)) % 7
    raw: dict[str, Any] = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["data"]["path"] = "/nonexistent/accounts.parquet"
    raw["features"].append({"name": HOSTILE_FEATURE, "justification": FORMULA})
    raw["sensitive"]["attributes"][0].pop("categories")
    raw["sensitive"]["publish_min_group_size"] = 10
    config = validate_config(raw, base_dir=DEFAULT_CONFIG.parent)
    dataset = prepare(config, frame=frame, key=PseudonymKey(b"card-test-key-0123456789", development_key=False))
    test = dataset.test
    rng = np.random.default_rng(0)
    scores = 1 / (1 + np.exp(-(test.X["intent_score"].to_numpy() / 25 - 3 + rng.normal(0, 1, len(test)))))
    report = audit(
        test.y,
        scores,
        sensitive=test.sensitive,
        top_k=0.2,
        intersections=[["ownership", "size_band"]],
        reference={"ownership": "none"},
        n_boot=100,
        seed=1,
    )
    return config, dataset, report, frame


def _card(setup: tuple[GovernanceConfig, Dataset, AuditReport, pd.DataFrame], **extra: Any) -> ModelCard:
    config, dataset, report, _ = setup
    candidate = {
        "name": "plain<b>",
        "kind": "logistic_regression",
        "mitigation": None,
        "uses_sensitive_at_inference": False,
        "score_method": "predict_proba",
    }
    entries = [
        candidate_entry(
            name="plain<b>",
            kind="logistic_regression",
            mitigation=None,
            uses_sensitive_at_inference=False,
            audit=report,
            attributes=["ownership", "size_band"],
            verdict="fail",
        )
    ]
    card = build_card(
        config=config,
        dataset=dataset,
        candidate=candidate,
        audit=report,
        explanations=None,
        candidates=entries,
        run_id="run-1",
        created=CREATED,
        git_commit="abc123",
        **extra,
    )
    rule = {
        "name": f"four-fifths {HOSTILE_GROUP}",
        "metric": "selection_rate",
        "scope": "disparity",
        "bound": 0.8,
        "side": "min",
        "observed": 0.61,
        "ci": [0.5, 0.7],
        "verdict": "fail",
        "reason": FORMULA,
    }
    return card.with_gate({"verdict": "fail", "rules": [rule]})


def test_card_json_carries_the_contract_and_round_trips(
    setup: tuple[GovernanceConfig, Dataset, AuditReport, pd.DataFrame],
) -> None:
    card = _card(setup)
    document = json.loads(card.to_json())
    for key in ("schema", "model", "lineage", "purpose", "data", "performance", "fairness", "explanations"):
        assert key in document
    for key in ("candidates", "gate", "reviews", "feedback", "caveats", "policy"):
        assert key in document
    assert document["schema"] == "governance.card/1"
    assert set(document["model"]) >= {"name", "candidate", "version", "run_id", "created", "valid_until"}
    assert set(document["lineage"]) == {"git_commit", "config_sha256", "data_sha256", "model_sha256", "policy_sha256"}
    assert document["model"]["valid_until"] == "2027-02-27"
    assert document["data"]["pseudonymization"]["method"].startswith("HMAC-SHA256")
    assert document["fairness"]["schema"] == "governance.audit/1"
    assert document["performance"]["auc"]["ci"] is not None
    assert ModelCard.from_dict(document).to_json() == card.to_json()


def test_same_inputs_give_the_same_card_bytes(
    setup: tuple[GovernanceConfig, Dataset, AuditReport, pd.DataFrame],
) -> None:
    assert _card(setup).to_json() == _card(setup).to_json()
    assert _card(setup).sha256 == _card(setup).sha256


def test_small_groups_are_published_as_fewer_than_k(
    setup: tuple[GovernanceConfig, Dataset, AuditReport, pd.DataFrame],
) -> None:
    _, _, report, _ = setup
    small = [g for g in report.groups if g.n < 10]
    assert small, "the fixture should have intersection groups below the publication minimum"
    document = _card(setup).to_dict()
    published = {(g["attribute"], g["group"]): g for g in document["fairness"]["groups"]}
    for group in small:
        entry = published[(group.attribute, group.group)]
        assert entry["n"] is None
        assert entry["n_published"] == "fewer than 10"
        assert all(m["value"] is None and m["ci"] is None for m in entry["metrics"].values())


def test_html_escapes_hostile_names_and_is_self_contained(
    setup: tuple[GovernanceConfig, Dataset, AuditReport, pd.DataFrame],
) -> None:
    _, _, report, _ = setup
    card = _card(setup)
    html = render_html(card, [plots.group_metric_bars(report, "ownership")])
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert "plain&lt;b&gt;" in html
    assert "=HYPERLINK(&#34;http://evil.example&#34;" in html
    assert 'src="data:image/png;base64,' in html
    for external in ('src="http', "src='http", 'href="http', "@import", "url("):
        assert external not in html
    assert html.count("<img ") == html.count(' alt="')
    assert '<th scope="col">' in html and "<h2" in html


def test_card_holds_no_personal_data(setup: tuple[GovernanceConfig, Dataset, AuditReport, pd.DataFrame]) -> None:
    _, _, report, frame = setup
    card = _card(setup)
    text = card.to_json().decode() + render_html(card, [plots.group_metric_bars(report, "ownership")])
    for column in ("account_id", "company_name", "contact_email", "contact_phone"):
        leaked = [v for v in frame[column].astype(str).head(300) if v in text]
        assert not leaked, column
    assert "@" not in card.to_json().decode().replace("privacy@example.com", "")


def test_summary_says_why_and_what_needs_attention(
    setup: tuple[GovernanceConfig, Dataset, AuditReport, pd.DataFrame],
) -> None:
    summary = summarize(_card(setup).to_dict())
    assert summary.verdict == "fail"
    assert any(line.startswith(f"four-fifths {HOSTILE_GROUP}: fail") for line in summary.why)
    assert summary.worst_gaps
    assert any("must not become champion" in line for line in summary.attention)
    assert any("insufficient data" in line for line in summary.attention)


def test_write_card_writes_readable_files_atomically(
    setup: tuple[GovernanceConfig, Dataset, AuditReport, pd.DataFrame], tmp_path: Path
) -> None:
    card = _card(setup)
    json_path, html_path = write_card(card, tmp_path / "cards", html=render_html(card))
    assert json_path.read_bytes() == card.to_json()
    assert html_path is not None and html_path.read_text().startswith("<!DOCTYPE html>")
    assert stat.S_IMODE(json_path.stat().st_mode) & 0o044 == 0o044
    assert sorted(p.name for p in (tmp_path / "cards").iterdir()) == ["card.html", "card.json"]


def _schema() -> dict[str, Any]:
    from importlib.resources import files

    schema: dict[str, Any] = json.loads(files("governance.card").joinpath("schema.json").read_text())
    return schema


def test_card_json_validates_against_its_published_schema(
    setup: tuple[GovernanceConfig, Dataset, AuditReport, pd.DataFrame],
) -> None:
    import jsonschema

    document = json.loads(_card(setup).to_json())
    jsonschema.validate(document, _schema())
    broken = {**document, "gate": {"verdict": "maybe", "rules": []}}
    with pytest.raises(jsonschema.ValidationError, match="maybe"):
        jsonschema.validate(broken, _schema())
