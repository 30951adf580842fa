from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from governance.config import (
    DEVELOPMENT_KEY,
    GovernanceConfig,
    load_config,
    pseudonym_key,
    tracking_uri,
    validate_config,
)
from governance.errors import ConfigError, PrivacyError
from tests.conftest import DEFAULT_CONFIG, TEST_KEY, WriteConfig

DEFAULT_POLICY = DEFAULT_CONFIG.parent / "policies" / "account-scoring.yaml"


def _problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return [str(p) for p in info.value.problems]


def test_default_config_is_valid_and_resolves_paths_against_its_folder() -> None:
    config = load_config(DEFAULT_CONFIG)
    assert config.data.path == (DEFAULT_CONFIG.parent / ".." / "data" / "accounts.parquet").resolve()
    assert config.mlflow.embedded_store == (DEFAULT_CONFIG.parent.parent / "mlruns").resolve()
    assert len(config.sha256) == 64
    assert "ownership" in config.sensitive.names
    assert not set(config.feature_names) & set(config.sensitive.names)


def test_sensitive_attribute_as_feature_is_an_error(write_config: WriteConfig) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["features"].append({"name": "ownership", "justification": "why not"})

    problems = _problems(write_config(edit=edit))
    assert any(
        p.startswith("features[15].name") and "'ownership' is a sensitive attribute" in p and "remove it" in p
        for p in problems
    )


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("contact_email", "is a PII column"),
        ("account_id", "is the id column"),
        ("converted_90d", "is the label"),
    ],
)
def test_pii_id_or_label_as_feature_is_an_error(write_config: WriteConfig, column: str, expected: str) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["features"].append({"name": column, "justification": "it predicts well"})

    problems = _problems(write_config(edit=edit))
    assert any(p.startswith("features[15].name") and expected in p for p in problems), problems


def test_feature_without_justification_is_an_error(write_config: WriteConfig) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["features"][2].pop("justification")
        raw["features"][3]["justification"] = "   "

    problems = _problems(write_config(edit=edit))
    assert any(p.startswith("features[2]") and "'employee_count' has no justification" in p for p in problems)
    assert any(p.startswith("features[3]") and "'annual_revenue' has no justification" in p for p in problems)


def test_unknown_candidate_kind_names_expected_and_found(write_config: WriteConfig) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["candidates"][0]["kind"] = "random_forest"

    (problem,) = _problems(write_config(edit=edit))
    assert problem.startswith("candidates[0].kind (line ")
    assert "expected 'logistic_regression', 'hist_gradient_boosting' or 'lightgbm'" in problem
    assert "found 'random_forest'" in problem


def test_unknown_mitigation_kind_is_an_error(write_config: WriteConfig) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["candidates"][0]["mitigation"] = {"kind": "magic_fairness"}

    (problem,) = _problems(write_config(edit=edit))
    assert problem.startswith("candidates[0].mitigation.kind")
    assert "found 'magic_fairness'" in problem


def test_every_problem_is_reported_at_once_with_path_and_line(write_config: WriteConfig, tmp_path: Path) -> None:
    # the policy lives in its own file: its problems come with the rest, located in that file
    policy = yaml.safe_load(DEFAULT_POLICY.read_text())
    policy["rules"][0]["metric"] = "selection_rat"
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(policy, sort_keys=False))
    metric_line = 1 + yaml.safe_dump(policy, sort_keys=False).splitlines().index("  metric: selection_rat")

    def edit(raw: dict[str, Any]) -> None:
        raw["data"]["labl"] = "oops"
        raw["features"][0]["type"] = "text"
        raw["features"].append({"name": "size_band", "justification": "size matters"})
        raw["candidates"][0]["kind"] = "svm"
        raw["audit"]["threshold"] = 0.5
        raw["sensitive"]["intersections"].append(["ownership", "gender"])
        raw["policy"] = {"file": "policy.yaml"}

    problems = _problems(write_config(edit=edit))
    assert len(problems) == 7, problems
    text = "\n".join(problems)
    assert "data.labl (line " in text and "did you mean `label`?" in text
    assert "features[0].type (line " in text and "found 'text'" in text
    assert "'size_band' is a sensitive attribute" in text
    assert "candidates[0].kind" in text and "found 'svm'" in text
    assert "both `top_k` and `threshold`" in text
    assert "'gender' is not a declared sensitive attribute" in text
    assert f"policy.rules[0].metric (policy.yaml, line {metric_line})" in text
    assert "unknown audit metric 'selection_rat'" in text and "did you mean `selection_rate`?" in text


def test_wrong_type_reports_expected_and_found(write_config: WriteConfig) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["audit"]["bootstrap"] = "many"
        raw["sensitive"]["min_group_size"] = -3

    problems = _problems(write_config(edit=edit))
    assert any(p.startswith("audit.bootstrap") and "found 'many'" in p for p in problems)
    assert any(p.startswith("sensitive.min_group_size") and "greater than 0" in p and "found -3" in p for p in problems)


def test_missing_required_section_is_named(write_config: WriteConfig) -> None:
    def edit(raw: dict[str, Any]) -> None:
        del raw["purpose"]

    (problem,) = _problems(write_config(edit=edit))
    assert problem.startswith("purpose") and "required key is missing" in problem


def test_mitigation_needing_a_constraint_without_one_is_an_error(write_config: WriteConfig) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["candidates"] = raw["candidates"][:1]
        raw["candidates"].append(
            {"name": "eg", "kind": "logistic_regression", "mitigation": {"kind": "exponentiated_gradient"}}
        )
        raw["candidates"].append({"name": "eg", "kind": "lightgbm"})

    problems = _problems(write_config(edit=edit))
    assert any("candidates[1].mitigation.constraint" in p and "needs a constraint" in p for p in problems)
    assert any("candidates[2].name" in p and "used twice" in p for p in problems)


def test_a_constraint_on_a_mitigation_that_takes_none_is_an_error(write_config: WriteConfig) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["candidates"][0]["mitigation"] = {"kind": "reweighing", "constraint": "equalized_odds"}

    (problem,) = _problems(write_config(edit=edit))
    assert problem.startswith("candidates[0].mitigation.constraint") and "reweighing takes no constraint" in problem


def test_default_config_trains_plain_models_and_fairlearn_mitigations() -> None:
    candidates = load_config(DEFAULT_CONFIG).candidates
    plain = [c for c in candidates if c.mitigation is None]
    mitigated = [c for c in candidates if c.mitigation is not None]
    assert len(candidates) >= 5 and len(plain) >= 2 and len(mitigated) >= 2
    assert {c.kind for c in plain} == {"logistic_regression", "hist_gradient_boosting", "lightgbm"}
    assert {c.mitigation.kind for c in mitigated if c.mitigation} == {
        "exponentiated_gradient",
        "threshold_optimizer",
        "correlation_remover",
        "reweighing",
    }


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("purpose:\n  intended_use: [unclosed\n")
    (problem,) = _problems(path)
    assert problem.startswith("line ") and "not valid YAML" in problem


def test_missing_file_and_non_mapping_are_clear(tmp_path: Path) -> None:
    assert "config file not found" in _problems(tmp_path / "nope.yaml")[0]
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert "found an empty file" in _problems(empty)[0]


def test_tracking_uri_with_password_is_refused(write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["mlflow"]["tracking_uri"] = "http://alice:s3cret@mlflow.example.com"

    (problem,) = _problems(write_config(edit=edit))
    assert problem.startswith("mlflow.tracking_uri") and "password" in problem and "s3cret" not in problem

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://bob:hunter2@mlflow.example.com")
    config = load_config(write_config())
    with pytest.raises(ConfigError, match="carries a password") as info:
        tracking_uri(config)
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in repr(config.environment)


def test_tracking_uri_precedence_config_then_env_then_embedded(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = load_config(write_config())
    assert tracking_uri(config) == f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert tracking_uri(load_config(write_config())) == "http://127.0.0.1:5999"

    def edit(raw: dict[str, Any]) -> None:
        raw["mlflow"]["tracking_uri"] = "http://127.0.0.1:5001"

    assert tracking_uri(load_config(write_config(edit=edit))) == "http://127.0.0.1:5001"


def test_load_config_resolves_the_environment_variables(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    monkeypatch.setenv("GOVERNANCE_STRICT", "1")
    config = load_config(write_config())
    assert config.environment.tracking_uri == "http://127.0.0.1:5999" and config.environment.strict
    assert tracking_uri(config) == "http://127.0.0.1:5999"
    assert pseudonym_key(config).secret == TEST_KEY.encode()
    given = load_config(write_config(), environ={"GOVERNANCE_PSEUDONYM_KEY": "another-key-0123456789abcdef"})
    assert pseudonym_key(given).secret == b"another-key-0123456789abcdef"
    assert given.environment.tracking_uri is None and not given.environment.strict


def test_changing_the_environment_after_load_config_changes_nothing(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = load_config(write_config())
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    monkeypatch.setenv("GOVERNANCE_PSEUDONYM_KEY", "short")
    monkeypatch.setenv("GOVERNANCE_STRICT", "1")
    assert tracking_uri(config) == f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    key = pseudonym_key(config)
    assert key.secret == TEST_KEY.encode() and not key.development_key
    monkeypatch.delenv("GOVERNANCE_PSEUDONYM_KEY")
    assert pseudonym_key(config.model_copy(update={"seed": 1})).secret == TEST_KEY.encode()


def test_a_config_built_in_code_resolves_the_environment_once_at_first_use(
    default_raw: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = validate_config(default_raw, base_dir=DEFAULT_CONFIG.parent)
    monkeypatch.setenv("GOVERNANCE_PSEUDONYM_KEY", "set-after-building-0123456789")
    assert pseudonym_key(config).secret == b"set-after-building-0123456789"
    monkeypatch.delenv("GOVERNANCE_PSEUDONYM_KEY")
    assert pseudonym_key(config).secret == b"set-after-building-0123456789"
    assert pseudonym_key(GovernanceConfig.model_validate(config.model_dump())).development_key
    given = validate_config(default_raw, base_dir=DEFAULT_CONFIG.parent, environ={"GOVERNANCE_STRICT": "1"})
    with pytest.raises(PrivacyError, match="GOVERNANCE_PSEUDONYM_KEY is not set"):
        pseudonym_key(given)


def test_the_key_is_in_no_repr_dump_or_error_of_the_config(write_config: WriteConfig) -> None:
    config = load_config(write_config())
    for text in (
        repr(config),
        str(config),
        config.model_dump_json(),
        str(config.model_dump()),
        repr(config.environment),
    ):
        assert TEST_KEY not in text
    raw = yaml.safe_load(write_config().read_text())
    raw["seed"] = "not a seed"
    with pytest.raises(ConfigError) as info:
        validate_config(raw)
    assert TEST_KEY not in str(info.value)


def test_the_key_of_a_config_that_requires_one_is_refused_when_missing(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["data"]["require_pseudonym_key"] = True

    monkeypatch.delenv("GOVERNANCE_PSEUDONYM_KEY")
    config = load_config(write_config(edit=edit))
    with pytest.raises(PrivacyError, match="GOVERNANCE_PSEUDONYM_KEY is not set"):
        pseudonym_key(config)
    assert pseudonym_key(config, require=False).development_key


def test_pseudonym_key_from_env_is_hidden_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    key = pseudonym_key()
    assert not key.development_key
    assert "test-key" not in repr(key)


def test_missing_key_uses_development_key_or_is_refused_when_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOVERNANCE_PSEUDONYM_KEY")
    key = pseudonym_key()
    assert key.development_key and key.secret == DEVELOPMENT_KEY
    with pytest.raises(PrivacyError, match="GOVERNANCE_PSEUDONYM_KEY is not set"):
        pseudonym_key(require=True)
    monkeypatch.setenv("GOVERNANCE_STRICT", "1")
    with pytest.raises(PrivacyError) as info:
        pseudonym_key()
    assert info.value.exit_code == 4


def test_short_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVERNANCE_PSEUDONYM_KEY", "short")
    with pytest.raises(PrivacyError, match="too short"):
        pseudonym_key()


# ---------------------------------------------------------------- explanations


def test_derived_from_must_name_declared_features(write_config: WriteConfig) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["sensitive"]["attributes"][1]["derived_from"] = ["employee_count", "employees"]

    (problem,) = _problems(write_config(edit=edit))
    assert problem.startswith("sensitive.attributes[1].derived_from[1]")
    assert "'employees' is not a declared model feature" in problem and "did you mean `employee_count`?" in problem


@pytest.mark.parametrize("describe", ["{value} visits", "visits: {value}, again {value}"])
def test_a_reason_phrase_with_the_value_placeholder_is_accepted(write_config: WriteConfig, describe: str) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["features"][5]["describe"] = describe

    assert load_config(write_config(edit=edit)).features[5].describe == describe


@pytest.mark.parametrize("describe", ["website visits", "{count} visits", "{value} visits {", "{value!r} visits"])
def test_a_reason_phrase_without_exactly_the_value_placeholder_is_an_error(
    write_config: WriteConfig, describe: str
) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["features"][5]["describe"] = describe

    (problem,) = _problems(write_config(edit=edit))
    assert problem.startswith("features[5].describe") and "placeholder {value}" in problem


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("account", "accounts"),
        ("company", "companies"),
        ("person", "people"),
        ("loan applicant", "loan applicants"),
        ("business", "businesses"),
        ("survey", "surveys"),
    ],
)
def test_the_word_for_a_row_comes_from_the_config_with_its_plural(
    write_config: WriteConfig, subject: str, expected: str
) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["purpose"]["subject"] = subject
        raw["purpose"]["caveats"] = ["Scores are a research artefact."]

    config = load_config(write_config(edit=edit))
    assert config.purpose.subject == subject
    assert config.purpose.subjects == expected
    assert config.purpose.caveats == ("Scores are a research artefact.",)


def test_an_irregular_plural_can_be_declared(write_config: WriteConfig) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["purpose"].update(subject="datum", subject_plural="data points")

    assert load_config(write_config(edit=edit)).purpose.subjects == "data points"


def test_a_dataset_wide_lawful_basis_replaces_the_consent_columns(write_config: WriteConfig) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["data"]["consent"] = {
            "lawful_basis": "research",
            "reason": "Public census extract, published for research.",
        }

    consent = load_config(write_config(edit=edit)).data.consent
    assert not consent.per_row
    assert consent.columns == ()
    assert consent.column is None and consent.timestamp_column is None and consent.lawful_basis_column is None
    assert consent.reason == "Public census extract, published for research."


@pytest.mark.parametrize(
    ("consent", "expected"),
    [
        ({"lawful_basis": "research"}, "data.consent (line"),
        ({"lawful_basis": "research", "reason": "TODO: say why"}, "data.consent.reason"),
        ({"lawful_basis": "contract", "reason": "Signed contracts.", "column": "ok"}, "data.consent.column"),
        ({"lawful_basis": "contract", "reason": "Signed.", "max_age_days": 30, "as_of": "2026-01-01"}, "max_age_days"),
        ({"lawful_basis": "because", "reason": "Why not."}, "data.consent.lawful_basis"),
        ({"column": None}, "no consent column and no dataset-wide lawful basis"),
        ({"reason": "Orphan reason."}, "`reason` explains a dataset-wide `lawful_basis`"),
    ],
)
def test_a_consent_section_that_says_nothing_true_is_refused(
    write_config: WriteConfig, consent: dict[str, Any], expected: str
) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["data"]["consent"] = consent

    problems = _problems(write_config(edit=edit))
    assert any(expected in p for p in problems), problems


def test_a_justification_still_reading_todo_is_refused(write_config: WriteConfig) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["features"][0]["justification"] = "TODO: why may the score use this column?"

    problems = _problems(write_config(edit=edit))
    assert any(p.startswith("features[0].justification") and "write the reason" in p for p in problems), problems


def test_bins_name_the_bands_of_a_numeric_attribute(write_config: WriteConfig) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["sensitive"]["attributes"].append(
            {"name": "company_age_band", "bins": [5, 10.5, 20], "reference": "[5, 10.5)"}
        )

    attribute = load_config(write_config(edit=edit)).sensitive.attributes[-1]
    assert attribute.groups == ("< 5", "[5, 10.5)", "[10.5, 20)", ">= 20")


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        ({"bins": [30, 20]}, "expected strictly increasing bin edges"),
        ({"bins": [20, 30], "categories": ["a"]}, "either `categories` or `bins`"),
        ({"bins": [20, 30], "labels": ["young", "old"]}, "2 bin edge(s) make 3 bands, found 2 label(s)"),
        ({"labels": ["young", "old"]}, "no `bins` are given"),
        ({"bins": [20, 30], "reference": "20-30"}, "is not one of the bands ['< 20', '[20, 30)', '>= 30']"),
        ({"bins": []}, "at least 1 item"),
    ],
)
def test_bins_that_cannot_make_bands_are_refused(
    write_config: WriteConfig, attribute: dict[str, Any], expected: str
) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["sensitive"]["attributes"].append({"name": "age", **attribute})

    problems = _problems(write_config(edit=edit))
    assert any(expected in p for p in problems), problems


def test_describe_values_reads_codes_as_text_and_only_for_categories(write_config: WriteConfig) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["features"][0]["describe_values"] = {1: "first code", "A11": "checking balance below 0"}

    feature = load_config(write_config(edit=edit)).features[0]
    assert feature.value_words(1) == "first code"
    assert feature.value_words("A11") == "checking balance below 0"
    assert feature.value_words("A14") == "A14"

    def numeric(raw: dict[str, Any]) -> None:
        raw["features"][2]["describe_values"] = {"1": "one"}

    problems = _problems(write_config(edit=numeric))
    assert any("describe_values" in p and "only a categorical feature" in p for p in problems), problems


def test_a_relative_sqlite_tracking_uri_resolves_against_the_config_folder(
    write_config: WriteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["mlflow"]["tracking_uri"] = "sqlite:///store/mlflow.db"

    path = write_config(edit=edit)
    monkeypatch.chdir(Path("/"))
    config = load_config(path)
    assert tracking_uri(config) == f"sqlite:///{tmp_path.resolve() / 'store' / 'mlflow.db'}"
    absolute = f"sqlite:///{tmp_path / 'abs.db'}"

    def edit_absolute(raw: dict[str, Any]) -> None:
        raw["mlflow"]["tracking_uri"] = absolute

    assert tracking_uri(load_config(write_config(edit=edit_absolute))) == absolute
