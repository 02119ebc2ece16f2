"""linux.file's template renders in the loader's bounded sandbox (no lab: a fake node).

A hostile shared scenario's template must not hang lab setup or reach Python's objects; a
normal one renders as before; every error names the node and the template's file and line.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jinja2
import pytest

from tai_labs.actions.base import ACTIONS
from tai_labs.context import NodeContext, stdin_to_file_argv
from tai_labs.errors import TaiLabsError
from tai_labs.providers.base import ExecResult
from tai_labs.scenario.model import Node


class FakeNode:
    def __init__(self) -> None:
        self.ran: list[tuple[list[str], object]] = []

    def __call__(self, argv: Sequence[str], input: object, timeout: object) -> ExecResult:
        self.ran.append((list(argv), input))
        return ExecResult(0, "", "")


def write(tmp_path: Path, template: str, **variables: Any) -> FakeNode:
    (tmp_path / "motd.j2").write_text(template)
    node = FakeNode()
    ctx = NodeContext(
        "lab",
        Node.model_validate({"name": "pc1", "kind": "linux-client"}),
        SimpleNamespace(),  # type: ignore[arg-type]
        variables,
        node,
        ipaddress.IPv4Address("100.64.0.2"),
        folder=tmp_path,
    )
    cls = ACTIONS.get("linux.file")
    cls().run(ctx, cls.Params(path="/etc/motd", template="motd.j2"))
    return node


NORMAL = (
    "Bienvenue chez {{ company }}\n"
    "{% for user in users %}- {{ user | upper }}\n{% endfor %}"
    "{{ '%04d' | format(asset) }}\n"
)


def test_a_normal_template_renders_as_before(tmp_path: Path) -> None:
    variables = {"company": "Dupuis", "users": ["ana", "léo"], "asset": 42}
    node = write(tmp_path, NORMAL, **variables)
    writes = stdin_to_file_argv("/etc/motd", "0644")[:3]  # the file written from stdin
    installed = [input for argv, input in node.ran if argv[:3] == writes]
    # What the plain sandbox rendered before this change, byte for byte.
    before = jinja2.sandbox.ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True
    )
    assert installed == [before.from_string(NORMAL).render(**variables)]
    assert installed == ["Bienvenue chez Dupuis\n- ANA\n- LÉO\n0042\n"]


def test_a_template_that_loops_too_long_is_stopped(tmp_path: Path) -> None:
    looping = (
        "line 1\n{% for i in range(10**5) %}{% for j in range(10**5) %}{% endfor %}{% endfor %}"
    )
    started = time.monotonic()
    with pytest.raises(TaiLabsError) as caught:
        write(tmp_path, looping)
    assert time.monotonic() - started < 5
    message = caught.value.message
    assert message.startswith(f"pc1: {tmp_path / 'motd.j2'}:2: ")
    assert "ran too long" in message


def test_an_attribute_escape_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TaiLabsError) as caught:
        write(tmp_path, "ok\n{{ ''.__class__.__mro__[1].__subclasses__() }}\n")
    message = caught.value.message
    assert message.startswith(f"pc1: {tmp_path / 'motd.j2'}:2: ")
    assert "unsafe" in message  # jinja2's sandbox: "access to attribute '__class__' ... unsafe"


def test_a_huge_output_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TaiLabsError, match=r"pc1: .*motd\.j2.*template limit"):
        write(tmp_path, "{{ 'x' * 10**9 }}")


def test_a_broken_template_names_its_line(tmp_path: Path) -> None:
    with pytest.raises(TaiLabsError, match=r"pc1: .*motd\.j2:3: template syntax error"):
        write(tmp_path, "a\nb\n{% if %}\n")


def test_an_unreadable_template_names_the_node_and_file(tmp_path: Path) -> None:
    (tmp_path / "motd.j2").write_bytes(b"\xff\xfe")
    with pytest.raises(TaiLabsError, match=r"pc1: .*motd\.j2.*not UTF-8"):
        cls = ACTIONS.get("linux.file")
        ctx = NodeContext(
            "lab",
            Node.model_validate({"name": "pc1", "kind": "linux-client"}),
            SimpleNamespace(),  # type: ignore[arg-type]
            {},
            FakeNode(),
            ipaddress.IPv4Address("100.64.0.2"),
            folder=tmp_path,
        )
        cls().run(ctx, cls.Params(path="/etc/motd", template="motd.j2"))
