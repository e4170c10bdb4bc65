"""The real-data report (`p300.real_data`) on a folder of recordings: rejection policies,
models, cross-session calibration and speller decoding, next to the published anchors."""

import os
from pathlib import Path

from p300_ops.paths import REPO
from p300_ops.services.errors import ServiceError

#: Set to the folder of the shared real recordings (a git worktree lives away from ``shared/``).
SHARED_DATA_ENV = "P300_SHARED_DATA"


def default_folder(environ=os.environ) -> Path:
    """``$P300_SHARED_DATA``, else ``<repository>/../shared/data/real``."""
    configured = environ.get(SHARED_DATA_ENV)
    return Path(configured) if configured else REPO.parent / "shared" / "data" / "real"


def evaluate(folder: Path | None = None, *, n_folds: int = 5, seed: int = 0):
    """`p300.real_data.evaluate_folder` of ``folder`` (default `default_folder`).

    Raises
    ------
    ServiceError
        When the folder does not exist or holds no recording, naming it.
    """
    from p300.real_data import evaluate_folder  # scikit-learn, MNE and pyRiemann load here

    folder = default_folder() if folder is None else folder
    if not folder.is_dir():
        raise ServiceError(
            f"no folder of recordings at {folder}: give FOLDER, or set ${SHARED_DATA_ENV}"
        )
    try:
        return evaluate_folder(folder, n_folds=n_folds, seed=seed)
    except ValueError as exc:
        raise ServiceError(f"cannot evaluate {folder}: {exc}") from None
