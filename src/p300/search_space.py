"""Hyperparameter search: trial parameter sets, grid expansion and the choice of the best trial.

A grid maps names to lists of values: ``model`` (model names), ``window`` (``[start, stop]`` in
s, or None for the whole epoch), ``decimation`` (ints) and any model hyperparameter (e.g.
``shrinkage``). Its expansion is the product of the lists, where each model only takes the
hyperparameters it has: ``{"model": ["lda", "xdawn-riemann"], "shrinkage": ["auto", 0.1]}``
gives two LDA trials and one Xdawn-Riemann trial.
"""

import itertools
import math
import random
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, model_validator

from p300.models import DEFAULT_MODEL, MODEL_NAMES, model_params

#: Grid names that are not model hyperparameters.
MODEL_KEY, WINDOW_KEY, DECIMATION_KEY = "model", "window", "decimation"
#: Searched by ``p300 train --tune`` when no grid is given (18 LDA trials, quick to fit); a grid
#: with ``model=lda,xdawn-riemann`` compares model types.
DEFAULT_GRID: dict[str, list] = {
    MODEL_KEY: ["lda"],
    "shrinkage": ["auto", 0.01, 0.1],
    WINDOW_KEY: [None, [0.1, 0.6], [0.2, 0.5]],
    DECIMATION_KEY: [1, 2],
}


type _Number = Annotated[float, Strict()]


class TrialParams(BaseModel):
    """One trial: a model, its hyperparameters, the epoch window (s) and the decimation.

    Built from JSON (the tuning events) with ``model_validate``: strict JSON types, no unknown
    keys; a ``ValidationError`` names the bad entry.
    """

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    model_name: Literal[MODEL_NAMES] = DEFAULT_MODEL  # type: ignore[valid-type]
    model_params: dict[str, Any] = Field(default_factory=dict)
    #: [start, stop] in s (start < stop), or None for the whole epoch.
    window_s: Annotated[tuple[_Number, _Number], Field(strict=False)] | None = None
    decimation: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _check(self) -> "TrialParams":
        extra = sorted(set(self.model_params) - set(model_params(self.model_name)))
        if extra:
            raise ValueError(
                f"trial model_params {extra} are not parameters of {self.model_name!r}; "
                f"allowed: {sorted(model_params(self.model_name))}"
            )
        if self.window_s is not None and not self.window_s[0] < self.window_s[1]:
            raise ValueError(
                f"trial window_s must be [start, stop] in s, got {list(self.window_s)!r}"
            )
        return self

    def label(self) -> str:
        """A short description for tables, e.g. ``lda shrinkage=0.1 window=0–0.6 s k=2``."""
        parts = [self.model_name, *(f"{k}={v}" for k, v in sorted(self.model_params.items()))]
        if self.window_s is not None:
            parts.append(f"window={self.window_s[0]:g}–{self.window_s[1]:g} s")
        if self.decimation != 1:
            parts.append(f"k={self.decimation}")
        return " ".join(parts)


def expand_grid(
    grid: Mapping[str, Sequence], *, max_trials: int | None = None, seed: int = 0
) -> list[TrialParams]:
    """All distinct trials of ``grid`` (see the module docstring), or ``max_trials`` of them.

    Parameters
    ----------
    grid : mapping str -> sequence
        Names to candidate values; ``model`` defaults to ``[DEFAULT_MODEL]``.
    max_trials : int >= 1, optional
        Keep this many trials drawn at random (seeded) when the grid has more; they keep the
        grid's order.
    seed : int
        Seed of that draw.
    """
    for name, values in grid.items():
        if isinstance(values, str) or not isinstance(values, Sequence) or not values:
            raise ValueError(f"grid values of {name!r} must be a non-empty list, got {values!r}")
    if max_trials is not None and not (isinstance(max_trials, int) and max_trials >= 1):
        raise ValueError(f"max_trials must be an integer >= 1, got {max_trials!r}")
    trials: list[TrialParams] = []
    for model in grid.get(MODEL_KEY, [DEFAULT_MODEL]):
        if model not in MODEL_NAMES:
            raise ValueError(f"grid model must be among {list(MODEL_NAMES)}, got {model!r}")
        names = [n for n in grid if n in model_params(model) or n in (WINDOW_KEY, DECIMATION_KEY)]
        for values in itertools.product(*(grid[n] for n in names)):
            chosen = dict(zip(names, values, strict=True))
            trial = _trial({
                "model_name": model,
                "model_params": {n: v for n, v in chosen.items() if n in model_params(model)},
                "window_s": chosen.get(WINDOW_KEY),
                "decimation": chosen.get(DECIMATION_KEY, 1),
            })  # fmt: skip
            if trial not in trials:
                trials.append(trial)
    unused = sorted(set(grid) - {MODEL_KEY, WINDOW_KEY, DECIMATION_KEY} - _all_params(grid))
    if unused:
        raise ValueError(f"grid names {unused} are no parameter of the models searched")
    if max_trials is None or max_trials >= len(trials):
        return trials
    kept = sorted(random.Random(seed).sample(range(len(trials)), max_trials))
    return [trials[i] for i in kept]


def _trial(values: Mapping) -> TrialParams:
    """A grid point as a trial; a ValueError naming the first bad value."""
    try:
        return TrialParams.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        if error["type"] == "value_error":  # its message names the entry and the value
            raise ValueError(str(error["ctx"]["error"])) from None
        where = ".".join(map(str, error["loc"]))
        raise ValueError(f"trial {where}: {error['msg']}, got {error['input']!r}") from None


def _all_params(grid: Mapping) -> set[str]:
    return {p for model in grid.get(MODEL_KEY, [DEFAULT_MODEL]) for p in model_params(model)}


def best_trial(results: Sequence[Mapping]) -> Mapping:
    """The succeeded trial with the highest held-out ROC-AUC; ties go to the lowest ``index``.

    Parameters
    ----------
    results : sequence of mapping
        Trial results with ``index``, ``status`` (``"succeeded"`` or ``"failed"``) and, when
        succeeded, ``roc_auc`` (float, or None when undefined).

    Raises
    ------
    ValueError
        When no trial succeeded with a defined ROC-AUC; the message counts the failures.
    """
    scored = [
        r for r in results
        if r.get("status") == "succeeded" and isinstance(r.get("roc_auc"), int | float)
        and not math.isnan(r["roc_auc"])
    ]  # fmt: skip
    if not scored:
        failed = [r for r in results if r.get("status") != "succeeded"]
        reasons = "; ".join(
            f"trial {r.get('index')}: {r.get('error')}: {str(r.get('cause'))[:300]}"
            for r in failed[:3]
        )
        raise ValueError(
            f"no trial has a held-out ROC-AUC: {len(failed)} of {len(results)} trials failed, "
            f"the others had a single class in their held-out subjects"
            + (f" ({reasons})" if reasons else "")
        )
    return min(scored, key=lambda r: (-r["roc_auc"], r["index"]))
