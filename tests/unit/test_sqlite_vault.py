"""The SQLite vault, named identities and the stored secure-channel purpose key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ockam.api.identities import (
    SqliteVault,
    create_named_identity,
    load_identity,
    open_vault,
    secure_channel_key,
)
from ockam.errors import InvalidArgument, NotFound
from ockam.protocol.crypto import SigningKeyType, X25519Secret
from ockam.state import State
from ockam.state.identities import Identities, SecretStore, Vaults


def test_secrets_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "vault-x"
    vault = SqliteVault(SecretStore.open_file(path))
    signing = vault.generate_signing_key(SigningKeyType.ED25519)
    p256 = vault.generate_signing_key(SigningKeyType.P256)
    x = vault.generate_x25519_key()
    peer = X25519Secret.generate()
    signature = vault.sign(signing, b"msg")
    shared = vault.x25519_dh(x, peer.public_key)
    vault.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    again = SqliteVault(SecretStore.open_file(path))
    assert again.verify_signature(again.signing_public_key(signing), b"msg", signature)
    assert again.signing_public_key(p256).key_type is SigningKeyType.P256
    assert again.x25519_dh(x, peer.public_key) == shared
    assert again.delete_signing_key(signing)
    with pytest.raises(NotFound):
        again.sign(signing, b"msg")
    assert "secret" not in repr(again).lower() or "SqliteVault" in repr(again)
    again.close()


def test_vaults_and_identities(tmp_path: Path) -> None:
    with State.open(tmp_path / "home") as state:
        vaults = Vaults(state)
        first = vaults.create("v1")
        second = vaults.create("v2")
        assert first.path is None and first.is_default
        assert second.path is not None and not second.is_default
        named = create_named_identity(state, "i", "v2")
        assert named.is_default
        with pytest.raises(InvalidArgument):
            vaults.delete("v2")
        loaded = load_identity(state, "i")
        assert loaded.identifier == named.identifier
        key1, att1 = secure_channel_key(state, loaded)
        key2, att2 = secure_channel_key(state, load_identity(state, "i"))
        assert key1.public_key == key2.public_key and att1 == att2
        Identities(state).delete("i")
        vaults.delete("v2")
        assert not Path(str(second.path)).exists()
        assert open_vault(state, "v1").name == "v1"


def test_default_identity_created_on_demand(tmp_path: Path) -> None:
    with State.open(tmp_path / "home") as state:
        loaded = load_identity(state, None, new_name=lambda: "auto")
        assert loaded.name == "auto"
        assert Vaults(state).require("default").is_default
        assert Identities(state).require("auto").is_default
        assert load_identity(state, None).identifier == loaded.identifier
