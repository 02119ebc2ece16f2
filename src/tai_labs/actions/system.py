"""Actions on Linux and Windows nodes: commands, files, services, packages, users."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator

from tai_labs.actions.base import Action, register_action
from tai_labs.context import NodeContext, powershell, stdin_to_file_argv
from tai_labs.errors import TaiLabsError
from tai_labs.kinds import kinds_where
from tai_labs.plugins import PluginParams
from tai_labs.providers.networkd import NETWORKD_DIR, network_unit
from tai_labs.sessions.quoting import ps_variable

LINUX = kinds_where(linux=True)
WINDOWS = kinds_where(windows=True)
#: PowerShell's automatic variables a step could think it sets (its own values would win,
#: or the assignment would fail): refused as parameter names.
PS_AUTOMATIC = frozenset(
    {
        "_", "args", "error", "executioncontext", "false", "foreach", "home", "host", "input",
        "lastexitcode", "matches", "myinvocation", "null", "pid", "profile", "psboundparameters",
        "pscmdlet", "pscommandpath", "pshome", "psitem", "psscriptroot", "psversiontable",
        "shellid", "this", "true",
    }
)  # fmt: skip


@register_action
class Exec(Action["Exec.Params"]):
    name = "linux.exec"
    summary = "Run a command given as an argument list (no shell: values are never re-parsed)"
    node_kinds = LINUX

    class Params(PluginParams):
        argv: list[str] = Field(min_length=1)
        input: str | None = None
        ok_codes: list[int] = [0]

    def run(self, ctx: NodeContext, params: Params) -> None:
        result = ctx.run(params.argv, input=params.input, check=False)
        if result.rc not in params.ok_codes:
            raise TaiLabsError(
                f"{ctx.node.name}: {params.argv[0]} exited with {result.rc}: "
                f"{(result.stderr or result.stdout).strip()[-300:]}"
            )


@register_action
class WriteFile(Action["WriteFile.Params"]):
    name = "linux.file"
    summary = "Write a file (content rendered with the lab's variables), with mode and owner"
    node_kinds = LINUX

    class Params(PluginParams):
        path: str = Field(pattern=r"^/")
        content: str | None = None
        template: str | None = Field(default=None, description="a jinja2 file beside scenario.yaml")
        mode: str = Field(default="0644", pattern=r"^[0-7]{3,4}$")
        owner: str = "root"
        group: str = "root"
        state: Literal["present", "absent", "directory"] = "present"

    def run(self, ctx: NodeContext, params: Params) -> None:
        owner = f"{params.owner}:{params.group}"
        if params.state == "absent":
            ctx.run(["rm", "-rf", "--", params.path])
            return
        if params.state == "directory":
            ctx.run(
                [
                    "install",
                    "-d",
                    "-m",
                    params.mode,
                    "-o",
                    params.owner,
                    "-g",
                    params.group,
                    params.path,
                ]
            )
            return
        content = params.content
        if params.template is not None:
            content = _render_template(ctx, params.template)
        if content is None:
            raise TaiLabsError(
                f"{ctx.node.name}: linux.file {params.path} needs content or template"
            )
        ctx.run(stdin_to_file_argv(params.path, params.mode), input=content)
        ctx.run(["chown", owner, params.path])


@register_action
class Service(Action["Service.Params"]):
    name = "linux.service"
    summary = "Start, stop or restart a systemd unit, and enable or disable it"
    node_kinds = LINUX

    class Params(PluginParams):
        service: str = Field(pattern=r"^[A-Za-z0-9@._-]+$")
        state: Literal["started", "stopped", "restarted"] | None = None
        enabled: bool | None = None

    def run(self, ctx: NodeContext, params: Params) -> None:
        if params.enabled is not None:
            verb = "enable" if params.enabled else "disable"
            ctx.run(["systemctl", verb, "--", params.service])
        if params.state is not None:
            verb = {"started": "start", "stopped": "stop", "restarted": "restart"}[params.state]
            ctx.run(["systemctl", verb, "--", params.service])


@register_action
class Package(Action["Package.Params"]):
    name = "linux.package"
    summary = "Install or remove Debian packages (from the lab's package cache)"
    node_kinds = LINUX

    class Params(PluginParams):
        packages: list[str] = Field(min_length=1)
        state: Literal["present", "absent"] = "present"

    def run(self, ctx: NodeContext, params: Params) -> None:
        for name in params.packages:
            if name.startswith("-"):
                raise TaiLabsError(f"package name {name!r} must not start with '-'")
        env = ["env", "DEBIAN_FRONTEND=noninteractive"]
        if params.state == "absent":
            ctx.run([*env, "apt-get", "remove", "-y", "--", *params.packages])
            return
        status = ctx.run(
            ["dpkg-query", "-W", "-f", "${Status}\n", "--", *params.packages], check=False
        )
        if status.ok and status.stdout.count("install ok installed") == len(params.packages):
            return
        # Labs have no Internet: this works when the node's apt sources can serve them.
        ctx.run(
            [*env, "apt-get", "install", "-y", "--no-install-recommends", "--", *params.packages],
            timeout=600,
        )


@register_action
class User(Action["User.Params"]):
    name = "linux.user"
    summary = "Create or change a local user: groups, password, shell"
    node_kinds = LINUX

    class Params(PluginParams):
        user: str = Field(pattern=r"^[a-z_][a-z0-9_.-]{0,31}$")
        groups: list[str] = []
        password: str | None = None
        state: Literal["present", "absent"] = "present"

    def run(self, ctx: NodeContext, params: Params) -> None:
        exists = ctx.run(["id", "-u", "--", params.user], check=False).ok
        if params.state == "absent":
            if exists:
                ctx.run(["userdel", "-r", "--", params.user])
            return
        if not exists:
            ctx.run(["useradd", "-m", "-s", "/bin/bash", "--", params.user])
        for group in params.groups:
            ctx.run(["usermod", "-a", "-G", group, "--", params.user])
        if params.password is not None:
            # chpasswd reads "user:password" on stdin: the password is on no command line.
            ctx.run(["chpasswd"], input=f"{params.user}:{params.password}\n")


@register_action
class PowerShell(Action["PowerShell.Params"]):
    name = "windows.powershell"
    summary = "Run a PowerShell script with named parameters (quoted by the WinRM session)"
    node_kinds = WINDOWS

    class Params(PluginParams):
        script: str = Field(min_length=1)
        parameters: dict[str, str] = Field(
            default={}, description="bound as quoted $name variables before the script"
        )
        timeout: float = Field(default=300.0, gt=0, le=3600, description="seconds")

        @field_validator("parameters")
        @classmethod
        def _names(cls, value: dict[str, str]) -> dict[str, str]:
            for name in value:
                ps_variable(name)  # ValueError for anything but an identifier
                if name.lower() in PS_AUTOMATIC:
                    raise ValueError(f"${name} is one of PowerShell's own variables")
            return value

    def run(self, ctx: NodeContext, params: Params) -> None:
        with powershell(ctx) as session:
            result = session.run_ps(params.script, params.parameters, timeout=params.timeout)
        if not result.ok:
            raise TaiLabsError(
                f"{ctx.node.name}: the PowerShell step failed (rc {result.rc}): "
                f"{(result.stderr or result.stdout).strip()[-300:]}"
            )


@register_action
class Network(Action["Network.Params"]):
    name = "linux.network"
    summary = "Set an interface's static address, gateway and DNS the way the image configures it"
    node_kinds = LINUX

    class Params(PluginParams):
        interface: str = Field(pattern=r"^eth[1-9][0-9]?$")
        address: ipaddress.IPv4Interface
        gateway: ipaddress.IPv4Address | None = None
        dns: list[ipaddress.IPv4Address] = []

    def run(self, ctx: NodeContext, params: Params) -> None:
        unit = network_unit(
            params.interface, address=params.address, gateway=params.gateway, dns=params.dns
        )
        ctx.write_file(f"{NETWORKD_DIR}/10-tai-labs-{params.interface}.network", unit)
        # Drop whatever the interface had (a wrong address from a fault) and apply the file.
        ctx.run(["ip", "addr", "flush", "dev", params.interface])
        ctx.run(["networkctl", "reload"])
        ctx.run(["networkctl", "reconfigure", params.interface])


def _render_template(ctx: NodeContext, name: str) -> str:
    """The step's template file, rendered in the loader's bounded sandbox (scenario.render):
    a shared scenario's template cannot loop for ever, grow without end or reach Python's
    objects at lab setup; its errors name the node and the file's line."""
    import jinja2

    from tai_labs.scenario.diagnostics import ScenarioError
    from tai_labs.scenario.render import (
        TEMPLATE_HINT,
        describe_template_error,
        error_line,
        make_environment,
        render_template,
    )
    from tai_labs.scenario.source import read_text

    if ctx.folder is None:
        raise TaiLabsError(f"{ctx.node.name}: template {name!r} given but no scenario folder")
    file = ctx.folder / name
    try:
        text = read_text(file)  # UTF-8, at most MAX_FILE_BYTES
        return render_template(make_environment(), text, ctx.variables)
    except ScenarioError as exc:
        problem = "; ".join(d.format() for d in exc.diagnostics)
        raise TaiLabsError(f"{ctx.node.name}: {problem}") from None
    except jinja2.TemplateError as exc:
        line = error_line(exc)
        where = f"{file}:{line}" if line else str(file)
        raise TaiLabsError(
            f"{ctx.node.name}: {where}: {describe_template_error(exc)}", hint=TEMPLATE_HINT
        ) from None
