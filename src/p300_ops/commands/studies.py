"""`p300 studies`: the studies and their versioned preprocessing profiles
(`p300_ops.services.study_profiles`)."""

from collections.abc import Sequence

import click
from rich.console import Console
from rich.table import Table

from p300.studies import StudyProfile
from p300_ops.commands.common import (
    aws_errors,
    echo_json,
    home_option,
    json_option,
    study_errors,
    usage_errors,
)
from p300_ops.services import cloud, study_profiles
from p300_ops.services.study_profiles import REJECTION_FORMS, StudyView, profile_row

_PROFILE_OPTIONS = (
    click.option("--band", metavar="LO,HI", help="Band-pass edges in Hz, e.g. 1,20."),
    click.option("--window", metavar="TMIN,TMAX", help="Epoch window in s, e.g. -0.1,0.6."),
    click.option("--baseline", metavar="A,B", help="Baseline interval in s, e.g. -0.1,0."),
    click.option("--rejection", metavar="POLICY", help=f"Epoch rejection: {REJECTION_FORMS}."),
    click.option("--resample", metavar="HZ", help="Epoch sampling rate in Hz, or 'none'."),
    click.option(
        "--montage", metavar="CH1,CH2,...", help="Channels every recording must have, or 'any'."
    ),
    click.option("--description", help="Free text for people."),
)


def profile_options(command):
    """The profile options of ``create`` and ``update``."""
    for option in reversed(_PROFILE_OPTIONS):
        command = option(command)
    return command


def profiles_table(profiles: Sequence[StudyProfile], *, title: str | None = None) -> Table:
    """One row per study profile."""
    table = Table("study", "version", "band (Hz)", "window (s)", "baseline (s)", "rejection",
                  "resample (Hz)", "montage", "params hash", "description",
                  title=title)  # fmt: skip
    for profile in profiles:
        row = profile_row(profile)
        montage = row["montage"]
        table.add_row(
            row["name"], str(row["version"]), "–".join(f"{f:g}" for f in row["band_hz"]),
            "…".join(f"{t:g}" for t in row["window_s"]),
            "…".join(f"{t:g}" for t in row["baseline_s"]), row["rejection"],
            "-" if row["resample_hz"] is None else f"{row['resample_hz']:g}",
            "any" if montage is None else f"{len(montage)}: {','.join(montage)}",
            row["params_hash"], row["description"],
        )  # fmt: skip
    return table


@click.group("studies")
def studies_group() -> None:
    """Studies: groups of recordings that share a preprocessing profile and a montage.

    A profile is versioned and never edited in place: `update` writes the next version, and the
    next catch-up run re-processes that study's subjects (and no other study's).

    \b
    Examples:
      p300 studies create speller
      p300 studies list
    """


@studies_group.command("create")
@click.argument("name")
@profile_options
@json_option
@home_option
def create_command(name, band, window, baseline, rejection, resample, montage, description,
                   as_json, home) -> None:  # fmt: skip
    """Create study NAME (version 1): System A's band, window and resampling unless given, and
    the data-driven robust rejection policy.

    \b
    Examples:
      p300 studies create speller --montage Fz,Cz,Pz,Oz,P3,P4,PO7,PO8
      p300 studies create lab-b --band 0.5,30 --rejection fixed:150 --resample none
    """
    _show(_run(home, study_profiles.create, name, _changes(locals())), as_json, "created")


@studies_group.command("update")
@click.argument("name")
@profile_options
@json_option
@home_option
def update_command(name, band, window, baseline, rejection, resample, montage, description,
                   as_json, home) -> None:  # fmt: skip
    """Write the next version of study NAME's profile with the options given.

    \b
    Example:
      p300 studies update speller --rejection robust:4
    """
    _show(_run(home, study_profiles.update, name, _changes(locals())), as_json, "updated")


@studies_group.command("list")
@json_option
@home_option
def list_command(as_json, home) -> None:
    """List every study with its latest profile (system-a is built in).

    \b
    Example:
      p300 studies list --json
    """
    with aws_errors("listing the studies"):
        profiles = study_profiles.list_all(cloud.connect(home).s3)
    if as_json:
        echo_json([profile_row(profile) for profile in profiles])
    else:
        Console().print(profiles_table(profiles))


@studies_group.command("show")
@click.argument("name")
@click.option("--version", type=click.IntRange(min=1), help="That version (default: the latest).")
@json_option
@home_option
def show_command(name, version, as_json, home) -> None:
    """Show one version of study NAME's profile and the versions it has.

    \b
    Example:
      p300 studies show speller --version 1
    """
    s3 = cloud.connect(home).s3
    with usage_errors(), study_errors(), aws_errors(f"reading study {name}"):
        view: StudyView = study_profiles.show(s3, name, version)
    if as_json:
        echo_json(view.to_dict())
        return
    title = f"study {name}: versions {', '.join(map(str, view.versions))}"
    Console().print(profiles_table([view.profile], title=title))


def _changes(options: dict) -> dict:
    names = ("band", "window", "baseline", "rejection", "resample", "montage", "description")
    with usage_errors():
        return study_profiles.profile_options(**{name: options[name] for name in names})


def _run(home, action, name: str, changes: dict) -> StudyProfile:
    s3 = cloud.connect(home).s3
    with usage_errors(), study_errors(), aws_errors(f"writing study {name}"):
        return action(s3, name, changes)


def _show(profile: StudyProfile, as_json: bool, done: str) -> None:
    if as_json:
        echo_json(profile_row(profile))
        return
    Console().print(profiles_table([profile], title=f"{done} study {profile.name}"))
