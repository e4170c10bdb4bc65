"""The `p300` command line."""

import click


@click.group()
def main() -> None:
    """Serverless MLOps for P300 EEG brain-computer interfaces on an emulated AWS cloud."""
