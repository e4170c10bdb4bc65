"""The synthesized platform template: functions, layers, grants, state machines and rules."""

import json
import re
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from infra.asl import retry_policies
from infra.constructs.functions import FUNCTION_LAYERS, LAYER_NAMES
from infra.platform_stack import PlatformStack
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
from p300_aws.telemetry import TELEMETRY_OFF
from tests.unit.infra.iam import function_actions

TRACKING_URI = "http://127.0.0.1:5999"


def fake_layer_dirs(root: Path) -> dict[str, str]:
    """A tiny built directory per layer (named as the builder names them), as ``layerDirs``."""
    built = {}
    for name in LAYER_NAMES:
        directory = root / f"{name}-abcdef0123456789"
        (directory / "python").mkdir(parents=True)
        (directory / "python" / f"{name}_marker.py").write_text("")
        built[name] = str(directory)
    return built


@pytest.fixture
def layer_dirs(tmp_path) -> dict[str, str]:
    return fake_layer_dirs(tmp_path)


def synth(layer_dirs: dict[str, str], context: dict | None = None) -> Template:
    context = {"layerDirs": json.dumps(layer_dirs), **(context or {})}
    app = cdk.App(context={"aws:cdk:disable-asset-staging": True, **context})
    return Template.from_stack(PlatformStack(app, "P300Platform"))


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Template:
    """The platform synthesized once (with fake layer builds) for the read-only tests."""
    built = fake_layer_dirs(tmp_path_factory.mktemp("layers"))
    return synth(built, {"mlflowTrackingUri": TRACKING_URI})


def layer_names(template: Template, function: dict) -> list[str]:
    """The layers of ``function`` in PYTHONPATH order, by the name each layer resource describes
    itself with ("p300 <name> layer (<build hash>)")."""
    layers = template.find_resources("AWS::Lambda::LayerVersion")
    descriptions = [layers[ref["Ref"]]["Properties"]["Description"] for ref in function["Layers"]]
    return [re.fullmatch(r"p300 (\S+) layer \(\w+\)", d).group(1) for d in descriptions]


def test_every_function_gets_the_core_layer_first_and_at_most_five(template):
    functions = template.find_resources("AWS::Lambda::Function")
    for resource in functions.values():
        names = layer_names(template, resource["Properties"])
        assert names[0] == "core" and len(names) == len(set(names)) <= 5, names


def test_training_times_out_when_its_abandoned_runs_are_failed(template):
    """The next training fails the runs still RUNNING after TRAIN_TIMEOUT_S: a longer Lambda
    timeout would have live runs failed."""
    assert function_resource(template, TRAIN_FUNCTION)["Timeout"] == TRAIN_TIMEOUT_S


def function_resource(template: Template, name: str) -> dict:
    found = template.find_resources("AWS::Lambda::Function", {"Properties": {"FunctionName": name}})
    assert len(found) == 1, f"expected one function {name}, found {list(found)}"
    return next(iter(found.values()))["Properties"]


@pytest.mark.parametrize(
    "name", [PLAN_FUNCTION, INGEST_FUNCTION, PREPROCESS_FUNCTION, TRAIN_FUNCTION]
)
def test_each_function_runs_python313_with_its_layers_and_tracking_uri(template, name):
    function = function_resource(template, name)
    assert function["Runtime"] == "python3.13"
    assert function["Handler"] == "handler.lambda_handler"
    assert layer_names(template, function) == list(FUNCTION_LAYERS[name])
    assert 128 <= function["MemorySize"] <= 10240  # what AWS allows
    assert 1 <= function["Timeout"] <= 900
    alerting = {"ALERTS_TOPIC_ARN"} if name == PREPROCESS_FUNCTION else set()
    variables = function["Environment"]["Variables"]
    assert {k: v for k, v in variables.items() if k not in alerting} == {
        "MLFLOW_TRACKING_URI": TRACKING_URI,
        "OPENBLAS_NUM_THREADS": "1",
        **TELEMETRY_OFF,
    }


def test_every_function_has_telemetry_switched_off(template):
    functions = template.find_resources("AWS::Lambda::Function")
    assert len(functions) >= 8
    for resource in functions.values():
        variables = resource["Properties"]["Environment"]["Variables"]
        assert variables["MLFLOW_DISABLE_TELEMETRY"] == variables["DO_NOT_TRACK"] == "true"


def test_preprocess_and_train_have_the_sizes_the_contract_asks_for(template):
    preprocess = function_resource(template, PREPROCESS_FUNCTION)
    assert 1024 <= preprocess["MemorySize"] <= 2048
    assert preprocess["Timeout"] == 300
    assert function_resource(template, TRAIN_FUNCTION)["Timeout"] == 600


def test_tracking_uri_is_omitted_without_the_context_value(layer_dirs):
    function = function_resource(synth(layer_dirs), INGEST_FUNCTION)
    assert function["Environment"]["Variables"] == {"OPENBLAS_NUM_THREADS": "1", **TELEMETRY_OFF}


def test_one_layer_per_recipe_for_python313(template):
    template.resource_count_is("AWS::Lambda::LayerVersion", len(LAYER_NAMES))
    template.all_resources_properties(
        "AWS::Lambda::LayerVersion", {"CompatibleRuntimes": ["python3.13"]}
    )


def test_synth_names_the_command_to_run_when_a_layer_is_not_built(layer_dirs):
    ml = Path(layer_dirs["ml"]) / "python"
    (ml / "ml_marker.py").unlink()
    ml.rmdir()
    with pytest.raises(
        ValueError, match=r"layerDirs .*\['ml'\] missing or not built.*p300 layers build"
    ):
        synth(layer_dirs)


def test_synth_without_layer_dirs_names_the_command_to_run():
    app = cdk.App(context={"aws:cdk:disable-asset-staging": True})
    with pytest.raises(ValueError, match=r"layerDirs must name .*run `p300 layers build`"):
        PlatformStack(app, "P300Platform")


@pytest.mark.parametrize(
    ("name", "expected", "forbidden"),
    [
        (PLAN_FUNCTION, {"s3:GetObject", "s3:ListBucket"}, {"s3:PutObject", "s3:DeleteObject"}),
        (INGEST_FUNCTION, {"s3:PutObject", "s3:DeleteObject"}, set()),
        (TRAIN_FUNCTION, {"s3:GetObjectVersion", "s3:PutObject"}, {"s3:DeleteObject"}),
    ],
)
def test_functions_get_bucket_grants(template, name, expected, forbidden):
    actions = function_actions(template, name)
    assert expected <= actions
    assert not forbidden & actions


@pytest.mark.parametrize("name", [*FUNCTION_LAYERS])
def test_no_function_is_granted_an_action_pattern(template, name):
    """Least privilege: each action named (`infra.constructs.security.OBJECT_ACTIONS`)."""
    assert not {action for action in function_actions(template, name) if "*" in action}


def _definition(template: Template, name: str) -> tuple[dict, dict]:
    found = template.find_resources(
        "AWS::StepFunctions::StateMachine", {"Properties": {"StateMachineName": name}}
    )
    assert len(found) == 1
    properties = next(iter(found.values()))["Properties"]
    return json.loads(properties["DefinitionString"]), properties["DefinitionSubstitutions"]


def test_ingest_state_machine_plans_then_maps_five_at_a_time(template):
    definition, substitutions = _definition(template, INGEST_STATE_MACHINE)
    assert definition["StartAt"] == "Plan"
    assert definition["States"]["Plan"]["Parameters"]["FunctionName"] == "${PlanFunctionArn}"
    each = definition["States"]["ForEachObject"]
    assert each["Type"] == "Map"
    assert each["MaxConcurrency"] == 5
    assert set(substitutions) == {
        "PlanFunctionArn", "IngestFunctionArn", "PreprocessFunctionArn", "CheckDriftFunctionArn"
    }  # fmt: skip
    for arn in substitutions.values():
        assert "Fn::GetAtt" in arn


def _tasks(states: dict):
    """Every Task state of a definition, those inside Maps included."""
    for name, state in states.items():
        if state["Type"] == "Task":
            yield name, state
        if state["Type"] == "Map":
            yield from _tasks(state["ItemProcessor"]["States"])


@pytest.mark.parametrize("name", [INGEST_STATE_MACHINE, TRAIN_STATE_MACHINE])
def test_every_task_has_the_full_retry_policies_in_the_synthesized_definition(template, name):
    definition, _ = _definition(template, name)
    policies = retry_policies()
    tasks = dict(_tasks(definition["States"]))
    assert tasks
    for task in tasks.values():
        assert task["Retry"][0] == policies["LambdaServiceRetry"]
        assert task["Retry"][1:] in ([], [policies["TransientRetry"]])
    assert "${" not in json.dumps([t["Retry"] for t in tasks.values()])


@pytest.mark.parametrize("state", ["Ingest", "Preprocess"])
def test_each_item_retries_transient_errors_briefly_and_catches_everything(template, state):
    definition, _ = _definition(template, INGEST_STATE_MACHINE)
    task = definition["States"]["ForEachObject"]["ItemProcessor"]["States"][state]
    retried = {error for retrier in task["Retry"] for error in retrier["ErrorEquals"]}
    expected = {"TransientError", "Lambda.ServiceException", "Lambda.TooManyRequestsException"}
    assert expected <= retried
    # A handler's own error (a bad event, a bug) goes straight to Catch: no retry at all.
    assert not {"States.ALL", "States.TaskFailed"} & retried
    for retrier in task["Retry"]:
        attempts = range(retrier["MaxAttempts"])
        waits = [retrier["IntervalSeconds"] * retrier["BackoffRate"] ** i for i in attempts]
        assert sum(waits) <= 30, f"{retrier['ErrorEquals']} back off {sum(waits)} s"
    assert task["Catch"][0]["ErrorEquals"] == ["States.ALL"]
    assert task["Catch"][0]["Next"] == "ItemFailed"


def test_a_processed_subject_is_checked_for_drift_and_a_failed_check_is_caught(template):
    definition, _ = _definition(template, INGEST_STATE_MACHINE)
    states = definition["States"]["ForEachObject"]["ItemProcessor"]["States"]
    assert states["Preprocess"]["Next"] == "CheckDrift"
    check = states["CheckDrift"]
    assert check["Parameters"]["FunctionName"] == "${CheckDriftFunctionArn}"
    (catch,) = check["Catch"]
    assert (catch["ErrorEquals"], catch["ResultPath"]) == (["States.ALL"], "$.drift")
    assert states[catch["Next"]]["Type"] == "Succeed"


@pytest.mark.parametrize("name", [CHECK_DRIFT_FUNCTION, PREPROCESS_FUNCTION])
def test_the_drift_check_and_preprocessing_can_alert(template, name):
    function = function_resource(template, name)
    assert len(function["Layers"]) == len(FUNCTION_LAYERS[name])
    assert "ALERTS_TOPIC_ARN" in function["Environment"]["Variables"]
    assert function["Environment"]["Variables"]["MLFLOW_TRACKING_URI"] == TRACKING_URI


def test_train_state_machine_fails_with_the_error_it_caught(template):
    definition, substitutions = _definition(template, TRAIN_STATE_MACHINE)
    assert set(substitutions) == {"TrainFunctionArn"}
    assert definition["States"]["Train"]["Catch"][0]["Next"] == "TrainingFailed"
    assert definition["States"]["TrainingFailed"]["Type"] == "Fail"


def test_training_runs_on_the_alias_with_one_provisioned_environment(template):
    (alias_id, alias), *others = template.find_resources("AWS::Lambda::Alias").items()
    assert not others
    assert alias["Properties"]["Name"] == TRAIN_ALIAS
    assert alias["Properties"]["ProvisionedConcurrencyConfig"] == {
        "ProvisionedConcurrentExecutions": 1
    }
    _, substitutions = _definition(template, TRAIN_STATE_MACHINE)
    assert substitutions["TrainFunctionArn"] == {"Ref": alias_id}  # the alias, not $LATEST


def test_train_warm_environments_zero_provisions_none(layer_dirs):
    template = synth(layer_dirs, {"trainWarmEnvironments": "0"})
    (alias,) = template.find_resources("AWS::Lambda::Alias").values()
    assert "ProvisionedConcurrencyConfig" not in alias["Properties"]


def test_landing_objects_start_the_ingest_state_machine_with_the_raw_event(template):
    rules = template.find_resources(
        "AWS::Events::Rule",
        {
            "Properties": {
                "EventPattern": {
                    "source": ["aws.s3"],
                    "detail-type": ["Object Created"],
                    "detail": {"bucket": {"name": [LANDING_BUCKET]}},
                }
            }
        },
    )
    assert len(rules) == 1
    (target,) = next(iter(rules.values()))["Properties"]["Targets"]
    assert not {"Input", "InputPath", "InputTransformer"} & set(target)
    assert target["Arn"] == {"Ref": template_logical_id(template, INGEST_STATE_MACHINE)}


def test_an_hourly_rule_starts_a_catch_up_run(template):
    rules = template.find_resources(
        "AWS::Events::Rule", {"Properties": {"ScheduleExpression": "rate(1 hour)"}}
    )
    assert len(rules) == 1
    (target,) = next(iter(rules.values()))["Properties"]["Targets"]
    assert json.loads(target["Input"]) == {"catch_up": True}
    assert target["Arn"] == {"Ref": template_logical_id(template, INGEST_STATE_MACHINE)}


def template_logical_id(template: Template, state_machine_name: str) -> str:
    found = template.find_resources(
        "AWS::StepFunctions::StateMachine",
        {"Properties": {"StateMachineName": state_machine_name}},
    )
    return next(iter(found))


@pytest.mark.parametrize(
    "resource_type",
    ["AWS::Lambda::Function", "AWS::StepFunctions::StateMachine", "AWS::Events::Rule"],
)
def test_the_pipeline_has_no_local_endpoint(template, resource_type):
    text = json.dumps(template.find_resources(resource_type))
    for local in ("localhost", "127.0.0.1", "4566", "localstack"):
        assert local not in text.replace(TRACKING_URI, "")


def test_layers_come_from_the_directories_named_in_the_context(layer_dirs):
    # `p300 up` names what it built: sources edited after its build must not redirect synthesis.
    template = synth(layer_dirs)
    descriptions = [
        layer["Properties"]["Description"]
        for layer in template.find_resources("AWS::Lambda::LayerVersion").values()
    ]
    assert sorted(descriptions) == sorted(
        f"p300 {name} layer (abcdef0123456789)" for name in LAYER_NAMES
    )


def test_no_output_names_an_emulator(template):
    # Emulator URLs are the CLI's business (`p300_ops.services.cloud.api_url`), not the stack's.
    outputs = json.dumps(template.to_json().get("Outputs", {}))
    for local in ("localhost", "127.0.0.1", "4566", "localstack", "_aws/execute-api"):
        assert local not in outputs


def test_no_credential_is_in_the_template(template):
    """Tokens are made at run time and only their hashes stored; API key values are generated
    by CloudFormation: none can be in the template (the tokens an integration run used are
    looked for in everything the cloud wrote: tests/integration/security/)."""
    text = json.dumps(template.to_json())
    assert not re.search(r"p300\.(predict|upload)\.[0-9a-f]{12}\.[A-Za-z0-9_-]{43}", text)
    for api_key in template.find_resources("AWS::ApiGateway::ApiKey").values():
        assert "Value" not in api_key["Properties"]
