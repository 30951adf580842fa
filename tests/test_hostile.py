"""The hostile tester's cases, each with the tests that prove it is answered.

The cases are proven by topic, in the files beside this one (``test_hostile_<topic>.py``),
where their fixtures live: cancelled and killed runs, text that names an account, bounded
inputs and servers, terminal and exit-code hygiene, cards and models checked against
themselves, erasures that reach every copy, a real server killed mid-run, and the export a
deployment picks up. This catalogue keeps the proof whole: every case names at least one
test, every named test exists, and every hostile test answers a case.
"""

from __future__ import annotations

import ast
from pathlib import Path

HERE = Path(__file__).parent

#: Each case, as the tester found it, and the tests (``file::function``) that prove it answered.
CASES: dict[str, tuple[str, ...]] = {
    # a cancelled run never promotes
    "SIGTERM or Ctrl-C during any stage (explain included) ends the run 143/130, no alias moved, no run left RUNNING": (
        "test_hostile_runs.py::test_a_signal_during_any_stage_ends_the_run_cancelled_with_no_alias_moved_and_no_run_left_running",
        "test_hostile_runs.py::test_a_signal_only_sets_the_flag_the_next_check_stops_and_a_second_signal_stops_at_once",
        "test_hostile_server.py::test_a_signal_while_the_run_promotes_ends_it_cancelled_with_no_alias_moved",
    ),
    # identifiers published
    "feedback naming an account's id or company is refused, nothing recorded": (
        "test_hostile_text.py::test_feedback_quoting_another_row_is_refused_and_nothing_is_recorded",
        "test_hostile_text.py::test_a_normal_feedback_passes_and_lists_on_the_card",
    ),
    "a review note or reviewer naming an account is refused": (
        "test_hostile_text.py::test_a_review_note_quoting_a_row_is_refused_and_a_staff_reviewer_is_allowed",
    ),
    "a reason holding any row's identifier, name or phone (ten unspaced digits included) is refused": (
        "test_hostile_text.py::test_reasons_quoting_any_row_are_refused_and_nothing_is_recorded",
        "test_hostile_text.py::test_the_screen_normalizes_case_separators_and_phone_digits",
    ),
    "an audit by an identifier or a name is refused and prints no account": (
        "test_hostile_text.py::test_an_audit_by_an_identifier_or_a_name_is_refused_and_names_no_row",
        "test_hostile_text.py::test_the_library_audit_refuses_identifier_like_attributes",
    ),
    # erasure undone or not reaching use
    "deleting the ledger's files is refused (exit 4), erased accounts never return to training": (
        "test_hostile_erasure.py::test_a_deleted_ledger_is_refused_by_every_command_that_reads_it",
        "test_hostile_erasure.py::test_a_ledger_dropped_from_the_config_is_refused",
    ),
    "a ledger rolled back to an older copy is refused; a restore holding the anchored head is accepted": (
        "test_hostile_erasure.py::test_a_ledger_restored_from_an_older_copy_is_refused",
        "test_hostile_erasure.py::test_a_restored_ledger_that_holds_the_anchored_head_is_accepted",
    ),
    "a champion trained with an erased account expires after the grace period unless retrained; access after "
    "erasure writes no report; feedback about the account never reaches MLflow's cards": (
        "test_hostile_erasure.py::test_an_erasure_expires_the_champion_trained_with_the_account_until_a_retrained_one_replaces_it",
    ),
    # cards not checked against themselves
    "edited fairness numbers in a failing card are refused by gate --card (exit 4)": (
        "test_hostile_verify.py::test_five_edited_fairness_numbers_are_refused_and_an_untouched_card_gates_as_before",
        "test_hostile_verify.py::test_a_derived_number_edited_alone_names_the_field_and_both_values",
        "test_hostile_verify.py::test_an_interval_that_does_not_hold_its_value_is_refused",
        "test_hostile_verify.py::test_a_narrowed_standard_error_is_refused_by_the_interval_it_no_longer_gives",
    ),
    "promotion verifies model contents, lineage and the run": (
        "test_hostile_verify.py::test_a_model_wrapping_os_system_with_every_checksum_recomputed_is_never_promoted",
        "test_hostile_verify.py::test_a_version_whose_run_was_deleted_is_never_promoted",
        "test_hostile_verify.py::test_a_card_whose_lineage_names_another_model_is_never_promoted",
    ),
    "an alias moved by hand onto a failing version is refused by explain and subject access": (
        "test_hostile_verify.py::test_an_alias_moved_by_hand_onto_a_failing_version_is_refused_by_explain_and_subject_access",
    ),
    # denial of service
    "nested YAML aliases, self-references, deep nesting and oversized files are config errors": (
        "test_hostile_bounds.py::test_a_billion_laughs_is_a_config_error_naming_the_line_and_the_limit",
        "test_hostile_bounds.py::test_a_self_referencing_alias_is_a_config_error_not_a_recursion_error",
        "test_hostile_bounds.py::test_deep_nesting_is_refused_at_the_limit_before_python_recurses",
        "test_hostile_bounds.py::test_too_many_aliases_and_an_oversized_file_are_refused",
        "test_hostile_bounds.py::test_a_policy_file_of_aliases_is_refused_in_the_config_that_names_it",
        "test_hostile_bounds.py::test_modest_aliases_still_load",
    ),
    "an audit with too many crossed groups is refused up front with a clear error": (
        "test_hostile_bounds.py::test_an_audit_over_the_group_cap_is_refused_up_front_and_writes_nothing",
        "test_hostile_bounds.py::test_the_cap_counts_observed_groups_of_every_attribute_and_intersection",
    ),
    "a server that answers /health but hangs on the API ends promote with exit 3 within one budget": (
        "test_hostile_bounds.py::test_promote_against_a_server_that_never_answers_ends_with_exit_3",
        "test_hostile_bounds.py::test_the_budget_is_one_for_all_of_a_commands_operations",
        "test_hostile_bounds.py::test_the_budget_follows_the_settings_and_is_capped",
    ),
    # crashes after side effects
    "markup, escape sequences and U+202E in paths, groups and names never crash or reach the terminal raw": (
        "test_hostile_cli.py::test_a_hostile_group_is_shown_literally_in_the_terminal_and_neutralized_in_the_card",
        "test_hostile_cli.py::test_a_reviewer_with_markup_in_the_name_is_recorded_once_and_later_reviews_still_work",
        "test_hostile_cli.py::test_a_reviewer_or_a_note_with_an_escape_sequence_is_refused_cleanly",
        "test_hostile_cli.py::test_a_hostile_path_is_shown_escaped_in_the_error",
        "test_hostile_cli.py::test_a_usage_error_with_an_escape_sequence_is_shown_escaped",
    ),
    # half-finished state
    "SIGKILL leaves RUNNING runs that the next run reaps": (
        "test_hostile_runs.py::test_a_run_killed_with_sigkill_leaves_running_runs_that_the_next_run_reaps",
        "test_hostile_runs.py::test_a_running_run_is_stale_only_when_its_process_is_gone_or_it_is_too_old",
    ),
    "a real mlflow server killed during training or registration: exit 3, no alias moved; the next run reaps the "
    "RUNNING runs and completes or abandons the half-registered version, which is never promoted": (
        "test_hostile_server.py::test_a_server_killed_mid_run_is_exit_3_and_the_next_run_settles_what_it_left",
        "test_hostile_server.py::test_settling_completes_what_its_run_records_abandons_the_rest_and_leaves_live_ones_alone",
        "test_hostile_server.py::test_an_abandoned_registration_is_never_completed_later",
        "test_hostile_server.py::test_opening_a_run_settles_the_registrations_of_its_registered_model",
        "test_hostile_server.py::test_a_record_that_does_not_verify_is_abandoned_not_completed",
    ),
    "parallel runs on one (new SQLite) store are serialized and agree": (
        "test_hostile_runs.py::test_two_runs_started_together_on_a_new_sqlite_store_are_serialized_and_agree",
    ),
    "a full disk before the summary leaves no alias moved": (
        "test_hostile_runs.py::test_a_summary_that_cannot_be_written_stops_the_run_before_any_alias_moves",
    ),
    # exit codes
    "--out / --junit onto a folder and output.reports being a file are exit 2, before any training": (
        "test_hostile_cli.py::test_outputs_onto_a_folder_are_exit_two_naming_the_option",
        "test_hostile_cli.py::test_an_output_folder_that_is_a_file_is_exit_two_before_any_training",
    ),
    "a password in the tracking URI is exit 2 from the config and from the environment": (
        "test_hostile_cli.py::test_a_password_in_the_tracking_uri_is_exit_two_from_the_config_and_from_the_environment",
    ),
    "--debug keeps the exit code; a read-only store is one line with no SQLAlchemy traceback": (
        "test_hostile_cli.py::test_debug_keeps_the_exit_code_and_adds_the_traceback",
        "test_hostile_cli.py::test_a_read_only_store_is_one_error_line_without_sqlalchemy_tracebacks",
    ),
    # left by the first wave
    "output.models holds the champion as a deployment picks it up, moved with the alias, never half-written": (
        "test_hostile_export.py::test_a_run_exports_its_champion_loadable_scoring_like_the_registry",
        "test_hostile_export.py::test_promoting_another_version_replaces_the_export",
        "test_hostile_export.py::test_rejecting_the_champion_hands_the_export_back",
        "test_hostile_export.py::test_a_demoted_champion_with_no_successor_leaves_no_export",
        "test_hostile_export.py::test_a_cancelled_command_exports_nothing_and_keeps_the_champions_export",
        "test_hostile_export.py::test_a_run_cancelled_before_its_promotion_exports_nothing",
        "test_hostile_export.py::test_what_a_crashed_export_left_never_replaces_the_export_and_the_next_one_removes_it",
        "test_hostile_export.py::test_model_files_that_changed_in_the_store_are_never_exported",
        "test_hostile_export.py::test_an_export_folder_that_is_a_file_is_refused_before_training",
        "test_hostile_export.py::test_an_export_folder_spoiled_after_the_check_is_exit_3_naming_the_fix",
    ),
    "correcting employee_count re-derives size_band": (
        "test_hostile_export.py::test_correcting_employee_count_moves_size_band",
        "test_hostile_export.py::test_a_size_band_column_in_the_file_is_not_read",
        "test_hostile_export.py::test_a_bad_source_is_a_config_error",
        "test_hostile_export.py::test_a_source_needs_bins",
    ),
    "generator seeds give distinct identifiers, so monitoring batches share no pseudonym with training data": (
        "test_hostile_export.py::test_identifiers_depend_on_the_seed_and_only_on_it",
        "test_hostile_export.py::test_a_table_too_large_for_its_seeds_block_or_a_seed_too_large_is_bad_input",
    ),
}


def _tests_of(path: Path) -> set[str]:
    """Names of the test functions a file defines."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


def test_every_case_names_tests_that_exist() -> None:
    missing = []
    for case, tests in CASES.items():
        assert tests, f"no test proves: {case}"
        for test in tests:
            file, _, name = test.partition("::")
            path = HERE / file
            if not path.exists() or name not in _tests_of(path):
                missing.append(test)
    assert missing == []


def test_every_hostile_test_answers_a_case() -> None:
    named = {test for tests in CASES.values() for test in tests}
    unlisted = [
        f"{path.name}::{name}"
        for path in sorted(HERE.glob("test_hostile_*.py"))
        for name in sorted(_tests_of(path))
        if f"{path.name}::{name}" not in named
    ]
    assert unlisted == []
