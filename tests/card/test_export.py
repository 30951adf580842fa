"""`governance card export`: Markdown for CI summaries, a Hugging Face README, an Annex IV outline, from real cards."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
import yaml
from markdown_it import MarkdownIt
from typer.testing import CliRunner

from governance.audit import audit
from governance.card import build_card, candidate_entry
from governance.card.export import FORMATS, PROVIDER, card_status, export_card, md
from governance.cli import app
from governance.config import PseudonymKey, validate_config
from governance.data import prepare
from governance.datasets import generate_accounts
from governance.errors import ConfigError, DataValidationError
from governance.gate import card_policy, evaluate
from tests.conftest import DEFAULT_CONFIG, ROOT

runner = CliRunner()

HOSTILE_GROUP = "a|b *bold* _em_ <script>alert(1)</script> `code` $x$\nnew line ![i](http://evil.example/x.png)"
HOSTILE_FEATURE = "f|`x`*<img src=x onerror=alert(1)>"
RISK = {"rating": "limited", "rationale": "Ranks companies for sales attention | not <people>"}
CREATED = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
TODAY = "2026-12-01"


def _raw() -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["data"]["path"] = "/nonexistent/accounts.parquet"
    raw["sensitive"]["attributes"][0].pop("categories")
    raw["sensitive"]["attributes"][0].pop("reference", None)
    raw["features"].append({"name": HOSTILE_FEATURE, "justification": "why | *not*"})
    raw["purpose"]["risk"] = dict(RISK)
    return raw


@pytest.fixture(scope="module")
def card() -> dict[str, Any]:
    """A real card: generated accounts, one hostile group and feature, a real audit, the real gate."""
    frame = generate_accounts(3000, seed=11, bias=1.0)
    frame.loc[frame.index[:500], "ownership"] = HOSTILE_GROUP
    frame[HOSTILE_FEATURE] = np.arange(len(frame)) % 7
    config = validate_config(_raw(), base_dir=DEFAULT_CONFIG.parent)
    dataset = prepare(config, frame=frame, key=PseudonymKey(b"export-test-key-0123456789", development_key=False))
    test = dataset.test
    rng = np.random.default_rng(0)
    scores = 1 / (1 + np.exp(-(test.X["intent_score"].to_numpy() / 25 - 3 + rng.normal(0, 1, len(test)))))
    report = audit(test.y, scores, sensitive=test.sensitive, top_k=0.2, n_boot=50, seed=1)
    candidate = {
        "name": "plain",
        "kind": "logistic_regression",
        "mitigation": None,
        "uses_sensitive_at_inference": False,
        "score_method": "predict_proba",
    }
    entry = candidate_entry(
        name="plain",
        kind="logistic_regression",
        mitigation=None,
        uses_sensitive_at_inference=False,
        audit=report,
        attributes=["ownership", "size_band"],
        verdict=None,
    )
    built = build_card(
        config=config,
        dataset=dataset,
        candidate=candidate,
        audit=report,
        explanations=None,
        candidates=[entry],
        run_id="run-1",
        created=CREATED,
        git_commit="abc123",
    )
    document = built.to_dict()
    gate = evaluate(document, card_policy(document), today=datetime.fromisoformat(TODAY).date())
    return built.with_gate(gate.to_dict()).to_dict()


def _write(tmp_path: Path, document: dict[str, Any], name: str = "card.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _html(markdown: str) -> str:
    """Render Markdown as GitHub does its tables (a real CommonMark parser with the table extension)."""
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render(markdown)


def test_the_card_records_the_risk_rating_from_the_config(card: dict[str, Any]) -> None:
    assert card["purpose"]["risk"] == RISK
    assert "status" not in card["purpose"]  # not declared: it follows from the card


@pytest.mark.parametrize(
    "text",
    [
        HOSTILE_GROUP,
        HOSTILE_FEATURE,
        "| --- | --- |",
        "# heading",
        "1. list",
        "- item",
        "[link](http://evil.example)",
        "www.evil.example",
        "http://evil.example",
        ":smile: @someone",
        "&lt;b&gt;",
        "\u202eevil\x1b[31m",
        "a\r\nb\tc",
        "x\\|y",
    ],
)
def test_one_escaping_function_makes_any_value_plain_text(text: str) -> None:
    escaped = md(text)
    assert "\n" not in escaped and "\r" not in escaped and "\u202e" not in escaped and "\x1b" not in escaped
    html = _html(f"| a | b |\n| --- | --- |\n| {escaped} | z |\n\n{escaped}\n")
    # one table row of two cells: the value opened no cell, and no tag, link, image, emphasis or code
    assert html.count("<td>") == 2 and "<td>z</td>" in html, html
    for tag in ("<script", "<img", "<a ", "<em>", "<strong>", "<code>", "<h1>", "<ol>", "<ul>", "<del>"):
        assert tag not in html, (tag, html)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_escapes_hostile_groups_and_features(card: dict[str, Any], fmt: str) -> None:
    text = export_card(card, fmt)
    body = text.split("\n---\n", 1)[-1] if fmt == "hf" else text
    html = _html(body)
    for tag in ("<script", "<img", "<a ", "<em>em", "<strong>bold", "<code>code"):
        assert tag not in html, tag
    shown = HOSTILE_GROUP.replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")
    assert shown in html  # the group name is shown as it is, as text
    assert md(HOSTILE_GROUP) in text
    assert md(HOSTILE_FEATURE) in text or fmt == "markdown"  # the summary names no feature unless flagged
    assert HOSTILE_GROUP not in body and HOSTILE_GROUP.split("\n")[0] not in body  # never as it came
    for table in re.findall(r"<table>.*?</table>", html, flags=re.S):  # every row has its header's cells
        header = len(re.findall(r"<th[ >]", table))
        rows = re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)
        assert all(len(re.findall(r"<td[ >]", r)) in (0, header) for r in rows), table


def test_markdown_puts_the_verdict_first_then_the_gate_table(card: dict[str, Any]) -> None:
    text = export_card(card, "markdown")
    lines = text.splitlines()
    assert lines[0].startswith("## Model card: ")
    assert lines[2].startswith(f"**Verdict: {card['gate']['verdict'].upper()}**")
    assert "**Status:** draft (not registered" in text
    assert f"**Risk:** limited: {md(RISK['rationale'])}" in text
    assert "| Rule | Target | Actual | Interval | Met |" in text
    gate_at, approvals_at = text.index("### Gate"), text.index("### Approvals and registry")
    assert gate_at < approvals_at < text.index("### Performance") < text.index("### Worst group gaps")
    assert text.index("### Caveats") > text.index("### Worst group gaps")
    for rule in card["gate"]["rules"]:
        assert md(rule["name"]) in text
    words = {"pass": "met", "fail": "not met", "inconclusive": "cannot tell", "insufficient_data": "cannot tell"}
    rows = [line for line in lines if line.startswith("| ") and " | " in line][2 : 2 + len(card["gate"]["rules"])]
    for rule, row in zip(card["gate"]["rules"], rows, strict=True):
        assert row.split(" | ")[-1].startswith(words[rule["verdict"]]), row
    assert "Warning: the policy requires no approval" in text
    html = _html(text)
    assert "<a " not in html and "<img" not in html and "src=" not in html  # nothing loaded, nothing linked


def test_the_hugging_face_readme_has_yaml_front_matter_and_the_hub_sections(card: dict[str, Any]) -> None:
    text = export_card(card, "hf")
    assert text.startswith("---\n")
    front, body = text[4:].split("\n---\n", 1)
    meta = yaml.safe_load(front)
    assert {"license", "tags", "model-index", "pipeline_tag"} <= set(meta)
    assert "risk-limited" in meta["tags"] and "status-draft" in meta["tags"]
    result = meta["model-index"][0]["results"][0]
    assert meta["model-index"][0]["name"] == "account-scoring/plain"
    metrics = {m["type"]: m["value"] for m in result["metrics"]}
    assert metrics["auc"] == pytest.approx(card["performance"]["auc"]["value"], abs=1e-6)
    assert result["dataset"]["split"] == "test"
    for section in (
        "## Model details",
        "## Intended use",
        "## Out-of-scope use",
        "## Training data",
        "## Evaluation",
        "## Bias, risks and limitations",
        "## How to get started",
    ):
        assert section in body
    bias = body[body.index("## Bias, risks and limitations") : body.index("## How to get started")]
    assert md(HOSTILE_GROUP) in bias and "size\\_band" in bias  # the per-group results
    assert "governance card export --card card.json" in body


def test_annex_iv_has_its_nine_points_with_the_provider_parts_marked(card: dict[str, Any]) -> None:
    text = export_card(card, "annex-iv")
    headings = re.findall(r"^## (\d)\. (.*)$", text, flags=re.M)
    assert [n for n, _ in headings] == [str(i) for i in range(1, 10)]
    sections = dict(zip(range(1, 10), re.split(r"^## \d\. .*$", text, flags=re.M)[1:], strict=True))
    for point in (7, 8):  # harmonised standards, declaration of conformity: never in a card
        assert sections[point].strip() == PROVIDER
    assert f"(e) Hardware it is intended to run on: {PROVIDER}" in sections[1]
    assert "Post-market monitoring" in text and f"(Article 72(3)): {PROVIDER}" in sections[9]
    assert md(card["purpose"]["intended_use"]) in sections[1]  # filled from the card where it has the facts
    assert "| Rule | Target |" in sections[2] and md(HOSTILE_GROUP) in sections[3]
    assert "(a) Intended purpose: [TO BE" not in text
    assert "Annex IV applies to high-risk systems" in text  # rated limited


def _registered(card: dict[str, Any], *, verdict: str, required: int, reviews: list[dict[str, Any]]) -> dict[str, Any]:
    document = copy.deepcopy(card)
    document["model"] |= {"version": 3, "registered_model": "account-scoring"}
    document["gate"]["verdict"] = verdict
    document["policy"]["required_approvals"] = required
    document["reviews"] = reviews
    return document


def _review(reviewer: str, decision: str) -> dict[str, Any]:
    return {"reviewer": reviewer, "decision": decision, "note": "checked", "at": "2026-11-30T10:00:00+00:00"}


def test_the_status_follows_from_registration_gate_and_approvals(card: dict[str, Any]) -> None:
    assert card_status(card).status == "draft"
    assert card_status(_registered(card, verdict="fail", required=0, reviews=[])).status == "draft"
    pending = _registered(card, verdict="pass", required=2, reviews=[_review("Ana", "approve")])
    assert (card_status(pending).status, card_status(pending).reason) == (
        "pending_review",
        "passed the gate; 1 of 2 required approval(s)",
    )
    twice = _registered(
        card, verdict="pass", required=2, reviews=[_review("Ana", "approve"), _review(" ana", "approve")]
    )
    assert card_status(twice).status == "pending_review"  # one person counts once
    approved = _registered(
        card, verdict="pass", required=2, reviews=[_review("Ana", "approve"), _review("Bo", "approve")]
    )
    assert card_status(approved).status == "approved"
    assert card_status(_registered(card, verdict="pass", required=0, reviews=[])).status == "approved"
    rejected = _registered(
        card, verdict="pass", required=1, reviews=[_review("Ana", "approve"), _review("Bo", "reject")]
    )
    assert card_status(rejected).status == "draft"
    archived = copy.deepcopy(approved)
    archived["purpose"]["status"] = "archived"
    assert card_status(archived).status == "archived"
    demoted = copy.deepcopy(approved)
    demoted["monitoring"] = {"demotion": {"version": 3, "was_champion": True, "monitoring_run": "run-9"}}
    assert card_status(demoted).status == "archived" and "demoted by monitoring" in card_status(demoted).reason
    text = export_card(pending, "markdown")
    assert "**Status:** pending review" in text and "registered as account\\-scoring version 3" in text
    assert "approve by Ana at 2026\\-11\\-30" in text and "governance review --model-version 3" in text
    assert "status-approved" in export_card(approved, "hf")


def test_the_same_card_gives_the_same_bytes(card: dict[str, Any]) -> None:
    for fmt in FORMATS:
        assert export_card(card, fmt) == export_card(copy.deepcopy(card), fmt)


def test_cli_writes_to_stdout_and_atomically_to_out(card: dict[str, Any], tmp_path: Path) -> None:
    path = _write(tmp_path, card)
    for fmt in FORMATS:
        shown = runner.invoke(app, ["card", "export", "--card", str(path), "--format", fmt])
        assert shown.exit_code == 0, shown.output
        assert shown.stdout == export_card(card, fmt)
        out = tmp_path / "out" / f"{fmt}.md"
        written = runner.invoke(app, ["card", "export", "--card", str(path), "--format", fmt, "--out", str(out)])
        assert written.exit_code == 0, written.output
        assert out.read_text(encoding="utf-8") == shown.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(f"{f}.md" for f in FORMATS)  # no temp file


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.pop("fairness"), "fairness"),
        (lambda d: d.update(schema="governance.card/0"), "schema"),
        (lambda d: d["purpose"].update(risk={"rating": "extreme", "rationale": "x"}), "purpose.risk.rating"),
        (lambda d: d["purpose"].update(risk={"rating": "high", "rationale": " "}), "purpose.risk.rationale"),
        (lambda d: d["purpose"].update(status="approved"), "purpose.status"),
        (lambda d: d["gate"].update(verdict="maybe"), "gate.verdict"),
    ],
)
def test_cli_refuses_a_bad_card_naming_the_field_and_writes_nothing(
    card: dict[str, Any], tmp_path: Path, change: Any, field: str
) -> None:
    document = copy.deepcopy(card)
    change(document)
    path = _write(tmp_path, document)
    out = tmp_path / "summary.md"
    out.write_text("previous\n", encoding="utf-8")
    result = runner.invoke(app, ["card", "export", "--card", str(path), "--format", "markdown", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert field in result.stderr
    assert out.read_text(encoding="utf-8") == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.json", "summary.md"]
    with pytest.raises(DataValidationError):
        export_card(document, "markdown")


def test_cli_refuses_an_unknown_format_or_a_missing_card(card: dict[str, Any], tmp_path: Path) -> None:
    path = _write(tmp_path, card)
    out = tmp_path / "summary.md"
    result = runner.invoke(app, ["card", "export", "--card", str(path), "--format", "pdf", "--out", str(out)])
    assert result.exit_code == 2 and "--format" in result.stderr and "markdown, hf, annex-iv" in result.stderr
    missing = runner.invoke(app, ["card", "export", "--card", str(tmp_path / "none.json"), "--out", str(out)])
    assert missing.exit_code == 2 and "card file not found" in missing.stderr
    assert not out.exists()
    with pytest.raises(ValueError, match="unknown format"):
        export_card(card, "pdf")


@pytest.mark.parametrize(
    ("risk", "location"),
    [
        ({"rating": "high", "rationale": "TODO: say why"}, "purpose.risk.rationale"),
        ({"rating": "unacceptable", "rationale": "social scoring"}, "purpose.risk.rating"),
        ({"rating": "severe", "rationale": "x"}, "purpose.risk.rating"),
        ({"rating": "high"}, "purpose.risk.rationale"),
    ],
)
def test_the_config_refuses_a_risk_without_a_real_rationale_or_tier(risk: dict[str, Any], location: str) -> None:
    raw = _raw()
    raw["purpose"]["risk"] = risk
    with pytest.raises(ConfigError) as info:
        validate_config(raw, base_dir=DEFAULT_CONFIG.parent)
    assert location in [p.location for p in info.value.problems], info.value.problems


def test_the_config_declares_only_the_statuses_that_hold_a_card_back() -> None:
    raw = _raw()
    raw["purpose"]["status"] = "archived"
    assert validate_config(raw, base_dir=DEFAULT_CONFIG.parent).purpose.status == "archived"
    raw["purpose"]["status"] = "approved"
    with pytest.raises(ConfigError) as info:
        validate_config(raw, base_dir=DEFAULT_CONFIG.parent)
    assert "purpose.status" in [p.location for p in info.value.problems]


def test_the_example_workflow_writes_the_job_summary() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "model-gate.yml").read_text())
    steps = [s.get("run", "") for s in workflow["jobs"]["gate"]["steps"]]
    assert any('card export --card "$card" --format markdown >> "$GITHUB_STEP_SUMMARY"' in s for s in steps)


def test_the_schema_takes_the_risk_and_a_declared_status_and_refuses_others(card: dict[str, Any]) -> None:
    schema = json.loads(files("governance.card").joinpath("schema.json").read_text(encoding="utf-8"))
    declared = copy.deepcopy(card)
    declared["purpose"]["status"] = "archived"
    jsonschema.validate(declared, schema)
    without = copy.deepcopy(card)
    del without["purpose"]["risk"]
    jsonschema.validate(without, schema)  # a card from before the fields stays valid
    for change in (
        {"risk": {"rating": "severe", "rationale": "x"}},
        {"status": "approved"},
        {"risk": {"rating": "high"}},
    ):
        broken = copy.deepcopy(card)
        broken["purpose"].update(change)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)
