"""``show`` and ``delete`` of named items on a node (inlets, outlets, relays...).

The same flow for every kind of item: list the names first; nothing to act on is a
success ("There are no <items> to show", JSON ``[]``); a name that is not listed is an
error ("The <item> <name> was not found"); without a name, a terminal user picks among
the items, a script acts on nothing (delete) or gets an error (show).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import InvalidArgument, NotFound
from .output import Terminal, fmt_info, fmt_warn

__all__ = ["ItemKind", "delete_items", "show_items"]


@dataclass(frozen=True)
class ItemKind:
    singular: str  # "tcp inlet"
    plural: str  # "tcp inlets"
    missing_name: str  # error when no name is given and nobody can be asked


def _pick(term: Terminal, kind: ItemKind, names: list[str], verb: str) -> list[str]:
    """Ask the user which items to act on (numbers separated by spaces or commas)."""
    if len(names) == 1:
        return names
    term.stderr.write(f"Select one or more {kind.plural} that you want to {verb}:\n")
    for i, name in enumerate(names, 1):
        term.stderr.write(f"  {i}. {name}\n")
    term.stderr.write("> ")
    term.stderr.flush()
    answer = sys.stdin.readline()
    chosen: list[str] = []
    for token in answer.replace(",", " ").split():
        if token.isdigit() and 1 <= int(token) <= len(names) and names[int(token) - 1] not in chosen:
            chosen.append(names[int(token) - 1])
    return chosen


def show_items(
    term: Terminal,
    kind: ItemKind,
    names: list[str],
    name: str | None,
    show_one: Callable[[str], None],
    node_name: str | None = None,
) -> None:
    if not names:
        on_node = f" on node {node_name}" if node_name else ""
        term.result(
            plain=fmt_info(f"There are no {kind.plural} to show{on_node}"), json_value=[], has_json=True
        )
        return
    if name is not None or not term.can_ask_for_user_input():
        if name is None:
            raise InvalidArgument(kind.missing_name)
        if name not in names:
            raise NotFound(f"The {kind.singular} {name} was not found")
        show_one(name)
        return
    chosen = _pick(term, kind, names, "show")
    if not chosen:
        term.result(plain=fmt_info(f"No {kind.plural} selected to show"))
    for item in chosen:
        if len(chosen) == 1:
            show_one(item)
            continue
        try:
            show_one(item)
        except Exception:
            term.result(plain=fmt_warn(f"Failed to show {kind.singular} {item}"))


def delete_items(
    term: Terminal,
    kind: ItemKind,
    names: list[str],
    name: str | None,
    yes: bool,
    delete_one: Callable[[str], None],
    delete_all: bool = False,
) -> None:
    if not names:
        term.result(plain=fmt_info(f"There are no {kind.plural} to delete"), json_value=[], has_json=True)
        return

    def delete_many(items: list[str]) -> None:
        for item in items:
            try:
                delete_one(item)
            except Exception:
                term.result(plain=fmt_warn(f"Failed to delete {kind.singular} {item}"))

    if delete_all:
        what = f"your {len(names)} {kind.plural}" if len(names) > 1 else f"your only {kind.singular}"
        if term.confirm(yes, f"Are you sure you want to delete {what}?"):
            delete_many(names)
            return
    if name is not None or not term.can_ask_for_user_input():
        if name is None:
            return
        if name not in names:
            raise NotFound(f"The {kind.singular} {name} was not found")
        if term.confirm(yes, "Are you sure you want to proceed?"):
            delete_one(name)
        return
    if len(names) == 1:
        prompt = f"You are about to delete your only {kind.singular}. Are you sure you want to proceed?"
        if term.confirm(yes, prompt):
            delete_one(names[0])
        return
    chosen = _pick(term, kind, names, "delete")
    if not chosen:
        term.result(plain=fmt_info(f"No {kind.plural} selected to delete"))
        return
    if term.confirm(yes, "Are you sure you want to proceed?"):
        if len(chosen) == 1:
            delete_one(chosen[0])
        else:
            delete_many(chosen)
