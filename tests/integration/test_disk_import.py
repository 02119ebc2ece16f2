"""`tai-labs image import`: an instructor's disk becomes a node image (real qemu-img)."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tai_labs.cli.app import app
from tai_labs.images.disk import find_disk_image, import_disk

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _needs_qemu_img() -> None:
    if shutil.which("qemu-img") is None:
        pytest.skip("needs qemu-img (apt-get install qemu-utils)")


def test_import_converts_to_qcow2_and_keeps_the_password_private(tmp_path: Path) -> None:
    raw = tmp_path / "poste.img"
    with open(raw, "wb") as fh:
        fh.truncate(64 * 2**20)
    image = import_disk(
        "poste-test",
        raw,
        os_family="windows",
        method="winrm",
        user="Administrator",
        password="S3cret<&>",
        base=tmp_path,
    )
    assert image.folder == tmp_path / "images" / "poste-test"
    assert (image.disk_path.read_bytes()[:4]) == b"QFI\xfb"  # qcow2 magic
    secrets = image.folder / "secrets.json"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert image.password() == "S3cret<&>"
    assert "S3cret" not in (image.folder / "meta.json").read_text()
    again = find_disk_image("poste-test", tmp_path)
    assert again is not None and again.os == "windows" and again.access.method == "winrm"
    with pytest.raises(Exception, match="already exists"):
        import_disk(
            "poste-test", raw, os_family="linux", method="ssh", user="root", password="x",
            base=tmp_path,
        )  # fmt: skip


def test_an_unreadable_disk_leaves_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.vmdk"
    bad.write_bytes(b"KDMV" + b"\0" * 100)  # a vmdk signature with nothing behind it
    with pytest.raises(Exception, match="qemu-img"):
        import_disk(
            "broken", bad, os_family="linux", method="ssh", user="root", password="x",
            base=tmp_path,
        )  # fmt: skip
    assert list((tmp_path / "images").iterdir()) == []


def test_cli_import_reads_the_password_from_the_environment_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAI_LABS_DATA", str(tmp_path))
    raw = tmp_path / "srv.raw"
    with open(raw, "wb") as fh:
        fh.truncate(8 * 2**20)
    runner = CliRunner()
    out = runner.invoke(app, ["image", "import", "srv-test", str(raw), "--password-env", "NOPE"])
    assert out.exit_code != 0 and "NOPE" in str(out.exception)
    monkeypatch.setenv("PW", "motdepasse")
    out = runner.invoke(app, ["image", "import", "srv-test", str(raw), "--password-env", "PW"])
    assert out.exit_code == 0, out.output
    listing = json.loads(runner.invoke(app, ["image", "ls", "--json"]).output)
    assert any(r["name"] == "srv-test" and r["kind"].startswith("disk") for r in listing)
    out = runner.invoke(app, ["image", "rm", "srv-test"])
    assert out.exit_code == 0 and not (tmp_path / "images" / "srv-test").exists()
