"""Edge cases on captured answers, altered: what is odd, missing or unreadable is an error
(never a pass), what is absent is a fail with a reason."""

from __future__ import annotations

import copy
import json
from typing import Any

from graders_ad.replay import CAPTURED
from graders_ad.test_captured import run
from tai_labs.facts import directory as ad
from tai_labs.grading.base import CHECKS
from tai_labs.grading.model import Evidence, Verdict
from tai_labs.sessions.base import CommandResult


def capture(name: str) -> dict[str, Any]:
    return json.loads((CAPTURED / f"{name}.json").read_text(encoding="utf-8"))


def user_entry(cap: dict[str, Any]) -> dict[str, Any]:
    return cap["calls"][0]["entries"][0]


# -- ad.* ----------------------------------------------------------------------------------------


def test_unreadable_user_account_control_is_an_error() -> None:
    cap = capture("ad_user_enabled")
    user_entry(cap)["attributes"]["useraccountcontrol"] = ["beaucoup"]
    judgement, _ = run(cap)
    assert judgement.verdict is Verdict.ERROR


def test_lockout_without_the_computed_attribute_is_an_error() -> None:
    cap = capture("ad_user_locked")
    del user_entry(cap)["attributes"]["msds-user-account-control-computed"]
    assert run(cap)[0].verdict is Verdict.ERROR


def test_two_accounts_with_one_login_is_an_error() -> None:
    cap = capture("ad_user_enabled")
    cap["calls"][0]["entries"].append(copy.deepcopy(user_entry(cap)))
    assert run(cap)[0].verdict is Verdict.ERROR


def test_expiry_without_the_dc_clock_is_an_error() -> None:
    cap = capture("ad_user_not_expired")
    cap["calls"][1]["entries"] = []  # the rootDSE answered nothing
    assert run(cap)[0].verdict is Verdict.ERROR


def test_never_expiring_password_voids_a_forced_change() -> None:
    cap = capture("ad_user_change_forced")
    user_entry(cap)["attributes"]["useraccountcontrol"] = [str(0x200 | 0x10000)]
    judgement, _ = run(cap)
    assert judgement.verdict is Verdict.FAIL
    assert "n'expire jamais" in judgement.why_fr


def test_not_member_of_a_group_that_does_not_exist_is_an_error() -> None:
    cap = capture("ad_user_fresh")
    for call in cap["calls"]:
        if "Direction" in call["search"]["filter"]:
            call["entries"] = []
    assert run(cap)[0].verdict is Verdict.ERROR


def test_member_of_a_group_that_does_not_exist_fails() -> None:
    cap = capture("ad_user_member")
    cap["calls"][1]["entries"] = []
    judgement, _ = run(cap)
    assert judgement.verdict is Verdict.FAIL and "introuvable" in judgement.why_fr


def test_judge_without_a_search_is_an_error() -> None:
    plugin = CHECKS.get("ad.user")
    params = plugin.Params(login="x", locked=False)
    assert plugin().judge(Evidence(), params).verdict is Verdict.ERROR


def test_gpo_with_a_duplicate_name_is_an_error() -> None:
    cap = capture("ad_gpo_exists")
    cap["calls"][0]["entries"].append(copy.deepcopy(cap["calls"][0]["entries"][0]))
    assert run(cap)[0].verdict is Verdict.ERROR


def test_decoders() -> None:
    assert ad.group_scope(-2147483646) == "global"
    assert ad.group_scope(-2147483640) == "universal"
    assert ad.group_scope(-2147483644) == "domainlocal"
    assert ad.in_ou("CN=A\\, B,OU=Utilisateurs,OU=Siege,DC=x,DC=lan", "SIEGE/utilisateurs")
    assert not ad.in_ou("CN=A,CN=Users,DC=x,DC=lan", "Users")
    assert not ad.in_ou("CN=A,OU=Utilisateurs,OU=Autre,DC=x,DC=lan", "Siege/Utilisateurs")
    assert ad.container_path("CN=A,CN=Users,DC=x,DC=lan") == "Users"
    assert ad.is_locked(1, 0x10) and not ad.is_locked(1, 0) and not ad.is_locked(0, 0x10)
    now = ad.parse_generalized_time("20261129044639.0Z")
    assert ad.is_expired(ad.datetime_to_filetime(now) - 1, now)
    assert not ad.is_expired(0x7FFFFFFFFFFFFFFF, now) and not ad.is_expired(0, now)
    links = ad.parse_gplink("[LDAP://cn={A},cn=policies;1][LDAP://cn={B},cn=policies;2]")
    assert [(lk.enabled, lk.enforced) for lk in links] == [(False, False), (True, True)]


# -- netdev.* ------------------------------------------------------------------------------------


def _judge(check: str, params: dict[str, Any], *results: CommandResult, **facts: Any) -> Any:
    plugin = CHECKS.get(check)
    return plugin().judge(
        Evidence(list(results), dict(facts)), plugin.Params.model_validate(params)
    )


def test_empty_running_config_is_an_error() -> None:
    empty = CommandResult(0, "", "", "show running-config")
    assert _judge("netdev.route", {"prefix": "0.0.0.0/0"}, empty).verdict is Verdict.ERROR


def test_ovs_failure_is_an_error() -> None:
    down = CommandResult(
        1,
        "",
        "ovs-vsctl: unix:/var/run/openvswitch/db.sock: database connection failed",
        "ovs-vsctl ...",
    )
    assert (
        _judge("netdev.access_port", {"port": "Gi0/1", "vlan": 10}, down).verdict is Verdict.ERROR
    )
    garbage = CommandResult(0, "pas du json", "", "ovs-vsctl ...")
    assert (
        _judge("netdev.trunk", {"port": "Gi0/1", "allowed": [10]}, garbage).verdict is Verdict.ERROR
    )


def test_router_interface_garbage_is_an_error() -> None:
    res = CommandResult(
        0, "% Unknown command: show interface eth1 json", "", "show interface eth1 json"
    )
    verdict = _judge("netdev.interface", {"interface": "eth1"}, res, source="frr").verdict
    assert verdict is Verdict.ERROR


def test_trunk_carrying_every_vlan() -> None:
    res = CommandResult(
        0,
        json.dumps(
            {
                "headings": ["name", "tag", "trunks", "vlan_mode", "external_ids"],
                "data": [["gi0-3", ["set", []], ["set", []], ["set", []], ["map", []]]],
            }
        ),
        "",
        "ovs-vsctl list port",
    )
    assert _judge("netdev.trunk", {"port": "Gi0/3", "allowed": [10]}, res).verdict is Verdict.PASS
    exact = _judge("netdev.trunk", {"port": "Gi0/3", "allowed": [10], "exact": True}, res)
    assert exact.verdict is Verdict.FAIL


def test_missing_saved_config_fails() -> None:
    cap = capture("netdev_config_saved_provisioned")
    running = CommandResult(**cap["calls"][0]["result"])
    missing = CommandResult(
        1, "", "cat: /etc/frr/frr.conf: No such file or directory", "cat /etc/frr/frr.conf"
    )
    assert _judge("netdev.config_saved", {}, running, missing).verdict is Verdict.FAIL


def test_reordered_saved_config_is_still_saved() -> None:
    cap = capture("netdev_config_saved_provisioned")
    running = CommandResult(**cap["calls"][0]["result"])
    lines = running.stdout.splitlines()
    shuffled = CommandResult(0, "\n".join(reversed(lines)).replace("exit", "!"), "", "cat")
    # Block structure matters: reversing puts interface lines under other headers.
    assert _judge("netdev.config_saved", {}, running, running).verdict is Verdict.PASS
    assert _judge("netdev.config_saved", {}, running, shuffled).verdict is Verdict.FAIL


def test_saved_config_must_hold_the_fix_itself() -> None:
    """A configuration saved at exam start (running == saved) passes only if the saved one
    holds the fix: else `config-saved` gives points for doing nothing."""
    cap = capture("netdev_config_saved_provisioned")
    running, saved = (CommandResult(**c["result"]) for c in cap["calls"])
    assert _judge("netdev.config_saved", {}, running, saved).verdict is Verdict.PASS
    held = {"lines": ["ip route 10.99.0.0/24 10.2.0.1"]}
    assert _judge("netdev.config_saved", held, running, saved).verdict is Verdict.PASS
    absent = _judge(
        "netdev.config_saved", {"lines": ["ip route 10.42.0.0/24 10.2.0.1"]}, running, saved
    )
    assert absent.verdict is Verdict.FAIL
    assert "ip route 10.42.0.0/24 10.2.0.1" in absent.decisive
