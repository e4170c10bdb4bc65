"""The study store's logic: keys, versions, the next version of a profile, reading profiles."""

import boto3
import pytest
from botocore.stub import Stubber

from p300.studies import SYSTEM_A, new_study
from p300_aws import studies
from p300_aws.names import RAW_BUCKET
from p300_aws.studies import StudyProfiles, UnknownStudyError

SPELLER = new_study("speller", montage=("Fz", "Cz", "Pz"))


@pytest.mark.parametrize(
    ("name", "version", "key"),
    [("speller", 1, "studies/speller/v0001.json"), ("lab-2", 12, "studies/lab-2/v0012.json")],
)
def test_profile_keys_round_trip(name, version, key):
    assert studies.profile_key(name, version) == key
    assert studies.parse_profile_key(key) == (name, version)


@pytest.mark.parametrize(
    "key",
    ["studies/speller/v1.json", "studies/Speller/v0001.json", "studies/speller/v0001.txt",
     "studies/speller/x/v0001.json", "study=speller/subject=01/session=01/eeg.parquet"],
)  # fmt: skip
def test_other_keys_are_no_profile_keys(key):
    assert studies.parse_profile_key(key) is None


def test_versions_come_from_the_keys_and_system_a_is_built_in():
    found = studies.study_versions(
        ["studies/speller/v0002.json", "studies/speller/v0001.json", "studies/x/notes.txt",
         "studies/lab/v0001.json"]
    )  # fmt: skip
    assert found == {"lab": [1], "speller": [1, 2], "system-a": [1]}
    assert studies.study_versions([]) == {"system-a": [1]}
    assert studies.study_versions(["studies/system-a/v0002.json"]) == {"system-a": [1, 2]}


def test_unknown_study_names_the_known_ones():
    error = studies.unknown_study("nope", {"system-a": [1], "speller": [1]})
    assert str(error).startswith("unknown study 'nope': the studies are ['speller', 'system-a']")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"h_freq": 30.0}, {"h_freq": 30.0, "rejection": "robust"}),
        ({"reject_peak_to_peak_uv": 150.0},
         {"rejection": "fixed", "reject_peak_to_peak_uv": 150.0}),
        ({"rejection": "none"}, {"rejection": "none", "reject_peak_to_peak_uv": None}),
        ({"rejection": "robust", "reject_robust_k": 4.0}, {"reject_robust_k": 4.0}),
    ],
)  # fmt: skip
def test_the_next_version_changes_only_what_is_asked(changes, expected):
    updated = studies.profile_changes(SPELLER, changes)
    assert (updated.name, updated.version, updated.montage) == ("speller", 2, SPELLER.montage)
    assert {name: getattr(updated.params, name) for name in expected} == expected
    assert updated.params_hash != SPELLER.params_hash


def test_a_montage_or_description_change_keeps_the_params_hash():
    updated = studies.profile_changes(SPELLER, {"montage": None, "description": "any montage"})
    assert (updated.version, updated.montage, updated.description) == (2, None, "any montage")
    assert updated.params_hash == SPELLER.params_hash


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"highpass": 1.0}, r"must be among .* got \['highpass'\]"),
        ({"h_freq": 20.0}, "leave study 'speller' v1 as it is"),
        ({}, "leave study 'speller' v1 as it is"),
        ({"rejection": "fixed"}, "rejection 'fixed' needs reject_peak_to_peak_uv"),
        ({"h_freq": 0.5}, "h_freq must be greater than l_freq"),
        ({"name": "other"}, "must be among"),
    ],
)
def test_bad_changes_are_refused(changes, match):
    with pytest.raises(ValueError, match=match):
        studies.profile_changes(SPELLER, changes)


def _s3_with(stored: dict[str, bytes]):
    """An S3 client answering one listing of ``studies/`` and a read of each stored profile."""
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="test",
                      aws_secret_access_key="test")  # fmt: skip
    stub = Stubber(s3)
    listing = {"Contents": [{"Key": key} for key in sorted(stored)], "KeyCount": len(stored)}
    stub.add_response("list_objects_v2", listing, {"Bucket": RAW_BUCKET, "Prefix": "studies/"})
    return s3, stub


def _get(stub, key: str, body: bytes) -> None:
    head = {"ContentLength": len(body), "ETag": '"e"', "Body": _Body(body)}
    stub.add_response("get_object", head, {"Bucket": RAW_BUCKET, "Key": key})


class _Body:
    def __init__(self, data: bytes):
        self.data = data

    def read(self) -> bytes:
        return self.data


def test_profiles_are_listed_once_and_read_once():
    v2 = studies.profile_changes(SPELLER, {"h_freq": 30.0})
    stored = {"studies/speller/v0001.json": SPELLER.to_json().encode(),
              "studies/speller/v0002.json": v2.to_json().encode()}  # fmt: skip
    s3, stub = _s3_with(stored)
    _get(stub, "studies/speller/v0002.json", stored["studies/speller/v0002.json"])
    with stub:
        profiles = StudyProfiles(s3)
        assert profiles.latest("speller") == v2
        assert profiles.get("speller", 2) is profiles.latest("speller")
        assert profiles.names() == ["speller", "system-a"]
    stub.assert_no_pending_responses()


def test_system_a_needs_no_stored_object():
    s3, stub = _s3_with({})
    stub.add_response(
        "list_objects_v2", {"KeyCount": 0}, {"Bucket": RAW_BUCKET, "Prefix": "studies/system-a/"}
    )
    with stub:
        assert StudyProfiles(s3).latest("system-a") == SYSTEM_A


@pytest.mark.parametrize(
    ("name", "version", "match"),
    [
        ("nope", None, r"unknown study 'nope': the studies are \['speller', 'system-a'\]"),
        ("speller", 3, r"study 'speller' has no version 3: its versions are \[1\]"),
    ],
)
def test_an_unknown_study_or_version_is_refused(name, version, match):
    s3, stub = _s3_with({"studies/speller/v0001.json": b""})
    with stub, pytest.raises(UnknownStudyError, match=match):
        StudyProfiles(s3).get(name, version)


def test_a_profile_stored_under_another_key_is_refused():
    s3, stub = _s3_with({"studies/speller/v0002.json": b""})
    _get(stub, "studies/speller/v0002.json", SPELLER.to_json().encode())
    with stub, pytest.raises(ValueError, match="holds study 'speller' v1, not 'speller' v2"):
        StudyProfiles(s3).latest("speller")
