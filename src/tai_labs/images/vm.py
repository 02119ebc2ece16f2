"""Virtual machine images, made from the same recipes as the container images.

A VM image of ``client`` is the ``client`` tree plus the guest layer of
``images/vm/vm-guest.yaml`` (kernel, QEMU guest agent, config-disk reader), built and cached
like any layer as ``client-vm``; its tree is then written into an ext4 file system
(``mkfs.ext4 -d``: no loop mount) and converted to qcow2. Kernel and initrd are kept beside
the disk so QEMU boots them directly: no boot loader, no partition table.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from pydantic import BaseModel

from tai_labs.images.builder import ImageBuilder
from tai_labs.images.errors import ImageBuildError, ImageNotBuiltError
from tai_labs.images.progress import ProgressCallback, StepTracker
from tai_labs.images.recipe import RecipeBook, load_recipe
from tai_labs.images.store import BuiltImage
from tai_labs.locations import locations
from tai_labs.providers.base import VmBoot
from tai_labs.providers.hostcmd import require_tools, run

GUEST_RECIPE = "vm-guest"
VM_SUFFIX = "-vm"
ARTEFACTS = "vm"
MANIFEST = "vm.json"
#: Size of the guest's root file system; qcow2 stores only what is written.
DISK_GIB = 6
KERNEL_CMDLINE = "root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet"
VM_STEPS = [("filesystem", 70.0), ("qcow2", 30.0)]


class VmImage(BaseModel):
    """Manifest of a VM image: the qcow2 base disk and what boots it."""

    name: str  # the container image it derives from (client, ad-dc, ...)
    key: str  # cache key of the <name>-vm layer
    disk: Path
    kernel: Path
    initrd: Path
    cmdline: str = KERNEL_CMDLINE
    virtual_gib: int = DISK_GIB
    build_seconds: float = 0.0

    def boot(self) -> VmBoot:
        return VmBoot(disk=self.disk, kernel=self.kernel, initrd=self.initrd, cmdline=self.cmdline)


def vm_layer_name(image: str) -> str:
    return f"{image}{VM_SUFFIX}"


def _vm_book(builder: ImageBuilder, image: str, recipes_dir: Path | None) -> RecipeBook:
    """The builder's recipes plus ``<image>-vm``: the guest layer over ``image``."""
    folder = (recipes_dir or locations().recipes) / "vm"
    guest = load_recipe(folder / f"{GUEST_RECIPE}.yaml")
    builder.recipes.get(image)  # a clear error for an unknown image
    layer = guest.model_copy(update={"name": vm_layer_name(image), "parent": image})
    return RecipeBook({**builder.recipes.recipes, layer.name: layer})


def vm_builder(
    image: str, builder: ImageBuilder | None = None, recipes_dir: Path | None = None
) -> ImageBuilder:
    base = builder or ImageBuilder()
    return ImageBuilder(_vm_book(base, image, recipes_dir), data=base.data, mirror=base.mirror)


def get_vm_image(image: str, builder: ImageBuilder | None = None) -> VmImage:
    """The cached VM image for the current recipes, or ImageNotBuiltError."""
    vb = vm_builder(image, builder)
    layer = vb.get(vm_layer_name(image))
    manifest = layer.path / ARTEFACTS / MANIFEST
    if not manifest.is_file():
        raise ImageNotBuiltError(
            f"VM image {image!r} has no disk yet", hint=f"tai-labs image build {image} --vm"
        )
    return VmImage.model_validate_json(manifest.read_text())


def build_vm_image(
    image: str,
    builder: ImageBuilder | None = None,
    *,
    progress: ProgressCallback | None = None,
    force: bool = False,
) -> VmImage:
    """Build (or reuse) the VM image of ``image``: its layer, then disk, kernel, initrd."""
    vb = vm_builder(image, builder)
    name = vm_layer_name(image)
    layer = vb.build(name, progress=progress, force=force)
    folder = layer.path / ARTEFACTS
    manifest = folder / MANIFEST
    if manifest.is_file() and not force:
        StepTracker(name, [("cached", 1.0)], progress).finish("cached")
        return VmImage.model_validate_json(manifest.read_text())
    with vb.store.lock(name):
        if manifest.is_file() and not force:
            return VmImage.model_validate_json(manifest.read_text())
        return _make_artefacts(image, layer, folder, StepTracker(name, VM_STEPS, progress))


def probe_boot() -> VmBoot:
    """The Linux VM the engine test-boots to choose KVM or TCG (see providers.accel)."""
    return build_vm_image("base").boot()


def _make_artefacts(image: str, layer: BuiltImage, folder: Path, tracker: StepTracker) -> VmImage:
    require_tools("mkfs.ext4", "qemu-img")
    started = time.monotonic()
    folder.mkdir(exist_ok=True)
    boot = layer.rootfs / "boot"
    kernels = sorted(boot.glob("vmlinuz-*"))
    initrds = sorted(boot.glob("initrd.img-*"))
    if not kernels or not initrds:
        raise ImageBuildError(
            f"VM layer of {image!r} has no kernel or initrd in /boot",
            hint="check images/vm/vm-guest.yaml installs a linux-image package",
        )
    raw = folder / ".disk.raw"
    tmp_qcow = folder / ".disk.qcow2"
    try:
        tracker.begin("filesystem", f"{DISK_GIB} GiB ext4")
        with open(raw, "wb") as fh:
            fh.truncate(DISK_GIB * 2**30)
        # -d copies the tree with owners, modes and xattrs; no mount, no loop device.
        run(["mkfs.ext4", "-q", "-F", "-L", "root", "-d", str(layer.rootfs), str(raw)])
        tracker.begin("qcow2")
        run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(raw), str(tmp_qcow)])
        kernel, initrd = folder / "vmlinuz", folder / "initrd.img"
        for src, dst in ((kernels[-1], kernel), (initrds[-1], initrd)):
            dst.write_bytes(src.read_bytes())
        disk = folder / "disk.qcow2"
        os.replace(tmp_qcow, disk)
        # Base disks are only ever read (nodes write to their own overlays).
        for path in (disk, kernel, initrd):
            path.chmod(0o444)
        vm = VmImage(
            name=image,
            key=layer.key,
            disk=disk,
            kernel=kernel,
            initrd=initrd,
            build_seconds=round(time.monotonic() - started, 1),
        )
        # Written last: a folder with a manifest is complete.
        (folder / MANIFEST).write_text(json.dumps(vm.model_dump(mode="json"), indent=2))
        tracker.finish()
        return vm
    finally:
        raw.unlink(missing_ok=True)
        tmp_qcow.unlink(missing_ok=True)
