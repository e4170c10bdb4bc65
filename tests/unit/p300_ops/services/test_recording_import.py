from pathlib import Path

import pytest

from p300_ops.services.recording_import import format_of, parse_event_map


@pytest.mark.parametrize(
    ("pairs", "mapping"),
    [
        ((), None),
        (("target=2", "nontarget=1"), {"target": 2, "nontarget": 1}),
        (("Stimulus/S  2=target", "a=b=NonTarget"), {"Stimulus/S  2": 2, "a=b": 1}),
    ],
)
def test_parse_event_map(pairs, mapping):
    assert parse_event_map(pairs) == mapping


@pytest.mark.parametrize("pair", ["target", "=2", "target=3", "target=yes"])
def test_parse_event_map_refuses(pair):
    with pytest.raises(ValueError, match=f"--event must be NAME=CODE .*got {pair!r}"):
        parse_event_map((pair,))


@pytest.mark.parametrize(
    ("name", "chosen", "kind"),
    [
        ("run.dat", "auto", "bci2000"),
        ("RUN.GDF", "auto", "openvibe-gdf"),
        ("rec.vhdr", "auto", "mne"),
        ("rec.edf", "auto", "mne"),
        ("rec.gdf", "mne", "mne"),
    ],
)
def test_the_importer_follows_the_suffix_unless_chosen(name, chosen, kind):
    assert format_of(Path(name), chosen) == kind


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match=r"--format must be one of \('auto', .*got 'csv'"):
        format_of(Path("x.dat"), "csv")
