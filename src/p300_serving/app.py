"""The prediction API: one FastAPI app over the population model bundle fixed when the app is
made, and over each subject's own models read from a registry (`p300_serving.subject_models`).

Paths under a route prefix (``/predict-champion``): ``/predict``, ``/predict/raw``, ``/decode``,
``/model`` and ``/health`` answer with the population model; ``/studies/{study}/subjects/
{subject}/`` + the same paths with that subject's model under the alias, drawn by the weights of
its routing. A subject with no model under the alias falls back to the population model when
that model was trained on the same study (the bundle names its study); otherwise the answer is
404 naming both studies: a model of another study's preprocessing would score the subject's
data wrongly.

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

Responses name the model that answered (name, version, kind ``population`` or ``subject``,
study, subject) and the alias it is served under: the Lambda alias the request was invoked
through (the qualifier of the invoked function ARN), else the alias of the route prefix, else the
alias the bundle was built for, so a version promoted from challenger to champion reports
``champion``.
"""

import dataclasses
import os
from collections.abc import Mapping
from typing import Annotated

from fastapi import Depends, FastAPI, Path, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from p300_serving import service
from p300_serving.edge import DEFAULT_MAX_BODY_BYTES, EdgeMiddleware
from p300_serving.endpoints import ERRORS, document_request_bodies, model_router
from p300_serving.errors import ModelUnavailableError, SubjectNotServedError, install_error_handlers
from p300_serving.model import BundleError, ServedModel, load_bundle
from p300_serving.routes import PREDICTION_ROUTES, STUDY_PATTERN, SUBJECT_PATH, SUBJECT_PATTERN
from p300_serving.schemas import Health
from p300_serving.subject_models import SubjectModelCache, SubjectModels

BUNDLE_ENV, ALIAS_ENV = "P300_MODEL_BUNDLE", "P300_MODEL_ALIAS"
ROOT_PATH_ENV, MAX_BODY_ENV = "P300_API_ROOT_PATH", "P300_MAX_BODY_BYTES"
PRELOAD_ENV = "P300_PRELOAD_PREPROCESSING"
TASK_ROOT_ENV = "LAMBDA_TASK_ROOT"
#: API Gateway resources in front of the app (``/predict-champion/{proxy+}``) → their alias:
#: stripped from the path and added to ``root_path``, so ``/predict-champion/predict`` is the
#: app's ``/predict``; the alias is kept in the scope under `ROUTE_ALIAS_KEY`.
ROUTE_PREFIXES = {f"/{route}": alias for route, alias in PREDICTION_ROUTES.items()}
ROUTE_ALIAS_KEY = "p300.route_alias"
#: What a version without a population model answers on ``/health`` when it serves subjects.
SUBJECTS_ONLY = "this version carries no population model; it serves per-subject models only"


def create_app(
    model: ServedModel | None,
    *,
    unavailable_reason: str = "no model bundle was loaded",
    root_path: str = "",
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    subject_models: SubjectModels | SubjectModelCache | None = None,
    subjects_only: bool = False,
) -> FastAPI:
    """The prediction app serving ``model`` and, when given, the subjects' own models.

    Parameters
    ----------
    model : ServedModel or None
        The population model; with None, its endpoints answer 503.
    unavailable_reason : str
        Why there is no population model; shown in every 503.
    root_path : str
        Public path prefix ('' or starting with '/').
    max_body_bytes : int
        Request body limit in bytes.
    subject_models : SubjectModels or SubjectModelCache, optional
        Where the subjects' routing and bundles are read; without it every subject falls back
        to the population model.
    subjects_only : bool
        The version deliberately carries no population model (it was published to serve
        subjects): ``/health`` then answers 200 without a model instead of 503.
    """
    app = FastAPI(title="P300 prediction service", version="1", docs_url=None, openapi_url=None)
    app.add_middleware(RoutePrefixMiddleware, prefixes=ROUTE_PREFIXES)
    app.add_middleware(EdgeMiddleware, root_path=root_path, max_body_bytes=max_body_bytes)
    install_error_handlers(app)
    if subject_models is not None and not isinstance(subject_models, SubjectModelCache):
        subject_models = SubjectModelCache(subject_models)

    async def population(request: Request) -> ServedModel:
        if model is None:
            raise ModelUnavailableError(unavailable_reason)
        return _under_alias(model, request_alias(request.scope) or model.info.alias)

    def for_subject(
        request: Request,
        study: Annotated[str, Path(pattern=STUDY_PATTERN, description="Study name.")],
        subject: Annotated[str, Path(pattern=SUBJECT_PATTERN, description="Subject id.")],
    ) -> ServedModel:
        alias = request_alias(request.scope) or (model and model.info.alias)
        own = None
        if subject_models is not None and alias is not None:
            own = subject_models.model(study, subject, alias)
        if own is not None:
            return _under_alias(own, alias)
        if model is None:
            raise ModelUnavailableError(
                f"subject {subject!r} of study {study!r} has no model of its own under alias "
                f"{alias!r}, and there is no population model to fall back to: "
                f"{unavailable_reason}"
            )
        if model.info.study != study:
            info = model.info
            raise SubjectNotServedError(
                f"no model serves subject {subject!r} of study {study!r} under alias {alias!r}: "
                f"it has no model of its own, and the population model ({info.name} version "
                f"{info.version}) was trained on study {info.study!r}, not {study!r}"
            )
        return _under_alias(model, alias)

    app.include_router(model_router(population, tag="population model"))
    app.include_router(model_router(for_subject, tag="subject model"), prefix=SUBJECT_PATH)

    @app.get("/health", response_model=Health, responses={503: {"model": Health}})
    async def health():
        """200 when a population model is loaded (or the version serves subjects only), 503
        with the reason otherwise."""
        if model is None and subjects_only:
            return {"status": "ok", "detail": SUBJECTS_ONLY}
        if model is None:
            body = {"status": "unavailable", "detail": unavailable_reason}
            return JSONResponse(body, status_code=503)
        return {"status": "ok", "model": model.info.reference()}

    subject_served = Depends(for_subject)

    @app.get(SUBJECT_PATH + "/health", response_model=Health, responses=ERRORS,
             tags=["subject model"])  # fmt: skip
    async def subject_health(served: ServedModel = subject_served):
        """200 with the model that answers this subject (its own, else the population model of
        its study); 404 or 503 saying why none would."""
        return {"status": "ok", "model": served.info.reference()}

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi_document(request: Request) -> JSONResponse:
        return JSONResponse(app.openapi() | relative_servers(request.scope.get("root_path", "")))

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        # Relative: the page finds the document next to itself whatever the public prefix.
        return get_swagger_ui_html(openapi_url="openapi.json", title=f"{app.title} - docs")

    document_request_bodies(app)
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


def create_app_from_env(
    environ: Mapping[str, str] = os.environ, *, subject_models: SubjectModels | None = None
) -> FastAPI:
    """The app configured by the environment variables in the module docstring, serving the
    subjects' models from ``subject_models`` when given (the Lambda handler's S3 registry)."""
    model, reason = load_served_model(environ)
    if environ.get(PRELOAD_ENV) == "1":
        service.preload_preprocessing()
    return create_app(
        model,
        unavailable_reason=reason,
        root_path=environ.get(ROOT_PATH_ENV, ""),
        max_body_bytes=_positive_int(environ, MAX_BODY_ENV, DEFAULT_MAX_BODY_BYTES),
        subject_models=subject_models,
        subjects_only=subject_models is not None and not _bundle_path_exists(environ),
    )


def _bundle_path(environ: Mapping[str, str]) -> str | None:
    task_root = environ.get(TASK_ROOT_ENV)
    return environ.get(BUNDLE_ENV) or (task_root and os.path.join(task_root, "model"))


def _bundle_path_exists(environ: Mapping[str, str]) -> bool:
    path = _bundle_path(environ)
    return bool(path) and os.path.exists(path)


def load_served_model(environ: Mapping[str, str]) -> tuple[ServedModel | None, str]:
    """The bundle named by the environment, or None and the reason it cannot be served."""
    path = _bundle_path(environ)
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
    """Move a leading route prefix (a key of ``prefixes``) from the path to ``root_path``, and
    keep the alias it routes to in the scope under `ROUTE_ALIAS_KEY`."""

    def __init__(self, app, *, prefixes: Mapping[str, str]):
        self.app = app
        self.prefixes = prefixes

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "")
        for prefix, alias in self.prefixes.items() if scope["type"] == "http" else ():
            if path == prefix or path.startswith(prefix + "/"):
                root_path = scope.get("root_path", "") + prefix
                scope = scope | {"path": path[len(prefix) :] or "/", "root_path": root_path,
                                 ROUTE_ALIAS_KEY: alias}  # fmt: skip
                break
        await self.app(scope, receive, send)


def request_alias(scope: Mapping) -> str | None:
    """The alias a request is served under: the Lambda alias it was invoked through, else the
    alias of its route prefix; None when neither says."""
    return invoked_alias(scope) or scope.get(ROUTE_ALIAS_KEY)


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


def _under_alias(served: ServedModel, alias: str | None) -> ServedModel:
    """``served`` reporting the alias it answers under (a copy: two small dataclasses)."""
    if served.info.alias == alias:
        return served
    return dataclasses.replace(served, info=dataclasses.replace(served.info, alias=alias))
