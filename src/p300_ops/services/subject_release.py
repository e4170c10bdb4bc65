"""Releasing one subject's own models: deploy, promote as a canary, roll back, show the traffic.

The population model lives in each Lambda version (`p300_ops.services.release`); a subject's
models live in the serving registry (`p300_aws.serving_registry`): its bundles by model version
and its routing document, which gives each alias its model versions and weights. So a subject's
release moves weights in that document, never a Lambda alias, and the two kinds of release never
get in each other's way. The canary is the same as the population's (`release.run_canary`,
`release.measure_step`): requests through API Gateway to the subject's ``/predict``, checked at
each step. The app rereads a routing document at most `ROUTING_TTL_S` after it changed, so each
step waits that long before it measures.

History: an alias's routing names the version it served before its last move
(``previous_version``, what `rollback_subject` returns champion to; a rollback swaps the two),
the document keeps its latest changes, and the bucket's versions keep every document. MLflow's
aliases of the subject's registered model follow, as for the population model.
"""

import datetime
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from p300.checks import check_choice
from p300_aws.keys import check_id, check_study
from p300_aws.names import CHALLENGER_ALIAS, CHAMPION_ALIAS, subject_model_name
from p300_aws.serving_registry import load_routing, put_bundle, save_routing
from p300_ops.services import release
from p300_ops.services.release import (
    ALIASES,
    DEFAULT_STEPS,
    CanaryChecks,
    CanaryStep,
    ReleaseError,
)
from p300_serving.model import SUBJECT, PipelineScorer
from p300_serving.routes import SUBJECT_PATH
from p300_serving.subject_models import ROUTING_TTL_S, AliasRouting, SubjectRouting

#: Extra seconds a canary step waits beyond the routing TTL (clocks, a request in flight).
TTL_MARGIN_S = 1.0


@dataclass(frozen=True)
class SubjectDeployment:
    """A subject's model version served under an alias."""

    study: str
    subject: str
    alias: str
    model_name: str
    model_version: str


def subject_route_url(base_url: str, alias: str, study: str, subject: str) -> str:
    """``<base_url>/predict-<alias>/studies/<study>/subjects/<subject>``."""
    path = SUBJECT_PATH.format(study=study, subject=subject)
    return f"{base_url}/{release.ROUTES[alias]}{path}"


def deploy_subject_model(
    s3,
    lambda_client,
    apigateway,
    tracking_uri: str,
    study: str,
    subject: str,
    alias: str,
    *,
    model_version: str | int | None = None,
) -> SubjectDeployment:
    """Serve a version of the subject's registered model under ``alias`` (100 %).

    Parameters
    ----------
    s3, lambda_client, apigateway : boto3 clients
    tracking_uri : str
        MLflow tracking and registry URI.
    study, subject : str
    alias : {'champion', 'challenger'}
    model_version : str or int, optional
        A version of ``P300-<study>_<subject>``; when given, the MLflow alias ``alias`` moves to
        it too. By default the version behind that MLflow alias.

    Raises
    ------
    LookupError
        When the registered model, version or alias does not exist.
    ReleaseError
        When the version is not a calibrated model of this subject of this study, or its
        pipeline cannot be scored without scikit-learn (the prediction Lambda has none).
    """
    _check_target(study, subject, alias)
    from p300_ops.services.model_bundles import build_zipped_bundle

    name = subject_model_name(study, subject)
    source = str(model_version) if model_version is not None else alias
    bundle, served_model = build_zipped_bundle(tracking_uri, name, source)
    info = served_model.info
    if isinstance(served_model.scorer, PipelineScorer):
        raise ReleaseError(
            f"{name} version {info.version} cannot be served: the prediction Lambda scores "
            f"linear pipelines and Xdawn-covariance pipelines with the lwf estimator without "
            f"scikit-learn, and this one is neither"
        )
    if (info.kind, info.study, info.subject) != (SUBJECT, study, subject):
        raise ReleaseError(
            f"{name} version {info.version} is tagged as a {info.kind} model of study "
            f"{info.study!r}, subject {info.subject!r}, not as subject {subject!r} of study "
            f"{study!r}: calibrate it with `p300 calibrate --study {study} --subject {subject}`"
        )
    put_bundle(s3, study, subject, str(info.version), bundle)
    routing, etag = load_routing(s3, study, subject)
    routing = routing or SubjectRouting(study=study, subject=subject, model=name)
    before = routing.aliases.get(alias)
    served = AliasRouting(
        weights={str(info.version): 1.0},
        previous_version=before.main_version if before else None,
    )
    save_routing(s3, routing.with_alias(alias, served, action="deploy", at=_now()), etag=etag)
    # The route must answer even when no population model was ever released to the alias.
    release.ensure_alias(lambda_client, apigateway, alias)
    if model_version is not None:
        _mlflow_alias(tracking_uri, name, alias, str(info.version))
    return SubjectDeployment(study, subject, alias, name, str(info.version))


def promote_subject(
    s3,
    tracking_uri: str,
    study: str,
    subject: str,
    *,
    base_url: str,
    steps: Sequence[float] = DEFAULT_STEPS,
    checks: CanaryChecks = CanaryChecks(),  # noqa: B008 (frozen, so shareable)
    features: np.ndarray | None = None,
    progress: Callable[[CanaryStep], None] = lambda _: None,
    sleep: Callable[[float], None] = time.sleep,
    headers: dict[str, str] | None = None,
) -> list[CanaryStep]:
    """Move the subject's ``champion`` to its challenger's model version as a canary, rolling
    back on failure (see the module docstring and `release.promote`); ``headers`` (the
    ``Authorization`` bearer token) go with every request.

    Raises
    ------
    PromotionFailed
        When a step fails its checks (champion is back on its routing).
    ReleaseError
        When the subject has no champion or challenger, or they serve the same version.
    """
    _check_target(study, subject, CHAMPION_ALIAS)
    release.check_steps(steps)
    routing, etag = load_routing(s3, study, subject)
    champion = _served(routing, study, subject, CHAMPION_ALIAS)
    challenger = _served(routing, study, subject, CHALLENGER_ALIAS)
    old, new = champion.main_version, challenger.main_version
    if old == new:
        raise ReleaseError(
            f"subject {subject!r} of study {study!r}: champion already serves the challenger's "
            f"model version {new}"
        )
    route_url = subject_route_url(base_url, CHAMPION_ALIAS, study, subject)
    batch = (
        features if features is not None else release.synthetic_batch(route_url, headers=headers)
    )
    state = {"routing": routing, "etag": etag}

    def write(served: AliasRouting, action: str) -> None:
        changed = state["routing"].with_alias(CHAMPION_ALIAS, served, action=action, at=_now())
        save_routing(s3, changed, etag=state["etag"])
        state["routing"], state["etag"] = load_routing(s3, study, subject)
        sleep(ROUTING_TTL_S + TTL_MARGIN_S)  # every warm environment has reread it now

    def route(weight: float) -> None:
        if weight < 1:
            served = AliasRouting(weights={old: 1 - weight, new: weight},
                                  previous_version=champion.previous_version)  # fmt: skip
        else:
            served = AliasRouting(weights={new: 1.0}, previous_version=old)
        write(served, f"promote {weight:.0%}")

    def restore() -> str:
        write(champion, "canary failed: restored")
        return f"champion is back on model version {old}"

    def measure(weight: float) -> CanaryStep:
        return release.measure_step(f"{route_url}/predict", batch, weight, (routing.model, new),
                                    checks, headers=headers)  # fmt: skip

    done = release.run_canary(steps, route=route, measure=measure, restore=restore,
                              progress=progress)  # fmt: skip
    _mlflow_alias(tracking_uri, routing.model, CHAMPION_ALIAS, new)
    return done


def rollback_subject(s3, tracking_uri: str, study: str, subject: str) -> SubjectDeployment:
    """Put the subject's ``champion`` back on the model version it served before its last move
    (promotion, deployment or rollback), and MLflow's ``champion`` alias with it."""
    _check_target(study, subject, CHAMPION_ALIAS)
    routing, etag = load_routing(s3, study, subject)
    champion = _served(routing, study, subject, CHAMPION_ALIAS)
    previous = champion.previous_version
    if previous is None:
        raise ReleaseError(
            f"subject {subject!r} of study {study!r}: champion has no previous model version to "
            f"roll back to (it serves {champion.weights})"
        )
    served = AliasRouting(weights={previous: 1.0}, previous_version=champion.main_version)
    save_routing(s3, routing.with_alias(CHAMPION_ALIAS, served, action="rollback", at=_now()),
                 etag=etag)  # fmt: skip
    _mlflow_alias(tracking_uri, routing.model, CHAMPION_ALIAS, previous)
    return SubjectDeployment(study, subject, CHAMPION_ALIAS, routing.model, previous)


def subject_traffic(s3, study: str, subject: str) -> list[dict]:
    """For each alias: ``{"alias", "versions": [{"weight", "model", "model_version"}],
    "previous_version"}``; ``versions`` is empty for an alias that serves the subject with the
    population model (the fallback)."""
    _check_target(study, subject, CHAMPION_ALIAS)
    routing, _ = load_routing(s3, study, subject)
    rows = []
    for alias in ALIASES:
        served = None if routing is None else routing.aliases.get(alias)
        versions = [] if served is None else [
            {"weight": round(weight, 6), "model": routing.model, "model_version": version}
            for version, weight in sorted(served.weights.items(), key=lambda item: -item[1])
        ]  # fmt: skip
        previous = None if served is None else served.previous_version
        rows.append({"alias": alias, "versions": versions, "previous_version": previous})
    return rows


def _check_target(study: str, subject: str, alias: str) -> None:
    check_study(study)
    check_id(subject, name="subject")
    check_choice("alias", alias, ALIASES)


def _served(routing: SubjectRouting | None, study: str, subject: str, alias: str) -> AliasRouting:
    served = None if routing is None else routing.aliases.get(alias)
    if served is None:
        raise ReleaseError(
            f"subject {subject!r} of study {study!r} has no {alias} of its own: run `p300 "
            f"deploy-model --study {study} --subject {subject} --alias {alias}`"
        )
    return served


def _mlflow_alias(tracking_uri: str, name: str, alias: str, version: str) -> None:
    from mlflow import MlflowClient  # ~2 s to import: only the commands that move aliases pay

    MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri).set_registered_model_alias(
        name, alias, version
    )


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
