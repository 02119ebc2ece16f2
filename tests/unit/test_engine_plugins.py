"""A third engine is one place: an ``Engine`` subclass in the registry.

The fake engine is put in the registry by monkeypatching (no entry point): the scenario
loader accepts its name, the plan takes its traits, and ``LabEngine`` routes its nodes to it.
"""

from __future__ import annotations

import ipaddress
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar

import pytest

from tai_labs.lab.plan import BOOT_TIMEOUT, VM_BOOT_TIMEOUT, VM_MIN_MEMORY, make_plan
from tai_labs.locations import locations
from tai_labs.providers.base import (
    ENGINES,
    CreatedNode,
    Engine,
    ExecResult,
    NicSpec,
    NodeSpec,
    NodeState,
)
from tai_labs.providers.engines import LabEngine
from tai_labs.providers.errors import NodeNotFoundError
from tai_labs.scenario.loader import load_scenario, validate
from tai_labs.scenario.schema import scenario_json_schema

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "errors"


class FakeEngine(Engine):
    """Nodes as folders: enough to see what reaches the engine."""

    name = "jail"
    image_form = "disk"
    own_kernel = True
    nodes_folder = "jail"
    calls: ClassVar[list[tuple[str, str]]] = []

    def _folder(self, node: str) -> Path:
        return locations(self.data).lab(self.lab_id) / self.nodes_folder / node

    def create(self, spec: NodeSpec) -> CreatedNode:
        self.calls.append(("create", spec.name))
        self._folder(spec.name).mkdir(parents=True)
        (self._folder(spec.name) / "node.json").write_text("{}")
        return CreatedNode(spec.name, 1, "ssh-ed25519 AAAA host", spec.management.address)

    def _call(self, what: str, node: str) -> None:
        self.calls.append((what, node))

    def start(self, node: str, *, wait: bool = True, timeout: float = 60.0) -> None:
        self._call("start", node)

    def exec(
        self,
        node: str,
        argv: Sequence[str],
        *,
        input: str | bytes | None = None,
        timeout: float | None = 60.0,
    ) -> ExecResult:
        self._call("exec", node)
        return ExecResult(0, " ".join(argv), "")

    def snapshot(self, node: str, name: str) -> None:
        self._call("snapshot", node)

    def revert(self, node: str, name: str) -> None:
        self._call("revert", node)

    def list_snapshots(self, node: str) -> list[str]:
        return []

    def stop(self, node: str, *, timeout: float = 20.0) -> None:
        self._call("stop", node)

    def destroy(self, node: str) -> None:
        self._call("destroy", node)
        shutil.rmtree(self._folder(node))

    def console(self, node: str) -> int:
        return 0

    def state(self, node: str) -> NodeState:
        self._call("state", node)
        return NodeState.RUNNING

    def nodes(self) -> list[str]:
        return self.recorded(locations(self.data).lab(self.lab_id))

    def host_key(self, node: str) -> str:
        return "ssh-ed25519 BBBB learnt"


@pytest.fixture
def jail(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeEngine]]:
    ENGINES.names()  # the entry points first, so that loading them later adds nothing
    monkeypatch.setitem(ENGINES._group.items, FakeEngine.name, FakeEngine)
    FakeEngine.calls = []
    yield FakeEngine


def _spec(name: str, engine: str) -> NodeSpec:
    return NodeSpec(
        name=name,
        hostname=name.split("-", 1)[1],
        image=Path("/images/x/vm"),
        engine=engine,
        management=NicSpec(
            bridge="tlabc123m", name="eth0", address=ipaddress.IPv4Interface("100.64.1.11/24")
        ),
    )


class _Builtin:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def create(self, spec: NodeSpec) -> None:
        self.calls.append(("create", spec.name))

    def state(self, node: str) -> NodeState:
        self.calls.append(("state", node))
        return NodeState.STOPPED


def test_lab_engine_routes_a_third_engine_by_its_record(
    jail: type[FakeEngine], tmp_path: Path
) -> None:
    engine = LabEngine("abc123", data=tmp_path)
    container = _Builtin()
    engine._engines["container"] = container  # type: ignore[assignment]
    created = engine.create(_spec("abc123-j1", "jail"))
    engine.create(_spec("abc123-pc1", "container"))
    assert created.number == 1 and container.calls == [("create", "abc123-pc1")]
    assert engine.exec("abc123-j1", ["true"]).stdout == "true"
    assert engine.state("abc123-pc1") is NodeState.STOPPED
    # Another process (no creation in it) finds the node through the jail's folder.
    other = LabEngine("abc123", data=tmp_path)
    assert other.owner("abc123-j1") == "jail" and other.owner("abc123-pc1") is None
    other.start("abc123-j1")
    other.snapshot("abc123-j1", "exam-start")
    assert other.host_key("abc123-j1") == "ssh-ed25519 BBBB learnt"
    assert other.nodes() == ["abc123-j1"]
    other.destroy("abc123-j1")
    assert jail.calls == [
        ("create", "abc123-j1"),
        ("exec", "abc123-j1"),
        ("start", "abc123-j1"),
        ("snapshot", "abc123-j1"),
        ("destroy", "abc123-j1"),
    ]
    assert set(other._engines) == {"jail"}  # neither built-in engine was built
    assert other.state("abc123-j1") is NodeState.ABSENT
    with pytest.raises(NodeNotFoundError, match="no node 'abc123-j1' in lab abc123"):
        other.exec("abc123-j1", ["true"])


@pytest.fixture
def case(tmp_path: Path) -> Path:
    shutil.copytree(GOLDEN / "valid", tmp_path / "case")
    shutil.copytree(GOLDEN / "_topologies", tmp_path / "_topologies")
    return tmp_path / "case" / "scenario.yaml"


def _with_node(case: Path, engine: str, kind: str = "linux-client") -> Path:
    case.write_text(
        case.read_text()
        + f"topology:\n  nodes:\n    - name: j1\n      kind: {kind}\n      engine: {engine}\n"
        "      interfaces: [{network: lan, address: 10.1.0.177/24}]\n"
    )
    return case


def test_the_loader_accepts_a_registered_engine_and_the_plan_takes_its_traits(
    jail: type[FakeEngine], case: Path
) -> None:
    path = _with_node(case, "jail")
    assert [d.message for d in validate(path)] == []
    node = make_plan(load_scenario(path).scenario, "abc123").node("j1")
    assert (node.engine, node.image_form) == ("jail", "disk")
    # Its own kernel: a VM's memory floor and boot time; a disk: no cap on a writable layer.
    assert node.memory_mib >= VM_MIN_MEMORY and node.boot_timeout == VM_BOOT_TIMEOUT
    assert node.disk_limit_mib is None
    assert scenario_json_schema()["$defs"]["Engine"]["anyOf"][0]["enum"] == [
        "container",
        "jail",
        "vm",
    ]


def test_an_unknown_engine_is_refused_with_a_suggestion(jail: type[FakeEngine], case: Path) -> None:
    diagnostics = validate(_with_node(case, "jial"))
    assert [(d.message, d.hint) for d in diagnostics] == [
        ("unknown engine 'jial'", "did you mean 'jail'?")
    ]


def test_windows_needs_an_engine_with_its_own_kernel(jail: type[FakeEngine], case: Path) -> None:
    assert [d.message for d in validate(_with_node(case, "jail", "windows-client"))] == []


def test_the_built_in_engines_traits() -> None:
    container, vm = ENGINES.get("container"), ENGINES.get("vm")
    assert (container.image_form, container.own_kernel, container.nodes_folder) == (
        "rootfs",
        False,
        "lxc",
    )
    assert (vm.image_form, vm.own_kernel, vm.nodes_folder) == ("disk", True, "vm")
    assert BOOT_TIMEOUT < VM_BOOT_TIMEOUT
