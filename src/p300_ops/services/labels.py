"""Subject and session ids as people type them ("3" for "03"), and the landing keys they name.

What an id may be is `p300_aws.keys.ID_PATTERN`; parsing keys is the pipeline's business too.
"""

from p300_aws import keys
from p300_aws.errors import BadKeyError


def label(value: str | int, *, name: str) -> str:
    """A subject or session id for a key: numbers are zero-padded to two digits ("3" → "03").

    Raises
    ------
    ValueError
        When ``value`` is not an id (`p300_aws.keys.check_id`); the message names ``name``.
    """
    text = keys.check_id(str(value).strip(), name=name)
    return f"{int(text):02d}" if text.isdigit() else text


def label_list(text: str, *, name: str) -> list[str]:
    """``"1,02,ab"`` → ``["01", "02", "ab"]``; ValueError naming ``name`` when none is given."""
    chosen = [label(part, name=name) for part in text.split(",") if part.strip()]
    if not chosen:
        raise ValueError(f"{name} must name at least one subject, got {text!r}")
    return chosen


def landing_key(file_name: str, *, subject: str, session: str | None = None) -> str:
    """The landing-zone key of a file uploaded for ``subject`` (and ``session``)."""
    folder = f"subject_{label(subject, name='subject')}"
    if session is not None:
        folder += f"/session_{label(session, name='session')}"
    return f"{folder}/{file_name}"


def landing_ids(key: str) -> tuple[str | None, str | None]:
    """(subject, session) a landing key names, None where it names none or cannot be parsed."""
    try:
        parsed = keys.parse_landing_key(key)
    except BadKeyError:
        return None, None
    return parsed.subject, parsed.session
