"""Lambda ``p300-plan-ingest``: execution input (raw S3 event or ``{"catch_up": true}``) → items."""

import boto3

from p300_aws.feature_params import preprocessing_params
from p300_aws.planning import plan

S3 = boto3.client("s3")
PARAMS_HASH = preprocessing_params().hash()


def lambda_handler(event, context):
    return plan(S3, event, params_hash=PARAMS_HASH)
