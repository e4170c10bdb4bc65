import pytest

from p300_aws.backfill import BATCH_KEYS
from p300_ops.services.backfill import (
    RawObject,
    check_max_concurrency,
    check_tolerance,
    execution_name,
    manifest_batches,
    manifest_digest,
)

RAW = "study=s1/subject=S{:03d}/session=1/eeg.parquet"


def objects(n: int, *, etag: str = "e") -> list[RawObject]:
    return [RawObject(key=RAW.format(i), etag=f"{etag}{i}") for i in range(n)]


def test_the_manifest_is_every_object_as_a_pinned_preprocess_request_in_batches():
    batches = manifest_batches(objects(45)[::-1], study="s1", study_version=3, batch_size=20)
    assert [len(b["Items"]) for b in batches] == [20, 20, 5]
    assert all(tuple(b) == BATCH_KEYS for b in batches)
    assert batches[0]["BatchInput"] == {"study": "s1", "study_version": 3}
    assert batches[0]["Items"][0] == {"raw_key": RAW.format(0), "raw_version_id": None,
                                      "study_version": 3}  # fmt: skip
    keys = [item["raw_key"] for b in batches for item in b["Items"]]
    assert keys == sorted(RAW.format(i) for i in range(45))


@pytest.mark.parametrize(
    ("given", "batch_size", "match"),
    [
        ([], 20, "objects must name at least one raw recording of study 's1'"),
        (objects(2) + objects(1), 20, r"each raw key once, got twice: \['study=s1/subject=S000"),
        ([RawObject("study=s2/subject=S1/session=1/eeg.parquet", "e")], 20,
         "raw key must belong to study 's1', got .* of 's2'"),
        ([RawObject("study=s1/notes.txt", "e")], 20, "raw key must be a raw recording key"),
        (objects(1), 0, "batch_size must be >= 1, got 0"),
    ],
)  # fmt: skip
def test_a_bad_manifest_is_refused_naming_what_is_wrong(given, batch_size, match):
    with pytest.raises(ValueError, match=match):
        manifest_batches(given, study="s1", study_version=1, batch_size=batch_size)


def test_the_digest_names_the_objects_their_bytes_and_the_tolerance():
    digest = manifest_digest(objects(3), tolerated_failure_percentage=5)
    assert digest == manifest_digest(objects(3)[::-1], tolerated_failure_percentage=5.0)
    assert len(digest) == 12 and int(digest, 16) >= 0
    others = [
        manifest_digest(objects(4), tolerated_failure_percentage=5),
        manifest_digest(objects(3, etag="x"), tolerated_failure_percentage=5),
        manifest_digest(objects(3), tolerated_failure_percentage=10),
    ]
    assert digest not in others and len(set(others)) == 3


def test_the_execution_name_is_the_study_and_the_digest_within_80_characters():
    name = execution_name("a-long-study-name-of-forty-characters-xx", "0123456789ab")
    assert name == "backfill-a-long-study-name-of-forty-characters-xx-0123456789ab"
    assert len(name) <= 80


@pytest.mark.parametrize("value", [-1, 100.5])
def test_a_tolerance_outside_0_to_100_is_refused(value):
    with pytest.raises(ValueError, match=rf"between 0 and 100 \(%\), got {value}"):
        check_tolerance(value)


@pytest.mark.parametrize("value", [0, 10_001])
def test_a_concurrency_outside_what_a_distributed_map_allows_is_refused(value):
    with pytest.raises(
        ValueError, match=rf"max_concurrency must be between 1 and 10,000 .* {value}"
    ):
        check_max_concurrency(value)
