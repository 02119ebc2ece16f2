"""Rendering of one node's LXC configuration file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tai_labs.providers import naming
from tai_labs.providers.base import NodeSpec
from tai_labs.providers.cgroups import memory_limit_line
from tai_labs.providers.errors import EngineError
from tai_labs.providers.seed import derived_mac

COMMON_CONF = Path("/usr/share/lxc/config/common.conf")


@dataclass(frozen=True)
class NodeLayout:
    """Files of one node under ``<lab>/lxc/<node>/``."""

    dir: Path

    @property
    def config(self) -> Path:
        return self.dir / "config"

    @property
    def disk_image(self) -> Path:
        """Backing file of a size-capped writable layer (absent when the node has no cap)."""
        return self.dir / "disk.img"

    @property
    def disk_mount(self) -> Path:
        return self.dir / "disk"

    @property
    def capped(self) -> bool:
        return self.disk_image.exists()

    @property
    def upper(self) -> Path:
        # A capped node keeps its writable layer on its own small file system, so a full
        # disk inside the node fills that file system and nothing of the host.
        return (self.disk_mount if self.capped else self.dir) / "delta0"

    @property
    def workdir(self) -> Path:
        # LXC's overlay driver creates the overlayfs workdir beside the upper dir under this name.
        return self.upper.parent / "work"

    @property
    def snapshots(self) -> Path:
        return self.dir / "snapshots"

    @property
    def meta(self) -> Path:
        return self.dir / "node.json"

    @property
    def start_log(self) -> Path:
        return self.dir / "start.log"

    @property
    def lxc_log(self) -> Path:
        return self.dir / "lxc.log"

    @property
    def console_log(self) -> Path:
        return self.dir / "console.log"


def _check_path(path: Path) -> str:
    text = str(path)
    # ':' separates layers in LXC's overlay spec and a newline would end the config line.
    if ":" in text or "\n" in text:
        raise EngineError(f"path {text!r} cannot be used by LXC (contains ':' or a newline)")
    return text


def render_config(spec: NodeSpec, lab_id: str, number: int, layout: NodeLayout) -> str:
    lower = _check_path(spec.image)
    upper = _check_path(layout.upper)
    lines = [
        f"# tai-labs node {spec.name} (number {number}) of lab {lab_id}; written by tai-labs",
        f"lxc.include = {COMMON_CONF}",
        "lxc.arch = linux64",
        f"lxc.uts.name = {spec.hostname}",
        f"lxc.rootfs.path = overlay:{lower}:{upper}",
        # Debian hosts may have no AppArmor at all; a profile LXC cannot load aborts the start.
        "lxc.apparmor.profile = unconfined",
        # systemd powers off on SIGRTMIN+3; the default SIGPWR would be ignored.
        "lxc.signal.halt = SIGRTMIN+3",
        "lxc.autodev = 1",
        # /dev/net/tun: Open vSwitch's userspace datapath (switch nodes) opens it; the
        # node still needs CAP_NET_ADMIN inside to create devices, as on a real machine.
        "lxc.cgroup.devices.allow = c 10:200 rwm",
        "lxc.cgroup2.devices.allow = c 10:200 rwm",
        # Discoverable by name: everything of the lab lives under tai-labs/<lab> in every hierarchy.
        f"lxc.cgroup.dir.container = {naming.cgroup_container_dir(lab_id, spec.name)}",
        f"lxc.cgroup.dir.monitor = {naming.cgroup_monitor_dir(lab_id, spec.name)}",
        memory_limit_line(spec.memory_mib),
        f"lxc.log.file = {_check_path(layout.lxc_log)}",
        "lxc.log.level = WARN",
        f"lxc.console.logfile = {_check_path(layout.console_log)}",
    ]
    for i, nic in enumerate(spec.all_nics):
        lines += [
            f"lxc.net.{i}.type = veth",
            f"lxc.net.{i}.link = {nic.bridge}",
            f"lxc.net.{i}.name = {nic.name}",
            f"lxc.net.{i}.hwaddr = {nic.mac or derived_mac(spec.name, i)}",
            f"lxc.net.{i}.veth.pair = {naming.veth_name(lab_id, number, i)}",
            f"lxc.net.{i}.flags = up",
        ]
    return "\n".join(lines) + "\n"
