"""Parsers of name resolution (dig, getent), DHCP leases and nftables rulesets."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

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


@dataclass(frozen=True)
class PortVerdict:
    blocked: bool
    where: str  # "inet filter output: tcp dport {139,445} drop" or "aucune règle"


def _matches_port(value: Any, port: int) -> bool:
    if isinstance(value, int):
        return value == port
    if isinstance(value, dict):
        if "set" in value:
            return any(_matches_port(v, port) for v in value["set"])
        if "range" in value:
            low, high = value["range"]
            return isinstance(low, int) and isinstance(high, int) and low <= port <= high
    if isinstance(value, list):
        return any(_matches_port(v, port) for v in value)
    return False


def _describe_value(value: Any) -> str:
    if isinstance(value, dict) and "set" in value:
        return "{" + ",".join(_describe_value(v) for v in value["set"]) + "}"
    if isinstance(value, dict) and "range" in value:
        return f"{value['range'][0]}-{value['range'][1]}"
    return str(value)


def _rule_effect(expr: list[dict[str, Any]], port: int, proto: str) -> tuple[str, str | None, str]:
    """What a rule does to new ``proto`` traffic to ``port``.

    Returns (kind, verdict, text): kind "port" (the rule names the port), "any" (it has no
    match at all), or "other" (it matches on something else: not about our port).
    """
    about_port = False
    other = False
    l4: str | None = None
    text: list[str] = []
    verdict: str | None = None
    for e in expr:
        if "match" in e:
            m = e["match"]
            left = m.get("left", {})
            if isinstance(left, dict) and "meta" in left and left["meta"].get("key") == "l4proto":
                l4 = str(m.get("right"))
                text.append(f"meta l4proto {l4}")
                continue
            payload = left.get("payload") if isinstance(left, dict) else None
            if payload and payload.get("field") == "dport" and m.get("op") in ("==", "in"):
                p = payload.get("protocol")
                if (p == proto or (p == "th" and l4 in (None, proto))) and _matches_port(
                    m["right"], port
                ):
                    about_port = True
                    text.append(f"{p} dport {_describe_value(m['right'])}")
                    continue
                return "other", None, ""
            other = True
        elif "counter" in e or "log" in e or "limit" in e:
            continue
        else:
            for v in ("accept", "drop", "reject", "jump", "goto", "return"):
                if v in e:
                    verdict = v if v not in ("jump", "goto") else f"{v} {e[v].get('target')}"
                    text.append(verdict)
    if l4 is not None and l4 != proto:
        return "other", None, ""
    if about_port:
        return "port", verdict, " ".join(text)
    if not other and l4 is None:
        return "any", verdict, " ".join(text)
    return "other", verdict, " ".join(text)


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


def nft_port_verdict(ruleset: Any, port: int, proto: str, hooks: Sequence[str]) -> PortVerdict:
    """Whether new ``proto``/``port`` traffic is dropped in base chains hooked on ``hooks``.

    Deliberately simple (what a fault or a candidate writes): a drop/reject rule naming the
    port, or a drop policy reached without an accept naming the port, blocks; rules that match
    on other things (state, addresses, interfaces) neither block nor accept our port. Any base
    chain that blocks blocks the port (nft: a drop anywhere is final). IPv4 only: families
    ip and inet.
    """
    chains, rules = nft_chains(ruleset)

    def walk(key: tuple[str, str, str], depth: int) -> tuple[str | None, str]:
        if depth > 16:
            return None, ""
        for expr in rules.get(key, []):
            kind, verdict, text = _rule_effect(expr, port, proto)
            if kind == "other" or verdict is None:
                continue
            where = f"{key[0]} {key[1]} {key[2]}: {text}"
            if verdict in ("accept", "drop", "reject"):
                return verdict, where
            if verdict == "return":
                return None, ""
            action, _, target = verdict.partition(" ")
            sub, sub_where = walk((key[0], key[1], target), depth + 1)
            if sub is not None:
                return sub, sub_where
            if action == "goto":
                return None, ""
        return None, ""

    for key, chain in chains.items():
        if (
            key[0] not in ("ip", "inet")
            or chain.get("hook") not in hooks
            or chain.get("type", "filter") != "filter"
        ):
            continue
        verdict, where = walk(key, 0)
        if verdict in ("drop", "reject"):
            return PortVerdict(True, where)
        if verdict is None and chain.get("policy") == "drop":
            return PortVerdict(True, f"{key[0]} {key[1]} {key[2]}: policy drop")
    return PortVerdict(False, "")
