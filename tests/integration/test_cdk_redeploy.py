"""A code change redeployed with cdklocal updates the stack in place and keeps the alias working.

Without our LocalStack fixes this fails: the alias with routing weights cannot be created, and a
code change makes CloudFormation replace the alias ("Alias already exists").
"""

import json
from pathlib import Path

import pytest

from p300_ops.localcloud import cdk
from p300_ops.localcloud.localstack import aws_client

pytestmark = [pytest.mark.cloud, pytest.mark.slow, pytest.mark.timeout(900)]

APP = Path(__file__).parent / "cdk_redeploy_app"


def _deploy(cloud, tmp_path, **context):
    cdk.deploy(tmp_path, localstack_port=cloud.localstack_port, context=context, app_dir=APP)


def _alias_replies(cloud, n=20):
    lam = aws_client("lambda", cloud.localstack_port)
    name = next(
        f["FunctionName"]
        for f in lam.list_functions()["Functions"]
        if f["FunctionName"].startswith("P300RedeployCheck-Echo")
    )
    return name, [
        json.loads(lam.invoke(FunctionName=f"{name}:live")["Payload"].read())["message"]
        for _ in range(n)
    ]


def test_code_change_redeploys_without_breaking_the_stack(cloud, tmp_path):
    cfn = aws_client("cloudformation", cloud.localstack_port)
    _deploy(cloud, tmp_path, handlerMessage="first")
    assert cfn.describe_stacks(StackName="P300RedeployCheck")["Stacks"][0]["StackStatus"] == (
        "CREATE_COMPLETE"
    )
    _, replies = _alias_replies(cloud)
    assert set(replies) == {"first"}

    _deploy(cloud, tmp_path, handlerMessage="second", canaryOf="1")
    stack = cfn.describe_stacks(StackName="P300RedeployCheck")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    name, replies = _alias_replies(cloud, n=60)
    # The alias now points at the new code, with 20 % of calls still on version 1.
    assert set(replies) == {"first", "second"}
    assert replies.count("second") > replies.count("first")
    alias = aws_client("lambda", cloud.localstack_port).get_alias(FunctionName=name, Name="live")
    weights = alias["RoutingConfig"]["AdditionalVersionWeights"]
    assert weights == {"1": pytest.approx(0.2)}

    _deploy(cloud, tmp_path, handlerMessage="second", canaryOf="1")  # no change: still fine
    assert cfn.describe_stacks(StackName="P300RedeployCheck")["Stacks"][0]["StackStatus"] in {
        "UPDATE_COMPLETE",
        "CREATE_COMPLETE",
    }
