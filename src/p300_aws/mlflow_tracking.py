"""An MLflow adapter with one retry policy for every call to the tracking server.

MLflow's own HTTP retries (up to minutes of back-off) are turned down to none by default, so the
policy here decides: ``P300_MLFLOW_ATTEMPTS`` tries (default 4), sleeping ``P300_MLFLOW_BACKOFF_S``
(default 1 s) doubled after every failure. When every attempt fails the call raises
`MlflowUnavailableError`. ``mlflow`` is imported on first use: it takes ~2 s to import.
"""

import functools
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from p300_aws.errors import MlflowUnavailableError

log = logging.getLogger(__name__)

ATTEMPTS_ENV, BACKOFF_ENV = "P300_MLFLOW_ATTEMPTS", "P300_MLFLOW_BACKOFF_S"
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"


def tracking_uri_from_env(environ: Mapping[str, str] = os.environ) -> str:
    """``MLFLOW_TRACKING_URI``; raises ValueError when it is unset or empty."""
    uri = environ.get(TRACKING_URI_ENV, "")
    if not uri:
        raise ValueError(f"environment variable {TRACKING_URI_ENV} must be set, got {uri!r}")
    return uri


#: MLflow's own settings, defaulted so that our policy is the only retry loop.
MLFLOW_CLIENT_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}
_UNAVAILABLE_CODES = {"INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED"}


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all; sleep ``backoff_s`` s after the first failure, doubling."""

    attempts: int = 4
    backoff_s: float = 1.0

    def __post_init__(self) -> None:
        if not (isinstance(self.attempts, int) and self.attempts >= 1):
            raise ValueError(f"attempts must be an integer >= 1, got {self.attempts!r}")
        if not self.backoff_s >= 0:
            raise ValueError(f"backoff_s must be >= 0 s, got {self.backoff_s!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "RetryPolicy":
        """The policy set by ``P300_MLFLOW_ATTEMPTS`` and ``P300_MLFLOW_BACKOFF_S``."""
        return cls(
            attempts=int(environ.get(ATTEMPTS_ENV, cls.attempts)),
            backoff_s=float(environ.get(BACKOFF_ENV, cls.backoff_s)),
        )

    def delays(self) -> list[float]:
        """Sleep in s before each retry, length ``attempts - 1``."""
        return [self.backoff_s * 2**i for i in range(self.attempts - 1)]


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the server could not be reached or failed (not a bad request)."""
    from mlflow.exceptions import MlflowException

    if isinstance(exc, MlflowException):
        status = exc.get_http_status_code()
        return (
            "failed with exception" in str(exc)
            or status >= 500
            or exc.error_code in (_UNAVAILABLE_CODES)
        )
    return isinstance(exc, OSError)  # requests' ConnectionError and timeouts are OSErrors


def call_with_retry[R](
    action: Callable[[], R],
    *,
    what: str,
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
) -> R:
    """Run ``action``, retrying it per ``policy`` while MLflow is unavailable.

    Raises
    ------
    MlflowUnavailableError
        After the last attempt failed; errors that are not about availability pass through.
    """
    for delay in [*policy.delays(), None]:
        try:
            return action()
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            if delay is None:
                raise MlflowUnavailableError(
                    f"MLflow unavailable: {what} failed {policy.attempts} times; last error: {exc}"
                ) from exc
            log.warning("MLflow %s failed (%s); retrying in %.1f s", what, exc, delay)
            sleep(delay)
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class LoggedModel:
    """A model logged in a run: ``uri`` registers it, ``model_id`` attaches metrics to it."""

    uri: str
    model_id: str


class MlflowTracker:
    """Runs, artifacts and registry calls against one tracking server, each call retried.

    Parameters
    ----------
    tracking_uri : str
        E.g. ``http://127.0.0.1:5050``.
    policy : RetryPolicy
    """

    def __init__(self, tracking_uri: str, *, policy: RetryPolicy | None = None):
        if not tracking_uri:
            raise ValueError(f"tracking_uri must be an MLflow server URI, got {tracking_uri!r}")
        for name, value in MLFLOW_CLIENT_DEFAULTS.items():
            os.environ.setdefault(name, value)
        from mlflow.tracking import MlflowClient

        self.tracking_uri = tracking_uri
        self.policy = policy or RetryPolicy.from_env()
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self._experiment_ids: dict[str, str] = {}  # a warm Lambda asks the server once

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "MlflowTracker":
        """The tracker of ``MLFLOW_TRACKING_URI`` with the policy of the environment."""
        return cls(tracking_uri_from_env(environ), policy=RetryPolicy.from_env(environ))

    def retry[R](self, action: Callable[[], R], *, what: str) -> R:
        return call_with_retry(action, what=what, policy=self.policy)

    def start_run(self, experiment: str, *, run_name: str, tags: Mapping[str, str]) -> str:
        """Create a run in ``experiment`` (created when missing); returns the run id."""

        def create() -> str:
            run = self.client.create_run(
                self._experiment_id(experiment), run_name=run_name, tags=dict(tags)
            )
            return run.info.run_id

        return self.retry(create, what=f"start a run in experiment {experiment!r}")

    def _experiment_id(self, name: str) -> str:
        """The experiment's id, creating it when missing.

        Concurrent Lambdas (one per subject) race to create it: the loser gets
        RESOURCE_ALREADY_EXISTS and reads the winner's. The id is remembered for the tracker's
        lifetime.
        """
        if name not in self._experiment_ids:
            self._experiment_ids[name] = self._fetch_or_create_experiment(name)
        return self._experiment_ids[name]

    def _fetch_or_create_experiment(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(name)
        if found:
            return found.experiment_id
        try:
            return self.client.create_experiment(name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            return self.client.get_experiment_by_name(name).experiment_id

    def log_values(
        self,
        run_id: str,
        *,
        params: Mapping[str, object] = {},
        metrics: Mapping[str, float | None] = {},
        tags: Mapping[str, str] = {},
        model: LoggedModel | None = None,
    ) -> None:
        """Log params (as text), metrics (None values left out) and tags in one batch; with
        ``model``, the metrics are that logged model's too (its page in MLflow shows them)."""
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        model_id = None if model is None else model.model_id
        batch = {
            "params": [Param(k, _param_text(v)) for k, v in params.items()],
            "metrics": [
                Metric(k, float(v), now, 0, model_id=model_id)
                for k, v in metrics.items()
                if v is not None
            ],
            "tags": [RunTag(k, str(v)) for k, v in tags.items()],
        }
        self.retry(lambda: self.client.log_batch(run_id, **batch), what="log params and metrics")

    def log_bytes(self, run_id: str, name: str, data: bytes, *, folder: str | None = None) -> None:
        """Upload ``data`` as artifact ``[folder/]name`` of the run."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_bytes(data)
            self.retry(
                lambda: self.client.log_artifact(run_id, str(path), folder),
                what=f"upload artifact {name!r}",
            )

    def log_files(self, run_id: str, files: dict[str, bytes]) -> None:
        """Upload every ``{relative path: data}`` as artifacts of the run, in one call (one
        artifact-store set-up instead of one per file)."""
        with tempfile.TemporaryDirectory() as tmp:
            for name, data in files.items():
                path = Path(tmp) / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            self.retry(
                lambda: self.client.log_artifacts(run_id, tmp),
                what=f"upload artifacts {sorted(files)}",
            )

    def log_json(self, run_id: str, name: str, document: object) -> bytes:
        """Upload ``document`` as indented, key-sorted JSON; returns the bytes uploaded."""
        data = json_bytes(document)
        self.log_bytes(run_id, name, data)
        return data

    def fail_abandoned_runs(self, experiment: str, *, older_than_s: float) -> list[str]:
        """Mark FAILED the runs of ``experiment`` (created when missing, as `start_run` does)
        still RUNNING ``older_than_s`` after they started; returns their ids.

        Their Lambda was stopped (timeout, out of memory) or could not reach MLflow to say it
        failed. Tuning parents are left alone: they span many Lambdas and end in their own step.
        """
        experiment_id = self.retry(
            lambda: self._experiment_id(experiment), what=f"find experiment {experiment!r}"
        )
        cutoff_ms = int((time.time() - older_than_s) * 1000)
        runs = self.retry(
            lambda: self.client.search_runs(
                [experiment_id],
                f"attributes.status = 'RUNNING' and attributes.start_time < {cutoff_ms}",
            ),
            what="search abandoned runs",
        )
        abandoned = [r.info.run_id for r in runs if r.data.tags.get("tuning") != "parent"]
        reason = f"still RUNNING {older_than_s:.0f} s after it started: its Lambda was stopped"
        for run_id in abandoned:
            self.retry(functools.partial(self._fail_run, run_id, reason), what=f"fail run {run_id}")
        return abandoned

    def _fail_run(self, run_id: str, reason: str) -> None:
        self.client.set_tag(run_id, "p300.failure", reason)
        self.client.set_terminated(run_id, "FAILED")

    def end_run(self, run_id: str) -> None:
        self.retry(lambda: self.client.set_terminated(run_id, "FINISHED"), what="finish the run")

    def mark_failed(self, run_id: str) -> None:
        """Mark the run FAILED if the server answers at once; never raises (used on error paths)."""
        try:
            self.client.set_terminated(run_id, "FAILED")
        except Exception as exc:  # the server may be the reason we are failing
            log.warning("could not mark MLflow run %s FAILED: %s", run_id, exc)

    def log_sklearn_model(self, run_id: str, model, *, pip_requirements: list[str]) -> LoggedModel:
        """Log a fitted scikit-learn model as the run's ``model``.

        Log it before the run's metrics and pass it to `log_values`: MLflow copies the metrics
        a run already has onto a newly logged model with one request per metric (0.4 s for a
        training run's 38).
        """
        import mlflow
        import mlflow.sklearn

        def log_model() -> LoggedModel:
            # The logged model belongs to the active experiment, not to the run's: align them.
            experiment_id = self.client.get_run(run_id).info.experiment_id
            with process_wide_mlflow(self.tracking_uri):
                mlflow.set_experiment(experiment_id=experiment_id)
                info = mlflow.sklearn.log_model(
                    model,
                    name="model",
                    run_id=run_id,
                    pip_requirements=pip_requirements,
                    skops_trusted_types=skops_trusted_types(model),
                )
            return LoggedModel(info.model_uri, info.model_id)

        return self.retry(log_model, what="log the model")

    def register(
        self,
        model_uri: str,
        run_id: str,
        *,
        name: str,
        alias: str | None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Register ``model_uri`` as a new version of ``name`` with ``tags``, then set ``alias``
        on it.

        If setting the alias fails, the new version is deleted again (best effort) so that no
        version is left registered half-way. Returns the version number as text.
        """

        import mlflow

        attempted = False

        def create_version() -> str:
            nonlocal attempted
            # An attempt whose answer was lost may have registered the model: a retry must
            # find that version instead of registering the run's model a second time.
            if attempted and (found := self._registered_version(name, run_id, model_uri)):
                return found
            attempted = True
            with process_wide_mlflow(self.tracking_uri):
                registered = mlflow.register_model(
                    model_uri, name, await_registration_for=0, tags=dict(tags or {})
                )
                return str(registered.version)

        version = self.retry(create_version, what=f"register a version of {name!r}")
        if alias is None:
            return version
        try:
            self.retry(
                lambda: self.client.set_registered_model_alias(name, alias, version),
                what=f"set alias {alias!r} on {name} version {version}",
            )
        except Exception:
            self._delete_version(name, version)
            raise
        return version

    def _registered_version(self, name: str, run_id: str, model_uri: str) -> str | None:
        """The version of ``name`` registered from ``model_uri`` of ``run_id``, if any."""
        versions = self.client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
        found = [v.version for v in versions if v.source == model_uri]
        return str(min(found, key=int)) if found else None

    def _delete_version(self, name: str, version: str) -> None:
        try:
            self.client.delete_model_version(name, version)
        except Exception as exc:
            log.error("model %s version %s is registered without its alias: %s", name, version, exc)


#: Environment variables MLflow's fluent API sets so that subprocesses inherit its settings.
_MLFLOW_PROCESS_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID")


@contextmanager
def process_wide_mlflow(tracking_uri: str) -> Iterator[None]:
    """Point MLflow's process-wide settings at ``tracking_uri`` for the block, then put back
    what was there.

    ``mlflow.sklearn.log_model`` and ``mlflow.register_model`` only read process-wide settings
    (tracking and registry URI, active experiment). Left changed, they silently redirect every
    other MLflow client in the process (a CLI, a test session) to this server.
    """
    import mlflow
    from mlflow.tracking import _model_registry, _tracking_service, fluent

    saved_env = {name: os.environ.get(name) for name in _MLFLOW_PROCESS_ENV}
    saved = (
        _tracking_service.utils._tracking_uri,
        _model_registry.utils._registry_uri,
        fluent._active_experiment_id,
    )
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        yield
    finally:
        (
            _tracking_service.utils._tracking_uri,
            _model_registry.utils._registry_uri,
            fluent._active_experiment_id,
        ) = saved
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def json_bytes(document: object) -> bytes:
    """Canonical JSON (sorted keys, 2-space indent, UTF-8) of ``document``."""
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False).encode()


def _param_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


#: Modules whose classes a logged model may hold beyond what skops trusts by default: ours and
#: pyriemann's (the Xdawn-Riemann pipeline).
TRUSTED_MODEL_MODULES = ("p300.", "pyriemann.")


def skops_trusted_types(model) -> list[str]:
    """The classes of ``model`` that skops (MLflow's sklearn format) must be told to trust.

    Raises ValueError naming any class from another module: loading it would run code we did
    not write or review.
    """
    import skops.io

    untrusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    foreign = [name for name in untrusted if not name.startswith(TRUSTED_MODEL_MODULES)]
    if foreign:
        raise ValueError(
            f"the model holds classes from modules outside {TRUSTED_MODEL_MODULES}: {foreign}"
        )
    return untrusted
