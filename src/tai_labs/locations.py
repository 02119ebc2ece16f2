"""Every place tai-labs reads content from or keeps state in, in one object.

Three environment variables say where things are. They are read each time ``locations()``
is called, never at import time, so a test (or a wrapper script) can set them at any point:

``TAI_LABS_DATA``
    The data folder: built images, labs, the state store, caches. Default
    ``/var/lib/tai-labs``. Everything the tool writes on the host lives under it, so an
    operator can see (and delete) all of it.
``TAI_LABS_CONTENT``
    The content root holding ``scenarios/``, ``images/`` (recipes and Windows media
    templates) and ``graders/``. Default: the checkout when run from one (the folder beside
    ``src/`` that has ``scenarios/`` and ``pyproject.toml``), else the copy an installed wheel
    carries (``tai_labs/_content``). Lets an instructor keep their own catalogue elsewhere.
``TAI_LABS_IMAGES``
    The image recipe folder alone (default: ``images/`` of the content root), for building
    images from recipes kept apart from the catalogue.

An empty variable counts as unset. Nothing here creates folders: callers create what they
write.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = Path("/var/lib/tai-labs")

_PACKAGE_DIR = Path(__file__).resolve().parent


def _default_content_root() -> Path:
    checkout = _PACKAGE_DIR.parent.parent  # src/tai_labs -> repository root
    if (checkout / "scenarios").is_dir() and (checkout / "pyproject.toml").is_file():
        return checkout
    return _PACKAGE_DIR / "_content"


@dataclass(frozen=True)
class Locations:
    """Where things are; every path the tool uses is a field or a property of this."""

    #: The data folder (``TAI_LABS_DATA``).
    data: Path
    #: The content root (``TAI_LABS_CONTENT``).
    content: Path
    #: The image recipe folder (``TAI_LABS_IMAGES``).
    recipes: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Locations:
        env = os.environ if environ is None else environ
        data = env.get("TAI_LABS_DATA")
        content_env = env.get("TAI_LABS_CONTENT")
        content = Path(content_env).resolve() if content_env else _default_content_root()
        recipes = env.get("TAI_LABS_IMAGES")
        return cls(
            data=Path(data) if data else DEFAULT_DATA_DIR,
            content=content,
            recipes=Path(recipes) if recipes else content / "images",
        )

    # -- state, under the data folder -------------------------------------------------------

    @property
    def images(self) -> Path:
        """Built images: recipe builds, VM disks, imported and Windows disks."""
        return self.data / "images"

    @property
    def cache(self) -> Path:
        return self.data / "cache"

    @property
    def apt_cache(self) -> Path:
        """The .deb cache shared by debootstrap and every chroot apt run."""
        return self.cache / "debs"

    @property
    def accel_cache(self) -> Path:
        """The remembered answer of the KVM probe."""
        return self.cache / "vm-accel.json"

    @property
    def labs(self) -> Path:
        """One folder per lab, plus the labs' lock files."""
        return self.data / "labs"

    def lab(self, lab_id: str) -> Path:
        """A lab's folder: secrets, keys, brief, engine state, grade history."""
        return self.labs / lab_id

    def lab_lock(self, lab_id: str) -> Path:
        """The lock file that keeps two commands from changing one lab at once (beside the
        lab's folder, so removing the folder does not drop a held lock)."""
        return self.labs / f".{lab_id}.lock"

    @property
    def network_lock(self) -> Path:
        """Held while a lab picks its management subnet."""
        return self.labs / ".net.lock"

    @property
    def store(self) -> Path:
        """The state store (SQLite) of every lab on this host."""
        return self.data / "state.db"

    # -- content ----------------------------------------------------------------------------

    @property
    def scenarios(self) -> Path:
        return self.content / "scenarios"

    @property
    def windows_media(self) -> Path:
        """Templates of the Windows answer ISO (with the content, not with the recipes)."""
        return self.content / "images" / "windows"

    @property
    def graders(self) -> Path:
        return self.content / "graders"


def locations(data: Path | None = None) -> Locations:
    """The locations as the environment says now; ``data`` replaces the data folder (tests
    and callers that were handed one)."""
    found = Locations.from_env()
    if data is None:
        return found
    return Locations(data=data, content=found.content, recipes=found.recipes)
