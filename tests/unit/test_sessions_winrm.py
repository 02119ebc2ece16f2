"""WinRmSession against recorded WS-Management exchanges: no Windows machine runs here.

The responses replayed below are the ones pywinrm's own test suite records from a Windows
host (winrm/tests/conftest.py: open shell, command, receive with stdout, receive with a
CLIXML Write-Error, signal, delete), trimmed to what the client parses, with the stdout
payload replaced by our own base64 text. A fake transport returns them in order and keeps
the requests, so the tests check what would be sent to Windows and how answers are read.
They do not prove behaviour against a live WinRM service.
"""

from __future__ import annotations

import base64
import re

import pytest

from tai_labs.sessions.base import SessionError
from tai_labs.sessions.winrm import WinRmSession, admin_session, clean_clixml, encoded_command

winrm = pytest.importorskip("winrm")

NS = (
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" '
    'xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
    'xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer"'
)
SHELL = "11111111-1111-1111-1111-111111111113"
CMD = "11111111-1111-1111-1111-111111111114"
DONE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"
RUNNING = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Running"


def _env(body: str) -> str:
    head = f'<?xml version="1.0" ?><s:Envelope xml:lang="en-US" {NS}><s:Header/>'
    return f"{head}<s:Body>{body}</s:Body></s:Envelope>"


OPEN_SHELL = _env(
    "<x:ResourceCreated><a:ReferenceParameters><w:SelectorSet>"
    f'<w:Selector Name="ShellId">{SHELL}</w:Selector>'
    "</w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>"
)
COMMAND = _env(f"<rsp:CommandResponse><rsp:CommandId>{CMD}</rsp:CommandId></rsp:CommandResponse>")
SIGNAL = _env("<rsp:SignalResponse/>")
DELETE = _env("")
#: pywinrm's recorded stderr of `Write-Error "Error"` (CLIXML), exit code 1.
WRITE_ERROR_STDERR = [
    "IzwgQ0xJWE1MDQo=",
    "PE9ianMgVmVyc2lvbj0iMS4xLjAuMSIgeG1sbnM9Imh0dHA6Ly9zY2hlbWFzLm1pY3Jvc29mdC5jb20vcG93ZXJzaGVsbC8yMDA0LzA0Ij48UyBTPSJFcnJvciI+V3JpdGUtRXJyb3IgIkVycm9yIiA6IEVycm9yX3gwMDBEX194MDAwQV88L1M+PFMgUz0iRXJyb3IiPiAgICArIENhdGVnb3J5SW5mbyAgICAgICAgICA6IE5vdFNwZWNpZmllZDogKDopIFtXcml0ZS1FcnJvcl0sIFdyaXRlRXJyb3JFeGNlcCBfeDAwMERfX3gwMDBBXzwvUz48UyBTPSJFcnJvciI+ICAgdGlvbl94MDAwRF9feDAwMEFfPC9TPjxTIFM9IkVycm9yIj4gICAgKyBGdWxseVF1YWxpZmllZEVycm9ySWQgOiBNaWNyb3NvZnQuUG93ZXJTaGVsbC5Db21tYW5kcy5Xcml0ZUVycm9yRXhjZXB0aW8gX3gwMDBEX194MDAwQV88L1M+PFMgUz0iRXJyb3IiPiAgIG5feDAwMERfX3gwMDBBXzwvUz48UyBTPSJFcnJvciI+IF94MDAwRF9feDAwMEFfPC9TPjwvT2Jqcz4=",
]  # fmt: skip


def receive(stdout: str = "", stderr: list[str] | None = None, rc: int | None = 0) -> str:
    streams = ""
    if stdout:
        data = base64.b64encode(stdout.encode()).decode()
        streams += f'<rsp:Stream CommandId="{CMD}" Name="stdout">{data}</rsp:Stream>'
    for chunk in stderr or []:
        streams += f'<rsp:Stream CommandId="{CMD}" Name="stderr">{chunk}</rsp:Stream>'
    if rc is None:
        state = f'<rsp:CommandState CommandId="{CMD}" State="{RUNNING}"/>'
    else:
        state = (
            f'<rsp:CommandState CommandId="{CMD}" State="{DONE}">'
            f"<rsp:ExitCode>{rc}</rsp:ExitCode></rsp:CommandState>"
        )
    return _env(f"<rsp:ReceiveResponse>{streams}{state}</rsp:ReceiveResponse>")


class ReplayTransport:
    """Stands in for pywinrm's HTTP transport: answers each request with the next recording."""

    def __init__(self, responses: list[str]) -> None:
        self.responses = list(responses)
        self.requests: list[str] = []

    def send_message(self, message: str) -> bytes:
        self.requests.append(message)
        if not self.responses:
            raise AssertionError(f"unexpected request:\n{message[:400]}")
        return self.responses.pop(0).encode()

    def close_session(self) -> None:
        pass


def session_with(responses: list[str]) -> tuple[WinRmSession, ReplayTransport]:
    protocol = winrm.protocol.Protocol(
        endpoint="https://win1:5986/wsman", transport="ntlm", username="u", password="p",
        server_cert_validation="ignore",
    )  # fmt: skip
    replay = ReplayTransport(responses)
    protocol.transport = replay
    return WinRmSession("win1", "win1", username="u", password="p", protocol=protocol), replay


def sent_script(request: str) -> str:
    """The PowerShell script inside a recorded Command request (-EncodedCommand payload)."""
    match = re.search(r"-EncodedCommand ([A-Za-z0-9+/=]+)", request)
    assert match, request
    return base64.b64decode(match.group(1)).decode("utf-16-le")


def test_recorded_winrm_run_ps_binds_parameters_as_literals() -> None:
    session, replay = session_with([OPEN_SHELL, COMMAND, receive("clara.petit\r\n"), SIGNAL])
    result = session.run_ps(
        "Get-ADUser -Identity $login | Select-Object -ExpandProperty SamAccountName",
        {"login": "o'brien$(Stop-Computer)", "ou": "Siège\nX"},
    )
    assert (result.rc, result.stdout) == (0, "clara.petit\r\n")
    script = sent_script(replay.requests[1])
    assert "$login = 'o''brien$(Stop-Computer)'\n" in script
    assert "$ou = 'Siège\nX'\n" in script
    assert script.endswith(
        "Get-ADUser -Identity $login | Select-Object -ExpandProperty SamAccountName"
    )
    assert "o'brien" not in script.replace("o''brien", "")  # never spliced unquoted
    assert "powershell.exe -NoProfile -NonInteractive -EncodedCommand" in replay.requests[1]


def test_recorded_winrm_shell_reused_and_closed() -> None:
    session, replay = session_with(
        [OPEN_SHELL, COMMAND, receive("1"), SIGNAL, COMMAND, receive("2"), SIGNAL, DELETE]
    )
    assert session.run_ps("1").stdout == "1"
    assert session.run_ps("2").stdout == "2"
    session.close()
    actions = [
        re.search(r"<a:Action[^>]*>([^<]+)<", r).group(1).rsplit("/", 1)[-1]
        for r in replay.requests
    ]  # type: ignore[union-attr]
    assert actions == [
        "Create",
        "Command",
        "Receive",
        "Signal",
        "Command",
        "Receive",
        "Signal",
        "Delete",
    ]


def test_recorded_winrm_write_error_gives_rc1_and_clean_stderr() -> None:
    session, _ = session_with(
        [OPEN_SHELL, COMMAND, receive(stderr=WRITE_ERROR_STDERR, rc=1), SIGNAL]
    )
    result = session.run_ps('Write-Error "Error"')
    assert result.rc == 1
    assert result.stderr.startswith('Write-Error "Error" : Error')
    assert "CLIXML" not in result.stderr


def test_recorded_winrm_output_in_several_receives() -> None:
    session, _ = session_with(
        [OPEN_SHELL, COMMAND, receive("part1 ", rc=None), receive("part2"), SIGNAL]
    )
    assert session.run_ps("x").stdout == "part1 part2"


def test_recorded_winrm_run_quotes_argv() -> None:
    session, replay = session_with([OPEN_SHELL, COMMAND, receive("ok"), SIGNAL])
    result = session.run(["net", "user", "o'brien", "$x; Remove-Item C:\\"])
    script = sent_script(replay.requests[1])
    assert "& 'net' 'user' 'o''brien' '$x; Remove-Item C:\\'\n" in script
    assert result.command.startswith("& 'net' 'user'")


def test_recorded_winrm_timeout_is_session_error(monkeypatch: pytest.MonkeyPatch) -> None:
    session, _ = session_with([OPEN_SHELL, COMMAND] + [receive(rc=None)] * 50 + [SIGNAL] * 2)
    clock = iter(range(0, 1000, 10))
    monkeypatch.setattr("tai_labs.sessions.winrm.time.monotonic", lambda: float(next(clock)))
    with pytest.raises(SessionError, match="did not finish within 15 s"):
        session.run_ps("Start-Sleep 999", timeout=15)


def test_recorded_winrm_unreachable_is_session_error() -> None:
    class Down(ReplayTransport):
        def send_message(self, message: str) -> bytes:
            raise winrm.exceptions.WinRMTransportError("http", 500, "connection refused")

    session, _ = session_with([])
    session._protocol.transport = Down([])
    with pytest.raises(SessionError, match="win1: WinRM to win1:5986 failed"):
        session.run_ps("x")


def test_clixml_and_encoding_helpers() -> None:
    assert clean_clixml("plain error") == "plain error"
    line = encoded_command("Write-Output 'é'")
    assert base64.b64decode(line.rsplit(" ", 1)[1]).decode("utf-16-le") == "Write-Output 'é'"


def test_admin_session_is_the_one_opener() -> None:
    # The grading pool, the Windows role and faults all log in this way.
    session = admin_session("win1", "100.64.0.21", "S3cret-admin", connect_timeout=12.0)
    assert (session.node, session.host, session.port) == ("win1", "100.64.0.21", 5986)
    assert (session.username, session.connect_timeout) == ("Administrator", 12.0)
    for missing in (None, ""):
        with pytest.raises(SessionError, match="win1: the lab has no admin_password"):
            admin_session("win1", "100.64.0.21", missing)
