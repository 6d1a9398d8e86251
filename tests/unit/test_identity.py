"""Identities, purpose keys and credentials: shared vectors byte for byte, plus properties."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ockam.errors import IdentityError
from ockam.identity import (
    Attributes,
    CredentialAndPurposeKey,
    CredentialSigningKey,
    HistoryComparison,
    Identifier,
    IdentityAndCredentials,
    SecureChannelStaticKey,
    compare_histories,
    create_identity,
    create_purpose_key_attestation,
    generate_identity,
    issue_credential,
    rotate_identity,
    verify_change_history,
    verify_credential,
    verify_purpose_key_attestation,
)
from ockam.protocol.crypto import (
    P256_ORDER,
    Signature,
    SigningKeyType,
    SigningSecret,
    X25519Secret,
    sha256,
    verify_signature,
)
from ockam.vault import MemoryVault

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "vectors"
needs_vectors = pytest.mark.skipif(not VECTORS.is_dir(), reason="shared vectors not found")

ELIXIR_SEED = bytes.fromhex("71807486987f97d8683017b98fdcb0f119c0f7a7a1dc06d6a58d7dc9ed9d5716")
ELIXIR_HISTORY = bytes.fromhex(
    "81825837830101583285f682008158206d1565d9b7fcc3080cf20a2425a5e950dcc5f1e9fa8941977cc298a8"
    "65073071f41a65563f171a782242178200815840755d958e25e54cdfea7caf7488ce30435f0fe26b4e7f098c"
    "a501327af6b04c9e2dc497d894ed71de48a2073b7e6c7ad17985933e8af9ba92f94a58adb088940a"
)
ELIXIR_ID = "I10253701dafcc65a621ad9fb4097cb327c541de78827713320b749cbbdbd2e9f"
NOW = 1_730_000_000


def vector(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / f"{name}.json").read_text())
    return data


# -- byte-for-byte checks ---------------------------------------------------------------------


def test_create_reproduces_the_rust_identity() -> None:
    identity = create_identity(
        SigningSecret(SigningKeyType.ED25519, ELIXIR_SEED),
        now=1700151063,
        attestations_valid_until=1700151063 + 315_360_000,
    )
    assert identity.change_history == ELIXIR_HISTORY
    assert str(identity.identifier) == ELIXIR_ID
    assert verify_change_history(ELIXIR_HISTORY, ELIXIR_ID) == identity


@needs_vectors
@pytest.mark.parametrize(
    "name", ["identity-create-client-example", "identity-create-elixir-import", "identity-create-rotation"]
)
def test_identity_create_vectors(name: str) -> None:
    v = vector(name)
    i, e = v["inputs"], v["expected"]
    signer = SigningSecret(SigningKeyType.ED25519, bytes.fromhex(i["secret_key"]))
    options: dict[str, Any] = {
        "now": i["attestations_valid_from"],
        "attestations_valid_until": i["attestations_valid_until"],
        "revoke_all_purpose_keys": i["revoke_all_purpose_keys"],
    }
    if i["previous"] is None:
        identity = create_identity(signer, **options)
    else:
        old = verify_change_history(bytes.fromhex(i["previous"]["change_history"]))
        old_signer = SigningSecret(SigningKeyType.ED25519, bytes.fromhex(i["previous"]["secret_key"]))
        identity = rotate_identity(old, old_signer, signer, **options)
    assert identity.change_history.hex() == e["change_history"]
    assert str(identity.identifier) == e["identifier"]
    assert identity.primary_public_key.data.hex() == e["primary_public_key"]


@needs_vectors
def test_p256_high_s_identity_verifies() -> None:
    v = vector("identity-p256-orchestrator-high-s")
    identity = verify_change_history(bytes.fromhex(v["inputs"]["change_history"]))
    assert str(identity.identifier) == v["expected"]["identifier"]
    assert identity.primary_public_key.key_type is SigningKeyType.P256
    s = int.from_bytes(identity.changes[0].change.signature.data[32:], "big")
    assert s > P256_ORDER // 2  # really a high-S signature


@needs_vectors
@pytest.mark.parametrize(
    "name",
    [
        "identity-invalid-expected-identifier",
        "identity-invalid-rotation-wrong-previous-hash",
        "identity-invalid-tampered-signature",
        "identity-invalid-version-2",
    ],
)
def test_invalid_identity_vectors(name: str) -> None:
    i = vector(name)["inputs"]
    with pytest.raises(IdentityError):
        verify_change_history(bytes.fromhex(i["change_history"]), i["expected_identifier"])


@needs_vectors
def test_purpose_key_attestation_create_vector() -> None:
    v = vector("purpose-key-attestation-create-secure-channel-client")
    i = v["inputs"]
    subject = verify_change_history(bytes.fromhex(i["subject_change_history"]))
    attestation = create_purpose_key_attestation(
        subject,
        SigningSecret(SigningKeyType.ED25519, bytes.fromhex(i["identity_secret_key"])),
        SecureChannelStaticKey(bytes.fromhex(i["public_key"])),
        now=i["created_at"],
        ttl=i["expires_at"] - i["created_at"],
    )
    assert attestation.encode().hex() == v["expected"]["attestation"]
    data = verify_purpose_key_attestation(attestation, subject, now=i["created_at"] + 10)
    assert data.public_key == SecureChannelStaticKey(bytes.fromhex(i["public_key"]))
    # the attestation of identity.md 4.5 (derived there, same rules)
    elixir = verify_change_history(ELIXIR_HISTORY)
    x25519 = X25519Secret(bytes(range(32)))
    derived = create_purpose_key_attestation(
        elixir,
        SigningSecret(SigningKeyType.ED25519, ELIXIR_SEED),
        SecureChannelStaticKey(x25519.public_key),
        now=1700151063,
        ttl=1857831063 - 1700151063,
    )
    assert sha256(derived.data).hex() == "244d4e425561c3420ae14a10f80b479ec36c8a2878c05a03bcfebc197b6c0f6d"


@needs_vectors
def test_purpose_key_time_rules() -> None:
    v = vector("purpose-key-attestation-future-within-drift")
    i = v["inputs"]
    subject = verify_change_history(bytes.fromhex(i["subject_change_history"]))
    raw = bytes.fromhex(i["attestation"])
    verify_purpose_key_attestation(raw, subject, now=i["now"], expected_subject=i["expected_subject"])
    with pytest.raises(IdentityError):  # one second more skew is refused
        verify_purpose_key_attestation(raw, subject, now=i["now"] - 1)
    data = verify_purpose_key_attestation(raw, subject, now=i["now"])
    verify_purpose_key_attestation(raw, subject, now=data.expires_at)
    with pytest.raises(IdentityError):
        verify_purpose_key_attestation(raw, subject, now=data.expires_at + 1)


@needs_vectors
def test_credential_create_and_verify_vectors() -> None:
    v = vector("credential-create-client-cluster")
    i, e = v["inputs"], v["expected"]
    issuer = verify_change_history(bytes.fromhex(i["issuer_change_history"]))
    purpose_signer = SigningSecret(SigningKeyType.ED25519, bytes.fromhex(i["purpose_key_secret_key"]))
    attestation = create_purpose_key_attestation(
        issuer,
        SigningSecret(SigningKeyType.ED25519, bytes.fromhex(i["issuer_identity_secret_key"])),
        CredentialSigningKey(purpose_signer.public_key()),
        now=i["purpose_key_created_at"],
        ttl=i["purpose_key_expires_at"] - i["purpose_key_created_at"],
    )
    credential = issue_credential(
        attestation,
        purpose_signer,
        Identifier.parse(i["subject"]),
        {k.encode(): v.encode() for k, v in i["attributes"].items()},
        now=i["created_at"],
        ttl=i["expires_at"] - i["created_at"],
        schema=i["schema"],
        subject_latest_change_hash=bytes.fromhex(i["subject_latest_change_hash"]),
    )
    assert attestation.encode().hex() == e["purpose_key_attestation"]
    assert credential.credential.encode().hex() == e["credential"]
    assert credential.encode_hex() == e["credential_and_purpose_key"]

    verified = verify_credential(
        CredentialAndPurposeKey.decode_hex(e["credential_and_purpose_key"]),
        {issuer.identifier: issuer},
        [issuer.identifier],
        now=NOW,
        expected_subject=i["subject"],
    )
    assert verified.attributes.text_map() == i["attributes"]
    assert verified.issuer == issuer.identifier


@needs_vectors
@pytest.mark.parametrize(
    "name",
    [
        "credential-invalid-expired",
        "credential-invalid-outlives-purpose-key",
        "credential-invalid-subject-mismatch",
        "credential-invalid-tampered-attribute",
        "credential-invalid-unknown-authority",
    ],
)
def test_invalid_credential_vectors(name: str) -> None:
    i = vector(name)["inputs"]
    issuer = verify_change_history(bytes.fromhex(i["issuer_change_history"]))
    with pytest.raises(IdentityError):
        verify_credential(
            bytes.fromhex(i["credential"]),
            issuer,
            i["authorities"],
            now=i["now"],
            expected_subject=i["expected_subject"],
        )


@needs_vectors
def test_rust_credential_attribute_order() -> None:
    """The Rust RefreshCredentials sample: map keys in byte order, signature verifies."""
    message = vector("sc-plaintext-refresh-credentials-rust-sample")["inputs"]["message"]
    presented = CredentialAndPurposeKey.decode_hex(message["credentials"][0])
    data = presented.credential.credential_data()
    assert list(data.attributes.map)[:2] == [b"ockam-relay", b"ockam-role"]
    assert presented.encode().hex() == message["credentials"][0]
    key = presented.purpose_key_attestation.attestation_data().public_key
    assert isinstance(key, CredentialSigningKey)
    assert verify_signature(key.public_key, sha256(presented.credential.data), presented.credential.signature)
    # the re-encoded data is byte-identical to what Rust signed
    assert Attributes.from_cbor(data.attributes.to_cbor()) == data.attributes


# -- properties -----------------------------------------------------------------------------

seeds = st.binary(min_size=32, max_size=32)
times = st.integers(min_value=0, max_value=2**40)


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(seeds, seeds, times, st.integers(0, 10**6))
def test_rotation_keeps_the_identifier(seed1: bytes, seed2: bytes, now: int, later: int) -> None:
    k1 = SigningSecret(SigningKeyType.ED25519, seed1)
    k2 = SigningSecret(SigningKeyType.ED25519, seed2)
    identity = create_identity(k1, now=now)
    rotated = rotate_identity(identity, k1, k2, now=now + later)
    again = verify_change_history(rotated.change_history, identity.identifier)
    assert again.identifier == identity.identifier
    assert again.primary_public_key == k2.public_key()
    assert compare_histories(identity, again) is HistoryComparison.NEWER
    assert compare_histories(again, identity) is HistoryComparison.OLDER
    assert compare_histories(again, again) is HistoryComparison.EQUAL


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_flipped_byte_is_refused(data: st.DataObject) -> None:
    k1 = SigningSecret(SigningKeyType.ED25519, data.draw(seeds))
    k2 = SigningSecret(SigningKeyType.ED25519, data.draw(seeds))
    identity = rotate_identity(create_identity(k1, now=NOW), k1, k2, now=NOW + 1)
    history = bytearray(identity.change_history)
    index = data.draw(st.integers(0, len(history) - 1))
    history[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(IdentityError):
        verify_change_history(bytes(history))


def test_forged_histories_are_refused() -> None:
    k1, k2, mallory = (SigningSecret.generate() for _ in range(3))
    identity = create_identity(k1, now=NOW)
    # a rotation signed by someone else than the current key
    with pytest.raises(IdentityError):
        rotate_identity(identity, mallory, k2, now=NOW)
    forged = rotate_identity(create_identity(mallory, now=NOW), mallory, k2, now=NOW)
    spliced = [identity.changes[0].change, forged.changes[1].change]
    with pytest.raises(IdentityError):
        verify_change_history(spliced)
    # a second change without its previous signature
    honest = rotate_identity(identity, k1, k2, now=NOW)
    second = honest.changes[1].change
    from dataclasses import replace

    with pytest.raises(IdentityError):
        verify_change_history([identity.changes[0].change, replace(second, previous_signature=None)])
    with pytest.raises(IdentityError):  # validity going backwards
        verify_change_history(rotate_identity(identity, k1, k2, now=NOW - 1).change_history)
    with pytest.raises(IdentityError):
        verify_change_history(b"\x80")  # empty history
    with pytest.raises(IdentityError):
        verify_change_history(b"\xff\x00")  # not CBOR


def test_purpose_key_invalid_after_rotation() -> None:
    k1, k2 = SigningSecret.generate(), SigningSecret.generate()
    identity = create_identity(k1, now=NOW)
    attestation = create_purpose_key_attestation(
        identity, k1, SecureChannelStaticKey(X25519Secret.generate().public_key), now=NOW
    )
    verify_purpose_key_attestation(attestation, identity, now=NOW)
    rotated = rotate_identity(identity, k1, k2, now=NOW + 5)
    with pytest.raises(IdentityError):
        verify_purpose_key_attestation(attestation, rotated, now=NOW + 5)
    with pytest.raises(IdentityError):  # subject mismatch
        other, _ = generate_identity(now=NOW)
        verify_purpose_key_attestation(attestation, identity, now=NOW, expected_subject=other.identifier)
    with pytest.raises(IdentityError):  # a signer that is not the identity key
        create_purpose_key_attestation(identity, k2, SecureChannelStaticKey(bytes(32)), now=NOW)


@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(st.binary(max_size=12), st.binary(max_size=12), max_size=6),
    st.integers(0, 10**6),
    st.sampled_from([SigningKeyType.ED25519, SigningKeyType.P256]),
)
def test_credentials_round_trip(
    attributes: dict[bytes, bytes], offset: int, key_type: SigningKeyType
) -> None:
    vault = MemoryVault()
    issuer_key = vault.signer(vault.generate_signing_key(key_type))
    issuer = create_identity(issuer_key, now=NOW)
    subject, _ = generate_identity(now=NOW)
    purpose = vault.signer(vault.generate_signing_key(key_type))
    attestation = create_purpose_key_attestation(
        issuer, issuer_key, CredentialSigningKey(purpose.public_key()), now=NOW
    )
    presented = issue_credential(attestation, purpose, subject, attributes, now=NOW + offset, ttl=3600)
    decoded = CredentialAndPurposeKey.decode(presented.encode())
    assert decoded == presented
    verified = verify_credential(
        decoded, issuer, [issuer.identifier], now=NOW + offset + 10, expected_subject=subject.identifier
    )
    assert dict(verified.attributes.map) == attributes
    assert verified.data.subject_latest_change_hash == subject.latest_change_hash
    with pytest.raises(IdentityError):  # expired
        verify_credential(decoded, issuer, [issuer.identifier], now=NOW + offset + 3601)
    with pytest.raises(IdentityError):  # not an authority
        verify_credential(decoded, issuer, [subject.identifier], now=NOW + offset)
    with pytest.raises(IdentityError):  # issuer unknown
        verify_credential(decoded, {}, [issuer.identifier], now=NOW + offset)


def test_secure_channel_key_cannot_sign_credentials() -> None:
    k = SigningSecret.generate()
    issuer = create_identity(k, now=NOW)
    attestation = create_purpose_key_attestation(issuer, k, SecureChannelStaticKey(bytes(32)), now=NOW)
    with pytest.raises(IdentityError):
        issue_credential(attestation, k, issuer, {}, now=NOW)


def test_identity_payload_round_trip() -> None:
    k = SigningSecret.generate()
    identity = create_identity(k, now=NOW)
    static = X25519Secret.generate()
    attestation = create_purpose_key_attestation(
        identity, k, SecureChannelStaticKey(static.public_key), now=NOW
    )
    payload = IdentityAndCredentials(tuple(c.change for c in identity.changes), attestation)
    encoded = payload.encode()
    assert encoded.endswith(b"\x80")  # no credentials: empty array
    assert IdentityAndCredentials.decode(encoded) == payload


def test_identifier_text_form() -> None:
    identifier = Identifier.parse("  I" + ELIXIR_ID[1:].upper() + "\n")
    assert str(identifier) == ELIXIR_ID
    assert Identifier.coerce(identifier.value) == identifier == Identifier.coerce(ELIXIR_ID)
    for bad in ["", "I00", "i" + "0" * 64, "I" + "g" * 64, "I" + "0" * 66]:
        with pytest.raises(IdentityError):
            Identifier.parse(bad)


def test_signatures_high_s_and_type_mismatch() -> None:
    p256 = SigningSecret.generate(SigningKeyType.P256)
    message = sha256(b"hello")
    signature = p256.sign(message)
    s = int.from_bytes(signature.data[32:], "big")
    assert s <= P256_ORDER // 2  # we sign low-S
    high = Signature(SigningKeyType.P256, signature.data[:32] + (P256_ORDER - s).to_bytes(32, "big"))
    assert verify_signature(p256.public_key(), message, high)  # and accept high-S
    ed = SigningSecret.generate()
    assert not verify_signature(
        ed.public_key(), message, Signature(SigningKeyType.P256, ed.sign(message).data)
    )
    assert ed.secret_bytes().hex() not in repr(ed) + str(ed)
