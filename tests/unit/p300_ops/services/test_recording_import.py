import pytest

from p300_ops.services.recording_import import parse_event_map


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
