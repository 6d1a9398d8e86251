"""Node configurations (``node create CONFIG`` / ``--configuration YAML``).

A configuration is YAML (JSON is YAML too).  ``variables:`` and ``$VAR`` / ``${VAR}`` /
``${VAR:-default}`` references are resolved from the environment first.  The top-level
keys of the ``node create`` command (``name``, ``tcp-listener-address``...) describe the
node; the other sections (``tcp-outlets``, ``tcp-inlets``, ``relays``, ``policies``...)
become other ``ockam`` commands run against the node once it is up.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidArgument

__all__ = ["NodeConfigFile", "Section", "parse_node_config", "resolve_variables", "section_commands"]

# node create arguments that may appear at the top level of a configuration
NODE_KEYS: dict[str, str] = {
    "name": "name",
    "skip_is_running_check": "skip-is-running-check",
    "skip-is-running-check": "skip-is-running-check",
    "foreground": "foreground",
    "child_process": "child-process",
    "child-process": "child-process",
    "exit_on_eof": "exit-on-eof",
    "exit-on-eof": "exit-on-eof",
    "tcp_listener_address": "tcp-listener-address",
    "tcp-listener-address": "tcp-listener-address",
    "http_server": "http-server",
    "http-server": "http-server",
    "enable-http-server": "http-server",
    "http_server_port": "http-server-port",
    "http-server-port": "http-server-port",
    "identity": "identity",
    "project": "project",
    "launch_config": "launch-config",
    "launch-config": "launch-config",
    "opentelemetry_context": "opentelemetry-context",
    "opentelemetry-context": "opentelemetry-context",
}


@dataclass(frozen=True)
class Section:
    """How a configuration section maps to ``ockam`` commands."""

    command: tuple[str, ...]
    name_arg: str | None  # option that receives the resource name (None: positional)
    node_arg: str | None  # option naming the node, defaulted to the configured node


# section key (and aliases) -> command; order is the order the Rust CLI runs them
SECTIONS: list[tuple[tuple[str, ...], Section]] = [
    (("policies", "policy"), Section(("policy", "create"), None, None)),
    (("relays", "relay"), Section(("relay", "create"), None, "to")),
    (("tcp_inlets", "tcp-inlets", "tcp-inlet"), Section(("tcp-inlet", "create"), "alias", "at")),
    (("tcp_outlets", "tcp-outlets", "tcp-outlet"), Section(("tcp-outlet", "create"), "from", "at")),
    (
        ("influxdb_inlets", "influxdb-inlets", "influxdb-inlet"),
        Section(("influxdb-inlet", "create"), "alias", "at"),
    ),
    (
        ("influxdb_outlets", "influxdb-outlets", "influxdb-outlet"),
        Section(("influxdb-outlet", "create"), "from", "at"),
    ),
    (("kafka_inlet", "kafka-inlets", "kafka-inlet"), Section(("kafka-inlet", "create"), "addr", "at")),
    (("kafka_outlet", "kafka-outlets", "kafka-outlet"), Section(("kafka-outlet", "create"), "addr", "at")),
]
IGNORED_KEYS = {"variables", "version"}
TICKET_KEYS = ("ticket", "enrollment-ticket", "enrollment_ticket")

_VAR = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))"
)


def _yaml_load(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "invalid YAML"
        raise InvalidArgument(f"Invalid node configuration: {first}") from e


def _scalar_text(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    if isinstance(value, list):
        raise InvalidArgument(f"List values are not supported for variable '{key}'")
    raise InvalidArgument(f"Invalid value for variable '{key}'")


def resolve_variables(contents: str) -> str:
    """Load ``variables:`` into the environment (existing values win), then expand
    ``$VAR``, ``${VAR}`` and ``${VAR:-default}`` in the text."""
    try:
        parsed = _yaml_load(contents)
    except InvalidArgument:
        parsed = None  # the expanded text is parsed (and reported) later
    variables = parsed.get("variables") if isinstance(parsed, dict) else None
    if isinstance(variables, dict):
        for key, value in variables.items():
            key = str(key)
            if key in os.environ:
                continue
            text = _scalar_text(key, value)
            if not text:
                raise InvalidArgument(f"Empty value for variable '{key}'")
            os.environ[key] = text

    def substitute(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("plain")
        value = os.environ.get(name)
        if value is not None:
            return value
        default = match.group("default")
        if default is not None:
            return default
        raise InvalidArgument(f"Failed to resolve variable '{name}': environment variable not found")

    return _VAR.sub(substitute, contents)


@dataclass
class NodeConfigFile:
    """A parsed configuration: ``node create`` arguments and the other sections."""

    node: dict[str, Any] = field(default_factory=dict)  # normalized key -> value
    sections: list[tuple[Section, Any]] = field(default_factory=list)
    ticket: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str | None:
        value = self.node.get("name")
        return None if value is None else str(value)


def parse_node_config(contents: str) -> NodeConfigFile:
    data = _yaml_load(resolve_variables(contents))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidArgument("Invalid node configuration: expected a map of settings")
    config = NodeConfigFile(raw=data)
    aliases = {alias: section for keys, section in SECTIONS for alias in keys}
    found: dict[Section, Any] = {}
    for key, value in data.items():
        key = str(key)
        if key in NODE_KEYS:
            config.node[NODE_KEYS[key]] = value
        elif key in aliases:
            found[aliases[key]] = value
        elif key in TICKET_KEYS:
            config.ticket = None if value is None else str(value)
        elif key not in IGNORED_KEYS:
            raise InvalidArgument(f"Invalid node configuration: unknown section '{key}'")
    for _keys, section in SECTIONS:
        if section in found and found[section] is not None:
            config.sections.append((section, found[section]))
    return config


def _keyword(key: str) -> str:
    return f"-{key}" if len(key) == 1 else f"--{key}"


def _as_args(key: str, value: Any) -> list[str]:
    if isinstance(value, list):
        return [a for v in value for a in _as_args(key, v)]
    if isinstance(value, bool):
        return [_keyword(key)] if value else []
    if value is None:
        return []
    return [_keyword(key), str(value)]


def _args_of(mapping: dict[str, Any], skip: str | None = None) -> list[str]:
    out: list[str] = []
    for key in sorted(mapping, key=str):
        if skip is not None and key == skip:
            continue
        out.extend(_as_args(str(key), mapping[key]))
    return out


def _is_named_map(value: dict[Any, Any]) -> bool:
    return bool(value) and all(isinstance(v, dict) for v in value.values())


def section_commands(section: Section, value: Any, node_name: str) -> list[list[str]]:
    """The argument lists (after the command words) that a section expands to."""
    items: list[tuple[str | None, dict[str, Any]]] = []

    def add(entry: Any) -> None:
        if isinstance(entry, str):
            items.append((entry, {}))
        elif isinstance(entry, dict) and _is_named_map(entry):
            for name, args in entry.items():
                items.append((str(name), dict(args)))
        elif isinstance(entry, dict):
            items.append((None, dict(entry)))
        else:
            raise InvalidArgument(f"Invalid entry in the {' '.join(section.command)} section: {entry!r}")

    if isinstance(value, list):
        for entry in value:
            add(entry)
    else:
        add(value)

    commands: list[list[str]] = []
    for name, args in items:
        argv: list[str] = []
        if name is not None:
            if section.name_arg is None:
                argv.append(name)
            else:
                argv.extend(_as_args(section.name_arg, args.get(section.name_arg, name)))
        argv.extend(_args_of(args, section.name_arg if name is not None else None))
        if section.node_arg is not None and section.node_arg not in args:
            argv.extend([_keyword(section.node_arg), node_name])
        commands.append(argv)
    return commands
