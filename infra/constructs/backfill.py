"""The backfill: ``p300-backfill`` preprocesses every subject of a study from an S3 manifest.

A Distributed Map (``state_machines/backfill.asl.json``) reads the manifest `p300 backfill` writes
to ``p300-backfill``, runs one child execution per batch with the pipeline's preprocess function,
writes the children's results next to the manifest; the pipeline's plan function reports them.
"""

from aws_cdk import Arn, ArnComponents, ArnFormat, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.constructs.pipeline import Pipeline, asl_state_machine
from infra.constructs.security import grant_objects, suppress
from infra.constructs.storage import Storage
from p300_aws.names import (
    BACKFILL_BUCKET,
    BACKFILL_STATE_MACHINE,
    PLAN_FUNCTION,
    PREPROCESS_FUNCTION,
)

#: Why object grants cover the whole backfill bucket.
BACKFILL_KEYS = "manifests, result files and reports of every study's runs, by study and run"


class Backfill(Construct):
    """The ``p300-backfill`` bucket and state machine, on the pipeline's functions."""

    def __init__(
        self, scope: Construct, construct_id: str, *, storage: Storage, pipeline: Pipeline
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = storage.bucket("Backfill", BACKFILL_BUCKET, versioned=False)
        suppress(
            self.bucket,
            "HIPAA.Security-S3BucketVersioningEnabled",
            "Each run writes its manifest, results and report once, under its own prefix; "
            "they are derived from the versioned raw bucket and can be written again.",
        )
        plan = pipeline.functions[PLAN_FUNCTION]
        self.state_machine = asl_state_machine(
            self,
            "StateMachine",
            BACKFILL_STATE_MACHINE,
            "backfill.asl.json",
            {
                "PreprocessFunctionArn": pipeline.functions[PREPROCESS_FUNCTION],
                "PlanFunctionArn": plan,
            },
        )
        # The map reads the manifest and writes its result files and the report; the plan
        # function reads the result files.
        grant_objects(
            self.state_machine.role, self.bucket, access=("read", "write"), why=BACKFILL_KEYS
        )
        grant_objects(plan.role, self.bucket, access=("read",), why=BACKFILL_KEYS)
        self._allow_child_executions()

    def _allow_child_executions(self) -> None:
        """A Distributed Map starts, watches and stops executions of its own state machine."""
        stack = Stack.of(self)
        machine_arn, executions = (
            Arn.format(
                ArnComponents(
                    service="states",
                    resource=resource,
                    resource_name=name,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                ),
                stack,
            )
            for resource, name in (
                ("stateMachine", BACKFILL_STATE_MACHINE),
                ("execution", f"{BACKFILL_STATE_MACHINE}/*"),
            )
        )
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(actions=["states:StartExecution"], resources=[machine_arn])
        )
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:DescribeExecution", "states:StopExecution"],
                resources=[executions],
            )
        )
        suppress(
            self.state_machine,
            "AwsSolutions-IAM5",
            "A Distributed Map's child executions are named by Step Functions at run time: "
            "only their state machine's prefix can be named.",
            applies_to=[
                "Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:"
                f"execution:{BACKFILL_STATE_MACHINE}/*"
            ],
        )
