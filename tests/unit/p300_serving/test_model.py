"""Model bundles: written from a fitted pipeline, loaded without scikit-learn when linear."""

import json
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from p300.models import make_model
from p300_ops.services.model_bundles import linear_scorer, write_bundle
from p300_serving.model import BundleError, LinearScorer, PipelineScorer, load_bundle
from p300_serving.riemann import RiemannScorer


def _write(pipeline, out_dir, schema):
    return write_bundle(pipeline, out_dir, name="P300-Classifier", version="1", alias="challenger",
                        run_id="r", features_schema=schema)  # fmt: skip


def _as_zip(bundle_dir, path):
    with zipfile.ZipFile(path, "w") as archive:
        for file in bundle_dir.iterdir():
            archive.write(file, file.name)
    return path


@pytest.mark.parametrize("form", ["directory", "zip"])
def test_linear_bundle_predicts_like_the_pipeline(form, bundle_dir, pipeline, training, tmp_path):
    path = bundle_dir if form == "directory" else _as_zip(bundle_dir, tmp_path / "bundle.zip")
    served = load_bundle(path)
    assert isinstance(served.scorer, LinearScorer)
    features = training[0]
    labels, probability, score = served.predict(features)
    np.testing.assert_array_equal(labels, pipeline.predict(features))
    np.testing.assert_allclose(probability, pipeline.predict_proba(features)[:, 1], atol=1e-9,
                               rtol=1e-6)  # fmt: skip
    np.testing.assert_allclose(score, pipeline.decision_function(features), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("make", "scorer"),
    [
        (lambda: make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=500)),
         LinearScorer),
        (lambda: make_model("xdawn-riemann", n_channels=16, nfilter=2), RiemannScorer),
        (lambda: make_model("xdawn-mdm", n_channels=16, nfilter=2), RiemannScorer),
        (lambda: make_model("xdawn-riemann", n_channels=16, nfilter=2, estimator="scm"),
         PipelineScorer),
    ],
)  # fmt: skip
def test_other_pipelines_round_trip(make, scorer, training, tmp_path):
    features, labels, schema = training
    with threadpool_limits(1):
        pipeline = make().fit(features, labels)
    served = load_bundle(_write(pipeline, tmp_path / "b", schema))
    assert isinstance(served.scorer, scorer)
    np.testing.assert_allclose(served.predict(features)[1], pipeline.predict_proba(features)[:, 1],
                               rtol=1e-5, atol=1e-8)  # fmt: skip


def test_linear_folding_is_refused_for_a_mismatched_feature_count(pipeline):
    assert linear_scorer(pipeline, n_features=10) is None


def test_classes_other_than_0_1_are_refused(training, tmp_path):
    rng = np.random.default_rng(0)
    pipeline = LogisticRegression().fit(rng.standard_normal((20, 3)), [1, 2] * 10)
    schema = training[2]
    with pytest.raises(ValueError, match=r"classes_ must be \[0, 1\] .* got \[1, 2\]"):
        _write(pipeline, tmp_path / "b", schema)


def _edit_info(bundle_dir, tmp_path, **changes):
    copy = tmp_path / "edited"
    shutil.copytree(bundle_dir, copy)
    info = json.loads((copy / "bundle.json").read_text())
    for key, value in changes.items():
        if value is None:
            info.pop(key)
        else:
            info[key] = value
    (copy / "bundle.json").write_text(json.dumps(info))
    return copy


@pytest.mark.parametrize(
    ("break_bundle", "match"),
    [
        (lambda d, t: t / "missing", r"no model bundle at .*missing: the path does not exist"),
        (lambda d, t: _edit_info(d, t, format_version=99),
         r"format_version 99; this service reads 1"),
        (lambda d, t: _edit_info(d, t, scorer="onnx"),
         r"scorer must be one of \('linear', 'riemann', 'pickle'\), got 'onnx'"),
        (lambda d, t: _edit_info(d, t, features_schema={**json.loads(
            (d / "bundle.json").read_text())["features_schema"], "n_features": 7}),
         r"weights of shape \(1120,\); the features schema says \(7,\)"),
        (lambda d, t: (t / "junk.zip").write_bytes(b"not a zip") and t / "junk.zip",
         r"junk.zip is neither a bundle directory nor a zip file"),
        (lambda d, t: t, r"no readable bundle.json"),
        (lambda d, t: _edit_info(d, t, model={"name": "P300-Classifier"}),
         r"bundle.json in .* lacks or garbles .*version"),
        (lambda d, t: _edit_info(d, t, features_schema={"ch_names": ["Cz"]}),
         r"features_schema in bundle.json of .* lacks \['n_features', 'params'\]"),
    ],
)  # fmt: skip
def test_broken_bundles_raise_bundle_error(break_bundle, match, bundle_dir, tmp_path):
    with pytest.raises(BundleError, match=match):
        load_bundle(break_bundle(bundle_dir, tmp_path))


@pytest.mark.parametrize(
    ("preload", "imported"),
    [("0", "[]"), ("1", "['pandas', 'pyarrow']")],  # preprocessing needs no scipy
)
def test_serving_a_linear_bundle_imports_neither_sklearn_nor_mlflow(bundle_dir, preload, imported):
    code = (
        "import sys; from p300_serving.app import create_app_from_env; "
        f"create_app_from_env({{'P300_MODEL_BUNDLE': {str(bundle_dir)!r}, "
        f"'P300_PRELOAD_PREPROCESSING': {preload!r}}}); "
        "print(sorted(m for m in ('sklearn', 'mlflow', 'scipy', 'pandas', 'pyarrow') "
        "if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)  # fmt: skip
    assert result.stdout.strip() == imported
