"""Bearer tokens: format, hashing, and the authorizer's answer for each kind of bad token."""

import hashlib
import logging
from datetime import UTC, datetime

import pytest

from p300_aws.api_tokens import (
    APIS,
    MAX_HEADER_CHARS,
    AuthorizerEvent,
    TokenRecord,
    Unauthorized,
    authorize,
    new_token,
    parse_header,
    record_key,
    stage_arn,
)

METHOD_ARN = "arn:aws:execute-api:us-east-1:000000000000:abc123/prod/POST/predict-champion/predict"
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def event(header: str) -> AuthorizerEvent:
    return AuthorizerEvent.model_validate(
        {"type": "TOKEN", "authorizationToken": header, "methodArn": METHOD_ARN}
    )


@pytest.fixture
def store():
    """A token of each API and a revoked one, as the authorizer loads them."""
    tokens, records = {}, {}
    for name, api in (("predict", "predict"), ("upload", "upload"), ("revoked", "predict")):
        token, record = new_token(api, client=f"{name}-client", now=NOW)
        if name == "revoked":
            record = record.model_copy(update={"revoked": NOW.isoformat()})
        tokens[name], records[(api, record.id)] = token, record
    return tokens, lambda api, token_id: records.get((api, token_id))


@pytest.mark.parametrize("api", sorted(APIS))
def test_a_new_token_is_stored_as_the_hash_of_its_secret_only(api):
    token, record = new_token(api, client="collector-1", now=NOW)
    prefix, token_api, token_id, secret = token.split(".")
    assert (prefix, token_api, token_id) == ("p300", api, record.id)
    assert record.sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in record.model_dump_json()
    assert record.created == "2026-12-07T12:00:00+00:00" and record.revoked is None
    assert record_key(api, record.id) == f"tokens/{api}/{record.id}.json"


def test_two_tokens_differ():
    assert new_token("predict", client="a")[0] != new_token("predict", client="a")[0]


@pytest.mark.parametrize(
    ("api", "client", "match"),
    [("admin", "x", r"api must be one of \['predict', 'upload'\], got 'admin'"),
     ("predict", " ", r"client must name who holds the token, got ' '")],
)  # fmt: skip
def test_new_token_refuses_bad_arguments(api, client, match):
    with pytest.raises(ValueError, match=match):
        new_token(api, client=client)


def test_a_valid_token_is_allowed_on_the_whole_stage(store):
    tokens, load = store
    answer = authorize(event(f"Bearer {tokens['predict']}"), api="predict", load=load)
    (statement,) = answer["policyDocument"]["Statement"]
    assert statement == {
        "Action": "execute-api:Invoke",
        "Effect": "Allow",
        "Resource": "arn:aws:execute-api:us-east-1:000000000000:abc123/prod/*",
    }
    assert answer["principalId"] == "predict-client"
    assert answer["context"]["tokenId"] == tokens["predict"].split(".")[2]


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer p300.predict.0123456789ab.short",
        "Bearer p300.admin.0123456789ab." + "A" * 43,
        "bearer p300.predict.0123456789ab." + "A" * 43,
        "Bearer p300.predict.0123456789ab." + "A" * 43 + " ",
        "Bearer " + "A" * (MAX_HEADER_CHARS * 40),
    ],
    ids=["empty", "scheme-only", "scheme-space", "basic", "short", "api", "case", "trailing",
         "oversized"],
)  # fmt: skip
def test_a_malformed_or_oversized_header_is_401_and_logged_without_it(store, header, caplog):
    _, load = store
    with caplog.at_level(logging.WARNING), pytest.raises(Unauthorized, match=r"^Unauthorized$"):
        authorize(event(header), api="predict", load=load)
    assert "malformed" in caplog.text
    if len(header) > len("Bearer "):
        assert header.removeprefix("Bearer ") not in caplog.text


@pytest.mark.parametrize(
    ("name", "tamper", "reason"),
    [
        ("upload", None, "a token of the upload API"),
        ("revoked", None, "token revoked at 2026-12-07T12:00:00+00:00"),
        ("predict", "secret", "wrong secret"),
        ("predict", "id", "unknown token"),
    ],
)
def test_a_wrong_revoked_or_other_apis_token_is_denied_and_logged_by_id(
    store, name, tamper, reason, caplog
):
    tokens, load = store
    prefix, api, token_id, secret = tokens[name].split(".")
    if tamper == "secret":
        secret = ("B" if secret[0] == "A" else "A") + secret[1:]
    if tamper == "id":
        token_id = "f" * 12 if token_id != "f" * 12 else "e" * 12
    header = f"Bearer {prefix}.{api}.{token_id}.{secret}"
    with caplog.at_level(logging.WARNING):
        answer = authorize(event(header), api="predict", load=load)
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert f"refused token {token_id}: {reason}" in caplog.text
    assert secret not in caplog.text


def test_parse_header_reads_api_id_and_secret():
    token, record = new_token("upload", client="c")
    assert parse_header(f"Bearer {token}")[:2] == ("upload", record.id)


def test_stage_arn_refuses_a_method_arn_without_a_stage():
    with pytest.raises(ValueError, match=r"methodArn must be .* got 'arn:aws:execute-api'"):
        stage_arn("arn:aws:execute-api")


def test_a_record_refuses_unknown_fields():
    with pytest.raises(ValueError, match="secret"):
        TokenRecord.model_validate(
            {"api": "predict", "id": "0" * 12, "client": "c", "sha256": "0", "created": "t",
             "secret": "x"}
        )  # fmt: skip
