"""Fold a fitted Riemannian pipeline of `p300.models` into the arrays the prediction service
scores with numpy (`p300_serving.riemann.RiemannScorer`), checked against the pipeline."""

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from p300.models import EpochReshaper, MinimumDistance
from p300_serving.riemann import RiemannScorer, spd_power

_PROBE_EPOCHS = 32
#: The covariance estimator the numpy scorer computes (pyRiemann's name for Ledoit–Wolf).
_ESTIMATOR = "lwf"


def riemann_scorer(pipeline, n_features: int) -> RiemannScorer | None:
    """The scorer of a fitted ``xdawn-riemann`` or ``xdawn-mdm`` pipeline, or None when the
    pipeline is of another shape or the scorer does not reproduce its decision scores."""
    from pyriemann.estimation import XdawnCovariances
    from pyriemann.tangentspace import TangentSpace

    steps = [step for _, step in pipeline.steps] if isinstance(pipeline, Pipeline) else []
    if len(steps) < 3 or not isinstance(steps[0], EpochReshaper):
        return None
    reshape, covariances, *head = steps
    plain_covariances = (
        isinstance(covariances, XdawnCovariances) and covariances.applyfilters
        and covariances.estimator == _ESTIMATOR and not covariances.kwds
    )  # fmt: skip
    if not plain_covariances or n_features % reshape.n_channels:
        return None
    arrays = {
        "n_channels": reshape.n_channels,
        "filters": np.asarray(covariances.Xd_.filters_, dtype=np.float64),
        "prototypes": np.asarray(covariances.P_, dtype=np.float64),
    }
    match head:
        case [TangentSpace() as tangent, LogisticRegression() as regression] if (
            tangent.metric == "riemann" and not tangent.tsupdate and regression.coef_.shape[0] == 1
        ):
            scorer = RiemannScorer(
                **arrays, reference_invsqrt=spd_power(tangent.reference_, -0.5),
                coef=regression.coef_[0].astype(np.float64),
                intercept=float(regression.intercept_[0]),
            )  # fmt: skip
        case [MinimumDistance() as mdm] if mdm.metric == "riemann":
            scorer = RiemannScorer(**arrays, means_invsqrt=spd_power(mdm.mdm_.covmeans_, -0.5))
        case _:
            return None
    return scorer if _reproduces(scorer, pipeline, n_features) else None


def _reproduces(scorer: RiemannScorer, pipeline, n_features: int) -> bool:
    """True when ``scorer`` gives the pipeline's decision scores on EEG-like random epochs."""
    probe = np.random.default_rng(0).normal(0.0, 10.0, (_PROBE_EPOCHS, n_features))
    probe = probe.astype(np.float32)
    expected = pipeline.decision_function(probe)
    return bool(np.allclose(scorer.score(probe)[0], expected, rtol=1e-6, atol=1e-6))
