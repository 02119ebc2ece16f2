"""A real 3-node lab (DC, router, client) from a shipped scenario, twice at once, then gone."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time

import pytest
from labtools import leftovers, tai

SCENARIO = "compte-verrouille"


def up(candidate: str, labs: list[str]) -> dict:
    out = tai("up", SCENARIO, "--candidate", candidate, "--json")
    info = json.loads(out.stdout)
    labs.append(info["id"])
    return info


def node_exec(
    lab: str, node: str, *argv: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return tai("exec", lab, node, "--", *argv, check=check, timeout=60)


def test_two_labs_of_one_scenario_work_side_by_side_and_leave_nothing(labs: list[str]) -> None:
    a = up("alice", labs)
    b = up("bruno", labs)
    for info in (a, b):
        assert info["status"] == "ready"
        assert {n["name"]: (n["state"], n["ready"]) for n in info["nodes"]} == {
            "dc1": ("running", True),
            "box": ("running", True),
            "pc1": ("running", True),
        }
    show = json.loads(tai("show", SCENARIO, "--json", "--candidate", "alice").stdout)
    realm = show["variables"]["realm"]

    # From the client: the domain resolves through the DC, and an LDAPS bind works.
    resolved = node_exec(a["id"], "pc1", "getent", "hosts", f"dc1.{realm}").stdout
    assert resolved.split()[0] == "192.168.10.10"
    status_a = json.loads(tai("status", a["id"], "--json").stdout)
    secrets_file = f"{status_a['folder']}/secrets.json"
    with open(secrets_file) as fh:
        admin_password = json.load(fh)["admin_password"]
    base_dn = ",".join(f"DC={part}" for part in realm.split("."))
    bind = node_exec(
        a["id"],
        "pc1",
        "env",
        "LDAPTLS_REQCERT=never",
        "ldapsearch",
        "-LLL",
        "-x",
        "-H",
        f"ldaps://dc1.{realm}",
        "-D",
        f"Administrator@{realm}",
        "-w",
        admin_password,
        "-b",
        f"CN=Users,{base_dn}",
        "(sAMAccountName=Administrator)",
        "dn",
        check=False,
    )
    assert bind.returncode == 0, bind.stderr
    assert bind.stdout.startswith("dn: CN=Administrator,CN=Users,")

    # From the host: every node over the management network (pinned host key) and via exec.
    for node, access in a["access"].items():
        ssh = subprocess.run(
            [*access["ssh"].split(), "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "hostname"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert ssh.returncode == 0 and ssh.stdout.strip() == node, ssh.stderr
        assert node_exec(a["id"], node, "hostname").stdout.strip() == node

    # The out-of-band channel works even when the node's network is down.
    node_exec(a["id"], "pc1", "ip", "link", "set", "eth0", "down")
    assert node_exec(a["id"], "pc1", "true").returncode == 0

    # Same subnets, no collision: each lab's client reaches its own DC, not the other lab.
    b_dc1_mgmt = next(n["management"] for n in b["nodes"] if n["name"] == "dc1")
    assert node_exec(a["id"], "dc1", "ping", "-c1", "-W1", b_dc1_mgmt, check=False).returncode != 0
    assert node_exec(b["id"], "pc1", "ping", "-c1", "-W2", "192.168.10.10").returncode == 0

    for lab in list(labs):
        tai("down", lab)
        labs.remove(lab)
        assert leftovers(lab) == []


def test_an_up_killed_at_a_random_point_leaves_nothing_after_down(labs: list[str]) -> None:
    lab_id = "k" + "".join(random.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=5))
    labs.append(lab_id)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tai_labs", "up", SCENARIO, "--lab-id", lab_id],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    time.sleep(random.uniform(1.0, 12.0))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    tai("down", lab_id, check=False)
    tai("gc")
    labs.remove(lab_id)
    assert leftovers(lab_id) == []


@pytest.mark.parametrize("when", [3.0])
def test_an_interrupted_up_resumes(labs: list[str], when: float) -> None:
    lab_id = "r" + "".join(random.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=5))
    labs.append(lab_id)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tai_labs", "up", SCENARIO, "--lab-id", lab_id],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(when)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    info = json.loads(tai("up", SCENARIO, "--lab-id", lab_id, "--json").stdout)
    assert info["status"] == "ready"
    assert all(n["ready"] for n in info["nodes"])
