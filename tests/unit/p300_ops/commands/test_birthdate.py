"""`p300 birthdate` without a cloud: the real prediction app in process, serving a real bundle."""

import datetime
import json
import re

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from p300.birthdate import blinded, block_recording, make_birthdate_session, split_windows
from p300_ops.cli import main
from p300_ops.commands.birthdate import report_lines
from p300_ops.services.birthdate_retrieval import (
    DEFAULT_MAX_WINDOW_S,
    decode_body,
    retrieve_birthdate,
)
from p300_ops.services.model_bundles import write_bundle
from p300_serving.app import create_app
from p300_serving.edge import DEFAULT_MAX_BODY_BYTES
from p300_serving.model import load_bundle
from tests.synthetic_features import six_subject_lda

BIRTHDATE = datetime.date(1990, 7, 14)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """The prediction app serving System A's LDA fitted on six synthetic subjects (200 s each)."""
    model, schema = six_subject_lda()
    bundle = write_bundle(model, tmp_path_factory.mktemp("bundle"), name="P300-Classifier",
                          version="4", alias="champion", features_schema=schema)  # fmt: skip
    return TestClient(create_app(load_bundle(bundle)))


@pytest.fixture(scope="module")
def session():
    return make_birthdate_session(BIRTHDATE, seed=0)


@pytest.fixture(scope="module")
def run(client, session):
    return retrieve_birthdate(session, api_base="http://testserver", client=client)


def test_the_date_comes_back_through_decode(run):
    assert run.correct and run.decoding.date == BIRTHDATE
    assert run.model["version"] == "4" and run.model["alias"] == "champion"
    assert run.url == "http://testserver/predict-champion/decode"


@pytest.mark.parametrize(("field", "n_candidates"), [("day", 31), ("month", 12), ("year", 71)])
def test_every_flash_is_counted_once_over_the_windows(run, session, field, n_candidates):
    block = next(b for b in run.blocks if b.field == field)
    assert sum(block.n_flashes.values()) + block.n_rejected == n_candidates * 10
    windows = split_windows(block_recording(session, field), max_duration_s=DEFAULT_MAX_WINDOW_S)
    assert len(block.latencies_ms) == len(windows)


def test_requests_are_blind_and_under_the_payload_limit(session):
    block = session.block("year")
    windows = split_windows(blinded(block_recording(session, "year")),
                            max_duration_s=DEFAULT_MAX_WINDOW_S)  # fmt: skip
    assert len(windows) >= 2  # the year block is longer than one window
    for window in windows:
        body = decode_body(window, block.candidates)
        assert set(body["raw"]["stim"]) == {0, 1}
        assert len(json.dumps(body)) < DEFAULT_MAX_BODY_BYTES


def test_report_and_json_show_each_block_and_the_verdict(run):
    lines = report_lines(run)
    assert lines[0].startswith("model P300-Classifier version 4 (champion)")
    assert lines[1].startswith("  day: true 14, chosen 14 (rank 1)")
    assert lines[-1] == "decoded 1990-07-14, truth 1990-07-14: correct"
    document = json.loads(json.dumps(run.to_dict()))
    assert [b["ranking"][0]["item"] for b in document["blocks"]] == [14, 7, 1990]
    assert document["adjusted_for_validity"] is False


def test_an_unavailable_model_is_a_clear_error(session):
    client = TestClient(create_app(None, unavailable_reason="no bundle here"))
    with pytest.raises(RuntimeError, match=r"/predict-champion/decode \(day window\) answered 503"):
        retrieve_birthdate(session, api_base="http://testserver", client=client)


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (["--date", "1990-07-14", "--years", "1995-2000"], 2, r"must contain the birth year"),
        (["--date", "14/07/1990"], 2, r"Invalid value for '--date'"),
        (["--date", "1990-07-14"], 1, r"the local cloud is not running"),
    ],
)
def test_command_errors(tmp_path, arguments, code, message):
    result = CliRunner().invoke(main, ["birthdate", *arguments, "--home", str(tmp_path)])
    assert result.exit_code == code
    assert re.search(message, result.output), result.output


def test_help_has_an_example():
    result = CliRunner().invoke(main, ["birthdate", "--help"])
    assert result.exit_code == 0 and "p300 birthdate --date 1990-07-14" in result.output
