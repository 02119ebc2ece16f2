"""The VM engine refuses a QEMU that could act as root (providers/qemu_identity.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tai_labs.providers.errors import NodeStartError
from tai_labs.providers.qemu_identity import check_unprivileged, identity

STATUS = """Name:\tqemu-system-x86
Umask:\t0077
State:\tS (sleeping)
Uid:\t{uid}\t{uid}\t{uid}\t{uid}
Gid:\t{gid}\t{gid}\t{gid}\t{gid}
CapInh:\t0000000000000000
CapPrm:\t{cap}
CapEff:\t{cap}
"""


def _host(tmp_path: Path, *, uid: int, gid: int, cap: str) -> tuple[Path, Path]:
    pid_dir = tmp_path / "run"
    pid_dir.mkdir()
    (pid_dir / "lab-vm1.pid").write_text("4242\n")
    proc = tmp_path / "proc"
    (proc / "4242").mkdir(parents=True)
    (proc / "4242" / "status").write_text(STATUS.format(uid=uid, gid=gid, cap=cap))
    return pid_dir, proc


def test_a_qemu_without_root_or_capabilities_is_accepted(tmp_path: Path) -> None:
    pid_dir, proc = _host(tmp_path, uid=64055, gid=64055, cap="0000000000000000")
    who = check_unprivileged("lab-vm1", pid_dir=pid_dir, proc=proc)
    assert (who.pid, who.uid, who.gid, who.cap_prm) == (4242, 64055, 64055, 0)
    assert who.unprivileged


@pytest.mark.parametrize(
    ("uid", "gid", "cap"),
    [
        (0, 0, "000001ffffffffff"),
        (0, 64055, "0000000000000000"),
        (64055, 0, "0"),
        (64055, 64055, "0000000000001000"),
    ],
    ids=["root", "uid-0-only", "gid-0-only", "one-capability"],
)
def test_a_qemu_that_could_act_as_root_is_refused(
    tmp_path: Path, uid: int, gid: int, cap: str
) -> None:
    pid_dir, proc = _host(tmp_path, uid=uid, gid=gid, cap=cap)
    with pytest.raises(NodeStartError, match="guest escape would be root") as err:
        check_unprivileged("lab-vm1", pid_dir=pid_dir, proc=proc)
    assert err.value.hint is not None and "qemu.conf" in err.value.hint


def test_a_saved_root_id_or_a_permitted_capability_is_root_still(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "7").mkdir(parents=True)
    status = "Uid:\t{u}\nGid:\t64055 64055 64055 64055\nCapPrm:\t{p}\nCapEff:\t0\n"
    (proc / "7" / "status").write_text(status.format(u="64055 64055 0 64055", p="0"))
    saved_root = identity(7, proc)
    assert saved_root.uid == 64055 and not saved_root.unprivileged
    (proc / "7" / "status").write_text(status.format(u="64055 64055 64055 64055", p="1000"))
    assert not identity(7, proc).unprivileged
    (proc / "7" / "status").write_text(status.format(u="64055 64055 64055 64055", p="0"))
    assert identity(7, proc).unprivileged


def test_a_domain_without_a_pid_file_is_an_engine_error(tmp_path: Path) -> None:
    with pytest.raises(NodeStartError, match="cannot tell which process"):
        check_unprivileged("absent", pid_dir=tmp_path, proc=tmp_path)
