import pytest

from p300_ops.commands import keys


@pytest.mark.parametrize(
    ("value", "label"), [("3", "03"), (7, "07"), ("012", "12"), ("Ab1", "Ab1")]
)
def test_label(value, label):
    assert keys.label(value, name="--subject") == label


@pytest.mark.parametrize("value", ["", "a/b", "subject 1", "1.5"])
def test_bad_label_names_the_option_and_value(value):
    with pytest.raises(ValueError, match=rf"--session must be letters and digits .*got {value!r}"):
        keys.label(value, name="--session")


@pytest.mark.parametrize(
    ("key", "parsed"),
    [
        ("subject_01/subject_01_eeg_stim.parquet", ("01", None)),
        ("subject_01/session_02/x.parquet", ("01", "02")),
        ("subject_01/a/b/x.parquet", None),
        ("subject_01/x.csv", None),
        ("x.parquet", None),
    ],
)
def test_parse_landing_key(key, parsed):
    assert keys.parse_landing_key(key) == parsed


def test_partitioned_keys_need_the_file_name():
    key = "subject=01/session=02/eeg.parquet"
    assert keys.parse_partitioned_key(key, file_name="eeg.parquet") == ("01", "02")
    assert keys.parse_partitioned_key(key, file_name="features.parquet") is None
