"""What changed in a container node's files between two states of its writable layer.

A container node is an overlay: the image below, shared and read-only, and a per-node upper
layer that holds every change the node made. The exam-start snapshot is a copy of that upper
layer (``LxcEngine.snapshot``). So everything that changed since exam start lies at a path
present in the snapshot's upper layer, in the current one, or below a directory one of them
made opaque; nothing else needs to be read. Each such path is looked up in both trees (the
snapshot's upper over the image, the current upper over the image) with ``rootfs.OverlayTree``,
which reads the layers on the host's disk without following a link out of them: the node's
programs take no part, so its root cannot hide a change from this walk.

The walk is bounded: ``skip`` prunes paths (noise, decided by the caller), and it stops at
``max_changes`` changes or at ``deadline``, saying so in ``truncated``.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tai_labs.providers.rootfs import (
    IDENTITY,
    NOT_ON_DISK,
    OPAQUE_XATTRS,
    IdMap,
    NodeStat,
    OverlayTree,
)

ChangeKind = Literal["created", "modified", "deleted"]
#: Largest file whose content is compared; larger ones of equal size are counted unverified.
HASH_LIMIT = 16 * 1024 * 1024
#: Deepest folder walked, and most names read from one folder: a node can make more of
#: either than a grader should read (the report then says the list is incomplete).
MAX_DEPTH = 48
MAX_NAMES = 50_000
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class FileChange:
    """One path that differs: ``kind`` is what it is now (what it was, when deleted)."""

    path: str
    change: ChangeKind
    kind: str
    #: What differs, for a modification: "content", "mode 644 -> 600", "owner 0:0 -> 1000:1000",
    #: "type regular file -> symbolic link", "target a -> b".
    detail: str = ""
    #: For a created directory: how many entries it holds (they are not listed one by one).
    entries: int = 0
    #: For a symbolic link: where it points now (where it pointed, when deleted).
    target: str = ""


@dataclass
class LayerDiff:
    changes: list[FileChange] = field(default_factory=list)
    #: Paths pruned by ``skip``, per the name ``skip`` gave.
    filtered: dict[str, int] = field(default_factory=dict)
    #: Why the walk stopped early; empty when it saw everything.
    truncated: str = ""
    #: Regular files of equal size too large to compare (counted as unchanged).
    unverified: int = 0
    #: Folders left out, and why (too deep, too many names); the rest was walked.
    skipped: list[str] = field(default_factory=list)
    scanned: int = 0


@dataclass(frozen=True)
class LayerPair:
    """The two states of a container node: upper layers, and the image layers below both."""

    before: Path
    after: Path
    lowers: tuple[Path, ...]
    #: The node's id maps, so owners read as the node sees them.
    uids: IdMap = IDENTITY
    gids: IdMap = IDENTITY

    def trees(self) -> tuple[OverlayTree, OverlayTree]:
        return (
            OverlayTree((self.before, *self.lowers), self.uids, self.gids),
            OverlayTree((self.after, *self.lowers), self.uids, self.gids),
        )


class _Stop(Exception):
    pass


class _TooWide(Exception):
    pass


def diff_layers(
    pair: LayerPair,
    *,
    skip: Callable[[str], str | None] = lambda path: None,
    expand: Callable[[str], bool] = lambda path: False,
    max_changes: int = 2000,
    deadline: float | None = None,
) -> LayerDiff:
    """The changes from ``pair.before`` to ``pair.after``, in path order.

    A created directory is one change with its count of entries, unless ``expand`` says
    its entries are to be listed one by one."""
    old, new = pair.trees()
    result = LayerDiff()
    walker = _Walker(pair, old, new, skip, expand, max_changes, deadline, result)
    try:
        walker.walk([], True, True)
    except _Stop as stop:
        result.truncated = str(stop)
    return result


class _Walker:
    def __init__(
        self,
        pair: LayerPair,
        old: OverlayTree,
        new: OverlayTree,
        skip: Callable[[str], str | None],
        expand: Callable[[str], bool],
        max_changes: int,
        deadline: float | None,
        result: LayerDiff,
    ) -> None:
        self.pair, self.old, self.new, self.expand = pair, old, new, expand
        self.skip, self.max_changes, self.deadline, self.result = (
            skip,
            max_changes,
            deadline,
            result,
        )

    def add(self, change: FileChange) -> None:
        if len(self.result.changes) >= self.max_changes:
            raise _Stop(f"more than {self.max_changes} changes")
        self.result.changes.append(change)

    def tick(self) -> None:
        self.result.scanned += 1
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise _Stop(f"time limit reached after {self.result.scanned} paths")

    def walk(self, parts: list[str], old_dir: bool, new_dir: bool) -> None:
        """Compare the children of the directory ``parts`` (a directory in the trees said)."""
        # A folder too deep or too wide is left out (and said so), not the rest of the walk:
        # a node cannot hide its other changes behind one.
        where = "/" + "/".join(parts)
        if len(parts) >= MAX_DEPTH:
            self.result.skipped.append(f"{where}: folders nested deeper than {MAX_DEPTH}")
            return
        try:
            names = _names(self.pair.before, parts) | _names(self.pair.after, parts)
            # Below a directory an upper layer made opaque, the image's entries are gone
            # from that tree (or, in the other tree, still there): both sides are listed.
            if _opaque(self.pair.before, parts) or _opaque(self.pair.after, parts):
                for lower in self.pair.lowers:
                    names |= _names(lower, parts)
        except _TooWide:
            self.result.skipped.append(f"{where}: more than {MAX_NAMES} names")
            return
        for name in sorted(names):
            if not parts and name in NOT_ON_DISK:
                continue
            child = [*parts, name]
            path = "/" + "/".join(child)
            rule = self.skip(path)
            if rule is not None:
                self.result.filtered[rule] = self.result.filtered.get(rule, 0) + 1
                continue
            self.tick()
            before = _lstat(self.old, path) if old_dir else None
            after = _lstat(self.new, path) if new_dir else None
            self.compare(child, path, before, after)

    def compare(
        self, parts: list[str], path: str, before: NodeStat | None, after: NodeStat | None
    ) -> None:
        if before is None and after is None:
            return
        if before is None:
            assert after is not None
            if after.kind == "directory":
                self.add(FileChange(path, "created", after.kind, entries=self.count(parts)))
                if self.expand(path):
                    self.walk(parts, False, True)
                return
            self.add(
                FileChange(path, "created", after.kind, target=self.link(self.new, after, path))
            )
            return
        if after is None:
            self.add(
                FileChange(path, "deleted", before.kind, target=self.link(self.old, before, path))
            )
            return
        detail = self.difference(path, before, after)
        if detail:
            target = self.link(self.new, after, path)
            self.add(FileChange(path, "modified", after.kind, detail=detail, target=target))
        if before.kind == after.kind == "directory":
            self.walk(parts, True, True)

    def difference(self, path: str, before: NodeStat, after: NodeStat) -> str:
        if before.kind.startswith("regular") and after.kind.startswith("regular"):
            pass  # empty and non-empty regular files are one type
        elif before.kind != after.kind:
            return f"type {before.kind} -> {after.kind}"
        details = []
        if before.perms != after.perms:
            details.append(f"mode {before.perms:o} -> {after.perms:o}")
        if (before.uid, before.gid) != (after.uid, after.gid):
            details.append(f"owner {before.uid}:{before.gid} -> {after.uid}:{after.gid}")
        if after.kind == "symbolic link":
            old_target, new_target = self.old.readlink(path), self.new.readlink(path)
            if old_target != new_target:
                details.append(f"target {old_target} -> {new_target}")
        elif after.regular and self.content_differs(path, before, after):
            details.insert(0, "content")
        return ", ".join(details)

    def content_differs(self, path: str, before: NodeStat, after: NodeStat) -> bool:
        if before.size != after.size:
            return True
        if before.size > HASH_LIMIT:
            self.result.unverified += 1
            return False
        try:
            return self.old.sha256(path, HASH_LIMIT) != self.new.sha256(path, HASH_LIMIT)
        except OSError:
            return True  # changing under our eyes, or unreadable: a change either way

    @staticmethod
    def link(tree: OverlayTree, st: NodeStat, path: str) -> str:
        if st.kind != "symbolic link":
            return ""
        try:
            return tree.readlink(path)
        except OSError:
            return ""

    def count(self, parts: list[str]) -> int:
        """Entries below a created directory (bounded by the deadline)."""
        total = 0
        for _ in _iter_tree(self.pair.after, parts, MAX_DEPTH - len(parts)):
            self.tick()
            total += 1
        return total


def _lstat(tree: OverlayTree, path: str) -> NodeStat | None:
    try:
        return tree.lstat(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise


def _open_dir(layer: Path, parts: list[str]) -> int | None:
    """An fd of the directory ``parts`` in ``layer``, no link followed; None if not one."""
    try:
        fd = os.open(layer, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    for name in parts:
        try:
            nxt = os.open(name, _DIR_FLAGS, dir_fd=fd)
        except OSError:
            os.close(fd)
            return None
        os.close(fd)
        fd = nxt
    return fd


def _names(layer: Path, parts: list[str]) -> set[str]:
    fd = _open_dir(layer, parts)
    if fd is None:
        return set()
    names: set[str] = set()
    try:
        with os.scandir(fd) as entries:
            for entry in entries:
                names.add(entry.name)
                if len(names) > MAX_NAMES:
                    raise _TooWide
        return names
    finally:
        os.close(fd)


def _opaque(layer: Path, parts: list[str]) -> bool:
    fd = _open_dir(layer, parts)
    if fd is None:
        return False
    try:
        for name in OPAQUE_XATTRS:
            try:
                if os.getxattr(fd, name) == b"y":
                    return True
            except OSError:
                continue
        return False
    finally:
        os.close(fd)


def _iter_tree(layer: Path, parts: list[str], depth: int) -> Iterator[str]:
    """Every entry below the directory ``parts`` of one layer, links not followed, down to
    ``depth`` levels."""
    fd = _open_dir(layer, parts) if depth > 0 else None
    if fd is None:
        return
    try:
        entries = os.listdir(fd)
        for name in entries:
            yield name
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                yield from _iter_tree(layer, [*parts, name], depth - 1)
    finally:
        os.close(fd)
