"""The inbound firewall policy of a Linux node, judged on the ruleset itself.

"Everything inbound is blocked except SSH" is not proved by one blocked port: a ruleset that
accepts everything but that port passes such a check. So this check reads the whole ruleset
(``nft -j list ruleset``, which the host answers with its own nft in the node's network
namespace: ``sessions.hostside``) and walks the input base chains for a new connection from
another machine to each port of ``closed`` (chosen per candidate, never named in the brief)
and of ``allow``. A closed port must be blocked by the default (a drop policy, or a final rule
that does not name that port), not by a rule written for it.

The walk (``parsers.nft_port_verdict``, shared with ``linux.firewall``) is conservative
where it cannot know the packet: for a closed port, a rule matching on something it does not
model (a source address, an input interface other than ``lo``) counts when it accepts (some
machine gets in) and not when it drops; for an allowed port, the reverse.
"""

from __future__ import annotations

from typing import Annotated, Any

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


def _inbound(ruleset: Any, spec: str, prove: p.Prove) -> p.PortVerdict:
    number, proto = spec.split("/")
    return p.nft_port_verdict(ruleset, int(number), proto, ("input",), prove=prove)


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
            closed = {s: _inbound(ruleset, s, "blocked") for s in params.closed}
            allow = {s: _inbound(ruleset, s, "open") for s in params.allow}
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
