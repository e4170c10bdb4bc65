"""Synthetic P300 subjects (`p300.synthetic`) as landing objects, straight into the landing zone."""

import dataclasses
import io
from collections.abc import Callable, Iterable

from p300_aws.names import LANDING_BUCKET
from p300_ops.services import labels
from p300_ops.services.landing_uploads import TRANSFER_CONFIG

FORMS = ("system-a", "ours")


def system_a_parquet_bytes(recording) -> bytes:
    """The `p300.types.RawRecording` as System A's Parquet file (see `write_system_a_parquet`)."""
    from p300.synthetic import write_system_a_parquet  # the science stack loads only when used

    buffer = io.BytesIO()
    write_system_a_parquet(recording, buffer)
    return buffer.getvalue()


def synthetic_object(
    subject_number: int, *, seed: int, duration_s: float, form: str, session: str | None = None
) -> tuple[str, bytes]:
    """(landing key, Parquet bytes) of synthetic subject ``subject_number`` (1-based).

    The recording is `p300.synthetic.subject_session`'s, so a seed always gives the same cohort.
    Form ``"system-a"`` writes System A's columns; ``"ours"`` our form with sfreq, stim_item,
    subject and session in the metadata.
    """
    from p300 import synthetic
    from p300.raw_io import recording_to_parquet_bytes

    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    recording = synthetic.subject_session(
        seed=seed, subject_number=subject_number, duration_s=duration_s
    )
    subject = recording.subject
    key = labels.landing_key(
        f"subject_{subject}_eeg_stim.parquet", subject=subject, session=session
    )
    if form == "system-a":
        return key, system_a_parquet_bytes(recording)
    return key, recording_to_parquet_bytes(dataclasses.replace(recording, session=session))


def generate_subjects(
    s3,
    numbers: Iterable[int],
    *,
    seed: int,
    duration_s: float,
    form: str,
    session: str | None = None,
    on_subject: Callable[[int], None] = lambda _: None,
) -> list[dict]:
    """Upload synthetic subject ``number`` for each of ``numbers`` (`synthetic_object`);
    ``on_subject(number)`` is called before each. Returns ``{"subject", "key", "bytes"}`` each."""
    written = []
    for number in numbers:
        on_subject(number)
        key, body = synthetic_object(
            number, seed=seed, duration_s=duration_s, form=form, session=session
        )
        s3.upload_fileobj(io.BytesIO(body), LANDING_BUCKET, key, Config=TRANSFER_CONFIG)
        written.append({"subject": f"{number:02d}", "key": key, "bytes": len(body)})
    return written
