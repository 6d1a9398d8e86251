"""``ockam vault`` and ``ockam identity``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from .base import OckamGroup, open_state, terminal
from .output import fmt_info, fmt_list, fmt_log, fmt_ok

if TYPE_CHECKING:
    from ..state.identities import NamedIdentityRow, VaultRow

__all__ = ["identity", "vault"]


# -- vault -------------------------------------------------------------------------------


def vault_json(v: VaultRow) -> dict[str, Any]:
    """The JSON form of a vault (``{"vault": {"name", "vault_type", "is_default"}}``)."""
    kms = "Yes" if v.is_kms else "No"
    vault_type: dict[str, Any] = (
        {"DatabaseVault": {"use_aws_kms": kms}}
        if v.path is None
        else {"LocalFileVault": {"path": v.path, "use_aws_kms": kms}}
    )
    return {"vault": {"name": v.name, "vault_type": vault_type, "is_default": v.is_default}}


def _vault_item(v: VaultRow) -> str:
    lines = [f"Name: {v.name}", f"Type: {'Internal' if v.path is None else 'External'}"]
    if v.path is not None:
        lines.append(f"Path: {v.path}")
    if v.is_kms:
        lines.append("Uses AWS KMS: true")
    return "\n".join(lines)


@click.group(cls=OckamGroup, name="vault", help="Manage vaults")
def vault() -> None:
    pass


@vault.command("create", help="Create a vault")
@click.argument("name", required=False)
@click.option("--path", default=None, metavar="FILE", help="Path of the vault's file.")
@click.option("--aws-kms", is_flag=True, help="Use AWS KMS (not supported).")
@click.pass_context
def vault_create(ctx: click.Context, name: str | None, path: str | None, aws_kms: bool) -> None:
    from ..errors import InvalidArgument
    from ..state.identities import Vaults
    from .node_runtime import random_name

    if aws_kms:
        raise InvalidArgument("AWS KMS vaults are not supported")
    name = name or random_name()
    vaults = Vaults(open_state(ctx))
    row = vaults.create(name, path)
    plain = fmt_ok(f"Vault created with name {name}")
    if row.is_default:
        plain += "\n" + fmt_ok(f"Marked {name} as your default Vault")
    terminal(ctx).result(plain=plain, machine=name, json_value=vault_json(row))


@vault.command("show", help="Show the details of a vault")
@click.argument("name", required=False)
@click.pass_context
def vault_show(ctx: click.Context, name: str | None) -> None:
    from ..errors import NotFound
    from ..state.identities import Vaults

    vaults = Vaults(open_state(ctx))
    row = vaults.require(name) if name else vaults.default()
    if row is None:
        raise NotFound("There is no default vault")
    plain = "Vault:\n" + "\n".join("   " + line for line in _vault_item(row).splitlines())
    terminal(ctx).result(plain=plain, machine=row.name, json_value=vault_json(row))


@vault.command("list", help="List vaults")
@click.pass_context
def vault_list(ctx: click.Context) -> None:
    from ..state.identities import Vaults

    rows = Vaults(open_state(ctx)).list_all()
    if rows:
        plain = "\n\n".join(fmt_list(_vault_item(v).replace("\n", "\n    ")) for v in rows) + "\n"
    else:
        plain = fmt_info("There are no vaults to show")
    terminal(ctx).result(
        plain=plain, machine="\n".join(v.name for v in rows), json_value=[vault_json(v) for v in rows]
    )


@vault.command("delete", help="Delete a vault")
@click.argument("name", required=False)
@click.option("-y", "--yes", is_flag=True, help="Confirm the deletion without prompting.")
@click.option("--all", "all_", is_flag=True, help="Delete all the vaults.")
@click.pass_context
def vault_delete(ctx: click.Context, name: str | None, yes: bool, all_: bool) -> None:
    from ..errors import NotFound
    from ..state.identities import Vaults

    term = terminal(ctx)
    vaults = Vaults(open_state(ctx))
    if all_:
        names = [v.name for v in vaults.list_all()]
    else:
        row = vaults.require(name) if name else vaults.default()
        if row is None:
            raise NotFound("There is no default vault")
        names = [row.name]
    if not names:
        term.result(plain=fmt_info("There are no vaults to delete"), machine="[]", json_value=[])
        return
    if not term.confirm(yes, "Are you sure you want to delete this vault?"):
        return
    for n in names:
        vaults.delete(n)
        term.result(
            plain=fmt_ok(f"Vault with name '{n}' has been deleted"), machine=n, json_value={"name": n}
        )


@vault.command("move", help="Move a vault to a different path")
@click.argument("name")
@click.option("--path", required=True, metavar="FILE", help="The new path of the vault's file.")
@click.pass_context
def vault_move(ctx: click.Context, name: str, path: str) -> None:
    from ..state.identities import Vaults

    row = Vaults(open_state(ctx)).move(name, path)
    terminal(ctx).result(
        plain=fmt_ok(f"Moved the vault {name} to path {row.path}"),
        machine=str(row.path),
        json_value=vault_json(row),
    )


# -- identity ----------------------------------------------------------------------------


@click.group(cls=OckamGroup, name="identity", help="Manage identities")
def identity() -> None:
    pass


@identity.command("create", help="Create a new identity")
@click.argument("name", required=False)
@click.option(
    "--vault", "vault_name", default=None, metavar="VAULT_NAME", help="Vault of the identity's key."
)
@click.option("--identity", "exported", default=None, metavar="HEX", help="Import this identity (hex).")
@click.option("--key-id", default=None, help="AWS KMS key id (not supported).")
@click.pass_context
def identity_create(
    ctx: click.Context, name: str | None, vault_name: str | None, exported: str | None, key_id: str | None
) -> None:
    from ..api.identities import create_named_identity
    from ..errors import InvalidArgument
    from .node_runtime import random_name

    if key_id is not None:
        raise InvalidArgument("AWS KMS keys are not supported")
    name = name or random_name()
    row = create_named_identity(open_state(ctx), name, vault_name, change_history_hex=exported)
    plain = fmt_ok(f"Identity {row.identifier} created successfully as {name}")
    if row.is_default:
        plain += "\n" + fmt_ok(f"Marked {name} as your default Identity")
    terminal(ctx).result(plain=plain, machine=row.identifier, json_value={"identifier": row.identifier})


def _identity_or_default(ctx: click.Context, name: str | None) -> NamedIdentityRow:
    from ..errors import NotFound
    from ..state.identities import Identities

    identities = Identities(open_state(ctx))
    row = identities.require(name) if name else identities.default()
    if row is None:
        raise NotFound("There is no default identity")
    return row


def _full_identity(row: NamedIdentityRow) -> tuple[str, dict[str, Any]]:
    from ..identity import verify_change_history

    ident = verify_change_history(bytes.fromhex(row.change_history))
    changes: list[dict[str, Any]] = []
    lines = [f"Identifier: {ident.identifier}"]
    for i, change in enumerate(ident.changes):
        key = change.primary_public_key
        key_text = f"{key.key_type.value}: {key.data.hex()}"
        revoke = bool(change.data.revoke_all_purpose_keys)
        lines.append(f"  Change[{i}]:")
        lines.append(f"    identifier:              {change.change_hash.hex()}")
        lines.append(f"    primary_public_key:      {key_text}")
        lines.append(f"    revoke_all_purpose_keys: {str(revoke).lower()}")
        changes.append(
            {
                "identifier": change.change_hash.hex(),
                "primary_public_key": key_text,
                "revoke_all_purpose_keys": revoke,
            }
        )
    return "\n".join(lines), {"identifier": str(ident.identifier), "changes": changes}


@identity.command("show", help="Show the details of an identity")
@click.argument("name", required=False)
@click.option("--full", is_flag=True, help="Show the full change history.")
@click.option("--encoding", type=click.Choice(["hex"]), default=None, help="Encoding of the full identity.")
@click.pass_context
def identity_show(ctx: click.Context, name: str | None, full: bool, encoding: str | None) -> None:
    row = _identity_or_default(ctx, name)
    term = terminal(ctx)
    if full:
        if encoding == "hex":
            term.result(plain=row.change_history, machine=row.change_history, json_value=row.change_history)
            return
        plain, value = _full_identity(row)
        term.result(plain=plain, machine=plain, json_value=value)
        return
    term.result(plain=row.identifier, machine=row.identifier, json_value={"identifier": row.identifier})


@identity.command("list", help="List identities")
@click.pass_context
def identity_list(ctx: click.Context) -> None:
    from ..state.identities import Identities

    rows = Identities(open_state(ctx)).list_all()
    items = [{"name": r.name, "identifier": r.identifier, "is_default": r.is_default} for r in rows]
    if rows:
        plain = "\n\n".join(
            fmt_list(f"{r.name}{' (default)' if r.is_default else ''}\n    {fmt_log(r.identifier).strip()}")
            for r in rows
        )
    else:
        plain = fmt_info("There are no identities to show")
    terminal(ctx).result(
        plain=plain, machine="\n".join(r.name for r in rows), json_value=items, has_json=True
    )


@identity.command("default", help="Show or change the default identity")
@click.argument("name", required=False)
@click.pass_context
def identity_default(ctx: click.Context, name: str | None) -> None:
    from ..errors import InvalidArgument
    from ..state.identities import Identities

    term = terminal(ctx)
    identities = Identities(open_state(ctx))
    if name is None:
        row = _identity_or_default(ctx, None)
        term.result(plain=fmt_ok(f"The name of the default identity is '{row.name}'"))
        return
    row = identities.require(name)
    if row.is_default:
        raise InvalidArgument(f"The identity named '{name}' is already the default")
    identities.set_default(name)
    term.result(
        plain=fmt_ok(f"The identity named '{name}' is now the default"),
        machine=name,
        json_value={"name": name},
    )


@identity.command("delete", help="Delete an identity")
@click.argument("name", required=False)
@click.option("-y", "--yes", is_flag=True, help="Confirm the deletion without prompting.")
@click.option("--all", "all_", is_flag=True, help="Delete all the identities.")
@click.pass_context
def identity_delete(ctx: click.Context, name: str | None, yes: bool, all_: bool) -> None:
    from ..state.identities import Identities

    term = terminal(ctx)
    identities = Identities(open_state(ctx))
    if all_:
        names = [r.name for r in identities.list_all()]
    elif name is not None:
        names = [identities.require(name).name]
    else:
        default = identities.default()
        names = [] if default is None else [default.name]
    if not names:
        term.result(plain=fmt_info("There are no identities to delete"), machine="[]", json_value=[])
        return
    if not term.confirm(yes, "Are you sure you want to delete this identity?"):
        return
    for n in names:
        identities.delete(n)
        term.result(
            plain=fmt_ok(f"The identity named {n} has been deleted"), machine=n, json_value={"name": n}
        )
