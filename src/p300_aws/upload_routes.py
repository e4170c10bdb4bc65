"""The upload API's router: Powertools' REST resolver over `p300_aws.uploads`.

Chosen over FastAPI + Mangum (the prediction API's tools) for this function's size and cold
start: it signs URLs only, and Powertools' resolver imports in a fraction of FastAPI's time (see
``layers/README.md``). Errors are mapped to responses here, once: a bad request answers 400, an
unknown upload id or path 404, a method other than ``POST`` 405, each naming what was wrong.
"""

import json
from collections.abc import Callable

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from botocore.exceptions import ClientError

from p300_aws.uploads import UPLOAD_ROUTES, Body, UploadRequestError, Uploads, parse_body

#: Methods API Gateway could forward that no route serves (every route is a ``POST``).
OTHER_METHODS = ["GET", "PUT", "PATCH", "DELETE"]


def upload_app(uploads: Uploads) -> APIGatewayRestResolver:
    """The API's router (Powertools' REST resolver): every `UPLOAD_ROUTES` path as a ``POST``;
    a bad request answers 400, an unknown upload id or path 404, naming what was wrong."""
    app = APIGatewayRestResolver()
    for path, (model, action) in UPLOAD_ROUTES.items():
        app.post(path)(_route(app, uploads, model, action))
        app.route(path, method=OTHER_METHODS)(_wrong_method(app))

    @app.exception_handler(UploadRequestError)
    def bad_request(exc: UploadRequestError) -> Response:
        return _answer(400, str(exc))

    @app.exception_handler(ClientError)
    def no_such_upload(exc: ClientError) -> Response:
        if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
            raise exc
        upload_id = app.current_event.path.split("/")[3]
        return _answer(404, f"no multipart upload {upload_id!r} at that key")

    @app.not_found
    def no_route(exc: NotFoundError) -> Response:
        event = app.current_event
        return _answer(404, f"no route {event.http_method} {event.path!r}")

    return app


def _route(app: APIGatewayRestResolver, uploads: Uploads, model: type[Body], action: Callable):
    def route(**path_params: str) -> dict:
        event = app.current_event
        body = parse_body(model, event.body, base64_encoded=event.is_base64_encoded)
        return action(uploads, body, **path_params)

    return route


def _wrong_method(app: APIGatewayRestResolver):
    def wrong_method(**path_params: str) -> Response:
        return _answer(405, f"use POST, got {app.current_event.http_method!r}")

    return wrong_method


def _answer(status: int, message: str) -> Response:
    return Response(status, content_types.APPLICATION_JSON, json.dumps({"message": message}))
