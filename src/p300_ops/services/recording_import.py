"""Lab recordings converted to the landing contract's Parquet (`p300.importers`), checked as the
pipeline would, and uploaded with their study if asked.

Formats: BCI2000 ``.dat``, OpenViBE P300 ``.gdf`` (their stimulus codes give target flags and
row/column groups), one recording of a BIDS dataset, and anything MNE reads (EDF/BDF,
BrainVision, FIF, EEGLAB) with an event map. The importer's metadata (matrix size, spelled text,
character starts, source file...) travels in the Parquet's schema metadata, with the study.
"""

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from p300_aws import keys
from p300_aws.names import LANDING_BUCKET
from p300_aws.studies import get_profile
from p300_ops.services import labels
from p300_ops.services.errors import ServiceError
from p300_ops.services.landing_uploads import TRANSFER_CONFIG

if TYPE_CHECKING:
    from p300.types import RawRecording

_CODES = {"1": 1, "2": 2, "nontarget": 1, "non-target": 1, "target": 2}
#: ``--format`` choices; ``auto`` reads the file name's suffix (`format_of`).
FORMATS = ("auto", "bci2000", "openvibe-gdf", "mne")
_BY_SUFFIX = {".dat": "bci2000", ".gdf": "openvibe-gdf"}
#: Parquet schema metadata naming the study (what the ingest pipeline reads).
STUDY_METADATA = "study"


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


def format_of(file: Path, chosen: str = "auto") -> str:
    """The importer of ``file``: ``chosen``, or with ``auto`` ``bci2000`` for ``.dat``,
    ``openvibe-gdf`` for ``.gdf`` and ``mne`` for anything else."""
    if chosen not in FORMATS:
        raise ValueError(f"--format must be one of {FORMATS}, got {chosen!r}")
    return _BY_SUFFIX.get(file.suffix.lower(), "mne") if chosen == "auto" else chosen


@dataclass(frozen=True)
class ImportedRecording:
    """A converted recording: its Parquet bytes, the recording, the importer's metadata and the
    contract's warnings."""

    body: bytes = field(repr=False)
    recording: "RawRecording" = field(repr=False)
    metadata: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def n_channels(self) -> int:
        return len(self.recording.ch_names)

    @property
    def sfreq(self) -> float:
        return self.recording.sfreq

    @property
    def duration_s(self) -> float:
        return self.recording.n_times / self.recording.sfreq

    @property
    def n_target(self) -> int:
        return int((self.recording.stim == 2).sum())

    @property
    def n_nontarget(self) -> int:
        return int((self.recording.stim == 1).sum())


class ImportRefused(ServiceError):
    """The file cannot be imported, its result would be quarantined by the pipeline, or its
    study's profile cannot process it."""


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
    file_format: str = "auto",
    event_map: dict[str, int] | None = None,
    subject: str | None = None,
    session: str | None = None,
    channels: Sequence[str] | None = None,
    study: str | None = None,
) -> ImportedRecording:
    """``file`` as landing-contract Parquet, with ``study`` (when given) in its metadata.

    Raises
    ------
    ImportRefused
        When the importer cannot read it, or the result breaks the landing contract.
    """
    from p300 import importers

    kind = format_of(file, file_format)
    try:
        if kind == "bci2000":
            imported = importers.import_bci2000(file, subject=subject, session=session)
        elif kind == "openvibe-gdf":
            imported = importers.import_openvibe_gdf(
                file, channels=channels, subject=subject, session=session
            )
        else:
            recording = importers.import_recording(
                file, event_map=event_map, subject=subject, session=session, channels=channels
            )
            imported = importers.ImportedRecording(recording, {})
    except (ValueError, OSError, RuntimeError) as exc:
        raise ImportRefused(f"cannot import {file}: {exc}") from None
    return _checked(imported, study)


def import_bids_recording(
    root: Path,
    *,
    subject: str,
    task: str,
    session: str | None = None,
    run: str | None = None,
    event_map: dict[str, int] | None = None,
    channels: Sequence[str] | None = None,
    study: str | None = None,
) -> ImportedRecording:
    """One recording of the BIDS dataset at ``root`` as landing-contract Parquet.

    Raises
    ------
    ImportRefused
        When mne-bids cannot find or read it, or the result breaks the landing contract.
    """
    from p300 import importers

    try:
        imported = importers.import_bids(
            root, subject=subject, task=task, session=session, run=run, event_map=event_map,
            channels=channels,
        )  # fmt: skip
    except (ValueError, OSError, RuntimeError) as exc:
        raise ImportRefused(f"cannot import BIDS dataset {root}: {exc}") from None
    return _checked(imported, study)


def _checked(imported, study: str | None) -> ImportedRecording:
    """Serialise an importer's result with its metadata (and study); refuse what the
    pipeline would quarantine."""
    from p300.raw_io import recording_to_parquet_bytes, validate_recording_bytes

    metadata = dict(imported.metadata)
    if study is not None:
        metadata[STUDY_METADATA] = keys.check_study(study, name="--study")
    body = recording_to_parquet_bytes(imported.recording, extra_metadata=metadata)
    report = validate_recording_bytes(body)
    if not report.ok:
        lines = "; ".join(f"{p.code}: {p.message}" for p in report.errors)
        raise ImportRefused(f"the result breaks the landing contract: {lines}")
    return ImportedRecording(
        body=body,
        recording=imported.recording,
        metadata=metadata,
        warnings=[f"{p.code}: {p.message}" for p in report.warnings],
    )


def check_study_fits(s3, imported: ImportedRecording, study: str) -> None:
    """Refuse, before anything is sent, a recording that study ``study`` cannot process.

    Raises
    ------
    UnknownStudyError
        When there is no such study.
    ImportRefused
        When the study's profile does not fit the recording (`p300.studies.StudyProfile.
        validate`: Nyquist below the band, window longer than the recording, another montage),
        with the same code the pipeline would give it.
    """
    from p300.studies import ProfileMismatchError

    profile = get_profile(s3, study)
    try:
        profile.validate(imported.recording)
    except ProfileMismatchError as exc:
        raise ImportRefused(f"not uploaded: {exc}") from None


def upload_imported(
    s3,
    imported: ImportedRecording,
    file_name: str,
    *,
    subject: str,
    session: str | None,
    study: str | None = None,
) -> str:
    """Upload an imported recording to the landing zone (below ``study_<study>/`` when given),
    after `check_study_fits` (``system-a`` without a study); returns its key."""
    check_study_fits(s3, imported, study or keys.DEFAULT_STUDY)
    key = labels.landing_key(file_name, subject=subject, session=session, study=study)
    s3.upload_fileobj(io.BytesIO(imported.body), LANDING_BUCKET, key, Config=TRANSFER_CONFIG)
    return key
