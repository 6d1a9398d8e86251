"""Every shared vector of an implemented kind passes through the conformance runner."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from ockam.conformance import Outcome, check_file, handlers, run

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "vectors"
FILES = sorted(VECTORS.glob("*.json")) if VECTORS.is_dir() else []
TABLE = handlers()


@pytest.mark.skipif(not FILES, reason="shared vectors not found beside the repository")
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_vector(path: Path) -> None:
    outcome, detail = check_file(path, TABLE)
    if outcome == Outcome.SKIPPED:
        pytest.skip(detail)
    assert outcome == Outcome.PASSED, detail


@pytest.mark.skipif(not FILES, reason="shared vectors not found beside the repository")
def test_runner_summary_line() -> None:
    out = io.StringIO()
    passed, failed, skipped = run([str(VECTORS)], out=out)
    last = out.getvalue().strip().splitlines()[-1]
    assert last == f"{passed} passed, {failed} failed, {skipped} skipped"
    assert failed == 0


def test_runner_reports_a_wrong_vector(tmp_path: Path) -> None:
    bad = tmp_path / "bare-wrong.json"
    bad.write_text(
        '{"kind": "bare", "description": "x", "source": "derived: x",'
        ' "inputs": {"operation": "encode", "type": "uint", "value": 300},'
        ' "expected": {"bytes": "ad02"}}'
    )
    outcome, detail = check_file(bad, TABLE)
    assert outcome == Outcome.FAILED
    assert "ac02" in detail
