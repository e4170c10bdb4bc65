"""The model bundle as the prediction service loads it: numpy, JSON and (rarely) pickle only.

Bundle layout (format version 1), a directory or a zip file holding the same files:

- ``bundle.json``: ``format_version``, ``model`` (``name``, ``version``, ``alias``, ``run_id``,
  and ``kind``, ``study``, ``subject``: a ``population`` model trained across the subjects of
  ``study``, or one ``subject``'s own calibrated model; a bundle without them is a population
  model of `DEFAULT_STUDY`), ``metrics``, ``features_schema``
  (`p300.features_io.FeaturesSchemaInfo.to_dict`, including the preprocessing ``params``),
  ``scorer`` (``"linear"`` or ``"pickle"``), ``created_at``.
- ``linear.npz`` (scorer ``linear``): ``weights`` shape (n_features,) and ``intercept`` shape (),
  the fitted pipeline folded into one linear function whose logistic is the target probability.
- ``riemann.npz`` (scorer ``riemann``): the arrays of a fitted Xdawn-covariance pipeline
  (``xdawn-riemann``, ``xdawn-mdm``), scored with numpy alone (`p300_serving.riemann`).
- ``model.pkl``: the fitted scikit-learn pipeline, always written; loaded only by scorer
  ``pickle`` (any other pipeline), which needs scikit-learn (and pyRiemann): not in the
  prediction Lambda, so such a bundle serves only where they are installed.
"""

import io
import json
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from p300_serving.riemann import RiemannScorer, logistic

FORMAT_VERSION = 1
INFO_FILE, LINEAR_FILE, PICKLE_FILE = "bundle.json", "linear.npz", "model.pkl"
RIEMANN_FILE = "riemann.npz"
SCORERS = ("linear", "riemann", "pickle")
#: What a model was trained on: many subjects of a study, or one subject.
POPULATION, SUBJECT = "population", "subject"
#: The study of a bundle that names none: System A's, the study of everything without one.
DEFAULT_STUDY = "system-a"


class BundleError(ValueError):
    """A model bundle is missing, unreadable or inconsistent."""


class Scorer(Protocol):
    def score(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Decision scores (log-odds of target) and target probabilities, each (n_epochs,)."""
        ...


@dataclass(frozen=True)
class LinearScorer:
    """A binary linear classifier: decision = features · weights + intercept, P = logistic.

    Attributes
    ----------
    weights : ndarray, shape (n_features,)
        float64, per µV of each feature.
    intercept : float
    """

    weights: np.ndarray
    intercept: float

    def score(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Log-odds and probability of target, each shape (n_epochs,).

        ``features`` has shape (n_epochs, n_features), µV.
        """
        decision = features.astype(np.float64, copy=False) @ self.weights + self.intercept
        return decision, logistic(decision)


@dataclass(frozen=True)
class PipelineScorer:
    """Any fitted scikit-learn classifier with ``predict_proba``; classes must be [0, 1]."""

    pipeline: object

    def score(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        probability = np.asarray(self.pipeline.predict_proba(features)[:, 1], dtype=np.float64)
        if hasattr(self.pipeline, "decision_function"):
            return np.asarray(self.pipeline.decision_function(features), np.float64), probability
        clipped = np.clip(probability, 1e-12, 1 - 1e-12)
        return np.log(clipped / (1 - clipped)), probability


@dataclass(frozen=True)
class ModelInfo:
    """What a bundle says about its model.

    Attributes
    ----------
    name, version, alias, run_id : str or None
        The MLflow registered model, its version, the alias it was built for, its training run.
    kind : {'population', 'subject'}
        Trained across a study's subjects, or calibrated for one subject.
    study : str
        The study whose features (preprocessing profile) the model was trained on.
    subject : str or None
        The subject of a ``subject`` model.
    metrics : dict of str to float
        The training run's metrics.
    features_schema : dict
        `FeaturesSchemaInfo.to_dict()` of the training features; ``params`` are the preprocessing
        parameters the service applies to raw windows.
    """

    name: str
    version: str | None
    alias: str | None
    run_id: str | None
    metrics: dict = field(default_factory=dict)
    features_schema: dict = field(default_factory=dict)
    kind: str = POPULATION
    study: str = DEFAULT_STUDY
    subject: str | None = None

    @property
    def n_features(self) -> int:
        return int(self.features_schema["n_features"])

    @property
    def ch_names(self) -> tuple[str, ...]:
        return tuple(self.features_schema["ch_names"])

    def reference(self) -> dict:
        """``{"name", "version", "alias", "run_id", "kind", "study", "subject"}``: which model
        answered."""
        return {"name": self.name, "version": self.version, "alias": self.alias,
                "run_id": self.run_id, "kind": self.kind, "study": self.study,
                "subject": self.subject}  # fmt: skip


@dataclass(frozen=True)
class ServedModel:
    """A loaded bundle: its description and the scorer that predicts."""

    info: ModelInfo
    scorer: Scorer

    def predict(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Labels (0/1), target probabilities and decision scores, each shape (n_epochs,).

        Parameters
        ----------
        features : ndarray, shape (n_epochs, n_features)
            Flattened epochs in µV; cast to float32 like the training features.
        """
        decision, probability = self.scorer.score(np.asarray(features, dtype=np.float32))
        return (probability > 0.5).astype(np.int8), probability, decision


def load_bundle(path: str | Path) -> ServedModel:
    """Load a bundle directory or zip file (written by ``write_bundle`` of the release code).

    Raises
    ------
    BundleError
        When the path holds no bundle, or its files are unreadable or inconsistent.
    """
    return _load(_BundleFiles(Path(path)), path)


def load_bundle_bytes(data: bytes, *, source: str) -> ServedModel:
    """Load a bundle from the bytes of its zip file; ``source`` names it in errors.

    Raises
    ------
    BundleError
        As `load_bundle`.
    """
    return _load(_ZippedBundle(data, source), source)


def _load(files: "_BundleFiles | _ZippedBundle", path: str | Path) -> ServedModel:
    try:
        description = json.loads(files.read(INFO_FILE))
    except (KeyError, FileNotFoundError, json.JSONDecodeError) as exc:
        raise BundleError(f"no readable {INFO_FILE} in the model bundle at {path}: {exc}") from exc
    version = description.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(
            f"model bundle at {path} has format_version {version!r}; this service reads "
            f"{FORMAT_VERSION}"
        )
    try:
        info = ModelInfo(**description["model"], metrics=description.get("metrics", {}),
                         features_schema=description["features_schema"])  # fmt: skip
    except (KeyError, TypeError) as exc:
        raise BundleError(f"{INFO_FILE} in {path} lacks or garbles {exc}") from exc
    missing = sorted({"ch_names", "n_features", "params"} - set(info.features_schema))
    if missing:
        raise BundleError(f"features_schema in {INFO_FILE} of {path} lacks {missing}")
    if info.kind not in (POPULATION, SUBJECT):
        raise BundleError(
            f"model kind in {INFO_FILE} of {path} must be {POPULATION!r} or {SUBJECT!r}, got "
            f"{info.kind!r}"
        )
    scorer_kind = description.get("scorer")
    if scorer_kind == "linear":
        scorer = _linear_scorer(files.read(LINEAR_FILE), info.n_features, path)
    elif scorer_kind == "riemann":
        scorer = _riemann_scorer(files.read(RIEMANN_FILE), path)
    elif scorer_kind == "pickle":
        # Trusted: bundles are built by build_bundle and shipped in our own function code or
        # in the serving bucket, which only the release commands write.
        scorer = PipelineScorer(pickle.loads(files.read(PICKLE_FILE)))
    else:
        raise BundleError(
            f"model bundle scorer must be one of {SCORERS}, got {scorer_kind!r} at {path}"
        )
    return ServedModel(info=info, scorer=scorer)


def _linear_scorer(npz: bytes, n_features: int, path: Path) -> LinearScorer:
    with np.load(io.BytesIO(npz)) as arrays:
        weights = np.asarray(arrays["weights"], dtype=np.float64)
        intercept = float(arrays["intercept"])
    if weights.shape != (n_features,):
        raise BundleError(
            f"{LINEAR_FILE} in {path} has weights of shape {weights.shape}; the features schema "
            f"says ({n_features},)"
        )
    return LinearScorer(weights=weights, intercept=intercept)


def _riemann_scorer(npz: bytes, path) -> RiemannScorer:
    with np.load(io.BytesIO(npz)) as arrays:
        try:
            return RiemannScorer.from_arrays({name: arrays[name] for name in arrays.files})
        except KeyError as exc:
            raise BundleError(f"{RIEMANN_FILE} in {path} lacks {exc}") from None


class _BundleFiles:
    """Read the files of a bundle directory or zip file by name."""

    def __init__(self, path: Path):
        if not path.exists():
            raise BundleError(f"no model bundle at {path}: the path does not exist")
        self.path = path

    def read(self, name: str) -> bytes:
        if self.path.is_dir():
            return (self.path / name).read_bytes()
        try:
            with zipfile.ZipFile(self.path) as archive:
                return archive.read(name)
        except zipfile.BadZipFile as exc:
            raise BundleError(f"{self.path} is neither a bundle directory nor a zip file") from exc


class _ZippedBundle:
    """Read the files of a bundle held in memory as the bytes of its zip file."""

    def __init__(self, data: bytes, source: str):
        try:
            self.archive = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile as exc:
            raise BundleError(f"the model bundle {source} is not a zip file") from exc

    def read(self, name: str) -> bytes:
        return self.archive.read(name)
