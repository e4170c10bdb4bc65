"""Per-client bearer tokens of the platform's APIs, stored hashed, and the authorizer's decision.

A token reads ``p300.<api>.<id>.<secret>``: ``api`` names the API it opens (`APIS`), ``id`` is
12 hex digits (it names the token in listings and logs, like an access key id) and ``secret`` is
32 random bytes in URL-safe base64 (43 characters). Only the SHA-256 of the secret is stored, in
``s3://p300-api-tokens/tokens/<api>/<id>.json`` (`TokenRecord`): a token is shown once, when it
is created, and cannot be read back. A 256-bit random secret needs no slow hash: guessing it is
as hard as guessing the key of the hash.

Clients send ``Authorization: Bearer <token>``. The Lambda authorizer of each API (`authorize`)
answers API Gateway with an Allow policy for that API's stage, a Deny policy (403) for a token
that is unknown, revoked, wrong or another API's, and raises `Unauthorized` (401) for a missing,
malformed or oversized one. Refusals are logged with the reason and, where it parses, the
token's id, never its value.
"""

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from p300_aws.events import Event

LOG = logging.getLogger(__name__)

#: API name → what its tokens open.
APIS = {"predict": "the prediction API (p300-api)", "upload": "the upload API (p300-upload-api)"}
TOKEN_PREFIX = "tokens/"
#: Longest Authorization header looked at (``Bearer <token>`` is 75–76 characters).
MAX_HEADER_CHARS = 256
SCHEME = "Bearer "
_TOKEN = re.compile(r"p300\.(predict|upload)\.([0-9a-f]{12})\.([A-Za-z0-9_-]{43})")
#: The header API Gateway checks before invoking the authorizer (`TokenAuthorizer`).
HEADER_PATTERN = r"^Bearer p300\.(predict|upload)\.[0-9a-f]{12}\.[A-Za-z0-9_-]{43}$"
_ID_BYTES, _SECRET_BYTES = 6, 32


class Unauthorized(Exception):
    """Raised with the message ``Unauthorized``: API Gateway answers 401."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


class TokenRecord(BaseModel):
    """What is stored of a token: never its secret, only the secret's SHA-256 (hex)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api: Literal["predict", "upload"]
    id: str
    client: str
    sha256: str
    created: str
    revoked: str | None = None


class AuthorizerEvent(Event):
    """API Gateway's event for a TOKEN authorizer."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["TOKEN"]
    authorizationToken: str
    methodArn: str


def check_api(api: object) -> str:
    """``api`` when it is one of `APIS`; `ValueError` naming the allowed values otherwise."""
    if api not in APIS:
        raise ValueError(f"api must be one of {sorted(APIS)}, got {api!r}")
    return api


def record_key(api: str, token_id: str) -> str:
    """Key of a token's record in the tokens bucket."""
    return f"{TOKEN_PREFIX}{check_api(api)}/{token_id}.json"


def new_token(api: str, *, client: str, now: datetime | None = None) -> tuple[str, TokenRecord]:
    """A fresh token for ``api`` and the record to store; the token is not kept anywhere.

    Raises
    ------
    ValueError
        For an unknown ``api`` or an empty ``client`` name.
    """
    check_api(api)
    if not client.strip():
        raise ValueError(f"client must name who holds the token, got {client!r}")
    token_id = secrets.token_hex(_ID_BYTES)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(_SECRET_BYTES)).rstrip(b"=").decode()
    created = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    record = TokenRecord(api=api, id=token_id, client=client, sha256=_digest(secret),
                         created=created)  # fmt: skip
    return f"p300.{api}.{token_id}.{secret}", record


def parse_header(header: object) -> tuple[str, str, str]:
    """``(api, id, secret)`` of an ``Authorization`` header; `Unauthorized` unless it is
    ``Bearer <token>`` of the token format (at most `MAX_HEADER_CHARS` characters)."""
    if not isinstance(header, str) or len(header) > MAX_HEADER_CHARS:
        raise Unauthorized
    match = _TOKEN.fullmatch(header.removeprefix(SCHEME)) if header.startswith(SCHEME) else None
    if match is None:
        raise Unauthorized
    return match.group(1), match.group(2), match.group(3)


def authorize(
    event: AuthorizerEvent, *, api: str, load: Callable[[str, str], TokenRecord | None]
) -> dict:
    """API Gateway's answer for ``event`` on the authorizer of ``api``.

    Parameters
    ----------
    load
        ``(api, id) → TokenRecord`` of a stored token, None when there is none.

    Returns
    -------
    dict
        ``principalId`` (the client), an IAM policy allowing or denying ``execute-api:Invoke``
        on every method of the invoked stage, and a ``context`` naming the client and token id.

    Raises
    ------
    Unauthorized
        For a missing, malformed or oversized header (API Gateway answers 401).
    """
    try:
        token_api, token_id, secret = parse_header(event.authorizationToken)
    except Unauthorized:
        LOG.warning("refused: malformed token (%d characters)", len(event.authorizationToken))
        raise
    if token_api != api:
        return _refused(event, f"a token of the {token_api} API", token_id)
    record = load(api, token_id)
    if record is None:
        return _refused(event, "unknown token", token_id)
    if record.revoked is not None:
        return _refused(event, f"token revoked at {record.revoked}", token_id)
    if not hmac.compare_digest(record.sha256, _digest(secret)):
        return _refused(event, "wrong secret", token_id)
    return _policy(record.client, "Allow", event.methodArn, token_id)


def stage_arn(method_arn: str) -> str:
    """``arn:...:<api id>/<stage>/*`` of a ``arn:...:<api id>/<stage>/<METHOD>/<path>``."""
    parts = method_arn.split("/")
    if len(parts) < 3:
        raise ValueError(f"methodArn must be arn:...:<api id>/<stage>/<METHOD>/..., got "
                         f"{method_arn!r}")  # fmt: skip
    return "/".join(parts[:2]) + "/*"


def load_record(s3, bucket: str, api: str, token_id: str) -> TokenRecord | None:
    """The stored record of token ``token_id`` of ``api``; None when there is none."""
    try:
        body = s3.get_object(Bucket=bucket, Key=record_key(api, token_id))["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return TokenRecord.model_validate_json(body)


def put_record(s3, bucket: str, record: TokenRecord) -> None:
    """Store (or replace) ``record``."""
    s3.put_object(
        Bucket=bucket,
        Key=record_key(record.api, record.id),
        Body=record.model_dump_json().encode(),
        ContentType="application/json",
    )


def list_records(s3, bucket: str) -> list[TokenRecord]:
    """Every stored token record, of every API, by API and creation time."""
    records = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=TOKEN_PREFIX):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            records.append(TokenRecord.model_validate(json.loads(body)))
    return sorted(records, key=lambda record: (record.api, record.created, record.id))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _refused(event: AuthorizerEvent, reason: str, token_id: str) -> dict:
    LOG.warning("refused token %s: %s", token_id, reason)
    return _policy("refused", "Deny", event.methodArn, token_id)


def _policy(principal: str, effect: str, method_arn: str, token_id: str) -> dict:
    statement = {"Action": "execute-api:Invoke", "Effect": effect,
                 "Resource": stage_arn(method_arn)}  # fmt: skip
    return {
        "principalId": principal,
        "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
        "context": {"client": principal, "tokenId": token_id},
    }
