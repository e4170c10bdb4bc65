"""Epoch counts and ERPs of a subject/session's features."""

import io

import numpy as np
import pytest

from p300_ops.services.subject_features import S3RangeFile, counts_from_summary, erp_means


def test_counts_from_a_preprocessing_summary():
    summary = {"n_flashes": 120, "n_kept": 110, "n_rejected": 10, "n_target": 20,
               "n_nontarget": 90, "n_rejected_amplitude": 9, "n_rejected_edge": 1,
               "n_rejected_other": 0}  # fmt: skip
    counts = counts_from_summary(summary, version_id="v1")
    assert (counts.n_kept, counts.n_rejected, counts.n_target) == (110, 10, 20)
    assert counts.rejected_by == {"amplitude": 9, "edge": 1}
    assert counts.version_id == "v1"


def test_erp_means_per_class():
    epochs = np.stack([np.full((2, 3), v, dtype=float) for v in (1.0, 3.0, 10.0)])
    target, nontarget = erp_means(epochs, np.array([0, 0, 1]))
    assert target.shape == nontarget.shape == (2, 3)
    assert np.all(target == 10.0) and np.all(nontarget == 2.0)


def test_a_class_without_epochs_is_nan():
    target, _ = erp_means(np.zeros((2, 1, 4)), np.array([0, 0]))
    assert np.all(np.isnan(target))


def test_erp_means_checks_shapes():
    with pytest.raises(ValueError, match=r"epochs must have shape .* got \(2, 3\) and 2 labels"):
        erp_means(np.zeros((2, 3)), np.array([0, 1]))


class _RangeS3:
    """Answers ranged GETs from bytes and counts them."""

    def __init__(self, data: bytes):
        self.data, self.calls = data, []

    def get_object(self, *, Bucket, Key, Range, **_):
        start, stop = (int(x) for x in Range.removeprefix("bytes=").split("-"))
        self.calls.append((start, stop))
        return {"Body": io.BytesIO(self.data[start : stop + 1])}


def test_a_parquet_footer_is_read_with_ranged_gets_only():
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    table = pa.table({"x": np.arange(200_000)}).replace_schema_metadata({b"k": b"v"})
    pq.write_table(table, sink)
    s3 = _RangeS3(sink.getvalue())
    schema = pq.read_schema(S3RangeFile(s3, "b", "k", size=len(s3.data)))
    assert schema.metadata[b"k"] == b"v"
    assert sum(stop - start + 1 for start, stop in s3.calls) < len(s3.data) / 10
