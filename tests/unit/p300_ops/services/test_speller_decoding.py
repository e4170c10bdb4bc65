"""`p300 decode`'s service: a real BCI2000 speller decoded through the app (TestClient), with a
subject model fitted on the recording's first three characters."""

import io
import zipfile

import numpy as np
import pytest
from fastapi.testclient import TestClient
from threadpoolctl import threadpool_limits

from p300.features_io import features_schema_info
from p300.models import make_model
from p300.preprocessing import preprocess
from p300.real_data import POLICIES, load_recording
from p300.studies import DEFAULT_REJECTION
from p300_ops.services.model_bundles import write_bundle
from p300_ops.services.speller_decoding import DecodeError, _window, decode_recording
from p300_serving.app import create_app
from p300_serving.subject_models import AliasRouting, SubjectRouting
from tests.real_data import real_data_dir, real_file

STUDY, SUBJECT = "speller", "rubenmols"


@pytest.fixture(scope="module")
def bp2calib():
    return real_file("p3k_mit/bp2calib.dat")


class OneSubject:
    """The serving registry of one subject with one model version (the app's two reads)."""

    def __init__(self, bundle: bytes):
        self.bundle = bundle

    def read_routing(self, study, subject):
        if (study, subject) != (STUDY, SUBJECT):
            return None
        served = {"champion": AliasRouting(weights={"1": 1.0})}
        routing = SubjectRouting(study=STUDY, subject=SUBJECT, model="m", aliases=served)
        return routing.model_dump_json().encode()

    def read_bundle(self, study, subject, model_version):
        return self.bundle


@pytest.fixture(scope="module")
def client(bp2calib, tmp_path_factory):
    """The app serving an LDA fitted on bp2calib's first three characters as the subject's."""
    recording = load_recording(bp2calib)
    features = preprocess(recording.raw, POLICIES[DEFAULT_REJECTION])
    kept = features.metadata["kept"].to_numpy()
    first_three = recording.speller.characters[kept] < 3
    with threadpool_limits(1):
        model = make_model("lda").fit(features.features[first_three], features.labels[first_three])
    folder = write_bundle(
        model, tmp_path_factory.mktemp("bundle"), name="m", version="1",
        features_schema=features_schema_info(features), kind="subject", study=STUDY,
        subject=SUBJECT,
    )  # fmt: skip
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in folder.iterdir():
            archive.write(path, path.name)
    return TestClient(create_app(None, subject_models=OneSubject(buffer.getvalue())))


def test_the_last_character_is_decoded_with_every_number_of_repetitions(bp2calib, client):
    decoding = decode_recording(bp2calib, api_base="", study=STUDY, subject=SUBJECT,
                                from_character=5, client=client)  # fmt: skip
    assert decoding.repetitions == tuple(range(1, 16))
    (character,) = decoding.characters
    assert (character.number, character.truth) == (5, "K")  # bp2calib spells AH71K
    assert decoding.truth_text == "K"
    assert decoding.decoded_text == "K"
    assert decoding.accuracy[-1] == 1.0
    assert len(character.latencies_ms) == 15
    assert decoding.model["kind"] == "subject" and decoding.model["subject"] == SUBJECT
    assert decoding.url.endswith(f"/predict-champion/studies/{STUDY}/subjects/{SUBJECT}/decode")


def test_a_fixed_number_of_repetitions_sends_one_request_per_character(bp2calib, client):
    decoding = decode_recording(bp2calib, api_base="", study=STUDY, subject=SUBJECT,
                                from_character=4, repetitions=8, client=client)  # fmt: skip
    assert decoding.repetitions == (8,)
    assert [c.number for c in decoding.characters] == [4, 5]
    assert [len(c.latencies_ms) for c in decoding.characters] == [1, 1]
    assert decoding.truth_text == "1K"


def test_a_window_marks_only_its_flashes_and_carries_context(bp2calib):
    raw = load_recording(bp2calib).raw
    flashes = np.arange(300, 312)
    window = _window(raw, flashes, (-0.1, 0.6), context_s=1.0)
    onsets = raw.onsets[flashes]
    start = onsets[0] - round(0.1 * 256) - 256
    assert window.n_times == onsets[-1] + round(0.6 * 256) + 1 + 256 - start
    np.testing.assert_array_equal(window.onsets, onsets - start)
    np.testing.assert_array_equal(window.data[:, 0], raw.data[:, start])
    np.testing.assert_array_equal(window.stim_item[window.onsets], raw.stim_item[onsets])


def test_a_window_at_the_recordings_start_is_clipped(bp2calib):
    raw = load_recording(bp2calib).raw
    window = _window(raw, np.arange(0, 3), (-0.1, 0.6), context_s=100.0)
    np.testing.assert_array_equal(window.onsets, raw.onsets[:3])


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"from_character": 6}, r"has 5 characters: none from character 6 on"),
        ({"study": "other"}, r"GET .*/studies/other/subjects/rubenmols/model answered 503: .*no "
                             r"population model to fall back to"),
    ],
)  # fmt: skip
def test_decode_errors_name_the_problem(bp2calib, client, options, match):
    with pytest.raises(DecodeError, match=match):
        decode_recording(bp2calib, **{"api_base": "", "study": STUDY, "subject": SUBJECT,
                                      "client": client} | options)  # fmt: skip


def test_a_recording_without_a_matrix_is_refused(client):
    oddball = real_data_dir() / "muse_p300" / "visual_subject_4.parquet"
    with pytest.raises(DecodeError, match=r"visual_subject_4.parquet is not a row/column speller"):
        decode_recording(oddball, api_base="", study=STUDY, subject=SUBJECT, client=client)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"repetitions": 0}, r"repetitions must be an integer >= 1 or None \(all\), got 0"),
        ({"from_character": 0}, r"from_character must be an integer >= 1, got 0"),
        ({"context_s": -1}, r"context_s must be a number of seconds >= 0, got -1"),
    ],
)
def test_bad_options_are_refused_before_anything_is_read(options, match):
    with pytest.raises(ValueError, match=match):
        decode_recording("/nonexistent.dat", api_base="", study=STUDY, subject=SUBJECT, **options)
