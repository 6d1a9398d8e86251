"""``ockam credential``: issue, verify, store and list credentials (cli.md §3.7,
identity.md §5).

* ``issue --as NAME --for IDENTIFIER [--attribute K=V]... [--encoding hex] [--ttl 30m]``
  signs a credential (schema 1, project member) with the identity's credential purpose
  key; the subject's identity must be known locally;
* ``verify --issuer IDENTIFIER (--credential HEX | --credential-path FILE)`` prints
  ``true``/``false`` (JSON ``{"is_valid": bool}``) and succeeds either way;
* ``store --issuer IDENTIFIER --scope SCOPE (--credential HEX | --credential-path FILE)
  [--at NODE]`` keeps a valid credential for a node (fails with "Credential is not
  verified" otherwise); a node created with ``--authority-identity`` and
  ``--credential-scope SCOPE`` presents it in its secure channels;
* ``list [--at NODE]`` shows the credentials stored for a node, with their attributes.
"""

from __future__ import annotations

from typing import Any

import click

from .base import OckamGroup, node_name_option, open_state, terminal
from .output import fmt_err, fmt_info, fmt_list, fmt_ok
from .params import DURATION

__all__ = ["credential"]

DEFAULT_TTL = "30m"


def _identifier(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
    from ..errors import OckamError
    from ..identity import Identifier

    if value is None:
        return None
    try:
        return Identifier.parse(str(value))
    except OckamError as e:
        raise click.BadParameter(f"Invalid identity identifier: {value} ({e})") from None


def _credential_options(f: Any) -> Any:
    f = click.option(
        "--credential-path",
        default=None,
        metavar="CREDENTIAL_FILE",
        type=click.Path(dir_okay=False),
        help="File holding the credential (hex).",
    )(f)
    f = click.option("--credential", default=None, metavar="CREDENTIAL_STRING", help="The credential (hex).")(
        f
    )
    f = click.option(
        "--issuer",
        required=True,
        metavar="IDENTIFIER",
        callback=_identifier,
        help="Identifier of the issuer the credential must come from.",
    )(f)
    return f


def _check_one_source(credential: str | None, credential_path: str | None) -> None:
    if credential is not None and credential_path is not None:
        raise click.UsageError(
            "the argument '--credential <CREDENTIAL_STRING>' cannot be used with '--credential-path'"
        )


@click.group(cls=OckamGroup, name="credential", help="Manage Credentials")
def credential() -> None:
    pass


@credential.command("issue", help="Issue a credential for an identity")
@click.option(
    "--as", "as_identity", default=None, metavar="IDENTITY_NAME", help="Identity issuing the credential."
)
@click.option(
    "--for",
    "for_identifier",
    required=True,
    metavar="IDENTIFIER",
    callback=_identifier,
    help="Identifier of the identity the credential is about.",
)
@click.option(
    "-a", "--attribute", "attributes", multiple=True, metavar="ATTRIBUTE", help="An attribute: key=value."
)
@click.argument("vault", required=False, metavar="VAULT_NAME")
@click.option(
    "--encoding",
    type=click.Choice(["plain", "hex"]),
    default="plain",
    show_default=True,
    help="Machine output: a description (plain) or the CBOR of the credential as hex.",
)
@click.option("--ttl", type=DURATION, default=DEFAULT_TTL, show_default=True, help="Time to live.")
@click.pass_context
def credential_issue(
    ctx: click.Context,
    as_identity: str | None,
    for_identifier: Any,
    attributes: tuple[str, ...],
    vault: str | None,
    encoding: str,
    ttl: float,
) -> None:
    from ..api.credentials import credential_json, credential_plain, issue_local_credential, parse_attributes

    del vault  # the credential is signed with a key in the issuer identity's own vault
    state = open_state(ctx)
    issued = issue_local_credential(
        state, as_identity, for_identifier, parse_attributes(attributes), int(ttl)
    )
    view = credential_json(issued)
    plain = credential_plain(view)
    machine = view["credential"] if encoding == "hex" else plain
    terminal(ctx).result(
        plain="\n".join("    " + line for line in plain.splitlines()), machine=machine, json_value=view
    )


@credential.command("verify", help="Verify a credential")
@_credential_options
@click.pass_context
def credential_verify(
    ctx: click.Context, issuer: Any, credential: str | None, credential_path: str | None
) -> None:
    from ..api.credentials import read_credential_text, verify_credential_text
    from ..errors import OckamError

    _check_one_source(credential, credential_path)
    term = terminal(ctx)
    text = read_credential_text(credential, credential_path)
    try:
        verify_credential_text(open_state(ctx), issuer, text)
    except OckamError as e:
        is_valid, plain = False, fmt_err(f"Credential is not valid: {e}")
    else:
        is_valid, plain = True, fmt_ok("Credential is valid")
    term.result(plain=plain, machine=str(is_valid).lower(), json_value={"is_valid": is_valid})


@credential.command("store", help="Store a credential for a node, after verifying it")
@_credential_options
@click.option(
    "--scope",
    required=True,
    metavar="CREDENTIAL_SCOPE",
    help="Scope of the credential (credentials of the same issuer and subject are kept per scope).",
)
@node_name_option("--at", help="Node for which the credential is stored (the default node if omitted).")
@click.pass_context
def credential_store(
    ctx: click.Context,
    issuer: Any,
    credential: str | None,
    credential_path: str | None,
    scope: str,
    node: str | None,
) -> None:
    from ..api.credentials import read_credential_text, store_credential, verify_credential_text
    from ..errors import IdentityError, OckamError
    from .resolve import initialize_default_node

    _check_one_source(credential, credential_path)
    term = terminal(ctx)
    state = open_state(ctx)
    initialize_default_node(state, term)
    node_info = state.require_node(node) if node is not None else state.default_node()
    if node_info is None:
        raise OckamError("There is no default node")
    text = read_credential_text(credential, credential_path)
    try:
        stored, verified = verify_credential_text(state, issuer, text)
    except OckamError as e:
        raise IdentityError(f"Credential is not verified: {e}") from None
    store_credential(state, node_info.name, scope, stored, verified)
    hex_text = stored.encode_hex()
    term.result(
        plain=fmt_ok("Credential stored"),
        machine=hex_text,
        json_value={"issuer": str(issuer), "credential": hex_text},
    )


@credential.command("list", help="List the credentials stored for a node")
@node_name_option("--at", help="Node whose credentials are listed (the default node if omitted).")
@click.option("--subject", default=None, metavar="SUBJECT", callback=_identifier, help="Only this subject.")
@click.option("--issuer", default=None, metavar="ISSUER", callback=_identifier, help="Only this issuer.")
@click.pass_context
def credential_list(ctx: click.Context, node: str | None, subject: Any, issuer: Any) -> None:
    from ..api.credentials import credential_json, credential_plain, stored_credentials
    from ..errors import NotFound

    state = open_state(ctx)
    if node is None:
        default = state.default_node()
        if default is None:
            raise NotFound("There is no default node")
        node = default.name
    rows = stored_credentials(
        state,
        node,
        subject=None if subject is None else str(subject),
        issuer=None if issuer is None else str(issuer),
    )
    values: list[dict[str, Any]] = [
        {"credential": credential_json(r.credential), "scope": r.scope, "is_verified": True} for r in rows
    ]
    if not values:
        plain = fmt_info(f"No Credentials found for node: {node}")
    else:
        blocks = [
            credential_plain(v["credential"]) + f"\n  is verified: ✔︎\n  scope: {v['scope']}" for v in values
        ]
        plain = "\n\n".join("\n".join(fmt_list(line) for line in b.splitlines()) for b in blocks) + "\n"
    terminal(ctx).result(plain=plain, json_value=values, has_json=True)
