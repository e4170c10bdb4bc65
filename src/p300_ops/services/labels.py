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


def landing_key(
    file_name: str, *, subject: str, session: str | None = None, study: str | None = None
) -> str:
    """The landing-zone key of a file uploaded for ``subject`` (and ``session``), below
    ``study_<study>/`` when a study is named (`p300_aws.keys.landing_key`)."""
    return keys.landing_key(
        file_name,
        subject=label(subject, name="subject"),
        session=None if session is None else label(session, name="session"),
        study=None if study is None else keys.check_study(study, name="--study"),
    )


def landing_ids(key: str) -> tuple[str | None, str | None]:
    """(subject, session) a landing key names, None where it names none or cannot be parsed."""
    parsed = _parsed(key)
    return (None, None) if parsed is None else (parsed.subject, parsed.session)


def landing_study(key: str) -> str | None:
    """The study a landing key names (its ``study_<name>/`` folder), else ``system-a``'s, which
    a file without a study belongs to (its metadata may still name one); None when the key
    cannot be parsed."""
    parsed = _parsed(key)
    return None if parsed is None else parsed.study or keys.DEFAULT_STUDY


def _parsed(key: str) -> keys.LandingKey | None:
    try:
        return keys.parse_landing_key(key)
    except BadKeyError:
        return None
