"""probe.dns (PTR, SRV, CNAME) and probe.http as the host asks them from the node's
namespace: judged on the host's answers, the node's dig and curl never asked."""

from __future__ import annotations

import json
from typing import Any

from graderkit import FakeSession, evidence, out

from tai_labs.grading.base import CHECKS
from tai_labs.grading.model import Verdict

PASS, FAIL, ERROR = Verdict.PASS, Verdict.FAIL, Verdict.ERROR
SRV = "_ldap._tcp.dupuis.lan"


def records(*answers: dict[str, Any], servers: tuple[str, ...] = ("192.168.10.10",)) -> Any:
    resolution = {"source": "dns", "servers": list(servers), "answers": list(answers)}
    report = {"query": SRV, "type": "SRV", "resolution": resolution}
    return evidence(jury_records=out(0, json.dumps(report)))


def answer(rcode: str, *data: str, rtype: str = "SRV", server: str = "192.168.10.10") -> Any:
    return {
        "name": SRV,
        "server": server,
        "answered_by": server,
        "rcode": rcode,
        "addresses": [],
        "records": [{"name": SRV + ".", "type": rtype, "data": d} for d in data],
    }


def test_srv_records_from_the_nodes_nameserver(judge) -> None:
    found = records(answer("NOERROR", "0 100 389 dc1.dupuis.lan."))
    j = judge("probe.dns", found, query=SRV, type="SRV", expect=["dc1.dupuis.lan"])
    assert j.verdict is PASS
    assert "0 100 389 dc1.dupuis.lan. (réponse de 192.168.10.10)" in j.decisive
    assert (
        judge("probe.dns", found, query=SRV, type="SRV", expect=["dc2.dupuis.lan"]).verdict is FAIL
    )
    # a CNAME in the answer is not the SRV record asked for
    cname = records(answer("NOERROR", "other.dupuis.lan.", rtype="CNAME"))
    assert judge("probe.dns", cname, query=SRV, type="SRV", expect=["dc1"]).verdict is FAIL


def test_no_server_a_refusal_and_no_such_name(judge) -> None:
    dead = {"name": SRV, "server": "192.168.10.99", "error": "no answer"}
    j = judge("probe.dns", records(dead, servers=("192.168.10.99",)), query=SRV, type="SRV")
    assert j.verdict is FAIL and "aucun serveur DNS ne répond" in j.why_fr
    absent = judge(
        "probe.dns", records(dead, servers=("192.168.10.99",)), query=SRV, type="SRV",
        resolves=False,
    )  # fmt: skip
    assert absent.verdict is ERROR  # silence proves nothing
    nx = records(answer("NXDOMAIN"))
    assert judge("probe.dns", nx, query=SRV, type="SRV").verdict is FAIL
    assert judge("probe.dns", nx, query=SRV, type="SRV", resolves=False).verdict is PASS
    refused = records(answer("REFUSED"))
    assert judge("probe.dns", refused, query=SRV, type="SRV").verdict is FAIL
    assert judge("probe.dns", refused, query=SRV, type="SRV", resolves=False).verdict is ERROR
    ptr = records(answer("NOERROR", "dc1.dupuis.lan.", rtype="PTR"))
    assert judge(
        "probe.dns", ptr, query="192.168.10.10", type="PTR", expect=["dc1.dupuis.lan"]
    ).verdict is PASS  # fmt: skip
    assert (
        judge("probe.dns", evidence(jury_records=out(0, "[]")), query=SRV, type="SRV").verdict
        is ERROR
    )


FAKE_DIG = (
    ";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 1\n"
    "_ldap._tcp.dupuis.lan. 900 IN SRV 0 100 389 dc1.dupuis.lan.\n"
)
FAKE_CURL = "<h1>Bienvenue</h1>\n== status 200"


class JurySession(FakeSession):
    """A node whose dig and curl were replaced by scripts printing success; the jury's own
    answers say the dead server and proxy do not answer."""

    def __init__(self) -> None:
        super().__init__([("dig", out(0, FAKE_DIG)), ("curl", out(0, FAKE_CURL))])

    def dns_probe(self, query: str, rtype: str, server: str | None = None) -> Any:
        dead = {"name": query, "server": "192.168.10.99", "error": "no answer"}
        resolution = {"source": "dns", "servers": ["192.168.10.99"], "answers": [dead]}
        return out(0, json.dumps({"query": query, "type": rtype, "resolution": resolution}))

    def http_probe(self, url: str) -> Any:
        return out(
            7,
            "\n== status 000",
            "curl: (7) Failed to connect to 192.168.1.250 port 3128\n"
            "proxy: http://192.168.1.250:3128 / http://192.168.1.250:3128\n"
            f"jury: GET {url} via http://192.168.1.250:3128 : HTTP 000 de (personne)\n",
        )


def _grade(session: FakeSession, check: str, **params: Any) -> Any:
    plugin = CHECKS.get(check)
    p = plugin.Params.model_validate(params)  # type: ignore[attr-defined]
    return plugin().judge(plugin().collect(session, p), p)


def test_a_faked_dig_or_curl_on_the_node_changes_nothing() -> None:
    session = JurySession()
    j = _grade(session, "probe.dns", query=SRV, type="SRV", expect=["dc1.dupuis.lan"])
    assert j.verdict is FAIL and "192.168.10.99" in j.decisive
    j = _grade(session, "probe.http", url="http://203.0.113.1/", contains="Bienvenue")
    assert j.verdict is FAIL and "personne" in j.decisive
    assert session.calls == []  # neither the node's dig nor its curl ran
    # the same fakes fool the node-side path (a VM node, no host view): why it is not used
    node = FakeSession([("dig", out(0, FAKE_DIG)), ("curl", out(0, FAKE_CURL))])
    j = _grade(node, "probe.dns", query=SRV, type="SRV", expect=["dc1.dupuis.lan"])
    assert j.verdict is PASS


def test_http_says_who_answered(judge) -> None:
    ok = evidence(
        curl=out(
            0,
            "<h1>Bienvenue</h1>\n== status 200",
            "proxy: none / none\njury: GET http://203.0.113.1/ en direct : HTTP 200 de "
            "203.0.113.1:80\n",
        )
    )
    j = judge("probe.http", ok, url="http://203.0.113.1/", contains="Bienvenue")
    assert j.verdict is PASS and "HTTP 200 de 203.0.113.1:80" in j.decisive
