"""Studies as `p300 studies` manages them: profile options as people type them, and the
store's operations (`p300_aws.studies`) behind ``create``, ``list``, ``show`` and ``update``."""

from dataclasses import dataclass

from p300.rejection import policy_description
from p300.studies import StudyProfile, new_study
from p300_aws import studies
from p300_aws.keys import check_study

#: ``--rejection`` forms.
REJECTION_FORMS = "none, fixed:UV (e.g. fixed:100) or robust[:K] (e.g. robust, robust:4)"


def _pair(option: str, text: str) -> tuple[float, float]:
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise ValueError(
            f"{option} must be two comma-separated numbers (e.g. 1,20), got {text!r}"
        ) from None
    return low, high


def _resample(text: str) -> float | None:
    if text.strip().lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"--resample must be a rate in Hz or 'none', got {text!r}") from None


def rejection_changes(text: str) -> dict:
    """``none`` / ``fixed:UV`` / ``robust[:K]`` → the `PreprocessingParams` fields it sets."""
    policy, _, value = text.strip().partition(":")
    try:
        number = float(value) if value else None
    except ValueError:
        number = float("nan")
    if policy == "none" and not value:
        return {"rejection": "none"}
    if policy == "fixed" and number is not None and number == number:
        return {"rejection": "fixed", "reject_peak_to_peak_uv": number}
    if policy == "robust" and number == number:
        return {"rejection": "robust"} | ({} if number is None else {"reject_robust_k": number})
    raise ValueError(f"--rejection must be {REJECTION_FORMS}, got {text!r}")


def profile_options(
    *,
    band: str | None = None,
    window: str | None = None,
    baseline: str | None = None,
    rejection: str | None = None,
    resample: str | None = None,
    montage: str | None = None,
    description: str | None = None,
) -> dict:
    """The profile changes the ``p300 studies create/update`` options ask for (given ones only).

    ``band`` ``"LO,HI"`` Hz, ``window`` ``"TMIN,TMAX"`` s, ``baseline`` ``"A,B"`` s,
    ``rejection`` (`REJECTION_FORMS`), ``resample`` Hz or ``none`` (keep the recording's rate),
    ``montage`` ``"CH1,CH2,..."`` or ``any``.

    Raises
    ------
    ValueError
        Naming the option, the form it takes and the value received.
    """
    changes: dict = {}
    if band is not None:
        changes["l_freq"], changes["h_freq"] = _pair("--band", band)
    if window is not None:
        changes["tmin"], changes["tmax"] = _pair("--window", window)
    if baseline is not None:
        changes["baseline"] = _pair("--baseline", baseline)
    if rejection is not None:
        changes |= rejection_changes(rejection)
    if resample is not None:
        changes["resample_sfreq"] = _resample(resample)
    if montage is not None:
        channels = [name.strip() for name in montage.split(",") if name.strip()]
        if not channels:
            raise ValueError(f"--montage must be CH1,CH2,... or 'any', got {montage!r}")
        changes["montage"] = None if channels == ["any"] else tuple(channels)
    if description is not None:
        changes["description"] = description
    return changes


def create(s3, name: str, changes: dict) -> StudyProfile:
    """Store version 1 of study ``name`` (the robust policy unless ``changes`` say otherwise).

    Raises
    ------
    ValueError
        For a bad name or profile; `p300_aws.studies.StudyExistsError` when it exists.
    """
    check_study(name, name="NAME")
    return studies.create_study(s3, new_study(name, **changes))


def update(s3, name: str, changes: dict) -> StudyProfile:
    """Store the next version of study ``name`` with ``changes``.

    Raises
    ------
    ValueError
        When no change is given or the profile refuses one; `p300_aws.studies.
        UnknownStudyError` when there is no such study.
    """
    if not changes:
        raise ValueError("give at least one profile option to change (see --help)")
    return studies.new_profile_version(s3, check_study(name, name="NAME"), **changes)


@dataclass(frozen=True)
class StudyView:
    """One study version and the versions its study has."""

    profile: StudyProfile
    versions: list[int]

    def to_dict(self) -> dict:
        return profile_row(self.profile) | {"versions": self.versions}


def show(s3, name: str, version: int | None = None) -> StudyView:
    """Version ``version`` (None: the latest) of study ``name``, with the study's versions."""
    profiles = studies.StudyProfiles(s3)
    profile = profiles.get(check_study(name, name="NAME"), version)
    return StudyView(profile, profiles.versions()[name])


def list_all(s3) -> list[StudyProfile]:
    """The latest profile of every study."""
    return studies.list_studies(s3)


def profile_row(profile: StudyProfile) -> dict:
    """A profile as one row of plain values (JSON-ready)."""
    params = profile.params
    return {
        "name": profile.name,
        "version": profile.version,
        "band_hz": [params.l_freq, params.h_freq],
        "window_s": [params.tmin, params.tmax],
        "baseline_s": list(params.baseline),
        "rejection": policy_description(params),
        "resample_hz": params.resample_sfreq,
        "montage": None if profile.montage is None else list(profile.montage),
        "description": profile.description,
        "params_hash": profile.params_hash,
        "profile": profile.to_dict(),
    }
