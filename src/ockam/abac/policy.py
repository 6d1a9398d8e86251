"""Policy expressions as the CLI and the node API carry them: boolean or full syntax.

Text is read with the boolean syntax first, then with the full syntax. CBOR:
``[0, [expr]]`` for a full expression, ``[1, [boolean expr]]`` for a boolean one.
Evaluation (and storage) always uses the expanded full expression.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import DecodeError, PolicyError
from .boolean import BooleanExpr, boolean_from_cbor, boolean_to_cbor, boolean_to_expr, parse_boolean
from .expr import TRUE, Expr, Ident, expr_from_cbor, expr_to_cbor, op
from .sexpr import parse_expr

__all__ = [
    "DEFAULT_POLICY",
    "BooleanPolicy",
    "FullPolicy",
    "PolicyExpression",
    "has_credential_expr",
    "parse_policy",
    "policy_expression_cbor",
    "policy_from_cbor",
]

# Written by every node at start-up as the policy of each resource type.
DEFAULT_POLICY = "(= subject.has_credential true)"


@dataclass(frozen=True, slots=True)
class FullPolicy:
    """A policy written in the full (s-expression) syntax."""

    expr: Expr
    syntax = "full"

    def to_expr(self) -> Expr:
        return self.expr

    def to_cbor(self) -> list[Any]:
        return [0, [expr_to_cbor(self.expr)]]

    def __str__(self) -> str:
        return str(self.expr)


@dataclass(frozen=True, slots=True)
class BooleanPolicy:
    """A policy written in the boolean syntax (``web and not guest``)."""

    expr: BooleanExpr
    syntax = "boolean"

    def to_expr(self) -> Expr:
        return boolean_to_expr(self.expr)

    def to_cbor(self) -> list[Any]:
        return [1, [boolean_to_cbor(self.expr)]]

    def __str__(self) -> str:
        return str(self.expr)


PolicyExpression = FullPolicy | BooleanPolicy


def parse_policy(text: str) -> PolicyExpression:
    """Read policy text: boolean syntax first, else full syntax; raises :class:`PolicyError`."""
    try:
        return BooleanPolicy(parse_boolean(text))
    except PolicyError as boolean_error:
        try:
            return FullPolicy(parse_expr(text))
        except PolicyError as full_error:
            raise PolicyError(
                "Cannot parse the expression as either a simple boolean expression or a full "
                f"policy expression: - {boolean_error} - {full_error}"
            ) from None


def policy_from_cbor(obj: Any) -> PolicyExpression:
    """Decode the CBOR-shaped value of a policy expression; raises :class:`DecodeError`."""
    if not isinstance(obj, list) or len(obj) != 2 or not isinstance(obj[1], list) or not obj[1]:
        raise DecodeError("invalid policy expression: expected [variant, [expression]]")
    if obj[0] == 0 and type(obj[0]) is int:
        return FullPolicy(expr_from_cbor(obj[1][0]))
    if obj[0] == 1 and type(obj[0]) is int:
        return BooleanPolicy(boolean_from_cbor(obj[1][0]))
    raise DecodeError(f"invalid policy expression: unknown variant {obj[0]!r}")


def policy_expression_cbor(text: str) -> list[Any]:
    """Parse policy text and return its CBOR-shaped value (as node-API bodies carry it)."""
    return parse_policy(text).to_cbor()


def has_credential_expr() -> Expr:
    """``(= subject.has_credential true)``: any holder of a credential from the authority."""
    return op("=", Ident("subject.has_credential"), TRUE)
