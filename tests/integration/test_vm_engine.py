"""The libvirt VM engine against real QEMU: create, boot, exec, SSH, disks, snapshots, destroy.

One VM of the `base` image is booted for the module (under TCG here: 20-60 s) beside one
container on the same lab bridge. Skips without libvirtd, QEMU or the libvirt bindings.
"""

from __future__ import annotations

import ipaddress
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Lab, skip_unless_host
from tai_labs.providers.base import DiskSpec, NicSpec, NodeSpec, NodeState
from tai_labs.providers.errors import ExecTimeoutError

pytestmark = pytest.mark.integration


def _skip_without_libvirt() -> None:
    skip_unless_host("qemu-img", "genisoimage")
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("needs qemu-system-x86 (make install)")
    pytest.importorskip("libvirt", reason="needs libvirt-python (pip install -e '.[vm]')")
    from tai_labs.providers.libvirt_conn import daemon_running

    if not daemon_running():
        pytest.skip("needs libvirtd running (scripts/start-libvirt.sh)")


@pytest.fixture(scope="module")
def vm_lab(make_lab: Any) -> Iterator[tuple[Lab, Any, str]]:
    _skip_without_libvirt()
    from tai_labs.images.vm import build_vm_image
    from tai_labs.providers.libvirt_vm import LibvirtEngine

    image = build_vm_image("base")
    lab: Lab = make_lab(("lan",))
    engine = LibvirtEngine(lab.lab_id)
    name = lab.node_name("vm1")
    number = 9
    spec = NodeSpec(
        name=name,
        hostname="vm1",
        image=image.disk.parent,
        boot=image.boot(),
        engine="vm",
        number=number,
        memory_mib=512,
        disks=(DiskSpec(name="data", size_mib=256),),
        management=NicSpec(
            bridge=lab.net.mgmt_bridge, name="eth0", address=lab.net.node_mgmt_address(number)
        ),
        nics=(
            NicSpec(
                bridge=lab.net.bridges["lan"],
                name="eth1",
                address=ipaddress.IPv4Interface("10.77.0.9/24"),
            ),
        ),
        authorized_keys=(lab.public_key,),
    )
    created = engine.create(spec)
    assert engine.state(name) is NodeState.STOPPED
    lab.host_keys[name] = created.host_key
    lab.mgmt_ips[name] = str(lab.net.node_mgmt_address(number).ip)
    started = time.monotonic()
    engine.start(name, timeout=240)
    print(f"VM define-to-ready: {time.monotonic() - started:.1f} s")
    yield lab, engine, name
    engine.destroy(name)


def test_the_vm_is_named_and_wired_as_planned(vm_lab: tuple[Lab, Any, str]) -> None:
    lab, engine, name = vm_lab
    res = engine.exec(name, ["sh", "-c", "hostname; ip -br -4 addr show"])
    assert res.ok, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "vm1"
    addrs = {line.split()[0]: line.split()[2] for line in lines[1:] if len(line.split()) > 2}
    assert addrs["eth0"] == f"{lab.mgmt_ips[name]}/24"
    assert addrs["eth1"] == "10.77.0.9/24"
    # The management tap is an isolated bridge port (mgmt_guard); the lab NIC's is not.
    from tai_labs.providers import mgmt_guard, naming

    assert mgmt_guard.port_isolated(naming.veth_name(lab.lab_id, 9, 0)) is True
    assert mgmt_guard.port_isolated(naming.veth_name(lab.lab_id, 9, 1)) is False


def test_ssh_with_the_host_key_made_on_the_host(vm_lab: tuple[Lab, Any, str]) -> None:
    lab, engine, name = vm_lab
    # The config disk carries the node's private host key: owner-only, as the key itself.
    assert stat.S_IMODE(engine.layout(name).config_iso.stat().st_mode) == 0o600
    out = lab.ssh(name, "cat /etc/hostname")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "vm1"


def test_qemu_runs_unprivileged_and_cannot_read_the_labs_secrets(
    vm_lab: tuple[Lab, Any, str],
) -> None:
    """A guest escape lands in QEMU: it must not be root, nor able to read the lab's keys."""
    lab, _, name = vm_lab
    from tai_labs.providers.qemu_identity import check_unprivileged

    who = check_unprivileged(name)
    assert who.user == "libvirt-qemu", who
    assert 0 not in who.uids and 0 not in who.gids and who.cap_prm == 0
    # As QEMU's user, the lab's SSH private key (0600, root) and the lab folder's listing
    # are refused; its own disks stay reachable (the engine's traversal-only folders).
    as_qemu = ["setpriv", f"--reuid={who.uid}", f"--regid={who.gid}", "--clear-groups", "--"]
    key = subprocess.run([*as_qemu, "cat", str(lab.key_path)], capture_output=True, text=True)
    assert key.returncode != 0 and "Permission denied" in key.stderr, key
    listing = subprocess.run(
        [*as_qemu, "ls", str(lab.key_path.parent)], capture_output=True, text=True
    )
    assert listing.returncode != 0 and "Permission denied" in listing.stderr, listing


def test_a_container_and_the_vm_share_the_lab_bridge(vm_lab: tuple[Lab, Any, str]) -> None:
    lab, _, _ = vm_lab
    pc = lab.add_node("pc1", {"lan": "10.77.0.51/24"})
    res = lab.engine.exec(pc, ["ping", "-c", "1", "-W", "5", "10.77.0.9"])
    assert res.ok, res.stdout + res.stderr


def test_exec_passes_input_and_exit_codes_and_stops_at_its_timeout(
    vm_lab: tuple[Lab, Any, str],
) -> None:
    _, engine, name = vm_lab
    res = engine.exec(name, ["sh", "-c", "cat; exit 3"], input="données\n")
    assert (res.rc, res.stdout) == (3, "données\n")
    started = time.monotonic()
    with pytest.raises(ExecTimeoutError):
        engine.exec(name, ["sleep", "30"], timeout=2)
    assert time.monotonic() - started < 15


def test_exec_works_with_every_nic_down(vm_lab: tuple[Lab, Any, str]) -> None:
    _, engine, name = vm_lab
    assert engine.exec(name, ["ip", "link", "set", "eth1", "down"]).ok
    res = engine.exec(name, ["cat", "/sys/class/net/eth1/operstate"])
    assert res.stdout.strip() == "down"
    assert engine.exec(name, ["ip", "link", "set", "eth1", "up"]).ok


def test_the_blank_disk_is_there_for_the_candidate(vm_lab: tuple[Lab, Any, str]) -> None:
    _, engine, name = vm_lab
    res = engine.exec(name, ["lsblk", "-bdno", "NAME,SIZE,SERIAL,FSTYPE", "/dev/vdb"])
    assert res.stdout.split() == ["vdb", str(256 * 2**20), "data"]


def test_revert_restores_disk_and_memory_and_sets_the_clock(
    vm_lab: tuple[Lab, Any, str],
) -> None:
    _, engine, name = vm_lab
    engine.snapshot(name, "avant")
    assert "avant" in engine.list_snapshots(name)
    assert engine.exec(name, ["touch", "/root/apres"]).ok
    time.sleep(3)
    engine.revert(name, "avant")
    assert engine.state(name) is NodeState.RUNNING
    assert not engine.exec(name, ["test", "-e", "/root/apres"]).ok
    guest = int(engine.exec(name, ["date", "+%s"]).stdout)
    assert abs(guest - time.time()) < 3


def test_destroy_leaves_no_domain_disk_or_tap(make_lab: Any) -> None:
    _skip_without_libvirt()
    from tai_labs.images.vm import build_vm_image
    from tai_labs.providers.libvirt_conn import connect
    from tai_labs.providers.libvirt_vm import LibvirtEngine, lab_domains

    image = build_vm_image("base")
    lab: Lab = make_lab(("lan",))
    engine = LibvirtEngine(lab.lab_id)
    name = lab.node_name("gone")
    spec = NodeSpec(
        name=name,
        hostname="gone",
        image=image.disk.parent,
        boot=image.boot(),
        engine="vm",
        management=NicSpec(
            bridge=lab.net.mgmt_bridge, name="eth0", address=lab.net.node_mgmt_address(1)
        ),
    )
    engine.create(spec)
    # Started but not waited for: destroy must also take down a VM that is still booting.
    engine.start(name, wait=False)
    folder = engine.layout(name).dir
    assert lab_domains(lab.lab_id) == [name]
    engine.destroy(name)
    assert lab_domains(lab.lab_id) == []
    assert not folder.exists()
    assert name not in [d.name() for d in connect().listAllDomains()]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f"tl{lab.lab_id}n" not in links


def test_clock_skew_fault_on_a_vm_survives_a_revert_to_its_snapshot(
    vm_lab: tuple[Lab, Any, str],
) -> None:
    """linux.clock_skew needs a VM (a container shares the host's clock): proven here."""
    from tai_labs.context import NodeContext
    from tai_labs.faults.base import FAULTS
    from tai_labs.scenario.loader import load_scenario
    from tai_labs.scenario.model import Node, NodeKind

    lab, engine, name = vm_lab
    loaded = load_scenario(
        Path(__file__).resolve().parents[1] / "e2e" / "scenarios" / "vm-mixte" / "scenario.yaml"
    )
    ctx = NodeContext(
        lab_id=lab.lab_id,
        node=Node(name="vm1", kind=NodeKind.LINUX_SERVER, engine="vm"),
        scenario=loaded.scenario,
        variables=loaded.variables,
        exec=lambda argv, input, timeout: engine.exec(name, argv, input=input, timeout=timeout),
        mgmt_address=ipaddress.IPv4Address(lab.mgmt_ips[name]),
    )
    fault = FAULTS.get("linux.clock_skew")()
    params = fault.Params(minutes=30)
    assert not fault.in_place(ctx, params)
    fault.inject(ctx, params)
    assert fault.in_place(ctx, params)
    skew = int(engine.exec(name, ["date", "+%s"]).stdout) - time.time()
    fault.inject(ctx, params)  # twice: no second shift
    again = int(engine.exec(name, ["date", "+%s"]).stdout) - time.time()
    assert 29 * 60 <= skew <= 31 * 60 and abs(again - skew) < 5

    engine.snapshot(name, "decale")
    time.sleep(2)
    engine.revert(name, "decale")
    after = int(engine.exec(name, ["date", "+%s"]).stdout) - time.time()
    assert abs(after - skew) < 5, "the revert kept the fault's shift, and only it"
    # Put the clock right for the other tests of the module.
    engine.exec(name, ["date", "-s", f"@{int(time.time())}"])


def test_a_disk_without_a_pinned_key_is_adopted_through_the_agent(
    vm_lab: tuple[Lab, Any, str],
) -> None:
    """What an imported disk gets at boot: the lab key authorized, its host key learnt.

    Shown on this VM with its pinned key forgotten: the key learnt through the agent must be
    the one the config disk installed, and the lab's key must be authorized once only.
    """
    import json

    lab, engine, name = vm_lab
    meta_file = engine.layout(name).meta
    meta = json.loads(meta_file.read_text())
    pinned = meta["host_key"]
    meta["host_key"] = ""
    meta_file.write_text(json.dumps(meta))
    # As a new `up` would see it: an engine that reads the node from disk.
    fresh = type(engine)(lab.lab_id)
    fresh.wait_booted(name, timeout=60)
    learnt = fresh.host_key(name)
    assert learnt.split()[:2] == pinned.split()[:2]
    assert json.loads(meta_file.read_text())["host_key"] == learnt  # kept for later runs
    keys = engine.exec(name, ["cat", "/root/.ssh/authorized_keys"]).stdout.splitlines()
    assert keys.count(lab.public_key) == 1
