"""Roles by role key, registered through the ``tai_labs.roles`` entry points.

Which key serves which node kind is the kind's row in tai_labs.kinds.
"""

from __future__ import annotations

from tai_labs.errors import TaiLabsError
from tai_labs.kinds import NodeKind
from tai_labs.plugins import UnknownPluginError
from tai_labs.roles.base import ROLE_PLUGINS, Role


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
    """The role registered under ``key`` (a ``tai_labs.roles`` entry point)."""
    try:
        return ROLE_PLUGINS.get(key)()
    except UnknownPluginError as exc:
        raise NoRoleError(f"no role {key!r} is registered", hint=exc.hint) from None


def port_ifname(port: str) -> str:
    """The switch role's port naming, so the planner and the switch agree."""
    from tai_labs.roles.switch import port_ifname as switch_port_ifname

    return switch_port_ifname(port)
