"""Files and folders only their owner may read (keys, passwords, the state store, the labs).

Everything sensitive the tool keeps on the host is made owner-only here, at birth when it is
new and on the next use when an older release left it readable by others.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

#: Mode of a private file, and of a private folder that others must not even traverse.
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
#: A folder others may traverse to a path they are given (QEMU, running as another user, to
#: a lab's disks) but not list.
TRAVERSE_ONLY_DIR = 0o711


def write_private(path: Path, data: str | bytes) -> None:
    """Write data to path with mode 0600, atomically (a reader sees the old or the new).

    The file is created 0600 rather than chmod-ed afterwards, so the secret is never
    readable by others, even for an instant; an existing file of another mode is replaced.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def tighten(path: Path, mode: int) -> None:
    """Take away from ``path`` every permission ``mode`` does not grant (never add one).

    Does nothing when the path is missing or belongs to someone else (a reader that is not
    the owner could not change it, and must still be able to read what it may).
    """
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode) or st.st_uid != os.geteuid():
        return
    current = stat.S_IMODE(st.st_mode)
    if current & ~mode:
        os.chmod(path, current & mode)


def create_private(path: Path) -> None:
    """Make ``path`` an owner-only file: created empty with mode 0600 if missing (never
    readable by others, even for an instant), tightened to 0600 if it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE)
    except FileExistsError:
        tighten(path, PRIVATE_FILE)
    else:
        os.close(fd)


def private_folder(path: Path, mode: int = PRIVATE_DIR) -> Path:
    """``path`` as a folder that grants nobody more than ``mode``: made with it, or tightened
    to it (its parents are made with the default mode)."""
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    tighten(path, mode)
    return path
