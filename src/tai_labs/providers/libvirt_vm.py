"""VM engine: libvirt/QEMU domains on the lab's own bridges, one qcow2 overlay per node.

Layout: ``<data>/labs/<lab>/vm/<node>/`` holds ``node.json``, the overlay over the VM
image's base disk, blank extra disks, the config disk (``config.iso``), the domain XML and
the serial console log. The domain is named like the container would be (``<lab>-<node>``)
and carries tai-labs metadata, so cleanup finds it from the lab id alone.

``exec`` goes through the QEMU guest agent (providers.vm_agent): like ``lxc-attach`` for
containers, it works when the node's network is broken on purpose.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tai_labs.locations import locations
from tai_labs.providers import mgmt_guard, naming, qemu_identity
from tai_labs.providers.accel import virt_type
from tai_labs.providers.base import (
    CreatedNode,
    Engine,
    ExecResult,
    NodeSpec,
    NodeState,
    VmBoot,
    register_engine,
)
from tai_labs.providers.configdisk import write_config_iso
from tai_labs.providers.engine_common import (
    free_number,
    recorded,
    wait_for_systemd,
)
from tai_labs.providers.errors import (
    EngineError,
    NodeNotFoundError,
    NodeStartError,
    NodeStateError,
)
from tai_labs.providers.hostcmd import require_root, require_tools, run
from tai_labs.providers.keys import generate_ed25519
from tai_labs.providers.libvirt_conn import connect, import_libvirt
from tai_labs.providers.mounts import safe_rmtree
from tai_labs.providers.seed import derived_mac
from tai_labs.providers.vm_agent import agent_exec, set_clock, wait_agent
from tai_labs.providers.vm_domain import DomainConfig, DomainDisk, DomainNic, domain_xml
from tai_labs.providers.vm_snapshots import revert_snapshot, take_snapshot
from tai_labs.providers.windows_guest import configure_command

if TYPE_CHECKING:
    import libvirt

_STATES = {
    1: NodeState.RUNNING,  # VIR_DOMAIN_RUNNING
    2: NodeState.RUNNING,  # BLOCKED
    3: NodeState.FROZEN,  # PAUSED
    4: NodeState.STOPPING,  # SHUTDOWN (in progress)
    5: NodeState.STOPPED,  # SHUTOFF
    6: NodeState.STOPPED,  # CRASHED
    7: NodeState.FROZEN,  # PMSUSPENDED
}


class VmLayout:
    def __init__(self, folder: Path) -> None:
        self.dir = folder
        self.meta = folder / "node.json"
        self.overlay = folder / "root.qcow2"
        self.config_iso = folder / "config.iso"
        self.xml = folder / "domain.xml"
        self.console_log = folder / "console.log"
        self.clock_offsets = folder / "clock-offsets.json"  # per snapshot, seconds

    def disk(self, name: str) -> Path:
        return self.dir / f"disk-{name}.qcow2"


@register_engine
class LibvirtEngine(Engine):
    name = "vm"
    image_form = "disk"  # the base disk of the node's overlay (spec.boot)
    own_kernel = True
    nodes_folder = "vm"

    def __init__(
        self,
        lab_id: str,
        *,
        data: Path | None = None,
        probe_image: Callable[[], VmBoot] | None = None,
    ) -> None:
        """probe_image gives a kernel-booted Linux image for the KVM test boot (providers.accel)
        when the first VM node boots a disk of its own; the lab layer, which builds images,
        supplies it."""
        require_root("running VM nodes")
        require_tools("qemu-img", "genisoimage")
        super().__init__(naming.check_lab_id(lab_id), data=data, probe_image=probe_image)
        self.folder = locations(data).lab(lab_id) / self.nodes_folder
        self._libvirt = import_libvirt()
        self._meta: dict[str, dict[str, object]] = {}

    # -- helpers -------------------------------------------------------------------------

    @property
    def conn(self) -> libvirt.virConnect:
        return connect()

    def _probe_image(self) -> VmBoot:
        if self.probe_image is None:
            raise EngineError(
                "KVM or software emulation is not decided yet and this node's disk cannot be "
                "test-booted",
                hint="set TAI_LABS_VM_ACCEL=kvm or qemu, or boot a recipe VM image first",
            )
        return self.probe_image()

    def layout(self, node: str) -> VmLayout:
        return VmLayout(self.folder / naming.check_node_name(node))

    def _existing(self, node: str) -> VmLayout:
        return recorded(self.layout(node), f"no VM node {node!r} in lab {self.lab_id}")

    def meta(self, node: str) -> dict[str, object]:
        """What create() recorded (read once: every exec needs it, and only _adopt changes it)."""
        if node not in self._meta:
            self._meta[node] = json.loads(self._existing(node).meta.read_text())
        return self._meta[node]

    def _write_meta(self, node: str, meta: dict[str, object]) -> None:
        self.layout(node).meta.write_text(json.dumps(meta, indent=2))
        self._meta[node] = meta

    def _dom(self, node: str) -> libvirt.virDomain:
        self._existing(node)
        try:
            return self.conn.lookupByName(node)
        except self._libvirt.libvirtError as exc:
            raise NodeNotFoundError(f"VM node {node!r} has no libvirt domain") from exc

    def nodes(self) -> list[str]:
        return self.recorded(self.folder.parent)

    # -- lifecycle -------------------------------------------------------------------------

    def create(self, spec: NodeSpec) -> CreatedNode:
        if spec.engine != self.name:
            raise EngineError(f"node {spec.name!r} is a {spec.engine}, not a {self.name}")
        image = spec.boot
        if image is None:
            raise EngineError(f"node {spec.name!r} is a vm with nothing to boot (no spec.boot)")
        windows = image.os == "windows"
        base_disk = image.disk
        layout = self.layout(spec.name)
        if layout.dir.exists():
            raise EngineError(f"node {spec.name!r} already exists in lab {self.lab_id}")
        number = spec.number or free_number(self.lab_id, map(self.meta, self.nodes()))
        # QEMU runs as libvirt-qemu: it must traverse (not list) the lab folder to its disks.
        self.folder.mkdir(parents=True, exist_ok=True)
        for folder in (self.folder.parent, self.folder):
            os.chmod(folder, 0o711)
        layout.dir.mkdir(mode=0o711)
        kind = virt_type(image if image.kernel else self._probe_image, self.data)
        try:
            run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2",
                 "-b", str(base_disk), str(layout.overlay)])  # fmt: skip
            disks = [DomainDisk(layout.overlay, "vda")]
            for i, extra in enumerate(spec.disks):
                path = layout.disk(extra.name)
                run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), f"{extra.size_mib}M"])
                disks.append(DomainDisk(path, "vd" + "bcdefghij"[i], serial=extra.name))
            host_key = generate_ed25519(f"root@{spec.hostname}")
            if not windows:
                # An imported Linux disk may carry the config-disk unit too; Windows gets
                # its settings through the guest agent at start (providers.windows_guest).
                write_config_iso(spec, host_key, layout.config_iso)
            nics = tuple(
                DomainNic(
                    bridge=nic.bridge,
                    mac=nic.mac or derived_mac(spec.name, i),
                    tap=naming.veth_name(self.lab_id, number, i),
                    isolated=nic.bridge == naming.mgmt_bridge_name(self.lab_id),
                )
                for i, nic in enumerate(spec.all_nics)
            )
            xml = domain_xml(
                DomainConfig(
                    name=spec.name,
                    lab_id=self.lab_id,
                    node=spec.hostname,
                    memory_mib=spec.memory_mib,
                    vcpus=spec.vcpus,
                    virt_type=kind,
                    disks=tuple(disks),
                    nics=nics,
                    console_log=layout.console_log,
                    windows=windows,
                    kernel=image.kernel,
                    initrd=image.initrd,
                    cmdline=image.cmdline,
                    config_iso=None if windows else layout.config_iso,
                )
            )
            layout.xml.write_text(xml)
            self.conn.defineXML(xml)
            # Only recipe images install the host key made here; for an imported disk the
            # key is read from the guest after boot (see host_key()).
            pinned = host_key.public_line if image.kernel else ""
            meta = {
                "number": number,
                "host_key": pinned,
                "os": "windows" if windows else "linux",
                "virt_type": kind,
                "image": str(base_disk),
                "spec": spec.model_dump(mode="json"),
            }
            # Written last: a node dir without node.json is an unfinished create.
            layout.meta.write_text(json.dumps(meta, indent=2))
        except BaseException:
            self._undefine(spec.name)
            safe_rmtree(layout.dir)
            raise
        return CreatedNode(spec.name, number, pinned, spec.management.address)

    def is_windows(self, node: str) -> bool:
        return self.meta(node).get("os") == "windows"

    def state(self, node: str) -> NodeState:
        if not self.layout(node).meta.is_file():
            return NodeState.ABSENT
        try:
            dom = self.conn.lookupByName(node)
        except self._libvirt.libvirtError:
            return NodeState.ABSENT
        return _dom_state(dom)

    def start(self, node: str, *, wait: bool = True, timeout: float = 120.0) -> None:
        dom = self._dom(node)
        if self.state(node) != NodeState.STOPPED:
            raise NodeStateError(f"node {node!r} is {self.state(node)}, not stopped")
        deadline = time.monotonic() + timeout
        try:
            dom.create()
        except self._libvirt.libvirtError as exc:
            raise NodeStartError(f"VM {node!r} did not start: {exc.get_error_message()}") from exc
        try:
            qemu_identity.check_unprivileged(node)
        except NodeStartError:
            self._power_off(dom)
            raise
        # The domain XML asks libvirt for it; said again for a libvirt that ignores <port>.
        mgmt_guard.isolate_port(self.lab_id, int(str(self.meta(node)["number"])))
        if wait:
            self.wait_booted(node, timeout=max(1.0, deadline - time.monotonic()))

    def wait_booted(self, node: str, *, timeout: float = 120.0) -> str:
        """Wait for the guest agent, then for the guest to finish booting; return its state.

        Linux: systemd's ``is-system-running``. Windows: the node's settings are applied
        through the agent (a rename reboots it once), then "running".
        """
        deadline = time.monotonic() + timeout
        self._wait_agent(node, deadline, timeout)
        if not self.is_windows(node):
            state = wait_for_systemd(self.exec, node, deadline, what="VM")
            if not self.meta(node).get("host_key"):
                self._adopt(node)
            return state
        spec = NodeSpec.model_validate(self.meta(node)["spec"])
        argv, settings = configure_command(spec)
        res = self.exec(node, argv, input=settings, timeout=max(30.0, deadline - time.monotonic()))
        if not res.ok:
            raise NodeStartError(f"VM {node!r}: node settings not applied: {res.stderr.strip()}")
        if "reboot" in res.stdout.split():
            self._dom(node).reboot()
            time.sleep(5)  # let the agent go away before waiting for it again
            self._wait_agent(node, deadline, timeout)
        return "running"

    def _adopt(self, node: str) -> None:
        """An imported Linux disk: authorize the lab's key and learn the host key, both
        through the guest agent (out of band), so SSH to it is pinned like any node's."""
        meta = dict(self.meta(node))
        spec = NodeSpec.model_validate(meta["spec"])
        keys = "\n".join(spec.authorized_keys) + "\n"
        script = (
            'install -d -m 700 /root/.ssh && f=/root/.ssh/authorized_keys && touch "$f" && '
            'while IFS= read -r k; do grep -qxF "$k" "$f" || printf "%s\\n" "$k" >> "$f"; '
            'done && chmod 600 "$f"'
        )
        res = self.exec(node, ["sh", "-c", script], input=keys)
        if not res.ok:
            raise NodeStartError(f"VM {node!r}: cannot authorize the lab key: {res.stderr}")
        res = self.exec(node, ["cat", "/etc/ssh/ssh_host_ed25519_key.pub"])
        if not res.ok or not res.stdout.startswith("ssh-ed25519 "):
            raise NodeStartError(
                f"VM {node!r}: no ed25519 host key to pin", hint="the image needs openssh-server"
            )
        meta["host_key"] = res.stdout.strip()
        self._write_meta(node, meta)

    def host_key(self, node: str) -> str:
        """The node's pinned host key ("" until an imported disk has booted once)."""
        return str(self.meta(node).get("host_key", ""))

    def _wait_agent(self, node: str, deadline: float, timeout: float) -> None:
        wait_agent(
            self._dom(node),
            node,
            running=lambda: self.state(node) is NodeState.RUNNING,
            console_log=self.layout(node).console_log,
            deadline=deadline,
            timeout=timeout,
        )

    def stop(self, node: str, *, timeout: float = 30.0) -> None:
        dom = self._dom(node)
        if self.state(node) in (NodeState.STOPPED, NodeState.ABSENT):
            return
        try:
            if self.state(node) is NodeState.FROZEN:
                dom.resume()
            dom.shutdown()  # ACPI power button: the guest shuts down cleanly
        except self._libvirt.libvirtError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.state(node) in (NodeState.STOPPED, NodeState.ABSENT):
                return
            time.sleep(0.2)
        self._power_off(dom)

    def _power_off(self, dom: libvirt.virDomain) -> None:
        try:
            if dom.isActive():
                dom.destroy()
        except self._libvirt.libvirtError:
            if dom.isActive():
                raise

    def _undefine(self, name: str) -> None:
        try:
            dom = self.conn.lookupByName(name)
        except self._libvirt.libvirtError:
            return
        self._power_off(dom)
        dom.undefineFlags(self._libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)

    def destroy(self, node: str) -> None:
        layout = self.layout(node)
        # The disks are thrown away: no clean shutdown needed.
        self._undefine(node)
        safe_rmtree(layout.dir)
        self._meta.pop(node, None)
        if self.folder.is_dir() and not any(self.folder.iterdir()):
            self.folder.rmdir()

    # -- inside the node -----------------------------------------------------------------

    def exec(
        self,
        node: str,
        argv: Sequence[str],
        *,
        input: str | bytes | None = None,
        timeout: float | None = 60.0,
    ) -> ExecResult:
        if not argv:
            raise EngineError("exec needs a non-empty argv")
        dom = self._dom(node)
        state = _dom_state(dom)
        if state is not NodeState.RUNNING:
            raise NodeStateError(f"node {node!r} is {state}, not running")
        return agent_exec(
            dom, node, argv, windows=self.is_windows(node), input=input, timeout=timeout
        )

    def console(self, node: str) -> int:
        """A root shell over SSH with the lab's key (the serial console has no password)."""
        meta = self.meta(node)
        spec = NodeSpec.model_validate(meta["spec"])
        lab = self.folder.parent
        assert spec.management.address is not None
        return subprocess.call(
            ["ssh", "-i", str(lab / "id_ed25519"),
             "-o", f"UserKnownHostsFile={lab / 'known_hosts'}",
             "-o", "StrictHostKeyChecking=yes",
             f"root@{spec.management.address.ip}"]
        )  # fmt: skip

    def terminal_argv(self, node: str, user: str) -> list[str]:
        """SSH as root with the lab's key, as ``console``; another account through the
        node's ``runuser`` (the remote command is a shell line: the name is quoted)."""
        naming.check_account(user)
        if self.is_windows(node):
            raise EngineError(f"{node!r} is a Windows node: its console is graphical")
        spec = NodeSpec.model_validate(self.meta(node)["spec"])
        lab = self.folder.parent
        assert spec.management.address is not None
        remote = [] if user == "root" else ["exec /usr/sbin/runuser -l " + shlex.quote(user)]
        return [
            "ssh", "-tt", "-i", str(lab / "id_ed25519"),
            "-o", f"UserKnownHostsFile={lab / 'known_hosts'}",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-e", "none",
            f"root@{spec.management.address.ip}", *remote,
        ]  # fmt: skip

    # -- snapshots -------------------------------------------------------------------------

    def snapshot(self, node: str, name: str) -> None:
        """A running internal snapshot (disk and memory) in the node's overlay."""
        dom = self._dom(node)
        take_snapshot(self._libvirt, dom, node, name, self.layout(node).clock_offsets)

    def revert(self, node: str, name: str) -> None:
        dom = self._dom(node)
        offset = revert_snapshot(self._libvirt, dom, node, name, self.layout(node).clock_offsets)
        self.sync_clock(node, offset)

    def sync_clock(self, node: str, offset: float = 0.0) -> None:
        """Set the guest clock to the host's plus offset (after a revert the guest lives at
        the snapshot's time; offset keeps a shift the snapshot had on purpose)."""
        set_clock(self._dom(node), offset)

    def list_snapshots(self, node: str) -> list[str]:
        return sorted(self._dom(node).snapshotListNames())


def _dom_state(dom: libvirt.virDomain) -> NodeState:
    return _STATES.get(dom.state()[0], NodeState.STOPPED)


def lab_domains(lab_id: str) -> list[str]:
    """Names of the libvirt domains tai-labs made for lab_id (from their metadata)."""
    from tai_labs.providers.vm_domain import lab_of_domain_xml

    conn = connect()
    out = []
    for dom in conn.listAllDomains():
        if not dom.name().startswith(f"{lab_id}-"):
            continue
        owner = lab_of_domain_xml(dom.XMLDesc(0))
        if owner is not None and owner[0] == lab_id:
            out.append(dom.name())
    return out
