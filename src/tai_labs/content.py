"""Where the project's data lives: scenarios, image recipes and grader modules.

From a checkout they are the top-level folders beside ``src/``; an installed wheel carries
them inside the package (``tai_labs/_content``). ``TAI_LABS_CONTENT`` overrides both, so an
instructor can keep their own catalogue elsewhere.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


@cache
def content_root() -> Path:
    override = os.environ.get("TAI_LABS_CONTENT")
    if override:
        return Path(override).resolve()
    checkout = _PACKAGE_DIR.parent.parent  # src/tai_labs -> repository root
    if (checkout / "scenarios").is_dir() and (checkout / "pyproject.toml").is_file():
        return checkout
    return _PACKAGE_DIR / "_content"


def scenarios_dir() -> Path:
    return content_root() / "scenarios"


def images_dir() -> Path:
    return content_root() / "images"


def graders_dir() -> Path:
    return content_root() / "graders"
