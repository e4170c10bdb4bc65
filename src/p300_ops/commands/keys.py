"""Subject/session labels typed on the command line, and the landing keys the CLI writes.

Parsing keys is the pipeline's business: `p300_aws.keys` holds the layout.
"""

import re

from p300_aws import keys as layout
from p300_aws.errors import BadKeyError

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")


def label(value: str | int, *, name: str) -> str:
    """A subject or session id for a key: numbers are zero-padded to two digits ("3" → "03").

    Raises
    ------
    ValueError
        When ``value`` is not 1–64 letters, digits or '-'; the message names the option ``name``.
    """
    text = str(value).strip()
    if not _ID.fullmatch(text):
        raise ValueError(f"{name} must be 1–64 letters, digits or '-' (e.g. 03), got {value!r}")
    return f"{int(text):02d}" if text.isdigit() else text


def landing_key(file_name: str, *, subject: str, session: str | None = None) -> str:
    """The landing-zone key of a file uploaded for ``subject`` (and ``session``)."""
    folder = f"subject_{label(subject, name='subject')}"
    if session is not None:
        folder += f"/session_{label(session, name='session')}"
    return f"{folder}/{file_name}"


def landing_ids(key: str) -> tuple[str | None, str | None]:
    """(subject, session) a landing key names, None where it names none or cannot be parsed."""
    try:
        parsed = layout.parse_landing_key(key)
    except BadKeyError:
        return None, None
    return parsed.subject, parsed.session
