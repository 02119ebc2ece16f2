"""Evidence a candidate cannot forge from root in their node, on a real LXC node.

Each forgery is first shown to work on the naive path (so the test proves something), then
shown not to change what the grader's sessions collect. Needs root, LXC and the base image.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import Lab
from tai_labs.grading import parsers as p
from tai_labs.grading.base import CHECKS
from tai_labs.providers.base import NODE_ENV, ExecResult
from tai_labs.providers.keys import known_hosts_line
from tai_labs.sessions.exec import ExecSession
from tai_labs.sessions.hostside import HostSideSession
from tai_labs.sessions.ssh import SshSession

pytestmark = pytest.mark.integration

FORGED_BASHRC = r"""
/usr/bin/id(){ echo forged-function; }
id(){ echo forged-function; }
exec(){ echo forged-exec; }
env(){ echo forged-env; }
shopt -s expand_aliases
alias exec='echo forged-alias'
"""
SHADOW = "#!/bin/sh\necho forged-binary\n"


@dataclass
class Node:
    lab: Lab
    name: str
    ssh: SshSession
    exec: ExecSession

    def sh(self, script: str, input: str | None = None) -> ExecResult:
        result = self.lab.engine.exec(self.name, ["sh", "-c", script], input=input)
        assert result.ok, result
        return result

    def write(self, path: str, text: str, mode: str = "644") -> None:
        self.sh(f'cat > "$0" && chmod {mode} "$0"'.replace("$0", path), input=text)


@pytest.fixture(scope="module")
def node(make_lab: Callable[..., Lab], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    pytest.importorskip("paramiko")
    lab = make_lab()
    name = lab.add_node("a", {"lan": "10.0.0.1/24"})
    known = tmp_path_factory.mktemp("ssh") / "known_hosts"
    known.write_text(known_hosts_line([lab.mgmt_ips[name]], lab.host_keys[name]) + "\n")
    ssh = SshSession(name, lab.mgmt_ips[name], key_file=lab.key_path, known_hosts=known)

    def run(argv: Sequence[str], input: str | None, timeout: float) -> ExecResult:
        return lab.engine.exec(name, list(argv), input=input, timeout=timeout)

    yield Node(lab, name, ssh, ExecSession(name, run))
    ssh.close()


@pytest.fixture(scope="module")
def forged(node: Node) -> Node:
    """root's ~/.bashrc defines /usr/bin/id, id, exec and env; /usr/local holds fake ids."""
    node.sh("cp /root/.bashrc /root/.bashrc.orig 2>/dev/null; true")
    node.write("/root/.bashrc", FORGED_BASHRC)
    for where in ("/usr/local/sbin/id", "/usr/local/bin/id"):
        node.write(where, SHADOW, "755")
    return node


def test_the_forgeries_fool_a_plain_ssh_command(forged: Node) -> None:
    assert forged.lab.ssh(forged.name, "/usr/bin/id -u").stdout.strip() == "forged-function"
    assert forged.lab.ssh(forged.name, "exec id -u").stdout.strip().startswith("forged-alias")
    login_path = forged.lab.ssh(forged.name, "bash --norc -c 'id -u'").stdout.strip()
    assert login_path == "forged-binary"  # sshd's PATH starts with /usr/local/sbin


@pytest.mark.parametrize("channel", ["ssh", "exec"])
@pytest.mark.parametrize("argv", [["id", "-u"], ["/usr/bin/id", "-u"]])
def test_node_side_channels_run_the_real_program(
    forged: Node, channel: str, argv: list[str]
) -> None:
    session = forged.ssh if channel == "ssh" else forged.exec
    result = session.run(argv)
    assert (result.rc, result.stdout, result.source) == (0, "0\n", "node")


@pytest.mark.parametrize("channel", ["ssh", "exec"])
def test_node_side_channels_have_exactly_the_fixed_environment(forged: Node, channel: str) -> None:
    session = forged.ssh if channel == "ssh" else forged.exec
    out = session.run(["/usr/bin/env"]).stdout
    got = dict(line.split("=", 1) for line in out.splitlines())
    # lxc-attach itself always sets container=lxc after clearing the environment.
    expected = NODE_ENV if channel == "ssh" else dict(NODE_ENV, container="lxc")
    assert got == expected


@pytest.mark.parametrize("channel", ["ssh", "exec"])
def test_the_user_grader_collects_the_real_groups(forged: Node, channel: str) -> None:
    session = forged.ssh if channel == "ssh" else forged.exec
    plugin = CHECKS.get("linux.user")
    params = plugin.Params.model_validate({"user": "root", "groups": ["root"]})
    evidence = plugin().collect(session, params)
    assert "forged" not in "".join(c.stdout for c in evidence.commands)
    assert plugin().judge(evidence, params).verdict.value == "pass"


# -- files: read from the host's view of the node's layers ----------------------------------

# Every dynamic program of the node prints "forged-preload" instead of working, but rm(1),
# so that the test can take it away again.
PRELOAD_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
__attribute__((constructor)) static void forge(void) {
    if (strcmp(program_invocation_short_name, "rm") == 0) return;
    puts("forged-preload");
    exit(0);
}
"""


@pytest.fixture
def host_session(node: Node) -> HostSideSession:
    view = node.lab.engine.host_view(node.name)
    assert view is not None, "a running container node has a host view"
    return HostSideSession(node.exec, view)


def upper(node: Node) -> Path:
    return node.lab.engine.layout(node.name).upper


def test_the_host_view_is_the_nodes_overlay_and_its_maps(node: Node) -> None:
    view = node.lab.engine.host_view(node.name)
    assert view is not None
    layout = node.lab.engine.layout(node.name)
    # Privileged: LXC's overlay over the image itself; unprivileged (the default): the overlay
    # the host mounts, over the idmapped view of the image.
    assert view.files.layers in (
        (upper(node), Path(node.lab.image.rootfs)),
        (upper(node), layout.lower),
    )
    init = node.sh("cat /proc/1/status").stdout
    assert view.init_pid > 1 and "systemd" in Path(f"/proc/{view.init_pid}/comm").read_text()
    assert "NSpid" in init  # the node's init is the host's view.init_pid, in its own pid ns
    # The node's root is whatever host id its init's map says (0 when privileged).
    host_root = int(Path(f"/proc/{view.init_pid}/uid_map").read_text().split()[1])
    assert view.files.uids.inside(host_root) == 0


def test_a_replaced_cat_does_not_change_what_the_host_reads(
    node: Node, host_session: HostSideSession
) -> None:
    hostname = node.sh("hostname").stdout.strip()
    node.sh("cp /usr/bin/cat /usr/bin/cat.real")
    try:
        node.write("/usr/bin/cat.fake", "#!/bin/sh\necho forged-cat\n", "755")
        node.sh("mv /usr/bin/cat.fake /usr/bin/cat")
        assert node.exec.run(["cat", "/etc/hostname"]).stdout == "forged-cat\n"
        read = host_session.run(["cat", "--", "/etc/hostname"])
        assert (read.stdout.strip(), read.source, read.via) == (hostname, "host", "rootfs")
    finally:
        node.sh("mv /usr/bin/cat.real /usr/bin/cat")


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc to build the preload library")
def test_ld_so_preload_in_the_node_does_not_fool_the_host(
    node: Node, host_session: HostSideSession, tmp_path: Path
) -> None:
    source = tmp_path / "forge.c"
    source.write_text(PRELOAD_C)
    library = tmp_path / "forge.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    node.write("/usr/lib/forge.so.b64", base64.b64encode(library.read_bytes()).decode())
    node.sh("base64 -d /usr/lib/forge.so.b64 > /usr/lib/forge.so")
    hostname = node.sh("hostname").stdout.strip()
    node.write("/etc/ld.so.preload", "/usr/lib/forge.so\n")
    try:
        forged = node.exec.run(["stat", "-c", "%s", "/etc/hostname"])
        assert forged.stdout == "forged-preload\n"  # every dynamic program of the node lies
        plugin = CHECKS.get("linux.file")
        params = plugin.Params.model_validate({"path": "/etc/hostname", "contains": hostname})
        evidence = plugin().collect(host_session, params)
        assert {c.source for c in evidence.commands} == {"host"}
        assert plugin().judge(evidence, params).verdict.value == "pass"
    finally:
        # Without timeout(1), which is forged too.
        removed = node.lab.engine.exec(node.name, ["rm", "/etc/ld.so.preload"], timeout=None)
        assert removed.ok, removed
    assert node.exec.run(["stat", "-c", "%s", "/etc/hostname"]).stdout != "forged-preload\n"


def test_a_link_to_a_host_path_reads_the_nodes_file(
    node: Node, host_session: HostSideSession
) -> None:
    node_shadow = node.sh("head -c 4096 /etc/shadow").stdout
    host_shadow = Path("/etc/shadow").read_text()[:4096]
    assert node_shadow != host_shadow
    node.sh("ln -sfn /etc/shadow /root/leak && ln -sfn /etc /root/hostetc")
    node.sh("ln -sfn ../../../../../../etc/shadow /root/leak2")
    for path in ("/root/leak", "/root/leak2", "/root/hostetc/shadow"):
        read = host_session.run(["head", "-c", "4096", "--", path])
        assert read.source == "host" and read.stdout == node_shadow, path
    # A host-only file behind a link is absent from the node, never the host's.
    lab_key = node.lab.key_path
    node.sh(f"ln -sfn {lab_key} /root/key")
    missing = host_session.run(["cat", "--", "/root/key"])
    assert missing.rc == 1 and p.says_no_such_file(missing) and "PRIVATE" not in missing.stdout


def test_a_file_deleted_in_the_node_is_absent_through_its_whiteout(
    node: Node, host_session: HostSideSession
) -> None:
    assert host_session.run(["cat", "--", "/etc/issue.net"]).rc == 0  # in the image
    node.sh("rm /etc/issue.net")
    whiteout = os.lstat(upper(node) / "etc/issue.net")
    assert stat.S_ISCHR(whiteout.st_mode) and whiteout.st_rdev == 0  # overlayfs made it
    gone = host_session.run([*p.C_LOCALE, "stat", "-c", p.STAT_FORMAT, "--", "/etc/issue.net"])
    assert gone.rc == 1 and p.says_no_such_file(gone) and gone.source == "host"


def test_a_huge_file_neither_stalls_nor_floods_the_reader(
    node: Node, host_session: HostSideSession
) -> None:
    node.sh(
        "truncate -s 40G /root/huge && printf 'start' | dd of=/root/huge conv=notrunc 2>/dev/null"
    )
    started = time.monotonic()
    head = host_session.run(["head", "-c", "5", "--", "/root/huge"])
    digest = host_session.run(["sha256sum", "--", "/root/huge"])
    size = host_session.run(["stat", "-c", "%s", "--", "/root/huge"])
    assert time.monotonic() - started < 10
    assert (head.stdout, size.stdout) == ("start", f"{40 * 2**30}\n")
    assert digest.rc == 1 and "not hashed" in digest.stderr
    node.sh("rm /root/huge")


def test_owners_are_named_from_the_nodes_own_files(
    node: Node, host_session: HostSideSession
) -> None:
    node.sh(
        "id bob >/dev/null 2>&1 || useradd -u 1500 bob; touch /root/owned; chown bob /root/owned"
    )
    got = host_session.run([*p.C_LOCALE, "stat", "-c", p.STAT_FORMAT, "--", "/root/owned"])
    node_says = node.exec.run([*p.C_LOCALE, "stat", "-c", p.STAT_FORMAT, "--", "/root/owned"])
    assert got.source == "host" and got.stdout == node_says.stdout
    assert "|bob|" in got.stdout


# -- network: the host's iproute2 in the node's network namespace only ------------------------


def test_a_replaced_ip_in_the_node_does_not_change_the_network_evidence(
    node: Node, host_session: HostSideSession
) -> None:
    node.sh("cp /usr/sbin/ip /usr/sbin/ip.real")
    fake = '#!/bin/sh\necho \'[{"ifname":"eth1","operstate":"UP","addr_info":[]}]\'\n'
    try:
        node.write("/usr/sbin/ip.fake", fake, "755")
        node.sh("mv /usr/sbin/ip.fake /usr/sbin/ip")
        assert '"addr_info":[]' in node.exec.run(["ip", "-j", "addr", "show", "dev", "eth1"]).stdout
        plugin = CHECKS.get("linux.address")
        params = plugin.Params.model_validate({"interface": "eth1", "address": "10.0.0.1/24"})
        evidence = plugin().collect(host_session, params)
        assert [(c.source, c.via) for c in evidence.commands] == [("host", "netns")]
        assert plugin().judge(evidence, params).verdict.value == "pass"
        wrong = plugin.Params.model_validate({"interface": "eth1", "address": "10.0.0.9/24"})
        assert plugin().judge(plugin().collect(host_session, wrong), wrong).verdict.value == "fail"
        routes = host_session.run(["ip", "-j", "-4", "route", "show", "table", "main"])
        assert routes.source == "host" and "10.0.0.0/24" in routes.stdout
    finally:
        node.sh("mv /usr/sbin/ip.real /usr/sbin/ip")


def test_the_network_namespace_is_the_nodes_not_the_hosts(
    node: Node, host_session: HostSideSession
) -> None:
    links = host_session.run(["ip", "-j", "link", "show"])
    names = {link["ifname"] for link in json.loads(links.stdout)}
    assert names == {"lo", "eth0", "eth1"}  # the node's interfaces, none of the host's bridges


# -- services: the unit's cgroup as the host's hierarchy lists it -----------------------------

FORGED_SYSTEMCTL = """#!/bin/sh
echo LoadState=loaded; echo ActiveState=active; echo SubState=running
echo UnitFileState=enabled; echo MainPID=77
"""


def test_a_lying_systemctl_is_caught_by_the_units_cgroup(
    node: Node, host_session: HostSideSession
) -> None:
    plugin = CHECKS.get("linux.service")
    params = plugin.Params.model_validate({"service": "cron"})
    honest = plugin().collect(host_session, params)
    procs = honest.commands[1]
    assert (procs.source, procs.via) == ("host", "cgroup") and procs.stdout.strip()
    main = node.sh("systemctl show -p MainPID --value cron").stdout.strip()
    assert main in procs.stdout.split()  # the node's pid numbers, mapped from the host's
    assert plugin().judge(honest, params).verdict.value == "pass"
    node.sh("systemctl stop cron && cp /usr/bin/systemctl /usr/bin/systemctl.real")
    try:
        node.write("/usr/bin/systemctl.fake", FORGED_SYSTEMCTL, "755")
        node.sh("mv /usr/bin/systemctl.fake /usr/bin/systemctl")
        lying = plugin().collect(host_session, params)
        assert "ActiveState=active" in lying.commands[0].stdout  # the node's word
        judged = plugin().judge(lying, params)
        assert judged.verdict.value == "error" and "vu de l'hôte" in judged.why_fr
    finally:
        node.sh("mv /usr/bin/systemctl.real /usr/bin/systemctl && systemctl start cron")


# -- the jury's web and DNS probes: the host's curl and DNS code, the node's settings ----------

FAKE_CURL = '#!/bin/sh\nprintf "<h1>Bienvenue</h1>\\n\\n== status 200"\n'
FAKE_DIG = """#!/bin/sh
echo ';; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 1'
echo '_ldap._tcp.forged.lan. 900 IN SRV 0 100 389 dc1.forged.lan.'
"""
PAGE = "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<h1>Bienvenue</h1>\n"


def _grade(session: HostSideSession | ExecSession, check: str, **params: object) -> object:
    plugin = CHECKS.get(check)
    p_ = plugin.Params.model_validate(params)  # type: ignore[attr-defined]
    evidence = plugin().collect(session, p_)
    return plugin().judge(evidence, p_), evidence


def test_a_faked_curl_or_dig_in_the_node_does_not_answer_the_jury(
    node: Node, host_session: HostSideSession
) -> None:
    url = "http://10.0.0.1:8080/"
    node.sh("cp /etc/environment /etc/environment.orig")
    try:
        node.write("/usr/local/bin/curl", FAKE_CURL, "755")
        node.sh("cp /usr/bin/dig /usr/bin/dig.real 2>/dev/null; true")
        node.write("/usr/bin/dig", FAKE_DIG, "755")
        node.sh(
            "echo 'PATH=\"/usr/local/bin:/usr/bin:/bin\"' >> /etc/environment && "
            "echo 'http_proxy=\"http://10.0.0.250:3128\"' >> /etc/environment"
        )
        # the forgeries fool the node-side probes (so this test proves something)
        naive, _ = _grade(node.exec, "probe.http", url=url, contains="Bienvenue")
        assert naive.verdict.value == "pass"  # type: ignore[attr-defined]
        srv = {"query": "_ldap._tcp.forged.lan", "type": "SRV", "expect": ["dc1.forged.lan"]}
        naive, _ = _grade(node.exec, "probe.dns", server="10.0.0.99", **srv)
        assert naive.verdict.value == "pass"  # type: ignore[attr-defined]
        # the jury's: the host's curl meets the dead proxy, the host's query a dead server
        j, ev = _grade(host_session, "probe.http", url=url, contains="Bienvenue")
        assert j.verdict.value == "fail", j  # type: ignore[attr-defined]
        assert [(c.source, c.via) for c in ev.commands] == [("host", "netns")]  # type: ignore[attr-defined]
        assert "10.0.0.250:3128" in j.decisive  # type: ignore[attr-defined]
        j, ev = _grade(host_session, "probe.dns", server="10.0.0.99", **srv)
        assert j.verdict.value == "fail" and "10.0.0.99" in j.decisive  # type: ignore[attr-defined]
        # the proxy removed, a real page served from the node's own address: the host's curl
        # gets it, and says who answered
        node.sh("sed -i /10.0.0.250/d /etc/environment")
        node.sh(f"(printf '%s' '{PAGE}' | nc -l -N -p 8080 >/dev/null 2>&1 &) ; sleep 0.3")
        j, _ = _grade(host_session, "probe.http", url=url, contains="Bienvenue")
        assert j.verdict.value == "pass", j  # type: ignore[attr-defined]
        assert "de 10.0.0.1:8080" in j.decisive  # type: ignore[attr-defined]
    finally:
        node.sh("mv /etc/environment.orig /etc/environment; rm -f /usr/local/bin/curl")
        node.sh("if [ -e /usr/bin/dig.real ]; then mv /usr/bin/dig.real /usr/bin/dig; "
                "else rm -f /usr/bin/dig; fi; pkill -x nc; true")  # fmt: skip
