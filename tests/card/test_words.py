"""A card for another domain speaks its words: credit applicants, a dataset-wide lawful basis, age audited in bands.

The card is built as a run builds it (the pipeline's own audit and explanation steps on a trained candidate,
then ``build_card``, ``card_figures`` and ``render_html``), written, read back and rendered again from
``card.json``, as a later render (a review, feedback) does. Nothing on it may come from the B2B demo.
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from governance.card import (
    ModelCard,
    build_card,
    candidate_entry,
    card_figures,
    check_card,
    load_figures,
    read_card,
    render_html,
    save_figures,
    write_card,
)
from governance.config import GovernanceConfig, PseudonymKey, validate_config
from governance.data import Dataset, prepare
from governance.pipeline import audit_candidate, explain_candidates
from governance.plots import Figure
from governance.train import train_candidate

CREATED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CREDIT_CAVEAT = (
    "Scores estimate the chance of repaying from past credit files; an underwriter decides every application, "
    "and no applicant is refused on the score alone."
)
REASON = "Anonymised credit files of a public research study, used to study fair credit review"
BANDS = "age, audited in bands: < 25, [25, 45), >= 45 (each band from its lower edge, included, to the next)"
FORBIDDEN = ("account", "b2b", "sales", "company", "companies")


def _applicants(n: int, seed: int) -> pd.DataFrame:
    """Synthetic credit applicants: income, loan, duration, housing; age and sex for the audit only."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 76, n)
    sex = rng.choice(["female", "male"], n)
    income = np.round(rng.lognormal(10.3, 0.5, n), -2)
    loan = np.round(rng.lognormal(8.8, 0.6, n), -1)
    duration = rng.choice([6, 12, 24, 36, 48, 60], n)
    housing = rng.choice(["own", "rent", "free"], n, p=[0.5, 0.4, 0.1])
    logit = 1.2 * np.log(income / loan) - 0.02 * duration + 0.4 * (housing == "own") - 0.6 * (age < 25) - 1.5
    repaid = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame(
        {
            "applicant_id": [f"APP-{i:06d}" for i in range(n)],
            "age": age,
            "sex": sex,
            "income": income,
            "loan_amount": loan,
            "duration_months": duration,
            "housing": housing,
            "repaid": repaid,
        }
    )


def _raw() -> dict[str, Any]:
    """A credit-review config: its own subject, caveat, lawful basis, features, binned age and model name."""
    return {
        "version": 1,
        "seed": 5,
        "purpose": {
            "intended_use": "Order credit applications for manual review by their estimated chance of repayment.",
            "out_of_scope": ["Refusing credit without a human review."],
            "owner": "Credit risk analytics",
            "contact": "credit-review@example.org",
            "subject": "applicant",
            "caveats": [CREDIT_CAVEAT],
        },
        "data": {
            "path": "/nonexistent/applicants.parquet",
            "id_column": "applicant_id",
            "label": "repaid",
            "consent": {"lawful_basis": "research", "reason": REASON},
            "split": {"validation": 0.2, "test": 0.3, "seed": 5},
        },
        "features": [
            {"name": "income", "justification": "Income bounds the repayment an applicant can afford."},
            {"name": "loan_amount", "justification": "The amount borrowed sets the repayment burden."},
            {"name": "duration_months", "justification": "Longer loans leave more time for trouble."},
            {"name": "housing", "type": "categorical", "justification": "Housing costs compete with repayments."},
        ],
        "sensitive": {
            "attributes": [
                {"name": "age", "bins": [25, 45], "reference": "[25, 45)"},
                {"name": "sex", "categories": ["female", "male"], "reference": "male"},
            ],
            "min_group_size": 30,
            "publish_min_group_size": 10,
        },
        "candidates": [{"name": "logreg", "kind": "logistic_regression", "params": {"C": 1.0, "max_iter": 500}}],
        "audit": {"top_k": 0.3, "bootstrap": 50, "seed": 5},
        "explain": {
            "sample_per_group": 120,
            "background_size": 30,
            "bootstrap": 100,
            "minimization_rows": 1500,
            "proxy_rows": 1000,
            "seed": 5,
        },
        "mlflow": {"experiment": "credit-review", "registered_model": "credit-review"},
    }


@pytest.fixture(scope="module")
def credit() -> tuple[GovernanceConfig, Dataset, ModelCard, list[Figure]]:
    config = validate_config(_raw())
    dataset = prepare(config, frame=_applicants(4000, 5), key=PseudonymKey(b"words-test-key-0123456789", False))
    trained = train_candidate(config.candidates[0], dataset, seed=5)
    report, _ = audit_candidate(config, dataset.test, trained)
    explanations = explain_candidates(config, dataset, [trained])[trained.name].to_dict()
    facts = {
        "name": trained.name,
        "kind": trained.kind,
        "mitigation": None,
        "uses_sensitive_at_inference": False,
        "score_method": trained.score_method,
    }
    entry = candidate_entry(
        name=trained.name,
        kind=trained.kind,
        mitigation=None,
        uses_sensitive_at_inference=False,
        audit=report,
        attributes=["age", "sex"],
        verdict="pass",
    )
    card = build_card(
        config=config,
        dataset=dataset,
        candidate=facts,
        audit=report,
        explanations=explanations,
        candidates=[entry],
        run_id="run-credit",
        created=CREATED,
        git_commit="abc123",
        validation=trained.validation,
    ).with_gate({"verdict": "pass", "rules": []})
    return config, dataset, card, card_figures(config, report, run_card=card, explanations=explanations)


def _texts(value: Any) -> list[str]:
    """Every string of a JSON document, keys included."""
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in (str(k), *_texts(v))]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    return [value] if isinstance(value, str) else []


def _visible(page: str) -> str:
    """The page's text and attributes with markup and escapes undone, lower case (the PNG data left out)."""
    page = re.sub(r'src="data:image/png;base64,[^"]*"', 'src=""', page)
    return html.unescape(re.sub(r"<[^>]+>", " ", page)).lower() + " " + html.unescape(page).lower()


def test_no_b2b_word_reaches_the_card_its_json_or_its_plots(
    credit: tuple[GovernanceConfig, Dataset, ModelCard, list[Figure]], tmp_path: Path
) -> None:
    _, _, card, figures = credit
    page = render_html(card, figures)
    document = json.loads(card.to_json())
    places = {
        "card.html": _visible(page),
        "card.json": " ".join(_texts(document)).lower(),
        "alt texts": " ".join(f"{f.title} {f.alt}" for f in figures).lower(),
    }
    for where, text in places.items():
        found = [word for word in FORBIDDEN if word in text]
        assert found == [], f"{where} says {found}"
    assert re.search(r"\bapplicants\b", places["card.html"]) and re.search(r"\bapplicant\b", places["card.html"])
    assert "ROC curves by age on the audited applicants" in " ".join(f.alt for f in figures)


def test_the_card_records_its_words_and_a_later_render_uses_them(
    credit: tuple[GovernanceConfig, Dataset, ModelCard, list[Figure]], tmp_path: Path
) -> None:
    _, _, card, figures = credit
    write_card(card, tmp_path, html=render_html(card, figures))
    save_figures(tmp_path, figures)
    document = read_card(tmp_path / "card.json")
    assert document["purpose"]["subject"] == {"singular": "applicant", "plural": "applicants"}
    later = render_html(ModelCard.from_dict(document), load_figures(tmp_path))
    assert later == (tmp_path / "card.html").read_text(encoding="utf-8")
    assert '<th scope="col">Applicants</th>' in later and "Applicants excluded before any use" in later
    # a card from before the words were recorded is an account card
    del document["purpose"]["subject"]
    old = render_html(ModelCard.from_dict(document))
    assert '<th scope="col">Accounts</th>' in old and "Accounts excluded before any use" in old
    assert "Applicants</th>" not in old


def test_explanation_texts_name_applicants(credit: tuple[GovernanceConfig, Dataset, ModelCard, list[Figure]]) -> None:
    _, _, card, _ = credit
    explanations = card.explanations
    assert explanations is not None
    differences = [d["text"] for d in explanations["group_differences"]]
    assert differences and all("applicants" in text for text in differences)
    assert "the applicant's odds" in explanations["space_note"]
    assert "among applicants in the same feature bin" in explanations["proxy_method"]["auc"]
    assert "The same validation applicants choose and test the set" in explanations["minimization"]["note"]


def test_caveats_are_the_runs_facts_and_the_configs_own_words(
    credit: tuple[GovernanceConfig, Dataset, ModelCard, list[Figure]],
) -> None:
    _, _, card, _ = credit
    assert card.caveats[-1] == CREDIT_CAVEAT
    assert card.caveats.count(CREDIT_CAVEAT) == 1
    assert "selected applicants" in " ".join(card.caveats)


def test_a_dataset_wide_lawful_basis_is_said_in_place_of_consent_checks(
    credit: tuple[GovernanceConfig, Dataset, ModelCard, list[Figure]],
) -> None:
    _, dataset, card, figures = credit
    consent = card.data["consent"]
    sentence = f"no per-row consent check: the whole dataset is used on the lawful basis research: {REASON}."
    assert consent["per_row"] is False and consent["lawful_basis"] == "research" and consent["reason"] == REASON
    assert consent["checks"] == [] and consent["excluded"] == 0
    assert consent["text"].startswith(sentence) and "No applicant was excluded by a consent check." in consent["text"]
    assert dict(dataset.excluded) == {} and card.data["rows_used"] == card.data["rows_in"] == 4000
    page = html.unescape(render_html(card, figures))
    assert sentence[0].upper() + sentence[1:] in page


def test_binned_age_shows_its_edges_and_bands(
    credit: tuple[GovernanceConfig, Dataset, ModelCard, list[Figure]],
) -> None:
    _, _, card, figures = credit
    age, sex = card.data["sensitive"]
    assert age["bins"] == [25.0, 45.0] and age["groups"] == ["< 25", "[25, 45)", ">= 45"]
    assert sex["bins"] is None and sex["groups"] == ["female", "male"]
    assert age["bands"] == BANDS
    assert f"{BANDS}." in html.unescape(render_html(card, figures))
    check_card(card.to_dict())


def test_the_applicant_card_validates_against_the_published_schema(
    credit: tuple[GovernanceConfig, Dataset, ModelCard, list[Figure]],
) -> None:
    import jsonschema

    schema = json.loads(files("governance.card").joinpath("schema.json").read_text())
    document = json.loads(credit[2].to_json())
    jsonschema.validate(document, schema)
    broken = json.loads(credit[2].to_json())
    broken["data"]["consent"]["lawful_basis"] = "because"
    with pytest.raises(jsonschema.ValidationError, match="because"):
        jsonschema.validate(broken, schema)
