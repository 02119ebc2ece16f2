"""Windows image build: the generated files, checked without Windows.

Windows cannot run here (no Windows media, no licence, no time for an install in CI). These
tests check only what tai-labs generates and does around the install: the answer file
(namespaces, passes, escaping, driver paths), the first-logon PowerShell script, the answer
ISO, the libvirt domain XML, and the build's bookkeeping against a fake libvirt connection.
They do not prove that Windows Setup accepts the answer file or that the script works on a
real Windows; an instructor's first build with a real ISO does.
"""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tai_labs.cli.app import app
from tai_labs.errors import UsageError
from tai_labs.images import disk, windows, windows_build
from tai_labs.images.errors import ImageBuildError
from tai_labs.images.windows import EDITIONS, InstallFiles, WindowsBuildSpec

U = "{urn:schemas-microsoft-com:unattend}"
WCM = "{http://schemas.microsoft.com/WMIConfig/2002/State}"
SPECIAL_PASSWORD = "Pa<ss&\"w0rd'>"

needs_iso_tools = pytest.mark.skipif(
    shutil.which("genisoimage") is None or shutil.which("isoinfo") is None,
    reason="genisoimage/isoinfo absent (apt-get install genisoimage)",
)
needs_qemu_img = pytest.mark.skipif(
    shutil.which("qemu-img") is None, reason="qemu-img absent (apt-get install qemu-utils)"
)


def spec_for(edition: str = "server2022", **kw: Any) -> WindowsBuildSpec:
    values: dict[str, Any] = {
        "iso": Path("/isos/windows.iso"),
        "virtio_iso": Path("/isos/virtio-win.iso"),
        "edition": EDITIONS[edition],
        "password": SPECIAL_PASSWORD,
    }
    values.update(kw)
    return WindowsBuildSpec(**values)


def unattend(spec: WindowsBuildSpec) -> ET.Element:
    return ET.fromstring(windows.render_autounattend(spec).encode("utf-8"))


def component(root: ET.Element, pass_name: str, name: str) -> ET.Element:
    for settings in root.findall(f"{U}settings"):
        if settings.get("pass") == pass_name:
            for comp in settings.findall(f"{U}component"):
                if comp.get("name") == name:
                    return comp
    raise AssertionError(f"no {name} in pass {pass_name}")


def make_virtio_iso(
    folder: Path, versions: tuple[str, ...] = ("w10", "w11", "2k19", "2k22")
) -> Path:
    """A tiny stand-in for virtio-win.iso with the layout the build looks for."""
    tree = folder / "virtio-tree"
    for driver in ("viostor", "NetKVM", "vioserial"):
        for version in versions:
            (tree / driver / version / "amd64").mkdir(parents=True, exist_ok=True)
            (tree / driver / version / "amd64" / f"{driver}.inf").write_text("; stand-in\n")
    (tree / "guest-agent").mkdir(exist_ok=True)
    (tree / "guest-agent" / "qemu-ga-x86_64.msi").write_bytes(b"stand-in")
    iso = folder / "virtio-win.iso"
    subprocess.run(
        ["genisoimage", "-quiet", "-J", "-r", "-V", "virtio-win", "-o", str(iso), str(tree)],
        check=True,
    )
    return iso


def make_windows_iso(folder: Path) -> Path:
    iso = folder / "windows.iso"
    iso.write_bytes(b"\0" * 4096)  # never booted here: only its path reaches the domain XML
    return iso


# -- the answer file -------------------------------------------------------------------------


@pytest.mark.parametrize("edition", sorted(EDITIONS))
def test_autounattend_parses_with_namespaces_and_passes(edition: str) -> None:
    """Windows cannot run here: checks the generated answer file's structure only."""
    root = unattend(spec_for(edition))
    assert root.tag == f"{U}unattend"
    passes = [s.get("pass") for s in root.findall(f"{U}settings")]
    assert passes == ["windowsPE", "specialize", "oobeSystem"]
    for comp in root.iter(f"{U}component"):
        assert comp.get("processorArchitecture") == "amd64"
        assert comp.get("publicKeyToken") == "31bf3856ad364e35"
    # list items carry the wcm:action attribute in its own namespace
    actions = [e.get(f"{WCM}action") for e in root.iter(f"{U}PathAndCredentials")]
    assert actions and set(actions) == {"add"}
    setup = component(root, "windowsPE", "Microsoft-Windows-Setup")
    meta = setup.find(f"{U}ImageInstall/{U}OSImage/{U}InstallFrom/{U}MetaData")
    assert meta is not None
    assert meta.findtext(f"{U}Key") == "/IMAGE/INDEX"
    assert meta.findtext(f"{U}Value") == str(EDITIONS[edition].image_index)
    assert setup.find(f"{U}UserData/{U}ProductKey") is None  # evaluation media need none
    # BIOS / MBR: an active system partition, Windows on partition 2
    disk = setup.find(f"{U}DiskConfiguration/{U}Disk")
    assert disk is not None
    assert [p.findtext(f"{U}Type") for p in disk.iter(f"{U}CreatePartition")] == [
        "Primary",
        "Primary",
    ]
    assert next(m.findtext(f"{U}Active") for m in disk.iter(f"{U}ModifyPartition")) == "true"
    assert setup.findtext(f"{U}ImageInstall/{U}OSImage/{U}InstallTo/{U}PartitionID") == "2"
    shell = component(root, "specialize", "Microsoft-Windows-Shell-Setup")
    assert shell.findtext(f"{U}ComputerName") == EDITIONS[edition].computer_name


def test_password_with_xml_specials_is_escaped() -> None:
    """Windows cannot run here: checks that the answer file carries the password intact."""
    text = windows.render_autounattend(spec_for())
    assert SPECIAL_PASSWORD not in text  # never spliced raw
    assert "Pa&lt;ss&amp;" in text
    root = ET.fromstring(text.encode("utf-8"))
    oobe = component(root, "oobeSystem", "Microsoft-Windows-Shell-Setup")
    admin = oobe.find(f"{U}UserAccounts/{U}AdministratorPassword")
    assert admin is not None
    assert admin.findtext(f"{U}Value") == SPECIAL_PASSWORD
    assert admin.findtext(f"{U}PlainText") == "true"
    logon = oobe.find(f"{U}AutoLogon")
    assert logon is not None
    assert logon.findtext(f"{U}Username") == "Administrator"
    assert logon.findtext(f"{U}Password/{U}Value") == SPECIAL_PASSWORD
    assert logon.findtext(f"{U}LogonCount") == "1"


@pytest.mark.parametrize("edition", sorted(EDITIONS))
def test_driver_paths_load_virtio_storage_and_network(edition: str) -> None:
    """Windows cannot run here: checks the virtio driver folders Setup is pointed at."""
    folder = EDITIONS[edition].virtio
    root = unattend(spec_for(edition))
    pnp = component(root, "windowsPE", "Microsoft-Windows-PnpCustomizationsWinPE")
    items = pnp.findall(f"{U}DriverPaths/{U}PathAndCredentials")
    paths = {i.findtext(f"{U}Path") for i in items}
    for letter in windows.DRIVER_LETTERS:
        assert f"{letter}:\\viostor\\{folder}\\amd64" in paths
        assert f"{letter}:\\NetKVM\\{folder}\\amd64" in paths
    keys = [i.get(f"{WCM}keyValue") for i in items]
    assert len(keys) == len(set(keys))  # Setup rejects duplicate list keys


def test_only_windows_11_bypasses_the_hardware_checks() -> None:
    """Windows cannot run here: checks the LabConfig commands of the answer file."""
    for edition in EDITIONS:
        text = windows.render_autounattend(spec_for(edition))
        assert ("BypassTPMCheck" in text) == (edition == "win11")
    root = unattend(spec_for("win11"))
    setup = component(root, "windowsPE", "Microsoft-Windows-Setup")
    commands = [c.findtext(f"{U}Path") for c in setup.iter(f"{U}RunSynchronousCommand")]
    assert all(c and c.startswith("reg.exe add HKLM\\SYSTEM\\Setup\\LabConfig") for c in commands)


def test_image_name_product_key_and_locale_options() -> None:
    """Windows cannot run here: checks how options land in the answer file."""
    spec = spec_for(
        image_name="Windows Server 2022 SERVERSTANDARD",
        product_key="AAAAA-BBBBB-CCCCC-DDDDD-EEEEE",
        computer_name="SRV-01",
    )
    root = unattend(spec)
    setup = component(root, "windowsPE", "Microsoft-Windows-Setup")
    meta = setup.find(f"{U}ImageInstall/{U}OSImage/{U}InstallFrom/{U}MetaData")
    assert meta is not None and meta.findtext(f"{U}Key") == "/IMAGE/NAME"
    assert meta.findtext(f"{U}Value") == "Windows Server 2022 SERVERSTANDARD"
    assert setup.findtext(f"{U}UserData/{U}ProductKey/{U}Key") == "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE"
    intl = component(root, "oobeSystem", "Microsoft-Windows-International-Core")
    assert intl.findtext(f"{U}InputLocale") == "fr-FR"
    shell = component(root, "specialize", "Microsoft-Windows-Shell-Setup")
    assert shell.findtext(f"{U}ComputerName") == "SRV-01"
    assert shell.findtext(f"{U}TimeZone") == "Romance Standard Time"


def test_first_logon_runs_the_setup_script_from_the_answer_iso() -> None:
    """Windows cannot run here: checks the first-logon command line only."""
    root = unattend(spec_for())
    oobe = component(root, "oobeSystem", "Microsoft-Windows-Shell-Setup")
    command = oobe.findtext(f"{U}FirstLogonCommands/{U}SynchronousCommand/{U}CommandLine")
    assert command is not None
    assert command.startswith("powershell.exe -NoProfile -ExecutionPolicy Bypass")
    assert f"'{windows.SETUP_SCRIPT}'" in command and "& $s" in command


# -- the setup script ------------------------------------------------------------------------


def test_setup_script_enables_winrm_over_https_on_5986() -> None:
    """Windows cannot run here: checks the text of the generated PowerShell script."""
    script = windows.render_setup_script(spec_for(computer_name="SRV-01"))
    assert "$WinRmPort = '5986'" in script
    assert "$ComputerName = 'SRV-01'" in script
    assert "New-SelfSignedCertificate -DnsName $ComputerName" in script
    assert "Transport = 'HTTPS'" in script and "CertificateThumbprint = $cert.Thumbprint" in script
    assert "-LocalPort $WinRmPort" in script and "New-NetFirewallRule" in script
    # the grader's session speaks NTLM (Negotiate); Basic stays off unless asked for
    assert "Auth\\Negotiate' -Value $true" in script
    assert "Auth\\Basic' -Value $false" in script
    assert "guest-agent\\qemu-ga-x86_64.msi" in script
    assert "shutdown.exe /s" in script
    for step in windows.SETUP_STEPS:
        assert f"Send-Status 'step {step}'" in script  # what the build's progress reads
    basic = windows.render_setup_script(spec_for(allow_basic=True, allow_ping=False))
    assert "Auth\\Basic' -Value $true" in basic and "IcmpType 8" not in basic


# -- the domain XML --------------------------------------------------------------------------


@pytest.mark.parametrize("kvm", [True, False])
def test_domain_xml_has_the_cdroms_virtio_disk_and_nic(kvm: bool) -> None:
    """Windows cannot run here: checks the libvirt domain of the install VM only."""
    spec = spec_for(memory_mib=6144, vcpus=3)
    files = InstallFiles(Path("/data/images/.build-windows-x-1"))
    dom = ET.fromstring(windows.domain_xml(spec, files, kvm=kvm))
    assert dom.get("type") == ("kvm" if kvm else "qemu")
    assert dom.findtext("name") == "tai-labs-build-windows-server2022"
    memory = dom.find("memory")
    assert memory is not None and memory.get("unit") == "MiB" and memory.text == "6144"
    assert dom.findtext("vcpu") == "3"
    assert dom.find("os/loader") is None  # SeaBIOS, no UEFI
    assert (dom.find("features/hyperv") is not None) == kvm
    disks = dom.findall("devices/disk")
    hd = [d for d in disks if d.get("device") == "disk"]
    assert len(hd) == 1
    assert hd[0].find("target").attrib == {"dev": "vda", "bus": "virtio"}  # type: ignore[union-attr]
    assert hd[0].find("driver").get("type") == "qcow2"  # type: ignore[union-attr]
    assert hd[0].find("source").get("file") == str(files.disk)  # type: ignore[union-attr]
    cdroms = [d for d in disks if d.get("device") == "cdrom"]
    sources = [c.find("source").get("file") for c in cdroms]  # type: ignore[union-attr]
    assert sources == [str(spec.iso), str(spec.virtio_iso), str(files.answer_iso)]
    for cd in cdroms:
        assert cd.find("target").get("bus") == "sata"  # type: ignore[union-attr]
        assert cd.find("readonly") is not None
    # boot from the Windows ISO, then the disk; the other cdroms never boot
    order = {
        d.find("source").get("file"): d.find("boot").get("order")  # type: ignore[union-attr]
        for d in disks
        if d.find("boot") is not None
    }
    assert order == {str(spec.iso): "1", str(files.disk): "2"}
    nic = dom.find("devices/interface")
    assert nic is not None and nic.get("type") == "user"
    assert nic.find("model").get("type") == "virtio"  # type: ignore[union-attr]
    serial = dom.find("devices/serial/source")
    assert serial is not None and serial.get("path") == str(files.serial_log)
    agent = dom.find("devices/channel/target")
    assert agent is not None and agent.get("name") == "org.qemu.guest_agent.0"


def test_domain_xml_on_a_libvirt_network() -> None:
    """Windows cannot run here: checks the NIC element when a network is named."""
    dom = ET.fromstring(
        windows.domain_xml(spec_for(network="default"), InstallFiles(Path("/b")), kvm=False)
    )
    nic = dom.find("devices/interface")
    assert nic is not None and nic.get("type") == "network"
    assert nic.find("source").get("network") == "default"  # type: ignore[union-attr]
    assert nic.find("model").get("type") == "virtio"  # type: ignore[union-attr]


# -- checks before anything is written --------------------------------------------------------


@pytest.mark.parametrize(
    "kw",
    [
        {"password": "short1A"},
        {"password": "alllowercaseletters"},
        {"password": "Two\nLines1"},
        {"computer_name": "A-NAME-TOO-LONG-X"},
        {"computer_name": "12345"},
        {"name": "Bad_Name"},
        {"disk_gib": 16},
        {"image_index": 0},
    ],
)
def test_spec_refuses_what_setup_would_choke_on(kw: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        spec_for(**kw).check()


def test_password_stays_out_of_repr_and_build_key() -> None:
    assert SPECIAL_PASSWORD not in repr(spec_for())
    key = windows.build_key(spec_for())
    assert key == windows.build_key(spec_for(password="An0ther-password"))
    assert key != windows.build_key(spec_for(disk_gib=80))


def test_parse_duration() -> None:
    assert windows.parse_duration("90m") == 5400
    assert windows.parse_duration("4h") == 14400
    assert windows.parse_duration("30") == 30
    with pytest.raises(UsageError):
        windows.parse_duration("soon")


# -- the command ---------------------------------------------------------------------------


def test_build_windows_help_teaches() -> None:
    result = CliRunner().invoke(app, ["image", "build-windows", "--help"])
    assert result.exit_code == 0, result.output
    for text in ("evaluation", "virtio-win", "--dry-run", "5986", "--edition"):
        assert text in result.output


@needs_iso_tools
def test_dry_run_writes_the_answer_iso_and_domain_xml(tmp_path: Path) -> None:
    """Windows cannot run here: --dry-run writes the files a build would boot, nothing runs."""
    virtio = make_virtio_iso(tmp_path)
    iso = make_windows_iso(tmp_path)
    password = tmp_path / "password.txt"
    password.write_text(SPECIAL_PASSWORD + "\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "image", "build-windows", "--iso", str(iso), "--virtio", str(virtio),
            "--edition", "win11", "--name", "poste", "--password-file", str(password),
            "--dry-run", "--out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    answer = out / "answer.iso"
    assert answer.is_file()
    listing = subprocess.run(
        ["isoinfo", "-J", "-f", "-i", str(answer)], capture_output=True, text=True, check=True
    ).stdout.split()
    assert sorted(listing) == ["/autounattend.xml", f"/{windows.SETUP_SCRIPT}"]  # at the root
    volume = subprocess.run(
        ["isoinfo", "-d", "-i", str(answer)], capture_output=True, text=True, check=True
    ).stdout
    assert f"Volume id: {windows.ANSWER_LABEL}" in volume
    xml = subprocess.run(
        ["isoinfo", "-J", "-x", "/autounattend.xml", "-i", str(answer)],
        capture_output=True,
        check=True,
    ).stdout
    oobe = component(ET.fromstring(xml), "oobeSystem", "Microsoft-Windows-Shell-Setup")
    assert oobe.findtext(f"{U}UserAccounts/{U}AdministratorPassword/{U}Value") == SPECIAL_PASSWORD
    script = subprocess.run(
        ["isoinfo", "-J", "-x", f"/{windows.SETUP_SCRIPT}", "-i", str(answer)],
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert "\r\n" in script and "5986" in script  # CRLF for Windows PowerShell
    dom = ET.fromstring((out / "domain.xml").read_text())
    assert dom.findtext("name") == "tai-labs-build-windows-poste"
    cdroms = [d.find("source").get("file") for d in dom.iter("disk") if d.get("device") == "cdrom"]  # type: ignore[union-attr]
    assert cdroms == [str(iso.resolve()), str(virtio.resolve()), str(answer.resolve())]
    secrets = out / disk.SECRETS_FILE
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert json.loads(secrets.read_text()) == {"admin_password": SPECIAL_PASSWORD}
    assert stat.S_IMODE(answer.stat().st_mode) == 0o600
    assert not (out / disk.DISK_FILE).exists()  # nothing was started
    assert SPECIAL_PASSWORD not in result.output


@needs_iso_tools
def test_dry_run_refuses_a_virtio_iso_without_the_editions_drivers(tmp_path: Path) -> None:
    """Windows cannot run here: checks the virtio-win ISO check before a build."""
    virtio = make_virtio_iso(tmp_path, versions=("w10",))
    result = CliRunner().invoke(
        app,
        [
            "image", "build-windows", "--iso", str(make_windows_iso(tmp_path)),
            "--virtio", str(virtio), "--edition", "server2022", "--dry-run",
            "--out", str(tmp_path / "out"),
        ],
    )  # fmt: skip
    assert isinstance(result.exception, UsageError)
    assert "/viostor/2k22/amd64" in str(result.exception)


# -- the build, against a fake libvirt -------------------------------------------------------


class FakeDomain:
    """Plays an install: runs for a few polls, writes the setup script's lines, shuts off."""

    def __init__(self, conn: FakeConnection, xml: str) -> None:
        self.conn = conn
        self.xml = xml
        self.serial = Path(ET.fromstring(xml).find("devices/serial/source").get("path"))  # type: ignore[union-attr]
        self.active = False
        self.polls = 0
        self.defined = True

    def create(self) -> None:
        if self.conn.kvm_broken and ET.fromstring(self.xml).get("type") == "kvm":
            raise RuntimeError("Could not access KVM kernel module: Permission denied")
        self.active = True

    def state(self) -> tuple[int, int]:
        if not self.active:
            return windows_build.VIR_DOMAIN_SHUTOFF, windows_build.VIR_DOMAIN_SHUTOFF_SHUTDOWN
        self.polls += 1
        lines = self.conn.script.get(self.polls)
        if lines is not None:
            with open(self.serial, "a") as fh:
                fh.write("".join(f"{windows.STATUS_MARKER} {line}\r\n" for line in lines))
        if self.polls >= self.conn.shutoff_after:
            self.active = False
            return windows_build.VIR_DOMAIN_SHUTOFF, windows_build.VIR_DOMAIN_SHUTOFF_SHUTDOWN
        return 1, 1  # running

    def blockInfo(self, dev: str) -> list[int]:
        return [64 * 1024**3, self.polls * 1024**3, self.polls * 1024**3]

    def isActive(self) -> bool:
        return self.active

    def destroy(self) -> None:
        self.active = False
        self.conn.destroyed = True

    def undefine(self) -> None:
        self.defined = False

    def connect(self) -> Any:
        raise RuntimeError("no screenshots from a fake")

    def screenshot(self, stream: Any, screen: int) -> str:
        raise RuntimeError("no screenshots from a fake")


class FakeConnection:
    def __init__(
        self, script: dict[int, list[str]], shutoff_after: int, kvm_broken: bool = False
    ) -> None:
        self.script = script
        self.shutoff_after = shutoff_after
        self.kvm_broken = kvm_broken
        self.domains: list[FakeDomain] = []
        self.destroyed = False

    def getCapabilities(self) -> str:
        return (
            "<capabilities><guest><arch name='x86_64'><domain type='qemu'/>"
            "<domain type='kvm'/></arch></guest></capabilities>"
        )

    def lookupByName(self, name: str) -> Any:
        raise RuntimeError("Domain not found")

    def defineXML(self, xml: str) -> FakeDomain:
        dom = FakeDomain(self, xml)
        self.domains.append(dom)
        return dom


def build(tmp_path: Path, conn: FakeConnection, timeout: float = 60) -> Path:
    spec = spec_for(
        "server2022",
        iso=make_windows_iso(tmp_path),
        virtio_iso=make_virtio_iso(tmp_path),
        disk_gib=40,
    )
    builder = windows_build.WindowsImageBuilder(
        tmp_path / "images", connect=lambda: conn, poll_seconds=0, check_host=False
    )
    return builder.build(spec, timeout=timeout)


FULL_RUN = {3: ["step network-profile", "step winrm-https"], 5: ["step guest-agent", "done"]}


@needs_iso_tools
@needs_qemu_img
def test_build_publishes_the_disk_with_meta_and_secrets(tmp_path: Path) -> None:
    """Windows cannot run here: a fake libvirt plays the install; checks the cache entry."""
    conn = FakeConnection(FULL_RUN, shutoff_after=6)
    folder = build(tmp_path, conn)
    assert folder == tmp_path / "images" / "windows-server2022"
    assert (folder / disk.DISK_FILE).is_file()
    meta = json.loads((folder / disk.META_FILE).read_text())
    assert meta["source"] == "imported" and meta["node_kind"] == "windows-server"
    assert meta["access"]["method"] == "winrm" and meta["access"]["port"] == 5986
    assert meta["access"]["user"] == "Administrator"
    assert meta["access"]["password_secret"] == "admin_password"
    secrets = folder / meta["access"]["secrets_file"]
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert json.loads(secrets.read_text())["admin_password"] == SPECIAL_PASSWORD
    # The engine and `image ls` read it as any disk image.
    found = disk.find_disk_image("windows-server2022", tmp_path)
    assert found is not None and found.os == "windows" and found.access.method == "winrm"
    assert found.password() == SPECIAL_PASSWORD
    assert [d.name for d in disk.list_disk_images(tmp_path)] == ["windows-server2022"]
    # the answer ISO held the password: gone; the log never had it
    assert not list(folder.glob("*.iso")) and not (folder / "answer").exists()
    log = (folder / "build.log").read_text()
    assert SPECIAL_PASSWORD not in log and "setup script: done" in log
    assert all(not d.defined for d in conn.domains)  # the install VM is undefined
    assert not list((tmp_path / "images").glob(".build-*"))


@needs_iso_tools
@needs_qemu_img
def test_failed_setup_keeps_the_log_and_removes_partial_files(tmp_path: Path) -> None:
    """Windows cannot run here: a fake setup script reports a failure on the serial port."""
    conn = FakeConnection({2: ["step winrm-https", "failed 42: access denied"]}, shutoff_after=3)
    with pytest.raises(ImageBuildError, match="access denied"):
        build(tmp_path, conn)
    images = tmp_path / "images"
    log = images / ".failed-windows-server2022.log"
    assert "failed 42: access denied" in log.read_text()
    assert SPECIAL_PASSWORD not in log.read_text()
    assert not (images / "windows-server2022").exists()
    assert not list(images.glob(".build-*"))
    assert all(not d.defined for d in conn.domains)


@needs_iso_tools
@needs_qemu_img
def test_timeout_stops_and_undefines_the_vm(tmp_path: Path) -> None:
    """Windows cannot run here: a fake install that never ends."""
    conn = FakeConnection({}, shutoff_after=10**9)
    with pytest.raises(ImageBuildError, match="did not finish"):
        build(tmp_path, conn, timeout=0)
    assert conn.destroyed and all(not d.defined for d in conn.domains)
    assert "no screenshot" in (tmp_path / "images" / ".failed-windows-server2022.log").read_text()


@needs_iso_tools
@needs_qemu_img
def test_kvm_that_qemu_cannot_open_falls_back_to_emulation(tmp_path: Path) -> None:
    """Windows cannot run here: libvirt offers KVM but QEMU cannot open /dev/kvm."""
    conn = FakeConnection(FULL_RUN, shutoff_after=6, kvm_broken=True)
    folder = build(tmp_path, conn)
    assert [ET.fromstring(d.xml).get("type") for d in conn.domains] == ["kvm", "qemu"]
    assert ET.parse(folder / "install-domain.xml").getroot().get("type") == "qemu"


@needs_iso_tools
@needs_qemu_img
def test_an_existing_image_needs_force(tmp_path: Path) -> None:
    build(tmp_path, FakeConnection(FULL_RUN, shutoff_after=6))
    with pytest.raises(UsageError, match="already built"):
        build(tmp_path, FakeConnection(FULL_RUN, shutoff_after=6))


def test_serial_status_reads_lines_as_they_come(tmp_path: Path) -> None:
    path = tmp_path / "serial.log"
    status = windows_build._SerialStatus(path)
    assert status.read_new() == []
    path.write_bytes(b"noise\r\nTAI-LABS-SETUP step firewall\r\nTAI-LABS-SE")
    assert status.read_new() == ["step firewall"]
    assert status.last == "firewall" and 0 < status.fraction < 1
    with open(path, "ab") as fh:
        fh.write(b"TUP done\r\n")
    assert status.read_new() == ["done"] and status.done and status.fraction == 1.0
