"""The train state machine's ASL: one model by default, a Map of trials when tuning, one
subject's calibration when asked."""

import pytest

from infra.asl import STATE_MACHINES_DIR, load_definition

DEFINITION = load_definition(STATE_MACHINES_DIR / "train.asl.json")
STATES = DEFINITION["States"]


def test_calibrate_calibrates_trials_or_search_tunes_anything_else_trains_once():
    choice = STATES[DEFINITION["StartAt"]]
    assert choice["Type"] == "Choice"
    calibration, tuning = choice["Choices"]
    # The action is tested only when present: a missing variable would fail the comparison.
    assert calibration["And"] == [
        {"Variable": "$.action", "IsPresent": True},
        {"Variable": "$.action", "StringEquals": "calibrate"},
    ]
    assert calibration["Next"] == "Calibrate"
    assert {c["Variable"] for c in tuning["Or"]} == {"$.trials", "$.search"}
    assert tuning["Next"] == "StartTuning"
    assert choice["Default"] == "Train"


def test_calibrate_passes_its_input_to_the_train_function_and_returns_its_result():
    calibrate = STATES["Calibrate"]
    assert calibrate["Parameters"] == {"FunctionName": "${TrainFunctionArn}", "Payload.$": "$"}
    assert calibrate["OutputPath"] == "$.Payload"
    assert any("TransientError" in r["ErrorEquals"] for r in calibrate["Retry"])
    assert calibrate["End"] is True


def test_tuning_runs_start_then_a_map_of_trials_then_pick_best():
    assert STATES["StartTuning"]["Next"] == "Trials"
    trials = STATES["Trials"]
    assert trials["Type"] == "Map"
    assert trials["MaxConcurrencyPath"] == "$.context.max_concurrency"
    assert trials["Next"] == "PickBest"
    assert STATES["PickBest"]["Parameters"]["Payload"]["action"] == "pick_best"
    assert STATES["PickBest"]["End"] is True


def test_a_trial_retries_transient_errors_and_a_failure_is_reported_not_fatal():
    inner = STATES["Trials"]["ItemProcessor"]["States"]
    trial = inner["Trial"]
    assert any("TransientError" in r["ErrorEquals"] for r in trial["Retry"])
    assert trial["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure",
                               "Next": "TrialFailed"}]  # fmt: skip
    assert inner["TrialFailed"]["Type"] == "Pass"
    assert inner["TrialFailed"]["Parameters"]["status"] == "failed"


def test_trial_events_carry_ids_and_parameters_only():
    selector = STATES["Trials"]["ItemSelector"]
    assert selector == {"action": "run_trial", "context.$": "$.context",
                        "index.$": "$$.Map.Item.Index", "trial.$": "$$.Map.Item.Value"}  # fmt: skip


@pytest.mark.parametrize("state", ["StartTuning", "PickBest", "Train", "Calibrate"])
def test_setup_and_pick_failures_fail_the_execution(state):
    assert STATES[state]["Catch"][0]["Next"] == "TrainingFailed"
