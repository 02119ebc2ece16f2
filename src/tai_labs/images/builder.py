"""Builds images from recipes into the cache: debootstrap for roots, copy + apt for layers."""

from __future__ import annotations

import builtins
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from tai_labs.images import offline
from tai_labs.images.chroot import cache_lock, mounted_chroot, stream
from tai_labs.images.disk import remove_disk_image
from tai_labs.images.errors import ImageBuildError, ImageInUseError, ImageNotBuiltError
from tai_labs.images.progress import (
    ProgressCallback,
    StepTracker,
    apt_fraction,
    debootstrap_fraction,
)
from tai_labs.images.recipe import DEFAULT_MIRROR, Recipe, RecipeBook, cache_key
from tai_labs.images.store import BuiltImage, ImageStore
from tai_labs.locations import locations
from tai_labs.providers.errors import CommandError
from tai_labs.providers.hostcmd import require_root, require_tools
from tai_labs.providers.mounts import safe_rmtree

# Relative weights of the steps, from measured build times (debootstrap dominates a root).
ROOT_STEPS = [
    ("debootstrap", 45.0),
    ("configure", 1.0),
    ("apt-update", 4.0),
    ("install", 40.0),
    ("post-install", 3.0),
    ("offline-repo", 5.0),
    ("finalize", 7.0),
]
LAYER_STEPS = [
    ("copy-parent", 10.0),
    ("configure", 1.0),
    ("apt-update", 4.0),
    ("install", 75.0),
    ("post-install", 3.0),
    ("offline-repo", 5.0),
    ("finalize", 7.0),
]


@dataclass
class ImageStatus:
    """A recipe and what the cache holds for it."""

    name: str
    description: str
    parent: str | None
    key: str
    built: BuiltImage | None
    stale: list[BuiltImage] = field(default_factory=list)


class ImageBuilder:
    def __init__(
        self,
        recipes: RecipeBook | None = None,
        *,
        data: Path | None = None,
        mirror: str | None = None,
    ) -> None:
        self.recipes = recipes or RecipeBook.from_dir()
        where = locations(data)
        self.data = where.data
        self.store = ImageStore(where.images)
        self.apt_cache = where.apt_cache
        self.mirror = mirror or DEFAULT_MIRROR

    # -- queries -------------------------------------------------------------------------

    def get(self, name: str) -> BuiltImage:
        """The cached image matching the current recipe, or ImageNotBuiltError."""
        image = self.store.get(name, self.recipes.key(name))
        if image is None:
            raise ImageNotBuiltError(
                f"image {name!r} is not built for its current recipe",
                hint=f"tai-labs image build {name}",
            )
        return image

    def list(self) -> builtins.list[ImageStatus]:
        out = []
        for name, recipe in sorted(self.recipes.recipes.items()):
            key = self.recipes.key(name)
            builds = self.store.of_name(name)
            out.append(
                ImageStatus(
                    name=name,
                    description=recipe.description,
                    parent=recipe.parent,
                    key=key,
                    built=next((b for b in builds if b.key == key), None),
                    stale=[b for b in builds if b.key != key],
                )
            )
        return out

    # -- changes -------------------------------------------------------------------------

    def build(
        self, name: str, *, progress: ProgressCallback | None = None, force: bool = False
    ) -> BuiltImage:
        """Build name and its parents as needed; cached images are reused unless force."""
        chain = self.recipes.chain(name)
        parent: BuiltImage | None = None
        key: str | None = None
        for recipe in chain:
            key = cache_key(recipe, key)
            rebuild = force and recipe.name == name
            parent = self._ensure(recipe, key, parent, progress, rebuild)
        assert parent is not None
        return parent

    def remove(self, name: str) -> builtins.list[Path]:
        """Delete every cached build of name (any recipe version), or the imported or Windows
        disk of that name; refuse if a lab uses one."""
        disk = remove_disk_image(name, self.data)
        if disk is not None:
            return [disk]
        removed: builtins.list[Path] = []
        for image in self.store.of_name(name):
            users = self._users_of(image)
            if users:
                raise ImageInUseError(
                    f"image {name!r} is used by lab node(s): {', '.join(users)}",
                    hint="destroy those labs first",
                )
            self.store.delete(image)
            removed.append(image.path)
        return removed

    def prune(self) -> builtins.list[Path]:
        """Delete builds whose recipe changed since, and leftovers of dead builds."""
        removed = self.store.sweep_stale_builds()
        for status in self.list():
            for image in status.stale:
                if not self._users_of(image):
                    self.store.delete(image)
                    removed.append(image.path)
        return removed

    # -- internals -----------------------------------------------------------------------

    def _users_of(self, image: BuiltImage) -> builtins.list[str]:
        # Node configs name their lower layer; see providers.lxc for the layout.
        needle = f"overlay:{image.rootfs}:"
        users = []
        for config in locations(self.data).labs.glob("*/lxc/*/config"):
            if needle in config.read_text(errors="replace"):
                users.append(f"{config.parent.parent.parent.name}/{config.parent.name}")
        return users

    def _ensure(
        self,
        recipe: Recipe,
        key: str,
        parent: BuiltImage | None,
        progress: ProgressCallback | None,
        force: bool,
    ) -> BuiltImage:
        cached = self.store.get(recipe.name, key)
        if cached and not force:
            StepTracker(recipe.name, [("cached", 1.0)], progress).finish("cached")
            return cached
        require_root("building images")
        require_tools("debootstrap", "chroot", "mount")
        if recipe.offline_packages:
            require_tools("apt-ftparchive")
        with self.store.lock(recipe.name):
            # Another process may have built it while we waited for the lock.
            cached = self.store.get(recipe.name, key)
            if cached and not force:
                StepTracker(recipe.name, [("cached", 1.0)], progress).finish("cached")
                return cached
            self.store.sweep_stale_builds()
            return self._build_one(recipe, key, parent, progress)

    def _build_one(
        self, recipe: Recipe, key: str, parent: BuiltImage | None, progress: ProgressCallback | None
    ) -> BuiltImage:
        tmp = self.store.build_dir(recipe.name, key)
        safe_rmtree(tmp)
        tmp.mkdir(parents=True)
        rootfs = tmp / "rootfs"
        tracker = StepTracker(recipe.name, ROOT_STEPS if recipe.is_root else LAYER_STEPS, progress)
        has_repo = self.recipes.has_offline_repo(recipe.name)
        started = time.monotonic()
        log = open(tmp / "build.log", "ab")  # noqa: SIM115 - closed in both branches below
        try:
            if recipe.is_root:
                self._debootstrap(recipe, rootfs, log, tracker)
            else:
                assert parent is not None
                tracker.begin("copy-parent")
                stream(["cp", "-a", "--reflink=auto", str(parent.rootfs), str(rootfs)], log)
            tracker.begin("configure")
            self._configure(recipe, rootfs)
            with mounted_chroot(rootfs, self.apt_cache, log) as ch:
                tracker.begin("apt-update")
                ch.apt(["update", "--error-on=any"])
                tracker.begin("install", f"{len(recipe.packages)} packages")
                if recipe.packages:
                    ch.apt(
                        ["install", "-y", "--no-install-recommends", *recipe.packages],
                        on_status=lambda line: _apt_progress(tracker, line),
                    )
                tracker.begin("post-install")
                for i, argv in enumerate(recipe.post_install):
                    ch.run(list(argv))
                    tracker.update((i + 1) / len(recipe.post_install))
                tracker.begin("offline-repo", f"{len(recipe.offline_packages)} packages")
                if recipe.offline_packages:
                    offline.add_packages(
                        ch,
                        self.apt_cache,
                        recipe.offline_packages,
                        log,
                        on_status=lambda line: _apt_progress(tracker, line),
                    )
                    offline.index(rootfs, log)
                if has_repo:
                    offline.use_as_only_source(ch)
            tracker.begin("finalize")
            _finalize(rootfs, tmp, keep_lists=has_repo)
            size = int(
                subprocess.run(
                    ["du", "-sb", str(rootfs)], capture_output=True, text=True, check=True
                ).stdout.split()[0]
            )
            image = BuiltImage(
                name=recipe.name,
                key=key,
                parent=recipe.parent,
                parent_key=parent.key if parent else None,
                built_at=datetime.now(UTC),
                build_seconds=round(time.monotonic() - started, 1),
                size_bytes=size,
                path=tmp,
            )
            log.close()
            image = self.store.commit(tmp, image)
            tracker.finish()
            return image
        except BaseException as exc:
            # Keep the log for diagnosis, then leave nothing that could pass for an image.
            log.close()
            failed = self.store.failed_log(recipe.name)
            shutil.copyfile(tmp / "build.log", failed)
            safe_rmtree(tmp)
            if isinstance(exc, (CommandError, OSError, subprocess.CalledProcessError)):
                raise ImageBuildError(
                    f"building image {recipe.name!r} failed: {exc}", hint=f"full log: {failed}"
                ) from exc
            raise

    def _debootstrap(
        self, recipe: Recipe, rootfs: Path, log: IO[bytes], tracker: StepTracker
    ) -> None:
        assert recipe.bootstrap is not None
        boot = recipe.bootstrap
        self.apt_cache.mkdir(parents=True, exist_ok=True)
        tracker.begin("debootstrap", boot.suite)
        argv = [
            "debootstrap",
            f"--variant={boot.variant}",
            f"--components={','.join(boot.components)}",
            f"--cache-dir={self.apt_cache.resolve()}",
        ]
        if boot.include:
            argv.append(f"--include={','.join(boot.include)}")
        argv += [boot.suite, str(rootfs), boot.mirror or self.mirror]

        def on_line(line: str) -> None:
            fraction = debootstrap_fraction(line)
            if fraction is not None:
                tracker.update(fraction, line[3:])

        with cache_lock(self.apt_cache):  # it fills the shared cache too
            stream(argv, log, on_line=on_line)
        # debootstrap leaves its .debs in the tree; the shared cache already has them.
        _empty_dir(rootfs / "var/cache/apt/archives", "*.deb")

    def _configure(self, recipe: Recipe, rootfs: Path) -> None:
        sources = self.recipes.sources_for(recipe.name)
        if sources:
            text = "\n".join(line.replace("{mirror}", self.mirror) for line in sources) + "\n"
            (rootfs / "etc/apt/sources.list").write_text(text)
        for entry in recipe.files:
            target = rootfs / entry.path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(entry.content)
            target.chmod(entry.mode)


def _apt_progress(tracker: StepTracker, line: str) -> None:
    parsed = apt_fraction(line)
    if parsed:
        tracker.update(parsed[0], parsed[1])


def _empty_dir(folder: Path, pattern: str) -> None:
    for path in folder.glob(pattern):
        if path.is_file() or path.is_symlink():
            path.unlink()


def _finalize(rootfs: Path, tmp: Path, *, keep_lists: bool = False) -> None:
    """Drop what is host- or build-specific and record the package list.

    keep_lists: the image's only source is its offline repository, whose lists are small
    and let a node install from it without an ``apt-get update`` first.
    """
    _empty_dir(rootfs / "var/cache/apt/archives", "*.deb")
    # apt's binary caches (~80 MB) are rebuilt on the next apt run.
    _empty_dir(rootfs / "var/cache/apt", "*.bin")
    lists = rootfs / "var/lib/apt/lists"
    for path in lists.glob("*"):
        if path.is_file() and not (keep_lists and path.name != "lock"):
            path.unlink()
    # debootstrap copied the host's resolver; each node gets its own at creation.
    resolv = rootfs / "etc/resolv.conf"
    if resolv.is_symlink() or resolv.exists():
        resolv.unlink()
    resolv.write_text("# written per node by tai-labs\n")
    listing = subprocess.run(
        [
            "dpkg-query",
            f"--admindir={rootfs / 'var/lib/dpkg'}",
            "-W",
            "-f",
            "${Package}\t${Version}\n",
        ],
        capture_output=True,
        check=False,
    )
    (tmp / "packages.txt").write_bytes(listing.stdout)
