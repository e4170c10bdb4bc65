"""Study profiles in the cloud: immutable, numbered JSON objects in the raw bucket.

Version ``N`` of study ``<name>`` is ``s3://p300-raw-data/studies/<name>/v<NNNN>.json``, the
profile's canonical JSON (`p300.studies.StudyProfile.to_json`); the latest version of a study is
its highest. A version is written once, on the condition that no object has its key, and never
changed: a change of a study's profile is its next version (`new_profile_version`), after which
the catch-up run re-processes that study's subjects whose features carry another params hash
(and no other study's). ``system-a`` version 1 is built in (`p300.studies.SYSTEM_A`): it need
not be stored, and it is what every upload naming no study belongs to.

`StudyProfiles` reads each profile once: the Lambdas make one per invocation, so a whole
invocation sees one version of each study.
"""

import re
from collections.abc import Mapping
from dataclasses import fields, replace

import botocore.exceptions

from p300.preprocessing.params import PreprocessingParams
from p300.studies import NAME_PATTERN, SYSTEM_A, StudyProfile
from p300_aws.names import RAW_BUCKET
from p300_aws.s3_objects import head_object, list_keys, read_object

STUDIES_PREFIX = "studies/"
_PROFILE_KEY = re.compile(rf"{STUDIES_PREFIX}({NAME_PATTERN.pattern})/v(\d{{4,}})\.json")
#: What a new version may change besides the `PreprocessingParams` fields.
PROFILE_CHANGES = ("montage", "description")
PARAM_NAMES = tuple(f.name for f in fields(PreprocessingParams))
#: Built-in versions: (name, version) → profile, used when that version is not stored.
BUILT_IN = {(SYSTEM_A.name, SYSTEM_A.version): SYSTEM_A}


class UnknownStudyError(LookupError):
    """A study (or a version of one) that does not exist; the message names the known ones."""


class StudyExistsError(ValueError):
    """A study (or a version of one) that exists already: profiles are never overwritten."""


def profile_key(name: str, version: int) -> str:
    """``studies/<name>/v<NNNN>.json``: zero-padded, so keys sort like versions up to 9999."""
    return f"{STUDIES_PREFIX}{name}/v{version:04d}.json"


def parse_profile_key(key: str) -> tuple[str, int] | None:
    """(name, version) of a `profile_key`; None for any other key."""
    match = _PROFILE_KEY.fullmatch(key)
    return None if match is None else (match.group(1), int(match.group(2)))


def study_versions(stored_keys: list[str]) -> dict[str, list[int]]:
    """Every study's versions, ascending, from the stored keys plus the built-in ones."""
    versions: dict[str, set[int]] = {name: {version} for name, version in BUILT_IN}
    for key in stored_keys:
        parsed = parse_profile_key(key)
        if parsed is not None:
            versions.setdefault(parsed[0], set()).add(parsed[1])
    return {name: sorted(found) for name, found in sorted(versions.items())}


def unknown_study(name: str, versions: Mapping[str, list[int]]) -> UnknownStudyError:
    """The error of a study name that is not among ``versions``: it names the known studies."""
    return UnknownStudyError(
        f"unknown study {name!r}: the studies are {sorted(versions)} "
        "(`p300 studies create NAME` creates one)"
    )


def profile_changes(profile: StudyProfile, changes: Mapping[str, object]) -> StudyProfile:
    """The next version of ``profile`` with ``changes`` (PreprocessingParams fields,
    ``montage``, ``description``).

    A ``reject_peak_to_peak_uv`` without a ``rejection`` means the ``fixed`` policy, as in
    `p300.studies.new_study`.

    Raises
    ------
    ValueError
        For an unknown field, a value `PreprocessingParams` refuses, or no change at all.
    """
    allowed = (*PARAM_NAMES, *PROFILE_CHANGES)
    unknown = sorted(set(changes) - set(allowed))
    if unknown:
        raise ValueError(f"a study profile change must be among {list(allowed)}, got {unknown}")
    param_changes = {k: v for k, v in changes.items() if k in PARAM_NAMES}
    if "reject_peak_to_peak_uv" in param_changes and "rejection" not in param_changes:
        param_changes["rejection"] = "fixed"
    if param_changes.get("rejection") == "fixed" and (
        param_changes.get("reject_peak_to_peak_uv", profile.params.reject_peak_to_peak_uv) is None
    ):
        raise ValueError(
            "rejection 'fixed' needs reject_peak_to_peak_uv (µV), e.g. fixed:100; got none"
        )
    other = {k: v for k, v in changes.items() if k in PROFILE_CHANGES}
    params = replace(profile.params, **param_changes)
    updated = profile.next_version(params=params, **other)
    if replace(updated, version=profile.version) == profile:
        raise ValueError(
            f"the changes {dict(changes)} leave study {profile.name!r} v{profile.version} as it is"
            ": no new version written"
        )
    return updated


class StudyProfiles:
    """The stored study profiles, each read at most once (make one per Lambda invocation).

    Parameters
    ----------
    s3 : boto3 S3 client
    bucket : str
        Where the profiles live (the raw bucket).
    """

    def __init__(self, s3, *, bucket: str = RAW_BUCKET) -> None:
        self.s3, self.bucket = s3, bucket
        self._versions: dict[str, list[int]] | None = None
        self._profiles: dict[tuple[str, int], StudyProfile] = {}

    def versions(self) -> dict[str, list[int]]:
        """Study name → its versions, ascending (one listing per instance)."""
        if self._versions is None:
            self._versions = study_versions(list_keys(self.s3, self.bucket, prefix=STUDIES_PREFIX))
        return self._versions

    def names(self) -> list[str]:
        return list(self.versions())

    def latest_version(self, name: str) -> int:
        """The highest version of ``name``; `UnknownStudyError` when there is no such study."""
        versions = self.versions()
        if name not in versions:
            raise unknown_study(name, versions)
        return versions[name][-1]

    def get(self, name: str, version: int | None = None) -> StudyProfile:
        """Version ``version`` (None: the latest) of study ``name``.

        Raises
        ------
        UnknownStudyError
            When the study or that version does not exist.
        """
        latest = self.latest_version(name)
        version = latest if version is None else version
        if version not in self.versions()[name]:
            raise UnknownStudyError(
                f"study {name!r} has no version {version}: its versions are {self.versions()[name]}"
            )
        if (name, version) not in self._profiles:
            self._profiles[name, version] = self._read(name, version)
        return self._profiles[name, version]

    def latest(self, name: str) -> StudyProfile:
        return self.get(name)

    def _read(self, name: str, version: int) -> StudyProfile:
        key = profile_key(name, version)
        if (name, version) in BUILT_IN and key not in self._stored_keys(name):
            return BUILT_IN[name, version]
        profile = StudyProfile.from_json(read_object(self.s3, self.bucket, key).body)
        if (profile.name, profile.version) != (name, version):
            raise ValueError(
                f"s3://{self.bucket}/{key} holds study {profile.name!r} v{profile.version}, "
                f"not {name!r} v{version}: a profile's key must match its name and version"
            )
        return profile

    def _stored_keys(self, name: str) -> list[str]:
        return list_keys(self.s3, self.bucket, prefix=f"{STUDIES_PREFIX}{name}/")


def get_profile(s3, name: str, version: int | None = None) -> StudyProfile:
    """Version ``version`` (None: the latest) of study ``name``; `UnknownStudyError` if none."""
    return StudyProfiles(s3).get(name, version)


def list_studies(s3) -> list[StudyProfile]:
    """The latest profile of every study, ``system-a`` included, by name."""
    profiles = StudyProfiles(s3)
    return [profiles.latest(name) for name in profiles.names()]


def create_study(s3, profile: StudyProfile) -> StudyProfile:
    """Store version 1 of a new study.

    Raises
    ------
    StudyExistsError
        When a study of that name exists (``system-a`` always does).
    ValueError
        When ``profile`` is not a version 1.
    """
    if profile.version != 1:
        raise ValueError(f"a new study starts at version 1, got version {profile.version}")
    existing = StudyProfiles(s3).versions()
    if profile.name in existing:
        raise StudyExistsError(
            f"study {profile.name!r} exists already (versions {existing[profile.name]}); "
            f"change its profile with `p300 studies update {profile.name}`"
        )
    return write_profile(s3, profile)


def new_profile_version(s3, name: str, **changes) -> StudyProfile:
    """Store the next version of study ``name`` with ``changes`` (see `profile_changes`).

    Raises
    ------
    UnknownStudyError
        When there is no such study.
    ValueError
        When the changes are invalid or change nothing.
    """
    return write_profile(s3, profile_changes(StudyProfiles(s3).latest(name), changes))


def write_profile(s3, profile: StudyProfile, *, bucket: str = RAW_BUCKET) -> StudyProfile:
    """Write ``profile`` at its key unless an object is there already (`StudyExistsError`)."""
    key = profile_key(profile.name, profile.version)
    try:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=profile.to_json().encode(),
            ContentType="application/json",
            IfNoneMatch="*",
        )
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "412"):
            raise
        raise StudyExistsError(
            f"study {profile.name!r} v{profile.version} was written meanwhile by someone else: "
            "read it (`p300 studies show`) and try again"
        ) from None
    head_object(s3, bucket, key)
    return profile
