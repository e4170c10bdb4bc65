"""Import a BCI2000 P300 recording (P3Speller or StimulusPresentation task) into the contract.

Flashes come from two states. ``StimulusCode`` is the flashed row/column (or stimulus) while the
flash is shown and 0 between flashes: a flash's onset is the first sample of each run of one
non-zero code. ``StimulusType`` is 1 while the flash contains the target. ``stim_item`` is
``StimulusCode - 1``; the P3Speller numbers rows first, so ``stim_item`` 0 to rows - 1 are the rows
(top to bottom) and the next ``NumMatrixColumns`` the columns (left to right): decoding the target
groups of ``bp2calib.dat`` this way gives its ``TextToSpell``.

Characters: the P3Speller enters phase 1 of ``PhaseInSequence`` (the pause before a character's
sequences) once per character, so each character starts with the first flash after it.

Metadata beyond the common keys (`p300.importers.imported`): ``bci2000_version``,
``bci2000_data_format``, ``subject_name`` (``SubjectName``) when set.
"""

import json
import os

import numpy as np

from p300.importers import imported as keys
from p300.importers.bci2000_file import Bci2000File, read_bci2000
from p300.importers.imported import ImportedRecording, character_starts_text, flash_channels
from p300.types import RawRecording

#: States a P300 recording must have.
REQUIRED_STATES = ("StimulusCode", "StimulusType")
#: ``PhaseInSequence`` value of the pause before each character's sequences.
PRE_SEQUENCE_PHASE = 1


def import_bci2000(
    path: str | os.PathLike, *, subject: str | None = None, session: str | None = None
) -> ImportedRecording:
    """Read a BCI2000 ``.dat`` P300 recording into the raw contract.

    Parameters
    ----------
    path : path-like
        A BCI2000 ``.dat`` file (format 1.0 or 1.1; int16, int32 or float32 samples).
    subject, session : str, optional
        Stored in the recording.

    Returns
    -------
    ImportedRecording
        ``data`` shape (n_channels, n_times) in µV; ``stim`` 1/2 and ``stim_item``
        (``StimulusCode - 1``) at each flash onset. Metadata: see the module docstring.

    Raises
    ------
    ValueError
        When the file cannot be read (see `read_bci2000`), lacks the ``StimulusCode`` or
        ``StimulusType`` state, or holds no flash.
    """
    dat = read_bci2000(path)
    name = os.path.basename(os.fspath(path))
    missing = [state for state in REQUIRED_STATES if state not in dat.states]
    if missing:
        raise ValueError(
            f"BCI2000 file {name!r} lacks the state(s) {missing} that mark P300 flashes; its "
            f"states are {sorted(dat.states)}"
        )
    code, is_target = dat.states["StimulusCode"], dat.states["StimulusType"] != 0
    onsets = flash_onsets(code)
    if onsets.size == 0:
        raise ValueError(f"BCI2000 file {name!r} holds no flash: StimulusCode is 0 throughout")
    stim, stim_item = flash_channels(code.size, onsets, is_target[onsets], code[onsets] - 1)
    recording = RawRecording(
        data=dat.signal,
        ch_names=dat.ch_names,
        sfreq=dat.sfreq,
        stim=stim,
        stim_item=stim_item,
        subject=subject,
        session=session,
    )
    return ImportedRecording(recording, _metadata(dat, name, onsets, int(code.max())))


def flash_onsets(code: np.ndarray) -> np.ndarray:
    """Onset samples of the flashes in a ``StimulusCode`` state, shape (n_flashes,).

    A flash starts where the code becomes non-zero or changes to another non-zero value.
    """
    previous = np.concatenate([[0], code[:-1]])
    return np.flatnonzero((code != 0) & (code != previous))


def _metadata(dat: Bci2000File, name: str, onsets: np.ndarray, max_code: int) -> dict[str, str]:
    metadata = {
        keys.SOURCE_FORMAT: "bci2000-dat",
        keys.SOURCE_FILE: name,
        "bci2000_version": dat.version,
        "bci2000_data_format": dat.data_format,
        keys.N_GROUPS: str(max_code),
        keys.STIM_ITEM_CODING: "StimulusCode - 1",
    }
    parameters = dat.parameters
    for key, parameter in (
        ("subject_name", "SubjectName"),
        (keys.TEXT_TO_SPELL, "TextToSpell"),
        (keys.SEQUENCES_PER_CHARACTER, "NumberOfSequences"),
    ):
        if parameter in parameters and parameters[parameter].value:
            metadata[key] = parameters[parameter].value
    metadata |= _matrix(dat, max_code)
    if "PhaseInSequence" in dat.states:
        metadata[keys.CHARACTER_STARTS] = character_starts_text(
            _character_starts(dat.states["PhaseInSequence"], onsets)
        )
    return metadata


def _matrix(dat: Bci2000File, max_code: int) -> dict[str, str]:
    """Rows, columns and symbols of a single-menu P3Speller whose codes fit its matrix."""
    parameters = dat.parameters
    if "NumMatrixRows" not in parameters or "NumMatrixColumns" not in parameters:
        return {}
    rows, columns = parameters["NumMatrixRows"].as_list(), parameters["NumMatrixColumns"].as_list()
    if len(rows) != 1 or len(columns) != 1:
        return {}  # several speller menus: one matrix does not describe the flashes
    n_rows, n_columns = int(rows[0]), int(columns[0])
    if max_code > n_rows + n_columns:
        return {}
    matrix = {
        keys.MATRIX_ROWS: str(n_rows),
        keys.MATRIX_COLUMNS: str(n_columns),
        keys.STIM_ITEM_CODING: (
            f"StimulusCode - 1: 0..{n_rows - 1} rows top to bottom, "
            f"{n_rows}..{n_rows + n_columns - 1} columns left to right"
        ),
    }
    if "TargetDefinitions" in parameters:
        _, _, targets = parameters["TargetDefinitions"].as_matrix()
        if len(targets) == n_rows * n_columns and all(targets):
            matrix[keys.MATRIX_SYMBOLS] = json.dumps([target[0] for target in targets])
    return matrix


def _character_starts(phase: np.ndarray, onsets: np.ndarray) -> np.ndarray:
    """Onset of the first flash after each pre-sequence pause, shape (n_characters,)."""
    previous = np.concatenate([[0], phase[:-1]])
    pauses = np.flatnonzero((phase == PRE_SEQUENCE_PHASE) & (previous != PRE_SEQUENCE_PHASE))
    firsts = np.unique(np.searchsorted(onsets, pauses))
    return onsets[firsts[firsts < onsets.size]]
