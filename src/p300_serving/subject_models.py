"""Per-subject models served by the same API: their routing, and a cache that picks one.

Each Lambda version of the prediction function carries its population model (System A's
release: fixed when the version is published). A subject calibrated on its own data is served
from a registry the release commands write (`p300_aws.serving_registry` keeps it in S3): per
study and subject, the bundles by model version and a routing document, `SubjectRouting`, that
gives each alias (``champion``, ``challenger``) its model versions and their weights, the
version it replaced (for a rollback) and the history of changes. A canary moves those weights,
not Lambda versions.

The app reads the registry through `SubjectModels`, a protocol with two reads, so that this
package stays free of boto3 and AWS: the Lambda handler injects the S3 implementation.

`SubjectModelCache` keeps each routing document for `ROUTING_TTL_S` (a plain time to live, not
ETag revalidation: revalidating costs one S3 request per prediction, ~5–10 ms on the local cloud,
while a release only has to wait out the TTL before it measures its canary) and bundles by
version (immutable: a version's bundle never changes), and draws a version by weight for each
request.
"""

import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from p300_serving.errors import ModelUnavailableError
from p300_serving.model import SUBJECT, BundleError, ServedModel, load_bundle_bytes

#: Seconds a routing document is reused before it is read again.
ROUTING_TTL_S = 5.0
#: Bundles kept loaded per environment (a subject's champion and challenger, a few subjects).
BUNDLE_CACHE_SIZE = 16
#: Changes kept in a routing document's history (S3 versions keep every document anyway).
HISTORY_LENGTH = 50
ROUTING_FORMAT_VERSION = 1
_WEIGHT_TOLERANCE = 1e-6


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AliasRouting(_Document):
    """Which model versions serve one alias of a subject, and with what share of its requests.

    Attributes
    ----------
    weights : dict of str to float
        Model version → share in (0, 1]; the shares sum to 1.
    previous_version : str or None
        The version the alias served before its last move (what a rollback returns to).
    """

    weights: dict[str, Annotated[float, Field(gt=0, le=1)]]
    previous_version: str | None = None

    @model_validator(mode="after")
    def _shares_sum_to_one(self) -> "AliasRouting":
        total = sum(self.weights.values())
        if not self.weights or abs(total - 1) > _WEIGHT_TOLERANCE:
            raise ValueError(
                f"weights must give model versions shares summing to 1, got {self.weights}"
            )
        return self

    @property
    def main_version(self) -> str:
        """The version with the largest share (the one a canary moves traffic from)."""
        return max(self.weights, key=lambda version: (self.weights[version], version))


class RoutingChange(_Document):
    """One change of a subject's routing: when (UTC, ISO 8601), what, and the weights after."""

    at: str
    action: str
    alias: str
    weights: dict[str, float]


class SubjectRouting(_Document):
    """``routing.json`` of one subject of one study.

    Attributes
    ----------
    study, subject : str
    model : str
        The subject's registered model (MLflow) whose versions the aliases name.
    aliases : dict of str to AliasRouting
        Only the aliases that serve this subject; the others fall back to the population model.
    history : list of RoutingChange
        The latest `HISTORY_LENGTH` changes, oldest first.
    """

    format_version: Literal[1] = ROUTING_FORMAT_VERSION
    study: str
    subject: str
    model: str
    aliases: dict[str, AliasRouting] = Field(default_factory=dict)
    history: tuple[RoutingChange, ...] = ()

    def with_alias(self, alias: str, routing: AliasRouting, *, action: str, at: str):
        """A copy where ``alias`` routes as ``routing``, the change appended to the history."""
        change = RoutingChange(at=at, action=action, alias=alias, weights=routing.weights)
        return self.model_copy(
            update={
                "aliases": {**self.aliases, alias: routing},
                "history": (*self.history, change)[-HISTORY_LENGTH:],
            }
        )


def parse_routing(data: bytes, *, source: str) -> SubjectRouting:
    """Parse ``routing.json`` bytes; raises ValueError naming ``source`` and each problem."""
    try:
        return SubjectRouting.model_validate_json(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'document'}: {e['msg']}" for e in exc.errors()
        )
        raise ValueError(f"routing document {source} is invalid: {problems}") from None


def pick_version(weights: dict[str, float], draw: float) -> str:
    """The version whose cumulative share (versions in sorted order) first exceeds ``draw``.

    Parameters
    ----------
    weights : dict of str to float
        Model version → share, summing to 1.
    draw : float in [0, 1)
    """
    versions = sorted(weights, key=lambda version: (len(version), version))
    cumulative = 0.0
    for version in versions:
        cumulative += weights[version]
        if draw < cumulative:
            return version
    return versions[-1]  # rounding: the shares summed to just under 1


class SubjectModels(Protocol):
    """Where the app reads per-subject routing and bundles (the S3 registry in the Lambda)."""

    def read_routing(self, study: str, subject: str) -> bytes | None:
        """The subject's ``routing.json``, or None when the subject has no model."""
        ...

    def read_bundle(self, study: str, subject: str, model_version: str) -> bytes:
        """The bytes of the zipped bundle of one model version of the subject."""
        ...


class SubjectModelCache:
    """Routing documents for `ROUTING_TTL_S` and bundles by version, read from ``store``.

    Parameters
    ----------
    store : SubjectModels
    ttl_s : float
        Seconds a routing document is reused.
    clock : callable
        Monotonic seconds.
    draw : callable
        Uniform draws in [0, 1) that choose a version by weight.
    """

    def __init__(
        self,
        store: SubjectModels,
        *,
        ttl_s: float = ROUTING_TTL_S,
        clock: Callable[[], float] = time.monotonic,
        draw: Callable[[], float] = random.random,
    ):
        self.store = store
        self.ttl_s = ttl_s
        self.clock = clock
        self.draw = draw
        self._routing: dict[tuple[str, str], tuple[float, SubjectRouting | None]] = {}
        self._bundles: OrderedDict[tuple[str, str, str], ServedModel] = OrderedDict()
        self._lock = threading.Lock()

    def routing(self, study: str, subject: str) -> SubjectRouting | None:
        """The subject's routing (None when it has no model), at most ``ttl_s`` old."""
        key = (study, subject)
        now = self.clock()
        with self._lock:
            cached = self._routing.get(key)
        if cached is not None and now - cached[0] < self.ttl_s:
            return cached[1]
        where = f"of subject {subject!r} of study {study!r}"
        data = _read(lambda: self.store.read_routing(study, subject), f"the routing {where}")
        routing = None
        if data is not None:
            try:
                routing = parse_routing(data, source=f"routing.json {where}")
            except ValueError as exc:
                raise ModelUnavailableError(str(exc)) from None
        with self._lock:
            self._routing[key] = (now, routing)
        return routing

    def model(self, study: str, subject: str, alias: str) -> ServedModel | None:
        """The subject's model for one request under ``alias`` (drawn by weight), or None when
        the subject has no model under that alias."""
        routing = self.routing(study, subject)
        served = None if routing is None else routing.aliases.get(alias)
        if served is None:
            return None
        version = pick_version(served.weights, self.draw())
        return self._bundle(study, subject, version)

    def _bundle(self, study: str, subject: str, version: str) -> ServedModel:
        key = (study, subject, version)
        with self._lock:
            if key in self._bundles:
                self._bundles.move_to_end(key)
                return self._bundles[key]
        source = f"version {version} of subject {subject!r} of study {study!r}"
        data = _read(
            lambda: self.store.read_bundle(study, subject, version), f"the bundle {source}"
        )
        try:
            model = load_bundle_bytes(data, source=f"the bundle of {source}")
        except BundleError as exc:
            raise ModelUnavailableError(str(exc)) from None
        except Exception as exc:  # a pickled pipeline whose packages this function lacks
            raise ModelUnavailableError(f"cannot load the bundle of {source}: {exc!r}") from exc
        info = model.info
        if (info.kind, info.study, info.subject) != (SUBJECT, study, subject):
            raise ModelUnavailableError(
                f"the bundle of {source} holds a {info.kind} model of study {info.study!r}, "
                f"subject {info.subject!r}: the serving registry is inconsistent"
            )
        with self._lock:
            self._bundles[key] = model
            while len(self._bundles) > BUNDLE_CACHE_SIZE:
                self._bundles.popitem(last=False)
        return model


def _read(action: Callable, what: str):
    """``action()``; any failure of the store becomes a 503 naming ``what`` could not be read."""
    try:
        return action()
    except Exception as exc:  # the store is S3 behind boto3: any error means "unavailable"
        raise ModelUnavailableError(f"cannot read {what}: {exc}") from exc
