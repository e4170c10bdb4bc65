"""Which cloud-state things a successful Lambda or API Gateway request changed (pure).

A thing is ``(kind, name, detail)``:

- ``("lambda_version", function, version)``, ``("lambda_alias", function, alias)``, and
  ``("lambda_function", function, None)`` for a whole function deleted; `function` as the
  request gave it (a name or an ARN);
- ``("resource_id", "rest_api" | "usage_plan", (name, id))``: the id given to a new resource;
- ``("api_key", key_id, None)``.
"""

from collections.abc import Mapping

Thing = tuple[str, str, object]
#: Lambda operations that change an alias's permission or provisioned concurrency when their
#: Qualifier names an alias.
_ALIAS_SETTINGS = (
    "AddPermission",
    "RemovePermission",
    "PutProvisionedConcurrencyConfig",
    "DeleteProvisionedConcurrencyConfig",
)


def lambda_touched(operation: str, request: Mapping, response: Mapping) -> list[Thing]:
    """The versions and aliases a Lambda `operation` changed (empty for every other call).

    Parameters
    ----------
    operation : str
        The Lambda operation, e.g. "PublishVersion".
    request, response : Mapping
        The parsed request (FunctionName, Name, Qualifier) and response (Version).
    """
    function = request.get("FunctionName")
    if not function:
        return []
    qualifier = request.get("Qualifier")
    if operation == "PublishVersion":
        return [("lambda_version", function, response["Version"])]
    if operation in ("CreateAlias", "UpdateAlias", "DeleteAlias"):
        return [("lambda_alias", function, request["Name"])]
    if operation == "DeleteFunction":
        if qualifier is None:
            return [("lambda_function", function, None)]
        return [("lambda_version", function, qualifier)] if qualifier.isdigit() else []
    if operation in _ALIAS_SETTINGS and qualifier and not _is_version(qualifier):
        return [("lambda_alias", function, qualifier)]
    return []


def apigateway_touched(operation: str, request: Mapping, response: Mapping) -> list[Thing]:
    """The REST API and usage plan ids, and the API keys, an API Gateway `operation` changed."""
    if operation in ("CreateRestApi", "ImportRestApi"):
        return [("resource_id", "rest_api", (response["name"], response["id"]))]
    if operation == "CreateUsagePlan":
        return [("resource_id", "usage_plan", (response["name"], response["id"]))]
    if operation == "CreateApiKey":
        return [("api_key", response["id"], None)]
    if operation in ("UpdateApiKey", "DeleteApiKey"):
        return [("api_key", request["apiKey"], None)]
    if operation == "ImportApiKeys":
        return [("api_key", key_id, None) for key_id in response.get("ids") or []]
    if operation in ("CreateUsagePlanKey", "DeleteUsagePlanKey"):
        return [("api_key", request["keyId"], None)]
    return []


def _is_version(qualifier: str) -> bool:
    return qualifier.isdigit() or qualifier == "$LATEST"
