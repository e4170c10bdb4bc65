"""The prediction API: Lambda ``p300-predict`` behind the REST API ``p300-api`` (stage ``prod``).

Each route (``/predict-champion``, ``/predict-challenger``, with and without ``/{proxy+}``)
invokes the function through its Lambda alias. The function reads the per-subject models from
the serving registry bucket (read only: the release commands write it). The aliases, their
versions and API Gateway's permission to invoke them are *not* managed here: the release commands
(`p300_ops.services.release`) create and move them, so a later deploy of this stack never undoes
a promotion.
"""

from aws_cdk import Aws, CfnOutput, Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.constructs.functions import python_function
from infra.constructs.security import (
    AUTHORIZATION_PARAMETER,
    grant_objects,
    harden_api,
    request_validator,
    stage_options,
    suppress,
)
from p300_aws.names import API_NAME, API_STAGE, PREDICT_FUNCTION, PREDICTION_ROUTES
from p300_aws.serving_registry import BUCKET_ENV
from p300_serving.binary import MEDIA_TYPE as BINARY_MEDIA_TYPE

MEMORY_MB = 1024
TIMEOUT_S = 30


class Serving(Construct):
    """The predict function and the API routing each path to an alias of it.

    Parameters
    ----------
    function_layers
        Layer name → built layer (the pipeline's); the function gets
        ``FUNCTION_LAYERS["p300-predict"]`` of `infra.constructs.functions`.
    model_serving
        The serving registry of per-subject models.
    authorizer
        Checks the bearer token of every method but ``GET /<route>/health``.
    waf
        Attach a WAF web ACL to the stage (`infra.constructs.security.harden_api`).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function_layers: dict[str, lambda_.ILayerVersion],
        model_serving: s3.IBucket,
        authorizer: apigw.IAuthorizer,
        waf: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        # Until `p300 deploy-model` ships a bundle in the code, the app answers 503.
        self.function = python_function(
            self,
            "PredictFunction",
            PREDICT_FUNCTION,
            function_layers=function_layers,
            memory_mb=MEMORY_MB,
            timeout=Duration.seconds(TIMEOUT_S),
            # The stage is the public prefix on AWS and on host-style emulator URLs (`/docs`).
            environment={
                "P300_API_ROOT_PATH": f"/{API_STAGE}",
                BUCKET_ENV: model_serving.bucket_name,
            },
        )
        grant_objects(
            self.function.role,
            model_serving,
            access=("read",),
            why="<study>/<subject>/ routing documents and model bundles",
        )
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=API_NAME,
            deploy_options=stage_options(self, "AccessLogs", stage_name=API_STAGE),
            description="P300 prediction API: champion and challenger routes (bearer token)",
            # Float32 batches travel raw (p300_serving.binary): API Gateway hands them to the
            # function base64-encoded instead of mangling them as text.
            binary_media_types=[BINARY_MEDIA_TYPE],
        )
        validator = request_validator(self.api)
        for route, alias in PREDICTION_ROUTES.items():
            integration = self._alias_integration(alias)
            resource = self.api.root.add_resource(route)
            for target in (resource, resource.add_resource("{proxy+}")):
                target.add_method(
                    "ANY",
                    integration,
                    authorizer=authorizer,
                    request_parameters={AUTHORIZATION_PARAMETER: True},
                    request_validator=validator,
                )
            # The health probe's route: no data in, only the alias's status out.
            health = resource.add_resource("health").add_method("GET", integration)
            suppress(
                health,
                "AwsSolutions-APIG4",
                "GET /<route>/health answers only whether the alias serves (its model version); "
                "it takes no input and returns no data. The health probe and load balancers "
                "call it without a token.",
            )
        harden_api(self.api, waf=waf)
        CfnOutput(self, "ApiId", value=self.api.rest_api_id)

    def _alias_integration(self, alias: str) -> apigw.Integration:
        """AWS_PROXY to ``<function arn>:<alias>`` (the Lambda invoke API is always a POST)."""
        qualified_arn = f"{self.function.function_arn}:{alias}"
        return apigw.Integration(
            type=apigw.IntegrationType.AWS_PROXY,
            integration_http_method="POST",
            uri=(
                f"arn:{Aws.PARTITION}:apigateway:{Aws.REGION}:lambda:path/2015-03-31/functions/"
                f"{qualified_arn}/invocations"
            ),
        )
