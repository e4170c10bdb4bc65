import pytest

from p300_ops.services import labels


@pytest.mark.parametrize(
    ("value", "label"), [("3", "03"), (7, "07"), ("012", "12"), ("Ab-1", "Ab-1")]
)
def test_label(value, label):
    assert labels.label(value, name="--subject") == label


@pytest.mark.parametrize("value", ["", "a/b", "subject 1", "1.5", "-1", "a_b"])
def test_bad_label_names_the_option_and_value(value):
    with pytest.raises(
        ValueError, match=rf"--session must be 1–64 letters, digits or '-'.*got {value!r}"
    ):
        labels.label(value, name="--session")


@pytest.mark.parametrize(
    ("key", "ids"),
    [
        ("subject_01/subject_01_eeg_stim.parquet", ("01", "01")),
        ("subject_01/session_02/x.parquet", ("01", "02")),
        ("subject_01/x.parquet", ("01", None)),
        ("subject_01/a/b/x.parquet", (None, None)),
        ("x.parquet", (None, None)),
    ],
)
def test_landing_ids(key, ids):
    assert labels.landing_ids(key) == ids


def test_landing_key_round_trips():
    key = labels.landing_key("rec.parquet", subject="3", session="b-2")
    assert key == "subject_03/session_b-2/rec.parquet"
    assert labels.landing_ids(key) == ("03", "b-2")


def test_label_list_needs_one_subject():
    assert labels.label_list("1, 2,", name="--subjects") == ["01", "02"]
    with pytest.raises(ValueError, match=r"--subjects must name at least one subject, got ' , '"):
        labels.label_list(" , ", name="--subjects")


@pytest.mark.parametrize(
    ("key", "study"),
    [
        ("subject_01/x.parquet", "system-a"),
        ("study_speller/subject_01/x.parquet", "speller"),
        ("subject_01/a/b/x.parquet", None),
    ],
)
def test_landing_study(key, study):
    assert labels.landing_study(key) == study


def test_landing_key_with_a_study():
    key = labels.landing_key("rec.parquet", subject="3", session="1", study="speller")
    assert key == "study_speller/subject_03/session_01/rec.parquet"
    with pytest.raises(ValueError, match="--study must be 1–64 lowercase"):
        labels.landing_key("rec.parquet", subject="3", study="Speller")
