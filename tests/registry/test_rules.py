"""The promotion rules as pure functions over the evidence: no MLflow, no store."""

from __future__ import annotations

import subprocess
import sys

import pytest

from governance.errors import GateFailure, RegistryError
from governance.registry import Contender, ModelVersionRecord, Review, champion_reason, choose_champion, rank_candidates
from governance.registry.rules import Evidence, latest_decisions, refusal


def _record(version: int, verdict: str, name: str | None = None) -> ModelVersionRecord:
    return ModelVersionRecord("m", version, "r", name or f"c{version}", verdict, "0" * 64, "m-1", "READY")


def _contender(version: int, verdict: str, selection: float, *undecided: str, name: str | None = None) -> Contender:
    return Contender(_record(version, verdict, name), selection, undecided=undecided)


def test_choose_champion_takes_the_best_passing_metric_and_ignores_failing_and_missing_ones() -> None:
    chosen = choose_champion(
        [
            _contender(1, "pass", 0.74),
            _contender(2, "fail", 0.91),
            _contender(3, "inconclusive", 0.90),
            _contender(4, "pass", float("nan")),
            _contender(5, "pass", 0.76),
            _contender(6, "pass", 0.76),
        ]
    )
    assert chosen is not None and chosen.version == 5  # ties: the name (c5 before c6)
    assert choose_champion([_contender(2, "fail", 0.9)]) is None
    assert choose_champion([]) is None


def test_a_candidate_with_every_rule_decided_ranks_above_a_better_one_that_passed_on_warnings() -> None:
    warned = _contender(1, "pass", 0.90, "equalized odds by ownership (inconclusive)", name="lightgbm")
    decided = _contender(2, "pass", 0.70, name="logreg_fair")
    decided_better = _contender(3, "pass", 0.75, name="lightgbm_fair")
    assert rank_candidates([warned, decided]) == (decided, warned)
    assert rank_candidates([warned, decided, decided_better]) == (decided_better, decided, warned)
    assert choose_champion([warned, decided]) == decided.record
    assert choose_champion([warned]) == warned.record  # still a champion when no candidate decided every rule


def test_ranking_ties_go_to_the_name_whatever_the_input_order() -> None:
    b, a = _contender(1, "pass", 0.8, name="b_model"), _contender(2, "pass", 0.8, name="a_model")
    assert rank_candidates([b, a]) == rank_candidates([a, b]) == (a, b)
    undecided = _contender(3, "pass", 0.8, "x (insufficient data)", name="0_model")
    assert rank_candidates([undecided, b, a])[-1] == undecided


def test_no_passing_candidate_ranks_nothing_and_says_so() -> None:
    failed = [_contender(1, "fail", 0.9), _contender(2, "inconclusive", 0.8), _contender(3, "fail", 0.7)]
    assert rank_candidates(failed) == ()
    assert choose_champion(failed) is None
    assert champion_reason(failed, metric="auc") == "no candidate passed the gate (2 fail, 1 inconclusive)"
    unscored = [_contender(1, "pass", float("nan"))]
    assert champion_reason(unscored, metric="auc") == (
        "no candidate passed the gate (1 pass); those that passed have no finite validation auc"
    )


def test_champion_reason_says_why_the_champion_won() -> None:
    warned = _contender(1, "pass", 0.90, "equalized odds by ownership (inconclusive)", name="lightgbm")
    decided = [_contender(2, "pass", 0.771, name="lightgbm_fair"), _contender(3, "pass", 0.70, name="logreg_fair")]
    assert champion_reason([warned, *decided, _contender(4, "fail", 0.95)], metric="auc") == (
        "lightgbm_fair: passed with every rule decided; validation auc 0.771 (best of 2 such candidates); "
        "ranked above 1 passing candidate with undecided rules allowed as warnings"
    )
    assert champion_reason(decided[1:], metric="average_precision") == (
        "logreg_fair: passed with every rule decided; validation average_precision 0.700 (the only such candidate)"
    )
    other = _contender(5, "pass", 0.80, "a (inconclusive)", "b (insufficient data)", name="hgb")
    assert champion_reason([warned, other], metric="auc") == (
        "lightgbm: passed with 1 rule undecided (allowed as a warning by on_inconclusive: warn): equalized odds "
        "by ownership (inconclusive); no candidate passed with every rule decided; validation auc 0.900 "
        "(best of 2 such candidates)"
    )


def _review(reviewer: str, decision: str) -> Review:
    return Review(reviewer=reviewer, decision=decision, note="n", at="2026-01-01T00:00:00Z")  # type: ignore[arg-type]


def _evidence(**changes: object) -> Evidence:
    facts: dict[str, object] = {
        "version": 3,
        "run_id": "r1",
        "status": "READY",
        "run_status": "FINISHED",
        "verdict": "pass",
        "card": {},
        "card_sha256": "0" * 64,
        "reviews": (),
    }
    return Evidence(**(facts | changes))  # type: ignore[arg-type]


def test_the_rules_module_imports_no_mlflow() -> None:
    code = "import sys, governance.registry.rules; print('mlflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_each_reviewer_counts_once_with_their_latest_decision() -> None:
    reviews = [_review("Ana Ruiz", "approve"), _review("Ben", "reject"), _review("ana ruiz ", "approve")]
    assert latest_decisions(reviews, "approve") == ("ana ruiz ",)
    assert latest_decisions(reviews, "reject") == ("Ben",)
    assert latest_decisions([*reviews, _review("Ben", "approve")], "reject") == ()


@pytest.mark.parametrize(
    ("changes", "required", "reason"),
    [
        ({"run_status": "KILLED"}, 0, "run"),
        ({"verdict": "inconclusive"}, 0, "verdict"),
        ({"demoted": "monitor-run-1"}, 0, "demoted"),
        ({"reviews": (_review("Ben", "reject"),)}, 0, "rejected"),
        ({"reviews": (_review("Ana", "approve"),)}, 2, "approvals"),
    ],
)
def test_a_version_breaking_a_rule_is_refused_with_the_rule_as_reason(
    changes: dict[str, object], required: int, reason: str
) -> None:
    refused = refusal(_evidence(**changes), name="m", action="promote", required=required)
    assert isinstance(refused, GateFailure) and refused.report["reason"] == reason
    assert str(refused).startswith("refusing to promote 'm' version 3: ")


def test_a_version_not_ready_is_an_infrastructure_state_and_nomination_skips_the_approval_count() -> None:
    assert isinstance(
        refusal(_evidence(status="PENDING_REGISTRATION"), name="m", action="keep", required=0), RegistryError
    )
    assert refusal(_evidence(), name="m", action="nominate", required=None) is None
    assert refusal(_evidence(), name="m", action="promote", required=1) is not None
    approved = _evidence(reviews=(_review("Ana", "approve"),))
    assert refusal(approved, name="m", action="promote", required=1) is None


def test_a_blocked_version_takes_no_part_and_the_reason_says_why() -> None:
    blocked = Contender(_record(1, "pass"), 0.95, blocked="refusing to promote 'm' version 1: it was demoted")
    chosen = choose_champion([blocked, _contender(2, "pass", 0.70)])
    assert chosen is not None and chosen.version == 2  # the better metric, but it may take no alias
    assert rank_candidates([blocked]) == ()
    why = champion_reason([blocked, _contender(3, "fail", 0.9)], metric="auc")
    assert why.startswith("no candidate passed the gate (1 pass, 1 fail); 1 that passed may take no alias: ")
    assert why.endswith("it was demoted")
