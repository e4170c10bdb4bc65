"""`p300 executions`: the Step Functions console of the local cloud."""

import json
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import click
from rich.console import Console
from rich.json import JSON
from rich.table import Table

from p300_aws.names import INGEST_STATE_MACHINE, TRAIN_STATE_MACHINE
from p300_ops.commands.common import aws_errors, cloud_clients, echo_json, home_option, json_option
from p300_ops.commands.history import StateRun, grouped, readable_cause, state_runs
from p300_ops.commands.outcomes import items_table, summarize_output, summary_line

STATE_MACHINES = {"ingest": INGEST_STATE_MACHINE, "train": TRAIN_STATE_MACHINE}
STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
_COLOURS = {"SUCCEEDED": "green", "succeeded": "green", "RUNNING": "cyan", "unfinished": "cyan",
            "caught": "yellow"}  # fmt: skip


def state_machine_name(choice: str) -> str:
    """``ingest``/``train`` → the pipeline's state machine names; any other name as given."""
    return STATE_MACHINES.get(choice, choice)


def deployed_state_machines(sfn) -> dict[str, str]:
    """Name → ARN of every deployed state machine."""
    pages = sfn.get_paginator("list_state_machines").paginate()
    return {m["name"]: m["stateMachineArn"] for page in pages for m in page["stateMachines"]}


def state_machine_arn(sfn, name: str) -> str:
    """The ARN of the state machine ``name``; `click.ClickException` naming those deployed."""
    machines = deployed_state_machines(sfn)
    if name not in machines:
        raise click.ClickException(
            f"no state machine {name!r} is deployed (deployed: "
            f"{', '.join(sorted(machines)) or 'none'}); is the pipeline deployed?"
        )
    return machines[name]


def duration_s(start: datetime, stop: datetime | None, *, now: datetime | None = None) -> float:
    """Seconds from ``start`` to ``stop`` (to ``now`` while still running)."""
    return ((stop or now or datetime.now(UTC)) - start).total_seconds()


def format_duration(seconds: float | None) -> str:
    """``0.42 s``, ``12.3 s``, ``4 min 05 s``; ``-`` for None."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


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
                     help="ingest, train, or a state machine name (default: both)."),
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
    sfn = cloud_clients(home).stepfunctions
    found = []
    with aws_errors("listing executions"):
        if state_machine:
            arns = [state_machine_arn(sfn, state_machine_name(state_machine))]
        else:
            deployed = deployed_state_machines(sfn)
            arns = [deployed[name] for name in STATE_MACHINES.values() if name in deployed]
        for arn in arns:
            query = {"stateMachineArn": arn} | ({"statusFilter": status.upper()} if status else {})
            pages = sfn.get_paginator("list_executions").paginate(**query)
            found += [ex for page in pages for ex in page["executions"]]
    found = sorted(found, key=lambda ex: ex["startDate"], reverse=True)[:limit]
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
    sfn = cloud_clients(home).stepfunctions
    with aws_errors(f"reading execution {execution}"):
        arn = execution_arn(sfn, execution)
        described = wait_for(sfn, arn, timeout=timeout) if wait else _describe(sfn, arn)
        events = _history(sfn, arn)
    runs = state_runs(events)
    if as_json:
        echo_json(
            {
                "execution": described,
                "states": [_run_doc(r) for r in grouped(runs)],
                "summary": summarize_output(described.get("output")),
            }
        )
    else:
        _print_execution(described, runs)
    if described["status"] not in ("SUCCEEDED", "RUNNING"):
        raise SystemExit(1)


def execution_arn(sfn, execution: str) -> str:
    """``execution`` when it is an ARN, else the ARN of the pipeline execution of that name."""
    if execution.startswith("arn:"):
        return execution
    deployed = deployed_state_machines(sfn)
    for name in STATE_MACHINES.values():
        if name not in deployed:
            continue
        pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=deployed[name])
        for page in pages:
            for ex in page["executions"]:
                if ex["name"] == execution:
                    return ex["executionArn"]
    raise click.ClickException(
        f"no execution named {execution!r} in {', '.join(STATE_MACHINES.values())}: "
        "give its name as `p300 executions` lists it, or its ARN"
    )


def wait_for(sfn, arn: str, *, timeout: float, poll_s: float = 0.5) -> dict:
    """``describe_execution`` once the execution has left RUNNING; ClickException on timeout."""
    deadline = time.monotonic() + timeout
    with Console(stderr=True).status(f"waiting for {arn.rsplit(':', 1)[-1]} ..."):
        while (described := _describe(sfn, arn))["status"] == "RUNNING":
            if time.monotonic() > deadline:
                raise click.ClickException(f"{arn} still RUNNING after {timeout:.0f} s")
            time.sleep(poll_s)
    return described


def _describe(sfn, arn: str) -> dict:
    described = sfn.describe_execution(executionArn=arn)
    described.pop("ResponseMetadata", None)
    for field in ("input", "output"):
        if described.get(field):
            described[field] = json.loads(described[field])
    return described


def _history(sfn, arn: str) -> list[dict]:
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=arn)
    return [event for page in pages for event in page["events"]]


def _run_doc(run: StateRun) -> dict:
    return {"name": run.name, "type": run.kind, "iteration": run.iteration,
            "status": run.status, "entered": run.entered, "exited": run.exited,
            "duration_s": run.duration_s, "error": run.error, "cause": run.cause,
            "retried": [{"error": e, "cause": c} for e, c in run.retried]}  # fmt: skip


def _print_execution(described: Mapping, runs: Sequence[StateRun]) -> None:
    console = Console()
    took = format_duration(duration_s(described["startDate"], described.get("stopDate")))
    console.print(
        f"[bold]{described['name']}[/]  {described['stateMachineArn'].rsplit(':', 1)[-1]}  "
        f"{_coloured(described['status'])}  started "
        f"{described['startDate'].astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC, {took}"
    )
    console.print(states_table(runs))
    if described.get("error"):
        console.print(f"[red]{described['error']}[/]: {readable_cause(described.get('cause'))}")
    if "output" in described:
        summary = summarize_output(described["output"])
        if summary is None:
            console.print(JSON.from_data(described["output"], default=str))
        else:
            console.print(items_table(summary))
            console.print(summary_line(summary))
