from __future__ import annotations

from pathlib import Path

import pytest

from tai_labs.scenario.diagnostics import ScenarioError
from tai_labs.scenario.extends import load_document

BASE = """\
topology:
  networks:
    - {name: lan, subnet: 10.0.0.0/24}
  nodes:
    - name: dc1
      kind: ad-dc
      memory: 512
    - name: pc1
      kind: linux-client
tags: [a, b]
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "_topologies").mkdir()
    (tmp_path / "_topologies" / "base.yaml").write_text(BASE)
    (tmp_path / "s").mkdir()
    return tmp_path


def test_named_items_merge_and_other_values_replace(tree: Path) -> None:
    scenario = tree / "s" / "scenario.yaml"
    scenario.write_text(
        "extends: base\n"
        "topology:\n"
        "  nodes:\n"
        "    - name: dc1\n"
        "      memory: 1024\n"
        "    - name: pc2\n"
        "      kind: linux-client\n"
        "tags: [c]\n"
    )
    data, srcmap = load_document(scenario)
    nodes = data["topology"]["nodes"]
    assert [n["name"] for n in nodes] == ["dc1", "pc1", "pc2"]
    assert nodes[0] == {"name": "dc1", "kind": "ad-dc", "memory": 1024}
    assert data["tags"] == ["c"]
    assert data["topology"]["networks"][0]["name"] == "lan"
    # Each value points at the file and line that gave it.
    overridden = srcmap.locate(("topology", "nodes", 0, "memory"))
    inherited = srcmap.locate(("topology", "nodes", 0, "kind"))
    added = srcmap.locate(("topology", "nodes", 2, "kind"))
    assert (overridden.file.name, overridden.line) == ("scenario.yaml", 5)
    assert (inherited.file.name, inherited.line) == ("base.yaml", 6)
    assert (added.file.name, added.line) == ("scenario.yaml", 7)


def test_relative_path_bases_and_chains(tree: Path) -> None:
    (tree / "s" / "mid.yaml").write_text("extends: base\ntags: [mid]\n")
    scenario = tree / "s" / "scenario.yaml"
    scenario.write_text("extends: mid.yaml\n")
    data, _ = load_document(scenario)
    assert data["tags"] == ["mid"]
    assert len(data["topology"]["nodes"]) == 2


def test_missing_base_says_what_to_create(tree: Path) -> None:
    scenario = tree / "s" / "scenario.yaml"
    scenario.write_text("extends: nothere\n")
    with pytest.raises(ScenarioError) as info:
        load_document(scenario)
    diag = info.value.diagnostics[0]
    assert "base 'nothere' not found" in diag.message
    assert diag.hint and "nothere.yaml" in diag.hint
