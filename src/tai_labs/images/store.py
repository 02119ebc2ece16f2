"""The image cache on disk: ``<data>/images/<name>-<key12>/{rootfs,image.json,build.log}``.

A build happens in ``.build-<name>-<key12>-<pid>`` and becomes visible only by a rename
after ``image.json`` is written, so a folder without a leading dot that has a manifest is
always complete. Leftover build folders of dead processes are swept on the next build.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel

from tai_labs.locations import locations
from tai_labs.providers.mounts import safe_rmtree

KEY_LEN = 12
MANIFEST = "image.json"
_BUILD_RE = re.compile(r"^\.build-(?P<name>[a-z0-9-]+)-(?P<key>[0-9a-f]{12})-(?P<pid>\d+)$")


class BuiltImage(BaseModel):
    """Manifest of a complete image, stored as image.json beside its rootfs."""

    name: str
    key: str
    parent: str | None
    parent_key: str | None
    built_at: datetime
    build_seconds: float
    size_bytes: int
    path: Path  # the image folder; the tree is path / "rootfs"

    @property
    def rootfs(self) -> Path:
        return self.path / "rootfs"


class ImageStore:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or locations().images

    def final_dir(self, name: str, key: str) -> Path:
        return self.root / f"{name}-{key[:KEY_LEN]}"

    def build_dir(self, name: str, key: str) -> Path:
        return self.root / f".build-{name}-{key[:KEY_LEN]}-{os.getpid()}"

    def failed_log(self, name: str) -> Path:
        return self.root / f".failed-{name}.log"

    def get(self, name: str, key: str) -> BuiltImage | None:
        """The complete image for this exact key, or None."""
        manifest = self.final_dir(name, key) / MANIFEST
        if not manifest.is_file():
            return None
        image = BuiltImage.model_validate_json(manifest.read_text())
        return image if image.key == key else None

    def all(self) -> list[BuiltImage]:
        if not self.root.is_dir():
            return []
        found = []
        for manifest in sorted(self.root.glob(f"*/{MANIFEST}")):
            if not manifest.parent.name.startswith("."):
                found.append(BuiltImage.model_validate_json(manifest.read_text()))
        return found

    def of_name(self, name: str) -> list[BuiltImage]:
        return [img for img in self.all() if img.name == name]

    def commit(self, tmp: Path, image: BuiltImage) -> BuiltImage:
        """Write the manifest and publish tmp as the image folder in one rename."""
        final = self.final_dir(image.name, image.key)
        image = image.model_copy(update={"path": final})
        (tmp / MANIFEST).write_text(image.model_dump_json(indent=2))
        if final.exists():
            # Same key built by an earlier run that we could not see (manifest-less leftovers
            # are not images); replace it.
            safe_rmtree(final)
        os.rename(tmp, final)
        return image

    def delete(self, image: BuiltImage) -> None:
        # Drop the manifest first: a half-deleted folder must not look complete.
        (image.path / MANIFEST).unlink(missing_ok=True)
        safe_rmtree(image.path)

    def sweep_stale_builds(self) -> list[Path]:
        """Remove build folders whose builder process is gone."""
        removed: list[Path] = []
        if not self.root.is_dir():
            return removed
        for entry in self.root.iterdir():
            m = _BUILD_RE.fullmatch(entry.name)
            if m and not _pid_alive(int(m["pid"])):
                safe_rmtree(entry)
                removed.append(entry)
        return removed

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Serialise builds of one image name across processes."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f".lock-{name}", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
