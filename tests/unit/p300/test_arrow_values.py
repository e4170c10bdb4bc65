"""Numeric Arrow columns as numpy arrays: the values and dtype of pyarrow's own conversion."""

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from p300.arrow_values import numeric_values

NUMERIC_TYPES = [pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint64(),
                 pa.float16(), pa.float32(), pa.float64()]  # fmt: skip


def _chunked(arrow_type: pa.DataType) -> pa.ChunkedArray:
    values = np.arange(10).astype(arrow_type.to_pandas_dtype())
    # Two chunks, the second a slice (an offset into its buffer).
    return pa.chunked_array([pa.array(values[:3], type=arrow_type),
                             pa.array(values, type=arrow_type).slice(3)])  # fmt: skip


@pytest.mark.parametrize("arrow_type", NUMERIC_TYPES, ids=str)
def test_chunked_column_gives_pyarrows_values_and_dtype(arrow_type):
    column = _chunked(arrow_type)

    values = numeric_values(column)

    expected = column.to_numpy()
    assert values.dtype == expected.dtype
    np.testing.assert_array_equal(values, expected)
    np.testing.assert_array_equal(values, np.r_[0:3, 3:10])


@pytest.mark.parametrize("arrow_type", NUMERIC_TYPES, ids=str)
def test_one_array_gives_pyarrows_values(arrow_type):
    array = _chunked(arrow_type).chunk(1)

    np.testing.assert_array_equal(numeric_values(array), np.arange(3, 10))


@pytest.mark.parametrize(
    ("values", "expected"),
    [(pa.chunked_array([[1.5, None]]), [1.5, np.nan]), (pa.array([2, None]), [2.0, np.nan])],
)
def test_nulls_become_nan(values, expected):
    np.testing.assert_array_equal(numeric_values(values), expected)


def test_column_without_chunks_is_empty_of_its_dtype():
    values = numeric_values(pa.chunked_array([], type=pa.int32()))

    assert values.shape == (0,) and values.dtype == np.int32


def test_reading_a_parquet_column_does_not_import_pandas(tmp_path):
    path = tmp_path / "column.parquet"
    pq.write_table(pa.table({"x": _chunked(pa.float32())}), path)
    # A fresh interpreter: building Arrow arrays from Python objects imports pandas itself.
    script = (
        "import sys, pyarrow.parquet as pq; from p300.arrow_values import numeric_values; "
        f"column = pq.ParquetFile({str(path)!r}).read().column('x'); "
        "print(numeric_values(column).tolist(), numeric_values(column.chunk(0)).tolist(), "
        "'pandas' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    expected = f"{[float(i) for i in range(10)]} {[float(i) for i in range(10)]} False"
    assert result.stdout.strip() == expected, result.stderr
