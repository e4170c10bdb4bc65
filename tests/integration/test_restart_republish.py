"""A serving alias whose published version cannot come back as it was (its code archive is
lost) is re-published from MLflow at the restart, with the same model version, and `up` says so.
"""

import urllib.parse

import boto3
import httpx
import pytest

from p300_aws.names import API_NAME, CHALLENGER_ALIAS, PREDICT_FUNCTION
from p300_ops.localcloud import lifecycle
from p300_ops.localcloud.localstack import aws_client, client_env
from p300_ops.localcloud.processes import kill_server
from p300_ops.services import release
from p300_ops.services.cloud import api_url
from p300_ops.services.synthetic_subjects import generate_subjects
from p300_ops.services.training_runs import run_training, train_request
from tests.integration.cloud_helpers import cloud_config, predict_headers
from tests.integration.restart_helpers import wait_for_ingest_runs

pytestmark = [pytest.mark.cloud, pytest.mark.slow, pytest.mark.timeout(2400)]

#: LocalStack keeps Lambda code archives in a bucket of this account.
INTERNAL_ACCOUNT = "949334387222"


def test_a_lost_code_archive_is_replaced_from_mlflow_and_said(tmp_path):
    config = cloud_config(tmp_path / "home")
    state = lifecycle.up(config, progress=lambda _: None)
    try:
        services = ("s3", "stepfunctions", "lambda", "apigateway")
        s3, sfn, lam, apigw = (aws_client(name, config.localstack_port) for name in services)
        generate_subjects(s3, range(1, 3), seed=5, duration_s=60.0, form="system-a")
        wait_for_ingest_runs(sfn, 2)
        trained = run_training(sfn, train_request(percentage=50)).output["model_version"]
        deployed = release.deploy_model(
            lam, apigw, state.tracking_uri, CHALLENGER_ALIAS, model_version=trained
        )
        code = lam.get_function(FunctionName=PREDICT_FUNCTION, Qualifier=deployed.lambda_version)
        _delete_archive(config.localstack_port, code["Code"]["Location"])
        kill_server(state.servers["localstack"])

        messages: list[str] = []
        state = lifecycle.up(config, progress=messages.append)

        said = [m for m in messages if "re-published from MLflow" in m]
        assert len(said) == 1 and f"{PREDICT_FUNCTION}:{CHALLENGER_ALIAS}" in said[0]
        assert f"P300-Classifier version {trained}" in said[0]
        assert "is missing" in said[0]  # why: the archive named in the message is gone
        (row,) = [r for r in release.traffic(lam) if r["alias"] == CHALLENGER_ALIAS]
        assert [str(v["model_version"]) for v in row["versions"]] == [trained]
        base = api_url(apigw, API_NAME, endpoint_url=state.endpoint_url)
        model = httpx.get(
            f"{base}/predict-challenger/model", timeout=60, headers=predict_headers(state)
        )
        assert model.status_code == 200, model.text
        assert str(model.json()["version"]) == trained
    finally:
        if lifecycle.CloudState.load(config.home):
            lifecycle.down(config.home)


def _delete_archive(port: int, location: str) -> None:
    """Delete the object a function's presigned code URL points at."""
    bucket, key = urllib.parse.urlsplit(location).path.lstrip("/").split("/", 1)
    env = client_env(port)
    internal = boto3.client(
        "s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_REGION"],
        aws_access_key_id=INTERNAL_ACCOUNT, aws_secret_access_key="test",
    )  # fmt: skip
    internal.delete_object(Bucket=bucket, Key=urllib.parse.unquote(key))
