"""The backfill in the synthesized platform: a Distributed Map over an S3 manifest."""

import json

import pytest

from infra.asl import retry_policies
from p300_aws.names import BACKFILL_BUCKET, BACKFILL_STATE_MACHINE, PLAN_FUNCTION
from tests.unit.infra.iam import function_actions, resources_of
from tests.unit.infra.test_stack import _definition, _tasks, template  # noqa: F401


@pytest.fixture(scope="module")
def definition(template):  # noqa: F811
    return _definition(template, BACKFILL_STATE_MACHINE)


def test_batches_are_read_from_the_s3_manifest_and_results_written_to_s3(definition):
    states, substitutions = definition[0]["States"], definition[1]
    each = states["ForEachBatch"]
    assert each["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
    assert each["ItemReader"]["ReaderConfig"] == {"InputType": "JSON"}
    assert each["ItemReader"]["Parameters"] == {"Bucket.$": "$.manifest.bucket",
                                                "Key.$": "$.manifest.key"}  # fmt: skip
    assert each["ResultWriter"]["Resource"] == "arn:aws:states:::s3:putObject"
    assert each["ToleratedFailurePercentagePath"] == "$.tolerated_failure_percentage"
    assert each["MaxConcurrencyPath"] == "$.max_concurrency"
    assert each["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert set(substitutions) == {"PreprocessFunctionArn", "PlanFunctionArn"}


def test_each_subject_of_a_batch_is_preprocessed_and_its_failure_caught(definition):
    batch = definition[0]["States"]["ForEachBatch"]["ItemProcessor"]["States"]["ForEachSubject"]
    assert batch["ItemsPath"] == "$.Items"
    preprocess = batch["ItemProcessor"]["States"]["Preprocess"]
    assert preprocess["Parameters"]["FunctionName"] == "${PreprocessFunctionArn}"
    assert preprocess["Catch"][0]["ErrorEquals"] == ["States.ALL"]
    assert preprocess["Retry"] == [retry_policies()["LambdaServiceRetry"],
                                   retry_policies()["TransientRetry"]]  # fmt: skip


def test_the_report_is_saved_then_the_run_fails_above_the_tolerance(definition):
    states = definition[0]["States"]
    assert states["Report"]["Parameters"]["FunctionName"] == "${PlanFunctionArn}"
    assert states["Report"]["Next"] == "SaveReport"
    assert states["SaveReport"]["Next"] == "WithinTolerance"
    choice = states["WithinTolerance"]
    assert choice["Choices"][0]["Next"] == "Done"
    assert states[choice["Default"]] == {
        "Type": "Fail",
        "Error": "FailureRateExceeded",
        "CausePath": "$.result.report.failure_message",
    }


def test_every_lambda_task_retries_service_errors(definition):
    tasks = dict(_tasks(definition[0]["States"]))
    lambda_tasks = {n: t for n, t in tasks.items() if t["Resource"].endswith("lambda:invoke")}
    assert set(lambda_tasks) == {"Preprocess", "Report"}
    for task in lambda_tasks.values():
        assert task["Retry"][0] == retry_policies()["LambdaServiceRetry"]


def test_the_plan_function_only_reads_the_backfill_bucket(template):  # noqa: F811
    assert "s3:PutObject" not in function_actions(template, PLAN_FUNCTION)
    read = json.dumps(resources_of(template, PLAN_FUNCTION, "s3:GetObject"))
    assert BACKFILL_BUCKET.replace("-", "") in read.replace("-", "") or "Backfill" in read


def test_the_map_may_start_executions_of_its_own_state_machine_only(template):  # noqa: F811
    machines = template.find_resources(
        "AWS::StepFunctions::StateMachine",
        {"Properties": {"StateMachineName": BACKFILL_STATE_MACHINE}},
    )
    role = next(iter(machines.values()))["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    statements = [
        s
        for p in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    (start,) = [s for s in statements if s["Action"] == "states:StartExecution"]
    assert f"stateMachine:{BACKFILL_STATE_MACHINE}" in json.dumps(start["Resource"])
