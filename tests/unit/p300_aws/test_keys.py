import re

import pytest

from p300_aws import keys
from p300_aws.errors import BadKeyError


@pytest.mark.parametrize(
    ("key", "subject", "session"),
    [
        ("subject_01/subject_01_eeg_stim.parquet", "01", keys.DEFAULT_SESSION),
        ("subject_12/anything at all.parquet", "12", None),
        ("subject_A-3/session_02/run 1.PARQUET", "A-3", "02"),
        ("recording.parquet", None, None),
    ],
)
def test_parse_landing_key_accepted_forms(key, subject, session):
    parsed = keys.parse_landing_key(key)
    assert (parsed.key, parsed.subject, parsed.session) == (key, subject, session)


@pytest.mark.parametrize(
    ("key", "match"),
    [
        ("subject_01/notes.txt", "must name a .parquet file"),
        ("subject_01/.parquet", "must name a .parquet file"),
        ("patient_01/x.parquet", "landing key must be"),
        ("subject_01/a/b/c.parquet", "landing key must be"),
        ("subject_0_1/x.parquet", "landing key must be"),
        ("subject_01/run_02/x.parquet", "must be session_<N>"),
        ("subject_01/subject_02_eeg_stim.parquet", "which subject is it"),
    ],
)
def test_parse_landing_key_rejects(key, match):
    with pytest.raises(BadKeyError, match=match):
        keys.parse_landing_key(key)


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("subject_07/morning+run+%28v2%29.parquet", "subject_07/morning run (v2).parquet"),
        ("subject_01/subject_01_eeg_stim.parquet", "subject_01/subject_01_eeg_stim.parquet"),
        ("subject_03/caf%C3%A9%2Bplus.parquet", "subject_03/café+plus.parquet"),
    ],
)  # fmt: skip
def test_decode_event_key(encoded, decoded):
    assert keys.decode_event_key(encoded) == decoded


@pytest.mark.parametrize(
    ("key", "file_subject", "file_session", "expected"),
    [
        ("subject_01/x.parquet", "99", "03", keys.SubjectSession("01", "03")),
        ("subject_01/session_05/x.parquet", "99", "03", keys.SubjectSession("01", "05")),
        ("x.parquet", "04", None, keys.SubjectSession("04", keys.DEFAULT_SESSION)),
        ("x.parquet", "04", "2", keys.SubjectSession("04", "2")),
    ],
)
def test_identify_prefers_the_key_then_the_file(key, file_subject, file_session, expected):
    landing = keys.parse_landing_key(key)
    assert keys.identify(landing, file_subject=file_subject, file_session=file_session) == expected


@pytest.mark.parametrize(
    ("key", "file_subject", "file_session", "match"),
    [
        ("x.parquet", None, None, "names no subject"),
        ("x.parquet", "a/b", None, "subject metadata must be"),
        ("subject_01/x.parquet", "01", "s=1", "session metadata must be"),
    ],
)
def test_identify_rejects(key, file_subject, file_session, match):
    landing = keys.parse_landing_key(key)
    with pytest.raises(BadKeyError, match=match):
        keys.identify(landing, file_subject=file_subject, file_session=file_session)


def test_layout_keys_round_trip():
    ids = keys.SubjectSession("07", "02")
    assert keys.raw_key(ids) == "subject=07/session=02/eeg.parquet"
    assert keys.features_key(ids) == "subject=07/session=02/features.parquet"
    assert keys.parse_raw_key(keys.raw_key(ids)) == ids
    assert keys.parse_features_key(keys.features_key(ids)) == ids


@pytest.mark.parametrize(
    "key",
    [
        "subject=07/session=02/features.parquet",
        "quarantine/subject_07/x.parquet",
        "subject=07/eeg.parquet",
        "subject=07/session=02/eeg.parquet/extra",
    ],
)
def test_parse_raw_key_rejects_other_keys(key):
    with pytest.raises(BadKeyError, match=r"subject=<S>/session=<N>/eeg\.parquet"):
        keys.parse_raw_key(key)


def test_quarantine_keys_keep_the_landing_key():
    assert keys.quarantine_key("subject_01/a b.parquet") == "quarantine/subject_01/a b.parquet"
    assert keys.quarantine_reason_key("x.parquet") == "quarantine/x.parquet.reason.json"


@pytest.mark.parametrize("value", ["03", "a-1", "A" * 64])
def test_check_id_accepts_ids(value):
    assert keys.check_id(value, name="subject") == value


@pytest.mark.parametrize("value", ["", "-1", "a_b", "a/b", "A" * 65, None, 3])
def test_check_id_names_the_field_the_rule_and_the_value(value):
    with pytest.raises(
        ValueError,
        match=rf"^subject must be 1–64 letters, digits or '-', starting with a letter or digit, "
        rf"got {re.escape(repr(value))}$",
    ):
        keys.check_id(value, name="subject")
