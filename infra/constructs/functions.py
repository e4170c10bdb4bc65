"""How every platform Lambda is built: Python 3.13 on x86_64, code from ``functions/<dir>/``, the
layers `p300_ops.layers.FUNCTION_LAYERS` names for it (in that order)."""

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from p300_ops import layers
from p300_ops.offline import TELEMETRY_OFF

RUNTIME = lambda_.Runtime.PYTHON_3_13


def python_function(
    scope: Construct,
    construct_id: str,
    name: str,
    *,
    function_layers: dict[str, lambda_.ILayerVersion],
    memory_mb: int,
    timeout: Duration,
    environment: dict[str, str] | None = None,
) -> lambda_.Function:
    """The Lambda function ``name`` with its handler ``handler.lambda_handler``.

    Parameters
    ----------
    function_layers
        Layer name → built layer; the function gets those ``layers.FUNCTION_LAYERS[name]`` lists.
    memory_mb
        Memory in MB (on AWS it also sets the CPU share).
    timeout
        How long one invocation may run.
    environment
        Environment variables of the function (telemetry is always switched off: the
        functions may reach only the local cloud).
    """
    return lambda_.Function(
        scope,
        construct_id,
        function_name=name,
        runtime=RUNTIME,
        architecture=lambda_.Architecture.X86_64,
        handler="handler.lambda_handler",
        code=lambda_.Code.from_asset(str(layers.function_code_dir(name)), exclude=["__pycache__"]),
        layers=[function_layers[layer] for layer in layers.FUNCTION_LAYERS[name]],
        memory_size=memory_mb,
        timeout=timeout,
        environment={**TELEMETRY_OFF, **(environment or {})},
    )
