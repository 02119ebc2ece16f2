"""Exceptions of image recipes and builds (part of the runtime tree: ``RuntimeLayerError``)."""

from __future__ import annotations

from tai_labs.providers.errors import RuntimeLayerError


class RecipeError(RuntimeLayerError):
    """An image recipe is missing, malformed, or its parent chain is broken."""


class ImageBuildError(RuntimeLayerError):
    """An image build step failed; nothing of the build was kept."""


class ImageNotBuiltError(RuntimeLayerError):
    """An image was asked for that is not in the cache."""


class ImageInUseError(RuntimeLayerError):
    """An image cannot be removed because lab nodes use it as their lower layer."""
