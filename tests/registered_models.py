"""Models registered in MLflow the way a training registers them, for the tests that serve,
release or check a registered model: the training's own logging calls (`MlflowTracker`), so the
model is stored in MLflow's skops format with the features schema artifact training writes."""

from p300.features_io import FeaturesSchemaInfo
from p300_aws.mlflow_tracking import MlflowTracker, json_bytes
from p300_aws.names import REGISTERED_MODEL
from p300_aws.training import _pip_requirements

#: The name under which `p300_aws.training` logs a run's features schema.
SCHEMA_ARTIFACT = "feature_schema.json"


def register_as_training_does(
    tracking_uri: str,
    experiment: str,
    model,
    schema: FeaturesSchemaInfo | None,
    *,
    model_name: str = "lda",
    alias: str | None = None,
    name: str = REGISTERED_MODEL,
) -> str:
    """Log the fitted ``model`` (made by `p300.models.make_model(model_name)`) in a new run of
    ``experiment`` with its features ``schema`` (none when None), end the run and register the
    model as a new version of ``name`` with ``alias``; returns the version.

    ``experiment`` is created when missing; create it first with an ``artifact_location`` for a
    file-backed registry.
    """
    tracker = MlflowTracker(tracking_uri)
    run_id = tracker.start_run(experiment, run_name=f"{model_name}-test", tags={})
    logged = tracker.log_sklearn_model(
        run_id, model, pip_requirements=_pip_requirements(model_name)
    )
    if schema is not None:
        tracker.log_files(run_id, {SCHEMA_ARTIFACT: json_bytes(schema.to_dict())})
    tracker.end_run(run_id)
    return tracker.register(logged.uri, run_id, name=name, alias=alias)
