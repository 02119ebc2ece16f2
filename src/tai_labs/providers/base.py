"""The node engine interface, shared by containers (LXC), virtual machines and any other.

A ``NodeSpec`` says what a node is on the host (image, memory, NICs and their addresses);
it knows nothing of scenarios, which are mapped onto it by the lab layer. An ``Engine``
manages the nodes of one lab. A new engine is one ``Engine`` subclass registered under the
``tai_labs.engines`` entry-point group: its traits (``image_form``, ``own_kernel``) tell the
lab layer what to prepare, and ``owns`` lets ``providers.engines.LabEngine`` route to it.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tai_labs.plugins import ENGINES_GROUP, EngineTraits, Registry
from tai_labs.providers.errors import EngineError
from tai_labs.providers.overlay_diff import LayerPair
from tai_labs.providers.rootfs import OverlayTree

_MAC_RE = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
_IFNAME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_.-]{0,14}$")
_HOSTNAME_RE = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$")


class NicSpec(BaseModel):
    """One network interface of a node, plugged into a host bridge."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bridge: str = Field(max_length=15)
    name: str  # interface name inside the node (eth0, eth1, ...)
    mac: str | None = None  # None: derived from the node and NIC, stable across runs
    address: ipaddress.IPv4Interface | None = None  # static address with prefix
    gateway: ipaddress.IPv4Address | None = None
    dhcp: bool = False

    @field_validator("name")
    @classmethod
    def _ifname(cls, v: str) -> str:
        if not _IFNAME_RE.fullmatch(v):
            raise ValueError("interface names are 1-15 chars of [a-zA-Z0-9_.-]")
        return v

    @field_validator("mac")
    @classmethod
    def _mac(cls, v: str | None) -> str | None:
        if v is not None:
            v = v.lower()
            if not _MAC_RE.fullmatch(v):
                raise ValueError("MAC must look like 02:00:00:00:00:01")
            if int(v[:2], 16) & 1:
                raise ValueError("MAC must be unicast (even first octet)")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> NicSpec:
        if self.dhcp and self.address is not None:
            raise ValueError("a NIC is either static (address) or dhcp, not both")
        if self.gateway is not None and self.address is None:
            raise ValueError("a gateway needs a static address on the same NIC")
        if (
            self.gateway is not None
            and self.address is not None
            and self.gateway not in self.address.network
        ):
            raise ValueError(f"gateway {self.gateway} is outside {self.address.network}")
        return self


class DiskSpec(BaseModel):
    """An extra blank block device, "installed" by the tool for the candidate (VM nodes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,19}$")  # the guest sees it by this serial
    size_mib: int = Field(gt=0, le=65536)


class VmBoot(BaseModel):
    """What a node of a ``disk`` engine boots, as the engine needs it (the lab layer makes it
    from an image).

    A recipe image boots its kernel directly (``kernel`` set) and installs the host key the
    engine makes; an imported or Windows disk boots itself and its key is read after boot.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    disk: Path  # base disk (qcow2), only ever read: each node writes to its own overlay
    os: Literal["linux", "windows"] = "linux"
    kernel: Path | None = None
    initrd: Path | None = None
    cmdline: str = ""


class NodeSpec(BaseModel):
    """Everything an engine needs to create one node."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{0,62}$"
    )  # full resource name, unique on the host
    hostname: str
    domain: str | None = None  # DNS domain, for /etc/hosts and the resolver's search list
    #: rootfs engines: root of the built image tree (BuiltImage.rootfs); disk: the image's folder
    image: Path
    engine: str = "container"  # the name of the Engine that creates it
    boot: VmBoot | None = None  # disk engines: what it boots
    #: Number within the lab (names host interfaces); None: the engine picks a free one.
    number: int | None = Field(default=None, ge=1, le=255)
    vcpus: int = Field(default=1, ge=1, le=8)
    disks: tuple[DiskSpec, ...] = ()
    memory_mib: int = Field(default=512, ge=64)
    #: Size cap of the node's writable layer (MiB); None: it shares the host's disk.
    disk_limit_mib: int | None = Field(default=None, ge=64)
    management: NicSpec  # the host reaches the node here; no gateway on it
    nics: tuple[NicSpec, ...] = ()
    dns_servers: tuple[ipaddress.IPv4Address, ...] = ()
    authorized_keys: tuple[str, ...] = ()  # OpenSSH public key lines for root
    #: Give the node /dev/net/tun (only kinds that need it: see ``kinds.KindSpec.tun``).
    tun: bool = False

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, v: str) -> str:
        if not _HOSTNAME_RE.fullmatch(v):
            raise ValueError("hostname must be one DNS label")
        return v

    @model_validator(mode="after")
    def _nics(self) -> NodeSpec:
        names = [self.management.name, *(n.name for n in self.nics)]
        if len(set(names)) != len(names):
            raise ValueError("NIC names of a node must be unique")
        if self.management.gateway is not None:
            raise ValueError(
                "the management NIC must not have a gateway (it would carry lab traffic)"
            )
        if sum(1 for n in self.nics if n.gateway is not None) > 1:
            raise ValueError("at most one NIC may have a default gateway")
        return self

    @property
    def all_nics(self) -> tuple[NicSpec, ...]:
        return (self.management, *self.nics)


class NodeState(enum.StrEnum):
    ABSENT = "absent"  # not created (or destroyed)
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    FROZEN = "frozen"
    STOPPING = "stopping"


@dataclass(frozen=True)
class HostView:
    """What the host reads of a running node by itself, without running anything in it."""

    #: Its root file system, from the layers on the host's disk.
    files: OverlayTree
    #: Its init as the host sees it: ``/proc/PID/ns/net`` is its network namespace.
    init_pid: int
    #: Where the node's cgroups are in the host's hierarchies (``tai-labs/<lab>/<node>``).
    cgroup_dir: str | None = None


#: The whole environment of a command run inside a node by the engine or the grader: no
#: /usr/local (a candidate's shadow binaries), no HOME (no rc or dot files to find), nothing
#: inherited. Every node-side channel (lxc-attach, the guest agent, SSH) uses exactly this.
NODE_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


@dataclass(frozen=True)
class ExecResult:
    rc: int
    stdout: str
    stderr: str
    #: The streams ("stdout", "stderr") cut at tai_labs.bounded_output.MAX_OUTPUT_BYTES.
    truncated: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.rc == 0


@dataclass(frozen=True)
class CreatedNode:
    """What the caller must remember about a new node."""

    name: str
    number: int  # engine-assigned, 1-based, unique within the lab
    host_key: str  # OpenSSH public host key line, to pin in known_hosts
    management_address: ipaddress.IPv4Interface | None


def recorded_nodes(folder: Path) -> list[str]:
    """The nodes an engine created under folder: each has ``<folder>/<node>/node.json``."""
    if not folder.is_dir():
        return []
    return sorted(p.parent.name for p in folder.glob("*/node.json"))


class Engine(EngineTraits, ABC):
    """Lifecycle of the nodes of one lab. Node arguments are NodeSpec.name values.

    An engine registered as a plugin is built as ``Engine(lab_id, data=data, probe_image=...)``.
    Its traits (``name``, ``image_form``: what ``create`` needs, ``own_kernel``) are class
    attributes, read without building it.
    """

    #: The lab's subfolder where the engine keeps its nodes, one ``<node>/node.json`` each,
    #: written last by ``create``: how any process tells which engine a node belongs to.
    nodes_folder: ClassVar[str]

    @classmethod
    def recorded(cls, lab_folder: Path) -> list[str]:
        """The nodes this engine created in the lab whose folder is ``lab_folder``, read from
        the disk alone: no engine is built (no root, no libvirt needed)."""
        return recorded_nodes(lab_folder / cls.nodes_folder)

    @classmethod
    def owns(cls, lab_folder: Path, node: str) -> bool:
        """Whether this engine created ``node`` in that lab (as ``recorded``, for one node)."""
        return (lab_folder / cls.nodes_folder / node / "node.json").is_file()

    def __init__(
        self,
        lab_id: str,
        *,
        data: Path | None = None,
        probe_image: Callable[[], VmBoot] | None = None,
    ) -> None:
        """An engine is built for one lab; ``data`` is the data folder (None: the default).

        ``probe_image`` gives a bootable Linux image an engine may need to test the host (the
        VM engine's KVM probe): the lab layer builds images, engines never do."""
        self.lab_id = lab_id
        self.data = data
        self.probe_image = probe_image

    @abstractmethod
    def create(self, spec: NodeSpec) -> CreatedNode:
        """Define the node and its disk (copy-on-write over the image); do not start it."""

    @abstractmethod
    def start(self, node: str, *, wait: bool = True, timeout: float = 60.0) -> None:
        """Boot the node; with wait, return once its init reports the boot finished."""

    @abstractmethod
    def exec(
        self,
        node: str,
        argv: Sequence[str],
        *,
        input: str | bytes | None = None,
        timeout: float | None = 60.0,
    ) -> ExecResult:
        """Run argv as root inside the node without using its network."""

    @abstractmethod
    def snapshot(self, node: str, name: str) -> None:
        """Save the node's disk state under name (replacing an older one of that name)."""

    @abstractmethod
    def revert(self, node: str, name: str) -> None:
        """Restore the disk state saved under name; a running node is restarted."""

    @abstractmethod
    def list_snapshots(self, node: str) -> list[str]: ...

    def host_view(self, node: str) -> HostView | None:
        """The running node's files and namespaces as the host reads them; None where this
        engine gives no such view (a VM's disk is the guest kernel's business)."""
        return None

    def snapshot_layers(self, node: str, name: str) -> LayerPair | str:
        """The node's writable layer as snapshot ``name`` kept it and as it is now, over its
        image (``providers.overlay_diff``); else why not (a VM's disk is the guest's)."""
        return f"the {self.name} engine keeps no host-readable layer of its nodes"

    @abstractmethod
    def stop(self, node: str, *, timeout: float = 20.0) -> None:
        """Shut the node down cleanly, killing it after timeout."""

    @abstractmethod
    def destroy(self, node: str) -> None:
        """Stop the node if needed and remove everything of it from the host."""

    @abstractmethod
    def console(self, node: str) -> int:
        """Open an interactive root shell in the caller's terminal; return its exit code."""

    def terminal_argv(self, node: str, user: str) -> list[str]:
        """The host argv that, run on a PTY, opens a login shell of ``user`` in the node.

        The web terminal's way in (portal): a process of the node only, never a host shell;
        ``user`` is an account name (``check_account``) passed as one argv element.
        """
        raise EngineError(f"the {self.name} engine gives no terminal (node {node!r})")

    @abstractmethod
    def state(self, node: str) -> NodeState: ...

    @abstractmethod
    def nodes(self) -> list[str]:
        """Names of the nodes this engine has created in the lab."""

    def host_key(self, node: str) -> str:
        """The node's pinned host key when the engine learns it after ``create`` (a VM of an
        imported disk, at first boot); "" when ``CreatedNode.host_key`` is the key."""
        return ""


#: Engines by name; engine modules register on import and are ``tai_labs.engines`` entry points.
ENGINES: Registry[Engine] = Registry("engine", ENGINES_GROUP, Engine)
register_engine = ENGINES.register
