"""Noise XX handshake: Ockam's vectors byte for byte, plus properties of the state machine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ockam.errors import SecureChannelError
from ockam.protocol.crypto import X25519Secret
from ockam.protocol.noise_xx import (
    MAX_MESSAGE_SIZE,
    PROTOCOL_NAME,
    Handshake,
    Step,
    initial_state,
    protocol_name_bytes,
)
from ockam.protocol.secure_channel import Decryptor, Encryptor
from ockam.vault import MemoryVault

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "vectors"
needs_vectors = pytest.mark.skipif(not VECTORS.is_dir(), reason="shared vectors not found")

I_S = bytes.fromhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
I_E = bytes.fromhex("202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f")
R_S = bytes.fromhex("0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20")
R_E = bytes.fromhex("4142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f60")


def run(
    initiator: Handshake,
    responder: Handshake,
    p1: bytes = b"",
    p2: bytes | None = None,
    p3: bytes | None = None,
) -> tuple[bytes, bytes, bytes]:
    m1 = initiator.write_message(p1)
    responder.read_message(m1)
    m2 = responder.write_message(p2)
    initiator.read_message(m2)
    m3 = initiator.write_message(p3)
    responder.read_message(m3)
    return m1, m2, m3


def test_initial_state() -> None:
    ck, h = initial_state()
    assert ck == PROTOCOL_NAME and len(PROTOCOL_NAME) == 32
    assert h.hex() == "c6096331ab8d033b2ab45efed418e9511b63d51e0b5a9a584086ea8b5905e752"
    assert protocol_name_bytes("Noise_XX_25519_AESGCM_SHA256").endswith(b"\x00" * 4)


def test_rust_repository_vector() -> None:
    """handshake.rs test vector (standard Noise name, empty payloads)."""
    name = "Noise_XX_25519_AESGCM_SHA256"
    i = Handshake(True, I_S, I_E, protocol_name=name)
    r = Handshake(False, R_S, R_E, protocol_name=name)
    m1, m2, m3 = run(i, r)
    assert m1.hex() == "358072d6365880d1aeea329adf9121383851ed21a28e3b75e965d0d2cd166254"
    assert m2.hex() == (
        "64b101b1d0be5a8704bd078f9895001fc03e8e9f9522f188dd128d9846d484665393019dbd6f43"
        "8795da206db0886610b26108e424142c2e9b5fd1f7ea70cde8767ce62d7e3c0e9bcefe4ab872c0"
        "505b9e824df091b74ffe10a2b32809cab21f"
    )
    assert m3.hex() == (
        "e610eadc4b00c17708bf223f29a66f02342fbedf6c0044736544b9271821ae40e70144cecd9d26"
        "5dffdc5bb8e051c3f83db32a425e04d8f510c58a43325fbc56"
    )


def test_ockam_name_derived_vector() -> None:
    """secure-channel.md 15.2: Ockam's name, same keys, empty payloads, swapped split."""
    i, r = Handshake(True, I_S, I_E), Handshake(False, R_S, R_E)
    m1, m2, m3 = run(i, r)
    assert m1.hex() == "358072d6365880d1aeea329adf9121383851ed21a28e3b75e965d0d2cd166254"
    assert m2.hex() == (
        "64b101b1d0be5a8704bd078f9895001fc03e8e9f9522f188dd128d9846d484666496c3648a1e08"
        "8504a02025498d1045ae1e30f803f5bda8daac842e4291fe003ec09712baa61f30e8b9b83d55f645"
        "6069d3db88b1ce720567a55b9b64d5a214"
    )
    assert m3.hex() == (
        "8f021075c218d4ca06d334b5af04de7ce3d19e12adb47dbf749f595010f6fd3751be433a8bbf11"
        "4b3047c45111a7612115ef8ed8bb09bc750e3be514a6855430"
    )
    k1 = "4349aa5f460aca550b37ce55d3f7ad8f2d4747084b6c62e15c523568ebafe860"
    k2 = "831124fa3e1606b97f5cda4d81c3aa04c7c0151666f05f49a09cd0faf63a05d8"
    assert (i.result().k1.hex(), i.result().k2.hex()) == (k1, k2)
    assert i.result().encryption_key.hex() == k2 == r.result().decryption_key.hex()
    assert r.result().encryption_key.hex() == k1 == i.result().decryption_key.hex()
    first = Encryptor(i.result().encryption_key).encrypt(
        bytes.fromhex(
            "8282008183818200446563686f8182005820396631653363356137623264346536663830393161"
            "326233633464356536663742686940"
        )
    )
    assert first.hex() == (
        "0000000000000000730a7fb64a78d67040e6e239c48ae35996b6387ec3cef08a5ad00cabecf01b30a3"
        "84d09d81d9d7a1a38f43ee2eca7b845f76f0cd169ba123c44f92399571d4822a33688dfdd5"
    )


@needs_vectors
@pytest.mark.parametrize(
    "name", ["noise-xx-handshake-ockam-identity-payloads", "noise-xx-handshake-repo-empty-payloads"]
)
def test_handshake_vectors(name: str) -> None:
    v: dict[str, Any] = json.loads((VECTORS / f"{name}.json").read_text())
    inp, exp = v["inputs"], v["expected"]
    key = bytes.fromhex
    proto = key(inp["protocol_name_bytes"])
    i = Handshake(
        True,
        key(inp["initiator_static_private"]),
        key(inp["initiator_ephemeral_private"]),
        protocol_name=proto,
    )
    r = Handshake(
        False,
        key(inp["responder_static_private"]),
        key(inp["responder_ephemeral_private"]),
        protocol_name=proto,
    )
    r_payload, i_payload = key(inp["message2_payload"]), key(inp["message3_payload"])
    m1 = i.write_message()
    assert m1.hex() == exp["message1"]
    assert r.read_message(m1) == b""
    m2 = r.write_message(r_payload)
    assert m2.hex() == exp["message2"]
    assert i.read_message(m2) == r_payload
    assert i.remote_static_public_key is not None
    assert i.remote_static_public_key.hex() == exp["responder_static_public"]
    m3 = i.write_message(i_payload)
    assert m3.hex() == exp["message3"]
    assert i.is_complete and not r.is_complete
    assert r.read_message(m3) == i_payload
    for side, result in (("initiator", i.result()), ("responder", r.result())):
        assert result.handshake_hash.hex() == exp["handshake_hash"]
        assert result.encryption_key.hex() == exp[f"{side}_encryption_key"]
        assert result.decryption_key.hex() == exp[f"{side}_decryption_key"]
    assert i.result().remote_payload == r_payload
    assert r.result().remote_payload == i_payload


keys = st.binary(min_size=32, max_size=32)
payloads = st.binary(max_size=300)


@settings(max_examples=60, deadline=None)
@given(keys, keys, payloads, payloads)
def test_random_pairs_agree(i_static: bytes, r_static: bytes, p2: bytes, p3: bytes) -> None:
    i = Handshake(True, i_static, payload=p3)
    r = Handshake(False, r_static, payload=p2)
    assert (i.step, r.step) == (Step.WRITE, Step.READ)
    run(i, r)
    assert (i.step, r.step) == (Step.DONE, Step.DONE)
    ri, rr = i.result(), r.result()
    assert ri.encryption_key == rr.decryption_key and ri.decryption_key == rr.encryption_key
    assert ri.encryption_key != ri.decryption_key
    assert ri.handshake_hash == rr.handshake_hash
    assert ri.remote_static_public_key == X25519Secret(r_static).public_key
    assert rr.remote_static_public_key == X25519Secret(i_static).public_key
    assert (ri.remote_payload, rr.remote_payload) == (p2, p3)
    # the transport keys work both ways
    assert Decryptor(rr.decryption_key).decrypt(Encryptor(ri.encryption_key).encrypt(b"x"))[0] == b"x"
    assert Decryptor(ri.decryption_key).decrypt(Encryptor(rr.encryption_key).encrypt(b"y"))[0] == b"y"
    assert ri.encryption_key.hex() not in repr(ri) and ri.decryption_key.hex() not in repr(ri)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_tampered_message_is_rejected_without_changing_state(data: st.DataObject) -> None:
    i, r = Handshake(True, data.draw(keys)), Handshake(False, data.draw(keys), payload=b"identity 2")
    r.read_message(i.write_message())
    m2 = r.write_message()
    index = data.draw(st.integers(0, len(m2) - 1))
    bad = bytearray(m2)
    bad[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(SecureChannelError):
        i.read_message(bytes(bad))
    assert i.step is Step.READ
    assert i.read_message(m2) == b"identity 2"  # the genuine message still works
    m3 = i.write_message(b"identity 3")
    bad3 = bytearray(m3)
    bad3[data.draw(st.integers(0, len(m3) - 1))] ^= 1
    with pytest.raises(SecureChannelError):
        r.read_message(bytes(bad3))
    assert r.read_message(m3) == b"identity 3"
    assert i.result().encryption_key == r.result().decryption_key


def test_wrong_order_short_and_oversized_messages() -> None:
    i, r = Handshake(True, I_S), Handshake(False, R_S)
    with pytest.raises(SecureChannelError):
        i.read_message(bytes(32))
    with pytest.raises(SecureChannelError):
        r.write_message()
    with pytest.raises(SecureChannelError):
        r.read_message(bytes(31))
    with pytest.raises(SecureChannelError):
        i.result()
    r.read_message(i.write_message())
    with pytest.raises(SecureChannelError):
        i.read_message(bytes(79))
    with pytest.raises(SecureChannelError):
        r.write_message(bytes(MAX_MESSAGE_SIZE))
    i.read_message(r.write_message())
    with pytest.raises(SecureChannelError):
        r.read_message(bytes(47))
    r2 = Handshake(False, R_S)  # a low-order ephemeral key from a peer
    r2.read_message(bytes(32))
    with pytest.raises(SecureChannelError):
        r2.write_message()


def test_vault_keys_drive_the_handshake() -> None:
    vault = MemoryVault()
    i_handle = vault.import_x25519_key(I_S)
    r_handle = vault.import_x25519_key(R_S)
    i = Handshake(True, vault.dh_key(i_handle), I_E)
    r = Handshake(False, vault.dh_key(r_handle), R_E)
    run(i, r)
    plain_i, plain_r = Handshake(True, I_S, I_E), Handshake(False, R_S, R_E)
    run(plain_i, plain_r)
    assert i.result().encryption_key == plain_i.result().encryption_key
    assert vault.x25519_key_handle(vault.x25519_public_key(i_handle)) == i_handle
