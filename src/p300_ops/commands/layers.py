"""`p300 layers build|sizes`: the Lambda layers, built from the recipes in layers/
(`p300_ops.services.layer_builds`)."""

import click

from p300_ops.services import layer_builds

MIB = 1_048_576


@click.group(name="layers")
def layers_group() -> None:
    """Build the Lambda layers and report each function's unzipped size.

    Example: p300 layers sizes
    """


@layers_group.command()
@click.option(
    "--check/--no-check",
    default=True,
    show_default=True,
    help="Import each function's handler with only its layers after building.",
)
def build(check: bool) -> None:
    """Build every layer whose recipe changed (unchanged layers come from the cache).

    Example: p300 layers build
    """
    try:
        built = layer_builds.build_all(progress=lambda m: click.echo(m, err=True))
        for name, directory in built.items():
            click.echo(f"{name:<8} {directory}")
        context = layer_builds.layer_dirs_context(built)
        click.echo(f"cdk synth/deploy with: --context layerDirs='{context}'")
        if check:
            for function in layer_builds.FUNCTION_LAYERS:
                layer_builds.check_function_imports(function)
                click.echo(f"{function}: imports with its layers")
                if layer_builds.AWS_PACKAGES[function] == "image":
                    layer_builds.check_function_imports(function, as_image=True)
                    click.echo(f"{function}: imports as its AWS container image lays it out")
    except layer_builds.LayerError as exc:
        raise click.ClickException(str(exc)) from None


@layers_group.command()
def sizes() -> None:
    """Each function's unzipped size (code + layers) against its AWS limit: 250 MB as a zip,
    10 GB as a container image (the functions layers/manifest.toml marks ``aws_package =
    "image"``, deployed with ``cdk deploy -c trainPackaging=image``).

    Example: p300 layers sizes
    """
    try:
        rows = layer_builds.function_sizes()
    except layer_builds.LayerError as exc:
        raise click.ClickException(str(exc)) from None
    for row in rows:
        parts = ", ".join(f"{name} {size / MIB:.1f}" for name, size in row.layer_bytes.items())
        verdict = (
            click.style("ok  ", fg="green") if row.within_limit else click.style("OVER", fg="red")
        )
        click.echo(
            f"{verdict} {row.function:<16} {row.total_bytes / MIB:6.1f} MiB of "
            f"{row.limit_bytes / MIB:.0f} as {_package_text(row.aws_package)} "
            f"(code {row.code_bytes / MIB:.2f}; layers: {parts})"
        )
    if not all(row.within_limit for row in rows):
        raise SystemExit(1)


def _package_text(package: str) -> str:
    return "a container image on AWS" if package == "image" else "a zip"
