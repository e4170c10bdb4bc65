"""`p300 deploy-model`, `p300 promote`, `p300 rollback`, `p300 traffic`: what each serving alias
of the prediction API serves (`p300_ops.services.release` says how the history is kept)."""

import click
from rich.console import Console
from rich.table import Table

from p300_ops.commands.common import aws_errors, echo_json, home_option, json_option
from p300_ops.services import cloud, release


def parse_steps(text: str) -> tuple[float, ...]:
    """``"10,50,100"`` (percent) → ``(0.1, 0.5, 1.0)``."""
    try:
        steps = tuple(float(part) / 100 for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"--steps must be comma-separated percentages, got {text!r}") from None
    if not steps or steps[-1] != 1 or any(not 0 < s <= 1 for s in steps):
        raise ValueError(f"--steps must be percentages in (0, 100] ending at 100, got {text!r}")
    return steps


def traffic_table(rows: list[dict]) -> Table:
    """One line per alias and Lambda version: weight, model and model version."""
    table = Table("alias", "Lambda version", "weight", "model", "model version")
    for row in rows:
        if not row["versions"]:
            table.add_row(row["alias"], "-", "-", "(no alias yet)", "-")
        for served in row["versions"]:
            table.add_row(row["alias"], served["lambda_version"], f"{served['weight']:.0%}",
                          str(served["model"]), str(served["model_version"]))  # fmt: skip
    return table


@click.command("deploy-model")
@click.option("--alias", type=click.Choice(release.ALIASES), required=True)
@click.option("--model-version", help="MLflow model version (default: the one behind --alias).")
@json_option
@home_option
def deploy_model(alias, model_version, as_json, home) -> None:
    """Serve an MLflow model version under a Lambda alias (a new Lambda version, 100 %).

    \b
    Example:
      p300 deploy-model --alias challenger --model-version 3
    """
    connected = cloud.connect(home)
    with aws_errors("deploying the model"):
        try:
            done = release.deploy_model(
                connected.lambda_client, connected.apigateway, connected.tracking_uri, alias,
                model_version=model_version,
            )  # fmt: skip
        except LookupError as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        echo_json(done.__dict__)
        return
    click.echo(
        f"{alias}: Lambda version {done.lambda_version} serves {done.model_name} "
        f"version {done.model_version}"
    )


@click.command()
@click.option("--steps", default="10,50,100", show_default=True,
              help="Challenger's share of champion's traffic at each step, in %.")  # fmt: skip
@click.option("--requests", "requests_per_step", type=click.IntRange(1), default=20,
              show_default=True, help="Requests sent at each step.")  # fmt: skip
@click.option("--max-error-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True)
@click.option("--max-p95-ms", type=click.FloatRange(0, min_open=True), default=2000.0,
              show_default=True)  # fmt: skip
@json_option
@home_option
def promote(steps, requests_per_step, max_error_rate, max_p95_ms, as_json, home) -> None:
    """Make the challenger champion as a canary; roll back automatically when a step fails.

    \b
    Example:
      p300 promote --steps 10,50,100
    """
    try:
        weights = parse_steps(steps)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    connected = cloud.connect(home)
    checks = release.CanaryChecks(max_error_rate, max_p95_ms, requests_per_step)
    show = (lambda _: None) if as_json else _echo_step
    with aws_errors("promoting the challenger"):
        try:
            done = release.promote(connected.lambda_client, connected.tracking_uri,
                                   base_url=connected.api_url(), steps=weights, checks=checks,
                                   progress=show)  # fmt: skip
        except release.PromotionFailed as exc:
            if as_json:
                echo_json({"promoted": False, "steps": [release.as_dict(s) for s in exc.steps]})
            raise click.ClickException(str(exc)) from None
        except release.ReleaseError as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        echo_json({"promoted": True, "steps": [release.as_dict(s) for s in done]})
        return
    click.echo("promoted: champion now serves the challenger's version")


@click.command()
@json_option
@home_option
def rollback(as_json, home) -> None:
    """Put champion back on the version it served before the last promotion.

    \b
    Example:
      p300 rollback
    """
    connected = cloud.connect(home)
    with aws_errors("rolling back"):
        try:
            done = release.rollback(connected.lambda_client, connected.tracking_uri)
        except release.ReleaseError as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        echo_json(done.__dict__)
        return
    click.echo(
        f"champion: Lambda version {done.lambda_version} serves {done.model_name} "
        f"version {done.model_version}"
    )


@click.command()
@click.option("--challenger-share", type=click.IntRange(0, 99), default=None,
              help="Send this % of champion's traffic to the challenger's version and hold it "
                   "(0 ends the split).")  # fmt: skip
@json_option
@home_option
def traffic(challenger_share, as_json, home) -> None:
    """Show each alias's Lambda versions, their weights and the model versions they serve.

    \b
    Examples:
      p300 traffic --json
      p300 traffic --challenger-share 30    # champion 70 %, challenger's version 30 %
    """
    connected = cloud.connect(home)
    with aws_errors("reading the aliases"):
        try:
            if challenger_share is None:
                rows = release.traffic(connected.lambda_client)
            else:
                rows = release.split_traffic(connected.lambda_client, challenger_share / 100)
        except release.ReleaseError as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        echo_json(rows)
        return
    Console().print(traffic_table(rows))
    with aws_errors("finding the API"):
        click.echo(f"API: {connected.api_url()}")


def _echo_step(step: release.CanaryStep) -> None:
    p95 = "-" if step.p95_ms is None else f"{step.p95_ms:.0f} ms"
    verdict = "ok" if step.passed else "FAILED: " + "; ".join(step.failures)
    click.echo(
        f"{step.weight:>5.0%}  {step.new_version_requests}/{step.requests} answered by the new "
        f"version, {step.errors} errors, p95 {p95}  {verdict}",
        err=True,
    )
