"""One engine for a lab that mixes containers and VMs: each call goes to the node's engine.

The lab layer talks to a single ``Engine`` whatever its nodes are. A node is a VM when its
folder under ``<lab>/vm/`` exists (create() makes it from the spec's engine), so the answer
holds for any process that opens the lab. The VM engine (and libvirt) is only loaded for
VM nodes: container-only hosts need no libvirt at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tai_labs.providers.base import CreatedNode, Engine, ExecResult, NodeSpec, NodeState, VmBoot
from tai_labs.providers.paths import lab_dir

if TYPE_CHECKING:
    from tai_labs.providers.libvirt_vm import LibvirtEngine
    from tai_labs.providers.lxc import LxcEngine


class LabEngine(Engine):
    def __init__(
        self,
        lab_id: str,
        *,
        data: Path | None = None,
        probe_image: Callable[[], VmBoot] | None = None,
    ):
        self.lab_id = lab_id
        self.data = data
        self.probe_image = probe_image  # see LibvirtEngine
        self._lxc: LxcEngine | None = None
        self._vm: LibvirtEngine | None = None

    @property
    def lxc(self) -> LxcEngine:
        if self._lxc is None:
            from tai_labs.providers.lxc import LxcEngine

            self._lxc = LxcEngine(self.lab_id, data=self.data)
        return self._lxc

    @property
    def vm(self) -> LibvirtEngine:
        if self._vm is None:
            from tai_labs.providers.libvirt_vm import LibvirtEngine

            self._vm = LibvirtEngine(self.lab_id, data=self.data, probe_image=self.probe_image)
        return self._vm

    def _vm_folder(self) -> Path:
        return lab_dir(self.lab_id, self.data) / "vm"

    def _is_vm(self, node: str) -> bool:
        return (self._vm_folder() / node / "node.json").is_file()

    def _for(self, node: str) -> Engine:
        return self.vm if self._is_vm(node) else self.lxc

    def create(self, spec: NodeSpec) -> CreatedNode:
        if spec.engine == "vm":
            return self.vm.create(spec)
        return self.lxc.create(spec)

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
        names = set(self.lxc.nodes())
        folder = self._vm_folder()
        if folder.is_dir():
            names |= {p.parent.name for p in folder.glob("*/node.json")}
        return sorted(names)
