"""Cross-reference rules not covered by the golden files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tai_labs.scenario.loader import validate

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "errors"


@pytest.fixture
def case(tmp_path: Path) -> Path:
    shutil.copytree(GOLDEN / "valid", tmp_path / "case")
    shutil.copytree(GOLDEN / "_topologies", tmp_path / "_topologies")
    return tmp_path / "case" / "scenario.yaml"


def messages(path: Path, append: str) -> list[str]:
    path.write_text(path.read_text() + append)
    return [d.message for d in validate(path)]


def test_dhcp_range_must_sit_in_its_network(case: Path) -> None:
    got = messages(
        case,
        "topology:\n  nodes:\n    - name: r1\n      kind: router\n"
        "      router:\n        dhcp:\n          - {network: lan, range: [10.1.0.100, 10.9.0.1]}\n",
    )
    assert got == ["range must be ordered and inside 10.1.0.0/24"]


def test_switch_ports_use_declared_vlans_and_nodes(case: Path) -> None:
    got = messages(
        case,
        "topology:\n  nodes:\n    - name: sw\n      kind: switch\n      switch:\n"
        "        vlans: [{id: 10, name: compta}]\n"
        "        ports:\n          - {name: Gi0/1, vlan: 20, connects: pc9}\n",
    )
    assert "VLAN 20 is not declared in switch.vlans" in got
    assert "unknown node 'pc9'" in got


def test_directory_references(case: Path) -> None:
    got = messages(
        case,
        "directory:\n  users:\n    - {login: a.b, first: A, last: B, ou: Nowhere, "
        "groups: [Ghosts], password: Passw0rd!}\n",
    )
    assert "unknown OU 'Nowhere'" in got
    assert "unknown group 'Ghosts'" in got


def test_windows_nodes_are_vms(case: Path) -> None:
    got = messages(
        case,
        "topology:\n  nodes:\n    - name: w1\n"
        "      kind: windows-client\n      engine: container\n",
    )
    assert got == ["Windows nodes run as virtual machines: use engine: vm"]


def test_wrong_solutions_name_real_checks(case: Path) -> None:
    text = case.read_text() + (
        "  wrong:\n    - name: bad\n      steps:\n"
        "        - {action: linux.exec, target: pc1, params: {argv: [/bin/true]}}\n"
        "      must_fail: [nope]\n"
    )
    case.write_text(text)
    assert [d.message for d in validate(case)] == ["unknown check 'nope'"]


def test_wrong_solutions_must_pass_names_real_checks_not_also_failing(case: Path) -> None:
    check = next(
        line.split("id:")[1].strip()
        for line in case.read_text().splitlines()
        if line.startswith("  - id:")
    )
    text = case.read_text() + (
        "  wrong:\n    - name: partial\n      steps:\n"
        "        - {action: linux.exec, target: pc1, params: {argv: [/bin/true]}}\n"
        f"      must_fail: [{check}]\n"
        f"      must_pass: [ghost, {check}]\n"
    )
    case.write_text(text)
    assert [d.message for d in validate(case)] == [
        "unknown check 'ghost'",
        f"check '{check}' is in both must_fail and must_pass",
    ]
