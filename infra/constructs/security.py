"""Least-privilege grants and the cdk-nag suppressions that go with them, written where they apply.

cdk-nag (`AwsSolutionsChecks`, `HIPAASecurityChecks`) runs on the synthesized app in the unit
suite (``tests/unit/infra/test_nag.py``). A finding is either fixed or suppressed here, each
suppression naming the exact resource or action it covers (``appliesTo``) and a reason a
reviewer can check; the README's Security section lists them.
"""

from collections.abc import Iterable

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_wafv2 as wafv2
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct, IConstruct

#: What each access level may do to objects (no ``s3:*Object*`` patterns: each action named).
#: ``HeadObject`` is ``GetObject``; versioned reads name a ``VersionId``; a multipart upload that
#: fails is aborted by its writer (boto3's transfer manager, MLflow's artifact store).
OBJECT_ACTIONS = {
    "read": ("s3:GetObject", "s3:GetObjectVersion"),
    "write": ("s3:PutObject", "s3:AbortMultipartUpload"),
    "delete": ("s3:DeleteObject",),
}


def suppress(
    construct: IConstruct, rule: str, reason: str, *, applies_to: Iterable[str] = ()
) -> None:
    """Suppress cdk-nag ``rule`` on ``construct`` and its children, for ``applies_to`` only
    when given (e.g. ``["Resource::*"]``)."""
    applies = list(applies_to)
    NagSuppressions.add_resource_suppressions(
        construct,
        [NagPackSuppression(id=rule, reason=reason, applies_to=applies or None)],
        apply_to_children=True,
    )


#: How long execution and access logs are kept.
LOG_RETENTION = logs.RetentionDays.ONE_YEAR


def execution_log_group(scope: Construct, construct_id: str) -> logs.LogGroup:
    """A log group for a state machine's or an API stage's logs, kept `LOG_RETENTION`.

    Named by CloudFormation: a fixed name would collide with the group a previous deployment
    left (log groups are retained when a stack is deleted).
    """
    group = logs.LogGroup(
        scope, construct_id, retention=LOG_RETENTION, removal_policy=RemovalPolicy.RETAIN
    )
    return group


def grant_objects(
    role: iam.IRole,
    bucket: s3.IBucket,
    *,
    access: Iterable[str],
    prefix: str = "",
    why: str,
) -> None:
    """Let ``role`` list ``bucket`` under ``prefix`` and act on its objects under ``prefix``.

    Parameters
    ----------
    access
        Levels of `OBJECT_ACTIONS` (``read``, ``write``, ``delete``).
    prefix
        Key prefix (``""``: the whole bucket, whose keys are data-driven).
    why
        Why object keys under ``prefix`` cannot be named one by one (the reason of the
        ``AwsSolutions-IAM5`` suppression of ``<bucket>/<prefix>*``).
    """
    levels = list(access)
    unknown = sorted(set(levels) - set(OBJECT_ACTIONS))
    if unknown or not levels:
        raise ValueError(f"access must be among {sorted(OBJECT_ACTIONS)}, got {levels!r}")
    actions = [action for level in levels for action in OBJECT_ACTIONS[level]]
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=actions, resources=[bucket.arn_for_objects(f"{prefix}*")])
    )
    listing = iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn])
    if prefix:
        listing.add_condition("StringLike", {"s3:prefix": [f"{prefix}*"]})
    role.add_to_principal_policy(listing)
    stack = Stack.of(role)
    bucket_id = stack.resolve(bucket.node.default_child.logical_id)
    name = bucket.node.default_child.bucket_name
    suppress(
        role,
        "AwsSolutions-IAM5",
        f"Objects of {name}/{prefix}* only, named by the data ({why}).",
        applies_to=[f"Resource::<{bucket_id}.Arn>/{prefix}*"],
    )


#: Requests a stage serves per second (steady, burst) before answering 429.
STAGE_THROTTLE = (50, 100)
#: The header every authorized method requires (its value is checked by the authorizer).
AUTHORIZATION_PARAMETER = "method.request.header.Authorization"
_WAF_RULE_GROUPS = ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet")


def stage_options(scope: Construct, construct_id: str, *, stage_name: str) -> apigw.StageOptions:
    """A stage with access logs (JSON, to a log group), INFO execution logs without request or
    response bodies (they carry EEG), X-Ray tracing and a throttle."""
    return apigw.StageOptions(
        stage_name=stage_name,
        access_log_destination=apigw.LogGroupLogDestination(
            execution_log_group(scope, construct_id)
        ),
        access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
            caller=True,
            http_method=True,
            ip=True,
            protocol=True,
            request_time=True,
            resource_path=True,
            response_length=True,
            status=True,
            user=True,
        ),
        logging_level=apigw.MethodLoggingLevel.INFO,
        data_trace_enabled=False,
        metrics_enabled=True,
        tracing_enabled=True,
        throttling_rate_limit=STAGE_THROTTLE[0],
        throttling_burst_limit=STAGE_THROTTLE[1],
    )


def request_validator(api: apigw.RestApi) -> apigw.RequestValidator:
    """The API's validator: methods declare the ``Authorization`` header they require
    (`AUTHORIZATION_PARAMETER`), and a body must be a JSON object (API Gateway's ``Empty``
    model, no method declares another) or be absent: anything else is 400 before a Lambda runs.
    What a body holds is checked by the function's pydantic models, the one definition of it."""
    return api.add_request_validator(
        "RequestValidator", validate_request_body=True, validate_request_parameters=True
    )


def harden_api(api: apigw.RestApi, *, waf: bool) -> None:
    """Attach a WAF web ACL (AWS managed common and known-bad-input rules) to the API's stage
    when ``waf``, else record why none is attached; justify the stage's other findings."""
    stage = api.deployment_stage
    if waf:
        acl = wafv2.CfnWebACL(
            api,
            "WebAcl",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            scope="REGIONAL",
            visibility_config=_visibility(f"{api.node.id}WebAcl"),
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    name=group,
                    priority=priority,
                    override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                            vendor_name="AWS", name=group
                        )
                    ),
                    visibility_config=_visibility(group),
                )
                for priority, group in enumerate(_WAF_RULE_GROUPS)
            ],
        )
        wafv2.CfnWebACLAssociation(
            api, "WebAclAssociation", resource_arn=stage.stage_arn, web_acl_arn=acl.attr_arn
        )
        # WAF writes only to log groups whose name starts with aws-waf-logs-.
        waf_logs = logs.LogGroup(
            api,
            "WebAclLogs",
            log_group_name=f"aws-waf-logs-{api.rest_api_name}",
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.RETAIN,
        )
        wafv2.CfnLoggingConfiguration(
            api,
            "WebAclLogging",
            resource_arn=acl.attr_arn,
            log_destination_configs=[waf_logs.log_group_arn],
        )
    else:
        suppress(
            stage,
            "AwsSolutions-APIG3",
            "WAF is optional: deploy with `-c wafEnabled=true` to attach a web ACL of AWS "
            "managed rules (it has a monthly cost, and the emulator cannot run WAF). Every "
            "method already requires a token checked by the Lambda authorizer.",
        )
    suppress(
        stage,
        "HIPAA.Security-APIGWCacheEnabledAndEncrypted",
        "No response cache: every prediction is computed from the request's own EEG and must "
        "not be served to another request.",
    )
    suppress(
        stage,
        "HIPAA.Security-APIGWSSLEnabled",
        "Client certificates authenticate API Gateway to HTTP back ends; every integration "
        "here is a Lambda (invoked over AWS's signed API).",
    )
    suppress(
        api,
        "AwsSolutions-IAM4",
        "AmazonAPIGatewayPushToCloudWatchLogs is the account-level role AWS documents for "
        "API Gateway to write execution and access logs; it grants logs actions only.",
        applies_to=[
            "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs"
        ],
    )
    suppress(
        api,
        "AwsSolutions-COG4",
        "Clients are machines (collectors, services), not users of a Cognito user pool: each "
        "method uses a Lambda authorizer checking a per-client token (p300 keys).",
    )


def _visibility(metric_name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=metric_name, sampled_requests_enabled=True
    )


def justify_stack_findings(stack: Stack) -> None:
    """Findings of the whole stack, each accepted for the reason given (call it last)."""
    NagSuppressions.add_stack_suppressions(
        stack,
        [
            NagPackSuppression(
                id="HIPAA.Security-IAMNoInlinePolicy",
                reason="Each function, state machine and rule has its own role; its one policy "
                "is bound to that role and names the exact buckets, prefixes and ARNs it uses "
                "(a managed policy shared by roles would widen it).",
            ),
            NagPackSuppression(
                id="HIPAA.Security-CloudWatchLogGroupEncrypted",
                reason="CloudWatch Logs encrypts every log group at rest with service keys; the "
                "groups hold state transitions and access lines, no request bodies and no "
                "execution data (both switched off). A KMS key is a deployment option.",
            ),
        ],
    )
