"""The event-driven pipeline: five Lambdas, two state machines and the rules that start them.

Layers come prebuilt, named in the context value ``layerDirs`` (JSON: layer name → directory
holding ``python/``): ``p300 up`` passes the directories it built, and ``p300 layers build``
prints the value for a plain ``cdk synth``/``cdk deploy``. The app never builds layers, and
synthesis fails naming that command when one is missing.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import AssetHashType, Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.asl import STATE_MACHINES_DIR, load_definition
from infra.constructs.functions import (
    FUNCTION_LAYERS,
    LAYER_NAMES,
    RUNTIME,
    image_function,
    python_function,
)
from infra.constructs.security import execution_log_group, grant_objects, suppress
from infra.constructs.storage import Storage
from p300_aws.names import (
    CHECK_DRIFT_FUNCTION,
    INGEST_FUNCTION,
    INGEST_STATE_MACHINE,
    LANDING_BUCKET,
    PLAN_FUNCTION,
    PREPROCESS_FUNCTION,
    TRAIN_ALIAS,
    TRAIN_FUNCTION,
    TRAIN_STATE_MACHINE,
    TRAIN_TIMEOUT_S,
)

#: Why object grants cover a whole bucket (the reasons of their cdk-nag suppressions).
LANDING_KEYS = "each collector's upload has its own key, in any of the landing key forms"
LAYOUT_KEYS = "study=/subject=/session= keys of every study, and quarantine/ of rejected uploads"
ARTIFACT_KEYS = "MLflow names artifact keys by experiment and run id"

#: Input of the hourly catch-up run: ingest whatever no S3 event started.
CATCH_UP_INPUT = {"catch_up": True}


@dataclass(frozen=True)
class FunctionSpec:
    """Size of one Lambda: memory in MB, timeout in s."""

    memory_mb: int
    timeout_s: int


FUNCTION_SPECS = {
    PLAN_FUNCTION: FunctionSpec(memory_mb=256, timeout_s=120),
    # Validates a whole raw file (up to 256 MiB) in memory.
    INGEST_FUNCTION: FunctionSpec(memory_mb=1536, timeout_s=300),
    PREPROCESS_FUNCTION: FunctionSpec(memory_mb=2048, timeout_s=300),
    TRAIN_FUNCTION: FunctionSpec(memory_mb=3008, timeout_s=TRAIN_TIMEOUT_S),
    # One subject's features (~70 MB of float32 for 10 min) and a 16-channel reference.
    CHECK_DRIFT_FUNCTION: FunctionSpec(memory_mb=1024, timeout_s=120),
}


class Pipeline(Construct):
    """Landing upload → ``p300-ingest-and-process``; ``p300-train`` on demand.

    Parameters
    ----------
    storage
        The buckets of the data flow.
    mlflow_tracking_uri
        Set as ``MLFLOW_TRACKING_URI`` on every function; omitted when None.
    train_warm_environments
        Provisioned concurrency of the train function's alias ``live``, which the train state
        machine invokes: environments that imported scikit-learn, MLflow and matplotlib before
        any training arrives (a cold start is ~4 s of a 9–10 s training). 0 pays per use only.
    image_functions
        Functions deployed as container images instead of code + layers (AWS's 250 MiB zip
        limit); only the layers some other function uses are then created and needed.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        storage: Storage,
        mlflow_tracking_uri: str | None = None,
        train_warm_environments: int = 1,
        image_functions: tuple[str, ...] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self.image_functions = image_functions
        needed = layers_needed(image_functions)
        built = built_layer_dirs(self.node.try_get_context("layerDirs"), needed=needed)
        self.layers = {name: self._layer(name, built[name]) for name in needed}
        # One BLAS thread: with two on 2 vCPUs, OpenBLAS's spinning thread made fits 2–4× slower.
        environment = {"OPENBLAS_NUM_THREADS": "1"}
        if mlflow_tracking_uri:
            environment["MLFLOW_TRACKING_URI"] = mlflow_tracking_uri
        self.functions = {
            name: self._function(name, environment=environment) for name in FUNCTION_SPECS
        }
        self._grant(storage)
        self.train_alias = lambda_.Alias(
            self,
            "TrainAlias",
            alias_name=TRAIN_ALIAS,
            version=self.functions[TRAIN_FUNCTION].current_version,
            provisioned_concurrent_executions=train_warm_environments or None,
        )
        self.ingest_state_machine = asl_state_machine(
            self,
            "IngestAndProcess",
            INGEST_STATE_MACHINE,
            "ingest_and_process.asl.json",
            {
                "PlanFunctionArn": self.functions[PLAN_FUNCTION],
                "IngestFunctionArn": self.functions[INGEST_FUNCTION],
                "PreprocessFunctionArn": self.functions[PREPROCESS_FUNCTION],
                "CheckDriftFunctionArn": self.functions[CHECK_DRIFT_FUNCTION],
            },
        )
        self.train_state_machine = asl_state_machine(
            self,
            "Train",
            TRAIN_STATE_MACHINE,
            "train.asl.json",
            {"TrainFunctionArn": self.train_alias},
        )
        self.landing_rule, self.catch_up_rule = self._rules()

    def _layer(self, name: str, directory: Path) -> lambda_.LayerVersion:
        # The builder names each build `<layer>-<content hash>`: reuse that hash instead of
        # re-hashing hundreds of MB on every synth.
        content_hash = directory.name.rpartition("-")[2]
        code = lambda_.Code.from_asset(
            str(directory), asset_hash=content_hash, asset_hash_type=AssetHashType.CUSTOM
        )
        return lambda_.LayerVersion(
            self,
            f"{name.capitalize()}Layer",
            code=code,
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[lambda_.Architecture.X86_64],
            description=f"p300 {name} layer ({content_hash})",
        )

    def _function(self, name: str, *, environment: dict[str, str]) -> lambda_.Function:
        spec = FUNCTION_SPECS[name]
        if name in self.image_functions:
            return image_function(
                self,
                _construct_id(name),
                name,
                memory_mb=spec.memory_mb,
                timeout=Duration.seconds(spec.timeout_s),
                environment=environment,
            )
        return python_function(
            self,
            _construct_id(name),
            name,
            function_layers=self.layers,
            memory_mb=spec.memory_mb,
            timeout=Duration.seconds(spec.timeout_s),
            environment=environment,
        )

    def _grant(self, storage: Storage) -> None:
        plan, ingest, preprocess, train, check_drift = (
            self.functions[name].role
            for name in (
                PLAN_FUNCTION,
                INGEST_FUNCTION,
                PREPROCESS_FUNCTION,
                TRAIN_FUNCTION,
                CHECK_DRIFT_FUNCTION,
            )
        )
        grants = [
            # The plan compares what landed with what was ingested and processed.
            (plan, storage.landing, ("read",), LANDING_KEYS),
            (plan, storage.raw, ("read",), LAYOUT_KEYS),
            (plan, storage.features, ("read",), LAYOUT_KEYS),
            # Reads, then deletes once the copy is durable; a duplicate still needs processing
            # if its features are stale.
            (ingest, storage.landing, ("read", "delete"), LANDING_KEYS),
            (ingest, storage.raw, ("read", "write"), LAYOUT_KEYS),
            (ingest, storage.features, ("read",), LAYOUT_KEYS),
            (preprocess, storage.raw, ("read",), LAYOUT_KEYS),
            (preprocess, storage.features, ("read", "write"), LAYOUT_KEYS),
            # Calibration reads the importer's matrix and characters from raw.
            (train, storage.features, ("read",), LAYOUT_KEYS),
            (train, storage.raw, ("read",), LAYOUT_KEYS),
            # The subject's features and the model's drift_reference.json.
            (check_drift, storage.features, ("read",), LAYOUT_KEYS),
            (check_drift, storage.mlflow_artifacts, ("read",), ARTIFACT_KEYS),
        ]
        grants += [
            (role, storage.mlflow_artifacts, ("read", "write"), ARTIFACT_KEYS)
            for role in (preprocess, train)
        ]
        for role, bucket, access, why in grants:
            grant_objects(role, bucket, access=access, why=why)

    def _rules(self) -> tuple[events.Rule, events.Rule]:
        # The raw event goes to the state machine: an InputPath or InputTransformer would
        # change what the execution is named from, and the first state extracts bucket and key.
        landing = events.Rule(
            self,
            "LandingObjectCreated",
            description="Every object created in the landing zone starts the ingest pipeline.",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={"bucket": {"name": [LANDING_BUCKET]}},
            ),
            targets=[targets.SfnStateMachine(self.ingest_state_machine)],
        )
        catch_up = events.Rule(
            self,
            "HourlyCatchUp",
            description="Hourly: ingest and process whatever no landing event started.",
            schedule=events.Schedule.rate(Duration.hours(1)),
            targets=[
                targets.SfnStateMachine(
                    self.ingest_state_machine,
                    input=events.RuleTargetInput.from_object(CATCH_UP_INPUT),
                )
            ],
        )
        return landing, catch_up


def asl_state_machine(
    scope: Construct,
    construct_id: str,
    name: str,
    asl_file: str,
    functions: dict[str, lambda_.IFunction],
) -> sfn.StateMachine:
    """The state machine ``name`` running ``state_machines/<asl_file>`` (retriers put in), each
    ``${placeholder}`` of ``functions`` replaced by that function's ARN, allowed to invoke them."""
    definition = json.dumps(load_definition(STATE_MACHINES_DIR / asl_file))
    state_machine = sfn.StateMachine(
        scope,
        construct_id,
        state_machine_name=name,
        definition_body=sfn.DefinitionBody.from_string(definition),
        definition_substitutions={
            placeholder: function.function_arn for placeholder, function in functions.items()
        },
        # Every state's transitions; not the states' input and output, which carry S3 keys
        # naming study subjects: what ran is logged, not whose data.
        logs=sfn.LogOptions(
            destination=execution_log_group(scope, f"{construct_id}Logs"),
            level=sfn.LogLevel.ALL,
            include_execution_data=False,
        ),
        tracing_enabled=True,
    )
    # The exact functions (or alias) the definition names: not their other versions.
    state_machine.add_to_role_policy(
        iam.PolicyStatement(
            actions=["lambda:InvokeFunction"],
            resources=[function.function_arn for function in functions.values()],
        )
    )
    suppress(
        state_machine,
        "AwsSolutions-IAM5",
        "CloudWatch Logs' log-delivery actions (CreateLogDelivery, ...) and X-Ray's "
        "PutTraceSegments/PutTelemetryRecords/GetSampling* support no resource-level "
        "permissions: AWS documents Resource '*' for them.",
        applies_to=["Resource::*"],
    )
    return state_machine


def layers_needed(image_functions: tuple[str, ...]) -> tuple[str, ...]:
    """The layers (of `LAYER_NAMES`, in order) that some function not deployed as an image has."""
    used = {
        layer
        for function, layers in FUNCTION_LAYERS.items()
        if function not in image_functions
        for layer in layers
    }
    return tuple(name for name in LAYER_NAMES if name in used)


def built_layer_dirs(
    context_value: str | None, *, needed: tuple[str, ...] = LAYER_NAMES
) -> dict[str, Path]:
    """Layer name → built directory of each ``needed`` layer, from the context value
    ``layerDirs`` (JSON).

    Raises
    ------
    ValueError
        When a ``needed`` layer is not named, or its directory holds no ``python/``.
    """
    named = json.loads(context_value or "{}")
    missing = [name for name in needed if not (Path(named.get(name, "")) / "python").is_dir()]
    if missing:
        raise ValueError(
            f"context value layerDirs must name a built directory (holding python/) for every "
            f"layer of {needed}: {missing} missing or not built; run `p300 layers build`, "
            f"which builds them and prints the value (`p300 up` passes it), got {named!r}"
        )
    return {name: Path(named[name]) for name in needed}


def _construct_id(function_name: str) -> str:
    """``p300-plan-ingest`` → ``PlanIngestFunction``."""
    words = function_name.removeprefix("p300-").split("-")
    return "".join(word.capitalize() for word in words) + "Function"
