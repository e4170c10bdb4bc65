"""API Gateway API keys of the platform: list them, and rotate one on purpose.

A key's value changes only when it is rotated: restarts keep every key's value (the cloud state,
docs/local-cloud.md). Rotating creates a new key with the same name, description and usage
plans, then deletes the old one, whose value stops working at once. The new value is read, like
any key's, with AWS credentials (`p300 keys --show-values`, or
``get_api_keys(includeValues=True)``).
"""

from dataclasses import dataclass

from p300_aws.names import UPLOAD_API_KEY_NAME
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
