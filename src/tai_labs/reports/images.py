"""`image ls`: the images nodes boot from, as typed rows (recipes, then imported and Windows
disks); the CLI renders them as a table, or as JSON through ``to_dict``."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from tai_labs.images.builder import ImageBuilder
from tai_labs.images.disk import list_disk_images
from tai_labs.images.vm import VM_SUFFIX


@dataclass(frozen=True)
class ImageRow:
    name: str
    kind: str  # "recipe", or "disk (OS, ACCESS)"
    parent: str | None
    key: str  # the recipe's cache key ("" for disks)
    built: bool
    vm: bool  # a VM disk is there for it
    path: str | None
    stale_builds: int
    description: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def image_inventory(builder: ImageBuilder | None = None) -> list[ImageRow]:
    """Every recipe and what the cache holds for it, then every imported or Windows disk."""
    builder = builder or ImageBuilder()
    vm_layers = {
        b.name[: -len(VM_SUFFIX)] for b in builder.store.all() if b.name.endswith(VM_SUFFIX)
    }
    rows = [
        ImageRow(
            name=s.name,
            kind="recipe",
            parent=s.parent,
            key=s.key,
            built=s.built is not None,
            vm=s.name in vm_layers,
            path=str(s.built.path) if s.built else None,
            stale_builds=len(s.stale),
            description=s.description,
        )
        for s in builder.list()
    ]
    rows += [
        ImageRow(
            name=d.name,
            kind=f"disk ({d.os}, {d.access.method})",
            parent=None,
            key="",
            built=True,
            vm=True,
            path=str(d.folder),
            stale_builds=0,
            description=f"{d.os} disk image reached over {d.access.method} as {d.access.user}",
        )
        for d in list_disk_images()
    ]
    return rows
