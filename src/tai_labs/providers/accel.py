"""KVM or software emulation (TCG): decided once per host by a short test boot, then cached.

``/dev/kvm`` existing proves little: some hosts offer a paravirtual KVM on which stock
kernels crash or hang. So the first VM node boots a throwaway guest under KVM; if its guest
agent answers in time, labs use KVM, otherwise TCG. The answer is kept in
``<data>/cache/vm-accel.json`` with what it depends on (host kernel, QEMU build), and
``TAI_LABS_VM_ACCEL=kvm|qemu`` overrides it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from tai_labs.locations import locations
from tai_labs.providers.base import VmBoot
from tai_labs.providers.errors import EngineError
from tai_labs.providers.hostcmd import run

PROBE_TIMEOUT = 40.0  # a KVM guest answers in a few seconds; TCG is not tried here
QEMU = "/usr/bin/qemu-system-x86_64"


class AccelDecision(BaseModel):
    virt_type: str  # "kvm" or "qemu"
    reason: str
    fingerprint: str
    probed_at: datetime
    probe_seconds: float


def cache_file(data: Path | None = None) -> Path:
    return locations(data).accel_cache


def host_fingerprint() -> str:
    """What the answer depends on: the host kernel and the QEMU binary."""
    qemu = Path(shutil.which("qemu-system-x86_64") or QEMU)
    stamp = int(qemu.stat().st_mtime) if qemu.exists() else 0
    return f"{os.uname().release}|{qemu}|{stamp}"


def cached(data: Path | None = None) -> AccelDecision | None:
    path = cache_file(data)
    try:
        decision = AccelDecision.model_validate_json(path.read_text())
    except (OSError, ValueError):
        return None
    return decision if decision.fingerprint == host_fingerprint() else None


def virt_type(image: VmBoot | Callable[[], VmBoot], data: Path | None = None) -> str:
    """ "kvm" or "qemu" for this host, probing with image (a kernel-booted one) the first time.

    image may be a callable giving one, so that a lab of imported disks builds a Linux VM
    image only when the host has never been probed.
    """
    forced = os.environ.get("TAI_LABS_VM_ACCEL")
    if forced:
        if forced not in ("kvm", "qemu"):
            raise EngineError(f"TAI_LABS_VM_ACCEL must be kvm or qemu, not {forced!r}")
        return forced
    decision = cached(data)
    if decision is None:
        decision = probe(image if isinstance(image, VmBoot) else image(), data)
    return decision.virt_type


def probe(image: VmBoot, data: Path | None = None) -> AccelDecision:
    started = time.monotonic()
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        kind, reason = "qemu", "/dev/kvm is absent or not usable"
    else:
        ok, detail = _test_boot(image, data)
        kind = "kvm" if ok else "qemu"
        reason = f"KVM test boot {'answered' if ok else 'failed'}: {detail}"
    decision = AccelDecision(
        virt_type=kind,
        reason=reason,
        fingerprint=host_fingerprint(),
        probed_at=datetime.now(UTC),
        probe_seconds=round(time.monotonic() - started, 1),
    )
    path = cache_file(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(decision.model_dump(mode="json"), indent=2))
    return decision


def _test_boot(image: VmBoot, data: Path | None) -> tuple[bool, str]:
    """Boot a transient KVM guest of image with no NIC; did its agent answer in time?"""
    from tai_labs.providers.libvirt_conn import (
        AgentError,
        agent_command,
        connect,
        import_libvirt,
    )
    from tai_labs.providers.vm_domain import DomainConfig, DomainDisk, domain_xml

    libvirt = import_libvirt()
    conn = connect()
    work = Path(tempfile.mkdtemp(prefix="accel-probe-", dir=cache_file(data).parent))
    os.chmod(work, 0o711)
    name = f"tai-labs-accel-probe-{os.getpid()}"
    overlay = work / "probe.qcow2"
    dom = None
    try:
        run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2",
             "-b", str(image.disk), str(overlay)])  # fmt: skip
        xml = domain_xml(
            DomainConfig(
                name=name, lab_id="probe", node="probe", memory_mib=512, vcpus=1,
                virt_type="kvm", disks=(DomainDisk(overlay, "vda"),), nics=(),
                console_log=work / "console.log", kernel=image.kernel, initrd=image.initrd,
                cmdline=image.cmdline,
            )
        )  # fmt: skip
        try:
            dom = conn.createXML(xml, 0)
        except libvirt.libvirtError as exc:
            return False, exc.get_error_message()
        deadline = time.monotonic() + PROBE_TIMEOUT
        while time.monotonic() < deadline:
            if not dom.isActive():
                return False, "the guest stopped (crashed) while booting"
            try:
                agent_command(dom, "guest-ping", timeout=2)
                return (
                    True,
                    f"guest agent up in {PROBE_TIMEOUT - (deadline - time.monotonic()):.1f}s",
                )
            except AgentError:
                time.sleep(0.5)
        return False, f"no guest agent after {PROBE_TIMEOUT:.0f}s (hung)"
    finally:
        if dom is not None:
            with contextlib.suppress(libvirt.libvirtError):
                dom.destroy()
        shutil.rmtree(work, ignore_errors=True)
