"""Epoch rejection policies, and whether a recording keeps enough epochs to be used.

Both preprocessing paths measure the peak-to-peak amplitude of every epoch that fits in the
recording, per channel, on the filtered and baseline-corrected epoch before resampling (where
MNE's ``reject`` looks), and drop the epochs `amplitude_reasons` names. The policies
(``PreprocessingParams.rejection``):

- ``none``: keep every epoch.
- ``fixed``: System A's rule: drop an epoch when any channel exceeds ``reject_peak_to_peak_uv``
  µV. Right for the amplifier it was set for; on others it can drop nearly everything.
- ``robust``: one threshold per channel from the recording's own epochs:
  ``exp(median(log ptp) + k · 1.4826 · MAD(log ptp))``. A channel's log peak-to-peak is roughly
  normal over clean epochs, and the median and MAD ignore the artefacts, so this drops the
  epochs that are k robust standard deviations louder than that channel usually is. It does not
  depend on the gain (a recording at 3× amplitude keeps the same epochs), needs no setting per
  amplifier, and is computed the same way by both preprocessing paths. It needs
  `MIN_ROBUST_EPOCHS` epochs; with fewer it keeps them all.

`assess_kept` tells whether what is left can be used (`ALL_EPOCHS_REJECTED`, `ONE_CLASS_LEFT`)
and whether it deserves a data-quality alert (`LOW_KEPT_SHARE`).
"""

from dataclasses import asdict, dataclass

import numpy as np

from p300.preprocessing.params import PreprocessingParams
from p300.types import EpochFeatures

#: Outcome codes of `assess_kept`.
ALL_EPOCHS_REJECTED, ONE_CLASS_LEFT, LOW_KEPT_SHARE = (
    "ALL_EPOCHS_REJECTED",
    "ONE_CLASS_LEFT",
    "LOW_KEPT_SHARE",
)
#: Below this share of its flashes kept, a usable recording still raises a data-quality alert.
#: On the real recordings measured (docs/real-data.md) the robust policy keeps 81–100 % and
#: System A's fixed 100 µV 41–100 %. The robust policy drops a few % of a recording whose
#: amplitudes are one population; losing half means two populations (an electrode that came
#: loose, a gain changed mid-recording) or, with a fixed threshold, an amplifier it was not set
#: for: someone should look.
MIN_KEPT_SHARE = 0.5
#: Fewest epochs from which the robust policy estimates its thresholds.
MIN_ROBUST_EPOCHS = 20
#: 1.4826 × MAD estimates the standard deviation of normally distributed values.
_MAD_TO_SD = 1.4826
#: Floor of that estimate for log peak-to-peak (≈ 10 %): with near-identical epochs (a flat or
#: clipped channel, quantised data) the MAD tends to 0 and the threshold to the median, which would
#: drop half of them. Real EEG channels measure 0.18–0.36 (docs/real-data.md).
_MIN_LOG_SD = 0.1
#: Peak-to-peak amplitudes are floored here (µV) before their log: a flat channel stays finite.
_PTP_FLOOR_UV = 1e-3


def robust_thresholds(ptp: np.ndarray, *, k: float) -> np.ndarray:
    """The robust policy's threshold of each channel.

    Parameters
    ----------
    ptp : ndarray, shape (n_epochs, n_channels)
        Peak-to-peak amplitude of each epoch and channel in µV, ``n_epochs >= 1``.
    k : float
        Width in robust standard deviations of log peak-to-peak.

    Returns
    -------
    ndarray, shape (n_channels,)
        Thresholds in µV: ``exp(median(log ptp) + k · max(1.4826 · MAD(log ptp), 0.1))`` per
        channel.
    """
    log_ptp = np.log(np.maximum(ptp, _PTP_FLOOR_UV))
    median = np.median(log_ptp, axis=0)
    spread = _MAD_TO_SD * np.median(np.abs(log_ptp - median), axis=0)
    return np.exp(median + k * np.maximum(spread, _MIN_LOG_SD))


def amplitude_thresholds(ptp: np.ndarray, params: PreprocessingParams) -> np.ndarray | None:
    """Each channel's peak-to-peak threshold in µV under ``params.rejection``; None: keep all.

    ``ptp`` has shape (n_epochs, n_channels), in µV, over every epoch that fits the recording.
    """
    if params.rejection == "fixed":
        return np.full(ptp.shape[1], params.reject_peak_to_peak_uv, dtype=float)
    if params.rejection == "robust" and len(ptp) >= MIN_ROBUST_EPOCHS:
        return robust_thresholds(ptp, k=params.reject_robust_k)
    return None


def amplitude_reasons(
    ptp: np.ndarray, ch_names: tuple[str, ...], params: PreprocessingParams
) -> list[str]:
    """Per epoch, why the policy drops it ('' when kept).

    Parameters
    ----------
    ptp : ndarray, shape (n_epochs, n_channels)
        Peak-to-peak amplitudes in µV of every epoch that fits the recording.
    ch_names : tuple of str, length n_channels
    params : PreprocessingParams

    Returns
    -------
    list of str, length n_epochs
        See `amplitude_reason`.
    """
    thresholds = amplitude_thresholds(ptp, params)
    if thresholds is None:
        return [""] * len(ptp)
    too_large = ptp > thresholds
    return [
        amplitude_reason([ch_names[c] for c in np.flatnonzero(row)], thresholds, ch_names, params)
        if row.any()
        else ""
        for row in too_large
    ]


def amplitude_reason(
    bad_channels: list[str],
    thresholds: np.ndarray,
    ch_names: tuple[str, ...],
    params: PreprocessingParams,
) -> str:
    """The reason text of an epoch dropped for its amplitude on ``bad_channels``.

    System A's, unchanged: ``peak_to_peak>100uV on Fp1,Fp2``; the robust policy's names itself
    and each channel's threshold: ``robust: peak_to_peak on TP9>87.3uV,AF7>64.0uV``.
    """
    if params.rejection == "fixed":
        return f"peak_to_peak>{params.reject_peak_to_peak_uv:g}uV on {','.join(bad_channels)}"
    threshold_of = dict(zip(ch_names, thresholds.tolist(), strict=True))
    named = ",".join(f"{name}>{threshold_of[name]:.1f}uV" for name in bad_channels)
    return f"{params.rejection}: peak_to_peak on {named}"


def is_amplitude_reason(reason: str) -> bool:
    """Whether a flash's reject reason is an amplitude policy's (not an edge or kept)."""
    return reason.startswith(("peak_to_peak", "robust:"))


def policy_description(params: PreprocessingParams) -> str:
    """The policy in words for messages: ``fixed 100 µV peak-to-peak``, ``robust k=5``, ``none``."""
    if params.rejection == "fixed":
        return f"fixed {params.reject_peak_to_peak_uv:g} µV peak-to-peak"
    if params.rejection == "robust":
        return f"robust k={params.reject_robust_k:g}"
    return "none"


@dataclass(frozen=True)
class KeptAssessment:
    """What a rejection policy left of one recording.

    Attributes
    ----------
    policy : str
        `policy_description` of the parameters used.
    n_flashes, n_kept, n_target, n_nontarget : int
        Flashes in the recording; epochs kept, in total and per class.
    kept_share : float
        ``n_kept / n_flashes`` (0 without flashes).
    code : str or None
        `ALL_EPOCHS_REJECTED` or `ONE_CLASS_LEFT` (unusable), `LOW_KEPT_SHARE` (usable, alert),
        None when all is well.
    message : str
        One sentence naming the policy and the counts; empty when ``code`` is None.
    """

    policy: str
    n_flashes: int
    n_kept: int
    n_target: int
    n_nontarget: int
    kept_share: float
    code: str | None
    message: str

    @property
    def usable(self) -> bool:
        """Whether both classes have epochs left (the recording may be trained on and scored)."""
        return self.code not in (ALL_EPOCHS_REJECTED, ONE_CLASS_LEFT)

    @property
    def alert(self) -> bool:
        """Whether to raise a data-quality alert (unusable, or under `MIN_KEPT_SHARE` kept)."""
        return self.code is not None

    def to_dict(self) -> dict:
        return asdict(self) | {"usable": self.usable, "alert": self.alert}


class UnusableRecordingError(ValueError):
    """A recording whose rejection left no epoch, or epochs of one class only.

    ``code`` is `ALL_EPOCHS_REJECTED` or `ONE_CLASS_LEFT`; ``assessment`` the full picture.
    """

    def __init__(self, assessment: KeptAssessment):
        super().__init__(f"{assessment.code}: {assessment.message}")
        self.code = assessment.code
        self.assessment = assessment


def assess_kept(
    features: EpochFeatures, *, min_kept_share: float = MIN_KEPT_SHARE
) -> KeptAssessment:
    """Whether the epochs a recording kept can be used, and whether to alert.

    Parameters
    ----------
    features : EpochFeatures
        The result of `p300.preprocessing.preprocess`.
    min_kept_share : float in [0, 1]
        Alert (`LOW_KEPT_SHARE`) under this share of flashes kept.

    Returns
    -------
    KeptAssessment
    """
    if not 0.0 <= min_kept_share <= 1.0:
        raise ValueError(f"min_kept_share must be between 0 and 1, got {min_kept_share!r}")
    params = PreprocessingParams(**features.params)
    policy = policy_description(params)
    metadata = features.metadata
    n_flashes, n_kept = len(metadata), len(features.labels)
    n_target = int((features.labels == 1).sum())
    n_nontarget = n_kept - n_target
    share = n_kept / n_flashes if n_flashes else 0.0
    counts = (
        f"kept {n_kept} of {n_flashes} epochs ({share:.0%}): {n_target} target, "
        f"{n_nontarget} non-target"
    )
    if n_kept == 0:
        code, message = ALL_EPOCHS_REJECTED, f"rejection policy {policy} {counts}"
    elif n_target == 0 or n_nontarget == 0:
        had = int((metadata["label"] == 1).sum())
        code = ONE_CLASS_LEFT
        message = (
            f"rejection policy {policy} {counts} (the recording had {had} target and "
            f"{n_flashes - had} non-target flashes)"
        )
    elif share < min_kept_share:
        code = LOW_KEPT_SHARE
        message = f"rejection policy {policy} {counts}, under the alert share {min_kept_share:.0%}"
    else:
        code, message = None, ""
    return KeptAssessment(policy, n_flashes, n_kept, n_target, n_nontarget, share, code, message)


def check_usable(features: EpochFeatures) -> KeptAssessment:
    """`assess_kept`, raising `UnusableRecordingError` when the recording cannot be used."""
    assessment = assess_kept(features)
    if not assessment.usable:
        raise UnusableRecordingError(assessment)
    return assessment
