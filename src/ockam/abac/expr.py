"""ABAC expression values: the seven variants, canonical text, CBOR form, equality and ordering.

An expression is one of :class:`Str`, :class:`Int`, :class:`Float`, :class:`Bool`,
:class:`Ident`, :class:`Seq` (written ``[a b]``) and :class:`List` (written ``(op a b)``).
CBOR: ``[variant, [field]]`` with variants 1..7 in that order.

Comparisons used by the evaluator (:func:`equals`, :func:`compare`) are only defined
between values of the same variant; a mixed pair raises :class:`PolicyError`.

Everything that walks an expression is written with an explicit stack, so arbitrarily
deep expressions (the full-syntax parser accepts them) never hit Python's recursion limit.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from typing import Any

from ..errors import DecodeError, PolicyError

__all__ = [
    "FALSE",
    "TRUE",
    "UNIT",
    "Bool",
    "Expr",
    "Float",
    "Ident",
    "Int",
    "List",
    "Seq",
    "Str",
    "compare",
    "display",
    "equals",
    "expr_from_cbor",
    "expr_to_cbor",
    "format_float",
    "format_str",
    "op",
]

I64_MIN = -(2**63)
I64_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Str:
    value: str

    def __str__(self) -> str:
        return format_str(self.value)


@dataclass(frozen=True, slots=True)
class Int:
    value: int

    def __post_init__(self) -> None:
        if isinstance(self.value, bool) or not I64_MIN <= self.value <= I64_MAX:
            raise PolicyError(f"integer {self.value!r} does not fit in 64 bits")

    def __str__(self) -> str:
        return str(self.value)


@dataclass(frozen=True, slots=True)
class Float:
    value: float

    def __str__(self) -> str:
        return format_float(self.value)


@dataclass(frozen=True, slots=True)
class Bool:
    value: bool

    def __str__(self) -> str:
        return "true" if self.value else "false"


@dataclass(frozen=True, slots=True)
class Ident:
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Seq:
    items: tuple[Expr, ...] = ()

    def __str__(self) -> str:
        return display(self)


@dataclass(frozen=True, slots=True)
class List:
    items: tuple[Expr, ...] = ()

    def __str__(self) -> str:
        return display(self)


Expr = Str | Int | Float | Bool | Ident | Seq | List

TRUE = Bool(True)
FALSE = Bool(False)
UNIT = List(())


def op(name: str, *args: Expr) -> List:
    """``op("=", Ident("subject.x"), Str("y"))`` is ``(= subject.x "y")``."""
    return List((Ident(name), *args))


# -- canonical text -------------------------------------------------------------------

# Characters with the Unicode Grapheme_Extend property that are not Mn/Me (Other_Grapheme_Extend).
_OTHER_GRAPHEME_EXTEND = frozenset(
    (
        *(0x09BE, 0x09D7, 0x0B3E, 0x0B57, 0x0BBE, 0x0BD7, 0x0CC2, 0x0CD5, 0x0CD6, 0x0D3E, 0x0D57),
        *(0x0DCF, 0x0DDF, 0x1B35, 0x200C, 0x302E, 0x302F, 0xFF9E, 0xFF9F, 0x1133E, 0x11357),
        *(0x114B0, 0x114BD, 0x115AF, 0x11930, 0x1D165),
        *range(0x1D16E, 0x1D173),
        *range(0x1F3FB, 0x1F400),
        *range(0xE0020, 0xE0080),
    )
)


def _escape_char(c: str) -> str:
    """One character as Rust's ``{:?}`` of a string writes it."""
    if c == "\0":
        return "\\0"
    if c == "\t":
        return "\\t"
    if c == "\r":
        return "\\r"
    if c == "\n":
        return "\\n"
    if c == "\\":
        return "\\\\"
    if c == '"':
        return '\\"'
    code = ord(c)
    if code < 0x7F and c.isprintable():
        return c
    extend = unicodedata.category(c) in ("Mn", "Me") or code in _OTHER_GRAPHEME_EXTEND
    if extend or not c.isprintable():
        return f"\\u{{{code:x}}}"
    return c


def format_str(value: str) -> str:
    """A string literal in canonical form: double quotes, Rust debug escaping."""
    return '"' + "".join(_escape_char(c) for c in value) + '"'


def format_float(value: float) -> str:
    """A float in canonical form (Rust debug formatting; ``nan``, ``+inf``, ``-inf``)."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "-inf" if value < 0 else "+inf"
    text = repr(value)  # shortest round-trip digits, same switch to exponent form as Rust
    if "e" in text:
        mantissa, exponent = text.split("e")
        return f"{mantissa}e{int(exponent)}"
    return text


def display(expr: Expr) -> str:
    """Canonical text of ``expr`` (``str(expr)`` does the same)."""
    out: list[str] = []
    todo: list[Expr | str] = [expr]
    while todo:
        item = todo.pop()
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, (Seq, List)):
            opening, closing = ("[", "]") if isinstance(item, Seq) else ("(", ")")
            out.append(opening)
            todo.append(closing)
            for i in range(len(item.items) - 1, -1, -1):
                todo.append(item.items[i])
                if i:
                    todo.append(" ")
        else:
            out.append(str(item))
    return "".join(out)


# -- CBOR -------------------------------------------------------------------------------

_VARIANT = {Str: 1, Int: 2, Float: 3, Bool: 4, Ident: 5, Seq: 6, List: 7}


def expr_to_cbor(expr: Expr) -> list[Any]:
    """The CBOR-shaped value of ``expr`` (``[variant, [field]]``) for :func:`ockam.codec.cbor.encode`."""
    results: list[Any] = []
    todo: list[tuple[Expr, bool]] = [(expr, False)]
    while todo:
        node, children_done = todo.pop()
        if isinstance(node, (Seq, List)):
            if children_done:
                count = len(node.items)
                start = len(results) - count
                items = results[start:]
                del results[start:]
                results.append([_VARIANT[type(node)], [items]])
            else:
                todo.append((node, True))
                todo.extend((child, False) for child in reversed(node.items))
        elif isinstance(node, Ident):
            results.append([5, [node.name]])
        else:
            results.append([_VARIANT[type(node)], [node.value]])
    return results[0]  # type: ignore[no-any-return]


def expr_from_cbor(obj: Any) -> Expr:
    """Decode the CBOR-shaped value of an expression; raises :class:`DecodeError`."""
    if not isinstance(obj, list) or len(obj) != 2 or not isinstance(obj[1], list) or not obj[1]:
        raise DecodeError("invalid ABAC expression: expected [variant, [field]]")
    variant, fields = obj
    field = fields[0]
    if variant in (1, 5):
        if not isinstance(field, str):
            raise DecodeError("invalid ABAC expression: expected text")
        return Str(field) if variant == 1 else Ident(field)
    if variant == 2:
        if type(field) is not int or not I64_MIN <= field <= I64_MAX:
            raise DecodeError("invalid ABAC expression: expected a 64-bit integer")
        return Int(field)
    if variant == 3:
        if type(field) is not float:
            raise DecodeError("invalid ABAC expression: expected a float")
        return Float(field)
    if variant == 4:
        if type(field) is not bool:
            raise DecodeError("invalid ABAC expression: expected a boolean")
        return Bool(field)
    if variant in (6, 7):
        if not isinstance(field, list):
            raise DecodeError("invalid ABAC expression: expected an array")
        items = tuple(expr_from_cbor(x) for x in field)
        return Seq(items) if variant == 6 else List(items)
    raise DecodeError(f"invalid ABAC expression: unknown variant {variant!r}")


# -- equality and ordering --------------------------------------------------------------


def _mismatch(a: Expr, b: Expr) -> PolicyError:
    return PolicyError(f"type mismatch: {display(a)} and {display(b)} cannot be compared")


def equals(a: Expr, b: Expr) -> bool:
    """Structural equality of two values of the same variant; a mixed pair raises PolicyError.

    Elements of sequences and lists are compared left to right and the first unequal
    pair decides (later pairs are not looked at, so they cannot raise)."""
    todo = [(a, b)]
    while todo:
        x, y = todo.pop()
        if isinstance(x, (Seq, List)) and type(x) is type(y):
            assert isinstance(y, (Seq, List))
            if len(x.items) != len(y.items):
                return False
            todo.extend(reversed(list(zip(x.items, y.items, strict=True))))
        elif type(x) is not type(y):
            raise _mismatch(x, y)
        elif _scalar(x) != _scalar(y):  # by value: NaN is unequal to itself
            return False
    return True


def _scalar(x: Expr) -> Any:
    if isinstance(x, Ident):
        return x.name
    if isinstance(x, (Seq, List)):  # pragma: no cover (handled by the callers)
        raise TypeError("not a scalar")
    return x.value


def compare(a: Expr, b: Expr) -> int | None:
    """Order two values of the same variant: -1, 0, 1, or None when unordered (NaN).

    Sequences and lists are ordered by length first, then element-wise. A mixed pair
    raises PolicyError."""
    todo = [(a, b)]
    result: int | None = 0
    while todo:
        x, y = todo.pop()
        if isinstance(x, (Seq, List)) and type(x) is type(y):
            assert isinstance(y, (Seq, List))
            result = _cmp(len(x.items), len(y.items))
            if result != 0:
                return result
            todo.extend(reversed(list(zip(x.items, y.items, strict=True))))
            continue
        if type(x) is not type(y):
            raise _mismatch(x, y)
        result = _cmp(_scalar(x), _scalar(y))
        if result != 0:
            return result
    return result


def _cmp(x: Any, y: Any) -> int | None:
    if x < y:
        return -1
    if x > y:
        return 1
    if x == y:
        return 0
    return None  # NaN
