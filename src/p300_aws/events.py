"""The typed events and results of the pipeline's Lambdas, checked once at the handler's edge.

Every handler parses its event with `parse_event` into a pydantic model, calls plain functions
and returns the result model's ``model_dump(mode="json")``. Event models are strict (JSON types
only: ``"50"`` is no number) and refuse unknown keys unless the event is another step's whole
output, of which a step reads some keys. A malformed event raises `BadEventError` (the class name
the state machines report) naming each bad field, what it must be and the value received.
"""

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from p300_aws.errors import BadEventError

#: Characters of a received value quoted in an error message.
MAX_QUOTED_CHARS = 200


class Event(BaseModel):
    """A Lambda event: JSON types only, no unknown keys, immutable once parsed."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class StepOutput(Event):
    """An event that is another step's whole output: the keys this step does not read pass."""

    model_config = ConfigDict(extra="ignore")


class Result(BaseModel):
    """A Lambda's result, built by the code (so not re-validated), dumped as JSON."""

    model_config = ConfigDict(extra="forbid", frozen=True)


#: A JSON number: an integer stays an integer (``50`` is logged as ``50``, not ``50.0``).
type Number = int | float
#: A list in JSON, a tuple once parsed (immutable, hashable); its items stay strict.
type JsonTuple[T] = Annotated[tuple[T, ...], Field(strict=False)]


def parse_event[M: BaseModel](model: type[M], event: object) -> M:
    """``model.model_validate(event)``, with a malformed event raised as `BadEventError`."""
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        raise BadEventError(describe(exc)) from None


def describe(error: ValidationError) -> str:
    """The model's name, then each problem (see `problems`)."""
    return f"{error.title}: " + "; ".join(problems(error))


def problems(error: ValidationError) -> list[str]:
    """Each problem of a failed validation: where, what it must be, the value received."""
    return [_problem(e) for e in error.errors()]


def _problem(error: Mapping[str, Any]) -> str:
    if error["type"] == "value_error":  # our own checks: the message names field and value
        return str(error["ctx"]["error"])
    where = ".".join(str(part) for part in error["loc"]) or "event"
    if error["type"] == "missing":
        return f"{where}: Field required"
    if error["type"] == "union_tag_invalid":  # the tag function is named for what it reads
        ctx = error["ctx"]
        name = ctx["discriminator"].removesuffix("()")
        return f"{where}: {name} must be one of {ctx['expected_tags']}, got {ctx['tag']!r}"
    # A JSON array is parsed into a tuple: say what the sender knows.
    message = "Input should be a list" if error["type"] == "tuple_type" else error["msg"]
    return f"{where}: {message}, got {_quoted(error['input'])}"


def _quoted(value: object) -> str:
    if isinstance(value, Mapping):
        return f"an object with keys {sorted(map(str, value))}"
    text = repr(value)
    return text if len(text) <= MAX_QUOTED_CHARS else text[:MAX_QUOTED_CHARS] + "…"
