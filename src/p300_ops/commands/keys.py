"""`p300 keys`: the API keys collectors use, and rotating one (`p300_ops.services.api_keys`)."""

import click
from rich.console import Console
from rich.table import Table

from p300_aws.names import UPLOAD_API_KEY_NAME
from p300_ops.commands.common import aws_errors, echo_json, home_option, json_option
from p300_ops.services import cloud
from p300_ops.services.api_keys import ApiKeyInfo, list_keys, rotate_key


def keys_table(keys: list[ApiKeyInfo]) -> Table:
    table = Table(title="API keys")
    # Names and values are copied from here: fold them rather than cut them.
    for column in ("name", "id", "enabled", "created", "usage plans", "value"):
        table.add_column(column, overflow="fold")
    for key in keys:
        table.add_row(key.name, key.id, "yes" if key.enabled else "no", str(key.created)[:19],
                      ", ".join(key.usage_plans) or "-", key.value or "(hidden)")  # fmt: skip
    return table


@click.group("keys", invoke_without_command=True)
@click.option("--show-values", is_flag=True, help="Show each key's value.")
@json_option
@home_option
@click.pass_context
def keys_group(ctx, show_values, as_json, home) -> None:
    """API keys of the upload API: list them (values hidden unless --show-values), `rotate` one.

    A key keeps its value across restarts; only a rotation changes it.

    \b
    Examples:
      p300 keys --show-values
      p300 keys rotate
    """
    if ctx.invoked_subcommand is not None:
        return
    with aws_errors("listing API keys"):
        found = list_keys(cloud.connect(home).apigateway, values=show_values)
    if as_json:
        echo_json([vars(key) for key in found])
    else:
        Console().print(keys_table(found))


@keys_group.command("rotate")
@click.option("--name", default=UPLOAD_API_KEY_NAME, show_default=True, help="The key's name.")
@json_option
@home_option
def rotate(name, as_json, home) -> None:
    """Replace a key by a new one in the same usage plans; the old value stops working at once.

    \b
    Example:
      p300 keys rotate && p300 keys --show-values
    """
    with aws_errors(f"rotating API key {name}"):
        done = rotate_key(cloud.connect(home).apigateway, name)
    if as_json:
        echo_json(vars(done))
        return
    click.echo(
        f"{done.name}: new key {done.new_id} in {', '.join(done.usage_plans) or 'no usage plan'}; "
        f"the old key {done.old_id} is deleted and its value no longer works. "
        f"Hand the new value (p300 keys --show-values) to the collectors."
    )
