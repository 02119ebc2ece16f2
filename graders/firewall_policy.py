"""The inbound firewall policy of a Linux node, judged on the ruleset itself.

"Everything inbound is blocked except SSH" is not proved by one blocked port: a ruleset that
accepts everything but that port passes such a check. So this check reads the whole ruleset
(``nft -j list ruleset``, which the host answers with its own nft in the node's network
namespace: ``sessions.hostside``) and walks the input base chains for a new connection from
another machine to each port of ``closed`` (chosen per candidate, never named in the brief)
and of ``allow``. A closed port must be blocked by the default (a drop policy, or a final rule
that does not name that port), not by a rule written for it.

The walk is conservative where it cannot know the packet: a rule matching on something it
does not model (a source address, an input interface other than ``lo``) is taken to match
when it accepts (some machine gets in) and not to match when it drops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from tai_labs.grading import parsers as p
from tai_labs.grading.base import register_check
from tai_labs.grading.linux import LinuxCheck
from tai_labs.grading.model import Evidence, Judgement
from tai_labs.plugins import PluginParams
from tai_labs.sessions.base import CommandSession

#: ``22/tcp``: a port number (1-65535) and its protocol.
PortSpec = Annotated[
    str,
    StringConstraints(
        pattern=r"^([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]"
        r"|6553[0-5])/(tcp|udp)$"
    ),
]
Match = Literal["yes", "no", "unknown"]


@dataclass(frozen=True)
class Outcome:
    """What the input hook does to a new inbound connection to one port."""

    blocked: bool
    #: The rule or policy that decided: "inet filtre entree: policy drop".
    where: str
    #: Decided by a rule that names this port (not by the default).
    specific: bool


def _states(value: Any) -> set[str]:
    if isinstance(value, dict) and "set" in value:
        return {str(v) for v in value["set"]}
    if isinstance(value, list):
        return {str(v) for v in value}
    return {str(value)}


def _port_in(value: Any, port: int) -> bool:
    if isinstance(value, int):
        return value == port
    if isinstance(value, dict) and "set" in value:
        return any(_port_in(v, port) for v in value["set"])
    if isinstance(value, dict) and "range" in value:
        low, high = value["range"]
        return isinstance(low, int) and isinstance(high, int) and low <= port <= high
    if isinstance(value, list):
        return any(_port_in(v, port) for v in value)
    return False


def _match(m: dict[str, Any], port: int, proto: str) -> tuple[Match, bool]:
    """Whether one match expression holds for a new ``proto``/``port`` packet from another
    machine; and whether it is about the port."""
    left, right, op = m.get("left"), m.get("right"), m.get("op", "==")
    positive = op in ("==", "in")
    if op not in ("==", "in", "!="):
        return "unknown", False
    if not isinstance(left, dict):
        return "unknown", False
    meta = left.get("meta", {}).get("key") if isinstance(left.get("meta"), dict) else None
    payload = left.get("payload") if isinstance(left.get("payload"), dict) else None
    ct = left.get("ct", {}).get("key") if isinstance(left.get("ct"), dict) else None
    if ct == "state":
        holds = "new" in _states(right)
    elif meta == "l4proto" or (payload and payload.get("field") == "protocol"):
        holds = proto in _states(right)
    elif meta in ("iif", "iifname") and _states(right) == {"lo"}:
        holds = False  # the packet comes from another machine, not from lo
    elif payload and payload.get("field") == "dport":
        layer = payload.get("protocol")
        if layer not in ("th", proto):
            return "no", False  # ``tcp dport`` (even with !=) holds for TCP only
        named = _port_in(right, port)
        # a rule names the port when it matches it by ==/in (``!= 22`` names every other)
        return ("yes" if named == positive else "no"), named and positive
    else:
        return "unknown", False
    return ("yes" if holds == positive else "no"), False


def _rule(expr: list[dict[str, Any]], port: int, proto: str) -> tuple[Match, bool, str | None]:
    """(does the rule match, does it name the port, its verdict)."""
    matched: Match = "yes"
    about_port = False
    verdict: str | None = None
    for e in expr:
        if "match" in e:
            m, named = _match(e["match"], port, proto)
            about_port = about_port or named
            if m == "no":
                return "no", about_port, None
            if m == "unknown":
                matched = "unknown"
        elif any(k in e for k in ("counter", "log", "limit", "comment")):
            continue
        else:
            for v in ("accept", "drop", "reject", "jump", "goto", "return"):
                if v in e:
                    target = e[v].get("target") if isinstance(e[v], dict) else None
                    verdict = v if target is None else f"{v} {target}"
            if verdict is None:
                matched = "unknown"  # vmap, nat, set updates...: not modelled
    return matched, about_port, verdict


def inbound_outcome(ruleset: Any, port: int, proto: str) -> Outcome:
    """What the ip/inet filter chains on the input hook do to a new inbound connection."""
    chains, rules = p.nft_chains(ruleset)

    def walk(key: tuple[str, str, str], depth: int) -> tuple[str | None, str, bool]:
        if depth > 16:
            return None, "", False
        for expr in rules.get(key, []):
            matched, named, verdict = _rule(expr, port, proto)
            if matched == "no" or verdict is None:
                continue
            where = f"{' '.join(key)}: {_text(expr)}"
            if verdict in ("drop", "reject"):
                if matched == "yes":
                    return verdict, where, named
                continue  # may not hold for every machine: not proof of a block
            if verdict == "accept":
                return "accept", where, named
            if verdict == "return":
                if matched == "yes":
                    return None, "", False
                continue
            action, _, target = verdict.partition(" ")
            sub = walk((key[0], key[1], target), depth + 1)
            if sub[0] is not None:
                return sub
            if action == "goto" and matched == "yes":
                return None, "", False
        return None, "", False

    accepted: list[str] = []
    for key, chain in chains.items():
        if key[0] not in ("ip", "inet") or chain.get("hook") != "input":
            continue
        if chain.get("type", "filter") != "filter":
            continue
        verdict, where, named = walk(key, 0)
        if verdict in ("drop", "reject"):
            return Outcome(True, where, named)
        if verdict is None and chain.get("policy") == "drop":
            return Outcome(True, f"{' '.join(key)}: policy drop", False)
        if verdict == "accept":
            accepted.append(where)
    return Outcome(False, " ; ".join(accepted) or _open_reason(chains), False)


def _open_reason(chains: dict[tuple[str, str, str], dict[str, Any]]) -> str:
    hooked = [
        f"{' '.join(k)}: policy {c.get('policy', 'accept')}"
        for k, c in chains.items()
        if c.get("hook") == "input" and k[0] in ("ip", "inet")
    ]
    return " ; ".join(hooked) or "aucune chaîne sur le hook input"


def _text(expr: list[dict[str, Any]]) -> str:
    """A short reading of a rule for the jury, close to nft's own syntax."""
    words: list[str] = []
    for e in expr:
        if "match" in e:
            m = e["match"]
            words.append(f"{_left(m.get('left'))} {m.get('op', '==')} {_short(m.get('right'))}")
        else:
            words.extend(k for k in e if k in ("accept", "drop", "reject", "jump", "goto"))
    return " ".join(words)


def _left(left: Any) -> str:
    if isinstance(left, dict):
        if isinstance(left.get("payload"), dict):
            return f"{left['payload'].get('protocol')} {left['payload'].get('field')}"
        for kind in ("meta", "ct"):
            if isinstance(left.get(kind), dict):
                return f"{kind} {left[kind].get('key')}"
    return "?"


def _short(value: Any) -> str:
    if isinstance(value, dict) and "set" in value:
        return "{" + ",".join(_short(v) for v in value["set"]) + "}"
    if isinstance(value, dict) and "range" in value:
        return f"{value['range'][0]}-{value['range'][1]}"
    if isinstance(value, dict) and isinstance(value.get("prefix"), dict):
        return f"{value['prefix'].get('addr')}/{value['prefix'].get('len')}"
    if isinstance(value, list):
        return "{" + ",".join(_short(v) for v in value) + "}"
    return str(value)


def _port(spec: str) -> tuple[int, str]:
    number, proto = spec.split("/")
    return int(number), proto


def _label(spec: str) -> str:
    """``22/tcp`` as the jury reads it: TCP 22."""
    number, proto = spec.split("/")
    return f"{proto.upper()} {number}"


@register_check
class FirewallPolicy(LinuxCheck["FirewallPolicy.Params"]):
    name = "linux.firewall_policy"
    summary = "Inbound traffic is blocked by default, except the ports allowed"

    class Params(PluginParams):
        allow: list[PortSpec] = Field(default=[], description="ports that must stay open")
        closed: list[PortSpec] = Field(
            min_length=2,
            description="ports that must be blocked, chosen per candidate (variables)",
        )

    def collect(self, session: CommandSession, params: Params) -> Evidence:
        ev = Evidence()
        p.run(ev, session, "nft", ["nft", "-j", "list", "ruleset"])
        return ev

    def judge(self, ev: Evidence, params: Params) -> Judgement:
        r = p.output(ev, "nft")
        if r is None or not r.ok:
            return p.not_run(r, "nft list ruleset")
        try:
            ruleset = p.parse_json(r.stdout)
            closed = {s: inbound_outcome(ruleset, *_port(s)) for s in params.closed}
            allow = {s: inbound_outcome(ruleset, *_port(s)) for s in params.allow}
        except (ValueError, KeyError, TypeError, AttributeError):
            return p.not_run(r, "nft list ruleset")
        for spec, o in closed.items():
            if not o.blocked:
                return Judgement.failed(
                    f"l'entrant n'est pas bloqué par défaut : {_label(spec)} passe",
                    f"inbound {spec} is let through",
                    o.where,
                )
        for spec, o in closed.items():
            label = _label(spec)
            if o.specific:
                return Judgement.failed(
                    f"{label} n'est bloqué que par une règle qui le nomme : "
                    "l'entrant n'est pas bloqué par défaut",
                    f"{spec} blocked by a rule naming it, no default block",
                    o.where,
                )
        for spec, o in allow.items():
            if o.blocked:
                return Judgement.failed(
                    f"le pare-feu bloque aussi {_label(spec)}",
                    f"{spec} is blocked",
                    o.where,
                )
        default = next(iter(closed.values())).where
        opened = ", ".join(_label(s) for s in params.allow)
        return Judgement.passed(
            "l'entrant est bloqué par défaut"
            + (f" ; {opened} reste ouvert" if opened else "")
            + f" ({len(closed)} ports témoins bloqués)",
            f"inbound blocked by default; open: {params.allow}",
            default,
        )
