"""Prerequisites for running labs, as a table of probes (platform knowledge as data).

Each probe says what it checks, what needs it, and the command that fixes it. Probes only
look; the one that creates something (a test bridge) removes it again.
"""

from __future__ import annotations

import enum
import importlib.util
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tai_labs.locations import locations


class Status(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Finding:
    status: Status
    detail: str


@dataclass(frozen=True)
class Probe:
    name: str
    needed_for: str
    run: Callable[[], Finding]
    fix: str


@dataclass(frozen=True)
class Result:
    probe: Probe
    finding: Finding

    def as_dict(self) -> dict[str, str]:
        return {
            "name": self.probe.name,
            "needed_for": self.probe.needed_for,
            "status": self.finding.status.value,
            "detail": self.finding.detail,
            "fix": self.probe.fix if self.finding.status is not Status.OK else "",
        }


def _cmd(argv: list[str], timeout: float = 10) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None


def _root() -> Finding:
    if os.geteuid() == 0:
        return Finding(Status.OK, "running as root")
    return Finding(Status.FAIL, f"running as uid {os.geteuid()}")


def _tool(binary: str, version_args: list[str] | None = None) -> Callable[[], Finding]:
    def probe() -> Finding:
        path = shutil.which(binary)
        if path is None:
            return Finding(Status.FAIL, f"{binary} not found")
        if version_args is None:
            return Finding(Status.OK, path)
        out = _cmd([path, *version_args])
        first = (out.stdout or out.stderr).strip().splitlines()[0] if out else ""
        return Finding(Status.OK, f"{path} {first}".strip())

    return probe


def _python_package(module: str) -> Callable[[], Finding]:
    def probe() -> Finding:
        # find_spec does not import: doctor stays fast even with heavy libraries present.
        if importlib.util.find_spec(module) is None:
            return Finding(Status.FAIL, f"Python module {module} not importable")
        return Finding(Status.OK, f"{module} importable")

    return probe


def _libvirtd() -> Finding:
    for sock in ("/run/libvirt/libvirt-sock", "/var/run/libvirt/libvirt-sock"):
        if Path(sock).exists():
            return Finding(Status.OK, f"socket {sock}")
    if shutil.which("libvirtd") is None:
        return Finding(Status.FAIL, "libvirtd not installed")
    return Finding(Status.FAIL, "libvirtd installed but not running")


def _kvm() -> Finding:
    from tai_labs.providers.accel import cached

    decision = cached()
    if decision is not None:
        # The engine's own test boot decided (providers.accel); it is what labs use.
        status = Status.OK if decision.virt_type == "kvm" else Status.WARN
        mode = "KVM" if decision.virt_type == "kvm" else "software emulation (TCG)"
        return Finding(status, f"VMs run under {mode}: {decision.reason.splitlines()[0]}")
    dev = Path("/dev/kvm")
    if not dev.exists():
        return Finding(Status.WARN, "no /dev/kvm: VMs will run under software emulation (TCG)")
    # The device can exist yet crash or hang real guests (nested or paravirtual KVM): the
    # first VM node boots a test guest under KVM and caches the answer.
    return Finding(Status.WARN, "/dev/kvm present; KVM not verified yet (first VM node tests it)")


def _bridges() -> Finding:
    if os.geteuid() != 0:
        return Finding(Status.WARN, "not checked (needs root)")
    name = f"tldr{uuid.uuid4().hex[:8]}"
    made = _cmd(["ip", "link", "add", name, "type", "bridge"])
    if made is None or made.returncode != 0:
        return Finding(Status.FAIL, (made.stderr.strip() if made else "ip not found"))
    _cmd(["ip", "link", "del", name])
    return Finding(Status.OK, "a Linux bridge can be created and removed")


def _cgroups() -> Finding:
    root = Path("/sys/fs/cgroup")
    if (root / "cgroup.controllers").exists():
        return Finding(Status.OK, "cgroup v2 (unified)")
    if (root / "memory").is_dir():
        layout = "hybrid" if (root / "unified").is_dir() else "v1"
        return Finding(Status.OK, f"cgroup {layout} layout")
    return Finding(Status.FAIL, "no cgroup file system mounted at /sys/fs/cgroup")


def _disk() -> Finding:
    folder = locations().data
    probe_dir = folder if folder.exists() else Path("/")
    free = shutil.disk_usage(probe_dir).free / 2**30
    status = Status.OK if free >= 10 else Status.WARN if free >= 3 else Status.FAIL
    return Finding(status, f"{free:.1f} GiB free for {folder}")


def _memory() -> Finding:
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
    except OSError:
        return Finding(Status.WARN, "cannot read /proc/meminfo")
    info = {line.split(":")[0]: int(line.split()[1]) for line in lines if line.count(":") == 1}
    avail = info.get("MemAvailable", 0) / 2**20
    status = Status.OK if avail >= 2 else Status.WARN
    return Finding(status, f"{avail:.1f} GiB available")


def _inotify() -> Finding:
    try:
        value = int(Path("/proc/sys/fs/inotify/max_user_instances").read_text())
    except (OSError, ValueError):
        return Finding(Status.WARN, "cannot read fs.inotify.max_user_instances")
    # Each node's systemd takes several instances; 128 (the default) stops a few labs.
    status = Status.OK if value >= 1024 else Status.WARN
    return Finding(status, f"fs.inotify.max_user_instances = {value}")


def _sshd() -> Finding:
    """The candidates' SSH gateway (`tai-labs access`) needs the host's sshd, running."""
    sshd = Path("/usr/sbin/sshd")
    if not sshd.is_file():
        return Finding(Status.WARN, "openssh-server not installed: no SSH gateway for candidates")
    try:
        pid = int(Path("/run/sshd.pid").read_text().strip())
        running = Path(f"/proc/{pid}/exe").resolve() == sshd.resolve()
    except (OSError, ValueError):
        running = False
    if not running:
        return Finding(Status.WARN, "sshd installed but not running: candidates cannot log in")
    return Finding(Status.OK, f"sshd running (pid {pid})")


APT = "apt-get update && apt-get install -y"

PROBES: tuple[Probe, ...] = (
    Probe("root", "labs", _root, "run tai-labs as root (sudo)"),
    Probe("lxc", "containers", _tool("lxc-start", ["--version"]), f"{APT} lxc"),
    Probe("debootstrap", "images", _tool("debootstrap", ["--version"]), f"{APT} debootstrap"),
    Probe("linux bridges", "lab networks", _bridges, f"{APT} iproute2"),
    Probe("cgroups", "containers", _cgroups, "mount a cgroup file system (cgroup-tools)"),
    Probe("inotify", "many nodes", _inotify, "sysctl -w fs.inotify.max_user_instances=8192"),
    Probe(
        "ovs-vsctl", "switch nodes", _tool("ovs-vsctl", ["--version"]), f"{APT} openvswitch-switch"
    ),
    Probe(
        "libvirtd",
        "virtual machines",
        _libvirtd,
        f"{APT} libvirt-daemon-system && scripts/start-libvirt.sh",
    ),
    Probe(
        "qemu",
        "virtual machines",
        _tool("qemu-system-x86_64", ["--version"]),
        f"{APT} qemu-system-x86",
    ),
    Probe(
        "kvm",
        "fast virtual machines",
        _kvm,
        "enable virtualisation in the BIOS / nested KVM, or accept TCG",
    ),
    Probe(
        "libvirt-python",
        "virtual machines",
        _python_package("libvirt"),
        f"{APT} libvirt-dev pkg-config && pip install 'tai-labs[vm]'",
    ),
    Probe(
        "sshd",
        "candidates' SSH gateway",
        _sshd,
        f"{APT} openssh-server && service ssh start",
    ),
    Probe("paramiko", "SSH sessions", _python_package("paramiko"), "pip install paramiko"),
    Probe("ldap3", "directory sessions", _python_package("ldap3"), "pip install ldap3"),
    Probe("netmiko", "device sessions", _python_package("netmiko"), "pip install netmiko"),
    Probe("pywinrm", "Windows sessions", _python_package("winrm"), "pip install pywinrm"),
    Probe("disk", "images and labs", _disk, "free space under the data folder (TAI_LABS_DATA)"),
    Probe("memory", "labs", _memory, "close other labs or add memory"),
)


def run_probes(probes: tuple[Probe, ...] = PROBES) -> list[Result]:
    results = []
    for probe in probes:
        try:
            finding = probe.run()
        except Exception as exc:  # a probe must never crash the report
            finding = Finding(Status.FAIL, f"probe crashed: {exc}")
        results.append(Result(probe, finding))
    return results
