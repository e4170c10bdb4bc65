import pytest

from p300_ops.services.dataset_versions import replayed
from p300_ops.services.training_runs import train_request

SHA = "c0ffee" + "0" * 58


RECIPE = {"training_subjects_percentage": None, "subjects": ["01", "03"], "seed": 7,
          "model_name": "xdawn-riemann", "model_params": {"n_filters": 2}}  # fmt: skip


def test_a_replay_takes_split_seed_and_model_from_the_recorded_run():
    request = train_request(auto_set_challenger_alias=True)
    assert replayed(request, RECIPE, given={"dataset"}, sha256=SHA) == {
        "training_subjects_percentage": None, "subjects": ["01", "03"], "seed": 7,
        "model_name": "xdawn-riemann", "model_params": {"n_filters": 2},
        "auto_set_challenger_alias": True, "dataset": SHA, "study": "system-a",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("options", "given", "expected"),
    [
        ({"percentage": 75.0}, {"percentage"},
         {"training_subjects_percentage": 75.0, "subjects": None, "seed": 7}),
        ({"subjects": "02"}, {"subjects"}, {"training_subjects_percentage": None,
                                            "subjects": ["02"]}),
        ({"seed": 1}, {"seed"}, {"subjects": ["01", "03"], "seed": 1}),
        ({"model": "lda", "model_params": {}}, {"model", "params"},
         {"model_name": "lda", "model_params": {}, "seed": 7}),
    ],
)  # fmt: skip
def test_options_given_on_the_command_line_override_the_recipe(options, given, expected):
    replay = replayed(train_request(**options), RECIPE, given=given, sha256=SHA)
    assert {k: replay[k] for k in expected} == expected
    assert replay["dataset"] == SHA
