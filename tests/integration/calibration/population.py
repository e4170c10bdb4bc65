"""A population model for the calibration tests: System A's LDA on synthetic subjects (study
system-a), registered as a training would register it and released to champion."""

import uuid

import numpy as np
from threadpoolctl import threadpool_limits

from p300.models import make_model
from p300_aws.names import CHAMPION_ALIAS
from p300_ops.services import release
from tests.registered_models import register_as_training_does
from tests.synthetic_features import two_session_features


def release_population_champion(
    tracking_uri: str, lambda_client, apigateway
) -> tuple[str, np.ndarray]:
    """Its MLflow version, and feature vectors it takes (shape (n_epochs, n_features), µV)."""
    x, y, schema = two_session_features()
    with threadpool_limits(1):
        model = make_model("lda").fit(x, y)
    experiment = f"population-{uuid.uuid4().hex[:6]}"
    version = register_as_training_does(tracking_uri, experiment, model, schema)
    release.deploy_model(lambda_client, apigateway, tracking_uri, CHAMPION_ALIAS,
                         model_version=version)  # fmt: skip
    return version, x
