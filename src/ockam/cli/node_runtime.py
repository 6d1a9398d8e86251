"""Running nodes: foreground (in this process) and background (a detached child process),
waiting for a node to answer, and reading its resources."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AlreadyExists, OckamError, TimeoutError_
from .output import Terminal, fmt_log, fmt_ok, fmt_warn

if TYPE_CHECKING:
    from ..api.client import NodeClient
    from ..api.identities import LoadedIdentity
    from ..api.node_process import NodeConfig
    from ..state import NodeInfo, State

__all__ = [
    "NodeArgs",
    "get_node_resources",
    "is_node_up",
    "random_name",
    "run_foreground",
    "spawn_background",
    "wait_until_up",
]

DEFAULT_NODE_NAME = "_default_node_name"
DEFAULT_TCP_LISTENER = "127.0.0.1:0"
READY_TIMEOUT_S = 180.0
POLL_INTERVAL_S = 0.1

_ADJECTIVES = """
    able amber ample azure bold brave brisk calm candid clever cosmic crisp curious daring deft
    eager early fair fancy fearless fiery gentle glad golden grand happy hardy honest humble jolly
    keen kind lively loyal lucid lunar merry mighty modest nimble noble patient plucky polite proud
    quick quiet rapid ready regal robust rosy royal rustic sharp shiny silent sleek smart snappy
    solar sparkling spry stable steady stellar sturdy sunny swift tidy tough true trusty upbeat
    valiant vivid warm wise witty zesty
""".split()  # noqa: SIM905
_NOUNS = """
    albatross alpaca antelope badger beaver bison bobcat buffalo camel caribou cheetah cobra condor
    cougar coyote crane dingo dolphin eagle egret falcon ferret finch fox gazelle gecko gibbon heron
    hornet ibex iguana jackal jaguar kestrel koala lemur leopard lynx macaw magpie marmot meerkat
    mink moose narwhal ocelot orca osprey otter owl panda panther parrot pelican penguin puffin puma
    quail raven salmon seal shark sparrow stork swan tapir tiger toucan turtle viper walrus weasel
    wombat yak zebra
""".split()  # noqa: SIM905


def random_name() -> str:
    """A random two-word name such as ``brave-otter``."""
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}"


@dataclass
class NodeArgs:
    """The arguments of ``node create`` that matter to run a node (and to restart it)."""

    name: str
    tcp_listener_address: str = DEFAULT_TCP_LISTENER
    foreground: bool = False
    exit_on_eof: bool = False
    child_process: bool = False
    skip_is_running_check: bool = False
    identity: str | None = None
    http_server: bool = False
    http_server_port: int | None = None
    udp: bool = False
    launch_config: str | None = None
    project: str | None = None
    authority_identity: str | None = None
    authority_route: str | None = None
    credential_scope: str | None = None
    opentelemetry_context: str | None = None
    verbose: int = 0
    # the local project this node hosts (its project node), if any: such a node is never
    # the default node
    hosts_project: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    # what is stored in the node row to restart the node later
    _SETTINGS = (
        "identity",
        "http_server",
        "http_server_port",
        "udp",
        "launch_config",
        "project",
        "authority_identity",
        "authority_route",
        "credential_scope",
        "hosts_project",
    )

    def settings(self) -> dict[str, Any]:
        data = asdict(self)
        out = {k: data[k] for k in self._SETTINGS if data[k] not in (None, False)}
        if self.extra:
            out["extra"] = self.extra
        return out

    @classmethod
    def from_node(cls, node: NodeInfo) -> NodeArgs:
        """The arguments to restart a stored node with its listener address and settings."""
        args = cls(name=node.name, tcp_listener_address=node.tcp_listener_address or DEFAULT_TCP_LISTENER)
        args.verbose = node.verbosity
        for key in cls._SETTINGS:
            if key in node.settings:
                setattr(args, key, node.settings[key])
        extra = node.settings.get("extra")
        if isinstance(extra, dict):
            args.extra = extra
        return args

    def child_argv(self, no_color: bool) -> list[str]:
        """Arguments of the child ``ockam`` process that runs this node in the foreground."""
        argv = [f"-{'v' * self.verbose}"] if self.verbose else []
        argv += [
            "node",
            "create",
            "--tcp-listener-address",
            self.tcp_listener_address,
            "--foreground",
            "--child-process",
        ]
        if self.credential_scope is not None:
            argv += ["--credential-scope", self.credential_scope]
        if self.skip_is_running_check:
            argv.append("--skip-is-running-check")
        if no_color:
            argv.append("--no-color")
        for flag, value in (
            ("--identity", self.identity),
            ("--launch-config", self.launch_config),
            ("--project", self.project),
            ("--authority-identity", self.authority_identity),
            ("--authority-route", self.authority_route),
            ("--opentelemetry-context", self.opentelemetry_context),
            ("--hosts-project", self.hosts_project),
        ):
            if value is not None:
                argv += [flag, value]
        if self.http_server:
            argv.append("--http-server")
        if self.http_server_port is not None:
            argv += ["--http-server-port", str(self.http_server_port)]
        if self.udp:
            argv.append("--udp")
        argv.append(self.name)
        return argv


# -- foreground ------------------------------------------------------------------------


def _http_server_address(args: NodeArgs, existing: NodeInfo | None) -> str | None:
    if args.http_server_port is not None:
        return f"127.0.0.1:{args.http_server_port}"
    if args.http_server:
        if existing is not None and existing.http_server_address:
            return existing.http_server_address
        return "127.0.0.1:0"
    return None


def _setup_logging(verbose: int, child: bool) -> None:
    """Foreground nodes log to the console with -v (stdout, as the Rust CLI), errors only
    without; a background node's output is its log file, where it logs at info level."""
    import logging

    if verbose <= 0 and not child:
        logging.basicConfig(
            level=logging.ERROR, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
        )
        return
    level = logging.INFO if verbose <= 1 else logging.DEBUG
    logging.basicConfig(
        level=level, stream=sys.stdout, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


class StateJournal:
    """The node's inlets, outlets and relays, kept in its ``settings`` (``resources``) so
    that ``node start`` brings them back.  Bodies are stored as hex of their CBOR."""

    def __init__(self, state: State, name: str) -> None:
        self.state = state
        self.name = name

    def _resources(self) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
        node = self.state.get_node(self.name)
        settings = dict(node.settings) if node is not None else {}
        resources = settings.get("resources")
        return settings, resources if isinstance(resources, dict) else {}

    def entries(self) -> list[tuple[str, str, Any]]:
        from ..codec import cbor

        out: list[tuple[str, str, Any]] = []
        for kind, items in self._resources()[1].items():
            for key, body in items.items() if isinstance(items, dict) else ():
                try:
                    out.append((kind, key, cbor.decode(bytes.fromhex(body))))
                except (OckamError, ValueError):
                    continue
        return out

    def _save(self, settings: dict[str, Any], resources: dict[str, dict[str, str]]) -> None:
        settings["resources"] = resources
        self.state.set_settings(self.name, settings)

    def record(self, kind: str, key: str, body: Any) -> None:
        from ..codec import cbor

        settings, resources = self._resources()
        resources.setdefault(kind, {})[key] = cbor.encode(body).hex()
        self._save(settings, resources)

    def forget(self, kind: str, key: str) -> None:
        settings, resources = self._resources()
        if resources.get(kind, {}).pop(key, None) is not None:
            self._save(settings, resources)


def run_foreground(state: State, args: NodeArgs, term: Terminal) -> None:
    """Run the node in this process until SIGINT/SIGTERM/SIGHUP (or EOF with --exit-on-eof)."""
    import asyncio
    import signal
    import threading

    from ..api.node_process import NodeConfig, serve_node
    from ..node.runtime import run as run_loop

    name = args.name
    existing = state.get_node(name)
    if not args.skip_is_running_check and existing is not None and existing.is_running:
        raise AlreadyExists(f"Node {name} is already running")
    _setup_logging(args.verbose, args.child_process)

    other_default = state.default_node()
    is_default = (existing is not None and existing.is_default) or other_default is None
    loaded = load_node_identity(state, args.identity)
    identity_name, identifier = loaded.name, loaded.identifier
    static_key, attestation = _secure_channel_key(state, loaded)
    config = NodeConfig(
        name=name,
        tcp_listener_address=args.tcp_listener_address,
        identifier=identifier,
        identity_name=identity_name,
        identity=loaded.identity,
        signer=loaded.signer,
        static_key=static_key,
        attestation=attestation,
        identity_provider=_identity_provider(state, loaded),
        is_default=is_default,
        http_server_address=_http_server_address(args, existing),
        default_services=args.launch_config is None,
        extra=dict(args.extra),
    )
    config.is_default_provider = _is_default_provider(state, name, is_default)
    config.journal = StateJournal(state, name)
    if args.project is not None:
        config.extra["project"] = args.project
    _configure_trust(state, args, config)
    pid = os.getpid()
    started = False

    def ready(listener: str, http: str | None) -> None:
        nonlocal started
        state.create_node(
            name,
            identifier=identifier,
            verbosity=args.verbose,
            tcp_listener_address=listener,
            pid=pid,
            http_server_address=http,
            settings=args.settings(),
        )
        if args.project is not None:
            state.set_node_project(name, args.project)
        started = True
        if not args.child_process:
            term.result(plain=_created_plain(state, name))
            term.status(fmt_log("To exit and stop the Node, please press Ctrl+C"))

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
        if args.exit_on_eof:

            def watch_stdin() -> None:
                try:
                    while sys.stdin.buffer.read(65536):
                        pass
                except (OSError, ValueError):
                    pass
                loop.call_soon_threadsafe(stop.set)

            threading.Thread(target=watch_stdin, name="exit-on-eof", daemon=True).start()
        await serve_node(config, stop, ready)

    try:
        run_loop(run())
    finally:
        if started and state.database_path.exists():
            try:
                state.clear_pid(name, only_if=pid)
            except OckamError:
                pass
    if not args.child_process:
        term.status(fmt_ok("Node stopped successfully"))


def _configure_trust(state: State, args: NodeArgs, config: NodeConfig) -> None:
    """The node's authority and credential (authority.md §10.6), where it caches its
    credentials and the attributes it learns, and the projects ``/project/<name>`` finds."""
    from ..api.projects import project_lookup, trust_options
    from ..state.credentials import CredentialTable, IdentityAttributesTable
    from ..state.policies import PolicyTable

    trust = trust_options(
        state,
        args.project,
        args.authority_identity,
        args.authority_route,
        args.credential_scope,
        use_default_project=args.hosts_project is None,
    )
    config.authority = trust.authority
    config.authority_route = trust.authority_route
    config.credential_scope = trust.scope
    config.credential_cache = CredentialTable(state.db, args.name)
    config.attributes_repository = IdentityAttributesTable(state.db, args.name)
    config.policy_repository = PolicyTable(state.db, args.name)
    config.projects = project_lookup(state)


def _is_default_provider(state: State, name: str, initial: bool) -> Callable[[], bool]:
    def is_default() -> bool:
        try:
            node = state.get_node(name)
        except OckamError:
            return initial
        return initial if node is None else node.is_default

    return is_default


def load_node_identity(state: State, identity: str | None) -> LoadedIdentity:
    """The named identity, or the default one (created with the default vault if needed)."""
    from ..api.identities import load_identity

    return load_identity(state, identity, new_name=random_name)


def resolve_identity(state: State, identity: str | None) -> tuple[str, str]:
    """(identity name, identifier ``I…``) a node runs with (the default identity if None)."""
    loaded = load_node_identity(state, identity)
    loaded.vault.close()
    return loaded.name, loaded.identifier


def _secure_channel_key(state: State, loaded: LoadedIdentity) -> tuple[Any, Any]:
    from ..api.identities import secure_channel_key

    return secure_channel_key(state, loaded)


def _identity_provider(state: State, node_identity: LoadedIdentity) -> Callable[[str], Any]:
    """Loads the identities named by ``--identity`` on listeners and channels (cached); a
    local identity may also be given by its identifier (``I…``)."""
    from ..services.secure_channel import ChannelIdentity
    from ..state.identities import Identities

    cache: dict[str, ChannelIdentity] = {}

    def provide(key: str) -> ChannelIdentity:
        found = cache.get(key)
        name = key
        if found is None:
            identities = Identities(state)
            if identities.get(name) is None:
                row = identities.by_identifier(name)
                name = row.name if row is not None else name
            loaded = node_identity if name == node_identity.name else load_node_identity(state, name)
            static_key, attestation = _secure_channel_key(state, loaded)
            found = ChannelIdentity(loaded.identity, static_key, attestation)
            cache[key] = found
        return found

    return provide


def _created_plain(state: State, name: str) -> str:
    lines = [fmt_ok(f"Created a new Node named {name}")]
    node = state.get_node(name)
    if node is not None and node.is_default:
        lines.append(fmt_ok(f"Marked {name} as your default Node, on this machine"))
    lines.append("")
    lines.append(fmt_log(f"To see more details on this Node, run: ockam node show {name}"))
    return "\n".join(lines) + "\n"


# -- background ------------------------------------------------------------------------


def log_file_path(state: State, name: str) -> Path:
    return state.node_dir(name) / f"stdout.{date.today().isoformat()}.log"


def _package_root() -> str:
    import ockam

    return str(Path(ockam.__file__).resolve().parent.parent)


def spawn_background(
    state: State, args: NodeArgs, *, quiet: bool, no_color: bool = True
) -> subprocess.Popen[bytes]:
    """Start ``python -m ockam node create NAME --foreground --child-process`` detached,
    its output appended to ``nodes/<name>/stdout.<date>.log``."""
    del quiet  # the child's output always goes to its log file
    return spawn_child(state, args.name, args.child_argv(no_color=no_color))


def spawn_child(state: State, name: str, ockam_argv: list[str]) -> subprocess.Popen[bytes]:
    """Start ``python -m ockam <ockam_argv>`` detached, as the process of node ``name``
    (its output appended to ``nodes/<name>/stdout.<date>.log``)."""
    node_dir = state.node_dir(name)
    node_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    root = _package_root()
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["OCKAM_HOME"] = str(state.home)
    argv = [sys.executable, "-m", "ockam", *ockam_argv]
    log_path = log_file_path(state, name)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=fd,
            close_fds=True,
            start_new_session=True,
            env=env,
        )
    except OSError as e:
        raise OckamError(f"failed to spawn node {name}: {e}") from e
    finally:
        os.close(fd)


def _last_error_line(path: Path) -> str | None:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 16384))
            tail = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    for line in reversed(tail.splitlines()):
        line = line.strip()
        if line.startswith("Error:"):
            return line[len("Error:") :].strip()
    return None


def wait_until_up(
    state: State,
    name: str,
    proc: subprocess.Popen[bytes] | None = None,
    timeout: float = READY_TIMEOUT_S,
) -> NodeInfo:
    """Poll the node (``GET /node`` every 100 ms) until it answers that it is running."""
    from ..api.client import NodeClient

    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            reason = _last_error_line(log_file_path(state, name))
            detail = (
                f": {reason}"
                if reason
                else f" (exit code {proc.returncode}), see {log_file_path(state, name)}"
            )
            raise OckamError(f"The node {name} failed to start{detail}")
        node = state.get_node(name)
        if (
            node is not None
            and node.tcp_listener_address
            and node.pid is not None
            and (proc is None or node.pid == proc.pid)
        ):
            client = NodeClient(name, node.tcp_listener_address)
            if is_node_up(client, timeout=min(2.0, max(0.1, deadline - time.monotonic()))):
                return node
        if time.monotonic() >= deadline:
            raise TimeoutError_(f"The node {name} did not start in time")
        time.sleep(POLL_INTERVAL_S)


def is_node_up(client: NodeClient, timeout: float = 2.0) -> bool:
    """True if the node answers ``GET /node`` with a running status."""
    from ..protocol.api_models import NodeStatus

    try:
        body = client.ask("GET", "/node", timeout=timeout)
        return NodeStatus.from_cbor(body).status == "running"
    except OckamError:
        return False


def get_node_resources(state: State, name: str, wait: bool = False) -> dict[str, Any]:
    """The JSON view of ``GET /node/resources``, or the empty resources of a node that does
    not answer."""
    from ..api.client import NodeClient
    from ..api.views import empty_node_resources, node_resources_json

    node = state.require_node(name)
    if node.tcp_listener_address and node.is_running and not node.is_authority:
        client = NodeClient(name, node.tcp_listener_address)
        if wait:
            wait_until_up(state, name)
        if wait or is_node_up(client):
            return node_resources_json(client.ask("GET", "/node/resources"))
    return empty_node_resources(node, str(node.settings.get("identity") or ""))


def render_node_resources(res: dict[str, Any]) -> str:
    """The plain-text view of ``NodeResources``."""
    pad, ind = "    ", "  "
    head = f"{pad}{res.get('name', '')}" + (" (default)" if res.get("is_default") else "") + ":"
    lines = [head]
    status = res.get("status")
    up = "UP" if status == "running" else "DOWN"
    text = f"The node is {up}"
    if res.get("pid") is not None:
        text += f", with PID {res['pid']}"
    lines.append(f"{pad}{ind}{text}")
    route = res.get("route") or {}
    route_text = f"With route {route.get('short')}"
    if route.get("verbose"):
        route_text += f" or {route['verbose']}"
    lines.append(f"{pad}{ind}{route_text}")
    if res.get("http_server_address"):
        http = res["http_server_address"]
        http_text = f"{http[0]}:{http[1]}" if isinstance(http, list) else str(http)
        lines.append(f"{pad}{ind}HTTP server listening at {http_text}")
    lines.append(f"{pad}{ind}Identity: {res.get('identity_name', '')}")
    modes = {"Listen": "Listening", "Incoming": "Incoming", "Outgoing": "Outgoing"}
    types = {"Tcp": "TCP", "Ble": "BLE", "WebSocket": "Websocket"}
    transports = res.get("transports") or []
    if transports:
        lines.append(f"{pad}{ind}Transports:")
        for t in transports:
            lines.append(
                f"{pad}{ind * 2}{types.get(t['type'], t['type'])}, "
                f"{modes.get(t['mode'], t['mode'])} at {t['socket_addr']}"
            )
    else:
        lines.append(f"{pad}{ind}No Transports")
    listeners = res.get("secure_channel_listeners") or []
    if listeners:
        lines.append(f"{pad}{ind}Secure Channels:")
        for s in listeners:
            address = s.get("address")
            addr_text = (
                bytes(address["inner"]).decode("utf-8", "replace") if isinstance(address, dict) else address
            )
            lines.append(f"{pad}{ind * 2}Listener at {addr_text}")
    else:
        lines.append(f"{pad}{ind}No Secure Channels")
    inlets, outlets = res.get("inlets") or [], res.get("outlets") or []
    if inlets or outlets:
        lines.append(f"{pad}{ind}Portals:")
        for i in inlets:
            state_text = str(i.get("status")).upper()
            lines.append(f"{pad}{ind * 2}Inlet {i.get('alias')} at {i.get('bind_addr')} is {state_text}")
        for o in outlets:
            worker = o.get("worker_addr")
            worker_text = (
                bytes(worker["inner"]).decode("utf-8", "replace") if isinstance(worker, dict) else worker
            )
            lines.append(f"{pad}{ind * 2}Outlet {worker_text} to {o.get('to')}")
    else:
        lines.append(f"{pad}{ind}No Portals")
    services = res.get("services") or []
    if services:
        lines.append(f"{pad}{ind}Services:")
        for s in services:
            lines.append(f"{pad}{ind * 2}{s.get('type')} service at {s.get('addr')}")
    else:
        lines.append(f"{pad}{ind}No Services")
    return "\n".join(lines) + "\n"


def warn(term: Terminal, message: str) -> None:
    term.status(fmt_warn(message))
