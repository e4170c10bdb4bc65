"""Lambda ``p300-ingest``: ``{"bucket", "key"}`` of a landing object → its ingest outcome."""

from p300_aws.cold_start import gc_paused

# Imports and clients without the garbage collector: see p300_aws.cold_start.
with gc_paused():
    from p300_aws.clients import client
    from p300_aws.events import parse_event
    from p300_aws.ingest import IngestEvent, ingest_object
    from p300_aws.studies import StudyProfiles

    S3 = client("s3")


def lambda_handler(event, context):
    request = parse_event(IngestEvent, event)
    # Read per invocation: a study updated since the last one is seen at once.
    result = ingest_object(
        S3, request.key, profiles=StudyProfiles(S3), study_versions=request.study_versions
    )
    return result.model_dump(mode="json")
