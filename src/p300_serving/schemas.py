"""Request and response bodies of the prediction API (pydantic models).

Feature vectors are epochs flattened channel-major (channels × time) in µV, exactly as
`p300.types.EpochFeatures.features`. A batch travels either as nested JSON lists or, for speed,
as base64 of little-endian float32 values in row-major order (``features_b64``).
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Item = int | str


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FeatureBatch(_Strict):
    """Exactly one of ``features`` and ``features_b64``."""

    features: list[list[float]] | None = Field(
        default=None, description="Shape (n_epochs, n_features): flattened epochs in µV."
    )
    features_b64: str | None = Field(
        default=None,
        description="Base64 of n_epochs × n_features little-endian float32 values, row-major.",
    )

    @model_validator(mode="after")
    def _one_encoding(self):
        if (self.features is None) == (self.features_b64 is None):
            raise ValueError("give exactly one of 'features' and 'features_b64'")
        return self


class PredictRequest(FeatureBatch):
    pass


class RawWindow(_Strict):
    """A raw EEG window in the landing contract's terms (see `p300.types.RawRecording`)."""

    sfreq: float = Field(gt=0, description="Sampling frequency in Hz.")
    ch_names: list[str] = Field(min_length=1, description="EEG channel names, in data order.")
    data: list[list[float]] = Field(description="Shape (n_channels, n_times): EEG in µV.")
    stim: list[int] = Field(
        description="Shape (n_times,): 0 none, 1 non-target or unknown flash, 2 target flash; "
        "each flash marked on its onset sample only."
    )
    stim_item: list[int] | None = Field(
        default=None, description="Shape (n_times,): item or group each flash showed; -1 elsewhere."
    )


class PredictRawRequest(RawWindow):
    return_features: bool = Field(
        default=False, description="Also return each kept epoch's feature vector."
    )


class DecodeRequest(_Strict):
    """Flashes with the items they showed: feature vectors per flash, or a raw window."""

    features: list[list[float]] | None = Field(
        default=None, description="Shape (n_flashes, n_features), flattened epochs in µV."
    )
    features_b64: str | None = Field(
        default=None, description="As in /predict: base64 little-endian float32, row-major."
    )
    flashed_items: list[Item | list[Item]] | None = Field(
        default=None, description="With features: the item, or the items, each flash showed."
    )
    raw: RawWindow | None = Field(
        default=None, description="Instead of features: a window whose stim_item names the items."
    )
    groups: dict[str, list[Item]] | None = Field(
        default=None,
        description="Items shown by each flashed group id (e.g. speller rows and columns); "
        "without it a flash shows the item it names.",
    )
    candidates: list[Item] | None = Field(
        default=None, description="Items to rank; by default every item flashed."
    )
    aggregate: Literal["sum", "mean"] = "sum"

    @model_validator(mode="after")
    def _one_source(self):
        given = [name for name in ("features", "features_b64", "raw") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of 'features', 'features_b64' and 'raw'; got {given or 'none'}"
            )
        if self.raw is None and self.flashed_items is None:
            raise ValueError("'flashed_items' is required with feature vectors")
        if self.raw is not None and self.raw.stim_item is None:
            raise ValueError("'raw.stim_item' is required to decode from a raw window")
        return self


class ModelReference(BaseModel):
    """Which model answered."""

    name: str
    version: str | None
    alias: str | None
    run_id: str | None
    kind: Literal["population", "subject"] = Field(
        description="Trained across a study's subjects, or calibrated for one subject."
    )
    study: str = Field(description="The study whose preprocessing the model was trained on.")
    subject: str | None = Field(description="The subject of a subject model.")


class PredictResponse(BaseModel):
    labels: list[int] = Field(description="1 target, 0 non-target, per epoch.")
    target_probability: list[float]
    model: ModelReference


class RejectedEpoch(BaseModel):
    onset_sample: int
    reason: str


class EpochPrediction(BaseModel):
    onset_sample: int
    stim_item: int
    label: int
    target_probability: float
    score: float = Field(description="Decision score (log-odds of target).")
    features: list[float] | None = None


class PredictRawResponse(BaseModel):
    epochs: list[EpochPrediction]
    rejected: list[RejectedEpoch]
    model: ModelReference


class RankedItem(BaseModel):
    item: Item
    evidence: float
    n_flashes: int


class DecodeResponse(BaseModel):
    best: Item
    ranking: list[RankedItem] = Field(description="Best first.")
    n_flashes_used: int
    rejected: list[RejectedEpoch]
    model: ModelReference


class ModelDescription(ModelReference):
    metrics: dict[str, float]
    features_schema: dict


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    model: ModelReference | None = None
    detail: str | None = None


class ErrorBody(BaseModel):
    detail: str
    errors: list[dict] | None = None
