import math

import pytest
from p300_localstack.durable_s3.resident import ResidentContents


def filled(sizes: dict[str, int]) -> ResidentContents:
    resident = ResidentContents()
    for key, size in sizes.items():
        resident.saved(key, size)
    return resident


def test_nothing_is_evicted_within_the_limit():
    resident = filled({"a": 10, "b": 10, "c": 10})
    assert resident.to_evict(30) == []
    assert resident.total_bytes == 30


def test_the_least_recently_used_go_first_until_within_the_limit():
    resident = filled({"a": 10, "b": 10, "c": 10, "d": 10})
    resident.used("a")
    assert resident.to_evict(25) == ["b", "c"]
    assert resident.total_bytes == 20
    assert "a" in resident and "d" in resident and "b" not in resident


def test_pinned_contents_stay_even_above_the_limit_until_unpinned():
    resident = filled({"a": 10, "b": 10})
    resident.pin("a")
    resident.pin("a")
    assert resident.to_evict(0) == ["b"]
    resident.unpin("a")
    assert resident.to_evict(0) == []  # still one handle open
    resident.unpin("a")
    assert resident.to_evict(0) == ["a"]
    assert resident.total_bytes == 0


def test_saving_again_replaces_the_size_and_forgetting_is_idempotent():
    resident = filled({"a": 10})
    resident.saved("a", 40)
    assert resident.total_bytes == 40 and len(resident) == 1
    resident.forget("a")
    resident.forget("a")
    assert resident.total_bytes == 0 and len(resident) == 0


def test_an_infinite_limit_never_evicts():
    resident = filled({str(i): 2**30 for i in range(10)})
    assert resident.to_evict(math.inf) == []


def test_using_an_unknown_key_adds_nothing():
    resident = ResidentContents()
    resident.used("ghost")
    resident.unpin("ghost")
    assert len(resident) == 0 and resident.to_evict(0) == []


def test_a_negative_limit_is_refused():
    with pytest.raises(ValueError, match="limit_bytes must be >= 0, got -1"):
        ResidentContents().to_evict(-1)
