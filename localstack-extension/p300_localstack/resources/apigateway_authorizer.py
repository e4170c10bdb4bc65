"""``AWS::ApiGateway::Authorizer`` for CloudFormation (LocalStack 2026.3.0 community has no
provider for it: a stack with an authorizer fails at its first method, "Invalid authorizer ID").

Create, update and delete go through LocalStack's own API Gateway API (``CreateAuthorizer``,
``UpdateAuthorizer``, ``DeleteAuthorizer``); the patch `p300_localstack.patches.authorizers`
makes the gateway run the authorizer.
"""

import contextlib
from typing import TypedDict

from localstack.services.cloudformation.resource_provider import (
    CloudFormationResourceProviderPlugin,
    OperationStatus,
    ProgressEvent,
    ResourceProvider,
    ResourceRequest,
)

#: CloudFormation property → CreateAuthorizer parameter (and UpdateAuthorizer patch path).
_FIELDS = {
    "Name": ("name", "/name"),
    "Type": ("type", "/type"),
    "AuthorizerUri": ("authorizerUri", "/authorizerUri"),
    "AuthorizerCredentials": ("authorizerCredentials", "/authorizerCredentials"),
    "AuthorizerResultTtlInSeconds": (
        "authorizerResultTtlInSeconds",
        "/authorizerResultTtlInSeconds",
    ),
    "IdentitySource": ("identitySource", "/identitySource"),
    "IdentityValidationExpression": (
        "identityValidationExpression",
        "/identityValidationExpression",
    ),
    "ProviderARNs": ("providerARNs", None),
    "AuthType": ("authType", "/authType"),
}


class AuthorizerProperties(TypedDict, total=False):
    RestApiId: str
    AuthorizerId: str
    Name: str
    Type: str
    AuthorizerUri: str
    AuthorizerCredentials: str
    AuthorizerResultTtlInSeconds: int
    IdentitySource: str
    IdentityValidationExpression: str
    ProviderARNs: list[str]
    AuthType: str


SCHEMA = {
    "typeName": "AWS::ApiGateway::Authorizer",
    "additionalProperties": False,
    "properties": {
        "RestApiId": {"type": "string"},
        "AuthorizerId": {"type": "string"},
        **{name: {"type": "string"} for name in _FIELDS if name not in ("ProviderARNs",)},
        "AuthorizerResultTtlInSeconds": {"type": "integer"},
        "ProviderARNs": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["RestApiId", "Type", "Name"],
    "createOnlyProperties": ["/properties/RestApiId"],
    "readOnlyProperties": ["/properties/AuthorizerId"],
    "primaryIdentifier": ["/properties/RestApiId", "/properties/AuthorizerId"],
}


class ApiGatewayAuthorizerProvider(ResourceProvider[AuthorizerProperties]):
    TYPE = "AWS::ApiGateway::Authorizer"
    SCHEMA = SCHEMA

    def create(self, request: ResourceRequest[AuthorizerProperties]) -> ProgressEvent:
        model = request.desired_state
        arguments = {
            parameter: model[name]
            for name, (parameter, _) in _FIELDS.items()
            if model.get(name) is not None
        }
        if "authorizerResultTtlInSeconds" in arguments:
            arguments["authorizerResultTtlInSeconds"] = int(
                arguments["authorizerResultTtlInSeconds"]
            )
        created = request.aws_client_factory.apigateway.create_authorizer(
            restApiId=model["RestApiId"], **arguments
        )
        model["AuthorizerId"] = created["id"]
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)

    def read(self, request: ResourceRequest[AuthorizerProperties]) -> ProgressEvent:
        raise NotImplementedError

    def update(self, request: ResourceRequest[AuthorizerProperties]) -> ProgressEvent:
        model, previous = request.desired_state, request.previous_state or {}
        model["AuthorizerId"] = previous["AuthorizerId"]
        operations = [
            {"op": "replace", "path": path, "value": str(model[name])}
            for name, (_, path) in _FIELDS.items()
            if path and model.get(name) is not None and model.get(name) != previous.get(name)
        ]
        if operations:
            request.aws_client_factory.apigateway.update_authorizer(
                restApiId=model["RestApiId"],
                authorizerId=model["AuthorizerId"],
                patchOperations=operations,
            )
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)

    def delete(self, request: ResourceRequest[AuthorizerProperties]) -> ProgressEvent:
        model = request.desired_state
        apigateway = request.aws_client_factory.apigateway
        with contextlib.suppress(apigateway.exceptions.NotFoundException):
            apigateway.delete_authorizer(
                restApiId=model["RestApiId"], authorizerId=model["AuthorizerId"]
            )
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)


class ApiGatewayAuthorizerProviderPlugin(CloudFormationResourceProviderPlugin):
    name = "AWS::ApiGateway::Authorizer"

    def __init__(self):
        self.factory: type[ResourceProvider] | None = None

    def load(self):
        self.factory = ApiGatewayAuthorizerProvider
