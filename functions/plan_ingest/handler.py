"""Lambda ``p300-plan-ingest``: execution input (raw S3 event or ``{"catch_up": true}``) → items;
at the end of the execution, ``{"summarize": true, "mode", "results"}`` → the grouped output."""

from p300_aws.cold_start import gc_paused

# Imports and clients without the garbage collector: see p300_aws.cold_start.
with gc_paused():
    from p300_aws.clients import client
    from p300_aws.events import parse_event
    from p300_aws.planning import PlanEvent, run_request

    S3 = client("s3")


def lambda_handler(event, context):
    request = parse_event(PlanEvent, event).root
    return run_request(S3, request).model_dump(mode="json")
