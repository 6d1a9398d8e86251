"""Evaluation of ABAC expressions over an environment, and the subject environment.

An environment maps names (``subject.role``, ``resource.id``...) to values. Evaluation:

* literals are themselves; a name is replaced by its bound value (which is evaluated in
  turn); an unbound name is an error; ``()`` is the unit value; ``[a b]`` evaluates each
  element;
* ``(and e..)`` / ``(or e..)`` evaluate left to right and stop at the first ``false`` /
  ``true``; with no argument they give ``true`` / ``false``; every argument but the last
  must be a boolean, the last one's value is returned as it is;
* ``(not e)``: exactly one boolean argument; ``(if c t f)``: exactly three arguments, a
  boolean test, only the chosen branch is evaluated;
* ``(= a b ..)``, ``(< a b ..)``, ``(> a b ..)``: at least two arguments, all evaluated,
  true when every adjacent pair is equal / increasing / decreasing (the first pair that
  fails decides); ``(!= ..)`` is ``not (= ..)`` without an arity check;
* ``(member? x s)``: ``s`` must be a sequence, true when an element equals ``x``;
* ``(exists? n ..)``: the arguments are not evaluated; true when every one is a bound
  name (checking stops at the first unbound one, and arguments that are not names are
  an error until then);
* anything else is an error.

Comparing values of different variants is an error (:class:`PolicyError`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from ..errors import PolicyError
from .expr import FALSE, TRUE, UNIT, Bool, Expr, Ident, List, Seq, Str, compare, display, equals

__all__ = [
    "ACTION_ID",
    "HANDLE_MESSAGE",
    "RESOURCE_ID",
    "SUBJECT_HAS_CREDENTIAL",
    "SUBJECT_IDENTIFIER",
    "Env",
    "evaluate",
    "is_authorized",
    "resource_env",
    "subject_env",
]

Env = Mapping[str, Expr]

SUBJECT_IDENTIFIER = "subject.identifier"
SUBJECT_HAS_CREDENTIAL = "subject.has_credential"
RESOURCE_ID = "resource.id"
ACTION_ID = "action.id"
HANDLE_MESSAGE = "handle_message"

# Work items of the evaluator (an explicit stack, so deep expressions are fine).
_EVAL, _AND, _OR, _NOT, _IF, _PREDICATE, _MEMBER, _SEQ = range(8)


def _bool_arg(value: Expr, operator: str) -> bool:
    if not isinstance(value, Bool):
        raise PolicyError(f"'{operator}' expects boolean arguments, got {display(value)}")
    return value.value


def _predicate(kind: str, args: list[Expr]) -> Bool:
    for x, y in itertools.pairwise(args):
        ok = equals(x, y) if kind == "=" else compare(x, y) == (-1 if kind == "<" else 1)
        if not ok:
            return FALSE
    return TRUE


def _apply(items: tuple[Expr, ...], env: Env, todo: list[tuple[int, Any]], values: list[Expr]) -> None:
    head, args = items[0], items[1:]
    if not isinstance(head, Ident):
        raise PolicyError(f"expected (operator ...), got {display(head)} as operator")
    name = head.name
    if name in ("and", "or"):
        if not args:
            values.append(TRUE if name == "and" else FALSE)
        else:
            todo.append((_AND if name == "and" else _OR, (args, 1)))
            todo.append((_EVAL, args[0]))
        return
    if name == "exists?":
        result = True
        for arg in args:
            if not isinstance(arg, Ident):
                raise PolicyError(f"'exists?' expects names as arguments, got {display(arg)}")
            if arg.name not in env:
                result = False
                break
        values.append(Bool(result))
        return
    if name == "if":
        if len(args) != 3:
            raise PolicyError("'if' requires three arguments")
        todo.append((_IF, (args[1], args[2])))
        todo.append((_EVAL, args[0]))
        return
    if name == "not":
        if len(args) != 1:
            raise PolicyError("'not' requires one argument")
        todo.append((_NOT, None))
    elif name in ("<", ">", "="):
        if len(args) < 2:
            raise PolicyError(f"'{name}' requires at least two arguments")
        todo.append((_PREDICATE, (name, len(args))))
    elif name == "!=":
        todo.append((_NOT, None))
        todo.append((_PREDICATE, ("=", len(args))))
    elif name == "member?":
        if len(args) != 2:
            raise PolicyError("'member?' requires two arguments")
        todo.append((_MEMBER, None))
    else:
        raise PolicyError(f"unknown operator {name!r}")
    todo.extend((_EVAL, arg) for arg in reversed(args))


def evaluate(expr: Expr, env: Env) -> Expr:
    """Evaluate ``expr``; raises :class:`PolicyError` on an evaluation error."""
    todo: list[tuple[int, Any]] = [(_EVAL, expr)]
    values: list[Expr] = []
    while todo:
        step, arg = todo.pop()
        if step == _EVAL:
            e: Expr = arg
            if isinstance(e, Ident):
                bound = env.get(e.name)
                if bound is None:
                    raise PolicyError(f"unbound name {e.name!r}")
                todo.append((_EVAL, bound))
            elif isinstance(e, List):
                if e.items:
                    _apply(e.items, env, todo, values)
                else:
                    values.append(UNIT)
            elif isinstance(e, Seq):
                todo.append((_SEQ, len(e.items)))
                todo.extend((_EVAL, x) for x in reversed(e.items))
            else:
                values.append(e)
        elif step in (_AND, _OR):
            args, index = arg
            if index == len(args):
                continue  # the last argument's value is the result, unchecked
            operator = "and" if step == _AND else "or"
            if _bool_arg(values[-1], operator) == (step == _OR):
                continue  # decided: false for 'and', true for 'or'; it stays on the stack
            values.pop()
            todo.append((step, (args, index + 1)))
            todo.append((_EVAL, args[index]))
        elif step == _NOT:
            values.append(Bool(not _bool_arg(values.pop(), "not")))
        elif step == _IF:
            then, otherwise = arg
            test = values.pop()
            if not isinstance(test, Bool):
                raise PolicyError(f"'if' expects its test to be a boolean, got {display(test)}")
            todo.append((_EVAL, then if test.value else otherwise))
        elif step == _PREDICATE:
            kind, count = arg
            start = len(values) - count
            operands = values[start:]
            del values[start:]
            values.append(_predicate(kind, operands))
        elif step == _MEMBER:
            collection, item = values.pop(), values.pop()
            if not isinstance(collection, Seq):
                raise PolicyError(f"'member?' expects a sequence, got {display(collection)}")
            values.append(Bool(any(equals(item, x) for x in collection.items)))
        else:  # _SEQ
            start = len(values) - arg
            items = tuple(values[start:])
            del values[start:]
            values.append(Seq(items))
    return values[-1]


def is_authorized(expr: Expr, env: Env) -> bool:
    """True only when ``expr`` evaluates to ``true``; ``false``, a non-boolean result and
    evaluation errors all deny."""
    try:
        result = evaluate(expr, env)
    except PolicyError:
        return False
    return isinstance(result, Bool) and result.value


def resource_env(resource: str, action: str = HANDLE_MESSAGE) -> dict[str, Expr]:
    """The base environment of an access control: ``resource.id`` and ``action.id``."""
    return {RESOURCE_ID: Str(resource), ACTION_ID: Str(action)}


def subject_env(
    identifier: str,
    attributes: Mapping[str, str] | Mapping[bytes, bytes] | None,
    *,
    has_authority: bool = True,
    base: Env | None = None,
) -> dict[str, Expr]:
    """The environment for a peer: ``base`` plus ``subject.identifier`` and, when the access
    control has an authority, ``subject.has_credential`` (whether ``attributes``, the
    peer's attributes attested by that authority, are known) and ``subject.<key>`` for
    each attribute (keys or values that are not UTF-8 are skipped).

    As in Ockam, an attribute is skipped when its bare key is already bound, and
    otherwise overwrites ``subject.<key>`` - so attributes named ``identifier`` or
    ``has_credential`` replace those bindings."""
    env: dict[str, Expr] = dict(base or {})
    env[SUBJECT_IDENTIFIER] = Str(identifier)
    if not has_authority:
        return env
    if attributes is None:
        env[SUBJECT_HAS_CREDENTIAL] = FALSE
        return env
    env[SUBJECT_HAS_CREDENTIAL] = TRUE
    for raw_key, raw_value in attributes.items():
        try:
            key = raw_key.decode("utf-8") if isinstance(raw_key, bytes) else raw_key
            value = raw_value.decode("utf-8") if isinstance(raw_value, bytes) else raw_value
        except UnicodeDecodeError:
            continue
        if key in env:
            continue
        env[f"subject.{key}"] = Str(value)
    return env
