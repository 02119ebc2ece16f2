"""The LXC engine and lab networks on this host: boot, reach, isolate, snapshot, clean up."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import Lab
from tai_labs.images.builder import ImageBuilder
from tai_labs.locations import locations
from tai_labs.providers import cgroups, naming, network
from tai_labs.providers.base import NicSpec, NodeSpec, NodeState
from tai_labs.providers.cleanup import _processes_mentioning, cleanup_lab, known_labs
from tai_labs.providers.errors import ExecTimeoutError, NodeNotFoundError, NodeStateError
from tai_labs.providers.mounts import mounts_under


@pytest.fixture(scope="module")
def lab(make_lab: Callable[..., Lab]) -> Lab:
    """Two running nodes on one lab network (10.0.0.0/24) plus management."""
    lab = make_lab()
    lab.add_node("a", {"lan": "10.0.0.1/24"})
    lab.add_node("b", {"lan": "10.0.0.2/24"})
    return lab


def ping(lab: Lab, node: str, target: str) -> bool:
    return lab.engine.exec(lab.node_name(node), ["ping", "-c", "1", "-W", "1", target]).ok


def test_nodes_boot_systemd(lab: Lab) -> None:
    for short in ("a", "b"):
        node = lab.node_name(short)
        assert lab.engine.state(node) == NodeState.RUNNING
        assert lab.engine.exec(node, ["cat", "/proc/1/comm"]).stdout.strip() == "systemd"
        status = lab.engine.exec(node, ["systemctl", "is-system-running"]).stdout.strip()
        failed = lab.engine.exec(node, ["systemctl", "--failed", "--no-legend"]).stdout
        assert status == "running", failed
        assert lab.engine.exec(node, ["hostname"]).stdout.strip() == short


def test_nodes_have_their_own_identity(lab: Lab) -> None:
    a, b = lab.node_name("a"), lab.node_name("b")
    ids = {lab.engine.exec(n, ["cat", "/etc/machine-id"]).stdout for n in (a, b)}
    assert len(ids) == 2
    for node in (a, b):
        key = lab.engine.exec(node, ["cat", "/etc/ssh/ssh_host_ed25519_key.pub"]).stdout.split()[:2]
        assert key == lab.host_keys[node].split()[:2]


def test_memory_limit_applies(lab: Lab) -> None:
    limit = lab.engine.exec(
        lab.node_name("a"), ["cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]
    )
    if limit.ok:  # cgroup v1 hosts; v2 shows memory.max instead
        assert int(limit.stdout) == 256 * 1024 * 1024


def test_nodes_ping_each_other_on_the_lab_network(lab: Lab) -> None:
    assert ping(lab, "a", "10.0.0.2")
    assert ping(lab, "b", "10.0.0.1")


def test_host_reaches_nodes_by_ssh_on_management_only(lab: Lab) -> None:
    node = lab.node_name("a")
    res = lab.ssh(node, "hostname; cat /proc/1/comm")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["a", "systemd"]
    # The host has no address on lab networks: no route to 10.0.0.0/24.
    route = subprocess.run(["ip", "route", "get", "10.0.0.1"], capture_output=True, text=True)
    assert lab.net.bridges["lan"] not in route.stdout


def test_nodes_cannot_open_connections_to_the_host(lab: Lab) -> None:
    assert not ping(lab, "a", str(lab.net.host_ip))


def test_exec_input_rc_and_timeout(lab: Lab) -> None:
    node = lab.node_name("a")
    res = lab.engine.exec(node, ["cat"], input="hello; $(rm -rf /)\n")
    assert res.stdout == "hello; $(rm -rf /)\n"
    res = lab.engine.exec(node, ["sh", "-c", "echo oops >&2; exit 3"])
    assert (res.rc, res.stderr.strip()) == (3, "oops")
    with pytest.raises(ExecTimeoutError):
        lab.engine.exec(node, ["sleep", "30"], timeout=1)
    with pytest.raises(NodeNotFoundError):
        lab.engine.exec(lab.node_name("nope"), ["true"])


def test_exec_works_with_the_network_down(lab: Lab) -> None:
    node = lab.node_name("b")
    lab.engine.exec(node, ["ip", "link", "set", "eth1", "down"])
    lab.engine.exec(node, ["ip", "link", "set", "eth0", "down"])
    try:
        assert not ping(lab, "a", "10.0.0.2")
        res = lab.engine.exec(node, ["ip", "-br", "link", "show", "eth1"])
        assert res.ok and "DOWN" in res.stdout
    finally:
        lab.engine.exec(node, ["ip", "link", "set", "eth0", "up"])
        lab.engine.exec(node, ["ip", "link", "set", "eth1", "up"])
    lab.engine.exec(node, ["networkctl", "reconfigure", "eth0", "eth1"])
    assert lab.engine.exec(
        node, ["sh", "-c", "for i in $(seq 50); do ping -c1 -W1 10.0.0.1 && exit 0; done; exit 1"]
    ).ok


def test_a_capped_writable_layer_fills_up_without_touching_the_host(lab: Lab) -> None:
    node = lab.add_node("full", {"lan": "10.0.0.9/24"}, disk_limit_mib=96)
    layout = lab.engine.layout(node)
    host_free_before = shutil.disk_usage(layout.dir).free
    fill = lab.engine.exec(
        node, ["dd", "if=/dev/zero", "of=/var/tmp/junk", "bs=1M", "count=200"], timeout=60
    )
    assert fill.rc != 0 and "No space left on device" in fill.stderr
    df = lab.engine.exec(node, ["df", "--output=avail", "-B1M", "/"]).stdout.split()
    assert int(df[-1]) < 5  # the node sees its own disk full
    # Nothing spilled onto the host's file system beyond the sparse file's blocks.
    assert host_free_before - shutil.disk_usage(layout.dir).free < 130 * 2**20
    assert lab.engine.exec(node, ["rm", "/var/tmp/junk"]).ok
    lab.engine.destroy(node)
    assert not layout.dir.exists()
    assert str(layout.dir) not in Path("/proc/mounts").read_text()


def test_snapshot_and_revert(lab: Lab) -> None:
    node = lab.node_name("a")
    lab.engine.snapshot(node, "clean")
    lab.engine.exec(node, ["sh", "-c", "echo broken > /etc/motd.d-marker"])
    lab.engine.revert(node, "clean")
    assert lab.engine.state(node) == NodeState.RUNNING
    assert not lab.engine.exec(node, ["test", "-e", "/etc/motd.d-marker"]).ok
    assert lab.engine.list_snapshots(node) == ["clean"]
    # The seeded identity is part of the snapshot: the pinned key still works.
    assert lab.ssh(node, "true").returncode == 0


def test_revert_to_unknown_snapshot_fails(lab: Lab) -> None:
    from tai_labs.providers.errors import SnapshotNotFoundError

    with pytest.raises(SnapshotNotFoundError):
        lab.engine.revert(lab.node_name("b"), "never-taken")


def test_second_lab_with_same_subnet_is_isolated(lab: Lab, make_lab: Callable[..., Lab]) -> None:
    other = make_lab()
    assert other.net.mgmt_subnet != lab.net.mgmt_subnet
    other.add_node("c", {"lan": "10.0.0.3/24"})
    node = other.node_name("c")
    assert not ping(other, "c", "10.0.0.1")
    assert not ping(other, "c", "10.0.0.2")
    neigh = other.engine.exec(node, ["ip", "neigh", "show", "10.0.0.1"]).stdout
    assert "lladdr" not in neigh
    # Even with a route through the host, the first lab's management net is out of reach.
    other.engine.exec(
        node, ["ip", "route", "add", lab.net.mgmt_subnet, "via", str(other.net.host_ip)]
    )
    assert not ping(other, "c", lab.mgmt_ips[lab.node_name("a")])


def test_start_twice_is_refused(lab: Lab) -> None:
    with pytest.raises(NodeStateError):
        lab.engine.start(lab.node_name("a"))


def test_destroy_and_cleanup_leave_nothing(make_lab: Callable[..., Lab]) -> None:
    gone = make_lab()
    first = gone.add_node("x", {"lan": "10.9.0.1/24"})
    gone.add_node("y", {"lan": "10.9.0.2/24"})
    lxcpath = gone.engine.lxcpath
    gone.engine.destroy(first)
    assert gone.engine.state(first) == NodeState.ABSENT
    assert not (lxcpath / first).exists()
    assert not cgroups.dirs_of(naming.cgroup_container_dir(gone.lab_id, first))
    # The second node is left running, as after a crash; cleanup must find it from names.
    report = cleanup_lab(gone.lab_id)
    assert report.containers == [gone.node_name("y")]
    prefix = naming.if_prefix(gone.lab_id)
    assert not [link for link in network.list_links() if str(link["ifname"]).startswith(prefix)]
    assert gone.lab_id not in network.lab_nft_tables()
    assert not cgroups.dirs_of(naming.cgroup_lab_dir(gone.lab_id))
    assert not _processes_mentioning(str(lxcpath))
    assert not locations().lab(gone.lab_id).exists()
    # Only this lab's folder: running unprivileged nodes of other labs have host mounts.
    assert mounts_under(locations().lab(gone.lab_id)) == []
    assert gone.lab_id not in known_labs()
    # No zombie is left under the test process either.
    me = str(os.getpid())
    zombies = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _is_zombie_child(p, me)]
    assert zombies == []


def _is_zombie_child(proc: Path, parent: str) -> bool:
    try:
        fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] == "Z" and fields[1] == parent


def test_nic_spec_validation() -> None:
    with pytest.raises(ValueError, match="outside"):
        NicSpec.model_validate(
            {"bridge": "br", "name": "eth1", "address": "10.0.0.1/24", "gateway": "10.1.0.1"}
        )
    mgmt = {"bridge": "m", "name": "eth0", "address": "100.64.1.10/24", "gateway": "100.64.1.1"}
    with pytest.raises(ValueError, match="management NIC"):
        NodeSpec.model_validate({"name": "n", "hostname": "n", "image": "/x", "management": mgmt})


@pytest.mark.parametrize("role", ["ad-dc", "router", "switch", "client"])
def test_role_images_boot_clean(
    make_lab: Callable[..., Lab], builder: ImageBuilder, role: str
) -> None:
    lab = make_lab()
    lab.image = builder.build(role)
    node = lab.add_node(role, {"lan": "10.5.0.1/24"})
    status = lab.engine.exec(node, ["systemctl", "is-system-running"]).stdout.strip()
    failed = lab.engine.exec(node, ["systemctl", "--failed", "--no-legend"]).stdout
    assert status == "running", failed
    if role == "router":
        users = lab.engine.exec(node, ["ps", "-o", "user=", "-C", "zebra"]).stdout.split()
        assert users == ["frr"]
    cleanup_lab(lab.lab_id)


def test_nat_is_off_by_default_and_opt_in(lab: Lab) -> None:
    table = naming.nft_table(lab.lab_id)
    rules = subprocess.run(["nft", "list", "table", "inet", table], capture_output=True, text=True)
    assert rules.returncode == 0 and "masquerade" not in rules.stdout
    forward = Path("/proc/sys/net/ipv4/ip_forward")
    before = forward.read_text()
    lab_id = naming.new_lab_id()
    try:
        net = network.create_lab_network(lab_id, ["lan"], nat=True)
        rules = subprocess.run(
            ["nft", "list", "table", "inet", naming.nft_table(lab_id)],
            capture_output=True,
            text=True,
        )
        assert f"ip saddr {net.mgmt_subnet}" in rules.stdout and "masquerade" in rules.stdout
        mgmt_fwd = Path(f"/proc/sys/net/ipv4/conf/{net.mgmt_bridge}/forwarding").read_text()
        assert mgmt_fwd.strip() == "1"
        lan_fwd = Path(f"/proc/sys/net/ipv4/conf/{net.bridges['lan']}/forwarding").read_text()
        assert lan_fwd.strip() == "0"
    finally:
        cleanup_lab(lab_id)
        forward.write_text(before)
