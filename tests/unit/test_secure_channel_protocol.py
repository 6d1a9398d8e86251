"""Secure-channel transport (encryptor, decryptor, rekeying, replay window) and plaintext messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ockam.codec.route import route
from ockam.errors import DecodeError, SecureChannelError
from ockam.protocol.crypto import AeadKey, aes_gcm_nonce
from ockam.protocol.secure_channel import (
    KEY_RENEWAL_INTERVAL,
    MAX_NONCE,
    CloseMessage,
    Decryptor,
    Encryptor,
    NonceTracker,
    PayloadMessage,
    RefreshCredentialsMessage,
    decode_plaintext,
    encode_plaintext,
    key_for_nonce,
    rekey,
)

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "vectors"
needs_vectors = pytest.mark.skipif(not VECTORS.is_dir(), reason="shared vectors not found")

K0 = bytes.fromhex("cee81abce1dae98e658650b5be9fb3f9c66ec1cd6b0e098f402c0fa53bef02ee")


def vector(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / f"{name}.json").read_text())
    return data


# -- vectors --------------------------------------------------------------------------------


def test_rekey_chain() -> None:
    assert rekey(K0).hex() == "d72d5d81b158df085de805410f24a55fd17e1de4d68ad6b45e4a0ec6eddc2045"
    assert rekey(rekey(K0)).hex() == "d4d01c9f2bedd853d4407f974d55e0c4d50ac8b77d7d83ccc9c93725d8ae65a4"
    # REKEY(k2) of secure-channel.md 15.2
    k2 = bytes.fromhex("831124fa3e1606b97f5cda4d81c3aa04c7c0151666f05f49a09cd0faf63a05d8")
    assert rekey(k2).hex() == "4699ba00b29842a236c781ce67c044de2bc43eaaaf35f6bfa4353581ada3d044"


@needs_vectors
@pytest.mark.parametrize(
    "name", ["sc-transport-encrypt-first-message", "sc-transport-encrypt-nonce-32-rekeyed"]
)
def test_encrypt_vectors(name: str) -> None:
    v = vector(name)
    i, e = v["inputs"], v["expected"]
    encryptor = Encryptor(bytes.fromhex(i["key"]))
    for _ in range(i["nonce"]):  # walk there like a real channel does
        encryptor.encrypt(b"")
    assert encryptor.encrypt(bytes.fromhex(i["plaintext"])).hex() == e["message"]
    assert encryptor.key.hex() == e["key_used"]
    assert key_for_nonce(K0, i["nonce"]).hex() == e["key_used"]


@needs_vectors
def test_decrypt_sequence_and_replay_window_vectors() -> None:
    v = vector("sc-transport-decrypt-sequence")
    decryptor = Decryptor(bytes.fromhex(v["inputs"]["key"]))
    for message, expected in zip(v["inputs"]["messages"], v["expected"]["results"], strict=True):
        try:
            plaintext, nonce = decryptor.decrypt(bytes.fromhex(message))
        except SecureChannelError:
            assert not expected["accepted"]
        else:
            assert expected["accepted"] and expected["nonce"] == nonce
            assert plaintext.hex() == expected["plaintext"]
    w = vector("sc-transport-replay-window-rust-test")
    tracker, accepted = NonceTracker(), []
    for nonce in w["inputs"]["nonces"]:
        try:
            tracker.mark(nonce)
            accepted.append(True)
        except SecureChannelError:
            accepted.append(False)
    assert accepted == w["expected"]["accepted"]


@needs_vectors
@pytest.mark.parametrize(
    "name",
    [
        "sc-plaintext-close",
        "sc-plaintext-payload-hello",
        "sc-plaintext-payload-with-padding",
        "sc-plaintext-refresh-credentials-rust-sample",
    ],
)
def test_plaintext_vectors_decode(name: str) -> None:
    v = vector(name)
    message, padding = decode_plaintext(bytes.fromhex(v["expected"]["cbor"]))
    assert padding.hex() == v["inputs"]["padding"]
    assert encode_plaintext(message, padding).hex() == v["expected"]["cbor"]
    kind = v["inputs"]["message"]["type"]
    expected_type = {"payload": PayloadMessage, "close": CloseMessage}.get(kind, RefreshCredentialsMessage)
    assert isinstance(message, expected_type)


def test_plaintext_examples() -> None:
    assert encode_plaintext(CloseMessage()).hex() == "8282028040"
    message = PayloadMessage(route("echo"), route("9f1e3c5a7b2d4e6f8091a2b3c4d5e6f7"), b"hi")
    assert encode_plaintext(message).hex() == (
        "8282008183818200446563686f8182005820396631653363356137623264346536663830393161326233633464"
        "356536663742686940"
    )


# -- properties -----------------------------------------------------------------------------


@settings(max_examples=5, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_messages_0_to_1000_cross_rekey_boundaries(key: bytes) -> None:
    encryptor, decryptor = Encryptor(key), Decryptor(key)
    expected_key = key
    for n in range(1001):
        if n and n % KEY_RENEWAL_INTERVAL == 0:
            expected_key = rekey(expected_key)
        message = encryptor.encrypt(n.to_bytes(2, "big"))
        assert encryptor.key == expected_key
        assert int.from_bytes(message[:8], "big") == n
        # ciphertext = AES-GCM with the interval key, 4 zero bytes + nonce, no AAD
        assert AeadKey(expected_key).decrypt(aes_gcm_nonce(n), message[8:]) == n.to_bytes(2, "big")
        assert decryptor.decrypt(message) == (n.to_bytes(2, "big"), n)
    assert decryptor.key == expected_key


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_reordering_within_the_window(data: st.DataObject) -> None:
    key = data.draw(st.binary(min_size=32, max_size=32))
    count = data.draw(st.integers(1, 150))
    encryptor = Encryptor(key)
    messages = [encryptor.encrypt(i.to_bytes(2, "big")) for i in range(count)]
    # deliver in chunks of 16 shuffled messages: always within 32 of the highest
    decryptor, received = Decryptor(key), []
    for start in range(0, count, 16):
        chunk = data.draw(st.permutations(messages[start : start + 16]))
        for message in chunk:
            plaintext, nonce = decryptor.decrypt(message)
            assert plaintext == nonce.to_bytes(2, "big")
            received.append(nonce)
    assert sorted(received) == list(range(count))
    for message in data.draw(st.lists(st.sampled_from(messages), max_size=5)):
        with pytest.raises(SecureChannelError):  # every replay is refused
            decryptor.decrypt(message)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_flipped_byte_is_rejected_and_the_channel_keeps_working(data: st.DataObject) -> None:
    key = data.draw(st.binary(min_size=32, max_size=32))
    encryptor, decryptor = Encryptor(key), Decryptor(key)
    for i in range(data.draw(st.integers(0, 70))):
        decryptor.decrypt(encryptor.encrypt(bytes([i])))
    message = encryptor.encrypt(b"payload")
    bad = bytearray(message)
    bad[data.draw(st.integers(0, len(message) - 1))] ^= data.draw(st.integers(1, 255))
    with pytest.raises(SecureChannelError):
        decryptor.decrypt(bytes(bad))
    assert decryptor.decrypt(message)[0] == b"payload"  # the nonce was not consumed
    assert decryptor.decrypt(encryptor.encrypt(b"next"))[0] == b"next"
    with pytest.raises(SecureChannelError):
        decryptor.decrypt(message)  # replay


def test_window_limits_and_key_selection() -> None:
    encryptor = Encryptor(K0)
    messages = [encryptor.encrypt(b"%d" % i) for i in range(200)]
    decryptor = Decryptor(K0)
    with pytest.raises(SecureChannelError):
        decryptor.decrypt(messages[33])  # more than 32 ahead of the highest (0)
    with pytest.raises(SecureChannelError):
        decryptor.decrypt(b"\x00" * 7)
    decryptor.decrypt(messages[32])  # next interval: rekeys
    assert decryptor.key == rekey(K0)
    decryptor.decrypt(messages[31])  # previous interval's key
    decryptor.decrypt(messages[64])  # rekeys again; K0 is forgotten
    with pytest.raises(SecureChannelError):
        decryptor.decrypt(messages[30])  # too old
    decryptor.decrypt(messages[40])  # previous key still works
    for n in (96, 128):
        decryptor.decrypt(messages[n])
    with pytest.raises(SecureChannelError):
        decryptor.decrypt(messages[199])


def test_key_exchange_only_mode() -> None:
    encryptor, decryptor = Encryptor(K0, rekeying=False), Decryptor(K0, rekeying=False)
    messages = [encryptor.encrypt(b"m") for _ in range(40)]
    assert encryptor.key == K0
    assert decryptor.decrypt(messages[39])[1] == 39
    assert decryptor.decrypt(messages[39])[1] == 39  # no replay tracking in this mode


def test_nonce_exhaustion() -> None:
    encryptor = Encryptor(K0, MAX_NONCE - 1, rekeying=False)
    assert encryptor.encrypt(b"last")[:8] == (MAX_NONCE - 1).to_bytes(8, "big")
    with pytest.raises(SecureChannelError):
        encryptor.encrypt(b"one too many")


addresses = st.text(alphabet="abcdef0123456789", min_size=1, max_size=32)


@given(
    st.lists(addresses, max_size=4),
    st.lists(addresses, max_size=4),
    st.binary(max_size=100),
    st.binary(max_size=8),
)
def test_payload_message_round_trip(
    onward: list[str], back: list[str], payload: bytes, padding: bytes
) -> None:
    message = PayloadMessage(route(*onward), route(*back), payload)
    assert decode_plaintext(encode_plaintext(message, padding)) == (message, padding)


@given(st.binary(max_size=64))
def test_plaintext_decoder_only_raises_decode_errors(data: bytes) -> None:
    try:
        decode_plaintext(data)
    except DecodeError:
        pass


@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2), st.binary(max_size=300)), max_size=8))
def test_payload_encoder_matches_encode_plaintext(messages: list[tuple[int, int, bytes]]) -> None:
    from ockam.protocol.secure_channel import PayloadEncoder

    # a few Route objects, reused (the cache is by identity) and replaced
    onwards = [route("channel", "outlet"), route("channel"), route("channel", "a", "b")]
    returns = [route("side"), route(), route("x", "y")]
    encoder = PayloadEncoder()
    for o, r, payload in messages:
        expected = encode_plaintext(PayloadMessage(onwards[o].step(), returns[r], payload))
        assert encoder.encode(onwards[o], returns[r], payload) == expected
