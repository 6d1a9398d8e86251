"""Ockam addresses: a transport type (u8) and an opaque value, text form ``tt#value``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..errors import DecodeError
from . import bare

__all__ = ["LOCAL", "TCP", "UDP", "Address"]

LOCAL = 0
TCP = 1
UDP = 2


@dataclass(frozen=True, slots=True)
class Address:
    """A hop of a route. ``Address.parse("echo") == Address(0, b"echo")``."""

    transport_type: int
    value: bytes

    @classmethod
    def local(cls, name: str) -> Address:
        return cls(LOCAL, name.encode("utf-8"))

    @classmethod
    def tcp(cls, host_port: str) -> Address:
        return cls(TCP, host_port.encode("utf-8"))

    @classmethod
    def random_local(cls) -> Address:
        """A fresh worker address: 16 random bytes as 32 lowercase hex characters."""
        return cls(LOCAL, os.urandom(16).hex().encode("ascii"))

    @classmethod
    def parse(cls, text: str) -> Address:
        parts = text.split("#")
        if len(parts) == 1:
            return cls(LOCAL, text.encode("utf-8"))
        if len(parts) != 2:
            raise DecodeError(f"invalid address {text!r}: more than one '#'")
        tt, value = parts
        if not tt.isdigit() or not tt.isascii() or int(tt) > 255:
            raise DecodeError(f"invalid address {text!r}: transport type must be 0-255")
        return cls(int(tt), value.encode("utf-8"))

    @property
    def text(self) -> str:
        """The value as text (lossy for binary values)."""
        try:
            return self.value.decode("utf-8")
        except UnicodeDecodeError:
            return "Invalid UTF-8"

    @property
    def is_local(self) -> bool:
        return self.transport_type == LOCAL

    def __str__(self) -> str:
        return f"{self.transport_type}#{self.text}"

    def __repr__(self) -> str:
        return f"Address({str(self)!r})"

    # -- binary forms
    def to_cbor(self) -> list[Any]:
        return [self.transport_type, self.value]

    @classmethod
    def from_cbor(cls, obj: Any) -> Address:
        if (
            not isinstance(obj, list)
            or len(obj) < 2
            or not isinstance(obj[0], int)
            or isinstance(obj[0], bool)
            or not 0 <= obj[0] <= 255
            or not isinstance(obj[1], bytes)
        ):
            raise DecodeError("invalid CBOR address")
        return cls(obj[0], obj[1])

    def to_bare(self) -> bytes:
        return bytes((self.transport_type,)) + bare.encode_data(self.value)

    @classmethod
    def from_bare(cls, data: bytes, pos: int = 0) -> tuple[Address, int]:
        if pos >= len(data):
            raise DecodeError("truncated BARE address")
        value, end = bare.decode_data(data, pos + 1)
        return cls(data[pos], value), end
