from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ockam.abac import (
    FALSE,
    TRUE,
    UNIT,
    And,
    Bool,
    BooleanExpr,
    BooleanPolicy,
    Empty,
    Expr,
    Float,
    FullPolicy,
    Ident,
    Int,
    List,
    Name,
    Not,
    Or,
    Seq,
    Str,
    boolean_from_cbor,
    boolean_to_cbor,
    compare,
    equals,
    evaluate,
    expr_from_cbor,
    expr_to_cbor,
    has_credential_expr,
    is_authorized,
    op,
    parse_boolean,
    parse_expr,
    parse_expr_optional,
    parse_policy,
    policy_expression_cbor,
    policy_from_cbor,
    resource_env,
    subject_env,
)
from ockam.codec import cbor
from ockam.errors import DecodeError, OckamError, PolicyError

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "vectors"
ABAC_FILES = sorted(VECTORS.glob("abac-expression-*.json")) if VECTORS.is_dir() else []
ID = "Ie70dc5545d64724880257acb32b8851e7dd1dd57076838991bc343165df71bfe"


def _outcome(expr: Expr, env: dict[str, Expr]) -> Any:
    try:
        value = evaluate(expr, env)
    except PolicyError:
        return "error"
    return value.value if isinstance(value, Bool) else "non-boolean"


# -- shared vectors ---------------------------------------------------------------------


@pytest.mark.skipif(not ABAC_FILES, reason="shared vectors not found")
@pytest.mark.parametrize("path", ABAC_FILES, ids=lambda p: p.stem)
def test_abac_vector(path: Path) -> None:
    vector = json.loads(path.read_text())
    inputs, expected = vector["inputs"], vector["expected"]
    if expected == {"error": True}:
        with pytest.raises(PolicyError):
            parse_policy(inputs["text"])
        return
    policy = parse_policy(inputs["text"])
    expr = policy.to_expr()
    assert policy.syntax == expected["syntax"]
    assert cbor.encode(policy.to_cbor()).hex() == expected["policy_expression_cbor"]
    assert policy_expression_cbor(inputs["text"]) == policy.to_cbor()
    assert cbor.encode(expr_to_cbor(expr)).hex() == expected["expr_cbor"]
    assert str(expr) == expected["expr_display"]
    assert (str(policy) if isinstance(policy, BooleanPolicy) else None) == expected["boolean_display"]
    assert policy_from_cbor(cbor.decode(bytes.fromhex(expected["policy_expression_cbor"]))) == policy
    assert expr_from_cbor(cbor.decode(bytes.fromhex(expected["expr_cbor"]))) == expr
    for evaluation, result in zip(inputs["evaluations"], expected["results"], strict=True):
        env = subject_env(evaluation["identifier"], evaluation["attributes"])
        assert _outcome(expr, env) == result["eval"]
        assert is_authorized(expr, env) is result["authorized"]


# -- boolean syntax ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a", Name("a")),
        ("a and b and c", And(And(Name("a"), Name("b")), Name("c"))),
        ("a or b or c", Or(Or(Name("a"), Name("b")), Name("c"))),
        ("a or b and not c", Or(Name("a"), And(Name("b"), Not(Name("c"))))),
        ("not (not a)", Not(Not(Name("a")))),
        ("( ( (a )))", Name("a")),
        ("(a or b) and (not c)", And(Or(Name("a"), Name("b")), Not(Name("c")))),
        ("name.1", Name("name.1")),
        ("___reserved", Name("___reserved")),
        ("-x", Name("-x")),
        # literal-token quirks of the grammar
        ("notify", Not(Name("ify"))),
        ("not", Name("not")),
        ("and", Name("and")),
        ("a andb", And(Name("a"), Name("b"))),
        (" not a", Not(Name("a"))),
        ("(a) ", Name("a")),
        ("a and not", And(Name("a"), Name("not"))),
    ],
)
def test_boolean_parse(text: str, expected: BooleanExpr) -> None:
    assert parse_boolean(text) == expected


@pytest.mark.parametrize(
    "text", ["", "na*me", "()", "a and", "a and b not c", "(a and b) or (c and d))", " a", "a ", "1a", ".a"]
)
def test_boolean_parse_errors(text: str) -> None:
    with pytest.raises(PolicyError):
        parse_boolean(text)


def test_boolean_display() -> None:
    assert str(And(Or(Name("a"), Name("b")), Not(Name("c")))) == "(a or b) and (not c)"
    assert str(Or(Name("a"), And(Name("b"), Not(Name("c"))))) == "a or (b and not c)"
    assert str(Not(Not(Name("a")))) == "not (not a)"
    # only one level of parentheses per operand, as Ockam displays it
    assert str(Or(Name("a"), And(Or(Name("b"), Name("c")), Name("d")))) == "a or (b or c and d)"
    assert str(Empty()) == ""


def test_boolean_to_expr_and_cbor() -> None:
    e = And(Or(Name("a"), Name("b")), Not(Name("c")))
    policy = BooleanPolicy(e)
    assert str(policy.to_expr()) == (
        '(and (or (= subject.a "true") (= subject.b "true")) (not (= subject.c "true")))'
    )
    assert boolean_to_cbor(Empty()) == [4, []]
    assert boolean_from_cbor([4, []]) == Empty()
    assert str(BooleanPolicy(Empty()).to_expr()) == "()"
    for bad in ([0, []], [5, []], [0, [1]], [1, [[0, ["a"]]]], "x", [0]):
        with pytest.raises(DecodeError):
            boolean_from_cbor(bad)


def test_boolean_nesting_limit() -> None:
    with pytest.raises(PolicyError):
        parse_boolean("(" * 200 + "a" + ")" * 200)
    with pytest.raises(PolicyError):
        parse_boolean("not " * 200 + "a")


# -- full syntax ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "display"),
    [
        ('(= subject.role "admin")', '(= subject.role "admin")'),
        ("= a b", "(= a b)"),  # several top-level values form one list
        ("= a b)", "(= a b)"),  # a closing bracket without opening wraps what was read
        ("(= 0x10 -0x10 +5 1_000)", "(= 16 -16 5 1000)"),
        ("(= 1.5 1. 1e16 1.5e-7 -0.0 0.0001)", "(= 1.5 1.0 1e16 1.5e-7 -0.0 0.0001)"),
        ("(= inf -inf +inf nan -nan nan:0x1_f)", "(= +inf -inf +inf nan nan nan)"),
        ('(= "a\\"b" "\\t\\n\\r\\\\" "\\41\\u{1F600}" "it\'s")', '(= "a\\"b" "\\t\\n\\r\\\\" "A😀" "it\'s")'),
        ('(= "\\u{7f}\\u{0}\\u{301}é")', '(= "\\u{7f}\\0\\u{301}é")'),
        ('(= $x @y $"a b")', "(= x y a b)"),
        ("(= a (; block (; nested ;) ;) b) ;; comment", "(= a b)"),
        ("(member? x [1 2 3])", "(member? x [1 2 3])"),
        ("(= [] [] ())", "(= [] [] ())"),
        ("(< a.b-c:d/e@f g?h)", "(< a.b-c:d/e@f g?h)"),
        ("(exists? subject.x)", "(exists? subject.x)"),
        ("((and) true)", "((and) true)"),
    ],
)
def test_full_parse_and_display(text: str, display: str) -> None:
    expr = parse_expr(text)
    assert str(expr) == display


@pytest.mark.parametrize(
    "text",
    [
        "(a)",
        '"a"',
        "a",
        "(= a b",
        "(= a b]",
        "[= a b)",
        "(= a (b)",
        "(= 9223372036854775808 1)",
        "(= 1.5_0 1)",
        "(= 0x1.8p3 1)",
        "(= a#b 1)",
        "(= 1a 1)",
        "(= a, b)",
        "(= {a} b)",
        '(= "\\q" b)',
        '(= "\\ff" b)',  # not UTF-8
        '(= "a',
        "(= a (; unterminated",
        '(= [1 "a"] b)',  # a sequence must hold comparable values
        "(= $ b)",
        "(= @ b)",
        "(= @1x b)",
        "(= é b)",
        '(= "\u202e" b)',
        "(= ab;c)",
    ],
)
def test_full_parse_errors(text: str) -> None:
    with pytest.raises(PolicyError):
        parse_expr(text)


def test_full_parse_empty_and_extremes() -> None:
    assert parse_expr_optional("  ;; nothing\n (; here ;) ") is None
    with pytest.raises(PolicyError):
        parse_expr("")
    assert parse_expr("(= -9223372036854775808 9223372036854775807)") == op(
        "=", Int(-(2**63)), Int(2**63 - 1)
    )
    nested = "[" * 2000 + "]" * 2000
    expr = parse_expr(f"(= {nested} {nested})")
    assert evaluate(expr, {}) == TRUE
    assert str(parse_expr(str(expr))) == str(expr)
    assert expr_from_cbor(expr_to_cbor(op("=", Float(1.5)))) == op("=", Float(1.5))


def test_policy_tries_boolean_first() -> None:
    assert isinstance(parse_policy("web and admin"), BooleanPolicy)
    assert isinstance(parse_policy('(= subject.web "true")'), FullPolicy)
    assert parse_policy("web").to_expr() == parse_expr('(= subject.web "true")')
    with pytest.raises(PolicyError):
        parse_policy("")
    assert has_credential_expr() == parse_expr("(= subject.has_credential true)")


def test_expr_cbor_errors() -> None:
    for bad in (
        [0, ["x"]],
        [2, [1.5]],
        [2, [True]],
        [2, [2**63]],
        [3, [1]],
        [4, [1]],
        [1, [b"x"]],
        [6, ["x"]],
    ):
        with pytest.raises(DecodeError):
            expr_from_cbor(bad)
    for bad_policy in ([2, [[1, ["x"]]]], [0, []], [True, [[1, ["x"]]]]):
        with pytest.raises(DecodeError):
            policy_from_cbor(bad_policy)
    assert expr_from_cbor([2, [-5, "ignored extra field"]]) == Int(-5)


# -- evaluation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "outcome"),
    [
        ("(and)", True),
        ("(or)", False),
        ("(and true true)", True),
        ("(and false unbound)", False),
        ("(or true unbound)", True),
        ("(and true unbound)", "error"),
        ("(and 1 true)", "error"),
        ('(and true "x")', "non-boolean"),  # the last argument is returned unchecked
        ('(or false "x")', "non-boolean"),
        ("(not true)", False),
        ("(not true false)", "error"),
        ("(not 1)", "error"),
        ("(if true 1 unbound)", "non-boolean"),
        ("(if false unbound false)", False),
        ("(if 1 true false)", "error"),
        ("(if true false)", "error"),
        ("(= 1 1 1)", True),
        ('(= 1 2 "x")', False),  # the first unequal pair decides
        ('(= 1 1 "x")', "error"),
        ("(= 1)", "error"),
        ("(!= 1 2)", True),
        ("(!=)", False),
        ("(!= 1)", False),
        ("(< 1 2 3)", True),
        ("(< 1 3 2)", False),
        ("(> 3 2 1)", True),
        ('(< "a" "b")', True),
        ("(< false true)", True),
        ("(< [1 2] [0 0 0])", True),  # sequences: length first
        ("(< [1 2] [1 3])", True),
        ("(< nan 1.0)", False),
        ("(= nan nan)", False),
        ("(< 1 1.0)", "error"),
        ("(member? 2 [1 2 3])", True),
        ("(member? 4 [1 2 3])", False),
        ('(member? "a" [1 2])', "error"),
        ("(member? 1 1)", "error"),
        ("(member? 1)", "error"),
        ("(exists? subject.identifier subject.has_credential)", True),
        ("(exists? nope 1)", False),  # stops at the first unbound name
        ("(exists? subject.identifier 1)", "error"),
        ("((= 1 1) 2)", "error"),
        ("(= () ())", True),
        ("(= subject.identifier subject.identifier)", True),
    ],
)
def test_evaluation(text: str, outcome: Any) -> None:
    env = subject_env(ID, {}, base=resource_env("outlet"))
    assert _outcome(parse_expr(text), env) == outcome


def test_evaluate_values() -> None:
    with pytest.raises(PolicyError):
        evaluate(op("unknown", Int(1)), {})
    # sequence elements are evaluated (such a sequence cannot be written in text: its
    # elements are of different variants)
    assert evaluate(op("=", Seq((Int(1), op("=", Int(1), Int(1)))), Seq((Int(1), TRUE))), {}) == TRUE
    assert evaluate(parse_expr("(if true [1 2] 3)"), {}) == Seq((Int(1), Int(2)))
    assert evaluate(op("and"), {}) == TRUE
    assert evaluate(List(()), {}) == UNIT
    # a bound value is evaluated in turn
    assert evaluate(Ident("x"), {"x": op("not", FALSE)}) == TRUE


def test_equals_and_compare() -> None:
    assert equals(Seq((Int(1), Str("a"))), Seq((Int(2), Int(3)))) is False  # first pair decides
    with pytest.raises(PolicyError):
        equals(Seq((Int(1), Str("a"))), Seq((Int(1), Int(3))))
    with pytest.raises(PolicyError):
        equals(Seq(()), List(()))
    assert equals(Seq((Int(1),)), Seq(())) is False
    assert compare(Str("a"), Str("b")) == -1
    assert compare(Float(math.nan), Float(1.0)) is None
    assert compare(List((Int(1),)), List((Int(1),))) == 0


def test_subject_env() -> None:
    env = subject_env(ID, {"role": "admin", "identifier": "spoofed"}, base=resource_env("r"))
    assert env["subject.identifier"] == Str("spoofed")  # the bare-key check lets it through
    assert env["subject.has_credential"] == TRUE
    assert env["subject.role"] == Str("admin")
    assert env["resource.id"] == Str("r") and env["action.id"] == Str("handle_message")
    assert subject_env(ID, None)["subject.has_credential"] == FALSE
    no_authority = subject_env(ID, {"role": "admin"}, has_authority=False)
    assert "subject.has_credential" not in no_authority and "subject.role" not in no_authority
    raw = subject_env(ID, {b"k": b"v", b"\xff": b"x", b"bad": b"\xff"})
    assert raw["subject.k"] == Str("v") and "subject.bad" not in raw
    # an attribute whose bare key is already bound is skipped
    assert subject_env(ID, {"resource.id": "x"}, base=resource_env("r")).get("subject.resource.id") is None
    assert not is_authorized(has_credential_expr(), no_authority)


# -- property tests ---------------------------------------------------------------------

_IDENT_START = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!%&*/<=>?~_^"
_IDENT_REST = _IDENT_START + "0123456789.+-/:<=>?@"
_RESERVED_WORDS = {"true", "false", "inf", "nan"}

idents = st.builds(
    lambda a, b: a + b,
    st.sampled_from(_IDENT_START),
    st.text(alphabet=_IDENT_REST, max_size=8),
).filter(lambda s: s not in _RESERVED_WORDS and not s.startswith("nan:0x"))
strings = st.text(max_size=10).filter(lambda s: "\0" not in s)
atoms: st.SearchStrategy[Expr] = st.one_of(
    strings.map(Str),
    st.integers(-(2**63), 2**63 - 1).map(Int),
    st.floats(allow_nan=False).map(Float),
    st.booleans().map(Bool),
    idents.map(Ident),
)
homogeneous_seqs = st.one_of(
    st.lists(strings.map(Str), max_size=4),
    st.lists(st.integers(-1000, 1000).map(Int), max_size=4),
    st.lists(idents.map(Ident), max_size=4),
).map(lambda items: Seq(tuple(items)))
exprs = st.recursive(
    atoms | homogeneous_seqs,
    lambda children: st.lists(children, max_size=4).map(lambda items: List(tuple(items))),
    max_leaves=12,
)
operations = st.builds(
    lambda name, args: List((Ident(name), *args)),
    st.sampled_from(["and", "or", "not", "if", "<", ">", "=", "!=", "member?", "exists?"]),
    st.lists(exprs, max_size=4),
)


@given(operations)
def test_full_display_parse_round_trip(expr: List) -> None:
    text = str(expr)
    parsed = parse_expr(text)
    assert str(parsed) == text
    assert equals(parsed, expr)
    assert expr_from_cbor(cbor.decode(cbor.encode(expr_to_cbor(expr)))) == expr


names = st.builds(
    lambda a, b: a + b,
    st.sampled_from("abcdefghijklmxyzABZ_-"),
    st.text(alphabet="abcxyz019._-", max_size=6),
).filter(lambda s: not s.startswith("not"))
booleans = st.recursive(
    names.map(Name),
    lambda children: st.one_of(
        st.builds(Or, children, children), st.builds(And, children, children), st.builds(Not, children)
    ),
    max_leaves=8,
)


shallow_booleans = st.recursive(
    names.map(Name),
    lambda children: st.one_of(
        st.builds(Or, children, children), st.builds(And, children, children), st.builds(Not, children)
    ),
    max_leaves=4,
).filter(lambda e: _depth(e) <= 2)


def _depth(e: BooleanExpr) -> int:
    if isinstance(e, (Or, And)):
        return 1 + max(_depth(e.left), _depth(e.right))
    if isinstance(e, Not):
        return 1 + _depth(e.expr)
    return 0


@given(shallow_booleans)
def test_boolean_display_parse_round_trip(expr: BooleanExpr) -> None:
    # Exact up to two operator levels; deeper, Ockam's display parenthesises only one
    # level per operand, so the text may regroup (see test_boolean_display).
    assert parse_boolean(str(expr)) == expr


@given(booleans)
def test_boolean_display_parses_and_cbor_round_trip(expr: BooleanExpr) -> None:
    parse_boolean(str(expr))
    assert boolean_from_cbor(cbor.decode(cbor.encode(boolean_to_cbor(expr)))) == expr
    policy = BooleanPolicy(expr)
    assert policy_from_cbor(cbor.decode(cbor.encode(policy.to_cbor()))) == policy


@given(booleans, st.dictionaries(st.sampled_from(["a", "b", "x", "y"]), st.sampled_from(["true", "no"])))
def test_boolean_evaluation_never_crashes(expr: BooleanExpr, attributes: dict[str, str]) -> None:
    result = is_authorized(BooleanPolicy(expr).to_expr(), subject_env(ID, attributes))
    assert isinstance(result, bool)


@settings(max_examples=300)
@given(st.text(alphabet='()[]" ;\\$@abnort=<>0123456789.-_x\n\u202e', max_size=40) | st.text(max_size=20))
def test_parsers_only_raise_policy_errors(text: str) -> None:
    try:
        policy = parse_policy(text)
    except PolicyError:
        return
    expr = policy.to_expr()
    is_authorized(expr, subject_env(ID, {"a": "true"}))
    cbor.encode(policy.to_cbor())


@given(st.binary(max_size=64))
def test_cbor_decoders_only_raise_ockam_errors(data: bytes) -> None:
    try:
        policy_from_cbor(cbor.decode(data))
    except OckamError:
        pass
    try:
        expr_from_cbor(cbor.decode(data))
    except OckamError:
        pass


@given(exprs)
def test_expr_decoder_on_mutated_cbor(expr: Expr) -> None:
    encoded = bytearray(cbor.encode(expr_to_cbor(expr)))
    for i in range(0, len(encoded), 3):
        mutated = bytes(encoded[:i]) + bytes([encoded[i] ^ 0x21]) + bytes(encoded[i + 1 :])
        try:
            expr_from_cbor(cbor.decode(mutated))
        except OckamError:
            pass
