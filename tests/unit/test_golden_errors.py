"""Golden tests: each broken scenario under tests/golden/errors/ prints exactly its expected.txt.

Regenerate after an intended change of wording with `UPDATE_GOLDEN=1 pytest tests/unit`, then
read the diff: the messages are part of the user interface.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tai_labs.scenario.loader import validate

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "errors"
CASES = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir() and not p.name.startswith("_"))


def test_there_are_enough_cases() -> None:
    assert len([c for c in CASES if c != "valid"]) >= 12


@pytest.mark.parametrize("case", CASES)
def test_validate_output_matches_golden(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(GOLDEN)
    got = "".join(d.format() + "\n" for d in validate(Path(case) / "scenario.yaml"))
    expected_file = GOLDEN / case / "expected.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        expected_file.write_text(got, encoding="utf-8")
    expected = expected_file.read_text(encoding="utf-8")
    assert got == expected
    # Only the valid case may print nothing; every broken case must name a file and line.
    if case == "valid":
        assert got == ""
    else:
        assert got and all(line.split(":")[1].isdigit() for line in got.splitlines())
