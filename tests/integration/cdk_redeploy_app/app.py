"""A minimal CDK app for the redeploy test: a function, its versions, and a weighted alias.

Context `handlerMessage` changes the function's code between deploys; `canaryOf` names an older
version that keeps 20 % of the alias's traffic (a canary release).
"""

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_

app = cdk.App()
stack = cdk.Stack(app, "P300RedeployCheck")
message = app.node.try_get_context("handlerMessage") or "first"
function = lambda_.Function(
    stack,
    "Echo",
    runtime=lambda_.Runtime.PYTHON_3_13,
    handler="index.handler",
    code=lambda_.Code.from_inline(
        f"def handler(event, context):\n    return {{'message': '{message}'}}\n"
    ),
    current_version_options=lambda_.VersionOptions(removal_policy=cdk.RemovalPolicy.RETAIN),
)
old_version = app.node.try_get_context("canaryOf")
weights = []
if old_version:
    older = lambda_.Version.from_version_arn(
        stack, "Older", f"{function.function_arn}:{old_version}"
    )
    weights = [lambda_.VersionWeight(version=older, weight=0.2)]
lambda_.Alias(
    stack, "Live", alias_name="live", version=function.current_version, additional_versions=weights
)
app.synth()
