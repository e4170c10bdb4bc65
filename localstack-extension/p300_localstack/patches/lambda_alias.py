"""Fixes for Lambda aliases with weighted routing (LocalStack 2026.3.0)."""

from contextvars import ContextVar

from localstack.services.cloudformation.resource_provider import OperationStatus, ProgressEvent
from localstack.services.lambda_ import api_utils
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion
from localstack.services.lambda_.provider import LambdaProvider, get_function_version
from localstack.services.lambda_.resource_providers.lambda_alias import (
    REPEATED_INVOCATION,
    LambdaAliasProvider,
)
from localstack.utils.patch import Patch

#: Target version of the UpdateAlias call in progress (bug 3 needs it deeper in the call).
_update_alias_target: ContextVar[FunctionVersion | None] = ContextVar(
    "update_alias_target", default=None
)


def routing_as_map(routing_config: dict | None) -> dict:
    """CloudFormation's ``RoutingConfig`` (a list of ``{FunctionVersion, FunctionWeight}``) as the
    Lambda API's ``{"AdditionalVersionWeights": {version: weight}}``; empty clears the routing."""
    weights = (routing_config or {}).get("AdditionalVersionWeights") or []
    if isinstance(weights, dict):
        return {"AdditionalVersionWeights": weights}
    return {
        "AdditionalVersionWeights": {
            str(item["FunctionVersion"]): float(item["FunctionWeight"]) for item in weights
        }
    }


def cloudformation_alias_routing_map() -> list[Patch]:
    """Bug 1: AWS::Lambda::Alias create passes ``RoutingConfig.AdditionalVersionWeights`` to the
    Lambda API as CloudFormation's list where the API wants a map, so the create fails."""

    def create(original, self, request):
        model = request.desired_state
        routing = model.get("RoutingConfig")
        if not routing:
            return original(self, request)
        model["RoutingConfig"] = routing_as_map(routing)
        try:
            return original(self, request)
        finally:
            model["RoutingConfig"] = routing  # the stack keeps the template's shape

    return [Patch.function(LambdaAliasProvider.create, create)]


def cloudformation_alias_update() -> list[Patch]:
    """Bug 2: updating an AWS::Lambda::Alias (version, description, weights, provisioned
    concurrency) raises NotImplementedError, which LocalStack logs and then reports as success,
    changing nothing. Name and FunctionName are create-only, so an update is one UpdateAlias call
    plus the provisioned-concurrency change; like create, it then waits until the provisioned
    environments are READY, so a redeploy ends with warm environments on the alias."""

    def update(self, request):
        model = request.desired_state
        lambda_ = request.aws_client_factory.lambda_
        context = request.custom_context
        if context.get(REPEATED_INVOCATION):
            return _provisioned_progress(lambda_, model)
        _apply_alias_update(lambda_, request.previous_state or {}, model)
        model["Id"] = (request.previous_state or {}).get("Id") or model.get("Id")
        context[REPEATED_INVOCATION] = True
        status = OperationStatus.IN_PROGRESS if _warm(model) else OperationStatus.SUCCESS
        return ProgressEvent(status=status, resource_model=model, custom_context=context)

    return [Patch.function(LambdaAliasProvider.update, update, pass_target=False)]


def _warm(model: dict) -> int:
    """The alias's ProvisionedConcurrentExecutions (0 without a config)."""
    return int(
        (model.get("ProvisionedConcurrencyConfig") or {}).get("ProvisionedConcurrentExecutions")
        or 0
    )


def _apply_alias_update(lambda_, previous: dict, model: dict) -> None:
    """UpdateAlias, with the provisioned concurrency moved to the alias's new version, changed or
    removed. LocalStack cannot change a config while it scales, so a config that follows a new
    version is deleted before the alias moves and put again after."""
    had, wanted = _warm(previous), _warm(model)
    names = {"FunctionName": model["FunctionName"], "Qualifier": model["Name"]}
    moved = previous.get("FunctionVersion") != model["FunctionVersion"]
    if had and (moved or not wanted):
        lambda_.delete_provisioned_concurrency_config(**names)
    lambda_.update_alias(
        FunctionName=model["FunctionName"],
        Name=model["Name"],
        FunctionVersion=model["FunctionVersion"],
        Description=model.get("Description") or "",
        RoutingConfig=routing_as_map(model.get("RoutingConfig")),
    )
    if wanted and (moved or wanted != had):
        lambda_.put_provisioned_concurrency_config(**names, ProvisionedConcurrentExecutions=wanted)


def _provisioned_progress(lambda_, model: dict) -> ProgressEvent:
    """SUCCESS once the alias has its provisioned environments. LocalStack reports a config
    whose count changed READY while it still scales, and then counts the environments it
    stopped as allocated too, so the check is: READY with at least the count wanted."""
    if not _warm(model):
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)
    config = lambda_.get_provisioned_concurrency_config(
        FunctionName=model["FunctionName"], Qualifier=model["Name"]
    )
    scaled = config.get("AllocatedProvisionedConcurrentExecutions", 0) >= _warm(model)
    if config["Status"] == "IN_PROGRESS" or (config["Status"] == "READY" and not scaled):
        return ProgressEvent(status=OperationStatus.IN_PROGRESS, resource_model=model)
    if config["Status"] == "READY":
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)
    return ProgressEvent(
        status=OperationStatus.FAILED,
        resource_model=model,
        message=config.get("StatusReason", "provisioned concurrency failed"),
        error_code="VersionStateFailure",
    )


def update_alias_routing_target() -> list[Patch]:
    """Bug 3: Lambda UpdateAlias with a non-empty RoutingConfig crashes with a TypeError, because
    the routing model is built without the alias's target version. Resolve that version first."""

    def update_alias(
        original,
        self,
        context,
        function_name,
        name,
        function_version=None,
        description=None,
        routing_config=None,
        revision_id=None,
        **kwargs,
    ):
        target = None
        if routing_config and routing_config.get("AdditionalVersionWeights"):
            target = _alias_target(self, context, function_name, name, function_version)
        token = _update_alias_target.set(target)
        try:
            return original(
                self,
                context,
                function_name,
                name,
                function_version=function_version,
                description=description,
                routing_config=routing_config,
                revision_id=revision_id,
                **kwargs,
            )
        finally:
            _update_alias_target.reset(token)

    def create_routing_config_model(original, self, routing_config_dict, function_version=None):
        return original(self, routing_config_dict, function_version or _update_alias_target.get())

    return [
        Patch.function(LambdaProvider.update_alias, update_alias),
        Patch.function(LambdaProvider._create_routing_config_model, create_routing_config_model),
    ]


def _alias_target(provider, context, function_name, alias_name, new_version):
    """The version an alias will point to after UpdateAlias, or None when the alias is missing
    (the original then raises its own not-found error)."""
    account_id, region = api_utils.get_account_and_region(function_name, context)
    name = api_utils.get_function_name(function_name, context)
    function = provider._get_function(function_name=name, region=region, account_id=account_id)
    alias = function.aliases.get(alias_name)
    if alias is None:
        return None
    return get_function_version(
        function_name=name,
        qualifier=new_version or alias.function_version,
        region=region,
        account_id=account_id,
    )
