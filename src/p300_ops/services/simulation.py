"""System A's application simulator: replay processed subjects through a prediction endpoint.

The features of the chosen subjects are read from ``p300-processed-features`` and sent in batches
(base64 float32) through API Gateway to the route of a Lambda alias. The answers are scored
against the true labels (accuracy, Cohen's kappa, ROC-AUC, confusion counts, pooled and per
subject), request latencies and throughput are measured, and the model version behind the alias
in MLflow is compared with the version the responses report.
"""

import base64
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from p300.evaluation import BinaryMetrics, binary_metrics
from p300.features_io import read_features
from p300.studies import SYSTEM_A_NAME
from p300_aws import keys
from p300_aws.errors import BadKeyError
from p300_aws.names import FEATURES_BUCKET, PREDICTION_ROUTES, REGISTERED_MODEL
from p300_aws.s3_objects import list_keys, read_object
from p300_serving import binary

PERCENTILES = (50, 95, 99)
WANDB_PROJECT = "p300-simulator"
WANDB_MODES = ("offline", "online", "disabled")
#: Statuses of an API that does not take binary bodies (base64-mangled by API Gateway, or
#: refused): the simulator falls back to base64 JSON.
BINARY_REFUSED = (400, 415, 422)
#: Where offline W&B runs go, under the state home.
WANDB_FOLDER = "wandb"
SUBJECT_COLUMNS = ("n_epochs", "n_target", "accuracy", "kappa", "roc_auc", "tn", "fp", "fn", "tp")


@dataclass(frozen=True)
class SubjectResult:
    """Labels and endpoint answers for one subject's epochs, arrays shape (n_epochs,)."""

    labels: np.ndarray
    probabilities: np.ndarray
    predictions: np.ndarray


@dataclass(frozen=True)
class SimulationReport:
    """Everything one simulation measured (JSON-serialisable through `to_dict`)."""

    alias: str
    url: str
    subjects: tuple[str, ...]
    batch_size: int
    pooled: BinaryMetrics
    per_subject: dict[str, BinaryMetrics]
    latency_ms: dict[str, float]
    n_requests: int
    wall_s: float
    throughput_epochs_per_s: float
    served_models: list[dict]
    registry_version: str | None
    version_matches: bool
    wandb_dir: str | None = None
    extras: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        document = asdict(self)
        document["subjects"] = list(self.subjects)
        return document


def batch_slices(n_epochs: int, batch_size: int) -> list[slice]:
    """Consecutive slices covering ``range(n_epochs)``, each at most ``batch_size`` long."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if n_epochs < 0:
        raise ValueError(f"n_epochs must be >= 0, got {n_epochs!r}")
    return [
        slice(start, min(start + batch_size, n_epochs)) for start in range(0, n_epochs, batch_size)
    ]


def encode_batch(features: np.ndarray) -> dict:
    """The ``/predict`` body of a batch: ``features``, shape (n_epochs, n_features) in µV, as
    base64 of little-endian float32, row-major."""
    features = np.asarray(features)
    if features.ndim != 2:
        raise ValueError(f"features must be 2-D (n_epochs, n_features), got shape {features.shape}")
    little_endian = np.ascontiguousarray(features, dtype="<f4")
    return {"features_b64": base64.b64encode(little_endian.tobytes()).decode("ascii")}


def batch_poster(client, url: str) -> Callable[[np.ndarray], dict]:
    """``post(features)`` for `send_batches`: each batch as an ``application/octet-stream``
    float32 body (`p300_serving.binary`), or as base64 JSON (`encode_batch`) from the first
    time the API refuses a binary body (an API deployed before it accepted them).

    ``client`` is an ``httpx.Client``; an answer other than 200 raises RuntimeError.
    """
    binary_accepted = True

    def post(features: np.ndarray) -> dict:
        nonlocal binary_accepted
        if binary_accepted:
            response = client.post(url, content=binary.encode_batch(features),
                                   headers=binary.binary_headers(features.shape))  # fmt: skip
            if response.status_code in BINARY_REFUSED:
                binary_accepted = False
        if not binary_accepted:
            response = client.post(url, json=encode_batch(features))
        if response.status_code != 200:
            raise RuntimeError(f"POST {url} answered {response.status_code}: {response.text}")
        return response.json()

    return post


def latency_summary(latencies_s: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99, mean and max of request latencies given in s, returned in ms.

    Raises `ValueError` when there is no latency.
    """
    values = np.asarray(latencies_s, dtype=float) * 1000.0
    if values.size == 0:
        raise ValueError("latencies_s must hold at least one latency, got none")
    summary = {f"p{p}": float(np.percentile(values, p)) for p in PERCENTILES}
    return summary | {"mean": float(values.mean()), "max": float(values.max())}


def score_results(results: Mapping[str, SubjectResult]) -> tuple[BinaryMetrics, dict]:
    """Pooled and per-subject metrics of the endpoint's answers (ROC-AUC on probabilities)."""
    if not results:
        raise ValueError("results must hold at least one subject, got none")
    per_subject = {
        s: binary_metrics(r.labels, r.probabilities, r.predictions) for s, r in results.items()
    }
    pooled = binary_metrics(
        *(
            np.concatenate([getattr(r, name) for r in results.values()])
            for name in ("labels", "probabilities", "predictions")
        )
    )
    return pooled, per_subject


def distinct_models(model_references: Sequence[Mapping]) -> list[dict]:
    """The distinct ``model`` descriptions the responses carried, each with how many answered."""
    counts: dict[tuple, int] = {}
    for reference in model_references:
        described = tuple(
            sorted((k, reference.get(k)) for k in ("name", "version", "alias", "run_id"))
        )
        counts[described] = counts.get(described, 0) + 1
    return [dict(described) | {"n_requests": n} for described, n in counts.items()]


def route_url(api_base: str, alias: str) -> str:
    """URL of ``/predict`` behind the route of ``alias`` (``champion`` or ``challenger``)."""
    prefixes = {a: prefix for prefix, a in PREDICTION_ROUTES.items()}
    if alias not in prefixes:
        raise ValueError(f"alias must be one of {sorted(prefixes)}, got {alias!r}")
    return f"{api_base.rstrip('/')}/{prefixes[alias]}/predict"


def load_subject_features(
    s3, subjects: Sequence[str], *, study: str = SYSTEM_A_NAME
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{subject: (X, y)}`` from the latest features of every session of each subject of
    ``study``.

    X, shape (n_epochs, n_features), float32 µV; y, shape (n_epochs,), 1 target / 0 non-target.
    Raises `LookupError` naming the subjects that have no features.
    """
    loaded, missing = {}, []
    for subject in subjects:
        parts = []
        prefix = f"{keys.study_prefix(study)}subject={subject}/"
        for key in list_keys(s3, FEATURES_BUCKET, prefix=prefix):
            try:
                keys.parse_features_key(key)
            except BadKeyError:
                continue
            parts.append(read_features(read_object(s3, FEATURES_BUCKET, key).body))
        if not parts:
            missing.append(subject)
            continue
        loaded[subject] = (
            np.concatenate([p.features for p in parts]).astype(np.float32),
            np.concatenate([p.labels for p in parts]).astype(int),
        )
    if missing:
        raise LookupError(
            f"no features in s3://{FEATURES_BUCKET} for subjects {missing} of study {study!r}"
        )
    return loaded


def registry_version(tracking_uri: str, alias: str) -> tuple[str | None, str | None]:
    """(version, run id) of ``P300-Classifier@alias`` in MLflow; (None, None) when unset."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        version = MlflowClient(tracking_uri).get_model_version_by_alias(REGISTERED_MODEL, alias)
    except MlflowException:
        return None, None
    return str(version.version), version.run_id


def send_batches(
    post: Callable[[np.ndarray], dict],
    features: np.ndarray,
    *,
    batch_size: int,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[np.ndarray, np.ndarray, list[float], list[dict]]:
    """Send ``features``, shape (n_epochs, n_features) in µV, in batches through ``post``
    (which encodes a batch, posts it and returns the decoded answer).

    Returns the predicted labels and target probabilities (each shape (n_epochs,)), the latency
    of each request in s and the ``model`` each response reported.
    """
    predicted, probabilities, latencies, models = [], [], [], []
    for part in batch_slices(len(features), batch_size):
        started = clock()
        answer = post(features[part])
        latencies.append(clock() - started)
        if len(answer["labels"]) != part.stop - part.start:
            raise ValueError(
                f"the endpoint answered {len(answer['labels'])} labels for "
                f"{part.stop - part.start} epochs"
            )
        predicted.extend(answer["labels"])
        probabilities.extend(answer["target_probability"])
        models.append(answer["model"])
    return np.asarray(predicted, int), np.asarray(probabilities, float), latencies, models


def simulate(
    subjects: Sequence[str],
    *,
    alias: str,
    s3,
    api_base: str,
    tracking_uri: str,
    batch_size: int = 256,
    timeout_s: float = 60.0,
    headers: dict[str, str] | None = None,
) -> tuple[SimulationReport, dict[str, SubjectResult]]:
    """Replay the processed epochs of ``subjects`` through the ``alias`` route and score them.

    A one-epoch request goes first and takes any cold start; its latency is reported as
    ``extras["first_request_ms"]``, apart from the percentiles of the scored requests.

    Parameters
    ----------
    subjects : sequence of str
        Subject ids whose features exist in ``p300-processed-features``.
    alias : {"champion", "challenger"}
    s3 : boto3 S3 client of the cloud
    api_base : str
        ``.../_aws/execute-api/<api id>/prod`` (see `p300_aws.api_urls.api_base_url`).
    tracking_uri : str
        MLflow server holding ``P300-Classifier``.
    batch_size : int
        Epochs per request.
    timeout_s : float
        Seconds one request may take.
    headers : dict, optional
        Sent with each request: the ``Authorization`` bearer token
        (`p300_ops.services.cloud.Cloud.api_headers`).
    """
    import httpx

    if not subjects:
        raise ValueError("subjects must name at least one subject, got none")
    url = route_url(api_base, alias)
    batch_slices(0, batch_size)  # checks batch_size before any work
    data = load_subject_features(s3, subjects)
    results, latencies, models = {}, [], []
    with httpx.Client(timeout=timeout_s, headers=headers) as client:
        post = batch_poster(client, url)

        # One untimed epoch first, so a cold start is reported apart from the steady latencies.
        first_X = next(iter(data.values()))[0][:1]
        _, _, (first_request_s,), _ = send_batches(post, first_X, batch_size=1)
        started = time.perf_counter()
        for subject, (X, y) in data.items():
            predictions, probabilities, subject_latencies, subject_models = send_batches(
                post, X, batch_size=batch_size
            )
            results[subject] = SubjectResult(y, probabilities, predictions)
            latencies += subject_latencies
            models += subject_models
        wall_s = time.perf_counter() - started
    pooled, per_subject = score_results(results)
    version, _ = registry_version(tracking_uri, alias)
    served = distinct_models(models)
    report = SimulationReport(
        alias=alias,
        url=url,
        subjects=tuple(subjects),
        batch_size=batch_size,
        pooled=pooled,
        per_subject=per_subject,
        latency_ms=latency_summary(latencies),
        n_requests=len(latencies),
        wall_s=wall_s,
        throughput_epochs_per_s=pooled.n_epochs / wall_s if wall_s > 0 else float("inf"),
        served_models=served,
        registry_version=version,
        version_matches=version is not None and all(m["version"] == version for m in served),
        extras={
            "latencies_ms": [1000.0 * s for s in latencies],
            "first_request_ms": 1000.0 * first_request_s,
        },
    )
    return report, results


def log_to_wandb(
    report: SimulationReport,
    results: Mapping[str, SubjectResult],
    *,
    run_dir,
    mode: str = "offline",
    project: str = WANDB_PROJECT,
) -> str:
    """Log a simulation to Weights & Biases; returns the run's directory (offline: the one
    ``wandb sync`` takes).

    Logs the pooled metrics and latencies as the run summary, a table of per-subject metrics and
    confusion counts, a latency histogram, and the ROC and per-subject AUC figures as images.
    """
    import wandb

    from p300 import plots

    if mode not in WANDB_MODES:
        raise ValueError(f"mode must be one of {WANDB_MODES}, got {mode!r}")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    run = wandb.init(
        project=project,
        dir=str(run_dir),
        mode=mode,
        job_type="simulation",
        name=f"{report.alias}-{'-'.join(report.subjects)}",
        config={"alias": report.alias, "subjects": list(report.subjects),
                "batch_size": report.batch_size, "url": report.url,
                "registry_version": report.registry_version},
        settings=wandb.Settings(silent=True, console="off"),
    )  # fmt: skip
    try:
        columns = ["subject", *SUBJECT_COLUMNS]
        table = wandb.Table(columns=columns)
        for subject, metrics in report.per_subject.items():
            table.add_data(subject, *(getattr(metrics, c) for c in SUBJECT_COLUMNS))
        images = {}
        figures = {
            "roc.png": lambda: plots.plot_roc(
                {s: (r.labels, r.probabilities) for s, r in results.items()},
                title=f"ROC, {report.alias}",
            ),
            "subject_auc.png": lambda: plots.plot_subject_auc(
                {s: m.roc_auc for s, m in report.per_subject.items()}
            ),
        }
        for name, draw in figures.items():
            try:
                path = run_dir / name
                path.write_bytes(draw())
            except ValueError:
                continue  # a figure needs both classes; the metrics say so already
            images[name.removesuffix(".png")] = wandb.Image(str(path))
        run.log(
            {"per_subject": table,
             "latency_ms": wandb.Histogram(report.extras.get("latencies_ms", [])),
             **images}
        )  # fmt: skip
        run.summary.update(summary_metrics(report))
        return str(Path(run.dir).parent)
    finally:
        run.finish()
        # The run record is written by W&B's service process; tearing it down waits until the
        # record holds everything (after finish() alone it was sometimes still a bare header).
        wandb.teardown()


def summary_metrics(report: SimulationReport) -> dict[str, float | int | bool | None]:
    """Flat scalars of a report: pooled metrics, latency percentiles, throughput, version check."""
    pooled = {f"pooled/{k}": v for k, v in report.pooled.to_dict().items()}
    latency = {f"latency_ms/{k}": v for k, v in report.latency_ms.items()}
    return (
        pooled
        | latency
        | {
            "throughput_epochs_per_s": report.throughput_epochs_per_s,
            "n_requests": report.n_requests,
            "version_matches": report.version_matches,
        }
    )


def run_simulation(
    cloud,
    subjects: Sequence[str],
    *,
    alias: str,
    home: Path,
    batch_size: int = 256,
    use_wandb: bool = True,
    report_path: Path | None = None,
) -> dict:
    """`simulate` on the running ``cloud`` (a `p300_ops.services.cloud.Cloud`), log to W&B
    (``$WANDB_MODE``, offline by default, under ``home``) and save the JSON report.

    Returns the report as a dict (with ``wandb_dir`` set when logged).
    """
    report, results = simulate(
        subjects, alias=alias, s3=cloud.s3, api_base=cloud.api_url(),
        tracking_uri=cloud.tracking_uri, batch_size=batch_size,
        headers=cloud.api_headers("predict"),
    )  # fmt: skip
    document = report.to_dict()
    if use_wandb:
        document["wandb_dir"] = log_to_wandb(
            report, results, run_dir=home / WANDB_FOLDER,
            mode=os.environ.get("WANDB_MODE", "offline"),
        )  # fmt: skip
    if report_path is not None:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(json.dumps(document, indent=2, default=str))
    return document
