"""The train state machine's ASL: one model by default, a Map of trials when tuning, one
subject's calibration when asked."""

import pytest

from infra.asl import STATE_MACHINES_DIR, load_definition
from p300.search_space import TrialParams
from p300_aws.tuning import RunTrial, TuningContext

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


def apply_template(template: dict, state_input: dict, context_object: dict) -> dict:
    """A ``Parameters``/``ItemSelector`` object built as Step Functions builds it: the value of
    ``name.$`` is read at its path, ``$.…`` in the state input and ``$$.…`` in the context
    object; other values are copied."""
    built = {}
    for key, value in template.items():
        if not key.endswith(".$"):
            built[key] = value
            continue
        source, path = (
            (context_object, value[3:]) if value.startswith("$$.") else (state_input, value[2:])
        )
        for part in path.split("."):
            source = source[part]
        built[key.removesuffix(".$")] = source
    return built


def test_each_map_item_becomes_a_trial_event_with_its_index_parameters_and_the_context():
    context = {
        "parent_run_id": "r0", "dataset_manifest_sha256": "ab" * 32,
        "training_subjects_percentage": 50, "subjects": None, "seed": 42,
        "auto_set_challenger_alias": False, "max_concurrency": 2,
        "trials": [{"model_name": "lda"}, {"model_name": "lda", "decimation": 2}],
    }  # fmt: skip
    trials_input = {"request": {"trials": context["trials"]}, "context": context}
    for index, trial in enumerate(context["trials"]):
        item = {"Map": {"Item": {"Index": index, "Value": trial}}}
        event = RunTrial.model_validate(
            apply_template(STATES["Trials"]["ItemSelector"], trials_input, item)
        )
        assert (event.index, event.trial) == (index, TrialParams.model_validate(trial))
        assert event.context == TuningContext.model_validate(context)


@pytest.mark.parametrize("state", ["StartTuning", "PickBest", "Train", "Calibrate"])
def test_setup_and_pick_failures_fail_the_execution(state):
    assert STATES[state]["Catch"][0]["Next"] == "TrainingFailed"
