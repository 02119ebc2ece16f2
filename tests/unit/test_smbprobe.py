"""The jury's SMB probe (``providers.smbprobe``, ``HostSideSession.smb_probe``) without a server.

What runs is recorded by a stand-in for the namespace runner (the real smbclient against a
real Samba DC is the selftest of ``partage-service``, whose *faked-smbclient* wrong solution
replaces pc1's smbclient): the password is in no argv, the credentials file is private and
gone afterwards, the node's own channel is never asked, and the output keeps the shape the
node-side script's judge reads.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

import pytest

from tai_labs.grading.base import CHECKS
from tai_labs.grading.model import Verdict
from tai_labs.providers.base import ExecResult, HostView
from tai_labs.providers.errors import EngineError
from tai_labs.providers.rootfs import OverlayTree
from tai_labs.providers.smbprobe import smb_access
from tai_labs.sessions.base import CommandResult, CommandSession
from tai_labs.sessions.hostside import HostSideSession

PASSWORD = "Tres-Secret-42"
LISTING = "  .   D   0  Mon Jan  1 00:00:00 2026\n  1000 blocks of size 4096. 9 blocks available\n"


class RecordingNetns:
    """Stands for NetNamespace.run: records argv and what the auth file held at that time."""

    def __init__(self, answers: list[ExecResult]) -> None:
        self.answers = answers
        self.calls: list[list[str]] = []
        self.auth: list[tuple[str, int, int]] = []

    def run(self, argv: Sequence[str], **_: object) -> ExecResult:
        self.calls.append(list(argv))
        auth = argv[argv.index("-A") + 1]
        folder = os.path.dirname(auth)
        self.auth.append(
            (
                Path(auth).read_text(),
                stat.S_IMODE(os.stat(auth).st_mode),
                stat.S_IMODE(os.stat(folder).st_mode),
            )
        )
        return self.answers.pop(0)


def test_password_only_in_a_private_file_removed_afterwards() -> None:
    ns = RecordingNetns([ExecResult(0, LISTING, ""), ExecResult(0, "putting file\n", "")])
    got = smb_access(ns, "192.168.10.10", "compta", "jdupont", PASSWORD, write=True)  # type: ignore[arg-type]
    assert got.rc == 0 and "== write ==" in got.stdout
    assert [c[0] for c in ns.calls] == ["smbclient", "smbclient"]
    assert all(c[1] == "//192.168.10.10/compta" for c in ns.calls)
    assert all(PASSWORD not in " ".join(c) for c in ns.calls)
    assert ns.auth[0] == (f"username = jdupont\npassword = {PASSWORD}\n", 0o600, 0o700)
    assert not os.path.exists(os.path.dirname(ns.calls[0][ns.calls[0].index("-A") + 1]))


def test_a_failed_listing_is_not_followed_by_a_write() -> None:
    denied = ExecResult(1, "", "tree connect failed: NT_STATUS_ACCESS_DENIED\n")
    ns = RecordingNetns([denied])
    got = smb_access(ns, "192.168.10.10", "compta", "jdupont", PASSWORD, write=True)  # type: ignore[arg-type]
    assert got.rc == 1 and "== write ==" not in got.stdout and len(ns.calls) == 1


def test_values_that_would_break_the_auth_file_are_refused() -> None:
    ns = RecordingNetns([])
    for share, user, password in (
        ("a;b", "u", "p"),
        ("ok", "u\npassword = x", "p"),
        ("ok", "u", "p\nusername = admin"),
    ):
        with pytest.raises(EngineError):
            smb_access(ns, "10.0.0.1", share, user, password, write=False)  # type: ignore[arg-type]
    assert ns.calls == []


class FakeSmbclientNode(CommandSession):
    """pc1 whose root replaced smbclient: it lists any share and writes anywhere."""

    shell = "posix"
    transport = "exec"

    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    def run(
        self, argv: Sequence[str], *, timeout: float = 30.0, input: str | None = None
    ) -> CommandResult:
        self.asked.append(list(argv))
        return CommandResult(0, LISTING + "== write ==\n", "", "sh -c …")


def test_a_fake_smbclient_on_the_node_does_not_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/hosts").write_text("192.168.10.10 dc1.x.lan dc1\n")
    node = FakeSmbclientNode()
    session = HostSideSession(node, HostView(OverlayTree([tmp_path]), os.getpid()))
    asked: list[str] = []

    def no_share(netns: object, address: str, share: str, *a: object, **kw: object) -> object:
        asked.append(f"//{address}/{share}")
        from tai_labs.providers.smbprobe import SmbAttempt

        return SmbAttempt(1, "", "tree connect failed: NT_STATUS_BAD_NETWORK_NAME\n")

    monkeypatch.setattr("tai_labs.sessions.hostside.smb_access", no_share)
    plugin = CHECKS.get("probe.smb")
    params = plugin.Params.model_validate(
        {"share": "//dc1.x.lan/compta", "user": "jdupont", "password": PASSWORD, "access": "write"}
    )
    ev = plugin().collect(session, params)
    judgement = plugin().judge(ev, params)
    assert judgement.verdict is Verdict.FAIL, judgement
    assert asked == ["//192.168.10.10/compta"]  # resolved from pc1's hosts file, by the host
    assert node.asked == []
    assert ev.commands[0].source == "host" and "jury: dc1.x.lan -> 192.168.10.10" in (
        ev.commands[0].stderr
    )
