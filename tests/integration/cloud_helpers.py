"""Shared by the integration tests: a local cloud on free ports, and the processes it runs."""

from pathlib import Path

import psutil

from p300_ops.localcloud import lifecycle
from p300_ops.localcloud.processes import free_port


def cloud_config(home: Path, *, backend: str = "sqlite") -> lifecycle.CloudConfig:
    return lifecycle.CloudConfig(
        home=home,
        localstack_port=free_port(),
        mlflow_port=free_port(),
        postgres_port=free_port(),
        backend=backend,
    )


def process_family(state: lifecycle.CloudState) -> list[psutil.Process]:
    """Every live process `up` started, with all their descendants."""
    family = []
    for server in state.servers.values():
        proc = server.process()
        if proc is not None:
            family += [proc, *proc.children(recursive=True)]
    return family


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    return [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def register_model(tracking_uri: str, experiment: str, model, schema) -> str:
    """Log a fitted ``model`` with its features ``schema`` (`FeaturesSchemaInfo`) in a new run of
    ``experiment`` and register it as a new version of the platform's model, as a training
    does; returns the version. Pickled: these models serve tests, not users."""
    import mlflow.sklearn
    from mlflow import MlflowClient

    from p300_aws.names import REGISTERED_MODEL

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    run = client.create_run(found.experiment_id if found else client.create_experiment(experiment))
    client.log_dict(run.info.run_id, schema.to_dict(), "features_schema.json")
    mlflow.set_tracking_uri(tracking_uri)
    try:
        with mlflow.start_run(run_id=run.info.run_id):
            info = mlflow.sklearn.log_model(
                model, name="model", registered_model_name=REGISTERED_MODEL,
                serialization_format="pickle", pip_requirements=["scikit-learn"],
            )  # fmt: skip
    finally:
        mlflow.set_tracking_uri(None)
    return str(info.registered_model_version)
