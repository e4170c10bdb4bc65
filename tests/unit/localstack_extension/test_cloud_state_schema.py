"""The cloud state in memory: the latest record of each thing, deletions, names in reports."""

import pytest
from p300_localstack.cloud_state.schema import CloudState, describe
from p300_localstack.durable_s3.journal import Record

ACCOUNT = ("000000000000", "us-east-1")


def alias(name: str, payload: bytes | None) -> Record:
    return Record("lambda_alias", (*ACCOUNT, "p300-predict", name), payload)


def test_the_latest_record_of_a_thing_wins_and_none_deletes_it():
    state = CloudState()
    state.apply(alias("champion", b"v1"))
    state.apply(alias("challenger", b"v2"))
    state.apply(alias("champion", b"v3"))
    assert [r.payload for r in state.of_kind("lambda_alias")] == [b"v3", b"v2"]
    state.apply(alias("champion", None))
    assert state.get("lambda_alias", (*ACCOUNT, "p300-predict", "champion")) == []
    assert state.count("lambda_alias") == 1


def test_a_copy_does_not_see_later_changes():
    state = CloudState()
    state.apply(alias("champion", b"v1"))
    previous = state.copy()
    state.apply(alias("champion", b"v2"))
    assert [r.payload for r in previous.records()] == [b"v1"]


def test_the_cloud_state_names_no_blobs():
    state = CloudState()
    state.apply(alias("champion", b"v1"))
    assert list(state.blob_refs()) == [] and state.orphans() == []
    assert state.referenced_blobs() == set() and not state.is_referenced("x")


@pytest.mark.parametrize(
    ("kind", "rest", "name"),
    [
        ("resource_id", ("apigateway", "rest_api", "p300-api"),
         "the id of apigateway rest_api 'p300-api'"),
        ("api_key", ("k3y",), "API key k3y"),
        ("lambda_version", ("p300-predict", "3"), "Lambda version p300-predict:3"),
        ("lambda_alias", ("p300-predict", "champion"), "Lambda alias p300-predict:champion"),
        ("execution", ("arn:aws:states:x",), "execution arn:aws:states:x"),
        ("alarm", ("p300-drift-detected",), "alarm p300-drift-detected"),
    ],
)  # fmt: skip
def test_describe_names_each_kind(kind, rest, name):
    assert describe(Record(kind, (*ACCOUNT, *rest), b"")) == name
