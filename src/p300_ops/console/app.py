"""The console's web app (Starlette): read-only pages over the services the CLI uses.

Every page reads the running local cloud of one state home. Errors become pages at the edge:
a stopped cloud says how to start it, an unknown execution or subject is a 404 naming it, and
MLflow being down only affects the models page.
"""

from pathlib import Path

from botocore.exceptions import ClientError, EndpointConnectionError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from p300_ops import paths
from p300_ops.console import pages
from p300_ops.console.errors import BadParameter, PageNotFound
from p300_ops.services import cloud
from p300_ops.services.cloud import CloudNotRunning
from p300_ops.services.errors import ServiceError

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["duration"] = pages.duration_filter
templates.env.filters["percent"] = pages.percent_filter


class Connection:
    """The cloud of a state home, connected again only when `p300 up` restarted it."""

    def __init__(self, home: str | Path | None):
        self.home = home
        self._cached: tuple[object, cloud.Cloud] | None = None

    def __call__(self) -> cloud.Cloud:
        state = cloud.running_cloud(self.home)
        signature = tuple(sorted((k, s.pid, s.port) for k, s in state.servers.items()))
        if self._cached is None or self._cached[0] != signature:
            self._cached = (signature, cloud.Cloud(state))
        return self._cached[1]


def create_app(home: str | Path | None = None) -> Starlette:
    """The console of the cloud `p300 up` started in ``home`` (default: the usual state home)."""
    app = Starlette(
        routes=[
            Route("/", lambda request: RedirectResponse("/executions")),
            Route("/executions", pages.executions),
            Route("/executions/{name}", pages.execution),
            Route("/executions/{name}/live", pages.execution_live),
            Route("/executions/{name}/runs/{index:int}", pages.state_run),
            Route("/subjects", pages.subjects),
            Route("/subjects/{study}/{subject}", pages.subject),
            Route("/models", pages.models),
            Route("/runs/{run_id}/artifacts/{path:path}", pages.run_artifact),
            Route("/traffic", pages.traffic),
            Route("/alerts", pages.alerts),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        exception_handlers={
            CloudNotRunning: _cloud_down,
            EndpointConnectionError: _cloud_down,
            PageNotFound: _not_found,
            BadParameter: _bad_parameter,
            ServiceError: _service_error,
            ClientError: _service_error,
            404: _not_found,
        },
    )
    app.state.cloud = Connection(home)
    app.state.home = cloud.resolve_home(home)
    app.state.templates = templates
    app.state.cache = {}
    return app


def error_page(request: Request, status: int, title: str, message: str, hint: str = ""):
    return templates.TemplateResponse(
        request,
        "error.html",
        {"title": title, "message": message, "hint": hint, "active": ""},
        status_code=status,
    )


async def _cloud_down(request: Request, exc: Exception) -> HTMLResponse:
    home = request.app.state.home
    if isinstance(exc, CloudNotRunning):
        message = f"No local cloud runs in the state home {home}."
    else:
        message = f"The local cloud of {home} does not answer ({exc}); it may have stopped."
    command = "p300 up" if home == paths.state_home() else f"p300 up --home {home}"
    return error_page(
        request, 503, "The local cloud is not running", message, f"Start it with: {command}"
    )


async def _not_found(request: Request, exc: Exception) -> HTMLResponse:
    message = str(exc) if isinstance(exc, PageNotFound) else f"no page at {request.url.path}"
    return error_page(request, 404, "Not found", message)


async def _bad_parameter(request: Request, exc: Exception) -> HTMLResponse:
    return error_page(request, 400, "Bad request", str(exc))


async def _service_error(request: Request, exc: Exception) -> HTMLResponse:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        message = f"{error.get('Code', 'error')}: {error.get('Message', exc)}"
    else:
        message = str(exc)
    return error_page(request, 400, "The cloud refused this request", message)
