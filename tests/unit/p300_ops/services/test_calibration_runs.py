"""The input `p300 calibrate` gives the train state machine."""

import pytest

from p300_ops.services.calibration_runs import calibrate_request, parse_characters


@pytest.mark.parametrize(
    ("text", "expected"), [("1-3", [1, 3]), ("4", [4, 4]), (" 2 - 5 ", [2, 5])]
)
def test_characters_are_a_range_from_1(text, expected):
    assert parse_characters(text) == expected


@pytest.mark.parametrize("text", ["0-2", "3-1", "a-b", "1-", "", "1,3"])
def test_bad_character_ranges_name_the_option(text):
    with pytest.raises(ValueError, match=rf"--characters must be FIRST-LAST or N.*got {text!r}"):
        parse_characters(text)


def test_the_request_is_the_calibrate_event():
    request = calibrate_request(study="speller", subject="S01", sessions="1,2", characters="1-3",
                                model="lda", auto_set_alias=True)  # fmt: skip
    assert request == {
        "action": "calibrate", "study": "speller", "subject": "S01", "sessions": ["01", "02"],
        "characters": [1, 3], "model": "lda", "auto_set_alias": True, "n_folds": 5, "seed": 0,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"study": "Speller"}, r"--study must be 1–64 lowercase letters"),
        ({"subject": "S 01"}, r"--subject must be 1–64 letters, digits or '-'"),
        ({"model": "svm"}, r"--model must be one of \('auto', 'lda'"),
        ({"sessions": ","}, r"--sessions must name at least one"),
    ],
)
def test_bad_options_are_refused_naming_them(options, match):
    with pytest.raises(ValueError, match=match):
        calibrate_request(**{"study": "speller", "subject": "S01"} | options)
