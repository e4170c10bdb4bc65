"""Per-subject models: routing documents, the cache, and the subject routes of the app."""

import io
import json
import re
import zipfile
from collections import Counter

import pytest
from fastapi.testclient import TestClient

from p300_ops.services.model_bundles import write_bundle
from p300_serving.app import create_app
from p300_serving.errors import ModelUnavailableError
from p300_serving.model import DEFAULT_STUDY, load_bundle
from p300_serving.subject_models import (
    AliasRouting,
    SubjectModelCache,
    SubjectRouting,
    parse_routing,
    pick_version,
)

STUDY, SUBJECT = "bp-speller", "S01"
SUBJECT_URL = f"/predict-champion/studies/{STUDY}/subjects/{SUBJECT}"


class MemoryRegistry:
    """The registry's two reads over dicts, counting them."""

    def __init__(self):
        self.routing: dict[tuple[str, str], bytes] = {}
        self.bundles: dict[tuple[str, str, str], bytes] = {}
        self.reads = Counter()

    def read_routing(self, study, subject):
        self.reads["routing"] += 1
        return self.routing.get((study, subject))

    def read_bundle(self, study, subject, model_version):
        self.reads["bundle"] += 1
        return self.bundles[(study, subject, model_version)]

    def route(self, aliases: dict[str, dict[str, float]], *, study=STUDY, subject=SUBJECT):
        routing = SubjectRouting(
            study=study, subject=subject, model=f"P300-{study}_{subject}",
            aliases={alias: AliasRouting(weights=w) for alias, w in aliases.items()},
        )  # fmt: skip
        self.routing[(study, subject)] = routing.model_dump_json().encode()


def zipped_bundle(pipeline, schema, tmp_path, *, version, study=STUDY, subject=SUBJECT) -> bytes:
    folder = write_bundle(
        pipeline, tmp_path / f"bundle-{study}-{subject}-{version}", name=f"P300-{study}_{subject}",
        version=version, run_id="run", features_schema=schema, kind="subject", study=study,
        subject=subject,
    )  # fmt: skip
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in folder.iterdir():
            archive.write(path, path.name)
    return buffer.getvalue()


@pytest.fixture
def registry(pipeline, training, tmp_path):
    store = MemoryRegistry()
    for version in ("1", "2"):
        store.bundles[(STUDY, SUBJECT, version)] = zipped_bundle(
            pipeline, training[2], tmp_path, version=version
        )
    return store


@pytest.mark.parametrize(
    ("weights", "draw", "expected"),
    [
        ({"1": 1.0}, 0.999, "1"),
        ({"1": 0.9, "2": 0.1}, 0.0, "1"),
        ({"1": 0.9, "2": 0.1}, 0.899, "1"),
        ({"1": 0.9, "2": 0.1}, 0.9, "2"),
        ({"10": 0.5, "9": 0.5}, 0.25, "9"),  # versions in numeric order
        ({"1": 0.5, "2": 0.4999999}, 0.9999999, "2"),  # shares a hair under 1
    ],
)
def test_pick_version_follows_the_cumulative_shares(weights, draw, expected):
    assert pick_version(weights, draw) == expected


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        ({}, r"shares summing to 1, got \{\}"),
        ({"1": 0.5, "2": 0.4}, r"shares summing to 1"),
        ({"1": 0.0, "2": 1.0}, r"greater than 0"),
        ({"1": 1.5}, r"less than or equal to 1"),
    ],
)
def test_a_routing_document_with_bad_weights_is_refused_naming_the_field(weights, match):
    document = {"study": STUDY, "subject": SUBJECT, "model": "m",
                "aliases": {"champion": {"weights": weights}}}  # fmt: skip
    with pytest.raises(ValueError, match=r"routing document s3://x is invalid: aliases.champion"):
        parse_routing(json.dumps(document).encode(), source="s3://x")
    with pytest.raises(ValueError, match=match):
        AliasRouting(weights=weights)


def test_with_alias_records_the_change_and_keeps_the_history_short():
    routing = SubjectRouting(study=STUDY, subject=SUBJECT, model="m")
    for i in range(60):
        routing = routing.with_alias(
            "champion", AliasRouting(weights={str(i): 1.0}), action="deploy", at=f"t{i}"
        )
    assert routing.aliases["champion"].weights == {"59": 1.0}
    assert len(routing.history) == 50
    assert routing.history[-1].at == "t59" and routing.history[0].at == "t10"


def test_the_cache_rereads_the_routing_only_after_its_time_to_live(registry):
    now = [0.0]
    cache = SubjectModelCache(registry, ttl_s=5.0, clock=lambda: now[0])
    assert cache.routing(STUDY, SUBJECT) is None
    registry.route({"champion": {"1": 1.0}})
    now[0] = 4.9
    assert cache.routing(STUDY, SUBJECT) is None  # still the cached absence
    now[0] = 5.0
    assert cache.model(STUDY, SUBJECT, "champion").info.version == "1"
    assert cache.model(STUDY, SUBJECT, "champion").info.version == "1"
    assert registry.reads == {"routing": 2, "bundle": 1}  # bundles cached by version


def test_the_cache_draws_versions_by_weight(registry):
    registry.route({"champion": {"1": 0.7, "2": 0.3}})
    cache = SubjectModelCache(registry)
    counts = Counter(cache.model(STUDY, SUBJECT, "champion").info.version for _ in range(400))
    assert 80 <= counts["2"] <= 160, counts
    assert cache.model(STUDY, SUBJECT, "challenger") is None


@pytest.mark.parametrize(
    ("break_it", "match"),
    [
        (lambda r: r.routing.update({(STUDY, SUBJECT): b"{not json"}),
         r"routing.json of subject 'S01' of study 'bp-speller' is invalid"),
        (lambda r: r.bundles.update({(STUDY, SUBJECT, "1"): b"not a zip"}),
         r"bundle of version 1 of subject 'S01' of study 'bp-speller' is not a zip file"),
        (lambda r: r.bundles.pop((STUDY, SUBJECT, "1")),
         r"cannot read the bundle version 1 of subject 'S01'"),
        (lambda r: r.bundles.update({(STUDY, SUBJECT, "1"): r.bundles[(STUDY, "S02", "1")]}),
         r"holds a subject model of study 'bp-speller', subject 'S02': the serving registry is "
         r"inconsistent"),
    ],
)  # fmt: skip
def test_a_broken_registry_is_unavailable_with_the_reason(
    registry, pipeline, training, tmp_path, break_it, match
):
    registry.route({"champion": {"1": 1.0}})
    registry.bundles[(STUDY, "S02", "1")] = zipped_bundle(
        pipeline, training[2], tmp_path, version="1", subject="S02"
    )
    break_it(registry)
    with pytest.raises(ModelUnavailableError, match=match):
        SubjectModelCache(registry).model(STUDY, SUBJECT, "champion")


@pytest.fixture
def population(bundle_dir):
    return load_bundle(bundle_dir)  # System A's study: its bundle names none


def test_the_subject_model_and_the_population_model_answer_side_by_side(
    registry, population, training
):
    registry.route({"champion": {"2": 1.0}})
    client = TestClient(create_app(population, subject_models=registry))
    body = {"features": training[0][:3].tolist()}
    own = client.post(f"{SUBJECT_URL}/predict", json=body).json()["model"]
    shared = client.post("/predict-champion/predict", json=body).json()["model"]
    assert own == {"name": f"P300-{STUDY}_{SUBJECT}", "version": "2", "alias": "champion",
                   "run_id": "run", "kind": "subject", "study": STUDY,
                   "subject": SUBJECT}  # fmt: skip
    assert (shared["kind"], shared["study"], shared["version"]) == (
        "population",
        DEFAULT_STUDY,
        "3",
    )
    described = client.get(f"{SUBJECT_URL}/model").json()
    assert described["features_schema"]["n_features"] == training[2].n_features
    health = client.get(f"{SUBJECT_URL}/health").json()
    assert health["status"] == "ok" and health["model"]["kind"] == "subject"


def test_a_subject_without_a_model_falls_back_to_the_population_model_of_its_study(
    registry, population, training
):
    client = TestClient(create_app(population, subject_models=registry))
    url = f"/predict-challenger/studies/{DEFAULT_STUDY}/subjects/07/predict"
    answered = client.post(url, json={"features": training[0][:2].tolist()}).json()["model"]
    assert (answered["kind"], answered["alias"], answered["subject"]) == (
        "population", "challenger", None
    )  # fmt: skip


def test_a_subject_of_another_study_than_the_population_model_is_404_naming_both(
    registry, population
):
    client = TestClient(create_app(population, subject_models=registry))
    for path in ("/health", "/model"):
        response = client.get(f"/predict-champion/studies/other-lab/subjects/S09{path}")
        assert response.status_code == 404
        assert re.search(
            r"no model serves subject 'S09' of study 'other-lab' under alias 'champion': .*"
            r"population model \(P300-Classifier version 3\) was trained on study 'system-a', "
            r"not 'other-lab'", response.json()["detail"],
        )  # fmt: skip


def test_a_subject_served_under_one_alias_falls_back_under_the_other(registry, population):
    registry.route({"challenger": {"1": 1.0}})
    client = TestClient(create_app(population, subject_models=registry))
    assert client.get(f"{SUBJECT_URL}/health").status_code == 404  # champion: other study
    challenger = f"/predict-challenger/studies/{STUDY}/subjects/{SUBJECT}/health"
    assert client.get(challenger).json()["model"]["version"] == "1"


def test_without_a_population_model_subjects_are_still_served(registry, training):
    registry.route({"champion": {"1": 1.0}})
    client = TestClient(create_app(None, subject_models=registry, subjects_only=True))
    assert client.get("/predict-champion/health").json()["status"] == "ok"
    assert client.post("/predict-champion/predict", json={"features": [[0.0]]}).status_code == 503
    answered = client.post(f"{SUBJECT_URL}/predict", json={"features": training[0][:1].tolist()})
    assert answered.json()["model"]["kind"] == "subject"
    missing = client.get("/predict-champion/studies/bp-speller/subjects/S02/model")
    assert missing.status_code == 503
    assert (
        "has no model of its own under alias 'champion', and there is no population model"
        in (missing.json()["detail"])
    )


def test_decode_for_a_subject_uses_its_model(registry, population, raw_window):
    registry.route({"champion": {"1": 1.0}})
    client = TestClient(create_app(population, subject_models=registry))
    answer = client.post(f"{SUBJECT_URL}/decode", json={"raw": raw_window})
    assert answer.status_code == 200
    assert answer.json()["model"]["kind"] == "subject"


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/studies/Bad_Study/subjects/S01/model", "study"),
        ("/studies/bp/subjects/no_good/model", "subject"),
        ("/studies/bp/subjects/x.y/model", "subject"),
    ],
)
def test_bad_study_or_subject_ids_are_422_naming_the_parameter(registry, population, path, field):
    client = TestClient(create_app(population, subject_models=registry))
    response = client.get(f"/predict-champion{path}")
    assert response.status_code == 422
    assert re.search(rf"path\.{field}: String should match pattern", response.json()["detail"])
    assert registry.reads["routing"] == 0


def test_a_path_that_climbs_out_of_the_registry_matches_no_route(registry, population):
    client = TestClient(create_app(population, subject_models=registry))
    assert client.get("/predict-champion/studies/bp/subjects/..%2F..%2Fx/model").status_code == 404
    assert registry.reads["routing"] == 0


def test_the_apps_copies_of_the_id_rules_and_default_study_match_their_sources():
    # The app does not import them (pandas, AWS): these copies must not drift.
    from p300.studies import NAME_PATTERN, SYSTEM_A_NAME
    from p300_aws.keys import ID_PATTERN
    from p300_serving.routes import STUDY_PATTERN, SUBJECT_PATTERN

    assert DEFAULT_STUDY == SYSTEM_A_NAME
    assert f"^{NAME_PATTERN.pattern}$" == STUDY_PATTERN
    assert f"^{ID_PATTERN.pattern}$" == SUBJECT_PATTERN
