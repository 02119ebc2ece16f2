from __future__ import annotations

from pathlib import Path

import pytest

from tai_labs.scenario.diagnostics import ScenarioError
from tai_labs.scenario.source import read_yaml


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "doc.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_every_value_knows_its_line(tmp_path: Path) -> None:
    data, srcmap = read_yaml(write(tmp_path, "a: 1\nb:\n  - x: 2\n  - y:\n      z: 3\n"))
    assert data == {"a": 1, "b": [{"x": 2}, {"y": {"z": 3}}]}
    assert srcmap.locate(("a",)).line == 1
    assert srcmap.locate(("b", 1, "y", "z")).line == 5
    # An unknown path falls back to its closest known ancestor.
    assert srcmap.locate(("b", 0, "nope", 3)).line == 3


def test_merge_keys_are_expanded(tmp_path: Path) -> None:
    data, _ = read_yaml(write(tmp_path, "base: &b {q: 1}\nc:\n  <<: *b\n  r: 2\n"))
    assert data["c"] == {"q": 1, "r": 2}


def test_duplicate_keys_are_errors_not_overrides(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        read_yaml(write(tmp_path, "a: 1\nb: 2\na: 3\n"))
    (diag,) = info.value.diagnostics
    assert diag.location.line == 3 and "duplicate key 'a'" in diag.message


def test_syntax_error_points_at_the_unclosed_construct(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        read_yaml(write(tmp_path, "a: 1\nb: [1, 2\nc: 3\n"))
    assert info.value.diagnostics[0].location.line == 2


def test_empty_document_is_an_empty_mapping(tmp_path: Path) -> None:
    assert read_yaml(write(tmp_path, "# nothing\n"))[0] == {}


def test_not_utf8_and_missing_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="not UTF-8"):
        read_yaml(write(tmp_path, b"a: \xe9t\xe9\n"))
    with pytest.raises(ScenarioError, match="file not found"):
        read_yaml(tmp_path / "absent.yaml")
