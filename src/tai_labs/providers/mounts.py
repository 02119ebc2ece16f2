"""Finding and removing mounts under a folder, and deleting folders that may hold mounts.

A chroot build bind-mounts the host's /dev; a plain ``rm -rf`` of a build folder whose
unmount was missed would delete host device nodes. So every removal here unmounts
first and then refuses to cross filesystems.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tai_labs.providers.errors import RuntimeLayerError


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal.
    return (
        field.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
    )


def mounts_under(path: Path) -> list[Path]:
    """Mount points at or below path, deepest first (the order to unmount them)."""
    root = os.path.realpath(path)
    found: list[Path] = []
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        for line in fh:
            mnt = _unescape(line.split()[4])
            if mnt == root or mnt.startswith(root.rstrip("/") + "/"):
                found.append(Path(mnt))
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def unmount(mountpoint: Path) -> None:
    """Unmount one mount point, falling back to a lazy detach if it is busy."""
    proc = subprocess.run(["umount", str(mountpoint)], capture_output=True, check=False)
    if proc.returncode != 0:
        subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True, check=False)


def unmount_tree(path: Path) -> list[Path]:
    """Unmount everything at or below path; return what was unmounted."""
    done: list[Path] = []
    # Stacked mounts on one point need several passes; bound the loop so a stuck mount
    # ends in an error rather than a hang.
    for _ in range(8):
        todo = mounts_under(path)
        if not todo:
            return done
        for mnt in todo:
            unmount(mnt)
            done.append(mnt)
    leftover = mounts_under(path)
    if leftover:
        raise RuntimeLayerError(f"could not unmount {', '.join(map(str, leftover))}")
    return done


def safe_rmtree(path: Path) -> None:
    """Delete a folder that may contain mounts: unmount, then rm without crossing filesystems."""
    if not path.exists() and not path.is_symlink():
        return
    unmount_tree(path)
    # rm handles overlay whiteouts and odd permissions better than shutil.rmtree, and
    # --one-file-system is a last guard against a mount we failed to see.
    proc = subprocess.run(
        ["rm", "-rf", "--one-file-system", "--", str(path)], capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeLayerError(
            f"could not delete {path}: {proc.stderr.decode(errors='replace').strip()}"
        )
