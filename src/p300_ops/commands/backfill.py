"""`p300 backfill`: preprocess every subject of a study (`p300_ops.services.backfill`)."""

import click

from p300_ops.commands.common import (
    aws_errors,
    echo_json,
    home_option,
    json_option,
    study_errors,
    usage_errors,
)
from p300_ops.services import cloud
from p300_ops.services.backfill import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_TOLERATED_FAILURE_PERCENTAGE,
    MAX_CONCURRENCY_LIMIT,
    start_backfill,
)


@click.command("backfill")
@click.option("--study", required=True, help="The study whose raw recordings are preprocessed.")
@click.option("--tolerated-failure-percentage", type=click.FloatRange(0, 100),
              default=DEFAULT_TOLERATED_FAILURE_PERCENTAGE, show_default=True,
              help="The run fails when more items than this share (%) fail.")  # fmt: skip
@click.option("--batch-size", type=click.IntRange(1), default=DEFAULT_BATCH_SIZE,
              show_default=True, help="Subjects per child execution.")  # fmt: skip
@click.option("--max-concurrency", type=click.IntRange(1, MAX_CONCURRENCY_LIMIT),
              default=DEFAULT_MAX_CONCURRENCY, show_default=True,
              help="Child executions (batches) at once.")  # fmt: skip
@json_option
@home_option
def backfill(study, tolerated_failure_percentage, batch_size, max_concurrency, as_json, home):
    """Preprocess every raw recording of STUDY with its current profile: writes the manifest to
    S3, starts (or joins, when the same one runs) the Distributed Map execution and prints its
    ARN. Follow it with `p300 executions show NAME`; the report is written next to the manifest.

    \b
    Example:
      p300 backfill --study system-a
    """
    with aws_errors("starting the backfill"), usage_errors(), study_errors():
        started = start_backfill(
            cloud.connect(home),
            study,
            tolerated_failure_percentage=tolerated_failure_percentage,
            batch_size=batch_size,
            max_concurrency=max_concurrency,
        )
    if as_json:
        echo_json(started.__dict__)
        return
    click.echo(
        f"{started.action} backfill {started.name}: {started.n_items} recordings of study "
        f"{started.study} (profile version {started.study_version}) in {started.n_batches} "
        f"batches\nmanifest {started.manifest_uri}\nreport   {started.report_uri}\n"
        f"follow it: p300 executions show {started.name}"
    )
    click.echo(started.execution_arn)
