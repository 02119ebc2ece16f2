"""Passwords travel on standard input, never in a command line (`ps` shows command lines, in
the node and on the host, where lxc-attach carries them).

What the actions and the DC role build is checked on a fake node that records each argv and
its input; the shipped scenarios' steps are checked with real generated secrets; and
``NodeContext.run`` refuses, without running it, any command line that holds a lab secret.
The same steps on a real Samba DC: tests/integration/test_actions_ad.py (not run here).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tai_labs.actions.base import ACTIONS
from tai_labs.context import NodeContext, NodeError
from tai_labs.lab.secrets import LabSecrets
from tai_labs.locations import locations
from tai_labs.providers.base import ExecResult
from tai_labs.scenario.loader import load_scenario
from tai_labs.scenario.model import AdUser, Node

PASSWORD = "Pr0visoire-2026x!"
ADMIN = "Adm1n-Secret-42x"
GUID = "01234567-89ab-cdef-0123-456789abcdef"


class FakeNode:
    """Records (argv, input) of every command; answers `samba-tool user show` as asked."""

    def __init__(self, user_exists: bool = False) -> None:
        self.user_exists = user_exists
        self.ran: list[tuple[list[str], str | bytes | None]] = []

    def __call__(
        self, argv: Sequence[str], input: str | bytes | None, timeout: float | None
    ) -> ExecResult:
        self.ran.append((list(argv), input))
        if argv[:3] == ["samba-tool", "user", "create"]:
            self.user_exists = True
        if argv[:3] == ["samba-tool", "user", "show"]:
            if not self.user_exists:
                return ExecResult(255, "", "Unable to find user")
            return ExecResult(0, f"distinguishedName: CN={argv[3]},CN=Users,DC=d,DC=lan\n", "")
        if "gpo" in argv:
            return ExecResult(0, f"GPO 'Fond' created as {{{GUID}}}\n", "")
        return ExecResult(0, "", "")

    def argv_with(self, secret: str) -> list[list[str]]:
        return [argv for argv, _ in self.ran if any(secret in a for a in argv)]

    def inputs(self) -> list[str]:
        return [i if isinstance(i, str) else (i or b"").decode() for _, i in self.ran]


def ctx(node: FakeNode, kind: str = "ad-dc", **secrets: str) -> NodeContext:
    scenario: Any = SimpleNamespace(
        directory=SimpleNamespace(realm="d.lan", netbios="D"), node=lambda name: None
    )
    return NodeContext(
        "abc123",
        Node.model_validate({"name": "dc1", "kind": kind}),
        scenario,
        {},
        node,
        ipaddress.IPv4Address("100.64.0.11"),
        secrets=secrets,
    )


def run(action: str, context: NodeContext, **params: Any) -> None:
    cls = ACTIONS.get(action)
    cls().run(context, cls.Params(**params))


@pytest.mark.parametrize("exists", [False, True], ids=["create", "setpassword"])
def test_ad_user_gives_the_password_on_stdin(exists: bool) -> None:
    node = FakeNode(user_exists=exists)
    run("ad.user", ctx(node), login="bob", password=PASSWORD, must_change_password=True)
    assert node.argv_with(PASSWORD) == []
    verb = "setpassword" if exists else "create"
    (given,) = [i for (argv, i) in node.ran if argv[:3] == ["samba-tool", "user", verb]]
    assert given == f"{PASSWORD}\n{PASSWORD}\n"  # samba-tool asks twice


def test_linux_user_gives_the_password_to_chpasswd_on_stdin() -> None:
    node = FakeNode()
    run("linux.user", ctx(node, kind="linux-server"), user="bob", password=PASSWORD)
    assert node.argv_with(PASSWORD) == []
    assert (["chpasswd"], f"bob:{PASSWORD}\n") in node.ran


def test_gpo_create_reads_the_administrator_password_from_stdin() -> None:
    from tai_labs.actions.directory import _create_gpo

    node = FakeNode()
    _create_gpo(ctx(node, admin_password=ADMIN), "Fond", "d.lan")
    assert node.argv_with(ADMIN) == []
    ((argv, given),) = node.ran
    assert argv[:2] == ["env", "PASSWD_FD=0"] and given == f"{ADMIN}\n{ADMIN}\n"


def test_the_dc_role_creates_users_with_the_password_on_stdin() -> None:
    from tai_labs.roles.ad_plan import _create_user

    user = AdUser(login="bob", first="Bob", last="Morane", password=PASSWORD)
    command = _create_user(user)
    assert not any(PASSWORD in a for a in command.argv)
    assert command.input == f"{PASSWORD}\n{PASSWORD}\n"


def test_a_command_line_holding_a_lab_secret_is_refused_and_not_run() -> None:
    node = FakeNode()
    context = ctx(node, kind="linux-server", temp_password=PASSWORD)
    argv = ["samba-tool", "user", "setpassword", "bob", f"--newpassword={PASSWORD}"]
    with pytest.raises(NodeError, match="'temp_password' is in the command line") as info:
        context.run(argv)
    assert node.ran == []
    assert PASSWORD not in str(info.value)  # the message does not leak it either
    context.run(argv[:4], input=f"{PASSWORD}\n{PASSWORD}\n")  # on stdin: fine
    assert len(node.ran) == 1


def test_a_short_secret_is_not_looked_for() -> None:
    node = FakeNode()
    ctx(node, kind="linux-server", pin="42").run(["echo", "42"])
    assert len(node.ran) == 1


def _steps(scenario: Any) -> list[Any]:
    solution = scenario.solution
    steps = [*scenario.setup, *solution.steps]
    for other in [*solution.alternatives, *solution.wrong]:
        steps += other.steps
    return steps


SCENARIOS = sorted(locations().scenarios.glob("*/*/scenario.yaml"))


@pytest.mark.parametrize("file", SCENARIOS, ids=lambda f: f.parent.name)
def test_shipped_steps_put_no_secret_in_a_command_line(file: Path, tmp_path: Path) -> None:
    secrets = LabSecrets(tmp_path)
    loaded = load_scenario(file, candidate="alice", seed=1, lab_id="abc123", secret=secrets.get)
    values = [v for v in secrets.all().values() if len(v) >= 6]
    values += [v for k, v in loaded.variables.items() if "password" in k and isinstance(v, str)]
    for step in _steps(loaded.scenario):
        argv = step.params.get("argv") or []
        leaked = [v for v in values if any(v in str(a) for a in argv)]
        assert leaked == [], f"{file.parent.name}: {step.action} {argv[:3]} holds a secret"
