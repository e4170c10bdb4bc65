"""The CDK app: wires the stacks. `p300 up` deploys it to LocalStack; `cdk deploy` to AWS."""

import aws_cdk as cdk

from infra.platform_stack import PlatformStack

app = cdk.App()
PlatformStack(app, "P300Platform")
app.synth()
