"""Numeric Arrow columns as numpy arrays, without loading pandas.

pyarrow's ``to_numpy`` converts through its pandas code, which imports pandas when it is
installed (~0.15 s of a Lambda's cold start, in functions that never build a DataFrame); DLPack
hands over the same values without it.
"""

import numpy as np
import pyarrow as pa


def numeric_values(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The values of a numeric (integer or floating) array, shape (n_rows,), in its own dtype.

    The same as ``values.to_numpy(zero_copy_only=False)``: nulls become NaN (through pyarrow's
    own conversion, then), and the result never shares the Arrow buffers when ``values`` is a
    `pa.ChunkedArray`.
    """
    if values.null_count:
        return values.to_numpy(zero_copy_only=False)
    if isinstance(values, pa.ChunkedArray):
        if values.num_chunks == 0:
            return values.to_numpy()
        return np.concatenate([np.from_dlpack(chunk) for chunk in values.chunks])
    return np.from_dlpack(values)
