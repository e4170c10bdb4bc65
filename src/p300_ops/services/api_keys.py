"""Credentials of the platform's APIs: bearer tokens (create, list, rotate, revoke) and the
API Gateway API keys of the upload API's usage plan (list, rotate).

Tokens authenticate: a client sends ``Authorization: Bearer <token>`` and the API's Lambda
authorizer checks it against the token's hashed record (`p300_aws.api_tokens`). A token is
shown once, when it is created.

A key's value changes only when it is rotated: restarts keep every key's value (the cloud state,
docs/local-cloud.md). Rotating creates a new key with the same name, description and usage
plans, then deletes the old one, whose value stops working at once. The new value is read, like
any key's, with AWS credentials (`p300 keys --show-values`, or
``get_api_keys(includeValues=True)``).
"""

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from p300_aws.api_tokens import (
    SCHEME,
    TokenRecord,
    Unauthorized,
    check_api,
    list_records,
    load_record,
    new_token,
    parse_header,
    put_record,
)
from p300_aws.names import API_TOKENS_BUCKET, UPLOAD_API_KEY_NAME
from p300_ops.services.errors import ServiceError


@dataclass(frozen=True)
class ApiKeyInfo:
    """One API key: ``usage_plans`` are the names of the plans it belongs to; ``value`` is None
    unless values were asked for."""

    id: str
    name: str
    enabled: bool
    created: object
    usage_plans: tuple[str, ...]
    value: str | None = None


@dataclass(frozen=True)
class Rotation:
    """A rotated key: the old id (deleted), the new id, and the plans the new key is in."""

    name: str
    old_id: str
    new_id: str
    usage_plans: tuple[str, ...]


def list_keys(apigateway, *, values: bool = False) -> list[ApiKeyInfo]:
    """Every API key, by name, with its usage plans (and its value when `values`)."""
    keys = apigateway.get_api_keys(includeValues=values, limit=500)["items"]
    return sorted(
        (
            ApiKeyInfo(
                id=key["id"],
                name=key.get("name", ""),
                enabled=bool(key.get("enabled")),
                created=key.get("createdDate"),
                usage_plans=tuple(plan["name"] for plan in _plans_of(apigateway, key["id"])),
                value=key.get("value") if values else None,
            )
            for key in keys
        ),
        key=lambda info: (info.name, info.id),
    )


def rotate_key(apigateway, name: str = UPLOAD_API_KEY_NAME) -> Rotation:
    """Replace the key named `name` by a new one in the same usage plans; the old key is
    deleted (its value stops working). `ServiceError` unless exactly one key has that name."""
    found = [
        key
        for key in apigateway.get_api_keys(nameQuery=name, limit=500)["items"]
        if key.get("name") == name
    ]
    if len(found) != 1:
        raise ServiceError(f"expected one API key named {name!r} to rotate, found {len(found)}")
    old = found[0]
    plans = _plans_of(apigateway, old["id"])
    new = apigateway.create_api_key(
        name=name, description=old.get("description") or name, enabled=bool(old.get("enabled"))
    )
    for plan in plans:
        apigateway.create_usage_plan_key(usagePlanId=plan["id"], keyId=new["id"], keyType="API_KEY")
    apigateway.delete_api_key(apiKey=old["id"])
    return Rotation(name, old["id"], new["id"], tuple(plan["name"] for plan in plans))


def _plans_of(apigateway, key_id: str) -> list[dict]:
    return apigateway.get_usage_plans(keyId=key_id, limit=500)["items"]


# Bearer tokens (`p300_aws.api_tokens`): what authenticates a client of the APIs. The API keys
# above only name the usage plan a collector's requests count against.

#: Who the CLI's own tokens belong to (`client_token`).
CLI_CLIENT = "p300-cli"


@dataclass(frozen=True)
class NewToken:
    """A token just created: ``token`` is its only copy (shown once, never stored in clear)."""

    token: str
    record: TokenRecord
    revoked_id: str | None = None


def create_token(s3, api: str, *, client: str) -> NewToken:
    """A new token of ``api`` (``predict``, ``upload``) for ``client``; only its hash is stored."""
    token, record = new_token(api, client=client)
    put_record(s3, API_TOKENS_BUCKET, record)
    return NewToken(token, record)


def list_tokens(s3) -> list[TokenRecord]:
    """Every token's record (never a secret), by API and creation time."""
    return list_records(s3, API_TOKENS_BUCKET)


def revoke_token(s3, token_id: str) -> TokenRecord:
    """Mark token ``token_id`` revoked: the authorizers refuse it from the next request on.

    Raises
    ------
    ServiceError
        When no token has that id, or it is revoked already.
    """
    record = _record_of(s3, token_id)
    if record.revoked is not None:
        raise ServiceError(f"token {token_id} of {record.client} was revoked at {record.revoked}")
    revoked = record.model_copy(update={"revoked": datetime.now(UTC).isoformat(timespec="seconds")})
    put_record(s3, API_TOKENS_BUCKET, revoked)
    return revoked


def rotate_token(s3, token_id: str) -> NewToken:
    """A new token for the same API and client as ``token_id``, which is then revoked."""
    old = _record_of(s3, token_id)
    created = create_token(s3, old.api, client=old.client)
    if old.revoked is None:
        revoke_token(s3, token_id)
    return NewToken(created.token, created.record, revoked_id=token_id)


def client_token(s3, home: Path, api: str) -> str:
    """The CLI's own token of ``api``, kept in ``<home>/credentials/<api>.token`` (mode 0600).

    A token that is missing, no longer stored or revoked is replaced by a new one for
    `CLI_CLIENT`: the CLI holds AWS credentials that may create tokens anyway.
    """
    path = home / "credentials" / f"{check_api(api)}.token"
    if path.is_file():
        token = path.read_text().strip()
        try:
            _, token_id, _ = parse_header(f"{SCHEME}{token}")
        except Unauthorized:  # not a token (an edited file): replaced below
            token_id = None
        record = token_id and load_record(s3, API_TOKENS_BUCKET, api, token_id)
        if record and record.revoked is None:
            return token
    created = create_token(s3, api, client=CLI_CLIENT)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(created.token)
    path.with_suffix(".tmp").replace(path)
    return created.token


def bearer(token: str) -> dict[str, str]:
    """The request header that carries ``token``."""
    return {"Authorization": f"{SCHEME}{token}"}


def _record_of(s3, token_id: str) -> TokenRecord:
    found = [record for record in list_tokens(s3) if record.id == token_id]
    if not found:
        raise ServiceError(f"no token has id {token_id!r} (see `p300 keys tokens`)")
    return found[0]
