import pytest

from p300.search_space import DEFAULT_GRID, TrialParams, best_trial, expand_grid


def test_each_model_takes_only_its_own_hyperparameters():
    trials = expand_grid({"model": ["lda", "xdawn-riemann"], "shrinkage": ["auto", 0.1]})
    assert trials == [
        TrialParams(model_name="lda", model_params={"shrinkage": "auto"}),
        TrialParams(model_name="lda", model_params={"shrinkage": 0.1}),
        TrialParams(model_name="xdawn-riemann"),
    ]


def test_windows_and_decimations_multiply_the_trials():
    trials = expand_grid({"window": [None, [0.0, 0.6]], "decimation": [1, 2]})
    assert [(t.model_name, t.window_s, t.decimation) for t in trials] == [
        ("lda", None, 1), ("lda", None, 2), ("lda", (0.0, 0.6), 1), ("lda", (0.0, 0.6), 2),
    ]  # fmt: skip


def test_default_grid_has_18_lda_trials():
    trials = expand_grid(DEFAULT_GRID)
    assert [t.model_name for t in trials] == ["lda"] * 18


@pytest.mark.parametrize("seed", [0, 1, 42])
def test_max_trials_draws_a_seeded_subset_in_grid_order(seed):
    everything = expand_grid(DEFAULT_GRID)
    drawn = expand_grid(DEFAULT_GRID, max_trials=5, seed=seed)
    assert drawn == expand_grid(DEFAULT_GRID, max_trials=5, seed=seed)
    assert len(drawn) == 5
    assert [everything.index(t) for t in drawn] == sorted(everything.index(t) for t in drawn)
    assert expand_grid(DEFAULT_GRID, max_trials=100) == everything


@pytest.mark.parametrize(
    ("grid", "options", "match"),
    [
        (
            {"model": ["svm"]},
            {},
            r"grid model must be among \['lda', 'xdawn-riemann', 'xdawn-mdm'\], got 'svm'",
        ),
        ({"shrinkage": "auto"}, {}, "grid values of 'shrinkage' must be a non-empty list"),
        ({"shrinkage": []}, {}, "must be a non-empty list, got \\[\\]"),
        ({"nfilter": [2]}, {}, r"grid names \['nfilter'\] are no parameter of the models"),
        ({"window": [[0.6, 0.0]]}, {}, "window_s must be \\[start, stop\\]"),
        ({"decimation": [0]}, {}, "decimation: Input should be greater than or equal to 1, got 0"),
        ({}, {"max_trials": 0}, "max_trials must be an integer >= 1, got 0"),
    ],
)
def test_bad_grids_are_refused(grid, options, match):
    with pytest.raises(ValueError, match=match):
        expand_grid(grid, **options)


def test_trial_round_trips_and_labels_itself():
    trial = TrialParams(
        model_name="lda", model_params={"shrinkage": 0.1}, window_s=(0.0, 0.6), decimation=2
    )
    assert TrialParams.model_validate(trial.model_dump(mode="json")) == trial
    assert trial.label() == "lda shrinkage=0.1 window=0–0.6 s k=2"


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"model": "lda"}, r"model\n  Extra inputs are not permitted"),
        ({"window_s": ["0", 1]}, r"window_s.0\n  Input should be a valid number"),
        ({"decimation": True}, r"decimation\n  Input should be a valid integer"),
        ({"model_name": "lda", "model_params": {"C": 1}}, r"\['C'\] are not parameters of 'lda'"),
    ],
)
def test_bad_trials_are_refused(values, match):
    with pytest.raises(ValueError, match=match):
        TrialParams.model_validate(values)


def _ok(index, roc_auc):
    return {"index": index, "status": "succeeded", "roc_auc": roc_auc}


def _failed(index):
    return {"index": index, "status": "failed", "error": "ValueError", "cause": "no sample"}


@pytest.mark.parametrize(
    ("results", "best_index"),
    [
        ([_ok(0, 0.7), _ok(1, 0.9), _ok(2, 0.8)], 1),
        ([_ok(2, 0.9), _ok(0, 0.9), _ok(1, 0.5)], 0),  # a tie goes to the lowest index
        ([_failed(0), _ok(1, 0.6), _failed(2)], 1),
        ([_ok(0, None), _ok(1, 0.55)], 1),  # undefined AUC (one class) never wins
        ([_ok(0, float("nan")), _ok(1, 0.51)], 1),
    ],
)
def test_best_trial_is_the_highest_held_out_auc(results, best_index):
    assert best_trial(results)["index"] == best_index


def test_all_trials_failed_is_a_clear_error():
    with pytest.raises(
        ValueError,
        match=r"ROC-AUC: 2 of 2 trials failed.*\(trial 0: ValueError: no sample; trial 1",
    ):
        best_trial([_failed(0), _failed(1)])
