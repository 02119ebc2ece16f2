"""Where things are: the three environment variables, read when asked, not at import."""

from __future__ import annotations

from pathlib import Path

import pytest

from tai_labs.locations import DEFAULT_DATA_DIR, Locations, locations

REPO = Path(__file__).resolve().parents[2]


def test_defaults_from_a_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("TAI_LABS_DATA", "TAI_LABS_CONTENT", "TAI_LABS_IMAGES"):
        monkeypatch.delenv(var, raising=False)
    where = locations()
    assert where.data == DEFAULT_DATA_DIR
    assert where.content == REPO
    assert where.recipes == REPO / "images"
    assert where.scenarios == REPO / "scenarios"
    assert where.graders == REPO / "graders"
    assert where.windows_media == REPO / "images" / "windows"


def test_data_layout_follows_the_variable_at_call_time(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TAI_LABS_DATA", str(tmp_path))
    where = locations()
    assert where.images == tmp_path / "images"
    assert where.apt_cache == tmp_path / "cache" / "debs"
    assert where.accel_cache == tmp_path / "cache" / "vm-accel.json"
    assert where.labs == tmp_path / "labs"
    assert where.lab("abc123") == tmp_path / "labs" / "abc123"
    assert where.lab_lock("abc123") == tmp_path / "labs" / ".abc123.lock"
    assert where.network_lock == tmp_path / "labs" / ".net.lock"
    assert where.store == tmp_path / "state.db"
    monkeypatch.setenv("TAI_LABS_DATA", str(tmp_path / "other"))
    assert locations().data == tmp_path / "other"
    assert locations(tmp_path / "given").labs == tmp_path / "given" / "labs"


def test_content_and_recipes_overrides(tmp_path: Path) -> None:
    content = Locations.from_env({"TAI_LABS_CONTENT": str(tmp_path)})
    assert content.scenarios == tmp_path / "scenarios"
    assert content.recipes == tmp_path / "images"
    both = Locations.from_env({"TAI_LABS_CONTENT": str(tmp_path), "TAI_LABS_IMAGES": "/r"})
    assert both.recipes == Path("/r")
    assert both.windows_media == tmp_path / "images" / "windows"
    # An empty variable counts as unset, as it always did.
    assert Locations.from_env({"TAI_LABS_DATA": ""}).data == DEFAULT_DATA_DIR
