"""Read BCI2000 ``.dat`` files (format versions 1.0 and 1.1): parameters, signal in µV, states.

Why a reader of our own. MNE 1.13's ``mne.io.read_raw_bci2k`` reads the samples but ignores
``SourceChGain``/``SourceChOffset`` and stores the file's numbers as volts (``get_data(units="uV")``
of a file in µV is 10⁶ too large), keeps only the ``StimulusCode`` state (not ``StimulusType``,
the target flag, nor ``PhaseInSequence``), and keeps only the first word of each parameter, so
lists and matrices (gains, ``TargetDefinitions``, ``NumMatrixRows``) are lost. BCI2kReader
0.32.dev0 (2020, "use with caution") is GPL-3 licensed, unpacks samples in a Python loop and
relies on ``numpy.matrix``. The format is small enough to read here in full.

The format. A text header of ``HeaderLen`` bytes, then one frame per sample: ``SourceCh`` values
(``DataFormat`` int16, int32 or float32, little-endian; int16 when absent, as in version 1.0) and
``StatevectorLen`` bytes of state vector.

- First line: ``BCI2000V= 1.1 HeaderLen= 19595 SourceCh= 10 StatevectorLen= 15 DataFormat= float32``
  (version 1.0 has no ``BCI2000V`` nor ``DataFormat``).
- ``[ State Vector Definition ]``: ``Name Length Value ByteLocation BitLocation`` per state; a
  state's bits start at bit ``BitLocation`` of byte ``ByteLocation`` and run upwards through the
  following bytes (least significant bit first).
- ``[ Parameter Definition ]``: ``Section Type Name= Value ... // comment``. Lists start with
  their length, matrices with their row and column counts (a count may be a ``{ label ... }``
  list); words are URL-encoded (``%20``), and ``%`` alone is an empty word. Numbers may carry a
  unit (``256Hz``, ``0.1muV``).

Signal in µV = (stored value - ``SourceChOffset``) × ``SourceChGain``; a gain without a unit is in
µV per stored unit, BCI2000's convention for EEG.
"""

import os
import re
from dataclasses import dataclass

import numpy as np

from p300.checks import check_choice

#: Sample types of ``DataFormat`` (little-endian).
DATA_FORMATS = {"int16": "<i2", "int32": "<i4", "float32": "<f4"}
#: File format versions read here (1.0 has no ``BCI2000V`` key on its first line).
VERSIONS = ("1.0", "1.1")
_STATE_SECTION, _PARAMETER_SECTION = "State Vector Definition", "Parameter Definition"
_MICROVOLTS_PER_UNIT = {"": 1.0, "muV": 1.0, "uV": 1.0, "µV": 1.0, "mV": 1e3, "V": 1e6, "nV": 1e-3}
_NUMBER = re.compile(r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S*)")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_FIRST_LINE_BYTES = 1024


@dataclass(frozen=True)
class Bci2000Parameter:
    """One line of the parameter section, its value kept as words and decoded on demand."""

    section: str
    type: str
    name: str
    words: tuple[str, ...]

    @property
    def value(self) -> str:
        """The value of a scalar parameter (int, float, string, ...), decoded."""
        if not self.words:
            raise ValueError(f"BCI2000 parameter {self.name} has no value")
        return _decode(self.words[0])

    def as_list(self) -> list[str]:
        """The values of a list parameter (list, intlist, floatlist, stringlist), decoded."""
        count, _, start = self._dimension(0)
        return self._words(start, count)

    def as_matrix(self) -> tuple[list[str] | None, list[str] | None, list[list[str]]]:
        """Row labels, column labels (None when the file gives counts) and rows of values."""
        n_rows, row_labels, start = self._dimension(0)
        n_columns, column_labels, start = self._dimension(start)
        values = self._words(start, n_rows * n_columns)
        rows = [values[i * n_columns : (i + 1) * n_columns] for i in range(n_rows)]
        return row_labels, column_labels, rows

    def _dimension(self, start: int) -> tuple[int, list[str] | None, int]:
        """A list length or matrix dimension at word ``start``: count, labels, next word."""
        if start < len(self.words) and self.words[start] == "{":
            if "}" not in self.words[start:]:
                raise ValueError(f"BCI2000 parameter {self.name}: unclosed '{{' label list")
            end = self.words.index("}", start)
            labels = [_decode(word) for word in self.words[start + 1 : end]]
            return len(labels), labels, end + 1
        try:
            return int(self.words[start]), None, start + 1
        except (IndexError, ValueError):
            raise ValueError(
                f"BCI2000 parameter {self.name} ({self.type}) must start with a count, got "
                f"{' '.join(self.words[start : start + 3])!r}"
            ) from None

    def _words(self, start: int, count: int) -> list[str]:
        words = self.words[start : start + count]
        if len(words) < count or "{" in words:
            raise ValueError(
                f"BCI2000 parameter {self.name} ({self.type}) should hold {count} plain values "
                f"(nested lists are not supported), got {' '.join(self.words[start:])!r}"
            )
        return [_decode(word) for word in words]


@dataclass(frozen=True)
class Bci2000File:
    """The content of a BCI2000 ``.dat`` file.

    Attributes
    ----------
    signal : ndarray, shape (n_channels, n_samples)
        float64, in µV (gains and offsets applied).
    states : dict of str to ndarray, each shape (n_samples,)
        int64 value of every state at every sample.
    parameters : dict of str to Bci2000Parameter
    sfreq : float
        Sampling rate in Hz.
    ch_names : tuple of str
        ``ChannelNames`` when it names every channel, else ``EEG1`` … ``EEGn``.
    version, data_format : str
    """

    signal: np.ndarray
    states: dict[str, np.ndarray]
    parameters: dict[str, Bci2000Parameter]
    sfreq: float
    ch_names: tuple[str, ...]
    version: str
    data_format: str


@dataclass(frozen=True)
class _State:
    length: int
    first_bit: int


def read_bci2000(path: str | os.PathLike) -> Bci2000File:
    """Read a BCI2000 ``.dat`` file (see the module docstring for the format).

    Raises
    ------
    ValueError
        When the file is not a BCI2000 file, has a format version or ``DataFormat`` not read here,
        a malformed header, or is truncated (its data is not a whole number of samples).
    """
    name = os.fspath(path)
    with open(path, "rb") as file:
        first_line = file.read(_FIRST_LINE_BYTES).split(b"\n", 1)[0].decode("latin-1").strip()
        fields = dict(re.findall(r"(\w+)=\s*(\S+)", first_line))
        version, header_len, n_channels, state_bytes, data_format = _first_line(
            fields, first_line, name
        )
        file.seek(0)
        header = file.read(header_len)
    if len(header) < header_len:
        raise ValueError(
            f"BCI2000 file {name!r} is truncated: its header says HeaderLen={header_len} bytes, "
            f"the file has {len(header)}"
        )
    sections = _sections(header.decode("latin-1"), name)
    states = _state_definitions(sections[_STATE_SECTION], state_bytes, name)
    parameters = _parameters(sections.get(_PARAMETER_SECTION, []))
    frames = _frames(path, header_len, n_channels, state_bytes, DATA_FORMATS[data_format])
    offsets, gains = _offsets_and_gains(parameters, n_channels)
    return Bci2000File(
        signal=(frames["signal"].T.astype(np.float64) - offsets[:, None]) * gains[:, None],
        states={key: _state_values(frames["state"], state) for key, state in states.items()},
        parameters=parameters,
        sfreq=_sampling_rate(parameters, name),
        ch_names=_channel_names(parameters, n_channels),
        version=version,
        data_format=data_format,
    )


def _first_line(fields: dict[str, str], first_line: str, name: str):
    required = ("HeaderLen", "SourceCh", "StatevectorLen")
    if any(key not in fields for key in required):
        raise ValueError(
            f"{name!r} is not a BCI2000 .dat file: its first line must hold "
            f"{'=, '.join(required)}=, got {first_line[:100]!r}"
        )
    version = fields.get("BCI2000V", "1.0")
    if version not in VERSIONS:
        raise ValueError(
            f"BCI2000 file {name!r} has format version BCI2000V={version!r}; this reader reads "
            f"versions {VERSIONS}"
        )
    data_format = fields.get("DataFormat", "int16")
    check_choice(f"DataFormat of BCI2000 file {name!r}", data_format, DATA_FORMATS)
    try:
        numbers = [int(fields[key]) for key in required]
    except ValueError:
        raise ValueError(
            f"BCI2000 file {name!r}: {', '.join(required)} must be whole numbers, got "
            f"{first_line[:100]!r}"
        ) from None
    return version, *numbers, data_format


def _sections(header: str, name: str) -> dict[str, list[str]]:
    """Header lines after the first, grouped under their ``[ Section ]`` title."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in header.splitlines()[1:]:
        title = re.fullmatch(r"\s*\[\s*(.*?)\s*\]\s*", line)
        if title:
            current = sections.setdefault(title.group(1), [])
        elif line.strip() and current is not None:
            current.append(line.strip())
    if _STATE_SECTION not in sections:
        raise ValueError(
            f"BCI2000 file {name!r} has no '[ {_STATE_SECTION} ]' section; sections found: "
            f"{sorted(sections)}"
        )
    return sections


def _state_definitions(lines: list[str], state_bytes: int, name: str) -> dict[str, _State]:
    states = {}
    for line in lines:
        words = line.split()
        try:
            state, length, _, byte, bit = words[0], *map(int, words[1:5])
        except (IndexError, ValueError):
            raise ValueError(
                f"BCI2000 file {name!r}: state line must be 'Name Length Value ByteLocation "
                f"BitLocation', got {line!r}"
            ) from None
        first_bit = byte * 8 + bit
        if not 1 <= length <= 32 or first_bit < 0 or first_bit + length > state_bytes * 8:
            raise ValueError(
                f"BCI2000 file {name!r}: state {state} (length {length} at byte {byte} bit {bit}) "
                f"does not fit a {state_bytes}-byte state vector"
            )
        states[state] = _State(length, first_bit)
    return states


def _parameters(lines: list[str]) -> dict[str, Bci2000Parameter]:
    parameters = {}
    for line in lines:
        words = line.split()
        if "//" in words:
            words = words[: words.index("//")]
        named = next((i for i, word in enumerate(words) if "=" in word), None)
        if named is None or named < 2:
            continue  # not a parameter line; nothing here depends on it
        key, _, rest = words[named].partition("=")
        value_words = ([rest] if rest else []) + words[named + 1 :]
        parameters[key] = Bci2000Parameter(words[0], words[1], key, tuple(value_words))
    return parameters


def _frames(path, header_len: int, n_channels: int, state_bytes: int, sample_type: str):
    frame = np.dtype([("signal", sample_type, (n_channels,)), ("state", "u1", (state_bytes,))])
    data_bytes = os.path.getsize(path) - header_len
    if data_bytes <= 0 or data_bytes % frame.itemsize:
        raise ValueError(
            f"BCI2000 file {os.fspath(path)!r} is truncated or empty: {data_bytes} bytes after the "
            f"header are not a whole, non-zero number of {frame.itemsize}-byte samples "
            f"({n_channels} channels of {np.dtype(sample_type).itemsize} bytes and {state_bytes} "
            "state bytes)"
        )
    return np.fromfile(path, dtype=frame, offset=header_len)


def _state_values(state_bytes: np.ndarray, state: _State) -> np.ndarray:
    """One state's values, shape (n_samples,) int64, from the state vectors (n_samples, n_bytes)."""
    first_byte, last_byte = state.first_bit // 8, (state.first_bit + state.length - 1) // 8
    packed = np.zeros(state_bytes.shape[0], np.uint64)
    for k, byte in enumerate(range(first_byte, last_byte + 1)):
        packed |= state_bytes[:, byte].astype(np.uint64) << np.uint64(8 * k)
    mask = np.uint64((1 << state.length) - 1)
    return ((packed >> np.uint64(state.first_bit % 8)) & mask).astype(np.int64)


def _offsets_and_gains(parameters, n_channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel offset (stored units) and gain (µV per stored unit), shape (n_channels,)."""
    offsets, gains = np.zeros(n_channels), np.ones(n_channels)
    for key, values in (("SourceChOffset", offsets), ("SourceChGain", gains)):
        if key not in parameters:
            continue
        words = parameters[key].as_list()
        if len(words) != n_channels:
            raise ValueError(
                f"BCI2000 parameter {key} has {len(words)} values for {n_channels} channels"
            )
        for i, word in enumerate(words):
            number, unit = _number(word, key)
            if key == "SourceChGain":
                if unit not in _MICROVOLTS_PER_UNIT:
                    raise ValueError(
                        f"BCI2000 parameter SourceChGain: unit must be one of "
                        f"{tuple(_MICROVOLTS_PER_UNIT)}, got {word!r}"
                    )
                number *= _MICROVOLTS_PER_UNIT[unit]
            values[i] = number
    return offsets, gains


def _sampling_rate(parameters, name: str) -> float:
    if "SamplingRate" not in parameters:
        raise ValueError(f"BCI2000 file {name!r} has no SamplingRate parameter")
    word = parameters["SamplingRate"].value
    rate, unit = _number(word, "SamplingRate")
    if unit not in ("", "Hz") or rate <= 0:
        raise ValueError(f"BCI2000 parameter SamplingRate must be a rate in Hz, got {word!r}")
    return rate


def _channel_names(parameters, n_channels: int) -> tuple[str, ...]:
    names = parameters["ChannelNames"].as_list() if "ChannelNames" in parameters else []
    if len(names) == n_channels and all(names):
        return tuple(names)
    return tuple(f"EEG{i + 1}" for i in range(n_channels))


def _number(word: str, key: str) -> tuple[float, str]:
    match = _NUMBER.fullmatch(word.strip())
    if match is None:
        raise ValueError(f"BCI2000 parameter {key} must be a number, got {word!r}")
    return float(match.group(1)), match.group(2)


def _decode(word: str) -> str:
    """A header word without its URL encoding; ``%`` alone is the empty word."""
    return "" if word == "%" else _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), word)
