"""Checks on a Linux node's network settings: firewall, resolver, routes, addresses, name.

How they collect and judge: ``graders/__init__.py``.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field

from tai_labs.grading import parsers as p
from tai_labs.grading.base import register_check
from tai_labs.grading.linux import LinuxCheck
from tai_labs.grading.model import Evidence, Judgement
from tai_labs.plugins import PluginParams
from tai_labs.sessions.base import CommandSession


@register_check
class Firewall(LinuxCheck["Firewall.Params"]):
    name = "linux.firewall"
    summary = "The nftables ruleset lets a port through (or blocks it)"

    class Params(PluginParams):
        port: int = Field(ge=1, le=65535)
        protocol: Literal["tcp", "udp"] = "tcp"
        allowed: bool = True
        direction: Literal["in", "out", "any"] = Field(
            default="any",
            description="traffic to the port: arriving (in), leaving (out) or both",
        )

    def collect(self, session: CommandSession, params: Params) -> Evidence:
        ev = Evidence()
        p.run(ev, session, "nft", ["nft", "-j", "list", "ruleset"])
        return ev

    def judge(self, ev: Evidence, params: Params) -> Judgement:
        r = p.output(ev, "nft")
        if r is None or not r.ok:
            return p.not_run(r, "nft list ruleset")
        hooks = {"in": ["input"], "out": ["output"], "any": ["input", "output"]}[params.direction]
        try:
            v = p.nft_port_verdict(
                p.parse_json(r.stdout),
                params.port,
                params.protocol,
                hooks,
                prove="open" if params.allowed else "blocked",
            )
        except (ValueError, KeyError, TypeError):
            return p.not_run(r, "nft list ruleset")
        port = f"{params.protocol.upper()} {params.port}"
        if v.blocked:
            if params.allowed:
                return Judgement.failed(
                    f"le pare-feu bloque {port}", f"the firewall blocks {port}", v.where
                )
            return Judgement.passed(
                f"le pare-feu bloque {port}", f"the firewall blocks {port}", v.where
            )
        if params.allowed:
            return Judgement.passed(
                f"aucune règle nftables ne bloque {port}",
                f"no nft rule blocks {port}",
                "aucune règle de blocage",
            )
        return Judgement.failed(
            f"le pare-feu laisse passer {port}",
            f"the firewall lets {port} through",
            "aucune règle de blocage",
        )


@register_check
class Resolver(LinuxCheck["Resolver.Params"]):
    name = "linux.resolver"
    summary = "The DNS resolvers (and search domains) the node uses"

    class Params(PluginParams):
        nameservers: list[ipaddress.IPv4Address] = Field(min_length=1)
        search: list[str] = []

    def collect(self, session: CommandSession, params: Params) -> Evidence:
        ev = Evidence()
        p.run(ev, session, "resolv", ["cat", "--", "/etc/resolv.conf"])
        return ev

    def judge(self, ev: Evidence, params: Params) -> Judgement:
        r = p.output(ev, "resolv")
        if r is None:
            return p.not_run(r, "lecture de /etc/resolv.conf")
        if p.says_no_such_file(r):
            return Judgement.failed(
                "/etc/resolv.conf n'existe pas", "/etc/resolv.conf is missing", p.quote(r)
            )
        if not r.ok:
            return p.not_run(r, "lecture de /etc/resolv.conf")
        conf = p.parse_resolv_conf(r.stdout)
        decisive = " | ".join(conf.lines) or "aucune ligne nameserver"
        want = [str(a) for a in params.nameservers]
        if conf.nameservers == ["127.0.0.53"]:
            return Judgement.error(
                "le poste passe par systemd-resolved : résolveurs réels non lus",
                "resolv.conf points at systemd-resolved; real servers not read",
                decisive,
            )
        if conf.nameservers != want:
            return Judgement.failed(
                f"les serveurs DNS sont {', '.join(conf.nameservers) or 'absents'} "
                f"au lieu de {', '.join(want)}",
                f"nameservers are {conf.nameservers}, expected {want}",
                decisive,
            )
        missing = [d for d in params.search if d.rstrip(".").lower() not in conf.search]
        if missing:
            return Judgement.failed(
                f"domaine de recherche manquant : {', '.join(missing)}",
                f"search domains lack {missing}",
                decisive,
            )
        return Judgement.passed(
            f"le poste interroge {', '.join(want)}", f"nameservers are {want}", decisive
        )


@register_check
class Route(LinuxCheck["Route.Params"]):
    name = "linux.route"
    summary = "A route (or the default route) goes through the given gateway"

    class Params(PluginParams):
        destination: Literal["default"] | ipaddress.IPv4Network = "default"
        via: ipaddress.IPv4Address

    def collect(self, session: CommandSession, params: Params) -> Evidence:
        ev = Evidence()
        p.run(ev, session, "routes", ["ip", "-j", "-4", "route", "show", "table", "main"])
        return ev

    def judge(self, ev: Evidence, params: Params) -> Judgement:
        r = p.output(ev, "routes")
        try:
            routes = p.parse_json(r.stdout) if r is not None and r.ok else None
        except ValueError:
            routes = None
        if not isinstance(routes, list):
            return p.not_run(r, "ip route")
        dest = "default" if params.destination == "default" else str(params.destination)

        def same(dst: str) -> bool:
            if dest == "default":
                return dst in ("default", "0.0.0.0/0")
            try:
                return ipaddress.ip_network(dst) == params.destination
            except ValueError:
                return False

        mine = sorted(
            (x for x in routes if same(str(x.get("dst", "")))), key=lambda x: x.get("metric", 0)
        )
        label = "route par défaut" if dest == "default" else f"route vers {dest}"
        if not mine:
            return Judgement.failed(f"aucune {label}", f"no route to {dest}", "ip route: absente")
        best = mine[0]
        decisive = f"{best.get('dst')} via {best.get('gateway', '-')} dev {best.get('dev', '?')}"
        if best.get("gateway") != str(params.via):
            return Judgement.failed(
                f"la {label} passe par {best.get('gateway', 'aucune passerelle')} "
                f"et non {params.via}",
                f"{dest} goes via {best.get('gateway')}",
                decisive,
            )
        if "linkdown" in best.get("flags", []):
            return Judgement.failed(
                f"la {label} est sur une interface sans lien", f"{dest} route is linkdown", decisive
            )
        return Judgement.passed(
            f"la {label} passe par {params.via}", f"{dest} via {params.via}", decisive
        )


@register_check
class Address(LinuxCheck["Address.Params"]):
    name = "linux.address"
    summary = "An interface is up with the given address"

    class Params(PluginParams):
        interface: str = Field(pattern=r"^[A-Za-z0-9._@-]{1,15}$")
        address: ipaddress.IPv4Interface
        up: bool = True

    def collect(self, session: CommandSession, params: Params) -> Evidence:
        ev = Evidence()
        p.run(ev, session, "addr", ["ip", "-j", "addr", "show", "dev", params.interface])
        return ev

    def judge(self, ev: Evidence, params: Params) -> Judgement:
        r = p.output(ev, "addr")
        dev = params.interface
        if r is not None and r.rc == 1 and "does not exist" in r.stderr:
            return Judgement.failed(
                f"l'interface {dev} n'existe pas", f"{dev} does not exist", p.quote(r)
            )
        try:
            links = p.parse_json(r.stdout) if r is not None and r.ok else None
            link = links[0] if isinstance(links, list) and links else None
        except ValueError:
            link = None
        if not isinstance(link, dict):
            return p.not_run(r, "ip addr")
        flags = link.get("flags", [])
        inet = [
            f"{a.get('local')}/{a.get('prefixlen')}"
            for a in link.get("addr_info", [])
            if a.get("family") == "inet"
        ]
        decisive = f"{dev} {','.join(flags)} inet {' '.join(inet) or 'aucune'}"
        is_up = "UP" in flags and "LOWER_UP" in flags
        if params.up and not is_up:
            return Judgement.failed(
                f"l'interface {dev} est désactivée ou sans lien", f"{dev} is down", decisive
            )
        if not params.up and "UP" in flags:
            return Judgement.failed(f"l'interface {dev} est active", f"{dev} is up", decisive)
        want = str(params.address)
        if want not in inet:
            return Judgement.failed(
                f"{dev} n'a pas l'adresse {want} ({', '.join(inet) or 'aucune adresse'})",
                f"{dev} lacks {want}",
                decisive,
            )
        return Judgement.passed(f"{dev} a l'adresse {want}", f"{dev} has {want}", decisive)


@register_check
class Hostname(LinuxCheck["Hostname.Params"]):
    name = "linux.hostname"
    summary = "The node's static host name"

    class Params(PluginParams):
        hostname: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")

    def collect(self, session: CommandSession, params: Params) -> Evidence:
        ev = Evidence()
        p.run(ev, session, "static", ["cat", "--", "/etc/hostname"])
        p.run(ev, session, "running", ["uname", "-n"])
        return ev

    def judge(self, ev: Evidence, params: Params) -> Judgement:
        want = params.hostname.lower()
        s, k = p.output(ev, "static"), p.output(ev, "running")
        if k is None or not k.ok or not k.stdout.strip():
            return p.not_run(k, "uname -n")
        if s is None or not (s.ok or p.says_no_such_file(s)):
            return p.not_run(s, "lecture de /etc/hostname")
        static = p.first_line(s.stdout) if s.ok else ""
        running = k.stdout.strip()
        decisive = f"/etc/hostname={static or '(absent)'} ; uname -n={running}"
        if static.split(".")[0].lower() != want:
            return Judgement.failed(
                f"le nom enregistré est « {static} » et non {params.hostname}",
                f"static host name is {static!r}",
                decisive,
            )
        if running.split(".")[0].lower() != want:
            return Judgement.failed(
                f"le nom est enregistré mais pas appliqué (nom courant : {running})",
                f"running host name is {running!r}",
                decisive,
            )
        return Judgement.passed(
            f"le nœud s'appelle {params.hostname}", f"host name is {params.hostname}", decisive
        )
