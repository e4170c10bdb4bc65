"""`p300 decode`: a recorded speller run through the prediction API, character by character
(`p300_ops.services.speller_decoding`)."""

import click
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.table import Table

from p300_aws.names import CHALLENGER_ALIAS, CHAMPION_ALIAS
from p300_ops.commands.common import echo_json, home_option, json_option
from p300_ops.services import cloud
from p300_ops.services.errors import ServiceError
from p300_ops.services.speller_decoding import SpellerDecoding, decode_recording


def parse_repetitions(_ctx, _param, text: str) -> int | None:
    """``--repetitions``: ``"all"`` → None (every number of repetitions), ``"5"`` → 5."""
    if text == "all":
        return None
    if not text.isdigit() or int(text) < 1:
        raise click.BadParameter(f"must be 'all' or a whole number >= 1, got {text!r}")
    return int(text)


def accuracy_table(decoding: SpellerDecoding) -> Table:
    """One row per number of repetitions r: each character's answer, and the accuracy."""
    characters = decoding.characters
    table = Table("r", *(f"#{c.number} ({c.truth or '?'})" for c in characters), "accuracy",
                  title="Decoded with the first r repetitions")  # fmt: skip
    for i, r in enumerate(decoding.repetitions):
        accuracy = "-" if decoding.accuracy is None else f"{decoding.accuracy[i]:.0%}"
        table.add_row(str(r), *(c.decoded[i] for c in characters), accuracy)
    return table


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--study", required=True, help="The subject's study.")
@click.option("--subject", required=True, help="Whose model decodes (its own, else its "
              "study's population model).")  # fmt: skip
@click.option("--alias", type=click.Choice([CHAMPION_ALIAS, CHALLENGER_ALIAS]),
              default=CHAMPION_ALIAS, show_default=True)  # fmt: skip
@click.option("--repetitions", default="all", show_default=True, callback=parse_repetitions,
              help="Decode with the first N repetitions of each character, or with 1, 2, … "
              "all of them ('all').")  # fmt: skip
@click.option("--from-character", type=click.IntRange(min=1), default=1, show_default=True,
              help="The first character to decode (1 is the recording's first).")  # fmt: skip
@json_option
@home_option
def decode(file, study, subject, alias, repetitions, from_character, as_json, home) -> None:
    """Decode a recorded speller run through the API and print text, truth and accuracy.

    FILE is a BCI2000 .dat, an OpenViBE .gdf or a landing Parquet with stim_item and the matrix
    in its metadata. Each character goes as raw windows to
    /predict-<alias>/studies/<study>/subjects/<subject>/decode with the matrix's rows and
    columns; accuracy is given for each number of repetitions r.

    \b
    Example:
      p300 decode bp2calib.dat --study speller --subject rubenmols --from-character 4
    """
    import httpx

    connected = cloud.connect(home)
    try:
        decoding = decode_recording(
            file, api_base=connected.api_url(), study=study, subject=subject, alias=alias,
            repetitions=repetitions, from_character=from_character,
            headers=connected.api_headers("predict"),
        )  # fmt: skip
    except (ValueError, ServiceError, ClientError, BotoCoreError, httpx.HTTPError) as exc:
        raise click.ClickException(f"decoding {file} failed: {exc}") from None
    if as_json:
        echo_json(decoding.to_dict())
        return
    model = decoding.model
    click.echo(f"model {model['name']} version {model['version']} ({model['kind']}, "
               f"{model['alias']}) at {decoding.url}")  # fmt: skip
    Console().print(accuracy_table(decoding))
    click.echo(f"decoded {decoding.decoded_text!r}, truth {decoding.truth_text!r}")
