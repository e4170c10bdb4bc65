"""Lambda ``p300-plan-ingest``: execution input (raw S3 event or ``{"catch_up": true}``) → items;
at the end of the execution, ``{"summarize": true, "mode", "results"}`` → the grouped output."""

import boto3

from p300_aws.feature_params import preprocessing_params
from p300_aws.planning import is_summary_request, plan, summarize_execution

S3 = boto3.client("s3")
PARAMS_HASH = preprocessing_params().hash()


def lambda_handler(event, context):
    if is_summary_request(event):
        return summarize_execution(event)
    return plan(S3, event, params_hash=PARAMS_HASH)
