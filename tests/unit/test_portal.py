from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ockam.errors import DecodeError, OckamError, ProtocolError
from ockam.protocol.portal import (
    MAX_PAYLOAD_SIZE,
    Close,
    Data,
    Disconnect,
    Ignored,
    Opened,
    Payload,
    Ping,
    Pong,
    PortalConnection,
    PortalMessage,
    PortalState,
    decode_portal_message,
    encode_portal_message,
    is_ping,
)

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "vectors"
PORTAL_FILES = sorted(VECTORS.glob("portal-message-*.json")) if VECTORS.is_dir() else []


def _message(obj: dict[str, object]) -> PortalMessage:
    kind = obj["type"]
    if kind == "payload":
        data = obj["data"]
        counter = obj["counter"]
        assert isinstance(data, str) and (counter is None or isinstance(counter, int))
        return Payload(bytes.fromhex(data), counter)
    simple: dict[str, PortalMessage] = {"ping": Ping(), "pong": Pong(), "disconnect": Disconnect()}
    return simple[str(kind)]


@pytest.mark.skipif(not PORTAL_FILES, reason="shared vectors not found")
@pytest.mark.parametrize("path", PORTAL_FILES, ids=lambda p: p.stem)
def test_portal_vector(path: Path) -> None:
    vector = json.loads(path.read_text())
    inputs, expected = vector["inputs"], vector["expected"]
    if inputs["operation"] == "encode":
        assert encode_portal_message(_message(inputs["message"])).hex() == expected["bytes"]
    elif expected == {"error": True}:
        with pytest.raises(DecodeError):
            decode_portal_message(bytes.fromhex(inputs["bytes"]))
    else:
        assert decode_portal_message(bytes.fromhex(inputs["bytes"])) == _message(expected["message"])


def test_encoding() -> None:
    assert encode_portal_message(Ping()) == b"\x00"
    assert encode_portal_message(Pong()) == b"\x01"
    assert encode_portal_message(Disconnect()) == b"\x02"
    assert encode_portal_message(Payload(b"hello")).hex() == "030568656c6c6f"
    # 0.139 never writes the counter
    assert encode_portal_message(Payload(b"hello", 123)).hex() == "030568656c6c6f"
    assert encode_portal_message(Payload(b"hello", 123), with_counter=True).hex() == "030568656c6c6f017b00"
    assert encode_portal_message(Payload(b"", None), with_counter=True).hex() == "030000"
    assert encode_portal_message(Payload(b"x" * 300))[:3].hex() == "03ac02"
    assert MAX_PAYLOAD_SIZE == 49152


@pytest.mark.parametrize(
    ("hex_bytes", "expected"),
    [
        ("00ffff", Ping()),  # bytes after the tag are ignored
        ("0102", Pong()),
        ("02", Disconnect()),
        ("0300", Payload(b"")),
        ("030161", Payload(b"a")),
        ("0301610000", Payload(b"a")),  # fewer than 3 bytes after the data: no counter
        ("030161007b00", Payload(b"a")),  # flag 0: no counter
        ("030161027b00", Payload(b"a")),  # any flag other than 1: no counter
        ("030161010000", Payload(b"a", 0)),
        ("03016101ffffaa", Payload(b"a", 0xFFFF)),  # bytes after the counter are ignored
    ],
)
def test_decoding(hex_bytes: str, expected: PortalMessage) -> None:
    assert decode_portal_message(bytes.fromhex(hex_bytes)) == expected


@pytest.mark.parametrize("hex_bytes", ["", "04", "ff", "03", "0305616263", "0380"])
def test_decoding_errors(hex_bytes: str) -> None:
    with pytest.raises(DecodeError):
        decode_portal_message(bytes.fromhex(hex_bytes))


@given(st.binary(max_size=2 * MAX_PAYLOAD_SIZE), st.none() | st.integers(0, 0xFFFF))
def test_payload_round_trip(data: bytes, counter: int | None) -> None:
    assert decode_portal_message(encode_portal_message(Payload(data, counter))) == Payload(data)
    encoded = encode_portal_message(Payload(data, counter), with_counter=True)
    assert decode_portal_message(encoded) == Payload(data, counter)


@given(st.binary(max_size=64))
def test_decoder_only_raises_decode_errors(data: bytes) -> None:
    try:
        decode_portal_message(data)
    except OckamError:
        pass


# -- connection state machine -----------------------------------------------------------


def _state(connection: PortalConnection) -> PortalState:
    return connection.state  # (a call, so that type checkers do not narrow the attribute)


def _open_pair() -> tuple[PortalConnection, PortalConnection]:
    inlet, outlet = PortalConnection(inlet=True), PortalConnection(inlet=False)
    ping = inlet.ping()
    assert is_ping(ping) and _state(inlet) is PortalState.AWAIT_PONG
    assert inlet.payloads(b"early") == []  # the inlet does not read before the Pong
    pong = outlet.pong()
    assert _state(outlet) is PortalState.OPEN
    assert inlet.receive(pong) == Opened()
    assert _state(inlet) is PortalState.OPEN
    return inlet, outlet


def test_handshake_and_data() -> None:
    inlet, outlet = _open_pair()
    [message] = inlet.payloads(b"GET /")
    assert outlet.receive(message) == Data(b"GET /")
    chunks = outlet.payloads(b"x" * (MAX_PAYLOAD_SIZE + 1))
    assert len(chunks) == 2
    assert [inlet.receive(c) for c in chunks] == [Data(b"x" * MAX_PAYLOAD_SIZE), Data(b"x")]
    assert inlet.payloads(b"") == []


def test_protocol_errors_are_ignored() -> None:
    inlet = PortalConnection(inlet=True)
    inlet.ping()
    assert isinstance(inlet.receive(encode_portal_message(Payload(b"x"))), Ignored)
    assert isinstance(inlet.receive(encode_portal_message(Disconnect())), Ignored)
    assert isinstance(inlet.receive(b"\x09"), Ignored)
    assert _state(inlet) is PortalState.AWAIT_PONG
    assert inlet.receive(b"\x01") == Opened()
    assert isinstance(inlet.receive(b"\x00"), Ignored)
    assert isinstance(inlet.receive(b"\x01"), Ignored)
    assert _state(inlet) is PortalState.OPEN
    outlet = PortalConnection(inlet=False)
    assert isinstance(outlet.receive(b"\x03\x00"), Ignored)  # before its Pong
    with pytest.raises(ProtocolError):
        outlet.ping()
    with pytest.raises(ProtocolError):
        inlet.pong()


def test_local_eof_disconnects_after_grace() -> None:
    inlet, outlet = _open_pair()
    disconnect = inlet.local_closed()
    assert disconnect == b"\x02"
    assert _state(inlet) is PortalState.DISCONNECTING
    assert isinstance(inlet.receive(encode_portal_message(Payload(b"late"))), Ignored)
    assert inlet.local_closed() is None
    inlet.closed()
    assert _state(inlet) is PortalState.CLOSED
    assert outlet.receive(disconnect) == Close()
    assert _state(outlet) is PortalState.CLOSED
    assert isinstance(outlet.receive(encode_portal_message(Payload(b"x"))), Ignored)


def test_eof_before_pong_sends_nothing() -> None:
    inlet = PortalConnection(inlet=True)
    inlet.ping()
    assert inlet.local_closed() is None
    assert _state(inlet) is PortalState.CLOSED


def test_packet_counter() -> None:
    _, outlet = _open_pair()
    for counter in (0, 1, 2):
        message = encode_portal_message(Payload(b"a", counter), with_counter=True)
        assert outlet.receive(message) == Data(b"a")
    assert outlet.receive(encode_portal_message(Payload(b"b"))) == Data(b"b")  # no counter: no check
    skipped = encode_portal_message(Payload(b"a", 4), with_counter=True)
    assert outlet.receive(skipped) == Close(b"\x02")
    assert _state(outlet) is PortalState.CLOSED


def test_packet_counter_wraps() -> None:
    _, outlet = _open_pair()
    outlet._next_counter = 0xFFFF
    assert outlet.receive(encode_portal_message(Payload(b"a", 0xFFFF), with_counter=True)) == Data(b"a")
    assert outlet.receive(encode_portal_message(Payload(b"a", 0), with_counter=True)) == Data(b"a")
