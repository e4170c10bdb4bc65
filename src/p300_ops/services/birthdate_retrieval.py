"""`p300 birthdate`: System B's birthdate retrieval through the prediction API's ``/decode``.

A synthetic session is generated for the given date; each field's block (days, months, years) is
sent as raw EEG windows, blind (no flash marked as target), to ``/predict-<alias>/decode``, which
preprocesses them exactly as the pipeline does (System B's shared transform) and ranks the
candidates. Windows are at most ``max_window_s`` long so that a request stays well under the
6 MB Lambda payload limit; the evidence of a block's windows is summed, then averaged per flash.
"""

import datetime
import time
from contextlib import nullcontext
from dataclasses import dataclass

from p300.birthdate import (
    FIELDS,
    BirthdateDecoding,
    BirthdateSession,
    blinded,
    block_recording,
    decode_birthdate,
    split_windows,
)
from p300.types import RawRecording
from p300_aws.names import CHALLENGER_ALIAS, CHAMPION_ALIAS
from p300_ops.services.raw_windows import raw_window_body

#: Longest raw window per request, in s: 40 s × 16 channels × 512 Hz is about 2.3 MB of JSON.
DEFAULT_MAX_WINDOW_S = 40.0


@dataclass(frozen=True)
class BlockResult:
    """What the API answered for one field's block.

    Attributes
    ----------
    field : {'day', 'month', 'year'}
    target : int
        The true value.
    evidence : dict of int to float
        Mean decision score per flash of each candidate with at least one kept flash.
    n_flashes : dict of int to int
        Kept flashes per candidate.
    n_rejected : int
        Flashes the service's preprocessing dropped (amplitude).
    latencies_ms : tuple of float
        Round-trip time of each request.
    """

    field: str
    target: int
    evidence: dict[int, float]
    n_flashes: dict[int, int]
    n_rejected: int
    latencies_ms: tuple[float, ...]


@dataclass(frozen=True)
class BirthdateRun:
    """A retrieval: the truth, what was decoded, each block's answers and the model used."""

    truth: datetime.date
    decoding: BirthdateDecoding
    blocks: tuple[BlockResult, ...]
    model: dict
    url: str

    @property
    def correct(self) -> bool:
        return self.decoding.date == self.truth

    def to_dict(self) -> dict:
        fields = {f.field: f for f in self.decoding.fields}
        return {
            "truth": self.truth.isoformat(),
            "decoded": self.decoding.date.isoformat(),
            "correct": self.correct,
            "adjusted_for_validity": self.decoding.adjusted,
            "model": self.model,
            "url": self.url,
            "blocks": [
                {
                    "field": block.field, "target": block.target,
                    "chosen": fields[block.field].chosen,
                    "chosen_rank": fields[block.field].chosen_rank,
                    "margin": fields[block.field].margin,
                    "ranking": [{"item": item, "evidence": evidence,
                                 "n_flashes": block.n_flashes[item]}
                                for item, evidence in zip(fields[block.field].items,
                                                          fields[block.field].evidence,
                                                          strict=True)],
                    "n_rejected": block.n_rejected, "latencies_ms": list(block.latencies_ms),
                }
                for block in self.blocks
            ],
        }  # fmt: skip


def retrieve_birthdate(
    session: BirthdateSession,
    *,
    api_base: str,
    alias: str = CHAMPION_ALIAS,
    max_window_s: float = DEFAULT_MAX_WINDOW_S,
    timeout_s: float = 120.0,
    client=None,
    headers: dict[str, str] | None = None,
) -> BirthdateRun:
    """Decode ``session``'s date through ``{api_base}/predict-{alias}/decode``.

    Parameters
    ----------
    session : BirthdateSession
    api_base : str
        The API stage URL, e.g. ``http://127.0.0.1:4566/_aws/execute-api/<id>/prod``.
    alias : {'champion', 'challenger'}
    max_window_s : float
        Longest raw window sent in one request, in s.
    timeout_s : float
        Per-request timeout in s (a cold Lambda start imports scipy first).
    client : httpx.Client, optional
        Sends the requests (e.g. FastAPI's TestClient); by default a new client.
    headers : dict, optional
        Sent with each request by the client made here: the ``Authorization`` bearer token
        (`p300_ops.services.cloud.Cloud.api_headers`).

    Raises
    ------
    RuntimeError
        When the API answers anything but 200 (with its status and detail).
    """
    import httpx

    if alias not in (CHAMPION_ALIAS, CHALLENGER_ALIAS):
        raise ValueError(f"alias must be {CHAMPION_ALIAS!r} or {CHALLENGER_ALIAS!r}, got {alias!r}")
    url = f"{api_base.rstrip('/')}/predict-{alias}/decode"
    blocks, model = [], {}
    # A client given by the caller stays open; one made here is closed.
    with (
        nullcontext(client) if client else httpx.Client(timeout=timeout_s, headers=headers) as http
    ):
        for field in FIELDS:
            block = session.block(field)
            windows = split_windows(
                blinded(block_recording(session, field)), max_duration_s=max_window_s
            )
            answers, latencies = [], []
            for window in windows:
                started = time.perf_counter()
                response = http.post(url, json=decode_body(window, block.candidates))
                latencies.append((time.perf_counter() - started) * 1000.0)
                if response.status_code != 200:
                    raise RuntimeError(
                        f"POST {url} ({field} window) answered {response.status_code}: "
                        f"{response.text[:500]}"
                    )
                answers.append(response.json())
            model = answers[-1]["model"]
            blocks.append(_block_result(field, block.target, answers, latencies))
    decoding = decode_birthdate({block.field: block.evidence for block in blocks})
    return BirthdateRun(session.birthdate, decoding, tuple(blocks), model, url)


def decode_body(window: RawRecording, candidates: tuple[int, ...]) -> dict:
    """The ``/decode`` request for one raw window: summed evidence of ``candidates``."""
    return {"raw": raw_window_body(window), "candidates": list(candidates), "aggregate": "sum"}


def _block_result(field: str, target: int, answers: list[dict], latencies: list[float]):
    """Sum the windows' evidence and flash counts per candidate, then average per flash."""
    summed: dict[int, float] = {}
    counts: dict[int, int] = {}
    for answer in answers:
        for ranked in answer["ranking"]:
            item = int(ranked["item"])
            summed[item] = summed.get(item, 0.0) + ranked["evidence"]
            counts[item] = counts.get(item, 0) + ranked["n_flashes"]
    # A candidate whose every flash was rejected carries no evidence at all.
    evidence = {item: summed[item] / counts[item] for item in summed if counts[item]}
    return BlockResult(
        field=field, target=target, evidence=evidence,
        n_flashes={item: counts[item] for item in evidence},
        n_rejected=sum(len(answer["rejected"]) for answer in answers),
        latencies_ms=tuple(latencies),
    )  # fmt: skip
