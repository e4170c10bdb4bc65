"""What a subject/session's features hold: the epochs kept and rejected (with why), and its ERP,
the mean epoch of target and of non-target flashes per channel.

The counts come from the features file's schema metadata (the preprocessing ``summary``), read
with ranged GETs of the Parquet footer only, so listing many subjects does not download their
features; the ERP reads the whole file.
"""

import io
import json
from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq

from p300.features_io import METADATA_KEY, read_features
from p300_aws import keys
from p300_aws.names import FEATURES_BUCKET
from p300_aws.s3_objects import find_object, read_object
from p300_ops.services.errors import ServiceError


class FeaturesNotFound(ServiceError):
    """A subject/session has no features object."""


@dataclass(frozen=True)
class EpochCounts:
    """Flashes of one subject/session: kept and rejected epochs, and kept targets/non-targets."""

    n_flashes: int
    n_kept: int
    n_rejected: int
    n_target: int
    n_nontarget: int
    #: rejected epochs by cause, e.g. {"amplitude": 12, "edge": 1}
    rejected_by: dict[str, int]
    #: the features object version counted
    version_id: str | None = None


@dataclass(frozen=True)
class SessionErp:
    """The ERP of one subject/session.

    Attributes
    ----------
    ch_names : tuple of str
    times_s : ndarray, shape (n_times,)
        Epoch time in s (0 is the flash).
    target, nontarget : ndarray, shape (n_channels, n_times)
        Mean kept epoch of target and of non-target flashes, µV.
    counts : EpochCounts
    version_id : str or None
        The features object version read.
    """

    ch_names: tuple[str, ...]
    times_s: np.ndarray
    target: np.ndarray
    nontarget: np.ndarray
    counts: EpochCounts
    version_id: str | None


class S3RangeFile(io.RawIOBase):
    """A seekable, read-only file over one S3 object version, read with ranged GETs."""

    def __init__(self, s3, bucket: str, key: str, *, size: int, version_id: str | None = None):
        self._s3, self._bucket, self._key, self._size = s3, bucket, key, size
        self._version = {"VersionId": version_id} if version_id else {}
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer) -> int:
        stop = min(self._position + len(buffer), self._size)
        if stop <= self._position:
            return 0
        answer = self._s3.get_object(
            Bucket=self._bucket, Key=self._key, Range=f"bytes={self._position}-{stop - 1}",
            **self._version,
        )  # fmt: skip
        data = answer["Body"].read()
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)


def epoch_counts(s3, study: str, subject: str, session: str) -> EpochCounts | None:
    """The epoch counts of a subject/session of ``study`` from its features (None when it has
    none), from the file's footer only."""
    head = find_object(s3, FEATURES_BUCKET, _key(study, subject, session))
    if head is None:
        return None
    source = S3RangeFile(s3, FEATURES_BUCKET, head.key, size=head.size, version_id=head.version_id)
    schema = pq.read_schema(source)
    stored = json.loads((schema.metadata or {}).get(METADATA_KEY, b"{}"))
    return counts_from_summary(stored.get("summary", {}), version_id=head.version_id)


def counts_from_summary(summary: dict, *, version_id: str | None = None) -> EpochCounts:
    """`EpochCounts` from a preprocessing summary (``n_flashes``, ``n_kept``, ``n_rejected``,
    ``n_target``, ``n_nontarget``, ``n_rejected_<cause>``)."""
    rejected_by = {
        name.removeprefix("n_rejected_"): int(value)
        for name, value in summary.items()
        if name.startswith("n_rejected_") and value
    }
    return EpochCounts(
        *(int(summary.get(name, 0)) for name in ("n_flashes", "n_kept", "n_rejected")),
        *(int(summary.get(name, 0)) for name in ("n_target", "n_nontarget")),
        rejected_by=rejected_by,
        version_id=version_id,
    )


def session_erp(s3, study: str, subject: str, session: str) -> SessionErp:
    """The ERP of a subject/session of ``study`` from its current features; `FeaturesNotFound`
    when none."""
    key = _key(study, subject, session)
    if find_object(s3, FEATURES_BUCKET, key) is None:
        raise FeaturesNotFound(f"subject {subject} session {session} has no features ({key})")
    stored = read_object(s3, FEATURES_BUCKET, key)
    features = read_features(stored.body)
    target, nontarget = erp_means(features.epochs, features.labels)
    return SessionErp(
        tuple(features.ch_names),
        np.asarray(features.times),
        target,
        nontarget,
        counts_from_summary(features.summary, version_id=stored.head.version_id),
        stored.head.version_id,
    )


def erp_means(epochs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean target and non-target epoch.

    Parameters
    ----------
    epochs : ndarray, shape (n_epochs, n_channels, n_times)
        µV.
    labels : ndarray, shape (n_epochs,)
        1 target, 0 non-target.

    Returns
    -------
    target, nontarget : ndarray, shape (n_channels, n_times)
        µV; NaN where a class has no epoch.
    """
    if epochs.ndim != 3 or len(labels) != len(epochs):
        raise ValueError(
            "epochs must have shape (n_epochs, n_channels, n_times) with one label per epoch, "
            f"got {epochs.shape} and {len(labels)} labels"
        )
    means = []
    for label in (1, 0):
        chosen = epochs[labels == label]
        means.append(chosen.mean(axis=0) if len(chosen) else np.full(epochs.shape[1:], np.nan))
    return means[0], means[1]


def _key(study: str, subject: str, session: str) -> str:
    return keys.features_key(keys.SubjectSession(study, subject, session))
