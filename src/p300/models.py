"""Classifier pipelines for single-flash P300 detection, selected by name.

Every pipeline takes the same input, so callers never branch on the model:

- ``X`` : ndarray, shape (n_epochs, n_channels * n_times)
  Epochs flattened channel-major (channels × time), in µV, as in
  :attr:`p300.types.EpochFeatures.features`.
- ``y`` : ndarray, shape (n_epochs,)
  1 target, 0 non-target.

and exposes ``predict`` (labels 0/1), ``predict_proba`` and ``decision_function`` (a continuous
score, larger means more target-like). Pipelines are plain scikit-learn objects built only from
module-level classes, so they pickle (MLflow artifacts, Lambda loading).

The Riemannian models see the epochs as (channels × time) matrices, so they need the channel
count: pass ``n_channels=len(schema.ch_names)`` from the features schema
(`p300.features_io.FeaturesSchemaInfo`); any montage works. LDA takes any feature vector.

>>> model = make_model("lda")
>>> model = make_model("xdawn-riemann", n_channels=8, nfilter=4, C=1.0)
>>> model = make_model("xdawn-mdm", n_channels=4)
"""

import inspect
from collections.abc import Callable

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

DEFAULT_MODEL = "lda"


class EpochReshaper(TransformerMixin, BaseEstimator):
    """Turn flattened epoch vectors back into epoch tensors.

    Parameters
    ----------
    n_channels : int
        Number of EEG channels in each flattened vector.

    Notes
    -----
    ``transform`` maps X, shape (n_epochs, n_channels * n_times), flattened channel-major, to
    shape (n_epochs, n_channels, n_times). It is stateless; ``fit`` only checks the shape.
    """

    def __init__(self, n_channels: int):
        self.n_channels = n_channels

    def fit(self, X, y=None):
        self._reshape(X)
        return self

    def transform(self, X):
        return self._reshape(X)

    def _reshape(self, X) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(
                f"X must be 2-D, shape (n_epochs, n_channels * n_times); got shape {X.shape}"
            )
        if self.n_channels < 1 or X.shape[1] % self.n_channels:
            raise ValueError(
                f"X has {X.shape[1]} features per epoch, not a multiple of "
                f"n_channels={self.n_channels}"
            )
        return X.reshape(X.shape[0], self.n_channels, -1)


def make_lda(*, shrinkage: float | str = "auto") -> Pipeline:
    """System A's classifier: StandardScaler + shrinkage LDA (lsqr solver).

    Parameters
    ----------
    shrinkage : float in [0, 1] or "auto"
        LDA covariance shrinkage; "auto" uses the Ledoit-Wolf estimate.

    Returns
    -------
    Pipeline
        Expects X, shape (n_epochs, n_features): any feature vector, typically flattened epochs.
    """
    if shrinkage != "auto" and not (
        isinstance(shrinkage, int | float) and 0.0 <= float(shrinkage) <= 1.0
    ):
        raise ValueError(f"shrinkage must be 'auto' or a number in [0, 1]; got {shrinkage!r}")
    return Pipeline(
        [
            ("scaler", StandardScaler()),
            ("lda", LinearDiscriminantAnalysis(solver="lsqr", shrinkage=shrinkage)),
        ]
    )


def make_xdawn_riemann(
    *, n_channels: int, nfilter: int = 4, C: float = 1.0, estimator: str = "lwf"
) -> Pipeline:
    """Xdawn covariances + Riemannian tangent space + logistic regression (MOABB's best P300
    pipeline family).

    Parameters
    ----------
    n_channels : int
        Channels in each flattened input vector: the features schema's ``len(ch_names)``.
    nfilter : int
        Xdawn spatial filters per class (at most ``n_channels`` are used).
    C : float > 0
        Inverse L2 regularisation strength of the logistic regression.
    estimator : str
        pyriemann covariance estimator ("lwf" shrinks, which keeps short epochs well conditioned;
        "scm" is the plain sample covariance).

    Returns
    -------
    Pipeline
        Expects X, shape (n_epochs, n_channels * n_times), flattened channel-major, in µV.
    """
    _check_structure(n_channels=n_channels, nfilter=nfilter)
    if not isinstance(C, int | float) or C <= 0:
        raise ValueError(f"C must be a positive number; got {C!r}")
    # Imported here: pyriemann (and the pyplot it imports) is half a second of every cold start
    # of the training function, which mostly fits System A's LDA.
    from pyriemann.estimation import XdawnCovariances
    from pyriemann.tangentspace import TangentSpace

    return Pipeline(
        [
            ("reshape", EpochReshaper(n_channels=n_channels)),
            ("xdawn_cov", XdawnCovariances(nfilter=nfilter, estimator=estimator)),
            ("tangent", TangentSpace(metric="riemann")),
            ("logreg", LogisticRegression(C=C, max_iter=1000)),
        ]
    )


def make_xdawn_mdm(*, n_channels: int, nfilter: int = 4, estimator: str = "lwf") -> Pipeline:
    """Xdawn covariances + minimum distance to the class means on the Riemannian manifold.

    ``n_channels``, ``nfilter`` and ``estimator`` are as in `make_xdawn_riemann`. The pipeline
    expects X, shape (n_epochs, n_channels * n_times), flattened channel-major, in µV.
    """
    _check_structure(n_channels=n_channels, nfilter=nfilter)
    from pyriemann.estimation import XdawnCovariances

    return Pipeline(
        [
            ("reshape", EpochReshaper(n_channels=n_channels)),
            ("xdawn_cov", XdawnCovariances(nfilter=nfilter, estimator=estimator)),
            ("mdm", MinimumDistance()),
        ]
    )


class MinimumDistance(ClassifierMixin, BaseEstimator):
    """pyRiemann's MDM with a ``decision_function``: the log-odds of the target class.

    MDM's ``predict_proba`` is a softmax of minus the squared Riemannian distances to the class
    means, so ``d²(non-target) - d²(target)`` is its log-odds: larger means more target-like, and
    the decoders can sum it over flashes like any other score.

    Parameters
    ----------
    metric : str
        Riemannian metric of the means and distances.
    """

    def __init__(self, metric: str = "riemann"):
        self.metric = metric

    def fit(self, X, y):
        """X: covariance matrices, shape (n_epochs, n, n); y: shape (n_epochs,) of 0/1."""
        from pyriemann.classification import MDM

        self.mdm_ = MDM(metric=self.metric).fit(X, y)
        self.classes_ = self.mdm_.classes_
        return self

    def decision_function(self, X) -> np.ndarray:
        distances = self.mdm_.transform(X)
        return distances[:, 0] ** 2 - distances[:, 1] ** 2

    def predict_proba(self, X) -> np.ndarray:
        return self.mdm_.predict_proba(X)

    def predict(self, X) -> np.ndarray:
        return self.mdm_.predict(X)


def _check_structure(*, n_channels: int, nfilter: int) -> None:
    for name, value in (("n_channels", n_channels), ("nfilter", nfilter)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")


_BUILDERS: dict[str, Callable[..., Pipeline]] = {
    "lda": make_lda,
    "xdawn-riemann": make_xdawn_riemann,
    "xdawn-mdm": make_xdawn_mdm,
}

#: Names accepted by :func:`make_model`; the first is the default (System A's).
MODEL_NAMES: tuple[str, ...] = tuple(_BUILDERS)
#: What a model is built for rather than tuned by: taken from the features schema.
_STRUCTURE = "n_channels"


def model_params(name: str) -> dict[str, object]:
    """The tunable hyperparameters of model ``name`` with their default values."""
    parameters = inspect.signature(_builder(name)).parameters.values()
    return {p.name: p.default for p in parameters if p.name != _STRUCTURE}


def needs_channels(name: str) -> bool:
    """Whether model ``name`` needs ``n_channels`` (it reads the epochs as channels × time)."""
    return _STRUCTURE in inspect.signature(_builder(name)).parameters


def make_model(
    name: str = DEFAULT_MODEL,
    *,
    n_channels: int | None = None,
    time_selection: TransformerMixin | None = None,
    **params,
) -> Pipeline:
    """Build an unfitted classifier pipeline by name.

    Parameters
    ----------
    name : str
        One of :data:`MODEL_NAMES`.
    n_channels : int, optional
        Channels in each flattened epoch, the features schema's ``len(ch_names)``. Required by
        the models that read channels (`needs_channels`), ignored by LDA.
    time_selection : transformer, optional
        Crop/decimate the epochs first, inside the pipeline, so the fitted model still takes
        the full feature vector (`p300.feature_selection.make_time_selector`).
    **params
        Hyperparameters of that model (see :func:`model_params`).

    Returns
    -------
    Pipeline
        Expects X, shape (n_epochs, n_channels * n_times), and y, shape (n_epochs,) of 0/1.
    """
    builder = _builder(name)
    unknown = sorted(set(params) - set(model_params(name)))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {unknown} for model {name!r}; "
            f"allowed: {sorted(model_params(name))}"
        )
    if needs_channels(name):
        if n_channels is None:
            raise ValueError(
                f"model {name!r} needs n_channels, the channel count of its features schema "
                "(len(ch_names)); got None"
            )
        params[_STRUCTURE] = n_channels
    model = builder(**params)
    if time_selection is None:
        return model
    return Pipeline([("time_selection", time_selection), *model.steps])


def _builder(name: str) -> Callable[..., Pipeline]:
    if name not in _BUILDERS:
        raise ValueError(f"model name must be one of {list(MODEL_NAMES)}; got {name!r}")
    return _BUILDERS[name]
