import pytest

from p300.search_space import TrialParams
from p300_aws.errors import BadEventError
from p300_aws.tuning import TuningRequest, handle_event, trial_table


def test_tuning_request_with_explicit_trials():
    request = TuningRequest.from_event({
        "subjects": ["01", "02"], "auto_set_challenger_alias": True, "seed": 7,
        "trials": [{"model_name": "lda", "window_s": [0.0, 0.6], "decimation": 2},
                   {"model_name": "xdawn-riemann"}],
    })  # fmt: skip
    assert request.train.subjects == ("01", "02")
    assert request.train.seed == 7
    assert request.trials == (TrialParams("lda", {}, (0.0, 0.6), 2), TrialParams("xdawn-riemann"))
    assert request.max_concurrency == 2


def test_tuning_request_expands_a_search_with_the_request_seed():
    event = {"training_subjects_percentage": 50, "seed": 3, "max_concurrency": 1,
             "search": {"grid": {"shrinkage": ["auto", 0.1, 0.5]}, "max_trials": 2}}  # fmt: skip
    request = TuningRequest.from_event(event)
    assert len(request.trials) == 2
    assert {t.model_params["shrinkage"] for t in request.trials} < {"auto", 0.1, 0.5}
    assert request.trials == TuningRequest.from_event(event).trials
    assert request.max_concurrency == 1


@pytest.mark.parametrize(
    ("event", "match"),
    [
        ({"subjects": ["01"]}, "exactly one of trials or search"),
        ({"subjects": ["01"], "trials": [], "search": {}}, "exactly one of trials or search"),
        ({"subjects": ["01"], "trials": []}, "at least one trial"),
        ({"subjects": ["01"], "trials": [{"model_name": "svm"}]}, "model_name must be one of"),
        ({"subjects": ["01"], "search": {"grid": {"foo": [1]}}}, r"\['foo'\] are no parameter"),
        ({"subjects": ["01"], "trials": [{}], "max_concurrency": 0}, "max_concurrency must be"),
        ({"trials": [{}]}, "exactly one of training_subjects_percentage or subjects"),
    ],
)
def test_tuning_request_rejects(event, match):
    with pytest.raises(BadEventError, match=match):
        TuningRequest.from_event(event)


def test_trial_table_orders_by_index_and_keeps_caught_failures():
    results = [
        {"index": 1, "status": "failed", "params": {"model_name": "lda"}, "error": "ValueError",
         "cause": '{"errorMessage": "boom", "errorType": "ValueError", "stackTrace": []}'},
        {"index": 0, "status": "succeeded", "params": {}, "roc_auc": 0.8, "duration_s": 3.2,
         "run_id": "r0", "model_uri": "models:/m-0"},
    ]  # fmt: skip
    table = trial_table(results)
    assert [row["index"] for row in table] == [0, 1]
    assert table[1]["error"] == "ValueError" and table[1]["roc_auc"] is None
    assert table[1]["cause"] == "boom"
    assert table[1]["label"] == "lda"
    assert table[0]["run_id"] == "r0"


def test_unknown_action_is_a_bad_event():
    with pytest.raises(BadEventError, match=r"action must be one of .*got 'tune'"):
        handle_event(None, None, {"action": "tune"})
