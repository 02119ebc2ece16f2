"""Find scenarios: by folder walk, by id, or by path."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from pathlib import Path

from tai_labs.errors import UsageError
from tai_labs.locations import locations
from tai_labs.scenario.loader import SCENARIO_FILE


def iter_scenario_files(root: Path | None = None) -> Iterator[Path]:
    """Every ``scenario.yaml`` under ``root`` (default: the catalogue), in a stable order."""
    root = root or locations().scenarios
    if root.is_file():
        yield root
        return
    for path in sorted(root.rglob(SCENARIO_FILE)):
        if not any(part.startswith(("_", ".")) for part in path.relative_to(root).parts):
            yield path


def find(name: str) -> Path:
    """A scenario by path (folder or file) or by id (its folder name in the catalogue)."""
    as_path = Path(name)
    if as_path.exists():
        file = as_path / SCENARIO_FILE if as_path.is_dir() else as_path
        if not file.is_file():
            raise UsageError(f"{name} has no {SCENARIO_FILE}")
        return file
    matches = [p for p in iter_scenario_files() if p.parent.name == name]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise UsageError(f"several scenarios are named {name!r}", hint="give the path instead")
    known = sorted(p.parent.name for p in iter_scenario_files())
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"did you mean {', '.join(close)}?" if close else "run `tai-labs list` to see them"
    raise UsageError(f"no scenario {name!r}", hint=hint)
