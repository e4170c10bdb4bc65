"""Import one EEG recording of a BIDS dataset (read with mne-bids) into the contract.

Flashes come from the recording's ``*_events.tsv``: its ``onset`` column (s from the first
sample) and a column naming each event (``trial_type`` by default, or ``value``) mapped to
target / non-target by an event map; an optional column gives each flash's row/column group
(``stim_item``). Rows the map does not name are ignored.

Metadata beyond the common keys (`p300.importers.imported`): ``bids_subject``, ``bids_session``,
``bids_task``, ``bids_run`` (those given).
"""

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from p300.importers import imported as keys
from p300.importers.imported import ImportedRecording, flash_channels
from p300.importers.mne_formats import event_mapping, recording_from_raw
from p300.types import STIM_TARGET

DATATYPE = "eeg"


def import_bids(
    root: str | os.PathLike,
    *,
    subject: str,
    task: str,
    session: str | None = None,
    run: str | None = None,
    event_map: dict[str, int] | None = None,
    event_column: str = "trial_type",
    item_column: str | None = None,
    channels: Sequence[str] | None = None,
) -> ImportedRecording:
    """Read the EEG recording of one subject/session/task/run of a BIDS dataset.

    Parameters
    ----------
    root : path-like
        The dataset's folder (holding ``dataset_description.json``).
    subject, task : str
        BIDS entities, without their ``sub-``/``task-`` prefixes.
    session, run : str, optional
        Needed when the subject has several sessions or runs of the task.
    event_map : dict of str to int, optional
        ``event_column`` value → stim code (1 non-target, 2 target). Default
        ``{"target": 2, "nontarget": 1}``.
    event_column : str
        The events.tsv column the map reads (``trial_type``, ``value``, ...).
    item_column : str, optional
        An events.tsv column of whole numbers >= 0: each flash's row/column group (``stim_item``).
    channels : sequence of str, optional
        Channels to keep, in this order; default every EEG channel.

    Returns
    -------
    ImportedRecording
        ``data`` shape (n_channels, n_times) in µV, ``stim`` (and ``stim_item`` with
        ``item_column``) at the mapped events' onsets; subject and session set.

    Raises
    ------
    ValueError
        When ``root`` is not a BIDS dataset, the subject or the recording is not in it, or the
        events do not fit the options (the message lists what is there).
    """
    import mne_bids  # loads only for BIDS imports

    mapping = event_mapping(event_map, None, None)
    path = _recording_path(mne_bids, root, subject, session, task, run)
    raw = mne_bids.read_raw_bids(path, verbose="error")
    raw.load_data(verbose="error")
    events = _events_table(path)
    onsets, is_target, items = _flashes(events, mapping, event_column, item_column, raw)
    stim, stim_item = flash_channels(raw.n_times, onsets, is_target, items)
    recording = recording_from_raw(raw, channels, stim, stim_item, subject=subject, session=session)
    metadata = {keys.SOURCE_FORMAT: "bids", keys.SOURCE_FILE: path.fpath.name}
    entities = {"subject": subject, "session": session, "task": task, "run": run}
    metadata |= {f"bids_{key}": value for key, value in entities.items() if value is not None}
    if items is not None:
        metadata[keys.N_GROUPS] = str(int(items.max()) + 1)
        metadata[keys.STIM_ITEM_CODING] = f"events.tsv column {item_column!r}"
    return ImportedRecording(recording, metadata)


def _recording_path(mne_bids, root, subject, session, task, run):
    """The BIDSPath of the one EEG recording the entities name, checked to exist."""
    if not os.path.isfile(os.path.join(root, "dataset_description.json")):
        raise ValueError(
            f"{os.fspath(root)!r} is not a BIDS dataset: it has no dataset_description.json"
        )
    subjects = mne_bids.get_entity_vals(root, "subject")
    if subject not in subjects:
        raise ValueError(
            f"subject {subject!r} is not in the BIDS dataset {os.fspath(root)!r}; its subjects "
            f"are {subjects}"
        )
    query = mne_bids.BIDSPath(
        root=root, subject=subject, session=session, task=task, run=run,
        datatype=DATATYPE, suffix=DATATYPE,
    )  # fmt: skip
    found = _recordings(query)
    if len(found) != 1:
        everything = _recordings(
            mne_bids.BIDSPath(root=root, subject=subject, datatype=DATATYPE, suffix=DATATYPE)
        )
        wanted = f"session={session!r}, task={task!r}, run={run!r}"
        problem = "no EEG recording" if not found else "several EEG recordings (give session/run)"
        raise ValueError(
            f"subject {subject!r} has {problem} for {wanted}; its EEG recordings are "
            f"{sorted(everything) or 'none'}"
        )
    entities = dict(zip(("session", "task", "run"), found.pop(), strict=True))
    return query.copy().update(**entities)


def _recordings(query) -> set[tuple[str | None, ...]]:
    """(session, task, run) of each recording matching a BIDSPath query."""
    return {(path.session, path.task, path.run) for path in query.match(ignore_json=True)}


def _events_table(path) -> pd.DataFrame:
    events_path = path.copy().update(suffix="events", extension=".tsv")
    if not events_path.fpath.is_file():
        raise ValueError(f"the BIDS recording {path.basename} has no events file {events_path}")
    return pd.read_csv(events_path.fpath, sep="\t", dtype=str, keep_default_na=False)


def _flashes(events: pd.DataFrame, mapping, event_column, item_column, raw):
    """Onset samples, target flags and groups (or None) of the mapped events."""
    wanted = (
        ("the onset column", "onset"),
        ("event_column", event_column),
        ("item_column", item_column),
    )
    for option, column in wanted:
        if column is not None and column not in events.columns:
            raise ValueError(
                f"{option} {column!r} is not an events.tsv column; columns are "
                f"{list(events.columns)}"
            )
    names = events[event_column].str.strip()
    missing = sorted(set(mapping) - set(names))
    if missing:
        raise ValueError(
            f"event_map names {event_column} values not in the events: {missing}; values present "
            f"(value: count): {names.value_counts().sort_index().to_dict()}"
        )
    chosen = events[names.isin(mapping)]
    onsets = np.round(pd.to_numeric(chosen["onset"]).to_numpy() * raw.info["sfreq"]).astype(int)
    outside = onsets[(onsets < 0) | (onsets >= raw.n_times)]
    if outside.size:
        raise ValueError(
            f"{outside.size} events fall outside the recording's {raw.n_times} samples, first at "
            f"sample {int(outside[0])}"
        )
    is_target = names[chosen.index].map(mapping).to_numpy() == STIM_TARGET
    if item_column is None:
        return onsets, is_target, None
    items = pd.to_numeric(chosen[item_column], errors="coerce").to_numpy()
    bad = ~np.isfinite(items) | (items < 0) | (items != np.round(items))
    if bad.any():
        raise ValueError(
            f"item_column {item_column!r} must hold whole numbers >= 0 at every mapped event; "
            f"{int(bad.sum())} do not (first: {chosen[item_column].iloc[int(np.argmax(bad))]!r})"
        )
    return onsets, is_target, items.astype(np.int32)
