"""Paths a scenario names stay inside its catalogue.

A scenario names files (its brief, the base it ``extends``, templates copied into nodes) and
disk images. Each file is resolved after symlinks and must fall inside one of the scenario's
*roots*: its own folder, the shared topologies folder (``scenarios/_topologies``) and the
content roots (the catalogue of ``tai_labs.locations``). Anything else (``../../etc/shadow``,
an absolute path, a symlink out) is a validation error, so `show` and `up` never render a
host file into a candidate's brief.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from tai_labs.locations import locations
from tai_labs.scenario import limits

#: Node image names: a recipe or an imported disk, never a path.
IMAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
#: Actions whose parameter names a file beside scenario.yaml.
FILE_PARAMS: dict[str, tuple[str, ...]] = {"linux.file": ("template",)}


class PathRefused(ValueError):
    """A path a scenario names cannot be used; ``hint`` says what to do instead."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


def catalogue_roots(folder: Path, topologies: Path | None) -> tuple[Path, ...]:
    """Where the files of the scenario in ``folder`` may be: its folder, topologies, content."""
    roots = [folder, *([topologies] if topologies else []), locations().scenarios]
    return tuple(_resolve(r) for r in roots)


def resolve_inside(folder: Path, ref: object, roots: Sequence[Path]) -> Path:
    """``ref`` relative to ``folder``, after symlinks; PathRefused unless inside ``roots``."""
    if not isinstance(ref, str) or not ref.strip():
        raise PathRefused("must be a file name", "name a file beside scenario.yaml")
    if "\0" in ref or len(ref) > limits.MAX_REF_CHARS:
        raise PathRefused(
            "is not a usable file name",
            f"use a relative path of at most {limits.MAX_REF_CHARS} characters",
        )
    if Path(ref).is_absolute() or ref.startswith("~"):
        raise PathRefused(
            f"{ref!r} is an absolute path", "give a path relative to the scenario's folder"
        )
    target = _resolve(folder / ref)
    if not any(target == root or target.is_relative_to(root) for root in roots):
        raise PathRefused(
            f"{ref!r} points outside the catalogue",
            "keep the file in the scenario's folder (or scenarios/_topologies for bases)",
        )
    return target


def check_image_name(name: str) -> None:
    if not IMAGE_NAME.fullmatch(name):
        raise PathRefused(
            f"{name!r} is not an image name",
            "use the name of an image recipe or of an imported disk (tai-labs image ls)",
        )


def _resolve(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop, a name too long
        raise PathRefused(f"cannot resolve {path.name!r}: {exc}", "fix the path") from None
