"""probe.reach as the host asks it from the node's namespace (JSON of providers.netprobe)."""

from __future__ import annotations

import json
from typing import Any

from graderkit import FakeSession, evidence, out

from tai_labs.grading.base import CHECKS
from tai_labs.grading.model import Verdict

PASS, FAIL, ERROR = Verdict.PASS, Verdict.FAIL, Verdict.ERROR
HOP = {"via": "192.168.10.254", "dev": "eth1", "mac": "02:13:b8:90:39:7b"}
DNS_OK = {
    "source": "dns",
    "servers": ["192.168.10.10"],
    "answers": [
        {
            "name": "srv.dupuis.lan",
            "server": "192.168.10.10",
            "answered_by": "192.168.10.10",
            "rcode": "NOERROR",
            "addresses": ["10.20.0.10"],
        }
    ],
}


def jury(**report: Any) -> Any:
    return evidence(jury=out(0, json.dumps({"host": "srv.dupuis.lan", **report})))


def test_ping_answered_passes_and_says_who_answered(judge) -> None:
    ev = jury(
        resolution=DNS_OK,
        address="10.20.0.10",
        ping={"sent": 2, "received": 2, "from": ["10.20.0.10"]},
        next_hop=HOP,
    )
    j = judge("probe.reach", ev, host="srv.dupuis.lan")
    assert j.verdict is PASS
    assert "reçus de 10.20.0.10" in j.decisive and "MAC 02:13:b8:90:39:7b" in j.decisive
    assert "(réponse de 192.168.10.10)" in j.decisive
    assert judge("probe.reach", ev, host="srv.dupuis.lan", reachable=False).verdict is FAIL


def test_no_answer_no_route_or_no_name_fail(judge) -> None:
    silent = jury(address="10.20.0.10", ping={"sent": 2, "received": 0, "from": []})
    assert judge("probe.reach", silent, host="10.20.0.10").verdict is FAIL
    assert judge("probe.reach", silent, host="10.20.0.10", reachable=False).verdict is PASS
    no_route = jury(
        address="10.20.0.10",
        ping={"sent": 0, "received": 0, "from": [], "error": "Network is unreachable"},
    )
    j = judge("probe.reach", no_route, host="10.20.0.10")
    assert j.verdict is FAIL and "Network is unreachable" in j.decisive
    nxdomain = {
        **DNS_OK,
        "answers": [{**DNS_OK["answers"][0], "rcode": "NXDOMAIN", "addresses": []}],
    }
    j = judge("probe.reach", jury(resolution=nxdomain), host="srv.dupuis.lan")
    assert j.verdict is FAIL and "ne se résout pas" in j.why_fr
    refused = jury(address="10.20.0.10", tcp={"state": "refused"})
    assert judge("probe.reach", refused, host="10.20.0.10", port=445).verdict is FAIL
    opened = jury(address="10.20.0.10", tcp={"state": "open"})
    assert judge("probe.reach", opened, host="10.20.0.10", port=445).verdict is PASS


def test_unusable_jury_output_is_an_error(judge) -> None:
    assert judge("probe.reach", evidence(jury=out(0, "[]")), host="h").verdict is ERROR
    assert judge("probe.reach", jury(address="1.2.3.4", ping={}), host="1.2.3.4").verdict is ERROR


def test_the_nodes_ping_is_not_asked_when_the_host_can_probe() -> None:
    class JurySession(FakeSession):
        def reach_probe(self, host: str, port: int | None = None) -> Any:
            return out(0, json.dumps({"host": host}))

    session = JurySession([])
    plugin = CHECKS.get("probe.reach")
    params = plugin.Params.model_validate({"host": "10.20.0.10"})  # type: ignore[attr-defined]
    plugin().collect(session, params)
    assert session.calls == []


# --- probe.dns, type A, resolved by the host as the node would -----------------------------


def resolved(resolution: dict[str, Any]) -> Any:
    return evidence(jury=out(0, json.dumps({"query": "srv.dupuis.lan", "resolution": resolution})))


def test_a_name_resolved_by_the_jury_says_which_server_answered(judge) -> None:
    j = judge("probe.dns", resolved(DNS_OK), query="srv.dupuis.lan", expect=["10.20.0.10"])
    assert (
        j.verdict is PASS and "@192.168.10.10: 10.20.0.10 (réponse de 192.168.10.10)" in j.decisive
    )
    j = judge("probe.dns", resolved(DNS_OK), query="srv.dupuis.lan", expect=["10.20.0.11"])
    assert j.verdict is FAIL
    poisoned = {"source": "/etc/hosts", "address": "192.168.10.66"}
    j = judge("probe.dns", resolved(poisoned), query="srv.dupuis.lan", expect=["10.20.0.10"])
    assert j.verdict is FAIL and j.decisive == "/etc/hosts : 192.168.10.66"


def test_no_such_name_and_silent_servers_are_told_apart(judge) -> None:
    gone = {**DNS_OK["answers"][0], "rcode": "NXDOMAIN", "addresses": []}  # type: ignore[dict-item]
    nx = resolved({**DNS_OK, "answers": [gone]})
    assert judge("probe.dns", nx, query="srv.dupuis.lan").verdict is FAIL
    assert judge("probe.dns", nx, query="srv.dupuis.lan", resolves=False).verdict is PASS
    silent = resolved(
        {
            **DNS_OK,
            "answers": [
                {"name": "srv.dupuis.lan", "server": "192.168.10.10", "error": "no answer"}
            ],
        }
    )
    j = judge("probe.dns", silent, query="srv.dupuis.lan")
    assert j.verdict is FAIL and "aucun serveur DNS ne répond" in j.why_fr
    assert judge("probe.dns", silent, query="srv.dupuis.lan", resolves=False).verdict is ERROR
    assert judge("probe.dns", evidence(jury=out(0, "{}")), query="srv.dupuis.lan").verdict is ERROR
