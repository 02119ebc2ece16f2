"""libvirt domain XML for a lab node, built from plain values (no libvirt needed here).

Linux guests boot their kernel directly (no boot loader) from a qcow2 overlay, with NICs at
fixed PCI slots in NIC order so that, with ``net.ifnames=0``, the guest names them eth0,
eth1, ... as the plan says. Windows guests boot their own disk and are reached over WinRM.
Every value is set through ElementTree, so no name or path can break out of the XML.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

METADATA_NS = "https://tai-labs.org/xmlns/libvirt/1"
FIRST_NIC_SLOT = 3  # slots 1-2 belong to the chipset on the 'pc' machine
#: QEMU's translation cache under TCG defaults to a quarter of guest RAM or more; 64 MiB
#: keeps a guest's QEMU near 300 MiB at the same speed (measured, see docs/runtime.md).
TCG_TB_CACHE_MIB = 64
GUEST_AGENT_CHANNEL = "org.qemu.guest_agent.0"
#: Where a node's VNC display may listen: on the host's loopback only, reached through the
#: portal's authorised proxy, never straight from a lab network or the exam room.
VNC_LISTEN = "127.0.0.1"


@dataclass(frozen=True)
class DomainNic:
    bridge: str
    mac: str
    tap: str  # host-side name, derived from the lab id so cleanup finds it
    #: An isolated bridge port (the management NIC): libvirt sets the flag on each start.
    isolated: bool = False


@dataclass(frozen=True)
class DomainDisk:
    path: Path
    target: str  # vda, vdb, ...
    serial: str = ""  # shown in the guest as /dev/disk/by-id/virtio-<serial>
    fmt: str = "qcow2"


@dataclass(frozen=True)
class DomainConfig:
    name: str
    lab_id: str
    node: str
    memory_mib: int
    vcpus: int
    virt_type: str  # "kvm" or "qemu" (TCG)
    disks: tuple[DomainDisk, ...]
    nics: tuple[DomainNic, ...]
    console_log: Path
    windows: bool = False
    kernel: Path | None = None
    initrd: Path | None = None
    cmdline: str = ""
    config_iso: Path | None = None
    extra_cdroms: tuple[Path, ...] = field(default_factory=tuple)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def domain_xml(cfg: DomainConfig) -> str:
    if cfg.virt_type not in ("kvm", "qemu"):
        raise ValueError(f"virt_type must be kvm or qemu, not {cfg.virt_type!r}")
    dom = ET.Element("domain", type=cfg.virt_type)
    _sub(dom, "name", cfg.name)
    meta = _sub(dom, "metadata")
    tai = ET.SubElement(meta, f"{{{METADATA_NS}}}node", lab=cfg.lab_id, node=cfg.node)
    tai.text = "tai-labs"
    _sub(dom, "memory", str(cfg.memory_mib), unit="MiB")
    _sub(dom, "vcpu", str(cfg.vcpus))
    os_el = _sub(dom, "os")
    _sub(os_el, "type", "hvm", arch="x86_64", machine="pc")
    if cfg.kernel is None:
        _sub(os_el, "boot", dev="hd")  # Windows and imported disks boot their own loader
    else:
        _sub(os_el, "kernel", str(cfg.kernel))
        if cfg.initrd is not None:
            _sub(os_el, "initrd", str(cfg.initrd))
        _sub(os_el, "cmdline", cfg.cmdline)
    features = _sub(dom, "features")
    _sub(features, "acpi")
    _sub(features, "apic")
    if cfg.windows:
        hyperv = _sub(features, "hyperv", mode="custom")
        for name in ("relaxed", "vapic"):
            _sub(hyperv, name, state="on")
        _sub(hyperv, "spinlocks", state="on", retries="8191")
    if cfg.virt_type == "qemu":
        tcg = _sub(features, "tcg")
        _sub(tcg, "tb-cache", str(TCG_TB_CACHE_MIB), unit="MiB")
    if cfg.virt_type == "kvm":
        _sub(dom, "cpu", mode="host-passthrough")
    # Windows keeps its clock in local time; a reset sets the guest's time right afterwards.
    _sub(dom, "clock", offset="localtime" if cfg.windows else "utc")
    _sub(dom, "on_poweroff", "destroy")
    _sub(dom, "on_reboot", "restart")
    _sub(dom, "on_crash", "destroy")
    dev = _sub(dom, "devices")
    for disk in cfg.disks:
        d = _sub(dev, "disk", type="file", device="disk")
        _sub(d, "driver", name="qemu", type=disk.fmt, discard="unmap")
        _sub(d, "source", file=str(disk.path))
        # Windows has no virtio storage driver until the image installs it: SATA is safe.
        if cfg.windows:
            _sub(d, "target", dev="sd" + disk.target[-1], bus="sata")
        else:
            _sub(d, "target", dev=disk.target, bus="virtio")
        if disk.serial:
            _sub(d, "serial", disk.serial)
    cdroms = ([cfg.config_iso] if cfg.config_iso else []) + list(cfg.extra_cdroms)
    for i, iso in enumerate(cdroms):
        c = _sub(dev, "disk", type="file", device="cdrom")
        _sub(c, "driver", name="qemu", type="raw")
        _sub(c, "source", file=str(iso))
        _sub(c, "target", dev="hd" + "cdef"[i], bus="ide")
        _sub(c, "readonly")
    for i, nic in enumerate(cfg.nics):
        n = _sub(dev, "interface", type="bridge")
        _sub(n, "source", bridge=nic.bridge)
        _sub(n, "mac", address=nic.mac)
        _sub(n, "target", dev=nic.tap)
        _sub(n, "model", type="virtio")
        if nic.isolated:
            _sub(n, "port", isolated="yes")
        _sub(
            n, "address", type="pci", domain="0x0000", bus="0x00",
            slot=f"0x{FIRST_NIC_SLOT + i:02x}", function="0x0",
        )  # fmt: skip
    serial = _sub(dev, "serial", type="pty")
    _sub(serial, "log", file=str(cfg.console_log), append="on")
    _sub(serial, "target", port="0")
    console = _sub(dev, "console", type="pty")
    _sub(console, "target", type="serial", port="0")
    channel = _sub(dev, "channel", type="unix")
    _sub(channel, "target", type="virtio", name=GUEST_AGENT_CHANNEL)
    # Under TCG a guest gathers entropy slowly; sshd and Samba wait for it at boot.
    rng = _sub(dev, "rng", model="virtio")
    _sub(rng, "backend", "/dev/urandom", model="random")
    _sub(dev, "memballoon", model="none")
    if cfg.windows:
        graphics = _sub(dev, "graphics", type="vnc", autoport="yes")
        graphics.set("listen", VNC_LISTEN)
        video = _sub(dev, "video")
        _sub(video, "model", type="qxl")
    ET.register_namespace("tai", METADATA_NS)
    ET.indent(dom)
    return ET.tostring(dom, encoding="unicode")


def lab_of_domain_xml(xml: str) -> tuple[str, str] | None:
    """(lab id, node) from a domain's tai-labs metadata, or None for foreign domains."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    el = root.find(f"metadata/{{{METADATA_NS}}}node")
    if el is None:
        return None
    return el.get("lab", ""), el.get("node", "")


def vnc_port_of_domain_xml(xml: str) -> int | None:
    """The TCP port of a running domain's VNC display on ``VNC_LISTEN``, from its live XML.

    None when it has no VNC display, is not running (libvirt reports ``port="-1"`` or no
    port until QEMU runs), or listens anywhere but the loopback (never proxied then).
    """
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    for graphics in root.iterfind("devices/graphics[@type='vnc']"):
        listens = {graphics.get("listen")} | {
            el.get("address") for el in graphics.iterfind("listen[@type='address']")
        }
        listens.discard(None)
        port = graphics.get("port", "")
        if listens == {VNC_LISTEN} and port.isdigit() and 0 < int(port) < 65536:
            return int(port)
    return None
