"""Every check, replayed on what real nodes answered (captured by the integration tests).

Each file of ``captured/`` is one check run on a live Samba DC, FRR router or Open vSwitch
switch, with the verdict seen there; replaying runs the check's ``collect`` against those
answers, then ``judge``, and must give the same verdict.
"""

from __future__ import annotations

from typing import Any

import pytest

from graders_ad.replay import ReplayCommand, ReplayDevice, ReplayDirectory, load_captures
from tai_labs.grading.base import CHECKS
from tai_labs.grading.model import Verdict
from tai_labs.sessions.device import OvsSession

CAPTURES = load_captures("")


def replay_session(capture: dict[str, Any]) -> Any:
    calls = capture["calls"]
    if capture["check"].startswith("ad."):
        return ReplayDirectory(calls, capture["base_dn"])
    kind = capture["session"]
    if kind == "ovs":
        return OvsSession("sw", ReplayCommand(calls))
    return ReplayCommand(calls) if kind == "command" else ReplayDevice(calls)


def run(capture: dict[str, Any]) -> Any:
    plugin = CHECKS.get(capture["check"])
    params = plugin.Params.model_validate(capture["params"])
    evidence = plugin().collect(replay_session(capture), params)
    evidence.baseline = dict(capture.get("baseline") or {})
    return plugin().judge(evidence, params), evidence


def test_every_check_has_captures_for_pass_and_fail() -> None:
    seen = {(c["check"], c["verdict"]) for c in CAPTURES}
    for name in CHECKS.names():
        if name.startswith(("ad.", "netdev.")):
            assert (name, "pass") in seen and (name, "fail") in seen, name
    assert len(CAPTURES) > 50


@pytest.mark.parametrize("capture", CAPTURES, ids=[c["file"] for c in CAPTURES])
def test_captured_verdict(capture: dict[str, Any]) -> None:
    judgement, evidence = run(capture)
    assert judgement.verdict is Verdict(capture["verdict"]), judgement
    assert judgement.why_fr and judgement.why_en and judgement.decisive
    # The jury sees every question asked and its answer.
    assert evidence.commands and all(c.command for c in evidence.commands)
