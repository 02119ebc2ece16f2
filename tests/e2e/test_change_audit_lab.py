"""The change audit on a real lab: what the candidate changed as root, listed from the host.

Right after exam start a grade lists nothing; after changes made as root in a node (a file
in /etc, a package removed, a service disabled) and in the directory (a user created, a
group deleted, the expected fix), the report lists each of them, the fix as "attendu" and
the rest as out of scope, without changing a single point.
"""

from __future__ import annotations

import html
import json
import statistics
import time
from pathlib import Path
from typing import Any

from labtools import tai


def grade(lab: str, *args: str) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    out = tai("grade", lab, "--format", "json", *args, check=False)
    return json.loads(out.stdout), time.monotonic() - started


def nodes(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["node"]: n for n in report["changes"]["nodes"]}


def files(node: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["path"]: c for g in node["files"] for c in g["changes"]}


def test_the_audit_lists_what_changed_and_only_that(labs: list[str], tmp_path: Path) -> None:
    info = json.loads(tai("up", "compte-verrouille", "--candidate", "audit", "--json").stdout)
    lab = info["id"]
    labs.append(lab)
    login = json.loads(tai("show", "compte-verrouille", "--candidate", "audit", "--json").stdout)[
        "variables"
    ]["user"]["login"]

    # Right after exam start: nothing changed, on any node or in the directory.
    report, _ = grade(lab)
    audit = report["changes"]
    assert audit is not None and audit["baseline"] is not None
    for node in audit["nodes"]:
        assert node["audited"], node
        assert (node["files"], node["packages"], node["services"]) == ([], [], []), node
        assert not node["truncated"]
    (directory,) = audit["directory"]
    assert directory["audited"] and directory["since_usn"] > 0
    assert directory["changes"] == []
    points_before = report["points"]

    # The candidate, as root: collateral changes on pc1 and in the directory, and the fix.
    tai("exec", lab, "pc1", "--", "sh", "-c", "echo 'audit=1' > /etc/audit-proof.conf")
    tai("exec", lab, "pc1", "--", "dpkg", "--purge", "--force-depends", "nano")
    tai("exec", lab, "pc1", "--", "systemctl", "disable", "--now", "cron")
    tai("exec", lab, "dc1", "--", "samba-tool", "user", "create", "intrus", "Intrus-2026xy")
    tai("exec", lab, "dc1", "--", "samba-tool", "group", "delete", "Direction")
    tai("exec", lab, "dc1", "--", "samba-tool", "user", "unlock", login)

    report, _ = grade(lab)
    pc1 = nodes(report)["pc1"]
    changed = files(pc1)
    assert changed["/etc/audit-proof.conf"]["change"] == "created"
    assert not changed["/etc/audit-proof.conf"]["expected"]
    # The package's own files are said once, as the package (dpkg's list read by the host).
    assert "/usr/bin/nano" not in changed
    assert pc1["filtered"]["fichiers des paquets (voir paquets)"] > 0
    assert {(p["name"], p["change"]) for p in pc1["packages"]} == {("nano", "removed")}
    assert {(s["unit"], s["change"]) for s in pc1["services"]} == {
        ("cron.service", "disabled"),
        ("cron.service", "stopped"),
    }
    assert nodes(report)["box"]["files"] == []  # untouched nodes stay empty
    objects = {(c["name"], c["change"]): c for c in report["changes"]["directory"][0]["changes"]}
    assert not objects[("intrus", "created")]["expected"]
    assert not objects[("Direction", "deleted")]["expected"]
    fix = objects[(login, "modified")]
    assert fix["expected"] and "lockouttime" in fix["attributes"]
    # The audit informs, never scores: the unlock earns its points; what costs points are the
    # default invariants on the deleted group and on pc1's services (collateral damage: cron
    # stopped and disabled), not the audit's list.
    checks = {c["id"]: c for c in report["checks"]}
    unlocked = checks["unlocked"]
    assert unlocked["verdict"] == "pass"
    broken = {
        i: c["penalty"] for i, c in checks.items() if c["invariant"] and c["verdict"] == "fail"
    }
    assert list(broken) == [
        *(i for i in checks if i.startswith("keep-group-") and "direction" in i),
        "keep-services-pc1",
    ]
    assert "cron.service" in checks["keep-services-pc1"]["why_fr"]
    assert report["points"] == max(0, points_before + unlocked["max_points"] - sum(broken.values()))

    text = tai("grade", lab, check=False).stdout
    assert "Modifications constatées" in text and "hors périmètre" in text
    page = tmp_path / "grade.html"
    tai("grade", lab, "--format", "html", "--output", str(page), check=False)
    shown = html.unescape(page.read_text())
    assert "Modifications constatées" in shown and "/etc/audit-proof.conf" in shown
    assert "intrus" in shown and "nano supprimé" in shown

    # The audit's cost on a grade: medians of three, with and without it (interleaved, so
    # the machine's load falls on both alike), and the audit's own time.
    timed: dict[str, list[float]] = {"--no-audit": [], "--audit": []}
    own: list[float] = []
    for _ in range(3):
        for flag in timed:
            graded, seconds = grade(lab, flag)
            timed[flag].append(seconds)
            if graded["changes"] is not None:
                own.append(graded["changes"]["seconds"])
    medians = {flag: round(statistics.median(times), 2) for flag, times in timed.items()}
    print(f"grade seconds, medians of 3: {medians}; audit itself: {statistics.median(own)} s")
    assert statistics.median(own) < 30
