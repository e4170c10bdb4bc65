import tracemalloc

import pytest
from p300_localstack.diagnostics.memory_growth import frames_setting, growth, main, report

HELD: list[bytes] = []


def allocate_megabytes(n: int) -> None:
    HELD.extend(bytearray(2**20) for _ in range(n))


@pytest.fixture
def two_snapshots():
    """Snapshots before and after this module's `allocate_megabytes(3)`."""
    tracemalloc.start(1)
    try:
        before = tracemalloc.take_snapshot()
        allocate_megabytes(3)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
        HELD.clear()
    return before, after


def test_growth_puts_the_site_that_allocated_most_first(two_snapshots):
    sites = growth(*two_snapshots)
    top = sites[0]
    assert __file__ in top.site[0] and top.size_diff >= 3 * 2**20
    assert top.count_diff >= 3
    assert [s.size_diff for s in sites] == sorted((s.size_diff for s in sites), reverse=True)


def test_report_gives_megabytes_per_unit(two_snapshots):
    text = report(growth(*two_snapshots, group_by="filename"), units=3, top=1)
    lines = text.splitlines()
    assert lines[0].startswith("total growth ") and "per unit (3)" in lines[0]
    assert len(lines) == 2 and __file__ in lines[1]
    megabytes, per_unit = float(lines[1].split()[0]), float(lines[1].split()[2])
    assert megabytes >= 3.0 and per_unit == pytest.approx(megabytes / 3, abs=0.01)


def test_main_compares_two_dumped_snapshots(two_snapshots, tmp_path, capsys):
    paths = []
    for name, snapshot in zip(("before", "after"), two_snapshots, strict=True):
        paths.append(str(tmp_path / name))
        snapshot.dump(paths[-1])
    main([*paths, "--units", "2", "--top", "1"])
    assert __file__ in capsys.readouterr().out


@pytest.mark.parametrize(
    ("environ", "frames"),
    [({}, 0), ({"P300_TRACEMALLOC": " "}, 0), ({"P300_TRACEMALLOC": "10"}, 10)],
)
def test_frames_setting(environ, frames):
    assert frames_setting(environ) == frames


@pytest.mark.parametrize("value", ["0", "101", "yes", "-1"])
def test_frames_setting_refuses_what_is_not_a_frame_count(value):
    with pytest.raises(ValueError, match=f"P300_TRACEMALLOC must be .* 1..100, got '{value}'"):
        frames_setting({"P300_TRACEMALLOC": value})


def test_bad_grouping_and_units_are_refused(two_snapshots):
    with pytest.raises(ValueError, match=r"group_by must be one of .*got 'line'"):
        growth(*two_snapshots, group_by="line")
    with pytest.raises(ValueError, match="units must be > 0, got 0"):
        report([], units=0, top=1)
