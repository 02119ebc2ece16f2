"""Rendering of one node's LXC configuration file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tai_labs.providers import naming
from tai_labs.providers.base import NodeSpec
from tai_labs.providers.cgroups import memory_limit_line
from tai_labs.providers.errors import EngineError
from tai_labs.providers.seed import derived_mac
from tai_labs.providers.userns import IdRange

COMMON_CONF = Path("/usr/share/lxc/config/common.conf")
APPARMOR_ENABLED = Path("/sys/module/apparmor/parameters/enabled")

#: Capabilities an unprivileged node keeps (every other one is dropped). In a user
#: namespace each of them acts only on what the node's namespaces own (its files, shifted
#: ids, processes, network), never on the host's. Why each one is kept:
KEPT_CAPABILITIES: dict[str, str] = {
    "chown": "package installs, chown by the candidate, Samba's sysvol owners",
    "dac_override": "root reads and writes files whatever their mode, as on a real machine",
    "dac_read_search": "the same for reading and listing (backups, find, samba-tool ntacl)",
    "fowner": "chmod/setfacl on files root does not own (POSIX ACLs of shares)",
    "fsetid": "keeping set-id bits when root edits a set-id file",
    "kill": "systemd and the candidate signalling the node's processes",
    "setgid": "logins, su, sshd, services dropping to their users",
    "setuid": "logins, su, sshd, services dropping to their users",
    "setpcap": "systemd trimming the capability sets of services",
    "setfcap": "dpkg installing binaries with file capabilities (ping)",
    "net_bind_service": "sshd, DNS, Kerberos, LDAP, SMB, CUPS on ports below 1024",
    "net_broadcast": "DHCP and NetBIOS broadcasts",
    "net_admin": "addresses, routes, bridges, VLANs, nft in the node's network namespace "
    "(networkd, FRR, Open vSwitch, the candidate's own fixes)",
    "net_raw": "ping, DHCP clients and servers (raw sockets in the node's network namespace)",
    "ipc_lock": "mlock by services that ask for it (Samba's tdb, sshd)",
    "ipc_owner": "System V IPC of the node's services",
    "sys_chroot": "services that chroot (sshd privilege separation, postfix)",
    "sys_admin": "systemd's mounts and namespaces for its units (PrivateTmp...), hostname; "
    "only over mounts and namespaces the node owns",
    "sys_boot": "reboot/poweroff inside the node (ends the node's PID namespace, not the host)",
    "sys_nice": "services setting their priority (systemd units with Nice=)",
    "sys_resource": "systemd raising limits (RLIMIT_NOFILE) for its units",
    "sys_ptrace": "journald reading its clients' metadata, strace by the candidate; only "
    "the node's processes are visible",
    "mknod": "systemd-tmpfiles and dpkg create fifos; device nodes stay refused in a user "
    "namespace",
    "lease": "file leases (Samba oplocks)",
    "audit_write": "login and sshd writing audit records (refused in a user namespace, "
    "tolerated by both)",
}
#: Dropped: sys_module, sys_rawio, sys_time, sys_pacct, sys_tty_config, syslog, mac_admin,
#: mac_override, audit_control, audit_read, linux_immutable, wake_alarm, block_suspend,
#: perfmon, bpf, checkpoint_restore: nothing in a lab needs them, and each one acts on
#: host-wide state (modules, raw I/O, clock, kernel log, LSM, audit, BPF, perf).


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
    def lower(self) -> Path:
        """Unprivileged node: the image, idmapped into the lab's id range."""
        return self.dir / "lower"

    @property
    def rootfs(self) -> Path:
        """Unprivileged node: the overlay the host mounts (lower + upper) for LXC to use."""
        return self.dir / "rootfs"

    @property
    def tun(self) -> Path:
        """Unprivileged switch node: its own /dev/net/tun device node."""
        return self.dir / "tun"

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
    # ':' separates layers in LXC's overlay spec, ',' overlay mount options, and a newline
    # would end the config line.
    if any(c in text for c in ":,\n"):
        raise EngineError(f"path {text!r} cannot be used by LXC (contains ':', ',' or a newline)")
    return text


def apparmor_enabled(flag: Path = APPARMOR_ENABLED) -> bool:
    try:
        return flag.read_text().strip() == "Y"
    except OSError:
        return False


def confinement_lines(
    spec: NodeSpec, layout: NodeLayout, idmap: IdRange | None, *, apparmor: bool | None = None
) -> list[str]:
    """User namespace, capabilities, AppArmor and devices of one node."""
    if apparmor is None:
        apparmor = apparmor_enabled()
    lines: list[str] = []
    if idmap is None:
        # Privileged node (the default until every role is proven unprivileged).
        # Debian hosts may have no AppArmor at all; a profile LXC cannot load aborts the start.
        lines.append("lxc.apparmor.profile = unconfined")
    else:
        lines += idmap.lxc_lines()
        # LXC generates and loads a profile per container where the host runs AppArmor;
        # without AppArmor in the kernel there is nothing to load, and the user namespace,
        # the capability drops and seccomp are what confine the node.
        lines.append(
            "lxc.apparmor.profile = generated" if apparmor else "lxc.apparmor.profile = unconfined"
        )
        # common.conf's drop list must be emptied first: LXC refuses keep and drop together.
        lines += ["lxc.cap.drop =", f"lxc.cap.keep = {' '.join(sorted(KEPT_CAPABILITIES))}"]
    if spec.tun:
        # Open vSwitch's userspace datapath (switch nodes) opens /dev/net/tun; the node still
        # needs CAP_NET_ADMIN inside to create devices, as on a real machine.
        lines += [
            "lxc.cgroup.devices.allow = c 10:200 rwm",
            "lxc.cgroup2.devices.allow = c 10:200 rwm",
        ]
        if idmap is not None:
            # A user namespace can neither mknod it nor open the host's (root's, often 0600):
            # the node gets its own device node, made by the host and owned by the node's root.
            lines.append(
                f"lxc.mount.entry = {_check_path(layout.tun)} dev/net/tun none bind,create=file 0 0"
            )
    return lines


def rootfs_line(spec: NodeSpec, layout: NodeLayout, idmap: IdRange | None) -> str:
    if idmap is not None:
        # The host mounts the overlay (over an idmapped view of the image) before the start.
        return f"lxc.rootfs.path = dir:{_check_path(layout.rootfs)}"
    return f"lxc.rootfs.path = overlay:{_check_path(spec.image)}:{_check_path(layout.upper)}"


def render_config(
    spec: NodeSpec, lab_id: str, number: int, layout: NodeLayout, idmap: IdRange | None = None
) -> str:
    lines = [
        f"# tai-labs node {spec.name} (number {number}) of lab {lab_id}; written by tai-labs",
        f"lxc.include = {COMMON_CONF}",
        "lxc.arch = linux64",
        f"lxc.uts.name = {spec.hostname}",
        rootfs_line(spec, layout, idmap),
        *confinement_lines(spec, layout, idmap),
        # systemd powers off on SIGRTMIN+3; the default SIGPWR would be ignored.
        "lxc.signal.halt = SIGRTMIN+3",
        "lxc.autodev = 1",
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
