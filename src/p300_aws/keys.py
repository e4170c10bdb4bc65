"""The S3 key layout of the pipeline: which landing keys name which study/subject/session, and
where the raw, features and quarantine objects of a study's subject/session live.

Landing keys (``p300-landing-zone``), the first three forms taking precedence over the file's
own ``subject``/``session`` metadata:

- ``subject_<S>/subject_<S>_eeg_stim.parquet`` (System A), session ``DEFAULT_SESSION``;
- ``subject_<S>/<anything>.parquet``, session from the file's metadata or ``DEFAULT_SESSION``;
- ``subject_<S>/session_<N>/<anything>.parquet``;
- ``<anything>.parquet`` at the top level, subject (and session) from the file's metadata.

Each form may sit below a folder ``study_<name>/`` naming its study (e.g.
``study_speller/subject_01/session_01/run.parquet``); without one, the study is the file's
``study`` metadata, else ``system-a`` (`p300.studies.SYSTEM_A_NAME`): System A's layout is
unchanged. Raw and features objects live at ``study=<name>/subject=<S>/session=<N>/<file>``
for every study alike; quarantine keeps the landing key.

Subject and session ids are 1–64 letters, digits or ``-``; study names 1–64 lowercase letters,
digits or ``-`` (`p300.studies.NAME_PATTERN`). None holds ``_``, ``/`` or ``=``, so every derived
key parses back unambiguously.
"""

import re
import urllib.parse
from dataclasses import dataclass

from p300.studies import NAME_PATTERN, SYSTEM_A_NAME
from p300_aws.errors import BadKeyError
from p300_aws.names import QUARANTINE_PREFIX

#: Session of a subject whose key and file do not name one (System A: one file per subject).
DEFAULT_SESSION = "01"
#: Study of an upload whose key and file do not name one.
DEFAULT_STUDY = SYSTEM_A_NAME
RAW_FILE_NAME = "eeg.parquet"
FEATURES_FILE_NAME = "features.parquet"
#: Next to where the features would be: why preprocessing refused a recording.
REJECTION_FILE_NAME = "rejection.json"
REASON_SUFFIX = ".reason.json"

_ID = r"[A-Za-z0-9][A-Za-z0-9-]{0,63}"
_STUDY = NAME_PATTERN.pattern
#: A subject or session id (the one definition: the upload API and the CLI check ids with it).
ID_PATTERN = re.compile(_ID)
ID_RULE = "1–64 letters, digits or '-', starting with a letter or digit"
STUDY_RULE = "1–64 lowercase letters, digits or '-', starting with a letter or digit"
#: A landing folder naming its subject: ``subject_<S>``.
SUBJECT_FOLDER = re.compile(rf"subject_({_ID})")
#: A landing folder naming its study: ``study_<name>``.
STUDY_FOLDER = re.compile(rf"study_({_STUDY})")
_SESSION_DIR = re.compile(rf"session_({_ID})")
_SYSTEM_A_FILE = re.compile(rf"subject_({_ID})_eeg_stim\.parquet")
_LAYOUT_KEY = re.compile(rf"study=({_STUDY})/subject=({_ID})/session=({_ID})/([^/]+)")
#: Prefix of every raw and features object of the layout.
LAYOUT_PREFIX = "study="


@dataclass(frozen=True)
class SubjectSession:
    """One recording session of one subject of one study: where its objects live."""

    study: str
    subject: str
    session: str


@dataclass(frozen=True)
class LandingKey:
    """What a landing key says; None where it says nothing (the file's metadata may)."""

    key: str
    subject: str | None
    session: str | None
    study: str | None = None


def check_id(value: object, *, name: str) -> str:
    """``value`` when it is a subject or session id (`ID_PATTERN`).

    Raises
    ------
    ValueError
        Naming ``name``, the rule and the value received, when ``value`` is not an id.
    """
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise ValueError(f"{name} must be {ID_RULE}, got {value!r}")
    return value


def check_study(value: object, *, name: str = "study") -> str:
    """``value`` when it is a study name (`p300.studies.NAME_PATTERN`).

    Raises
    ------
    ValueError
        Naming ``name``, the rule and the value received, when ``value`` is not a study name.
    """
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise ValueError(f"{name} must be {STUDY_RULE}, got {value!r}")
    return value


def decode_event_key(key: str) -> str:
    """An S3 event's object key as stored: event keys are URL-encoded (spaces as ``+``)."""
    return urllib.parse.unquote_plus(key)


def parse_landing_key(key: str) -> LandingKey:
    """Read study/subject/session from a landing key (see the module docstring for the forms).

    Raises
    ------
    BadKeyError
        When the key is not one of the accepted forms.
    """
    parts = key.split("/")
    if not parts[-1].lower().endswith(".parquet") or len(parts[-1]) <= len(".parquet"):
        raise BadKeyError(f"landing key must name a .parquet file, got {key!r}")
    study = None
    if len(parts) > 1 and parts[0].startswith("study_"):
        study_dir = STUDY_FOLDER.fullmatch(parts[0])
        if study_dir is None:
            raise BadKeyError(
                f"a landing key's study folder must be study_<name>, the name {STUDY_RULE}, got "
                f"{parts[0]!r} in key {key!r}"
            )
        study, parts = study_dir.group(1), parts[1:]
    if len(parts) == 1:
        return LandingKey(key, None, None, study)
    subject_dir = SUBJECT_FOLDER.fullmatch(parts[0])
    if subject_dir is None or len(parts) > 3:
        raise BadKeyError(
            "landing key must be [study_<name>/]<file>.parquet, [study_<name>/]subject_<S>/"
            "<file>.parquet or [study_<name>/]subject_<S>/session_<N>/<file>.parquet (ids: "
            f"letters, digits, '-'), got {key!r}"
        )
    subject = subject_dir.group(1)
    if len(parts) == 3:
        session_dir = _SESSION_DIR.fullmatch(parts[1])
        if session_dir is None:
            raise BadKeyError(
                f"the folder under subject_{subject}/ must be session_<N>, got {parts[1]!r} "
                f"in key {key!r}"
            )
        return LandingKey(key, subject, session_dir.group(1), study)
    system_a = _SYSTEM_A_FILE.fullmatch(parts[1])
    if system_a is not None and system_a.group(1) != subject:
        raise BadKeyError(
            f"file subject_{system_a.group(1)}_eeg_stim.parquet lies in folder subject_{subject}/:"
            f" which subject is it? (key {key!r})"
        )
    return LandingKey(key, subject, DEFAULT_SESSION if system_a else None, study)


def identify(
    landing: LandingKey,
    *,
    file_subject: str | None,
    file_session: str | None,
    file_study: str | None = None,
) -> SubjectSession:
    """The study/subject/session of a landing object: its key's, else its file metadata's
    (the study defaulting to `DEFAULT_STUDY`).

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
    study = landing.study or _checked_study(file_study, landing.key) or DEFAULT_STUDY
    return SubjectSession(study, subject, session or DEFAULT_SESSION)


def _checked_id(what: str, value: str | None, key: str) -> str | None:
    if value is None:
        return value
    try:
        return check_id(value, name=f"the file's {what} metadata")
    except ValueError as exc:
        raise BadKeyError(f"{exc} (key {key!r})") from None


def _checked_study(value: str | None, key: str) -> str | None:
    if value is None:
        return value
    try:
        return check_study(value, name="the file's study metadata")
    except ValueError as exc:
        raise BadKeyError(f"{exc} (key {key!r})") from None


def landing_key(
    file_name: str, *, subject: str, session: str | None = None, study: str | None = None
) -> str:
    """The landing key of ``file_name`` for ``subject`` (and ``session``, ``study``): the
    ``[study_<name>/]subject_<S>/[session_<N>/]<file>`` form; ids must be valid already."""
    folders = [] if study is None else [f"study_{check_study(study)}"]
    folders.append(f"subject_{check_id(subject, name='subject')}")
    if session is not None:
        folders.append(f"session_{check_id(session, name='session')}")
    return "/".join([*folders, file_name])


def study_prefix(study: str) -> str:
    """Prefix of every raw (or features) object of ``study``."""
    return f"{LAYOUT_PREFIX}{check_study(study)}/"


def raw_key(ids: SubjectSession) -> str:
    """Key of a subject/session's ingested recording in ``p300-raw-data``."""
    return _layout_key(ids, RAW_FILE_NAME)


def features_key(ids: SubjectSession) -> str:
    """Key of a subject/session's features in ``p300-processed-features``."""
    return _layout_key(ids, FEATURES_FILE_NAME)


def rejection_key(ids: SubjectSession) -> str:
    """Key in ``p300-processed-features`` of why preprocessing refused a subject/session's
    recording (its features are then not written)."""
    return _layout_key(ids, REJECTION_FILE_NAME)


def _layout_key(ids: SubjectSession, file_name: str) -> str:
    return f"study={ids.study}/subject={ids.subject}/session={ids.session}/{file_name}"


def parse_raw_key(key: str) -> SubjectSession:
    """Inverse of `raw_key`; raises `BadKeyError` for any other key."""
    return _parse_layout_key(key, RAW_FILE_NAME)


def parse_features_key(key: str) -> SubjectSession:
    """Inverse of `features_key`; raises `BadKeyError` for any other key."""
    return _parse_layout_key(key, FEATURES_FILE_NAME)


def _parse_layout_key(key: str, file_name: str) -> SubjectSession:
    match = _LAYOUT_KEY.fullmatch(key)
    if match is None or match.group(4) != file_name:
        raise BadKeyError(
            f"key must be study=<name>/subject=<S>/session=<N>/{file_name}, got {key!r}"
        )
    return SubjectSession(match.group(1), match.group(2), match.group(3))


def quarantine_key(landing_key: str) -> str:
    """Key in ``p300-raw-data`` of a rejected landing object."""
    return f"{QUARANTINE_PREFIX}{landing_key}"


def quarantine_reason_key(landing_key: str) -> str:
    """Key in ``p300-raw-data`` of the JSON saying why a landing object was rejected."""
    return quarantine_key(landing_key) + REASON_SUFFIX
