"""EEG files in a format MNE reads (EDF/BDF, BrainVision, FIF, EEGLAB) converted to the landing
contract's Parquet (`p300.importers`), checked as the pipeline would, and uploaded if asked."""

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from p300_aws.names import LANDING_BUCKET
from p300_ops.services import labels
from p300_ops.services.errors import ServiceError
from p300_ops.services.landing_uploads import TRANSFER_CONFIG

_CODES = {"1": 1, "2": 2, "nontarget": 1, "non-target": 1, "target": 2}


def parse_event_map(pairs: Sequence[str]) -> dict[str, int] | None:
    """``("target=2", "Stimulus/S  1=nontarget")`` → ``{"target": 2, "Stimulus/S  1": 1}``.

    The name is everything before the last ``=``; the code is 1/nontarget or 2/target. None when
    ``pairs`` is empty (the importer's default map then applies).
    """
    if not pairs:
        return None
    mapping = {}
    for pair in pairs:
        name, sep, code = pair.rpartition("=")
        if not sep or not name or code.strip().lower() not in _CODES:
            raise ValueError(
                f"--event must be NAME=CODE with CODE 1, 2, nontarget or target, got {pair!r}"
            )
        mapping[name] = _CODES[code.strip().lower()]
    return mapping


@dataclass(frozen=True)
class ImportedRecording:
    """A converted recording: its Parquet bytes, what it holds and the contract's warnings."""

    body: bytes
    n_channels: int
    sfreq: float
    duration_s: float
    n_target: int
    n_nontarget: int
    warnings: list[str] = field(default_factory=list)


class ImportRefused(ServiceError):
    """The file cannot be imported, or its result would be quarantined by the pipeline."""


def list_file_events(file: Path) -> dict[str, int]:
    """Event name → count in ``file`` (`p300.importers.list_events`)."""
    from p300 import importers  # MNE loads only for an import

    try:
        return importers.list_events(file)
    except (ValueError, OSError, RuntimeError) as exc:
        raise ImportRefused(f"cannot import {file}: {exc}") from None


def import_file(
    file: Path,
    *,
    event_map: dict[str, int] | None,
    subject: str | None,
    session: str | None,
    channels: Sequence[str] | None = None,
) -> ImportedRecording:
    """``file`` as landing-contract Parquet (`p300.importers.import_recording`).

    Raises
    ------
    ImportRefused
        When MNE or the importer cannot read it, or the result breaks the landing contract.
    """
    from p300 import importers
    from p300.raw_io import recording_to_parquet_bytes, validate_recording_bytes

    try:
        recording = importers.import_recording(
            file, event_map=event_map, subject=subject, session=session, channels=channels
        )
    except (ValueError, OSError, RuntimeError) as exc:
        raise ImportRefused(f"cannot import {file}: {exc}") from None
    body = recording_to_parquet_bytes(recording)
    report = validate_recording_bytes(body)
    if not report.ok:
        lines = "; ".join(f"{p.code}: {p.message}" for p in report.errors)
        raise ImportRefused(f"the result breaks the landing contract: {lines}")
    return ImportedRecording(
        body=body,
        n_channels=len(recording.ch_names),
        sfreq=recording.sfreq,
        duration_s=recording.n_times / recording.sfreq,
        n_target=int((recording.stim == 2).sum()),
        n_nontarget=int((recording.stim == 1).sum()),
        warnings=[f"{p.code}: {p.message}" for p in report.warnings],
    )


def upload_imported(s3, body: bytes, file_name: str, *, subject: str, session: str | None) -> str:
    """Upload an imported recording to the landing zone; returns its key."""
    key = labels.landing_key(file_name, subject=subject, session=session)
    s3.upload_fileobj(io.BytesIO(body), LANDING_BUCKET, key, Config=TRANSFER_CONFIG)
    return key
