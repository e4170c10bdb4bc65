import pytest

from p300.studies import new_study
from p300_ops.services.study_profiles import profile_options, profile_row, rejection_changes


@pytest.mark.parametrize(
    ("text", "changes"),
    [
        ("none", {"rejection": "none"}),
        ("fixed:100", {"rejection": "fixed", "reject_peak_to_peak_uv": 100.0}),
        ("fixed:75.5", {"rejection": "fixed", "reject_peak_to_peak_uv": 75.5}),
        ("robust", {"rejection": "robust"}),
        ("robust:4", {"rejection": "robust", "reject_robust_k": 4.0}),
    ],
)
def test_rejection_forms(text, changes):
    assert rejection_changes(text) == changes


@pytest.mark.parametrize("text", ["fixed", "fixed:x", "none:3", "robust:k", "autoreject", ""])
def test_bad_rejection_forms_name_the_option_the_forms_and_the_value(text):
    with pytest.raises(ValueError, match=rf"^--rejection must be none, fixed:UV .*got {text!r}$"):
        rejection_changes(text)


def test_profile_options_map_to_profile_fields():
    changes = profile_options(
        band="0.5, 30", window="-0.2,0.8", baseline="-0.2,0", rejection="robust:3",
        resample="128", montage="Fz, Cz,Pz", description="lab B",
    )  # fmt: skip
    assert changes == {
        "l_freq": 0.5, "h_freq": 30.0, "tmin": -0.2, "tmax": 0.8, "baseline": (-0.2, 0.0),
        "rejection": "robust", "reject_robust_k": 3.0, "resample_sfreq": 128.0,
        "montage": ("Fz", "Cz", "Pz"), "description": "lab B",
    }  # fmt: skip
    assert new_study("lab-b", **changes).params.h_freq == 30.0
    assert profile_options() == {}
    assert profile_options(resample="none", montage="any") == {
        "resample_sfreq": None,
        "montage": None,
    }


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"band": "1"}, r"--band must be two comma-separated numbers \(e.g. 1,20\), got '1'"),
        ({"window": "a,b"}, r"--window must be two comma-separated numbers"),
        ({"baseline": "0,1,2"}, r"--baseline must be two"),
        ({"resample": "fast"}, r"--resample must be a rate in Hz or 'none', got 'fast'"),
        ({"montage": " , "}, r"--montage must be CH1,CH2,... or 'any', got ' , '"),
    ],
)
def test_bad_options_are_refused_naming_the_option(options, match):
    with pytest.raises(ValueError, match=match):
        profile_options(**options)


def test_a_profile_row_says_the_policy_in_words():
    row = profile_row(new_study("speller", montage=("Cz", "Pz")))
    assert (row["rejection"], row["montage"], row["band_hz"]) == ("robust k=5", ["Cz", "Pz"],
                                                                   [1.0, 20.0])  # fmt: skip
    assert row["profile"]["name"] == "speller"
