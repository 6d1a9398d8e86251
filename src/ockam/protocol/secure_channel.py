"""Sans-IO secure-channel transport: encryptor, decryptor, replay window, plaintext messages.

Encrypted payload on the wire::

    nonce (8 bytes, big-endian u64) || AES-256-GCM(key, 00000000 || nonce, aad = "", plaintext)

Keys change every 32 nonces: nonce ``n`` is encrypted with ``rekey^(n // 32)(k0)``, where
``rekey(k)`` is the first 32 bytes of the AES-256-GCM encryption of 32 zero bytes under
``k`` with nonce counter ``2^64 - 1`` and empty AAD.

The decryptor accepts a nonce at most 32 above the highest accepted one, at most 32 below
it and never twice (:class:`NonceTracker`); it decrypts with the current interval's key,
the next interval's (one rekey ahead) or the previous interval's.  A message that fails
in any way changes no state.

The plaintext is the CBOR ``[message, h'padding']`` with ``message`` one of
``[0, [[onward, return, h'payload']]]``, ``[1, [[change history, [credentials...]]]]`` or
``[2, []]`` (:func:`encode_plaintext`, :func:`decode_plaintext`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..codec import cbor, fast
from ..codec.route import Route
from ..errors import DecodeError, OckamError, SecureChannelError
from .crypto import AeadKey

__all__ = [
    "KEY_RENEWAL_INTERVAL",
    "MAX_NONCE",
    "NONCE_LENGTH",
    "OVERHEAD",
    "CloseMessage",
    "Decryptor",
    "Encryptor",
    "NonceTracker",
    "PayloadEncoder",
    "PayloadMessage",
    "RefreshCredentialsMessage",
    "SecureChannelMessage",
    "decode_plaintext",
    "encode_plaintext",
    "key_for_nonce",
    "rekey",
]

#: Messages encrypted with one key before it is replaced.
KEY_RENEWAL_INTERVAL = 32
#: The largest u64; it is never used as a transport nonce (it is the rekey nonce).
MAX_NONCE = 0xFFFFFFFFFFFFFFFF
NONCE_LENGTH = 8
#: Bytes added to a plaintext by encryption: the nonce and the GCM tag.
OVERHEAD = NONCE_LENGTH + 16

_ZERO_KEY_BLOCK = bytes(32)
_REKEY_NONCE = b"\x00\x00\x00\x00" + MAX_NONCE.to_bytes(8, "big")
_NONCE_PREFIX = b"\x00\x00\x00\x00"
_MASK64 = 0xFFFFFFFFFFFFFFFF


def _rekey(key: AeadKey) -> AeadKey:
    return AeadKey(key.encrypt(_REKEY_NONCE, _ZERO_KEY_BLOCK)[:32])


def rekey(key: bytes) -> bytes:
    """The key that follows ``key`` (Noise REKEY with the maximum nonce)."""
    return _rekey(AeadKey(key)).secret_bytes()


def key_for_nonce(initial_key: bytes, nonce: int) -> bytes:
    """The key a channel whose first key is ``initial_key`` uses for ``nonce``."""
    key = initial_key
    for _ in range(nonce // KEY_RENEWAL_INTERVAL):
        key = rekey(key)
    return key


class Encryptor:
    """Encrypts outgoing transport payloads of one channel direction.

    ``key`` is the key of the interval that contains ``nonce`` (the key at nonce 0 for a
    fresh channel).  With ``rekeying=False`` (key-exchange-only channels) the key never
    changes.
    """

    __slots__ = ("_interval", "_key", "_nonce", "rekeying")

    def __init__(self, key: bytes, nonce: int = 0, *, rekeying: bool = True) -> None:
        if not 0 <= nonce <= MAX_NONCE:
            raise SecureChannelError("nonce out of range")
        self._key = AeadKey(key)
        self._nonce = nonce
        self._interval = nonce // KEY_RENEWAL_INTERVAL
        self.rekeying = rekeying

    @property
    def nonce(self) -> int:
        """The nonce the next message will use."""
        return self._nonce

    @property
    def key(self) -> bytes:
        """The current key (tests and vectors only)."""
        return self._key.secret_bytes()

    def encrypt(self, plaintext: bytes) -> bytes:
        """``nonce || ciphertext || tag`` for the next nonce."""
        nonce = self._nonce
        if nonce >= MAX_NONCE:
            raise SecureChannelError("secure channel nonce exhausted; the channel must be recreated")
        if self.rekeying:
            interval = nonce // KEY_RENEWAL_INTERVAL
            while self._interval < interval:
                self._key = _rekey(self._key)
                self._interval += 1
        self._nonce = nonce + 1
        prefix = nonce.to_bytes(8, "big")
        return prefix + self._key.encrypt(_NONCE_PREFIX + prefix, plaintext)


class NonceTracker:
    """The replay window: the highest accepted nonce and a 64-bit bitmap of the ones below.

    :meth:`check` computes the state after accepting a nonce without changing anything;
    :meth:`commit` applies it; :meth:`mark` does both.
    """

    __slots__ = ("bitmap", "highest")

    def __init__(self) -> None:
        self.highest = 0
        self.bitmap = 0

    def check(self, nonce: int) -> tuple[int, int]:
        """``(highest, bitmap)`` after accepting ``nonce``; raises if it is refused."""
        if nonce > self.highest:
            shift = nonce - self.highest
            if shift > KEY_RENEWAL_INTERVAL:
                raise SecureChannelError(f"nonce {nonce} is too far ahead")
            return nonce, ((self.bitmap << shift) | 1) & _MASK64
        relative = self.highest - nonce
        if relative > KEY_RENEWAL_INTERVAL:
            raise SecureChannelError(f"nonce {nonce} is too old")
        bit = 1 << relative
        if self.bitmap & bit:
            raise SecureChannelError(f"nonce {nonce} was already received (replay)")
        return self.highest, self.bitmap | bit

    def commit(self, state: tuple[int, int]) -> None:
        self.highest, self.bitmap = state

    def mark(self, nonce: int) -> None:
        """Accept ``nonce`` or raise :class:`SecureChannelError` (state unchanged then)."""
        self.commit(self.check(nonce))


class Decryptor:
    """Decrypts incoming transport payloads of one channel direction.

    ``rekeying=False`` (key-exchange-only channels): no replay window, always the first key.
    """

    __slots__ = ("_current", "_previous", "_rekeys", "_tracker", "rekeying")

    def __init__(self, key: bytes, *, rekeying: bool = True) -> None:
        self._current = AeadKey(key)
        self._previous: AeadKey | None = None
        self._rekeys = 0
        self.rekeying = rekeying
        self._tracker: NonceTracker | None = NonceTracker() if rekeying else None

    @property
    def key(self) -> bytes:
        """The current key (tests and vectors only)."""
        return self._current.secret_bytes()

    def decrypt(self, message: bytes) -> tuple[bytes, int]:
        """``(plaintext, nonce)``; :class:`SecureChannelError` if the message is refused."""
        if len(message) < NONCE_LENGTH:
            raise SecureChannelError("secure channel message shorter than its nonce")
        nonce_bytes = bytes(message[:NONCE_LENGTH])
        nonce = int.from_bytes(nonce_bytes, "big")
        tracker = self._tracker
        window = tracker.check(nonce) if tracker is not None else None
        key = self._select_key(nonce) if self.rekeying else self._current
        plaintext = key.decrypt(_NONCE_PREFIX + nonce_bytes, memoryview(message)[NONCE_LENGTH:])
        # success: commit
        if tracker is not None and window is not None:
            tracker.commit(window)
        if key is not self._current and key is not self._previous:
            self._previous, self._current = self._current, key
            self._rekeys += 1
        return plaintext, nonce

    def _select_key(self, nonce: int) -> AeadKey:
        start = self._rekeys * KEY_RENEWAL_INTERVAL
        if nonce >= start:
            age = nonce - start
            if age < KEY_RENEWAL_INTERVAL:
                return self._current
            if age < 2 * KEY_RENEWAL_INTERVAL:
                return _rekey(self._current)
            raise SecureChannelError(f"nonce {nonce} is too far in the future")
        if start - nonce <= KEY_RENEWAL_INTERVAL:
            if self._previous is None:
                raise SecureChannelError(f"no previous key for nonce {nonce}")
            return self._previous
        raise SecureChannelError(f"nonce {nonce} is too old")


# -- plaintext messages ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PayloadMessage:
    """An application message: inner onward route, inner return route, payload."""

    onward_route: Route
    return_route: Route
    payload: bytes


@dataclass(frozen=True, slots=True)
class RefreshCredentialsMessage:
    """New credentials for the channel's peer.

    ``change_history`` and each of ``credentials`` are the CBOR encodings of a
    ``ChangeHistory`` and of ``CredentialAndPurposeKey`` values (see :mod:`ockam.identity`).
    """

    change_history: bytes
    credentials: tuple[bytes, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class CloseMessage:
    """The peer closed the channel."""


SecureChannelMessage = PayloadMessage | RefreshCredentialsMessage | CloseMessage


def encode_plaintext(message: SecureChannelMessage, padding: bytes = b"") -> bytes:
    """CBOR ``[message, h'padding']`` (Ockam 0.139 always sends empty padding)."""
    body: Any
    if isinstance(message, PayloadMessage):
        # [[0, [[onward, return, h'payload']]], h'padding'] built directly (data path)
        return b"".join(
            (
                b"\x82\x82\x00\x81\x83",
                fast.encode_route(message.onward_route),
                fast.encode_route(message.return_route),
                fast.encode_bytes_head(len(message.payload)),
                message.payload,
                fast.encode_bytes_head(len(padding)),
                padding,
            )
        )
    if isinstance(message, RefreshCredentialsMessage):
        body = [
            1,
            [[cbor.Raw(message.change_history), [cbor.Raw(c) for c in message.credentials]]],
        ]
    else:
        body = [2, []]
    return cbor.encode([body, padding])


class PayloadEncoder:
    """``encode_plaintext(PayloadMessage(onward.step(), ret, payload))`` for a stream of
    messages, reusing the encoded routes while the same ``Route`` objects come (the
    data path of a channel: the routes of a flow are the same objects every time)."""

    __slots__ = ("_head", "_onward", "_ret")

    def __init__(self) -> None:
        self._onward: Route | None = None
        self._ret: Route | None = None
        self._head = b""

    def encode(self, onward: Route, ret: Route, payload: bytes) -> bytes:
        """The plaintext of a payload sent along ``onward`` without its first hop (the
        channel's own address) with return route ``ret``."""
        if onward is not self._onward or ret is not self._ret:
            self._head = b"".join(
                (b"\x82\x82\x00\x81\x83", fast.encode_route(onward.step()), fast.encode_route(ret))
            )
            self._onward, self._ret = onward, ret
        return b"".join((self._head, fast.encode_bytes_head(len(payload)), payload, b"\x40"))


_ONWARD = fast.RouteMemo()
_RETURN = fast.RouteMemo()


def decode_plaintext(data: bytes) -> tuple[SecureChannelMessage, bytes]:
    """``(message, padding)`` from a decrypted plaintext; :class:`DecodeError` if malformed."""
    if data[:5] == b"\x82\x82\x00\x81\x83":
        onward, pos = _ONWARD.decode(data, 5)
        ret, pos = _RETURN.decode(data, pos)
        payload, pos = fast.decode_bytes(data, pos)
        padding, _ = fast.decode_bytes(data, pos)
        return PayloadMessage(onward, ret, payload), padding
    try:
        obj, _ = cbor.decode_prefix(data)
        if not isinstance(obj, list) or len(obj) < 2 or not isinstance(obj[1], bytes):
            raise DecodeError("invalid secure channel message")
        return _decode_message(obj[0]), obj[1]
    except OckamError:
        raise
    except (TypeError, ValueError, IndexError) as e:
        raise DecodeError(f"invalid secure channel message: {e}") from e


def _decode_message(obj: Any) -> SecureChannelMessage:
    if not isinstance(obj, list) or len(obj) < 2 or not isinstance(obj[1], list):
        raise DecodeError("invalid secure channel message variant")
    variant, fields = obj[0], obj[1]
    if variant == 2 and not isinstance(variant, bool):
        return CloseMessage()
    if not fields or not isinstance(fields[0], list):
        raise DecodeError("invalid secure channel message fields")
    inner: list[Any] = fields[0]
    if variant == 0 and not isinstance(variant, bool):
        if len(inner) < 3 or not isinstance(inner[2], bytes):
            raise DecodeError("invalid secure channel payload message")
        return PayloadMessage(Route.from_cbor(inner[0]), Route.from_cbor(inner[1]), inner[2])
    if variant == 1 and not isinstance(variant, bool):
        if len(inner) < 2 or not isinstance(inner[0], list) or not isinstance(inner[1], list):
            raise DecodeError("invalid refresh credentials message")
        credentials: Sequence[Any] = inner[1]
        return RefreshCredentialsMessage(cbor.encode(inner[0]), tuple(cbor.encode(c) for c in credentials))
    raise DecodeError(f"unknown secure channel message variant {variant!r}")
