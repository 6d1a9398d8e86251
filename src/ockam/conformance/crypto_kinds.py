"""Conformance handlers for identities, purpose keys, credentials, the Noise XX handshake
and the secure-channel transport (kinds identity, purpose-key-attestation, credential,
noise-initial-h, noise-xx-handshake, sc-transport, sc-plaintext)."""

from __future__ import annotations

from typing import Any

from ..codec.address import Address
from ..codec.route import Route
from ..errors import DecodeError, IdentityError, OckamError
from ..identity import (
    Attributes,
    CredentialAndPurposeKey,
    CredentialSigningKey,
    Identifier,
    Identity,
    PurposeKeyAttestationData,
    PurposePublicKey,
    SecureChannelStaticKey,
    create_identity,
    create_purpose_key_attestation,
    issue_credential,
    rotate_identity,
    verify_change_history,
    verify_credential,
    verify_purpose_key_attestation,
)
from ..protocol.crypto import SigningKeyType, SigningSecret, VerifyingPublicKey
from ..protocol.noise_xx import Handshake, initial_state, protocol_name_bytes
from ..protocol.secure_channel import (
    CloseMessage,
    Decryptor,
    Encryptor,
    NonceTracker,
    PayloadMessage,
    RefreshCredentialsMessage,
    SecureChannelMessage,
    decode_plaintext,
    encode_plaintext,
    key_for_nonce,
    rekey,
)
from . import Mismatch

__all__ = ["KINDS"]

_KEY_TYPES = {"ed25519": SigningKeyType.ED25519, "p256": SigningKeyType.P256}
_INVALID = {"valid": False, "error": True}


def _hex(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except (TypeError, ValueError):
        raise DecodeError(f"invalid hex {text!r}") from None


def _key_type(name: str) -> SigningKeyType:
    try:
        return _KEY_TYPES[name]
    except KeyError:
        raise IdentityError(f"unknown key type {name!r}") from None


def _signer(key_type: str, secret_hex: str) -> SigningSecret:
    return SigningSecret(_key_type(key_type), _hex(secret_hex))


def _identity(history_hex: str) -> Identity:
    return verify_change_history(_hex(history_hex))


# -- identity -----------------------------------------------------------------------------


def _identity_kind(inputs: dict[str, Any]) -> dict[str, Any]:
    if inputs["operation"] == "verify":
        try:
            identity = verify_change_history(
                _hex(inputs["change_history"]), inputs.get("expected_identifier")
            )
        except OckamError:
            return dict(_INVALID)
        latest = identity.latest_change.data
        if verify_change_history(identity.change_history).identifier != identity.identifier:
            raise Mismatch("re-encoded change history does not verify to the same identifier")
        return {
            "valid": True,
            "identifier": str(identity.identifier),
            "change_count": len(identity.changes),
            "primary_key_type": latest.primary_public_key.key_type.short_name,
            "primary_public_key": latest.primary_public_key.data.hex(),
            "latest_change_hash": identity.latest_change_hash.hex(),
            "attestations_valid_from": latest.attestations_valid_from,
            "attestations_valid_until": latest.attestations_valid_until,
            "revoke_all_purpose_keys": latest.revoke_all_purpose_keys,
        }
    signer = _signer(inputs["key_type"], inputs["secret_key"])
    options = {
        "now": inputs["attestations_valid_from"],
        "attestations_valid_from": inputs["attestations_valid_from"],
        "attestations_valid_until": inputs["attestations_valid_until"],
        "revoke_all_purpose_keys": inputs["revoke_all_purpose_keys"],
    }
    previous = inputs.get("previous")
    if previous is None:
        identity = create_identity(signer, **options)
    else:
        old = _identity(previous["change_history"])
        old_signer = _signer(previous["key_type"], previous["secret_key"])
        identity = rotate_identity(old, old_signer, signer, **options)
    return {
        "change_history": identity.change_history.hex(),
        "identifier": str(identity.identifier),
        "primary_public_key": identity.primary_public_key.data.hex(),
    }


# -- purpose keys ---------------------------------------------------------------------------


def _purpose_key_json(data: PurposeKeyAttestationData) -> dict[str, Any]:
    key = data.public_key
    if isinstance(key, SecureChannelStaticKey):
        purpose, key_type, public = "secure_channel_static", "x25519", key.public_key
    else:
        purpose = "credential_signing"
        key_type, public = key.public_key.key_type.short_name, key.public_key.data
    return {
        "subject": str(data.subject),
        "subject_latest_change_hash": data.subject_latest_change_hash.hex(),
        "purpose": purpose,
        "key_type": key_type,
        "public_key": public.hex(),
        "created_at": data.created_at,
        "expires_at": data.expires_at,
    }


def _purpose_public_key(purpose: str, key_type: str, public_hex: str) -> PurposePublicKey:
    public = _hex(public_hex)
    if purpose == "secure_channel_static":
        if key_type != "x25519" or len(public) != 32:
            raise IdentityError("a secure channel purpose key is a 32-byte X25519 key")
        return SecureChannelStaticKey(public)
    if purpose == "credential_signing":
        try:
            return CredentialSigningKey(VerifyingPublicKey(_key_type(key_type), public))
        except ValueError as e:
            raise IdentityError(str(e)) from None
    raise IdentityError(f"unknown purpose {purpose!r}")


def _purpose_key_kind(inputs: dict[str, Any]) -> dict[str, Any]:
    if inputs["operation"] == "verify":
        try:
            data = verify_purpose_key_attestation(
                _hex(inputs["attestation"]),
                _identity(inputs["subject_change_history"]),
                now=inputs["now"],
                expected_subject=inputs.get("expected_subject"),
            )
        except OckamError:
            return dict(_INVALID)
        return {"valid": True, **_purpose_key_json(data)}
    subject = _identity(inputs["subject_change_history"])
    signer = _signer(inputs["identity_key_type"], inputs["identity_secret_key"])
    attestation = create_purpose_key_attestation(
        subject,
        signer,
        _purpose_public_key(inputs["purpose"], inputs["key_type"], inputs["public_key"]),
        now=inputs["created_at"],
        ttl=inputs["expires_at"] - inputs["created_at"],
    )
    # what we produce must verify at its creation time
    verify_purpose_key_attestation(attestation, subject, now=inputs["created_at"])
    return {"attestation": attestation.encode().hex()}


# -- credentials ----------------------------------------------------------------------------


def _credential_kind(inputs: dict[str, Any]) -> dict[str, Any]:
    if inputs["operation"] == "verify":
        try:
            verified = verify_credential(
                _hex(inputs["credential"]),
                _identity(inputs["issuer_change_history"]),
                inputs["authorities"],
                now=inputs["now"],
                expected_subject=inputs.get("expected_subject"),
            )
        except OckamError:
            return dict(_INVALID)
        purpose = _purpose_key_json(verified.purpose_key)
        latest = verified.data.subject_latest_change_hash
        return {
            "valid": True,
            "issuer": str(verified.issuer),
            "subject": str(verified.subject),
            "subject_latest_change_hash": None if latest is None else latest.hex(),
            "schema": verified.attributes.schema,
            "attributes": verified.attributes.text_map(),
            "created_at": verified.data.created_at,
            "expires_at": verified.data.expires_at,
            "purpose_key": {k: purpose[k] for k in ("key_type", "public_key", "created_at", "expires_at")},
        }
    issuer = _identity(inputs["issuer_change_history"])
    identity_signer = SigningSecret(
        issuer.primary_public_key.key_type, _hex(inputs["issuer_identity_secret_key"])
    )
    purpose_signer = SigningSecret(SigningKeyType.ED25519, _hex(inputs["purpose_key_secret_key"]))
    pk_created = inputs["purpose_key_created_at"]
    attestation = create_purpose_key_attestation(
        issuer,
        identity_signer,
        CredentialSigningKey(purpose_signer.public_key()),
        now=pk_created,
        ttl=inputs["purpose_key_expires_at"] - pk_created,
    )
    attributes = Attributes(
        inputs["schema"],
        {k.encode("utf-8"): v.encode("utf-8") for k, v in inputs["attributes"].items()},
    )
    presented = issue_credential(
        attestation,
        purpose_signer,
        Identifier.parse(inputs["subject"]),
        attributes,
        now=inputs["created_at"],
        ttl=inputs["expires_at"] - inputs["created_at"],
        subject_latest_change_hash=_hex(inputs["subject_latest_change_hash"]),
    )
    verify_credential(presented, issuer, [issuer.identifier], now=inputs["created_at"])
    encoded = presented.encode()
    if CredentialAndPurposeKey.decode(encoded) != presented:
        raise Mismatch("credential does not decode back")
    return {
        "purpose_key_attestation": attestation.encode().hex(),
        "credential": presented.credential.encode().hex(),
        "credential_and_purpose_key": encoded.hex(),
    }


# -- noise ----------------------------------------------------------------------------------


def _noise_initial_h(inputs: dict[str, Any]) -> dict[str, Any]:
    name = inputs["protocol_name"]
    ck, h = initial_state(name)
    if "protocol_name_bytes" in inputs and protocol_name_bytes(name).hex() != inputs["protocol_name_bytes"]:
        raise Mismatch("protocol name bytes differ from the padded name")
    return {"ck": ck.hex(), "h": h.hex()}


def _noise_handshake(inputs: dict[str, Any]) -> dict[str, Any]:
    name = _hex(inputs["protocol_name_bytes"]) if "protocol_name_bytes" in inputs else inputs["protocol_name"]
    initiator = Handshake(
        True,
        _hex(inputs["initiator_static_private"]),
        _hex(inputs["initiator_ephemeral_private"]),
        protocol_name=name,
    )
    responder = Handshake(
        False,
        _hex(inputs["responder_static_private"]),
        _hex(inputs["responder_ephemeral_private"]),
        protocol_name=name,
    )
    i_eph, r_eph = initiator.ephemeral_public_key, responder.ephemeral_public_key
    p1, p2, p3 = (_hex(inputs[f"message{i}_payload"]) for i in (1, 2, 3))
    m1 = initiator.write_message(p1)
    if responder.read_message(m1) != p1:
        raise Mismatch("message 1 payload")
    m2 = responder.write_message(p2)
    if initiator.read_message(m2) != p2:
        raise Mismatch("message 2 payload")
    m3 = initiator.write_message(p3)
    if responder.read_message(m3) != p3:
        raise Mismatch("message 3 payload")
    i, r = initiator.result(), responder.result()
    if (
        i.handshake_hash != r.handshake_hash
        or i.encryption_key != r.decryption_key
        or i.decryption_key != r.encryption_key
        or i.remote_static_public_key != responder.static_public_key
        or r.remote_static_public_key != initiator.static_public_key
    ):
        raise Mismatch("initiator and responder disagree")
    return {
        "initiator_static_public": initiator.static_public_key.hex(),
        "initiator_ephemeral_public": i_eph.hex(),
        "responder_static_public": responder.static_public_key.hex(),
        "responder_ephemeral_public": r_eph.hex(),
        "message1": m1.hex(),
        "message2": m2.hex(),
        "message3": m3.hex(),
        "handshake_hash": i.handshake_hash.hex(),
        "k1": i.k1.hex(),
        "k2": i.k2.hex(),
        "initiator_encryption_key": i.encryption_key.hex(),
        "initiator_decryption_key": i.decryption_key.hex(),
        "responder_encryption_key": r.encryption_key.hex(),
        "responder_decryption_key": r.decryption_key.hex(),
    }


# -- secure channel transport -----------------------------------------------------------------


def _sc_transport(inputs: dict[str, Any]) -> dict[str, Any]:
    op = inputs["operation"]
    if op == "encrypt":
        nonce = inputs["nonce"]
        encryptor = Encryptor(key_for_nonce(_hex(inputs["key"]), nonce), nonce)
        message = encryptor.encrypt(_hex(inputs["plaintext"]))
        return {"message": message.hex(), "key_used": encryptor.key.hex()}
    if op == "rekey":
        keys, key = [], _hex(inputs["key"])
        for _ in range(inputs["count"]):
            key = rekey(key)
            keys.append(key.hex())
        return {"keys": keys}
    if op == "replay-window":
        tracker, accepted = NonceTracker(), []
        for nonce in inputs["nonces"]:
            try:
                tracker.mark(nonce)
                accepted.append(True)
            except OckamError:
                accepted.append(False)
        return {"accepted": accepted}
    if op == "decrypt":
        decryptor, results = Decryptor(_hex(inputs["key"])), []
        for text in inputs["messages"]:
            raw = _hex(text)
            nonce = int.from_bytes(raw[:8], "big") if len(raw) >= 8 else None
            try:
                plaintext, _ = decryptor.decrypt(raw)
                results.append({"accepted": True, "nonce": nonce, "plaintext": plaintext.hex()})
            except OckamError:
                results.append({"accepted": False, "nonce": nonce, "plaintext": None})
        return {"results": results}
    raise OckamError(f"unknown sc-transport operation {op!r}")


def _route(texts: list[str]) -> Route:
    return Route(Address.parse(t) for t in texts)


def _message_json(message: SecureChannelMessage) -> dict[str, Any]:
    if isinstance(message, PayloadMessage):
        return {
            "type": "payload",
            "onward_route": [str(a) for a in message.onward_route],
            "return_route": [str(a) for a in message.return_route],
            "payload": message.payload.hex(),
        }
    if isinstance(message, RefreshCredentialsMessage):
        return {
            "type": "refresh_credentials",
            "change_history": message.change_history.hex(),
            "credentials": [c.hex() for c in message.credentials],
        }
    return {"type": "close"}


def _sc_plaintext(inputs: dict[str, Any]) -> dict[str, Any]:
    spec = inputs["message"]
    message: SecureChannelMessage
    if spec["type"] == "payload":
        message = PayloadMessage(
            _route(spec["onward_route"]), _route(spec["return_route"]), _hex(spec["payload"])
        )
    elif spec["type"] == "refresh_credentials":
        message = RefreshCredentialsMessage(
            _hex(spec["change_history"]), tuple(_hex(c) for c in spec["credentials"])
        )
    elif spec["type"] == "close":
        message = CloseMessage()
    else:
        raise OckamError(f"unknown secure channel message type {spec['type']!r}")
    padding = _hex(inputs.get("padding") or "")
    encoded = encode_plaintext(message, padding)
    decoded, decoded_padding = decode_plaintext(encoded)
    if decoded_padding != padding or _message_json(decoded) != _message_json(message):
        raise Mismatch("secure channel message does not decode back to the inputs")
    return {"cbor": encoded.hex()}


KINDS = {
    "identity": _identity_kind,
    "purpose-key-attestation": _purpose_key_kind,
    "credential": _credential_kind,
    "noise-initial-h": _noise_initial_h,
    "noise-xx-handshake": _noise_handshake,
    "sc-transport": _sc_transport,
    "sc-plaintext": _sc_plaintext,
}
