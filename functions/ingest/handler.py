"""Lambda ``p300-ingest``: ``{"bucket", "key"}`` of a landing object → its ingest outcome."""

import boto3

from p300_aws.feature_params import preprocessing_params
from p300_aws.ingest import ingest_object, parse_ingest_event

S3 = boto3.client("s3")
PARAMS_HASH = preprocessing_params().hash()


def lambda_handler(event, context):
    return ingest_object(S3, parse_ingest_event(event), params_hash=PARAMS_HASH).to_dict()
