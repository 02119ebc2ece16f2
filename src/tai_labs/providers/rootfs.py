"""A container node's files read from the host: its overlay layers resolved by our own code.

The node's root is an overlay (``lxc.rootfs.path = overlay:<image>:<upper>``): the image as
lower layer, a per-node upper dir. Reading the mounted merged tree would go through a mount
the node's root can change; here the layers themselves are read, upper first:

- a character device 0/0 in a layer is a whiteout (the file was deleted above the image);
- a directory with ``trusted.overlay.opaque=y`` (``user.`` in a user namespace) hides the
  layers below it;
- a symbolic link is resolved inside the tree, the node's root standing for ``/`` (``..``
  stops at it): a link to ``/etc/shadow`` reads the node's, never the host's;
- every step opens the next name with ``O_NOFOLLOW`` relative to the directory already
  opened, so a link swapped in between cannot lead out of the layer;
- reads are bounded (the caller gives the limit) and only regular files are opened, with
  ``O_NONBLOCK`` (a FIFO cannot stall the grader);
- owners are given as the node sees them, through its init's ``uid_map``/``gid_map``.

Kernel file systems of the node (``/proc``, ``/sys``, ``/dev``, ``/run``) are not on disk:
``NotOnDisk`` says so and the caller asks the node. A mount made inside the node is not
seen: the file is read as it is on disk.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

#: Top-level directories that hold kernel or memory file systems in a node, not its disk.
NOT_ON_DISK = frozenset({"proc", "sys", "dev", "run"})
OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")
MAX_LINKS = 40  # as the kernel's ELOOP limit
OVERFLOW_ID = 65534  # what the kernel shows for an id outside the namespace's map
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC

#: ``stat -c %F`` names, as coreutils prints them.
_KINDS = (
    (stat.S_ISDIR, "directory"),
    (stat.S_ISLNK, "symbolic link"),
    (stat.S_ISCHR, "character special file"),
    (stat.S_ISBLK, "block special file"),
    (stat.S_ISFIFO, "fifo"),
    (stat.S_ISSOCK, "socket"),
)


class NotOnDisk(Exception):
    """The path is on one of the node's kernel file systems: only the node can answer."""


def _oserror(code: int, path: str) -> OSError:
    return OSError(code, os.strerror(code), path)


#: Overlay mount options whose entries this reader does not follow.
_UNFOLLOWED = ("metacopy=on", "redirect_dir=on", "redirect_dir=follow", "datadir+")


class UnsupportedOverlay(Exception):
    """The overlay may hold metacopy or redirect entries: only the node can read it."""


def mounted_overlay_layers(mount_point: Path, mountinfo: str) -> list[Path] | None:
    """The layers (upper first) of the overlay mounted at ``mount_point`` on the host, from
    ``/proc/self/mountinfo``; None when no overlay is mounted there (a plain directory).

    The host's own mount table: a node cannot change it. The topmost mount there wins.
    """
    found: list[Path] | None = None
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or _unescape(fields[4]) != str(mount_point):
            continue
        if tail[0] != "overlay":
            found = None
            continue
        options = tail[2].split(",")
        if any(o.startswith(bad) for o in options for bad in _UNFOLLOWED):
            raise UnsupportedOverlay(str(mount_point))
        upper = [o.removeprefix("upperdir=") for o in options if o.startswith("upperdir=")]
        lowers: list[str] = []
        for option in options:
            if option.startswith("lowerdir="):
                lowers += option.removeprefix("lowerdir=").split(":")
            elif option.startswith("lowerdir+="):
                lowers.append(option.removeprefix("lowerdir+="))
        if any("\\" in p for p in upper + lowers):
            raise UnsupportedOverlay(str(mount_point))  # escaped names: not guessed at
        found = [Path(_unescape(p)) for p in upper + lowers]
    return found


def _unescape(text: str) -> str:
    """mountinfo's octal escapes (``\\040`` for a space)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


POSIX_ACL_XATTR = "system.posix_acl_access"
#: Entry tags of the xattr (linux/posix_acl_xattr.h) and the version it is written in.
ACL_USER_OBJ, ACL_USER, ACL_GROUP_OBJ, ACL_GROUP, ACL_MASK, ACL_OTHER = 1, 2, 4, 8, 16, 32
_ACL_VERSION = 2
_ACL_TAGS = {ACL_USER_OBJ, ACL_USER, ACL_GROUP_OBJ, ACL_GROUP, ACL_MASK, ACL_OTHER}


def parse_posix_acl_xattr(raw: bytes) -> list[tuple[int, int, int]]:
    """(tag, perms, id) of a ``system.posix_acl_access`` value: a little-endian u32 version,
    then (u16 tag, u16 perms, u32 id) entries. Raises ValueError on anything else."""
    if len(raw) < 4 or (len(raw) - 4) % 8 or int.from_bytes(raw[:4], "little") != _ACL_VERSION:
        raise ValueError("not a POSIX ACL xattr (version 2)")
    entries = []
    for off in range(4, len(raw), 8):
        tag = int.from_bytes(raw[off : off + 2], "little")
        perms = int.from_bytes(raw[off + 2 : off + 4], "little")
        ident = int.from_bytes(raw[off + 4 : off + 8], "little")
        if tag not in _ACL_TAGS or perms > 7:
            raise ValueError(f"unknown ACL entry tag {tag} or perms {perms}")
        entries.append((tag, perms, ident))
    return entries


@dataclass(frozen=True)
class IdMap:
    """A user namespace's id map (``inside outside count`` lines of ``/proc/PID/uid_map``)."""

    ranges: tuple[tuple[int, int, int], ...]

    @classmethod
    def parse(cls, text: str) -> IdMap:
        ranges = []
        for line in text.splitlines():
            if line.strip():
                inside, outside, count = (int(x) for x in line.split())
                ranges.append((inside, outside, count))
        return cls(tuple(ranges))

    @classmethod
    def of_process(cls, pid: int, which: str) -> IdMap:
        return cls.parse(Path(f"/proc/{pid}/{which}_map").read_text())

    def inside(self, host_id: int) -> int:
        """The id a file owned by ``host_id`` on disk has inside the node."""
        for inside, outside, count in self.ranges:
            if outside <= host_id < outside + count:
                return inside + host_id - outside
        return OVERFLOW_ID


IDENTITY = IdMap(((0, 0, 4294967295),))


@dataclass(frozen=True)
class NodeStat:
    """What ``stat -c '%F|%a|%u|%g|%s'`` says of a path, ids as the node sees them."""

    kind: str
    perms: int
    uid: int
    gid: int
    size: int

    @property
    def regular(self) -> bool:
        return self.kind in ("regular file", "regular empty file")


class OverlayTree:
    """A node's root made of ``layers`` (upper first), read without mounting anything."""

    def __init__(self, layers: Sequence[Path], uids: IdMap = IDENTITY, gids: IdMap = IDENTITY):
        if not layers:
            raise ValueError("an overlay needs at least one layer")
        self.layers = tuple(Path(p) for p in layers)
        self.uids = uids
        self.gids = gids

    # -- public ----------------------------------------------------------------------------

    def lstat(self, path: str) -> NodeStat:
        """``stat`` of ``path`` without following a final symbolic link (as ``stat(1)``)."""
        _, _, st = self._resolve(path, follow=False)
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "")
        if not kind:
            kind = "regular empty file" if st.st_size == 0 else "regular file"
        return NodeStat(
            kind,
            stat.S_IMODE(st.st_mode),
            self.uids.inside(st.st_uid),
            self.gids.inside(st.st_gid),
            st.st_size,
        )

    def posix_acl(self, path: str) -> list[tuple[int, int, int]] | None:
        """The POSIX access ACL of ``path`` as (tag, perms, id) entries, named ids as the node
        sees them; None when it has none (its mode says it all). Read as the
        ``system.posix_acl_access`` xattr of the layer's entry and parsed here, never by the
        node's getfacl. On disk a user-namespaced node's ids are the host's shifted ones."""
        layer, parts, _ = self._resolve(path, follow=False)
        if not parts:
            fd = os.open(self.layers[layer], os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            name = "."
        else:
            fd = self._walk(self.layers[layer], parts[:-1])
            name = parts[-1]
        try:
            target = f"/proc/self/fd/{fd}/{name}"
            raw = os.getxattr(target, POSIX_ACL_XATTR, follow_symlinks=False)
        except OSError as exc:
            if exc.errno in (errno.ENODATA, errno.EOPNOTSUPP):
                return None
            raise
        finally:
            os.close(fd)
        entries = parse_posix_acl_xattr(raw)
        mapped = []
        for tag, perms, ident in entries:
            if tag == ACL_USER:
                ident = self.uids.inside(ident)
            elif tag == ACL_GROUP:
                ident = self.gids.inside(ident)
            mapped.append((tag, perms, ident))
        return mapped

    def read(self, path: str, limit: int) -> bytes:
        """At most ``limit`` bytes of the regular file at ``path`` (links followed inside)."""
        with self._open(path) as fh:
            return fh.read(limit)

    def sha256(self, path: str, limit: int) -> str | None:
        """The file's SHA-256 (hex), or None when it is longer than ``limit`` bytes."""
        digest = hashlib.sha256()
        total = 0
        with self._open(path) as fh:
            while chunk := fh.read(1 << 20):
                total += len(chunk)
                if total > limit:
                    return None
                digest.update(chunk)
        return digest.hexdigest()

    def readlink(self, path: str) -> str:
        """The target of the symbolic link at ``path`` (the final link is not followed)."""
        layer, parts, st = self._resolve(path, follow=False)
        if not stat.S_ISLNK(st.st_mode) or not parts:
            raise _oserror(errno.EINVAL, path)
        return self._readlink(layer, parts)

    def listdir(self, path: str, limit: int = 4096) -> list[str]:
        """The names in the directory ``path`` as the node sees it (every layer's, minus what
        a whiteout or an opaque directory above hides), sorted; at most ``limit`` names."""
        _, parts, st = self._resolve(path, follow=True)
        if not stat.S_ISDIR(st.st_mode):
            raise _oserror(errno.ENOTDIR, path)
        seen: set[str] = set()
        for layer in self.layers:
            try:
                fd = self._walk(layer, parts)
            except OSError:
                continue
            try:
                seen.update(os.listdir(fd))
            finally:
                os.close(fd)
            if len(seen) > limit:
                raise _oserror(errno.E2BIG, path)
        return sorted(n for n in seen if self._entry([*parts, n]) is not None)

    # -- resolution ------------------------------------------------------------------------

    def _open(self, path: str) -> BinaryIO:
        layer, parts, st = self._resolve(path, follow=True)
        if stat.S_ISDIR(st.st_mode):
            raise _oserror(errno.EISDIR, path)
        if not stat.S_ISREG(st.st_mode):
            raise _oserror(errno.EINVAL, path)  # devices, FIFOs, sockets: never opened
        parent = self._walk(self.layers[layer], parts[:-1])
        try:
            fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=parent)
        finally:
            os.close(parent)
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISREG(
            opened.st_mode
        ):
            os.close(fd)
            raise _oserror(errno.EAGAIN, path)  # changed while we looked: ask again
        return os.fdopen(fd, "rb")

    def _resolve(self, path: str, *, follow: bool) -> tuple[int, list[str], os.stat_result]:
        """(layer index, node path parts, lstat) of ``path``, links resolved inside the tree."""
        if not path.startswith("/"):
            raise ValueError(f"not an absolute path: {path!r}")
        todo = deque(path.split("/"))
        parts: list[str] = []
        links = 0
        found = self._entry([])
        assert found is not None  # the top layer's root exists
        while todo:
            name = todo.popleft()
            if name in ("", "."):
                continue
            if name == "..":
                if parts:
                    parts.pop()
                found = self._entry(parts)
                assert found is not None
                continue
            if not parts and name in NOT_ON_DISK:
                raise NotOnDisk(path)
            candidate = [*parts, name]
            found = self._entry(candidate)
            if found is None:
                raise _oserror(errno.ENOENT, path)
            layer, st = found
            more = any(n not in ("", ".") for n in todo)
            if stat.S_ISLNK(st.st_mode) and (more or follow):
                links += 1
                if links > MAX_LINKS:
                    raise _oserror(errno.ELOOP, path)
                target = self._readlink(layer, candidate)
                if target.startswith("/"):
                    parts = []
                todo.extendleft(reversed(target.split("/")))
                found = self._entry(parts)
                assert found is not None
                continue
            if more and not stat.S_ISDIR(st.st_mode):
                raise _oserror(errno.ENOTDIR, path)
            parts = candidate
        layer, st = found
        return layer, parts, st

    def _entry(self, parts: list[str]) -> tuple[int, os.stat_result] | None:
        """The topmost layer's entry for ``parts`` (all parents directories), or None."""
        for index, layer in enumerate(self.layers):
            st, hides_below = self._probe(layer, parts)
            if st is not None:
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    return None  # whiteout: deleted in this layer
                return index, st
            if hides_below:
                return None
        return None

    def _probe(self, layer: Path, parts: list[str]) -> tuple[os.stat_result | None, bool]:
        """(lstat or None, whether this layer hides the layers below at this path).

        Below an opaque directory of this layer, or a non-directory (file, link, whiteout)
        standing where the path goes on, the lower layers have nothing to add.
        """
        fd = os.open(layer, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        opaque = False
        try:
            for name in parts[:-1]:
                try:
                    nxt = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    return None, opaque
                except OSError as exc:
                    if exc.errno in (errno.ENOTDIR, errno.ELOOP):
                        return None, True
                    raise
                os.close(fd)
                fd = nxt
                opaque = opaque or self._opaque(fd)
            if not parts:
                return os.fstat(fd), False
            try:
                return os.stat(parts[-1], dir_fd=fd, follow_symlinks=False), False
            except FileNotFoundError:
                return None, opaque
        finally:
            os.close(fd)

    @staticmethod
    def _walk(layer: Path, parts: Sequence[str]) -> int:
        """An fd of the directory ``parts`` in ``layer``, no link followed on the way."""
        fd = os.open(layer, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for name in parts:
                nxt = os.open(name, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = nxt
            return fd
        except BaseException:
            os.close(fd)
            raise

    def _readlink(self, layer: int, parts: list[str]) -> str:
        parent = self._walk(self.layers[layer], parts[:-1])
        try:
            return os.readlink(parts[-1], dir_fd=parent)
        finally:
            os.close(parent)

    @staticmethod
    def _opaque(fd: int) -> bool:
        for name in OPAQUE_XATTRS:
            try:
                if os.getxattr(fd, name) == b"y":
                    return True
            except OSError:
                continue
        return False
