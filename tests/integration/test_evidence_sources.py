"""Evidence a candidate cannot forge from root in their node, on a real LXC node.

Each forgery is first shown to work on the naive path (so the test proves something), then
shown not to change what the grader's sessions collect. Needs root, LXC and the base image.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import pytest

from conftest import Lab
from tai_labs.grading.base import CHECKS
from tai_labs.providers.base import NODE_ENV, ExecResult
from tai_labs.providers.keys import known_hosts_line
from tai_labs.sessions.exec import ExecSession
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
