"""Where tai-labs keeps its state: images, labs, secrets (``TAI_LABS_DATA`` overrides)."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DATA_DIR = Path("/var/lib/tai-labs")


def data_dir() -> Path:
    """The tool's data folder (not created here: callers create what they write)."""
    override = os.environ.get("TAI_LABS_DATA")
    return Path(override) if override else DEFAULT_DATA_DIR
