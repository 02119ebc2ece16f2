"""Disk images that are not built from a recipe: imported by the instructor, or Windows.

Each lives in ``<data>/images/<name>/`` as ``disk.qcow2`` (never written: nodes boot from
overlays), ``meta.json`` (what the disk is and how the tool reaches it) and
``secrets.json`` (mode 0600: the account's password). ``tai-labs image build-windows``
writes the same layout (see ``images.windows``); ``tai-labs image import`` writes it from a
disk file the instructor brings (qcow2, raw, vmdk, vdi, vhdx: anything ``qemu-img`` reads).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tai_labs.errors import UsageError
from tai_labs.images.errors import ImageBuildError, ImageInUseError
from tai_labs.locations import locations
from tai_labs.private_files import write_private
from tai_labs.providers.base import VmBoot
from tai_labs.providers.hostcmd import require_tools, run

META_FILE = "meta.json"
SECRETS_FILE = "secrets.json"
DISK_FILE = "disk.qcow2"
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{1,40}$")


class Access(BaseModel):
    """How the tool logs in to a node of this image."""

    model_config = ConfigDict(extra="allow")

    method: Literal["ssh", "winrm"]
    user: str
    port: int | None = None
    password_secret: str = "admin_password"
    secrets_file: str = SECRETS_FILE


class DiskImage(BaseModel):
    """meta.json of an imported or Windows disk image (extra keys are kept, not checked)."""

    model_config = ConfigDict(extra="allow")

    name: str
    os: Literal["linux", "windows"]
    disk: str = DISK_FILE
    access: Access
    memory_mib: int | None = Field(default=None, ge=256)
    guest_agent: bool = True
    folder: Path | None = None  # where it was read from (not stored)

    @property
    def disk_path(self) -> Path:
        assert self.folder is not None
        return self.folder / self.disk

    def boot(self) -> VmBoot:
        return VmBoot(disk=self.disk_path, os=self.os)

    def password(self) -> str:
        """The account's password from secrets.json (0600)."""
        assert self.folder is not None
        data = json.loads((self.folder / self.access.secrets_file).read_text(encoding="utf-8"))
        return str(data[self.access.password_secret])


def write_secrets(folder: Path, password: str) -> Path:
    """secrets.json (mode 0600): the account's password, under the key meta.json names."""
    path = folder / SECRETS_FILE
    write_private(path, json.dumps({"admin_password": password}, indent=2) + "\n")
    return path


def find_disk_image(name: str, base: Path | None = None) -> DiskImage | None:
    """The disk image called name, or None if there is none (it may be a recipe)."""
    folder = locations(base).images / name
    meta = folder / META_FILE
    if not NAME_RE.fullmatch(name) or not meta.is_file():
        return None
    image = DiskImage.model_validate_json(meta.read_text(encoding="utf-8"))
    return image.model_copy(update={"folder": folder})


def list_disk_images(base: Path | None = None) -> list[DiskImage]:
    root = locations(base).images
    if not root.is_dir():
        return []
    found = [find_disk_image(p.parent.name, base) for p in sorted(root.glob(f"*/{META_FILE}"))]
    return [image for image in found if image is not None]


def import_disk(
    name: str,
    source: Path,
    *,
    os_family: Literal["linux", "windows"],
    method: Literal["ssh", "winrm"],
    user: str,
    password: str,
    memory_mib: int | None = None,
    base: Path | None = None,
) -> DiskImage:
    """Convert source to qcow2 under images/<name>/ with its meta and secrets."""
    if not NAME_RE.fullmatch(name):
        raise UsageError(
            f"invalid image name {name!r}", hint="2-41 chars of [a-z0-9-], starting with a letter"
        )
    if not source.is_file():
        raise UsageError(f"{source}: no such file")
    if not password:
        raise UsageError("the image's account needs a password", hint="--password-env VAR")
    require_tools("qemu-img")
    root = locations(base).images
    folder = root / name
    if folder.exists():
        raise UsageError(
            f"an image named {name!r} already exists", hint=f"tai-labs image rm {name}"
        )
    tmp = root / f".import-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    started = time.monotonic()
    try:
        try:
            run(["qemu-img", "convert", "-q", "-O", "qcow2", str(source), str(tmp / DISK_FILE)])
        except Exception as exc:
            raise ImageBuildError(f"qemu-img cannot read {source}: {exc}") from exc
        (tmp / DISK_FILE).chmod(0o444)
        write_secrets(tmp, password)
        meta = {
            "format": 1,
            "name": name,
            "source": "imported",
            "os": os_family,
            "disk": DISK_FILE,
            "disk_format": "qcow2",
            "imported_from": str(source),
            "access": {"method": method, "user": user, "password_secret": "admin_password"},
            "memory_mib": memory_mib,
            "guest_agent": True,
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "build_seconds": round(time.monotonic() - started, 1),
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        os.rename(tmp, folder)  # visible only once complete
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    image = find_disk_image(name, base)
    assert image is not None
    return image


def disk_users(image: DiskImage, base: Path | None = None) -> list[str]:
    """Names of the VM nodes (in any lab) whose node.json names this disk."""
    # The VM engine records each node's base disk in its node.json (providers.libvirt_vm).
    return [
        p.parent.name
        for p in locations(base).labs.glob("*/vm/*/node.json")
        if str(image.folder) in p.read_text()
    ]


def remove_disk_image(name: str, base: Path | None = None) -> Path | None:
    """Delete an imported or Windows disk; None if there is none; refused while in use."""
    image = find_disk_image(name, base)
    if image is None or image.folder is None:
        return None
    users = disk_users(image, base)
    if users:
        raise ImageInUseError(
            f"image {name!r} is used by VM node(s): {', '.join(users)}",
            hint="destroy those labs first",
        )
    shutil.rmtree(image.folder)
    return image.folder
