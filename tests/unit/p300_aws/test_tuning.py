import pytest

from p300.search_space import TrialParams
from p300_aws.errors import BadEventError
from p300_aws.events import parse_event
from p300_aws.training import TrainRequest
from p300_aws.tuning import (
    PickBest,
    RunTrial,
    StartTuning,
    TrainEvent,
    TrialOutcome,
    TuningRequest,
    trial_table,
)


def test_tuning_request_with_explicit_trials():
    request = parse_event(TuningRequest, {
        "subjects": ["01", "02"], "auto_set_challenger_alias": True, "seed": 7,
        "trials": [{"model_name": "lda", "window_s": [0.0, 0.6], "decimation": 2},
                   {"model_name": "xdawn-riemann"}],
    })  # fmt: skip
    assert request.subjects == ("01", "02")
    assert request.seed == 7
    assert request.planned_trials == (
        TrialParams(model_name="lda", window_s=(0.0, 0.6), decimation=2),
        TrialParams(model_name="xdawn-riemann"),
    )
    assert request.max_concurrency == 2


def test_tuning_request_expands_a_search_with_the_request_seed():
    event = {"training_subjects_percentage": 50, "seed": 3, "max_concurrency": 1,
             "search": {"grid": {"shrinkage": ["auto", 0.1, 0.5]}, "max_trials": 2}}  # fmt: skip
    request = parse_event(TuningRequest, event)
    assert len(request.planned_trials) == 2
    assert {t.model_params["shrinkage"] for t in request.planned_trials} < {"auto", 0.1, 0.5}
    assert request.planned_trials == parse_event(TuningRequest, event).planned_trials
    assert request.max_concurrency == 1


@pytest.mark.parametrize(
    ("event", "match"),
    [
        ({"subjects": ["01"]}, "exactly one of trials or search"),
        ({"subjects": ["01"], "trials": [], "search": {}}, "exactly one of trials or search"),
        ({"subjects": ["01"], "trials": []}, "at least one trial"),
        ({"subjects": ["01"], "trials": [{"model_name": "svm"}]},
         r"trials.0.model_name: Input should be 'lda', 'xdawn-riemann' or 'xdawn-mdm', got 'svm'"),
        ({"subjects": ["01"], "search": {"grid": {"foo": [1]}}}, r"\['foo'\] are no parameter"),
        ({"subjects": ["01"], "search": {"max_trials": 0}},
         "search.max_trials: Input should be greater than or equal to 1, got 0"),
        ({"subjects": ["01"], "trials": [{}], "max_concurrency": 0},
         "max_concurrency: Input should be greater than or equal to 1, got 0"),
        ({"trials": [{}]}, "exactly one of training_subjects_percentage or subjects"),
    ],
)  # fmt: skip
def test_tuning_request_rejects(event, match):
    with pytest.raises(BadEventError, match=match):
        parse_event(TuningRequest, event)


def test_trial_table_orders_by_index_and_keeps_caught_failures():
    results = [
        {"index": 1, "status": "failed", "params": {"model_name": "lda"}, "error": "ValueError",
         "cause": '{"errorMessage": "boom", "errorType": "ValueError", "stackTrace": []}'},
        {"index": 0, "status": "succeeded", "params": {}, "roc_auc": 0.8, "duration_s": 3.2,
         "run_id": "r0", "model_uri": "models:/m-0"},
    ]  # fmt: skip
    table = trial_table([TrialOutcome.model_validate(r) for r in results])
    assert [row["index"] for row in table] == [0, 1]
    assert table[1]["error"] == "ValueError" and table[1]["roc_auc"] is None
    assert table[1]["cause"] == "boom"
    assert table[1]["label"] == "lda"
    assert table[0]["run_id"] == "r0"
    assert table[0]["params"] == {"model_name": "lda", "model_params": {}, "window_s": None,
                                  "decimation": 1}  # fmt: skip


CONTEXT = {
    "parent_run_id": "p", "dataset_manifest_sha256": "a" * 64,
    "training_subjects_percentage": None, "subjects": ["01"], "seed": 42,
    "auto_set_challenger_alias": False, "max_concurrency": 2, "trials": [{}],
}  # fmt: skip


@pytest.mark.parametrize(
    ("event", "job"),
    [
        ({"subjects": ["01"]}, TrainRequest),
        ({"action": "start_tuning", "request": {"subjects": ["01"], "trials": [{}]}}, StartTuning),
        ({"action": "run_trial", "context": CONTEXT, "index": 0, "trial": {}}, RunTrial),
        ({"action": "pick_best", "context": CONTEXT, "trials": []}, PickBest),
    ],
)
def test_the_action_picks_the_job(event, job):
    assert type(parse_event(TrainEvent, event).root) is job


@pytest.mark.parametrize(
    ("event", "match"),
    [
        ({"action": "tune"}, r"action must be one of .*'start_tuning'.*got 'tune'"),
        ({"action": "run_trial", "context": CONTEXT, "index": 0},
         r"run_trial.trial: Field required"),
        ({"action": "run_trial", "context": CONTEXT, "index": 0, "trial": {"decimation": 0}},
         r"run_trial.trial.decimation: Input should be greater than or equal to 1, got 0"),
        ({"action": "pick_best", "context": CONTEXT | {"seed": "1"}, "trials": []},
         r"pick_best.context.seed: Input should be a valid integer, got '1'"),
    ],
)  # fmt: skip
def test_a_malformed_train_event_is_a_bad_event(event, match):
    with pytest.raises(BadEventError, match=match):
        parse_event(TrainEvent, event)
