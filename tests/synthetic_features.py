"""Synthetic features and models shared by the tests that need a trained classifier."""

import numpy as np
from threadpoolctl import threadpool_limits

from p300.features_io import FeaturesSchemaInfo, features_schema_info
from p300.models import make_model
from p300.preprocessing import preprocess
from p300.synthetic import make_session


def two_session_features():
    """(features shape (n_epochs, n_features) in µV, labels shape (n_epochs,), schema info)."""
    sessions = [
        preprocess(make_session(seed=seed, subject=f"{seed:02d}", duration_s=30.0,
                                bad_channel_prob=0.0))
        for seed in (1, 2)
    ]  # fmt: skip
    features = np.concatenate([s.features for s in sessions])
    labels = np.concatenate([s.labels for s in sessions])
    return features, labels, features_schema_info(sessions[0])


def six_subject_lda() -> tuple[object, FeaturesSchemaInfo]:
    """System A's LDA fitted on six synthetic Brain Invaders subjects (200 s each), and the
    features schema it expects."""
    sessions = [preprocess(make_session(seed=100 + n, subject=f"{n:02d}", duration_s=200.0))
                for n in range(6)]  # fmt: skip
    features = np.concatenate([s.features for s in sessions])
    labels = np.concatenate([s.labels for s in sessions])
    with threadpool_limits(1):
        model = make_model("lda").fit(features, labels)
    return model, features_schema_info(sessions[0])
