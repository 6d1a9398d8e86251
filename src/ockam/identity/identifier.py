"""Identity identifiers: the SHA-256 of an identity's first change, shown as ``I<64 hex>``."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import IdentityError

__all__ = ["IDENTIFIER_LENGTH", "Identifier"]

IDENTIFIER_LENGTH = 32


@dataclass(frozen=True, slots=True, order=True)
class Identifier:
    """A 32-byte identifier; ``str()`` gives ``"I"`` followed by 64 lowercase hex digits."""

    value: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.value, bytes) or len(self.value) != IDENTIFIER_LENGTH:
            raise IdentityError("an identifier is 32 bytes")

    @classmethod
    def parse(cls, text: str) -> Identifier:
        """Parse ``I<64 hex>`` (surrounding whitespace ignored, hex digits in any case)."""
        stripped = text.strip()
        if not stripped.startswith("I"):
            raise IdentityError(f"invalid identifier {text!r}: it must start with 'I'")
        digits = stripped[1:]
        if len(digits) != 2 * IDENTIFIER_LENGTH or not digits.isascii():
            raise IdentityError(f"invalid identifier {text!r}: expected 'I' and 64 hex digits")
        try:
            return cls(bytes.fromhex(digits))
        except ValueError:
            raise IdentityError(f"invalid identifier {text!r}: expected 'I' and 64 hex digits") from None

    @classmethod
    def coerce(cls, value: Identifier | str | bytes) -> Identifier:
        """Accept an identifier, its text form or its 32 bytes."""
        if isinstance(value, Identifier):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        return cls(bytes(value))

    def __str__(self) -> str:
        return "I" + self.value.hex()

    def __repr__(self) -> str:
        return f"Identifier({str(self)!r})"
