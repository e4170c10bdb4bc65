import re

import pytest

from p300_aws import keys
from p300_aws.errors import BadKeyError


@pytest.mark.parametrize(
    ("key", "study", "subject", "session"),
    [
        ("subject_01/subject_01_eeg_stim.parquet", None, "01", keys.DEFAULT_SESSION),
        ("subject_12/anything at all.parquet", None, "12", None),
        ("subject_A-3/session_02/run 1.PARQUET", None, "A-3", "02"),
        ("recording.parquet", None, None, None),
        ("study_speller/subject_01/session_01/run.parquet", "speller", "01", "01"),
        ("study_lab-2/subject_01/subject_01_eeg_stim.parquet", "lab-2", "01", "01"),
        ("study_speller/subject_07/a.parquet", "speller", "07", None),
        ("study_speller/a.parquet", "speller", None, None),
    ],
)
def test_parse_landing_key_accepted_forms(key, study, subject, session):
    parsed = keys.parse_landing_key(key)
    assert (parsed.key, parsed.study, parsed.subject, parsed.session) == (
        key, study, subject, session
    )  # fmt: skip


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
        (
            "study_Speller/subject_01/x.parquet",
            "study folder must be study_<name>.*'study_Speller'",
        ),
        ("study_/subject_01/x.parquet", "study folder must be study_<name>"),
        ("study_a/study_b/subject_01/x.parquet", "landing key must be"),
        ("study_a/subject_01/session_01/x/y.parquet", "landing key must be"),
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


SA = keys.DEFAULT_STUDY


@pytest.mark.parametrize(
    ("key", "file_ids", "expected"),
    [
        ("subject_01/x.parquet", ("99", "03", None), keys.SubjectSession(SA, "01", "03")),
        ("subject_01/session_05/x.parquet", ("99", "03", None),
         keys.SubjectSession(SA, "01", "05")),
        ("x.parquet", ("04", None, None), keys.SubjectSession(SA, "04", keys.DEFAULT_SESSION)),
        ("x.parquet", ("04", "2", None), keys.SubjectSession(SA, "04", "2")),
        ("x.parquet", ("04", "2", "speller"), keys.SubjectSession("speller", "04", "2")),
        ("study_lab/subject_01/x.parquet", ("99", None, "speller"),
         keys.SubjectSession("lab", "01", "01")),
        ("subject_01/x.parquet", (None, None, "speller"),
         keys.SubjectSession("speller", "01", "01")),
    ],
)  # fmt: skip
def test_identify_prefers_the_key_then_the_file(key, file_ids, expected):
    landing = keys.parse_landing_key(key)
    subject, session, study = file_ids
    assert (
        keys.identify(landing, file_subject=subject, file_session=session, file_study=study)
        == expected
    )


@pytest.mark.parametrize(
    ("key", "file_ids", "match"),
    [
        ("x.parquet", (None, None, None), "names no subject"),
        ("x.parquet", ("a/b", None, None), "subject metadata must be"),
        ("subject_01/x.parquet", ("01", "s=1", None), "session metadata must be"),
        ("subject_01/x.parquet", ("01", None, "My Study"), "study metadata must be 1–64 lowercase"),
    ],
)
def test_identify_rejects(key, file_ids, match):
    landing = keys.parse_landing_key(key)
    subject, session, study = file_ids
    with pytest.raises(BadKeyError, match=match):
        keys.identify(landing, file_subject=subject, file_session=session, file_study=study)


@pytest.mark.parametrize("study", [keys.DEFAULT_STUDY, "speller", "lab-2"])
def test_layout_keys_round_trip(study):
    ids = keys.SubjectSession(study, "07", "02")
    assert keys.raw_key(ids) == f"study={study}/subject=07/session=02/eeg.parquet"
    assert keys.features_key(ids) == f"study={study}/subject=07/session=02/features.parquet"
    assert keys.parse_raw_key(keys.raw_key(ids)) == ids
    assert keys.parse_features_key(keys.features_key(ids)) == ids
    assert keys.raw_key(ids).startswith(keys.study_prefix(study))


@pytest.mark.parametrize(
    "key",
    [
        "study=system-a/subject=07/session=02/features.parquet",
        "subject=07/session=02/eeg.parquet",  # the layout before studies
        "quarantine/subject_07/x.parquet",
        "study=system-a/subject=07/eeg.parquet",
        "study=system-a/subject=07/session=02/eeg.parquet/extra",
        "study=System-A/subject=07/session=02/eeg.parquet",
        "studies/speller/v0001.json",
    ],
)
def test_parse_raw_key_rejects_other_keys(key):
    with pytest.raises(BadKeyError, match=r"study=<name>/subject=<S>/session=<N>/eeg\.parquet"):
        keys.parse_raw_key(key)


@pytest.mark.parametrize(
    ("ids", "key"),
    [
        (("01", None, None), "subject_01/f.parquet"),
        (("01", "02", None), "subject_01/session_02/f.parquet"),
        (("01", "02", "speller"), "study_speller/subject_01/session_02/f.parquet"),
    ],
)
def test_landing_key_round_trips(ids, key):
    subject, session, study = ids
    assert keys.landing_key("f.parquet", subject=subject, session=session, study=study) == key
    parsed = keys.parse_landing_key(key)
    assert (parsed.subject, parsed.session, parsed.study) == ids


@pytest.mark.parametrize("value", ["Speller", "", "a_b", "-a", "a" * 65, None])
def test_check_study_names_the_rule_and_the_value(value):
    with pytest.raises(
        ValueError, match=rf"^--study must be 1–64 lowercase .*got {re.escape(repr(value))}$"
    ):
        keys.check_study(value, name="--study")


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
