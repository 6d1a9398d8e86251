from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ockam.codec import bare, cbor
from ockam.codec.address import Address
from ockam.codec.multiaddr import MultiAddr
from ockam.codec.route import Route, route
from ockam.errors import DecodeError, OckamError

cbor_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64 - 1)
    | st.binary(max_size=64)
    | st.text(max_size=32),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.integers(0, 50), children, max_size=5)
    ),
    max_leaves=20,
)


@given(cbor_values)
def test_cbor_round_trip(value: object) -> None:
    assert cbor.decode(cbor.encode(value)) == value


@given(st.binary(max_size=200))
def test_cbor_decoder_only_raises_ockam_errors(data: bytes) -> None:
    try:
        cbor.decode(data)
    except OckamError:
        pass


def test_cbor_shortest_heads_and_map_order() -> None:
    assert cbor.encode(1700151063).hex() == "1a65563f17"
    assert cbor.encode({"ockam-relay": b"", "ockam-role": b""}).hex().startswith("a2")
    assert cbor.encode(cbor.ByteList(b"hi")).hex() == "82186818" + "69"


def test_cbor_rejects_indefinite_strings_and_accepts_indefinite_arrays() -> None:
    with pytest.raises(DecodeError):
        cbor.decode(bytes.fromhex("5f4101ff"))
    assert cbor.decode(bytes.fromhex("9f0102ff")) == [1, 2]


@given(st.integers(0, 2**64 - 1))
def test_bare_uint_round_trip(n: int) -> None:
    data = bare.encode_uint(n)
    assert bare.decode_uint(data + b"\x00") == (n, len(data))


def test_address_and_route_text() -> None:
    assert Address.parse("echo") == Address(0, b"echo")
    assert str(Address.parse("1#127.0.0.1:4000")) == "1#127.0.0.1:4000"
    with pytest.raises(DecodeError):
        Address.parse("1#2#3")
    with pytest.raises(DecodeError):
        Address.parse("256#x")
    r = Route.parse(" a =>  1#h:1 ")
    assert str(r) == "0#a => 1#h:1"
    assert route("a", "b").step() == route("b")
    assert route("a").prepend(Address.local("z")) == route("z", "a")


@given(st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=40)), max_size=6))
def test_route_binary_round_trip(hops: list[tuple[int, bytes]]) -> None:
    r = Route(Address(t, v) for t, v in hops)
    assert Route.from_cbor(cbor.decode(cbor.encode(r.to_cbor()))) == r
    assert Route.from_bare(r.to_bare())[0] == r


def test_multiaddr_forms() -> None:
    ma = MultiAddr.parse("/ip4/127.0.0.1/tcp/4000/service/api")
    assert ma.to_bytes().hex() == "047f000001060fa0bee80303617069"
    assert MultiAddr.parse("self") == MultiAddr.parse("/secure/api")
    assert MultiAddr.parse("/service/a/service/b").to_local_route() == route("a", "b")
    assert ma.socket_address() == "127.0.0.1:4000"
    for bad in ["/foo/bar", "/service/api/", "/ip4/300.1.1.1", "/tcp/70000", "/service"]:
        with pytest.raises(DecodeError):
            MultiAddr.parse(bad)


@given(st.binary(max_size=60))
def test_multiaddr_decoder_only_raises_ockam_errors(data: bytes) -> None:
    try:
        MultiAddr.from_bytes(data)
    except OckamError:
        pass


@given(
    st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=300)), max_size=6), st.binary(max_size=70000)
)
def test_fast_paths_match_the_generic_codec(hops: list[tuple[int, bytes]], payload: bytes) -> None:
    from ockam.codec import fast
    from ockam.protocol.secure_channel import PayloadMessage, decode_plaintext, encode_plaintext
    from ockam.protocol.transport_message import TransportMessage

    r = Route(Address(t, v) for t, v in hops)
    assert fast.encode_route(r) == cbor.encode(r.to_cbor())
    assert fast.decode_route(b"\x00" + fast.encode_route(r), 1) == (r, len(fast.encode_route(r)) + 1)
    m = TransportMessage(r, route("x"), payload)
    assert m.encode() == cbor.encode([r.to_cbor(), route("x").to_cbor(), payload])
    assert TransportMessage.decode(m.encode()) == m
    pm = PayloadMessage(r, route("y"), payload)
    generic = cbor.encode([[0, [[r.to_cbor(), route("y").to_cbor(), payload]]], b""])
    assert encode_plaintext(pm) == generic
    assert decode_plaintext(generic) == (pm, b"")


def test_fast_route_decoder_falls_back_on_wide_heads() -> None:
    from ockam.codec import fast

    wide = bytes.fromhex("98018200446563686f")  # array(1) with a one-byte length head
    assert fast.decode_route(wide, 0) == (route("echo"), len(wide))


@given(st.lists(st.integers(0, 3), max_size=12))
def test_route_memo_reads_what_decode_route_reads(picks: list[int]) -> None:
    from ockam.codec.fast import RouteMemo, decode_route, encode_route

    routes = [route("a"), route("a", "b"), route(), route("1#127.0.0.1:4000", "outlet")]
    memo = RouteMemo()
    for i in picks:
        data = b"\x00" + encode_route(routes[i]) + b"\x40"  # followed by something else
        assert memo.decode(data, 1) == decode_route(data, 1) == (routes[i], len(data) - 1)
        view = memoryview(data)
        assert memo.decode(view, 1) == (routes[i], len(data) - 1)
