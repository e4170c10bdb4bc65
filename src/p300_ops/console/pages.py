"""The console's pages: each reads through one or two service calls and renders a template."""

import json
from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response

from p300_aws.studies import UnknownStudyError
from p300_ops.console import erp_svg, graph_svg
from p300_ops.console.errors import BadParameter, PageNotFound
from p300_ops.console.execution_view import RUN_STATUS, execution_view
from p300_ops.console.graph import layout
from p300_ops.console.subject_columns import SUBJECT_COLUMNS, shown_columns
from p300_ops.services import model_registry, monitoring, release
from p300_ops.services.execution_history import readable_cause
from p300_ops.services.formatting import duration_s, format_duration
from p300_ops.services.pipeline_executions import (
    STATE_MACHINES,
    STATUSES,
    ExecutionNotFound,
    definition,
    describe,
    execution_details,
    list_executions,
    trigger,
)
from p300_ops.services.subject_features import FeaturesNotFound, epoch_counts, session_erp
from p300_ops.services.subject_status import SubjectStatus, list_subjects

PAGE_SIZE = 25
#: State machine name → the short name the CLI takes (ingest, train).
SHORT_NAMES = {name: short for short, name in STATE_MACHINES.items()}


def duration_filter(seconds: float | None) -> str:
    return format_duration(seconds)


def percent_filter(share: float | None) -> str:
    return "-" if share is None else f"{share:.0%}"


def _render(request: Request, template: str, active: str, **context) -> Response:
    context |= {"active": active}
    return request.app.state.templates.TemplateResponse(request, template, context)


def _cloud(request: Request):
    return request.app.state.cloud()


# Executions


@dataclass(frozen=True)
class ExecutionRow:
    name: str
    state_machine: str
    status: str
    trigger: str
    started: datetime
    duration_s: float


def executions(request: Request) -> Response:
    """Executions of both state machines, newest first, filtered, a page at a time."""
    query = request.query_params
    machine = query.get("state_machine") or None
    status = (query.get("status") or "").upper() or None
    if machine not in (None, *STATE_MACHINES):
        raise BadParameter(f"state_machine must be one of {list(STATE_MACHINES)}, got {machine!r}")
    if status not in (None, *STATUSES):
        raise BadParameter(f"status must be one of {list(STATUSES)}, got {status!r}")
    page = query.get("page") or "1"
    if not page.isdigit() or int(page) < 1:
        raise BadParameter(f"page must be a whole number from 1, got {page!r}")
    page = int(page)
    sfn = _cloud(request).stepfunctions
    found = list_executions(
        sfn, state_machine=machine, status=status, limit=PAGE_SIZE + 1,
        offset=(page - 1) * PAGE_SIZE,
    )  # fmt: skip
    rows = [_row(sfn, ex) for ex in found[:PAGE_SIZE]]
    return _render(
        request, "executions.html", "executions", rows=rows, page=page,
        has_next=len(found) > PAGE_SIZE, machines=STATE_MACHINES, statuses=STATUSES,
        machine=machine or "", status=status or "",
    )  # fmt: skip


def _row(sfn, listed: dict) -> ExecutionRow:
    described = describe(sfn, listed["executionArn"])
    machine = listed["stateMachineArn"].rsplit(":", 1)[-1]
    return ExecutionRow(
        listed["name"],
        SHORT_NAMES.get(machine, machine),
        listed["status"],
        trigger(listed["name"], described.get("input")),
        listed["startDate"],
        duration_s(listed["startDate"], listed.get("stopDate")),
    )


def _execution_context(request: Request) -> dict:
    name = request.path_params["name"]
    sfn = _cloud(request).stepfunctions
    try:
        details = execution_details(sfn, name)
    except ExecutionNotFound as exc:
        raise PageNotFound(str(exc)) from None
    arn = details.described["executionArn"]
    cache = request.app.state.cache
    if ("graph", arn) not in cache:  # an execution's definition never changes
        cache["graph", arn] = definition(sfn, arn)
    view = execution_view(details, layout(cache["graph", arn]))
    described = details.described
    return {
        "name": described["name"],
        "described": described,
        "view": view,
        "svg": graph_svg.render(view),
        "graph_json": _graph_data(view),
        "took": duration_s(described["startDate"], described.get("stopDate")),
        "error_cause": readable_cause(described.get("cause")),
        "trigger": details.trigger,
        "items": details.items,
        "output_json": _pretty(described.get("output")) if "output" in described else None,
    }


def execution(request: Request) -> Response:
    """One execution: its graph coloured by state status, Map iterations, state details."""
    return _render(request, "execution.html", "executions", **_execution_context(request))


def execution_live(request: Request) -> Response:
    """The part of an execution's page that changes while it runs (the page polls it)."""
    return _render(request, "execution_live.html", "executions", **_execution_context(request))


def state_run(request: Request) -> Response:
    """One state run of an execution: times, error and cause, input and output."""
    sfn = _cloud(request).stepfunctions
    try:
        details = execution_details(sfn, request.path_params["name"])
    except ExecutionNotFound as exc:
        raise PageNotFound(str(exc)) from None
    index = request.path_params["index"]
    if not 0 <= index < len(details.runs):
        raise PageNotFound(f"execution {details.described['name']} has no state run {index}")
    run = details.runs[index]
    return _render(
        request, "state_run.html", "executions", run=run, index=index,
        cause=readable_cause(run.cause), input_json=_pretty_text(run.input),
        output_json=_pretty_text(run.output),
        retried=[(error, readable_cause(cause)) for error, cause in run.retried],
    )  # fmt: skip


def _graph_data(view) -> str:
    """What the page's script needs to recolour the graph: per node, its runs; per Map, per
    iteration, the run, status and text of each node on its path."""

    def run_doc(index: int) -> dict:
        run = view.runs[index]
        line, error = graph_svg.run_lines(run)
        status = RUN_STATUS.get(run.status, run.status)
        return {"run": index, "name": run.name, "iteration": run.iteration, "status": status,
                "text": line, "error": error}  # fmt: skip

    document = {
        "nodes": {
            node_id: [run_doc(i) for i in state.runs] for node_id, state in view.nodes.items()
        },
        "maps": {
            map_id: {
                str(it.index): {node_id: run_doc(run) for node_id, run in it.path.items()}
                for it in map_view.iterations
            }
            for map_id, map_view in view.maps.items()
        },
    }
    return json.dumps(document).replace("</", "<\\/")


def _pretty(document: object) -> str:
    return json.dumps(document, indent=2, default=str)


def _pretty_text(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return _pretty(json.loads(text))
    except ValueError:
        return text


# Subjects


def subjects(request: Request) -> Response:
    """Every subject/session of every study (or of ``?study=``): stage, raw and features
    versions, epochs, quarantine reasons."""
    study = request.query_params.get("study") or None
    connected = _cloud(request)
    rows = _subject_rows(connected.s3, _statuses(connected.s3, study))
    return _render(
        request, "subjects.html", "subjects", rows=rows,
        columns=shown_columns(SUBJECT_COLUMNS, rows),
    )  # fmt: skip


def subject(request: Request) -> Response:
    """One subject of one study: its sessions' status and, for each with features, its ERP per
    channel."""
    study, name = request.path_params["study"], request.path_params["subject"]
    connected = _cloud(request)
    statuses = [s for s in _statuses(connected.s3, study) if s.subject == name]
    if not statuses:
        raise PageNotFound(f"no subject {name!r} in study {study!r}: `p300 subjects` lists them")
    sessions = []
    for status in statuses:
        erp = None
        if status.raw_key and status.session:
            try:
                erp = session_erp(connected.s3, study, status.subject, status.session)
            except FeaturesNotFound:
                erp = None
        sessions.append((status, erp, erp_svg.render(erp) if erp else ""))
    rows = [(status, erp.counts if erp else None) for status, erp, _ in sessions]
    return _render(
        request, "subject.html", "subjects", study=study, subject=name, sessions=sessions,
        rows=rows, columns=shown_columns(SUBJECT_COLUMNS, rows),
    )  # fmt: skip


def _statuses(s3, study: str | None) -> list[SubjectStatus]:
    try:
        return list_subjects(s3, study=study)
    except UnknownStudyError as exc:
        raise PageNotFound(f"{exc}: `p300 studies list` lists them") from None


def _subject_rows(s3, statuses: list[SubjectStatus]) -> list:
    """Each status with the epoch counts of its features (None where it has none)."""
    return [
        (s, epoch_counts(s3, s.study, s.subject, s.session) if s.raw_key and s.session else None)
        for s in statuses
    ]


# Models


def models(request: Request) -> Response:
    """Registered versions with metrics, subjects, manifests and figures, then each subject's own
    model and its aliases; MLflow down is said."""
    connected = _cloud(request)
    context = {
        "tracking_uri": connected.tracking_uri, "versions": [], "subject_models": [],
        "mlflow_error": None,
    }  # fmt: skip
    try:
        tracker = _tracker(request, connected.tracking_uri)
        versions = model_registry.model_versions(tracker)
        manifests = {v.version: _manifest(tracker, v.run_id) for v in versions[:1]}
        subject_models = model_registry.subject_models(tracker)
    except model_registry.MlflowDown as exc:
        context["mlflow_error"] = str(exc)
        return _render(request, "models.html", "models", **context)
    context |= {
        "versions": versions,
        "subject_models": subject_models,
        "manifests": manifests,
        "run_url": lambda v: model_registry.run_page_url(
            connected.tracking_uri, v.experiment_id, v.run_id
        ),
    }
    return _render(request, "models.html", "models", **context)


def _manifest(tracker, run_id: str):
    try:
        return model_registry.dataset_manifest(tracker, run_id)
    except model_registry.ArtifactNotFound:
        return None


def _tracker(request: Request, tracking_uri: str):
    cache = request.app.state.cache
    if cache.get("tracker", (None,))[0] != tracking_uri:
        cache["tracker"] = (tracking_uri, model_registry.tracker(tracking_uri))
    return cache["tracker"][1]


def run_artifact(request: Request) -> Response:
    """An artifact of an MLflow run (the models page's figures), cached: artifacts never change."""
    run_id, path = request.path_params["run_id"], request.path_params["path"]
    cache = request.app.state.cache
    if ("artifact", run_id, path) not in cache:
        tracker = _tracker(request, _cloud(request).tracking_uri)
        try:
            data = model_registry.run_artifact(tracker, run_id, path)
        except (model_registry.ArtifactNotFound, ValueError) as exc:
            raise PageNotFound(str(exc)) from None
        cache["artifact", run_id, path] = data
    media = "image/png" if path.endswith(".png") else "application/json"
    return Response(cache["artifact", run_id, path], media_type=media)


# Traffic and alerts


def traffic(request: Request) -> Response:
    """Each alias's Lambda versions and weights, the releases, latency and error rate."""
    connected = _cloud(request)
    rows = release.traffic(connected.lambda_client)
    try:
        api_url = connected.api_url()
    except Exception as exc:  # the API may not be deployed yet: the rest of the page stands
        api_url = f"(not found: {exc})"
    return _render(
        request, "traffic.html", "traffic", rows=rows, api_url=api_url,
        versions=release.published_versions(connected.lambda_client),
        metrics={m["alias"]: m for m in monitoring.alias_metrics(connected.cloudwatch)},
    )  # fmt: skip


def alerts(request: Request) -> Response:
    """Alarm states, alerts newest first, and the last drift check of each subject."""
    connected = _cloud(request)
    state = monitoring.monitoring_state(connected.s3, connected.cloudwatch, limit=50)
    return _render(
        request, "alerts.html", "alerts", alarms=state.alarms, alerts=state.alerts,
        drift=monitoring.last_drift_checks(connected.stepfunctions),
    )  # fmt: skip
