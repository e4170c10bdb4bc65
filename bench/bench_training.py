"""Benchmark training and decoding on a synthetic Brain Invaders-like cohort.

Run: ``.venv/bin/python bench/bench_training.py`` (about two minutes on 2 cores).

1. Synthesises N subjects (10 min, 16 channels, 512 Hz each) and preprocesses them (System A).
2. Times fitting System A's LDA on every subject's epochs (target ≤ 10 s for 10 subjects).
3. Compares LDA and Xdawn-Riemann on subject-held-out splits (ROC-AUC pooled and per subject).
4. Decodes the attended speller item of the held-out subjects' trials from the LDA scores,
   with 1..R repetitions.
"""

import argparse
import os
import statistics
import time
from typing import NamedTuple

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from p300.decoding import count_repetitions, item_accuracy_by_repetition, speller_groups
from p300.evaluation import fit_and_evaluate
from p300.models import MODEL_NAMES, make_model
from p300.preprocessing import preprocess
from p300.synthetic import subject_session
from p300.types import EpochFeatures

#: A pause longer than this between flashes (s) starts a new trial (a new attended item).
TRIAL_GAP_S = 1.0
SPELLER_GROUPS = speller_groups()


class Subject(NamedTuple):
    features: EpochFeatures
    raw_sfreq: float


def main() -> None:
    args = _arguments()
    print(f"1-min load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    cohort = _make_cohort(n_subjects=args.subjects, duration_s=args.duration, seed=args.seed)
    data = {s: (c.features.features, c.features.labels) for s, c in cohort.items()}
    n_epochs = sum(len(y) for _, y in data.values())
    n_features = next(iter(data.values()))[0].shape[1]
    print(f"\n{len(data)} subjects, {n_epochs} kept epochs × {n_features} features")

    print(f"\nLDA fit on all {len(data)} subjects ({n_epochs} epochs); target ≤ 10 s wall")
    for blas_threads in (None, 1):
        with threadpool_limits(blas_threads):
            wall, cpu = _time_lda_fit(data, repeats=args.repeats)
        print(
            f"  BLAS threads {blas_threads or 'default'}: wall median {statistics.median(wall):.2f}"
            f" s (min {min(wall):.2f}, max {max(wall):.2f}) over {len(wall)} runs, process CPU "
            f"median {statistics.median(cpu):.2f} s"
        )

    print(f"\nSubject-held-out, train_fraction={args.train_fraction}, split seeds {args.seeds}")
    print(
        f"{'model':<14} {'seed':>4} {'fit s':>6} {'AUC pooled':>10} {'AUC mean±sd':>12} "
        f"{'bal acc':>7} {'kappa':>6}"
    )
    results = []
    for model_name in MODEL_NAMES:
        for seed in args.seeds:
            result = fit_and_evaluate(
                data, model_name=model_name, train_fraction=args.train_fraction, seed=seed
            )
            _print_result_row(model_name, seed, result)
            results.append(result)

    print("\nSpeller item accuracy (36 items) vs repetitions used, held-out subjects' trials")
    for result in results:
        curve = _decoding_curve(result, cohort)
        steps = " ".join(f"{a:.2f}" for a in curve.accuracy)
        print(
            f"{result.model_name:<14} seed {result.split.seed}: {curve.n_trials} trials; "
            f"r=1..{len(curve.accuracy)}: {steps}"
        )
    print(f"\n1-min load average at end: {os.getloadavg()[0]:.1f}")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=10)
    parser.add_argument("--duration", type=float, default=600.0, help="session length in s")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the synthetic cohort")
    parser.add_argument("--train-fraction", type=float, default=0.5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="split seeds")
    parser.add_argument("--repeats", type=int, default=3, help="timed LDA fits")
    return parser.parse_args()


def _make_cohort(*, n_subjects: int, duration_s: float, seed: int) -> dict[str, Subject]:
    cohort, synth_s, prep_s = {}, 0.0, 0.0
    for number in range(1, n_subjects + 1):
        started = time.perf_counter()
        recording = subject_session(seed=seed, subject_number=number, duration_s=duration_s)
        synthesised = time.perf_counter()
        cohort[f"subject_{number:02d}"] = Subject(preprocess(recording), recording.sfreq)
        synth_s += synthesised - started
        prep_s += time.perf_counter() - synthesised
    print(f"synthesis {synth_s:.1f} s, preprocessing {prep_s:.1f} s for {n_subjects} subjects")
    return cohort


def _time_lda_fit(data: dict, *, repeats: int) -> tuple[list[float], list[float]]:
    """Wall and process CPU seconds of each LDA fit on every subject's epochs.

    CPU time sums BLAS threads but ignores waiting for other processes' load, so the two
    together tell a slow machine from a busy one.
    """
    X = np.concatenate([X for X, _ in data.values()])
    y = np.concatenate([y for _, y in data.values()])
    wall, cpu = [], []
    for _ in range(repeats):
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        make_model("lda").fit(X, y)
        wall.append(time.perf_counter() - wall_start)
        cpu.append(time.process_time() - cpu_start)
    return wall, cpu


def _print_result_row(model_name: str, seed: int, result) -> None:
    aucs = [m.roc_auc for m in result.report.per_subject.values() if m.roc_auc is not None]
    pooled = result.report.pooled
    print(
        f"{model_name:<14} {seed:>4} {result.fit_seconds:>6.1f} {pooled.roc_auc:>10.3f} "
        f"{np.mean(aucs):>6.3f}±{np.std(aucs):.3f} {pooled.balanced_accuracy:>7.3f} "
        f"{pooled.kappa:>6.3f}"
    )


def _decoding_curve(result, cohort: dict[str, Subject]):
    """Item accuracy vs repetitions over every trial of the result's held-out subjects."""
    scores, flashed, trials, true_items = [], [], [], {}
    for subject in result.split.test:
        flashes = _flash_table(cohort[subject].features, raw_sfreq=cohort[subject].raw_sfreq)
        for trial, groups in flashes[flashes["label"] == 1].groupby("trial")["stim_item"]:
            item = _attended_item(set(groups.tolist()))
            if item is not None:
                true_items[(subject, trial)] = item
        complete = [trial for (owner, trial) in true_items if owner == subject]
        kept = flashes[flashes["kept"] & flashes["trial"].isin(complete)]
        scores.append(result.test_scores[subject].scores[kept["epoch_index"].to_numpy()])
        flashed.extend(SPELLER_GROUPS[g] for g in kept["stim_item"])
        trials.extend((subject, t) for t in kept["trial"])
    code_of = {key: code for code, key in enumerate(true_items)}  # (subject, trial) -> int
    trial_codes = np.array([code_of[t] for t in trials])
    return item_accuracy_by_repetition(
        np.concatenate(scores),
        flashed,
        trials=trial_codes,
        repetitions=count_repetitions(flashed, trials=trial_codes),
        true_items={code_of[key]: item for key, item in true_items.items()},
        candidates=range(36),
    )


def _flash_table(features: EpochFeatures, *, raw_sfreq: float) -> pd.DataFrame:
    """The flash metadata plus a trial number: a pause > TRIAL_GAP_S starts a new trial.

    ``onset_sample`` counts samples of the raw recording, hence its rate ``raw_sfreq`` in Hz.
    """
    flashes = features.metadata.sort_values("onset_sample").reset_index(drop=True)
    gaps_s = np.diff(flashes["onset_sample"].to_numpy(), prepend=0) / raw_sfreq
    return flashes.assign(trial=np.cumsum(gaps_s > TRIAL_GAP_S))


def _attended_item(target_groups: set[int]) -> int | None:
    """The speller item (0..35, row-major) at the crossing of the attended row and column.

    None when the trial was cut short (the session ended) before both were flashed.
    """
    rows = [g for g in target_groups if g < 6]
    columns = [g - 6 for g in target_groups if g >= 6]
    return rows[0] * 6 + columns[0] if len(rows) == len(columns) == 1 else None


if __name__ == "__main__":
    main()
