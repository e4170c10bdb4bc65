"""Build model bundles (see `p300_serving.model` for the layout) from a pipeline or from MLflow.

>>> build_bundle("http://127.0.0.1:5000", "P300-Classifier", "champion", "build/model")

Releasing a model (`p300 deploy-model`, `p300_ops.services.release`) builds its bundle here; the
prediction Lambda only reads bundles, so this code (and MLflow) stays out of its layers.
"""

import datetime
import io
import json
import pickle
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from p300.features_io import FeaturesSchemaInfo
from p300_aws.names import KIND_TAG, STUDY_TAG, SUBJECT_TAG
from p300_ops.services.riemann_folding import riemann_scorer
from p300_serving.model import (
    DEFAULT_STUDY,
    FORMAT_VERSION,
    INFO_FILE,
    LINEAR_FILE,
    PICKLE_FILE,
    POPULATION,
    RIEMANN_FILE,
    SUBJECT,
    LinearScorer,
    ServedModel,
    load_bundle,
)

#: Artifact names under which a training run may hold its `FeaturesSchemaInfo` as JSON, in the
#: order they are tried; any other top-level JSON artifact that parses as one is accepted too.
SCHEMA_ARTIFACTS = ("features_schema.json", "features_schema_info.json", "feature_schema.json")
_PROBE_EPOCHS = 64


def write_bundle(
    pipeline,
    out_dir: str | Path,
    *,
    name: str,
    version: str | None = None,
    alias: str | None = None,
    run_id: str | None = None,
    metrics: dict | None = None,
    features_schema: FeaturesSchemaInfo,
    kind: str = POPULATION,
    study: str = DEFAULT_STUDY,
    subject: str | None = None,
) -> Path:
    """Write a fitted binary classifier and its description as a bundle directory.

    Parameters
    ----------
    pipeline : fitted scikit-learn classifier
        Takes X, shape (n_epochs, n_features) in µV; ``classes_`` must be [0, 1].
    out_dir : path
        Created if missing; existing bundle files are overwritten.
    name, version, alias, run_id : str
        The MLflow registered model name, version, the alias it is served under and its run.
    metrics : dict of str to float
    features_schema : FeaturesSchemaInfo
        Of the training features; its ``params`` are the preprocessing parameters.
    kind : {'population', 'subject'}
    study : str
        The study whose features the model was trained on.
    subject : str, optional
        The subject of a ``subject`` model (required for that kind, refused for the other).

    Returns
    -------
    Path
        ``out_dir``.
    """
    if (kind == SUBJECT) != (subject is not None) or kind not in (POPULATION, SUBJECT):
        raise ValueError(
            f"kind must be {POPULATION!r} without a subject or {SUBJECT!r} with one, got "
            f"kind={kind!r}, subject={subject!r}"
        )
    classes = np.asarray(getattr(pipeline, "classes_", []))
    if classes.tolist() != [0, 1]:
        raise ValueError(
            f"pipeline classes_ must be [0, 1] (non-target, target), got {classes.tolist()}"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    linear = linear_scorer(pipeline, features_schema.n_features)
    riemann = None if linear else riemann_scorer(pipeline, features_schema.n_features)
    if linear is not None:
        buffer = io.BytesIO()
        np.savez(buffer, weights=linear.weights, intercept=np.float64(linear.intercept))
        (out_dir / LINEAR_FILE).write_bytes(buffer.getvalue())
    if riemann is not None:
        buffer = io.BytesIO()
        np.savez(buffer, **riemann.arrays())
        (out_dir / RIEMANN_FILE).write_bytes(buffer.getvalue())
    (out_dir / PICKLE_FILE).write_bytes(pickle.dumps(pipeline, protocol=pickle.HIGHEST_PROTOCOL))
    description = {
        "format_version": FORMAT_VERSION,
        "model": {
            "name": name,
            "version": version,
            "alias": alias,
            "run_id": run_id,
            "kind": kind,
            "study": study,
            "subject": subject,
        },
        "metrics": dict(metrics or {}),
        "features_schema": features_schema.to_dict(),
        "scorer": "linear" if linear else "riemann" if riemann else "pickle",
        "created_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    (out_dir / INFO_FILE).write_text(json.dumps(description, indent=2))
    return out_dir


def linear_scorer(pipeline, n_features: int) -> LinearScorer | None:
    """Fold StandardScaler steps + a binary linear classifier into one `LinearScorer`.

    Returns None when the pipeline is not of that shape, or when the folded function does not
    reproduce the pipeline's ``predict_proba`` on probe inputs (then the bundle keeps the pickle).
    """
    steps = [step for _, step in pipeline.steps] if isinstance(pipeline, Pipeline) else [pipeline]
    *scalers, classifier = [step for step in steps if step not in (None, "passthrough")]
    coef = np.asarray(getattr(classifier, "coef_", np.empty((0, 0))), dtype=np.float64)
    if coef.shape != (1, n_features) or not all(isinstance(s, StandardScaler) for s in scalers):
        return None
    weights, intercept = coef[0], float(np.ravel(classifier.intercept_)[0])
    # Apply the scalers backwards: w · (x - mean) / scale = (w / scale) · x - (w / scale) · mean.
    for scaler in reversed(scalers):
        scale = scaler.scale_ if scaler.with_std else np.ones(n_features)
        mean = scaler.mean_ if scaler.with_mean else np.zeros(n_features)
        weights = weights / scale
        intercept -= float(weights @ mean)
    folded = LinearScorer(weights=weights, intercept=intercept)
    return folded if _reproduces(folded, pipeline, scalers, n_features) else None


def _reproduces(folded: LinearScorer, pipeline, scalers: list, n_features: int) -> bool:
    """True when ``folded`` gives the pipeline's target probabilities on typical inputs."""
    rng = np.random.default_rng(0)
    probe = rng.standard_normal((_PROBE_EPOCHS, n_features))
    if scalers:
        probe = probe * scalers[0].scale_ + scalers[0].mean_
    probe = probe.astype(np.float32)
    expected = pipeline.predict_proba(probe)[:, 1]
    return bool(np.allclose(folded.score(probe)[1], expected, rtol=1e-5, atol=1e-6))


def build_bundle(
    tracking_uri: str,
    model_name: str,
    alias_or_version: str | int,
    out_dir: str | Path,
    *,
    schema_artifact: str | None = None,
) -> Path:
    """Write the bundle of one registered MLflow model version.

    Parameters
    ----------
    tracking_uri : str
        MLflow tracking (and registry) URI, e.g. ``http://127.0.0.1:5000`` or ``sqlite:///m.db``.
    model_name : str
        Registered model name, e.g. ``P300-Classifier``.
    alias_or_version : str or int
        An alias (``champion``) or a version number (``3`` or ``"3"``).
    out_dir : path
    schema_artifact : str, optional
        Run artifact holding the `FeaturesSchemaInfo` JSON; by default `SCHEMA_ARTIFACTS` are
        tried, then any top-level JSON artifact that parses as one.

    Raises
    ------
    LookupError
        When the model, alias or version does not exist, or the run has no features schema.
    """
    # Imported here: mlflow takes ~2 s to import and only building from MLflow needs it.
    import mlflow.artifacts
    import mlflow.sklearn
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    alias = None if str(alias_or_version).isdigit() else str(alias_or_version)
    try:
        if alias is None:
            version = client.get_model_version(model_name, str(alias_or_version))
        else:
            version = client.get_model_version_by_alias(model_name, alias)
    except MlflowException as exc:
        kind = "version" if alias is None else "alias"
        raise LookupError(
            f"registered model {model_name!r} has no {kind} {str(alias_or_version)!r} at "
            f"{tracking_uri}: {exc.message}"
        ) from exc
    with tempfile.TemporaryDirectory() as scratch:
        # The artifact location itself: a models:/ URI would be resolved against the global
        # registry URI, not this client's (MLflow 3.17).
        local_model = mlflow.artifacts.download_artifacts(
            artifact_uri=client.get_model_version_download_uri(model_name, version.version),
            dst_path=str(Path(scratch) / "model"),
            tracking_uri=tracking_uri,
        )
        pipeline = mlflow.sklearn.load_model(local_model)
        schema = _run_features_schema(
            version.run_id, tracking_uri, Path(scratch) / "run", schema_artifact
        )
    run = client.get_run(version.run_id)
    return write_bundle(
        pipeline,
        out_dir,
        name=model_name,
        version=str(version.version),
        alias=alias,
        run_id=version.run_id,
        metrics=dict(run.data.metrics),
        features_schema=schema,
        **model_identity(run.data.tags, client.get_registered_model(model_name).tags, version.tags),
    )


def model_identity(*tag_sets: dict[str, str]) -> dict:
    """``{"kind", "study", "subject"}`` from MLflow tags (`KIND_TAG`, `STUDY_TAG`,
    `SUBJECT_TAG`), later tag sets winning (run, registered model, model version); a model
    tagged with none is a population model of `DEFAULT_STUDY` (trained before studies)."""
    merged = {key: value for tags in tag_sets for key, value in (tags or {}).items()}
    subject = merged.get(SUBJECT_TAG)
    kind = merged.get(KIND_TAG) or (SUBJECT if subject else POPULATION)
    return {
        "kind": kind,
        "study": merged.get(STUDY_TAG) or DEFAULT_STUDY,
        "subject": subject if kind == SUBJECT else None,
    }


def zip_bundle(bundle_dir: Path, archive: zipfile.ZipFile, *, prefix: str = "") -> None:
    """Add every file of a bundle directory to ``archive``, under ``prefix``."""
    for path in sorted(Path(bundle_dir).rglob("*")):
        if path.is_file():
            archive.write(path, f"{prefix}{path.relative_to(bundle_dir)}")


def build_zipped_bundle(
    tracking_uri: str, model_name: str, alias_or_version: str | int
) -> tuple[bytes, ServedModel]:
    """The bundle of one registered model version as the bytes of a zip file, and the bundle
    loaded (see `build_bundle`)."""
    with tempfile.TemporaryDirectory() as scratch:
        bundle = build_bundle(tracking_uri, model_name, alias_or_version, Path(scratch) / "b")
        served = load_bundle(bundle)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            zip_bundle(bundle, archive)
    return buffer.getvalue(), served


def _run_features_schema(
    run_id: str, tracking_uri: str, scratch: Path, schema_artifact: str | None
) -> FeaturesSchemaInfo:
    """The training run's `FeaturesSchemaInfo` from its JSON artifact (see `build_bundle`)."""
    from mlflow import artifacts  # already imported by build_bundle, the only caller

    listed = [a.path for a in artifacts.list_artifacts(run_id=run_id, tracking_uri=tracking_uri)]
    json_files = [path for path in listed if path.endswith(".json")]
    if schema_artifact is not None:
        candidates = [schema_artifact]
    else:
        preferred = [name for name in SCHEMA_ARTIFACTS if name in json_files]
        candidates = preferred + [path for path in json_files if path not in preferred]
    for candidate in candidates:
        local = artifacts.download_artifacts(
            run_id=run_id, artifact_path=candidate, dst_path=str(scratch), tracking_uri=tracking_uri
        )
        try:
            return FeaturesSchemaInfo.from_dict(json.loads(Path(local).read_text()))
        except (ValueError, TypeError, KeyError):
            continue
    raise LookupError(
        f"run {run_id} has no features schema JSON artifact (tried {candidates}; run artifacts: "
        f"{listed}); log p300.features_io.FeaturesSchemaInfo.to_dict() as e.g. "
        f"{SCHEMA_ARTIFACTS[0]!r}"
    )
