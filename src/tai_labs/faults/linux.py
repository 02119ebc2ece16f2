"""Faults on Linux nodes: the shared base and helpers (networkd, FRR, files).

The faults themselves are in ``linux_system.py`` and ``linux_network.py``.
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from tai_labs.context import NodeContext
from tai_labs.faults.base import Fault, FaultError
from tai_labs.kinds import kinds_where
from tai_labs.plugins import ParamsT
from tai_labs.scenario.model import NodeKind

# Not the switch, as before kinds became a table (its faults are the net.* ones).
LINUX = kinds_where(linux=True) - {NodeKind.SWITCH}

NETWORKD_DIR = "/etc/systemd/network"
NFT_CONF = "/etc/nftables.conf"
VTYSH = "/usr/bin/vtysh"
#: An interface name as the kernel accepts it (15 characters, no "/" or blank).
IFNAME = r"^[A-Za-z0-9_.@-]{1,15}$"
#: A host name: labels of letters, digits and hyphens (nothing that could add a line).
HOSTNAME = (
    r"^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*$"
)
#: A local user or group name (Debian's adduser default, a bit more lenient).
POSIX_NAME = r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$"


class LinuxFault(Fault[ParamsT]):
    node_kinds = LINUX


# -- helpers shared with the other fault modules -----------------------------------------------


def read_file(ctx: NodeContext, path: str) -> str | None:
    res = ctx.run(["cat", "--", path], check=False)
    return res.stdout if res.ok else None


def write_if_changed(ctx: NodeContext, path: str, content: str, mode: str = "0644") -> bool:
    """Write only when the content differs: a second injection leaves files untouched."""
    if read_file(ctx, path) == content:
        return False
    ctx.write_file(path, content, mode)
    return True


def is_router(ctx: NodeContext) -> bool:
    return ctx.node.kind is NodeKind.ROUTER


def set_ini_key(text: str, section: str, key: str, values: Iterable[str]) -> str:
    """``text`` with every ``key=`` line of ``[section]`` replaced by one line per value.

    The section is created at the end when absent; no value removes the key. Lines of other
    sections (and other keys) are kept as they are, comments included.
    """
    lines = text.splitlines()
    values = list(values)
    header = f"[{section}]"
    start = next((i for i, line in enumerate(lines) if line.strip() == header), None)
    if start is None:
        if not values:
            return text
        body = [*lines]
        if body and body[-1].strip():
            body.append("")
        body += [header, *(f"{key}={v}" for v in values)]
        return "\n".join(body) + "\n"
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i].strip().startswith("[")), len(lines)
    )
    body = lines[start + 1 : end]
    new = [f"{key}={v}" for v in values]

    def is_key(line: str) -> bool:
        return not line.lstrip().startswith(("#", ";")) and line.split("=", 1)[0].strip() == key

    first = next((i for i, line in enumerate(body) if is_key(line)), None)
    if first is None:
        # After the section's last non-blank line, so blank separators stay put.
        first = max((i for i, line in enumerate(body) if line.strip()), default=-1) + 1
    section_body = [line for line in body[:first] if not is_key(line)] + new
    section_body += [line for line in body[first:] if not is_key(line)]
    out = lines[: start + 1] + section_body + lines[end:]
    return "\n".join(out) + "\n"


def ini_values(text: str, section: str, key: str) -> list[str]:
    """Values of ``key`` in ``[section]`` (every occurrence, in order)."""
    current = None
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            current = stripped
        elif current == f"[{section}]" and "=" in stripped and not stripped.startswith("#"):
            k, v = stripped.split("=", 1)
            if k.strip() == key:
                out.append(v.strip())
    return out


def networkd_path(ctx: NodeContext, ifname: str) -> str:
    """The engine's networkd file for ``ifname``; FaultError if the node has none."""
    path = f"{NETWORKD_DIR}/10-tai-labs-{ifname}.network"
    if read_file(ctx, path) is None:
        raise FaultError(
            f"{ctx.node.name}: no networkd file for {ifname} ({path})",
            hint="name a lab interface of the node: eth1, eth2...",
        )
    return path


def edit_networkd(ctx: NodeContext, ifname: str, section: str, key: str, values: list[str]) -> bool:
    """Set a key of the interface's networkd file and apply it; False if it already was."""
    path = networkd_path(ctx, ifname)
    current = read_file(ctx, path) or ""
    wanted = set_ini_key(current, section, key, values)
    if wanted == current:
        return False
    ctx.write_file(path, wanted)
    ctx.run(["networkctl", "reload"])
    # reconfigure drops what the old file set (address, routes) and applies the new one.
    ctx.run(["networkctl", "reconfigure", ifname], check=False)
    # Asynchronous: a check made while networkd is still at it could see the old state.
    settle(lambda: networkd_setup_state(ctx, ifname) not in ("configuring", "pending", ""))
    return True


def networkd_setup_state(ctx: NodeContext, ifname: str) -> str:
    """networkd's SETUP column for the link: configured, configuring, unmanaged..."""
    res = ctx.run(["networkctl", "list", "--no-legend", "--no-pager", ifname], check=False)
    fields = res.stdout.split()
    return fields[4] if len(fields) >= 5 else ""


def settle(probe: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Poll ``probe`` until true (networkd, dnsmasq... apply changes asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        if probe():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)


def link_info(ctx: NodeContext, ifname: str) -> dict[str, Any] | None:
    res = ctx.run(["ip", "-j", "-4", "addr", "show", "dev", ifname], check=False)
    if not res.ok:
        return None
    data = json.loads(res.stdout or "[]")
    return data[0] if data else None


def link_addresses(ctx: NodeContext, ifname: str) -> list[ipaddress.IPv4Interface]:
    info = link_info(ctx, ifname) or {}
    out = []
    for a in info.get("addr_info", []):
        out.append(ipaddress.IPv4Interface(f"{a['local']}/{a['prefixlen']}"))
    return out


def link_is_up(ctx: NodeContext, ifname: str) -> bool:
    res = ctx.run(["ip", "-j", "link", "show", "dev", ifname], check=False)
    if not res.ok:
        raise FaultError(f"{ctx.node.name} has no interface {ifname!r}")
    data = json.loads(res.stdout or "[]")
    return bool(data) and "UP" in data[0].get("flags", [])


def vtysh_config(ctx: NodeContext, lines: list[str]) -> None:
    """Configure FRR as an administrator would, and save it (frr.conf) so it persists."""
    argv = [VTYSH, "-c", "configure terminal"]
    for line in lines:
        argv += ["-c", line]
    argv += ["-c", "end", "-c", "write memory"]
    ctx.run(argv)


def frr_running(ctx: NodeContext) -> str:
    return ctx.run([VTYSH, "-c", "show running-config"]).stdout


def frr_interface_block(running: str, ifname: str) -> list[str]:
    """The stripped lines under ``interface <ifname>`` in FRR's running configuration."""
    out: list[str] = []
    inside = False
    for line in running.splitlines():
        if line.startswith("interface "):
            inside = line.split()[1:2] == [ifname]
            continue
        if inside:
            if not line.startswith(" "):
                inside = False
                continue
            out.append(line.strip())
    return out


# -- faults -------------------------------------------------------------------------------------
