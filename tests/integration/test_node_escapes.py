"""Known ways out of a container, tried as root in an unprivileged node: each one must fail.

One disposable lab of one node (the base image), unprivileged (the default, forced here with
``TAI_LABS_UNPRIVILEGED=1`` in case the host's environment opts out). Every test runs one
attempt through the lab's exec channel, asserts that it failed for the expected reason, and
reads the host's own value before and after to show nothing changed. The attempts would
succeed, and change the host, on a privileged node: the lab fixture refuses to run them
unless the node's uid map shows a user namespace.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import Lab
from tai_labs.providers.base import ExecResult
from tai_labs.providers.lxc import UNPRIVILEGED_ENV
from tai_labs.roles.ad_dc import is_initial_uid_map

#: Tools the attempts use inside the node; a missing one would make a failure meaningless.
NODE_TOOLS = ("python3", "perl", "nsenter", "mount", "mknod", "ip", "sh")
EPERM = 1
ESRCH = 3
#: What the kernel answers when the node's root lacks the right (as the tools word it).
DENIED = r"permission denied|operation not permitted|read-only file system"


@pytest.fixture(scope="module")
def node(make_lab: Callable[..., Lab]) -> Iterator[tuple[Lab, str]]:
    previous = os.environ.get(UNPRIVILEGED_ENV)
    os.environ[UNPRIVILEGED_ENV] = "1"
    try:
        lab = make_lab()
    finally:
        if previous is None:
            os.environ.pop(UNPRIVILEGED_ENV)
        else:
            os.environ[UNPRIVILEGED_ENV] = previous
    name = lab.add_node("esc", {"lan": "192.168.77.10/24"})
    uid_map = lab.engine.exec(name, ["cat", "/proc/1/uid_map"]).stdout
    if is_initial_uid_map(uid_map):
        pytest.fail(f"{name} is privileged (uid map {uid_map.split()}): not trying escapes")
    missing = lab.engine.exec(name, ["sh", "-c", f"for t in {' '.join(NODE_TOOLS)}; do "
                                     'command -v "$t" >/dev/null || echo "$t"; done'])  # fmt: skip
    assert missing.stdout.split() == [], f"the node lacks {missing.stdout.split()}"
    yield lab, name
    lab.engine.destroy(name)


def attempt(node: tuple[Lab, str], script: str, stdin: bytes | None = None) -> ExecResult:
    lab, name = node
    return lab.engine.exec(name, ["sh", "-c", script], input=stdin, timeout=30)


def syscalls_in_node(node: tuple[Lab, str], code: str) -> list[int]:
    """Run Perl in the node (the image's Python has no ctypes); it prints integers."""
    lab, name = node
    result = lab.engine.exec(name, ["perl", "-e", code], timeout=30)
    assert result.rc == 0, result.stderr
    return [int(word) for word in result.stdout.split()]


def refused(result: ExecResult, because: str = DENIED) -> bool:
    """The attempt failed, for the reason given (not a missing tool or a typo)."""
    return result.rc != 0 and re.search(because, result.stderr, re.IGNORECASE) is not None


def host_read(path: str) -> str:
    return Path(path).read_text()


def test_fresh_proc_mount_cannot_write_a_host_global_sysctl(node: tuple[Lab, str]) -> None:
    # vm.overcommit_ratio is one value for the whole host (not per namespace).
    sysctl = "/proc/sys/vm/overcommit_ratio"
    before = host_read(sysctl)
    wanted = str(int(before) + 7)
    through_fresh_proc = attempt(
        node,
        f"mkdir -p /tmp/freshproc && mount -t proc proc /tmp/freshproc && "
        f"echo {wanted} > /tmp/freshproc/sys/vm/overcommit_ratio",
    )
    through_node_proc = attempt(node, f"echo {wanted} > {sysctl}")
    attempt(node, "umount /tmp/freshproc")
    assert refused(through_fresh_proc), through_fresh_proc
    assert refused(through_node_proc), through_node_proc
    assert host_read(sysctl) == before


def test_core_pattern_cannot_be_written(node: tuple[Lab, str]) -> None:
    # A piped core_pattern runs its program as root on the host at the next crash.
    path = "/proc/sys/kernel/core_pattern"
    before = host_read(path)
    direct = attempt(node, f"echo '|/tmp/escape %p' > {path}")
    fresh = attempt(
        node,
        "mkdir -p /tmp/freshproc2 && mount -t proc proc /tmp/freshproc2 && "
        "echo '|/tmp/escape %p' > /tmp/freshproc2/sys/kernel/core_pattern",
    )
    attempt(node, "umount /tmp/freshproc2")
    assert refused(direct), direct
    assert refused(fresh), fresh
    assert host_read(path) == before


def _host_release_agents() -> dict[str, str]:
    found: dict[str, str] = {}
    for agent in Path("/sys/fs/cgroup").glob("*/release_agent"):
        notify = agent.parent / "notify_on_release"
        found[str(agent)] = agent.read_text() + "|" + notify.read_text()
    return found


def test_cgroup_v1_release_agent_cannot_be_set(node: tuple[Lab, str]) -> None:
    # The CVE-2022-0492 path: a v1 hierarchy's release_agent runs as root on the host.
    before = _host_release_agents()
    tries = {
        "new named hierarchy": "mkdir -p /tmp/cg1 && mount -t cgroup -o none,name=taiescape "
        "cgroup /tmp/cg1 && echo 1 > /tmp/cg1/notify_on_release && "
        "echo /tmp/escape > /tmp/cg1/release_agent",
        "existing memory hierarchy": "mkdir -p /tmp/cg2 && mount -t cgroup -o memory cgroup "
        "/tmp/cg2 && echo /tmp/escape > /tmp/cg2/release_agent",
        "the node's own cgroup mount": "echo /tmp/escape > /sys/fs/cgroup/memory/release_agent",
    }
    results = {what: attempt(node, script) for what, script in tries.items()}
    attempt(node, "umount /tmp/cg1; umount /tmp/cg2")
    for what, result in results.items():
        assert refused(result), (what, result)
    assert _host_release_agents() == before


def test_host_root_block_device_cannot_be_mounted_or_read(node: tuple[Lab, str]) -> None:
    st = os.stat("/")
    major, minor = os.major(st.st_dev), os.minor(st.st_dev)
    mounts_before = host_read("/proc/self/mountinfo").count(f" {major}:{minor} ")
    source, fstype = subprocess.run(
        ["findmnt", "-n", "-o", "SOURCE,FSTYPE", "/"], capture_output=True, text=True, check=True
    ).stdout.split()[:2]
    made = attempt(node, f"mknod /tmp/hostdisk b {major} {minor}")
    # The host's root file system by its own device path and type (the node's /dev has no
    # such node, but mount(2) decides on the type first: a disk file system is refused).
    mounted = attempt(node, f"mkdir -p /tmp/hostroot && mount -t {fstype} {source} /tmp/hostroot")
    # Whatever device nodes the node has: none of them opens a host disk.
    any_disk = attempt(
        node,
        'for d in $(find /dev -type b 2>/dev/null); do head -c 1 "$d" >/dev/null 2>&1 && '
        'echo "$d"; done | grep .',
    )
    attempt(node, "umount /tmp/hostroot; rm -f /tmp/hostdisk")
    assert refused(made), made
    assert refused(mounted), mounted
    assert any_disk.rc != 0, any_disk.stdout
    assert host_read("/proc/self/mountinfo").count(f" {major}:{minor} ") == mounts_before


def test_kernel_module_cannot_be_loaded(node: tuple[Lab, str]) -> None:
    loaded_before = sorted(os.listdir("/sys/module"))
    # The capability check comes before the module is parsed: a privileged root would get
    # ENOEXEC for these bytes, an unprivileged one EPERM. The image has no kmod (insmod,
    # modprobe): the node makes the two system calls they use.
    attempt(node, "cat > /tmp/escape.ko", stdin=b"\x7fELF" + b"\0" * 60)
    results = syscalls_in_node(
        node,
        'open(my $fh, "<", "/tmp/escape.ko") or die; my $none = ""; '
        'print syscall(313, fileno($fh), $none, 0), " ", $!+0, "\\n"; '  # finit_module
        'my $image = "\\x7fELF" . ("\\0" x 60); my $args = ""; '
        'print syscall(175, $image, 64, $args), " ", $!+0, "\\n";',  # init_module
    )
    assert results == [-1, EPERM, -1, EPERM]
    assert sorted(os.listdir("/sys/module")) == loaded_before


def test_ptrace_of_a_host_process_fails(node: tuple[Lab, str]) -> None:
    marker = "86399.4711"  # an argument no node process has
    host_proc = subprocess.Popen(["sleep", marker])
    try:
        pid = host_proc.pid
        # The pattern does not match its own text: grep and sh do not find themselves.
        pattern = marker.replace(".", "[.]")
        seen = attempt(node, f"grep -l '{pattern}' /proc/[0-9]*/cmdline")
        rc, errno = syscalls_in_node(
            node,
            f'print syscall(101, 16, {pid}, 0, 0), " ", $!+0, "\\n";',  # PTRACE_ATTACH
        )
        assert seen.rc != 0, f"the host process shows in the node: {seen.stdout}"
        # ESRCH: the pid does not exist in the node; EPERM if a node process has it.
        assert rc == -1 and errno in (ESRCH, EPERM), (rc, errno)
        status = host_read(f"/proc/{pid}/status")
        assert "TracerPid:\t0" in status
        assert host_proc.poll() is None  # still running, not stopped by a tracer
    finally:
        host_proc.kill()
        host_proc.wait()


def test_nsenter_into_the_hosts_namespaces_fails(node: tuple[Lab, str]) -> None:
    host_ns = {ns: os.readlink(f"/proc/self/ns/{ns}") for ns in ("net", "mnt", "pid", "user")}
    # nsenter -t 1 from the node reaches the node's own init, never the host's.
    entered = attempt(
        node,
        "nsenter -t 1 -n -m -p -- sh -c 'for n in net mnt pid user; do "
        'echo "$n $(readlink /proc/self/ns/$n)"; done\'',
    )
    assert entered.rc == 0, entered.stderr
    node_ns = dict(line.split(" ", 1) for line in entered.stdout.splitlines())
    for ns, ident in host_ns.items():
        assert node_ns[ns] != ident, f"the node's pid 1 shares the host's {ns} namespace"
    # A host process's namespaces by path: its pid is not in the node's /proc.
    by_path = attempt(node, f"nsenter --net=/proc/{os.getpid()}/ns/net -- true")
    assert refused(by_path, "No such file|" + DENIED), by_path


def test_raw_access_to_the_host_network_fails(node: tuple[Lab, str]) -> None:
    lab, _ = node
    host_links = subprocess.run(
        ["ip", "-o", "link", "show"], capture_output=True, text=True, check=True
    ).stdout
    uplink = subprocess.run(
        ["ip", "-o", "route", "show", "default"], capture_output=True, text=True, check=True
    ).stdout.split()
    host_names = {lab.net.mgmt_bridge, *lab.net.bridges.values()}
    if "dev" in uplink:
        host_names.add(uplink[uplink.index("dev") + 1])
    host_macs = {
        words[words.index("link/ether") + 1]
        for words in (line.split() for line in host_links.splitlines())
        if "link/ether" in words and not words[1].startswith(("veth", "tl"))
    }
    # Interfaces a raw (AF_PACKET) socket could bind to: the node's own only.
    seen = attempt(
        node, "ip -o link show; python3 -c 'import socket; print(socket.if_nameindex())'"
    )
    assert seen.rc == 0, seen.stderr
    for mac in host_macs:
        assert mac not in seen.stdout, f"host MAC {mac} visible in the node"
    bridge = lab.net.mgmt_bridge
    state_before = Path(f"/sys/class/net/{bridge}/operstate").read_text()
    down = attempt(node, f"ip link set dev {bridge} down")
    raw = attempt(
        node,
        'python3 -c "import socket; s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); '
        f"s.bind(('{bridge}', 0))\"",
    )
    assert refused(down, "Cannot find device"), down
    assert refused(raw, "No such device"), raw
    assert Path(f"/sys/class/net/{bridge}/operstate").read_text() == state_before
