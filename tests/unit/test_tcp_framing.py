from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ockam.codec.route import route
from ockam.errors import ProtocolError
from ockam.protocol.tcp_framing import MAX_FRAME, FrameReader, encode_frame
from ockam.protocol.transport_message import TransportMessage

MSG = TransportMessage(route("echo"), route("abc"), b"\x05hello")


def test_frames_split_at_every_byte() -> None:
    stream = b"\x01" + encode_frame(MSG) * 3
    reader = FrameReader()
    got: list[TransportMessage] = []
    for i in range(len(stream)):
        got += reader.receive_data(stream[i : i + 1])
    assert got == [MSG] * 3
    assert reader.buffered == 0


def test_bad_version_byte_and_oversized_frame_close_the_connection() -> None:
    with pytest.raises(ProtocolError):
        FrameReader().receive_data(b"\x02")
    with pytest.raises(ProtocolError):
        FrameReader().receive_data(b"\x01" + (MAX_FRAME + 1).to_bytes(4, "big"))
    reader = FrameReader()
    with pytest.raises(ProtocolError):
        reader.receive_data(b"\x01\x00\x00\x00\x01\x00")
    with pytest.raises(ProtocolError):
        reader.receive_data(b"")  # a failed reader stays failed


def test_heartbeat_is_decoded_and_marked() -> None:
    (m,) = FrameReader().receive_data(bytes.fromhex("010000000483808040"))
    assert m.is_heartbeat


@given(st.binary(max_size=300))
def test_garbage_never_raises_anything_but_protocol_error(data: bytes) -> None:
    reader = FrameReader()
    try:
        reader.receive_data(b"\x01" + data)
    except ProtocolError:
        pass


@given(st.lists(st.binary(max_size=100), max_size=5), st.integers(1, 50))
def test_payloads_survive_any_chunking(payloads: list[bytes], chunk: int) -> None:
    msgs = [TransportMessage(route("x"), route(), p, None) for p in payloads]
    stream = b"\x01" + b"".join(encode_frame(m) for m in msgs)
    reader = FrameReader()
    got: list[TransportMessage] = []
    for i in range(0, len(stream), chunk):
        got += reader.receive_data(stream[i : i + chunk])
    assert got == msgs


@given(st.binary(max_size=70_000), st.integers(0, 3))
def test_frame_head_is_the_frame_before_the_payload(payload: bytes, hops: int) -> None:
    from ockam.protocol.tcp_framing import frame_head

    m = TransportMessage(route(*(f"h{i}" for i in range(hops))), route("back"), payload)
    assert frame_head(m.onward_route, m.return_route, len(payload)) + payload == encode_frame(m)


def test_large_frames_straddling_reads() -> None:
    msgs = [TransportMessage(route("x"), route("y"), bytes([i]) * 49_152) for i in range(7)]
    stream = b"\x01" + b"".join(encode_frame(m) for m in msgs)
    for size in (1000, 65_536, 256_000):
        reader = FrameReader()
        got: list[TransportMessage] = []
        for i in range(0, len(stream), size):
            got += reader.receive_data(stream[i : i + size])
        assert got == msgs
        assert reader.buffered == 0


@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 1), st.integers(0, 70_000)), max_size=8))
def test_frame_heads_match_frame_head(messages: list[tuple[int, int, int]]) -> None:
    from ockam.protocol.tcp_framing import FrameHeads, frame_head

    onwards = [route("conn", "a"), route("conn"), route("conn", "a", "b")]
    returns = [route("back"), route()]
    heads = FrameHeads()
    for o, r, length in messages:
        assert heads.head(onwards[o], returns[r], length) == frame_head(onwards[o].step(), returns[r], length)
