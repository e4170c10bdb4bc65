"""System B's birthdate retrieval: the synthetic session, its windows, and decoding it."""

import datetime

import numpy as np
import pytest

from p300.birthdate import (
    FIELDS,
    blinded,
    block_recording,
    decode_birthdate,
    make_birthdate_session,
    split_windows,
)
from p300.decoding import rank_items
from p300.preprocessing import preprocess
from p300.raw_io import read_recording, recording_to_parquet_bytes
from p300.types import STIM_NONTARGET, STIM_TARGET
from tests.synthetic_features import six_subject_lda

BIRTHDATE = datetime.date(1990, 7, 14)


@pytest.fixture(scope="module")
def session():
    return make_birthdate_session(BIRTHDATE, seed=3, repetitions=4, years=(1985, 1995))


@pytest.fixture(scope="module")
def model():
    """System A's LDA trained on six synthetic Brain Invaders subjects (200 s each)."""
    return six_subject_lda()[0]


def field_evidence(model, recording, candidates) -> dict[int, float]:
    """Mean decision score of each candidate over its kept flashes, as /decode ranks them."""
    epochs = preprocess(recording)
    kept = epochs.metadata[epochs.metadata["kept"]].sort_values("epoch_index")
    ranking = rank_items(model.decision_function(epochs.features), kept["stim_item"].tolist(),
                         candidates=candidates, aggregate="mean")  # fmt: skip
    return dict(zip(ranking.items, ranking.evidence.tolist(), strict=True))


def test_same_seed_gives_the_same_session(session):
    again = make_birthdate_session(BIRTHDATE, seed=3, repetitions=4, years=(1985, 1995))
    np.testing.assert_array_equal(again.recording.data, session.recording.data)
    np.testing.assert_array_equal(again.recording.stim_item, session.recording.stim_item)
    other = make_birthdate_session(BIRTHDATE, seed=4, repetitions=4, years=(1985, 1995))
    assert not np.array_equal(other.recording.stim_item, session.recording.stim_item)


def test_session_and_each_block_pass_the_raw_contract(session):
    for recording in (session.recording, *(block_recording(session, f) for f in FIELDS)):
        read_back = read_recording(recording_to_parquet_bytes(recording))
        np.testing.assert_array_equal(read_back.stim_item, recording.stim_item)
        assert read_back.ch_names == recording.ch_names and read_back.sfreq == 512.0


@pytest.mark.parametrize(
    ("field", "candidates", "target"),
    [("day", range(1, 32), 14), ("month", range(1, 13), 7), ("year", range(1985, 1996), 1990)],
)
def test_each_block_flashes_every_candidate_once_per_repetition(session, field, candidates,
                                                                 target):  # fmt: skip
    block = session.block(field)
    assert block.candidates == tuple(candidates) and block.target == target
    recording = block_recording(session, field)
    onsets = recording.onsets
    items = recording.stim_item[onsets]
    assert sorted(items.tolist()) == sorted(list(candidates) * 4)
    # Each repetition is a permutation of the candidates.
    for repetition in items.reshape(4, -1):
        assert sorted(repetition.tolist()) == list(candidates)
    np.testing.assert_array_equal(recording.stim[onsets] == STIM_TARGET, items == target)
    assert onsets[0] / 512.0 == pytest.approx(2.0, abs=0.05)


def test_blinded_marks_every_flash_as_non_target(session):
    recording = blinded(session.recording)
    np.testing.assert_array_equal(recording.onsets, session.recording.onsets)
    assert set(recording.stim[recording.onsets].tolist()) == {STIM_NONTARGET}


def test_split_windows_count_each_flash_once_within_the_limit(session):
    recording = session.recording
    windows = split_windows(recording, max_duration_s=20.0)
    assert len(windows) > 3
    assert max(w.n_times for w in windows) <= 20.0 * 512 + 1
    items = np.concatenate([w.stim_item[w.onsets] for w in windows])
    np.testing.assert_array_equal(items, recording.stim_item[recording.onsets])
    # 2 s of signal around each window's flashes (the session itself starts ~2 s before one).
    assert all(w.onsets[0] >= 2.0 * 512 for w in windows[1:])
    assert all(w.n_times - w.onsets[-1] >= 2.0 * 512 for w in windows)


@pytest.mark.parametrize(
    ("seed", "birthdate"),
    [(11, datetime.date(1990, 7, 14)), (12, datetime.date(2000, 2, 29)),
     (13, datetime.date(1963, 12, 31)), (14, datetime.date(1977, 1, 1))],
)  # fmt: skip
def test_real_preprocessing_and_lda_recover_the_date(model, seed, birthdate):
    session = make_birthdate_session(birthdate, seed=seed, repetitions=10)
    evidence = {
        field: field_evidence(model, blinded(block_recording(session, field)),
                              session.block(field).candidates)
        for field in FIELDS
    }  # fmt: skip
    decoded = decode_birthdate(evidence)
    assert decoded.date == birthdate
    assert all(field.margin > 0 for field in decoded.fields)
    assert decoded.field("year").items[0] == birthdate.year


def evidence_for(day: dict, month: dict, year: dict) -> dict:
    return {"day": day, "month": month, "year": year}


def test_31_february_is_not_a_date():
    days = {31: 3.0, 30: 2.5, 28: 2.0, 1: 0.0}
    decoded = decode_birthdate(evidence_for(days, {2: 5.0, 3: 0.1}, {1990: 1.0}))
    # Day 31 and February: 31 March scores 3.1 against 28 February's 7.0.
    assert decoded.date == datetime.date(1990, 2, 28)
    assert decoded.adjusted
    day = decoded.field("day")
    assert (day.items[0], day.chosen, day.chosen_rank) == (31, 28, 3)
    assert day.margin == pytest.approx(0.5)
    assert decoded.field("month").chosen_rank == 1


def test_29_february_only_in_leap_years():
    evidence = evidence_for({29: 4.0, 28: 1.0}, {2: 4.0}, {1990: 2.0, 1992: 1.9})
    decoded = decode_birthdate(evidence)
    assert decoded.date == datetime.date(1992, 2, 29)
    assert decoded.field("year").chosen_rank == 2


def test_best_candidates_forming_a_date_are_kept():
    decoded = decode_birthdate(evidence_for({14: 2.0, 3: 1.0}, {7: 1.0}, {1990: 0.5}))
    assert decoded.date == BIRTHDATE and not decoded.adjusted
    assert decoded.field("year").margin == float("inf")


@pytest.mark.parametrize(
    ("evidence", "match"),
    [
        ({"day": {1: 0.0}, "month": {1: 0.0}}, r"exactly the keys \('day', 'month', 'year'\)"),
        (evidence_for({32: 1.0}, {1: 0.0}, {1990: 0.0}), r"evidence\['day'\].*1–31, got 32"),
        (evidence_for({1: 1.0}, {13: 0.0}, {1990: 0.0}), r"evidence\['month'\].*1–12, got 13"),
        (evidence_for({1: 1.0}, {1: 0.0}, {}), r"evidence\['year'\] must rank at least one"),
        (evidence_for({1: np.nan}, {1: 0.0}, {1990: 0.0}), r"evidence\['day'\]\[1\] must be"),
        (evidence_for({31: 1.0, 30: 0.0}, {2: 0.0}, {1990: 0.0}), r"at least one valid date"),
    ],
)
def test_decode_birthdate_rejects_bad_evidence(evidence, match):
    with pytest.raises(ValueError, match=match):
        decode_birthdate(evidence)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"repetitions": 0}, r"repetitions must be between 1 and 50, got 0"),
        ({"years": (1991, 2000)}, r"years \(1991, 2000\) must contain the birth year, got 1990"),
        ({"years": (2000, 1990)}, r"years must be \(first, last\)"),
        ({"soa_s": 2.0}, r"soa_s must be between 0.1 and 1.0, got 2.0"),
    ],
)
def test_make_birthdate_session_rejects_bad_options(options, match):
    with pytest.raises(ValueError, match=match):
        make_birthdate_session(BIRTHDATE, seed=0, **options)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"max_duration_s": 3.0}, r"max_duration_s must be more than 2 \* margin_s = 4.0 s"),
        ({"max_duration_s": 30.0, "margin_s": 0.5}, r"margin_s must be between 1.0 and 60.0"),
    ],
)
def test_split_windows_rejects_bad_options(session, options, match):
    with pytest.raises(ValueError, match=match):
        split_windows(session.recording, **options)
