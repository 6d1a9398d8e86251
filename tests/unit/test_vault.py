"""MemoryVault: handles, signing, X25519, AEAD keys, and no secrets in repr."""

from __future__ import annotations

import pytest

from ockam.errors import NotFound, SecureChannelError
from ockam.protocol.crypto import SigningKeyType, SigningSecret, aes_gcm_nonce, sha256
from ockam.vault import MemoryVault, Vault, verify_signature

SEED = bytes.fromhex("71807486987f97d8683017b98fdcb0f119c0f7a7a1dc06d6a58d7dc9ed9d5716")


@pytest.mark.parametrize("key_type", [SigningKeyType.ED25519, SigningKeyType.P256])
def test_signing_keys(key_type: SigningKeyType) -> None:
    vault = MemoryVault()
    handle = vault.generate_signing_key(key_type)
    public = vault.signing_public_key(handle)
    assert handle.value == sha256(public.data) and handle.key_type is key_type
    message = sha256(b"data")
    signature = vault.sign(handle, message)
    assert Vault.verify_signature(public, message, signature)
    assert not verify_signature(public, sha256(b"other"), signature)
    assert vault.signer(handle).public_key() == public
    assert vault.delete_signing_key(handle)
    with pytest.raises(NotFound):
        vault.sign(handle, message)


def test_imported_key_is_deterministic() -> None:
    vault = MemoryVault()
    handle = vault.import_signing_key(SigningKeyType.ED25519, SEED)
    assert handle == vault.import_signing_key(SigningKeyType.ED25519, SEED)
    assert vault.sign(handle, b"m") == SigningSecret(SigningKeyType.ED25519, SEED).sign(b"m")
    assert vault.signing_public_key(handle).data.hex().startswith("6d1565d9")


def test_x25519_and_aead() -> None:
    vault = MemoryVault()
    a = vault.generate_x25519_key()
    b = vault.generate_x25519_key(ephemeral=True)
    assert vault.x25519_dh(a, vault.x25519_public_key(b)) == vault.x25519_dh(b, vault.x25519_public_key(a))
    assert vault.x25519_handles == [a]  # the ephemeral key is not stored
    assert vault.delete_x25519_key(b)
    with pytest.raises(NotFound):
        vault.x25519_public_key(b)
    with pytest.raises(SecureChannelError):
        vault.x25519_dh(a, bytes(32))  # low-order point

    key = vault.import_aead_key(bytes(range(32)))
    ciphertext = vault.aead_encrypt(key, aes_gcm_nonce(7), b"secret", b"aad")
    assert vault.aead_decrypt(key, aes_gcm_nonce(7), ciphertext, b"aad") == b"secret"
    with pytest.raises(SecureChannelError):
        vault.aead_decrypt(key, aes_gcm_nonce(8), ciphertext, b"aad")
    vault.persist_aead_key(key)
    vault.delete_aead_key(key)
    with pytest.raises(NotFound):
        vault.load_aead_key(key)


def test_no_secret_in_repr() -> None:
    vault = MemoryVault()
    handle = vault.import_signing_key(SigningKeyType.ED25519, SEED)
    x = vault.import_x25519_key(bytes(range(32)))
    aead = vault.import_aead_key(bytes(range(32, 64)))
    text = " ".join(
        [
            repr(vault),
            str(vault),
            repr(handle),
            repr(x),
            repr(aead),
            repr(vault.signer(handle)),
            repr(vault.dh_key(x)),
        ]
    )
    for secret in (SEED, bytes(range(32)), bytes(range(32, 64))):
        assert secret.hex() not in text
    secret_obj = SigningSecret(SigningKeyType.ED25519, SEED)
    assert SEED.hex() not in repr(secret_obj) + str(secret_obj)
