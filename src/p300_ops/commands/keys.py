"""`p300 keys`: bearer tokens of the APIs (create, list, rotate, revoke) and the upload API's
usage-plan keys (`p300_ops.services.api_keys`)."""

import click
from rich.console import Console
from rich.table import Table

from p300_aws.api_tokens import APIS, TokenRecord
from p300_aws.names import UPLOAD_API_KEY_NAME
from p300_ops.commands.common import aws_errors, echo_json, home_option, json_option
from p300_ops.services import cloud
from p300_ops.services.api_keys import (
    ApiKeyInfo,
    NewToken,
    create_token,
    list_keys,
    list_tokens,
    revoke_token,
    rotate_key,
    rotate_token,
)


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
    """Credentials of the APIs. Bearer tokens authenticate every request: `create` one per
    client, `tokens` lists them, `rotate-token` and `revoke` replace or end one. The upload
    API's API keys (listed here, values hidden unless --show-values; `rotate`) only name the
    usage plan that throttles a collector.

    \b
    Examples:
      p300 keys create --api upload --client collector-site-a
      p300 keys tokens
      p300 keys revoke 3f2a9c01b7de
      p300 keys --show-values
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


def tokens_table(records: list[TokenRecord]) -> Table:
    table = Table(title="API tokens (secrets are never stored: only their SHA-256)")
    for column in ("id", "api", "client", "created", "revoked"):
        table.add_column(column, overflow="fold")
    for record in records:
        table.add_row(record.id, record.api, record.client, record.created, record.revoked or "-")
    return table


def _show_new_token(created: NewToken, as_json: bool) -> None:
    if as_json:
        echo_json({"token": created.token, "revoked_id": created.revoked_id,
                   **created.record.model_dump(exclude={"sha256"})})  # fmt: skip
        return
    record = created.record
    replaces = f" (replaces {created.revoked_id}, now revoked)" if created.revoked_id else ""
    click.echo(f"{record.client}: token {record.id} of the {record.api} API{replaces}.")
    click.echo("Shown once, store it now (it cannot be read back):")
    click.echo(created.token)
    click.echo("Send it as the header  Authorization: Bearer <token>")


@keys_group.command("create")
@click.option("--api", "api", type=click.Choice(sorted(APIS)), required=True,
              help="The API the token opens.")  # fmt: skip
@click.option("--client", required=True, help="Who holds it (a collector, a service).")
@json_option
@home_option
def create(api, client, as_json, home) -> None:
    """Create a bearer token for one client of one API; it is shown once.

    \b
    Example:
      p300 keys create --api predict --client speller-station-2
    """
    with aws_errors(f"creating a token of the {api} API"):
        created = create_token(cloud.connect(home).s3, api, client=client)
    _show_new_token(created, as_json)


@keys_group.command("tokens")
@json_option
@home_option
def tokens(as_json, home) -> None:
    """List every token: id, API, client, when created and revoked (never a secret).

    \b
    Example:
      p300 keys tokens --json
    """
    with aws_errors("listing tokens"):
        records = list_tokens(cloud.connect(home).s3)
    if as_json:
        echo_json([record.model_dump(exclude={"sha256"}) for record in records])
    else:
        Console().print(tokens_table(records))


@keys_group.command("rotate-token")
@click.argument("token_id")
@json_option
@home_option
def rotate_token_command(token_id, as_json, home) -> None:
    """Give the client of TOKEN_ID a new token (shown once) and revoke TOKEN_ID.

    \b
    Example:
      p300 keys rotate-token 3f2a9c01b7de
    """
    with aws_errors(f"rotating token {token_id}"):
        created = rotate_token(cloud.connect(home).s3, token_id)
    _show_new_token(created, as_json)


@keys_group.command("revoke")
@click.argument("token_id")
@json_option
@home_option
def revoke(token_id, as_json, home) -> None:
    """Revoke TOKEN_ID: the APIs refuse it (403) from the next request on.

    \b
    Example:
      p300 keys revoke 3f2a9c01b7de
    """
    with aws_errors(f"revoking token {token_id}"):
        record = revoke_token(cloud.connect(home).s3, token_id)
    if as_json:
        echo_json(record.model_dump(exclude={"sha256"}))
    else:
        click.echo(f"token {record.id} of {record.client} ({record.api} API) revoked at "
                   f"{record.revoked}")  # fmt: skip
