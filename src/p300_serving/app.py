"""The prediction API: one FastAPI app over one model bundle, fixed when the app is made.

Environment read by `create_app_from_env` (the Lambda handler's configuration):

- ``P300_MODEL_BUNDLE``: path of the bundle directory or zip file (see `p300_serving.model`);
  by default ``model`` in the Lambda code directory (``$LAMBDA_TASK_ROOT/model``), where the
  release commands put it.
- ``P300_MODEL_ALIAS``: optional; the alias this function serves. A bundle built for another
  alias is refused (every model endpoint answers 503 saying so).
- ``P300_API_ROOT_PATH``: public path prefix, e.g. ``/prod`` (an API Gateway stage). ``/docs``
  links ``openapi.json`` relatively and the document names its server relatively, so both work
  under any prefix: host-style (``/prod/...``) and the emulator's path-style
  (``/_aws/execute-api/<id>/prod/...``) URLs alike.
- ``P300_MAX_BODY_BYTES``: request body limit, 6 MiB by default (413 above it).
- ``P300_PRELOAD_PREPROCESSING``: ``1`` imports the preprocessing code (scipy, pandas: about
  1.5 s) at init instead of on the first raw-window request.

Responses name the alias the model is served under: the Lambda alias the request was invoked
through (the qualifier of the invoked function ARN), else the alias the bundle was built for, so a
version promoted from challenger to champion reports ``champion``.

Request bodies are validated straight from the JSON bytes by pydantic (about three times faster
than FastAPI's ``json.loads`` then validate for large feature batches); their schemas are added to
the OpenAPI document by hand for that reason.
"""

import dataclasses
import os
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from p300_serving import service
from p300_serving.edge import DEFAULT_MAX_BODY_BYTES, EdgeMiddleware
from p300_serving.errors import ModelUnavailableError, install_error_handlers
from p300_serving.model import BundleError, ServedModel, load_bundle
from p300_serving.routes import PREDICTION_ROUTES
from p300_serving.schemas import (
    DecodeRequest,
    DecodeResponse,
    ErrorBody,
    Health,
    ModelDescription,
    PredictRawRequest,
    PredictRawResponse,
    PredictRequest,
    PredictResponse,
)

BUNDLE_ENV, ALIAS_ENV = "P300_MODEL_BUNDLE", "P300_MODEL_ALIAS"
ROOT_PATH_ENV, MAX_BODY_ENV = "P300_API_ROOT_PATH", "P300_MAX_BODY_BYTES"
PRELOAD_ENV = "P300_PRELOAD_PREPROCESSING"
TASK_ROOT_ENV = "LAMBDA_TASK_ROOT"
#: API Gateway resources in front of the app (``/predict-champion/{proxy+}``): stripped from the
#: path and added to ``root_path``, so ``/predict-champion/predict`` is the app's ``/predict``.
ROUTE_PREFIXES = tuple(f"/{route}" for route in PREDICTION_ROUTES)
_REQUEST_MODELS = (PredictRequest, PredictRawRequest, DecodeRequest)
_ERRORS = {status: {"model": ErrorBody} for status in (400, 413, 422, 503)}


def create_app(
    model: ServedModel | None,
    *,
    unavailable_reason: str = "no model bundle was loaded",
    root_path: str = "",
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> FastAPI:
    """The prediction app serving ``model``; with None, model endpoints answer 503.

    Parameters
    ----------
    model : ServedModel or None
    unavailable_reason : str
        Why there is no model; shown in every 503.
    root_path : str
        Public path prefix ('' or starting with '/').
    max_body_bytes : int
        Request body limit in bytes.
    """
    app = FastAPI(title="P300 prediction service", version="1", docs_url=None, openapi_url=None)
    app.add_middleware(RoutePrefixMiddleware, prefixes=ROUTE_PREFIXES)
    app.add_middleware(EdgeMiddleware, root_path=root_path, max_body_bytes=max_body_bytes)
    install_error_handlers(app)

    by_alias: dict[str | None, ServedModel] = {}

    def served(request: Request) -> ServedModel:
        if model is None:
            raise ModelUnavailableError(unavailable_reason)
        alias = invoked_alias(request.scope) or model.info.alias
        if alias not in by_alias:
            info = dataclasses.replace(model.info, alias=alias)
            by_alias[alias] = dataclasses.replace(model, info=info)
        return by_alias[alias]

    @app.post("/predict", response_model=PredictResponse, responses=_ERRORS,
              openapi_extra=_json_body(PredictRequest))  # fmt: skip
    async def predict(request: Request) -> dict:
        """Labels and target probabilities of a batch of feature vectors."""
        model = served(request)
        return service.predict_batch(
            model, PredictRequest.model_validate_json(await request.body())
        )

    @app.post("/predict/raw", response_model=PredictRawResponse, responses=_ERRORS,
              openapi_extra=_json_body(PredictRawRequest))  # fmt: skip
    async def predict_raw(request: Request) -> dict:
        """Preprocess a raw EEG window like the pipeline, then predict each kept epoch."""
        model = served(request)
        window = PredictRawRequest.model_validate_json(await request.body())
        return service.predict_raw(model, window, return_features=window.return_features)

    @app.post("/decode", response_model=DecodeResponse, responses=_ERRORS,
              openapi_extra=_json_body(DecodeRequest))  # fmt: skip
    async def decode(request: Request) -> dict:
        """Rank the flashed items by the evidence of the flashes that showed them."""
        model = served(request)
        return service.decode(model, DecodeRequest.model_validate_json(await request.body()))

    @app.get("/health", response_model=Health, responses={503: {"model": Health}})
    async def health():
        """200 when a model is loaded, 503 with the reason otherwise."""
        if model is None:
            body = {"status": "unavailable", "detail": unavailable_reason}
            return JSONResponse(body, status_code=503)
        return {"status": "ok", "model": model.info.reference()}

    @app.get("/model", response_model=ModelDescription, responses=_ERRORS)
    async def describe_model(request: Request) -> dict:
        """The served model: name, version, alias, run id, training metrics, features schema."""
        info = served(request).info
        return info.reference() | {"metrics": info.metrics,
                                   "features_schema": info.features_schema}  # fmt: skip

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi_document(request: Request) -> JSONResponse:
        return JSONResponse(app.openapi() | relative_servers(request.scope.get("root_path", "")))

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        # Relative: the page finds the document next to itself whatever the public prefix.
        return get_swagger_ui_html(openapi_url="openapi.json", title=f"{app.title} - docs")

    _document_request_bodies(app, _REQUEST_MODELS)
    return app


def relative_servers(root_path: str) -> dict:
    """The OpenAPI ``servers`` entry for an app under ``root_path``, relative to the document.

    The document is served at ``<public prefix>/openapi.json``, where the public prefix ends with
    ``root_path``'s last segment; ``../<last segment>`` resolves to that prefix whether or not the
    URL also carries the emulator's ``/_aws/execute-api/<id>`` (relative server URLs are
    resolved against the document's URL). Empty when the app is at the root.
    """
    last = root_path.rstrip("/").rpartition("/")[2]
    return {"servers": [{"url": f"../{last}"}]} if last else {}


def create_app_from_env(environ: Mapping[str, str] = os.environ) -> FastAPI:
    """The app configured by the environment variables in the module docstring."""
    model, reason = load_served_model(environ)
    if environ.get(PRELOAD_ENV) == "1":
        service.preload_preprocessing()
    return create_app(
        model,
        unavailable_reason=reason,
        root_path=environ.get(ROOT_PATH_ENV, ""),
        max_body_bytes=_positive_int(environ, MAX_BODY_ENV, DEFAULT_MAX_BODY_BYTES),
    )


def load_served_model(environ: Mapping[str, str]) -> tuple[ServedModel | None, str]:
    """The bundle named by the environment, or None and the reason it cannot be served."""
    task_root = environ.get(TASK_ROOT_ENV)
    path = environ.get(BUNDLE_ENV) or (task_root and os.path.join(task_root, "model"))
    if not path:
        return None, f"{BUNDLE_ENV} is not set; it must name the model bundle to serve"
    try:
        model = load_bundle(path)
    except BundleError as exc:
        return None, str(exc)
    wanted = environ.get(ALIAS_ENV)
    if wanted and model.info.alias != wanted:
        return None, (
            f"this function serves alias {wanted!r}, but the bundle at {path} holds "
            f"{model.info.name} version {model.info.version} built for alias {model.info.alias!r}"
        )
    return model, ""


class RoutePrefixMiddleware:
    """Move a leading route prefix (one of ``prefixes``) from the path to ``root_path``."""

    def __init__(self, app, *, prefixes: tuple[str, ...]):
        self.app = app
        self.prefixes = prefixes

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "")
        for prefix in self.prefixes if scope["type"] == "http" else ():
            if path == prefix or path.startswith(prefix + "/"):
                root_path = scope.get("root_path", "") + prefix
                scope = scope | {"path": path[len(prefix) :] or "/", "root_path": root_path}
                break
        await self.app(scope, receive, send)


def invoked_alias(scope: Mapping) -> str | None:
    """The Lambda alias a request came through: the qualifier of the invoked function ARN
    (``arn:aws:lambda:<region>:<account>:function:<name>:<alias>``) in the Lambda context Mangum
    puts in the ASGI scope; None outside Lambda, unqualified, or invoked by version number."""
    context = scope.get("aws.context")
    arn = getattr(context, "invoked_function_arn", None) or ""
    parts = arn.split(":")
    if len(parts) != 8 or parts[7].isdigit() or parts[7] == "$LATEST":
        return None
    return parts[7]


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    text = environ.get(name)
    if text is None:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{name} must be a positive integer (bytes), got {text!r}")
    return int(text)


def _json_body(model: type[BaseModel]) -> dict:
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _document_request_bodies(app: FastAPI, models: tuple[type[BaseModel], ...]) -> None:
    """Add the request models' JSON schemas to the app's OpenAPI components."""
    make_openapi = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            document = make_openapi()
            _, definitions = models_json_schema(
                [(model, "validation") for model in models],
                ref_template="#/components/schemas/{model}",
            )
            components = document.setdefault("components", {}).setdefault("schemas", {})
            components.update(definitions["$defs"])
        return app.openapi_schema

    app.openapi = openapi
