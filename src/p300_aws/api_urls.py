"""The base URL of an API Gateway REST API stage, on AWS and on an emulator: the one place it is
built (the health probe Lambda calls the prediction API with it; the CLI every API)."""

from p300_aws.names import API_STAGE


def api_base_url(
    api_id: str, *, endpoint_url: str | None, region: str, stage: str = API_STAGE
) -> str:
    """Base URL of the API's stage.

    On an emulator (``endpoint_url`` set, e.g. Lambda's ``AWS_ENDPOINT_URL``) the path-style
    ``{endpoint}/_aws/execute-api/{api_id}/{stage}``; on AWS the ``execute-api`` host.
    """
    if not api_id:
        raise ValueError(f"api_id must be a non-empty API Gateway id, got {api_id!r}")
    if endpoint_url:
        return f"{endpoint_url.rstrip('/')}/_aws/execute-api/{api_id}/{stage}"
    return f"https://{api_id}.execute-api.{region}.amazonaws.com/{stage}"
