"""Lambdas ``p300-authorize-predict`` and ``p300-authorize-upload``: API Gateway TOKEN
authorizers checking a bearer token against its hashed record (`p300_aws.api_tokens`).

Environment: ``P300_TOKEN_API`` (which API's tokens open this API), ``P300_TOKENS_BUCKET``.
"""

import logging
import os
from functools import partial

import boto3

from p300_aws.api_tokens import AuthorizerEvent, authorize, load_record
from p300_aws.events import parse_event

logging.getLogger().setLevel(logging.INFO)
S3 = boto3.client("s3")
LOAD = partial(load_record, S3, os.environ["P300_TOKENS_BUCKET"])


def lambda_handler(event, context):
    event = parse_event(AuthorizerEvent, event)
    return authorize(event, api=os.environ["P300_TOKEN_API"], load=LOAD)
