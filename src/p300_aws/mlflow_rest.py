"""A small MLflow tracking client over MLflow's REST API, using only the standard library.

The preprocessing Lambda logs one run per recording: create the experiment (race-safe), create a
run, log params, metrics and tags, end the run. The ``mlflow`` package would cost ~96 MiB of the
function's 250 MB and ~2 s of every cold start for those five calls, so they are made here with
``urllib``. Calls follow the retry policy of `p300_aws.mlflow_tracking`
(``P300_MLFLOW_ATTEMPTS`` tries, ``P300_MLFLOW_BACKOFF_S`` doubling): connection failures,
timeouts, HTTP 5xx and 429 and MLflow's "unavailable" error codes are retried, then raise
`MlflowUnavailableError`; any other refusal raises `MlflowRestError` at once.
"""

import json
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping

from p300_aws.errors import MlflowUnavailableError
from p300_aws.mlflow_tracking import RetryPolicy, tracking_uri_from_env

log = logging.getLogger(__name__)

API_PREFIX = "/api/2.0/mlflow/"
#: MLflow error codes that mean "try again later", whatever the HTTP status.
UNAVAILABLE_CODES = frozenset(
    {"INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED"}
)
RUN_STATUSES = ("FINISHED", "FAILED", "KILLED")


class MlflowRestError(RuntimeError):
    """The tracking server refused a request (not an availability problem).

    ``detail`` is the server's own message.
    """

    def __init__(self, message: str, *, status: int, error_code: str, detail: str = ""):
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.detail = detail

    @property
    def means_missing(self) -> bool:
        """Whether the refusal says "no such experiment, model, run or alias".

        MLflow answers 404 RESOURCE_DOES_NOT_EXIST for a missing experiment, model or run, but
        400 INVALID_PARAMETER_VALUE "Registered model alias ... not found." for an alias that is
        not set on an existing model.
        """
        if self.status == 404 and self.error_code == "RESOURCE_DOES_NOT_EXIST":
            return True
        return (
            self.status == 400
            and self.error_code == "INVALID_PARAMETER_VALUE"
            and "alias" in self.detail
            and "not found" in self.detail
        )


class _Unavailable(Exception):
    """One attempt failed for a reason worth retrying."""


def is_retryable(status: int, error_code: str) -> bool:
    """Whether an HTTP ``status`` with MLflow ``error_code`` means the server is unavailable."""
    return status >= 500 or status == 429 or error_code in UNAVAILABLE_CODES


class MlflowRestTracker:
    """Runs on one tracking server, over REST, each call retried per ``policy``.

    Parameters
    ----------
    tracking_uri : str
        ``http://`` or ``https://`` URI of the server, e.g. ``http://127.0.0.1:5050``.
    policy : RetryPolicy, optional
        From the environment when omitted.
    timeout_s : float
        Timeout of each HTTP request in s.
    sleep : callable
        Called with the delay in s between attempts (tests pass a recorder).
    """

    def __init__(
        self,
        tracking_uri: str,
        *,
        policy: RetryPolicy | None = None,
        timeout_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        scheme = urllib.parse.urlsplit(tracking_uri or "").scheme
        if scheme not in ("http", "https"):
            raise ValueError(
                f"tracking_uri must be an http(s) MLflow server URI, got {tracking_uri!r}"
            )
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0 s, got {timeout_s!r}")
        self.tracking_uri = tracking_uri.rstrip("/")
        self.policy = policy or RetryPolicy.from_env()
        self.timeout_s = timeout_s
        self._sleep = sleep
        self._experiment_ids: dict[str, str] = {}  # a warm Lambda asks the server once

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "MlflowRestTracker":
        """The tracker of ``MLFLOW_TRACKING_URI`` with the retry policy of the environment."""
        return cls(tracking_uri_from_env(environ), policy=RetryPolicy.from_env(environ))

    def experiment_id(self, name: str) -> str:
        """The id of experiment ``name``, created when missing.

        Concurrent Lambdas race to create it: the loser gets RESOURCE_ALREADY_EXISTS and reads
        the winner's. The id is remembered for the tracker's lifetime.
        """
        if name not in self._experiment_ids:
            self._experiment_ids[name] = self._fetch_or_create_experiment(name)
        return self._experiment_ids[name]

    def _fetch_or_create_experiment(self, name: str) -> str:
        found = self._find_experiment(name)
        if found is not None:
            return found
        try:
            return self._call("experiments/create", {"name": name})["experiment_id"]
        except MlflowRestError as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        found = self._find_experiment(name)
        if found is None:
            raise MlflowRestError(
                f"experiment {name!r} exists but cannot be read", status=404, error_code="?"
            )
        return found

    def start_run(self, experiment: str, *, run_name: str, tags: Mapping[str, str]) -> str:
        """Create a run in ``experiment`` (created when missing); returns the run id."""
        body = {
            "experiment_id": self.experiment_id(experiment),
            "run_name": run_name,
            "start_time": _now_ms(),
            "tags": _key_values(tags),
        }
        return self._call("runs/create", body)["run"]["info"]["run_id"]

    def log_values(
        self,
        run_id: str,
        *,
        params: Mapping[str, object] = {},
        metrics: Mapping[str, float | None] = {},
        tags: Mapping[str, str] = {},
    ) -> None:
        """Log params (as text), metrics (None values left out) and tags in one batch."""
        now = _now_ms()
        body = {
            "run_id": run_id,
            "params": _key_values({k: _param_text(v) for k, v in params.items()}),
            "metrics": [
                {"key": k, "value": float(v), "timestamp": now, "step": 0}
                for k, v in metrics.items()
                if v is not None
            ],
            "tags": _key_values(tags),
        }
        self._call("runs/log-batch", body)

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        """Set (or overwrite) tags of the run."""
        self.log_values(run_id, tags=tags)

    def end_run(self, run_id: str, *, status: str = "FINISHED") -> None:
        """Mark the run ended with ``status`` (one of `RUN_STATUSES`) now."""
        if status not in RUN_STATUSES:
            raise ValueError(f"status must be one of {RUN_STATUSES}, got {status!r}")
        self._call("runs/update", {"run_id": run_id, "status": status, "end_time": _now_ms()})

    def mark_failed(self, run_id: str) -> None:
        """Mark the run FAILED in one attempt; never raises (used on error paths)."""
        try:
            self._request("runs/update", {"run_id": run_id, "status": "FAILED"}, None)
        except Exception as exc:  # the server may be the reason we are failing
            log.warning("could not mark MLflow run %s FAILED: %s", run_id, exc)

    def get(self, endpoint: str, query: Mapping[str, str]) -> dict | None:
        """GET ``endpoint`` with ``query``, retried per the policy; None when what was asked for
        does not exist (`MlflowRestError.means_missing`)."""
        try:
            return self._call(endpoint, None, query=dict(query))
        except MlflowRestError as exc:
            if exc.means_missing:
                return None
            raise

    def _find_experiment(self, name: str) -> str | None:
        found = self.get("experiments/get-by-name", {"experiment_name": name})
        return None if found is None else found["experiment"]["experiment_id"]

    def _call(self, endpoint: str, body: dict | None, *, query: dict | None = None) -> dict:
        """POST ``body`` (or GET with ``query`` when body is None), retried per the policy."""
        for delay in [*self.policy.delays(), None]:
            try:
                return self._request(endpoint, body, query)
            except _Unavailable as exc:
                if delay is None:
                    raise MlflowUnavailableError(
                        f"MLflow unavailable: {endpoint} failed {self.policy.attempts} times; "
                        f"last error: {exc}"
                    ) from exc
                log.warning("MLflow %s failed (%s); retrying in %.1f s", endpoint, exc, delay)
                self._sleep(delay)
        raise AssertionError("unreachable")

    def _request(self, endpoint: str, body: dict | None, query: dict | None) -> dict:
        url = f"{self.tracking_uri}{API_PREFIX}{endpoint}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            url, data=data, method="GET" if body is None else "POST",
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise _refusal(endpoint, exc) from exc
        except OSError as exc:  # refused, reset, DNS, timeout (URLError is an OSError)
            raise _Unavailable(f"{type(exc).__name__}: {exc}") from exc


def _refusal(endpoint: str, exc: urllib.error.HTTPError) -> Exception:
    """`_Unavailable` or `MlflowRestError` for an HTTP error answer."""
    text = exc.read().decode(errors="replace")
    try:
        answer = json.loads(text)
    except ValueError:
        answer = {}
    error_code = str(answer.get("error_code", ""))
    message = f"{endpoint}: HTTP {exc.code} {error_code} {answer.get('message', text[:300])}"
    if is_retryable(exc.code, error_code):
        return _Unavailable(message)
    detail = str(answer.get("message", ""))
    return MlflowRestError(message, status=exc.code, error_code=error_code, detail=detail)


def _key_values(mapping: Mapping[str, object]) -> list[dict[str, str]]:
    return [{"key": k, "value": str(v)} for k, v in mapping.items()]


def _param_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _now_ms() -> int:
    return int(time.time() * 1000)
