"""Grading a real lab through the CLI: verdicts follow the real state, reports are written."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from labtools import tai


def verdicts(lab: str) -> tuple[int, dict[str, str], dict[str, str]]:
    """Exit code, the scenario's own checks' verdicts, and the default invariants' (``keep-*``:
    what the candidate must not break)."""
    out = tai("grade", lab, "--format", "json", check=False)
    report = json.loads(out.stdout)
    got = {c["id"]: c["verdict"] for c in report["checks"]}
    kept = {k: v for k, v in got.items() if k.startswith("keep-")}
    assert kept, "a lab with a directory and fixed addresses has default invariants"
    return out.returncode, {k: v for k, v in got.items() if k not in kept}, kept


def test_grade_follows_the_real_state(labs: list[str], tmp_path: Path) -> None:
    info = json.loads(tai("up", "compte-verrouille", "--candidate", "grader", "--json").stdout)
    lab = info["id"]
    labs.append(lab)
    login = json.loads(tai("show", "compte-verrouille", "--candidate", "grader", "--json").stdout)[
        "variables"
    ]["user"]["login"]

    # As the candidate gets it: the account is locked and out of its group (the faults), and
    # no password change is forced yet (judged on its own, not behind the unlock).
    rc, got, kept = verdicts(lab)
    assert rc == 1 and set(kept.values()) == {"pass"}
    assert got == {
        "unlocked": "fail",
        "enabled": "pass",
        "must-change": "fail",
        "member": "fail",
        "same-ou": "pass",
        "temp-password": "fail",
    }
    # The brief's temporary password: a secret of this lab (root reads the lab's folder).
    from tai_labs.lab.secrets import SECRETS_FILE
    from tai_labs.locations import locations

    temp = json.loads((locations().lab(lab) / SECRETS_FILE).read_text())["temp_password"]

    # The candidate's fix, done as a technician would on the DC.
    tai("exec", lab, "dc1", "--", "samba-tool", "user", "unlock", login)
    tai(
        "exec",
        lab,
        "dc1",
        "--",
        "samba-tool",
        "user",
        "setpassword",
        login,
        f"--newpassword={temp}",
        "--must-change-at-next-login",
    )
    tai("exec", lab, "dc1", "--", "samba-tool", "group", "addmembers", "Comptabilite", login)
    rc, got, kept = verdicts(lab)
    assert rc == 0 and set(got.values()) == {"pass"} and set(kept.values()) == {"pass"}

    # A broken prerequisite: the user leaves the group, the membership check fails.
    tai("exec", lab, "dc1", "--", "samba-tool", "group", "removemembers", "Comptabilite", login)
    rc, got, kept = verdicts(lab)
    assert rc == 1 and got["member"] == "fail" and set(kept.values()) == {"pass"}

    # Reports a jury and a CI system read.
    junit, html = tmp_path / "grade.xml", tmp_path / "grade.html"
    tai("grade", lab, "--format", "junit", "--output", str(junit), check=False)
    tai("grade", lab, "--format", "html", "--output", str(html), check=False)
    suite = ET.parse(junit).getroot()
    assert suite.get("failures") == "1" and suite.get("tests") == str(len(got) + len(kept))
    page = html.read_text()
    assert "non acquise" in page or "acquise" in page
    assert login in page and "memberOf" in page

    # The DC's directory service stopped: its checks cannot be judged -> error, exit 3.
    tai("exec", lab, "dc1", "--", "systemctl", "stop", "samba-ad-dc")
    rc, got, kept = verdicts(lab)
    assert rc == 3 and set(got.values()) == {"error"}
    # what the directory holds cannot be judged either; the machines' addresses still can;
    # and the directory service stopped by hand is a service of dc1 stopped since exam start
    machines = ("keep-address-", "keep-services-")
    assert {v for k, v in kept.items() if not k.startswith(machines)} == {"error"}
    assert {v for k, v in kept.items() if k.startswith("keep-address-")} == {"pass"}
    assert {k: v for k, v in kept.items() if k.startswith("keep-services-")} == {
        "keep-services-dc1": "fail",
        "keep-services-box": "pass",
        "keep-services-pc1": "pass",
    }
