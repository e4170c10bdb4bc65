"""The ASL files' named retriers are put in from one policy file."""

import json

import pytest

from infra.asl import STATE_MACHINES_DIR, expand_retries, load_definition, retry_policies

POLICIES = {"A": {"ErrorEquals": ["E"], "MaxAttempts": 2}, "B": {"ErrorEquals": ["F"]}}


def test_named_retriers_are_put_in_at_any_depth_and_others_kept():
    definition = {
        "States": {
            "T": {"Type": "Task", "Retry": ["${A}", {"ErrorEquals": ["G"]}]},
            "M": {"Type": "Map", "ItemProcessor": {"States": {"U": {"Retry": ["${B}", "${A}"]}}}},
        }
    }
    expanded = expand_retries(definition, POLICIES)
    assert expanded["States"]["T"]["Retry"] == [POLICIES["A"], {"ErrorEquals": ["G"]}]
    assert expanded["States"]["M"]["ItemProcessor"]["States"]["U"]["Retry"] == [
        POLICIES["B"],
        POLICIES["A"],
    ]
    assert definition["States"]["T"]["Retry"][0] == "${A}"  # the input is not changed


@pytest.mark.parametrize("item", ["${C}", "A", "${A"])
def test_an_unknown_retrier_name_is_refused_naming_the_known_ones(item):
    with pytest.raises(ValueError, match=r"one of \['\$\{A\}', '\$\{B\}'\], got "):
        expand_retries({"Retry": [item]}, POLICIES, where="x.asl.json")


def test_the_policies_are_asl_retriers():
    allowed = {"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds",
               "JitterStrategy"}  # fmt: skip
    policies = retry_policies()
    assert set(policies) == {"LambdaServiceRetry", "TransientRetry"}
    for retrier in policies.values():
        assert set(retrier) <= allowed and retrier["ErrorEquals"]


@pytest.mark.parametrize(
    "path", sorted(STATE_MACHINES_DIR.glob("*.asl.json")), ids=lambda p: p.name
)
def test_every_asl_file_names_its_retriers_and_copies_none(path):
    raw = path.read_text()
    assert "Lambda.ServiceException" not in raw, "write ${LambdaServiceRetry}, not a copy"
    expanded = json.dumps(load_definition(path))
    assert "${LambdaServiceRetry}" not in expanded and "${TransientRetry}" not in expanded
