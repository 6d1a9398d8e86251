"""``ockam project``, ``ockam project-member`` and ``ockam space`` (authority.md §9-§10).

Projects are records of the local state (imported from a JSON file or a ticket, or
created on this machine by ``ockam enroll``); the commands that act on members and
tickets talk to the project's authority over secure channels opened by a temporary
in-process node, as the chosen identity (``--identity``, default: the default identity).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from .base import OckamGroup, open_state, terminal
from .enroll import hosting_options
from .output import Terminal, fmt_info, fmt_list, fmt_log, fmt_ok, fmt_warn
from .params import DURATION

if TYPE_CHECKING:
    from ..api.identities import LoadedIdentity
    from ..api.projects import Project
    from ..identity import AttributesEntry, CredentialAndPurposeKey, Identifier
    from ..services.credentials import AuthorityClient
    from ..state import State

__all__ = ["enroll_identity", "project", "project_member", "space"]

ENROLLER_ATTRIBUTES = ("ockam-role", "enroller")


def _identity(state: State, name: str | None) -> LoadedIdentity:
    from .node_runtime import load_node_identity

    return load_node_identity(state, name)


def _timeout(value: float | None = None) -> float:
    from ..api.client import default_timeout

    return default_timeout() if value is None else value


def _run(
    state: State, project: Project, identity: LoadedIdentity, action: Any, timeout: float | None = None
) -> Any:
    from ..api.projects import run_with_authority

    try:
        return run_with_authority(state, project, identity, action, _timeout(timeout))
    finally:
        identity.vault.close()


# -- project ---------------------------------------------------------------------------------


@click.group(cls=OckamGroup, name="project", help="Manage Projects")
def project() -> None:
    pass


@project.command(
    "create",
    help="Create a Project hosted on this machine (its authority node and project node), for "
    "this machine or for other machines to join with tickets",
)
@click.argument("space_name")
@click.argument("project_name", required=False)
@click.option(
    "--identity", default=None, metavar="IDENTITY_NAME", help="Identity of the project administrator."
)
@hosting_options
@click.pass_context
def project_create(
    ctx: click.Context, /, space_name: str, project_name: str | None, identity: str | None, **kw: Any
) -> None:
    from ..errors import InvalidArgument
    from .enroll import host_project, hosting_from, report
    from .node_runtime import random_name

    name = project_name or random_name()
    if not name or "/" in name or name.startswith("-"):
        raise InvalidArgument(f"invalid project name {name!r}")
    hosting = hosting_from(kw)
    hosting.check()
    state = open_state(ctx)
    term = terminal(ctx)
    loaded = _identity(state, identity)
    try:
        found = host_project(state, loaded, term, name, space_name, hosting)
    finally:
        loaded.vault.close()
    report(term, found, loaded.name)


@project.command("delete", help="Delete a Project: a hosted one with its nodes, or a membership")
@click.argument("names", nargs=-1, required=True, metavar="[SPACE_NAME] PROJECT_NAME")
@click.option("--identity", default=None, metavar="IDENTITY_NAME", hidden=True)
@click.option("-y", "--yes", is_flag=True, help="Confirm the deletion without prompting.")
@click.pass_context
def project_delete(ctx: click.Context, names: tuple[str, ...], identity: str | None, yes: bool) -> None:
    from ..api.projects import get_project
    from ..errors import InvalidArgument
    from ..state.projects import Projects
    from .enroll import delete_local_project

    if len(names) > 2:
        raise click.UsageError("expected [SPACE_NAME] PROJECT_NAME")
    name = names[-1]
    state = open_state(ctx)
    term = terminal(ctx)
    found = get_project(state, name)
    if len(names) == 2 and found.model.space_name != names[0]:
        raise InvalidArgument(f"The project {name} is in the space {found.model.space_name}, not {names[0]}")
    what = (
        f"the project {name} hosted on this machine, with its nodes and members: the machines that "
        "joined it lose it"
        if found.is_local
        else f"this machine's membership of the project {name} (the project stays where it is hosted)"
    )
    if not term.confirm(yes, f"Are you sure you want to delete {what}?"):
        return
    if found.is_local:
        delete_local_project(state, found, term)
    else:
        Projects(state.db).delete(found.project_id)
    term.result(plain=fmt_ok(f"Project {name} deleted"), machine=name, json_value={"name": name})


@project.command("import", help="Import a Project from a JSON file")
@click.option("--project-file", required=True, metavar="PATH", help="Project file.")
@click.pass_context
def project_import(ctx: click.Context, project_file: str) -> None:
    from ..api.projects import Project, ProjectModel, store_project
    from ..errors import InvalidArgument

    try:
        with open(project_file, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise InvalidArgument(f"cannot read the project file {project_file}: {e.strerror or e}") from None
    stored = store_project(open_state(ctx), Project.verify(ProjectModel.parse(text)))
    terminal(ctx).result(plain=fmt_ok(f"Successfully imported project {stored.name}"))


def _show(ctx: click.Context, name: str | None) -> None:
    from ..api.projects import get_project

    found = get_project(open_state(ctx), name)
    terminal(ctx).result(plain=found.plain(), json_value=found.to_json())


@project.command("show", help="Show the details of a Project")
@click.argument("name", required=False)
@click.option("--identity", default=None, metavar="IDENTITY_NAME", hidden=True)
@click.pass_context
def project_show(ctx: click.Context, name: str | None, identity: str | None) -> None:
    from ..state.projects import Projects

    if name is None and not Projects(open_state(ctx).db).list_all():
        terminal(ctx).result(plain=fmt_info("There are no projects to show"), json_value=[], has_json=True)
        return
    _show(ctx, name)


@project.command("information", help="Show the details of a Project (JSON: the project record)")
@click.argument("name", required=False, default="default")
@click.option("--identity", default=None, metavar="IDENTITY_NAME", hidden=True)
@click.pass_context
def project_information(ctx: click.Context, name: str, identity: str | None) -> None:
    _show(ctx, name)


@project.command("list", help="List the Projects")
@click.option("--identity", default=None, metavar="IDENTITY_NAME", hidden=True)
@click.pass_context
def project_list(ctx: click.Context, identity: str | None) -> None:
    from ..api.projects import Project
    from ..state.projects import Projects

    projects = [Project.from_row(r) for r in Projects(open_state(ctx).db).list_all()]
    if projects:
        plain = "\n".join(
            fmt_list(f"Id: {p.project_id}")
            + "\n"
            + fmt_list(f"Name: {p.name}{' (default)' if p.is_default else ''}")
            + "\n"
            + fmt_list(f"Space: {p.model.space_name}")
            + "\n"
            + fmt_list(f"Route: {p.project_route if p.project_route is not None else 'N/A'}")
            + "\n"
            for p in projects
        )
    else:
        plain = fmt_info("No projects found")
    terminal(ctx).result(plain=plain, json_value=[p.to_json() for p in projects], has_json=True)


@project.command("default", help="Show or change the default Project")
@click.argument("name", required=False)
@click.pass_context
def project_default(ctx: click.Context, name: str | None) -> None:
    from ..api.projects import get_project
    from ..state.projects import Projects

    state = open_state(ctx)
    term = terminal(ctx)
    if name is None:
        current = get_project(state, None)
        term.result(plain=fmt_ok(f"The default project is '{current.name}'"), machine=current.name)
        return
    chosen = get_project(state, name)
    Projects(state.db).set_default(chosen.project_id)
    term.result(plain=fmt_ok(f"The project '{name}' is now the default"), machine=name)


def _rust_trust_options(f: Any) -> Any:
    """Rust's trust flags, accepted (and checked) so that its command lines work; as in
    Rust 0.139, ``project ticket`` and ``project enroll`` use the project's own authority."""

    def check_identity(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
        if value is not None:
            from ..errors import IdentityError
            from ..identity import verify_change_history

            try:
                verify_change_history(bytes.fromhex(value))
            except (ValueError, IdentityError) as e:
                raise click.BadParameter(f"not an identity: {e}") from None
        return value

    def check_route(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
        if value is not None:
            from ..codec.multiaddr import MultiAddr
            from ..errors import DecodeError

            try:
                MultiAddr.parse(value)
            except DecodeError as e:
                raise click.BadParameter(str(e)) from None
        return value

    f = click.option("--credential-scope", default=None, help="Accepted, as Rust's (unused).")(f)
    f = click.option(
        "--authority-route", default=None, callback=check_route, help="Accepted, as Rust's (unused)."
    )(f)
    return click.option(
        "--authority-identity", default=None, callback=check_identity, help="Accepted, as Rust's (unused)."
    )(f)


def _ticket_attributes(
    attributes: tuple[str, ...], relay: str | None, enroller: bool, tls: bool
) -> dict[str, str]:
    out: dict[str, str] = {}
    for attr in attributes:
        key, sep, value = attr.partition("=")
        out[key] = value if sep else "true"
    if relay is not None:
        out["ockam-relay"] = relay
    if enroller:
        out[ENROLLER_ATTRIBUTES[0]] = ENROLLER_ATTRIBUTES[1]
    if tls:
        out["ockam-tls-certificate"] = "true"
    return out


@project.command("ticket", help="Create an enrollment ticket, for another identity to join the Project")
@_rust_trust_options
@click.option("--identity", default=None, metavar="IDENTITY_NAME", help="Identity of the enroller.")
@click.option("--project", "--project-name", "project_name", default=None, metavar="PROJECT_NAME")
@click.option("-a", "--attribute", "attributes", multiple=True, metavar="ATTRIBUTE", help="key=value.")
@click.option("--expires-in", type=DURATION, default=None, metavar="DURATION", help="Validity (default 10m).")
@click.option(
    "--usage-count", type=click.IntRange(min=0), default=None, help="Uses of the ticket (default 1)."
)
@click.option("--relay", default=None, metavar="ENROLLEE_ALLOWED_RELAY_NAME", help="Relay name allowed.")
@click.option("--enroller", is_flag=True, help="The enrolled identity may enroll others.")
@click.option("--tls", is_flag=True, hidden=True)
@click.pass_context
def project_ticket(
    ctx: click.Context,
    /,
    identity: str | None,
    project_name: str | None,
    attributes: tuple[str, ...],
    expires_in: float | None,
    usage_count: int | None,
    relay: str | None,
    enroller: bool,
    tls: bool,
    **_rust_trust: Any,
) -> None:
    from ..api.projects import create_ticket, get_project
    from ..errors import InvalidArgument

    term = terminal(ctx)
    if term.opts.json_output:
        raise InvalidArgument(
            "This command only outputs a hex encoded string for 'ockam project enroll' to use. "
            "Please try running it again without '--output json'."
        )
    state = open_state(ctx)
    found = get_project(state, project_name)
    attrs = _ticket_attributes(attributes, relay, enroller, tls)
    ttl = None if expires_in is None else max(0, int(expires_in))

    async def action(client: AuthorityClient) -> Any:
        return await client.create_token(attrs, ttl_secs=ttl, ttl_count=usage_count)

    code = _run(state, found, _identity(state, identity), action)
    ticket = create_ticket(found, code)
    term.status(fmt_ok("Created enrollment ticket\n"))
    term.status(fmt_log("You can use it to enroll another machine using: ockam project enroll"))
    term.result(machine=ticket)


def _read_ticket_argument(value: str) -> str:
    """A ticket given as a file path, a URL or inline."""
    import os

    from .node import _is_url, _read_path_or_url

    try:
        if os.path.isfile(value) or (_is_url(value) and "://" in value):
            return _read_path_or_url(value).strip()
    except (OSError, ValueError):
        pass
    return value.strip()


@project.command("enroll", help="Use an enrollment ticket to enroll an identity with a Project")
@click.argument("enrollment_ticket", metavar="ENROLLMENT_TICKET", required=False)
@_rust_trust_options
@click.option("--identity", default=None, metavar="IDENTITY_NAME", help="Identity to enroll.")
@click.option("--project", "--project-name", "project_name", default=None, metavar="PROJECT_NAME")
@click.option("--okta", is_flag=True, help="Use Okta instead of an enrollment ticket.")
@click.option("--timeout", type=DURATION, default="240s", show_default=True, help="Time to wait.")
@click.pass_context
def project_enroll(
    ctx: click.Context,
    /,
    enrollment_ticket: str | None,
    identity: str | None,
    project_name: str | None,
    okta: bool,
    timeout: float,
    **_rust_trust: Any,
) -> None:
    from ..api.projects import credential_json
    from ..errors import InvalidArgument

    if okta:
        raise InvalidArgument("Okta enrollment is not supported by this implementation")
    state = open_state(ctx)
    term = terminal(ctx)
    found, loaded, already, credential = enroll_identity(
        state, term, enrollment_ticket, identity, project_name, timeout
    )
    if already:
        # (the authority refused the ticket and kept the member's attributes, as Rust's does)
        term.status(
            fmt_warn(
                f"Identity is already enrolled with the project {found.name}: a new ticket does not "
                f"change its attributes (an enroller can: ockam project-member add {loaded.identifier} "
                "--attribute KEY=VALUE)"
            )
        )
    shown = credential_json(credential)
    identity_row = {
        "identifier": loaded.identifier,
        "name": loaded.name,
        "vault_name": loaded.vault.name,
        "is_default": _is_default_identity(state, loaded.name),
    }
    term.result(
        plain=_enroll_plain(loaded.name, found.name, shown),
        json_value={"identity": identity_row, "project_name": found.name, "credential": shown},
    )


def enroll_identity(
    state: State,
    term: Terminal,
    ticket: str | None,
    identity: str | None,
    project_name: str | None,
    timeout: float,
) -> tuple[Project, LoadedIdentity, bool, CredentialAndPurposeKey]:
    """``project enroll``: import the ticket's project (if a ticket is given), redeem its
    one-time code as ``identity``, then get a credential.  Returns the project, the
    identity, whether it already was a member, and the credential."""
    from ..api.projects import check_storable, get_project, read_ticket, store_project
    from ..errors import InvalidArgument

    code = None
    ticket_project = None
    if ticket is not None:
        code, ticket_project = read_ticket(_read_ticket_argument(ticket))
        check_storable(state, ticket_project)  # (stored once the enrollment worked)
        found = ticket_project
    else:
        try:
            found = get_project(state, project_name)
        except Exception as e:
            raise InvalidArgument(
                "A default project or project parameter is required. Run 'ockam project list' to get a "
                "list of available projects. You might also need to pass an enrollment ticket or path to "
                f"the command. ({e})"
            ) from None
    loaded = _identity(state, identity)

    async def action(client: AuthorityClient) -> Any:
        already = False
        if code is not None:
            term.status(fmt_log("Using enrollment ticket to enroll identity..."))
            already = not (await client.enroll(code)).enrolled
        term.status(fmt_log("Issuing credential..."))
        credential, _ = await client.credential()
        return already, credential

    already, credential = _run(state, found, loaded, action, timeout)
    if ticket_project is not None:
        found = store_project(state, ticket_project)
    return found, loaded, already, credential


def _is_default_identity(state: State, name: str) -> bool:
    from ..state.identities import Identities

    row = Identities(state).get(name)
    return bool(row is not None and row.is_default)


def _time_text(seconds: int) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _enroll_plain(identity: str, project_name: str, credential: dict[str, Any]) -> str:
    lines = [
        fmt_ok(f"Successfully enrolled identity {identity} to the {project_name} project.\n"),
        fmt_log("The identity has a credential in this project"),
        fmt_log(
            f"created at {_time_text(credential['created_at'])} that expires at "
            f"{_time_text(credential['expires_at'])}\n"
        ),
    ]
    if credential["attributes"]:
        lines.append(fmt_log("The following attributes are attested by the project's membership authority:"))
        for k, v in credential["attributes"].items():
            lines.append(fmt_log(f'  "{k}={v}"'))
    return "\n".join(lines) + "\n"


# -- project-member --------------------------------------------------------------------------


@click.group(cls=OckamGroup, name="project-member", help="Manage the members of a Project")
def project_member() -> None:
    pass


def _member_options(f: Any) -> Any:
    f = click.option("--identity", default=None, metavar="IDENTITY_NAME", help="Identity of the enroller.")(f)
    f = click.option(
        "-p", "--project", "--project-name", "project_name", default=None, metavar="PROJECT_NAME"
    )(f)
    return f


def _identifier(value: str) -> Identifier:
    from ..errors import InvalidArgument
    from ..identity import Identifier

    try:
        return Identifier.parse(value)
    except Exception as e:
        raise InvalidArgument(f"Invalid identifier {value!r}: {e}") from None


def _member_json(identifier: Identifier, entry: AttributesEntry) -> dict[str, Any]:
    return {"identifier": str(identifier), "attributes": entry.to_json()}


def _member_plain(identifier: Identifier, entry: AttributesEntry) -> str:
    pad, ind = "    ", "  "
    lines = [f"{pad}{identifier}"]
    attrs = entry.text_map()
    if not attrs:
        lines.append(f"{pad}Has no attributes")
    else:
        lines.append(f"{pad}With attributes: {', '.join(f'{k}={v}' for k, v in attrs.items())}")
        lines.append(f"{pad}{ind}Added at: {entry.added_at}")
        if entry.expires_at is not None:
            lines.append(f"{pad}{ind}Expires at: {entry.expires_at}")
        if entry.attested_by is not None:
            lines.append(f"{pad}{ind}Attested by: {entry.attested_by}")
    return "\n".join(lines) + "\n"


@project_member.command("add", help="Add a member to a Project")
@click.argument("member", metavar="IDENTIFIER")
@_member_options
@click.option("-a", "--attribute", "attributes", multiple=True, metavar="ATTRIBUTE", help="key=value.")
@click.option("--relay", default=None, metavar="ALLOWED_RELAY_NAME", help="Relay name the member may create.")
@click.option("--enroller", is_flag=True, help="The member may enroll others.")
@click.pass_context
def member_add(
    ctx: click.Context,
    member: str,
    identity: str | None,
    project_name: str | None,
    attributes: tuple[str, ...],
    relay: str | None,
    enroller: bool,
) -> None:
    from ..api.projects import get_project
    from ..errors import InvalidArgument

    identifier = _identifier(member)
    attrs: dict[str, str] = {}
    for attr in attributes:
        key, sep, value = attr.partition("=")
        if not sep:
            raise InvalidArgument(f"value expected in attribute {attr}")
        attrs[key] = value
    if relay is not None:
        attrs["ockam-relay"] = relay
    if enroller:
        attrs[ENROLLER_ATTRIBUTES[0]] = ENROLLER_ATTRIBUTES[1]
    state = open_state(ctx)
    found = get_project(state, project_name)

    async def action(client: AuthorityClient) -> None:
        await client.add_member(identifier, attrs)

    _run(state, found, _identity(state, identity), action)
    lines = [fmt_ok(f"Identifier {identifier} is now a member of the Project {found.name}")]
    if attrs:
        lines.append(fmt_log(f"With attributes: {', '.join(f'{k}={v}' for k, v in sorted(attrs.items()))}"))
    lines.append(
        fmt_log("It can get a credential and access Project resources, like portals of other members")
    )
    terminal(ctx).result(
        plain="\n".join(lines) + "\n",
        json_value={
            "project": found.name,
            "identifier": str(identifier),
            "attributes": dict(sorted(attrs.items())),
        },
    )


@project_member.command("list", help="List the members of a Project")
@_member_options
@click.option("--enrollers", "--enroller", is_flag=True, help="Only the enrollers.")
@click.pass_context
def member_list(ctx: click.Context, identity: str | None, project_name: str | None, enrollers: bool) -> None:
    from ..api.projects import get_project

    state = open_state(ctx)
    found = get_project(state, project_name)

    async def action(client: AuthorityClient) -> Any:
        return await client.list_members()

    members = _run(state, found, _identity(state, identity), action)
    if enrollers:
        members = {
            i: e for i, e in members.items() if e.get(ENROLLER_ATTRIBUTES[0]) == ENROLLER_ATTRIBUTES[1]
        }
    items = [_member_json(i, e) for i, e in members.items()]
    plain = (
        "\n".join(fmt_list(_member_plain(i, e).strip()) for i, e in members.items())
        if members
        else fmt_info("No members found on the Authority node")
    )
    terminal(ctx).result(plain=plain, json_value=items, has_json=True)


@project_member.command("list-ids", help="List the identifiers of the members of a Project")
@_member_options
@click.pass_context
def member_list_ids(ctx: click.Context, identity: str | None, project_name: str | None) -> None:
    from ..api.projects import get_project

    state = open_state(ctx)
    found = get_project(state, project_name)

    async def action(client: AuthorityClient) -> Any:
        return await client.member_ids()

    ids = _run(state, found, _identity(state, identity), action)
    plain = (
        "\n".join(fmt_list(str(i)) for i in ids)
        if ids
        else fmt_info("No members found on the Authority node")
    )
    terminal(ctx).result(plain=plain, json_value=[{"identifier": str(i)} for i in ids], has_json=True)


@project_member.command("show", help="Show a member of a Project")
@click.argument("member", metavar="IDENTIFIER", required=False)
@_member_options
@click.pass_context
def member_show(
    ctx: click.Context, member: str | None, identity: str | None, project_name: str | None
) -> None:
    from ..api.projects import get_project
    from ..errors import InvalidArgument

    if member is None:
        raise InvalidArgument("No member provided")
    identifier = _identifier(member)
    state = open_state(ctx)
    found = get_project(state, project_name)

    async def action(client: AuthorityClient) -> Any:
        return await client.show_member(identifier)

    entry = _run(state, found, _identity(state, identity), action)
    terminal(ctx).result(plain=_member_plain(identifier, entry), json_value=_member_json(identifier, entry))


@project_member.command("delete", help="Delete members of a Project")
@click.argument("member", metavar="IDENTIFIER", required=False)
@_member_options
@click.option("--all", "all_", is_flag=True, help="Delete every member (except yourself).")
@click.pass_context
def member_delete(
    ctx: click.Context, member: str | None, identity: str | None, project_name: str | None, all_: bool
) -> None:
    from ..api.projects import get_project, is_enrolled
    from ..errors import InvalidArgument

    if member is not None and all_:
        raise click.UsageError("the argument IDENTIFIER cannot be used with --all")
    if member is None and not all_:
        raise InvalidArgument(
            "You need to specify either an identifier to delete or use the --all flag to delete all the "
            "members from a project."
        )
    state = open_state(ctx)
    term = terminal(ctx)
    found = get_project(state, project_name)
    loaded = _identity(state, identity)
    if all_ and not is_enrolled(state, loaded.identifier):
        loaded.vault.close()
        raise InvalidArgument(
            "You need to use an enrolled identity to delete all the members from a Project."
        )
    me = loaded.identifier

    async def action(client: AuthorityClient) -> list[str]:
        from ..errors import OckamError

        if member is not None:
            await client.delete_member(_identifier(member))
            return [str(_identifier(member))]
        deleted: list[str] = []
        ids = await client.member_ids()
        if ids:
            term.status(fmt_info(f"Found {len(ids)} members in the Project {found.name}"))
        for i in ids:
            if str(i) == me:
                continue
            try:
                await client.delete_member(i)
                deleted.append(str(i))
            except OckamError as e:
                term.status(fmt_log(f"Failed to delete member {i}: {e}"))
        return deleted

    deleted = _run(state, found, loaded, action)
    if not deleted:
        plain = fmt_ok(f"There are no members that can be deleted from the Project {found.name}")
    elif len(deleted) == 1:
        plain = fmt_ok(
            f"Identifier {deleted[0]} is no longer a member of the Project. It won't be able to get a "
            "credential and access Project resources, like portals of other members"
        )
    else:
        plain = fmt_ok(f"{len(deleted)} members were deleted from the Project {found.name}")
    term.result(plain=plain + "\n", json_value={"project": found.name, "identifiers": deleted})


# -- space -----------------------------------------------------------------------------------


@click.group(cls=OckamGroup, name="space", help="Manage Spaces")
def space() -> None:
    pass


def _space_json(row: Any) -> dict[str, Any]:
    return {"id": row.space_id, "name": row.space_name, "users": [], "subscription": None}


@space.command("create", help="Create a Space")
@click.argument("name", required=False)
@click.argument("admins", nargs=-1)
@click.option("--identity", default=None, metavar="IDENTITY_NAME")
@click.pass_context
def space_create(ctx: click.Context, name: str | None, admins: tuple[str, ...], identity: str | None) -> None:
    import uuid

    from ..errors import InvalidArgument
    from ..state.identities import Identities
    from ..state.projects import Enrollments, Spaces
    from .node_runtime import random_name

    state = open_state(ctx)
    identities = Identities(state)
    row = identities.get(identity) if identity is not None else identities.default()
    if row is None or not Enrollments(state.db).is_enrolled(row.identifier):
        raise InvalidArgument("Please enroll using 'ockam enroll' before using this command")
    space_name = name or random_name()
    if Spaces(state.db).by_name(space_name) is not None:
        raise InvalidArgument(f"A space named {space_name} already exists")
    created = Spaces(state.db).store(str(uuid.uuid4()), space_name)
    terminal(ctx).result(
        plain=fmt_ok(f"Created the space {created.space_name}")
        + "\n"
        + fmt_log(f"Id: {created.space_id}")
        + "\n",
        machine=created.space_name,
        json_value=_space_json(created),
    )


@space.command("list", help="List the Spaces")
@click.pass_context
def space_list(ctx: click.Context) -> None:
    from ..state.projects import Spaces

    rows = Spaces(open_state(ctx).db).list_all()
    plain = (
        "\n".join(
            fmt_list(f"{r.space_name}{' (default)' if r.is_default else ''}  {r.space_id}") for r in rows
        )
        if rows
        else fmt_info("No spaces found")
    )
    terminal(ctx).result(plain=plain, json_value=[_space_json(r) for r in rows], has_json=True)


def _space(state: State, name: str | None) -> Any:
    from ..errors import NotFound
    from ..state.projects import Spaces

    spaces = Spaces(state.db)
    row = spaces.by_name(name) if name is not None else spaces.default()
    if row is None:
        raise NotFound(f"The space {name} was not found" if name else "There is no default space")
    return row


@space.command("show", help="Show a Space")
@click.argument("name", required=False)
@click.pass_context
def space_show(ctx: click.Context, name: str | None) -> None:
    row = _space(open_state(ctx), name)
    terminal(ctx).result(
        plain=f"    Space {row.space_name}\n      Id: {row.space_id}\n",
        machine=row.space_name,
        json_value=_space_json(row),
    )


@space.command("delete", help="Delete a Space")
@click.argument("name", required=False)
@click.option("-y", "--yes", is_flag=True, help="Confirm the deletion without prompting.")
@click.pass_context
def space_delete(ctx: click.Context, name: str | None, yes: bool) -> None:
    from ..state.projects import Spaces

    state = open_state(ctx)
    term = terminal(ctx)
    row = _space(state, name)
    if term.confirm(yes, "Are you sure you want to delete this space?"):
        Spaces(state.db).delete(row.space_id)
        term.result(plain=fmt_ok(f"The space {row.space_name} has been deleted"), machine=row.space_name)
