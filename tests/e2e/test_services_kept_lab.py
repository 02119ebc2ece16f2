"""The default invariant on a node's services (``keep-services-<node>``) on a real lab.

At exam start it holds; a service the candidate stops (cron on pc1, which the call is not
about) fails it, named; faking it back (a ``systemctl`` that says "active", a process named
``cron`` outside the unit's cgroup) changes nothing, since the host reads the unit's cgroup
and the node's links itself; starting the service again makes it hold.
"""

from __future__ import annotations

import json
from typing import Any

from labtools import tai

CHECK = "keep-services-pc1"


def kept(lab: str) -> dict[str, dict[str, Any]]:
    out = tai("grade", lab, "--format", "json", "--no-audit", "--no-restart", check=False)
    checks = json.loads(out.stdout)["checks"]
    return {c["id"]: c for c in checks if c["id"].startswith("keep-services-")}


def test_a_service_stopped_on_the_way_is_collateral_damage(labs: list[str]) -> None:
    info = json.loads(tai("up", "compte-verrouille", "--candidate", "services", "--json").stdout)
    lab = info["id"]
    labs.append(lab)

    # As the candidate gets it: every container node's services hold, read from the host.
    at_start = kept(lab)
    assert set(at_start) == {"keep-services-dc1", "keep-services-box", "keep-services-pc1"}
    assert {c["verdict"] for c in at_start.values()} == {"pass"}, at_start
    assert "cron.service" in at_start[CHECK]["decisive"]
    sources = {e["source"] for e in at_start[CHECK]["evidence"]}
    assert sources == {"host"}

    # The candidate stops cron on pc1: collateral damage, named.
    tai("exec", lab, "pc1", "--", "systemctl", "stop", "cron")
    stopped = kept(lab)[CHECK]
    assert stopped["verdict"] == "fail"
    assert "arrêté(s) depuis le début de l'épreuve : cron.service" in stopped["why_fr"]
    assert kept(lab)["keep-services-dc1"]["verdict"] == "pass"

    # Faking it: systemctl replaced by a script saying "active", and a process named cron
    # left running outside cron.service's cgroup.
    fake = (
        "cp /usr/bin/systemctl /root/systemctl.real"
        " && printf '#!/bin/sh\\necho active\\n' > /usr/bin/systemctl"
        " && cp /bin/sleep /usr/local/sbin/cron"
        " && setsid -f /usr/local/sbin/cron 3000 </dev/null >/dev/null 2>&1"
    )
    tai("exec", lab, "pc1", "--", "sh", "-c", fake)
    assert tai("exec", lab, "pc1", "--", "systemctl", "is-active", "cron").stdout == "active\n"
    assert tai("exec", lab, "pc1", "--", "pgrep", "-x", "cron").stdout.strip()
    faked = kept(lab)[CHECK]
    assert faked["verdict"] == "fail" and "cron.service" in faked["why_fr"]

    # The real systemctl back, cron started again: it holds.
    tai("exec", lab, "pc1", "--", "cp", "/root/systemctl.real", "/usr/bin/systemctl")
    tai("exec", lab, "pc1", "--", "systemctl", "restart", "cron")
    assert kept(lab)[CHECK]["verdict"] == "pass"
