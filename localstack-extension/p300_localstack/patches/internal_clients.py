"""LocalStack's calls to itself without HTTP (LocalStack 2026.3.0 speed-up).

API Gateway invokes the Lambda function through an internal boto3 client, and so does every
service calling another: each call was serialized by botocore, sent over a loopback socket,
parsed again by Twisted's HTTP server and LocalStack's request parser, and its response went the
same way back. A local, single-process cloud needs none of that: the request is handed to the
gateway's handler chain in-process, its parameters already parsed. This is LocalStack's own
``IN_MEMORY_CLIENT`` mode (off by default upstream), switched on from here for every internal
client; the handler chain (authorization context, service handlers, our durable S3 and cloud
state handlers) still runs for each call.
"""

from localstack.aws.client import GatewayShortCircuit, botocore_in_memory_endpoint_patch
from localstack.aws.connect import InternalClientFactory
from localstack.utils.patch import Patch


def in_memory_internal_clients() -> list[Patch]:
    """Internal clients hand their requests to the gateway in-process instead of over HTTP."""

    def post_hook(original, self, client):
        from localstack.runtime import get_current_runtime

        client = original(self, client)
        GatewayShortCircuit.modify_client(client, get_current_runtime().components.gateway)
        return client

    return [
        botocore_in_memory_endpoint_patch,
        Patch.function(InternalClientFactory._get_client_post_hook, post_hook),
    ]
