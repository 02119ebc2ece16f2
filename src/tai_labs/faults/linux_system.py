"""Faults on a Linux node's system: services, disks, fstab, permissions, packages, time,
groups, printing."""

from __future__ import annotations

import hashlib
import time
from typing import Literal

from pydantic import Field, model_validator

from tai_labs.context import NodeContext
from tai_labs.faults.base import FaultError, register_fault
from tai_labs.faults.linux import (
    POSIX_NAME,
    LinuxFault,
    read_file,
    write_if_changed,
)
from tai_labs.plugins import PluginParams


@register_fault
class ServiceStopped(LinuxFault["ServiceStopped.Params"]):
    name = "linux.service_stopped"
    summary = "Stop a systemd unit, and disable it (unless disable: false)"
    symptom = "Le service ne répond plus."

    class Params(PluginParams):
        service: str = Field(pattern=r"^[A-Za-z0-9@._-]+$")
        #: Disabled too by default: a stopped-only unit comes back at the next boot.
        disable: bool = True

    def _check(self, ctx: NodeContext, unit: str) -> None:
        res = ctx.run(["systemctl", "show", "-P", "LoadState", "--", unit], check=False)
        if res.stdout.strip() != "loaded":
            raise FaultError(f"{ctx.node.name} has no unit {unit!r} ({res.stdout.strip()})")

    def inject(self, ctx: NodeContext, params: Params) -> None:
        self._check(ctx, params.service)
        if params.disable:
            state = ctx.run(["systemctl", "is-enabled", "--", params.service], check=False)
            if state.stdout.strip() in ("enabled", "enabled-runtime"):
                ctx.run(["systemctl", "disable", "--quiet", "--", params.service])
        if self._active(ctx, params.service):
            ctx.run(["systemctl", "stop", "--", params.service])

    @staticmethod
    def _active(ctx: NodeContext, unit: str) -> bool:
        state = ctx.run(["systemctl", "is-active", "--", unit], check=False).stdout.strip()
        return state in ("active", "activating", "reloading")

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
        if self._active(ctx, params.service):
            return False
        if not params.disable:
            return True
        state = ctx.run(["systemctl", "is-enabled", "--", params.service], check=False)
        return state.stdout.strip() not in ("enabled", "enabled-runtime")


MIB = 2**20


def _df(ctx: NodeContext, path: str) -> tuple[int, int, str]:
    """(available bytes, size bytes, mount point) of the file system holding ``path``."""
    res = ctx.run(["df", "-B1", "--output=avail,size,target", "--", path])
    fields = res.stdout.splitlines()[-1].split()
    return int(fields[0]), int(fields[1]), fields[2]


def _size(ctx: NodeContext, path: str) -> int | None:
    res = ctx.run(["stat", "-c", "%s", "--", path], check=False)
    return int(res.stdout.strip()) if res.ok else None


@register_fault
class DiskFull(LinuxFault["DiskFull.Params"]):
    name = "linux.disk_full"
    summary = "Fill a size-capped file system with a junk file, leaving little free space"
    symptom = "Je ne peux plus enregistrer mes fichiers, il dit que le disque est plein."

    class Params(PluginParams):
        path: str = Field(default="/var/tmp", pattern=r"^/[^\n]*$")
        leave_mib: int = Field(default=1, ge=0)
        junk: str = Field(default="/var/tmp/.cache-update.bin", pattern=r"^/[^\n]*$")

    #: Free space above leave_mib still counted as full: logs keep writing meanwhile.
    SLACK_MIB = 8

    def _capped(self, ctx: NodeContext, params: Params) -> None:
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

    def inject(self, ctx: NodeContext, params: Params) -> None:
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

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
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
class FstabBroken(LinuxFault["FstabBroken.Params"]):
    name = "linux.fstab_broken"
    summary = "Corrupt the fstab entry of a mount point (wrong UUID or option) and unmount it"
    symptom = "Le dossier partagé du poste est vide depuis le redémarrage."

    class Params(PluginParams):
        mountpoint: str = Field(pattern=r"^/[^\s]*$")
        how: Literal["uuid", "option", "fstype"] = "uuid"

    def _mounted(self, ctx: NodeContext, mountpoint: str) -> bool:
        return ctx.run(["findmnt", "-n", "--mountpoint", mountpoint], check=False).ok

    def inject(self, ctx: NodeContext, params: Params) -> None:
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

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
        return not self._mounted(ctx, params.mountpoint)


@register_fault
class WrongPermissions(LinuxFault["WrongPermissions.Params"]):
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

    def _stat(self, ctx: NodeContext, path: str) -> tuple[int, str, str]:
        res = ctx.run(["stat", "-c", "%a %U %G", "--", path], check=False)
        if not res.ok:
            raise FaultError(f"{ctx.node.name} has no {path}")
        mode, owner, group = res.stdout.split()
        return int(mode, 8), owner, group

    def inject(self, ctx: NodeContext, params: Params) -> None:
        mode, owner, group = self._stat(ctx, params.path)
        if params.owner is not None and params.owner != owner:
            ctx.run(["chown", "--", params.owner, params.path])
        if params.group is not None and params.group != group:
            ctx.run(["chgrp", "--", params.group, params.path])
        if params.mode is not None and int(params.mode, 8) != mode:
            ctx.run(["chmod", "--", params.mode, params.path])

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
        mode, owner, group = self._stat(ctx, params.path)
        return (
            (params.mode is None or int(params.mode, 8) == mode)
            and (params.owner is None or params.owner == owner)
            and (params.group is None or params.group == group)
        )


def package_status(ctx: NodeContext, package: str) -> str:
    res = ctx.run(["dpkg-query", "-W", "-f", "${db:Status-Abbrev}", "--", package], check=False)
    return res.stdout.strip() if res.ok else ""


@register_fault
class PackageRemoved(LinuxFault["PackageRemoved.Params"]):
    name = "linux.package_removed"
    summary = "Remove a package (keeping its configuration)"
    symptom = "Le logiciel a disparu de mon poste."

    class Params(PluginParams):
        package: str = Field(pattern=r"^[a-z0-9][a-z0-9+.-]+(:[a-z0-9]+)?$")

    def inject(self, ctx: NodeContext, params: Params) -> None:
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

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
        return not package_status(ctx, params.package).startswith("ii")


@register_fault
class WrongTimezone(LinuxFault["WrongTimezone.Params"]):
    name = "linux.timezone"
    summary = "Set a wrong time zone"
    symptom = "L'heure affichée sur mon poste est fausse."

    class Params(PluginParams):
        timezone: str = Field(
            default="America/New_York", pattern=r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$"
        )

    def inject(self, ctx: NodeContext, params: Params) -> None:
        zone = f"/usr/share/zoneinfo/{params.timezone}"
        if not ctx.run(["test", "-f", zone], check=False).ok:
            raise FaultError(f"{ctx.node.name} has no time zone {params.timezone!r} ({zone})")
        if self.in_place(ctx, params):
            return
        # What timedatectl set-timezone does, plus Debian's /etc/timezone (tzdata reads it).
        ctx.run(["ln", "-sfn", zone, "/etc/localtime"])
        write_if_changed(ctx, "/etc/timezone", params.timezone + "\n")

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
        target = ctx.run(["readlink", "-f", "/etc/localtime"], check=False).stdout.strip()
        return target == f"/usr/share/zoneinfo/{params.timezone}"


@register_fault
class ClockSkew(LinuxFault["ClockSkew.Params"]):
    name = "linux.clock_skew"
    summary = "Shift the clock (time sync off) so that Kerberos refuses tickets"
    symptom = "Je ne peux plus me connecter au domaine, on me dit que mon mot de passe est refusé."
    # A container's clock is the host's: it cannot be shifted for one node.
    engines = frozenset({"vm"})

    class Params(PluginParams):
        minutes: int = Field(default=30, ge=6)

    def _vm_only(self, ctx: NodeContext) -> None:
        if ctx.node.effective_engine not in self.engines:
            raise FaultError(
                f"{ctx.node.name} is a {ctx.node.effective_engine}: it shares the host's clock, "
                "which this fault would shift for every lab",
                hint="run the node as a VM (engine: vm) or pick another fault",
            )

    def _skew(self, ctx: NodeContext) -> float:
        node_now = float(ctx.run(["date", "+%s.%N"]).stdout.strip())
        return node_now - time.time()

    def inject(self, ctx: NodeContext, params: Params) -> None:
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

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
        self._vm_only(ctx)
        return abs(self._skew(ctx)) >= (params.minutes - 1) * 60


def group_members(ctx: NodeContext, group: str) -> list[str]:
    res = ctx.run(["getent", "group", "--", group], check=False)
    if not res.ok:
        raise FaultError(f"{ctx.node.name} has no group {group!r}")
    members = res.stdout.strip().split(":")[3] if res.stdout.count(":") >= 3 else ""
    return [m for m in members.split(",") if m]


@register_fault
class GroupRemoved(LinuxFault["GroupRemoved.Params"]):
    name = "linux.group_removed"
    summary = "Remove a local user from a group"
    symptom = "Je n'ai plus accès à ce que je pouvais faire hier."

    class Params(PluginParams):
        user: str = Field(pattern=POSIX_NAME)
        group: str = Field(pattern=POSIX_NAME)

    def inject(self, ctx: NodeContext, params: Params) -> None:
        if not ctx.run(["id", "-u", "--", params.user], check=False).ok:
            raise FaultError(f"{ctx.node.name} has no user {params.user!r}")
        if params.user in group_members(ctx, params.group):
            ctx.run(["gpasswd", "-d", params.user, params.group])

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
        return params.user not in group_members(ctx, params.group)


@register_fault
class PrintQueuePaused(LinuxFault["PrintQueuePaused.Params"]):
    name = "linux.print_queue_paused"
    summary = "Disable a CUPS queue (jobs pile up)"
    symptom = "J'envoie mes impressions mais rien ne sort."

    class Params(PluginParams):
        # No leading '-': cupsdisable takes no '--' to end its options.
        queue: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

    def _state(self, ctx: NodeContext, queue: str) -> str:
        res = ctx.run(["lpstat", "-p", queue], check=False, timeout=30)
        if not res.ok:
            raise FaultError(
                f"{ctx.node.name}: no CUPS queue {queue!r} "
                f"({(res.stderr or res.stdout).strip()[-200:] or 'lpstat failed'})"
            )
        return res.stdout

    def inject(self, ctx: NodeContext, params: Params) -> None:
        if not self.in_place(ctx, params):
            ctx.run(["cupsdisable", params.queue])
            # cupsd writes printers.conf lazily; a restart writes it now, so the paused queue
            # survives a reboot and is in the exam-start snapshot.
            ctx.run(["systemctl", "restart", "cups"])

    def in_place(self, ctx: NodeContext, params: Params) -> bool:
        return "disabled" in self._state(ctx, params.queue)
