"""The running local cloud, as the ops services reach it: its state home and its clients."""

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from p300_aws.api_urls import api_base_url
from p300_aws.names import API_NAME
from p300_ops import paths
from p300_ops.localcloud import lifecycle, localstack
from p300_ops.services.api_keys import bearer, client_token
from p300_ops.services.errors import ServiceError

NOT_RUNNING = "the local cloud is not running: run `p300 up`"


class CloudNotRunning(ServiceError):
    """No running local cloud in the state home."""


def resolve_home(home: str | Path | None) -> Path:
    """The state home: ``home`` when given, else `paths.state_home()`."""
    return Path(home).resolve() if home else paths.state_home()


def running_cloud(home: str | Path | None) -> lifecycle.CloudState:
    """What `p300 up` started in ``home``; `CloudNotRunning` when LocalStack is not running."""
    state = lifecycle.CloudState.load(resolve_home(home))
    if state is None or not state.servers["localstack"].is_running():
        raise CloudNotRunning(f"{NOT_RUNNING} (state home {resolve_home(home)})")
    return state


@dataclass(frozen=True)
class Cloud:
    """The AWS endpoint and MLflow of a running local cloud; boto3 clients made on first use."""

    state: lifecycle.CloudState

    @property
    def endpoint_url(self) -> str:
        return self.state.endpoint_url

    @property
    def tracking_uri(self) -> str:
        return self.state.tracking_uri

    def client(self, service: str, *, config=None):
        """A boto3 client of ``service`` (``config``: an optional `botocore.config.Config`)."""
        return localstack.aws_client(service, self.state.localstack_port, config=config)

    @cached_property
    def s3(self):
        return self.client("s3")

    @cached_property
    def stepfunctions(self):
        return self.client("stepfunctions")

    @cached_property
    def lambda_client(self):
        return self.client("lambda")

    @cached_property
    def apigateway(self):
        return self.client("apigateway")

    @cached_property
    def cloudwatch(self):
        return self.client("cloudwatch")

    def api_url(self, name: str = API_NAME) -> str:
        """The stage URL of the REST API ``name`` (`api_url`)."""
        return api_url(self.apigateway, name, endpoint_url=self.endpoint_url)

    def api_token(self, api: str = "predict") -> str:
        """The CLI's own bearer token of ``api`` (``predict`` or ``upload``), kept in the state
        home (`p300_ops.services.api_keys.client_token`)."""
        return client_token(self.s3, Path(self.state.home), api)

    def api_headers(self, api: str = "predict") -> dict[str, str]:
        """The ``Authorization`` header carrying `api_token`."""
        return bearer(self.api_token(api))


def connect(home: str | Path | None) -> Cloud:
    """The cloud `p300 up` started in ``home``; `CloudNotRunning` when it is down."""
    return Cloud(running_cloud(home))


def rest_api_id(apigateway, name: str) -> str:
    """The id of the one REST API named ``name``; `ServiceError` when there is not exactly one."""
    ids = [api["id"] for api in apigateway.get_rest_apis(limit=500)["items"] if api["name"] == name]
    if len(ids) != 1:
        raise ServiceError(f"expected one REST API named {name!r}, found {len(ids)}")
    return ids[0]


def api_url(apigateway, name: str, *, endpoint_url: str | None) -> str:
    """The stage URL of the REST API ``name``: path-style on the emulator at ``endpoint_url``,
    the ``execute-api`` host on AWS (None)."""
    region = apigateway.meta.region_name
    return api_base_url(rest_api_id(apigateway, name), endpoint_url=endpoint_url, region=region)
