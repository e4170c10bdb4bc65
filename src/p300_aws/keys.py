"""The S3 key layout of the pipeline: which landing keys name which subject/session, and where
the raw, features and quarantine objects of a subject/session live.

Landing keys (``p300-landing-zone``), the first three forms taking precedence over the file's
own ``subject``/``session`` metadata:

- ``subject_<S>/subject_<S>_eeg_stim.parquet`` (System A), session ``DEFAULT_SESSION``;
- ``subject_<S>/<anything>.parquet``, session from the file's metadata or ``DEFAULT_SESSION``;
- ``subject_<S>/session_<N>/<anything>.parquet``;
- ``<anything>.parquet`` at the top level, subject (and session) from the file's metadata.

Subject and session ids are 1–64 letters, digits or ``-`` (no ``_``, ``/`` or ``=``, so every
derived key parses back unambiguously).
"""

import re
import urllib.parse
from dataclasses import dataclass

from p300_aws.errors import BadKeyError
from p300_aws.names import QUARANTINE_PREFIX

#: Session of a subject whose key and file do not name one (System A: one file per subject).
DEFAULT_SESSION = "01"
RAW_FILE_NAME = "eeg.parquet"
FEATURES_FILE_NAME = "features.parquet"
REASON_SUFFIX = ".reason.json"

_ID = r"[A-Za-z0-9][A-Za-z0-9-]{0,63}"
_ID_PATTERN = re.compile(_ID)
#: A subject or session id: the one definition every other check uses.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")


def check_id(value: str, *, name: str) -> str:
    """``value`` if it is a valid subject/session id; ValueError naming ``name`` otherwise."""
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise ValueError(f"{name} must be 1–64 letters, digits or '-', got {value!r}")
    return value


_SUBJECT_DIR = re.compile(rf"subject_({_ID})")
_SESSION_DIR = re.compile(rf"session_({_ID})")
_SYSTEM_A_FILE = re.compile(rf"subject_({_ID})_eeg_stim\.parquet")
_LAYOUT_KEY = re.compile(rf"subject=({_ID})/session=({_ID})/([^/]+)")


@dataclass(frozen=True)
class SubjectSession:
    subject: str
    session: str


@dataclass(frozen=True)
class LandingKey:
    """What a landing key says; None where it says nothing (the file's metadata may)."""

    key: str
    subject: str | None
    session: str | None


def decode_event_key(key: str) -> str:
    """An S3 event's object key as stored: event keys are URL-encoded (spaces as ``+``)."""
    return urllib.parse.unquote_plus(key)


def parse_landing_key(key: str) -> LandingKey:
    """Read subject/session from a landing key (see the module docstring for the forms).

    Raises
    ------
    BadKeyError
        When the key is not one of the accepted forms.
    """
    parts = key.split("/")
    if not parts[-1].lower().endswith(".parquet") or len(parts[-1]) <= len(".parquet"):
        raise BadKeyError(f"landing key must name a .parquet file, got {key!r}")
    if len(parts) == 1:
        return LandingKey(key, None, None)
    subject_dir = _SUBJECT_DIR.fullmatch(parts[0])
    if subject_dir is None or len(parts) > 3:
        raise BadKeyError(
            "landing key must be <file>.parquet, subject_<S>/<file>.parquet or "
            f"subject_<S>/session_<N>/<file>.parquet (ids: letters, digits, '-'), got {key!r}"
        )
    subject = subject_dir.group(1)
    if len(parts) == 3:
        session_dir = _SESSION_DIR.fullmatch(parts[1])
        if session_dir is None:
            raise BadKeyError(
                f"the folder under subject_{subject}/ must be session_<N>, got {parts[1]!r} "
                f"in key {key!r}"
            )
        return LandingKey(key, subject, session_dir.group(1))
    system_a = _SYSTEM_A_FILE.fullmatch(parts[1])
    if system_a is not None and system_a.group(1) != subject:
        raise BadKeyError(
            f"file subject_{system_a.group(1)}_eeg_stim.parquet lies in folder subject_{subject}/:"
            f" which subject is it? (key {key!r})"
        )
    return LandingKey(key, subject, DEFAULT_SESSION if system_a else None)


def identify(
    landing: LandingKey, *, file_subject: str | None, file_session: str | None
) -> SubjectSession:
    """The subject/session of a landing object: its key's, else its file metadata's.

    Raises
    ------
    BadKeyError
        When neither names the subject, or the file's ids are not valid ids.
    """
    subject = landing.subject or _checked_id("subject", file_subject, landing.key)
    if subject is None:
        raise BadKeyError(
            f"landing key {landing.key!r} is not under subject_<S>/ and the file's metadata "
            "names no subject"
        )
    session = landing.session or _checked_id("session", file_session, landing.key)
    return SubjectSession(subject, session or DEFAULT_SESSION)


def _checked_id(what: str, value: str | None, key: str) -> str | None:
    if value is None or _ID_PATTERN.fullmatch(value):
        return value
    raise BadKeyError(
        f"the file's {what} metadata must be 1–64 letters, digits or '-', got {value!r} "
        f"(key {key!r})"
    )


def raw_key(ids: SubjectSession) -> str:
    """Key of a subject/session's ingested recording in ``p300-raw-data``."""
    return f"subject={ids.subject}/session={ids.session}/{RAW_FILE_NAME}"


def features_key(ids: SubjectSession) -> str:
    """Key of a subject/session's features in ``p300-processed-features``."""
    return f"subject={ids.subject}/session={ids.session}/{FEATURES_FILE_NAME}"


def parse_raw_key(key: str) -> SubjectSession:
    """Inverse of `raw_key`; raises `BadKeyError` for any other key."""
    return _parse_layout_key(key, RAW_FILE_NAME)


def parse_features_key(key: str) -> SubjectSession:
    """Inverse of `features_key`; raises `BadKeyError` for any other key."""
    return _parse_layout_key(key, FEATURES_FILE_NAME)


def _parse_layout_key(key: str, file_name: str) -> SubjectSession:
    match = _LAYOUT_KEY.fullmatch(key)
    if match is None or match.group(3) != file_name:
        raise BadKeyError(f"key must be subject=<S>/session=<N>/{file_name}, got {key!r}")
    return SubjectSession(match.group(1), match.group(2))


def quarantine_key(landing_key: str) -> str:
    """Key in ``p300-raw-data`` of a rejected landing object."""
    return f"{QUARANTINE_PREFIX}{landing_key}"


def quarantine_reason_key(landing_key: str) -> str:
    """Key in ``p300-raw-data`` of the JSON saying why a landing object was rejected."""
    return quarantine_key(landing_key) + REASON_SUFFIX
