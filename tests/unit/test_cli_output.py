"""CLI output machinery: result selection, JSON/jq, stdin substitution, global options, errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from ockam.cli.main import main
from ockam.cli.output import (
    GlobalOpts,
    Terminal,
    apply_jq,
    json_text,
    replace_hyphen_with_stdin,
    select_message,
)
from ockam.errors import OckamError


class FakeStream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


PLAIN, MACHINE, JSON = "plain text", "machine", {"name": "n", "list": [1, 2]}


@pytest.mark.parametrize(
    ("plain", "machine", "json_value", "tty", "expected"),
    [
        (PLAIN, MACHINE, JSON, True, PLAIN),
        (None, MACHINE, JSON, True, MACHINE),
        (None, None, JSON, True, json_text(JSON)),
        (PLAIN, MACHINE, JSON, False, MACHINE),
        (PLAIN, None, JSON, False, json_text(JSON)),
        (PLAIN, None, None, False, PLAIN),
    ],
)
def test_plain_format_selection(
    plain: str | None, machine: str | None, json_value: object, tty: bool, expected: str
) -> None:
    assert select_message(GlobalOpts(), tty, plain, machine, json_value) == expected


def test_json_format_selection() -> None:
    opts = GlobalOpts(output="json")
    assert select_message(opts, True, PLAIN, MACHINE, JSON) == json_text(JSON)
    assert select_message(opts, False, PLAIN, MACHINE, JSON) == json_text(JSON)
    # no JSON form: nothing printed
    assert select_message(opts, True, PLAIN, MACHINE, None) is None
    compact = GlobalOpts(output="json", compact_output=True)
    assert select_message(compact, True, None, None, JSON) == '{"name":"n","list":[1,2]}'


def test_jq_and_compact_imply_json_unless_plain_is_explicit() -> None:
    assert GlobalOpts(jq=".name").json_output
    assert GlobalOpts(compact_output=True).json_output
    assert not GlobalOpts(output="plain", jq=".name").json_output
    assert select_message(GlobalOpts(jq=".name"), True, PLAIN, MACHINE, JSON) == '"n"'
    assert select_message(GlobalOpts(output="plain", jq=".name"), True, PLAIN, MACHINE, JSON) == PLAIN
    # in plain mode a pipe gets the JSON unfiltered
    assert select_message(GlobalOpts(output="plain", jq=".name"), False, PLAIN, None, JSON) == json_text(JSON)


def test_no_output_form_is_an_error() -> None:
    with pytest.raises(OckamError):
        select_message(GlobalOpts(), True)


def test_json_text_is_serde_pretty() -> None:
    assert json_text({"a": [], "b": {}, "c": [1], "d": "é"}) == (
        '{\n  "a": [],\n  "b": {},\n  "c": [\n    1\n  ],\n  "d": "é"\n}'
    )


def test_apply_jq() -> None:
    value = [{"node_name": "a"}, {"node_name": "b"}]
    assert apply_jq('map(.node_name) | join(" ")', value) == ["a b"]
    assert apply_jq(".[]", [1, 2]) == [1, 2]
    with pytest.raises(OckamError):
        apply_jq("map(", value)


def test_terminal_trailing_newline_only_on_a_tty() -> None:
    for tty, expected in ((True, "hello\n"), (False, "hello")):
        out, err = FakeStream(tty), FakeStream(False)
        Terminal(GlobalOpts(), out, err).result(plain="hello  \n\n", machine=None)
        assert out.getvalue() == expected


def test_terminal_status_goes_to_stderr_unless_quiet() -> None:
    out, err = FakeStream(False), FakeStream(False)
    Terminal(GlobalOpts(), out, err).status("working")
    assert err.getvalue() == "working\n" and out.getvalue() == ""
    err = FakeStream(False)
    Terminal(GlobalOpts(quiet=True), out, err).status("working")
    assert err.getvalue() == ""


def test_confirm_without_a_tty_needs_yes() -> None:
    term = Terminal(GlobalOpts(), FakeStream(False), FakeStream(False))
    assert term.confirm(True, "sure?")
    with pytest.raises(OckamError, match="Use --yes to confirm"):
        term.confirm(False, "sure?")


@pytest.mark.parametrize(
    ("arg", "line", "expected"),
    [
        ("-/service/uppercase", "/service/abc\n", "/service/abc/service/uppercase"),
        ("/node/n1/-", "service/abc/", "/node/n1/service/abc"),
        ("--to=-/x", "  a//b  ", "--to=/a/b/x"),
        ("/-/-", "a/b", "/a/b/a/b"),
        ("plain", "unused", "plain"),
        ("node-1", "unused", "node-1"),
    ],
)
def test_replace_hyphen_with_stdin(arg: str, line: str, expected: str) -> None:
    calls: list[int] = []

    def read_line() -> str:
        calls.append(1)
        return line

    assert replace_hyphen_with_stdin(arg, read_line) == expected
    assert len(calls) == (0 if expected in ("plain", "node-1") else 1)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OCKAM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("QUIET", raising=False)
    return tmp_path / "home"


def test_global_options_before_or_after_the_subcommand(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for args in (
        ("--output", "json", "node", "list"),
        ("node", "--output", "json", "list"),
        ("node", "list", "--output", "json"),
    ):
        code, out, _ = _run(capsys, *args)
        assert code == 0
        assert json.loads(out) == []
    code, out, _ = _run(capsys, "node", "list", "--jq", "length")
    assert (code, out) == (0, "0")


def test_test_argument_parser_does_nothing(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "node", "create", "n1", "--test-argument-parser")
    assert (code, out, err) == (0, "", "")
    assert not (home / "nodes").exists()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    for flag in ("-V", "--version"):
        code, out, _ = _run(capsys, "node", flag)
        assert code == 0
        assert "ockam 0.139.0" in out


def test_usage_errors_are_one_line_exit_2(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args in (
        ("node", "nope"),
        ("message", "send", "x", "--to", "/nope/x"),
        ("node", "list", "--output", "yaml"),
        ("message", "send", "x"),
    ):
        code, _out, err = _run(capsys, *args)
        assert code == 2, args
        assert len(err.strip().splitlines()) == 1, err
        assert "Traceback" not in err


def test_command_failures_are_one_line_exit_70(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args in (
        ("node", "create", "n!"),
        ("node", "create", "node.yaml"),
        ("node", "default"),
        ("node", "start", "nope"),
        ("message", "send", "x", "--to", "/node/nope/service/echo"),
        ("tcp-listener", "list", "--at", "nope"),
        ("node", "create", "--configuration", "{name: n}", "--variable", "MY_VAR="),
    ):
        code, out, err = _run(capsys, *args)
        assert code == 70, args
        assert out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), err
    _, _, err = _run(capsys, "node", "create", "--configuration", "{name: n}", "--variable", "MY_VAR=")
    assert "Empty value for variable 'MY_VAR'" in err


def test_empty_home_show_and_delete_succeed(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "node", "delete", "--all", "--yes")[0] == 0
    code, out, _ = _run(capsys, "node", "show", "n", "--output", "json")
    assert code == 0 and json.loads(out) == []


def test_reset_requires_yes_without_a_tty(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "reset")
    assert code == 70 and "Use --yes to confirm" in err
    home.mkdir(parents=True, exist_ok=True)
    (home / "env").write_text("")
    assert _run(capsys, "reset", "--yes")[0] == 0
    assert sorted(p.name for p in home.iterdir()) == ["application_database.sqlite3", "env"]
