"""The VM engine's pure parts: domain XML, config disk contents, KVM/TCG decision, dispatch."""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tai_labs.lab.plan import BOOT_TIMEOUT, VM_BOOT_TIMEOUT, VM_MIN_MEMORY, make_plan
from tai_labs.providers import accel
from tai_labs.providers.base import NicSpec, NodeSpec, NodeState, VmBoot
from tai_labs.providers.configdisk import config_files, modes_listing
from tai_labs.providers.engines import LabEngine
from tai_labs.providers.keys import generate_ed25519
from tai_labs.providers.vm_domain import (
    DomainConfig,
    DomainDisk,
    DomainNic,
    domain_xml,
    lab_of_domain_xml,
)
from tai_labs.scenario.loader import load_scenario

REPO = Path(__file__).resolve().parents[2]


def _config(**over: object) -> DomainConfig:
    base: dict[str, object] = dict(
        name="abc123-srv1",
        lab_id="abc123",
        node="srv1",
        memory_mib=512,
        vcpus=1,
        virt_type="qemu",
        disks=(
            DomainDisk(Path("/labs/abc123/vm/srv1/root.qcow2"), "vda"),
            DomainDisk(Path("/labs/abc123/vm/srv1/disk-data.qcow2"), "vdb", serial="data"),
        ),
        nics=(
            DomainNic("tlabc123m", "02:00:00:00:00:01", "tlabc123n010"),
            DomainNic("tlabc123b0", "02:00:00:00:00:02", "tlabc123n011"),
        ),
        console_log=Path("/labs/abc123/vm/srv1/console.log"),
        kernel=Path("/images/client-vm/vm/vmlinuz"),
        initrd=Path("/images/client-vm/vm/initrd.img"),
        cmdline="root=/dev/vda rw console=ttyS0 net.ifnames=0",
        config_iso=Path("/labs/abc123/vm/srv1/config.iso"),
    )
    base.update(over)
    return DomainConfig(**base)  # type: ignore[arg-type]


def test_linux_guest_under_tcg_boots_its_kernel_with_a_bounded_translation_cache() -> None:
    root = ET.fromstring(domain_xml(_config()))
    assert root.get("type") == "qemu"
    assert root.findtext("os/kernel") == "/images/client-vm/vm/vmlinuz"
    assert "net.ifnames=0" in root.findtext("os/cmdline", "")
    assert root.find("features/tcg/tb-cache").text == "64"  # type: ignore[union-attr]
    assert root.find("cpu") is None
    assert root.find("memory").get("unit") == "MiB" and root.findtext("memory") == "512"  # type: ignore[union-attr]


def test_nics_sit_at_increasing_pci_slots_in_nic_order_on_their_bridges() -> None:
    root = ET.fromstring(domain_xml(_config()))
    nics = root.findall("devices/interface")
    assert [n.find("source").get("bridge") for n in nics] == ["tlabc123m", "tlabc123b0"]  # type: ignore[union-attr]
    assert [n.find("target").get("dev") for n in nics] == ["tlabc123n010", "tlabc123n011"]  # type: ignore[union-attr]
    assert [n.find("address").get("slot") for n in nics] == ["0x03", "0x04"]  # type: ignore[union-attr]
    assert {n.find("model").get("type") for n in nics} == {"virtio"}  # type: ignore[union-attr]


def test_disks_config_cdrom_agent_channel_and_console_log() -> None:
    root = ET.fromstring(domain_xml(_config()))
    disks = root.findall("devices/disk[@device='disk']")
    assert [d.find("target").get("dev") for d in disks] == ["vda", "vdb"]  # type: ignore[union-attr]
    assert disks[1].findtext("serial") == "data"
    cdrom = root.find("devices/disk[@device='cdrom']")
    assert cdrom is not None and cdrom.find("readonly") is not None
    assert cdrom.find("source").get("file").endswith("config.iso")  # type: ignore[union-attr]
    channel = root.find("devices/channel/target")
    assert channel is not None and channel.get("name") == "org.qemu.guest_agent.0"
    assert root.find("devices/serial/log").get("file").endswith("console.log")  # type: ignore[union-attr]


def test_kvm_guest_passes_the_host_cpu_and_has_no_tcg_section() -> None:
    root = ET.fromstring(domain_xml(_config(virt_type="kvm")))
    assert root.get("type") == "kvm"
    assert root.find("cpu").get("mode") == "host-passthrough"  # type: ignore[union-attr]
    assert root.find("features/tcg") is None


def test_windows_guest_boots_its_disk_on_sata_with_local_clock_and_local_vnc() -> None:
    root = ET.fromstring(
        domain_xml(_config(windows=True, kernel=None, initrd=None, config_iso=None))
    )
    assert root.find("os/kernel") is None and root.find("os/boot").get("dev") == "hd"  # type: ignore[union-attr]
    assert {d.find("target").get("bus") for d in root.findall("devices/disk")} == {"sata"}  # type: ignore[union-attr]
    assert root.find("clock").get("offset") == "localtime"  # type: ignore[union-attr]
    assert root.find("features/hyperv") is not None
    assert root.find("devices/graphics").get("listen") == "127.0.0.1"  # type: ignore[union-attr]


def test_values_are_escaped_not_pasted() -> None:
    xml = domain_xml(_config(cmdline="quiet </cmdline><devices/> & more"))
    root = ET.fromstring(xml)
    assert root.findtext("os/cmdline") == "quiet </cmdline><devices/> & more"
    assert len(root.findall("devices")) == 1


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="kvm or qemu"):
        domain_xml(_config(virt_type="xen"))


def test_an_imported_linux_disk_boots_its_own_loader_on_virtio() -> None:
    root = ET.fromstring(domain_xml(_config(kernel=None, initrd=None, cmdline="")))
    assert root.find("os/kernel") is None and root.find("os/boot").get("dev") == "hd"  # type: ignore[union-attr]
    assert {d.find("target").get("bus") for d in root.findall("devices/disk[@device='disk']")} == {
        "virtio"
    }  # type: ignore[union-attr]


def test_metadata_names_the_lab_and_foreign_domains_are_not_ours() -> None:
    assert lab_of_domain_xml(domain_xml(_config())) == ("abc123", "srv1")
    assert lab_of_domain_xml("<domain type='kvm'><name>abc123-web</name></domain>") is None
    assert lab_of_domain_xml("not xml") is None


def _spec() -> NodeSpec:
    return NodeSpec(
        name="abc123-srv1",
        hostname="srv1",
        domain="corp.lan",
        image=Path("/images/x/vm"),
        engine="vm",
        management=NicSpec(
            bridge="tlabc123m", name="eth0", address=ipaddress.IPv4Interface("100.64.1.11/24")
        ),
        nics=(
            NicSpec(
                bridge="tlabc123b0",
                name="eth1",
                address=ipaddress.IPv4Interface("10.0.0.5/24"),
                gateway=ipaddress.IPv4Address("10.0.0.1"),
            ),
        ),
        dns_servers=(ipaddress.IPv4Address("10.0.0.2"),),
        authorized_keys=("ssh-ed25519 AAAA lab",),
    )


def test_config_disk_carries_identity_keys_and_network_with_strict_modes() -> None:
    key = generate_ed25519("root@srv1")
    files = config_files(_spec(), key)
    assert files["/etc/hostname"][0] == "srv1\n"
    assert "nameserver 10.0.0.2" in files["/etc/resolv.conf"][0]
    assert files["/etc/ssh/ssh_host_ed25519_key"][1] == 0o600
    assert files["/etc/ssh/ssh_host_ed25519_key.pub"][0].startswith("ssh-ed25519 ")
    assert files["/root/.ssh/authorized_keys"] == ("ssh-ed25519 AAAA lab\n", 0o600)
    eth1 = files["/etc/systemd/network/10-tai-labs-eth1.network"][0]
    assert "Address=10.0.0.5/24" in eth1 and "Gateway=10.0.0.1" in eth1
    eth0 = files["/etc/systemd/network/10-tai-labs-eth0.network"][0]
    assert "Gateway" not in eth0
    modes = modes_listing(files).splitlines()
    assert "600 /etc/ssh/ssh_host_ed25519_key" in modes and "700 /root/.ssh" in modes


def _image(tmp_path: Path) -> VmBoot:
    return VmBoot(
        disk=tmp_path / "disk.qcow2", kernel=tmp_path / "vmlinuz", initrd=tmp_path / "initrd.img"
    )


def test_accel_override_by_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TAI_LABS_VM_ACCEL", "qemu")
    assert accel.virt_type(_image(tmp_path), tmp_path) == "qemu"
    monkeypatch.setenv("TAI_LABS_VM_ACCEL", "xen")
    with pytest.raises(Exception, match="kvm or qemu"):
        accel.virt_type(_image(tmp_path), tmp_path)


def test_accel_without_usable_kvm_is_tcg_and_is_cached(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TAI_LABS_VM_ACCEL", raising=False)
    monkeypatch.setattr(accel.os, "access", lambda *_a: False)
    assert accel.virt_type(_image(tmp_path), tmp_path) == "qemu"
    decision = accel.cached(tmp_path)
    assert decision is not None and "not usable" in decision.reason

    # A test boot is never run again while the host stays the same...
    def no_boot(*_a: object) -> tuple[bool, str]:
        raise AssertionError("probed again")

    monkeypatch.setattr(accel, "_test_boot", no_boot)
    assert accel.virt_type(_image(tmp_path), tmp_path) == "qemu"


def test_accel_cache_is_dropped_when_the_host_changes(tmp_path: Path) -> None:
    stale = accel.AccelDecision(
        virt_type="kvm",
        reason="old",
        fingerprint="another-kernel|qemu|0",
        probed_at=datetime.now(UTC),
        probe_seconds=1.0,
    )
    path = accel.cache_file(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(stale.model_dump_json())
    assert accel.cached(tmp_path) is None


def test_accel_test_boot_decides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TAI_LABS_VM_ACCEL", raising=False)
    monkeypatch.setattr(accel.os, "access", lambda *_a: True)
    monkeypatch.setattr(accel, "_test_boot", lambda *_a: (False, "the guest crashed"))
    decision = accel.probe(_image(tmp_path), tmp_path)
    assert decision.virt_type == "qemu" and "crashed" in decision.reason
    monkeypatch.setattr(accel, "_test_boot", lambda *_a: (True, "agent up in 3.1s"))
    assert accel.probe(_image(tmp_path), tmp_path).virt_type == "kvm"


def test_vm_nodes_get_enough_memory_and_their_disks() -> None:
    loaded = load_scenario(REPO / "scenarios/ccp1/ajout-disque-donnees/scenario.yaml")
    plan = make_plan(loaded.scenario, "abc123")
    srv1 = plan.node("srv1")
    assert srv1.engine == "vm" and srv1.image_form == "disk"
    assert srv1.memory_mib >= VM_MIN_MEMORY
    assert [(d.name, d.size_mib) for d in srv1.disks] == [("data", 1024)]
    assert srv1.disk_limit_mib is None and srv1.boot_timeout == VM_BOOT_TIMEOUT
    assert plan.node("pc1").memory_mib < VM_MIN_MEMORY  # containers keep their small default
    assert plan.node("pc1").boot_timeout == BOOT_TIMEOUT


class _Fake:
    def __init__(self, label: str) -> None:
        self.label = label
        self.calls: list[tuple[str, str]] = []

    def create(self, spec: NodeSpec) -> None:
        self.calls.append(("create", spec.name))

    def state(self, node: str) -> NodeState:
        self.calls.append(("state", node))
        return NodeState.RUNNING

    def nodes(self) -> list[str]:
        return [f"{self.label}-node"]


def test_lab_engine_sends_each_node_to_its_engine(tmp_path: Path) -> None:
    engine = LabEngine("abc123", data=tmp_path)
    lxc, vm = _Fake("lxc"), _Fake("vm")
    engine._engines.update(container=lxc, vm=vm)  # type: ignore[dict-item]
    engine.create(_spec())  # engine: vm
    engine.create(_spec().model_copy(update={"name": "abc123-pc1", "engine": "container"}))
    assert vm.calls == [("create", "abc123-srv1")]
    assert lxc.calls == [("create", "abc123-pc1")]
    # Once created, a VM is known by its folder, in this process or any other.
    (tmp_path / "labs/abc123/vm/abc123-srv1").mkdir(parents=True)
    (tmp_path / "labs/abc123/vm/abc123-srv1/node.json").write_text("{}")
    engine.state("abc123-srv1")
    engine.state("abc123-pc1")
    assert vm.calls[-1] == ("state", "abc123-srv1")
    assert lxc.calls[-1] == ("state", "abc123-pc1")
    assert engine.nodes() == ["abc123-pc1", "abc123-srv1"]
    # Another process knows each node by the folder its engine recorded it in, and builds
    # no engine to find out (a container-only host needs no libvirt).
    (tmp_path / "labs/abc123/lxc/abc123-pc1").mkdir(parents=True)
    (tmp_path / "labs/abc123/lxc/abc123-pc1/node.json").write_text("{}")
    other = LabEngine("abc123", data=tmp_path)
    assert other.owner("abc123-pc1") == "container" and other.owner("abc123-srv1") == "vm"
    assert other.nodes() == ["abc123-pc1", "abc123-srv1"]
    assert other.state("abc123-gone") is NodeState.ABSENT and other._engines == {}


def test_windows_settings_go_on_stdin_and_the_script_is_a_constant() -> None:
    """No Windows can run here: checks what the engine sends through the guest agent."""
    import base64
    import json

    from tai_labs.providers.windows_guest import CONFIGURE, configure_command

    spec = _spec().model_copy(update={"hostname": "poste-07"})
    argv, stdin = configure_command(spec)
    assert argv[:4] == ["powershell.exe", "-NoProfile", "-NonInteractive", "-EncodedCommand"]
    assert base64.b64decode(argv[4]).decode("utf-16-le") == CONFIGURE
    assert "poste-07" not in " ".join(argv) and "10.0.0.5" not in CONFIGURE
    settings = json.loads(stdin)
    assert settings["hostname"] == "poste-07"
    eth0, eth1 = settings["nics"]
    assert eth0["name"] == "eth0" and "gateway" not in eth0 and "dns" not in eth0
    assert eth1 == {
        "name": "eth1",
        "mac": eth1["mac"],
        "dhcp": False,
        "ip": "10.0.0.5",
        "prefix": 24,
        "gateway": "10.0.0.1",
        "dns": ["10.0.0.2"],
    }
    assert eth1["mac"].count("-") == 5 and eth1["mac"] == eth1["mac"].upper()
