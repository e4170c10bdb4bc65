"""The model endpoints, written once and mounted twice: for the population model of an alias and
for one subject's model (`p300_serving.app` says which model each mount resolves).

Request bodies are validated straight from the JSON bytes by pydantic (about three times faster
than FastAPI's ``json.loads`` then validate for large feature batches); their schemas are added
to the OpenAPI document by hand for that reason (`document_request_bodies`).
"""

from collections.abc import Callable

from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from p300_serving import binary, service
from p300_serving.model import ServedModel
from p300_serving.schemas import (
    DecodeRequest,
    DecodeResponse,
    ErrorBody,
    ModelDescription,
    PredictRawRequest,
    PredictRawResponse,
    PredictRequest,
    PredictResponse,
)

REQUEST_MODELS = (PredictRequest, PredictRawRequest, DecodeRequest)
ERRORS = {status: {"model": ErrorBody} for status in (400, 404, 413, 422, 503)}


def model_router(resolve: Callable[..., ServedModel], *, tag: str) -> APIRouter:
    """``/predict``, ``/predict/raw``, ``/decode`` and ``/model`` answered by the model
    ``resolve`` (a FastAPI dependency) returns for each request."""
    router = APIRouter(tags=[tag])
    served = Depends(resolve)

    @router.post("/predict", response_model=PredictResponse, responses=ERRORS,
                 openapi_extra=json_or_binary_body(PredictRequest))  # fmt: skip
    async def predict(request: Request, model: ServedModel = served) -> dict:
        """Labels and target probabilities of a batch of feature vectors: a JSON body, or an
        ``application/octet-stream`` float32 batch (`p300_serving.binary`)."""
        body = await request.body()
        if binary.is_binary(request.headers):
            features = binary.decode_batch(body, request.headers, model.info.n_features)
            return service.predict_features(model, features)
        return service.predict_batch(model, PredictRequest.model_validate_json(body))

    @router.post("/predict/raw", response_model=PredictRawResponse, responses=ERRORS,
                 openapi_extra=json_body(PredictRawRequest))  # fmt: skip
    async def predict_raw(request: Request, model: ServedModel = served) -> dict:
        """Preprocess a raw EEG window like the pipeline, then predict each kept epoch."""
        window = PredictRawRequest.model_validate_json(await request.body())
        return service.predict_raw(model, window, return_features=window.return_features)

    @router.post("/decode", response_model=DecodeResponse, responses=ERRORS,
                 openapi_extra=json_body(DecodeRequest))  # fmt: skip
    async def decode(request: Request, model: ServedModel = served) -> dict:
        """Rank the flashed items by the evidence of the flashes that showed them."""
        return service.decode(model, DecodeRequest.model_validate_json(await request.body()))

    @router.get("/model", response_model=ModelDescription, responses=ERRORS)
    async def describe_model(model: ServedModel = served) -> dict:
        """The served model: name, version, alias, kind, study, run id, metrics, features
        schema."""
        info = model.info
        return info.reference() | {"metrics": info.metrics,
                                   "features_schema": info.features_schema}  # fmt: skip

    return router


def json_body(model: type[BaseModel]) -> dict:
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def json_or_binary_body(model: type[BaseModel]) -> dict:
    """`json_body`, or a float32 batch as ``application/octet-stream`` (`p300_serving.binary`)."""
    extra = json_body(model)
    extra["requestBody"]["content"][binary.MEDIA_TYPE] = {
        "schema": {"type": "string", "format": "binary"}
    }
    extra["requestBody"]["description"] = binary.BODY_DESCRIPTION
    return extra


def document_request_bodies(app: FastAPI) -> None:
    """Add the request models' JSON schemas to the app's OpenAPI components."""
    make_openapi = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            document = make_openapi()
            _, definitions = models_json_schema(
                [(model, "validation") for model in REQUEST_MODELS],
                ref_template="#/components/schemas/{model}",
            )
            components = document.setdefault("components", {}).setdefault("schemas", {})
            components.update(definitions["$defs"])
        return app.openapi_schema

    app.openapi = openapi
