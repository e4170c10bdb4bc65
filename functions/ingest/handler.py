"""Lambda ``p300-ingest``: ``{"bucket", "key"}`` of a landing object → its ingest outcome."""

import boto3

from p300_aws.events import parse_event
from p300_aws.feature_params import preprocessing_params
from p300_aws.ingest import IngestEvent, ingest_object

S3 = boto3.client("s3")
PARAMS_HASH = preprocessing_params().hash()


def lambda_handler(event, context):
    request = parse_event(IngestEvent, event)
    return ingest_object(S3, request.key, params_hash=PARAMS_HASH).model_dump(mode="json")
