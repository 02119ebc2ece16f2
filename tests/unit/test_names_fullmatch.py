"""Every name check matches the whole name: a trailing newline is refused everywhere.

``re.match`` with a pattern ending in ``$`` accepts ``"name\\n"`` (``$`` also matches before a
final newline); such a name reached an nft table name once. Each check below is given a
valid name (accepted) and the same name with a newline after it (refused).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tai_labs import names
from tai_labs.errors import TaiLabsError
from tai_labs.grading.parsers.cron import parse_cron_files
from tai_labs.providers import naming
from tai_labs.providers.base import NicSpec, NodeSpec
from tai_labs.providers.engine_common import check_snapshot_name
from tai_labs.roles import router
from tai_labs.scenario import extends, paths
from tai_labs.sessions.device import port_ifname
from tai_labs.sessions.quoting import ps_variable

REFUSED = (ValueError, TaiLabsError)


def _node_spec(hostname: str) -> NodeSpec:
    return NodeSpec(
        name="abc123-pc1",
        hostname=hostname,
        image=Path("/x"),
        management=NicSpec(bridge="tlabc123m", name="eth0"),
    )


def _windows_check(name: str = "", computer: str | None = None) -> None:
    from tai_labs.images.windows import EDITIONS, WindowsBuildSpec

    spec = WindowsBuildSpec(
        iso=Path("/x.iso"),
        virtio_iso=Path("/v.iso"),
        edition=EDITIONS["server2022"],
        password="Sup3r-Secret!x",
        name=name,
        computer_name=computer,
    )
    spec.check()


def _topology(name: str, tmp: Path) -> None:
    scenario = tmp / "s" / "scenario.yaml"
    scenario.parent.mkdir(exist_ok=True)
    scenario.touch()
    extends._base_path(scenario, name, (tmp,))


def _router_port(port: str) -> None:
    from tai_labs.faults.network import PortShutdown
    from tai_labs.kinds import NodeKind

    ctx: Any = SimpleNamespace(node=SimpleNamespace(kind=NodeKind.ROUTER, name="r1"))
    PortShutdown()._ifname(ctx, port)


CHECKS: dict[str, tuple[Callable[..., object], str]] = {
    "cli lab id": (names.lab_id, "abc123"),
    "cli node name": (names.node_name, "dc1"),
    "cli candidate": (names.candidate_name, "Alice Martin"),
    "cli snapshot": (names.snapshot_name, "avant-tp"),
    "lab id": (naming.check_lab_id, "abc123"),
    "node resource name": (naming.check_node_name, "abc123-dc1"),
    "engine snapshot": (check_snapshot_name, "avant-tp"),
    "interface name": (lambda v: NicSpec(bridge="tlabc123m", name=v), "eth0"),
    "mac": (lambda v: NicSpec(bridge="tlabc123m", name="eth0", mac=v), "02:00:00:00:00:01"),
    "hostname": (_node_spec, "pc1"),
    "windows image name": (lambda v: _windows_check(name=v), "srv"),
    "windows computer name": (lambda v: _windows_check(computer=v), "TAI-SRV"),
    "image name in a scenario": (paths.check_image_name, "debian-12"),
    "router interface": (_router_port, "eth1"),
    "powershell parameter": (ps_variable, "Name"),
    "switch port": (port_ifname, "Gi0/1"),
    "dhcp reservation": (lambda v: router._check_name(v, "reservation name"), "pc1"),
    "dhcp domain": (router._check_domain, "lab.local"),
}


@pytest.mark.parametrize("what", sorted(CHECKS))
def test_a_trailing_newline_is_refused(what: str) -> None:
    check, good = CHECKS[what]
    check(good)
    with pytest.raises(REFUSED):
        check(good + "\n")


def test_a_topology_name_with_a_newline_is_refused(tmp_path: Path) -> None:
    (tmp_path / "_topologies").mkdir()
    (tmp_path / "_topologies" / "base.yaml").touch()
    with pytest.raises(paths.PathRefused, match="not a topology name"):
        _topology("base\n", tmp_path)
    _topology("base", tmp_path)  # no error: the name is accepted


def test_an_imported_disk_name_with_a_newline_is_refused(tmp_path: Path) -> None:
    from tai_labs.images.disk import import_disk

    source = tmp_path / "disk.qcow2"
    source.write_bytes(b"")
    with pytest.raises(TaiLabsError, match="invalid image name"):
        import_disk("debian\n", source, os_family="linux", method="ssh", user="root",
                    password="x", base=tmp_path)  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["disk.qcow2"]


def test_a_disk_image_folder_with_a_newline_is_not_an_image(tmp_path: Path) -> None:
    from tai_labs.images.disk import META_FILE, find_disk_image

    folder = tmp_path / "images" / "debian\n"
    folder.mkdir(parents=True)
    (folder / META_FILE).write_text("{}")
    assert find_disk_image("debian\n", tmp_path) is None


def test_a_build_folder_with_a_newline_is_not_swept(tmp_path: Path) -> None:
    from tai_labs.images.store import ImageStore

    odd = tmp_path / ".build-debian-0123456789ab-999999999\n"
    odd.mkdir()
    assert ImageStore(tmp_path).sweep_stale_builds() == []
    assert odd.exists()


def test_a_cron_d_file_with_a_newline_is_flagged_as_ignored() -> None:
    text = "==> /etc/cron.d/backup\n <==\n0 1 * * * root /usr/bin/true\n\n<== EOF"
    (job,) = parse_cron_files(text)
    assert "nom avec un point" in job.ignored
    (ok,) = parse_cron_files(text.replace("backup\n <==", "backup <=="))
    assert ok.ignored == ""


#: Modules that parse text with ``$``-ended patterns (lines already split or stripped):
#: they read lines, they do not accept names.
PARSERS = {
    "grading/parsers/records.py": "stripped lines of a record file",
    "images/progress.py": "apt's status-fd lines",
    "scenario/render.py": "a stripped template value",
}


def test_no_dollar_anchored_pattern_is_used_with_match() -> None:
    """A guard for new code: a ``$``-ended pattern given to ``match``/``search`` in src/ (a
    name check must use ``fullmatch``; a parser is listed in PARSERS)."""

    src = Path(__file__).resolve().parents[2] / "src" / "tai_labs"
    found = []
    for file in sorted(src.rglob("*.py")):
        if str(file.relative_to(src)) in PARSERS:
            continue
        tree = ast.parse(file.read_text(encoding="utf-8"))
        anchored = {
            target.id
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call | ast.Constant)
            for target in node.targets
            if isinstance(target, ast.Name)
            for text in [_pattern_text(node.value)]
            if text is not None and re.search(r"(?<!\\)\$\)?$", text)
        }
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in ("match", "search"):
                continue
            target = node.func.value
            first = node.args[0] if node.args else None
            if (isinstance(target, ast.Name) and target.id in anchored) or (
                isinstance(target, ast.Name)
                and target.id == "re"
                and first is not None
                and (
                    (isinstance(first, ast.Name) and first.id in anchored)
                    or (_pattern_text(first) or "").endswith("$")
                )
            ):
                found.append(f"{file.relative_to(src)}:{node.lineno}")
    assert found == [], "\n".join(found)


def _pattern_text(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "compile"
        and node.args
    ):
        return _pattern_text(node.args[0])
    return None
