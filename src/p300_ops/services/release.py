"""Releasing models to the prediction API: deploy a model under a Lambda alias, promote the
challenger to champion as a canary, roll back, and show who serves what.

Where the history lives: every published Lambda version's description is JSON naming the model it
serves (``{"model": name, "model_version": "3"}``); each alias's description is JSON too, and once
the alias has moved (`deploy_model` over an existing alias, `promote`, `rollback`) it also names
the Lambda version it replaced (``"previous_version"``), which is what `rollback` returns champion
to (a rollback swaps the two, so a second rollback undoes the first).
MLflow's ``champion`` alias follows the Lambda alias.
"""

import io
import json
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from p300.checks import check_choice
from p300_aws.names import (
    API_NAME,
    CHALLENGER_ALIAS,
    CHAMPION_ALIAS,
    PREDICT_FUNCTION,
    PREDICTION_ROUTES,
    REGISTERED_MODEL,
)
from p300_ops import paths
from p300_ops.services.cloud import rest_api_id
from p300_ops.services.errors import ServiceError

HANDLER_FILE = paths.REPO / "functions" / "predict" / "handler.py"
BUNDLE_DIR_IN_CODE = "model"
DEFAULT_STEPS = (0.1, 0.5, 1.0)
ALIASES = tuple(PREDICTION_ROUTES.values())
#: The route of each alias: ``{"champion": "predict-champion", ...}``.
ROUTES = {alias: route for route, alias in PREDICTION_ROUTES.items()}
CHAMPION_ROUTE = ROUTES[CHAMPION_ALIAS]


class ReleaseError(ServiceError):
    """A release cannot be done as asked (missing alias, nothing to promote or roll back)."""


class PromotionFailed(ReleaseError):
    """A canary step failed its checks; champion was rolled back. ``steps`` holds what ran."""

    def __init__(self, message: str, steps: list["CanaryStep"]):
        super().__init__(message)
        self.steps = steps


@dataclass(frozen=True)
class Deployment:
    """A model served under a Lambda alias: the Lambda version and the MLflow model version."""

    alias: str
    lambda_version: str
    model_name: str
    model_version: str


@dataclass(frozen=True)
class CanaryChecks:
    """What the new version must achieve at each step: error rate (0–1) and p95 latency in ms."""

    max_error_rate: float = 0.0
    max_p95_ms: float = 2000.0
    requests_per_step: int = 20


@dataclass
class CanaryStep:
    """One canary step: the new version's weight (0–1) and what the requests measured."""

    weight: float
    requests: int = 0
    new_version_requests: int = 0
    errors: int = 0
    p95_ms: float | None = None
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def deploy_model(
    lambda_client,
    apigateway,
    tracking_uri: str,
    alias: str,
    *,
    model_version: str | int | None = None,
    mlflow_alias: str | None = None,
    model_name: str = REGISTERED_MODEL,
    function: str = PREDICT_FUNCTION,
) -> Deployment:
    """Ship a registered model version as a new Lambda version and point ``alias`` at it (100 %).

    Parameters
    ----------
    lambda_client, apigateway : boto3 clients
    tracking_uri : str
        MLflow tracking and registry URI.
    alias : {'champion', 'challenger'}
        Lambda alias to point at the new version; created (with API Gateway's permission to
        invoke it) when missing.
    model_version : str or int, optional
        MLflow model version; when given, the MLflow alias ``alias`` is moved to it too.
    mlflow_alias : str, optional
        Serve the version behind this MLflow alias instead (default: ``alias``).
    """
    check_choice("alias", alias, ALIASES)
    if model_version is not None and mlflow_alias is not None:
        raise ValueError(
            f"give model_version or mlflow_alias, not both, got {model_version!r} and "
            f"{mlflow_alias!r}"
        )
    source = str(model_version) if model_version is not None else (mlflow_alias or alias)
    deployment = publish(
        lambda_client, apigateway, tracking_uri, alias, source,
        model_name=model_name, function=function,
    )  # fmt: skip
    if model_version is not None:
        _mlflow_client(tracking_uri).set_registered_model_alias(
            model_name, alias, deployment.model_version
        )
    return deployment


def publish(
    lambda_client,
    apigateway,
    tracking_uri: str,
    alias: str,
    source: str,
    *,
    model_name: str = REGISTERED_MODEL,
    function: str = PREDICT_FUNCTION,
) -> Deployment:
    """Publish the bundle of ``source`` (an MLflow model version or alias) as a new Lambda
    version and point ``alias`` at it (100 %); MLflow's aliases are left as they are."""
    code, served_version = code_archive(tracking_uri, model_name, source)
    lambda_client.update_function_code(FunctionName=function, ZipFile=code)
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=function)
    description = json.dumps({"model": model_name, "model_version": served_version})
    version = lambda_client.publish_version(FunctionName=function, Description=description)
    _point_alias(lambda_client, apigateway, function, alias, version["Version"], description)
    return Deployment(alias, version["Version"], model_name, served_version)


def promote(
    lambda_client,
    tracking_uri: str,
    *,
    base_url: str,
    steps: Sequence[float] = DEFAULT_STEPS,
    checks: CanaryChecks = CanaryChecks(),
    features: np.ndarray | None = None,
    function: str = PREDICT_FUNCTION,
    progress: Callable[[CanaryStep], None] = lambda _: None,
    headers: dict[str, str] | None = None,
) -> list[CanaryStep]:
    """Move ``champion`` to the challenger's Lambda version as a canary, rolling back on failure.

    At each step the challenger's version gets ``weight`` of champion's traffic; then
    ``checks.requests_per_step`` real requests go through API Gateway to
    ``/predict-champion/predict``, and the new version's error rate and p95 latency are checked.
    Requests that fail cannot be attributed to a version, so every failure counts against the new
    one. On success the MLflow alias ``champion`` moves to the challenger's model version.

    Parameters
    ----------
    base_url : str
        The API stage URL, e.g. ``http://127.0.0.1:4566/_aws/execute-api/<id>/prod``.
    steps : sequence of float
        Increasing weights in (0, 1], the last one 1.
    features : ndarray, shape (n_epochs, n_features), optional
        Feature vectors in µV to send; by default a synthetic batch of the served length.
    headers : dict, optional
        Sent with every request: the ``Authorization`` bearer token.

    Raises
    ------
    PromotionFailed
        When a step fails its checks (champion is back on its version, weights cleared).
    """
    check_steps(steps)
    champion = _alias(lambda_client, function, CHAMPION_ALIAS)
    challenger = _alias(lambda_client, function, CHALLENGER_ALIAS)
    old, new = champion["FunctionVersion"], challenger["FunctionVersion"]
    if old == new:
        raise ReleaseError(f"champion already serves the challenger's Lambda version {new}")
    new_model = _version_model(lambda_client, function, new)
    url = f"{base_url}/{CHAMPION_ROUTE}/predict"
    batch = (
        features
        if features is not None
        else synthetic_batch(f"{base_url}/{CHAMPION_ROUTE}", headers=headers)
    )

    def route(weight: float) -> None:
        if weight < 1:
            _set_weights(lambda_client, function, old, {new: weight})
        else:
            _set_weights(lambda_client, function, new, {}, previous=old, model=new_model)

    def restore() -> str:
        restored = json.loads(champion.get("Description") or "{}")
        _set_weights(lambda_client, function, old, {}, description=restored)
        return f"champion is back on Lambda version {old}"

    def measure(weight: float) -> CanaryStep:
        answered_by_new = (new_model["model"], new_model["model_version"])
        return measure_step(url, batch, weight, answered_by_new, checks, headers=headers)

    done = run_canary(steps, route=route, measure=measure, restore=restore, progress=progress)
    _mlflow_client(tracking_uri).set_registered_model_alias(
        new_model["model"], CHAMPION_ALIAS, new_model["model_version"]
    )
    return done


def run_canary(
    steps: Sequence[float],
    *,
    route: Callable[[float], None],
    measure: Callable[[float], CanaryStep],
    restore: Callable[[], str],
    progress: Callable[[CanaryStep], None] = lambda _: None,
) -> list[CanaryStep]:
    """The canary both kinds of release share: at each weight, ``route`` that share of
    champion's traffic to the new version, ``measure`` it; on the first failing step ``restore``
    champion and raise.

    Parameters
    ----------
    steps : sequence of float
        Checked weights (`check_steps`).
    route, measure : callable
        Called with each weight.
    restore : callable
        Puts champion back; returns what it did, in words, for the error message.

    Raises
    ------
    PromotionFailed
        Naming the step, its failures and what ``restore`` said.
    """
    done = []
    for weight in steps:
        route(weight)
        step = measure(weight)
        done.append(step)
        progress(step)
        if not step.passed:
            restored = restore()
            raise PromotionFailed(
                f"canary step at {weight:.0%} failed: {'; '.join(step.failures)}; {restored}",
                done,
            )
    return done


def rollback(lambda_client, tracking_uri: str, *, function: str = PREDICT_FUNCTION) -> Deployment:
    """Put ``champion`` back on the Lambda version it served before the last promotion (or
    rollback), weights cleared, and the MLflow alias ``champion`` back on that model version."""
    champion = _alias(lambda_client, function, CHAMPION_ALIAS)
    history = json.loads(champion.get("Description") or "{}")
    previous = history.get("previous_version")
    if not previous:
        raise ReleaseError(
            f"alias {CHAMPION_ALIAS} of {function} has no previous version to roll back to "
            f"(description {champion.get('Description')!r})"
        )
    model = _version_model(lambda_client, function, previous)
    current = champion["FunctionVersion"]
    _set_weights(lambda_client, function, previous, {}, previous=current, model=model)
    _mlflow_client(tracking_uri).set_registered_model_alias(
        model["model"], CHAMPION_ALIAS, model["model_version"]
    )
    return Deployment(CHAMPION_ALIAS, previous, model["model"], model["model_version"])


def traffic(lambda_client, *, function: str = PREDICT_FUNCTION) -> list[dict]:
    """For each alias: ``{"alias", "versions": [{"lambda_version", "weight", "model",
    "model_version"}]}``; ``versions`` is empty for an alias that does not exist yet."""
    rows = []
    for alias in ALIASES:
        try:
            found = lambda_client.get_alias(FunctionName=function, Name=alias)
        except lambda_client.exceptions.ResourceNotFoundException:
            rows.append({"alias": alias, "versions": []})
            continue
        extra = (found.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        weights = {found["FunctionVersion"]: 1.0 - sum(extra.values()), **extra}
        versions = [
            {"lambda_version": version, "weight": round(weight, 6)}
            | _version_model(lambda_client, function, version)
            for version, weight in weights.items()
        ]
        rows.append({"alias": alias, "versions": versions})
    return rows


def split_traffic(
    lambda_client, challenger_share: float, *, function: str = PREDICT_FUNCTION
) -> list[dict]:
    """Send ``challenger_share`` of champion's traffic to the challenger's Lambda version and the
    rest to champion's, and hold it there (0 ends the split); returns `traffic`.

    A manual canary: `promote` then moves champion on with its checks, `rollback` is unchanged.

    Parameters
    ----------
    challenger_share : float
        In [0, 1): 0.3 sends 30 % of ``/predict-champion`` requests to the challenger.
    """
    if not 0 <= challenger_share < 1:
        raise ValueError(f"challenger_share must be in [0, 1), got {challenger_share!r}")
    champion = _alias(lambda_client, function, CHAMPION_ALIAS)
    challenger = _alias(lambda_client, function, CHALLENGER_ALIAS)
    old, new = champion["FunctionVersion"], challenger["FunctionVersion"]
    if old == new and challenger_share:
        raise ReleaseError(f"champion and challenger serve the same Lambda version {old}")
    history = json.loads(champion.get("Description") or "{}")
    weights = {new: challenger_share} if challenger_share else {}
    _set_weights(lambda_client, function, old, weights, description=history)
    return traffic(lambda_client, function=function)


def published_versions(lambda_client, *, function: str = PREDICT_FUNCTION) -> list[dict]:
    """Every published Lambda version, newest first: ``{"lambda_version", "published",
    "model", "model_version"}`` (what each release shipped, and when)."""
    pages = lambda_client.get_paginator("list_versions_by_function").paginate(FunctionName=function)
    found = []
    for page in pages:
        for config in page["Versions"]:
            if config["Version"] == "$LATEST":
                continue
            found.append(
                {"lambda_version": config["Version"], "published": config.get("LastModified")}
                | _described_model(config.get("Description"))
            )
    return sorted(found, key=lambda v: int(v["lambda_version"]), reverse=True)


def percentile_ms(latencies_s: Sequence[float], q: float = 95) -> float | None:
    """The ``q``-th percentile of latencies given in s, in ms; None when there are none."""
    if not latencies_s:
        return None
    return float(np.percentile(np.asarray(latencies_s) * 1000.0, q))


def step_failures(step: CanaryStep, checks: CanaryChecks) -> list[str]:
    """Why ``step`` fails ``checks`` (empty when it passes)."""
    failures = []
    error_rate = step.errors / step.requests if step.requests else 1.0
    if error_rate > checks.max_error_rate:
        failures.append(
            f"error rate {error_rate:.1%} ({step.errors}/{step.requests}) above "
            f"{checks.max_error_rate:.1%}"
        )
    if step.p95_ms is not None and step.p95_ms > checks.max_p95_ms:
        failures.append(f"p95 latency {step.p95_ms:.0f} ms above {checks.max_p95_ms:.0f} ms")
    if step.weight >= 1 and step.new_version_requests == 0:
        failures.append("no request was answered by the new version at 100 %")
    return failures


def as_dict(step: CanaryStep) -> dict:
    """``step`` as JSON-ready data, with ``passed``."""
    return asdict(step) | {"passed": step.passed}


def check_steps(steps: Sequence[float]) -> None:
    """Weights in (0, 1], increasing, ending at 1; else `ValueError` naming what was given."""
    steps = list(steps)
    valid = steps and all(0 < w <= 1 for w in steps) and steps == sorted(set(steps))
    if not valid or steps[-1] != 1:
        raise ValueError(f"steps must be increasing weights in (0, 1] ending at 1, got {steps}")


def ensure_alias(
    lambda_client, apigateway, alias: str, *, function: str = PREDICT_FUNCTION
) -> str | None:
    """Make sure the Lambda alias ``alias`` exists, so that its route answers; returns the
    Lambda version it was created on, or None when it existed.

    A missing alias is created on a new version of the function's code without a population
    model: that version serves the subjects' own models (read from the serving registry) and
    answers 503 for the population model until `deploy_model` ships one.
    """
    check_choice("alias", alias, ALIASES)
    try:
        lambda_client.get_alias(FunctionName=function, Name=alias)
        return None
    except lambda_client.exceptions.ResourceNotFoundException:
        pass
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(HANDLER_FILE, HANDLER_FILE.name)
    lambda_client.update_function_code(FunctionName=function, ZipFile=buffer.getvalue())
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=function)
    description = json.dumps({"model": None, "model_version": None})
    version = lambda_client.publish_version(FunctionName=function, Description=description)
    _point_alias(lambda_client, apigateway, function, alias, version["Version"], description)
    return version["Version"]


def code_archive(tracking_uri: str, model_name: str, source: str) -> tuple[bytes, str]:
    """Zip of the handler plus the bundle of ``source`` (an MLflow version or alias) under
    ``model/``; returns the bytes and the MLflow model version the bundle holds."""
    from p300_ops.services.model_bundles import build_bundle, zip_bundle
    from p300_serving.model import load_bundle

    with tempfile.TemporaryDirectory() as scratch:
        bundle = build_bundle(tracking_uri, model_name, source, Path(scratch) / "bundle")
        served_version = str(load_bundle(bundle).info.version)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(HANDLER_FILE, HANDLER_FILE.name)
            zip_bundle(bundle, archive, prefix=f"{BUNDLE_DIR_IN_CODE}/")
    return buffer.getvalue(), served_version


def _point_alias(lambda_client, apigateway, function, alias, version, description) -> None:
    try:
        existing = lambda_client.get_alias(FunctionName=function, Name=alias)
    except lambda_client.exceptions.ResourceNotFoundException:
        created = lambda_client.create_alias(
            FunctionName=function, Name=alias, FunctionVersion=version, Description=description
        )
        # arn:aws:lambda:<region>:<account>:function:<name>:<alias>
        region, account = created["AliasArn"].split(":")[3:5]
        api = rest_api_id(apigateway, API_NAME)
        lambda_client.add_permission(
            FunctionName=function,
            Qualifier=alias,
            StatementId=f"apigateway-invoke-{alias}",
            Action="lambda:InvokeFunction",
            Principal="apigateway.amazonaws.com",
            SourceArn=f"arn:aws:execute-api:{region}:{account}:{api}/*",
        )
        return
    history = json.loads(description) | {"previous_version": existing["FunctionVersion"]}
    lambda_client.update_alias(
        FunctionName=function,
        Name=alias,
        FunctionVersion=version,
        Description=json.dumps(history),
        RoutingConfig={"AdditionalVersionWeights": {}},
    )


def _alias(lambda_client, function: str, alias: str) -> dict:
    try:
        return lambda_client.get_alias(FunctionName=function, Name=alias)
    except lambda_client.exceptions.ResourceNotFoundException:
        raise ReleaseError(
            f"alias {alias} of {function} does not exist: run `p300 deploy-model --alias {alias}`"
        ) from None


def _version_model(lambda_client, function: str, version: str) -> dict:
    """``{"model", "model_version"}`` from a published version's description (None if absent)."""
    config = lambda_client.get_function_configuration(FunctionName=function, Qualifier=version)
    return _described_model(config.get("Description"))


def _described_model(description: str | None) -> dict:
    try:
        described = json.loads(description or "{}")
    except ValueError:
        described = {}
    if not isinstance(described, dict):
        described = {}
    return {"model": described.get("model"), "model_version": described.get("model_version")}


def _set_weights(
    lambda_client,
    function: str,
    version: str,
    weights: dict[str, float],
    *,
    previous: str | None = None,
    model: dict | None = None,
    description: dict | None = None,
) -> None:
    """Point champion at ``version`` with extra ``weights``; record ``previous`` and ``model``."""
    if description is None:
        description = dict(model or {})
        if previous is not None:
            description["previous_version"] = previous
    kwargs = {"Description": json.dumps(description)} if description else {}
    lambda_client.update_alias(
        FunctionName=function,
        Name=CHAMPION_ALIAS,
        FunctionVersion=version,
        RoutingConfig={"AdditionalVersionWeights": weights},
        **kwargs,
    )


def synthetic_batch(
    route_url: str, n_epochs: int = 4, *, headers: dict[str, str] | None = None
) -> np.ndarray:
    """Random feature vectors of the length the model under ``route_url`` serves (its
    ``/model``, asked with ``headers``), shape (n_epochs, n_features)."""
    import httpx

    response = httpx.get(f"{route_url}/model", timeout=60, headers=headers)
    response.raise_for_status()
    n_features = int(response.json()["features_schema"]["n_features"])
    return np.random.default_rng(0).normal(0.0, 5.0, (n_epochs, n_features))


def measure_step(
    url: str,
    features: np.ndarray,
    weight: float,
    new_model: tuple[str, str],
    checks: CanaryChecks,
    *,
    headers: dict[str, str] | None = None,
) -> CanaryStep:
    """Send the canary requests of one step to ``url`` (a ``/predict`` path) and judge the
    answers of ``new_model`` (registered name and version; both are compared: a subject's model
    and the population model may share a version number); ``headers`` go with each request."""
    import httpx

    step = CanaryStep(weight=weight)
    body = {"features": np.asarray(features, dtype=np.float64).tolist()}
    latencies = []
    with httpx.Client(timeout=60, headers=headers) as client:
        for _ in range(checks.requests_per_step):
            step.requests += 1
            started = time.perf_counter()
            try:
                response = client.post(url, json=body)
            except httpx.HTTPError:
                step.errors += 1
                continue
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                step.errors += 1
                continue
            answered = response.json()["model"]
            if (answered["name"], str(answered["version"])) == (new_model[0], str(new_model[1])):
                step.new_version_requests += 1
                latencies.append(elapsed)
    step.p95_ms = percentile_ms(latencies)
    step.failures = step_failures(step, checks)
    return step


def _mlflow_client(tracking_uri: str):
    from mlflow import MlflowClient  # ~2 s to import: only the commands that move aliases pay

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
