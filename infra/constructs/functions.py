"""How every platform Lambda is built: Python 3.13 on x86_64, code from ``functions/<dir>/`` and
the layers ``layers/manifest.toml`` names for it (in that order), or, for a function the manifest
marks ``aws_package = "image"``, optionally a container image built from the same recipes
(``layers/train.Dockerfile``): what AWS needs where code and layers exceed 250 MiB.

The manifest is data, read here and by the layer builder (`p300_ops.services.layer_builds`):
the app does not import the CLI package, and gets the built layers from its context.
"""

import tomllib
from pathlib import Path

from aws_cdk import Duration, IgnoreMode
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.constructs.security import suppress
from p300_aws.telemetry import TELEMETRY_OFF

RUNTIME = lambda_.Runtime.PYTHON_3_13
_BASIC_EXECUTION_POLICY = (
    "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
)
REPO = Path(__file__).resolve().parents[2]
_MANIFEST = tomllib.loads((REPO / "layers" / "manifest.toml").read_text())
#: Every layer: the core (our packages), then the third-party layers.
LAYER_NAMES = ("core", *_MANIFEST["layers"]["third_party"])
#: Function name → its layers (PYTHONPATH order), and its code directory.
FUNCTION_LAYERS = {name: tuple(spec["layers"]) for name, spec in _MANIFEST["functions"].items()}
FUNCTION_CODE = {
    name: REPO / "functions" / spec["dir"] for name, spec in _MANIFEST["functions"].items()
}
#: Functions too large for a zip on AWS, deployable as a container image instead.
IMAGE_FUNCTIONS = tuple(
    name for name, spec in _MANIFEST["functions"].items() if spec.get("aws_package") == "image"
)
IMAGE_DOCKERFILE = "layers/train.Dockerfile"
#: Values of the CDK context value ``trainPackaging``: ``layers`` (the default; what LocalStack
#: runs) or ``image`` (what AWS needs: `IMAGE_FUNCTIONS` as container images).
PACKAGINGS = ("layers", "image")


def image_functions_for(packaging: str | None) -> tuple[str, ...]:
    """The functions deployed as images under context value ``trainPackaging`` = ``packaging``
    (None means ``layers``)."""
    packaging = packaging or "layers"
    if packaging not in PACKAGINGS:
        raise ValueError(
            f"context value trainPackaging must be one of {PACKAGINGS}, got {packaging!r}"
        )
    return IMAGE_FUNCTIONS if packaging == "image" else ()


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
        Layer name → built layer; the function gets those ``FUNCTION_LAYERS[name]`` lists.
    memory_mb
        Memory in MB (on AWS it also sets the CPU share).
    timeout
        How long one invocation may run.
    environment
        Environment variables of the function (telemetry is always switched off: the
        functions may reach only the local cloud).
    """
    function = lambda_.Function(
        scope,
        construct_id,
        function_name=name,
        runtime=RUNTIME,
        architecture=lambda_.Architecture.X86_64,
        handler="handler.lambda_handler",
        code=lambda_.Code.from_asset(str(FUNCTION_CODE[name]), exclude=["__pycache__"]),
        layers=[function_layers[layer] for layer in FUNCTION_LAYERS[name]],
        memory_size=memory_mb,
        timeout=timeout,
        environment={**TELEMETRY_OFF, **(environment or {})},
    )
    _justify_function_findings(function)
    return function


def image_function(
    scope: Construct,
    construct_id: str,
    name: str,
    *,
    memory_mb: int,
    timeout: Duration,
    environment: dict[str, str] | None = None,
) -> lambda_.DockerImageFunction:
    """The Lambda function ``name`` (one of `IMAGE_FUNCTIONS`) as a container image holding its
    code and what its layers hold, built from ``layers/`` when deployed (synthesis needs no
    Docker). Parameters as `python_function`."""
    if name not in IMAGE_FUNCTIONS:
        raise ValueError(f"name must be one of {IMAGE_FUNCTIONS}, got {name!r}")
    layers = FUNCTION_LAYERS[name]
    core, third_party = layers[0], layers[1:]
    code_dir = FUNCTION_CODE[name].relative_to(REPO)
    packages = _MANIFEST["layers"][core]
    # Docker-ignore rules: send only the recipes, the core packages and the function's code.
    sent = ["layers/*.txt", IMAGE_DOCKERFILE, str(code_dir), *(f"src/{p}" for p in packages)]
    code = lambda_.DockerImageCode.from_image_asset(
        str(REPO),
        file=IMAGE_DOCKERFILE,
        platform=ecr_assets.Platform.LINUX_AMD64,
        build_args={
            "LAYERS": " ".join(third_party),
            "CORE_PACKAGES": " ".join(packages),
            "FUNCTION_DIR": code_dir.name,
        },
        ignore_mode=IgnoreMode.DOCKER,
        exclude=["*", *(f"!{path}" for path in sent), "**/__pycache__"],
    )
    function = lambda_.DockerImageFunction(
        scope,
        construct_id,
        function_name=name,
        architecture=lambda_.Architecture.X86_64,
        code=code,
        memory_size=memory_mb,
        timeout=timeout,
        environment={**TELEMETRY_OFF, **(environment or {})},
    )
    _justify_function_findings(function)
    return function


def _justify_function_findings(function: lambda_.Function) -> None:
    """The cdk-nag findings every platform function shares, and why each is accepted."""
    suppress(
        function,
        "AwsSolutions-L1",
        "Python 3.13 on purpose: the emulator's Lambda runtime and the layers' wheels "
        "(cp313, layers/manifest.toml) are built for it; moving to a newer runtime means "
        "rebuilding and re-testing every layer.",
    )
    suppress(
        function,
        "AwsSolutions-IAM4",
        "AWSLambdaBasicExecutionRole only: CreateLogGroup/CreateLogStream/PutLogEvents for the "
        "function's own logs, no data access.",
        applies_to=[_BASIC_EXECUTION_POLICY],
    )
    suppress(
        function,
        "HIPAA.Security-LambdaDLQ",
        "Invoked synchronously (Step Functions tasks with Retry/Catch, API Gateway, the health "
        "probe's schedule whose failures raise an alarm): failures reach a caller, no async "
        "event is dropped.",
    )
    suppress(
        function,
        "HIPAA.Security-LambdaInsideVPC",
        "The functions reach only S3, SNS, CloudWatch and the MLflow server, all over TLS with "
        "IAM; a VPC with endpoints is a deployment option, not part of the emulated default.",
    )
    suppress(
        function,
        "HIPAA.Security-LambdaConcurrency",
        "Scaling is bounded by the callers (state machines, the gateway's throttling); a "
        "reserved concurrency per function would starve the account's pool on small accounts.",
    )
