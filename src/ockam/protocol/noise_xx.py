"""Sans-IO Noise XX handshake, as Ockam 0.139 runs it.

Pattern ``-> e``, ``<- e, ee, s, es``, ``-> s, se`` with X25519, AES-256-GCM (nonce =
4 zero bytes + big-endian u64 counter, AAD = ``h``) and SHA-256 / HKDF-SHA-256.
Protocol name ``OCKAM_XX_25519_AES256_GCM_SHA256`` (32 bytes, used verbatim as the
initial ``h`` and ``ck``), empty prologue.  Message 1 carries no payload in Ockam;
messages 2 and 3 carry the sender's identity payload (built by the identity layer).

After message 3, ``(k1, k2) = HKDF(ck, "")`` and Ockam assigns the keys the other way
round from the Noise specification: **the initiator encrypts with k2** and decrypts with
k1, the responder encrypts with k1.

Usage (no sockets, no clock)::

    i = Handshake(initiator=True, static_key=i_static, payload=i_identity)
    r = Handshake(initiator=False, static_key=r_static, payload=r_identity)
    m1 = i.write_message()
    r.read_message(m1)
    m2 = r.write_message()
    peer_payload = i.read_message(m2)        # responder identity
    m3 = i.write_message()                   # initiator is now complete
    r.read_message(m3)                       # responder is now complete
    i.result().encryption_key == r.result().decryption_key

A message that fails to decode leaves the state untouched (the same message may not be
retried successfully, but nothing is half-applied).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import SecureChannelError
from .crypto import (
    AEAD_TAG_LENGTH,
    X25519_KEY_LENGTH,
    DhKey,
    X25519Secret,
    aes_gcm_nonce,
    hkdf_sha256,
    sha256,
)

__all__ = [
    "MAX_MESSAGE_SIZE",
    "PROTOCOL_NAME",
    "Handshake",
    "HandshakeResult",
    "Step",
    "initial_state",
    "protocol_name_bytes",
]

#: Ockam's Noise protocol name (exactly 32 ASCII bytes).
PROTOCOL_NAME = b"OCKAM_XX_25519_AES256_GCM_SHA256"
#: Largest handshake message Ockam encodes or accepts.
MAX_MESSAGE_SIZE = 65535

_KEY = X25519_KEY_LENGTH
_ENC_KEY = X25519_KEY_LENGTH + AEAD_TAG_LENGTH  # an encrypted static key: 48 bytes


def protocol_name_bytes(name: str | bytes) -> bytes:
    """The 32 name bytes Noise uses: the name padded with zero bytes (or hashed if longer)."""
    raw = name.encode("ascii") if isinstance(name, str) else bytes(name)
    if len(raw) <= 32:
        return raw + b"\x00" * (32 - len(raw))
    return sha256(raw)


def initial_state(name: str | bytes = PROTOCOL_NAME) -> tuple[bytes, bytes]:
    """``(ck, h)`` after Noise ``Initialize`` with an empty prologue."""
    ck = protocol_name_bytes(name)
    return ck, sha256(ck)


class Step(enum.Enum):
    """What the handshake expects next."""

    WRITE = "write"
    READ = "read"
    DONE = "done"


@dataclass(frozen=True, slots=True, repr=False)
class HandshakeResult:
    """Outcome of a completed handshake, from one side's point of view."""

    encryption_key: bytes
    decryption_key: bytes
    k1: bytes
    k2: bytes
    remote_static_public_key: bytes
    handshake_hash: bytes
    #: The payload of the peer's identity message (message 2 for the initiator, 3 for the responder).
    remote_payload: bytes

    def __repr__(self) -> str:
        return (
            f"HandshakeResult(remote_static_public_key={self.remote_static_public_key.hex()}, "
            f"handshake_hash={self.handshake_hash.hex()}, keys=<secret>)"
        )


class _Symmetric:
    """Noise SymmetricState (``ck``, ``h``, ``k``, ``n``); copied before each message."""

    __slots__ = ("ck", "h", "k", "n")

    def __init__(self, ck: bytes, h: bytes) -> None:
        self.ck = ck
        self.h = h
        self.k: AESGCM | None = None
        self.n = 0

    def copy(self) -> _Symmetric:
        other = _Symmetric(self.ck, self.h)
        other.k, other.n = self.k, self.n
        return other

    def mix_hash(self, data: bytes) -> None:
        self.h = sha256(self.h + data)

    def mix_key(self, ikm: bytes) -> None:
        self.ck, k = hkdf_sha256(self.ck, ikm)
        self.k = AESGCM(k)
        self.n = 0

    def encrypt_and_hash(self, plaintext: bytes) -> bytes:
        if self.k is None:  # never happens in XX: every encryption follows a MixKey
            raise SecureChannelError("noise: no key to encrypt with")
        ciphertext = self.k.encrypt(aes_gcm_nonce(self.n), plaintext, self.h)
        self.mix_hash(ciphertext)
        self.n += 1
        return ciphertext

    def decrypt_and_hash(self, ciphertext: bytes) -> bytes:
        if self.k is None:
            raise SecureChannelError("noise: no key to decrypt with")
        try:
            plaintext = self.k.decrypt(aes_gcm_nonce(self.n), ciphertext, self.h)
        except Exception:  # InvalidTag, or a ciphertext shorter than a tag
            raise SecureChannelError("noise handshake message failed to decrypt") from None
        self.mix_hash(ciphertext)
        self.n += 1
        return plaintext


def _as_dh_key(key: bytes | DhKey) -> DhKey:
    if isinstance(key, (bytes, bytearray)):
        return X25519Secret(bytes(key))
    return key


class Handshake:
    """One side of an Ockam Noise XX handshake.

    ``static_key``: the X25519 secure-channel key (32 secret bytes, an
    :class:`~ockam.protocol.crypto.X25519Secret`, or any :class:`DhKey` such as a vault key).
    ``ephemeral_key``: injected for reproducible tests; a fresh key otherwise.
    ``payload``: what this side sends in its identity message (message 2 for the
    responder, message 3 for the initiator); may also be given to :meth:`write_message`.
    """

    def __init__(
        self,
        initiator: bool,
        static_key: bytes | DhKey,
        ephemeral_key: bytes | DhKey | None = None,
        *,
        payload: bytes = b"",
        protocol_name: str | bytes = PROTOCOL_NAME,
    ) -> None:
        self.initiator = initiator
        self._s = _as_dh_key(static_key)
        self._e: DhKey | None = (
            X25519Secret.generate() if ephemeral_key is None else _as_dh_key(ephemeral_key)
        )
        self._payload = payload
        ck, h = initial_state(protocol_name)
        self._sym = _Symmetric(ck, h)
        self._re: bytes | None = None
        self._rs: bytes | None = None
        self._remote_payload = b""
        self._messages = 0  # handshake messages processed (written or read)
        self._result: HandshakeResult | None = None

    # -- public state
    @property
    def static_public_key(self) -> bytes:
        return self._s.public_key

    @property
    def ephemeral_public_key(self) -> bytes:
        if self._e is None:
            raise SecureChannelError("the ephemeral key was dropped after the handshake")
        return self._e.public_key

    @property
    def remote_static_public_key(self) -> bytes | None:
        """The peer's static key once it was received (message 2 or 3)."""
        return self._rs

    @property
    def handshake_hash(self) -> bytes:
        return self._sym.h

    @property
    def step(self) -> Step:
        if self._result is not None:
            return Step.DONE
        writes = (0, 2) if self.initiator else (1,)
        return Step.WRITE if self._messages in writes else Step.READ

    @property
    def is_complete(self) -> bool:
        return self._result is not None

    def result(self) -> HandshakeResult:
        """Keys and peer data; only after the handshake completed."""
        if self._result is None:
            raise SecureChannelError("the handshake is not complete")
        return self._result

    # -- driving the handshake
    def write_message(self, payload: bytes | None = None) -> bytes:
        """Produce the next message of this side (``payload`` defaults to the constructor's
        for messages 2/3, empty for message 1)."""
        if self.step is not Step.WRITE:
            raise SecureChannelError(f"noise: not expecting to write now ({self.step.value})")
        e = self._ephemeral()
        sym = self._sym.copy()
        if self._messages == 0:  # -> e
            body = b"" if payload is None else payload
            sym.mix_hash(e.public_key)
            sym.mix_hash(body)
            message = e.public_key + body
        elif self._messages == 1:  # <- e, ee, s, es
            assert self._re is not None
            body = self._payload if payload is None else payload
            sym.mix_hash(e.public_key)
            sym.mix_key(e.dh(self._re))
            c_s = sym.encrypt_and_hash(self._s.public_key)
            sym.mix_key(self._s.dh(self._re))
            message = e.public_key + c_s + sym.encrypt_and_hash(body)
        else:  # -> s, se
            assert self._re is not None
            body = self._payload if payload is None else payload
            c_s = sym.encrypt_and_hash(self._s.public_key)
            sym.mix_key(self._s.dh(self._re))
            message = c_s + sym.encrypt_and_hash(body)
        if len(message) > MAX_MESSAGE_SIZE:
            raise SecureChannelError("noise handshake message exceeds 65535 bytes")
        self._sym = sym
        self._messages += 1
        if self._messages == 3:
            self._finish()
        return message

    def read_message(self, message: bytes) -> bytes:
        """Consume the peer's next message; return its payload."""
        if self.step is not Step.READ:
            raise SecureChannelError(f"noise: not expecting to read now ({self.step.value})")
        if len(message) > MAX_MESSAGE_SIZE:
            raise SecureChannelError("noise handshake message exceeds 65535 bytes")
        message = bytes(message)
        sym = self._sym.copy()
        e = self._ephemeral()
        re, rs = self._re, self._rs
        if self._messages == 0:  # -> e
            if len(message) < _KEY:
                raise SecureChannelError("noise message 1 is too short")
            re = message[:_KEY]
            sym.mix_hash(re)
            payload = message[_KEY:]
            sym.mix_hash(payload)
        elif self._messages == 1:  # <- e, ee, s, es
            if len(message) < _KEY + _ENC_KEY:
                raise SecureChannelError("noise message 2 is too short")
            re = message[:_KEY]
            sym.mix_hash(re)
            sym.mix_key(e.dh(re))
            rs = sym.decrypt_and_hash(message[_KEY : _KEY + _ENC_KEY])
            sym.mix_key(e.dh(rs))
            payload = sym.decrypt_and_hash(message[_KEY + _ENC_KEY :])
        else:  # -> s, se
            if len(message) < _ENC_KEY:
                raise SecureChannelError("noise message 3 is too short")
            assert re is not None
            rs = sym.decrypt_and_hash(message[:_ENC_KEY])
            sym.mix_key(e.dh(rs))
            payload = sym.decrypt_and_hash(message[_ENC_KEY:])
        self._sym, self._re, self._rs = sym, re, rs
        self._messages += 1
        if self._messages > 1:
            self._remote_payload = payload
        if self._messages == 3:
            self._finish()
        return payload

    # -- internals
    def _ephemeral(self) -> DhKey:
        if self._e is None:
            raise SecureChannelError("the handshake is already complete")
        return self._e

    def _finish(self) -> None:
        assert self._rs is not None
        k1, k2 = hkdf_sha256(self._sym.ck, b"")
        encryption_key, decryption_key = (k2, k1) if self.initiator else (k1, k2)
        self._result = HandshakeResult(
            encryption_key=encryption_key,
            decryption_key=decryption_key,
            k1=k1,
            k2=k2,
            remote_static_public_key=self._rs,
            handshake_hash=self._sym.h,
            remote_payload=self._remote_payload,
        )
        self._e = None  # the ephemeral key is not needed any more
        self._sym.k = None

    def __repr__(self) -> str:
        role = "initiator" if self.initiator else "responder"
        return f"Handshake({role}, step={self.step.value}, messages={self._messages})"
