"""User-namespace id ranges of labs and the idmapped mounts that put a node's image in them.

An unprivileged node runs in a user namespace: its uid 0 is ``base`` on the host, its uid
``n`` is ``base + n``. Each lab gets its own range of 4,194,304 ids, recorded in
``<lab>/lxc/idmap.json``, so root of one lab is a stranger to the files and processes of
another lab as well as of the host. The range goes with the lab's folder: ``down`` and
``gc`` delete it with the lab, nothing is written to ``/etc/subuid``.

The image is shared by every node and stays owned by real root: each node sees it through
an idmapped bind mount (``mount_setattr(MOUNT_ATTR_IDMAP)``, Linux 5.12+) that shows uid
``n`` as ``base + n``, used as the lower layer of an overlay the host mounts. Copy-up and
new files land in the node's upper layer with shifted ids, so the upper layer is plain
files owned by the lab's range, readable from the host without any mapping.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import stat
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tai_labs.providers.errors import EngineError

#: First host id handed to labs: far above the host's users and systemd's dynamic users
#: (below 65536), below the high-bit ids that some tools read as negative. It lies in the
#: range systemd-nspawn picks from with --private-users=pick: do not run both on one host.
FIRST_ID = 0x4000_0000
#: Ids per lab (2**22): uid 0-65535 for Debian's users and nobody, and the ids a Samba DC
#: gives the domain's users and groups (its idmap allocates from 3,000,000 up).
RANGE_SIZE = 0x40_0000
#: Ranges that fit between FIRST_ID and 0x7FFE0000 (systemd's "foreign" range starts there).
MAX_SLOTS = (0x7FFE_0000 - FIRST_ID) // RANGE_SIZE
RECORD = "idmap.json"

_SYS_OPEN_TREE = 428
_SYS_MOVE_MOUNT = 429
_SYS_MOUNT_SETATTR = 442
_OPEN_TREE_CLONE = 1
_O_CLOEXEC = 0o2000000
_AT_FDCWD = -100
_AT_EMPTY_PATH = 0x1000
_MOVE_MOUNT_F_EMPTY_PATH = 0x4
_MOUNT_ATTR_IDMAP = 0x0010_0000


@dataclass(frozen=True)
class IdRange:
    """Host ids ``base .. base + size - 1`` seen as ``0 .. size - 1`` in the lab's nodes."""

    base: int
    size: int = RANGE_SIZE

    def host_id(self, inner: int) -> int:
        if not 0 <= inner < self.size:
            raise EngineError(f"id {inner} is outside the node's range (0-{self.size - 1})")
        return self.base + inner

    def lxc_lines(self) -> list[str]:
        return [
            f"lxc.idmap = u 0 {self.base} {self.size}",
            f"lxc.idmap = g 0 {self.base} {self.size}",
        ]

    def as_json(self) -> dict[str, int]:
        return {"base": self.base, "size": self.size}


def slot_base(slot: int) -> int:
    if not 0 <= slot < MAX_SLOTS:
        raise EngineError(f"no id range number {slot} (0-{MAX_SLOTS - 1})")
    return FIRST_ID + slot * RANGE_SIZE


def recorded_range(lxcpath: Path) -> IdRange | None:
    """The range a lab's folder records, or None (a privileged lab, or none yet)."""
    try:
        data = json.loads((lxcpath / RECORD).read_text())
    except FileNotFoundError:
        return None
    rng = IdRange(int(data["base"]), int(data["size"]))
    if (rng.base - FIRST_ID) % RANGE_SIZE or rng.size != RANGE_SIZE:
        raise EngineError(f"{lxcpath / RECORD} holds a range tai-labs did not allocate")
    slot_base((rng.base - FIRST_ID) // RANGE_SIZE)  # in bounds
    return rng


def lab_range(labs_dir: Path, lxcpath: Path) -> IdRange:
    """The lab's range: the recorded one, or the lowest range no other lab holds (recorded)."""
    existing = recorded_range(lxcpath)
    if existing is not None:
        return existing
    labs_dir.mkdir(parents=True, exist_ok=True)
    lock_path = labs_dir / ".idmap.lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        # Two `up` at once must not pick the same range: scan and record under one lock.
        fcntl.flock(fd, fcntl.LOCK_EX)
        existing = recorded_range(lxcpath)
        if existing is not None:
            return existing
        taken = set()
        for record in labs_dir.glob(f"*/*/{RECORD}"):
            other = recorded_range(record.parent)
            if other is not None:
                taken.add(other.base)
        slot = next((s for s in range(MAX_SLOTS) if slot_base(s) not in taken), None)
        if slot is None:
            raise EngineError(f"all {MAX_SLOTS} user-namespace id ranges are in use")
        rng = IdRange(slot_base(slot))
        lxcpath.mkdir(parents=True, exist_ok=True)
        tmp = lxcpath / f".{RECORD}.tmp"
        tmp.write_text(json.dumps(rng.as_json()) + "\n")
        os.replace(tmp, lxcpath / RECORD)
        return rng
    finally:
        os.close(fd)


def shift_tree(root: Path, rng: IdRange) -> None:
    """Give every entry under root (root included) the lab's id for its current owner.

    Only for trees tai-labs wrote as real root (the seeded upper layer): ids already in the
    range would be shifted twice, so they are refused.
    """
    for path in [root, *root.rglob("*")]:
        st = path.lstat()
        if st.st_uid >= rng.size or st.st_gid >= rng.size:
            raise EngineError(f"{path} is owned by {st.st_uid}:{st.st_gid}, not by a node id")
        os.lchown(path, rng.host_id(st.st_uid), rng.host_id(st.st_gid))
        if not path.is_symlink():
            # chown clears set-id bits; put them back as the image had them.
            os.chmod(path, st.st_mode & 0o7777)


_ACL_XATTR = "system.posix_acl_access"
_ACL_VERSION = 2
_ACL_USER_OBJ, _ACL_USER, _ACL_GROUP_OBJ, _ACL_MASK, _ACL_OTHER = 0x01, 0x02, 0x04, 0x10, 0x20
_ACL_UNDEFINED_ID = 0xFFFFFFFF


def traverse_acl(mode: int, uid: int) -> bytes:
    """A POSIX access ACL keeping mode's owner/group/other bits and letting uid traverse."""
    entries = [
        (_ACL_USER_OBJ, (mode >> 6) & 7, _ACL_UNDEFINED_ID),
        (_ACL_USER, 1, uid),
        (_ACL_GROUP_OBJ, (mode >> 3) & 7, _ACL_UNDEFINED_ID),
        (_ACL_MASK, ((mode >> 3) & 7) | 1, _ACL_UNDEFINED_ID),
        (_ACL_OTHER, mode & 7, _ACL_UNDEFINED_ID),
    ]
    return struct.pack("<I", _ACL_VERSION) + b"".join(
        struct.pack("<HHI", tag, perm, ident) for tag, perm, ident in entries
    )


def grant_traverse(folder: Path, rng: IdRange) -> None:
    """Let the node's root (the range's base) through folder, and nobody else new.

    LXC sets a node's root up from inside its user namespace: it must be able to walk to
    the node's rootfs, but the lab's folder holds secrets for root only. An ACL entry for
    that one id grants search (x) without read, and leaves the folder closed to others.
    """
    mode = stat.S_IMODE(folder.stat().st_mode)
    os.setxattr(folder, _ACL_XATTR, traverse_acl(mode, rng.base))


#: /dev/net/tun's numbers (misc device 200).
TUN_DEVICE = (10, 200)


def make_tun_node(path: Path, rng: IdRange) -> None:
    """A /dev/net/tun device node owned by the node's root, for LXC to bind in the node."""
    os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(*TUN_DEVICE))
    os.chown(path, rng.base, rng.base)
    # 0666 like a distribution's /dev/net/tun; what a user may do with it is decided by
    # CAP_NET_ADMIN in the node, as on a real machine.
    os.chmod(path, 0o666)


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str, path: Path) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise EngineError(
            f"{what} of {path} failed: {os.strerror(err)}",
            hint="unprivileged nodes need idmapped mounts (Linux 5.12+, a file system that "
            "supports them: ext4, xfs, btrfs); TAI_LABS_UNPRIVILEGED=0 makes privileged "
            "nodes (see docs/security.md)",
        )
    return result


def _userns_fd(rng: IdRange) -> int:
    """An fd of a fresh user namespace with the range's map (what MOUNT_ATTR_IDMAP takes)."""
    # A short-lived holder process: `unshare --user` prints once the namespace exists.
    holder = subprocess.Popen(
        ["unshare", "--user", "sh", "-c", "echo ready; exec sleep 60"],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert holder.stdout is not None
        if holder.stdout.readline().strip() != b"ready":
            raise EngineError("could not create a user namespace (unshare --user)")
        line = f"0 {rng.base} {rng.size}\n"
        for name in ("uid_map", "gid_map"):
            with open(f"/proc/{holder.pid}/{name}", "w") as fh:
                fh.write(line)
        return os.open(f"/proc/{holder.pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        holder.kill()
        holder.wait()


def idmapped_bind(source: Path, target: Path, rng: IdRange) -> None:
    """Bind-mount source on target (an existing folder) showing uid n as base + n."""
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    tree = _check(
        libc.syscall(_SYS_OPEN_TREE, _AT_FDCWD, os.fsencode(source), _OPEN_TREE_CLONE | _O_CLOEXEC),
        "open_tree",
        source,
    )
    userns = _userns_fd(rng)
    try:
        attr = _MountAttr(_MOUNT_ATTR_IDMAP, 0, 0, userns)
        _check(
            libc.syscall(
                _SYS_MOUNT_SETATTR,
                tree,
                b"",
                _AT_EMPTY_PATH,
                ctypes.byref(attr),
                ctypes.sizeof(attr),
            ),
            "idmapping (mount_setattr)",
            source,
        )
        _check(
            libc.syscall(
                _SYS_MOVE_MOUNT, tree, b"", _AT_FDCWD, os.fsencode(target), _MOVE_MOUNT_F_EMPTY_PATH
            ),
            "move_mount",
            target,
        )
    finally:
        os.close(userns)
        os.close(tree)
