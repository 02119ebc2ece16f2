"""Lab node images: YAML recipes in ``images/`` built into a cache by debootstrap + apt."""

from __future__ import annotations

from tai_labs.images.builder import ImageBuilder, ImageStatus
from tai_labs.images.progress import BuildProgress, ProgressCallback
from tai_labs.images.recipe import Recipe, RecipeBook
from tai_labs.images.store import BuiltImage

__all__ = [
    "BuildProgress",
    "BuiltImage",
    "ImageBuilder",
    "ImageStatus",
    "ProgressCallback",
    "Recipe",
    "RecipeBook",
]
