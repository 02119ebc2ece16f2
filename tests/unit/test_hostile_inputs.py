"""Hostile inputs: paths out of the catalogue, names on the command line, internal errors.

Each kind of path a scenario names (brief, extends, template copied into a node, disk image)
is refused when it leaves the catalogue, including through a symlink; each name the CLI takes
is refused before any file or lock is touched.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tai_labs import names
from tai_labs.cli import app as cli_app
from tai_labs.errors import UsageError
from tai_labs.providers.naming import check_lab_id, is_lab_id
from tai_labs.scenario.loader import validate

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "errors"
VALID = (GOLDEN / "valid" / "scenario.yaml").read_text(encoding="utf-8")
INLINE_BRIEF = "brief:\n  text: |\n    Débloquez le compte {{ login }}.\n"


@pytest.fixture
def catalogue(tmp_path: Path) -> Path:
    """A catalogue with the golden topology and one scenario folder; the host has a secret."""
    (tmp_path / "scenarios" / "_topologies").mkdir(parents=True)
    (tmp_path / "scenarios" / "_topologies" / "mini.yaml").write_text(
        (GOLDEN / "_topologies" / "mini.yaml").read_text(encoding="utf-8")
    )
    (tmp_path / "scenarios" / "drafts" / "s").mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("root:hash\n")
    return tmp_path / "scenarios" / "drafts" / "s"


def problems(folder: Path, text: str) -> list[str]:
    (folder / "scenario.yaml").write_text(text, encoding="utf-8")
    return [d.format() for d in validate(folder)]


def test_the_valid_scenario_is_valid_in_a_catalogue(catalogue: Path) -> None:
    assert problems(catalogue, VALID) == []


@pytest.mark.parametrize("ref", ["../../../secret.txt", "/etc/passwd", "~/x", "a\0b"])
def test_brief_file_outside_is_refused(catalogue: Path, ref: str) -> None:
    text = VALID.replace(INLINE_BRIEF, f"brief:\n  file: {ref!r}\n".replace("'", '"'))
    got = problems(catalogue, text.replace("\\x00", "\\0"))
    assert any(":12: brief.file:" in p for p in got), got
    assert not any("root:hash" in p for p in got)


def test_brief_file_symlinked_out_is_refused(catalogue: Path) -> None:
    (catalogue / "brief.md.j2").symlink_to(catalogue.parents[2] / "secret.txt")
    got = problems(catalogue, VALID.replace(INLINE_BRIEF, "brief:\n  file: brief.md.j2\n"))
    assert got and "points outside the catalogue" in got[0] and ":12: brief.file:" in got[0]


def test_brief_file_inside_is_used(catalogue: Path) -> None:
    (catalogue / "brief.md.j2").write_text("Compte {{ login }}.\n", encoding="utf-8")
    assert problems(catalogue, VALID.replace(INLINE_BRIEF, "brief:\n  file: brief.md.j2\n")) == []


@pytest.mark.parametrize("ref", ["../../../secret.yaml", "/etc/hosts.yaml"])
def test_extends_outside_is_refused(catalogue: Path, ref: str) -> None:
    (catalogue.parents[2] / "secret.yaml").write_text("topology: {}\n")
    got = problems(catalogue, VALID.replace("extends: mini", f"extends: {ref}"))
    assert len(got) == 1 and ":2: extends:" in got[0]


def test_extends_symlinked_out_is_refused(catalogue: Path) -> None:
    (catalogue.parents[2] / "secret.yaml").write_text("topology: {}\n")
    (catalogue / "base.yaml").symlink_to(catalogue.parents[2] / "secret.yaml")
    got = problems(catalogue, VALID.replace("extends: mini", "extends: base.yaml"))
    assert len(got) == 1 and "points outside the catalogue" in got[0]


def test_extends_to_shared_topologies_by_path_is_allowed(catalogue: Path) -> None:
    text = VALID.replace("extends: mini", "extends: ../../_topologies/mini.yaml")
    assert problems(catalogue, text) == []


def test_template_file_copied_into_a_node_outside_is_refused(catalogue: Path) -> None:
    step = (
        "setup:\n  - action: linux.file\n    target: pc1\n"
        "    params: {path: /tmp/x, template: ../../../secret.txt}\n"
    )
    got = problems(catalogue, VALID.replace("solution:\n", step + "solution:\n"))
    assert any("setup[0].params.template: '../../../secret.txt' points outside" in p for p in got)


def test_disk_image_must_be_a_name(catalogue: Path) -> None:
    node = "topology:\n  nodes:\n    - name: pc1\n      image: ../../images/x\n"
    got = problems(catalogue, VALID.replace("variables:", node + "variables:"))
    assert any("topology.nodes[1].image: '../../images/x' is not an image name" in p for p in got)


@pytest.mark.parametrize(
    "bad", ["../x", "abc12*", "abc123\n", "abc 12", "ABC123", "a;rm -", "$(id)x", "abc1234", ""]
)
def test_bad_lab_ids_are_refused(bad: str) -> None:
    assert not is_lab_id(bad)
    with pytest.raises(UsageError) as info:
        names.lab_id(bad)
    assert info.value.exit_code == 2 and "invalid lab id" in info.value.message
    with pytest.raises(Exception, match="invalid lab id"):
        check_lab_id(bad)


def test_good_names_pass() -> None:
    assert names.lab_id("abc123") == "abc123"
    assert names.node_name("pc1") == "pc1"
    assert names.candidate_name("Élodie N'Diaye-Martin") == "Élodie N'Diaye-Martin"
    assert names.snapshot_name("avant_examen-2") == "avant_examen-2"


@pytest.mark.parametrize("bad", ["../pc1", "pc1\n", "pc*", "pc1;ls", "PC1", ""])
def test_bad_node_names_are_refused(bad: str) -> None:
    with pytest.raises(UsageError, match="invalid node name"):
        names.node_name(bad)


@pytest.mark.parametrize("bad", ["../../x", "Alice\n", "a/b", "$(id)", "*", "`x`", "", "x" * 80])
def test_bad_candidate_and_snapshot_names_are_refused(bad: str) -> None:
    with pytest.raises(UsageError, match="invalid candidate name"):
        names.candidate_name(bad)
    with pytest.raises(UsageError, match="invalid snapshot name"):
        names.snapshot_name(bad)


def tai(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TAI_LABS_DATA": str(data)}
    return subprocess.run(
        [sys.executable, "-m", "tai_labs", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
        cwd=data.parent,
    )


@pytest.mark.parametrize(
    "args",
    [
        ("status", "../x"),
        ("reset", "abc12*"),
        ("snapshot", "abc123\n", "s1"),
        ("down", "../../etc"),
        ("exec", "abc123", "../pc1", "--", "true"),
        ("snapshot", "abc123", "../../x"),
    ],
)
def test_cli_refuses_bad_names_before_touching_anything(
    args: tuple[str, ...], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    out = tai(*args, data=data)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("error: invalid "), out.stderr
    assert not data.exists()  # nothing created, nothing locked
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_missing_lab_is_one_line_and_exit_2(tmp_path: Path) -> None:
    out = tai("status", "zz9zz9", data=tmp_path / "data")
    assert out.returncode == 2 and out.stderr.splitlines()[0] == "error: no lab 'zz9zz9'"


def test_internal_error_is_one_line_with_a_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken() -> None:
        raise KeyError("boom")

    monkeypatch.setattr(cli_app, "app", broken)
    monkeypatch.setattr(sys, "argv", ["tai-labs", "list"])
    monkeypatch.delenv("TAI_LABS_DEBUG", raising=False)
    with pytest.raises(SystemExit) as info:
        cli_app.main()
    assert info.value.code == 70
    err = capsys.readouterr().err
    assert err.startswith("internal error: KeyError: 'boom'")
    assert "--debug" in err and "Traceback" not in err
    monkeypatch.setattr(sys, "argv", ["tai-labs", "--debug", "list"])
    with pytest.raises(KeyError):
        cli_app.main()
