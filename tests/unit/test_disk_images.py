"""Imported disks: removal is refused while a VM node of some lab boots from one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tai_labs.images.disk import META_FILE, remove_disk_image
from tai_labs.images.errors import ImageInUseError


def _disk(data: Path, name: str) -> Path:
    folder = data / "images" / name
    folder.mkdir(parents=True)
    meta = {"name": name, "os": "linux", "access": {"method": "ssh", "user": "root"}}
    (folder / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    return folder


def test_a_disk_in_use_is_kept(tmp_path: Path) -> None:
    folder = _disk(tmp_path, "poste-test")
    node = tmp_path / "labs" / "abc123" / "vm" / "pc1" / "node.json"
    node.parent.mkdir(parents=True)
    node.write_text(json.dumps({"base": str(folder / "disk.qcow2")}), encoding="utf-8")
    with pytest.raises(ImageInUseError, match="used by VM node"):
        remove_disk_image("poste-test", tmp_path)
    assert folder.is_dir()
    node.unlink()
    assert remove_disk_image("poste-test", tmp_path) == folder
    assert not folder.exists()
    assert remove_disk_image("poste-test", tmp_path) is None
