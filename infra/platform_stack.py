"""The P300 platform stack: one construct per concern."""

from aws_cdk import Stack
from constructs import Construct

from infra.constructs.storage import Storage


class PlatformStack(Stack):
    """Buckets of the data flow; the pipeline, serving and monitoring constructs build on them."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.storage = Storage(self, "Storage")
