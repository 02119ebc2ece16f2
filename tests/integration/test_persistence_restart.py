"""The restart phase on a real lab: a runtime-only fix fails after a restart, a saved one holds,
and the restarted node comes back with the candidate's files.

One lab of ``securiser-poste`` (pc1's ``firewall-blocks`` is persistent), brought up by the
real lifecycle, always removed. The firewall rules are what a candidate would type.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from roles_fixtures import skip_unless_images

from conftest import host_problem
from tai_labs.grading.model import Verdict
from tai_labs.providers import naming

pytestmark = pytest.mark.integration

RULES = (
    "nft add table inet f && nft 'add chain inet f in { type filter hook input priority 0; "
    "policy drop; }' && nft add rule inet f in ct state established,related accept && "
    "nft add rule inet f in tcp dport 22 accept"
)
SAVED = """#!/usr/sbin/nft -f
flush ruleset
table inet f {
  chain in {
    type filter hook input priority filter; policy drop;
    iif "lo" accept
    ct state established,related accept
    tcp dport 22 accept
  }
}
"""


@pytest.fixture(scope="module")
def lab() -> Iterator[Any]:
    problem = host_problem("lxc-start", "lxc-attach", "ip", "nft")
    if problem:
        pytest.skip(problem)
    from tai_labs.errors import TaiLabsError
    from tai_labs.lab import lifecycle
    from tai_labs.lab.runtime import open_lab
    from tai_labs.scenario.catalog import find

    skip_unless_images("router", "client")
    reuse = os.environ.get("TAI_LABS_PERSIST_LAB")  # a securiser-poste lab already up
    if reuse:
        yield open_lab(reuse)
        return
    lab_id = naming.new_lab_id()
    try:
        try:
            lab = lifecycle.up(find("securiser-poste"), candidate="persist", seed=0, lab_id=lab_id)
        except TaiLabsError as exc:
            if "cannot be brought up yet" in exc.message:
                pytest.skip(exc.message)
            raise
        yield lab
    finally:
        lifecycle.down(lab_id)


def _sh(lab: Any, script: str) -> str:
    result = lab.engine.exec(lab.node_plan("pc1").resource, ["sh", "-c", script])
    assert result.ok, result.stderr
    return str(result.stdout)


def _check(report: Any, check_id: str) -> Any:
    return next(c for c in report.checks if c.id == check_id)


def test_rules_typed_by_hand_pass_now_and_fail_after_a_restart(lab: Any) -> None:
    from tai_labs.lab import lifecycle
    from tai_labs.lab.restart import grade_lab_restarting

    lifecycle.revert_to(lab, lifecycle.EXAM_START)
    _sh(lab, RULES)
    _sh(lab, "echo travail > /root/compte-rendu.txt")
    quick = grade_lab_restarting(lab.id, restart=False)
    blocks = _check(quick, "firewall-blocks")
    assert blocks.verdict is Verdict.PASS and blocks.after_restart is None
    assert "persistance non vérifiée" in blocks.message
    assert quick.restart is not None and not quick.restart.ran

    booted = _sh(lab, "stat -c %Y /proc/1")
    report = grade_lab_restarting(lab.id)
    blocks = _check(report, "firewall-blocks")
    assert (blocks.verdict, blocks.after_restart, blocks.points) == (
        Verdict.FAIL,
        Verdict.FAIL,
        0,
    )
    assert blocks.message.startswith("La correction ne survit pas à un redémarrage")
    assert any(e.after_restart for e in blocks.evidence)
    assert _check(report, "firewall-ssh").verdict is Verdict.PASS  # not persistent
    assert report.restart is not None
    assert (report.restart.nodes, report.restart.checks) == (["pc1"], ["firewall-blocks"])
    assert report.restart.restored
    # The node really restarted, and its files are the candidate's again.
    assert _sh(lab, "stat -c %Y /proc/1") != booted
    assert _sh(lab, "cat /root/compte-rendu.txt").strip() == "travail"
    # The grade history holds the complete report.
    kept = sorted((lab.folder / "grades").glob("*.json"))[-1].read_text()
    assert '"after_restart": "fail"' in kept


def test_a_saved_and_enabled_firewall_holds_after_a_restart(lab: Any) -> None:
    from tai_labs.lab import lifecycle
    from tai_labs.lab.restart import grade_lab_restarting

    lifecycle.revert_to(lab, lifecycle.EXAM_START)
    _sh(lab, f"cat > /etc/nftables.conf <<'EOF'\n{SAVED}EOF\nsystemctl enable --now nftables")
    report = grade_lab_restarting(lab.id)
    blocks = _check(report, "firewall-blocks")
    assert (blocks.verdict, blocks.after_restart) == (Verdict.PASS, Verdict.PASS)
    assert "la correction tient" in blocks.message
    assert report.restart is not None and report.restart.seconds > 0
