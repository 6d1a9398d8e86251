"""Attribute-based access control: policy expressions, their two syntaxes, CBOR and evaluation.

>>> policy = parse_policy("web and not guest")
>>> str(policy.to_expr())
'(and (= subject.web "true") (not (= subject.guest "true")))'
>>> is_authorized(policy.to_expr(), subject_env("I...", {"web": "true", "guest": "false"}))
True
"""

from __future__ import annotations

from .boolean import (
    And,
    BooleanExpr,
    Empty,
    Name,
    Not,
    Or,
    boolean_from_cbor,
    boolean_to_cbor,
    boolean_to_expr,
    parse_boolean,
)
from .evaluate import (
    ACTION_ID,
    HANDLE_MESSAGE,
    RESOURCE_ID,
    SUBJECT_HAS_CREDENTIAL,
    SUBJECT_IDENTIFIER,
    Env,
    evaluate,
    is_authorized,
    resource_env,
    subject_env,
)
from .expr import (
    FALSE,
    TRUE,
    UNIT,
    Bool,
    Expr,
    Float,
    Ident,
    Int,
    List,
    Seq,
    Str,
    compare,
    display,
    equals,
    expr_from_cbor,
    expr_to_cbor,
    op,
)
from .policy import (
    DEFAULT_POLICY,
    BooleanPolicy,
    FullPolicy,
    PolicyExpression,
    has_credential_expr,
    parse_policy,
    policy_expression_cbor,
    policy_from_cbor,
)
from .sexpr import OPERATORS, is_operation, parse_expr, parse_expr_optional

__all__ = [
    "ACTION_ID",
    "DEFAULT_POLICY",
    "FALSE",
    "HANDLE_MESSAGE",
    "OPERATORS",
    "RESOURCE_ID",
    "SUBJECT_HAS_CREDENTIAL",
    "SUBJECT_IDENTIFIER",
    "TRUE",
    "UNIT",
    "And",
    "Bool",
    "BooleanExpr",
    "BooleanPolicy",
    "Empty",
    "Env",
    "Expr",
    "Float",
    "FullPolicy",
    "Ident",
    "Int",
    "List",
    "Name",
    "Not",
    "Or",
    "PolicyExpression",
    "Seq",
    "Str",
    "boolean_from_cbor",
    "boolean_to_cbor",
    "boolean_to_expr",
    "compare",
    "display",
    "equals",
    "evaluate",
    "expr_from_cbor",
    "expr_to_cbor",
    "has_credential_expr",
    "is_authorized",
    "is_operation",
    "op",
    "parse_boolean",
    "parse_expr",
    "parse_expr_optional",
    "parse_policy",
    "policy_expression_cbor",
    "policy_from_cbor",
    "resource_env",
    "subject_env",
]
