"""Request bodies and addresses of the authority services (authority.md §2, §4-§7).

The services speak the node-API envelope (:mod:`ockam.protocol.api_wire`) through a
secure channel.  Identifiers are carried here as their 32 raw bytes (CBOR byte strings).

```
AddMember   = {1: h'<identifier>', 2: {text: text}}
CreateToken = {1: {text: text}, 2: ttl_secs?, 3: ttl_count?}
OneTimeCode = {1: h'<32 bytes>'}
```
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..codec.byte_map import text_map_from_cbor
from ..errors import DecodeError

__all__ = [
    "CREDENTIAL_ISSUER",
    "DEFAULT_TOKEN_TTL_COUNT",
    "DEFAULT_TOKEN_TTL_SECS",
    "DIRECT_AUTHENTICATOR",
    "ENROLLMENT_TOKEN_ACCEPTOR",
    "ENROLLMENT_TOKEN_ISSUER",
    "OCKAM_RELAY_ATTRIBUTE",
    "OCKAM_ROLE_ATTRIBUTE",
    "OCKAM_ROLE_ENROLLER",
    "OCKAM_TLS_ATTRIBUTE",
    "PROJECT_MEMBER_SCHEMA",
    "SECURE_CHANNEL_LISTENER",
    "TRUST_CONTEXT_ID",
    "AddMember",
    "CreateToken",
    "OneTimeCode",
]

# Worker addresses of an authority node.
SECURE_CHANNEL_LISTENER = "api"
DIRECT_AUTHENTICATOR = "direct_authenticator"
ENROLLMENT_TOKEN_ISSUER = "enrollment_token_issuer"
ENROLLMENT_TOKEN_ACCEPTOR = "enrollment_token_acceptor"
CREDENTIAL_ISSUER = "credential_issuer"

# Well-known attributes.
OCKAM_ROLE_ATTRIBUTE = "ockam-role"
OCKAM_ROLE_ENROLLER = "enroller"
OCKAM_RELAY_ATTRIBUTE = "ockam-relay"
OCKAM_TLS_ATTRIBUTE = "ockam-tls-certificate"
TRUST_CONTEXT_ID = "trust_context_id"
PROJECT_MEMBER_SCHEMA = 1

DEFAULT_TOKEN_TTL_SECS = 600
DEFAULT_TOKEN_TTL_COUNT = 1


def _map(obj: Any, what: str) -> dict[Any, Any]:
    if not isinstance(obj, dict):
        raise DecodeError(f"invalid {what}: expected a map")
    return obj


def _optional_uint(obj: Any, what: str) -> int | None:
    if obj is None:
        return None
    if not isinstance(obj, int) or isinstance(obj, bool) or obj < 0:
        raise DecodeError(f"invalid {what}")
    return obj


@dataclass(frozen=True)
class AddMember:
    member: bytes  # 32-byte identifier
    attributes: Mapping[str, str] = field(default_factory=dict)

    def to_cbor(self) -> dict[int, Any]:
        return {1: self.member, 2: dict(sorted(self.attributes.items()))}

    @classmethod
    def from_cbor(cls, obj: Any) -> AddMember:
        body = _map(obj, "AddMember")
        member = body.get(1)
        if not isinstance(member, bytes) or len(member) != 32:
            raise DecodeError("invalid AddMember: the member must be a 32-byte identifier")
        return cls(member, text_map_from_cbor(body.get(2)))


@dataclass(frozen=True)
class CreateToken:
    attributes: Mapping[str, str] = field(default_factory=dict)
    ttl_secs: int | None = None
    ttl_count: int | None = None

    def to_cbor(self) -> dict[int, Any]:
        body: dict[int, Any] = {1: dict(sorted(self.attributes.items()))}
        if self.ttl_secs is not None:
            body[2] = self.ttl_secs
        if self.ttl_count is not None:
            body[3] = self.ttl_count
        return body

    @classmethod
    def from_cbor(cls, obj: Any) -> CreateToken:
        body = _map(obj, "CreateToken")
        return cls(
            text_map_from_cbor(body.get(1)),
            _optional_uint(body.get(2), "CreateToken ttl_secs"),
            _optional_uint(body.get(3), "CreateToken ttl_count"),
        )


@dataclass(frozen=True)
class OneTimeCode:
    """A random 32-byte enrollment code; its text form is 64 lowercase hex digits."""

    code: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.code, bytes) or len(self.code) != 32:
            raise DecodeError("a one-time code is 32 bytes")

    @classmethod
    def generate(cls) -> OneTimeCode:
        return cls(os.urandom(32))

    @classmethod
    def parse(cls, text: str) -> OneTimeCode:
        try:
            raw = bytes.fromhex(text.strip())
        except ValueError:
            raise DecodeError("a one-time code must be 64 hex digits") from None
        return cls(raw)

    @property
    def hex(self) -> str:
        return self.code.hex()

    def __str__(self) -> str:
        return self.hex

    def __repr__(self) -> str:
        return "OneTimeCode(…)"

    def to_cbor(self) -> dict[int, Any]:
        return {1: self.code}

    @classmethod
    def from_cbor(cls, obj: Any) -> OneTimeCode:
        code = _map(obj, "OneTimeCode").get(1)
        if not isinstance(code, bytes):
            raise DecodeError("invalid OneTimeCode")
        return cls(code)
