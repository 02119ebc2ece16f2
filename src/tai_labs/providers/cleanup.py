"""Garbage collection of labs: remove everything a lab left on the host, found by name.

Works without any state of the process that created the lab (it may have crashed):
containers are found in the lab's LXC path, processes through the lab's cgroups and
command lines, interfaces and the firewall table by the lab-id prefix.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tai_labs.locations import locations
from tai_labs.providers import cgroups, gateway, naming
from tai_labs.providers.mounts import safe_rmtree, unmount_tree
from tai_labs.providers.network import delete_lab_network, lab_nft_tables, list_links
from tai_labs.providers.reaper import reap_orphans


@dataclass
class CleanupReport:
    lab_id: str
    containers: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)  # libvirt VMs
    processes: list[int] = field(default_factory=list)
    cgroup_dirs: list[str] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    removed_dir: bool = False
    accounts: list[str] = field(default_factory=list)  # SSH gateway logins


def _processes_mentioning(text: str) -> list[int]:
    """PIDs whose command line contains text (e.g. lxc-start/attach of the lab's LXC path)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry))
    return found


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def cleanup_lab(lab_id: str, *, data: Path | None = None) -> CleanupReport:
    """Stop and delete every container, process, cgroup, mount, interface and file of the lab."""
    naming.check_lab_id(lab_id)
    report = CleanupReport(lab_id)
    # The candidate's gateway account first: its sessions die before the nodes they reach.
    report.accounts = gateway.remove_lab(lab_id)
    folder = locations(data).lab(lab_id)
    lxcpath = folder / "lxc"
    if lxcpath.is_dir():
        for config in sorted(lxcpath.glob("*/config")):
            name = config.parent.name
            report.containers.append(name)
            # A stop that hangs is fine: the monitor is killed below, by command line and cgroup.
            with contextlib.suppress(subprocess.TimeoutExpired):
                subprocess.run(
                    ["lxc-stop", "-P", str(lxcpath), "-n", name, "-k"],
                    capture_output=True,
                    check=False,
                    timeout=15,
                )
    report.domains = _remove_domains(lab_id)
    # Monitors (lxc-start -F) and attach sessions name the LXC path on their command line.
    stray = _processes_mentioning(f"-P {lxcpath} ")
    _kill(stray)
    report.processes += stray
    rel = naming.cgroup_lab_dir(lab_id)
    report.processes += sorted(cgroups.kill_all(rel))
    time.sleep(0.1)
    reap_orphans()
    report.cgroup_dirs = [str(p) for p in cgroups.remove_tree(rel)]
    cgroups.prune_empty_parents(rel)
    if folder.exists():
        report.mounts = [str(m) for m in unmount_tree(folder)]
    report.links = delete_lab_network(lab_id)
    if folder.exists():
        safe_rmtree(folder)
        report.removed_dir = True
    return report


def known_labs(data: Path | None = None) -> set[str]:
    """Lab ids that have anything on the host: a folder, an interface, cgroups, an nft table,
    a VM or an SSH gateway account."""
    labs: set[str] = set()
    root = locations(data).labs
    if root.is_dir():
        labs.update(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for link in list_links():
        lab = naming.lab_of_ifname(str(link["ifname"]))
        if lab:
            labs.add(lab)
    for top in cgroups.dirs_of(naming.CGROUP_ROOT):
        labs.update(p.name for p in top.iterdir() if p.is_dir())
    labs.update(lab_nft_tables())
    labs.update(_domain_labs())
    labs.update(lab for a in gateway.accounts() for lab in a.labs)  # host-wide, like nft
    return {lab for lab in labs if _valid(lab)}


def _libvirt_reachable() -> bool:
    """libvirt is only asked when its daemon runs and its bindings are installed."""
    from tai_labs.providers.libvirt_conn import daemon_running

    if not daemon_running():
        return False
    try:
        import libvirt  # noqa: F401
    except ImportError:
        return False
    return True


def _remove_domains(lab_id: str) -> list[str]:
    """Power off and undefine the lab's VMs (their disks go with the lab folder)."""
    if not _libvirt_reachable():
        return []
    import libvirt

    from tai_labs.providers.libvirt_conn import connect
    from tai_labs.providers.libvirt_vm import lab_domains

    conn = connect()
    removed = []
    for name in lab_domains(lab_id):
        dom = conn.lookupByName(name)
        with contextlib.suppress(libvirt.libvirtError):
            dom.destroy()
        dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
        removed.append(name)
    return removed


def _domain_labs() -> set[str]:
    if not _libvirt_reachable():
        return set()
    from tai_labs.providers.libvirt_conn import connect
    from tai_labs.providers.vm_domain import lab_of_domain_xml

    labs = set()
    for dom in connect().listAllDomains():
        owner = lab_of_domain_xml(dom.XMLDesc(0))
        if owner is not None:
            labs.add(owner[0])
    return labs


def _valid(lab: str) -> bool:
    try:
        naming.check_lab_id(lab)
    except Exception:
        return False
    return True
