"""Study profiles: System A's, new studies, JSON, digests and checks against a recording."""

import dataclasses
import json

import pytest

from p300.preprocessing import PreprocessingParams
from p300.studies import (
    MONTAGE_MISMATCH,
    NYQUIST_BELOW_BAND,
    SYSTEM_A,
    WINDOW_LONGER_THAN_RECORDING,
    ProfileMismatchError,
    StudyProfile,
    new_study,
)
from p300.synthetic import make_session


@pytest.fixture(scope="module")
def recording():
    return make_session(seed=0, n_channels=4, sfreq=256.0, duration_s=20)


def test_system_a_is_system_as_exact_preprocessing():
    assert SYSTEM_A.name == "system-a" and SYSTEM_A.version == 1
    assert SYSTEM_A.params == PreprocessingParams()
    assert SYSTEM_A.params_hash == "151317e5cdb443d6"  # the digest of every existing feature
    assert SYSTEM_A.montage is None


def test_new_studies_default_to_the_robust_policy():
    study = new_study("lab-x", montage=["Fz", "Cz", "Pz"], h_freq=30.0)
    assert study.params.rejection == "robust" and study.params.h_freq == 30.0
    assert study.montage == ("Fz", "Cz", "Pz") and study.version == 1
    assert new_study("lab-y", reject_peak_to_peak_uv=150.0).params.rejection == "fixed"
    assert new_study("lab-z", rejection="none").params.reject_peak_to_peak_uv is None


@pytest.mark.parametrize(
    "study",
    [SYSTEM_A, new_study("lab-x", montage=("TP9", "AF7"), description="Muse, µV")],
    ids=["system-a", "new"],
)
def test_profiles_round_trip_through_json(study):
    text = study.to_json()
    assert StudyProfile.from_json(text) == study
    assert StudyProfile.from_json(text).hash() == study.hash()
    assert json.loads(text)["params"] == study.params.to_dict()


def test_the_digest_is_stable_and_covers_every_field():
    assert SYSTEM_A.hash() == StudyProfile.from_json(SYSTEM_A.to_json()).hash()
    assert SYSTEM_A.hash() == "2d60b2f679b62d2a"  # fixed: equal across processes and releases
    changed = [
        dataclasses.replace(SYSTEM_A, description="other"),
        SYSTEM_A.next_version(),
        SYSTEM_A.next_version(montage=("Cz",)),
        SYSTEM_A.next_version(params=PreprocessingParams(rejection="robust")),
    ]
    assert len({SYSTEM_A.hash(), *(study.hash() for study in changed)}) == 5


def test_a_new_version_keeps_the_name_and_counts_up():
    robust = SYSTEM_A.next_version(params=PreprocessingParams(rejection="robust"))
    assert (robust.name, robust.version) == ("system-a", 2)
    assert robust.params_hash != SYSTEM_A.params_hash
    with pytest.raises(ValueError, match="next_version keeps the name"):
        SYSTEM_A.next_version(version=7)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: StudyProfile("Lab X"), "study name must be 1-64 lowercase letters"),
        (lambda: StudyProfile("-lab"), "starting with a letter or digit, got '-lab'"),
        (lambda: StudyProfile("lab", version=0), "study version must be an integer >= 1, got 0"),
        (lambda: StudyProfile("lab", params={}), "study params must be PreprocessingParams"),
        (lambda: StudyProfile("lab", montage=("Cz", "Cz")), "distinct non-empty channel names"),
        (lambda: new_study("system-a"), "'system-a' is System A's own study"),
        (lambda: new_study("lab", rejection="auto"), "rejection must be one of"),
        (
            lambda: StudyProfile.from_dict({"name": "lab", "owner": "me"}),
            r"got unknown \['owner'\]",
        ),
        (lambda: StudyProfile.from_dict({"version": 2}), "and no 'name'"),
        (
            lambda: StudyProfile.from_dict({"name": "lab", "params": {"hfreq": 30}}),
            r"study params must be among .*, got unknown \['hfreq'\]",
        ),
        (lambda: StudyProfile.from_json("{"), "a study profile must be JSON"),
        (lambda: StudyProfile.from_json("[]"), "must be a JSON object, got list"),
    ],
)
def test_bad_profiles_are_refused(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_a_fitting_recording_passes(recording):
    SYSTEM_A.validate(recording)
    new_study("lab", montage=recording.ch_names).validate(recording)


@pytest.mark.parametrize(
    ("study", "change", "code", "message"),
    [
        (
            new_study("lab", h_freq=40.0),
            {"sfreq": 64.0},
            NYQUIST_BELOW_BAND,
            r"band-passes 1.0-40.0 Hz, but a recording at sfreq=64 Hz has its Nyquist frequency "
            r"at 32 Hz",
        ),
        (
            new_study("lab", tmin=-0.2, tmax=1.0),
            {"data": None, "stim": None},
            WINDOW_LONGER_THAN_RECORDING,
            r"cuts epochs -0.2…1 s \(1.2 s\), longer than the recording \(0.5 s, 128 samples",
        ),
        (
            new_study("lab", montage=("Fp1", "Cz", "Pz", "Oz")),
            {},
            MONTAGE_MISMATCH,
            r"expects channels \['Fp1', 'Cz', 'Pz', 'Oz'\], got \['Fp1', 'T7', 'Pz', 'O2'\] "
            r"\(missing \['Cz', 'Oz'\], unexpected \['T7', 'O2'\]\)",
        ),
        (
            new_study("lab", montage=("O2", "Pz", "T7", "Fp1")),
            {},
            MONTAGE_MISMATCH,
            r"expects channels .* \(the same channels in another order\)",
        ),
    ],
)
def test_a_recording_the_profile_cannot_process_is_refused_with_a_code(
    recording, study, change, code, message
):
    if "data" in change:  # half a second of the recording
        change = {
            "data": recording.data[:, :128],
            "stim": recording.stim[:128],
            "stim_item": recording.stim_item[:128],
        }
    with pytest.raises(ProfileMismatchError, match=f"{code}: study 'lab' v1 {message}") as error:
        study.validate(dataclasses.replace(recording, **change))
    assert error.value.code == code
