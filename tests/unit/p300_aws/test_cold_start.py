"""The handlers' set-up without garbage collection: off inside, frozen and back on after."""

import gc

import pytest

from p300_aws.cold_start import gc_paused


@pytest.fixture
def collector_on():
    gc.enable()
    yield
    gc.unfreeze()  # give this test's frozen objects back to the collector
    gc.enable()


def test_the_collector_is_off_inside_and_on_after_with_the_set_up_frozen(collector_on):
    frozen_before = gc.get_freeze_count()
    with gc_paused():
        assert not gc.isenabled()
        built = [[] for _ in range(1000)]  # tracked containers: what a module's set-up makes
    assert gc.isenabled()
    assert gc.get_freeze_count() >= frozen_before + len(built)


def test_a_failing_set_up_still_turns_the_collector_back_on(collector_on):
    with pytest.raises(ImportError, match="no module"), gc_paused():
        raise ImportError("no module")
    assert gc.isenabled()


def test_a_collector_turned_off_before_stays_off(collector_on):
    gc.disable()
    with gc_paused():
        pass
    assert not gc.isenabled()
