"""Study profiles: how one study's recordings are preprocessed, and which montage they have.

A study groups recordings that share a preprocessing profile (band, epoch window, baseline,
rejection policy, resampling rate) and, optionally, a montage. Profiles are versioned: a study's
profile is never edited in place; a change is a new version (`StudyProfile.next_version`), whose
`params_hash` tells which features are stale. The profile is plain JSON (`to_json` /
`from_json`), so the cloud can keep it in an object store; nothing here touches storage.

- ``system-a`` (`SYSTEM_A`): System A's exact parameters, fixed 100 µV rejection, any montage;
  recordings that name no study belong to it.
- New studies (`new_study`) default to the data-driven ``robust`` rejection policy.

`StudyProfile.validate` refuses a recording the profile cannot process, with a `code`.
"""

import hashlib
import json
import re
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING

from p300.preprocessing.params import PreprocessingParams

if TYPE_CHECKING:  # loads numpy and pandas: the planning and ingest Lambdas only need the names
    from p300.types import RawRecording

SYSTEM_A_NAME = "system-a"
#: Study names: lowercase letters, digits and dashes, 1-64 characters, starting with a letter or
#: digit (safe in object keys, URLs and MLflow names).
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
#: Error codes of `ProfileMismatchError`.
NYQUIST_BELOW_BAND, WINDOW_LONGER_THAN_RECORDING, MONTAGE_MISMATCH = (
    "NYQUIST_BELOW_BAND",
    "WINDOW_LONGER_THAN_RECORDING",
    "MONTAGE_MISMATCH",
)
#: The default rejection policy of new studies (chosen by measurement, docs/real-data.md).
DEFAULT_REJECTION = "robust"


class ProfileMismatchError(ValueError):
    """A recording that a study's profile cannot process; ``code`` says why."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass(frozen=True)
class StudyProfile:
    """A study's versioned preprocessing profile and expected montage.

    Attributes
    ----------
    name : str
        Matches `NAME_PATTERN`, e.g. ``"system-a"``, ``"lab-x-speller"``.
    version : int
        1 for a new study, +1 for every change of its profile.
    params : PreprocessingParams
        Band, epoch window, baseline, rejection policy and resampling rate.
    montage : tuple of str or None
        The channel names every recording must have, in this order; None accepts any.
    description : str
        Free text for people.
    """

    name: str
    version: int = 1
    params: PreprocessingParams = field(default_factory=PreprocessingParams)
    montage: tuple[str, ...] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME_PATTERN.fullmatch(self.name):
            raise ValueError(
                "study name must be 1-64 lowercase letters, digits or dashes, starting with a "
                f"letter or digit, got {self.name!r}"
            )
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            raise ValueError(f"study version must be an integer >= 1, got {self.version!r}")
        if not isinstance(self.params, PreprocessingParams):
            raise ValueError(
                f"study params must be PreprocessingParams, got {type(self.params).__name__}"
            )
        if self.montage is not None:
            montage = tuple(self.montage)
            if (
                not montage
                or len(set(montage)) != len(montage)
                or not all(isinstance(name, str) and name for name in montage)
            ):
                raise ValueError(
                    f"study montage must be None or distinct non-empty channel names, got "
                    f"{self.montage!r}"
                )
            object.__setattr__(self, "montage", montage)

    def to_dict(self) -> dict:
        """The profile as JSON-ready data; `from_dict` reads it back."""
        return {
            "name": self.name,
            "version": self.version,
            "params": self.params.to_dict(),
            "montage": None if self.montage is None else list(self.montage),
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "StudyProfile":
        """The profile written by `to_dict`; unknown keys are refused, naming them."""
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - allowed)
        if unknown or "name" not in data:
            raise ValueError(
                f"a study profile has keys among {sorted(allowed)} including 'name'; got "
                f"unknown {unknown}" + ("" if "name" in data else " and no 'name'")
            )
        params = data.get("params") or {}
        param_names = {f.name for f in fields(PreprocessingParams)}
        unknown_params = sorted(set(params) - param_names)
        if unknown_params:
            raise ValueError(
                f"study params must be among {sorted(param_names)}, got unknown {unknown_params}"
            )
        return cls(**(data | {"params": PreprocessingParams(**params)}))

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces): equal profiles give equal text."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> "StudyProfile":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"a study profile must be JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError(f"a study profile must be a JSON object, got {type(data).__name__}")
        return cls.from_dict(data)

    def hash(self) -> str:
        """A stable 16-hex-digit digest of the whole profile (name and version included)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    @property
    def params_hash(self) -> str:
        """`PreprocessingParams.hash` of the profile: what features made with it carry."""
        return self.params.hash()

    def next_version(self, **changes) -> "StudyProfile":
        """The next version of this profile with ``changes`` (``params``, ``montage``, ...)."""
        if "name" in changes or "version" in changes:
            raise ValueError("next_version keeps the name and numbers the version itself")
        return replace(self, version=self.version + 1, **changes)

    def validate(self, recording: "RawRecording") -> None:
        """Raise `ProfileMismatchError` if this profile cannot process ``recording``.

        Checks, in order: the band-pass fits below the recording's Nyquist frequency
        (`NYQUIST_BELOW_BAND`); the epoch window is no longer than the recording
        (`WINDOW_LONGER_THAN_RECORDING`); the channels are the montage's, in its order
        (`MONTAGE_MISMATCH`).
        """
        params, sfreq = self.params, float(recording.sfreq)
        if not params.h_freq < sfreq / 2:
            raise ProfileMismatchError(
                NYQUIST_BELOW_BAND,
                f"study {self.name!r} v{self.version} band-passes {params.l_freq}-"
                f"{params.h_freq} Hz, but a recording at sfreq={sfreq:g} Hz has its Nyquist "
                f"frequency at {sfreq / 2:g} Hz; h_freq must be below it",
            )
        window_s, duration_s = params.tmax - params.tmin, recording.n_times / sfreq
        if window_s > duration_s:
            raise ProfileMismatchError(
                WINDOW_LONGER_THAN_RECORDING,
                f"study {self.name!r} v{self.version} cuts epochs {params.tmin:g}…"
                f"{params.tmax:g} s ({window_s:g} s), longer than the recording "
                f"({duration_s:g} s, {recording.n_times} samples at {sfreq:g} Hz)",
            )
        if self.montage is not None and tuple(recording.ch_names) != self.montage:
            raise ProfileMismatchError(MONTAGE_MISMATCH, self._montage_problem(recording))

    def _montage_problem(self, recording: "RawRecording") -> str:
        channels = tuple(recording.ch_names)
        missing = [name for name in self.montage if name not in channels]
        extra = [name for name in channels if name not in self.montage]
        detail = (
            f"missing {missing}, unexpected {extra}"
            if missing or extra
            else "the same channels in another order"
        )
        return (
            f"study {self.name!r} v{self.version} expects channels {list(self.montage)}, got "
            f"{list(channels)} ({detail})"
        )


#: System A's study: its exact preprocessing, fixed 100 µV rejection, any montage.
SYSTEM_A = StudyProfile(
    SYSTEM_A_NAME,
    description="System A's preprocessing (Brain Invaders, fixed 100 µV peak-to-peak rejection)",
)


def new_study(name: str, *, montage=None, description: str = "", **param_changes) -> StudyProfile:
    """Version 1 of a new study: System A's band, window and resampling unless changed, and
    the data-driven `DEFAULT_REJECTION` policy.

    Parameters
    ----------
    name : str
        Matches `NAME_PATTERN`; ``"system-a"`` is taken (`SYSTEM_A`).
    montage : sequence of str, optional
        The expected channel names, in order.
    description : str
    **param_changes
        `PreprocessingParams` fields, e.g. ``h_freq=30.0``, ``rejection="none"``. A
        ``reject_peak_to_peak_uv`` without a ``rejection`` means the ``fixed`` policy.
    """
    if name == SYSTEM_A_NAME:
        raise ValueError(f"study name {SYSTEM_A_NAME!r} is System A's own study; choose another")
    if "rejection" not in param_changes and "reject_peak_to_peak_uv" not in param_changes:
        param_changes["rejection"] = DEFAULT_REJECTION
    params = PreprocessingParams(**param_changes)
    return StudyProfile(name, 1, params, montage, description)
