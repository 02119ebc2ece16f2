"""Faults on Linux nodes.

Every fault breaks the node the way an incident or a careless colleague would, through
the files the system reads at boot (networkd, resolv.conf, fstab, nftables.conf...), then
applies it live: a restart of the service or of the node keeps the fault. Values from a
scenario never reach a shell: commands are argv lists, file contents go through stdin.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import time
from collections.abc import Callable, Iterable
from typing import Any, Literal

from pydantic import Field, model_validator

from tai_labs.faults.base import Fault, FaultError, register_fault
from tai_labs.registry import PluginParams
from tai_labs.roles.base import RoleContext
from tai_labs.scenario.model import Engine, NodeKind

LINUX = frozenset({"linux-client", "linux-server", "ad-dc", "router"})

NETWORKD_DIR = "/etc/systemd/network"
NFT_CONF = "/etc/nftables.conf"
VTYSH = "/usr/bin/vtysh"
#: An interface name as the kernel accepts it (15 characters, no "/" or blank).
IFNAME = r"^[A-Za-z0-9_.@-]{1,15}$"
#: A host name: labels of letters, digits and hyphens (nothing that could add a line).
HOSTNAME = (
    r"^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*$"
)
#: A local user or group name (Debian's adduser default, a bit more lenient).
POSIX_NAME = r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$"


class LinuxFault(Fault):
    node_kinds = LINUX


# -- helpers shared with the other fault modules -----------------------------------------------


def read_file(ctx: RoleContext, path: str) -> str | None:
    res = ctx.run(["cat", "--", path], check=False)
    return res.stdout if res.ok else None


def write_if_changed(ctx: RoleContext, path: str, content: str, mode: str = "0644") -> bool:
    """Write only when the content differs: a second injection leaves files untouched."""
    if read_file(ctx, path) == content:
        return False
    ctx.write_file(path, content, mode)
    return True


def is_router(ctx: RoleContext) -> bool:
    return ctx.node.kind is NodeKind.ROUTER


def set_ini_key(text: str, section: str, key: str, values: Iterable[str]) -> str:
    """``text`` with every ``key=`` line of ``[section]`` replaced by one line per value.

    The section is created at the end when absent; no value removes the key. Lines of other
    sections (and other keys) are kept as they are, comments included.
    """
    lines = text.splitlines()
    values = list(values)
    header = f"[{section}]"
    start = next((i for i, line in enumerate(lines) if line.strip() == header), None)
    if start is None:
        if not values:
            return text
        body = [*lines]
        if body and body[-1].strip():
            body.append("")
        body += [header, *(f"{key}={v}" for v in values)]
        return "\n".join(body) + "\n"
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i].strip().startswith("[")), len(lines)
    )
    body = lines[start + 1 : end]
    new = [f"{key}={v}" for v in values]

    def is_key(line: str) -> bool:
        return not line.lstrip().startswith(("#", ";")) and line.split("=", 1)[0].strip() == key

    first = next((i for i, line in enumerate(body) if is_key(line)), None)
    if first is None:
        # After the section's last non-blank line, so blank separators stay put.
        first = max((i for i, line in enumerate(body) if line.strip()), default=-1) + 1
    section_body = [line for line in body[:first] if not is_key(line)] + new
    section_body += [line for line in body[first:] if not is_key(line)]
    out = lines[: start + 1] + section_body + lines[end:]
    return "\n".join(out) + "\n"


def ini_values(text: str, section: str, key: str) -> list[str]:
    """Values of ``key`` in ``[section]`` (every occurrence, in order)."""
    current = None
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            current = stripped
        elif current == f"[{section}]" and "=" in stripped and not stripped.startswith("#"):
            k, v = stripped.split("=", 1)
            if k.strip() == key:
                out.append(v.strip())
    return out


def networkd_path(ctx: RoleContext, ifname: str) -> str:
    """The engine's networkd file for ``ifname``; FaultError if the node has none."""
    path = f"{NETWORKD_DIR}/10-tai-labs-{ifname}.network"
    if read_file(ctx, path) is None:
        raise FaultError(
            f"{ctx.node.name}: no networkd file for {ifname} ({path})",
            hint="name a lab interface of the node: eth1, eth2...",
        )
    return path


def edit_networkd(ctx: RoleContext, ifname: str, section: str, key: str, values: list[str]) -> bool:
    """Set a key of the interface's networkd file and apply it; False if it already was."""
    path = networkd_path(ctx, ifname)
    current = read_file(ctx, path) or ""
    wanted = set_ini_key(current, section, key, values)
    if wanted == current:
        return False
    ctx.write_file(path, wanted)
    ctx.run(["networkctl", "reload"])
    # reconfigure drops what the old file set (address, routes) and applies the new one.
    ctx.run(["networkctl", "reconfigure", ifname], check=False)
    # Asynchronous: a check made while networkd is still at it could see the old state.
    settle(lambda: networkd_setup_state(ctx, ifname) not in ("configuring", "pending", ""))
    return True


def networkd_setup_state(ctx: RoleContext, ifname: str) -> str:
    """networkd's SETUP column for the link: configured, configuring, unmanaged..."""
    res = ctx.run(["networkctl", "list", "--no-legend", "--no-pager", ifname], check=False)
    fields = res.stdout.split()
    return fields[4] if len(fields) >= 5 else ""


def settle(probe: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Poll ``probe`` until true (networkd, dnsmasq... apply changes asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        if probe():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)


def link_info(ctx: RoleContext, ifname: str) -> dict[str, Any] | None:
    res = ctx.run(["ip", "-j", "-4", "addr", "show", "dev", ifname], check=False)
    if not res.ok:
        return None
    data = json.loads(res.stdout or "[]")
    return data[0] if data else None


def link_addresses(ctx: RoleContext, ifname: str) -> list[ipaddress.IPv4Interface]:
    info = link_info(ctx, ifname) or {}
    out = []
    for a in info.get("addr_info", []):
        out.append(ipaddress.IPv4Interface(f"{a['local']}/{a['prefixlen']}"))
    return out


def link_is_up(ctx: RoleContext, ifname: str) -> bool:
    res = ctx.run(["ip", "-j", "link", "show", "dev", ifname], check=False)
    if not res.ok:
        raise FaultError(f"{ctx.node.name} has no interface {ifname!r}")
    data = json.loads(res.stdout or "[]")
    return bool(data) and "UP" in data[0].get("flags", [])


def vtysh_config(ctx: RoleContext, lines: list[str]) -> None:
    """Configure FRR as an administrator would, and save it (frr.conf) so it persists."""
    argv = [VTYSH, "-c", "configure terminal"]
    for line in lines:
        argv += ["-c", line]
    argv += ["-c", "end", "-c", "write memory"]
    ctx.run(argv)


def frr_running(ctx: RoleContext) -> str:
    return ctx.run([VTYSH, "-c", "show running-config"]).stdout


def frr_interface_block(running: str, ifname: str) -> list[str]:
    """The stripped lines under ``interface <ifname>`` in FRR's running configuration."""
    out: list[str] = []
    inside = False
    for line in running.splitlines():
        if line.startswith("interface "):
            inside = line.split()[1:2] == [ifname]
            continue
        if inside:
            if not line.startswith(" "):
                inside = False
                continue
            out.append(line.strip())
    return out


# -- faults -------------------------------------------------------------------------------------


@register_fault
class ServiceStopped(LinuxFault):
    name = "linux.service_stopped"
    summary = "Stop a systemd unit, and disable it (unless disable: false)"
    symptom = "Le service ne répond plus."

    class Params(PluginParams):
        service: str = Field(pattern=r"^[A-Za-z0-9@._-]+$")
        #: Disabled too by default: a stopped-only unit comes back at the next boot.
        disable: bool = True

    def _check(self, ctx: RoleContext, unit: str) -> None:
        res = ctx.run(["systemctl", "show", "-P", "LoadState", "--", unit], check=False)
        if res.stdout.strip() != "loaded":
            raise FaultError(f"{ctx.node.name} has no unit {unit!r} ({res.stdout.strip()})")

    def inject(self, ctx: RoleContext, params: Params) -> None:
        self._check(ctx, params.service)
        if params.disable:
            state = ctx.run(["systemctl", "is-enabled", "--", params.service], check=False)
            if state.stdout.strip() in ("enabled", "enabled-runtime"):
                ctx.run(["systemctl", "disable", "--quiet", "--", params.service])
        if self._active(ctx, params.service):
            ctx.run(["systemctl", "stop", "--", params.service])

    @staticmethod
    def _active(ctx: RoleContext, unit: str) -> bool:
        state = ctx.run(["systemctl", "is-active", "--", unit], check=False).stdout.strip()
        return state in ("active", "activating", "reloading")

    def in_place(self, ctx: RoleContext, params: Params) -> bool:
        if self._active(ctx, params.service):
            return False
        if not params.disable:
            return True
        state = ctx.run(["systemctl", "is-enabled", "--", params.service], check=False)
        return state.stdout.strip() not in ("enabled", "enabled-runtime")


def resolv_nameservers(text: str) -> list[str]:
    return [
        parts[1]
        for parts in (line.split() for line in text.splitlines())
        if len(parts) >= 2 and parts[0] == "nameserver"
    ]


def with_nameserver(text: str, nameserver: str) -> str:
    """resolv.conf with its nameserver lines replaced by one, where the first one was."""
    out: list[str] = []
    placed = False
    for line in text.splitlines():
        if line.split()[:1] == ["nameserver"]:
            if not placed:
                out.append(f"nameserver {nameserver}")
                placed = True
            continue
        out.append(line)
    if not placed:
        out.append(f"nameserver {nameserver}")
    return "\n".join(out) + "\n"


@register_fault
class WrongResolver(LinuxFault):
    name = "linux.dns_resolver"
    summary = "Point the node's DNS resolver at a wrong address"
    symptom = "Je n'arrive plus à accéder aux sites ni aux serveurs par leur nom."

    class Params(PluginParams):
        nameserver: ipaddress.IPv4Address

    def inject(self, ctx: RoleContext, params: Params) -> None:
        # A plain file in these images (no resolved, no resolvconf): editing it persists.
        current = read_file(ctx, "/etc/resolv.conf") or ""
        write_if_changed(ctx, "/etc/resolv.conf", with_nameserver(current, str(params.nameserver)))

    def in_place(self, ctx: RoleContext, params: Params) -> bool:
        return str(params.nameserver) in resolv_nameservers(
            read_file(ctx, "/etc/resolv.conf") or ""
        )


def default_gateways(ctx: RoleContext) -> list[str]:
    res = ctx.run(["ip", "-j", "-4", "route", "show", "default"], check=False)
    return [str(r["gateway"]) for r in json.loads(res.stdout or "[]") if "gateway" in r]


@register_fault
class WrongGateway(LinuxFault):
    name = "linux.gateway"
    summary = "Replace the default gateway with a wrong one (persistently)"
    symptom = "Je n'ai plus accès à Internet, mais l'imprimante du bureau marche."

    class Params(PluginParams):
        gateway: ipaddress.IPv4Address

    def inject(self, ctx: RoleContext, params: Params) -> None:
        new = str(params.gateway)
        if is_router(ctx):
            # The router's default route is a static route of FRR (frr.conf).
            old = [
                line.split()[3]
                for line in frr_running(ctx).splitlines()
                if line.startswith("ip route 0.0.0.0/0 ") and len(line.split()) >= 4
            ]
            if old == [new]:
                return
            lines = [f"no ip route 0.0.0.0/0 {gw}" for gw in old if gw != new]
            vtysh_config(ctx, [*lines, f"ip route 0.0.0.0/0 {new}"])
            return
        ifname = self._uplink(ctx)
        edit_networkd(ctx, ifname, "Network", "Gateway", [new])
        if not settle(lambda: self.in_place(ctx, params)):
            raise FaultError(f"{ctx.node.name}: networkd did not apply the gateway {new}")

    def _uplink(self, ctx: RoleContext) -> str:
        """The lab interface whose networkd file holds the default gateway."""
        for index in range(1, len(ctx.node.interfaces) + 1):
            ifname = f"eth{index}"
            text = read_file(ctx, f"{NETWORKD_DIR}/10-tai-labs-{ifname}.network") or ""
            if ini_values(text, "Network", "Gateway"):
                return ifname
        raise FaultError(f"{ctx.node.name} has no default gateway to replace")

    def in_place(self, ctx: RoleContext, params: Params) -> bool:
        return str(params.gateway) in default_gateways(ctx)


@register_fault
class WrongAddress(LinuxFault):
    name = "linux.address"
    summary = "Give an interface a wrong static address (persistently)"
    symptom = "Plus rien ne marche sur le réseau depuis ce matin."

    class Params(PluginParams):
        interface: str = Field(pattern=IFNAME)
        address: ipaddress.IPv4Interface

    def inject(self, ctx: RoleContext, params: Params) -> None:
        new = params.address.with_prefixlen
        if is_router(ctx):
            block = frr_interface_block(frr_running(ctx), params.interface)
            old = [line.split()[2] for line in block if line.startswith("ip address ")]
            if old == [new]:
                return
            lines = [f"interface {params.interface}"]
            lines += [f"no ip address {a}" for a in old if a != new]
            vtysh_config(ctx, [*lines, f"ip address {new}", "exit"])
            return
        # The old gateway stays in the file: off-link now, as after a hasty renumbering.
        edit_networkd(ctx, params.interface, "Network", "Address", [new])
        if not settle(lambda: self.in_place(ctx, params)):
            raise FaultError(f"{ctx.node.name}: networkd did not apply {new} on {params.interface}")

    def in_place(self, ctx: RoleContext, params: Params) -> bool:
        return params.address in link_addresses(ctx, params.interface)


@register_fault
class InterfaceDown(LinuxFault):
    name = "linux.interface_down"
    summary = "Bring an interface down and keep it down across restarts"
    symptom = "Mon ordinateur dit qu'il n'y a pas de réseau."

    class Params(PluginParams):
        interface: str = Field(pattern=IFNAME)

    def inject(self, ctx: RoleContext, params: Params) -> None:
        if params.interface == "eth0":
            raise FaultError("eth0 is the management interface: the lab would lose its node")
        link_is_up(ctx, params.interface)  # raises if there is no such interface
        if is_router(ctx):
            block = frr_interface_block(frr_running(ctx), params.interface)
            if "shutdown" not in block:
                vtysh_config(ctx, [f"interface {params.interface}", "shutdown", "exit"])
            return
        # always-down: networkd keeps the link down at every start, as `ip link set down`
        # alone would not.
        edit_networkd(ctx, params.interface, "Link", "ActivationPolicy", ["always-down"])
        if link_is_up(ctx, params.interface):
            ctx.run(["ip", "link", "set", "dev", params.interface, "down"])

    def in_place(self, ctx: RoleContext, params: Params) -> bool:
        return not link_is_up(ctx, params.interface)


MIB = 2**20


def _df(ctx: RoleContext, path: str) -> tuple[int, int, str]:
    """(available bytes, size bytes, mount point) of the file system holding ``path``."""
    res = ctx.run(["df", "-B1", "--output=avail,size,target", "--", path])
    fields = res.stdout.splitlines()[-1].split()
    return int(fields[0]), int(fields[1]), fields[2]


def _size(ctx: RoleContext, path: str) -> int | None:
    res = ctx.run(["stat", "-c", "%s", "--", path], check=False)
    return int(res.stdout.strip()) if res.ok else None


@register_fault
class DiskFull(LinuxFault):
    name = "linux.disk_full"
    summary = "Fill a size-capped file system with a junk file, leaving little free space"
    symptom = "Je ne peux plus enregistrer mes fichiers, il dit que le disque est plein."

    class Params(PluginParams):
        path: str = Field(default="/var/tmp", pattern=r"^/[^\n]*$")
        leave_mib: int = Field(default=1, ge=0)
        junk: str = Field(default="/var/tmp/.cache-update.bin", pattern=r"^/[^\n]*$")

    #: Free space above leave_mib still counted as full: logs keep writing meanwhile.
    SLACK_MIB = 8

    def _capped(self, ctx: RoleContext, params: Params) -> None:
        cap = ctx.node.disk_mib
        if cap is None:
            raise FaultError(
                f"{ctx.node.name} has no disk_mib: its file system is the host's, "
                "which this fault must never fill",
                hint="give the node `disk_mib: 128` (or so) in the scenario's topology",
            )
        _, size, target = _df(ctx, params.path)
        # 5 % margin: ext4's own metadata makes the file system a bit smaller than the file.
        if size > cap * MIB * 1.05:
            raise FaultError(
                f"{ctx.node.name}: {params.path} is on {target} ({size // MIB} MiB), not on "
                f"the node's capped layer ({cap} MiB)"
            )
        _, _, junk_target = _df(ctx, params.junk.rsplit("/", 1)[0] or "/")
        if junk_target != target:
            raise FaultError(f"{params.junk} is not on the file system of {params.path}")

    def inject(self, ctx: RoleContext, params: Params) -> None:
        self._capped(ctx, params)
        if self.in_place(ctx, params):
            return
        avail, _, _ = _df(ctx, params.path)
        current = _size(ctx, params.junk) or 0
        wanted = current + avail - params.leave_mib * MIB
        if wanted <= current:
            return
        ctx.run(["mkdir", "-p", "--", params.junk.rsplit("/", 1)[0] or "/"])
        # fallocate reserves the blocks at once (a sparse file would not fill anything).
        res = ctx.run(["fallocate", "-l", str(wanted), "--", params.junk], check=False)
        if not res.ok:
            ctx.run(
                ["dd", "if=/dev/zero", f"of={params.junk}", "bs=1M", f"count={wanted // MIB}"],
                check=False,
                timeout=600,
            )
        ctx.run(["sync"], check=False)

    def in_place(self, ctx: RoleContext, params: Params) -> bool:
        if _size(ctx, params.junk) is None:
            return False
        avail, _, _ = _df(ctx, params.path)
        return avail <= (params.leave_mib + self.SLACK_MIB) * MIB


def _fake_uuid(seed: str) -> str:
    """A well-formed UUID no disk has; its last group is a checksum of the others.

    The checksum makes a corrupted entry recognisable by the fault itself (a second
    injection changes nothing) while looking like any UUID to the candidate.
    """
    digest = hashlib.sha256(seed.encode()).hexdigest()
    head = f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-a{digest[17:20]}"
    return f"{head}-{_uuid_tail(head)}"


def _uuid_tail(head: str) -> str:
    return hashlib.sha256(("tai:" + head).encode()).hexdigest()[:12]


def _is_fake_uuid(source: str) -> bool:
    if not source.startswith("UUID="):
        return False
    value = source[5:].lower()
    head, _, tail = value.rpartition("-")
    return bool(head) and tail == _uuid_tail(head)


WRONG_FSTYPE = {"ext4": "ext3", "ext3": "xfs", "ext2": "xfs", "xfs": "ext4"}

#: The typo an editor leaves in the options field ("defaults" mistyped).
BAD_OPTION = "defualts"


def corrupt_fstab_line(fields: list[str], how: str) -> list[str]:
    """The fstab fields of one entry, broken ``how``; unchanged if already broken that way."""
    source, mountpoint, fstype = fields[0], fields[1], fields[2]
    options = fields[3] if len(fields) > 3 else "defaults"
    rest = fields[4:]
    if how == "uuid":
        if not _is_fake_uuid(source):
            seed = source[5:] if source.startswith("UUID=") else f"{source}:{mountpoint}"
            source = "UUID=" + _fake_uuid(seed)
    elif how == "option":
        opts = options.split(",")
        if BAD_OPTION not in opts:
            opts = [BAD_OPTION if o == "defaults" else o for o in opts]
            if BAD_OPTION not in opts:
                opts.append(BAD_OPTION)
        options = ",".join(opts)
    elif how == "fstype":
        # A type the volume is not: the kernel refuses it (ext4 as ext3: extents).
        fstype = WRONG_FSTYPE.get(fstype, "ext4")
    return [source, mountpoint, fstype, options, *rest]


@register_fault
class FstabBroken(LinuxFault):
    name = "linux.fstab_broken"
    summary = "Corrupt the fstab entry of a mount point (wrong UUID or option) and unmount it"
    symptom = "Le dossier partagé du poste est vide depuis le redémarrage."

    class Params(PluginParams):
        mountpoint: str = Field(pattern=r"^/[^\s]*$")
        how: Literal["uuid", "option", "fstype"] = "uuid"

    def _mounted(self, ctx: RoleContext, mountpoint: str) -> bool:
        return ctx.run(["findmnt", "-n", "--mountpoint", mountpoint], check=False).ok

    def inject(self, ctx: RoleContext, params: Params) -> None:
        text = read_file(ctx, "/etc/fstab") or ""
        lines = text.splitlines()
        index = next(
            (
                i
                for i, line in enumerate(lines)
                if not line.lstrip().startswith("#")
                and len(line.split()) >= 3
                and line.split()[1] == params.mountpoint
            ),
            None,
        )
        if index is None:
            raise FaultError(f"{ctx.node.name}: /etc/fstab has no entry for {params.mountpoint}")
        mounted = self._mounted(ctx, params.mountpoint)
        fields = lines[index].split()
        # fstype cannot be told from a legitimate type: not mounted means it was done.
        if params.how == "fstype" and not mounted:
            return
        broken = corrupt_fstab_line(fields, params.how)
        if broken != fields:
            lines[index] = "\t".join(broken)
            ctx.write_file("/etc/fstab", "\n".join(lines) + "\n")
            # What systemd warns about after an fstab edit; the mount units follow the file.
            ctx.run(["systemctl", "daemon-reload"], check=False)
        if mounted:
            # What the next boot would do: the entry no longer mounts.
            ctx.run(["umount", "--", params.mountpoint])

    def in_place(self, ctx: RoleContext, params: Params) -> bool:
        return not self._mounted(ctx, params.mountpoint)


@register_fault
class WrongPermissions(LinuxFault):
    name = "linux.permissions"
    summary = "Change a folder's mode and/or owner"
    symptom = "On me dit « permission refusée » quand j'ouvre le dossier."

    class Params(PluginParams):
        path: str = Field(pattern=r"^/[^\n]*$")
        mode: str | None = Field(default=None, pattern=r"^[0-7]{3,4}$")
        owner: str | None = Field(default=None, pattern=POSIX_NAME)
        group: str | None = Field(default=None, pattern=POSIX_NAME)

        @model_validator(mode="after")
        def _something(self) -> WrongPermissions.Params:
            if self.mode is None and self.owner is None and self.group is None:
                raise ValueError("give at least one of mode, owner, group")
            return self

    def _stat(self, ctx: RoleContext, path: str) -> tuple[int, str, str]:
        res = ctx.run(["stat", "-c", "%a %U %G", "--", path], check=False)
        if not res.ok:
            raise FaultError(f"{ctx.node.name} has no {path}")
        mode, owner, group = res.stdout.split()
        return int(mode, 8), owner, group

    def inject(self, ctx: RoleContext, params: Params) -> None:
        mode, owner, group = self._stat(ctx, params.path)
        if params.owner is not None and params.owner != owner:
            ctx.run(["chown", "--", params.owner, params.path])
        if params.group is not None and params.group != group:
            ctx.run(["chgrp", "--", params.group, params.path])
        if params.mode is not None and int(params.mode, 8) != mode:
            ctx.run(["chmod", "--", params.mode, params.path])

    def in_place(self, ctx: RoleContext, params: Params) -> bool:
        mode, owner, group = self._stat(ctx, params.path)
        return (
            (params.mode is None or int(params.mode, 8) == mode)
            and (params.owner is None or params.owner == owner)
            and (params.group is None or params.group == group)
        )


def package_status(ctx: RoleContext, package: str) -> str:
    res = ctx.run(["dpkg-query", "-W", "-f", "${db:Status-Abbrev}", "--", package], check=False)
    return res.stdout.strip() if res.ok else ""


@register_fault
class PackageRemoved(LinuxFault):
    name = "linux.package_removed"
    summary = "Remove a package (keeping its configuration)"
    symptom = "Le logiciel a disparu de mon poste."

    class Params(PluginParams):
        package: str = Field(pattern=r"^[a-z0-9][a-z0-9+.-]+(:[a-z0-9]+)?$")

    def inject(self, ctx: RoleContext, params: Params) -> None:
        status = package_status(ctx, params.package)
        if not status.startswith("ii"):
            if status or ctx.run(["apt-cache", "show", "--", params.package], check=False).ok:
                return  # removed already (rc) or known but not installed
            raise FaultError(f"{ctx.node.name} does not know the package {params.package!r}")
        # remove, not purge: the configuration stays, as after a hasty `apt remove`.
        # Without --allow-remove-essential apt refuses essential packages: it must.
        ctx.run(
            [
                "env",
                "DEBIAN_FRONTEND=noninteractive",
                "apt-get",
                "remove",
                "-y",
                "-q",
                "--",
                params.package,
            ],
            timeout=300,
        )

    def in_place(self, ctx: RoleContext, params: Params) -> bool:
        return not package_status(ctx, params.package).startswith("ii")


def hosts_line_maps(line: str, hostname: str, address: str | None = None) -> bool:
    fields = line.split("#", 1)[0].split()
    if len(fields) < 2 or hostname.lower() not in (f.lower() for f in fields[1:]):
        return False
    return address is None or fields[0] == address


def poison_hosts(text: str, hostname: str, address: str) -> str:
    """hosts with ``address hostname`` before any other line naming hostname (glibc takes
    the first match), after the localhost lines; unchanged if already there."""
    lines = text.splitlines()
    for line in lines:
        if hosts_line_maps(line, hostname, address):
            return text
    entry = f"{address}\t{hostname}"
    at = next((i for i, line in enumerate(lines) if hosts_line_maps(line, hostname)), None)
    if at is None:
        # After the IPv4 lines, where a colleague would add it.
        ipv4 = [i for i, line in enumerate(lines) if re.match(r"^\s*\d+\.\d+\.\d+\.\d+\s", line)]
        at = ipv4[-1] + 1 if ipv4 else len(lines)
    lines.insert(at, entry)
    return "\n".join(lines) + "\n"


@register_fault
class HostsPoisoned(LinuxFault):
    name = "linux.hosts_poisoned"
    summary = "Add a wrong entry for a name in /etc/hosts"
    symptom = "Le serveur marche pour mes collègues mais pas pour moi."

    class Params(PluginParams):
        hostname: str = Field(pattern=HOSTNAME, max_length=253)
        address: ipaddress.IPv4Address

    def inject(self, ctx: RoleContext, params: Params) -> None:
        current = read_file(ctx, "/etc/hosts") or ""
        write_if_changed(
            ctx, "/etc/hosts", poison_hosts(current, params.hostname, str(params.address))
        )

    def in_place(self, ctx: RoleContext, params: Params) -> bool:
        res = ctx.run(["getent", "ahostsv4", params.hostname], check=False, timeout=30)
        first = res.stdout.split()[:1]
        return first == [str(params.address)]


@register_fault
class WrongTimezone(LinuxFault):
    name = "linux.timezone"
    summary = "Set a wrong time zone"
    symptom = "L'heure affichée sur mon poste est fausse."

    class Params(PluginParams):
        timezone: str = Field(
            default="America/New_York", pattern=r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$"
        )

    def inject(self, ctx: RoleContext, params: Params) -> None:
        zone = f"/usr/share/zoneinfo/{params.timezone}"
        if not ctx.run(["test", "-f", zone], check=False).ok:
            raise FaultError(f"{ctx.node.name} has no time zone {params.timezone!r} ({zone})")
        if self.in_place(ctx, params):
            return
        # What timedatectl set-timezone does, plus Debian's /etc/timezone (tzdata reads it).
        ctx.run(["ln", "-sfn", zone, "/etc/localtime"])
        write_if_changed(ctx, "/etc/timezone", params.timezone + "\n")

    def in_place(self, ctx: RoleContext, params: Params) -> bool:
        target = ctx.run(["readlink", "-f", "/etc/localtime"], check=False).stdout.strip()
        return target == f"/usr/share/zoneinfo/{params.timezone}"


@register_fault
class ClockSkew(LinuxFault):
    name = "linux.clock_skew"
    summary = "Shift the clock (time sync off) so that Kerberos refuses tickets"
    symptom = "Je ne peux plus me connecter au domaine, on me dit que mon mot de passe est refusé."
    # A container's clock is the host's: it cannot be shifted for one node.
    engines = frozenset({"vm"})

    class Params(PluginParams):
        minutes: int = Field(default=30, ge=6)

    def _vm_only(self, ctx: RoleContext) -> None:
        if ctx.node.effective_engine is not Engine.VM:
            raise FaultError(
                f"{ctx.node.name} is a container: it shares the host's clock, which this "
                "fault would shift for every lab",
                hint="run the node as a VM (engine: vm) or pick another fault",
            )

    def _skew(self, ctx: RoleContext) -> float:
        node_now = float(ctx.run(["date", "+%s.%N"]).stdout.strip())
        return node_now - time.time()

    def inject(self, ctx: RoleContext, params: Params) -> None:
        self._vm_only(ctx)
        # Time sync off first, or it would pull the clock back.
        for unit in (
            "systemd-timesyncd.service",
            "chrony.service",
            "ntp.service",
            "ntpsec.service",
        ):
            ctx.run(["systemctl", "disable", "--now", "--quiet", unit], check=False)
        ctx.run(["timedatectl", "set-ntp", "false"], check=False)
        if self.in_place(ctx, params):
            return
        target = int(time.time()) + params.minutes * 60
        ctx.run(["date", "-s", f"@{target}"])
        ctx.run(["hwclock", "--systohc"], check=False)  # the VM's RTC: survives a reboot

    def in_place(self, ctx: RoleContext, params: Params) -> bool:
        self._vm_only(ctx)
        return abs(self._skew(ctx)) >= (params.minutes - 1) * 60


def group_members(ctx: RoleContext, group: str) -> list[str]:
    res = ctx.run(["getent", "group", "--", group], check=False)
    if not res.ok:
        raise FaultError(f"{ctx.node.name} has no group {group!r}")
    members = res.stdout.strip().split(":")[3] if res.stdout.count(":") >= 3 else ""
    return [m for m in members.split(",") if m]


@register_fault
class GroupRemoved(LinuxFault):
    name = "linux.group_removed"
    summary = "Remove a local user from a group"
    symptom = "Je n'ai plus accès à ce que je pouvais faire hier."

    class Params(PluginParams):
        user: str = Field(pattern=POSIX_NAME)
        group: str = Field(pattern=POSIX_NAME)

    def inject(self, ctx: RoleContext, params: Params) -> None:
        if not ctx.run(["id", "-u", "--", params.user], check=False).ok:
            raise FaultError(f"{ctx.node.name} has no user {params.user!r}")
        if params.user in group_members(ctx, params.group):
            ctx.run(["gpasswd", "-d", params.user, params.group])

    def in_place(self, ctx: RoleContext, params: Params) -> bool:
        return params.user not in group_members(ctx, params.group)


def _dport_matches(expr: dict[str, object], protocol: str, port: int) -> bool:
    match = expr.get("match")
    if not isinstance(match, dict) or match.get("op", "==") not in ("==", "in"):
        return False
    left = match.get("left")
    if not isinstance(left, dict):
        return False
    payload = left.get("payload")
    if not isinstance(payload, dict) or payload.get("field") != "dport":
        return False
    if payload.get("protocol") != protocol:
        return False
    right = match.get("right")
    if isinstance(right, dict) and "set" in right:
        right = right["set"]
    values = right if isinstance(right, list) else [right]
    for v in values:
        if v == port:
            return True
        if isinstance(v, dict) and isinstance(v.get("range"), list):
            lo, hi = v["range"]
            if isinstance(lo, int) and isinstance(hi, int) and lo <= port <= hi:
                return True
    return False


def blocked_hooks(ruleset: dict[str, Any], protocol: str, port: int) -> set[str]:
    """Hooks ("input", "output") whose base chains drop or reject ``protocol`` dport ``port``.

    Only rules written directly in a hooked chain count (no jumps followed): enough for
    what this fault writes and what a candidate typically leaves.
    """
    items = ruleset.get("nftables", [])
    hooks: dict[tuple[str, str, str], str] = {}
    rules = []
    for item in items if isinstance(items, list) else []:
        if "chain" in item and "hook" in item["chain"]:
            c = item["chain"]
            hooks[(c["family"], c["table"], c["name"])] = c["hook"]
        elif "rule" in item:
            rules.append(item["rule"])
    out = set()
    for rule in rules:
        hook = hooks.get((rule["family"], rule["table"], rule["chain"]))
        exprs = rule.get("expr", [])
        if hook is None or rule["family"] not in ("inet", "ip"):
            continue
        verdict = any("drop" in e or "reject" in e for e in exprs)
        if verdict and any(_dport_matches(e, protocol, port) for e in exprs):
            out.add(hook)
    return out


def nft_ruleset(ctx: RoleContext) -> dict[str, Any]:
    res = ctx.run(["nft", "-j", "list", "ruleset"])
    return json.loads(res.stdout or "{}")


@register_fault
class FirewallBlock(LinuxFault):
    name = "linux.firewall_block"
    summary = "Add nftables rules (table inet filter) that drop a port, persisted in nftables.conf"
    symptom = "Personne n'arrive plus à se connecter à ce service."

    class Params(PluginParams):
        port: int = Field(ge=1, le=65535)
        protocol: Literal["tcp", "udp"] = "tcp"
        #: input: the node's own service is unreachable; output: the node cannot reach that
        #: port elsewhere (a client's share); both, as a colleague "blocking SMB" would.
        direction: Literal["both", "input", "output"] = "both"

    def _hooks(self, params: Params) -> list[str]:
        return ["input", "output"] if params.direction == "both" else [params.direction]

    def inject(self, ctx: RoleContext, params: Params) -> None:
        # The table Debian's stock nftables.conf declares: the rule sits where an admin
        # would put it, in nothing named after the lab.
        ruleset = nft_ruleset(ctx)
        chains = {
            (i["chain"]["table"], i["chain"]["name"])
            for i in ruleset.get("nftables", [])
            if "chain" in i and i["chain"]["family"] == "inet"
        }
        ctx.run(["nft", "add", "table", "inet", "filter"])
        blocked = blocked_hooks(ruleset, params.protocol, params.port)
        for hook in self._hooks(params):
            if ("filter", hook) not in chains:
                spec = f"{{ type filter hook {hook} priority filter ; policy accept ; }}"
                ctx.run(["nft", "add", "chain", "inet", "filter", hook, spec])
            if hook not in blocked:
                # insert: ahead of any accept rule already in the chain.
                ctx.run(
                    [
                        "nft",
                        "insert",
                        "rule",
                        "inet",
                        "filter",
                        hook,
                        params.protocol,
                        "dport",
                        str(params.port),
                        "drop",
                    ]
                )
        # Saved as an admin does (`nft list ruleset > /etc/nftables.conf`): the next boot
        # loads it again.
        dump = ctx.run(["nft", "list", "ruleset"]).stdout
        write_if_changed(ctx, NFT_CONF, "#!/usr/sbin/nft -f\n\nflush ruleset\n\n" + dump, "0755")
        if (
            ctx.run(["systemctl", "is-enabled", "nftables.service"], check=False).stdout.strip()
            != "enabled"
        ):
            ctx.run(["systemctl", "enable", "--quiet", "nftables.service"])

    def in_place(self, ctx: RoleContext, params: Params) -> bool:
        blocked = blocked_hooks(nft_ruleset(ctx), params.protocol, params.port)
        return bool(blocked & set(self._hooks(params)))


@register_fault
class PrintQueuePaused(LinuxFault):
    name = "linux.print_queue_paused"
    summary = "Disable a CUPS queue (jobs pile up)"
    symptom = "J'envoie mes impressions mais rien ne sort."

    class Params(PluginParams):
        # No leading '-': cupsdisable takes no '--' to end its options.
        queue: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

    def _state(self, ctx: RoleContext, queue: str) -> str:
        res = ctx.run(["lpstat", "-p", queue], check=False, timeout=30)
        if not res.ok:
            raise FaultError(
                f"{ctx.node.name}: no CUPS queue {queue!r} "
                f"({(res.stderr or res.stdout).strip()[-200:] or 'lpstat failed'})"
            )
        return res.stdout

    def inject(self, ctx: RoleContext, params: Params) -> None:
        if not self.in_place(ctx, params):
            ctx.run(["cupsdisable", params.queue])
            # cupsd writes printers.conf lazily; a restart writes it now, so the paused queue
            # survives a reboot and is in the exam-start snapshot.
            ctx.run(["systemctl", "restart", "cups"])

    def in_place(self, ctx: RoleContext, params: Params) -> bool:
        return "disabled" in self._state(ctx, params.queue)


PROXY_VARS = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")


def with_proxy(environment: str, proxy: str) -> str:
    """/etc/environment with the proxy variables set to ``proxy`` (others kept)."""
    lines = [
        line
        for line in environment.splitlines()
        if line.split("=", 1)[0].strip().removeprefix("export ").strip() not in PROXY_VARS
    ]
    lines += [f'{var}="{proxy}"' for var in PROXY_VARS]
    return "\n".join(lines) + "\n"


def environment_value(environment: str, var: str) -> str | None:
    for line in environment.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip().removeprefix("export ").strip() == var:
            return value.strip().strip('"').strip("'")
    return None


@register_fault
class WrongProxy(LinuxFault):
    name = "linux.proxy"
    summary = "Set a system-wide HTTP proxy that does not exist (/etc/environment and apt)"
    symptom = "Internet ne marche plus dans le navigateur."

    class Params(PluginParams):
        proxy: str = Field(
            default="http://10.255.255.1:3128", pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$"
        )

    APT_CONF = "/etc/apt/apt.conf.d/95proxy"

    def inject(self, ctx: RoleContext, params: Params) -> None:
        # /etc/environment: read by pam_env at every login (shells, desktop, browsers).
        current = read_file(ctx, "/etc/environment") or ""
        if environment_value(current, "http_proxy") != params.proxy or any(
            environment_value(current, v) != params.proxy for v in PROXY_VARS
        ):
            ctx.write_file("/etc/environment", with_proxy(current, params.proxy))
        write_if_changed(
            ctx,
            self.APT_CONF,
            f'Acquire::http::Proxy "{params.proxy}";\nAcquire::https::Proxy "{params.proxy}";\n',
        )

    def in_place(self, ctx: RoleContext, params: Params) -> bool:
        current = read_file(ctx, "/etc/environment") or ""
        return params.proxy in (environment_value(current, v) for v in PROXY_VARS)


__all__ = [
    "LINUX",
    "blocked_hooks",
    "corrupt_fstab_line",
    "edit_networkd",
    "ini_values",
    "poison_hosts",
    "read_file",
    "set_ini_key",
    "vtysh_config",
    "with_nameserver",
    "with_proxy",
    "write_if_changed",
]
