"""The last step of `up`: bring back what the previous run had, and say what came back.

The LocalStack extension keeps the cloud state (API ids and keys, published Lambda versions and
aliases, Step Functions executions, alarm states) in `<home>/cloud-state` and restores it when
asked (``POST /_p300/cloud-state/restore``), answering a report. Then this module:

- re-publishes from MLflow a serving alias whose Lambda versions could not be restored as
  published (the same model version; its bundle is built again), and says so;
- starts a catch-up run of the ingest pipeline when an ingest execution was cut off by the end
  of LocalStack, so that the objects it was working on are processed.

The report's format is the extension's (`p300_localstack.cloud_state.restore`).
"""

import json
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime

from p300_aws.names import CHALLENGER_ALIAS, CHAMPION_ALIAS, INGEST_STATE_MACHINE, PREDICT_FUNCTION
from p300_aws.planning import CatchUpRequest
from p300_ops.localcloud import localstack
from p300_ops.localcloud.processes import LocalCloudError

RESTORE_PATH = "/_p300/cloud-state/restore"
SERVING_ALIASES = (CHAMPION_ALIAS, CHALLENGER_ALIAS)
TIMEOUT_S = 600.0


def request_restore(port: int, *, timeout: float = TIMEOUT_S) -> dict:
    """Ask the LocalStack on `port` to restore its cloud state; its report."""
    request = urllib.request.Request(
        f"{localstack.endpoint_url(port)}{RESTORE_PATH}", data=b"{}", method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")
        raise LocalCloudError(f"restoring the cloud state failed: {detail}") from None
    except OSError as error:
        raise LocalCloudError(f"restoring the cloud state failed: {error}") from None


def restore(port: int, tracking_uri: str, *, progress: Callable[[str], None], clients=None) -> dict:
    """Restore the cloud state of the LocalStack on `port`, re-publish lost serving aliases
    from the MLflow at `tracking_uri`, start a catch-up run if one is due; print what was done
    through `progress`; returns the extension's report with ``republished`` and ``catch_up``.

    `clients` maps a service name to a boto3 client (by default, clients of that LocalStack).
    """

    def client(service: str):
        return clients[service] if clients else localstack.aws_client(service, port)

    report = request_restore(port)
    for line in report_lines(report):
        progress(f"  {line}")
    report["republished"] = []
    for lost in lost_serving_aliases(report, client("lambda")):
        line = _republish(client, tracking_uri, lost)
        report["republished"].append(line)
        progress(f"  {line}")
    report["catch_up"] = None
    if cut_off := cut_off_ingest_runs(report):
        name = start_catch_up(client("stepfunctions"))
        report["catch_up"] = name
        progress(
            f"  started the catch-up run {name}: it processes what the {len(cut_off)} ingest "
            f"execution(s) cut off were working on"
        )
    return report


def report_lines(report: dict) -> list[str]:
    """What the restore found and did, one line each (nothing for a cloud with no past)."""
    lines = [f"cloud state: {note}" for note in report.get("recovery_notes", [])]
    for entry in report.get("ids", []):
        what = {"rest_api": "REST API", "usage_plan": "usage plan"}[entry["resource"]]
        if entry["kept"]:
            lines.append(f"{what} {entry['name']} kept its id {entry['id']}")
        else:
            lines.append(
                f"{what} {entry['name']} has the new id {entry['id']} (it was "
                f"{entry['previous_id']}, which another {what} holds)"
            )
    for entry in report.get("api_keys", []):
        lines.append(f"API key {entry['name']} ({entry['id']}) {entry['status']}")
    for entry in report.get("functions", []):
        lines += _function_lines(entry)
    executions = report.get("executions") or {}
    if executions.get("restored"):
        lines.append(f"{executions['restored']} Step Functions executions are back")
    for cut in executions.get("cut_off", []):
        lines.append(
            f"execution {cut['execution_arn'].rsplit(':', 1)[-1]} of "
            f"{cut['state_machine_arn'].rsplit(':', 1)[-1]} was running when LocalStack "
            f"stopped: it is shown ABORTED"
        )
    for entry in report.get("alarms", []):
        if entry["status"] == "restored":
            lines.append(f"alarm {entry['alarm']} is {entry['state']} (since {entry['since']})")
    deleted = report.get("archives_deleted") or {}
    if deleted.get("objects"):
        lines.append(
            f"deleted {deleted['objects']} Lambda code archives of the last run that nothing "
            f"uses any more ({deleted['bytes'] / 2**20:.0f} MiB)"
        )
    return lines


def _function_lines(entry: dict) -> list[str]:
    name = entry["function"]
    if entry["status"] != "restored":
        return [f"{name}: {entry['status']}"]
    lines = []
    for alias in entry["aliases"]:
        serves = ", ".join(
            f"version {version}{_model_of(alias['descriptions'].get(version))} {weight:.0%}"
            for version, weight in alias["weights"].items()
        )
        if alias["status"] != "restored":
            lines.append(
                f"{name}:{alias['alias']} served {serves}; it could not be restored as "
                f"published: {alias['reason']}"
            )
            continue
        line = f"{name}:{alias['alias']} serves {serves} again, as published"
        if len(alias["weights"]) > 1:
            line += (
                " (a canary mid-way stays mid-way: `p300 promote` finishes it, `p300 rollback` "
                "undoes it)"
            )
        if alias.get("provisioned_concurrency"):
            line += f"; provisioned concurrency {alias['provisioned_concurrency']} re-applied"
        lines.append(line)
    return lines


def lost_serving_aliases(report: dict, lambda_client) -> list[dict]:
    """The report's entry of each serving alias of the predict function that the restore could
    not put back and that does not exist now, with ``source``: the MLflow model version its
    main Lambda version served, or the MLflow alias of the same name when that is unknown."""
    lost = []
    for entry in report.get("functions", []):
        if entry["function"] != PREDICT_FUNCTION:
            continue
        for alias in entry["aliases"]:
            if alias["alias"] not in SERVING_ALIASES or alias["status"] == "restored":
                continue
            try:
                lambda_client.get_alias(FunctionName=PREDICT_FUNCTION, Name=alias["alias"])
                continue
            except lambda_client.exceptions.ResourceNotFoundException:
                pass
            model = _model(alias["descriptions"].get(alias["version"]))
            lost.append(alias | {"source": str(model.get("model_version") or alias["alias"])})
    return lost


def cut_off_ingest_runs(report: dict) -> list[str]:
    """The ARNs of ingest executions cut off by the end of LocalStack."""
    return [
        cut["execution_arn"]
        for cut in (report.get("executions") or {}).get("cut_off", [])
        if cut["state_machine_arn"].rsplit(":", 1)[-1] == INGEST_STATE_MACHINE
    ]


def start_catch_up(sfn, *, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> str:
    """Start a catch-up run of the ingest pipeline (the hourly rule's input); its name."""
    from p300_ops.services.pipeline_executions import start_execution  # see `_republish`

    name = f"catch-up-after-restart-{now():%Y%m%d-%H%M%S}"
    request = CatchUpRequest(catch_up=True).model_dump()
    start_execution(sfn, INGEST_STATE_MACHINE, name=name, request=request)
    return name


def _republish(client, tracking_uri: str, lost: dict) -> str:
    # Imported here: the release service reaches the cloud through `lifecycle`, which imports us.
    from p300_ops.services import release

    started = time.monotonic()
    deployment = release.publish(
        client("lambda"), client("apigateway"), tracking_uri, lost["alias"], lost["source"]
    )
    line = (
        f"{PREDICT_FUNCTION}:{lost['alias']} re-published from MLflow: {deployment.model_name} "
        f"version {deployment.model_version} (its bundle built again from the same model) as "
        f"Lambda version {deployment.lambda_version} at 100 %"
    )
    if len(lost["weights"]) > 1:
        line += " (the canary it was in is rolled back)"
    return (
        f"{line}, in {time.monotonic() - started:.1f} s, because its published versions could "
        f"not be restored: {lost['reason']}"
    )


def _model(description: str | None) -> dict:
    try:
        found = json.loads(description or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _model_of(description: str | None) -> str:
    model = _model(description)
    if not model.get("model_version"):
        return ""
    return f" ({model.get('model')} v{model['model_version']})"
