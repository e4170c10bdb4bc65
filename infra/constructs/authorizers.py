"""Who may call the APIs: a Lambda TOKEN authorizer per API, and the bucket of hashed tokens.

Tokens are made, listed and revoked with ``p300 keys`` (`p300_aws.api_tokens`); each authorizer
reads only its own API's records (``tokens/<api>/``). Authorizer results are not cached: a
revoked token is refused from the next request on (the cost is one authorizer call per request,
measured in docs/benchmarks.md).
"""

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.constructs.functions import python_function
from infra.constructs.security import grant_objects
from infra.constructs.storage import secure_bucket
from p300_aws.api_tokens import APIS, HEADER_PATTERN, TOKEN_PREFIX, check_api
from p300_aws.names import API_TOKENS_BUCKET, AUTHORIZER_FUNCTIONS

MEMORY_MB = 256
TIMEOUT_S = 10


class Authorizers(Construct):
    """The tokens bucket and one TOKEN authorizer per API of `p300_aws.api_tokens.APIS`.

    Attributes
    ----------
    bucket : s3.Bucket
        ``p300-api-tokens`` (versioned: every creation and revocation kept).
    functions : dict
        API name → its authorizer's Lambda.

    Parameters
    ----------
    function_layers
        Layer name → built layer (the pipeline's).
    access_logs
        Where the bucket's server access logs go.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function_layers: dict[str, lambda_.ILayerVersion],
        access_logs: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = secure_bucket(
            self, "Tokens", API_TOKENS_BUCKET, versioned=True, access_logs=access_logs
        )
        self.functions: dict[str, lambda_.Function] = {}
        self._authorizers: dict[str, apigw.TokenAuthorizer] = {}
        for api in APIS:
            function = python_function(
                self,
                f"{api.capitalize()}Function",
                AUTHORIZER_FUNCTIONS[api],
                function_layers=function_layers,
                memory_mb=MEMORY_MB,
                timeout=Duration.seconds(TIMEOUT_S),
                environment={
                    "P300_TOKEN_API": api,
                    "P300_TOKENS_BUCKET": self.bucket.node.default_child.bucket_name,
                },
            )
            # Listing lets a missing record read as NoSuchKey (an unknown token), not 403.
            grant_objects(
                function.role,
                self.bucket,
                access=("read",),
                prefix=f"{TOKEN_PREFIX}{api}/",
                why="one record per token, named by the token's id when it is created",
            )
            self.functions[api] = function

    def authorizer(self, api: str) -> apigw.TokenAuthorizer:
        """The TOKEN authorizer of ``api`` (made on first use: it must serve one RestApi).

        API Gateway answers 401 itself, without invoking the function, when the
        ``Authorization`` header is missing or does not match the token format.
        """
        if api not in self._authorizers:
            self._authorizers[api] = apigw.TokenAuthorizer(
                self,
                f"{api.capitalize()}Authorizer",
                handler=self.functions[check_api(api)],
                authorizer_name=AUTHORIZER_FUNCTIONS[api],
                identity_source=apigw.IdentitySource.header("Authorization"),
                validation_regex=HEADER_PATTERN,
                results_cache_ttl=Duration.seconds(0),
            )
        return self._authorizers[api]
