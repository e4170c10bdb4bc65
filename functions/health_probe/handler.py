"""Lambda ``p300-health-probe`` (every minute): probe ``/health`` of both serving aliases.

Environment: ``P300_API_ID`` (the prediction API), ``ALERTS_TOPIC_ARN``; on an emulator the API
is called through ``AWS_ENDPOINT_URL``, on AWS through its ``execute-api`` host.
"""

from p300_aws.cold_start import gc_paused

# Imports and clients without the garbage collector: see p300_aws.cold_start.
with gc_paused():
    import os

    from p300_aws.api_urls import api_base_url
    from p300_aws.clients import LazyClient, client
    from p300_aws.events import parse_event
    from p300_aws.health_probe import ScheduledEvent, run_probe

    # SNS only carries alerts (an alias starts failing or recovers): created by the first one.
    CLIENTS = {name: client(name) for name in ("s3", "cloudwatch", "lambda")} | {
        "sns": LazyClient("sns")
    }


def lambda_handler(event, context):
    parse_event(ScheduledEvent, event)
    base_url = api_base_url(
        os.environ["P300_API_ID"],
        endpoint_url=os.environ.get("AWS_ENDPOINT_URL"),
        region=os.environ["AWS_REGION"],
    )
    report = run_probe(CLIENTS, base_url=base_url, topic_arn=os.environ["ALERTS_TOPIC_ARN"])
    return report.model_dump(mode="json")
