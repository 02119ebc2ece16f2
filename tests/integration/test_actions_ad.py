"""ad.gpo_link and ad.dns_record on a real Samba AD DC: each makes its check pass where it failed;
samba-tool takes passwords on stdin (the form of the shipped solution steps).

The lab is test_graders_ad's ``compte-verrouille`` one (its ``lab`` and ``directory``
fixtures, imported: one more lab for this module, brought up and always removed, or the
lab named by ``TAI_LABS_AD_LAB``). Checks run as in ``tai-labs grade``: ``ad.gpo`` over LDAPS
to dc1, ``probe.dns`` on pc1's command session (what the workstation resolves). Names carry
a per-run suffix, so re-runs on a kept lab start from "absent" too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from test_graders_ad import directory, lab  # noqa: F401 (fixtures: the DC lab, LDAPS to it)

from tai_labs.actions.base import run_step
from tai_labs.context import NodeContext
from tai_labs.errors import TaiLabsError
from tai_labs.grading.base import CHECKS
from tai_labs.grading.model import Judgement, Verdict
from tai_labs.scenario.model import Step

pytestmark = pytest.mark.integration
PASS, FAIL = Verdict.PASS, Verdict.FAIL
SAM = "/var/lib/samba/private/sam.ldb"
RUN = str(int(time.time()) % 100000)


@pytest.fixture(scope="module")
def dc1(lab: Any) -> NodeContext:  # noqa: F811
    return lab.context("dc1")


@pytest.fixture(scope="module")
def pc1_session(lab: Any) -> Iterator[Any]:  # noqa: F811
    from tai_labs.lab.sessions import SessionPool

    with SessionPool(lab) as pool:
        yield pool.get("pc1", "command")


def check(session: Any, grader: str, params: dict[str, Any], expect: Verdict) -> Judgement:
    """Collect and judge on the live lab; assert the verdict."""
    plugin = CHECKS.get(grader)
    p = plugin.Params.model_validate(params)
    evidence = plugin().collect(session, p)
    judgement = plugin().judge(evidence, p)
    print(f"\n[{grader} {params}] {judgement.verdict}: {judgement.why_fr} | {judgement.decisive}")
    assert judgement.verdict is expect, (judgement, evidence.commands)
    return judgement


def step(ctx: NodeContext, action: str, **params: Any) -> float:
    started = time.monotonic()
    run_step(ctx, Step(action=action, params=params))
    took = time.monotonic() - started
    print(f"\n{action} {params}: {took:.2f} s")
    return took


def gplink(dc1: NodeContext, dn: str) -> str:
    return dc1.run(["ldbsearch", "-H", SAM, "-b", dn, "-s", "base", "gPLink"]).stdout


def dns_state(dc1: NodeContext, zone: str, name: str) -> str:
    res = dc1.run(["samba-tool", "dns", "query", "127.0.0.1", zone, name, "ALL", "-P"], check=False)
    return res.stdout + res.stderr


def test_gpo_link_action_makes_the_gpo_check_pass(dc1: NodeContext, directory: Any) -> None:  # noqa: F811
    name = f"Fond d'écran Siège {RUN}"
    ou = f"OU=Utilisateurs,OU=Siege,{directory.base_dn}"
    linked = {"gpo": name, "linked_to": "Siege/Utilisateurs"}
    check(directory, "ad.gpo", linked, FAIL)  # no such GPO yet

    step(dc1, "ad.gpo_link", gpo=name, ou="Siege/Utilisateurs")  # creates it, then links it
    check(directory, "ad.gpo", linked, PASS)
    before = gplink(dc1, ou)
    step(dc1, "ad.gpo_link", gpo=name, ou="Siege/Utilisateurs")
    assert gplink(dc1, ou) == before, "a second run changed the OU's gPLink"
    found = directory.search(
        f"CN=Policies,CN=System,{directory.base_dn}",
        "(objectClass=groupPolicyContainer)",
        ["displayName"],
    )
    assert [e.first("displayName") for e in found].count(name) == 1, "the GPO was made twice"

    step(dc1, "ad.gpo_link", gpo=name, ou="Siege/Utilisateurs", enabled=False)
    check(directory, "ad.gpo", linked, FAIL)
    check(directory, "ad.gpo", {**linked, "link_enabled": False}, PASS)
    step(dc1, "ad.gpo_link", gpo=name, ou="Siege/Utilisateurs", enabled=True)
    check(directory, "ad.gpo", linked, PASS)

    # A GPO that exists, linked elsewhere, gets linked here too, beside the first one.
    name2 = f"Lecteurs réseau {RUN}"
    step(dc1, "ad.gpo_link", gpo=name2, ou="Siege")
    other = {"gpo": name2, "linked_to": "Siege/Utilisateurs"}
    check(directory, "ad.gpo", other, FAIL)
    step(dc1, "ad.gpo_link", gpo=name2, ou="Siege/Utilisateurs")
    check(directory, "ad.gpo", other, PASS)
    check(directory, "ad.gpo", {"gpo": name2, "linked_to": "Siege"}, PASS)
    check(directory, "ad.gpo", linked, PASS)


def test_gpo_link_to_a_missing_ou_creates_nothing(dc1: NodeContext, directory: Any) -> None:  # noqa: F811
    name = f"GPO orpheline {RUN}"
    with pytest.raises(TaiLabsError, match="no OU 'Siege/Absente'"):
        step(dc1, "ad.gpo_link", gpo=name, ou="Siege/Absente")
    check(directory, "ad.gpo", {"gpo": name}, FAIL)


def test_dns_record_action_makes_the_dns_check_pass(dc1: NodeContext, pc1_session: Any) -> None:
    realm = dc1.scenario.directory.realm  # type: ignore[union-attr]
    host = f"srv-print{RUN}"
    fqdn = f"{host}.{realm}"
    resolves = {"query": fqdn, "expect": ["192.168.10.30"]}
    check(pc1_session, "probe.dns", resolves, FAIL)

    step(dc1, "ad.dns_record", record=host, value="192.168.10.30")
    check(pc1_session, "probe.dns", resolves, PASS)
    before = dns_state(dc1, realm, host)
    step(dc1, "ad.dns_record", record=host, value="192.168.10.30")
    assert dns_state(dc1, realm, host) == before, "a second run changed the records"

    # A wrong address beside the right one (as a fault or a candidate leaves it) is replaced.
    dc1.run(["samba-tool", "dns", "add", "127.0.0.1", realm, host, "A", "192.168.10.99", "-P"])
    check(pc1_session, "probe.dns", resolves, FAIL)
    step(dc1, "ad.dns_record", record=fqdn, value="192.168.10.30")
    check(pc1_session, "probe.dns", resolves, PASS)

    alias = {"query": f"imprimante{RUN}.{realm}", "type": "CNAME", "expect": [fqdn]}
    check(pc1_session, "probe.dns", alias, FAIL)
    step(dc1, "ad.dns_record", record=f"imprimante{RUN}", type="CNAME", value=host)
    check(pc1_session, "probe.dns", alias, PASS)

    # No reverse zone in a fresh lab: the action creates the /24 one.
    reverse = {"query": "192.168.10.30", "type": "PTR", "expect": [fqdn]}
    check(pc1_session, "probe.dns", reverse, FAIL)
    step(dc1, "ad.dns_record", record="192.168.10.30", type="PTR", value=host)
    check(pc1_session, "probe.dns", reverse, PASS)

    step(dc1, "ad.dns_record", record=host, value="192.168.10.30", state="absent")
    check(pc1_session, "probe.dns", {"query": fqdn, "resolves": False}, PASS)
    check(pc1_session, "probe.dns", resolves, FAIL)
    step(dc1, "ad.dns_record", record=host, value="192.168.10.30", state="absent")


#: smbclient's password from stdin into PASSWD, as the smb.access check does: no argv holds it.
_SMB_LOGIN = r"""
IFS= read -r PASSWD || exit 125
export PASSWD
smbclient //127.0.0.1/netlogon -U "$1" --use-kerberos=off -t 15 -c ls
"""


def _logs_in(dc1: NodeContext, login: str, password: str) -> bool:
    res = dc1.run(["sh", "-c", _SMB_LOGIN, "sh", login], input=password + "\n", check=False)
    return res.ok


def _pwd_last_set(dc1: NodeContext, login: str) -> int:
    out = dc1.run(["ldbsearch", "-H", SAM, f"(sAMAccountName={login})", "pwdLastSet"]).stdout
    values = [line.split(":", 1)[1] for line in out.splitlines() if line.startswith("pwdLastSet:")]
    assert len(values) == 1, out
    return int(values[0])


def test_samba_tool_takes_passwords_on_stdin(dc1: NodeContext) -> None:
    """The shipped solution steps' form (compte-verrouille, depart-et-arrivee): samba-tool user
    create and setpassword with no password in argv, the password twice on stdin.

    The old password is not asserted refused: Samba accepts the previous password over NTLM
    for "old password allowed period" (60 minutes by default). The new password logging in,
    which was never given anywhere but stdin, and pwdLastSet moving are the proof."""
    login = f"stdin{RUN}"
    first, second = f"Stdin-Premier-{RUN}x", f"Stdin-Second-{RUN}x"
    try:
        step(dc1, "linux.exec", argv=["samba-tool", "user", "create", login],
             input=f"{first}\n{first}\n")  # fmt: skip
        assert _logs_in(dc1, login, first)
        assert not _logs_in(dc1, login, second)
        set_before = _pwd_last_set(dc1, login)
        time.sleep(1.1)  # pwdLastSet counts 100 ns ticks, but a same-second rewrite is no proof
        step(dc1, "linux.exec", argv=["samba-tool", "user", "setpassword", login],
             input=f"{second}\n{second}\n")  # fmt: skip
        assert _logs_in(dc1, login, second)
        assert _pwd_last_set(dc1, login) > set_before
    finally:
        dc1.run(["samba-tool", "user", "delete", login], check=False)
