"""A tiny model trained on synthetic sessions, shared by the serving and the release tests."""

import pytest
from threadpoolctl import threadpool_limits

from p300.models import make_model
from tests.synthetic_features import two_session_features


@pytest.fixture(scope="session")
def training():
    """Features of two short synthetic sessions: (X, y, schema info)."""
    return two_session_features()


@pytest.fixture(scope="session")
def pipeline(training):
    features, labels, _ = training
    # One BLAS thread: on a busy 2-core machine, threads fighting over cores make the fit 5× slower.
    with threadpool_limits(1):
        return make_model("lda").fit(features, labels)
