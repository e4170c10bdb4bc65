"""The app synthesized for AWS: `cdk synth` with the settings a real deployment uses (a real
MLflow server, the train function as a container image) runs here without Docker and yields a
template that names no emulator endpoint."""

import json
import os
import re
import subprocess
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from infra.constructs.functions import FUNCTION_LAYERS, IMAGE_FUNCTIONS, image_functions_for
from infra.constructs.pipeline import layers_needed
from infra.platform_stack import PlatformStack
from p300_aws.names import TRAIN_FUNCTION
from p300_ops import paths
from tests.unit.infra.test_stack import fake_layer_dirs

#: The context of a deployment to AWS (`cdk deploy -c ...`, as layers/README.md documents).
AWS_CONTEXT = {
    "mlflowTrackingUri": "https://mlflow.example.org",
    "trainPackaging": "image",
    "trainWarmEnvironments": "0",
}
#: What would point a deployed resource at the emulator instead of AWS.
EMULATOR_MARKERS = re.compile(r"127\.0\.0\.1|localhost|4566|localstack", re.IGNORECASE)


def _without_comments(node):
    """``node`` with every ASL ``Comment`` dropped (prose, not configuration); state machine
    definitions, which are JSON text inside the template, are parsed and cleaned too."""
    if isinstance(node, dict):
        return {k: _without_comments(v) for k, v in node.items() if k != "Comment"}
    if isinstance(node, list):
        return [_without_comments(v) for v in node]
    if isinstance(node, str) and node.startswith("{") and '"States"' in node:
        return _without_comments(json.loads(node))
    return node


def emulator_mentions(document: dict) -> list[str]:
    """Each emulator marker in ``document`` (comments aside), with 60 characters around it."""
    text = json.dumps(_without_comments(document))
    return [text[max(m.start() - 60, 0) : m.end() + 60] for m in EMULATOR_MARKERS.finditer(text)]


def test_emulator_mentions_are_found_and_comments_ignored():
    definition = json.dumps({"Comment": "fails on LocalStack", "States": {"A": {"Type": "Pass"}}})
    assert emulator_mentions({"Definition": definition}) == []
    found = emulator_mentions({"Env": {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5050"}})
    assert len(found) == 1 and "127.0.0.1" in found[0]
    assert emulator_mentions({"Url": "http://localhost.localstack.cloud:4566"})


@pytest.fixture(scope="module")
def aws_assembly(tmp_path_factory) -> Path:
    """`cdk synth` (the pinned CLI, as a user runs it) with `AWS_CONTEXT`; no Docker here."""
    root = tmp_path_factory.mktemp("aws-synth")
    layer_dirs = fake_layer_dirs(root / "layers")
    out = root / "cdk.out"
    context = {**AWS_CONTEXT, "layerDirs": json.dumps(layer_dirs)}
    env = {
        **os.environ,
        "PATH": f"{paths.PROJECT_BIN}:{paths.NODE_BIN}:{os.environ.get('PATH', '')}",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "CDK_DISABLE_VERSION_CHECK": "1",
        "CDK_DEFAULT_ACCOUNT": "123456789012",
        "CDK_DEFAULT_REGION": "us-east-1",
    }
    for name in [n for n in env if n.startswith("AWS_ENDPOINT_URL")]:
        del env[name]  # a real deployment has no endpoint override
    command = [str(paths.NODE_BIN / "cdk"), "synth", "--quiet", "--no-notices", "--output"]
    command += [str(out)]
    command += [arg for key, value in context.items() for arg in ("--context", f"{key}={value}")]
    result = subprocess.run(
        command, cwd=paths.REPO, env=env, capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


def test_cdk_synth_for_aws_names_no_emulator_endpoint(aws_assembly):
    template = json.loads((aws_assembly / "P300Platform.template.json").read_text())
    assets = json.loads((aws_assembly / "P300Platform.assets.json").read_text())
    assert emulator_mentions(template) == []
    assert emulator_mentions(assets) == []
    # The functions that log to MLflow are given the real tracking server.
    env_values = [
        resource["Properties"].get("Environment", {}).get("Variables", {})
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function"
    ]
    uris = {v["MLFLOW_TRACKING_URI"] for v in env_values if "MLFLOW_TRACKING_URI" in v}
    assert uris == {AWS_CONTEXT["mlflowTrackingUri"]}


def test_cdk_synth_for_aws_builds_train_as_an_image_from_the_layer_recipes(aws_assembly):
    assets = json.loads((aws_assembly / "P300Platform.assets.json").read_text())
    (image,) = assets["dockerImages"].values()
    source = image["source"]
    assert source["dockerFile"] == "layers/train.Dockerfile"
    assert source["dockerBuildArgs"] == {
        "LAYERS": "data scipy ml mlflow",
        "CORE_PACKAGES": "p300 p300_aws p300_serving",
        "FUNCTION_DIR": "train",
    }
    assert source["platform"] == "linux/amd64"
    # The build context holds the recipes, the core packages and the handler, nothing else.
    context = aws_assembly / source["directory"]
    sent = {p.relative_to(context).parts[:2] for p in context.rglob("*") if p.is_file()}
    assert {top for top, *_ in sent} == {"layers", "src", "functions"}
    assert {("src", p) for p in ("p300", "p300_aws", "p300_serving")} <= sent
    assert {second for top, second in sent if top == "functions"} == {"train"}
    assert not list(context.rglob("__pycache__"))


def synth_template(tmp_path: Path, context: dict[str, str]) -> Template:
    layer_dirs = fake_layer_dirs(tmp_path)
    app = cdk.App(
        context={
            "aws:cdk:disable-asset-staging": True,
            "layerDirs": json.dumps(layer_dirs),
            **context,
        }
    )
    return Template.from_stack(PlatformStack(app, "P300Platform"))


def test_the_image_train_function_has_no_layers_and_the_others_keep_theirs(tmp_path):
    template = synth_template(tmp_path, AWS_CONTEXT)
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "FunctionName": TRAIN_FUNCTION,
            "PackageType": "Image",
            "Code": {"ImageUri": Match.any_value()},
            "Layers": Match.absent(),
            "Architectures": ["x86_64"],
        },
    )
    # Layers only train used are not uploaded at all.
    layers = template.find_resources("AWS::Lambda::LayerVersion")
    described = {r["Properties"]["Description"].split()[1] for r in layers.values()}
    assert described == set(layers_needed(IMAGE_FUNCTIONS))
    assert {"scipy", "ml", "mlflow"}.isdisjoint(described)
    assert all(FUNCTION_LAYERS[f][0] == "core" for f in FUNCTION_LAYERS)


def test_only_the_layers_in_use_must_be_built_for_aws(tmp_path):
    layer_dirs = fake_layer_dirs(tmp_path)
    for unused in ("scipy", "ml", "mlflow"):
        del layer_dirs[unused]
    app = cdk.App(
        context={
            "aws:cdk:disable-asset-staging": True,
            "layerDirs": json.dumps(layer_dirs),
            **AWS_CONTEXT,
        }
    )
    Template.from_stack(PlatformStack(app, "P300Platform"))  # does not raise


def test_the_default_packaging_keeps_train_on_layers(tmp_path):
    template = synth_template(tmp_path, {})
    train = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"FunctionName": TRAIN_FUNCTION}}
    )
    (properties,) = [r["Properties"] for r in train.values()]
    assert properties["Runtime"] == "python3.13"
    assert len(properties["Layers"]) == len(FUNCTION_LAYERS[TRAIN_FUNCTION])


@pytest.mark.parametrize("value", [None, "", "layers"])
def test_no_value_or_layers_deploys_no_image(value):
    assert image_functions_for(value) == ()


@pytest.mark.parametrize("value", ["zip", "IMAGE"])
def test_an_unknown_packaging_is_refused_naming_the_values(value):
    with pytest.raises(
        ValueError, match=rf"trainPackaging must be one of .*'image'.*got '{value}'"
    ):
        image_functions_for(value)
