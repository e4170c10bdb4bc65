import pytest

from p300_ops.services.training_runs import parse_grid, parse_params, train_request, tuning_fields


def test_default_request_is_system_a_half_of_the_subjects():
    assert train_request() == {
        "training_subjects_percentage": 50.0,
        "subjects": None,
        "auto_set_challenger_alias": False,
        "model_name": "lda",
        "model_params": {},
        "seed": 42,
        "study": "system-a",
    }


def test_named_subjects_replace_the_percentage():
    request = train_request(subjects="1, 02,5,", auto_set_challenger_alias=True, seed=7)
    assert request["subjects"] == ["01", "02", "05"]
    assert request["training_subjects_percentage"] is None
    assert (request["auto_set_challenger_alias"], request["seed"]) == (True, 7)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"percentage": 75.0, "subjects": "01"}, "not both"),
        ({"subjects": " , "}, "must name at least one subject"),
        ({"subjects": "01,a/b"}, "--subjects must be 1–64 letters"),
        ({"study": "Speller"}, "--study must be 1–64 lowercase letters"),
    ],
)
def test_bad_requests(options, message):
    with pytest.raises(ValueError, match=message):
        train_request(**options)


def test_parse_params_reads_json_values():
    assert parse_params(("shrinkage=0.1", "solver=lsqr", "n=3", "flag=true")) == {
        "shrinkage": 0.1, "solver": "lsqr", "n": 3, "flag": True,
    }  # fmt: skip
    with pytest.raises(ValueError, match="--param must be NAME=VALUE, got 'shrinkage'"):
        parse_params(("shrinkage",))


def test_parse_grid_reads_names_values_and_windows():
    grid = parse_grid("model=lda,xdawn-riemann; shrinkage=auto,0.1;window=0:0.6,all;decimation=1,2")
    assert grid == {
        "model": ["lda", "xdawn-riemann"], "shrinkage": ["auto", 0.1],
        "window": [[0.0, 0.6], None], "decimation": [1, 2],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "--grid must name at least one parameter, got ''"),
        ("shrinkage", "--grid entries must be NAME=VALUE,VALUE…, got 'shrinkage'"),
        ("shrinkage=", "--grid entries must be NAME=VALUE"),
        ("window=0-0.6", "window values must be START:STOP in s or 'all', got '0-0.6'"),
        ("window=a:b", "window values must be START:STOP"),
        ("decimation=1;decimation=2", "--grid names 'decimation' twice"),
    ],
)
def test_parse_grid_rejects(text, match):
    with pytest.raises(ValueError, match=match):
        parse_grid(text)


def test_tuning_fields_default_to_the_lambda_default_grid():
    assert tuning_fields(trials=3) == {
        "search": {"grid": None, "max_trials": 3}, "max_concurrency": 2,
    }  # fmt: skip
