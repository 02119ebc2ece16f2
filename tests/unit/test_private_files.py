"""write_private: secrets are 0600 from birth and replace the old file whole."""

from __future__ import annotations

import stat
from pathlib import Path

from tai_labs.private_files import write_private


def test_new_and_replaced_files_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "secrets.json"
    write_private(path, '{"a": 1}')
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)  # an older file left readable by others
    write_private(path, b"nouveau")
    assert path.read_bytes() == b"nouveau"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["secrets.json"]  # no temp file left
