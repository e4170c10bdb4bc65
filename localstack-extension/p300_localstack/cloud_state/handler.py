"""The gateway response handler that journals Lambda and API Gateway changes.

It runs after the provider answered and before the response is sent: a successful request that
changed a version, an alias, an id or a key is answered only once its record is in the journal.
When the journal cannot take it, the response becomes a 500 (the change stays in memory: it is
lost at the next restart, and the client was told it failed).
"""

import json
import logging

from localstack.aws.api import RequestContext
from localstack.aws.chain import HandlerChain
from localstack.http import Response
from localstack.services.lambda_ import api_utils

from . import apigateway, lambda_state
from .recorder import Recorder
from .touched import apigateway_touched, lambda_touched

LOG = logging.getLogger(__name__)


class CloudStateResponseHandler:
    """Journal what each successful Lambda or API Gateway request changed (module docstring)."""

    def __init__(self, recorder: Recorder):
        self.recorder = recorder

    def __call__(self, chain: HandlerChain, context: RequestContext, response: Response):
        if context.service is None or context.operation is None:
            return
        if context.service_exception is not None or response.status_code >= 400:
            return
        service = context.service.service_name
        if service not in ("lambda", "apigateway"):
            return
        request = context.service_request or {}
        answer = context.service_response or {}
        operation = context.operation.name
        touched = (lambda_touched if service == "lambda" else apigateway_touched)(
            operation, request, answer
        )
        if not touched:
            return
        try:
            self.recorder.commit(lambda: self._capture(context, service, touched))
        except Exception as error:
            LOG.exception("cloud state: journaling %s failed", operation)
            _turn_into_internal_error(response, error)

    def _capture(self, context: RequestContext, service: str, touched: list) -> list:
        records = []
        for kind, name, detail in touched:
            if service == "apigateway":
                account_id, region = context.account_id, context.region
                if kind == "resource_id":
                    records.append(apigateway.capture_id(account_id, region, name, *detail))
                else:
                    records.append(apigateway.capture_key(account_id, region, name))
                continue
            account_id, region = api_utils.get_account_and_region(name, context)
            function = api_utils.get_function_name(name, context)
            if kind == "lambda_version":
                records.append(lambda_state.capture_version(account_id, region, function, detail))
            elif kind == "lambda_alias":
                records.append(lambda_state.capture_alias(account_id, region, function, detail))
            else:
                records += lambda_state.forget_function(
                    self.recorder.state, account_id, region, function
                )
        return records


def _turn_into_internal_error(response: Response, error: Exception) -> None:
    message = f"the change was made but could not be saved, so a restart would lose it: {error}"
    response.status_code = 500
    response.headers["Content-Type"] = "application/json"
    response.set_data(json.dumps({"__type": "ServiceException", "message": message}).encode())
