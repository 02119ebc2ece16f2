"""Which role serves which node kind (imported on first use: roles pull in their libraries)."""

from __future__ import annotations

import importlib

from tai_labs.errors import TaiLabsError
from tai_labs.roles.base import Role

#: kind -> "module:Class"
ROLES: dict[str, str] = {
    "ad-dc": "tai_labs.roles.ad_dc:AdDcRole",
    "router": "tai_labs.roles.router:RouterRole",
    "switch": "tai_labs.roles.switch:SwitchRole",
    "linux-client": "tai_labs.roles.client:ClientRole",
    "linux-server": "tai_labs.roles.client:ClientRole",
    "windows-client": "tai_labs.roles.windows:WindowsRole",
    "windows-server": "tai_labs.roles.windows:WindowsRole",
}


class NoRoleError(TaiLabsError):
    pass


def role_for(kind: str) -> Role:
    target = ROLES.get(kind)
    if target is None:
        raise NoRoleError(f"no role can provision a {kind!r} node on this engine yet")
    module_name, cls_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise NoRoleError(f"the {kind!r} role is not available yet ({module_name})") from None
    role: Role = getattr(module, cls_name)()
    return role


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
    from tai_labs.roles.switch import port_ifname as switch_port_ifname

    return switch_port_ifname(port)
