"""Fix for binary request bodies through API Gateway REST APIs (LocalStack 2026.3.0)."""

from localstack.services.apigateway.next_gen.execute_api.handlers.method_request import (
    MethodRequestHandler,
)
from localstack.services.apigateway.next_gen.execute_api.helpers import (
    mime_type_matches_binary_media_types,
)
from localstack.utils.patch import Patch


def binary_body_skips_json_validation() -> list[Patch]:
    """A method with body validation parsed every body as JSON, whatever its content type: a
    body of one of the API's binary media types crashed the request with a 500
    (UnicodeDecodeError). AWS validates a body only against the model of its content type
    (or ``$default``); a binary body with neither is passed through unvalidated."""
    original = MethodRequestHandler._is_body_valid

    def is_body_valid(method, rest_api, request) -> bool:
        content_type = request["headers"].get("Content-Type")
        models = method.get("requestModels") or {}
        binary = mime_type_matches_binary_media_types(
            content_type, rest_api.rest_api.get("binaryMediaTypes", [])
        )
        if binary and content_type not in models and "$default" not in models:
            return True
        return original(method, rest_api, request)

    return [Patch(MethodRequestHandler, "_is_body_valid", staticmethod(is_body_valid))]
