"""Streaming a recording as Parquet parts: the parts form the source file, paced in time."""

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from p300 import raw_io, synthetic
from p300_ops.services import recording_replay as recording

SFREQ = 512.0


@pytest.fixture(scope="module")
def source() -> pa.Table:
    """A 20 s synthetic session in our Parquet form, read back from a real file."""
    rec = synthetic.subject_session(seed=3, subject_number=1, duration_s=20.0)
    return pq.read_table(io.BytesIO(raw_io.recording_to_parquet_bytes(rec)))


def streamed(table: pa.Table, **options) -> list[bytes]:
    parts: list[tuple[int, bytes]] = []
    recording.replay(
        table, sfreq=SFREQ, speed=None, send_part=lambda n, b: parts.append((n, b)), **options
    )
    assert [n for n, _ in parts] == list(range(1, len(parts) + 1))
    return [b for _, b in parts]


@pytest.mark.parametrize(
    ("chunk_seconds", "part_size"), [(1.0, 64 * 1024), (3.3, 1), (30.0, recording.MIN_PART_BYTES)]
)
def test_the_parts_concatenated_are_the_source_table(source, chunk_seconds, part_size):
    parts = streamed(source, chunk_seconds=chunk_seconds, part_size=part_size)
    parquet = pq.ParquetFile(io.BytesIO(b"".join(parts)))
    assert parquet.read().equals(source, check_metadata=True)
    expected_groups = int(np.ceil(source.num_rows / round(SFREQ * chunk_seconds)))
    assert parquet.metadata.num_row_groups == expected_groups
    assert all(len(part) >= part_size for part in parts[:-1])


def test_small_parts_split_the_stream_at_chunk_boundaries(source):
    parts = streamed(source, chunk_seconds=1.0, part_size=64 * 1024)
    assert len(parts) > 5
    assert parts[0][:4] == b"PAR1"
    assert parts[-1][-4:] == b"PAR1"


def test_a_system_a_file_streams_without_metadata():
    table = pa.table({f"eeg_ch{i}": np.arange(1000, dtype=np.float64) for i in range(1, 17)})
    table = table.append_column("stim", pa.array(np.zeros(1000, dtype=np.int64)))
    parts = streamed(table, chunk_seconds=0.5)
    assert len(parts) == 1
    assert pq.read_table(io.BytesIO(parts[0])).equals(table, check_metadata=True)


@pytest.mark.parametrize(
    ("rows", "chunk_seconds", "sizes"),
    [(1024, 1.0, [512, 512]), (1000, 1.0, [512, 488]), (10, 0.001, [1] * 10), (0, 1.0, [])],
)
def test_time_chunks_cover_every_row_once(rows, chunk_seconds, sizes):
    table = pa.table({"stim": np.zeros(rows, dtype=np.int8)})
    chunks = list(recording.time_chunks(table, sfreq=SFREQ, chunk_seconds=chunk_seconds))
    assert [c.num_rows for c in chunks] == sizes


@pytest.mark.parametrize(
    ("option", "value", "match"),
    [("sfreq", 0.0, "sfreq must be a positive frequency in Hz, got 0.0"),
     ("chunk_seconds", -1.0, "chunk_seconds must be a positive duration in s, got -1.0")],
)  # fmt: skip
def test_time_chunks_refuse_non_positive_options(option, value, match):
    options = {"sfreq": SFREQ, "chunk_seconds": 1.0, option: value}
    with pytest.raises(ValueError, match=match):
        list(recording.time_chunks(pa.table({"stim": [0]}), **options))


@pytest.mark.parametrize(
    ("end_row", "speed", "due"),
    [(512, 1.0, 1.0), (5120, 2.0, 5.0), (5120, 10.0, 1.0), (512, None, 0.0)],
)
def test_a_chunk_is_due_when_its_last_sample_is_recorded(end_row, speed, due):
    assert recording.chunk_due_s(end_row, sfreq=SFREQ, speed=speed) == pytest.approx(due)


def test_speed_must_be_positive():
    with pytest.raises(ValueError, match="speed must be a positive factor of real time or None"):
        recording.chunk_due_s(1, sfreq=SFREQ, speed=0.0)


def test_a_paced_replay_waits_for_each_chunk_to_be_recorded(source):
    now = [100.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    progress: list[recording.ChunkSent] = []
    n_parts = recording.replay(
        source, sfreq=SFREQ, chunk_seconds=5.0, speed=2.0, send_part=lambda n, b: None,
        on_chunk=progress.append, clock=lambda: now[0], sleep=sleep,
    )  # fmt: skip
    assert waits == pytest.approx([2.5, 2.5, 2.5, 2.5])  # 20 s at twice real time
    assert [p.recorded_s for p in progress] == pytest.approx([5.0, 10.0, 15.0, 20.0, 20.0])
    assert progress[-1].parts == n_parts == 1
    assert progress[-1].rows == source.num_rows


def test_part_size_must_be_positive(source):
    with pytest.raises(ValueError, match="part_size must be a positive number of bytes, got 0"):
        recording.StreamingParquet(source.schema, part_size=0)
