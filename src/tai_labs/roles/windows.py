"""The ``windows-client`` / ``windows-server`` role: the lab's password, and WinRM kept reachable.

Kept thin: no Windows machine runs where this is developed, so the role is one PowerShell
script sent over the QEMU guest agent (the engine's exec: no network needed) and a WinRM
probe, tested only against fakes. The engine has already set each NIC's address and the
computer name when the VM started; the image build (``tai_labs.images.windows``) set up the
WinRM HTTPS listener and its firewall rule, which the script only re-asserts.

How values travel: the scripts are constants passed as ``-EncodedCommand`` (see
``providers.windows_guest.powershell_argv``); the password comes on stdin, read whole by the
script (``[Console]::In.ReadToEnd()``): it is never part of the script text (which script
block logging may record) nor of a command line.

Domain membership: the scenario model does not say which nodes belong to the directory
(Linux clients do not join either), so the role joins nothing; see docs/roles.md.
"""

from __future__ import annotations

import json
from typing import ClassVar

from tai_labs.context import NodeContext
from tai_labs.errors import TaiLabsError
from tai_labs.providers.base import ExecResult
from tai_labs.providers.windows_guest import powershell_argv
from tai_labs.roles.ad_plan import password_problem
from tai_labs.roles.base import Role, RoleError, register_role, wait_until
from tai_labs.sessions.base import SessionError
from tai_labs.sessions.winrm import WINRM_HTTPS_PORT, admin_session

#: The built-in administrator, as the image's meta.json ``access.user`` names it.
ADMIN_USER = "Administrator"
#: The firewall rule the image build creates for WinRM over HTTPS.
FIREWALL_RULE = "tai-labs-winrm-https"
#: The line the provision script prints last: this prefix, then one JSON object.
RESULT_PREFIX = "TAI-LABS-RESULT "
#: What the script may report per item; anything but "kept" is a change it made.
OUTCOMES = {
    "account": ("kept", "enabled"),
    "password": ("kept", "set"),
    "service": ("kept", "started"),
    "listener": ("kept", "created"),
    "firewall": ("kept", "created", "enabled"),
}

#: The whole provision, a constant. Values are literals that tests pin to the constants
#: above (port, user, rule); the password is read from stdin.
PROVISION_SCRIPT = r"""& {
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
# The password: all of stdin, without the final newline. Read first.
$plain = [Console]::In.ReadToEnd().TrimEnd("`r", "`n")
if ($plain -eq '') {
    [Console]::Error.WriteLine('tai-labs: no password on stdin')
    exit 2
}
$result = [ordered]@{}
try {
    # The built-in administrator (RID 500), whatever the install language named it.
    $admin = Get-LocalUser | Where-Object { $_.SID.Value -like 'S-1-5-21-*-500' }
    if ($admin.Name -ne 'Administrator') {
        throw "the built-in administrator is named '$($admin.Name)', not 'Administrator'"
    }
    $result.account = 'kept'
    if (-not $admin.Enabled) {
        Enable-LocalUser -SID $admin.SID
        $result.account = 'enabled'
    }
    # A logon attempt tells whether the password is already the lab's (if it cannot tell,
    # the password is set again: harmless).
    Add-Type -AssemblyName System.DirectoryServices.AccountManagement
    $machine = New-Object System.DirectoryServices.AccountManagement.PrincipalContext 'Machine'
    $same = $false
    try { $same = $machine.ValidateCredentials($admin.Name, $plain) } catch { $same = $false }
    $result.password = 'kept'
    if (-not $same) {
        $secure = ConvertTo-SecureString -String $plain -AsPlainText -Force
        Set-LocalUser -SID $admin.SID -Password $secure
        $result.password = 'set'
    }
    $plain = $null
    $result.service = 'kept'
    $winrm = Get-Service -Name WinRM
    if ($winrm.StartType -ne 'Automatic') { Set-Service -Name WinRM -StartupType Automatic }
    if ($winrm.Status -ne 'Running') {
        Start-Service -Name WinRM
        $result.service = 'started'
    }
    # An HTTPS listener on 5986 whose certificate is still there, as the image build left it.
    $uri = 'winrm/config/Listener'
    $https = @(Get-WSManInstance -ResourceURI $uri -Enumerate |
        Where-Object { $_.Transport -eq 'HTTPS' })
    $good = @($https | Where-Object {
        ($_.Port -eq '5986') -and
            (Test-Path ('Cert:\LocalMachine\My\' + $_.CertificateThumbprint))
    })
    $result.listener = 'kept'
    if ($good.Count -eq 0) {
        foreach ($old in $https) {
            $selector = @{ Address = $old.Address; Transport = 'HTTPS' }
            Remove-WSManInstance -ResourceURI $uri -SelectorSet $selector
        }
        $cert = New-SelfSignedCertificate -DnsName $env:COMPUTERNAME `
            -CertStoreLocation 'Cert:\LocalMachine\My' -NotAfter (Get-Date).AddYears(10)
        $values = @{
            Hostname = $env:COMPUTERNAME
            CertificateThumbprint = $cert.Thumbprint
            Port = '5986'
        }
        $selector = @{ Address = '*'; Transport = 'HTTPS' }
        New-WSManInstance -ResourceURI $uri -SelectorSet $selector -ValueSet $values | Out-Null
        $result.listener = 'created'
    }
    $rule = Get-NetFirewallRule -Name 'tai-labs-winrm-https' -ErrorAction SilentlyContinue
    $result.firewall = 'kept'
    if (-not $rule) {
        New-NetFirewallRule -Name 'tai-labs-winrm-https' `
            -DisplayName 'WinRM over HTTPS (tai-labs)' -Direction Inbound -Protocol TCP `
            -LocalPort 5986 -Action Allow -Profile Any | Out-Null
        $result.firewall = 'created'
    } elseif ($rule.Enabled -ne 'True') {
        Enable-NetFirewallRule -Name 'tai-labs-winrm-https'
        $result.firewall = 'enabled'
    }
    [Console]::Out.WriteLine('TAI-LABS-RESULT ' + ($result | ConvertTo-Json -Compress))
} catch {
    [Console]::Error.WriteLine('tai-labs: ' + $_.Exception.Message)
    exit 1
}
exit 0
}
"""

#: Run after a revert: the guest agent starts a process and gets its output back.
PROBE_SCRIPT = "Write-Output 'tai-labs-ready'\n"
#: Asked over WinRM to prove a session works.
WINRM_PROBE = "$env:COMPUTERNAME"


#: The certificate of the HTTPS listener on 5986, as PEM: the lab pins it.
WINRM_CERT_SCRIPT = r"""
$uri = 'winrm/config/Listener'
$https = @(Get-WSManInstance -ResourceURI $uri -Enumerate |
    Where-Object { ($_.Transport -eq 'HTTPS') -and ($_.Port -eq '5986') })
$cert = Get-Item ('Cert:\LocalMachine\My\' + $https[0].CertificateThumbprint)
[Console]::Out.WriteLine('-----BEGIN CERTIFICATE-----')
[Console]::Out.WriteLine([Convert]::ToBase64String($cert.RawData, 'InsertLineBreaks'))
[Console]::Out.WriteLine('-----END CERTIFICATE-----')
"""

#: argv of each run: a constant script, encoded; no value on the command line.
PROVISION_ARGV = tuple(powershell_argv(PROVISION_SCRIPT))
PROBE_ARGV = tuple(powershell_argv(PROBE_SCRIPT))
WINRM_CERT_ARGV = tuple(powershell_argv(WINRM_CERT_SCRIPT))


def provision_input(password: str) -> str:
    """Stdin of the provision run: the password alone."""
    return password + "\n"


def check_password(node: str, password: str) -> None:
    """Refuse what stdin would garble or Windows' complexity rule refuses (never shown)."""
    # Windows PowerShell reads stdin in the OEM code page: only ASCII arrives unchanged.
    if not all(" " <= c <= "~" for c in password):
        raise RoleError(
            f"{node}: the lab's admin_password must be printable ASCII for a Windows node"
        )
    problem = password_problem(password, ADMIN_USER)
    if problem:
        raise RoleError(f"{node}: Windows would refuse the lab's admin_password: {problem}")


def parse_result(node: str, result: ExecResult, password: str) -> dict[str, str]:
    """The script's report per item; RoleError (the password masked) if it failed."""
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    if result.rc != 0 or not lines:
        detail = (result.stderr or result.stdout).strip()[-500:] or "no output"
        raise RoleError(
            f"{node}: provisioning PowerShell failed (rc={result.rc}): "
            + detail.replace(password, "***")
        )
    try:
        report = json.loads(lines[-1][len(RESULT_PREFIX) :])
    except ValueError:
        report = None
    if not isinstance(report, dict) or any(
        report.get(key) not in allowed for key, allowed in OUTCOMES.items()
    ):
        raise RoleError(f"{node}: unexpected provisioning report: {lines[-1][:200]!r}")
    return {key: str(report[key]) for key in OUTCOMES}


def admin_password(ctx: NodeContext) -> str:
    """The lab's ``admin_password`` secret, which the grading sessions log in with."""
    password = ctx.secrets.get("admin_password")
    if not password:
        raise RoleError(
            f"{ctx.node.name}: the lab has no 'admin_password' secret for the Windows login",
            hint="declare the variable admin_password with `secret: {length: 20}`",
        )
    return password


@register_role
class WindowsRole(Role):
    """A Windows VM whose built-in Administrator has the lab's password, reachable over WinRM.

    ``wait_ready`` logs in over WinRM (NTLM, HTTPS) as the local ``Administrator``: the node
    is in no domain, so that is the account the password was set on.
    """

    name = "windows"
    #: Windows services settle slowly on 2 cores; a WinRM attempt alone may take 30 s.
    ready_timeout: ClassVar[float] = 300.0
    #: Seconds between readiness attempts.
    poll_every: ClassVar[float] = 5.0

    def __init__(self) -> None:
        #: What the last provision changed (items of OUTCOMES not "kept").
        self.changes: list[str] = []

    def provision(self, ctx: NodeContext) -> None:
        password = admin_password(ctx)
        check_password(ctx.node.name, password)
        result = ctx.exec(PROVISION_ARGV, provision_input(password), 300.0)
        report = parse_result(ctx.node.name, result, password)
        self.changes = [key for key, outcome in report.items() if outcome != "kept"]

    def wait_ready(self, ctx: NodeContext) -> None:
        password = admin_password(ctx)
        address = str(ctx.mgmt_address)

        def probe() -> tuple[bool, str]:
            session = admin_session(ctx.node.name, address, password)
            try:
                res = session.run_ps(WINRM_PROBE, timeout=30.0)
            except SessionError as exc:
                return False, exc.message
            finally:
                session.close()
            if not res.ok or not res.stdout.strip():
                return False, f"rc={res.rc}: {(res.stderr or res.stdout).strip()[-200:]}"
            return True, res.stdout.strip()

        wait_until(
            probe,
            node=ctx.node.name,
            what=f"a WinRM session as {ADMIN_USER} to {address}:{WINRM_HTTPS_PORT}",
            timeout=self.ready_timeout,
            every=self.poll_every,
        )

    def tls_certificates(self, ctx: NodeContext) -> dict[str, str]:
        # Through the guest agent, not WinRM: what the network shows is what is checked.
        res = ctx.exec(WINRM_CERT_ARGV, None, 60.0)
        if not res.ok or "BEGIN CERTIFICATE" not in res.stdout:
            detail = (res.stderr or res.stdout).strip()[-300:]
            raise RoleError(f"{ctx.node.name}: cannot read the WinRM certificate: {detail}")
        return {"winrm": res.stdout}

    def wait_started(self, ctx: NodeContext) -> None:
        def probe() -> tuple[bool, str]:
            try:
                res = ctx.exec(PROBE_ARGV, None, 60.0)
            except TaiLabsError as exc:  # the agent is not up yet: engine errors
                return False, exc.message
            ok = res.ok and "tai-labs-ready" in res.stdout
            return ok, f"rc={res.rc}: {(res.stderr or res.stdout).strip()[-200:]}"

        wait_until(
            probe,
            node=ctx.node.name,
            what="the QEMU guest agent to run PowerShell",
            timeout=self.ready_timeout,
            every=self.poll_every,
        )


__all__ = [
    "PROBE_ARGV",
    "PROVISION_ARGV",
    "PROVISION_SCRIPT",
    "WindowsRole",
    "check_password",
    "parse_result",
    "provision_input",
]
