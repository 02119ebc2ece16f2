"""The host-side reader of a node's overlay, on layers fabricated in tmp_path.

Whiteouts are real character devices 0/0 and opaque directories carry the real xattr, as
overlayfs writes them; both need root (the tests skip without it).
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from pathlib import Path

import pytest

from tai_labs.providers.rootfs import (
    IdMap,
    NotOnDisk,
    OverlayTree,
    UnsupportedOverlay,
    mounted_overlay_layers,
)

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="whiteouts and trusted xattrs need root")


def put(base: Path, rel: str, text: str = "") -> Path:
    path = base / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def link(base: Path, rel: str, target: str) -> None:
    path = base / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)


def whiteout(base: Path, rel: str) -> None:
    path = base / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))


@pytest.fixture
def layers(tmp_path: Path) -> tuple[Path, Path]:
    upper, lower = tmp_path / "upper", tmp_path / "lower"
    put(lower, "etc/hostname", "image\n")
    put(lower, "etc/shadow", "root:node-shadow:::\n")
    put(lower, "etc/motd", "from the image\n")
    put(lower, "etc/ssh/sshd_config", "PermitRootLogin yes\n")
    put(lower, "etc/ssh/moduli", "lower only\n")
    put(upper, "etc/hostname", "candidate\n")
    return upper, lower


def tree(layers: tuple[Path, Path], **kw: IdMap) -> OverlayTree:
    return OverlayTree(list(layers), **kw)


def test_upper_wins_and_lower_shows_through(layers: tuple[Path, Path]) -> None:
    t = tree(layers)
    assert t.read("/etc/hostname", 100) == b"candidate\n"
    assert t.read("/etc/motd", 100) == b"from the image\n"
    st = t.lstat("/etc/motd")
    assert (st.kind, st.size, st.regular) == ("regular file", 15, True)
    assert t.lstat("/etc").kind == "directory"
    assert t.lstat("/").kind == "directory"


def test_missing_file_is_enoent(layers: tuple[Path, Path]) -> None:
    with pytest.raises(FileNotFoundError):
        tree(layers).lstat("/etc/nope")
    with pytest.raises(NotADirectoryError):
        tree(layers).lstat("/etc/motd/x")


@needs_root
def test_a_whiteout_deletes_the_image_file(layers: tuple[Path, Path]) -> None:
    upper, _ = layers
    whiteout(upper, "etc/motd")
    with pytest.raises(FileNotFoundError):
        tree(layers).read("/etc/motd", 100)
    with pytest.raises(FileNotFoundError):
        tree(layers).lstat("/etc/motd")


@needs_root
def test_a_whiteout_directory_hides_its_whole_subtree(layers: tuple[Path, Path]) -> None:
    upper, _ = layers
    whiteout(upper, "etc/ssh")
    with pytest.raises(FileNotFoundError):
        tree(layers).lstat("/etc/ssh/sshd_config")


@needs_root
def test_an_opaque_directory_hides_the_lower_contents(layers: tuple[Path, Path]) -> None:
    upper, _ = layers
    put(upper, "etc/ssh/sshd_config", "PermitRootLogin no\n")
    os.setxattr(upper / "etc/ssh", "trusted.overlay.opaque", b"y")
    t = tree(layers)
    assert t.read("/etc/ssh/sshd_config", 100) == b"PermitRootLogin no\n"
    with pytest.raises(FileNotFoundError):
        t.lstat("/etc/ssh/moduli")
    # Opaque higher up hides deeper paths that the upper layer does not have at all.
    os.setxattr(upper / "etc", "trusted.overlay.opaque", b"y")
    with pytest.raises(FileNotFoundError):
        tree(layers).lstat("/etc/motd")


def test_not_opaque_without_the_xattr(layers: tuple[Path, Path]) -> None:
    upper, _ = layers
    put(upper, "etc/ssh/sshd_config", "PermitRootLogin no\n")
    assert tree(layers).read("/etc/ssh/moduli", 100) == b"lower only\n"


@pytest.mark.parametrize(
    "target",
    ["/etc/shadow", "../../../../../../../etc/shadow", "/../../etc/./shadow", "../shadow"],
)
def test_links_to_a_host_path_stay_inside_the_node(layers: tuple[Path, Path], target: str) -> None:
    upper, _ = layers
    link(upper, "etc/x/leak", target) if target == "../shadow" else link(upper, "leak", target)
    path = "/etc/x/leak" if target == "../shadow" else "/leak"
    assert tree(layers).read(path, 1000) == b"root:node-shadow:::\n"  # the node's, not the host's
    assert tree(layers).lstat(path).kind == "symbolic link"


def test_a_link_to_a_host_only_path_is_absent_not_the_hosts(layers: tuple[Path, Path]) -> None:
    upper, _ = layers
    host_file = Path(__file__).resolve()
    link(upper, "leak", str(host_file))
    with pytest.raises(FileNotFoundError):
        tree(layers).read("/leak", 1000)
    # A directory component that is a link to a host directory is resolved in the node too.
    link(upper, "hostdir", str(host_file.parent))
    with pytest.raises(FileNotFoundError):
        tree(layers).read(f"/hostdir/{host_file.name}", 1000)


def test_a_layer_reached_through_a_link_swapped_in_is_not_followed(tmp_path: Path) -> None:
    # What _probe/_walk see if an upper dir is replaced by a link after resolution: the
    # O_NOFOLLOW walk refuses it instead of following it to the host.
    upper = tmp_path / "upper"
    upper.mkdir()
    (upper / "etc").symlink_to("/etc")
    t = OverlayTree([upper])
    with pytest.raises(OSError) as err:
        os.close(t._walk(upper, ["etc"]))
    assert err.value.errno in (errno.ELOOP, errno.ENOTDIR)


def test_link_loops_stop(layers: tuple[Path, Path]) -> None:
    upper, _ = layers
    link(upper, "a", "/b")
    link(upper, "b", "/a")
    with pytest.raises(OSError) as err:
        tree(layers).read("/a", 10)
    assert err.value.errno == errno.ELOOP


def test_a_huge_file_is_read_only_up_to_the_cap(layers: tuple[Path, Path]) -> None:
    upper, _ = layers
    huge = upper / "var/log/huge.log"
    huge.parent.mkdir(parents=True)
    with huge.open("wb") as fh:
        fh.truncate(64 * 2**30)  # sparse: 64 GiB claimed, nothing written
    t = tree(layers)
    assert len(t.read("/var/log/huge.log", 4096)) == 4096
    assert t.sha256("/var/log/huge.log", 2**20) is None  # over the limit: not hashed
    assert t.lstat("/var/log/huge.log").size == 64 * 2**30


def test_a_fifo_is_refused_without_blocking(layers: tuple[Path, Path]) -> None:
    upper, _ = layers
    os.mkfifo(upper / "etc/fifo")
    result: list[BaseException] = []

    def read() -> None:
        try:
            tree(layers).read("/etc/fifo", 10)
        except OSError as exc:
            result.append(exc)

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive() and result and result[0].errno == errno.EINVAL
    assert tree(layers).lstat("/etc/fifo").kind == "fifo"


def test_kernel_file_systems_are_left_to_the_node(layers: tuple[Path, Path]) -> None:
    upper, _ = layers
    link(upper, "etc/mtab", "../proc/self/mounts")
    for path in ("/proc/modules", "/run/x", "/etc/mtab", "/sys/class", "/dev/null"):
        with pytest.raises(NotOnDisk):
            tree(layers).read(path, 10)


def test_a_directory_is_not_read(layers: tuple[Path, Path]) -> None:
    with pytest.raises(IsADirectoryError):
        tree(layers).read("/etc", 10)


def test_owners_go_through_the_nodes_id_map(layers: tuple[Path, Path]) -> None:
    upper, _ = layers
    shifted = put(upper, "home/alice/notes", "x")
    if ROOT:
        os.chown(shifted, 101000, 101000)
    uid = IdMap.parse("         0     100000      65536\n")
    assert (uid.inside(100000), uid.inside(101000), uid.inside(0)) == (0, 1000, 65534)
    st = tree(layers, uids=uid, gids=uid).lstat("/home/alice/notes")
    if ROOT:
        assert (st.uid, st.gid) == (1000, 1000)
    assert IdMap.parse("0 0 4294967295").inside(1000) == 1000
    assert IdMap.of_process(os.getpid(), "uid").inside(os.getuid()) == os.getuid()


# -- where the layers come from ----------------------------------------------------------------

HOST_MOUNTED = (
    "762 27 0:150 / /labs/x/lxc/pc1/rootfs rw,relatime - overlay overlay "
    "rw,lowerdir=/labs/x/lxc/pc1/lower,upperdir=/labs/x/lxc/pc1/delta0,"
    "workdir=/labs/x/lxc/pc1/work,uuid=on\n"
)


def test_a_host_mounted_overlay_is_read_through_its_layers() -> None:
    root = Path("/labs/x/lxc/pc1/rootfs")
    assert mounted_overlay_layers(root, HOST_MOUNTED) == [
        Path("/labs/x/lxc/pc1/delta0"),
        Path("/labs/x/lxc/pc1/lower"),
    ]
    many = HOST_MOUNTED.replace("lowerdir=/labs/x/lxc/pc1/lower", "lowerdir=/l1:/l2")
    assert mounted_overlay_layers(root, many) == [
        Path("/labs/x/lxc/pc1/delta0"),
        Path("/l1"),
        Path("/l2"),
    ]
    plus = HOST_MOUNTED.replace("lowerdir=/labs/x/lxc/pc1/lower", "lowerdir+=/l1,lowerdir+=/l2")
    assert mounted_overlay_layers(root, plus) == [
        Path("/labs/x/lxc/pc1/delta0"),
        Path("/l1"),
        Path("/l2"),
    ]
    assert mounted_overlay_layers(Path("/elsewhere"), HOST_MOUNTED) is None
    # A later mount on top of the same point hides the overlay: a plain tree then.
    covered = HOST_MOUNTED + "800 762 0:99 / /labs/x/lxc/pc1/rootfs rw - tmpfs tmpfs rw\n"
    assert mounted_overlay_layers(root, covered) is None
    spaced = HOST_MOUNTED.replace("/labs/x/lxc/pc1/rootfs", "/labs/a\\040b/rootfs")
    assert mounted_overlay_layers(Path("/labs/a b/rootfs"), spaced) is not None


@pytest.mark.parametrize("option", ["metacopy=on", "redirect_dir=on", "datadir+=/d"])
def test_overlay_features_the_reader_does_not_follow_are_refused(option: str) -> None:
    with pytest.raises(UnsupportedOverlay):
        mounted_overlay_layers(
            Path("/labs/x/lxc/pc1/rootfs"), HOST_MOUNTED.replace("uuid=on", option)
        )


def test_lxc_config_layers() -> None:
    from tai_labs.providers.lxc import _rootfs_layers

    config = "lxc.arch = linux64\nlxc.rootfs.path = overlay:/img/rootfs:/labs/x/lxc/pc1/delta0\n"
    assert _rootfs_layers(config) == [Path("/labs/x/lxc/pc1/delta0"), Path("/img/rootfs")]
    assert _rootfs_layers("lxc.rootfs.path = dir:/nowhere/mounted\n") == [Path("/nowhere/mounted")]


@needs_root
def test_a_folder_lists_what_the_node_sees(layers: tuple[Path, Path]) -> None:
    upper, lower = layers
    put(lower, "etc/profile.d/01-locale.sh", "")
    put(lower, "etc/profile.d/proxy.sh", "export http_proxy=http://10.0.0.1:3128\n")
    put(upper, "etc/profile.d/zz-mine.sh", "")
    whiteout(upper, "etc/profile.d/proxy.sh")  # deleted by the candidate
    assert tree(layers).listdir("/etc/profile.d") == ["01-locale.sh", "zz-mine.sh"]
    os.setxattr(upper / "etc/profile.d", "trusted.overlay.opaque", b"y")
    assert tree(layers).listdir("/etc/profile.d") == ["zz-mine.sh"]
    with pytest.raises(NotADirectoryError):
        tree(layers).listdir("/etc/motd")
