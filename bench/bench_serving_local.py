"""Benchmark: prediction-service cold start (bundle vs MLflow) and warm /predict throughput.

Trains System A's LDA on synthetic features (16 channels × 70 samples = 1120 features), logs it
to a private MLflow store (SQLite in a temporary directory), registers ``P300-Classifier`` with
alias ``champion`` and builds its bundle. Then, each in a fresh Python process (median of
``--repeats``):

- *bundle*: ``load_bundle`` + first prediction (the serving model path alone);
- *handler*: import ``functions/predict/handler.py`` (FastAPI app + bundle, the Lambda init) +
  first ``/predict`` through Mangum with an API Gateway proxy event;
- *mlflow*: ``mlflow.pyfunc.load_model("models:/P300-Classifier@champion")`` + first prediction.

Finally warm ``/predict`` latency in-process through Mangum with 200-epoch API Gateway events, as
JSON lists and as base64 float32 (``features_b64``).

    .venv/bin/python bench/bench_serving_local.py [--repeats 3] [--warm 50]

Targets: handler cold start (init + first prediction) ≤ 1.0 s; warm ≥ 20,000 epochs/s.
"""

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODEL = "P300-Classifier"
COLD_TARGET_S = 1.0
THROUGHPUT_TARGET = 20_000
BATCH = 200

# Each cold-start probe prints the wall seconds from its first line to its first prediction and
# the CPU seconds of the whole process so far: on a busy machine the two differ a lot.
_PROBE_PREAMBLE = "import time; started = time.perf_counter()\n"
PROBES = {
    "bundle": """
from p300_serving.model import load_bundle
import numpy as np
model = load_bundle({bundle!r})
model.predict(np.zeros((1, model.info.n_features), dtype=np.float32))
""",
    "handler": """
import importlib.util, json
spec = importlib.util.spec_from_file_location("handler", {handler!r})
handler = importlib.util.module_from_spec(spec); spec.loader.exec_module(handler)
event = json.loads(open({event!r}).read())
response = handler.lambda_handler(event, None)
assert response["statusCode"] == 200, response
""",
    "mlflow": """
import mlflow.pyfunc, numpy as np
model = mlflow.pyfunc.load_model("models:/{model}@champion")
model.predict(np.zeros((1, {n_features}), dtype=np.float32))
""",
}


def train(n_sessions: int):
    """LDA fitted on ``n_sessions`` 60-s synthetic sessions: (pipeline, features, schema)."""
    from threadpoolctl import threadpool_limits

    from p300.features_io import features_schema_info
    from p300.models import make_model
    from p300.preprocessing import preprocess
    from p300.synthetic import make_session

    sessions = [preprocess(make_session(seed=s, duration_s=60.0)) for s in range(n_sessions)]
    features = np.concatenate([s.features for s in sessions])
    labels = np.concatenate([s.labels for s in sessions])
    with threadpool_limits(1):
        pipeline = make_model("lda").fit(features, labels)
    return pipeline, features, features_schema_info(sessions[0])


def register(pipeline, schema, tracking_uri: str, artifacts: Path) -> None:
    """Log the model like the training function does, register it and alias it champion."""
    import mlflow
    import mlflow.sklearn

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("p300-training")
    with mlflow.start_run() as run:
        mlflow.log_metric("roc_auc", 0.9)
        mlflow.log_dict(schema.to_dict(), "features_schema.json")
        mlflow.sklearn.log_model(pipeline, name="model", registered_model_name=MODEL,
                                 serialization_format="pickle")  # fmt: skip
    client = mlflow.MlflowClient()
    version = client.search_model_versions(f"run_id = '{run.info.run_id}'")[0].version
    client.set_registered_model_alias(MODEL, "champion", version)


def predict_event(body: str) -> dict:
    """An API Gateway REST proxy event for POST /predict (stage ``prod``)."""
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body.encode()))}
    return {
        "resource": "/{proxy+}", "path": "/predict", "httpMethod": "POST", "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": "predict"}, "stageVariables": None,
        "requestContext": {"resourcePath": "/{proxy+}", "httpMethod": "POST", "stage": "prod",
                           "path": "/prod/predict", "requestId": "bench",
                           "identity": {"sourceIp": "127.0.0.1"}},
        "body": body, "isBase64Encoded": False,
    }  # fmt: skip


def cold_start_s(name: str, env: dict, **values) -> tuple[float, float, float]:
    """Seconds to the first prediction: (wall inside the process, its CPU, process wall)."""
    code = _PROBE_PREAMBLE + PROBES[name].format(**values)
    code += "print(time.perf_counter() - started, time.process_time())\n"
    begun = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, check=True)  # fmt: skip
    inside, cpu = (float(v) for v in result.stdout.strip().splitlines()[-1].split())
    return inside, cpu, time.perf_counter() - begun


def warm_latencies_ms(handler, event: dict, n: int) -> list[float]:
    handler(event, None)
    times = []
    for _ in range(n):
        started = time.perf_counter()
        response = handler(event, None)
        times.append((time.perf_counter() - started) * 1000)
        assert response["statusCode"] == 200, response["body"][:300]
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="cold starts per variant")
    parser.add_argument("--warm", type=int, default=50, help="warm requests per encoding")
    parser.add_argument("--sessions", type=int, default=4, help="synthetic training sessions")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]

    from mangum import Mangum

    from p300_ops.services.model_bundles import build_bundle
    from p300_serving.app import create_app
    from p300_serving.model import load_bundle

    pipeline, features, schema = train(args.sessions)
    with tempfile.TemporaryDirectory(prefix="p300-bench-serving-") as scratch:
        scratch = Path(scratch)
        tracking_uri = f"sqlite:///{scratch / 'mlflow.db'}"
        register(pipeline, schema, tracking_uri, scratch / "artifacts")
        bundle = build_bundle(tracking_uri, MODEL, "champion", scratch / "bundle")
        bundle_bytes = sum(f.stat().st_size for f in bundle.iterdir())

        batch = np.resize(features, (BATCH, features.shape[1])).astype(np.float32)
        event_path = scratch / "event.json"
        event_path.write_text(
            json.dumps(predict_event(json.dumps({"features": batch[:1].tolist()})))
        )
        env = os.environ | {"P300_MODEL_BUNDLE": str(bundle), "MLFLOW_TRACKING_URI": tracking_uri,
                            "P300_API_ROOT_PATH": "/prod"}  # fmt: skip
        values = {"bundle": str(bundle), "handler": str(ROOT / "functions/predict/handler.py"),
                  "event": str(event_path), "model": MODEL,
                  "n_features": features.shape[1]}  # fmt: skip
        cold = {
            name: [cold_start_s(name, env, **values) for _ in range(args.repeats)]
            for name in ("bundle", "handler", "mlflow")
        }

        handler = Mangum(create_app(load_bundle(bundle)), lifespan="off")
        lists_body = json.dumps({"features": batch.tolist()})
        b64_body = json.dumps({"features_b64": base64.b64encode(batch.tobytes()).decode()})
        warm = {
            "JSON lists": (len(lists_body), warm_latencies_ms(handler, predict_event(lists_body),
                                                              args.warm)),
            "base64 float32": (len(b64_body), warm_latencies_ms(handler, predict_event(b64_body),
                                                                args.warm)),
        }  # fmt: skip
    report(cold, warm, bundle_bytes=bundle_bytes, load=(load_before, os.getloadavg()[0]))


def report(cold: dict, warm: dict, *, bundle_bytes: int, load: tuple[float, float]) -> None:
    print(f"\nmachine: {os.cpu_count()} cores, load average {load[0]:.1f} before, "
          f"{load[1]:.1f} after; bundle {bundle_bytes / 1024:.0f} KiB")  # fmt: skip
    mlflow_s = statistics.median(r[0] for r in cold["mlflow"])
    print(
        "\ncold start, fresh process (median)   wall to 1st prediction   CPU   process wall"
        "   vs mlflow"
    )
    for name, runs in cold.items():
        inside, cpu, wall = (statistics.median(r[i] for r in runs) for i in range(3))
        print(f"  {name:<35} {inside:>13.3f} s {cpu:>7.3f} s {wall:>10.3f} s"
              f" {inside / mlflow_s:>10.2f}×")  # fmt: skip
    handler_s = statistics.median(r[0] for r in cold["handler"])
    handler_cpu = statistics.median(r[1] for r in cold["handler"])
    verdict = "met" if handler_s <= COLD_TARGET_S else "MISSED"
    print(
        f"  target: handler init + first prediction ≤ {COLD_TARGET_S} s: {verdict} "
        f"(wall {handler_s:.3f} s, CPU {handler_cpu:.3f} s)"
    )
    print(
        f"\nwarm /predict via Mangum, {BATCH}-epoch batches   body MB   median ms   p95 ms"
        "   epochs/s"
    )
    for name, (size, times) in warm.items():
        median = statistics.median(times)
        p95 = sorted(times)[round(0.95 * (len(times) - 1))]
        print(f"  {name:<40} {size / 1e6:>7.2f} {median:>11.1f} {p95:>8.1f} "
              f"{BATCH / median * 1000:>10,.0f}")  # fmt: skip
    print(f"  target: ≥ {THROUGHPUT_TARGET:,} epochs/s")


if __name__ == "__main__":
    main()
