"""The state machines and the Lambdas' typed events agree: every field a state passes is a field
the invoked function's event model accepts (its required ones all passed), and every field a
state reads from a result exists in that result's model (compared through the JSON schemas)."""

import pytest
from pydantic import BaseModel

from infra.asl import STATE_MACHINES_DIR, load_definition
from p300_aws.calibration_job import CalibrateRequest
from p300_aws.drift_check import DriftCheckRequest
from p300_aws.ingest import IngestEvent, IngestResult
from p300_aws.planning import LandingItem, Plan, RawItem, SummarizeRequest
from p300_aws.processing import PreprocessRequest, PreprocessResult
from p300_aws.training import TrainRequest
from p300_aws.tuning import (
    PickBest,
    RunTrial,
    StartTuning,
    TrialOutcome,
    TuningContext,
    TuningRequest,
)

INGEST = load_definition(STATE_MACHINES_DIR / "ingest_and_process.asl.json")["States"]
ITEM = INGEST["ForEachObject"]["ItemProcessor"]["States"]
TRAIN = load_definition(STATE_MACHINES_DIR / "train.asl.json")["States"]
TRIAL = TRAIN["Trials"]["ItemProcessor"]["States"]


def fields(model: type[BaseModel], *, mode: str = "validation") -> tuple[set[str], set[str]]:
    """(every property, the required ones) of ``model``'s JSON schema."""
    schema = model.model_json_schema(mode=mode)
    return set(schema["properties"]), set(schema.get("required", []))


def output_fields(model: type[BaseModel]) -> set[str]:
    return fields(model, mode="serialization")[0]


def passed(parameters: dict) -> set[str]:
    """The fields a ``Parameters``/``ItemSelector`` object builds (``name.$`` is ``name``)."""
    return {key.removesuffix(".$") for key in parameters}


def read(path: str, prefix: str = "$.") -> str:
    """The first field a JSONPath like ``$.context.trials`` reads."""
    assert path.startswith(prefix), path
    return path.removeprefix(prefix).split(".")[0]


def accepts(event: type[BaseModel], given: set[str], *, extra_ignored: bool = False) -> None:
    properties, required = fields(event)
    assert required <= given, f"{event.__name__} needs {sorted(required - given)}"
    if not extra_ignored:
        assert given <= properties, f"{event.__name__} refuses {sorted(given - properties)}"


@pytest.mark.parametrize(
    ("parameters", "event"),
    [
        (INGEST["Summarize"]["Parameters"]["Payload"], SummarizeRequest),
        (TRAIN["StartTuning"]["Parameters"]["Payload"], StartTuning),
        (TRAIN["PickBest"]["Parameters"]["Payload"], PickBest),
        (TRAIN["Trials"]["ItemSelector"], RunTrial),
        (TRIAL["TrialFailed"]["Parameters"], TrialOutcome),
    ],
    ids=["Summarize", "StartTuning", "PickBest", "Trials", "TrialFailed"],
)
def test_the_fields_a_state_builds_are_those_its_event_model_takes(parameters, event):
    accepts(event, passed(parameters))


@pytest.mark.parametrize(
    ("state", "previous_outputs", "event"),
    [
        (ITEM["Ingest"], [LandingItem], IngestEvent),
        (ITEM["Preprocess"], [IngestResult, RawItem], PreprocessRequest),
        (ITEM["CheckDrift"], [PreprocessResult], DriftCheckRequest),
        (TRAIN["Train"], [TrainRequest], TrainRequest),
        (TRAIN["Calibrate"], [CalibrateRequest], CalibrateRequest),
        (TRIAL["Trial"], [RunTrial], RunTrial),
    ],
    ids=["Ingest", "Preprocess", "CheckDrift", "Train", "Calibrate", "Trial"],
)
def test_a_state_passing_its_input_gets_what_its_function_takes(state, previous_outputs, event):
    assert state["Parameters"]["Payload.$"] == "$"
    extra_ignored = event.model_config.get("extra") in ("ignore", "allow")
    for previous in previous_outputs:
        accepts(event, output_fields(previous), extra_ignored=extra_ignored)


def test_what_the_ingest_machine_reads_from_results_exists():
    selector = INGEST["Plan"]["ResultSelector"]
    assert {read(path, "$.Payload.") for path in selector.values()} <= output_fields(Plan)
    assert read(INGEST["ForEachObject"]["ItemsPath"]) in passed(selector)
    summarize = INGEST["Summarize"]["Parameters"]["Payload"]
    assert read(summarize["mode.$"]) in passed(selector)
    assert read(summarize["results.$"]) == read(INGEST["ForEachObject"]["ResultPath"])


def test_the_item_choices_read_fields_that_tell_the_items_apart():
    (raw_rule,) = ITEM["IsRawItem"]["Choices"]
    raw_key = read(raw_rule["Variable"])
    assert raw_key in output_fields(RawItem) and raw_key not in output_fields(LandingItem)
    (needs_rule,) = ITEM["NeedsProcessing"]["Choices"]
    assert read(needs_rule["Variable"]) in output_fields(IngestResult)


def test_what_the_train_machine_reads_from_results_exists():
    calibration, rule = TRAIN["WhichJob"]["Choices"]
    assert {read(c["Variable"]) for c in calibration["And"]} <= fields(CalibrateRequest)[0]
    tuning_keys = {read(choice["Variable"]) for choice in rule["Or"]}
    assert tuning_keys <= fields(TuningRequest)[0]
    assert not tuning_keys & fields(TrainRequest)[0]
    assert TRAIN["StartTuning"]["ResultSelector"] == {"context.$": "$.Payload"}
    context = output_fields(TuningContext)
    assert read(TRAIN["Trials"]["ItemsPath"], "$.context.") in context
    assert read(TRAIN["Trials"]["MaxConcurrencyPath"], "$.context.") in context
    failed = TRIAL["TrialFailed"]["Parameters"]
    assert {read(failed["index.$"]), read(failed["params.$"])} <= fields(RunTrial)[0]
    assert read(TRAIN["PickBest"]["Parameters"]["Payload"]["trials.$"]) == read(
        TRAIN["Trials"]["ResultPath"]
    )
    assert output_fields(TrialOutcome) <= fields(TrialOutcome)[0]  # a trial's output is an item
