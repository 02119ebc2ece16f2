"""Parsers of name resolution (dig, getent), DHCP leases and nftables rulesets."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from tai_labs.grading.parsers.evidence import findall_between


@dataclass
class DigAnswer:
    status: str | None  # NOERROR, NXDOMAIN, SERVFAIL...; None if no server answered
    records: list[tuple[str, str, str]] = field(default_factory=list)  # (name, type, rdata)
    lines: list[str] = field(default_factory=list)


def parse_dig(text: str) -> DigAnswer | None:
    """``dig +noall +comments +answer``: the header status and the answer records."""
    status = _dig_status(text)
    if status is None:
        return None
    answer = DigAnswer(status)
    for line in text.splitlines():
        if not line.strip() or line.startswith(";"):
            continue
        parts = line.split(None, 4)
        if len(parts) == 5 and parts[2] == "IN":
            answer.records.append((parts[0].rstrip(".").lower(), parts[3], parts[4].strip()))
            answer.lines.append(line.strip())
    return answer


def _dig_status(text: str) -> str | None:
    """``re.search(r"->>HEADER<<-.*status: ([A-Z]+)", text)``'s group, in linear time: on
    each line the first header is the leftmost start, and ``.*`` is matched once from it."""
    for line in text.split("\n"):
        start = line.find("->>HEADER<<-")
        if start >= 0:
            m = _STATUS.match(line, start + len("->>HEADER<<-"))
            if m:
                return m.group(1)
    return None


_STATUS = re.compile(r".*status: ([A-Z]+)")


def parse_getent_ahosts(text: str) -> list[str]:
    addresses: list[str] = []
    for line in text.splitlines():
        words = line.split()
        if words and words[0] not in addresses:
            addresses.append(words[0])
    return addresses


def dns_name(text: str) -> str:
    return text.strip().rstrip(".").lower()


# --------------------------------------------------------------------------------------------
# DHCP

_LEASE, _BRACE = re.compile(r"lease\s*\{"), re.compile(r"\}")


def parse_dhclient_lease(text: str) -> dict[str, list[str]] | None:
    """The last ``lease { ... }`` block of a dhclient lease file: option name → values."""
    blocks = findall_between(text, _LEASE, _BRACE, dotall=True)
    if not blocks:
        return None
    lease: dict[str, list[str]] = {}
    for stmt in blocks[-1].split(";"):
        words = stmt.strip().split(None, 2)
        if not words:
            continue
        if words[0] == "option" and len(words) == 3:
            lease[words[1]] = [v.strip().strip('"') for v in words[2].split(",")]
        elif len(words) >= 2:
            lease[words[0]] = [" ".join(words[1:]).strip('"')]
    return lease


# --------------------------------------------------------------------------------------------
# nftables


#: What a caller must prove about a port: rules whose match cannot be decided for "a new
#: connection from another machine" are read against it (see ``nft_port_verdict``).
Prove = Literal["blocked", "open"]
_Match = Literal["yes", "no", "unknown"]


@dataclass(frozen=True)
class PortVerdict:
    blocked: bool
    #: The rule or policy that decided: "inet filter input: tcp dport == {139,445} drop".
    where: str
    #: Decided by a rule that names this port (not by a default).
    specific: bool = False


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


def _match(m: dict[str, Any], port: int, proto: str) -> tuple[_Match, bool]:
    """Whether one match expression holds for a new ``proto``/``port`` packet from another
    machine; and whether it names the port."""
    left, right, op = m.get("left"), m.get("right"), m.get("op", "==")
    positive = op in ("==", "in")
    if op not in ("==", "in", "!=") or not isinstance(left, dict):
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
        if payload.get("protocol") not in ("th", proto):
            return "no", False  # ``tcp dport`` (even with !=) holds for TCP only
        named = _port_in(right, port)
        # a rule names the port when it matches it by ==/in (``!= 22`` names every other)
        return ("yes" if named == positive else "no"), named and positive
    else:
        return "unknown", False
    return ("yes" if holds == positive else "no"), False


def _rule(expr: list[dict[str, Any]], port: int, proto: str) -> tuple[_Match, bool, str | None]:
    """(does the rule match, does it name the port, its verdict)."""
    matched: _Match = "yes"
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


def _text(expr: list[dict[str, Any]]) -> str:
    """A short reading of a rule for the jury, close to nft's own syntax."""
    words: list[str] = []
    for e in expr:
        if "match" in e:
            m = e["match"]
            words.append(f"{_left(m.get('left'))} {m.get('op', '==')} {_short(m.get('right'))}")
        else:
            for k in ("accept", "drop", "reject", "jump", "goto", "return"):
                if k in e:
                    target = e[k].get("target") if isinstance(e[k], dict) else None
                    words.append(k if target is None else f"{k} {target}")
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


ChainKey = tuple[str, str, str]  # family, table, chain


def nft_chains(
    ruleset: Any,
) -> tuple[dict[ChainKey, dict[str, Any]], dict[ChainKey, list[list[dict[str, Any]]]]]:
    """An ``nft -j list ruleset`` document as its chains and each chain's rule expressions,
    keyed by (family, table, chain); raises ValueError on anything else."""
    items = ruleset.get("nftables") if isinstance(ruleset, dict) else None
    if not isinstance(items, list):
        raise ValueError("not an nft -j ruleset")
    chains: dict[ChainKey, dict[str, Any]] = {}
    rules: dict[ChainKey, list[list[dict[str, Any]]]] = {}
    for item in items:
        if "chain" in item:
            c = item["chain"]
            chains[(c["family"], c["table"], c["name"])] = c
        elif "rule" in item:
            r = item["rule"]
            rules.setdefault((r["family"], r["table"], r["chain"]), []).append(r.get("expr", []))
    return chains, rules


def nft_port_verdict(
    ruleset: Any, port: int, proto: str, hooks: Sequence[str], *, prove: Prove
) -> PortVerdict:
    """What the ip/inet filter base chains on ``hooks`` do to a new ``proto``/``port``
    connection from another machine (IPv4: families ip and inet; a drop in any base chain is
    final, as in nft).

    The walk models what decides that packet (ct state, l4proto, dport, input interface lo);
    a rule matching on anything else (a source address, an interface, a mark) holds for some
    machines only, so it is read against what the caller must ``prove``: proving a port
    blocked, such an accept counts (some machine gets in) and such a drop does not; proving it
    open, the reverse.
    """
    chains, rules = nft_chains(ruleset)
    doubtful = "accept" if prove == "blocked" else "drop"

    def walk(key: ChainKey, depth: int) -> tuple[str | None, str, bool]:
        if depth > 16:
            return None, "", False
        for expr in rules.get(key, []):
            matched, named, verdict = _rule(expr, port, proto)
            if matched == "no" or verdict is None:
                continue
            where = f"{' '.join(key)}: {_text(expr)}"
            if verdict in ("accept", "drop", "reject"):
                if matched == "yes" or (verdict == "accept") == (doubtful == "accept"):
                    return verdict, where, named
                continue
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
    hooked: list[str] = []
    for key, chain in chains.items():
        if key[0] not in ("ip", "inet") or chain.get("hook") not in hooks:
            continue
        if chain.get("type", "filter") != "filter":
            continue
        hooked.append(f"{' '.join(key)}: policy {chain.get('policy', 'accept')}")
        verdict, where, named = walk(key, 0)
        if verdict in ("drop", "reject"):
            return PortVerdict(True, where, named)
        if verdict is None and chain.get("policy") == "drop":
            return PortVerdict(True, f"{' '.join(key)}: policy drop")
        if verdict == "accept":
            accepted.append(where)
    reason = accepted or hooked or [f"aucune chaîne sur le hook {'/'.join(hooks)}"]
    return PortVerdict(False, " ; ".join(reason))
