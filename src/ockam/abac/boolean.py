"""The boolean policy syntax: names joined with ``and``, ``or``, ``not`` and parentheses.

Grammar (``not`` binds tightest, then ``and``, then ``or``; both group to the left)::

    expr     := and_expr ( OR and_expr )*
    and_expr := not_expr ( AND not_expr )*
    not_expr := NOT not_expr | "(" expr ")" | name
    name     := [A-Za-z_-] [A-Za-z0-9._-]*
    AND, OR, NOT, "(", ")" := optional whitespace, the literal, optional whitespace

Each alternative backtracks when it fails, a repetition stops (leaving the separator
unread) when the operand after a separator does not parse, and the whole text must be
consumed. Consequences kept for compatibility: ``notify`` reads as ``not ify``,
``a andb`` as ``a and b``, ``not`` alone is a name, and leading or trailing whitespace is
only accepted next to ``not``/parentheses.

A name ``n`` means "the credential attribute ``n`` is the text ``true``":
:meth:`to_expr` turns it into ``(= subject.n "true")``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import DecodeError, PolicyError
from .expr import Expr, Ident, List, Str, op

__all__ = [
    "And",
    "BooleanExpr",
    "Empty",
    "Name",
    "Not",
    "Or",
    "boolean_from_cbor",
    "boolean_to_cbor",
    "boolean_to_expr",
    "parse_boolean",
]

# Nesting deeper than this (parentheses and ``not``) is refused rather than risking the
# Python recursion limit; real policies are a few levels deep.
MAX_NESTING = 64


@dataclass(frozen=True, slots=True)
class Name:
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Or:
    left: BooleanExpr
    right: BooleanExpr

    def __str__(self) -> str:
        return f"{_nested(self.left)} or {_nested(self.right)}"


@dataclass(frozen=True, slots=True)
class And:
    left: BooleanExpr
    right: BooleanExpr

    def __str__(self) -> str:
        return f"{_nested(self.left)} and {_nested(self.right)}"


@dataclass(frozen=True, slots=True)
class Not:
    expr: BooleanExpr

    def __str__(self) -> str:
        return f"not {_nested(self.expr)}"


@dataclass(frozen=True, slots=True)
class Empty:
    def __str__(self) -> str:
        return ""


BooleanExpr = Name | Or | And | Not | Empty


def _nested(e: BooleanExpr) -> str:
    """An operand: names as they are, anything else in parentheses around its own text.

    (Only one level is parenthesised per operand, exactly as Ockam displays it, so
    ``Or(a, And(Or(b, c), d))`` shows as ``a or (b or c and d)``.)"""
    if isinstance(e, Or):
        return f"({e.left} or {e.right})"
    if isinstance(e, And):
        return f"({e.left} and {e.right})"
    if isinstance(e, Not):
        return f"(not {e.expr})"
    return str(e)


# -- conversion and CBOR ----------------------------------------------------------------


def boolean_to_expr(e: BooleanExpr) -> Expr:
    """The evaluable expression: ``n`` -> ``(= subject.n "true")``, operators -> ``(or ..)`` etc."""
    if isinstance(e, Name):
        return op("=", Ident(f"subject.{e.name}"), Str("true"))
    if isinstance(e, Or):
        return op("or", boolean_to_expr(e.left), boolean_to_expr(e.right))
    if isinstance(e, And):
        return op("and", boolean_to_expr(e.left), boolean_to_expr(e.right))
    if isinstance(e, Not):
        return op("not", boolean_to_expr(e.expr))
    return List(())


def boolean_to_cbor(e: BooleanExpr) -> list[Any]:
    """``[0, [name]]``, ``[1, [a, b]]`` (or), ``[2, [a, b]]`` (and), ``[3, [a]]`` (not), ``[4, []]``."""
    if isinstance(e, Name):
        return [0, [e.name]]
    if isinstance(e, Or):
        return [1, [boolean_to_cbor(e.left), boolean_to_cbor(e.right)]]
    if isinstance(e, And):
        return [2, [boolean_to_cbor(e.left), boolean_to_cbor(e.right)]]
    if isinstance(e, Not):
        return [3, [boolean_to_cbor(e.expr)]]
    return [4, []]


def boolean_from_cbor(obj: Any) -> BooleanExpr:
    """Decode the CBOR-shaped value of a boolean expression; raises :class:`DecodeError`."""
    if not isinstance(obj, list) or len(obj) != 2 or not isinstance(obj[1], list):
        raise DecodeError("invalid boolean expression: expected [variant, [fields]]")
    variant, fields = obj
    arity = {0: 1, 1: 2, 2: 2, 3: 1, 4: 0}.get(variant) if type(variant) is int else None
    if arity is None:
        raise DecodeError(f"invalid boolean expression: unknown variant {variant!r}")
    if len(fields) < arity:
        raise DecodeError("invalid boolean expression: missing field")
    if variant == 0:
        if not isinstance(fields[0], str):
            raise DecodeError("invalid boolean expression: a name must be text")
        return Name(fields[0])
    if variant == 4:
        return Empty()
    if variant == 3:
        return Not(boolean_from_cbor(fields[0]))
    left, right = boolean_from_cbor(fields[0]), boolean_from_cbor(fields[1])
    return Or(left, right) if variant == 1 else And(left, right)


# -- parser -----------------------------------------------------------------------------

_SPACE = " \t\r\n"
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_NAME_START = frozenset(_LETTERS + "_-")
_NAME_REST = frozenset(_LETTERS + "0123456789._-")

_Result = tuple[BooleanExpr, int] | None


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.depth = 0

    def _skip_space(self, pos: int) -> int:
        while pos < len(self.text) and self.text[pos] in _SPACE:
            pos += 1
        return pos

    def _literal(self, pos: int, word: str) -> int | None:
        pos = self._skip_space(pos)
        if not self.text.startswith(word, pos):
            return None
        return self._skip_space(pos + len(word))

    def expr(self, pos: int) -> _Result:
        return self._separated(pos, "or", self.and_expr, Or)

    def and_expr(self, pos: int) -> _Result:
        return self._separated(pos, "and", self.not_expr, And)

    def _separated(self, pos: int, word: str, operand: Any, combine: Any) -> _Result:
        first = operand(pos)
        if first is None:
            return None
        result, pos = first
        while True:
            after = self._literal(pos, word)
            if after is None:
                break
            following = operand(after)
            if following is None:  # leave the separator unread
                break
            result, pos = combine(result, following[0]), following[1]
        return result, pos

    def not_expr(self, pos: int) -> _Result:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise PolicyError(f"boolean expression nested more than {MAX_NESTING} levels")
        try:
            after = self._literal(pos, "not")
            if after is not None:
                inner = self.not_expr(after)
                if inner is not None:
                    return Not(inner[0]), inner[1]
            after = self._literal(pos, "(")
            if after is not None:
                inner = self.expr(after)
                if inner is not None:
                    end = self._literal(inner[1], ")")
                    if end is not None:
                        return inner[0], end
            return self.name(pos)
        finally:
            self.depth -= 1

    def name(self, pos: int) -> _Result:
        text = self.text
        if pos >= len(text) or text[pos] not in _NAME_START:
            return None
        end = pos + 1
        while end < len(text) and text[end] in _NAME_REST:
            end += 1
        return Name(text[pos:end]), end


def parse_boolean(text: str) -> BooleanExpr:
    """Parse the boolean syntax; raises :class:`PolicyError` unless all of ``text`` is read."""
    parsed = _Parser(text).expr(0)
    if parsed is None:
        raise PolicyError(f"invalid boolean expression {text!r}")
    expr, end = parsed
    if end != len(text):
        raise PolicyError(f"successfully parsed: `{expr}`, but `{text[end:]}` cannot be parsed")
    return expr
