"""The role classes by role key (imported on first use: roles pull in their libraries).

Which key serves which node kind is the kind's row in tai_labs.kinds.
"""

from __future__ import annotations

import importlib

from tai_labs.errors import TaiLabsError
from tai_labs.kinds import NodeKind
from tai_labs.roles.base import Role

#: role key (a kind row's ``role``) -> "module:Class"
ROLE_CLASSES: dict[str, str] = {
    "ad-dc": "tai_labs.roles.ad_dc:AdDcRole",
    "router": "tai_labs.roles.router:RouterRole",
    "switch": "tai_labs.roles.switch:SwitchRole",
    "linux": "tai_labs.roles.client:ClientRole",
    "windows": "tai_labs.roles.windows:WindowsRole",
}


class NoRoleError(TaiLabsError):
    pass


def role_for(kind: str) -> Role:
    """The role that provisions nodes of ``kind`` (its kind row names it)."""
    try:
        key = NodeKind(kind).spec.role
    except ValueError:
        raise NoRoleError(f"no role can provision a {kind!r} node on this engine yet") from None
    return role_named(key)


def role_named(key: str) -> Role:
    """The role registered under ``key``."""
    target = ROLE_CLASSES.get(key)
    if target is None:
        raise NoRoleError(
            f"no role {key!r} is registered", hint=f"roles: {', '.join(ROLE_CLASSES)}"
        )
    module_name, cls_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise NoRoleError(f"the {key!r} role is not available yet ({module_name})") from None
    role: Role = getattr(module, cls_name)()
    return role


def port_ifname(port: str) -> str:
    """The switch role's port naming, so the planner and the switch agree."""
    try:
        from tai_labs.roles.switch import port_ifname as switch_port_ifname
    except ModuleNotFoundError:
        from tai_labs.lab.plan import default_port_ifname

        return default_port_ifname(port)
    return switch_port_ifname(port)
