"""The Riemannian pipelines scored with numpy alone, as the prediction Lambda serves them."""

import subprocess
import sys

import numpy as np
import pytest
from sklearn.covariance import ledoit_wolf as sklearn_ledoit_wolf
from threadpoolctl import threadpool_limits

from p300.features_io import features_schema_info
from p300.models import make_model
from p300.preprocessing import PreprocessingParams, preprocess
from p300.real_data import load_recording
from p300.synthetic import make_session
from p300_ops.services.model_bundles import write_bundle
from p300_serving.model import load_bundle
from p300_serving.riemann import MDM, TANGENT, RiemannScorer, ledoit_wolf
from tests.real_data import real_file

ROBUST = PreprocessingParams(rejection="robust")


@pytest.mark.parametrize(("n", "n_times"), [(2, 50), (6, 70), (12, 30)])
def test_ledoit_wolf_is_scikit_learns_for_each_epoch(n, n_times):
    signals = np.random.default_rng(n).normal(0, 5, (4, n, n_times)) + np.arange(n)[:, None]
    expected = [sklearn_ledoit_wolf(signal.T)[0] for signal in signals]
    np.testing.assert_allclose(ledoit_wolf(signals), expected, rtol=1e-10, atol=1e-12)


def _features(name: str):
    if name == "bp2calib":
        return preprocess(load_recording(real_file("p3k_mit/bp2calib.dat")).raw, ROBUST)
    n_channels = int(name.split("-")[1])
    return preprocess(make_session(seed=n_channels, n_channels=n_channels, sfreq=256.0,
                                   duration_s=90), ROBUST)  # fmt: skip


@pytest.mark.parametrize("data", ["synthetic-4", "synthetic-14", "bp2calib"])
@pytest.mark.parametrize(("model_name", "kind"), [("xdawn-riemann", TANGENT), ("xdawn-mdm", MDM)])
def test_a_bundle_scores_like_the_fitted_pipeline_on_epochs_it_never_saw(
    data, model_name, kind, tmp_path
):
    features = _features(data)
    X, y = features.features, features.labels
    half = len(y) // 2
    with threadpool_limits(1):
        pipeline = make_model(model_name, n_channels=len(features.ch_names)).fit(X[:half], y[:half])
    folder = write_bundle(pipeline, tmp_path / "b", name="m", version="1",
                          features_schema=features_schema_info(features))  # fmt: skip
    served = load_bundle(folder)
    assert isinstance(served.scorer, RiemannScorer) and served.scorer.kind == kind
    labels, probability, decision = served.predict(X[half:])
    np.testing.assert_allclose(decision, pipeline.decision_function(X[half:]), rtol=1e-7,
                               atol=1e-9)  # fmt: skip
    np.testing.assert_allclose(probability, pipeline.predict_proba(X[half:])[:, 1], atol=1e-9)
    np.testing.assert_array_equal(labels, pipeline.predict(X[half:]))


def test_serving_a_riemann_bundle_imports_neither_sklearn_nor_scipy_nor_pyriemann(tmp_path):
    features = _features("synthetic-4")
    with threadpool_limits(1):
        pipeline = make_model("xdawn-riemann", n_channels=4).fit(features.features,
                                                                 features.labels)  # fmt: skip
    folder = write_bundle(pipeline, tmp_path / "b", name="m",
                          features_schema=features_schema_info(features))  # fmt: skip
    np.save(tmp_path / "x.npy", features.features[:5])
    code = (
        "import sys, numpy as np; from p300_serving.model import load_bundle; "
        f"load_bundle({str(folder)!r}).predict(np.load({str(tmp_path / 'x.npy')!r})); "
        "print(sorted(m for m in ('sklearn', 'scipy', 'pyriemann', 'mlflow') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)  # fmt: skip
    assert result.stdout.strip() == "[]"
