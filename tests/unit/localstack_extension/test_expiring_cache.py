import pytest
from p300_localstack.expiring_cache import ExpiringCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_value_is_returned_until_it_is_max_age_old(clock):
    cache = ExpiringCache(max_age_s=10, max_entries=4, clock=clock)
    cache.put("role", "session")
    clock.now = 9.9
    assert cache.get("role") == "session"
    clock.now = 10.0
    assert cache.get("role") is None
    assert len(cache) == 0  # an expired value is dropped


def test_putting_again_renews_the_age(clock):
    cache = ExpiringCache(max_age_s=10, max_entries=4, clock=clock)
    cache.put("role", "old")
    clock.now = 8
    cache.put("role", "new")
    clock.now = 15
    assert cache.get("role") == "new"


def test_the_least_recently_put_goes_first_when_full(clock):
    cache = ExpiringCache(max_age_s=10, max_entries=2, clock=clock)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 3)
    cache.put("c", 4)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (3, None, 4)


def test_an_unknown_key_is_none(clock):
    assert ExpiringCache(max_age_s=1, max_entries=1, clock=clock).get("x") is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_age_s": 0, "max_entries": 1}, "max_age_s must be > 0 seconds, got 0"),
        ({"max_age_s": 1, "max_entries": 0}, "max_entries must be > 0, got 0"),
    ],
)
def test_bad_settings_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        ExpiringCache(**options)
