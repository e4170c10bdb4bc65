"""Features of two short synthetic sessions, shared by the serving tests that train a model."""

import numpy as np

from p300.features_io import features_schema_info
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
