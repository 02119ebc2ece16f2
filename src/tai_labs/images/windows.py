"""Windows node images: the files of an unattended install from the instructor's own ISO.

No Windows media ships with tai-labs. The instructor brings an ISO (evaluation editions are
free) and the virtio-win driver ISO; this module makes everything the install boots, with
no libvirt needed (``--dry-run`` stops here, and the tests check these files):

1. ``images/windows/autounattend.xml.j2`` and ``setup-winrm.ps1.j2`` rendered with jinja2
   (StrictUndefined; XML values escaped, PowerShell values single-quoted literals),
2. an answer ISO with both at its root, where Windows Setup looks for ``autounattend.xml``,
3. the libvirt domain of the install: SeaBIOS, virtio disk and NIC, the three ISOs as SATA
   cdroms, boot from the Windows ISO then the disk, COM1 written to a file,
4. the cache entry's ``meta.json`` (how to reach the machine: WinRM, user, which secret holds
   the password) and ``secrets.json`` (mode 0600).

``tai_labs.images.windows_build`` runs the install. The password never goes to a log: it is
only in the answer ISO (removed after a build) and in ``secrets.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

from tai_labs.errors import UsageError
from tai_labs.images.disk import DISK_FILE, SECRETS_FILE
from tai_labs.images.errors import ImageBuildError
from tai_labs.locations import locations
from tai_labs.private_files import write_private
from tai_labs.providers.hostcmd import require_tools, run
from tai_labs.scenario.variables import random_secret
from tai_labs.sessions.quoting import ps_quote
from tai_labs.sessions.winrm import WINRM_HTTPS_PORT

IMAGE_PREFIX = "windows-"
ANSWER_LABEL = "TAI_ANSWER"
SETUP_SCRIPT = "tai-setup.ps1"
STATUS_MARKER = "TAI-LABS-SETUP"
ADMIN_USER = "Administrator"
MACHINE = "pc"
#: Where virtio-win.iso may show up in Windows PE (after the Windows ISO; see the template).
DRIVER_LETTERS = ("D", "E", "F", "G", "H")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_COMPUTER_RE = re.compile(r"^(?!\d+$)[A-Za-z0-9-]{1,15}$")
#: The setup script's steps, in order, as it reports them on COM1 (``step NAME``).
SETUP_STEPS = (
    "network-profile",
    "winrm-service",
    "winrm-https",
    "firewall",
    "guest-agent",
    "boot-drivers",
    "autologon-off",
)


@dataclass(frozen=True)
class Edition:
    """One Windows version the template knows: where its drivers are, what to install."""

    id: str
    label: str
    virtio: str  # folder name under viostor/, NetKVM/... on virtio-win.iso
    node_kind: str  # the scenario node kind this image serves
    image_index: int  # in install.wim of the evaluation ISO
    computer_name: str
    bypass_checks: bool = False  # Windows 11 Setup refuses a VM without TPM / Secure Boot


#: Server evaluation ISOs hold Standard Core (1), Standard with Desktop Experience (2),
#: Datacenter Core (3) and Datacenter Desktop (4); client evaluation ISOs one image.
EDITIONS: dict[str, Edition] = {
    e.id: e
    for e in (
        Edition("win10", "Windows 10 (client)", "w10", "windows-client", 1, "TAI-WIN10"),
        Edition("win11", "Windows 11 (client)", "w11", "windows-client", 1, "TAI-WIN11", True),
        Edition("server2019", "Windows Server 2019", "2k19", "windows-server", 2, "TAI-SRV2019"),
        Edition("server2022", "Windows Server 2022", "2k22", "windows-server", 2, "TAI-SRV2022"),
    )
}


@dataclass(frozen=True)
class WindowsBuildSpec:
    """Everything one build needs. ``password`` stays out of repr (and so out of logs)."""

    iso: Path
    virtio_iso: Path
    edition: Edition
    password: str = field(repr=False)
    name: str = ""  # default: the edition id
    disk_gib: int = 64
    memory_mib: int = 4096
    vcpus: int = 2
    image_index: int | None = None  # default: the edition's
    image_name: str | None = None  # /IMAGE/NAME instead of the index
    product_key: str | None = None
    computer_name: str | None = None  # default: the edition's
    network: str | None = None  # a libvirt network; default user-mode NAT
    ui_language: str = "en-US"  # must exist on the install media
    locale: str = "fr-FR"  # keyboard, formats
    time_zone: str = "Romance Standard Time"  # Paris
    allow_basic: bool = False
    allow_ping: bool = True

    @property
    def image(self) -> str:
        return IMAGE_PREFIX + (self.name or self.edition.id)

    @property
    def host_name(self) -> str:
        return self.computer_name or self.edition.computer_name

    @property
    def domain_name(self) -> str:
        return f"tai-labs-build-{self.image}"

    def check(self) -> None:
        """Refuse values Windows Setup would choke on, before anything is written."""
        if not _NAME_RE.fullmatch(self.name or self.edition.id):
            raise UsageError(
                f"image name {self.name!r}: use lowercase letters, digits and '-' (40 at most)"
            )
        if not _COMPUTER_RE.fullmatch(self.host_name):
            raise UsageError(
                f"computer name {self.host_name!r}: 1-15 letters, digits or '-', not all digits"
            )
        check_password(self.password)
        if self.disk_gib < 32:
            raise UsageError("the disk needs at least 32 GiB for Windows", hint="--disk-gib 64")
        if self.memory_mib < 2048:
            raise UsageError("Windows Setup needs at least 2048 MiB of memory")
        if self.image_index is not None and self.image_index < 1:
            raise UsageError("--image-index counts from 1")


def build_key(spec: WindowsBuildSpec) -> str:
    """A digest of the build's inputs (never the password), for folder names and meta.json."""
    inputs = {k: str(v) for k, v in sorted(vars(spec).items()) if k != "password"}
    inputs["edition"] = spec.edition.id
    inputs["templates"] = "".join(
        (templates_dir() / t).read_text(encoding="utf-8")
        for t in ("autounattend.xml.j2", "setup-winrm.ps1.j2")
    )
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def check_password(password: str) -> None:
    """Windows' complexity rule: 8+ characters from 3 of upper, lower, digit, other."""
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        raise UsageError("the Windows password holds a control character (newline, tab...)")
    classes = [
        any(c.isupper() for c in password),
        any(c.islower() for c in password),
        any(c.isdigit() for c in password),
        any(not c.isalnum() for c in password),
    ]
    if len(password) < 8 or sum(classes) < 3:
        raise UsageError(
            "the Windows password must have 8 characters or more, from 3 of: upper case, "
            "lower case, digits, other characters",
            hint="leave --password-file out to get a generated one",
        )


def new_password() -> str:
    return random_secret(20)


# -- rendering ------------------------------------------------------------------------------


def templates_dir() -> Path:
    return locations().windows_media


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        undefined=jinja2.StrictUndefined,
        # XML templates escape every value; the PowerShell one quotes with the `ps` filter.
        autoescape=lambda name: bool(name and name.endswith(".xml.j2")),
        keep_trailing_newline=True,
    )
    env.filters["ps"] = ps_quote
    return env


def render_autounattend(spec: WindowsBuildSpec) -> str:
    if spec.image_name:
        key, value = "/IMAGE/NAME", spec.image_name
    else:
        key, value = "/IMAGE/INDEX", str(spec.image_index or spec.edition.image_index)
    text = (
        _environment()
        .get_template("autounattend.xml.j2")
        .render(
            edition=spec.edition,
            image_key=key,
            image_value=value,
            product_key=spec.product_key,
            computer_name=spec.host_name,
            admin_password=spec.password,
            driver_letters=DRIVER_LETTERS,
            ui_language=spec.ui_language,
            input_locale=spec.locale,
            system_locale=spec.locale,
            user_locale=spec.locale,
            time_zone=spec.time_zone,
            organization="tai-labs",
            setup_script=SETUP_SCRIPT,
        )
    )
    try:
        ET.fromstring(text.encode("utf-8"))
    except ET.ParseError as exc:  # a template bug; the message holds no value
        raise ImageBuildError(f"autounattend.xml.j2 renders invalid XML: {exc}") from None
    return text


def render_setup_script(spec: WindowsBuildSpec) -> str:
    return (
        _environment()
        .get_template("setup-winrm.ps1.j2")
        .render(
            computer_name=spec.host_name,
            winrm_port=WINRM_HTTPS_PORT,
            allow_basic=spec.allow_basic,
            allow_ping=spec.allow_ping,
            status_marker=STATUS_MARKER,
        )
    )


def write_answer_iso(spec: WindowsBuildSpec, folder: Path, iso: Path) -> None:
    """The answer ISO: autounattend.xml and the setup script at its root (Joliet names)."""
    require_tools("genisoimage")
    staging = folder / "answer"
    staging.mkdir(mode=0o700, exist_ok=True)
    write_private(staging / "autounattend.xml", render_autounattend(spec))
    # CRLF: the script is read by Windows PowerShell 5.1.
    write_private(staging / SETUP_SCRIPT, render_setup_script(spec).replace("\n", "\r\n"))
    fd = os.open(iso, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    run(["genisoimage", "-quiet", "-J", "-r", "-V", ANSWER_LABEL, "-o", str(iso), str(staging)])


# -- the install VM ---------------------------------------------------------------------------


@dataclass(frozen=True)
class InstallFiles:
    """Where one install's files are (a build folder, or the --dry-run output folder)."""

    folder: Path

    @property
    def disk(self) -> Path:
        return self.folder / DISK_FILE

    @property
    def answer_iso(self) -> Path:
        return self.folder / "answer.iso"

    @property
    def serial_log(self) -> Path:
        return self.folder / "serial.log"

    @property
    def domain_xml(self) -> Path:
        return self.folder / "domain.xml"

    @property
    def log(self) -> Path:
        return self.folder / "build.log"


def domain_xml(spec: WindowsBuildSpec, files: InstallFiles, *, kvm: bool) -> str:
    """The libvirt domain of the install: SeaBIOS, virtio disk and NIC, three SATA cdroms."""
    dom = ET.Element("domain", type="kvm" if kvm else "qemu")
    ET.SubElement(dom, "name").text = spec.domain_name
    ET.SubElement(dom, "title").text = f"tai-labs: install of {spec.edition.label}"
    ET.SubElement(dom, "memory", unit="MiB").text = str(spec.memory_mib)
    ET.SubElement(dom, "vcpu").text = str(spec.vcpus)
    os_el = ET.SubElement(dom, "os")
    # i440fx, as lab nodes get; libvirt adds an AHCI controller for the SATA cdroms.
    ET.SubElement(os_el, "type", arch="x86_64", machine=MACHINE).text = "hvm"
    features = ET.SubElement(dom, "features")
    ET.SubElement(features, "acpi")
    ET.SubElement(features, "apic")
    if kvm:  # Hyper-V enlightenments make Windows much faster, but need KVM
        hyperv = ET.SubElement(features, "hyperv", mode="custom")
        ET.SubElement(hyperv, "relaxed", state="on")
        ET.SubElement(hyperv, "vapic", state="on")
        ET.SubElement(hyperv, "spinlocks", state="on", retries="8191")
    # Without KVM, the emulated CPU must still offer what Windows 11 requires (SSE4.2, POPCNT).
    ET.SubElement(dom, "cpu", mode="host-passthrough" if kvm else "maximum")
    clock = ET.SubElement(dom, "clock", offset="localtime")  # Windows keeps the RTC local
    ET.SubElement(clock, "timer", name="rtc", tickpolicy="catchup")
    ET.SubElement(clock, "timer", name="pit", tickpolicy="delay")
    ET.SubElement(clock, "timer", name="hpet", present="no")
    if kvm:
        ET.SubElement(clock, "timer", name="hypervclock", present="yes")
    ET.SubElement(dom, "on_poweroff").text = "destroy"
    ET.SubElement(dom, "on_reboot").text = "restart"  # Setup reboots several times
    ET.SubElement(dom, "on_crash").text = "destroy"
    devices = ET.SubElement(dom, "devices")

    disk = ET.SubElement(devices, "disk", type="file", device="disk")
    # cache=unsafe: a build that dies is thrown away anyway, and QEMU flushes when it exits.
    ET.SubElement(disk, "driver", name="qemu", type="qcow2", cache="unsafe", discard="unmap")
    ET.SubElement(disk, "source", file=str(files.disk))
    ET.SubElement(disk, "target", dev="vda", bus="virtio")
    ET.SubElement(disk, "boot", order="2")
    # The Windows ISO boots first: on an empty disk it starts Setup; once Windows is on the
    # disk, its "press any key" prompt times out and the disk boots.
    cdroms = [
        (spec.iso, "sda", "1"),
        (spec.virtio_iso, "sdb", None),
        (files.answer_iso, "sdc", None),
    ]
    for source, dev, order in cdroms:
        cd = ET.SubElement(devices, "disk", type="file", device="cdrom")
        ET.SubElement(cd, "driver", name="qemu", type="raw")
        ET.SubElement(cd, "source", file=str(source))
        ET.SubElement(cd, "target", dev=dev, bus="sata")
        ET.SubElement(cd, "readonly")
        if order:
            ET.SubElement(cd, "boot", order=order)

    if spec.network:
        nic = ET.SubElement(devices, "interface", type="network")
        ET.SubElement(nic, "source", network=spec.network)
    else:  # user-mode NAT: no host bridge needed for a build
        nic = ET.SubElement(devices, "interface", type="user")
    ET.SubElement(nic, "model", type="virtio")

    serial = ET.SubElement(devices, "serial", type="file")  # COM1: the setup script's status
    ET.SubElement(serial, "source", path=str(files.serial_log))
    ET.SubElement(serial, "target", port="0")
    agent = ET.SubElement(devices, "channel", type="unix")
    ET.SubElement(agent, "target", type="virtio", name="org.qemu.guest_agent.0")
    ET.SubElement(devices, "input", type="tablet", bus="usb")
    # Watch the install with `virsh vncdisplay` + a VNC viewer through an SSH tunnel.
    ET.SubElement(devices, "graphics", type="vnc", autoport="yes", listen="127.0.0.1")
    video = ET.SubElement(devices, "video")
    ET.SubElement(video, "model", type="vga")
    ET.SubElement(devices, "memballoon", model="none")
    ET.indent(dom)
    return ET.tostring(dom, encoding="unicode") + "\n"


def check_virtio_iso(spec: WindowsBuildSpec) -> None:
    """Refuse a virtio-win ISO without this edition's drivers or the guest agent."""
    require_tools("isoinfo")
    listing = run(["isoinfo", "-J", "-f", "-i", str(spec.virtio_iso)], check=False)
    if listing.returncode != 0:  # no Joliet names: plain ISO 9660 ones (upper case, ';1')
        listing = run(["isoinfo", "-f", "-i", str(spec.virtio_iso)], check=False)
    if listing.returncode != 0:
        raise UsageError(f"{spec.virtio_iso} is not an ISO image", hint=_VIRTIO_HINT)
    paths = {
        p.strip().lower().removesuffix(";1").rstrip(".")
        for p in listing.stdout.decode(errors="replace").splitlines()
    }
    wanted = [f"/{d}/{spec.edition.virtio}/amd64" for d in ("viostor", "netkvm")]
    wanted.append("/guest-agent/qemu-ga-x86_64.msi")
    missing = [w for w in wanted if not any(p == w or p.startswith(w + "/") for p in paths)]
    if missing:
        raise UsageError(
            f"{spec.virtio_iso} lacks {', '.join(missing)} (drivers for {spec.edition.label})",
            hint=_VIRTIO_HINT,
        )


_VIRTIO_HINT = (
    "download the stable virtio-win.iso: "
    "https://fedorapeople.org/groups/virt/virtio-win/direct-downloads/stable-virtio/virtio-win.iso"
)


def prepare(spec: WindowsBuildSpec, folder: Path, *, kvm: bool) -> InstallFiles:
    """Answer ISO and domain XML in ``folder``: all of a build short of running it."""
    spec.check()
    for iso in (spec.iso, spec.virtio_iso):
        if not iso.is_file():
            raise UsageError(f"{iso}: no such file")
    check_virtio_iso(spec)
    folder.mkdir(parents=True, exist_ok=True)
    files = InstallFiles(folder.resolve())
    write_answer_iso(spec, files.folder, files.answer_iso)
    files.domain_xml.write_text(domain_xml(spec, files, kvm=kvm), encoding="utf-8")
    return files


# -- the cache entry --------------------------------------------------------------------------


def image_meta(spec: WindowsBuildSpec, seconds: float) -> dict[str, Any]:
    return {
        "format": 1,
        "name": spec.image,
        "key": build_key(spec),
        "source": "imported",  # not a recipe build: the instructor's own install media
        "os": "windows",
        "edition": spec.edition.id,
        "edition_label": spec.edition.label,
        "node_kind": spec.edition.node_kind,
        "disk": DISK_FILE,
        "disk_format": "qcow2",
        "disk_gib": spec.disk_gib,
        "firmware": "bios",
        "machine": MACHINE,
        "boots_on": ["virtio", "sata"],  # viostor, and storahci made a boot driver
        "disk_bus": "virtio",
        "nic_model": "virtio",
        "memory_mib": spec.memory_mib,
        "guest_agent": True,
        "computer_name": spec.host_name,
        "access": {
            "method": "winrm",
            "scheme": "https",
            "port": WINRM_HTTPS_PORT,
            "auth": "ntlm",
            "user": ADMIN_USER,
            "password_secret": "admin_password",
            "secrets_file": SECRETS_FILE,
        },
        "install_media": spec.iso.name,
        "virtio_media": spec.virtio_iso.name,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "build_seconds": round(seconds, 1),
    }


def parse_duration(text: str) -> float:
    """'90m', '3h', '45s' or plain seconds, as seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not m:
        raise UsageError(f"not a duration: {text!r}", hint="e.g. 90m, 3h, 5400")
    return float(m[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[m[2]]
