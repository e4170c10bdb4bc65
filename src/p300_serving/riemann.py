"""The Riemannian pipelines of `p300.models` scored with numpy alone.

The prediction Lambda has no scikit-learn, scipy or pyRiemann (they would not fit next to its
other layers in AWS's 250 MB), so a fitted ``xdawn-riemann`` or ``xdawn-mdm`` pipeline is served
from its fitted arrays (`RiemannScorer`, bundle file ``riemann.npz``); the bundle builder checks
that the arrays reproduce the pipeline's scores before it writes them
(`p300_ops.services.model_bundles`). The computation, for flattened epochs in µV:

1. reshape to (n_epochs, n_channels, n_times); apply the Xdawn spatial filters (n_filters,
   n_channels); put the class prototypes (n_prototypes, n_times) on top;
2. the Ledoit–Wolf shrunk covariance of each epoch's (n_prototypes + n_filters) signals, as
   scikit-learn's ``ledoit_wolf`` computes it (pyRiemann's ``lwf`` estimator);
3. ``xdawn-riemann``: the tangent vector at the reference ``Cref``: the upper triangle of
   ``logm(Cref^-1/2 C Cref^-1/2)``, off-diagonal terms times √2, then the logistic regression;
   ``xdawn-mdm``: the squared affine-invariant distances to the two class means, the decision
   being d²(non-target) − d²(target) (`p300.models.MinimumDistance`).
"""

from dataclasses import dataclass

import numpy as np

TANGENT, MDM = "tangent", "mdm"
#: Arrays of ``riemann.npz``; ``reference_invsqrt``/``coef``/``intercept`` for the tangent
#: kind, ``means_invsqrt`` for MDM.
ARRAYS = ("n_channels", "filters", "prototypes", "reference_invsqrt", "coef", "intercept",
          "means_invsqrt")  # fmt: skip


@dataclass(frozen=True)
class RiemannScorer:
    """A fitted Xdawn-covariance pipeline as arrays (see the module docstring).

    Attributes
    ----------
    n_channels : int
    filters : ndarray, shape (n_filters, n_channels)
    prototypes : ndarray, shape (n_prototypes, n_times)
    reference_invsqrt : ndarray, shape (n, n), optional
        ``Cref^-1/2`` of the tangent space, n = n_prototypes + n_filters.
    coef : ndarray, shape (n * (n + 1) / 2,), optional
    intercept : float
    means_invsqrt : ndarray, shape (2, n, n), optional
        ``M^-1/2`` of the non-target and target class means (MDM).
    """

    n_channels: int
    filters: np.ndarray
    prototypes: np.ndarray
    reference_invsqrt: np.ndarray | None = None
    coef: np.ndarray | None = None
    intercept: float = 0.0
    means_invsqrt: np.ndarray | None = None

    @property
    def kind(self) -> str:
        return MDM if self.means_invsqrt is not None else TANGENT

    def score(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Decision scores and target probabilities, each shape (n_epochs,), of flattened epochs
        ``features`` shape (n_epochs, n_channels * n_times), µV."""
        covariances = self.covariances(features)
        if self.kind == MDM:
            non_target, target = (_squared_distances(covariances, m) for m in self.means_invsqrt)
            decision = non_target - target
        else:
            decision = tangent_vectors(covariances, self.reference_invsqrt) @ self.coef
            decision = decision + self.intercept
        return decision, logistic(decision)

    def covariances(self, features: np.ndarray) -> np.ndarray:
        """Xdawn covariances, shape (n_epochs, n, n)."""
        epochs = np.asarray(features, dtype=np.float64).reshape(len(features), self.n_channels, -1)
        filtered = self.filters @ epochs
        prototypes = np.broadcast_to(self.prototypes, (len(epochs), *self.prototypes.shape))
        return ledoit_wolf(np.concatenate([prototypes, filtered], axis=1))

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays of ``riemann.npz`` (the absent ones left out)."""
        values = {name: getattr(self, name) for name in ARRAYS}
        return {name: np.asarray(value) for name, value in values.items() if value is not None}

    @classmethod
    def from_arrays(cls, arrays) -> "RiemannScorer":
        """Inverse of `arrays`; raises KeyError naming an array the kind needs and lacks."""
        present = {name: arrays[name] for name in ARRAYS if name in arrays}
        scorer = cls(
            n_channels=int(present["n_channels"]), filters=present["filters"],
            prototypes=present["prototypes"],
            reference_invsqrt=present.get("reference_invsqrt"), coef=present.get("coef"),
            intercept=float(present.get("intercept", 0.0)),
            means_invsqrt=present.get("means_invsqrt"),
        )  # fmt: skip
        if scorer.kind == TANGENT and (scorer.reference_invsqrt is None or scorer.coef is None):
            raise KeyError("reference_invsqrt and coef")
        return scorer


def ledoit_wolf(signals: np.ndarray) -> np.ndarray:
    """Ledoit–Wolf shrunk covariances, shape (n_epochs, n, n), of ``signals`` shape
    (n_epochs, n, n_times): scikit-learn's ``ledoit_wolf(signal.T)`` for each epoch."""
    centered = signals - signals.mean(axis=-1, keepdims=True)
    n, n_samples = centered.shape[-2:]
    empirical = centered @ centered.swapaxes(-1, -2) / n_samples
    squared = centered**2
    trace = np.trace(empirical, axis1=-2, axis2=-1)
    mu = trace / n
    beta_sum = (squared @ squared.swapaxes(-1, -2)).sum(axis=(-2, -1))
    delta_sum = (empirical**2).sum(axis=(-2, -1))
    beta = (beta_sum / n_samples - delta_sum) / (n * n_samples)
    delta = (delta_sum - 2.0 * mu * trace + n * mu**2) / n
    beta = np.minimum(beta, delta)
    shrinkage = np.divide(beta, delta, out=np.zeros_like(beta), where=beta != 0)
    shrunk = (1.0 - shrinkage)[:, None, None] * empirical
    shrunk[:, np.arange(n), np.arange(n)] += (shrinkage * mu)[:, None]
    return shrunk


def tangent_vectors(covariances: np.ndarray, reference_invsqrt: np.ndarray) -> np.ndarray:
    """Upper triangles (off-diagonal × √2), shape (n_epochs, n (n + 1) / 2), of
    ``logm(Cref^-1/2 C Cref^-1/2)``."""
    logs = _spd_function(reference_invsqrt @ covariances @ reference_invsqrt, np.log)
    n = logs.shape[-1]
    rows, cols = np.triu_indices(n)
    weights = np.where(rows == cols, 1.0, np.sqrt(2.0))
    return logs[:, rows, cols] * weights


def spd_power(matrix: np.ndarray, power: float) -> np.ndarray:
    """``matrix ** power`` of symmetric positive definite matrices (..., n, n)."""
    return _spd_function(matrix, lambda values: values**power)


def _squared_distances(covariances: np.ndarray, mean_invsqrt: np.ndarray) -> np.ndarray:
    """Squared affine-invariant distances of each covariance to the mean, shape (n_epochs,)."""
    values = np.linalg.eigvalsh(mean_invsqrt @ covariances @ mean_invsqrt)
    return (np.log(values) ** 2).sum(axis=-1)


def _spd_function(matrix: np.ndarray, function) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * function(values)[..., None, :]) @ vectors.swapaxes(-1, -2)


def logistic(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)), computed without overflow on both sides of zero."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
