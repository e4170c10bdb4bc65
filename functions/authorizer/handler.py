"""Lambdas ``p300-authorize-predict`` and ``p300-authorize-upload``: API Gateway TOKEN
authorizers checking a bearer token against its hashed record (`p300_aws.api_tokens`).

Environment: ``P300_TOKEN_API`` (which API's tokens open this API), ``P300_TOKENS_BUCKET``.
"""

from p300_aws.cold_start import gc_paused

# Imports and clients without the garbage collector: see p300_aws.cold_start.
with gc_paused():
    import logging
    import os
    from functools import partial

    from p300_aws.api_tokens import AuthorizerEvent, authorize, load_record
    from p300_aws.clients import client
    from p300_aws.events import parse_event

    logging.getLogger().setLevel(logging.INFO)
    S3 = client("s3")
    LOAD = partial(load_record, S3, os.environ["P300_TOKENS_BUCKET"])


def lambda_handler(event, context):
    event = parse_event(AuthorizerEvent, event)
    return authorize(event, api=os.environ["P300_TOKEN_API"], load=LOAD)
