"""One engine for a lab that mixes containers and VMs: each call goes to the node's engine.

The lab layer talks to a single ``Engine`` whatever its nodes are. A node is a VM when its
folder under ``<lab>/vm/`` exists (create() makes it from the spec's engine), so the answer
holds for any process that opens the lab. The VM engine (and libvirt) is only loaded for
VM nodes: container-only hosts need no libvirt at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

from tai_labs.locations import locations
from tai_labs.providers.base import (
    ENGINES,
    CreatedNode,
    Engine,
    ExecResult,
    NodeSpec,
    NodeState,
)
from tai_labs.providers.engine_common import recorded_nodes

CONTAINER = "container"
VM = "vm"


class LabEngine(Engine):
    name = "lab"

    @cached_property
    def _engines(self) -> dict[str, Engine]:
        """The engines built so far, by name (the constructor is Engine's own)."""
        return {}

    def engine(self, name: str) -> Engine:
        """The lab's engine of that name (a ``tai_labs.engines`` plugin), built on first use."""
        if name not in self._engines:
            self._engines[name] = ENGINES.get(name)(
                self.lab_id, data=self.data, probe_image=self.probe_image
            )
        return self._engines[name]

    @property
    def lxc(self) -> Engine:
        return self.engine(CONTAINER)

    @property
    def vm(self) -> Engine:
        return self.engine(VM)

    def _vm_folder(self) -> Path:
        return locations(self.data).lab(self.lab_id) / "vm"

    def _is_vm(self, node: str) -> bool:
        return (self._vm_folder() / node / "node.json").is_file()

    def _for(self, node: str) -> Engine:
        return self.vm if self._is_vm(node) else self.lxc

    def create(self, spec: NodeSpec) -> CreatedNode:
        return self.engine(spec.engine).create(spec)

    def start(self, node: str, *, wait: bool = True, timeout: float = 60.0) -> None:
        self._for(node).start(node, wait=wait, timeout=timeout)

    def exec(
        self,
        node: str,
        argv: Sequence[str],
        *,
        input: str | bytes | None = None,
        timeout: float | None = 60.0,
    ) -> ExecResult:
        return self._for(node).exec(node, argv, input=input, timeout=timeout)

    def snapshot(self, node: str, name: str) -> None:
        self._for(node).snapshot(node, name)

    def revert(self, node: str, name: str) -> None:
        self._for(node).revert(node, name)

    def list_snapshots(self, node: str) -> list[str]:
        return self._for(node).list_snapshots(node)

    def stop(self, node: str, *, timeout: float = 20.0) -> None:
        self._for(node).stop(node, timeout=timeout)

    def destroy(self, node: str) -> None:
        self._for(node).destroy(node)

    def console(self, node: str) -> int:
        return self._for(node).console(node)

    def state(self, node: str) -> NodeState:
        return self._for(node).state(node)

    def host_key(self, node: str) -> str:
        """The node's pinned host key; a VM of an imported disk learns it at first boot."""
        return self.vm.host_key(node) if self._is_vm(node) else ""

    def nodes(self) -> list[str]:
        return sorted({*self.lxc.nodes(), *recorded_nodes(self._vm_folder())})
