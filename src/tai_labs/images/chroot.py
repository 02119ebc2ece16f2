"""A chroot prepared for apt: kernel filesystems, the shared .deb cache, no service starts.

The mounts exist only inside the ``with`` block and are always undone, even when apt
fails or the build is interrupted, so a build folder never keeps the host's /dev mounted.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from tai_labs.providers.errors import CommandError
from tai_labs.providers.mounts import unmount, unmount_tree

CHROOT_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LC_ALL": "C.UTF-8",
    "DEBIAN_FRONTEND": "noninteractive",
    "DEBCONF_NONINTERACTIVE_SEEN": "true",
}

# Tells invoke-rc.d/deb-systemd-invoke not to start services: nothing should run on the
# build host on behalf of the image.
POLICY_RC_D = "#!/bin/sh\nexit 101\n"

# apt options for every run in the chroot. The sandbox user would need to own the
# bind-mounted cache; root is fine in a throwaway build tree.
APT_OPTS = [
    "-o",
    "APT::Sandbox::User=root",
    "-o",
    "Dpkg::Options::=--force-confdef",
    "-o",
    "Dpkg::Options::=--force-confold",
    "-o",
    "Dpkg::Use-Pty=0",
    "-o",
    "Acquire::Retries=3",
]

StatusCallback = Callable[[str], None]


def stream(
    argv: Sequence[str],
    log: IO[bytes],
    *,
    env: dict[str, str] | None = None,
    on_line: Callable[[str], None] | None = None,
    status_fd_opt: bool = False,
    on_status: StatusCallback | None = None,
) -> None:
    """Run argv, appending its output to log and feeding lines to callbacks.

    With ``status_fd_opt``, an ``-o APT::Status-Fd=N`` pair is appended to argv so apt
    reports machine-readable progress on a pipe read by ``on_status``.
    """
    argv = list(argv)
    log.write(("$ " + " ".join(argv) + "\n").encode())
    log.flush()
    r_fd = w_fd = -1
    pass_fds: tuple[int, ...] = ()
    if status_fd_opt:
        r_fd, w_fd = os.pipe()
        argv += ["-o", f"APT::Status-Fd={w_fd}"]
        pass_fds = (w_fd,)
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, pass_fds=pass_fds
    )
    reader: threading.Thread | None = None
    if status_fd_opt:
        os.close(w_fd)
        reader = threading.Thread(target=_read_status, args=(r_fd, on_status), daemon=True)
        reader.start()
    assert proc.stdout is not None
    tail: list[str] = []
    for raw in proc.stdout:
        log.write(raw)
        line = raw.decode(errors="replace").rstrip("\n")
        tail = [*tail, line][-20:]
        if on_line:
            on_line(line)
    rc = proc.wait()
    if reader:
        reader.join(timeout=5)
    log.flush()
    if rc != 0:
        raise CommandError(argv, rc, "\n".join(tail))


def _read_status(fd: int, cb: StatusCallback | None) -> None:
    with os.fdopen(fd, "rb") as fh:
        for raw in fh:
            if cb:
                cb(raw.decode(errors="replace").strip())


class Chroot:
    """Runs commands inside a mounted build tree; create with ``mounted_chroot``."""

    def __init__(self, root: Path, log: IO[bytes]) -> None:
        self.root = root
        self.log = log

    def run(self, argv: Sequence[str], **kwargs: object) -> None:
        stream(["chroot", str(self.root), *argv], self.log, env=CHROOT_ENV, **kwargs)  # type: ignore[arg-type]

    def apt(self, args: Sequence[str], on_status: StatusCallback | None = None) -> None:
        self.run(["apt-get", *APT_OPTS, *args], status_fd_opt=True, on_status=on_status)


def _mount(argv: list[str], target: Path, done: list[Path]) -> None:
    subprocess.run([*argv, str(target)], check=True, capture_output=True)
    done.append(target)


@contextmanager
def cache_lock(apt_cache: Path) -> Iterator[None]:
    """The right to use the shared .deb cache: apt locks ``archives/lock`` without waiting,
    so two builds at once (two images for two labs' `up`, in threads or processes) would
    fail on it. A lock file of ours beside apt's; flock on a fresh open file, threads wait."""
    apt_cache.mkdir(parents=True, exist_ok=True)
    with open(apt_cache / ".tai-labs.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextmanager
def mounted_chroot(root: Path, apt_cache: Path, log: IO[bytes]) -> Iterator[Chroot]:
    """Mount proc, sys, dev, dev/pts and the .deb cache into root for the block's duration;
    one such chroot at a time (``cache_lock``)."""
    with cache_lock(apt_cache):
        apt_cache.mkdir(parents=True, exist_ok=True)
        (apt_cache / "partial").mkdir(exist_ok=True)
        policy = root / "usr/sbin/policy-rc.d"
        resolv = root / "etc/resolv.conf"
        saved_resolv = _read_resolv(resolv)
        done: list[Path] = []
        try:
            policy.write_text(POLICY_RC_D)
            policy.chmod(0o755)
            # apt needs the host's resolver; the image keeps its own file afterwards.
            resolv.unlink(missing_ok=True)
            resolv.write_bytes(Path("/etc/resolv.conf").read_bytes())
            _mount(["mount", "-t", "proc", "proc"], root / "proc", done)
            _mount(["mount", "-t", "sysfs", "-o", "ro", "sysfs"], root / "sys", done)
            _mount(["mount", "--bind", "/dev"], root / "dev", done)
            _mount(["mount", "--bind", "/dev/pts"], root / "dev/pts", done)
            archives = root / "var/cache/apt/archives"
            archives.mkdir(parents=True, exist_ok=True)
            _mount(["mount", "--bind", str(apt_cache)], archives, done)
            yield Chroot(root, log)
        finally:
            for mnt in reversed(done):
                unmount(mnt)
            # Anything a maintainer script mounted (binfmt_misc, ...) goes too.
            unmount_tree(root)
            policy.unlink(missing_ok=True)
            _restore_resolv(resolv, saved_resolv)


def _read_resolv(path: Path) -> tuple[str, str] | None:
    if path.is_symlink():
        return ("link", os.readlink(path))
    if path.is_file():
        return ("file", path.read_text())
    return None


def _restore_resolv(path: Path, saved: tuple[str, str] | None) -> None:
    path.unlink(missing_ok=True)
    if saved is None:
        return
    kind, value = saved
    if kind == "link":
        path.symlink_to(value)
    else:
        path.write_text(value)
