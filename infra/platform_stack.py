"""The P300 platform stack: one construct per concern."""

from aws_cdk import Stack
from constructs import Construct

from infra.constructs.authorizers import Authorizers
from infra.constructs.backfill import Backfill
from infra.constructs.functions import image_functions_for
from infra.constructs.monitoring import Monitoring
from infra.constructs.pipeline import Pipeline
from infra.constructs.security import justify_stack_findings
from infra.constructs.serving import Serving
from infra.constructs.storage import Storage
from infra.constructs.uploads import Uploads
from p300_aws.names import CHECK_DRIFT_FUNCTION, PREPROCESS_FUNCTION


class PlatformStack(Stack):
    """Buckets of the data flow and the pipeline on them; serving and monitoring build on both.

    The CDK context value ``mlflowTrackingUri`` (passed by `p300 up`) becomes the functions'
    ``MLFLOW_TRACKING_URI``; ``trainWarmEnvironments`` (default 1) is the train function's
    provisioned concurrency; ``trainPackaging`` is ``layers`` (default) or ``image``, the train
    function as a container image (what AWS needs: see layers/README.md);
    ``wafEnabled=true`` attaches a WAF web ACL to both API stages
    (off by default: it costs, and the emulator cannot run it).
    """

    def __init__(self, scope: Construct, construct_id: str, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.storage = Storage(self, "Storage")
        warm = self.node.try_get_context("trainWarmEnvironments")
        self.pipeline = Pipeline(
            self,
            "Pipeline",
            storage=self.storage,
            mlflow_tracking_uri=self.node.try_get_context("mlflowTrackingUri"),
            train_warm_environments=1 if warm is None else int(warm),
            image_functions=image_functions_for(self.node.try_get_context("trainPackaging")),
        )
        self.backfill = Backfill(self, "Backfill", storage=self.storage, pipeline=self.pipeline)
        self.authorizers = Authorizers(
            self,
            "Authorizers",
            function_layers=self.pipeline.layers,
            access_logs=self.storage.access_logs,
        )
        waf = str(self.node.try_get_context("wafEnabled")).lower() == "true"
        self.serving = Serving(
            self,
            "Serving",
            function_layers=self.pipeline.layers,
            model_serving=self.storage.model_serving,
            authorizer=self.authorizers.authorizer("predict"),
            waf=waf,
        )
        self.uploads = Uploads(
            self,
            "Uploads",
            storage=self.storage,
            function_layers=self.pipeline.layers,
            authorizer=self.authorizers.authorizer("upload"),
            waf=waf,
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            function_layers=self.pipeline.layers,
            api=self.serving.api,
            access_logs=self.storage.access_logs,
        )
        for alerting in (CHECK_DRIFT_FUNCTION, PREPROCESS_FUNCTION):
            self.monitoring.grant_alerting(self.pipeline.functions[alerting])
        justify_stack_findings(self)
