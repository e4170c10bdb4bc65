"""cdk-nag on the synthesized platform: AWS Solutions and HIPAA Security packs, nothing open.

Every finding is fixed or suppressed where it applies, with its reason
(`infra.constructs.security`); this test lists any finding left.
"""

import json

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Annotations, Match
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks

from infra.platform_stack import PlatformStack
from tests.unit.infra.test_stack import fake_layer_dirs


def nag_findings(layer_dirs: dict[str, str], context: dict | None = None) -> list[str]:
    """``<construct path>: <rule and message>`` of every unsuppressed finding of both packs."""
    app = cdk.App(
        context={
            "aws:cdk:disable-asset-staging": True,
            "layerDirs": json.dumps(layer_dirs),
            **(context or {}),
        }
    )
    stack = PlatformStack(app, "P300Platform")
    cdk.Aspects.of(app).add(AwsSolutionsChecks())
    cdk.Aspects.of(app).add(HIPAASecurityChecks())
    annotations = Annotations.from_stack(stack)
    anything = Match.string_like_regexp(".*")
    found = annotations.find_error("*", anything) + annotations.find_warning("*", anything)
    return sorted(f"{item.id}: {item.entry.data}" for item in found)


@pytest.mark.slow
@pytest.mark.parametrize("waf", ["false", "true"])
def test_no_unsuppressed_finding(tmp_path, waf):
    findings = nag_findings(fake_layer_dirs(tmp_path), {"wafEnabled": waf})
    assert findings == [], f"{len(findings)} cdk-nag findings:\n" + "\n".join(findings)


@pytest.mark.slow
def test_an_open_finding_is_reported(tmp_path):
    """The check sees findings: a bucket added without the platform's settings is one."""
    from aws_cdk import aws_s3 as s3

    app = cdk.App(context={"aws:cdk:disable-asset-staging": True})
    stack = cdk.Stack(app, "Plain")
    s3.Bucket(stack, "Open")
    cdk.Aspects.of(app).add(AwsSolutionsChecks())
    found = Annotations.from_stack(stack).find_error("*", Match.string_like_regexp(".*"))
    rules = {item.entry.data.split(":")[0] for item in found}
    assert {"AwsSolutions-S1", "AwsSolutions-S10"} <= rules, rules
