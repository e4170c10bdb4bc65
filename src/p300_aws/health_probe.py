"""The uptime monitor of the prediction API: probe ``/health`` of every serving alias.

Each run (the ``p300-health-probe`` Lambda, every minute) classifies each alias:

- ``not_deployed``: the Lambda alias does not exist yet (no model was ever released to it). Not a
  failure: no alert and no alarm before the first `p300 deploy-model`.
- ``ok``: ``GET /health`` answered 200 ``{"status": "ok"}``.
- ``failing``: anything else from a deployed alias: a timeout, a connection error, a 5xx from the
  gateway or the function, and also a 503 "no model": every release ships a model bundle, so a
  deployed alias without one is a broken release (e.g. a bundle that failed to load).

It publishes ``P300/HealthProbeFailures`` (the number of failing aliases, and 0/1 per alias with
the dimension ``Alias``), and raises an alert only when an alias *starts* failing or recovers: the
last states are kept in the monitoring bucket (``health/last-state.json``), so an ongoing outage
gives one alert, not one a minute.
"""

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

from p300_aws.alerts import Alert, raise_alert, utc_now
from p300_aws.events import Result, StepOutput
from p300_aws.names import (
    HEALTH_LATENCY_METRIC,
    HEALTH_METRIC,
    METRIC_NAMESPACE,
    MONITORING_BUCKET,
    PREDICT_FUNCTION,
    PREDICTION_ROUTES,
)

OK, NOT_DEPLOYED, FAILING = "ok", "not_deployed", "failing"
STATE_KEY = "health/last-state.json"
DEFAULT_TIMEOUT_S = 20.0
#: Characters of a response body kept as evidence.
BODY_EXCERPT_CHARS = 300


@dataclass(frozen=True)
class HttpAnswer:
    """What one GET gave: a status and body, or the error that prevented an answer."""

    status_code: int | None
    body: str
    latency_ms: float
    error: str | None = None


@dataclass(frozen=True)
class AliasHealth:
    """The outcome of probing one alias's route.

    ``status_code`` and ``latency_ms`` are None when no request was made (alias not deployed)
    or no answer came; ``model_version`` is the served MLflow version when healthy.
    """

    alias: str
    route: str
    url: str
    state: str
    detail: str
    status_code: int | None = None
    latency_ms: float | None = None
    model_version: str | None = None


def http_get(url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> HttpAnswer:
    """GET ``url``; HTTP errors are answers, network errors and timeouts are ``error``."""
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        elapsed_ms = (time.perf_counter() - started) * 1000
        reason = getattr(exc, "reason", exc)
        return HttpAnswer(None, "", elapsed_ms, error=f"{type(exc).__name__}: {reason}")
    elapsed_ms = (time.perf_counter() - started) * 1000
    return HttpAnswer(status, body.decode("utf-8", "replace"), elapsed_ms)


def classify(answer: HttpAnswer | None) -> tuple[str, str, str | None]:
    """``(state, detail, model_version)`` of a deployed alias's answer; None: not deployed."""
    if answer is None:
        return NOT_DEPLOYED, "no model deployed to this alias yet", None
    if answer.error is not None:
        return FAILING, answer.error, None
    body = _json_object(answer.body)
    if answer.status_code == 200 and body.get("status") == "ok":
        return OK, "healthy", str((body.get("model") or {}).get("version") or "") or None
    if answer.status_code == 503 and body.get("status") == "unavailable":
        return FAILING, f"deployed alias serves no model: {body.get('detail', '')}", None
    excerpt = answer.body[:BODY_EXCERPT_CHARS]
    return FAILING, f"HTTP {answer.status_code}: {excerpt}", None


def probe_aliases(
    base_url: str,
    deployed: set[str],
    *,
    get: Callable[[str], HttpAnswer] = http_get,
    routes: Mapping[str, str] = PREDICTION_ROUTES,
) -> list[AliasHealth]:
    """Probe ``{base_url}/{route}/health`` of every deployed alias of ``routes`` (route → alias)."""
    results = []
    for route, alias in routes.items():
        url = f"{base_url}/{route}/health"
        answer = get(url) if alias in deployed else None
        state, detail, version = classify(answer)
        results.append(
            AliasHealth(
                alias=alias,
                route=route,
                url=url,
                state=state,
                detail=detail,
                status_code=answer.status_code if answer else None,
                latency_ms=round(answer.latency_ms, 1) if answer else None,
                model_version=version,
            )
        )
    return results


def transitions(previous: Mapping[str, str], current: list[AliasHealth]) -> list[tuple[str, str]]:
    """``(alias, change)`` worth an alert: ``"failing"`` on entering failure, ``"recovered"``.

    ``previous`` maps alias → last state; an alias never seen before counts as not failing,
    so a failure found by the very first probe is reported.
    """
    changes = []
    for health in current:
        was_failing = previous.get(health.alias) == FAILING
        if health.state == FAILING and not was_failing:
            changes.append((health.alias, "failing"))
        elif health.state != FAILING and was_failing:
            changes.append((health.alias, "recovered"))
    return changes


def health_alert(health: AliasHealth, change: str, *, raised_at: str) -> Alert:
    """The alert for one alias that started failing or recovered."""
    if change == "failing":
        subject = f"{health.alias} failing: {_one_line(health.detail, 60)}"
        message = (
            f"GET {health.url} failed: {health.detail}. The {health.route} route is broken; "
            f"`p300 traffic` shows what it serves, `p300 rollback` returns champion to the "
            f"previous release."
        )
    elif change == "recovered":
        subject = f"{health.alias} recovered ({health.state})"
        message = f"GET {health.url} is {health.state} again: {health.detail}."
    else:
        raise ValueError(f"change must be 'failing' or 'recovered', got {change!r}")
    evidence = asdict(health) | {"change": change}
    return Alert("health", subject, message, evidence, raised_at)


def metric_data(results: list[AliasHealth]) -> list[dict]:
    """CloudWatch ``MetricData``: failing aliases in total and 0/1 per alias (``Alias``)."""
    total = {
        "MetricName": HEALTH_METRIC,
        "Value": float(sum(health.state == FAILING for health in results)),
        "Unit": "Count",
    }
    per_alias = [
        {
            "MetricName": HEALTH_METRIC,
            "Dimensions": [{"Name": "Alias", "Value": health.alias}],
            "Value": float(health.state == FAILING),
            "Unit": "Count",
        }
        for health in results
    ]
    return [total, *per_alias]


def latency_data(results: list[AliasHealth]) -> list[dict]:
    """CloudWatch ``MetricData``: each answering alias's `/health` latency in ms (``Alias``)."""
    return [
        {
            "MetricName": HEALTH_LATENCY_METRIC,
            "Dimensions": [{"Name": "Alias", "Value": health.alias}],
            "Value": float(health.latency_ms),
            "Unit": "Milliseconds",
        }
        for health in results
        if health.latency_ms is not None
    ]


def deployed_aliases(lambda_client, *, function: str = PREDICT_FUNCTION) -> set[str]:
    """Names of the Lambda aliases of ``function``."""
    pages = lambda_client.get_paginator("list_aliases").paginate(FunctionName=function)
    return {alias["Name"] for page in pages for alias in page["Aliases"]}


class ScheduledEvent(StepOutput):
    """The schedule rule's event, or a manual invocation's ``{}``: nothing in it is read."""


class ProbeReport(Result):
    """What ``p300-health-probe`` returns."""

    checked_at: str
    #: How many aliases failed their probe.
    failing: int
    aliases: list[AliasHealth]
    #: Keys of the alerts raised (an alias started failing or recovered).
    alerts: list[str]


def run_probe(
    clients: Mapping[str, object],
    *,
    base_url: str,
    topic_arn: str,
    bucket: str = MONITORING_BUCKET,
    get: Callable[[str], HttpAnswer] = http_get,
) -> ProbeReport:
    """Probe every alias, publish the metrics, alert on changes, remember the states.

    Parameters
    ----------
    clients : mapping
        boto3 clients by service name: ``s3``, ``sns``, ``cloudwatch``, ``lambda``.
    base_url : str
        The API stage's base URL (`p300_aws.api_urls.api_base_url`).
    topic_arn : str
        The alerts topic.
    bucket : str
        Monitoring bucket (holds ``health/last-state.json``).
    get : callable
        ``url → HttpAnswer``.

    Returns
    -------
    ProbeReport
    """
    s3 = clients["s3"]
    checked_at = utc_now()
    results = probe_aliases(base_url, deployed_aliases(clients["lambda"]), get=get)
    clients["cloudwatch"].put_metric_data(
        Namespace=METRIC_NAMESPACE, MetricData=metric_data(results) + latency_data(results)
    )
    previous = _load_states(s3, bucket)
    by_alias = {health.alias: health for health in results}
    alert_keys = [
        raise_alert(
            s3,
            clients["sns"],
            health_alert(by_alias[alias], change, raised_at=checked_at),
            topic_arn=topic_arn,
            bucket=bucket,
        )
        for alias, change in transitions(previous, results)
    ]
    # Saved after the alerts: if alerting fails, the next run tries again.
    states = {health.alias: health.state for health in results}
    document = {"checked_at": checked_at, "states": states}
    s3.put_object(Bucket=bucket, Key=STATE_KEY, Body=json.dumps(document).encode())
    return ProbeReport(
        checked_at=checked_at,
        failing=sum(health.state == FAILING for health in results),
        aliases=results,
        alerts=alert_keys,
    )


def _load_states(s3, bucket: str) -> dict[str, str]:
    try:
        body = s3.get_object(Bucket=bucket, Key=STATE_KEY)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return {}
    return json.loads(body).get("states", {})


def _json_object(text: str) -> dict:
    try:
        document = json.loads(text)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _one_line(text: str, max_chars: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= max_chars else line[: max_chars - 3] + "..."
