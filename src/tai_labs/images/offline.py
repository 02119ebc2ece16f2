"""The offline package source of an image: .debs a lab node can install with no network.

A recipe's ``offline_packages`` are not installed. At build time apt resolves them against
the tree (so only what is missing is kept), downloads them through the shared .deb cache,
and the files are copied into ``OFFLINE_REPO`` inside the image, indexed on the host with
``apt-ftparchive`` and named as the image's only apt source. The lists of that source are
kept in the image, so ``apt-get install PKG`` works in a node even before ``apt-get update``,
and ``apt-get update`` never waits for an unreachable mirror.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tai_labs.images.chroot import APT_OPTS, CHROOT_ENV, Chroot, StatusCallback
from tai_labs.images.recipe import OFFLINE_REPO
from tai_labs.providers.errors import CommandError

SOURCES_LIST = f"""\
# Lab nodes have no route to Debian's mirrors: apt installs from the packages tai-labs
# stored in this image (the image recipe's offline_packages).
deb [trusted=yes] file:{OFFLINE_REPO} ./
"""

# "Inst name [old version] (version origins [arch])" in `apt-get install -s` output.
_INST = re.compile(
    r"^Inst (?P<name>\S+) (?:\[[^\]]*\] )?"  # an upgrade names the installed version first
    r"\((?P<version>\S+) .*\[(?P<arch>[^\]]+)\]\)"
)


@dataclass(frozen=True)
class Deb:
    """One package version apt would fetch."""

    name: str
    version: str
    arch: str

    @property
    def filename(self) -> str:
        """The file apt stores it as in /var/cache/apt/archives (epoch ':' quoted)."""
        return f"{self.name}_{self.version.replace(':', '%3a')}_{self.arch}.deb"


def parse_simulation(output: str) -> list[Deb]:
    """The packages an ``apt-get install -s`` run would install or upgrade."""
    debs = []
    for line in output.splitlines():
        m = _INST.match(line)
        if m:
            debs.append(Deb(m["name"].split(":")[0], m["version"], m["arch"]))
    return debs


def repo_dir(rootfs: Path) -> Path:
    return rootfs / OFFLINE_REPO.lstrip("/")


def add_packages(
    ch: Chroot,
    apt_cache: Path,
    packages: Sequence[str],
    log: IO[bytes],
    on_status: StatusCallback | None = None,
) -> list[Deb]:
    """Download packages and their missing dependencies into the image's repository folder.

    Names come from a validated recipe (never an option), and ``Chroot.apt`` appends its
    own options after them, hence no ``--``. What apt would fetch is read from a simulation,
    so packages already in the tree are left out and files found in the shared cache are
    reused, not downloaded again.
    """
    argv = ["chroot", str(ch.root), "apt-get", *APT_OPTS, "install", "-s", *packages]
    log.write(("$ " + " ".join(argv) + "\n").encode())
    sim = subprocess.run(argv, env=CHROOT_ENV, capture_output=True, text=True, check=False)
    log.write((sim.stdout + sim.stderr).encode())
    if sim.returncode != 0:
        raise CommandError(argv, sim.returncode, (sim.stderr or sim.stdout)[-2000:])
    debs = parse_simulation(sim.stdout)
    if debs:
        ch.apt(["install", "--download-only", "-y", *packages], on_status=on_status)
    target = repo_dir(ch.root)
    target.mkdir(parents=True, exist_ok=True)
    target.chmod(0o755)
    for deb in debs:
        source = apt_cache / deb.filename
        if not source.is_file():
            raise CommandError(
                argv, 1, f"apt downloaded {deb.name} {deb.version} but {source} is missing"
            )
        shutil.copyfile(source, target / deb.filename)
        (target / deb.filename).chmod(0o644)
    return debs


def index(rootfs: Path, log: IO[bytes]) -> None:
    """Write Packages and Release of the repository folder (apt-ftparchive, on the host)."""
    folder = repo_dir(rootfs)
    for name, argv in (
        ("Packages", ["apt-ftparchive", "packages", "."]),
        (
            "Release",
            [
                "apt-ftparchive",
                "-o",
                "APT::FTPArchive::Release::Origin=tai-labs",
                "-o",
                "APT::FTPArchive::Release::Label=tai-labs offline packages",
                "release",
                ".",
            ],
        ),
    ):
        log.write(("$ (cd " + str(folder) + " && " + " ".join(argv) + ")\n").encode())
        done = subprocess.run(argv, cwd=folder, capture_output=True, check=False)
        log.write(done.stderr)
        if done.returncode != 0:
            raise CommandError(argv, done.returncode, done.stderr.decode(errors="replace"))
        (folder / name).write_bytes(done.stdout)
        (folder / name).chmod(0o644)


def use_as_only_source(ch: Chroot) -> None:
    """Make the repository the image's only apt source and fill apt's lists from it."""
    (ch.root / "etc/apt/sources.list").write_text(SOURCES_LIST)
    for path in (ch.root / "var/lib/apt/lists").glob("*"):
        if path.is_file():
            path.unlink()
    ch.apt(["update", "--error-on=any"])


__all__ = ["SOURCES_LIST", "Deb", "add_packages", "index", "parse_simulation", "repo_dir"]
