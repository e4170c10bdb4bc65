"""Lambda TOKEN authorizers for REST APIs (LocalStack 2026.3.0 community serves a method whose
authorization type is CUSTOM as if it had none: nothing calls the authorizer).

The fix runs the method's TOKEN authorizer before the API key check, as API Gateway does: a
missing identity header or one not matching the authorizer's validation expression is 401
without invoking it; the function failing with ``Unauthorized`` is 401, failing otherwise 500;
a policy that denies ``execute-api:Invoke`` on the method's ARN, or allows nothing matching it,
is 403. An allowing policy's principal and context become ``$context.authorizer``. Results are
not cached (the platform's authorizers set a TTL of 0).
"""

import fnmatch
import json
import logging
import re

from localstack.aws.connect import connect_to
from localstack.services.apigateway.next_gen.execute_api.gateway_response import (
    AccessDeniedError,
    AuthorizerConfigurationError,
    UnauthorizedError,
)
from localstack.services.apigateway.next_gen.execute_api.handlers.api_key_validation import (
    ApiKeyValidationHandler,
)
from localstack.utils.patch import Patch

LOG = logging.getLogger(__name__)
_FUNCTION_IN_URI = re.compile(r"/functions/(.+)/invocations$")
_HEADER_SOURCE = "method.request.header."


def lambda_token_authorizers() -> list[Patch]:
    """Call the TOKEN authorizer of a CUSTOM method before its API key is checked."""

    def check_then_validate_key(original, self, chain, context, response):
        method = context.resource_method or {}
        if method.get("authorizationType") == "CUSTOM":
            authorizer = context.deployment.rest_api.authorizers.get(method.get("authorizerId"))
            context.context_variables["authorizer"] = run_token_authorizer(authorizer, context)
        return original(self, chain, context, response)

    return [Patch.function(ApiKeyValidationHandler.__call__, check_then_validate_key)]


def run_token_authorizer(authorizer: dict | None, context) -> dict:
    """``$context.authorizer`` of an allowed request; raises the gateway's 401/403/500."""
    if not authorizer or authorizer.get("type") != "TOKEN":
        raise AuthorizerConfigurationError("only TOKEN authorizers are emulated")
    source = authorizer.get("identitySource", "")
    if not source.startswith(_HEADER_SOURCE):
        raise AuthorizerConfigurationError(f"identity source {source!r} is not a header")
    headers = context.invocation_request.get("headers") or {}
    token = headers.get(source.removeprefix(_HEADER_SOURCE))
    pattern = authorizer.get("identityValidationExpression")
    if not token or (pattern and re.fullmatch(pattern, token) is None):
        raise UnauthorizedError("Unauthorized")
    method_arn = (
        f"arn:aws:execute-api:{context.region}:{context.account_id}:{context.api_id}/"
        f"{context.stage}/{context.invocation_request['http_method']}/"
        f"{context.invocation_request['path'].lstrip('/')}"
    )
    answer = _invoke(authorizer, {"type": "TOKEN", "authorizationToken": token,
                                  "methodArn": method_arn})  # fmt: skip
    effect = policy_effect(answer.get("policyDocument") or {}, method_arn)
    if effect != "Allow":
        detail = " with an explicit deny" if effect == "Deny" else ""
        raise AccessDeniedError(f"User is not authorized to access this resource{detail}")
    return {"principalId": answer.get("principalId"), **(answer.get("context") or {})}


def policy_effect(document: dict, resource_arn: str) -> str | None:
    """``Deny`` when a statement denies ``execute-api:Invoke`` on ``resource_arn``, else
    ``Allow`` when one allows it, else None (IAM's evaluation: an explicit deny wins)."""
    statements = document.get("Statement") or []
    effects = {
        statement.get("Effect")
        for statement in (statements if isinstance(statements, list) else [statements])
        if _matches(statement.get("Action"), "execute-api:Invoke")
        and _matches(statement.get("Resource"), resource_arn)
    }
    return "Deny" if "Deny" in effects else ("Allow" if "Allow" in effects else None)


def _matches(patterns, value: str) -> bool:
    listed = patterns if isinstance(patterns, list) else [patterns]
    return any(isinstance(p, str) and fnmatch.fnmatchcase(value, p) for p in listed)


def _invoke(authorizer: dict, event: dict) -> dict:
    found = _FUNCTION_IN_URI.search(authorizer.get("authorizerUri", ""))
    if found is None:
        raise AuthorizerConfigurationError("the authorizer URI names no Lambda function")
    region = found.group(1).split(":")[3]
    result = connect_to(region_name=region).lambda_.invoke(
        FunctionName=found.group(1), Payload=json.dumps(event).encode()
    )
    payload = json.loads(result["Payload"].read() or b"null")
    if result.get("FunctionError"):
        if isinstance(payload, dict) and payload.get("errorMessage") == "Unauthorized":
            raise UnauthorizedError("Unauthorized")
        LOG.warning("authorizer %s failed: %s", found.group(1), payload)
        raise AuthorizerConfigurationError()
    if not isinstance(payload, dict):
        raise AuthorizerConfigurationError()
    return payload
