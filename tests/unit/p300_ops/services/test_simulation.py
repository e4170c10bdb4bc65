"""The simulator's pure parts: batching, encoding, latency percentiles, scoring, report shaping
and offline Weights & Biases logging."""

import base64
import json

import httpx
import numpy as np
import pytest

from p300_ops.services import simulation
from p300_ops.services.simulation import SubjectResult


@pytest.mark.parametrize(
    ("n_epochs", "batch_size", "sizes"),
    [(0, 4, []), (3, 4, [3]), (8, 4, [4, 4]), (9, 4, [4, 4, 1]), (5, 1, [1] * 5)],
)
def test_batch_slices_cover_every_epoch_once(n_epochs, batch_size, sizes):
    slices = simulation.batch_slices(n_epochs, batch_size)
    assert [s.stop - s.start for s in slices] == sizes
    covered = [i for s in slices for i in range(s.start, s.stop)]
    assert covered == list(range(n_epochs))


@pytest.mark.parametrize("batch_size", [0, -3])
def test_batch_slices_refuse_non_positive_batch_size(batch_size):
    with pytest.raises(
        ValueError, match=f"batch_size must be a positive integer, got {batch_size}"
    ):
        simulation.batch_slices(10, batch_size)


def test_encode_batch_is_little_endian_float32_row_major():
    features = np.arange(6, dtype=np.float64).reshape(2, 3) - 2.5
    body = simulation.encode_batch(features)
    decoded = np.frombuffer(base64.b64decode(body["features_b64"]), dtype="<f4").reshape(2, 3)
    np.testing.assert_array_equal(decoded, features.astype(np.float32))


def test_encode_batch_refuses_one_dimensional_features():
    with pytest.raises(ValueError, match=r"features must be 2-D .* got shape \(3,\)"):
        simulation.encode_batch(np.zeros(3))


def test_latency_summary_in_ms():
    latencies_s = np.arange(1, 101) / 1000.0  # 1 … 100 ms
    summary = simulation.latency_summary(latencies_s)
    assert summary["p50"] == pytest.approx(50.5)
    assert summary["p95"] == pytest.approx(95.05)
    assert summary["p99"] == pytest.approx(99.01)
    assert summary["max"] == pytest.approx(100.0)
    assert summary["mean"] == pytest.approx(50.5)


def test_latency_summary_refuses_no_latency():
    with pytest.raises(ValueError, match="at least one latency"):
        simulation.latency_summary([])


def _results() -> dict[str, SubjectResult]:
    return {
        "06": SubjectResult(np.array([1, 0, 0, 1]), np.array([0.9, 0.2, 0.6, 0.4]),
                            np.array([1, 0, 1, 0])),
        "07": SubjectResult(np.array([0, 0, 1]), np.array([0.1, 0.3, 0.8]), np.array([0, 0, 1])),
    }  # fmt: skip


def test_score_results_pools_and_splits_per_subject():
    pooled, per_subject = simulation.score_results(_results())
    assert (per_subject["06"].tp, per_subject["06"].fp, per_subject["06"].fn) == (1, 1, 1)
    assert per_subject["07"].accuracy == 1.0
    assert per_subject["07"].roc_auc == 1.0
    assert (pooled.n_epochs, pooled.n_target, pooled.tp, pooled.tn) == (7, 3, 2, 3)
    assert pooled.accuracy == pytest.approx(5 / 7)


def test_score_results_refuses_nothing():
    with pytest.raises(ValueError, match="at least one subject"):
        simulation.score_results({})


def test_send_batches_joins_answers_and_times_each_request():
    features = np.arange(10 * 2, dtype=np.float32).reshape(10, 2)
    ticks = iter(np.arange(0.0, 100.0, 0.5))
    seen = []

    def post(batch):
        seen.append(len(batch))
        return {"labels": (batch[:, 0] > 9).astype(int).tolist(),
                "target_probability": (batch[:, 0] / 20).tolist(),
                "model": {"name": "P300-Classifier", "version": "1", "alias": "challenger",
                          "run_id": "r"}}  # fmt: skip

    predicted, probabilities, latencies, models = simulation.send_batches(
        post, features, batch_size=4, clock=lambda: next(ticks)
    )
    assert seen == [4, 4, 2]
    np.testing.assert_array_equal(predicted, (features[:, 0] > 9).astype(int))
    np.testing.assert_allclose(probabilities, features[:, 0] / 20)
    assert latencies == [0.5, 0.5, 0.5]
    assert simulation.distinct_models(models) == [
        {"alias": "challenger", "name": "P300-Classifier", "run_id": "r", "version": "1",
         "n_requests": 3}
    ]  # fmt: skip


def test_send_batches_refuses_a_short_answer():
    def post(batch):
        return {"labels": [1], "target_probability": [0.5], "model": {}}

    with pytest.raises(ValueError, match="answered 1 labels for 3 epochs"):
        simulation.send_batches(post, np.zeros((3, 2)), batch_size=8)


@pytest.mark.parametrize(
    ("alias", "path"),
    [("champion", "predict-champion/predict"), ("challenger", "predict-challenger/predict")],
)
def test_route_url(alias, path):
    base = "http://127.0.0.1:4566/_aws/execute-api/abc/prod"
    assert simulation.route_url(base + "/", alias) == f"{base}/{path}"


def test_route_url_refuses_unknown_alias():
    with pytest.raises(
        ValueError, match=r"alias must be one of \['challenger', 'champion'\], got 'x'"
    ):
        simulation.route_url("http://h", "x")


def _report(**changes) -> simulation.SimulationReport:
    results = _results()
    pooled, per_subject = simulation.score_results(results)
    fields = dict(
        alias="challenger", url="http://h/prod/predict-challenger/predict", subjects=("06", "07"),
        batch_size=4, pooled=pooled, per_subject=per_subject,
        latency_ms=simulation.latency_summary([0.01, 0.02, 0.03]), n_requests=3, wall_s=0.07,
        throughput_epochs_per_s=100.0,
        served_models=[{"name": "P300-Classifier", "version": "1", "alias": "challenger",
                        "run_id": "r", "n_requests": 3}],
        registry_version="1", version_matches=True, extras={"latencies_ms": [10.0, 20.0, 30.0]},
    )  # fmt: skip
    return simulation.SimulationReport(**(fields | changes))


def test_report_to_dict_is_json():
    document = json.loads(json.dumps(_report().to_dict()))
    assert document["subjects"] == ["06", "07"]
    assert document["per_subject"]["06"]["tp"] == 1
    assert document["pooled"]["n_epochs"] == 7
    assert document["latency_ms"]["p50"] == pytest.approx(20.0)


def test_summary_metrics_are_flat_scalars():
    summary = simulation.summary_metrics(_report())
    assert summary["pooled/accuracy"] == pytest.approx(5 / 7)
    assert summary["latency_ms/p95"] == pytest.approx(29.0)
    assert summary["version_matches"] is True
    assert all(not isinstance(v, dict | list) for v in summary.values())


def test_log_to_wandb_offline_writes_a_run_to_sync(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    run_path = simulation.log_to_wandb(_report(), _results(), run_dir=tmp_path)
    run_dir = tmp_path / "wandb"
    assert run_path.startswith(str(run_dir / "offline-run-"))
    written = {p.name for p in (tmp_path / "wandb").rglob("*")}
    assert any(name.endswith(".wandb") for name in written)
    table = json.loads(next(run_dir.rglob("per_subject_*.table.json")).read_text())
    assert table["columns"][:4] == ["subject", "n_epochs", "n_target", "accuracy"]
    assert [row[0] for row in table["data"]] == ["06", "07"]
    assert table["data"][1][3] == 1.0
    images = {p.name.split("_0_")[0] for p in run_dir.rglob("media/images/*.png")}
    assert images == {"roc", "subject_auc"}
    # Offline runs keep the summary inside the binary run record that `wandb sync` uploads; its
    # service may still be writing it after `finish`: stop the service, as the CLI's exit does.
    import wandb

    wandb.teardown()
    record = next(run_dir.rglob("run-*.wandb")).read_bytes()
    assert b"pooled/accuracy" in record and b"latency_ms/p99" in record
    assert (tmp_path / "roc.png").read_bytes()[:4] == b"\x89PNG"


def test_log_to_wandb_refuses_unknown_mode(tmp_path):
    with pytest.raises(ValueError, match=r"mode must be one of .*, got 'cloud'"):
        simulation.log_to_wandb(_report(), _results(), run_dir=tmp_path, mode="cloud")


def prediction_api(*, takes_binary: bool, seen: list):
    """An httpx client whose transport answers /predict like the API would, recording the
    content type of each request; without binary support it answers 422 to binary bodies."""

    def answer(request):
        kind = request.headers["content-type"]
        seen.append(kind)
        if kind == "application/octet-stream":
            if not takes_binary:
                return httpx.Response(422, json={"detail": "features_b64 must be valid base64"})
            batch = np.frombuffer(request.content, "<f4").reshape(-1, 2)
        else:
            body = json.loads(request.content)
            batch = np.frombuffer(base64.b64decode(body["features_b64"]), "<f4").reshape(-1, 2)
        return httpx.Response(200, json={"labels": [int(v > 0) for v in batch[:, 0]]})

    return httpx.Client(transport=httpx.MockTransport(answer))


@pytest.mark.parametrize(
    ("takes_binary", "kinds"),
    [
        (True, ["application/octet-stream"] * 2),
        (False, ["application/octet-stream", "application/json", "application/json"]),
    ],
)
def test_batch_poster_sends_binary_when_the_api_takes_it(takes_binary, kinds):
    seen = []
    post = simulation.batch_poster(
        prediction_api(takes_binary=takes_binary, seen=seen), "http://api/predict"
    )

    answers = [post(np.array([[1.0, 0.0], [-1.0, 0.0]], np.float32)) for _ in range(2)]

    assert answers == [{"labels": [1, 0]}] * 2
    assert seen == kinds
