"""linux.firewall_policy on rulesets printed by nft 1.0.6 (Debian 12, `nft -j list ruleset`).

Each ruleset was loaded in a fresh network namespace and listed; the names say what it is.
The closed ports stand for the ones drawn per candidate.
"""

from __future__ import annotations

from graderkit import (
    captured,
    evidence,
    out,
)

from tai_labs.grading import parsers as p
from tai_labs.grading.model import Verdict

PASS, FAIL, ERROR = Verdict.PASS, Verdict.FAIL, Verdict.ERROR
PARAMS = {"allow": ["22/tcp"], "closed": ["5900/tcp", "3306/tcp", "8080/tcp"]}


def policy(judge, name: str, **params):
    return judge("linux.firewall_policy", evidence(nft=f"nft_{name}"), **{**PARAMS, **params})


def test_the_reference_policy_passes(judge) -> None:
    j = policy(judge, "policy_reference")
    assert j.verdict is PASS and j.decisive == "inet filtre entree: policy drop"


def test_other_forms_of_a_default_block_pass(judge) -> None:
    assert policy(judge, "final_drop_rule").verdict is PASS  # policy accept, final drop
    assert policy(judge, "jump_chain").verdict is PASS  # ssh allowed in a jumped-to chain
    j = policy(judge, "not_ssh_drop", closed=["5900/tcp", "514/udp"])
    assert j.verdict is PASS  # tcp dport != 22 drop, udp dropped


def test_blocking_only_the_port_the_old_check_tried_fails(judge) -> None:
    j = policy(judge, "only_5900_blocked")
    assert j.verdict is FAIL and "TCP 3306 passe" in j.why_fr
    # a ruleset that happens to name every drawn port is still not a default block
    j = policy(judge, "guessed_ports_blocked")
    assert j.verdict is FAIL and "ne règle qui le nomme" in j.why_fr.replace(
        "n'est bloqué que par u", ""
    )


def test_an_accept_for_a_whole_network_is_not_a_block(judge) -> None:
    j = policy(judge, "lan_accepts_all")
    assert j.verdict is FAIL and "ip saddr == 192.168.1.0/24 accept" in j.decisive


def test_ssh_must_stay_open_and_no_firewall_fails(judge) -> None:
    j = policy(judge, "ssh_closed")
    assert j.verdict is FAIL and "bloque aussi TCP 22" in j.why_fr
    assert policy(judge, "empty").verdict is FAIL
    # input policy drop, SSH accepted (outgoing SMB blocked too: not the question here)
    assert policy(judge, "drop_445").verdict is PASS


def test_unreadable_rulesets_are_errors(judge) -> None:
    assert (
        judge("linux.firewall_policy", evidence(nft=out(1, "", "nft: denied")), **PARAMS).verdict
        is ERROR
    )
    assert judge("linux.firewall_policy", evidence(nft=out(0, "{}")), **PARAMS).verdict is ERROR


def _inbound(ruleset, port: int, prove: p.Prove) -> p.PortVerdict:
    return p.nft_port_verdict(ruleset, port, "tcp", ("input",), prove=prove)


def test_the_walk_says_what_decided() -> None:
    ruleset = p.parse_json(captured("nft_final_drop_rule").stdout)
    o = _inbound(ruleset, 5900, "blocked")
    assert o.blocked and not o.specific and o.where.endswith("drop")
    assert not _inbound(ruleset, 22, "open").blocked
    ruleset = p.parse_json(captured("nft_guessed_ports_blocked").stdout)
    assert _inbound(ruleset, 3306, "blocked").specific
    assert not _inbound(ruleset, 3307, "blocked").blocked


def test_a_rule_for_some_machines_only_is_read_against_what_must_be_proved() -> None:
    """``ip saddr 10.0.0.0/8 tcp dport 445 drop`` blocks some machines, not all: it does not
    prove the port blocked, and it does disprove it open; an accept of that kind the reverse."""

    def ruleset(verdict: str):
        rule = [
            {
                "match": {
                    "op": "==",
                    "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                    "right": {"prefix": {"addr": "10.0.0.0", "len": 8}},
                }
            },
            {
                "match": {
                    "op": "==",
                    "left": {"payload": {"protocol": "tcp", "field": "dport"}},
                    "right": 445,
                }
            },
            {verdict: None},
        ]
        policy = "accept" if verdict == "drop" else "drop"
        return {
            "nftables": [
                {
                    "chain": {
                        "family": "inet",
                        "table": "f",
                        "name": "in",
                        "hook": "input",
                        "type": "filter",
                        "policy": policy,
                    }
                },
                {"rule": {"family": "inet", "table": "f", "chain": "in", "expr": rule}},
            ]
        }

    some_dropped = ruleset("drop")
    assert not _inbound(some_dropped, 445, "blocked").blocked
    o = _inbound(some_dropped, 445, "open")
    assert o.blocked and o.specific and "ip saddr == 10.0.0.0/8" in o.where
    some_accepted = ruleset("accept")
    assert not _inbound(some_accepted, 445, "blocked").blocked
    assert _inbound(some_accepted, 445, "open").where.endswith("policy drop")


def test_ports_are_validated(judge) -> None:
    import pytest
    from pydantic import ValidationError

    for bad in (["0/tcp", "1/tcp"], ["65536/tcp", "1/tcp"], ["22/icmp", "1/tcp"], ["22/tcp"]):
        with pytest.raises(ValidationError):
            policy(judge, "policy_reference", closed=bad)
