"""Which role serves which node kind (a role's module is imported on first use: roles pull in
their libraries)."""

from __future__ import annotations

from tai_labs.errors import TaiLabsError
from tai_labs.plugins import UnknownPluginError
from tai_labs.roles.base import ROLE_PLUGINS, Role

#: kind -> the key of its role (a ``tai_labs.roles`` entry point)
ROLES: dict[str, str] = {
    "ad-dc": "ad-dc",
    "router": "router",
    "switch": "switch",
    "linux-client": "linux",
    "linux-server": "linux",
    "windows-client": "windows",
    "windows-server": "windows",
}


class NoRoleError(TaiLabsError):
    pass


def role_for(kind: str) -> Role:
    key = ROLES.get(kind)
    if key is None:
        raise NoRoleError(f"no role can provision a {kind!r} node on this engine yet")
    try:
        return ROLE_PLUGINS.get(key)()
    except UnknownPluginError:
        raise NoRoleError(f"the {kind!r} role is not available yet ({key})") from None


def available_kinds() -> set[str]:
    found = set()
    for kind in ROLES:
        try:
            role_for(kind)
        except NoRoleError:
            continue
        found.add(kind)
    return found


def port_ifname(port: str) -> str:
    """The switch role's port naming, so the planner and the switch agree."""
    try:
        from tai_labs.roles.switch import port_ifname as switch_port_ifname
    except ModuleNotFoundError:
        from tai_labs.lab.plan import default_port_ifname

        return default_port_ifname(port)
    return switch_port_ifname(port)
