"""The jury's Kerberos proof of a join (``linux.domain_joined``), against a real MIT KDC.

A real ``krb5kdc`` runs in a network namespace of its own (standing for the DC's), with a
realm made here by ``kdb5_util``/``kadmin.local``; the host's own ``kinit`` is run in that
namespace by ``providers.kerberos`` with the keytab read from a node's disk by the host. The
node's own channel is a forger that would answer anything: it is never asked.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from graders.linux_join import STALE_KEYS, judge_ticket

from tai_labs.grading.base import CHECKS
from tai_labs.grading.model import Judgement, Verdict
from tai_labs.providers.base import HostView
from tai_labs.providers.kerberos import machine_ticket
from tai_labs.providers.netns import NetNamespace
from tai_labs.providers.rootfs import OverlayTree
from tai_labs.sessions.base import CommandResult, CommandSession
from tai_labs.sessions.hostside import HostSideSession

REALM = "ATELIERS.LAN"
MACHINE = f"PC-CPT-123$@{REALM}"
USER = f"jdupont@{REALM}"
USER_PASSWORD = "Tres-Secret-42"
TOOLS = ("krb5kdc", "kdb5_util", "kadmin.local", "kinit", "ktutil", "unshare", "nsenter")
MISSING = [t for t in TOOLS if shutil.which(t, path="/usr/sbin:/usr/bin:/sbin:/bin") is None]

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or bool(MISSING),
    reason="needs root (network namespaces) and MIT Kerberos: "
    f"apt-get install krb5-user krb5-kdc krb5-admin-server (missing: {', '.join(MISSING)})",
)


@dataclass
class Kdc:
    folder: Path
    env: dict[str, str]
    pid: int  # a process holding the KDC's network namespace

    def admin(self, query: str) -> None:
        subprocess.run(
            ["kadmin.local", "-r", REALM, "-q", query],
            env=self.env,
            check=True,
            capture_output=True,
        )

    def keytab(self, name: str) -> bytes:
        return (self.folder / name).read_bytes()


def forged_keytab(folder: Path, principal: str, password: str) -> bytes:
    """A keytab made by hand with ktutil from a password of the forger's choosing."""
    path = folder / f"forged-{len(list(folder.iterdir()))}.keytab"
    script = (
        f"addent -password -p {principal} -k 2 -e aes256-cts-hmac-sha1-96\n{password}\n"
        f"wkt {path}\nquit\n"
    )
    subprocess.run(["ktutil"], input=script, text=True, check=True, capture_output=True)
    return path.read_bytes()


@pytest.fixture(scope="module")
def kdc() -> Iterator[Kdc]:
    folder = Path(tempfile.mkdtemp(prefix="tai-labs-test-kdc-"))
    (folder / "kdc.conf").write_text(
        "[kdcdefaults]\n  kdc_ports = 88\n  kdc_tcp_ports = 88\n"
        f"[realms]\n  {REALM} = {{\n"
        f"    database_name = {folder}/principal\n    key_stash_file = {folder}/stash\n"
        f"    acl_file = {folder}/kadm5.acl\n"
        "    supported_enctypes = aes256-cts-hmac-sha1-96:normal\n  }\n"
        f"[logging]\n  kdc = FILE:{folder}/kdc.log\n"
    )
    (folder / "kadm5.acl").write_text("")
    (folder / "krb5.conf").write_text(
        f"[libdefaults]\n  default_realm = {REALM}\n"
        f"[realms]\n  {REALM} = {{\n    kdc = 127.0.0.1:88\n  }}\n"
    )
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "KRB5_KDC_PROFILE": str(folder / "kdc.conf"),
        "KRB5_CONFIG": str(folder / "krb5.conf"),
    }
    subprocess.run(
        ["kdb5_util", "create", "-s", "-r", REALM, "-P", "master-of-the-test"],
        env=env,
        check=True,
        capture_output=True,
    )
    holder = subprocess.Popen(["unshare", "--net", "sleep", "600"])
    kdc_proc: subprocess.Popen[bytes] | None = None
    try:
        ns = f"--net=/proc/{holder.pid}/ns/net"
        for _ in range(50):  # until unshare has made the namespace and exec'd sleep
            if os.readlink(f"/proc/{holder.pid}/ns/net") != os.readlink("/proc/self/ns/net"):
                break
            time.sleep(0.05)
        subprocess.run(["nsenter", ns, "ip", "link", "set", "lo", "up"], check=True)
        kdc_proc = subprocess.Popen(["nsenter", ns, "krb5kdc", "-n", "-r", REALM], env=env)
        server = Kdc(folder, env, holder.pid)
        server.admin(f"addprinc -randkey {MACHINE}")
        # The first export is the keytab of an earlier join; the second one changes the
        # account's keys (a reset): only the second keytab holds the keys the KDC knows.
        server.admin(f"ktadd -k {folder}/old.keytab {MACHINE}")
        server.admin(f"ktadd -k {folder}/current.keytab {MACHINE}")
        server.admin(f"addprinc -pw {USER_PASSWORD} {USER}")
        NetNamespace(holder.pid).run(["ip", "link"])  # the namespace is reachable
        _wait_port(holder.pid)
        yield server
    finally:
        if kdc_proc is not None:
            kdc_proc.terminate()
            kdc_proc.wait(10)
        holder.terminate()
        holder.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def _wait_port(pid: int) -> None:
    ns = NetNamespace(pid)
    try:
        for _ in range(100):
            got = ns.run(["ss", "-ltn"])
            if ":88 " in got.stdout:
                return
            time.sleep(0.1)
        raise AssertionError("the test KDC did not listen on 88")
    finally:
        ns.close()


def attempt(kdc: Kdc, keytab: bytes, principal: str = MACHINE) -> dict[str, object]:
    ns = NetNamespace(kdc.pid)
    try:
        return machine_ticket(ns, keytab, principal, REALM.lower(), "127.0.0.1").as_dict()
    finally:
        ns.close()


def test_the_current_keytab_gets_a_ticket_answered_by_the_kdc(kdc: Kdc) -> None:
    got = attempt(kdc, kdc.keytab("current.keytab"))
    assert got["rc"] == 0, got
    assert got["answered_by"] == ["127.0.0.1:88"]
    assert f"krbtgt/{REALM}@{REALM}" in str(got["ticket"])
    assert MACHINE in str(got["ticket"])


def test_a_keytab_from_before_the_reset_is_refused(kdc: Kdc) -> None:
    got = attempt(kdc, kdc.keytab("old.keytab"))
    assert got["rc"] != 0 and got["ticket"] == ""
    assert any(s in str(got["error"]).lower() for s in STALE_KEYS), got


def test_a_keytab_made_by_hand_is_refused(kdc: Kdc) -> None:
    got = attempt(kdc, forged_keytab(kdc.folder, MACHINE, "a password of my choosing"))
    assert got["rc"] != 0 and any(s in str(got["error"]).lower() for s in STALE_KEYS), got


def test_a_machine_unknown_to_the_domain_is_refused(kdc: Kdc) -> None:
    other = f"PC-NEVER-JOINED$@{REALM}"
    got = attempt(kdc, forged_keytab(kdc.folder, other, "whatever"), other)
    assert got["rc"] != 0 and "not found in kerberos database" in str(got["error"]).lower()


def test_the_private_folder_is_gone_afterwards(kdc: Kdc, tmp_path: Path) -> None:
    before = set(Path(tempfile.gettempdir()).glob("tai-labs-krb-*"))
    attempt(kdc, kdc.keytab("current.keytab"))
    assert set(Path(tempfile.gettempdir()).glob("tai-labs-krb-*")) == before


class ForgingNode(CommandSession):
    """The node's channel as a hostile root makes it: a 'kinit' that always succeeds."""

    shell = "posix"
    transport = "exec"

    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    def run(
        self, argv: Sequence[str], *, timeout: float = 30.0, input: str | None = None
    ) -> CommandResult:
        self.asked.append(list(argv))
        return CommandResult(0, "Default principal: x\nkrbtgt/X@X\n", "", " ".join(argv))


def grade(kdc: Kdc, tmp_path: Path, keytab: bytes) -> tuple[Verdict, str, ForgingNode]:
    root = tmp_path / "pc1"
    (root / "etc").mkdir(parents=True)
    (root / "etc/krb5.keytab").write_bytes(keytab)
    forging = ForgingNode()
    dc = HostView(OverlayTree([tmp_path / "pc1"]), kdc.pid)
    session = HostSideSession(
        forging, HostView(OverlayTree([root]), os.getpid()), peers=lambda node: dc
    )
    plugin = CHECKS.get("linux.domain_joined")
    params = plugin.Params.model_validate(
        {"realm": REALM.lower(), "computer": "PC-CPT-123", "kdc_node": "dc1", "kdc": "127.0.0.1"}
    )
    ev = plugin().collect(session, params)
    judgement = plugin().judge(ev, params)
    assert all(c.source == "host" for c in ev.commands)
    text = " ".join(c.stdout + c.stderr for c in ev.commands)
    assert base64.b64encode(keytab).decode() not in text
    return judgement.verdict, judgement.why_fr + " | " + judgement.decisive, forging


def test_the_check_passes_a_join_and_fails_a_stale_or_forged_keytab(
    kdc: Kdc, tmp_path: Path
) -> None:
    verdict, why, forging = grade(kdc, tmp_path / "ok", kdc.keytab("current.keytab"))
    assert verdict is Verdict.PASS, why
    assert "127.0.0.1:88" in why and forging.asked == []
    verdict, why, forging = grade(kdc, tmp_path / "stale", kdc.keytab("old.keytab"))
    assert verdict is Verdict.FAIL and "ancienne jonction" in why, why
    assert forging.asked == []  # the node's fake kinit is never asked
    forged = forged_keytab(kdc.folder, MACHINE, "guessed")
    verdict, why, _ = grade(kdc, tmp_path / "forged", forged)
    assert verdict is Verdict.FAIL, why


def test_no_kdc_listening_is_error_not_fail(kdc: Kdc, tmp_path: Path) -> None:
    holder = subprocess.Popen(["unshare", "--net", "sleep", "60"])
    try:
        time.sleep(0.3)
        ns = NetNamespace(holder.pid)
        try:
            got = machine_ticket(ns, kdc.keytab("current.keytab"), MACHINE, REALM, "127.0.0.1")
        finally:
            ns.close()
    finally:
        holder.terminate()
        holder.wait(10)
    assert got.rc != 0 and got.answered_by == []
    plugin = CHECKS.get("linux.domain_joined")
    params = plugin.Params.model_validate(
        {"realm": REALM, "computer": "PC-CPT-123", "kdc_node": "dc1", "kdc": "127.0.0.1"}
    )
    result = CommandResult(0, json.dumps(got.as_dict()), "", "jury kinit", source="host")
    judged = judge_ticket(result, MACHINE, params)
    assert isinstance(judged, Judgement) and judged.verdict is Verdict.ERROR, judged


def judge_user(kdc: Kdc, password: str) -> tuple[Verdict, str, ForgingNode, str]:
    """probe.kerberos with kdc: the host's kinit from the namespace (the KDC's, standing for
    the workstation's network here), the node's own channel a forger."""
    forging = ForgingNode()
    view = HostView(OverlayTree([kdc.folder]), kdc.pid)
    session = HostSideSession(forging, view)
    plugin = CHECKS.get("probe.kerberos")
    params = plugin.Params.model_validate(
        {"principal": USER, "password": password, "kdc": "127.0.0.1"}
    )
    ev = plugin().collect(session, params)
    judgement = plugin().judge(ev, params)
    shown = " ".join(c.command + c.stdout + c.stderr for c in ev.commands)
    return judgement.verdict, judgement.why_fr + " | " + judgement.decisive, forging, shown


def test_probe_kerberos_by_the_jury_passes_the_right_password_only(kdc: Kdc) -> None:
    verdict, why, forging, shown = judge_user(kdc, USER_PASSWORD)
    assert verdict is Verdict.PASS and "127.0.0.1:88" in why, why
    assert forging.asked == []  # the node's kinit, which says yes to anything, is not asked
    assert USER_PASSWORD not in shown
    verdict, why, forging, _ = judge_user(kdc, "not-the-password")
    assert verdict is Verdict.FAIL and "mot de passe refusé" in why, why
    assert forging.asked == []
