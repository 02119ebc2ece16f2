"""probe.dhcp as the jury asks it: answers attributed to the node whose port they came from.

The answers are those of a real lab (dhcp-bureau): the box's dnsmasq, and a DHCP server a
candidate started on pc1 instead of repairing the box's.
"""

from __future__ import annotations

import json
from typing import Any

from graderkit import FakeSession, evidence, out

from tai_labs.grading.base import CHECKS
from tai_labs.grading.model import Verdict

PASS, FAIL, ERROR = Verdict.PASS, Verdict.FAIL, Verdict.ERROR


def _reply(message: str, node: str, mac: str, ip: str, address: str, **kw: Any) -> dict[str, Any]:
    return {
        "message": message,
        "node": node,
        "port": f"tli12prbn0{'2' if node == 'box' else '3'}1",
        "mac": mac,
        "source_ip": ip,
        "server_id": ip,
        "address": address,
        "mask": "255.255.255.0",
        "routers": kw.get("routers", ["192.168.10.254"]),
        "dns": kw.get("dns", ["192.168.10.10"]),
        "domain": None,
        "lease_seconds": 3600,
    }


BOX = ("box", "02:13:b8:90:39:7b", "192.168.10.254", "192.168.10.133")
ROGUE = ("pc1", "02:df:c8:b9:61:d3", "192.168.10.51", "192.168.10.150")
PARAMS = {
    "interface": "eth1",
    "range": ["192.168.10.100", "192.168.10.199"],
    "gateway": "192.168.10.254",
    "dns": ["192.168.10.10"],
    "from": "box",
}


def jury(*replies: dict[str, Any], rc: int = 0) -> Any:
    return evidence(jury=out(rc, json.dumps(list(replies))))


def test_the_intended_server_alone_passes(judge) -> None:
    j = judge("probe.dhcp", jury(_reply("offer", *BOX), _reply("ack", *BOX)), **PARAMS)
    assert j.verdict is PASS and "box (MAC 02:13:b8:90:39:7b" in j.decisive


def test_a_rogue_server_alone_fails_naming_it(judge) -> None:
    ev = jury(_reply("offer", *ROGUE), _reply("ack", *ROGUE))
    j = judge("probe.dhcp", ev, **PARAMS)
    assert j.verdict is FAIL
    assert "ne vient pas de box mais de pc1 (MAC 02:df:c8:b9:61:d3" in j.why_fr
    # without ``from`` the same lease would pass: the options are right
    assert (
        judge("probe.dhcp", ev, **{k: v for k, v in PARAMS.items() if k != "from"}).verdict is PASS
    )


def test_a_rogue_server_beside_the_fixed_one_fails(judge) -> None:
    ev = jury(
        _reply("offer", *BOX), _reply("offer", *ROGUE), _reply("ack", *ROGUE), _reply("ack", *BOX)
    )
    j = judge("probe.dhcp", ev, **PARAMS)
    assert j.verdict is FAIL and "un autre serveur DHCP répond aussi" in j.why_fr
    assert "pc1" in j.why_fr and "192.168.10.51" in j.why_fr
    # two servers and none named as the intended one: fails too
    j = judge("probe.dhcp", ev, interface="eth1")
    assert j.verdict is FAIL and "plusieurs serveurs DHCP" in j.why_fr


def test_the_intended_servers_options_and_answers_are_judged(judge) -> None:
    wrong_dns = _reply("ack", *BOX, dns=["192.168.10.254"])
    j = judge("probe.dhcp", jury(_reply("offer", *BOX), wrong_dns), **PARAMS)
    assert j.verdict is FAIL and "DNS 192.168.10.10" in j.why_fr
    j = judge("probe.dhcp", jury(_reply("offer", *BOX)), **PARAMS)
    assert j.verdict is FAIL and "pas de DHCPACK" in j.why_fr
    j = judge("probe.dhcp", jury(_reply("offer", *BOX), _reply("nak", *BOX)), **PARAMS)
    assert j.verdict is FAIL and "DHCPNAK" in j.why_fr
    j = judge("probe.dhcp", jury(), **PARAMS)
    assert j.verdict is FAIL and "aucun serveur DHCP ne répond" in j.why_fr


def test_a_probe_that_could_not_run_is_an_error(judge) -> None:
    assert judge("probe.dhcp", jury(rc=1), **PARAMS).verdict is ERROR
    assert judge("probe.dhcp", evidence(jury=out(0, "{oops")), **PARAMS).verdict is ERROR
    # node-side dhclient cannot say which node answered: ``from`` is not judged from it
    lease = "== lease file ==\nlease {\n  fixed-address 192.168.10.106;\n}\n"
    j = judge("probe.dhcp", evidence(dhclient=out(0, lease)), **PARAMS)
    assert j.verdict is ERROR


def test_collect_asks_the_jury_and_never_the_node_when_it_can() -> None:
    class JurySession(FakeSession):
        def dhcp_probe(self, interface: str, *, prefer: str | None = None) -> Any:
            self.asked = (interface, prefer)
            return out(0, "[]")

    session = JurySession([])
    plugin = CHECKS.get("probe.dhcp")
    ev = plugin().collect(session, plugin.Params.model_validate(PARAMS))  # type: ignore[attr-defined]
    assert session.asked == ("eth1", "box") and session.calls == []
    assert [c.stdout for c in ev.commands] == ["[]"]
