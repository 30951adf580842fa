"""Tests for the audit's input validation: every problem at once, named, never echoing data values."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import governance.audit._counting as counting_module
from governance.audit import AuditReport, audit
from governance.errors import DataValidationError, ProblemCode

Array = Any


def _inputs(n: int = 100) -> dict[str, Any]:
    rng = np.random.default_rng(15)
    return {
        "y_true": rng.random(n) < 0.3,
        "scores": rng.random(n),
        "sensitive": {"region": rng.choice(["a", "b"], n)},
        "threshold": 0.5,
        "n_boot": 0,
    }


_THREE = {"region": np.array(["a", "b", "c"] * 33 + ["a"])}
_TWO_ATTRIBUTES = {"region": np.array(["a", "b"] * 50), "size": np.array(["s", "s", "m", "m"] * 25)}


def _run(**changes: Any) -> AuditReport:
    arguments = _inputs() | changes
    return audit(arguments.pop("y_true"), arguments.pop("scores"), **arguments)


def test_labels_that_are_not_binary_are_refused() -> None:
    with pytest.raises(DataValidationError, match=r"y_true: expected binary labels \(0/1 or bool\), found 3 distinct"):
        _run(y_true=np.arange(100) % 3)
    with pytest.raises(DataValidationError, match=r"y_true: 2 missing or non-finite labels"):
        _run(y_true=np.where(np.arange(100) < 2, np.nan, 1.0))
    with pytest.raises(DataValidationError, match=r"y_true: expected numbers, found 100 non-numeric"):
        _run(y_true=np.array(["yes", "no"] * 50, dtype=object))


def test_lengths_that_differ_are_refused_naming_each_argument() -> None:
    with pytest.raises(
        DataValidationError, match=r"scores: expected 100 rows \(the length of y_true\), found 99"
    ) as info:
        _run(scores=np.zeros(99), sensitive={"region": ["a", "b"] * 49})
    assert any("sensitive['region']: expected 100 rows" in str(p) for p in info.value.problems)


def test_non_finite_scores_are_refused() -> None:
    scores = np.linspace(0, 1, 100)
    scores[[3, 7]] = [np.nan, np.inf]
    with pytest.raises(DataValidationError, match=r"scores: 2 non-finite values \(NaN or infinite\)"):
        _run(scores=scores)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"threshold": math.nan}, r"threshold: expected a finite real number, found a non-finite one"),
        ({"threshold": "0.5"}, r"threshold: expected a finite real number, found str"),
        ({"threshold": None, "top_k": 0.0}, r"top_k: expected a share of rows in \(0, 1\]"),
        ({"threshold": None, "top_k": 1.5}, r"top_k: expected a share of rows in \(0, 1\], found a number"),
        ({"threshold": None, "top_k": "10%"}, r"top_k: expected a share of rows in \(0, 1\], found str"),
        ({"threshold": None}, r"threshold: expected exactly one of threshold and top_k"),
        ({"top_k": 0.1}, r"threshold: expected exactly one of threshold and top_k"),
        ({"precision_at_k_share": 0.0}, r"precision_at_k_share: expected a share of rows in \(0, 1\], found a"),
        ({"sensitive": ["a", "b"] * 50}, r"sensitive: expected a mapping of attribute name to values, found list"),
        ({"n_boot": -1}, r"n_boot: expected an integer >= 0"),
        ({"confidence": 1.0}, r"confidence: expected a level in \(0, 1\)"),
        ({"min_group_size": 0}, r"min_group_size: expected an integer >= 1"),
        ({"score_bins": 1}, r"score_bins: expected an integer >= 2"),
        ({"missing": "drop"}, r"missing: expected 'error' or 'group'"),
        ({"decisions": np.ones(100, dtype=bool)}, r"decisions are given, so threshold and top_k must be None"),
        ({"intersections": [["region", "nope"]]}, r"intersections\[0\]: 1 names are not keys of sensitive"),
        ({"reference": {"region": "zzz"}}, r"reference\['region'\]: the reference group does not occur"),
        (
            {"compare": {"region": ["a", "zzz"]}},
            r"compare\['region'\]: 1 of the 2 named groups are not groups of this attribute \(2 groups found\)",
        ),
        (
            {"compare": {"region": ["a", "a"]}},
            r"compare\['region'\]: expected at least 2 different group names, found 1",
        ),
        ({"compare": {"region": "ab"}}, r"compare\['region'\]: expected a list of group names \(strings\), found str"),
        (
            {"compare": ["a", "b"]},
            r"compare: expected a mapping of attribute name to a list of group names, found list",
        ),
        ({"compare": {"nope": ["a", "b"]}}, r"compare\['nope'\]: not an attribute being audited"),
        (
            {"sensitive": _THREE, "compare": {"region": ["a", "b"]}, "reference": {"region": "c"}},
            r"reference\['region'\]: the reference group is not among the 2 groups compared",
        ),
        (
            {"sensitive": _TWO_ATTRIBUTES, "intersections": "all", "compare": {"region & size": ["a & s", "b & s"]}},
            r"compare\['region & size'\]: an intersection compares the crossings of the groups named for its",
        ),
        (
            {"scores": np.linspace(300, 850, 100), "threshold": 600, "scores_are_probabilities": True},
            r"scores_are_probabilities: 100 scores are outside \[0, 1\], so they are not probabilities",
        ),
        ({"scores_are_probabilities": "yes"}, r"scores_are_probabilities: expected True, False or None"),
        (
            {"scores": None, "threshold": None, "decisions": np.ones(100), "scores_are_probabilities": False},
            r"scores_are_probabilities: no scores are given \(decisions only\)",
        ),
    ],
)
def test_bad_arguments_are_refused_naming_argument_and_expectation(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(DataValidationError, match=message):
        _run(**changes)


_EVERY_ARGUMENT = [
    ({"threshold": math.nan}, ("threshold", "")),
    ({"threshold": None, "top_k": 1.5}, ("top_k", "")),
    ({"sensitive": ["a", "b"] * 50}, ("sensitive", "")),
    ({"sensitive": {"region": ["a"] * 100}}, ("sensitive", "region")),
    ({"sensitive": {"region": ["a", None] * 50}}, ("sensitive", "region")),
    ({"y_true": np.arange(100) % 3}, ("y_true", "")),
    ({"scores": np.zeros(99)}, ("scores", "")),
    ({"missing": {"region": "drop"}}, ("missing", "region")),
    ({"categories": {"nope": ["a"]}}, ("categories", "nope")),
    ({"intersections": [["region", "nope"]]}, ("intersections", "0")),
    ({"reference": {"region": "zzz"}}, ("reference", "region")),
    ({"reference": {"nope": "a"}}, ("reference", "nope")),
    ({"compare": {"region": ["a", "zzz"]}}, ("compare", "region")),
    ({"compare": {"nope": ["a", "b"]}}, ("compare", "nope")),
    ({"sensitive": _THREE, "compare": {"region": ["a", "b"]}, "reference": {"region": "c"}}, ("reference", "region")),
    ({"scores": np.linspace(-2, 2, 100), "scores_are_probabilities": True}, ("scores_are_probabilities", "")),
]


@pytest.mark.parametrize(("changes", "expected"), _EVERY_ARGUMENT)
def test_every_problem_names_its_parameter_key_and_code(changes: dict[str, Any], expected: tuple[str, str]) -> None:
    # the command line names its own options from these fields and never reads a location
    with pytest.raises(DataValidationError) as info:
        _run(**changes)
    assert [(p.parameter, p.key) for p in info.value.problems] == [expected]
    assert all(p.code in set(ProblemCode) for p in info.value.problems)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(DataValidationError) as info:
        _run(y_true=np.arange(100) % 3, scores=np.full(100, np.nan), threshold=None, n_boot=-5)
    locations = {p.location for p in info.value.problems}
    assert {"y_true", "scores", "threshold", "n_boot"} <= locations
    assert str(info.value).startswith(f"{len(info.value.problems)} data problem(s):")


def test_one_group_only_is_refused() -> None:
    with pytest.raises(
        DataValidationError, match=r"sensitive\['region'\]: 1 group found; an audit compares at least 2"
    ):
        _run(sensitive={"region": ["a"] * 100})


def test_zero_rows_are_refused_with_the_reason() -> None:
    with pytest.raises(DataValidationError, match=r"y_true: 0 rows; the audit needs at least 1 row; check the filters"):
        audit(np.array([], dtype=bool), np.array([]), sensitive={"region": np.array([])}, threshold=0.5)


@pytest.mark.parametrize(
    ("region", "missing"),
    [
        (np.array(["a", "b", None, "", np.nan] * 20, dtype=object), 60),
        (np.array(["a", "b", "", " ", "b"] * 20), 40),  # numpy strings: empty and blank are missing
        (np.array([1.0, 2.0, np.nan, 1.0] * 25), 25),
    ],
)
def test_missing_sensitive_values_are_an_error_naming_column_and_count_by_default(region: Array, missing: int) -> None:
    with pytest.raises(
        DataValidationError, match=rf"sensitive\['region'\]: {missing} missing values \(None, NaN or empty"
    ):
        _run(sensitive={"region": region})


def test_missing_sensitive_values_can_be_their_own_reported_group() -> None:
    region = pd.Series(["a", "b", None, "", np.nan] * 20)
    report = _run(sensitive={"region": region}, missing="group", missing_label="not stated")
    missing = report.group("region", "not stated")
    assert missing.n == 60
    assert report.attributes[0].missing_rows == 60
    assert sum(g.n for g in report.groups if g.attribute == "region") == 100


def test_missing_values_policy_can_be_set_per_attribute() -> None:
    rng = np.random.default_rng(19)
    region = np.array(["a", "b", None, "a"] * 25, dtype=object)
    size = np.array(["s", "m", "l", ""] * 25, dtype=object)
    report = _run(
        sensitive={"region": region, "size": size, "tier": rng.choice(["x", "y"], 100)},
        missing={"region": "group", "size": "group"},
        missing_label={"size": "not given"},
    )
    assert report.group("region", "unknown").n == 25
    assert report.group("size", "not given").n == 25
    with pytest.raises(DataValidationError, match=r"sensitive\['size'\]: 25 missing values"):
        _run(sensitive={"region": region, "size": size}, missing={"region": "group"})
    with pytest.raises(DataValidationError, match=r"missing\['nope'\]: not a key of sensitive"):
        _run(missing={"nope": "group"})


def test_missing_label_that_is_also_a_value_is_refused() -> None:
    region = np.array(["a", "unknown", None, "b"] * 25, dtype=object)
    with pytest.raises(DataValidationError, match=r"missing_label is also a value of this attribute"):
        _run(sensitive={"region": region}, missing="group")


def test_continuous_attribute_is_refused_unless_binned() -> None:
    age = np.random.default_rng(16).normal(45, 12, 100)
    with pytest.raises(
        DataValidationError, match=r"sensitive\['age'\]: a continuous attribute \(float with 100 distinct"
    ):
        _run(sensitive={"age": age})
    report = _run(sensitive={"age": pd.cut(age, [0, 40, 60, 120])})
    assert {g.group for g in report.groups} == {"(0, 40]", "(40, 60]", "(60, 120]"}


def test_declared_category_absent_from_the_data_is_listed() -> None:
    report = _run(categories={"region": ["a", "b", "c"]})
    assert report.attributes[0].absent_groups == ("c",)
    absent = report.group("region", "c")
    assert absent.n == 0 and absent.status == "insufficient_data"
    assert absent.reason == "declared category absent from the data"
    assert "c" in report.disparity("region", "selection_rate").excluded_groups


def test_value_outside_declared_categories_is_refused() -> None:
    with pytest.raises(DataValidationError, match=r"sensitive\['region'\]: 50 rows have values outside the declared"):
        _run(sensitive={"region": np.array(["a", "b"] * 50)}, categories={"region": ["a"]})


def test_unused_categories_of_a_categorical_are_listed_as_absent() -> None:
    region = pd.Categorical(["b", "a"] * 50, categories=["c", "b", "a"])
    report = _run(sensitive={"region": region})
    assert [g.group for g in report.groups] == ["b", "a", "c"]  # declared order, then the absent one
    assert report.attributes[0].absent_groups == ("c",)


def test_error_messages_never_echo_data_values() -> None:
    secret_group, secret_score, secret_label = "ACME-Secret-Holdings", 0.123456789, 7.5
    n = 50
    region = np.array([secret_group, "other"] * 25, dtype=object)
    scores = np.full(n, secret_score)
    scores[0] = np.inf
    labels = np.zeros(n)
    labels[0] = secret_label
    messages = []
    clean = np.full(n, secret_score)
    for call in (
        lambda: audit(labels, scores, sensitive={"region": region}, threshold=0.5),
        lambda: audit(
            labels > 0, scores, sensitive={"region": np.where(region == "other", None, region)}, threshold=0.5
        ),
        lambda: audit(labels > 0, scores, sensitive={"region": [secret_group] * n}, threshold=0.5),
        lambda: audit(labels > 0, scores[:-1], sensitive={"region": region}, threshold=0.5),
        lambda: audit(
            labels > 0, np.abs(scores), sensitive={"region": region}, categories={"region": ["other"]}, top_k=0.1
        ),
        lambda: audit(
            labels > 0, clean, sensitive={"region": region}, threshold=0.5, reference={"region": secret_group * 2}
        ),
        lambda: audit(labels > 0, clean, sensitive={"region": np.linspace(secret_label, 99, n)}, threshold=0.5),
    ):
        with pytest.raises(DataValidationError) as info:
            call()
        messages.append(str(info.value))
    text = "\n".join(messages)
    for secret in (secret_group, "ACME", "0.123", "7.5", repr(secret_score)):
        assert secret not in text


def test_compare_problems_count_the_groups_and_never_name_them() -> None:
    secret = "ACME-Secret-Holdings"
    region = np.array([secret, "other"] * 50, dtype=object)
    with pytest.raises(DataValidationError) as info:
        _run(sensitive={"region": region}, compare={"region": ["other", "ACME"]})
    assert [(p.parameter, p.key, p.code) for p in info.value.problems] == [("compare", "region", "unknown_name")]
    assert "ACME" not in str(info.value)  # neither the data's groups nor the name typed


def test_strings_are_grouped_exactly_whatever_their_width_and_alphabet() -> None:
    values = np.array(["a", "bb", "é-accent", "a-much-longer-group-name", "日本", "a"] * 30)
    report = _run(sensitive={"name": values}, y_true=np.arange(180) % 2 == 0, scores=np.linspace(0, 1, 180))
    counts = {g.group: g.n for g in report.groups}
    assert counts == dict(pd.Series(values).value_counts())


@settings(max_examples=10, deadline=None)
@given(st.lists(st.sampled_from([-0.0, 0.0, 1e-300, -1e-300, 0.5, 0.5 + 2**-50, -3.0, 1e300]), min_size=1, max_size=8))
def test_score_sort_is_exact_for_ties_signed_zeros_and_near_values(pool: list[float]) -> None:
    rng = np.random.default_rng(len(pool))
    s = rng.choice(np.array(pool), 70_000) + rng.choice([0.0, 1e-12], 70_000)
    order = counting_module._argsort_scores(s)
    assert np.array_equal(np.sort(order), np.arange(len(s)))
    assert np.array_equal(s[order], np.sort(s))
