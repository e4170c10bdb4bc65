"""Short synthetic subjects written straight to the raw bucket, as ingest leaves them: what a
backfill works on, made in seconds for its tests and benches (ingestion is not what they time)."""

from p300_aws import keys
from p300_aws.names import RAW_BUCKET
from p300_aws.s3_objects import put_verified

#: Distinct recordings cycled through: preprocessing does the same work whatever the seed.
DISTINCT_RECORDINGS = 4


def write_raw_subjects(
    s3, study: str, n_subjects: int, *, duration_s: float = 10.0, broken: int = 0
) -> list[str]:
    """Write subjects ``B000`` … of ``study`` (session ``01``) to the raw bucket; the last
    ``broken`` hold bytes that are no recording. Returns their raw keys, in order.

    Parameters
    ----------
    duration_s
        Seconds of each recording (16 channels at 512 Hz: ~0.43 MB of Parquet per 10 s).
    """
    if not 0 <= broken <= n_subjects:
        raise ValueError(f"broken must be between 0 and n_subjects={n_subjects}, got {broken!r}")
    from p300.raw_io import recording_to_parquet_bytes  # the science stack loads only when used
    from p300.synthetic import make_session

    bodies = [
        recording_to_parquet_bytes(make_session(seed=seed, duration_s=duration_s))
        for seed in range(DISTINCT_RECORDINGS)
    ]
    written = []
    for i in range(n_subjects):
        ids = keys.SubjectSession(study, f"B{i:03d}", keys.DEFAULT_SESSION)
        good = i < n_subjects - broken
        body = bodies[i % DISTINCT_RECORDINGS] if good else f"not a recording {i}".encode()
        written.append(put_verified(s3, RAW_BUCKET, keys.raw_key(ids), body).key)
    return written
