"""Errors of the prediction service and their HTTP responses, mapped once at the edge.

Every response to bad input is a 4xx with ``{"detail": "<one precise sentence>", "errors":
[...]?}``: 400 malformed JSON, 404 no model serves the subject asked for, 413 body too large,
422 well-formed but invalid input; 503 when no model is loaded. A 500 means a bug.
"""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError


class InputError(ValueError):
    """Well-formed input the model cannot take (wrong feature length, channels, sampling rate)."""


class SubjectNotServedError(LookupError):
    """No model answers the subject asked for (none of its own, the population model is of
    another study); the message names both studies."""


class ModelUnavailableError(RuntimeError):
    """No model is loaded; the message says why (no bundle configured, unreadable, wrong alias)."""


def install_error_handlers(app: FastAPI) -> None:
    """Map the service's exceptions and validation errors to JSON responses."""
    app.add_exception_handler(InputError, _input_error)
    app.add_exception_handler(ModelUnavailableError, _model_unavailable)
    app.add_exception_handler(SubjectNotServedError, _subject_not_served)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ValidationError, _validation_error)


def error_response(status_code: int, detail: str, errors: list[dict] | None = None):
    body = {"detail": detail} | ({"errors": errors} if errors else {})
    return JSONResponse(body, status_code=status_code)


async def _input_error(request: Request, exc: InputError) -> JSONResponse:
    return error_response(422, str(exc))


async def _model_unavailable(request: Request, exc: ModelUnavailableError) -> JSONResponse:
    return error_response(503, f"no model is being served: {exc}")


async def _subject_not_served(request: Request, exc: SubjectNotServedError) -> JSONResponse:
    return error_response(404, str(exc))


async def _validation_error(
    request: Request, exc: RequestValidationError | ValidationError
) -> JSONResponse:
    errors = [_plain(error) for error in exc.errors()]
    malformed = [e for e in errors if e["type"] == "json_invalid"]
    if malformed:
        return error_response(400, f"malformed JSON body: {malformed[0]['msg']}", malformed)
    shown = "; ".join(f"{_location(e['loc'])}: {e['msg']}" for e in errors[:5])
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return error_response(422, f"invalid request body: {shown}{more}", errors)


def _plain(error: dict) -> dict:
    """Location, message and type only: the offending input may be megabytes of numbers."""
    return {"loc": list(error.get("loc", ())), "msg": error["msg"], "type": error["type"]}


def _location(loc: list) -> str:
    parts = [str(part) for part in loc if part != "body"]
    return ".".join(parts) or "body"
