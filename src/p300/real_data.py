"""The real-data report: rejection policies, models, calibration and speller decoding, measured
on every recording of a folder, next to the published anchors.

`load_folder` reads landing-form Parquet (``*.parquet``), BCI2000 (``*.dat``) and OpenViBE GDF
(``*.gdf``) files. `evaluate_recording` measures, on one recording:

- per rejection policy: the share of epochs (and of targets) kept, and the within-session ROC-AUC
  that results, measured on **every** epoch: stratified 5-fold, each model fitted on the epochs
  its policy kept in the training folds and scored on all epochs of the test fold (what an
  online decoder faces; scoring only the kept epochs would reward a policy for dropping the hard
  ones). ROC-AUC is the mean over folds, as MOABB reports it;
- per model, under the study default policy: the within-session ROC-AUC (`p300.calibration`'s
  folds), and that of the calibrated choice (nested cross-validation) with its reason;
- cross-session ROC-AUC when the folder holds several sessions of the subject;
- for spellers: calibrate on the first `N_CALIBRATION_CHARACTERS` characters, decode every later
  character from its own raw window (`p300.decoding.decode_window`), character accuracy by
  repetitions; beside it a plain offline LDA (System A's pipeline without rejection) on the same
  split, the baseline to match or beat.

Nothing is scored by a model fitted on it. `format_report` renders the results as Markdown.
"""

import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from p300.calibration import CalibrationData, calibrate, calibration_data
from p300.decoding import (
    count_repetitions,
    decode_window,
    flashed_item_sets,
    item_accuracy_by_repetition,
    speller_groups,
    split_trials,
    true_items,
)
from p300.models import MODEL_NAMES, make_model
from p300.preprocessing import PreprocessingParams, preprocess
from p300.raw_io import read_recording
from p300.studies import DEFAULT_REJECTION
from p300.types import EpochFeatures, RawRecording

#: The rejection policies compared: none, System A's fixed 100 µV, the default robust policy.
POLICIES = {
    "none": PreprocessingParams(rejection="none"),
    "fixed": PreprocessingParams(),
    "robust": PreprocessingParams(rejection="robust"),
}
#: Characters a speller is calibrated on before the rest are decoded.
N_CALIBRATION_CHARACTERS = 3
#: Published within-session ROC-AUC (MOABB): best pipeline vs Xdawn+LDA.
ANCHORS = (
    ("BI2012 (Brain Invaders, 16 ch)", "XdawnCov+TS 0.91", "Xdawn+LDA 0.64"),
    ("BNCI2014-009 (BCI2000 speller, 16 ch)", "XdawnCov+TS+SVM 0.93", "Xdawn+LDA 0.64"),
)


@dataclass(frozen=True)
class Speller:
    """A row/column speller's layout, the character of each flash (onset order) and, when the
    file names them, the matrix's symbols row by row."""

    n_rows: int
    n_cols: int
    characters: np.ndarray
    symbols: tuple[str, ...] | None = None

    @property
    def groups(self) -> tuple[frozenset[int], ...]:
        return speller_groups(n_rows=self.n_rows, n_cols=self.n_cols)


@dataclass(frozen=True)
class Recording:
    """One recording of the folder: its name, subject, session and speller layout if any."""

    name: str
    subject: str
    session: str
    raw: RawRecording
    speller: Speller | None


@dataclass(frozen=True)
class PolicyResult:
    policy: str
    kept_share: float
    target_kept_share: float
    auc: dict[str, float]


@dataclass(frozen=True)
class SpellerResult:
    """Character accuracy by repetitions (index r-1 uses repetitions 1..r)."""

    n_calibration: int
    n_decoded: int
    model_name: str
    reason: str
    accuracy: list[float]
    plain_lda_accuracy: list[float]


@dataclass(frozen=True)
class RecordingReport:
    name: str
    n_channels: int
    sfreq: float
    n_flashes: int
    policies: list[PolicyResult]
    model_auc: dict[str, float]
    folds: str
    calibrated_auc: float
    calibrated_reason: str
    speller: SpellerResult | None
    seconds: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


#: The file suffixes `read_recording_file` reads.
SUFFIXES = (".parquet", ".dat", ".gdf")


def load_folder(folder: str | Path) -> list[Recording]:
    """Every recording under ``folder`` (``*.parquet``, ``*.dat``, ``*.gdf``), sorted by path."""
    paths = [p for p in sorted(Path(folder).rglob("*")) if p.suffix.lower() in SUFFIXES]
    if not paths:
        raise ValueError(f"no .parquet, .dat or .gdf recording under {folder}")
    return [load_recording(path) for path in paths]


def load_recording(path: str | Path) -> Recording:
    """One recording file (see `read_recording_file`) with its speller layout, if any."""
    path = Path(path)
    raw, metadata = read_recording_file(path)
    return Recording(
        name=path.stem,
        subject=raw.subject or metadata.get("subject") or path.stem,
        session=raw.session or metadata.get("session") or "01",
        raw=raw,
        speller=speller_layout(raw, metadata),
    )


def read_recording_file(path: str | Path) -> tuple[RawRecording, dict[str, str]]:
    """A landing-form Parquet (``.parquet``), BCI2000 (``.dat``) or OpenViBE GDF (``.gdf``)
    recording and its text metadata (the Parquet schema metadata, or the importer's).

    Raises
    ------
    ValueError
        For another suffix, or a file its reader refuses.
    """
    from p300.importers import import_bci2000, import_openvibe_gdf

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        metadata = {
            key.decode(): value.decode()
            for key, value in (pq.read_schema(path).metadata or {}).items()
        }
        return read_recording(path), metadata
    importers = {".dat": import_bci2000, ".gdf": import_openvibe_gdf}
    if suffix not in importers:
        raise ValueError(f"recording file must end with one of {SUFFIXES}, got {path.name!r}")
    imported = importers[suffix](path)
    return imported.recording, imported.metadata


def speller_layout(raw: RawRecording, metadata: dict[str, str]) -> Speller | None:
    """The layout when the file names it and says which group each flash showed; None else.

    Characters come from the file's ``character_starts`` when it marks them, else from the
    pauses between flashes (`p300.decoding.split_trials`).
    """
    if raw.stim_item is None or "matrix_rows" not in metadata:
        return None
    onsets = raw.onsets
    if "character_starts" in metadata:
        starts = np.asarray(json.loads(metadata["character_starts"]), dtype=np.int64)
        characters = np.searchsorted(starts, onsets, side="right") - 1
    else:
        characters = split_trials(onsets)
    symbols = metadata.get("matrix_symbols")
    return Speller(
        int(metadata["matrix_rows"]),
        int(metadata["matrix_columns"]),
        characters,
        None if symbols is None else tuple(json.loads(symbols)),
    )


@dataclass(frozen=True)
class CrossSessionResult:
    subject: str
    sessions: list[str]
    description: str
    model_name: str
    auc: float


@dataclass(frozen=True)
class FolderReport:
    recordings: list[RecordingReport]
    cross_session: list[CrossSessionResult]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def evaluate_folder(folder: str | Path, **options) -> FolderReport:
    """`evaluate_recording` of every recording `load_folder` finds, and the cross-session
    calibration of every subject with more than one session (``options`` go to
    `evaluate_recording`)."""
    recordings = load_folder(folder)
    reports = [evaluate_recording(recording, **options) for recording in recordings]
    by_subject: dict[str, list[Recording]] = {}
    for recording in recordings:
        by_subject.setdefault(recording.subject, []).append(recording)
    cross = [
        _cross_session(subject, sorted(group, key=lambda r: r.session))
        for subject, group in by_subject.items()
        if len({r.session for r in group}) > 1
    ]
    return FolderReport(reports, cross)


def _cross_session(subject: str, recordings: list[Recording]) -> CrossSessionResult:
    """Calibrate on the subject's earlier sessions, score the last (default policy)."""
    params = POLICIES[DEFAULT_REJECTION]
    features = {r.session: preprocess(r.raw, params) for r in recordings}
    result = calibrate(calibration_data(features))
    evaluation = result.evaluation
    return CrossSessionResult(
        subject, list(features), evaluation.description, result.model_name, evaluation.roc_auc,
    )  # fmt: skip


def evaluate_recording(
    recording: Recording,
    *,
    policies: Mapping[str, PreprocessingParams] = POLICIES,
    policy_models: Sequence[str] = ("lda", "xdawn-riemann"),
    n_folds: int = 5,
    seed: int = 0,
) -> RecordingReport:
    """Measure one recording (see the module docstring).

    Parameters
    ----------
    recording : Recording
    policies : mapping name -> PreprocessingParams
        The preprocessing of each policy compared; must include the keys ``"none"`` and
        `DEFAULT_REJECTION` (used for the models and the speller).
    policy_models : sequence of str
        Models whose ROC-AUC is measured under each policy.
    n_folds, seed
        Folds of the within-session evaluations and their shuffle's seed.
    """
    missing = sorted({"none", DEFAULT_REJECTION} - set(policies))
    if missing:
        raise ValueError(f"policies must include {missing}; got {sorted(policies)}")
    started = time.perf_counter()
    raw = recording.raw
    by_policy = {name: preprocess(raw, params) for name, params in policies.items()}
    policies = _policy_results(by_policy, policy_models, n_folds, seed)
    data = _calibration_data(recording, by_policy[DEFAULT_REJECTION])
    model_auc = {
        name: calibrate(
            data, candidates=[name], n_folds=n_folds, seed=seed
        ).evaluation.metrics.roc_auc
        for name in MODEL_NAMES
    }
    calibrated = calibrate(data, n_folds=n_folds, seed=seed)
    speller = None
    if recording.speller is not None:
        speller = speller_split(
            recording, features=by_policy[DEFAULT_REJECTION], plain=by_policy["none"], seed=seed
        )
    return RecordingReport(
        name=recording.name,
        n_channels=len(raw.ch_names),
        sfreq=float(raw.sfreq),
        n_flashes=len(raw.onsets),
        policies=policies,
        model_auc=model_auc,
        folds=calibrated.evaluation.description,
        calibrated_auc=calibrated.evaluation.roc_auc,
        calibrated_reason=calibrated.selection.reason,
        speller=speller,
        seconds=time.perf_counter() - started,
    )


def _policy_results(by_policy, models, n_folds, seed) -> list[PolicyResult]:
    """Kept shares and all-epoch ROC-AUC of each policy (see the module docstring)."""
    every = by_policy["none"]  # every epoch that fits the recording, unrejected
    fitting = every.metadata["kept"].to_numpy()
    X, y = every.features, every.labels.astype(int)
    folds = list(StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(X, y))
    results = []
    for name, features in by_policy.items():
        keep = features.metadata["kept"].to_numpy()[fitting]
        auc = {}
        for model_name in models:
            fold_auc = []
            for train, test in folds:
                train = train[keep[train]]
                model = make_model(model_name, n_channels=len(every.ch_names))
                scores = model.fit(X[train], y[train]).decision_function(X[test])
                fold_auc.append(roc_auc_score(y[test], scores))
            auc[model_name] = float(np.mean(fold_auc))
        targets = y == 1
        results.append(PolicyResult(name, float(keep.mean()), float(keep[targets].mean()), auc))
    return results


def _calibration_data(recording: Recording, features: EpochFeatures) -> CalibrationData:
    speller = recording.speller
    return calibration_data(
        {recording.session: features},
        groups=None if speller is None else speller.groups,
        trials_by_session=None if speller is None else {recording.session: speller.characters},
    )


def speller_split(
    recording: Recording,
    *,
    features: EpochFeatures | None = None,
    plain: EpochFeatures | None = None,
    seed: int = 0,
) -> SpellerResult:
    """Calibrate on the first `N_CALIBRATION_CHARACTERS` characters, decode the later ones from
    their own raw windows, and do the same with a plain offline LDA as the baseline.

    Parameters
    ----------
    recording : Recording
        A speller (``recording.speller`` set).
    features, plain : EpochFeatures, optional
        The recording preprocessed with the default policy and without rejection (computed when
        not given).
    seed : int
        Seeds the calibration's folds.
    """
    speller, raw = recording.speller, recording.raw
    if speller is None:
        raise ValueError(f"recording {recording.name!r} is not a speller: no matrix layout known")
    features = features or preprocess(raw, POLICIES[DEFAULT_REJECTION])
    plain_features = plain or preprocess(raw, POLICIES["none"])
    data = _calibration_data(recording, features)
    first = [f"{recording.session}/{c}" for c in range(N_CALIBRATION_CHARACTERS)]
    calibration = data.subset(np.isin(data.trials, first))
    result = calibrate(calibration, n_folds=min(5, N_CALIBRATION_CHARACTERS + 2), seed=seed)
    later = sorted(set(speller.characters.tolist()) - set(range(N_CALIBRATION_CHARACTERS)))
    later = [character for character in later if character >= 0]
    decoded = []
    for character in later:
        window = _character_window(raw, speller.characters == character, features.params)
        decoding = decode_window(
            result.model, window, PreprocessingParams(**features.params),
            groups=speller.groups, trials=np.full(len(window.onsets), character),
        )  # fmt: skip
        kept = decoding.epochs.metadata.loc[decoding.epochs.metadata["kept"], "stim_item"]
        labels = decoding.epochs.labels[kept.to_numpy() >= 0]
        decoded.append((decoding.scores, decoding.items, labels, decoding.trials))
    ours = _accuracy(*(np.concatenate(part) for part in zip(*decoded, strict=True)), speller)
    plain = _plain_lda_accuracy(recording, plain_features)
    return SpellerResult(
        N_CALIBRATION_CHARACTERS, len(later), result.model_name, result.selection.reason,
        ours, plain,
    )  # fmt: skip


def _character_window(raw: RawRecording, flashes: np.ndarray, params: dict) -> RawRecording:
    """The raw window of one character: from its first epoch's start to its last epoch's end."""
    onsets = raw.onsets[flashes]
    start = max(int(onsets[0] + round(params["tmin"] * raw.sfreq)), 0)
    stop = min(int(onsets[-1] + round(params["tmax"] * raw.sfreq)) + 1, raw.n_times)
    stim = np.zeros(stop - start, dtype=raw.stim.dtype)
    stim[onsets - start] = raw.stim[onsets]
    stim_item = np.full(stop - start, -1, dtype=raw.stim_item.dtype)
    stim_item[onsets - start] = raw.stim_item[onsets]
    return dataclasses.replace(raw, data=raw.data[:, start:stop], stim=stim, stim_item=stim_item)


def _plain_lda_accuracy(recording: Recording, features: EpochFeatures) -> list[float]:
    """System A's LDA without rejection, offline on the whole recording, on the same split."""
    speller = recording.speller
    data = _calibration_data(recording, features)
    character = np.array([int(trial.split("/")[1]) for trial in data.trials])
    calibrating = (character >= 0) & (character < N_CALIBRATION_CHARACTERS)
    model = make_model("lda").fit(data.X[calibrating], data.y[calibrating])
    decoded = character >= N_CALIBRATION_CHARACTERS
    scores = model.decision_function(data.X[decoded])
    return _accuracy(scores, data.items[decoded], data.y[decoded], character[decoded], speller)


def _accuracy(scores, items, labels, trials, speller: Speller) -> list[float]:
    """Character accuracy by repetitions of flashes with ``scores``, the truth from ``labels``."""
    flashed = flashed_item_sets(items, speller.groups)
    truth = true_items(flashed, labels, trials)
    accuracy = item_accuracy_by_repetition(
        scores, flashed, trials=trials, repetitions=count_repetitions(flashed, trials=trials),
        true_items=truth,
    )  # fmt: skip
    return [float(a) for a in accuracy.accuracy]


def format_report(report: FolderReport) -> str:
    """The report as Markdown tables (ROC-AUC to 3 decimals, shares in %)."""
    lines = ["Published anchors (MOABB within-session ROC-AUC):", ""]
    lines += [f"- {dataset}: {best} vs {lda}" for dataset, best, lda in ANCHORS]
    lines += ["", "Rejection policies: epochs kept and ROC-AUC on every epoch (stratified 5-fold):"]
    models = list(report.recordings[0].policies[0].auc)
    lines += [
        "",
        "| recording | policy | kept | targets kept | " + " | ".join(models) + " |",
        "|---|---|---|---|" + "---|" * len(models),
    ]
    for recording in report.recordings:
        for policy in recording.policies:
            aucs = " | ".join(f"{policy.auc[m]:.3f}" for m in models)
            lines.append(
                f"| {recording.name} | {policy.policy} | {policy.kept_share:.1%} | "
                f"{policy.target_kept_share:.1%} | {aucs} |"
            )
    lines += [
        "",
        f"Models, {DEFAULT_REJECTION} policy: within-session ROC-AUC; 'calibrated' chooses per "
        "fold by inner 3-fold CV:",
        "",
        "| recording | channels × Hz | flashes | folds | "
        + " | ".join(MODEL_NAMES)
        + " | calibrated | final choice |",
        "|---|---|---|---|" + "---|" * (len(MODEL_NAMES) + 2),
    ]
    for r in report.recordings:
        aucs = " | ".join(f"{r.model_auc[m]:.3f}" for m in MODEL_NAMES)
        lines.append(
            f"| {r.name} | {r.n_channels} × {r.sfreq:g} | {r.n_flashes} | {r.folds} | {aucs} | "
            f"{r.calibrated_auc:.3f} | {r.calibrated_reason} |"
        )
    lines += ["", "Cross-session ROC-AUC (calibrated on earlier sessions, scored on the last):", ""]
    if not report.cross_session:
        lines.append("- no subject has more than one session in this folder")
    for c in report.cross_session:
        lines.append(f"- {c.subject} ({c.description}): {c.model_name} {c.auc:.3f}")
    spellers = [r for r in report.recordings if r.speller is not None]
    if spellers:
        lines += [
            "",
            f"Spellers: calibrated on the first {N_CALIBRATION_CHARACTERS} characters, later "
            "characters decoded from their own raw windows; character accuracy using "
            "repetitions 1..r:",
            "",
            "| recording | decoded | model | pipeline | " + "accuracy by r = 1, 2, … |",
            "|---|---|---|---|---|",
        ]
        for r in spellers:
            s = r.speller
            for name, accuracy, model in (
                ("calibrated, online windows", s.accuracy, s.model_name),
                ("plain LDA, offline, no rejection", s.plain_lda_accuracy, "lda"),
            ):
                values = " ".join(f"{a:.0%}" for a in accuracy)
                lines.append(f"| {r.name} | {s.n_decoded} chars | {model} | {name} | {values} |")
    return "\n".join(lines) + "\n"
