from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ockam.errors import DecodeError, OckamError
from ockam.protocol.ticket import (
    ExportedTicket,
    LegacyTicket,
    decode_exported_ticket,
    decode_legacy_ticket,
    decode_ticket,
    default_authority_route,
    parse_one_time_code,
    ticket_import,
)

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "vectors"
TICKET_FILES = sorted(VECTORS.glob("enrollment-ticket-*.json")) if VECTORS.is_dir() else []

CODE = "6ec8b75c60639ee1fe0806b7113ed5fa362410e01ad1b25425dad76ef57025c6"
ROUTE = "/dnsaddr/p1.projects.orchestrator.ockam.io/tcp/443/service/p1/service/api"


@pytest.mark.skipif(not TICKET_FILES, reason="shared vectors not found")
@pytest.mark.parametrize("path", TICKET_FILES, ids=lambda p: p.stem)
def test_ticket_vector(path: Path) -> None:
    vector = json.loads(path.read_text())
    inputs, expected = vector["inputs"], vector["expected"]
    if inputs["operation"] == "encode":
        f = inputs["fields"]
        exported = ExportedTicket.create(
            f["project_route"],
            f["project_identifier"],
            f["project_name"],
            f["one_time_code"],
            f["project_change_history"],
            f["authority_change_history"],
            f["authority_route"],
        )
        assert exported.encode() == expected["ticket"]
        return
    decoded = decode_ticket(inputs["ticket"])
    assert ("legacy" if isinstance(decoded, LegacyTicket) else "exported") == expected["format"]
    assert decoded.one_time_code == expected["fields"]["one_time_code"]
    if isinstance(decoded, ExportedTicket):
        assert str(decoded.project_route) == expected["fields"]["project_route"]
        assert decoded.authority_route == expected["fields"]["authority_route"]
        data = ticket_import(decoded)
        assert data.project_id == expected["import"]["project_id"]
        assert str(data.authority_route) == expected["import"]["authority_route"]
        assert data.project_change_history.hex() == expected["fields"]["project_change_history"]
    else:
        assert decoded.project_id == expected["fields"]["project_id"]
        assert decoded.authority_identity == expected["fields"]["authority_identity"]
        assert expected["import"] is None
        with pytest.raises(DecodeError):
            ticket_import(decoded)


def test_exported_round_trip_and_defaults() -> None:
    t = ExportedTicket.create(ROUTE, "Iabc", "name", CODE.upper(), "81", "82")
    assert t.one_time_code == CODE
    assert t.text() == f"{ROUTE},Iabc,name,{CODE},81,82"
    assert decode_exported_ticket(t.encode()) == t
    assert decode_exported_ticket(t.text()) == t  # plain text is accepted
    assert decode_ticket(t.encode()) == t
    data = ticket_import(t)
    assert data.project_id == "p1"
    assert data.authority_route == default_authority_route("p1")
    assert data.project_change_history == b"\x81"
    # a bare project id instead of a route: the default orchestrator route
    by_id = decode_exported_ticket(f"p1,Iabc,name,{CODE},81,82,/dnsaddr/a/tcp/1/service/api,extra")
    assert str(by_id.project_route) == ROUTE
    assert by_id.authority_route == "/dnsaddr/a/tcp/1/service/api"
    assert str(ticket_import(by_id).authority_route) == "/dnsaddr/a/tcp/1/service/api"


@pytest.mark.parametrize(
    "text",
    [
        f"{ROUTE},Iabc,name,{CODE},81",  # 5 fields
        f"{ROUTE},Iabc,name,{CODE[:-2]},81,82",  # short code
        f"{ROUTE},Iabc,name,zz{CODE[2:]},81,82",
        f"/ip4/127.0.0.1/tcp/4000/service/api,Iabc,name,{CODE},81,82",  # not /dnsaddr
        b"\xff\xfe,a,b,c,d,e".hex(),  # hex of non-UTF-8
    ],
)
def test_exported_errors(text: str) -> None:
    with pytest.raises(DecodeError):
        decode_exported_ticket(text)


def test_import_errors() -> None:
    t = ExportedTicket.create(ROUTE, "I", "n", CODE, "zz", "82")
    with pytest.raises(DecodeError):
        ticket_import(t)
    t = ExportedTicket.create(ROUTE, "I", "n", CODE, "81", "82", "/nope/x")
    with pytest.raises(DecodeError):
        ticket_import(t)


def _project(**overrides: object) -> dict[str, object]:
    project: dict[str, object] = {
        "id": "pid",
        "name": "pname",
        "space_name": "",
        "access_route": ROUTE,
        "users": [],
        "space_id": "",
        "identity": None,
        "authority_access_route": None,
        "authority_identity": "82",
        "version": None,
        "running": None,
        "operation_id": None,
        "user_roles": [],
        "project_change_history": "81",
    }
    project.update(overrides)
    return project


def test_legacy() -> None:
    t = LegacyTicket(CODE, _project())
    decoded = decode_ticket(t.encode())
    assert decoded == t
    data = ticket_import(decoded)
    assert data.project_id == "pid" and data.project_name == "pname"
    assert data.authority_route == default_authority_route("pid")
    assert data.authority_change_history == b"\x82"
    assert decode_legacy_ticket(LegacyTicket(CODE, None).encode()).project is None
    with pytest.raises(DecodeError):
        ticket_import(LegacyTicket(CODE, None))
    with pytest.raises(DecodeError):
        ticket_import(LegacyTicket(CODE, _project(authority_identity=None)))
    for bad in (_project(id=None), _project(users=None), _project(running="yes"), _project(identity=1)):
        with pytest.raises(DecodeError):
            decode_legacy_ticket(LegacyTicket(CODE, bad).encode())
    with pytest.raises(DecodeError):
        decode_legacy_ticket(json.dumps({"project": None}).encode().hex())


def test_one_time_code() -> None:
    assert parse_one_time_code(CODE.upper()) == CODE
    for bad in ("", CODE + "00", " " + CODE[1:], "é" * 64):
        with pytest.raises(DecodeError):
            parse_one_time_code(bad)


@given(st.text(max_size=80) | st.binary(max_size=60).map(bytes.hex))
def test_decoders_only_raise_ockam_errors(text: str) -> None:
    try:
        ticket_import(decode_ticket(text))
    except OckamError:
        pass
