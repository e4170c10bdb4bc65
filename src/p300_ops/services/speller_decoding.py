"""`p300 decode`: a recorded speller run sent through the prediction API character by character.

The recording (BCI2000 ``.dat``, OpenViBE ``.gdf`` or landing Parquet with ``stim_item`` and the
matrix in its metadata) is split into characters (its own character marks, else the pauses
between flashes). For each character and each number of repetitions r, the raw window that an
online speller would hold after r repetitions is sent to ``/predict-<alias>/studies/<study>/
subjects/<subject>/decode`` with the matrix's row and column groups: only that character's first
r repetitions are marked as flashes, and the window ends with the last one's epoch. The answer is
the symbol (or the cell number when the file names no symbols) with the most evidence.

Edges: each window carries `DEFAULT_CONTEXT_S` of the recording's own signal before the first
epoch and after the last (flashes there unmarked), so the band-pass filter sees real signal
where it can: 1.65 s is half the impulse response of the 1–20 Hz filter at 256 Hz. Where the
recording has no more signal (its first and last character), the service pads the window with
a mirror image (`p300_serving.service.DECODE_PAD`).

Truth is the symbol every target flash of the character shows (copy spelling); accuracy by r is
the share of characters decoded right with their first r repetitions.
"""

import dataclasses
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from p300.decoding import count_repetitions, flashed_item_sets, true_items
from p300.real_data import Speller, load_recording
from p300.types import STIM_TARGET, RawRecording
from p300_ops.services.errors import ServiceError
from p300_ops.services.raw_windows import raw_window_body
from p300_ops.services.subject_release import subject_route_url

#: Seconds of real signal sent on each side of a character's epochs.
DEFAULT_CONTEXT_S = 1.65


class DecodeError(ServiceError):
    """The recording cannot be decoded, or the API refused a request (its status and detail)."""


@dataclass(frozen=True)
class CharacterDecoding:
    """One character: its number in the recording (from 1), the truth, and the answer after
    each number of repetitions in ``repetitions``."""

    number: int
    truth: str | None
    repetitions: tuple[int, ...]
    decoded: tuple[str, ...]
    latencies_ms: tuple[float, ...]
    n_rejected: int


@dataclass(frozen=True)
class SpellerDecoding:
    """A recorded run decoded through the API.

    Attributes
    ----------
    url : str
        The ``/decode`` URL the windows went to.
    model : dict
        The model that answered the last request (name, version, alias, kind, study, subject).
    repetitions : tuple of int
        The numbers of repetitions decoded with (r).
    characters : tuple of CharacterDecoding
    accuracy : tuple of float or None
        Per r, the share of the characters with a known truth decoded right; None when no
        character's truth is known.
    """

    url: str
    model: dict
    repetitions: tuple[int, ...]
    characters: tuple[CharacterDecoding, ...]
    accuracy: tuple[float, ...] | None

    @property
    def decoded_text(self) -> str:
        """The answers with the most repetitions decoded."""
        return "".join(character.decoded[-1] for character in self.characters)

    @property
    def truth_text(self) -> str | None:
        truths = [character.truth for character in self.characters]
        return None if None in truths else "".join(truths)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self) | {
            "decoded_text": self.decoded_text, "truth_text": self.truth_text,
        }  # fmt: skip


def decode_recording(
    path: str | Path,
    *,
    api_base: str,
    study: str,
    subject: str,
    alias: str = "champion",
    repetitions: int | None = None,
    from_character: int = 1,
    context_s: float = DEFAULT_CONTEXT_S,
    timeout_s: float = 120.0,
    client=None,
    headers: dict[str, str] | None = None,
) -> SpellerDecoding:
    """Decode the speller recording at ``path`` through the API (see the module docstring).

    Parameters
    ----------
    path : path
        ``.dat``, ``.gdf`` or ``.parquet``.
    api_base : str
        The API stage URL, e.g. ``http://127.0.0.1:4566/_aws/execute-api/<id>/prod``.
    study, subject : str
        Whose model decodes (the subject's own, else its study's population model).
    alias : {'champion', 'challenger'}
    repetitions : int, optional
        Decode each character with its first ``repetitions`` only (one request per character);
        by default with 1, 2, …, all of them (one request each).
    from_character : int
        The first character decoded (1 is the first of the recording).
    context_s : float
        Seconds of signal sent on each side of a character's epochs.
    timeout_s : float
        Per request.
    client : httpx.Client, optional
        Sends the requests (e.g. FastAPI's TestClient); by default a new client.
    headers : dict, optional
        Sent with each request by the client made here: the ``Authorization`` bearer token
        (`p300_ops.services.cloud.Cloud.api_headers`).

    Raises
    ------
    DecodeError
        When the file holds no speller layout, has no character from ``from_character`` on, lacks
        the model's channels, or the API answers anything but 200.
    """
    import httpx

    if repetitions is not None and repetitions < 1:
        raise ValueError(f"repetitions must be an integer >= 1 or None (all), got {repetitions!r}")
    if from_character < 1:
        raise ValueError(f"from_character must be an integer >= 1, got {from_character!r}")
    if context_s < 0:
        raise ValueError(f"context_s must be a number of seconds >= 0, got {context_s!r}")
    recording = load_recording(path)
    speller = recording.speller
    if speller is None:
        raise DecodeError(
            f"{Path(path).name} is not a row/column speller recording: its metadata names no "
            "matrix (matrix_rows, matrix_columns) or its flashes carry no stim_item"
        )
    numbers = [c for c in sorted(set(speller.characters.tolist())) if c >= from_character - 1]
    if not numbers:
        raise DecodeError(
            f"{Path(path).name} has {int(speller.characters.max()) + 1} characters: none from "
            f"character {from_character} on"
        )
    route = subject_route_url(api_base.rstrip("/"), alias, study, subject)
    with (
        nullcontext(client) if client else httpx.Client(timeout=timeout_s, headers=headers) as http
    ):
        described = _get(http, f"{route}/model")
        raw = _model_channels(recording.raw, described["features_schema"]["ch_names"], path)
        schema = described["features_schema"]
        epoch = (float(schema["tmin"]), float(schema["tmax"]))
        groups = _groups(speller)
        characters, answer = [], {}
        for number in numbers:
            decoded, answer = _decode_character(
                http, f"{route}/decode", raw, speller, number, groups, epoch,
                repetitions=repetitions, context_s=context_s,
            )  # fmt: skip
            characters.append(decoded)
    steps = tuple(sorted({r for c in characters for r in c.repetitions}))
    return SpellerDecoding(
        url=f"{route}/decode", model=answer["model"],
        repetitions=steps, characters=tuple(_padded(c, steps) for c in characters),
        accuracy=_accuracy(characters, steps),
    )  # fmt: skip


def _decode_character(http, url, raw, speller, number, groups, epoch, *, repetitions, context_s):
    """One character's requests: the window after each number of repetitions."""
    flashes = np.flatnonzero(speller.characters == number)
    items = raw.stim_item[raw.onsets[flashes]]
    counts = count_repetitions(items.tolist())
    steps = [repetitions] if repetitions else list(range(1, int(counts.max()) + 1))
    truth = _truth(raw, speller, flashes)
    decoded, latencies, rejected, answer = [], [], 0, {}
    for r in steps:
        used = flashes[counts <= r]
        body = {"raw": raw_window_body(_window(raw, used, epoch, context_s)), "groups": groups}
        started = time.perf_counter()
        answer = _post(http, url, body)
        latencies.append((time.perf_counter() - started) * 1000.0)
        decoded.append(str(answer["best"]))
        rejected = len(answer["rejected"])
    result = CharacterDecoding(number + 1, truth, tuple(steps), tuple(decoded), tuple(latencies),
                               rejected)  # fmt: skip
    return result, answer


def _window(raw: RawRecording, flashes: np.ndarray, epoch, context_s: float) -> RawRecording:
    """The raw signal from ``context_s`` before the first flash's epoch to ``context_s`` after
    the last one's, with only ``flashes`` (indices into ``raw.onsets``) marked."""
    onsets = raw.onsets[flashes]
    margin = round(context_s * raw.sfreq)
    start = max(int(onsets[0] + np.floor(epoch[0] * raw.sfreq)) - margin, 0)
    stop = min(int(onsets[-1] + np.ceil(epoch[1] * raw.sfreq)) + 1 + margin, raw.n_times)
    stim = np.zeros(stop - start, dtype=raw.stim.dtype)
    stim[onsets - start] = raw.stim[onsets]
    stim_item = np.full(stop - start, -1, dtype=raw.stim_item.dtype)
    stim_item[onsets - start] = raw.stim_item[onsets]
    return dataclasses.replace(raw, data=raw.data[:, start:stop], stim=stim, stim_item=stim_item)


def _groups(speller: Speller) -> dict[str, list]:
    """``stim_item`` (as text) → the symbols (else cell numbers) its row or column shows."""
    cells = flashed_item_sets(range(speller.n_rows + speller.n_cols), speller.groups)
    name = (lambda cell: speller.symbols[cell]) if speller.symbols else (lambda cell: cell)
    return {str(group): [name(cell) for cell in sorted(shown)] for group, shown in enumerate(cells)}


def _truth(raw: RawRecording, speller: Speller, flashes: np.ndarray) -> str | None:
    """The symbol (or cell) all the character's target flashes show; None when unknown."""
    onsets = raw.onsets[flashes]
    shown = flashed_item_sets(raw.stim_item[onsets], speller.groups)
    targets = (raw.stim[onsets] == STIM_TARGET).astype(int)
    attended = true_items(shown, targets, np.zeros(len(flashes), int)).get(0)
    if attended is None:
        return None
    return speller.symbols[attended] if speller.symbols else str(attended)


def _model_channels(raw: RawRecording, ch_names: Sequence[str], path) -> RawRecording:
    """``raw`` with the model's channels in the model's order."""
    missing = [name for name in ch_names if name not in raw.ch_names]
    if missing:
        raise DecodeError(
            f"{Path(path).name} lacks the model's channels {missing}: the model takes "
            f"{list(ch_names)}, the recording has {list(raw.ch_names)}"
        )
    order = [raw.ch_names.index(name) for name in ch_names]
    return dataclasses.replace(raw, data=raw.data[order], ch_names=tuple(ch_names))


def _padded(character: CharacterDecoding, steps: tuple[int, ...]) -> CharacterDecoding:
    """Answers at every r of ``steps``: past its own last repetition a character's answer
    stays the one with all its flashes."""
    by_r = dict(zip(character.repetitions, character.decoded, strict=True))
    decoded = tuple(by_r.get(r, character.decoded[-1]) for r in steps)
    return dataclasses.replace(character, repetitions=steps, decoded=decoded)


def _accuracy(characters: list[CharacterDecoding], steps) -> tuple[float, ...] | None:
    known = [_padded(c, steps) for c in characters if c.truth is not None]
    if not known:
        return None
    return tuple(
        float(np.mean([c.decoded[i] == c.truth for c in known])) for i in range(len(steps))
    )


def _get(http, url: str) -> dict:
    return _checked(http.get(url), f"GET {url}")


def _post(http, url: str, body: dict) -> dict:
    return _checked(http.post(url, json=body), f"POST {url}")


def _checked(response, what: str) -> dict:
    if response.status_code != 200:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise DecodeError(f"{what} answered {response.status_code}: {str(detail)[:500]}")
    return response.json()
