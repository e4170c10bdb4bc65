"""`p300 birthdate`: System B's birthdate retrieval through the prediction API's ``/decode``
(`p300_ops.services.birthdate_retrieval`)."""

import click
from botocore.exceptions import BotoCoreError, ClientError

from p300.birthdate import DEFAULT_REPETITIONS, DEFAULT_YEARS, make_birthdate_session
from p300_aws.names import CHALLENGER_ALIAS, CHAMPION_ALIAS
from p300_ops.commands.common import echo_json, home_option, json_option, usage_errors
from p300_ops.services import cloud
from p300_ops.services.birthdate_retrieval import BirthdateRun, retrieve_birthdate
from p300_ops.services.errors import ServiceError


def report_lines(run: BirthdateRun, *, top: int = 3) -> list[str]:
    """Human-readable lines: per block its best candidates, margin and latency; then the date."""
    lines = [f"model {run.model.get('name')} version {run.model.get('version')} "
             f"({run.model.get('alias')}) at {run.url}"]  # fmt: skip
    fields = {f.field: f for f in run.decoding.fields}
    for block in run.blocks:
        decoded = fields[block.field]
        best = ", ".join(f"{item} ({evidence:+.2f})"
                         for item, evidence in zip(decoded.items[:top], decoded.evidence[:top],
                                                   strict=False))  # fmt: skip
        latency = block.latencies_ms
        lines.append(
            f"{block.field:>5}: true {block.target}, chosen {decoded.chosen} (rank "
            f"{decoded.chosen_rank}), margin {decoded.margin:.2f}; best {best}; "
            f"{sum(block.n_flashes.values())} flashes, {block.n_rejected} rejected; "
            f"{len(latency)} request(s), {sum(latency):.0f} ms (max {max(latency):.0f} ms)"
        )
    verdict = "correct" if run.correct else "WRONG"
    note = " (best fields formed no valid date: adjusted)" if run.decoding.adjusted else ""
    lines.append(f"decoded {run.decoding.date.isoformat()}, truth {run.truth.isoformat()}: "
                 f"{verdict}{note}")  # fmt: skip
    return lines


@click.command()
@click.option("--date", "birthdate", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="The synthetic subject's birthdate, YYYY-MM-DD.")  # fmt: skip
@click.option("--alias", type=click.Choice([CHAMPION_ALIAS, CHALLENGER_ALIAS]),
              default=CHAMPION_ALIAS, show_default=True)  # fmt: skip
@click.option("--repetitions", type=click.IntRange(1, 50), default=DEFAULT_REPETITIONS,
              show_default=True, help="Times each candidate is flashed.")  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds the synthetic subject and flash order.")  # fmt: skip
@click.option("--years", default=f"{DEFAULT_YEARS[0]}-{DEFAULT_YEARS[1]}", show_default=True,
              help="First and last year flashed.")  # fmt: skip
@json_option
@home_option
def birthdate(birthdate, alias, repetitions, seed, years, as_json, home) -> None:
    """Decode a synthetic System B session's birthdate through the API's /decode.

    Days, months and years are flashed one at a time; the subject's own date evokes the P300.
    Each block goes as blind raw windows to /predict-<alias>/decode; the most likely valid date
    is printed next to the truth.

    \b
    Example:
      p300 birthdate --date 1990-07-14 --alias champion --repetitions 10
    """
    import httpx

    with usage_errors("--date/--years: "):
        first, last = (int(year) for year in years.split("-"))
        session = make_birthdate_session(birthdate.date(), seed=seed, repetitions=repetitions,
                                         years=(first, last))  # fmt: skip
    connected = cloud.connect(home)
    try:
        run = retrieve_birthdate(
            session,
            api_base=connected.api_url(),
            alias=alias,
            headers=connected.api_headers("predict"),
        )
    except (ServiceError, RuntimeError, ClientError, BotoCoreError, httpx.HTTPError) as exc:
        raise click.ClickException(f"birthdate retrieval failed: {exc}") from None
    if as_json:
        echo_json(run.to_dict())
        return
    for line in report_lines(run):
        click.echo(line)
