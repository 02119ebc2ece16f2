"""Who a VM's QEMU process runs as, and the refusal to run one as root.

A candidate is root in their VM; a QEMU escape lands wherever QEMU runs. libvirt's system
daemon starts QEMU as the user of ``qemu.conf`` (Debian: ``libvirt-qemu``, no
capabilities), but a host can set ``user = "root"``: then a guest escape is root on the
host. So each start reads the process's identity from ``/proc`` and stops a domain whose
QEMU has uid or gid 0 among its real, effective, saved or filesystem ids (a saved 0 can be
taken back) or any permitted capability (a permitted one can be made effective).
"""

from __future__ import annotations

import pwd
from dataclasses import dataclass
from pathlib import Path

from tai_labs.providers.errors import NodeStartError

PID_DIR = Path("/run/libvirt/qemu")


@dataclass(frozen=True)
class ProcessIdentity:
    pid: int
    uids: tuple[int, ...]
    gids: tuple[int, ...]
    cap_prm: int
    cap_eff: int

    @property
    def uid(self) -> int:
        return self.uids[1]  # the effective one, what the kernel checks

    @property
    def gid(self) -> int:
        return self.gids[1]

    @property
    def user(self) -> str:
        try:
            return pwd.getpwuid(self.uid).pw_name
        except KeyError:
            return str(self.uid)

    @property
    def unprivileged(self) -> bool:
        return 0 not in self.uids and 0 not in self.gids and self.cap_prm == 0 and self.cap_eff == 0


def qemu_pid(domain: str, pid_dir: Path = PID_DIR) -> int:
    """The QEMU pid libvirt recorded for ``domain`` (system daemon layout)."""
    path = pid_dir / f"{domain}.pid"
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError) as exc:
        raise NodeStartError(
            f"VM {domain!r}: cannot tell which process runs it ({path}: {exc})",
            hint="tai-labs needs libvirt's system daemon (qemu:///system)",
        ) from exc


def identity(pid: int, proc: Path = Path("/proc")) -> ProcessIdentity:
    """The ids and capabilities of ``pid``, from its ``status`` file."""
    fields: dict[str, str] = {}
    for line in (proc / str(pid) / "status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    # Uid/Gid lines are "real effective saved fs".
    return ProcessIdentity(
        pid=pid,
        uids=tuple(int(u) for u in fields["Uid"].split()),
        gids=tuple(int(g) for g in fields["Gid"].split()),
        cap_prm=int(fields["CapPrm"], 16),
        cap_eff=int(fields["CapEff"], 16),
    )


def check_unprivileged(
    domain: str, *, pid_dir: Path = PID_DIR, proc: Path = Path("/proc")
) -> ProcessIdentity:
    """The identity of ``domain``'s QEMU; raises if it could act as root on the host."""
    who = identity(qemu_pid(domain, pid_dir), proc)
    if not who.unprivileged:
        raise NodeStartError(
            f"VM {domain!r}: QEMU runs with uids {who.uids}, gids {who.gids} and capabilities "
            f"{who.cap_prm:#x}: a guest escape would be root on this host; the VM was stopped",
            hint='set user = "libvirt-qemu" and group = "libvirt-qemu" in '
            "/etc/libvirt/qemu.conf (Debian's default) and restart libvirtd",
        )
    return who
