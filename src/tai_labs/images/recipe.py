"""Image recipes: typed models of the YAML files in ``images/`` and their cache keys.

A recipe is either a root image (built with debootstrap) or a layer on a parent image
(a copy of the parent plus apt packages). Its cache key hashes what changes the built
tree, plus the parent's key, so editing a parent rebuilds every child.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tai_labs.images.errors import RecipeError
from tai_labs.locations import locations

# Bump when the builder changes what it produces from the same recipe, so old caches go stale.
BUILDER_VERSION = 2

DEFAULT_MIRROR = "http://deb.debian.org/debian"

# Where an image keeps the .debs of its ``offline_packages``: a flat apt repository that the
# image's sources.list names as its only source (lab nodes have no route to any mirror).
OFFLINE_REPO = "/var/lib/tai-labs-repo"

PackageName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9+.-]+$")]

ImageName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")]


class Bootstrap(BaseModel):
    """How a root image is created by debootstrap."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    suite: str = "bookworm"
    variant: str = "minbase"
    # Packages debootstrap itself must install; apt needs gpgv to check signatures and
    # debootstrap's resolver does not pick it from apt's "gpgv | gpgv2" alternative.
    include: tuple[str, ...] = ("gpgv",)
    components: tuple[str, ...] = ("main",)
    # Not part of the cache key: any mirror serves the same packages.
    mirror: str | None = None


class FileEntry(BaseModel):
    """A file written into the tree before packages are installed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    content: str
    mode: int = 0o644

    @field_validator("path")
    @classmethod
    def _absolute(cls, v: str) -> str:
        if not v.startswith("/") or ".." in Path(v).parts:
            raise ValueError("file path must be absolute and must not contain '..'")
        return v

    @field_validator("mode", mode="before")
    @classmethod
    def _octal(cls, v: object) -> object:
        # YAML reads 0644 as decimal 644 or as a string; accept the octal spelling people write.
        if isinstance(v, str):
            return int(v, 8)
        return v


class Recipe(BaseModel):
    """One image recipe."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ImageName
    description: str = ""
    parent: ImageName | None = None
    bootstrap: Bootstrap | None = None
    # Lines of /etc/apt/sources.list; a layer inherits its parent's sources when empty.
    apt_sources: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    # Not installed: downloaded with their missing dependencies into OFFLINE_REPO, so that
    # `apt-get install` of any of them works inside an offline lab. Layers inherit the folder.
    offline_packages: tuple[PackageName, ...] = ()
    files: tuple[FileEntry, ...] = ()
    # argv lists run in the chroot after the packages, in order.
    post_install: tuple[tuple[str, ...], ...] = ()

    @model_validator(mode="after")
    def _root_or_layer(self) -> Recipe:
        if (self.parent is None) == (self.bootstrap is None):
            raise ValueError(
                "a recipe needs exactly one of 'parent' (a layer) or 'bootstrap' (a root)"
            )
        if any(len(cmd) == 0 for cmd in self.post_install):
            raise ValueError("post_install commands must be non-empty argv lists")
        both = sorted(set(self.packages) & set(self.offline_packages))
        if both:
            raise ValueError(
                f"{', '.join(both)} listed in both 'packages' and 'offline_packages': "
                "an installed package is not offered for installation; keep one"
            )
        return self

    @property
    def is_root(self) -> bool:
        return self.parent is None

    def content_digest(self) -> str:
        """Hash of everything that shapes the built tree (not description, not mirror)."""
        data = self.model_dump(mode="json", exclude={"description"})
        if data.get("bootstrap"):
            data["bootstrap"].pop("mirror", None)
        # Recipes that do not use the field keep the keys they had before it existed.
        if not data.get("offline_packages"):
            data.pop("offline_packages", None)
        blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


def cache_key(recipe: Recipe, parent_key: str | None) -> str:
    """Key of a built image: recipe content + parent key + builder version."""
    h = hashlib.sha256()
    h.update(f"v{BUILDER_VERSION}\0".encode())
    h.update(recipe.content_digest().encode())
    h.update(b"\0" + (parent_key or "").encode())
    return h.hexdigest()


def load_recipe(path: Path) -> Recipe:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RecipeError(f"cannot read image recipe {path}: {exc}") from exc
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as exc:
        raise RecipeError(f"invalid image recipe {path}:\n{exc}") from exc
    if recipe.name != path.stem:
        raise RecipeError(
            f"recipe {path} is named {recipe.name!r}; the file must be {recipe.name}.yaml"
        )
    return recipe


class RecipeBook:
    """All recipes of a folder, with parent-chain resolution and cache keys."""

    def __init__(self, recipes: dict[str, Recipe]) -> None:
        self.recipes = recipes

    @classmethod
    def from_dir(cls, folder: Path | None = None) -> RecipeBook:
        folder = folder or locations().recipes
        if not folder.is_dir():
            raise RecipeError(f"image recipe folder {folder} does not exist")
        recipes = {p.stem: load_recipe(p) for p in sorted(folder.glob("*.yaml"))}
        return cls(recipes)

    def get(self, name: str) -> Recipe:
        try:
            return self.recipes[name]
        except KeyError:
            known = ", ".join(sorted(self.recipes)) or "none"
            raise RecipeError(f"no image recipe named {name!r} (known: {known})") from None

    def chain(self, name: str) -> list[Recipe]:
        """The recipe and its ancestors, root first."""
        chain: list[Recipe] = []
        seen: set[str] = set()
        current: str | None = name
        while current is not None:
            if current in seen:
                raise RecipeError(f"image recipes form a cycle through {current!r}")
            seen.add(current)
            recipe = self.get(current)
            chain.append(recipe)
            current = recipe.parent
        return list(reversed(chain))

    def key(self, name: str) -> str:
        key: str | None = None
        for recipe in self.chain(name):
            key = cache_key(recipe, key)
        assert key is not None
        return key

    def has_offline_repo(self, name: str) -> bool:
        """Whether the image (through itself or a parent) carries an offline repository."""
        return any(recipe.offline_packages for recipe in self.chain(name))

    def sources_for(self, name: str) -> tuple[str, ...]:
        """apt sources of the nearest recipe in the chain that declares some."""
        for recipe in reversed(self.chain(name)):
            if recipe.apt_sources:
                return recipe.apt_sources
        return ()
