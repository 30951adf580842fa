"""The gate: every rule judged on a card's evidence (real audit reports), then one decision."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from governance.audit import AuditReport, audit
from governance.config import PolicyRule, PolicySpec, load_config, load_policy, validate_policy
from governance.errors import ConfigError, DataValidationError, GateFailure
from governance.gate import (
    CARD_SCHEMA,
    GateReport,
    card_policy,
    evaluate,
    judge,
    junit_xml,
    policy_sha256,
    read_card,
    require_pass,
)
from tests.conftest import DEFAULT_CONFIG

DEFAULT_POLICY = DEFAULT_CONFIG.parent / "policies" / "account-scoring.yaml"
TODAY = date(2026, 1, 15)


# ---------------------------------------------------------------- evidence: real audits of designed data


def _audit(
    sizes: dict[str, int], *, shift: dict[str, float] | None = None, seed: int = 1, **options: Any
) -> AuditReport:
    """Audit scores of two or more groups; ``shift`` lowers a group's scores (fewer of it selected)."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(list(sizes), list(sizes.values()))
    y = (rng.random(len(groups)) < 0.3).astype(int)
    offset = np.array([(shift or {}).get(g, 0.0) for g in groups])
    scores = 1 / (1 + np.exp(-(2 * y - 1 + rng.normal(0, 1, len(groups)) + offset)))
    settings: dict[str, Any] = {"top_k": 0.3, "n_boot": 200, "seed": 0, "reference": {"ownership": "a"}}
    return audit(y, scores, sensitive={"ownership": groups}, **(settings | options))


@pytest.fixture(scope="module")
def fair() -> AuditReport:
    """Equal groups, no bias: selection ratio 0.97 [0.90, 1.00], equalized odds difference 0.002 [0.002, 0.04]."""
    return _audit({"a": 3000, "b": 3000})


@pytest.fixture(scope="module")
def biased() -> AuditReport:
    """Group b's scores pushed down: selection ratio 0.29 [0.26, 0.32]."""
    return _audit({"a": 3000, "b": 3000}, shift={"b": -1.5})


@pytest.fixture(scope="module")
def straddling_above() -> AuditReport:
    """150 rows a group: selection ratio 0.915, interval [0.62, 0.99] straddles 0.8."""
    return _audit({"a": 150, "b": 150}, shift={"b": -0.3}, seed=5)


@pytest.fixture(scope="module")
def straddling_below() -> AuditReport:
    """150 rows a group: selection ratio 0.698, interval [0.49, 0.94] straddles 0.8."""
    return _audit({"a": 150, "b": 150}, shift={"b": -0.3}, seed=0)


@pytest.fixture(scope="module")
def small_group() -> AuditReport:
    """Groups a and b of 2,000 rows and c of 10 (below min_group_size 30)."""
    return _audit({"a": 2000, "b": 2000, "c": 10})


def _card(report: AuditReport | None = None, **sections: Any) -> dict[str, Any]:
    """A card as `governance gate` reads it (through JSON), with a valid model block."""
    card: dict[str, Any] = {
        "schema": CARD_SCHEMA,
        "model": {"name": "account-scoring", "candidate": "c", "version": "1", "valid_until": "2026-03-01"},
    }
    if report is not None:
        card["fairness"] = report.to_dict()
    card.update(sections)
    loaded: dict[str, Any] = json.loads(json.dumps(card, allow_nan=False))
    return loaded


def _rule(**fields: Any) -> PolicyRule:
    spec: dict[str, Any] = {
        "name": "four-fifths rule",
        "metric": "selection_rate",
        "scope": "disparity",
        "attribute": "ownership",
        "statistic": "ratio",
        "bound": 0.8,
        "side": "min",
    }
    return PolicyRule.model_validate(spec | fields)


EQUALIZED_ODDS = {"name": "equalized odds", "metric": "equalized_odds_difference", "statistic": None, "side": "max"}


def _policy(*rules: PolicyRule, **options: Any) -> PolicySpec:
    return PolicySpec.model_validate({"rules": rules or (_rule(),), **options})


def _gate(report: AuditReport, *rules: PolicyRule, **options: Any) -> GateReport:
    return evaluate(_card(report), _policy(*rules, **options), today=TODAY)


def _result(gate: GateReport, name: str) -> Any:
    (result,) = [r for r in gate.rules if r.name == name]
    return result


# ---------------------------------------------------------------- verdicts


def test_fair_model_passes_when_every_interval_is_on_the_good_side(fair: AuditReport) -> None:
    gate = _gate(
        fair,
        _rule(),
        _rule(**EQUALIZED_ODDS, bound=0.1),
        _rule(name="auc", metric="auc", scope="overall", attribute=None, statistic=None, bound=0.8),
    )
    assert gate.verdict == "pass" and gate.passed and gate.exit_code == 0
    four_fifths = _result(gate, "four-fifths rule")
    expected = fair.disparity("ownership", "selection_rate").ratio
    assert four_fifths.verdict == "pass"
    assert four_fifths.observed == expected.value and four_fifths.ci == expected.ci
    assert "whole interval" in four_fifths.reason and "at or above the minimum 0.8" in four_fifths.reason
    assert [r.verdict for r in gate.rules] == ["pass"] * 4  # the three rules, then card validity
    assert gate.warnings == ()


def test_biased_model_fails_when_the_whole_interval_is_below_the_four_fifths(biased: AuditReport) -> None:
    gate = _gate(biased, _rule(), _rule(**EQUALIZED_ODDS, bound=0.1))
    assert gate.verdict == "fail" and gate.exit_code == 1
    four_fifths = _result(gate, "four-fifths rule")
    _, high = biased.disparity("ownership", "selection_rate").ratio.ci or (0.0, 0.0)
    assert four_fifths.verdict == "fail" and high < 0.8
    assert "below the minimum 0.8" in four_fifths.reason
    assert _result(gate, "equalized odds").verdict == "fail"
    assert "blocked by: four-fifths rule, equalized odds" in gate.summary()


def test_interval_straddling_the_bound_is_inconclusive_and_blocks(straddling_above: AuditReport) -> None:
    gate = _gate(straddling_above)
    (rule, _validity) = gate.rules
    assert rule.verdict == "inconclusive" and "straddles the bound 0.8" in rule.reason
    assert gate.verdict == "inconclusive" and gate.exit_code == 1


def test_point_decision_compares_the_point_estimate(
    straddling_above: AuditReport, straddling_below: AuditReport
) -> None:
    above = _gate(straddling_above, decision="point")
    below = _gate(straddling_below, decision="point")
    assert above.decided_by == "point" and above.verdict == "pass"
    assert "point estimate 0.91" in above.rules[0].reason
    assert below.verdict == "fail" and "below the minimum 0.8" in below.rules[0].reason


def test_on_inconclusive_warn_passes_with_a_warning(straddling_above: AuditReport) -> None:
    gate = _gate(straddling_above, on_inconclusive="warn")
    assert gate.rules[0].verdict == "inconclusive"  # the verdict is kept; only the decision changes
    assert gate.verdict == "pass" and gate.exit_code == 0
    assert any("four-fifths rule: inconclusive" in w and "on_inconclusive 'warn'" in w for w in gate.warnings)


def test_a_rule_can_block_only_on_evidence_of_a_breach(straddling_above: AuditReport, biased: AuditReport) -> None:
    lenient = _rule(on_inconclusive="warn")
    assert _gate(straddling_above, lenient).verdict == "pass"
    assert _gate(biased, lenient).verdict == "fail"  # evidence of a breach still fails
    # and the reverse: a policy that warns, with one rule that must be proven
    strict = _rule(on_inconclusive="fail")
    assert _gate(straddling_above, strict, on_inconclusive="warn").verdict == "inconclusive"


def test_fail_wins_over_inconclusive(straddling_above: AuditReport) -> None:
    too_high = _rule(name="auc", metric="auc", scope="overall", attribute=None, statistic=None, bound=0.99)
    gate = _gate(straddling_above, _rule(), too_high)
    assert [r.verdict for r in gate.rules[:2]] == ["inconclusive", "fail"]
    assert gate.verdict == "fail"


def test_a_small_group_is_listed_as_insufficient_data_not_dropped(small_group: AuditReport) -> None:
    auc_in_groups = _rule(name="auc by group", metric="auc", scope="groups", statistic=None, bound=0.8)
    gate = _gate(small_group, auc_in_groups, _rule())
    groups = _result(gate, "auc by group")
    assert [(c.group, c.verdict) for c in groups.comparisons] == [
        ("a", "pass"),
        ("b", "pass"),
        ("c", "insufficient_data"),
    ]
    assert groups.verdict == "pass"
    assert "not judged for lack of data: ownership: c" in groups.reason
    assert "below min_group_size" in groups.comparisons[2].reason
    four_fifths = _result(gate, "four-fifths rule")
    assert "not compared (too few rows or events, or undefined): c" in four_fifths.reason
    assert four_fifths.comparisons[0].not_compared == ("c",)
    assert "auc by group: not judged for lack of data: ownership: c" in gate.warnings
    assert "four-fifths rule: ownership: not compared (too few rows or events, or undefined): c" in gate.warnings
    assert gate.verdict == "pass"


def test_a_rule_with_nothing_to_judge_is_insufficient_data_and_never_passes() -> None:
    one_big_group = _audit({"a": 2000, "b": 10})  # b is too small: fewer than 2 groups to compare
    gate = _gate(one_big_group)
    rule = gate.rules[0]
    assert rule.verdict == "insufficient_data" and rule.observed is None
    assert "1 comparable groups" in rule.reason
    assert gate.verdict == "inconclusive" and gate.exit_code == 1
    assert _gate(one_big_group, decision="point").verdict == "inconclusive"


def test_every_selection_rate_zero_makes_the_ratio_undefined_which_never_passes() -> None:
    rng = np.random.default_rng(3)
    groups = np.repeat(["a", "b"], 500)
    report = audit(
        (rng.random(1000) < 0.3).astype(int), decisions=np.zeros(1000, dtype=int), sensitive={"ownership": groups}
    )
    for decision in ("interval", "point"):
        gate = _gate(report, _rule(), decision=decision)
        rule = gate.rules[0]
        assert rule.verdict == "inconclusive" and rule.observed is None, decision
        assert "undefined" in rule.reason and "never passes" in rule.reason
        assert gate.verdict == "inconclusive"


def _without_intervals(report: AuditReport) -> AuditReport:
    """The report as a card written without intervals (or without the evidence to recompute them) shows it."""
    document = report.to_dict()

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: strip(v) for k, v in node.items() if k not in ("method", "events", "se", "comparisons")}
            if "ci" in out:
                out["ci"] = None
            return out
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return AuditReport.from_dict(strip(document))


def test_a_value_without_interval_is_inconclusive_under_interval_and_judged_under_point() -> None:
    report = _without_intervals(_audit({"a": 3000, "b": 3000}, n_boot=0))
    interval = _gate(report)
    assert interval.rules[0].verdict == "inconclusive" and "no confidence interval" in interval.rules[0].reason
    assert _gate(report, decision="point").verdict == "pass"


def test_attribute_null_judges_every_attribute_and_intersection(fair: AuditReport) -> None:
    rng = np.random.default_rng(0)
    n = 4000
    report = audit(
        (rng.random(n) < 0.3).astype(int),
        rng.random(n),
        sensitive={"ownership": rng.choice(["a", "b"], n), "size": rng.choice(["s", "l"], n)},
        top_k=0.3,
        intersections="all",
        n_boot=100,
    )
    gate = _gate(report, _rule(attribute=None, bound=0.5))
    assert [c.attribute for c in gate.rules[0].comparisons] == ["ownership", "size", "ownership & size"]
    assert gate.rules[0].verdict == "pass" and "(worst of 3 judged)" in gate.rules[0].reason


def test_reference_statistics_are_judged(fair: AuditReport) -> None:
    gate = _gate(fair, _rule(statistic="reference_ratio"))
    expected = fair.disparity("ownership", "selection_rate").reference_ratio
    assert expected is not None and gate.rules[0].observed == expected.value
    no_reference = _audit({"a": 3000, "b": 3000}, reference=None)
    rule = _gate(no_reference, _rule(statistic="reference_ratio")).rules[0]
    assert rule.verdict == "insufficient_data" and "no reference group" in rule.reason


def test_overall_metric_missing_from_the_audit_is_read_from_performance(fair: AuditReport) -> None:
    rule = _rule(name="auc", metric="auc", scope="overall", attribute=None, statistic=None, bound=0.8)
    card = _card(fair)
    del card["fairness"]["overall"]["auc"]
    card["performance"] = {
        "auc": {"value": 0.75, "ci": [0.7, 0.79], "status": "ok"},
        "calibration_curve": {"bins": [0.1, 0.2]},  # not the gate's to read: ignored
    }
    result = evaluate(card, _policy(rule), today=TODAY).rules[0]
    assert result.verdict == "fail" and result.observed == 0.75
    card["performance"]["auc"]["ci"] = [0.79, 0.7]
    with pytest.raises(DataValidationError, match=r"performance\.auc\.ci: the low end is above the high end"):
        evaluate(card, _policy(rule), today=TODAY)


# ---------------------------------------------------------------- validity, proxies, minimization


def test_expired_card_fails_with_a_clear_reason(fair: AuditReport) -> None:
    gate = evaluate(_card(fair), _policy(), today=date(2026, 3, 4))
    validity = _result(gate, "card validity")
    assert validity.verdict == "fail" and validity.observed == -3
    assert validity.reason.startswith("the card expired on 2026-03-01 (model.valid_until), 3 day(s) before 2026-03-04")
    assert "re-audit" in validity.reason
    assert gate.verdict == "fail"
    assert _result(evaluate(_card(fair), _policy(), today=date(2026, 3, 1)), "card validity").verdict == "pass"


def test_the_policy_validity_period_caps_the_card(fair: AuditReport) -> None:
    card = _card(fair, model={"created": "2026-01-01T09:30:00+00:00", "valid_until": "2027-01-01"})
    gate = evaluate(card, _policy(valid_for_days=30), today=date(2026, 2, 15))
    validity = _result(gate, "card validity")
    assert validity.verdict == "fail" and "expired on 2026-01-31 (model.created + 30 days)" in validity.reason


def test_card_without_validity_dates_is_inconclusive(fair: AuditReport) -> None:
    gate = evaluate(_card(fair, model={"name": "m"}), _policy(), today=TODAY)
    validity = _result(gate, "card validity")
    assert validity.verdict == "inconclusive" and "neither model.valid_until nor model.created" in validity.reason
    assert gate.verdict == "inconclusive"


def test_malformed_validity_date_is_bad_input(fair: AuditReport) -> None:
    with pytest.raises(DataValidationError, match=r"model\.valid_until: expected an ISO date"):
        evaluate(_card(fair, model={"valid_until": "next spring"}), _policy(), today=TODAY)


def _explanations(*, flagged: bool = True, removable: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "proxies": [
            {"feature": "hq_postcode_cluster", "attribute": "ownership", "nmi": 0.21, "auc": 0.78, "flagged": flagged},
            {"feature": "country", "attribute": "ownership", "nmi": 0.3, "auc": 0.8, "flagged": True},  # not a feature
            {"feature": "intent_score", "attribute": "ownership", "nmi": 0.001, "auc": 0.51, "flagged": False},
        ],
        "minimization": {"method": "drop-column", "tolerance": 0.005, "removable": list(removable), "minimal_set": []},
    }


FEATURES = {"features": [{"name": "hq_postcode_cluster", "justification": "x"}, {"name": "intent_score"}]}


def test_a_model_feature_flagged_as_proxy_fails_the_proxy_rule(fair: AuditReport) -> None:
    card = _card(fair, data=FEATURES, explanations=_explanations())
    gate = evaluate(card, _policy(fail_on_proxies=True), today=TODAY)
    proxies = _result(gate, "no proxy features")
    assert proxies.verdict == "fail" and proxies.observed == 1  # country is not a model feature
    assert "hq_postcode_cluster reveals ownership (NMI 0.21, AUC 0.78)" in proxies.reason
    assert gate.verdict == "fail"
    clean = _card(fair, data=FEATURES, explanations=_explanations(flagged=False))
    assert _result(evaluate(clean, _policy(fail_on_proxies=True), today=TODAY), "no proxy features").verdict == "pass"


def test_flagged_proxies_are_a_warning_when_the_rule_is_off(fair: AuditReport) -> None:
    gate = evaluate(_card(fair, data=FEATURES, explanations=_explanations()), _policy(), today=TODAY)
    assert gate.verdict == "pass"
    assert any("fail_on_proxies is off" in w and "hq_postcode_cluster" in w for w in gate.warnings)


def test_removable_features_fail_the_minimization_rule(fair: AuditReport) -> None:
    card = _card(fair, explanations=_explanations(removable=("email_opens_90d",)))
    gate = evaluate(card, _policy(require_minimal_features=True), today=TODAY)
    minimal = _result(gate, "minimal feature set")
    assert minimal.verdict == "fail" and minimal.observed == 1
    assert "email_opens_90d can be removed by drop-column within a tolerance of 0.005" in minimal.reason
    off = evaluate(card, _policy(), today=TODAY)
    assert off.verdict == "pass" and any("require_minimal_features is off" in w for w in off.warnings)


def test_missing_explanations_make_their_rules_inconclusive(fair: AuditReport) -> None:
    gate = evaluate(_card(fair), _policy(fail_on_proxies=True, require_minimal_features=True), today=TODAY)
    assert _result(gate, "no proxy features").verdict == "inconclusive"
    assert _result(gate, "no proxy features").reason.startswith("the card has no explanations block, so proxies")
    assert "data minimization cannot be checked" in _result(gate, "minimal feature set").reason
    assert gate.verdict == "inconclusive"


def test_malformed_explanations_are_bad_input(fair: AuditReport) -> None:
    bad = _explanations()
    bad["proxies"][0]["flagged"] = "yes"
    bad["minimization"]["removable"] = "email_opens_90d"
    with pytest.raises(DataValidationError) as info:
        evaluate(_card(fair, explanations=bad), _policy(fail_on_proxies=True), today=TODAY)
    text = str(info.value)
    assert "explanations.proxies[0].flagged: expected true or false, found a string" in text
    assert "explanations.minimization.removable: expected a list, found a string" in text


# ---------------------------------------------------------------- bad input


def test_missing_or_malformed_card_parts_are_named_by_json_path(fair: AuditReport) -> None:
    card = _card(fair)
    card["schema"] = "governance.card/0"
    card["fairness"]["disparities"][0]["ratio"]["ci"] = [0.9]
    card["fairness"]["groups"][1]["metrics"]["auc"]["status"] = "great"
    card["fairness"]["overall"]["auc"]["value"] = "0.9"
    with pytest.raises(DataValidationError) as info:
        evaluate(card, _policy(), today=TODAY)
    text = str(info.value)
    assert "schema: expected 'governance.card/1'" in text
    assert "fairness.disparities[0].ratio.ci: expected [low, high] of finite numbers" in text
    assert "fairness.groups[1].metrics.auc.status: expected 'ok', 'insufficient_data' or 'undefined'" in text
    assert "fairness.overall.auc.value: expected a finite number or null, found a string" in text
    assert info.value.exit_code == 2
    with pytest.raises(DataValidationError, match="fairness: missing"):
        evaluate(_card(), _policy(), today=TODAY)


def test_nan_never_reaches_a_verdict(fair: AuditReport) -> None:
    card = _card(fair)
    card["fairness"]["disparities"][1]["ratio"]["value"] = math.nan
    with pytest.raises(DataValidationError, match=r"fairness\.disparities\[1\]\.ratio\.value: .* found NaN"):
        evaluate(card, _policy(), today=TODAY)


def test_a_rule_on_something_the_card_lacks_is_a_policy_error(fair: AuditReport) -> None:
    with pytest.raises(ConfigError) as info:
        evaluate(_card(fair), _policy(_rule(attribute="gender")), today=TODAY)
    assert "'gender' is not audited in the card; expected one of ['ownership']" in str(info.value)
    assert info.value.exit_code == 2


def test_a_policy_without_rules_is_refused(fair: AuditReport) -> None:
    with pytest.raises(ConfigError, match="the policy has no rules"):
        evaluate(_card(fair), PolicySpec(), today=TODAY)


def test_read_card_refuses_nan_and_non_objects(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    path.write_text('{"schema": "governance.card/1", "x": NaN}')
    with pytest.raises(DataValidationError, match="NaN is not a number JSON allows"):
        read_card(path)
    path.write_text("[1, 2]")
    with pytest.raises(DataValidationError, match="expected a JSON object"):
        read_card(path)
    path.write_text("{oops")
    with pytest.raises(DataValidationError, match="not valid JSON at line 1"):
        read_card(path)
    with pytest.raises(DataValidationError, match="card file not found"):
        read_card(tmp_path / "missing.json")


# ---------------------------------------------------------------- the report


def test_report_is_the_cards_gate_block_and_round_trips(small_group: AuditReport) -> None:
    gate = _gate(small_group, _rule(name="auc", metric="auc", scope="groups", statistic=None, bound=0.8), _rule())
    block = json.loads(json.dumps(gate.to_dict(), allow_nan=False))
    assert block["verdict"] == "pass"
    contract = {"name", "metric", "scope", "bound", "side", "observed", "ci", "verdict", "reason"}
    assert all(contract <= set(rule) for rule in block["rules"])
    assert block["as_of"] == "2026-01-15" and len(block["policy_sha256"]) == 64
    assert GateReport.from_dict(block) == gate


def test_require_pass_raises_gate_failure_carrying_the_report(biased: AuditReport, fair: AuditReport) -> None:
    failed = _gate(biased)
    with pytest.raises(GateFailure, match="the gate did not pass: fail") as info:
        require_pass(failed)
    assert info.value.report is failed and info.value.exit_code == 1
    assert require_pass(_gate(fair)).passed


def test_junit_has_one_testcase_per_rule_with_the_evidence(straddling_above: AuditReport) -> None:
    too_high = _rule(name="auc", metric="auc", scope="overall", attribute=None, statistic=None, bound=0.99)
    lenient = _rule(name="lenient four-fifths", on_inconclusive="warn")
    gate = _gate(straddling_above, _rule(), lenient, too_high)
    root = ElementTree.fromstring(junit_xml(gate))
    (suite,) = root.findall("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "2", "1")
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert list(cases) == ["four-fifths rule", "lenient four-fifths", "auc", "card validity"]
    inconclusive = cases["four-fifths rule"].find("failure")
    assert inconclusive is not None and inconclusive.get("type") == "inconclusive"
    message = inconclusive.get("message") or ""
    assert "observed 0.9149" in message and "interval [0.6" in message and "bound >= 0.8" in message
    assert cases["lenient four-fifths"].find("skipped") is not None
    failure = cases["auc"].find("failure")
    assert failure is not None and failure.get("type") == "fail" and "below the minimum 0.99" in (failure.text or "")
    assert cases["card validity"].find("failure") is None


def test_junit_escapes_hostile_names(fair: AuditReport) -> None:
    hostile = '<script>alert("x")</script> & =HYPERLINK("http://evil") \x00\x1b]'
    gate = _gate(fair, _rule(name=hostile))
    text = junit_xml(gate)
    assert "<script>" not in text and "\x00" not in text and "\x1b" not in text
    root = ElementTree.fromstring(text)  # well-formed XML
    names = [case.get("name") for case in root.iter("testcase")]
    assert names[0] == hostile.replace("\x00", "\ufffd").replace("\x1b", "\ufffd")


# ---------------------------------------------------------------- judging one value


finite = st.floats(min_value=-10, max_value=10, allow_nan=False)


@given(observed=finite, a=finite, b=finite, bound=finite, side=st.sampled_from(["max", "min"]))
def test_interval_verdicts_never_contradict_the_point_estimate(
    observed: float, a: float, b: float, bound: float, side: Any
) -> None:
    interval, _ = judge(observed, (min(a, b), max(a, b)), bound=bound, side=side, decision="interval")
    point, _ = judge(observed, (min(a, b), max(a, b)), bound=bound, side=side, decision="point")
    assert point in ("pass", "fail")
    if interval == "pass":
        assert point == "pass"
    if interval == "fail":
        assert point == "fail"


@given(observed=finite, a=finite, b=finite, bound=finite)
def test_sides_mirror_each_other(observed: float, a: float, b: float, bound: float) -> None:
    low, high = min(a, b), max(a, b)
    as_max = judge(observed, (low, high), bound=bound, side="max", decision="interval")[0]
    as_min = judge(-observed, (-high, -low), bound=-bound, side="min", decision="interval")[0]
    assert as_max == as_min


@given(observed=finite, a=finite, b=finite, bound=finite, side=st.sampled_from(["max", "min"]))
def test_a_wider_interval_is_never_more_decisive(observed: float, a: float, b: float, bound: float, side: Any) -> None:
    low, high = min(a, b), max(a, b)
    narrow = judge(observed, (low, high), bound=bound, side=side, decision="interval")[0]
    wide = judge(observed, (low - 1, high + 1), bound=bound, side=side, decision="interval")[0]
    if wide != "inconclusive":
        assert narrow == wide


@pytest.mark.parametrize("observed", [None, math.nan, math.inf])
@pytest.mark.parametrize("decision", ["interval", "point"])
def test_an_undefined_value_never_satisfies_a_bound(observed: float | None, decision: Any) -> None:
    for side in ("max", "min"):
        verdict, reason = judge(observed, (0.0, 1.0), bound=0.5, side=side, decision=decision)
        assert verdict == "inconclusive" and "never satisfies" in reason


def test_an_interval_that_excludes_the_point_is_widened_to_it() -> None:
    # percentile intervals of a min / max ratio can sit below the point estimate
    verdict, reason = judge(0.9635, (0.7561, 0.9626), bound=0.96, side="max", decision="interval")
    assert verdict == "inconclusive" and "widened to the point estimate 0.9635" in reason


def test_bounds_are_inclusive() -> None:
    assert judge(0.8, (0.8, 0.9), bound=0.8, side="min", decision="interval")[0] == "pass"
    assert judge(0.1, (0.05, 0.1), bound=0.1, side="max", decision="interval")[0] == "pass"


# ---------------------------------------------------------------- policies: files, the card's own, the default


def test_default_config_gates_with_the_default_policy_file() -> None:
    config = load_config(DEFAULT_CONFIG)
    assert config.policy == load_policy(DEFAULT_POLICY)
    rules = {r.name: r for r in config.policy.rules}
    four_fifths = rules["four-fifths rule on selection rate by ownership"]
    assert (four_fifths.metric, four_fifths.statistic, four_fifths.bound, four_fifths.side) == (
        "selection_rate",
        "ratio",
        0.8,
        "min",
    )
    assert four_fifths.attribute == "ownership" and four_fifths.on_inconclusive is None  # must be proven
    odds = rules["equalized odds difference by ownership"]
    assert (odds.metric, odds.scope, odds.attribute, odds.side) == (
        "equalized_odds_difference",
        "disparity",
        "ownership",
        "max",
    )
    assert config.policy.decision == "interval" and config.policy.on_inconclusive == "fail"


def test_policy_file_problems_come_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "decison: interval\n"
        "rules:\n"
        "  - name: ratio\n"
        "    metric: selection_rate\n"
        "    scope: groups\n"
        "    statistic: ratio\n"
        "    bound: .nan\n"
        "    side: min\n"
        "  - name: ratio\n"
        "    metric: equalized_odds_difference\n"
        "    scope: overall\n"
        "    bound: 0.1\n"
        "    side: max\n"
    )
    with pytest.raises(ConfigError) as info:
        load_policy(path)
    text = str(info.value)
    assert str(path) in text
    assert "decison (line 1): unknown key `decison`; did you mean `decision`?" in text
    assert "rules[0].bound (line 7)" in text and "finite number" in text
    assert "rules[0].statistic (line 6): scope 'groups' compares no groups" in text
    assert "rules[1].name (line 9): rule name 'ratio' is used twice" in text
    assert "rules[1].scope (line 11): 'equalized_odds_difference' compares the groups of an attribute" in text


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "not found"),
        ("rules: [", "not valid YAML"),
        ("- a\n- b\n", "must hold a mapping of policy keys, found a list"),
    ],
)
def test_unreadable_policy_files_are_config_errors(tmp_path: Path, content: str | None, expected: str) -> None:
    path = tmp_path / "policy.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=expected):
        load_policy(path)


def test_config_policy_file_cannot_be_combined_with_inline_keys(tmp_path: Path) -> None:
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["data"]["path"] = str(tmp_path / "accounts.parquet")
    raw["policy"]["decision"] = "point"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "config.yaml")
    text = str(info.value)
    assert "policy (line " in text and "`file` cannot be combined with inline policy keys (decision)" in text
    assert "policy.file (line " in text and f"{tmp_path / 'policies' / 'account-scoring.yaml'}' not found" in text


def test_card_policy_is_validated_and_checked_against_its_checksum(fair: AuditReport) -> None:
    policy = _policy()
    card = _card(fair, policy=policy.model_dump(mode="json"), lineage={"policy_sha256": policy_sha256(policy)})
    assert card_policy(card) == policy
    card["policy"]["rules"][0]["bound"] = 0.5
    with pytest.raises(DataValidationError, match=r"lineage\.policy_sha256: does not match the card's policy"):
        card_policy(card)
    card["policy"]["rules"][0]["side"] = "sideways"
    with pytest.raises(ConfigError, match=r"policy\.rules\[0\]\.side"):
        card_policy(card)
    with pytest.raises(ConfigError, match="the card carries no policy"):
        card_policy(_card(fair))
    with pytest.raises(ConfigError, match="expected a mapping of policy keys"):
        validate_policy(["rules"])


def test_policy_checksum_is_stable_and_sensitive_to_every_rule() -> None:
    policy = _policy()
    assert policy_sha256(policy) == policy_sha256(PolicySpec.model_validate(policy.model_dump(mode="json")))
    assert policy_sha256(policy) != policy_sha256(_policy(_rule(bound=0.81)))


# ---------------------------------------------------------------- disparate treatment


def _model(uses: bool) -> dict[str, Any]:
    return {
        "name": "account-scoring",
        "candidate": "c",
        "valid_until": "2026-03-01",
        "uses_sensitive_at_inference": uses,
        "attribute": "ownership" if uses else None,
        "mitigation": "threshold_optimizer" if uses else None,
    }


def test_a_model_reading_a_sensitive_attribute_fails_unless_the_policy_allows_it(fair: AuditReport) -> None:
    card = _card(fair, model=_model(True))
    report = evaluate(card, _policy(_rule()), today=TODAY)
    rule = next(r for r in report.rules if r.name == "no sensitive attribute at inference")
    assert report.verdict == "fail"
    assert rule.verdict == "fail"
    assert "'ownership'" in rule.reason and "disparate treatment" in rule.reason
    allowed = evaluate(card, _policy(_rule(), allow_sensitive_at_inference=True), today=TODAY)
    assert allowed.verdict == "pass"
    assert "allowed by allow_sensitive_at_inference" in next(
        r.reason for r in allowed.rules if r.name == "no sensitive attribute at inference"
    )


def test_a_model_that_does_not_read_sensitive_attributes_passes_the_treatment_rule(fair: AuditReport) -> None:
    report = evaluate(_card(fair, model=_model(False)), _policy(_rule()), today=TODAY)
    assert report.verdict == "pass"
    assert next(r for r in report.rules if r.name == "no sensitive attribute at inference").verdict == "pass"
    unknown = evaluate(_card(fair), _policy(_rule()), today=TODAY)
    assert all(r.name != "no sensitive attribute at inference" for r in unknown.rules)


# ---------------------------------------------------------------- error control and what would decide


def test_the_gate_states_its_error_control_per_rule_and_over_the_rules(fair: AuditReport) -> None:
    gate = _gate(
        fair, _rule(), _rule(name="eo", metric="equalized_odds_difference", statistic=None, bound=0.1, side="max")
    )
    control = gate.to_dict()["error_control"]
    assert control["rule_confidence"] == 0.95 and control["per_rule_false_verdict"] == pytest.approx(0.025)
    assert control["family_wise_false_fail"] == pytest.approx(0.05)
    assert "at most 5.00% (Bonferroni bound)" in control["text"]
    assert GateReport.from_dict(gate.to_dict()) == gate


def test_bonferroni_error_control_judges_each_rule_on_a_wider_interval(fair: AuditReport) -> None:
    rules = (_rule(), _rule(name="eo", metric="equalized_odds_difference", statistic=None, bound=0.1, side="max"))
    per_rule = _gate(fair, *rules)
    family = _gate(fair, *rules, error_control="bonferroni")
    assert family.error_control is not None and family.error_control.rule_confidence == pytest.approx(0.975)
    for a, b in zip(per_rule.rules[:2], family.rules[:2], strict=True):
        assert a.ci is not None and b.ci is not None
        assert b.ci[0] <= a.ci[0] and b.ci[1] >= a.ci[1] and (b.ci[1] - b.ci[0]) > (a.ci[1] - a.ci[0])


def test_an_inconclusive_comparison_says_how_many_more_rows_of_which_group_would_decide_it() -> None:
    report = _audit({"a": 3000, "b": 400}, shift={"b": 0.15})
    gate = _gate(report, _rule(bound=0.95))
    rule = gate.rules[0]
    assert rule.verdict == "inconclusive"
    decide = rule.comparisons[0].decide
    assert decide is not None and decide["group"] == "b" and decide["more_rows"] > 0
    assert "more test-split rows of b" in rule.reason


def test_a_groups_rule_is_simultaneous_over_the_groups_it_judges(fair: AuditReport) -> None:
    gate = _gate(fair, _rule(name="auc", metric="auc", scope="groups", statistic=None, bound=0.5))
    judged = [c for c in gate.rules[0].comparisons if c.verdict != "insufficient_data"]
    assert len(judged) >= 2
    for comparison in judged:
        printed = fair.group("ownership", str(comparison.group)).metrics["auc"].ci
        assert printed is not None and comparison.ci is not None
        assert comparison.ci[0] < printed[0] and comparison.ci[1] > printed[1]  # wider than each group's own
