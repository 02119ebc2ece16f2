"""Sessions that record what real nodes answered, and replay it in unit tests.

A capture file (``captured/*.json``) holds one check run on a real lab: the check, its
params, the state of the lab, the verdict seen there, and every call with its answer.
Replaying it runs the check's own ``collect`` against the recorded answers, then ``judge``:
the unit tests judge exactly what a DC, a router or a switch said.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tai_labs.sessions.base import (
    CommandResult,
    CommandSession,
    DeviceSession,
    DirectoryEntry,
    DirectorySession,
    PowerShellSession,
)

CAPTURED = Path(__file__).parent / "captured"


def _result(data: Mapping[str, Any]) -> CommandResult:
    return CommandResult(int(data["rc"]), data["stdout"], data["stderr"], data["command"])


def _dump(result: CommandResult) -> dict[str, Any]:
    return {
        "rc": result.rc,
        "stdout": result.stdout,
        "stderr": result.stderr,
        "command": result.command,
    }


class Recorder:
    """Wraps a real session; ``calls`` keeps each call and answer in capture-file form."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[dict[str, Any]] = []


class RecordingDirectory(Recorder, DirectorySession):
    def __init__(self, inner: DirectorySession) -> None:
        Recorder.__init__(self, inner)
        self.base_dn = inner.base_dn

    def search(
        self,
        base: str,
        ldap_filter: str,
        attributes: Sequence[str],
        *,
        scope: str = "subtree",
        timeout: float = 15.0,
    ) -> list[DirectoryEntry]:
        entries = self.inner.search(base, ldap_filter, attributes, scope=scope, timeout=timeout)
        self.calls.append(
            {
                "search": {
                    "base": base,
                    "filter": ldap_filter,
                    "scope": scope,
                    "attributes": list(attributes),
                },
                "entries": [
                    {"dn": e.dn, "attributes": {k: list(v) for k, v in e.attributes.items()}}
                    for e in entries
                ],
            }
        )
        return entries

    def bind_as(self, user: str, password: str, *, timeout: float = 10.0) -> tuple[bool, str]:
        answer = self.inner.bind_as(user, password, timeout=timeout)
        # The user and the DC's answer, never the password.
        self.calls.append({"bind": {"user": user}, "answer": list(answer)})
        return answer


class RecordingCommand(Recorder, CommandSession):
    shell = "posix"
    transport = "exec"

    def run(
        self, argv: Sequence[str], *, timeout: float = 30.0, input: str | None = None
    ) -> CommandResult:
        result = self.inner.run(argv, timeout=timeout, input=input)
        self.calls.append({"run": list(argv), "result": _dump(result)})
        return result


class RecordingDevice(Recorder, DeviceSession):
    device_type = "cisco_ios"

    def send(self, command: str, *, timeout: float = 30.0) -> CommandResult:
        result = self.inner.send(command, timeout=timeout)
        self.calls.append({"send": command, "result": _dump(result)})
        return result

    def configure(self, lines: Sequence[str], *, timeout: float = 30.0) -> CommandResult:
        raise NotImplementedError

    def save(self, *, timeout: float = 30.0) -> CommandResult:
        raise NotImplementedError


class _Replay:
    def __init__(self, calls: list[dict[str, Any]]) -> None:
        self.calls = list(calls)

    def _next(self, key: str, request: Any) -> dict[str, Any]:
        for i, call in enumerate(self.calls):
            if call.get(key) == request:
                return self.calls.pop(i)
        raise AssertionError(f"no recorded answer for {key} {request!r}")


class ReplayDirectory(_Replay, DirectorySession):
    def __init__(self, calls: list[dict[str, Any]], base_dn: str) -> None:
        _Replay.__init__(self, calls)
        self.base_dn = base_dn
        self.passwords: list[str] = []

    def search(
        self,
        base: str,
        ldap_filter: str,
        attributes: Sequence[str],
        *,
        scope: str = "subtree",
        timeout: float = 15.0,
    ) -> list[DirectoryEntry]:
        request = {
            "base": base,
            "filter": ldap_filter,
            "scope": scope,
            "attributes": list(attributes),
        }
        call = self._next("search", request)
        return [DirectoryEntry(e["dn"], e["attributes"]) for e in call["entries"]]

    def bind_as(self, user: str, password: str, *, timeout: float = 10.0) -> tuple[bool, str]:
        self.passwords.append(password)  # for tests that it shows nowhere
        ok, detail = self._next("bind", {"user": user})["answer"]
        return bool(ok), str(detail)


class ReplayCommand(_Replay, CommandSession):
    shell = "posix"
    transport = "exec"

    def run(
        self, argv: Sequence[str], *, timeout: float = 30.0, input: str | None = None
    ) -> CommandResult:
        return _result(self._next("run", list(argv))["result"])


class ReplayDevice(_Replay, DeviceSession):
    device_type = "cisco_ios"

    def send(self, command: str, *, timeout: float = 30.0) -> CommandResult:
        return _result(self._next("send", command)["result"])

    def configure(self, lines: Sequence[str], *, timeout: float = 30.0) -> CommandResult:
        raise NotImplementedError

    def save(self, *, timeout: float = 30.0) -> CommandResult:
        raise NotImplementedError


class ReplayPowerShell(PowerShellSession):
    """Answers every script with one recorded ConvertTo-Json output."""

    transport = "winrm"

    def __init__(self, stdout: str, rc: int = 0, stderr: str = "") -> None:
        self.answer = (rc, stdout, stderr)
        self.scripts: list[tuple[str, Mapping[str, str] | None]] = []

    def run(
        self, argv: Sequence[str], *, timeout: float = 30.0, input: str | None = None
    ) -> CommandResult:
        raise NotImplementedError

    def run_ps(
        self, script: str, parameters: Mapping[str, str] | None = None, *, timeout: float = 60.0
    ) -> CommandResult:
        self.scripts.append((script, parameters))
        rc, out, err = self.answer
        return CommandResult(rc, out, err, "powershell -Command <script>")


def save_capture(name: str, record: dict[str, Any]) -> Path:
    CAPTURED.mkdir(exist_ok=True)
    path = CAPTURED / f"{name}.json"
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def load_captures(prefix: str) -> list[dict[str, Any]]:
    return [
        {**json.loads(p.read_text(encoding="utf-8")), "file": p.name}
        for p in sorted(CAPTURED.glob(f"{prefix}*.json"))
    ]
