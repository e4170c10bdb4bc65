"""Object keys of the data flow, as the CLI reads and writes them.

Landing zone: ``subject_<S>/<name>.parquet`` or ``subject_<S>/session_<N>/<name>.parquet``;
raw bucket: ``subject=<S>/session=<N>/eeg.parquet``; features bucket:
``subject=<S>/session=<N>/features.parquet``.
"""

import re

_LABEL = re.compile(r"[A-Za-z0-9]+")
_LANDING = re.compile(
    r"subject_(?P<subject>[A-Za-z0-9]+)/(?:session_(?P<session>[A-Za-z0-9]+)/)?[^/]+\.parquet"
)
_PARTITIONED = re.compile(r"subject=(?P<subject>[^/]+)/session=(?P<session>[^/]+)/(?P<name>[^/]+)")


def label(value: str | int, *, name: str) -> str:
    """A subject or session label for a key: numbers are zero-padded to two digits ("3" → "03").

    Raises
    ------
    ValueError
        When ``value`` is not made of letters and digits; the message names the option ``name``.
    """
    text = str(value).strip()
    if not _LABEL.fullmatch(text):
        raise ValueError(f"{name} must be letters and digits (e.g. 03), got {value!r}")
    return f"{int(text):02d}" if text.isdigit() else text


def landing_key(file_name: str, *, subject: str, session: str | None = None) -> str:
    """The landing-zone key of a file uploaded for ``subject`` (and ``session``)."""
    folder = f"subject_{label(subject, name='subject')}"
    if session is not None:
        folder += f"/session_{label(session, name='session')}"
    return f"{folder}/{file_name}"


def parse_landing_key(key: str) -> tuple[str, str | None] | None:
    """(subject, session or None) of a landing key; None when the key does not follow the layout."""
    match = _LANDING.fullmatch(key)
    return (match["subject"], match["session"]) if match else None


def parse_partitioned_key(key: str, *, file_name: str) -> tuple[str, str] | None:
    """(subject, session) of a raw or features key ending in ``file_name``; None otherwise."""
    match = _PARTITIONED.fullmatch(key)
    if not match or match["name"] != file_name:
        return None
    return match["subject"], match["session"]
