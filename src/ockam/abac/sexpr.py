"""The full (s-expression) policy syntax: ``(and (= subject.role "admin") (> 10 2))``.

Ockam tokenises policies with the WebAssembly text-format lexer, so this module follows
the WAT lexical rules: whitespace is space, tab, CR, LF; ``;;`` line comments and nested
``(; ... ;)`` block comments; WAT integers (decimal or ``0x`` hex, optional sign, ``_``
separators) read as i64; WAT floats including ``inf``, ``nan`` and ``nan:0x..`` (decimal
floats only, no separators); WAT strings with ``\\n \\t \\r \\" \\' \\\\ \\hh \\u{..}``
escapes that must decode to UTF-8; ``$name`` identifiers (kept without the ``$``);
``@name`` annotations (kept without the ``@`` when the rest is a valid identifier).
``(`` ``)`` delimit a list, ``[`` ``]`` a sequence, ``true``/``false`` are booleans and any
other word must match the identifier pattern.

Quirks kept for compatibility: several top-level values are wrapped into one list, a
closing bracket without an opening one wraps everything read so far, and the result
must be an *operation* (an operator name or a list starting with one).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from ..errors import PolicyError
from .expr import Bool, Expr, Float, Ident, Int, List, Seq, Str, equals

__all__ = ["OPERATORS", "is_operation", "parse_expr", "parse_expr_optional"]

OPERATORS = ("and", "or", "not", "if", "<", ">", "=", "!=", "member?", "exists?")

_IDENT = re.compile(r"[a-zA-Z!$%&*/<=>?~_^][a-zA-Z0-9!$%&*/<=>?~_^.+-@]*")
_IDCHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&'*+-./:<=>?@\\^_`|~")
_WHITESPACE = frozenset(" \t\r\n")
_CONFUSING = frozenset("\u202a\u202b\u202d\u202e\u2066\u2067\u2068\u206c\u2069")
_HEX = frozenset("0123456789abcdefABCDEF")
_DEC = frozenset("0123456789")
_SIMPLE_ESCAPES = {'"': b'"', "'": b"'", "t": b"\t", "n": b"\n", "r": b"\r", "\\": b"\\"}


def _error(message: str) -> PolicyError:
    return PolicyError(f"invalid policy expression: {message}")


# -- tokens -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "(" ")" "[" "]" or "value"
    value: Expr | None = None


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def next_token(self) -> _Token | None:
        """The next significant token, or None at the end (whitespace and comments skipped)."""
        text = self.text
        while self.pos < len(text):
            c = text[self.pos]
            if c in _WHITESPACE:
                self.pos += 1
            elif text.startswith("(;", self.pos):
                self._block_comment()
            elif text.startswith(";;", self.pos):
                end = len(text)
                for stop in ("\n", "\r"):
                    found = text.find(stop, self.pos)
                    if found != -1:
                        end = min(end, found)
                self._check_comment(text[self.pos : end])
                self.pos = end
            elif c in "()[]":
                self.pos += 1
                return _Token(c)
            elif c in _IDCHARS or c == '"':
                return _Token("value", self._word())
            elif c in ";,{}":
                raise _error(f"unexpected {c!r}")
            else:
                raise _error(f"unexpected character {c!r}")
        return None

    def _check_comment(self, comment: str) -> None:
        for c in comment:
            if c in _CONFUSING:
                raise _error(f"confusing unicode character U+{ord(c):04X} in a comment")

    def _block_comment(self) -> None:
        text, start = self.text, self.pos
        level, i = 1, start + 2
        while i < len(text):
            if text.startswith("(;", i):
                level += 1
                i += 2
            elif text.startswith(";)", i):
                level -= 1
                i += 2
                if level == 0:
                    self._check_comment(text[start:i])
                    self.pos = i
                    return
            else:
                i += 1
        raise _error("unterminated block comment")

    def _word(self) -> Expr:
        """A run of idchars and strings (a WAT 'reserved' token), classified."""
        text, start = self.text, self.pos
        idchars = strings = 0
        last_string = b""
        while self.pos < len(text):
            c = text[self.pos]
            if c in _IDCHARS:
                idchars += 1
                self.pos += 1
            elif c == '"':
                strings += 1
                last_string, self.pos = _read_string(text, self.pos + 1)
            else:
                break
        src = text[start : self.pos]
        if idchars == 0 and strings == 1:
            return Str(_utf8(last_string))
        if strings == 0:
            number = _number(src)
            if number is not None:
                return number
            if src[0] == "$":
                if len(src) == 1:
                    raise _error("empty $identifier")
                return Ident(src[1:])
            if src[0] == "@":
                return _annotation(src[1:])
            if src in ("true", "false"):
                return Bool(src == "true")
        elif idchars == 1 and strings == 1 and src[0] == "$":
            name = _utf8(last_string)
            if not name:
                raise _error("empty $identifier")
            return Ident(name)
        elif idchars == 1 and strings == 1 and src[0] == "@":
            return _annotation(_utf8(last_string))
        if _IDENT.fullmatch(src):
            return Ident(src)
        raise _error(f"invalid token {src!r}")


def _annotation(name: str) -> Ident:
    if not name:
        raise _error("empty @annotation")
    if not _IDENT.fullmatch(name):
        raise _error(f"invalid annotation token {name!r}")
    return Ident(name)


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _error("string is not valid UTF-8") from e


def _read_string(text: str, pos: int) -> tuple[bytes, int]:
    """Read a WAT string body starting after its opening quote; return (bytes, position after)."""
    out = bytearray()
    while True:
        if pos >= len(text):
            raise _error("unterminated string")
        c = text[pos]
        pos += 1
        if c == '"':
            return bytes(out), pos
        if c == "\\":
            if pos >= len(text):
                raise _error("unterminated string")
            e = text[pos]
            pos += 1
            if e in _SIMPLE_ESCAPES:
                out += _SIMPLE_ESCAPES[e]
            elif e == "u":
                value, pos = _unicode_escape(text, pos)
                out += chr(value).encode("utf-8")
            elif e in _HEX:
                if pos >= len(text):
                    raise _error("unterminated string")
                if text[pos] not in _HEX:
                    raise _error(f"invalid hex digit {text[pos]!r} in string escape")
                out.append(int(e + text[pos], 16))
                pos += 1
            else:
                raise _error(f"invalid string escape '\\{e}'")
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            raise _error(f"invalid character U+{ord(c):04X} in string")
        elif c in _CONFUSING:
            raise _error(f"confusing unicode character U+{ord(c):04X} in string")
        else:
            out += c.encode("utf-8")


def _unicode_escape(text: str, pos: int) -> tuple[int, int]:
    """Read ``{hexnum}`` of a ``\\u{...}`` escape; return (code point, position after '}')."""
    if pos >= len(text):
        raise _error("unterminated string")
    if text[pos] != "{":
        raise _error("expected '{' after \\u")
    pos += 1
    if pos >= len(text):
        raise _error("unterminated string")
    if text[pos] not in _HEX:
        raise _error(f"invalid hex digit {text[pos]!r}")
    value = int(text[pos], 16)
    pos += 1
    last_underscore = False
    while pos < len(text):
        c = text[pos]
        if c == "_":
            last_underscore = True
        elif c in _HEX:
            last_underscore = False
            value = value * 16 + int(c, 16)
            if value > 0xFFFFFFFF:
                raise _error("unicode escape too large")
        else:
            break
        pos += 1
    if last_underscore:
        raise _error("lone underscore in unicode escape")
    if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
        raise _error(f"invalid unicode scalar value {value:#x}")
    if pos >= len(text):
        raise _error("unterminated string")
    if text[pos] != "}":
        raise _error("expected '}' to close \\u{")
    return value, pos + 1


# -- numbers ----------------------------------------------------------------------------


def _digits(src: str, pos: int, valid: frozenset[str]) -> tuple[int, bool] | None:
    """Digits with single '_' separators at ``pos``: (position after, had underscores), or None."""
    if pos >= len(src) or src[pos] not in valid:
        return None
    pos += 1
    last_underscore = underscores = False
    while pos < len(src):
        c = src[pos]
        if c == "_" and not last_underscore:
            underscores = last_underscore = True
        elif c in valid:
            last_underscore = False
        else:
            break
        pos += 1
    if last_underscore:
        return None
    return pos, underscores


def _number(src: str) -> Expr | None:
    """Classify a token made of idchars as a WAT number; None when it is not one."""
    sign = src[0] if src[0] in "+-" else ""
    num = src[len(sign) :]
    if num == "inf":
        return Float(float("-inf") if sign == "-" else float("inf"))
    if num == "nan" or num.startswith("nan:0x"):
        if num != "nan":
            scanned = _digits(num, 6, _HEX)
            if scanned is None or scanned[0] != len(num):
                return None
        return Float(float("nan"))
    hexadecimal = num.startswith("0x")
    valid = _HEX if hexadecimal else _DEC
    scanned = _digits(num, 2 if hexadecimal else 0, valid)
    if scanned is None:
        return None
    pos, underscores = scanned
    if pos == len(num):
        digits = num.replace("_", "").replace("0x", "")
        value = int(("-" if sign == "-" else "") + digits, 16 if hexadecimal else 10)
        if not -(2**63) <= value <= 2**63 - 1:
            raise _error(f"integer {src} does not fit in 64 bits")
        return Int(value)
    if num[pos] == ".":
        pos += 1
        if pos < len(num) and num[pos] in valid:
            scanned = _digits(num, pos, valid)
            if scanned is None:
                return None
            pos, more = scanned
            underscores = underscores or more
    if pos < len(num):
        marker = num[pos]
        pos += 1
        if marker not in (("p", "P") if hexadecimal else ("e", "E")):
            return None
        if pos < len(num) and num[pos] in "+-":
            pos += 1
        scanned = _digits(num, pos, _DEC)
        if scanned is None:
            return None
        pos, more = scanned
        underscores = underscores or more
        if pos != len(num):
            return None
    # A WAT float token: Ockam converts it with Rust's decimal float parser, which
    # accepts neither '_' separators nor hexadecimal floats.
    if underscores or hexadecimal:
        raise _error(f"unsupported float literal {src}")
    return Float(float(src))


# -- parser -----------------------------------------------------------------------------

_OPEN_LIST = object()
_OPEN_SEQ = object()


def _close(stack: list[object], opening: object, other: object) -> tuple[Expr, ...]:
    """Pop the values up to the matching opening bracket (or everything, when there is none)."""
    items: list[Expr] = []
    while stack:
        entry = stack.pop()
        if entry is opening:
            break
        if entry is other:
            raise _error("mismatched brackets")
        items.append(entry)  # type: ignore[arg-type]
    items.reverse()
    return tuple(items)


def parse_expr_optional(text: str) -> Expr | None:
    """Parse the full syntax; None for text without any value (empty or only comments)."""
    lexer = _Lexer(text)
    stack: list[object] = []
    while (token := lexer.next_token()) is not None:
        if token.kind == "value":
            stack.append(token.value)
        elif token.kind in ("(", "["):
            stack.append(_OPEN_LIST if token.kind == "(" else _OPEN_SEQ)
        elif token.kind == ")":
            stack.append(List(_close(stack, _OPEN_LIST, _OPEN_SEQ)))
        else:
            items = _close(stack, _OPEN_SEQ, _OPEN_LIST)
            for x, y in itertools.pairwise(items):
                equals(x, y)  # raises PolicyError when two elements cannot be compared
            stack.append(Seq(items))
    if any(entry is _OPEN_LIST or entry is _OPEN_SEQ for entry in stack):
        raise _error("unclosed bracket")
    values: list[Expr] = stack  # type: ignore[assignment]
    if not values:
        return None
    expr = values[0] if len(values) == 1 else List(tuple(values))
    if not is_operation(expr):
        raise _error(f"the first identifier of {text!r} must be an operation, one of: {', '.join(OPERATORS)}")
    return expr


def parse_expr(text: str) -> Expr:
    """Parse the full syntax; an empty expression is an error."""
    expr = parse_expr_optional(text)
    if expr is None:
        raise _error("empty expression")
    return expr


def is_operation(expr: Expr) -> bool:
    """True for an operator name, or a list whose first element is (recursively) an operation."""
    while isinstance(expr, List):
        if not expr.items:
            return False
        expr = expr.items[0]
    return isinstance(expr, Ident) and expr.name in OPERATORS
