"""Live probes of the network from a node: name resolution, reachability, a DHCP lease.

What all probes share (and how a probe judges a timeout) is in ``graders/_probe.py``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ConfigDict, Field

from graders._probe import HOST, Probe, no_name, run_script, script_output
from tai_labs.grading import parsers as p
from tai_labs.grading.base import register_check
from tai_labs.grading.model import Evidence, Judgement
from tai_labs.plugins import PluginParams
from tai_labs.sessions.base import CommandResult, CommandSession

#: ping's summary line. ``(?<!\d)``: a match starts a digit run (it always did), so a long
#: run of digits is not rescanned from each of its digits (quadratic).
PING_SUMMARY = re.compile(r"(?<!\d)(\d+) packets transmitted, (\d+) (?:packets )?received")


@register_check
class Dns(Probe["Dns.Params"]):
    name = "probe.dns"
    summary = "A name resolves (A or PTR) to the expected answer, or fails to"

    class Params(PluginParams):
        query: str = Field(pattern=HOST)
        type: Literal["A", "PTR", "SRV", "CNAME"] = "A"
        expect: list[str] = []
        server: ipaddress.IPv4Address | None = None
        resolves: bool = True

    def collect(self, session: CommandSession, params: Params) -> Evidence:
        ev = Evidence()
        if params.type == "A" and not _is_ip(params.query):
            server = None if params.server is None else str(params.server)
            jury = session.resolve_probe(params.query, server)
            if jury is not None:
                ev.add(jury)
                ev.facts.setdefault("outputs", {})["jury"] = 0
                return ev
        if params.type != "A":
            server = None if params.server is None else str(params.server)
            records = session.dns_probe(params.query, params.type, server)
            if records is not None:
                ev.add(records)
                ev.facts.setdefault("outputs", {})["jury_records"] = 0
                return ev
        if params.type == "A" and params.server is None:
            # what applications see: nsswitch, so /etc/hosts as well as DNS
            p.run(ev, session, "getent", ["getent", "ahostsv4", "--", params.query])
        if params.type != "A" or params.server is not None or not params.resolves:
            argv = ["dig", "+noall", "+comments", "+answer", "+time=2", "+tries=2"]
            if params.server is not None:
                argv.append(f"@{params.server}")
            if params.type == "PTR" and _is_ip(params.query):
                argv += ["-x", params.query]
            else:
                argv += [params.query, params.type]
            p.run(ev, session, "dig", argv, timeout=20)
        return ev

    def judge(self, ev: Evidence, params: Params) -> Judgement:
        q = params.query
        jury = p.output(ev, "jury")
        if jury is not None:
            return judge_jury_dns(jury, params)
        records = p.output(ev, "jury_records")
        if records is not None:
            return judge_jury_records(records, params)
        g, d = p.output(ev, "getent"), p.output(ev, "dig")
        answers: list[str] = []
        decisive = ""
        definite_none = False  # the resolver said "no such name"
        if g is not None:
            if g.ok and g.stdout.strip():
                answers = p.parse_getent_ahosts(g.stdout)
                decisive = "getent: " + " ".join(answers)
            elif g.rc == 2 and not g.stdout.strip():
                definite_none = d is None  # rc 2 is also a timeout: only dig can say NXDOMAIN
                decisive = "getent ahostsv4: introuvable (rc=2)"
            else:
                return p.not_run(g, "getent ahostsv4")
        if d is not None and not answers:
            if p.tool_missing(d):
                return p.not_run(d, "dig")
            parsed = p.parse_dig(d.stdout)
            if parsed is None:
                if d.rc == 9 or "no servers could be reached" in d.stdout:
                    if params.resolves:
                        return Judgement.failed(
                            f"aucun serveur DNS ne répond pour {q}",
                            f"no DNS server answers for {q}",
                            p.first_line(d.stdout),
                        )
                    return Judgement.error(
                        f"aucun serveur DNS ne répond : impossible de dire si {q} est absent",
                        "no DNS server answered, cannot judge",
                        p.first_line(d.stdout),
                    )
                return p.not_run(d, "dig")
            want_type = params.type
            answers = [rdata for _, rtype, rdata in parsed.records if rtype == want_type]
            decisive = f"dig: status {parsed.status}" + (
                f" ; {' | '.join(parsed.lines)}" if parsed.lines else ""
            )
            if not answers and parsed.status in ("NXDOMAIN", "NOERROR"):
                definite_none = True
            elif not answers and params.resolves:
                return Judgement.failed(
                    f"le serveur DNS refuse de résoudre {q} ({parsed.status})",
                    f"server answered {parsed.status}",
                    decisive,
                )
            elif not answers:
                return Judgement.error(
                    f"réponse DNS {parsed.status} : impossible de dire si {q} est absent",
                    f"DNS status {parsed.status}, cannot judge",
                    decisive,
                )
        return _judge_answers(params, answers, definite_none, decisive)


def _judge_answers(
    params: Dns.Params, answers: list[str], definite_none: bool, decisive: str
) -> Judgement:
    """The answers to the query, whoever got them, against what the check expects."""
    q = params.query
    if not params.resolves:
        if answers:
            return Judgement.failed(
                f"{q} se résout encore ({', '.join(answers)})", f"{q} still resolves", decisive
            )
        if definite_none:
            return Judgement.passed(f"{q} ne se résout pas", f"{q} does not resolve", decisive)
        return Judgement.error(
            f"impossible de dire si {q} est absent", "no definite answer", decisive
        )
    if not answers:
        return Judgement.failed(f"{q} ne se résout pas", f"{q} does not resolve", decisive)
    got = {_norm_answer(a, params.type) for a in answers}
    want = {_norm_answer(e, params.type) for e in params.expect}
    if params.type == "SRV":
        got |= {a.split()[-1] for a in got}  # expect may name only the target host
    if params.type == "A" and want and {a for a in got} != want:
        return Judgement.failed(
            f"{q} se résout en {', '.join(sorted(got))} au lieu de {', '.join(sorted(want))}",
            f"{q} resolves to {sorted(got)}",
            decisive,
        )
    if want - got:
        return Judgement.failed(
            f"{q} ne donne pas {', '.join(sorted(want - got))}",
            f"{q} lacks {sorted(want - got)}",
            decisive,
        )
    return Judgement.passed(
        f"{q} se résout en {', '.join(answers)}", f"{q} resolves to {answers}", decisive
    )


def judge_jury_dns(r: CommandResult, params: Dns.Params) -> Judgement:
    """A name resolved by the host's code as the node would (its hosts file, then its
    nameservers queried from its namespace), each DNS answer with the server that gave it."""
    try:
        report = p.parse_json(r.stdout) if r.ok else None
    except ValueError:
        report = None
    res = report.get("resolution") if isinstance(report, dict) else None
    if not isinstance(res, dict):
        return p.not_run(r, "résolution du jury")
    decisive = _resolution_text(res)
    if res.get("source") == "/etc/hosts":
        return _judge_answers(params, [str(res.get("address"))], False, decisive)
    answers = [a for a in res.get("answers") or [] if isinstance(a, dict)]
    found = next((a for a in answers if a.get("addresses")), None)
    if found is not None:
        return _judge_answers(params, [str(x) for x in found["addresses"]], False, decisive)
    if any(a.get("rcode") in ("NXDOMAIN", "NOERROR") for a in answers):
        return _judge_answers(params, [], True, decisive)
    status = next((str(a["rcode"]) for a in answers if a.get("rcode")), None)
    return _unanswered(params, status, decisive)


def _unanswered(params: Dns.Params, status: str | None, decisive: str) -> Judgement:
    """No usable answer: no server answered (``status`` None), or one refused (SERVFAIL,
    REFUSED...). A failure when the name must resolve; else nobody can say it is absent."""
    q = params.query
    if status is not None:
        if params.resolves:
            return Judgement.failed(
                f"le serveur DNS refuse de résoudre {q} ({status})",
                f"server said {status}",
                decisive,
            )
        return Judgement.error(
            f"réponse DNS {status} : impossible de dire si {q} est absent",
            f"DNS status {status}, cannot judge",
            decisive,
        )
    if params.resolves:
        return Judgement.failed(
            f"aucun serveur DNS ne répond pour {q}", f"no DNS server answers for {q}", decisive
        )
    return Judgement.error(
        f"aucun serveur DNS ne répond : impossible de dire si {q} est absent",
        "no DNS server answered, cannot judge",
        decisive,
    )


def judge_jury_records(r: CommandResult, params: Dns.Params) -> Judgement:
    """PTR, SRV or CNAME records asked by the host's code from the node's namespace (as the
    node's ``dig`` would ask them), each answer with the server that gave it."""
    try:
        report = p.parse_json(r.stdout) if r.ok else None
    except ValueError:
        report = None
    res = report.get("resolution") if isinstance(report, dict) else None
    if not isinstance(res, dict):
        return p.not_run(r, "requête DNS du jury")
    decisive = _records_text(res, params.type)
    answers = [a for a in res.get("answers") or [] if isinstance(a, dict)]
    answered = next((a for a in answers if a.get("rcode")), None)
    if answered is None:
        return _unanswered(params, None, decisive)
    status = str(answered["rcode"])
    if status not in ("NOERROR", "NXDOMAIN"):
        return _unanswered(params, status, decisive)
    found = [
        str(rec.get("data"))
        for rec in answered.get("records") or []
        if isinstance(rec, dict) and rec.get("type") == params.type
    ]
    return _judge_answers(params, found, not found, decisive)


def _records_text(res: dict[str, Any], rtype: str) -> str:
    parts = []
    for a in res.get("answers") or []:
        if not isinstance(a, dict):
            continue
        records = [
            str(rec.get("data"))
            for rec in a.get("records") or []
            if isinstance(rec, dict) and rec.get("type") == rtype
        ]
        got = " | ".join(records) or a.get("rcode") or a.get("error", "?")
        if records:
            got = f"{a.get('rcode')} ; {got}"
        by = f" (réponse de {a['answered_by']})" if a.get("answered_by") else ""
        parts.append(f"{a.get('name')} {rtype} @{a.get('server')}: {got}{by}")
    return "DNS " + (" ; ".join(parts) or "aucun serveur dans /etc/resolv.conf")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def _norm_answer(text: str, rtype: str) -> str:
    return text.strip() if rtype == "A" else " ".join(p.dns_name(w) for w in text.split())


@register_check
class Reach(Probe["Reach.Params"]):
    name = "probe.reach"
    summary = "A host answers ping, or a TCP port accepts connections"

    class Params(PluginParams):
        host: str = Field(pattern=HOST)
        port: int | None = Field(default=None, ge=1, le=65535)
        reachable: bool = True

    def collect(self, session: CommandSession, params: Params) -> Evidence:
        ev = Evidence()
        jury = session.reach_probe(params.host, params.port)
        if jury is not None:
            ev.add(jury)
            ev.facts.setdefault("outputs", {})["jury"] = 0
            return ev
        if params.port is None:
            # two echoes: the first may be lost to ARP resolution on a cold neighbour table
            p.run(
                ev,
                session,
                "ping",
                [*p.C_LOCALE, "ping", "-n", "-c", "2", "-i", "0.5", "-W", "2", params.host],
                timeout=15,
            )
        else:
            p.run(
                ev,
                session,
                "nc",
                [*p.C_LOCALE, "nc", "-v", "-z", "-w", "3", params.host, str(params.port)],
                timeout=15,
            )
        return ev

    def judge(self, ev: Evidence, params: Params) -> Judgement:
        target = params.host if params.port is None else f"{params.host}:{params.port}"
        jury = p.output(ev, "jury")
        if jury is not None:
            return judge_jury_reach(jury, params, target)
        r = p.output(ev, "ping" if params.port is None else "nc")
        if r is None or p.tool_missing(r):
            return p.not_run(r, "ping" if params.port is None else "nc")
        text = (r.stdout + "\n" + r.stderr).lower()
        if no_name(r):
            if params.reachable:
                return Judgement.failed(
                    f"le nom {params.host} ne se résout pas",
                    f"{params.host} does not resolve",
                    p.quote(r),
                )
            return Judgement.error(
                f"{params.host} ne se résout pas : impossible de juger",
                "name does not resolve",
                p.quote(r),
            )
        if params.port is None:
            m = PING_SUMMARY.search(text)
            if r.rc in (0, 1) and m:
                up = int(m.group(2)) > 0
                decisive = m.group(0)
            else:
                return p.not_run(r, "ping")
        else:
            if r.rc == 0 and "succeeded" in text:
                up, decisive = True, p.first_line(r.stderr) or "succeeded"
            elif r.rc == 1 and re.search(
                r"refused|timed out|no route|unreachable|refusée|expiré", text
            ):
                up, decisive = False, p.quote(r)
            else:
                return p.not_run(r, "nc")
        if up == params.reachable:
            word = "joignable" if up else "injoignable"
            return Judgement.passed(f"{target} est {word}", f"{target} reachable={up}", decisive)
        word = "ne répond pas" if not up else "répond encore"
        return Judgement.failed(f"{target} {word}", f"{target} reachable={up}", decisive)


def _resolution_text(res: dict[str, Any]) -> str:
    if res.get("source") == "/etc/hosts":
        return f"/etc/hosts : {res.get('address')}"
    parts = []
    for a in res.get("answers") or []:
        if not isinstance(a, dict):
            continue
        got = ",".join(a.get("addresses") or []) or a.get("rcode") or a.get("error", "?")
        by = f" (réponse de {a['answered_by']})" if a.get("answered_by") else ""
        parts.append(f"{a.get('name')} @{a.get('server')}: {got}{by}")
    return "DNS " + (" ; ".join(parts) or "aucun serveur dans /etc/resolv.conf")


def judge_jury_reach(r: CommandResult, params: Reach.Params, target: str) -> Judgement:
    """Reachability sent and read by the host's code in the node's namespace (JSON)."""
    try:
        report = p.parse_json(r.stdout) if r.ok else None
    except ValueError:
        report = None
    if not isinstance(report, dict):
        return p.not_run(r, "sonde d'accessibilité du jury")
    res: dict[str, Any] = report.get("resolution") or {}
    if not isinstance(res, dict):
        return p.not_run(r, "sonde d'accessibilité du jury")
    lookup = _resolution_text(res) if res else ""
    if "address" not in report:
        answers = [a for a in res.get("answers") or [] if isinstance(a, dict)]
        definite = any(a.get("rcode") in ("NXDOMAIN", "NOERROR") for a in answers)
        if params.reachable:
            why = (
                "ne se résout pas" if definite else "ne se résout pas (aucun serveur DNS ne répond)"
            )
            return Judgement.failed(
                f"le nom {params.host} {why}", f"{params.host} does not resolve", lookup
            )
        return Judgement.error(
            f"{params.host} ne se résout pas : impossible de juger", "name does not resolve", lookup
        )
    hop = report.get("next_hop") if isinstance(report.get("next_hop"), dict) else {}
    via = f" ; via {hop.get('via')} ({hop.get('dev')}, MAC {hop.get('mac') or '?'})" if hop else ""
    named = f"{lookup} ; " if lookup else ""
    if params.port is None:
        ping = report.get("ping")
        if not isinstance(ping, dict) or not isinstance(ping.get("received"), int):
            return p.not_run(r, "ping du jury")
        up = ping["received"] > 0
        sources = ",".join(sorted(set(ping.get("from") or [])))
        decisive = (
            f"{named}{ping.get('sent')} paquets envoyés, {ping['received']} reçus"
            + (f" de {sources}" if sources else "")
            + (f" ({ping['error']})" if ping.get("error") else "")
            + via
        )
    else:
        tcp = report.get("tcp")
        if not isinstance(tcp, dict) or tcp.get("state") not in (
            "open",
            "refused",
            "timeout",
            "unreachable",
        ):
            return p.not_run(r, "connexion TCP du jury")
        up = tcp["state"] == "open"
        decisive = f"{named}TCP {report['address']}:{params.port} {tcp['state']}{via}"
    if up == params.reachable:
        word = "joignable" if up else "injoignable"
        return Judgement.passed(f"{target} est {word}", f"{target} reachable={up}", decisive)
    word = "ne répond pas" if not up else "répond encore"
    return Judgement.failed(f"{target} {word}", f"{target} reachable={up}", decisive)


#: dhclient in the foreground of a throw-away folder: its own config (short timeout), lease
#: file and pid file, and ``-sf /bin/true`` so the lease is never applied to the interface.
DHCP_SCRIPT = r"""
d=$(mktemp -d) || exit 125
printf 'timeout 10;\nretry 1;\nrequest subnet-mask, broadcast-address, routers, %s;\n' \
    'domain-name, domain-name-servers' > "$d/conf"
timeout 25 dhclient -1 -v -sf /bin/true -cf "$d/conf" -lf "$d/leases" -pf "$d/pid" "$1"
rc=$?
[ -s "$d/pid" ] && kill "$(cat "$d/pid")" 2>/dev/null
echo "== lease file =="
cat "$d/leases" 2>/dev/null
rm -rf "$d"
exit $rc
"""


def _dhclient_reason(stderr: str) -> str:
    """The line saying why dhclient got no lease (not its copyright banner)."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for ln in lines:
        if re.search(r"No DHCPOFFERS|Unable|Cannot|No such|does not exist|[Ee]rror", ln):
            return ln
    return lines[-1] if lines else ""


@register_check
class DhcpLease(Probe["DhcpLease.Params"]):
    """Asked by the jury where the lab allows it: on a container node the host itself sends
    DISCOVER then REQUEST on the segment of ``interface`` from the jury's own MAC and hears
    every answer on the port it came in on (``CommandSession.dhcp_probe``), so the evidence
    says which node answered and a server started elsewhere is seen as such. Elsewhere (a VM)
    the node's dhclient runs in a throw-away folder, nothing applied to the interface, no
    DHCPRELEASE sent; its answers cannot be attributed to a node, so ``from`` is ``error``."""

    name = "probe.dhcp"
    summary = "A DHCP client on an interface's network obtains a lease with the expected options"

    class Params(PluginParams):
        model_config = ConfigDict(extra="forbid", populate_by_name=True)

        interface: str = Field(pattern=r"^[A-Za-z0-9._@-]{1,15}$")
        range: tuple[ipaddress.IPv4Address, ipaddress.IPv4Address] | None = None
        gateway: ipaddress.IPv4Address | None = None
        dns: list[ipaddress.IPv4Address] = []
        server: str | None = Field(
            default=None,
            alias="from",
            pattern=r"^[a-z][a-z0-9-]{0,30}$",
            description="the node that must answer (the intended server); any other answering "
            "server on the network fails the check",
        )

    def collect(self, session: CommandSession, params: Params) -> Evidence:
        result = session.dhcp_probe(params.interface, prefer=params.server)
        if result is not None:
            ev = Evidence()
            ev.add(result)
            ev.facts.setdefault("outputs", {})["jury"] = 0
            return ev
        return run_script(session, "dhclient", DHCP_SCRIPT, params.interface, timeout=40)

    def judge(self, ev: Evidence, params: Params) -> Judgement:
        jury = p.output(ev, "jury")
        if jury is not None:
            return judge_jury_dhcp(jury, params)
        if params.server is not None:
            return Judgement.error(
                f"sans la sonde du jury, impossible de dire si {params.server} a répondu",
                "no jury probe point: the answering server cannot be attributed",
            )
        r = script_output(ev, "dhclient", "dhclient")
        if isinstance(r, Judgement):
            return r
        if "== lease file ==" not in r.stdout:
            return p.not_run(r, "dhclient")
        lease = p.parse_dhclient_lease(r.stdout.split("== lease file ==", 1)[1])
        if lease is None or "fixed-address" not in lease:
            if "no dhcpoffers" in r.stderr.lower() or r.rc != 0:
                return Judgement.failed(
                    f"aucun bail DHCP obtenu sur {params.interface}",
                    f"no DHCP lease on {params.interface}",
                    _dhclient_reason(r.stderr) or p.quote(r),
                )
            return p.not_run(r, "dhclient")
        offer = Lease(
            lease["fixed-address"][0],
            lease.get("routers", []),
            lease.get("domain-name-servers", []),
        )
        return _judge_lease(offer, params, offer.summary())


@dataclass(frozen=True)
class Lease:
    address: str
    routers: list[str]
    dns: list[str]

    def summary(self) -> str:
        return (
            f"bail {self.address} ; routeur {','.join(self.routers) or '-'} ; "
            f"DNS {','.join(self.dns) or '-'}"
        )


def _who(reply: dict[str, Any]) -> str:
    """A DHCP answerer as the jury reads it: node (by port), MAC, server identifier."""
    return (
        f"{reply.get('node', '?')} (MAC {reply.get('mac', '?')}, "
        f"identifiant {reply.get('server_id') or reply.get('source_ip', '?')})"
    )


def judge_jury_dhcp(r: CommandResult, params: DhcpLease.Params) -> Judgement:
    """The jury's DHCP exchange: who offered, who acknowledged, what was leased."""
    try:
        replies = p.parse_json(r.stdout) if r.ok else None
    except ValueError:
        replies = None
    if not isinstance(replies, list) or not all(isinstance(x, dict) for x in replies):
        return p.not_run(r, "sonde DHCP du jury")
    net = params.interface
    offers = [x for x in replies if x.get("message") == "offer"]
    answerers = sorted({str(x.get("node")) for x in offers})
    heard = (
        " | ".join(f"{x.get('message')} de {_who(x)} : {x.get('address')}" for x in replies)
        or "aucune réponse"
    )
    if not offers:
        return Judgement.failed(
            f"aucun serveur DHCP ne répond sur le réseau de {net}",
            f"no DHCP server answers on {net}'s network",
            heard,
        )
    if params.server is not None:
        rogues = [x for x in offers if x.get("node") != params.server]
        mine = [x for x in offers if x.get("node") == params.server]
        if rogues and not mine:
            return Judgement.failed(
                f"le bail ne vient pas de {params.server} mais de "
                f"{', '.join(_who(x) for x in rogues)} : serveur DHCP non prévu",
                f"lease offered by {answerers}, not {params.server}",
                heard,
            )
        if rogues:
            return Judgement.failed(
                f"un autre serveur DHCP répond aussi sur le réseau : "
                f"{', '.join(_who(x) for x in rogues)} (les postes peuvent recevoir son bail)",
                f"rogue DHCP server(s) besides {params.server}: {answerers}",
                heard,
            )
    if params.server is None and len(answerers) > 1:
        return Judgement.failed(
            f"plusieurs serveurs DHCP répondent sur le réseau : "
            f"{', '.join(_who(x) for x in offers)}",
            f"several DHCP servers answer: {answerers}",
            heard,
        )
    server = params.server or str(offers[0].get("node"))
    done = [x for x in replies if x.get("node") == server and x.get("message") in ("ack", "nak")]
    if not done:
        return Judgement.failed(
            f"{server} propose un bail mais ne le confirme pas (pas de DHCPACK)",
            f"{server} offered but sent no ACK",
            heard,
        )
    if done[0].get("message") == "nak":
        return Judgement.failed(
            f"{server} refuse le bail qu'il propose (DHCPNAK)", f"{server} sent a NAK", heard
        )
    ack = done[0]
    lease = Lease(
        str(ack.get("address")),
        [str(a) for a in ack.get("routers") or []],
        [str(a) for a in ack.get("dns") or []],
    )
    return _judge_lease(lease, params, f"{_who(ack)} : {lease.summary()} ; entendu : {heard}")


def _judge_lease(lease: Lease, params: DhcpLease.Params, decisive: str) -> Judgement:
    address = lease.address
    if params.range is not None:
        low, high = params.range
        try:
            inside = low <= ipaddress.IPv4Address(address) <= high
        except ValueError:
            inside = False
        if not inside:
            return Judgement.failed(
                f"l'adresse {address} est hors de la plage {low}-{high}",
                f"{address} outside {low}-{high}",
                decisive,
            )
    if params.gateway is not None and str(params.gateway) not in lease.routers:
        return Judgement.failed(
            f"le bail n'annonce pas la passerelle {params.gateway}",
            f"lease lacks router {params.gateway}",
            decisive,
        )
    missing = [str(a) for a in params.dns if str(a) not in lease.dns]
    if missing:
        return Judgement.failed(
            f"le bail n'annonce pas le DNS {', '.join(missing)}",
            f"lease lacks DNS {missing}",
            decisive,
        )
    return Judgement.passed(f"bail DHCP obtenu : {address}", f"DHCP lease {address}", decisive)
