"""One engine for a lab that mixes engines (containers, VMs...): each call goes to the node's.

The lab layer talks to a single ``Engine`` whatever its nodes are. ``create`` goes to the
engine the spec names; afterwards a node belongs to the registered engine that ``owns`` it
(the one that recorded it in its folder of the lab, ``<lab>/<nodes_folder>/<node>/node.json``),
so the answer holds for any process that opens the lab, and no engine is named here. Engines
are built on first use only: asking which engine owns a node reads files, so a lab of
containers never builds the VM engine (a container-only host needs no libvirt at all).
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
    HostView,
    NodeSpec,
    NodeState,
)
from tai_labs.providers.errors import NodeNotFoundError
from tai_labs.providers.overlay_diff import LayerPair


class LabEngine(Engine):
    name = "lab"
    nodes_folder = ""  # not an engine of its own: the nodes are its engines'

    @cached_property
    def _engines(self) -> dict[str, Engine]:
        """The engines built so far, by name (the constructor is Engine's own)."""
        return {}

    @cached_property
    def _created(self) -> dict[str, str]:
        """Engine names of the nodes created by this process (before their record is read)."""
        return {}

    def engine(self, name: str) -> Engine:
        """The lab's engine of that name (a ``tai_labs.engines`` plugin), built on first use."""
        if name not in self._engines:
            self._engines[name] = ENGINES.get(name)(
                self.lab_id, data=self.data, probe_image=self.probe_image
            )
        return self._engines[name]

    def _lab_folder(self) -> Path:
        return locations(self.data).lab(self.lab_id)

    def owner(self, node: str) -> str | None:
        """The name of the engine that created ``node``, None if no engine has it."""
        if node in self._created:
            return self._created[node]
        folder = self._lab_folder()
        return next((cls.name for cls in ENGINES if cls.owns(folder, node)), None)

    def _for(self, node: str) -> Engine:
        name = self.owner(node)
        if name is None:
            raise NodeNotFoundError(f"no node {node!r} in lab {self.lab_id}")
        return self.engine(name)

    def create(self, spec: NodeSpec) -> CreatedNode:
        created = self.engine(spec.engine).create(spec)
        self._created[spec.name] = spec.engine
        return created

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

    def snapshot_layers(self, node: str, name: str) -> LayerPair | str:
        return self._for(node).snapshot_layers(node, name)

    def host_view(self, node: str) -> HostView | None:
        return self._for(node).host_view(node)

    def stop(self, node: str, *, timeout: float = 20.0) -> None:
        self._for(node).stop(node, timeout=timeout)

    def destroy(self, node: str) -> None:
        if self.owner(node) is not None:
            self._for(node).destroy(node)
            self._created.pop(node, None)

    def console(self, node: str) -> int:
        return self._for(node).console(node)

    def terminal_argv(self, node: str, user: str) -> list[str]:
        return self._for(node).terminal_argv(node, user)

    def state(self, node: str) -> NodeState:
        return NodeState.ABSENT if self.owner(node) is None else self._for(node).state(node)

    def host_key(self, node: str) -> str:
        """The node's pinned host key, when its engine learns it after ``create``."""
        return "" if self.owner(node) is None else self._for(node).host_key(node)

    def nodes(self) -> list[str]:
        folder = self._lab_folder()
        return sorted({*self._created, *(n for cls in ENGINES for n in cls.recorded(folder))})
