"""LXC engine: system containers on an overlay of a built image, one LXC path per lab.

Layout: ``<data>/labs/<lab>/lxc/<node>/`` holds the LXC config, the overlay upper layer
(``delta0``), its snapshots and logs. Containers run under ``lxc-start -F`` as children of
the tool, so no daemonised monitor is left to an init that does not reap it.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tai_labs.bounded_output import run_capped
from tai_labs.locations import locations
from tai_labs.providers import cgroups, mgmt_guard, naming, userns
from tai_labs.providers.base import (
    NODE_ENV,
    CreatedNode,
    Engine,
    ExecResult,
    HostView,
    NodeSpec,
    NodeState,
    VmBoot,
    register_engine,
)
from tai_labs.providers.engine_common import (
    check_snapshot_name,
    free_number,
    raise_if_timed_out,
    recorded,
    tail,
    wait_for_systemd,
    with_guest_timeout,
)
from tai_labs.providers.errors import (
    EngineError,
    ExecTimeoutError,
    NodeStartError,
    NodeStateError,
    SnapshotNotFoundError,
)
from tai_labs.providers.hostcmd import require_root, require_tools, run
from tai_labs.providers.keys import generate_ed25519
from tai_labs.providers.lxc_config import NodeLayout, render_config
from tai_labs.providers.mounts import safe_rmtree, unmount_tree
from tai_labs.providers.overlay_diff import LayerPair
from tai_labs.providers.reaper import become_subreaper, reap_orphans
from tai_labs.providers.rootfs import (
    IDENTITY,
    IdMap,
    OverlayTree,
    UnsupportedOverlay,
    mounted_overlay_layers,
)
from tai_labs.providers.seed import seed_upper

#: An operator's interactive console (``tai-labs console``) keeps a usual root shell.
CONSOLE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "USER": "root",
}
#: Container nodes are unprivileged (in a user namespace of their lab's own id range, see
#: providers.userns) unless this is "0": the way out on a host without idmapped mounts.
#: Read when a node is created; the node records its mode for every later command.
UNPRIVILEGED_ENV = "TAI_LABS_UNPRIVILEGED"

_LXC_STATES = {
    "STOPPED": NodeState.STOPPED,
    "STARTING": NodeState.STARTING,
    "RUNNING": NodeState.RUNNING,
    "FROZEN": NodeState.FROZEN,
    "FREEZING": NodeState.FROZEN,
    "THAWED": NodeState.RUNNING,
    "STOPPING": NodeState.STOPPING,
    "ABORTING": NodeState.STOPPING,
}


@register_engine
class LxcEngine(Engine):
    name = "container"
    image_form = "rootfs"  # lower layer of the node's overlay
    own_kernel = False
    nodes_folder = "lxc"

    def __init__(
        self,
        lab_id: str,
        *,
        data: Path | None = None,
        probe_image: Callable[[], VmBoot] | None = None,
        subreaper: bool = False,
    ) -> None:
        """subreaper: also adopt orphans of the monitors (see providers.reaper).

        Off by default: with ``lxc-start -F`` nothing is orphaned, and a subreaper adopts
        processes that lxc-attach leaves inside a node, which then block the node's
        shutdown until reaped (the engine reaps them while stopping when this is on).
        """
        require_root("running LXC nodes")
        require_tools("lxc-start", "lxc-attach", "lxc-info", "lxc-stop", "lxc-freeze")
        super().__init__(naming.check_lab_id(lab_id), data=data, probe_image=probe_image)
        self.lxcpath = locations(data).lab(lab_id) / self.nodes_folder
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._subreaper = subreaper and become_subreaper()
        self.unprivileged = os.environ.get(UNPRIVILEGED_ENV, "1") != "0"

    # -- helpers -------------------------------------------------------------------------

    def layout(self, node: str) -> NodeLayout:
        return NodeLayout(self.lxcpath / naming.check_node_name(node))

    def _existing(self, node: str) -> NodeLayout:
        return recorded(self.layout(node), f"no node {node!r} in lab {self.lab_id}")

    def _lxc(self, tool: str, node: str, *args: str) -> list[str]:
        return [tool, "-P", str(self.lxcpath), "-n", node, *args]

    def meta(self, node: str) -> dict[str, object]:
        """What create() recorded: number, host key, spec."""
        return json.loads(self._existing(node).meta.read_text())

    def nodes(self) -> list[str]:
        return self.recorded(self.lxcpath.parent)

    # -- lifecycle -------------------------------------------------------------------------

    def create(self, spec: NodeSpec) -> CreatedNode:
        layout = self.layout(spec.name)
        if layout.dir.exists():
            raise EngineError(f"node {spec.name!r} already exists in lab {self.lab_id}")
        if not (spec.image / "etc/os-release").exists():
            raise EngineError(f"{spec.image} is not an image tree (no etc/os-release)")
        self.lxcpath.mkdir(parents=True, exist_ok=True)
        if spec.engine != self.name:
            raise EngineError(f"node {spec.name!r} is a {spec.engine}, not a {self.name}")
        if spec.disks:
            raise EngineError(
                f"node {spec.name!r}: extra disks need a VM node (containers share the host's)"
            )
        number = spec.number or free_number(self.lab_id, map(self.meta, self.nodes()))
        idmap = (
            userns.lab_range(locations(self.data).labs, self.lxcpath) if self.unprivileged else None
        )
        layout.dir.mkdir(mode=0o700)
        try:
            if spec.disk_limit_mib is not None:
                _make_capped_disk(layout, spec.disk_limit_mib)
            host_key = generate_ed25519(f"root@{spec.hostname}")
            seed_upper(spec, layout.upper, host_key)
            if idmap is not None:
                userns.shift_tree(layout.upper, idmap)
                for folder in (self.lxcpath.parent, layout.dir):
                    userns.grant_traverse(folder, idmap)
                if spec.tun:
                    userns.make_tun_node(layout.tun, idmap)
            layout.snapshots.mkdir()
            layout.config.write_text(render_config(spec, self.lab_id, number, layout, idmap))
            meta = {
                "number": number,
                "host_key": host_key.public_line,
                "spec": spec.model_dump(mode="json"),
                "idmap": None if idmap is None else idmap.as_json(),
            }
            # Written last: a node dir without node.json is an unfinished create.
            layout.meta.write_text(json.dumps(meta, indent=2))
        except BaseException:
            safe_rmtree(layout.dir)
            raise
        return CreatedNode(spec.name, number, host_key.public_line, spec.management.address)

    def state(self, node: str) -> NodeState:
        layout = self.layout(node)
        if not layout.meta.is_file():
            return NodeState.ABSENT
        proc = run(self._lxc("lxc-info", node, "-s", "-H"), check=False)
        text = proc.stdout.decode().strip()
        return _LXC_STATES.get(text, NodeState.STOPPED)

    def start(self, node: str, *, wait: bool = True, timeout: float = 60.0) -> None:
        layout = self._existing(node)
        if layout.capped:
            _mount_capped_disk(layout)  # after a host reboot the loop mount is gone
        if self.state(node) != NodeState.STOPPED:
            raise NodeStateError(f"node {node!r} is {self.state(node)}, not stopped")
        self._mount_rootfs(node, layout)
        deadline = time.monotonic() + timeout
        with open(layout.start_log, "ab") as log:
            # Foreground monitor as our child: it is reaped by us, never orphaned.
            proc = subprocess.Popen(
                self._lxc("lxc-start", node, "-F"),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        self._procs[node] = proc
        while self.state(node) != NodeState.RUNNING:
            if proc.poll() is not None or time.monotonic() > deadline:
                self._abort_start(node, proc)
                raise NodeStartError(
                    f"node {node!r} did not start:\n{tail(layout.start_log)}"
                    f"\n{tail(layout.lxc_log)}"
                )
            time.sleep(0.05)
        # The node's veths are new: isolate its management port again (mgmt_guard).
        mgmt_guard.isolate_port(self.lab_id, int(str(self.meta(node)["number"])))
        if wait:
            self.wait_booted(node, timeout=max(1.0, deadline - time.monotonic()))

    def _abort_start(self, node: str, proc: subprocess.Popen[bytes]) -> None:
        self._lxc_stop(node, ["-k"], 30)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self._procs.pop(node, None)
        self._unmount_rootfs(self.layout(node))

    def idmap(self, node: str) -> userns.IdRange | None:
        """The node's id range, or None for a privileged node."""
        recorded_map = self.meta(node).get("idmap")
        if not isinstance(recorded_map, dict):
            return None
        return userns.IdRange(int(recorded_map["base"]), int(recorded_map["size"]))

    def _mount_rootfs(self, node: str, layout: NodeLayout) -> None:
        """Unprivileged node: mount its root (overlay over the idmapped image) on the host.

        The host mounts it as real root, so overlayfs keeps its trusted.* metadata on the
        host's terms; LXC then only binds the result into the node's user namespace.
        """
        idmap = self.idmap(node)
        if idmap is None:
            return
        image = Path(str(self.meta(node)["spec"]["image"]))  # type: ignore[index]
        for folder in (layout.lower, layout.rootfs):
            folder.mkdir(mode=0o755, exist_ok=True)
        layout.workdir.mkdir(mode=0o700, exist_ok=True)  # overlayfs wants it to exist
        if not _is_mountpoint(layout.lower):
            userns.idmapped_bind(image, layout.lower, idmap)
        if not _is_mountpoint(layout.rootfs):
            options = f"lowerdir={layout.lower},upperdir={layout.upper},workdir={layout.workdir}"
            run(["mount", "-t", "overlay", "overlay", "-o", options, str(layout.rootfs)])

    def _unmount_rootfs(self, layout: NodeLayout) -> None:
        for folder in (layout.rootfs, layout.lower):
            if folder.is_dir():
                unmount_tree(folder)

    def wait_booted(self, node: str, *, timeout: float = 60.0) -> str:
        """Wait until systemd finished booting; return its state (running or degraded)."""
        return wait_for_systemd(self.exec, node, time.monotonic() + timeout)

    def stop(self, node: str, *, timeout: float = 20.0) -> None:
        self._existing(node)
        if self.state(node) not in (NodeState.STOPPED, NodeState.ABSENT):
            if self.state(node) == NodeState.FROZEN:
                run(self._lxc("lxc-unfreeze", node), check=False)
            clean = self._lxc_stop(node, ["-t", str(int(timeout))], timeout + 10)
            if not clean and self.state(node) != NodeState.STOPPED:
                self._lxc_stop(node, ["-k"], 30)
        self._reap(node)
        self._unmount_rootfs(self._existing(node))

    def _lxc_stop(self, node: str, args: list[str], timeout: float) -> bool:
        """Run lxc-stop; a subreaper must reap adopted node processes meanwhile or the
        node's PID namespace cannot finish dying (its zombies would have no one to reap them)."""
        proc = subprocess.Popen(
            self._lxc("lxc-stop", node, *args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while proc.poll() is None:
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                return False
            if self._subreaper:
                reap_orphans(keep=[proc.pid, *(p.pid for p in self._procs.values())])
            time.sleep(0.05)
        return proc.returncode == 0

    def _reap(self, node: str) -> None:
        proc = self._procs.pop(node, None)
        if proc is not None:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._subreaper:
            reap_orphans(keep=[p.pid for p in self._procs.values()])

    def destroy(self, node: str) -> None:
        layout = self.layout(node)
        if not layout.dir.exists():
            return
        if layout.meta.is_file() and self.state(node) not in (NodeState.STOPPED, NodeState.ABSENT):
            # The disk is thrown away: no need for a clean shutdown.
            if self.state(node) == NodeState.FROZEN:
                run(self._lxc("lxc-unfreeze", node), check=False)
            self._lxc_stop(node, ["-k"], 30)
        self._reap(node)
        for rel in (
            naming.cgroup_container_dir(self.lab_id, node),
            naming.cgroup_monitor_dir(self.lab_id, node),
        ):
            cgroups.kill_all(rel)
            cgroups.remove_tree(rel)
        cgroups.prune_empty_parents(naming.cgroup_container_dir(self.lab_id, node))
        safe_rmtree(layout.dir)

    # -- inside the node -----------------------------------------------------------------

    def _attach_argv(self, node: str, argv: Sequence[str], env: dict[str, str]) -> list[str]:
        cmd = self._lxc("lxc-attach", node, "--clear-env")
        for key, value in env.items():
            cmd += ["-v", f"{key}={value}"]
        return [*cmd, "--", *argv]

    def exec(
        self,
        node: str,
        argv: Sequence[str],
        *,
        input: str | bytes | None = None,
        timeout: float | None = 60.0,
    ) -> ExecResult:
        self._existing(node)
        if not argv:
            raise EngineError("exec needs a non-empty argv")
        if self.state(node) != NodeState.RUNNING:
            raise NodeStateError(f"node {node!r} is {self.state(node)}, not running")
        data = input.encode() if isinstance(input, str) else input
        inner = with_guest_timeout(argv, timeout)
        host_timeout = None if timeout is None else timeout + 10  # a backstop only
        started = time.monotonic()
        try:
            # Output kept to a bound per stream, the rest drained (bounded_output).
            proc = run_capped(
                self._attach_argv(node, inner, NODE_ENV),
                input=data,
                timeout=host_timeout,
                cwd="/",
            )
        except subprocess.TimeoutExpired as exc:
            raise ExecTimeoutError(f"{argv[0]} on {node} did not finish in {timeout}s") from exc
        raise_if_timed_out(argv, node, proc.rc, started, timeout)
        return ExecResult(
            proc.rc,
            proc.stdout.decode(errors="replace"),
            proc.stderr.decode(errors="replace"),
            proc.truncated,
        )

    def host_view(self, node: str) -> HostView | None:
        """The node's layers as its config mounts them, its init's id maps and pid.

        The config is the host's (the node cannot write it); the maps are the kernel's. None
        when the node is not running, or when overlayfs may write metacopy or redirect
        entries (this reader does not follow them): the caller then asks the node.
        """
        layout = self._existing(node)
        if any(_overlay_parameter(name) for name in ("metacopy", "redirect_dir")):
            return None
        proc = run(self._lxc("lxc-info", node, "-p", "-H"), check=False)
        text = proc.stdout.decode().strip()
        if proc.returncode != 0 or not text.isdigit():
            return None
        pid = int(text)
        layers = _rootfs_layers(layout.config.read_text())
        if layers is None:
            return None
        try:
            uids, gids = IdMap.of_process(pid, "uid"), IdMap.of_process(pid, "gid")
        except OSError:
            return None  # it stopped in between
        cgroup_dir = naming.cgroup_container_dir(self.lab_id, node)
        return HostView(OverlayTree(layers, uids, gids), pid, cgroup_dir)

    def snapshot_layers(self, node: str, name: str) -> LayerPair | str:
        """The upper layer kept by snapshot ``name`` and the current one, over the layers
        the node's config mounts (the host's own records, as ``host_view``)."""
        layout = self._existing(node)
        check_snapshot_name(name)
        snap = layout.snapshots / name
        if not snap.is_dir():
            return f"no {name} snapshot of this node"
        if any(_overlay_parameter(p) for p in ("metacopy", "redirect_dir")):
            return "overlayfs may write metacopy or redirect entries here"
        try:
            layers = _rootfs_layers(layout.config.read_text())
        except EngineError as exc:
            return exc.message
        if layers is None or len(layers) < 2:
            return "its root is not mounted (the node is stopped)"
        idmap = self.idmap(node)
        ids = IDENTITY if idmap is None else IdMap(((0, idmap.base, idmap.size),))
        return LayerPair(snap, layers[0], tuple(layers[1:]), ids, ids)

    def console(self, node: str) -> int:
        self._existing(node)
        env = dict(CONSOLE_ENV, TERM=os.environ.get("TERM", "xterm-256color"))
        return subprocess.call(self._attach_argv(node, ["/bin/bash", "-l"], env), cwd="/")

    def terminal_argv(self, node: str, user: str) -> list[str]:
        """``lxc-attach`` into the node: on a PTY it gives the shell a terminal of the node's
        own (a pts inside the container, resized with the host's), never a host process."""
        self._existing(node)
        naming.check_account(user)
        shell = ["/bin/bash", "-l"] if user == "root" else ["/usr/sbin/runuser", "-l", user]
        return self._attach_argv(node, shell, dict(CONSOLE_ENV, TERM="xterm-256color"))

    # -- snapshots -------------------------------------------------------------------------

    def snapshot(self, node: str, name: str) -> None:
        layout = self._existing(node)
        check_snapshot_name(name)
        st = self.state(node)
        freeze = st == NodeState.RUNNING
        if freeze:
            # Frozen processes cannot write, so the copied upper layer is consistent.
            run(self._lxc("lxc-freeze", node))
        try:
            tmp = layout.snapshots / f".tmp-{name}"
            safe_rmtree(tmp)
            run(["cp", "-a", "--reflink=auto", str(layout.upper), str(tmp)])
        finally:
            if freeze:
                run(self._lxc("lxc-unfreeze", node))
        final = layout.snapshots / name
        old = layout.snapshots / f".old-{name}"
        if final.exists():
            os.rename(final, old)
        os.rename(tmp, final)
        safe_rmtree(old)

    def revert(self, node: str, name: str) -> None:
        layout = self._existing(node)
        check_snapshot_name(name)
        snap = layout.snapshots / name
        if not snap.is_dir():
            raise SnapshotNotFoundError(f"node {node!r} has no snapshot {name!r}")
        was_running = self.state(node) in (NodeState.RUNNING, NodeState.FROZEN, NodeState.STARTING)
        if was_running:
            # An overlay's upper dir cannot be swapped under a mounted filesystem.
            self.stop(node)
        self._unmount_rootfs(layout)
        safe_rmtree(layout.upper)
        safe_rmtree(layout.workdir)
        run(["cp", "-a", "--reflink=auto", str(snap), str(layout.upper)])
        if was_running:
            self.start(node)

    def list_snapshots(self, node: str) -> list[str]:
        layout = self._existing(node)
        return sorted(p.name for p in layout.snapshots.iterdir() if not p.name.startswith("."))


def _rootfs_layers(config: str) -> list[Path] | None:
    """The layers of ``lxc.rootfs.path``, upper first: LXC's ``overlay:LOWER:UPPER``, or a
    directory, itself an overlay the host mounted (its layers then) or a plain tree.

    None when the overlay may hold entries the reader does not follow.
    """
    for line in config.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "lxc.rootfs.path":
            value = value.strip()
            if value.startswith("overlay:") or value.startswith("overlayfs:"):
                return [Path(p) for p in reversed(value.split(":")[1:])]
            root = Path(value.removeprefix("dir:"))
            try:
                mounted = mounted_overlay_layers(root, Path("/proc/self/mountinfo").read_text())
            except UnsupportedOverlay:
                return None
            return mounted or [root]
    raise EngineError("the node's config has no lxc.rootfs.path")


def _overlay_parameter(name: str) -> bool:
    path = Path("/sys/module/overlay/parameters") / name
    try:
        return path.read_text().strip() == "Y"
    except OSError:
        return False


def _is_mountpoint(path: Path) -> bool:
    return run(["mountpoint", "-q", str(path)], check=False).returncode == 0


def _make_capped_disk(layout: NodeLayout, size_mib: int) -> None:
    """A sparse ext4 file of size_mib, loop-mounted to hold the node's writable layer."""
    with open(layout.disk_image, "wb") as fh:
        fh.truncate(size_mib * 2**20)
    run(["mkfs.ext4", "-q", "-F", "-m", "0", "-L", "tai-node", str(layout.disk_image)])
    _mount_capped_disk(layout)


def _mount_capped_disk(layout: NodeLayout) -> None:
    layout.disk_mount.mkdir(mode=0o700, exist_ok=True)
    if run(["mountpoint", "-q", str(layout.disk_mount)], check=False).returncode != 0:
        run(["mount", "-o", "loop", str(layout.disk_image), str(layout.disk_mount)])
