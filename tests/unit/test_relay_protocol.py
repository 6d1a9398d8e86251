from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ockam.codec import bare
from ockam.codec.address import Address
from ockam.codec.route import Route, route
from ockam.errors import DecodeError, OckamError, ProtocolError
from ockam.protocol.relay import (
    RELAY_PREFIX,
    RELAY_SERVICE,
    STATIC_RELAY_SERVICE,
    accept_registration,
    ephemeral_name,
    forward_onward_route,
    parse_registration_request,
    parse_registration_response,
    registration_request,
    registration_service,
    relay_name_allowed,
)

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "vectors"
RELAY_FILES = sorted(VECTORS.glob("relay-registration-*.json")) if VECTORS.is_dir() else []


@pytest.mark.skipif(not RELAY_FILES, reason="shared vectors not found")
@pytest.mark.parametrize("path", RELAY_FILES, ids=lambda p: p.stem)
def test_relay_vector(path: Path) -> None:
    vector = json.loads(path.read_text())
    inputs, expected = vector["inputs"], vector["expected"]
    name = inputs["relay_name"] if inputs["mode"] == "static" else None
    assert registration_service(name) == expected["service_address"]
    request = registration_request(name)
    assert request.hex() == expected["request_payload"]
    if name is None:
        accepted = accept_registration(request, route("client"), prefix=inputs["prefix"])
        assert re.match(expected["relay_address_regex"], accepted.relay_address.text)
        return
    registration_route = route(*inputs["registration_return_route"])
    accepted = accept_registration(request, registration_route, prefix=inputs["prefix"])
    assert accepted.response_payload.hex() == expected["response_payload"]
    assert accepted.relay_address.text == expected["relay_address"]
    assert [str(a) for a in accepted.response_return_route] == expected["response_return_route"]
    assert accepted.response_onward_route == registration_route
    forwarded = forward_onward_route(route(*inputs["incoming_onward_route"]), accepted.forward_route)
    assert [str(a) for a in forwarded] == expected["forwarded_onward_route"]


def test_request_and_services() -> None:
    assert registration_request("s").hex() == "0173"
    assert registration_request(None).hex() == "087265676973746572"
    assert registration_service("s") == STATIC_RELAY_SERVICE == "static_forwarding_service"
    assert registration_service(None) == RELAY_SERVICE == "forwarding_service"
    assert parse_registration_request(bytes.fromhex("0173")) == "s"
    assert parse_registration_request(registration_request(None)) is None
    # a static name "register" is an ephemeral registration for the relay service
    assert parse_registration_request(registration_request("register")) is None
    with pytest.raises(DecodeError):
        parse_registration_request(b"\x05ab")
    with pytest.raises(DecodeError):
        parse_registration_request(b"\x01\xff")


def test_worked_example() -> None:
    # B registers "s" at R over plain TCP, C sends through the relay (relays.md 3.1).
    accepted = accept_registration(registration_request("s"), route("sR", "mR"))
    assert accepted.relay_address == Address.local("forward_to_s")
    assert accepted.response_onward_route == route("sR", "mR")
    assert accepted.response_return_route == route("forward_to_s")
    assert bare.decode_string(accepted.response_payload)[0] == "forward_to_s"
    assert accepted.forward_route == route("sR")
    assert forward_onward_route(route("forward_to_s", "echo"), accepted.forward_route) == route("sR", "echo")
    # what B sees: the reply with return route [its TCP sender, forward_to_s]
    info = parse_registration_response(accepted.response_payload, route("sB", "forward_to_s"), "s")
    assert info.remote_address == "forward_to_s"
    assert info.forwarding_route == route("sB", "forward_to_s")


def test_ephemeral_registration() -> None:
    accepted = accept_registration(registration_request(None), route("t", "m"), random_name="ab" * 16)
    assert accepted.name == "ab" * 16
    assert accepted.relay_address.text == RELAY_PREFIX + "ab" * 16
    assert re.fullmatch("[0-9a-f]{32}", ephemeral_name())
    assert ephemeral_name() != ephemeral_name()
    info = parse_registration_response(accepted.response_payload, route("x", accepted.relay_address), None)
    assert info.remote_address == accepted.relay_address.text


def test_response_checks() -> None:
    # the hosted (Elixir) relay answers with the bare name: accepted, it ends with the name
    assert parse_registration_response(bare.encode_string("s"), route("x", "forward_to_s"), "s")
    with pytest.raises(ProtocolError):
        parse_registration_response(bare.encode_string("forward_to_t"), route("forward_to_t"), "s")
    with pytest.raises(ProtocolError):
        parse_registration_response(bare.encode_string("forward_to_s"), route("1#127.0.0.1:4000"), "s")
    with pytest.raises(DecodeError):
        parse_registration_response(b"\x09", route("forward_to_s"), "s")
    with pytest.raises(DecodeError):
        parse_registration_response(bare.encode_string("s"), Route(), "s")


def test_registration_from_same_node_and_errors() -> None:
    accepted = accept_registration(registration_request("local"), route("main_remote"))
    assert accepted.forward_route == Route()
    assert forward_onward_route(route("forward_to_local", "echo"), accepted.forward_route) == route("echo")
    with pytest.raises(DecodeError):
        accept_registration(registration_request("x"), Route())
    with pytest.raises(DecodeError):
        forward_onward_route(Route(), route("a"))


def test_relay_attribute_check() -> None:
    assert relay_name_allowed("s", "*")
    assert relay_name_allowed("s", "s")
    assert not relay_name_allowed("s", "forward_to_s")
    assert not relay_name_allowed("s", None)


hops = st.lists(st.text(alphabet="abcdefghij0123456789_-.:", min_size=1, max_size=12), min_size=1, max_size=5)


@given(st.text(max_size=30), hops, hops)
def test_registration_properties(name: str, registration: list[str], incoming: list[str]) -> None:
    return_route = Route(Address.local(h) for h in registration)
    accepted = accept_registration(registration_request(name), return_route, random_name="0" * 32)
    expected_name = "0" * 32 if name == "register" else name
    assert accepted.relay_address.text == "forward_to_" + expected_name
    assert bare.decode_string(accepted.response_payload)[0] == "forward_to_" + expected_name
    onward = Route([accepted.relay_address, *(Address.local(h) for h in incoming)])
    forwarded = forward_onward_route(onward, accepted.forward_route)
    assert list(forwarded) == list(return_route)[:-1] + list(onward)[1:]


@given(st.binary(max_size=40))
def test_parsers_only_raise_ockam_errors(data: bytes) -> None:
    try:
        parse_registration_request(data)
    except OckamError:
        pass
    try:
        parse_registration_response(data, route("forward_to_s"), "s")
    except OckamError:
        pass
