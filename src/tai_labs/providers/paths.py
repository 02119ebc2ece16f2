"""Where the runtime keeps its state on the host.

Everything lives under one data folder so an operator can see (and delete) all of it:
``$TAI_LABS_DATA`` if set, else ``/var/lib/tai-labs``.
"""

from __future__ import annotations

from pathlib import Path

from tai_labs.paths import data_dir


def images_dir(base: Path | None = None) -> Path:
    return (base or data_dir()) / "images"


def apt_cache_dir(base: Path | None = None) -> Path:
    """The .deb cache shared by debootstrap and every chroot apt run."""
    return (base or data_dir()) / "cache" / "debs"


def labs_dir(base: Path | None = None) -> Path:
    return (base or data_dir()) / "labs"


def lab_dir(lab_id: str, base: Path | None = None) -> Path:
    return labs_dir(base) / lab_id
