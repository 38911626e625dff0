"""Which tier each test is in, in one place (tests/conftest.py applies it at collection).

- unit: no model is loaded and no engine, browser or CLI run started; the whole tier runs in under a
  minute. tests/model_guard.py fails a unit test that loads a model.
- integration: real components together (MiniLM and faiss in the filter, the instant teacher through
  whole rounds, the CLI in a subprocess, Chromium), in seconds to a minute each.
- slow: a test or file marked `pytest.mark.slow` where it is written: real engines, servers, training.

A file not listed here is integration until someone lists it: a new test is never put in the
fast tier by accident. A `slow` mark wins over this list.
"""

from __future__ import annotations

UNIT_FILES = {
    "test_budget.py",
    "test_config_rundir.py",
    "test_constraints.py",
    "test_decontam_audit.py",
    "test_estimate.py",
    "test_eval.py",
    "test_eval_measures.py",
    "test_filter_checks.py",
    "test_filter_pipeline.py",
    "test_filter_quality.py",
    "test_filter_rouge.py",
    "test_formats.py",
    "test_instance_steps.py",
    "test_models.py",
    "test_option_faults.py",
    "test_parse.py",
    "test_progress.py",
    "test_roofline_bench.py",
    "test_sandbox.py",
    "test_seeds.py",
    "test_store.py",
    "test_tails.py",
    "test_teacher_registry.py",
    "test_teachers_fanout.py",
    "test_teachers_openai_backpressure.py",
    "test_teachers_openai_faults.py",
    "test_teachers_vllm.py",  # its one test that is not slow: the message when vllm is missing
    "test_tiers.py",
    "test_verify.py",
}

# Tests of a unit file that belong to integration: they embed with MiniLM (the novelty filter, the
# instant teacher's rounds), load a tokenizer, run the CLI or a crash loop in a subprocess, or take
# seconds of CPU. Timings are from the shared 2-core machine under load.
INTEGRATION_TESTS = {
    "test_budget.py::test_a_budget_stop_and_resume_ends_with_the_unbudgeted_accepted_set",
    "test_budget.py::test_a_money_budget_stops_at_the_price_it_is_given",
    "test_constraints.py::test_every_checker_runs_with_the_network_blocked_and_no_nltk_data",  # 24 s
    "test_decontam_audit.py::test_a_paraphrase_or_a_shared_13_gram_of_a_heldout_task_is_rejected_with_its_id",
    "test_decontam_audit.py::test_the_filter_pipeline_counts_contaminated_as_a_reject_kind",
    "test_estimate.py::test_a_calibration_batch_projects_what_the_run_spends",
    "test_estimate.py::test_the_cost_is_the_projected_tokens_at_their_prices",
    "test_eval.py::test_the_base_is_answered_once_then_read_from_the_cache",
    "test_eval_measures.py::test_eval_writes_all_three_measures_from_cached_answers",
    "test_filter_checks.py::test_a_new_check_is_one_class_and_one_config_line_and_the_round_counts_its_rejects",
    "test_filter_checks.py::test_the_order_and_the_set_of_checks_are_the_configs",
    "test_filter_checks.py::test_verify_is_the_last_check_and_a_repaired_record_takes_its_tasks_place",
    "test_filter_pipeline.py::test_every_reject_has_a_reason_and_order_is_kept",
    "test_filter_pipeline.py::test_filter_command_writes_outputs",
    "test_filter_pipeline.py::test_judge_needs_a_teacher",
    "test_filter_rouge.py::test_decisions_and_scores_equal_rouge_score_on_seed_tasks",  # 20 s
    "test_formats.py::test_a_hundred_thousand_tasks_load_in_seconds",  # 12 s
    "test_models.py::test_smollm2_converts_once_into_a_loadable_safetensors_folder",
    "test_models.py::test_the_audit_judge_is_installed_and_its_gguf_hash_checked",  # hashes 1.1 GB: 14 s
    "test_models.py::test_the_embedded_teacher_is_installed_and_its_gguf_hash_checked",  # 8 s
    "test_option_faults.py::test_duplicate_seeds_are_warned_about_and_held_out_once",
    "test_option_faults.py::test_markup_in_a_run_root_and_name_survives_generate_and_report",
    "test_sandbox.py::test_a_busy_loop_stops_at_the_cpu_limit_and_a_sleep_at_the_wall_clock",
    "test_sandbox.py::test_it_leaves_no_process_behind",
    "test_store.py::test_sigkill_at_random_points_never_loses_or_duplicates",  # 34 s
    "test_teacher_registry.py::test_make_teacher_builds_it_and_a_round_runs_on_it",  # a whole round: 5 s
    "test_teachers_openai_backpressure.py::test_a_failing_round_keeps_the_rounds_before_it",
    "test_teachers_openai_backpressure.py::test_requests_in_flight_settle_near_what_the_server_takes",
    "test_teachers_openai_backpressure.py::test_without_adaptation_it_keeps_max_in_flight_and_the_server_rejects_most",
    "test_tails.py::test_the_bench_replays_a_run_with_its_limits",  # imports torch with the roofline bench
    "test_tails.py::test_round_two_asks_within_the_limits_round_one_measured_and_says_so",  # MiniLM novelty
    "test_tiers.py::test_every_loader_is_wrapped_once_its_module_is_imported",  # imports torch and vllm
    "test_verify.py::test_a_task_no_program_could_check_is_rejected_before_its_instance_is_written",
    "test_verify.py::test_open_tasks_kept_only_where_a_second_answer_agrees",
}

TIERS = ("unit", "integration", "slow")


def tier_of(file_name: str, test_name: str, marked_slow: bool) -> str:
    if marked_slow:
        return "slow"
    if file_name in UNIT_FILES and f"{file_name}::{test_name}" not in INTEGRATION_TESTS:
        return "unit"
    return "integration"
