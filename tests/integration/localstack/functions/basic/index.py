"""Handlers the integration tests invoke; one per behaviour under test."""

import json
import logging
import os
import sys
import time

LOG = logging.getLogger()
LOG.setLevel(logging.INFO)


def echo(event, context):
    return {"event": event, "pid": os.getpid()}


def context_fields(event, context):
    return {
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": int(context.memory_limit_in_mb),
        "aws_request_id": context.aws_request_id,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "task_root": os.environ["LAMBDA_TASK_ROOT"],
        "env_value": os.environ.get("GREETING"),
    }


def fail(event, context):
    raise ValueError(f"bad input: {event.get('value')}")


def print_and_log(event, context):
    print(f"printed line {event['marker']}")
    LOG.info("logged line %s", event["marker"])
    return "ok"


def sleep_then_pid(event, context):
    """Sleeps; says in which process, and when (epoch s) it started and ended."""
    started = time.time()
    time.sleep(event.get("seconds", 1))
    return {"pid": os.getpid(), "started": started, "ended": time.time()}


def exit_now(event, context):
    sys.exit(3)


def write_s3(event, context):
    import boto3  # here, not at the top: importing boto3 would slow every other cold start

    boto3.client("s3").put_object(
        Bucket=event["bucket"], Key=event["key"], Body=json.dumps(event).encode()
    )
    return {"written": event["key"]}


def version_name(event, context):
    return {"version": context.function_version, "marker": os.environ.get("MARKER")}
