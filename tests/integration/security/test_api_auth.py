"""Every API through API Gateway on the local cloud: 401 for a missing, malformed or oversized
token, 403 for a wrong, revoked or other API's token, 200 with a valid one; no token value in
any file the cloud wrote (its logs, the synthesized template, its state) but the CLI's own
credentials file."""

import json
import uuid
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from p300_aws.api_tokens import MAX_HEADER_CHARS
from p300_aws.names import API_NAME, CHALLENGER_ALIAS, PREDICT_FUNCTION, UPLOAD_API_NAME
from p300_ops.cli import main
from p300_ops.services import api_keys
from p300_ops.services.cloud import Cloud
from p300_ops.services.upload_api_client import API_KEY_HEADER, api_key
from tests.integration.serving.test_serving_e2e import publish_code_only_version

pytestmark = [pytest.mark.cloud, pytest.mark.slow, pytest.mark.timeout(900)]

RUN = uuid.uuid4().hex[:6]


@pytest.fixture(scope="module")
def connected(cloud) -> Cloud:
    return Cloud(cloud)


@pytest.fixture(scope="module")
def tokens(connected) -> dict[str, str]:
    """A valid token of each API, and a revoked one of each."""
    made = {}
    for api in ("predict", "upload"):
        made[api] = api_keys.create_token(connected.s3, api, client=f"auth-test-{RUN}").token
        revoked = api_keys.create_token(connected.s3, api, client=f"auth-test-{RUN}-revoked")
        api_keys.revoke_token(connected.s3, revoked.record.id)
        made[f"{api}-revoked"] = revoked.token
    return made


@pytest.fixture(scope="module")
def requests(connected) -> dict:
    """API → a request that answers 200 once authorized: the prediction app's OpenAPI document
    (served by any version of the function, with or without a model) and an upload URL."""
    lambda_client = connected.lambda_client
    try:
        lambda_client.get_alias(FunctionName=PREDICT_FUNCTION, Name=CHALLENGER_ALIAS)
    except lambda_client.exceptions.ResourceNotFoundException:
        version = publish_code_only_version(lambda_client)
        lambda_client.create_alias(
            FunctionName=PREDICT_FUNCTION, Name=CHALLENGER_ALIAS, FunctionVersion=version
        )
        lambda_client.add_permission(
            FunctionName=PREDICT_FUNCTION, Qualifier=CHALLENGER_ALIAS, StatementId="auth-test",
            Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com",
        )  # fmt: skip
    upload_key = api_key(connected.apigateway)
    return {
        "predict": {
            "method": "GET",
            "url": f"{connected.api_url(API_NAME)}/predict-challenger/openapi.json",
            "headers": {},
        },
        "upload": {
            "method": "POST",
            "url": f"{connected.api_url(UPLOAD_API_NAME)}/uploads",
            "headers": {API_KEY_HEADER: upload_key},
            "json": {"subject": f"auth{RUN}", "session": "01"},
        },
    }


def call(request: dict, authorization: str | None) -> httpx.Response:
    headers = dict(request["headers"])
    if authorization is not None:
        headers["Authorization"] = authorization
    return httpx.request(request["method"], request["url"], headers=headers,
                         json=request.get("json"), timeout=120)  # fmt: skip


def other(api: str) -> str:
    return "upload" if api == "predict" else "predict"


def wrong_secret(token: str) -> str:
    prefix, api, token_id, secret = token.split(".")
    return f"{prefix}.{api}.{token_id}.{('B' if secret[0] == 'A' else 'A') + secret[1:]}"


CASES = {
    "missing": (None, 401),
    "empty": (lambda t, api: "", 401),
    "malformed": (lambda t, api: "Bearer not-a-token", 401),
    "not bearer": (lambda t, api: t[api].replace("p300.", "Basic p300.", 1), 401),
    "oversized": (lambda t, api: "Bearer " + "A" * (MAX_HEADER_CHARS * 32), 401),
    "wrong secret": (lambda t, api: f"Bearer {wrong_secret(t[api])}", 403),
    "other API's": (lambda t, api: f"Bearer {t[other(api)]}", 403),
    "revoked": (lambda t, api: f"Bearer {t[f'{api}-revoked']}", 403),
    "valid": (lambda t, api: f"Bearer {t[api]}", 200),
}


@pytest.mark.parametrize("api", ["predict", "upload"])
@pytest.mark.parametrize("case", list(CASES))
def test_each_api_answers_by_the_token(requests, tokens, api, case):
    make, status = CASES[case]
    response = call(requests[api], None if make is None else make(tokens, api))
    assert response.status_code == status, (case, response.status_code, response.text[:300])


def test_a_token_revoked_after_use_is_refused_from_the_next_request(connected, requests):
    created = api_keys.create_token(connected.s3, "predict", client=f"auth-test-{RUN}-late")
    header = f"Bearer {created.token}"
    assert call(requests["predict"], header).status_code == 200
    api_keys.revoke_token(connected.s3, created.record.id)
    assert call(requests["predict"], header).status_code == 403


def test_the_cli_signs_its_requests_with_its_own_token(connected, requests):
    headers = connected.api_headers("predict")
    assert call(requests["predict"], headers["Authorization"]).status_code == 200
    saved = Path(connected.state.home) / "credentials" / "predict.token"
    assert saved.stat().st_mode & 0o077 == 0  # readable by its owner only


def test_no_token_value_is_written_anywhere_by_the_cloud(cloud, connected, tokens, requests):
    """After the requests above: the authorizers' logs, LocalStack's and MLflow's logs, the
    synthesized template and every stored object hold no token (the records hold hashes)."""
    for case in ("valid", "wrong secret", "revoked"):
        call(requests["predict"], CASES[case][0](tokens, "predict"))
    secrets = {token.split(".")[3] for token in tokens.values()}
    home = Path(cloud.home)
    credentials = home / "credentials"
    scanned, found = 0, []
    for path in home.rglob("*"):
        # Built layers and function archives are large and hold no request data.
        if not path.is_file() or credentials in path.parents or path.stat().st_size > 2**26:
            continue
        scanned += 1
        data = path.read_bytes()
        found += [str(path) for secret in secrets if secret.encode() in data]
    assert scanned > 10
    assert found == []
    logs = connected.client("logs")
    group = "/aws/lambda/p300-authorize-predict"
    events = logs.filter_log_events(logGroupName=group)["events"]
    text = "\n".join(event["message"] for event in events)
    assert "refused token" in text
    assert not [secret for secret in secrets if secret in text]


def p300_keys(cloud, *args: str) -> dict | list:
    result = CliRunner().invoke(main, ["keys", *args, "--json", "--home", str(cloud.home)])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_keys_commands_create_list_rotate_and_revoke(cloud, requests):
    created = p300_keys(cloud, "create", "--api", "predict", "--client", f"cli-{RUN}")
    token, token_id = created["token"], created["id"]
    assert "sha256" not in created
    listed = p300_keys(cloud, "tokens")
    (row,) = [record for record in listed if record["id"] == token_id]
    assert row == {"api": "predict", "id": token_id, "client": f"cli-{RUN}",
                   "created": created["created"], "revoked": None}  # fmt: skip
    assert token.split(".")[3] not in json.dumps(listed)
    assert call(requests["predict"], f"Bearer {token}").status_code == 200
    rotated = p300_keys(cloud, "rotate-token", token_id)
    assert rotated["revoked_id"] == token_id and rotated["client"] == f"cli-{RUN}"
    assert call(requests["predict"], f"Bearer {token}").status_code == 403
    assert call(requests["predict"], f"Bearer {rotated['token']}").status_code == 200
    revoked = p300_keys(cloud, "revoke", rotated["id"])
    assert revoked["revoked"] is not None
    assert call(requests["predict"], f"Bearer {rotated['token']}").status_code == 403


def test_revoking_an_unknown_token_names_it(cloud):
    result = CliRunner().invoke(main, ["keys", "revoke", "000000000000", "--home", str(cloud.home)])
    assert result.exit_code != 0
    assert "no token has id '000000000000'" in result.output
