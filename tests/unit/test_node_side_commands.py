"""Node-side commands: a fixed environment, and root's rc files have no say in them.

sshd runs ``$SHELL -c COMMAND`` and Debian's bash reads ``~/.bashrc`` first; ``BASH_ENV``
makes a real bash read an rc file the same way, so these run the exact line the SSH session
sends through a real bash with a hostile rc.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tai_labs.grading import parsers as p
from tai_labs.grading.result import EvidenceItem
from tai_labs.grading.runner import evidence_item
from tai_labs.providers.base import NODE_ENV
from tai_labs.providers.vm_agent import GUEST_ENV
from tai_labs.sessions.base import CommandResult
from tai_labs.sessions.ssh import hardened_command

BASH = shutil.which("bash")
ID = shutil.which("id")

FORGED_RC = r"""
/usr/bin/id(){ echo forged-function; }
id(){ echo forged-function; }
exec(){ echo forged-exec; }
env(){ echo forged-env; }
/usr/bin/env(){ echo forged-env; }
shopt -s expand_aliases
alias exec='echo forged-alias'
alias env='echo forged-alias'
export PATH="{shadow}:$PATH"
export LD_LIBRARY_PATH=/nonexistent
"""


def through_login_bash(tmp_path: Path, line: str) -> subprocess.CompletedProcess[str]:
    """``line`` run as sshd runs it (``bash -c``) by a bash that read a forged rc first."""
    assert BASH is not None
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    fake = shadow / "id"
    fake.write_text("#!/bin/sh\necho forged-binary\n")
    fake.chmod(0o755)
    rc = tmp_path / "bashrc"
    rc.write_text(FORGED_RC.replace("{shadow}", str(shadow)))
    env = {"PATH": f"{shadow}:/usr/sbin:/usr/bin:/sbin:/bin", "BASH_ENV": str(rc), "HOME": "/"}
    return subprocess.run(
        [BASH, "-c", line], env=env, capture_output=True, text=True, check=False, timeout=10
    )


@pytest.mark.skipif(BASH is None or ID is None, reason="needs bash and id(1)")
def test_the_forged_rc_does_forge_a_plain_command(tmp_path: Path) -> None:
    # The forgery this file is about works on the line sessions used to send.
    plain = through_login_bash(tmp_path, "/usr/bin/id -u; id -u; exec /usr/bin/id -u")
    assert plain.stdout.split("\n")[:3] == ["forged-function"] * 2 + ["forged-alias /usr/bin/id -u"]


@pytest.mark.skipif(BASH is None or ID is None, reason="needs bash and id(1)")
@pytest.mark.parametrize("argv", [["id", "-u"], ["/usr/bin/id", "-u"]])
def test_the_ssh_line_runs_the_real_program_past_a_forged_rc(
    tmp_path: Path, argv: list[str]
) -> None:
    result = through_login_bash(tmp_path, hardened_command(argv))
    assert (result.returncode, result.stdout) == (0, f"{os.getuid()}\n"), result.stderr


@pytest.mark.skipif(BASH is None, reason="needs bash")
def test_the_ssh_line_gives_the_program_node_env_and_nothing_else(tmp_path: Path) -> None:
    result = through_login_bash(tmp_path, hardened_command(["/usr/bin/env"]))
    assert dict(line.split("=", 1) for line in result.stdout.splitlines()) == NODE_ENV


def test_the_ssh_line_keeps_awkward_arguments_literal(tmp_path: Path) -> None:
    awkward = ["two words", "it's", "$(id -u)", "`id`", "a;b", "x\ny", "*", ""]
    result = through_login_bash(tmp_path, hardened_command(["printf", "[%s]", *awkward]))
    assert result.stdout == "".join(f"[{a}]" for a in awkward)


def test_node_env_has_no_local_dirs_home_or_library_path() -> None:
    assert NODE_ENV == {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    assert GUEST_ENV == ("PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8")


def test_exec_channel_attaches_with_a_cleared_node_env() -> None:
    from tai_labs.providers.lxc import LxcEngine

    engine = LxcEngine.__new__(LxcEngine)  # no root needed to build an argv
    engine.lxcpath = Path("/labs/x/lxc")
    argv = engine._attach_argv("pc1", ["id", "-u"], NODE_ENV)
    assert argv == [
        "lxc-attach", "-P", "/labs/x/lxc", "-n", "pc1", "--clear-env",
        "-v", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "-v", "LANG=C.UTF-8", "--", "id", "-u",
    ]  # fmt: skip


def test_a_missing_tool_is_not_a_missing_file() -> None:
    # env(1) reports a missing program as "No such file or directory", rc 127.
    missing = CommandResult(127, "", "/usr/bin/env: 'stat': No such file or directory\n", "stat")
    assert not p.says_no_such_file(missing) and p.tool_missing(missing)


def test_evidence_items_say_which_side_answered() -> None:
    node_side = evidence_item("pc1", "ssh", CommandResult(0, "1000\n", "", "id -u"))
    assert (node_side.transport, node_side.source) == ("ssh", "node")
    host = CommandResult(0, "x", "", "cat -- /etc/passwd", source="host", via="rootfs")
    host_side = evidence_item("pc1", "ssh", host)
    assert (host_side.transport, host_side.source) == ("rootfs", "host")
    assert EvidenceItem(node="n", transport="ssh", command="c", output="").source == "node"
    assert '"source":"host"' in host_side.model_dump_json()
    # An exec fallback for SSH is about the node-side channel, not what the host read.
    fell = "fallback: host key mismatch"
    assert evidence_item("pc1", "exec", host, fell).fallback == ""
    assert evidence_item("pc1", "exec", CommandResult(0, "", "", "id"), fell).fallback == fell
