"""Running a Windows install in a libvirt VM and publishing its disk in the image cache.

``tai_labs.images.windows`` makes the files (answer ISO, domain XML); this module boots them:
define and start the domain (KVM first; QEMU emulation when KVM is offered but cannot be
opened), follow the install (disk growth, then the setup script's lines on COM1), and once
the guest has shut itself down, publish ``<data>/images/windows-<name>/``. Whatever happens,
the domain is stopped and undefined; a failure keeps the build log as
``<data>/images/.failed-windows-<name>.log`` (plus a screenshot at a timeout) and removes the
rest, above all the answer ISO, which holds the password.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from tai_labs.errors import TaiLabsError, UsageError, require_module
from tai_labs.images.disk import META_FILE, write_secrets
from tai_labs.images.errors import ImageBuildError
from tai_labs.images.progress import ProgressCallback, StepTracker
from tai_labs.images.store import ImageStore
from tai_labs.images.windows import (
    SETUP_STEPS,
    STATUS_MARKER,
    InstallFiles,
    WindowsBuildSpec,
    build_key,
    domain_xml,
    image_meta,
    prepare,
)
from tai_labs.providers.errors import HostRequirementError
from tai_labs.providers.hostcmd import require_root, require_tools, run

LIBVIRT_URI = "qemu:///system"
#: libvirt's stable enum values (virDomainState, virDomainShutoffReason), so that the wait loop
#: needs no libvirt import and tests can drive it with a fake connection.
VIR_DOMAIN_SHUTOFF = 5
VIR_DOMAIN_SHUTOFF_SHUTDOWN = 1
#: What an install writes to its disk, roughly: only used to show a progress percentage.
EXPECTED_INSTALL_BYTES = 10 * 1024**3
BUILD_STEPS = [
    ("prepare", 1.0),
    ("disk", 1.0),
    ("install", 80.0),
    ("setup", 15.0),
    ("publish", 3.0),
]


def _default_connect() -> Any:
    libvirt = require_module("libvirt", package="libvirt-python", purpose="a Windows image build")
    # libvirt prints every error on stderr by default; ours are raised and logged instead.
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    try:
        return libvirt.open(LIBVIRT_URI)
    except libvirt.libvirtError as exc:
        raise HostRequirementError(
            f"cannot connect to libvirt ({LIBVIRT_URI}): {exc}",
            hint="apt-get install -y libvirt-daemon-system qemu-system-x86 && "
            "systemctl start libvirtd",
        ) from None


class WindowsImageBuilder:
    """Runs one Windows install and publishes the disk in the image cache."""

    def __init__(
        self,
        root: Path | None = None,
        *,
        connect: Callable[[], Any] = _default_connect,
        poll_seconds: float = 5.0,
        check_host: bool = True,
    ) -> None:
        self.store = ImageStore(root)
        self.connect = connect
        self.poll_seconds = poll_seconds
        self.check_host = check_host  # tests with a fake libvirt turn root/tool checks off

    def build(
        self,
        spec: WindowsBuildSpec,
        *,
        timeout: float,
        progress: ProgressCallback | None = None,
        force: bool = False,
    ) -> Path:
        """Install Windows; return the published image folder. Raises ImageBuildError."""
        spec.check()
        final = self.store.root / spec.image
        if (final / META_FILE).exists() and not force:
            raise UsageError(
                f"image {spec.image} is already built ({final})",
                hint="--force rebuilds it (labs started from it must be removed first)",
            )
        if self.check_host:
            require_root("building a Windows image")
            require_tools("qemu-img", "genisoimage", "isoinfo")
            for media in (spec.iso, spec.virtio_iso):
                _check_qemu_can_read(media)
        tracker = StepTracker(spec.image, BUILD_STEPS, progress)
        with self.store.lock(spec.image):
            self.store.sweep_stale_builds()  # leftovers of killed builds, Windows or not
            tmp = self.store.build_dir(spec.image, build_key(spec))
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            tmp.chmod(0o711)  # QEMU runs as another user: it must reach the files inside
            files = InstallFiles(tmp)
            started = time.monotonic()
            try:
                with open(files.log, "a", encoding="utf-8") as log:
                    self._install(spec, files, tracker, log, timeout)
                    tracker.begin("publish")
                    image = self._publish(spec, files, final, time.monotonic() - started)
                tracker.finish()
                return image
            except BaseException as exc:
                # Keep the log, drop the rest (the disk, and the answer ISO with the password).
                failed = self.store.failed_log(spec.image)
                if files.log.exists():
                    shutil.copyfile(files.log, failed)
                shutil.rmtree(tmp, ignore_errors=True)
                if isinstance(exc, Exception) and not isinstance(exc, TaiLabsError):
                    raise ImageBuildError(
                        f"Windows image build failed: {type(exc).__name__}: {exc}",
                        hint=f"build log: {failed}",
                    ) from exc
                raise

    def _install(
        self,
        spec: WindowsBuildSpec,
        files: InstallFiles,
        tracker: StepTracker,
        log: IO[str],
        timeout: float,
    ) -> None:
        say = _Logger(log)
        say(f"build of {spec.image}: {spec.edition.label} from {spec.iso}")
        tracker.begin("prepare", "answer ISO")
        conn = self.connect()
        kvm = kvm_available(conn)
        say(f"libvirt offers KVM: {'yes' if kvm else 'no'}")
        prepare(spec, files.folder, kvm=kvm)
        say(f"answer ISO written ({files.answer_iso.stat().st_size} bytes)")
        tracker.begin("disk", f"{spec.disk_gib} GiB")
        run(["qemu-img", "create", "-q", "-f", "qcow2", str(files.disk), f"{spec.disk_gib}G"])
        os.chmod(files.disk, 0o600)
        say(f"disk created: {files.disk} ({spec.disk_gib} GiB)")
        files.serial_log.touch(mode=0o600)
        # libvirt may offer KVM that QEMU then cannot open (/dev/kvm permissions): emulate then.
        attempts = [(kvm, files.domain_xml.read_text())]
        if kvm:
            attempts.append((False, domain_xml(spec, files, kvm=False)))
        with _transient_domain(conn, spec.domain_name, attempts, say) as (dom, xml):
            files.domain_xml.write_text(xml, encoding="utf-8")
            emulated = ET.fromstring(xml).get("type") == "qemu"
            tracker.begin("install", "booting the installer" + (" (no KVM: slow)" * emulated))
            self._wait(dom, spec, files, tracker, say, timeout)

    def _wait(
        self,
        dom: Any,
        spec: WindowsBuildSpec,
        files: InstallFiles,
        tracker: StepTracker,
        say: _Logger,
        timeout: float,
    ) -> None:
        deadline = time.monotonic() + timeout
        status = _SerialStatus(files.serial_log)
        while True:
            state, reason = dom.state()
            for line in status.read_new():
                say(f"setup script: {line}")
            if state == VIR_DOMAIN_SHUTOFF:
                break
            if time.monotonic() > deadline:
                _screenshot(dom, self.store.root / f".failed-{spec.image}", say)
                raise ImageBuildError(
                    f"the Windows install did not finish within {_minutes(timeout)} "
                    f"(last status: {status.last or 'none from the setup script'})",
                    hint=f"see {self.store.failed_log(spec.image)} and the screenshot beside "
                    "it; without KVM give it hours (--timeout 8h)",
                )
            if status.last:
                if tracker.index < BUILD_STEPS.index(("setup", 15.0)):
                    tracker.begin("setup", status.last)
                tracker.update(status.fraction, status.last)
            else:
                written = _allocation(dom)
                tracker.update(
                    written / EXPECTED_INSTALL_BYTES, f"{written / 1024**3:.1f} GiB written"
                )
            time.sleep(self.poll_seconds)
        say(f"domain shut off (reason {reason})")
        if status.failed:
            raise ImageBuildError(
                f"the setup script failed in the VM: {status.failed}",
                hint="the number is a line of tai-setup.ps1 (--dry-run writes it); every "
                f"step is in {self.store.failed_log(spec.image)}",
            )
        if reason != VIR_DOMAIN_SHUTOFF_SHUTDOWN:
            raise ImageBuildError(f"the install VM stopped without shutting down (reason {reason})")
        if not status.done:
            say("warning: no 'done' from the setup script on COM1; the shutdown is taken as done")

    def _publish(
        self, spec: WindowsBuildSpec, files: InstallFiles, final: Path, seconds: float
    ) -> Path:
        # The answer ISO and its staging folder hold the password: they go first.
        files.answer_iso.unlink(missing_ok=True)
        shutil.rmtree(files.folder / "answer", ignore_errors=True)
        write_secrets(files.folder, spec.password)
        (files.folder / META_FILE).write_text(
            json.dumps(image_meta(spec, seconds), indent=2) + "\n", encoding="utf-8"
        )
        files.domain_xml.rename(files.folder / "install-domain.xml")
        files.folder.chmod(0o711)
        if final.exists():
            (final / META_FILE).unlink(missing_ok=True)  # a half-removed image must not look built
            shutil.rmtree(final)
        os.rename(files.folder, final)
        return final


@contextmanager
def _transient_domain(
    conn: Any, name: str, attempts: list[tuple[bool, str]], say: _Logger
) -> Iterator[tuple[Any, str]]:
    """Define and start the domain (KVM first if offered); always stop and undefine it after.

    ``attempts`` are (kvm, domain XML) pairs: the next one is tried only when starting the
    previous one failed because of KVM. Yields the running domain and the XML it runs.
    """
    try:
        old = conn.lookupByName(name)
    except Exception:  # libvirtError: no such domain, the usual case
        old = None
    if old is not None:
        if old.isActive():
            raise ImageBuildError(
                f"a VM {name} is already running (another build, or a crashed one)",
                hint=f"virsh destroy {name} && virsh undefine {name}",
            )
        old.undefine()
        say(f"removed a leftover definition of {name}")
    dom = None
    try:
        for i, (kvm, xml) in enumerate(attempts):
            mode = "KVM" if kvm else "QEMU emulation (no KVM: expect hours)"
            try:
                dom = conn.defineXML(xml)
                dom.create()
            except Exception as exc:
                say(f"domain {name} did not start with {mode}: {exc}")
                if dom is not None:
                    with suppress(Exception):
                        dom.undefine()
                    dom = None
                if i + 1 < len(attempts) and "kvm" in str(exc).lower():
                    continue
                raise ImageBuildError(
                    f"libvirt could not start the install VM: {exc}",
                    hint="`tai-labs doctor` checks libvirt; the build log has the details",
                ) from None
            say(f"domain {name} started with {mode}")
            break
        yield dom, xml
    finally:
        if dom is not None:
            try:
                if dom.isActive():
                    dom.destroy()
                    say(f"domain {name} stopped")
            finally:
                dom.undefine()
                say(f"domain {name} undefined")


class _Logger:
    """Timestamped lines in build.log. Only ever given texts without the password."""

    def __init__(self, fh: IO[str]) -> None:
        self.fh = fh

    def __call__(self, text: str) -> None:
        self.fh.write(f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} {text}\n")
        self.fh.flush()


class _SerialStatus:
    """The setup script's ``TAI-LABS-SETUP ...`` lines, read as the serial log grows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.pending = ""
        self.last = ""
        self.done = False
        self.failed = ""

    @property
    def fraction(self) -> float:
        if self.done:
            return 1.0
        if self.last in SETUP_STEPS:
            return SETUP_STEPS.index(self.last) / len(SETUP_STEPS)
        return 0.0

    def read_new(self) -> list[str]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read()
        except FileNotFoundError:
            return []
        self.offset += len(chunk)
        *lines, self.pending = (self.pending + chunk.decode("utf-8", "replace")).split("\n")
        found = []
        for line in lines:
            _, marker, rest = line.strip().partition(STATUS_MARKER)
            if not marker:
                continue
            rest = rest.strip()
            found.append(rest)
            self.last = rest.removeprefix("step ")
            if rest == "done":
                self.done = True
            elif rest.startswith("failed"):
                self.failed = rest.removeprefix("failed").strip()
        return found


def _minutes(seconds: float) -> str:
    return f"{seconds:g} s" if seconds < 120 else f"{seconds / 60:.0f} minutes"


def _allocation(dom: Any) -> int:
    try:
        return int(dom.blockInfo("vda")[1])
    except Exception:  # progress only: a libvirt that cannot tell is not an error
        return 0


def _screenshot(dom: Any, stem: Path, say: _Logger) -> None:
    """Best effort: the VM's screen at the timeout, for the instructor to see where it hung."""
    try:
        stream = dom.connect().newStream(0)
        mime = dom.screenshot(stream, 0)
        path = stem.with_suffix(".png" if "png" in mime else ".ppm")
        with open(path, "wb") as fh:
            stream.recvAll(lambda _s, data, out: out.write(data), fh)
        stream.finish()
        say(f"screenshot of the VM: {path}")
    except Exception as exc:
        say(f"no screenshot: {type(exc).__name__}: {exc}")


def _check_qemu_can_read(path: Path) -> None:
    """QEMU runs as libvirt-qemu: every folder above the media must let others through."""
    for parent in path.resolve().parents:
        if not parent.stat().st_mode & 0o001:
            raise HostRequirementError(
                f"QEMU cannot reach {path}: the folder {parent} is closed to other users",
                hint=f"move it under /var/lib/libvirt/images, or chmod o+x {parent}",
            )


def kvm_available(conn: Any | None = None) -> bool:
    """Whether libvirt can use KVM here (its capabilities when connected, else /dev/kvm)."""
    if conn is None:
        return os.access("/dev/kvm", os.R_OK | os.W_OK)
    caps = ET.fromstring(conn.getCapabilities())
    return any(
        d.get("type") == "kvm"
        for guest in caps.iter("guest")
        if guest.find("arch") is not None and guest.find("arch").get("name") == "x86_64"  # type: ignore[union-attr]
        for d in guest.iter("domain")
    )
