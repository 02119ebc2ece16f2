"""Reading commands answered by the host from a node's layers: same output as the real tools.

A one-layer tree is a plain directory, so coreutils run on the same files on this host give
the expected output; the node-side session here is a stand-in that forges every answer, to
show which commands never reach it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from tai_labs.grading import parsers as p
from tai_labs.grading.base import CHECKS
from tai_labs.providers.base import HostView
from tai_labs.providers.rootfs import OverlayTree
from tai_labs.sessions.base import CommandResult, CommandSession
from tai_labs.sessions.hostside import HostSideSession, host_answer


class ForgingNode(CommandSession):
    """The node's own channel as a hostile root makes it: every answer is forged."""

    shell = "posix"
    transport = "exec"

    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    def run(
        self, argv: Sequence[str], *, timeout: float = 30.0, input: str | None = None
    ) -> CommandResult:
        self.asked.append(list(argv))
        return CommandResult(0, "forged\n", "", " ".join(argv))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    base = tmp_path / "root"
    (base / "etc").mkdir(parents=True)
    (base / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\nbob:x:1000:1000::/:/bin/sh\n")
    (base / "etc/group").write_text("root:x:0:\nbob:x:1000:\n")
    (base / "etc/motd").write_text("Bienvenue\nsur le poste\n")
    (base / "etc/empty").write_text("")
    (base / "etc/motd.link").symlink_to("motd")
    (base / "usr/bin").mkdir(parents=True)
    (base / "usr/bin/tool").write_text("#!/bin/sh\n")
    (base / "usr/bin/tool").chmod(0o4755)
    return base


def real(argv: list[str], root: Path) -> subprocess.CompletedProcess[str]:
    """The real tool on the same file (paths rewritten under ``root``)."""
    rewritten = [str(root) + a if a.startswith("/") and a != "/" else a for a in argv]
    return subprocess.run(rewritten, capture_output=True, text=True, check=False)


@pytest.mark.skipif(shutil.which("stat") is None, reason="needs coreutils")
@pytest.mark.parametrize(
    "path", ["/etc/motd", "/etc/empty", "/etc", "/etc/motd.link", "/usr/bin/tool"]
)
def test_stat_answers_as_stat_does(root: Path, path: str) -> None:
    argv = [*p.C_LOCALE, "stat", "-c", p.STAT_FORMAT, "--", path]
    host = host_answer(HostView(OverlayTree([root]), 1), argv)
    assert host is not None and (host.source, host.via) == ("host", "rootfs")
    tool = real(argv, root)
    if os.geteuid() == 0:  # names come from the node's passwd; this host's root is root too
        assert (host.rc, host.stdout) == (tool.returncode, tool.stdout)
    assert host.stdout.split("|")[1] == tool.stdout.split("|")[1]  # the mode, as %a prints it


def test_content_and_hash_answer_as_the_tools_do(root: Path) -> None:
    tree = HostView(OverlayTree([root]), 1)
    head = host_answer(tree, ["head", "-c", "12", "--", "/etc/motd"])
    assert head is not None and head.stdout == real(["head", "-c", "12", "/etc/motd"], root).stdout
    cat = host_answer(tree, ["cat", "--", "/etc/motd.link"])
    assert cat is not None and cat.stdout == "Bienvenue\nsur le poste\n"
    digest = host_answer(tree, ["sha256sum", "--", "/etc/motd"])
    expected = real(["sha256sum", "/etc/motd"], root).stdout.split()[0]
    assert digest is not None and digest.stdout == f"{expected}  /etc/motd\n"


def test_a_missing_file_reads_as_missing(root: Path) -> None:
    tree = HostView(OverlayTree([root]), 1)
    for argv in (
        ["stat", "-c", p.STAT_FORMAT, "--", "/etc/nope"],
        ["head", "-c", "10", "--", "/etc/nope"],
        ["cat", "--", "/etc/nope"],
        ["sha256sum", "--", "/etc/nope"],
    ):
        result = host_answer(tree, argv)
        assert result is not None and result.rc == 1 and p.says_no_such_file(result), argv


def test_what_the_host_cannot_answer_goes_to_the_node(root: Path) -> None:
    tree = HostView(OverlayTree([root]), 1)
    for argv in (
        ["cat", "/proc/modules"],
        ["cat", "-A", "/etc/motd"],
        ["cat", "/etc/motd", "/etc/group"],
        ["stat", "-c", "%i", "--", "/etc/motd"],
        ["stat", "-c", "%F\\n", "--", "/etc/motd"],
        ["head", "-n", "3", "/etc/motd"],
        ["sh", "-c", "cat /etc/motd"],
        ["cat", "etc/motd"],
    ):
        assert host_answer(tree, argv) is None, argv


def test_the_session_answers_reads_itself_and_the_rest_node_side(root: Path) -> None:
    node = ForgingNode()
    session = HostSideSession(node, HostView(OverlayTree([root]), init_pid=1))
    assert session.transport == "exec"
    read = session.run(["cat", "--", "/etc/motd"])
    assert (read.stdout, read.source, read.command) == (
        "Bienvenue\nsur le poste\n",
        "host",
        "cat -- /etc/motd",
    )
    assert node.asked == []
    other = session.run(["systemctl", "is-active", "ssh"])
    assert (other.stdout, other.source) == ("forged\n", "node")
    with_input = session.run(["cat", "--", "/etc/motd"], input="x")  # stdin: only the node
    assert with_input.source == "node"


def test_a_forging_node_does_not_change_the_file_check(root: Path) -> None:
    plugin = CHECKS.get("linux.file")
    session = HostSideSession(ForgingNode(), HostView(OverlayTree([root]), init_pid=1))
    wants_root = {"path": "/etc/motd", "contains": "forged"}
    params = plugin.Params.model_validate(wants_root)
    evidence = plugin().collect(session, params)
    assert {c.source for c in evidence.commands} == {"host"}
    assert plugin().judge(evidence, params).verdict.value == "fail"
    params = plugin.Params.model_validate({"path": "/etc/motd", "contains": "Bienvenue"})
    assert plugin().judge(plugin().collect(session, params), params).verdict.value == "pass"
    params = plugin.Params.model_validate({"path": "/etc/gone", "exists": False})
    assert plugin().judge(plugin().collect(session, params), params).verdict.value == "pass"


def test_a_read_past_the_output_bound_says_stdout_was_cut(root: Path) -> None:
    from tai_labs.bounded_output import MAX_OUTPUT_BYTES

    (root / "var").mkdir()
    (root / "var/big").write_bytes(b"x" * (MAX_OUTPUT_BYTES + 10))
    view = HostView(OverlayTree([root]), 1)
    cat = host_answer(view, ["cat", "--", "/var/big"])
    assert cat is not None and cat.truncated == ("stdout",) and len(cat.stdout) == MAX_OUTPUT_BYTES
    head = host_answer(view, ["head", "-c", str(MAX_OUTPUT_BYTES), "--", "/var/big"])
    assert head is not None and head.truncated == () and len(head.stdout) == MAX_OUTPUT_BYTES


def test_ls_and_readlink_answer_as_the_tools_do(root: Path) -> None:
    (root / "etc/systemd/system/multi-user.target.wants").mkdir(parents=True)
    (root / "etc/systemd/system/multi-user.target.wants/cron.service").symlink_to(
        "/lib/systemd/system/cron.service"
    )
    (root / "etc/systemd/system/cups.service").symlink_to("/dev/null")
    (root / "etc/systemd/system/.hidden").write_text("")
    view = HostView(OverlayTree([root]), 1)
    for path in ("/etc/systemd/system", "/etc/systemd/system/multi-user.target.wants"):
        argv = [*p.C_LOCALE, "ls", "-1", "-A", "--", path]
        host = host_answer(view, argv)
        assert host is not None and (host.source, host.via) == ("host", "rootfs")
        assert (host.rc, host.stdout) == (0, real(argv, root).stdout)
    masked = host_answer(view, ["readlink", "--", "/etc/systemd/system/cups.service"])
    assert masked is not None and masked.stdout == "/dev/null\n"
    plain = host_answer(view, ["readlink", "--", "/etc/motd"])
    assert plain is not None and (plain.rc, plain.stdout) == (1, "")
    missing = host_answer(view, ["ls", "-1", "-A", "--", "/etc/nope"])
    assert missing is not None and missing.rc == 2 and p.says_no_such_file(missing)
    # Another layout (a file, other options) is the node's own ls to answer.
    assert host_answer(view, ["ls", "-1", "-A", "--", "/etc/motd"]) is None
    assert host_answer(view, ["ls", "-la", "/etc"]) is None


def test_a_cgroup_listing_outside_the_node_or_its_units_is_not_answered(root: Path) -> None:
    view = HostView(OverlayTree([root]), 1, cgroup_dir="tai-labs/lab/pc1")
    for path in (
        "/sys/fs/cgroup/systemd/../../etc",
        "/sys/fs/cgroup/memory/system.slice",
        "/sys/fs/cgroup/systemd/system.slice/a b",
    ):
        assert host_answer(view, ["ls", "-1", "-A", "--", path]) is None, path
    gone = host_answer(view, ["ls", "-1", "-A", "--", "/sys/fs/cgroup/systemd/system.slice"])
    assert gone is not None and (gone.rc, gone.source, gone.via) == (2, "host", "cgroup")
