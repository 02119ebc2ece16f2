"""A lab that mixes a libvirt VM and an LXC container on one lab network, end to end.

Under TCG (software emulation, as on CI machines whose KVM cannot boot stock kernels) the
VM takes about 20-60 s to boot; with KVM a few seconds. Skips without libvirt.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from labtools import leftovers, tai

SCENARIO = str(Path(__file__).parent / "scenarios" / "vm-mixte")


def _libvirt_problem() -> str | None:
    from tai_labs.providers.libvirt_conn import daemon_running

    if shutil.which("qemu-system-x86_64") is None:
        return "needs qemu-system-x86 (make install)"
    try:
        import libvirt  # noqa: F401
    except ImportError:
        return "needs the libvirt-python bindings (pip install -e '.[vm]')"
    if not daemon_running():
        return "needs libvirtd running (scripts/start-libvirt.sh)"
    return None


@pytest.fixture(autouse=True)
def _needs_libvirt() -> None:
    problem = _libvirt_problem()
    if problem:
        pytest.skip(problem)


def verdicts(lab: str) -> dict[str, str]:
    """The scenario's own checks; its default invariants (the nodes' fixed addresses) hold."""
    out = tai("grade", lab, "--format", "json", check=False)
    got = {c["id"]: c["verdict"] for c in json.loads(out.stdout)["checks"]}
    kept = {k: got.pop(k) for k in list(got) if k.startswith("keep-")}
    assert kept and set(kept.values()) == {"pass"}, kept
    return got


def domains_of(lab: str) -> list[str]:
    from tai_labs.providers.libvirt_vm import lab_domains

    return lab_domains(lab)


def test_vm_and_container_lab_grades_resets_and_leaves_nothing(labs: list[str]) -> None:
    info = json.loads(tai("up", SCENARIO, "--candidate", "vm", "--json").stdout)
    lab = info["id"]
    labs.append(lab)
    assert domains_of(lab) == [f"{lab}-srv1"]
    status = json.loads(tai("status", lab, "--json").stdout)
    engines = {n["name"]: n["engine"] for n in status["nodes"]}
    assert engines == {"srv1": "vm", "pc1": "container"}

    # The fault is in place: the container cannot reach the VM's sshd, which is stopped;
    # the VM is read through its guest agent since SSH to it is down.
    assert verdicts(lab) == {"ssh-reachable": "fail", "ssh-active": "fail"}

    # The fix, run in the VM through the engine's exec (no network involved).
    tai("exec", lab, "srv1", "--", "systemctl", "start", "ssh")
    assert verdicts(lab) == {"ssh-reachable": "pass", "ssh-active": "pass"}

    # reset: back to the exam start, sshd stopped again, the guest clock set right.
    time.sleep(2)
    tai("reset", lab)
    assert verdicts(lab) == {"ssh-reachable": "fail", "ssh-active": "fail"}
    guest = int(tai("exec", lab, "srv1", "--", "date", "+%s").stdout.strip())
    assert abs(guest - time.time()) < 5

    tai("down", lab)
    assert domains_of(lab) == []
    assert leftovers(lab) == []
