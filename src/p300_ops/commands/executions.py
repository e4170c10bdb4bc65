"""`p300 executions`: the Step Functions console of the local cloud."""

from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from datetime import UTC

import click
from rich.console import Console
from rich.json import JSON
from rich.table import Table

from p300_ops.commands.common import aws_errors, echo_json, home_option, json_option
from p300_ops.services import cloud
from p300_ops.services.execution_history import StateRun, grouped, readable_cause
from p300_ops.services.formatting import duration_s, format_duration
from p300_ops.services.outcomes import ItemOutcome, summary_line
from p300_ops.services.pipeline_executions import (
    STATE_MACHINES,
    STATUSES,
    ExecutionDetails,
    execution_details,
    list_executions,
)

_COLOURS = {"SUCCEEDED": "green", "succeeded": "green", "RUNNING": "cyan", "unfinished": "cyan",
            "caught": "yellow"}  # fmt: skip


def executions_table(executions: Sequence[Mapping]) -> Table:
    """One line per ``list_executions`` item: status, start, duration, name, state machine."""
    table = Table("status")
    table.add_column("started (UTC)", no_wrap=True)
    table.add_column("duration", no_wrap=True)
    # Names are copied into `p300 executions show`: fold them rather than cut them.
    table.add_column("execution", overflow="fold")
    table.add_column("state machine", overflow="fold")
    short_names = {name: short for short, name in STATE_MACHINES.items()}
    for ex in executions:
        table.add_row(
            _coloured(ex["status"]),
            ex["startDate"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            format_duration(duration_s(ex["startDate"], ex.get("stopDate"))),
            ex["name"],
            short_names.get(machine := ex["stateMachineArn"].rsplit(":", 1)[-1], machine),
        )
    return table


def states_table(runs: Sequence[StateRun]) -> Table:
    """One line per state run, Map iterations indented under their Map."""
    table = Table("state", "status", "duration", "error")
    for run in grouped(runs):
        name = run.name if run.iteration is None else f"  [{run.iteration}] {run.name}"
        notes = [f"retried after {e}: {readable_cause(c)}" for e, c in run.retried]
        if run.error:
            notes.append(f"{run.error}: {readable_cause(run.cause)}")
        table.add_row(
            name, _coloured(run.status), format_duration(run.duration_s), "\n".join(notes)
        )
    return table


def _coloured(status: str) -> str:
    return f"[{_COLOURS.get(status, 'red')}]{status}[/]"


def _list_options(command):
    options = (
        click.option("--state-machine", "-s", default=None,
                     help="ingest, train, backfill, or a state machine name (default: all three)."),
        click.option("--status", type=click.Choice(STATUSES, case_sensitive=False)),
        click.option("-n", "limit", type=click.IntRange(1, 1000), default=20, show_default=True),
        json_option,
        home_option,
    )  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


@click.group(invoke_without_command=True)
@_list_options
@click.pass_context
def executions(ctx, state_machine, status, limit, as_json, home) -> None:
    """Step Functions executions of the pipeline: `list` (the default) and `show`.

    \b
    Examples:
      p300 executions --state-machine ingest --status FAILED -n 5
      p300 executions show <name or ARN> --wait
    """
    if ctx.invoked_subcommand is None:
        _list(home, state_machine, status, limit, as_json)


@executions.command("list")
@_list_options
def list_command(state_machine, status, limit, as_json, home) -> None:
    """List executions, newest first, with status, start and duration.

    \b
    Example:
      p300 executions list -s train -n 5
    """
    _list(home, state_machine, status, limit, as_json)


def _list(home, state_machine, status, limit, as_json) -> None:
    sfn = cloud.connect(home).stepfunctions
    with aws_errors("listing executions"):
        found = list_executions(sfn, state_machine=state_machine, status=status, limit=limit)
    if as_json:
        echo_json(found)
    elif not found:
        click.echo("no executions")
    else:
        Console().print(executions_table(found))


@executions.command()
@click.argument("execution")
@click.option("--wait", is_flag=True, help="Wait until the execution has finished.")
@click.option("--timeout", type=float, default=900.0, show_default=True,
              help="Seconds --wait waits at most.")  # fmt: skip
@json_option
@home_option
def show(execution, wait, timeout, as_json, home) -> None:
    """Show an execution: every state (Map iterations indexed), errors, and its output.

    \b
    Example:
      p300 executions show train-20261122-101500-ab12 --wait
    """
    sfn = cloud.connect(home).stepfunctions
    waiting = Console(stderr=True).status(f"waiting for {execution} ...") if wait else nullcontext()
    with aws_errors(f"reading execution {execution}"), waiting:
        details = execution_details(sfn, execution, wait=wait, timeout=timeout)
    described = details.described
    if as_json:
        echo_json(
            {
                "execution": described,
                "trigger": details.trigger,
                "states": [_run_doc(r) for r in grouped(details.runs)],
                "summary": details.summary,
            }
        )
    else:
        _print_execution(details)
    if described["status"] not in ("SUCCEEDED", "RUNNING"):
        raise SystemExit(1)


def _run_doc(run: StateRun) -> dict:
    return {"name": run.name, "type": run.kind, "iteration": run.iteration,
            "status": run.status, "entered": run.entered, "exited": run.exited,
            "duration_s": run.duration_s, "error": run.error, "cause": run.cause,
            "input": run.input, "output": run.output,
            "retried": [{"error": e, "cause": c} for e, c in run.retried]}  # fmt: skip


def items_table(items: Sequence[ItemOutcome]) -> Table:
    """One line per item: subject, session, its group (and its own outcome where that differs,
    e.g. "skipped (duplicate)") and what to know about it."""
    table = Table("subject", "session", "outcome", "detail")
    for item in items:
        outcome = item.group if item.outcome == item.group else f"{item.group} ({item.outcome})"
        table.add_row(item.subject or "?", item.session or "?", outcome, item.detail)
    return table


def _print_execution(details: ExecutionDetails) -> None:
    console = Console()
    described = details.described
    took = format_duration(duration_s(described["startDate"], described.get("stopDate")))
    console.print(
        f"[bold]{described['name']}[/]  {described['stateMachineArn'].rsplit(':', 1)[-1]}  "
        f"{_coloured(described['status'])}  started "
        f"{described['startDate'].astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC, {took}, "
        f"started by {details.trigger}"
    )
    console.print(states_table(details.runs))
    if described.get("error"):
        console.print(f"[red]{described['error']}[/]: {readable_cause(described.get('cause'))}")
    if "output" in described:
        if details.summary is None:
            console.print(JSON.from_data(described["output"], default=str))
        else:
            console.print(items_table(details.items))
            console.print(summary_line(details.summary))
