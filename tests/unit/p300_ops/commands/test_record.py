"""`p300 record`: what it refuses before it sends anything, and what it reads from a file."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from p300 import raw_io, synthetic
from p300_ops.cli import main
from p300_ops.services.recording_replay import API_KEY_VARIABLE, TOKEN_VARIABLE, load_recording

#: A closed port: any request sent there fails, so a passing test proves nothing was sent.
CLOSED_API = "http://127.0.0.1:9/prod"


@pytest.fixture(scope="module")
def recording_file(tmp_path_factory):
    rec = synthetic.subject_session(seed=5, subject_number=2, duration_s=12.0)
    path = tmp_path_factory.mktemp("rec") / "rec.parquet"
    raw_io.write_recording_parquet(rec, path)
    return path


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, ["record", *args], env=env)


def test_help_has_an_example():
    result = run("--help")
    assert result.exit_code == 0
    assert "p300 record --replay rec.parquet --subject 03 --session 1" in result.output


def test_load_recording_keeps_the_table_as_stored(recording_file):
    table, sfreq = load_recording(recording_file)
    assert sfreq == 512.0
    assert table.equals(pq.read_table(recording_file), check_metadata=True)
    assert table.num_rows == 12 * 512


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--subject", "0_3", "--session", "1"], "--subject must be 1–64 letters, digits or '-'"),
        (["--subject", "03", "--session", "a/b"], "--session must be 1–64 letters"),
        (["--subject", "03", "--session", "1", "--speed", "0"], "Invalid value for '--speed'"),
        (["--subject", "03", "--session", "1", "--chunk-seconds", "-2"], "'--chunk-seconds'"),
        (["--subject", "03", "--session", "1", "--part-mib", "4"], "'--part-mib'"),
    ],
)
def test_bad_options_are_refused_before_anything_is_sent(recording_file, options, message):
    result = run("--replay", str(recording_file), *options, "--api-url", CLOSED_API)
    assert result.exit_code == 2
    assert message in result.output


def test_an_invalid_recording_is_refused_before_anything_is_sent(tmp_path):
    path = tmp_path / "no_stim.parquet"
    pq.write_table(pa.table({f"eeg_ch{i}": [0.5, 1.0] for i in range(1, 17)}), path)
    result = run(
        "--replay", str(path), "--subject", "03", "--session", "1", "--api-url", CLOSED_API,
        env={API_KEY_VARIABLE: "unused"},
    )  # fmt: skip
    assert result.exit_code == 1
    assert f"{path} is not a valid recording: MISSING_STIM" in result.output


def test_an_unreachable_api_is_a_clean_error(recording_file):
    result = run(
        "--replay", str(recording_file), "--subject", "03", "--session", "1",
        "--api-url", CLOSED_API, env={API_KEY_VARIABLE: "unused", TOKEN_VARIABLE: "unused"},
    )  # fmt: skip
    assert result.exit_code == 1
    assert "recording not sent (nothing landed): upload API at http://127.0.0.1:9/prod" in (
        result.output
    )
