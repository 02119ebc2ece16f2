"""Every plugin's node kinds, pinned as they were when kinds became a table (issue 10).

The sets are written out as plain strings on purpose: the plugins now compute them from
``tai_labs.kinds``, and this test says the computed sets did not move.
"""

from __future__ import annotations

from typing import Any

import pytest

from tai_labs.actions.base import ACTIONS
from tai_labs.faults.base import FAULTS
from tai_labs.grading.base import CHECKS
from tai_labs.plugins import Registry

LINUX_ALL = {"ad-dc", "linux-client", "linux-server", "router", "switch"}
LINUX_NO_SWITCH = {"ad-dc", "linux-client", "linux-server", "router"}
DIRECTORY = {"ad-dc", "windows-server"}
WINDOWS = {"windows-client", "windows-server"}
HOSTS = {"linux-client", "linux-server"}

CHECK_KINDS = {
    "ad.computer": DIRECTORY,
    "ad.gpo": DIRECTORY,
    "ad.group": DIRECTORY,
    "ad.domain_policy": DIRECTORY,
    "ad.user": DIRECTORY,
    "linux.address": LINUX_ALL,
    "linux.cron": LINUX_ALL,
    "linux.disk_free": LINUX_ALL,
    "linux.file": LINUX_ALL,
    "linux.firewall": LINUX_ALL,
    "linux.firewall_policy": LINUX_ALL,
    "linux.hostname": LINUX_ALL,
    "linux.domain_joined": LINUX_ALL,
    "linux.smb_share": LINUX_ALL,
    "linux.kernel_module": LINUX_ALL,
    "linux.locale": LINUX_ALL,
    "linux.mount": LINUX_ALL,
    "linux.package": LINUX_ALL,
    "linux.printer": LINUX_ALL,
    "linux.resolver": LINUX_ALL,
    "linux.route": LINUX_ALL,
    "linux.service": LINUX_ALL,
    "linux.services_kept": LINUX_ALL,
    "linux.sshd": LINUX_ALL,
    "linux.timezone": LINUX_ALL,
    "linux.user": LINUX_ALL,
    "netdev.access_port": {"switch"},
    "netdev.config_saved": {"router"},
    "netdev.dhcp_relay": {"router"},
    "netdev.interface": {"router", "switch"},
    "netdev.route": {"router"},
    "netdev.trunk": {"switch"},
    "netdev.vlan": {"switch"},
    "probe.dhcp": LINUX_NO_SWITCH,
    "probe.dns": LINUX_NO_SWITCH,
    "probe.http": LINUX_NO_SWITCH,
    "probe.kerberos": LINUX_NO_SWITCH,
    "probe.reach": LINUX_NO_SWITCH,
    "probe.smb": LINUX_NO_SWITCH,
    "record.inventory": HOSTS,
    "record.report": HOSTS,
    "windows.defender": WINDOWS,
    "windows.firewall": WINDOWS,
    "windows.local_group": WINDOWS,
    "windows.program": WINDOWS,
    "windows.service": WINDOWS,
    "windows.volume": WINDOWS,
}
FAULT_KINDS = {
    "ad.account_disabled": DIRECTORY,
    "ad.account_expired": DIRECTORY,
    "ad.account_locked": DIRECTORY,
    "ad.dns_record_missing": DIRECTORY,
    "ad.gpo_link_disabled": DIRECTORY,
    "ad.membership_removed": DIRECTORY,
    "ad.password_must_change": DIRECTORY,
    "ad.user_wrong_ou": DIRECTORY,
    "linux.address": LINUX_NO_SWITCH,
    "linux.clock_skew": LINUX_NO_SWITCH,
    "linux.disk_full": LINUX_NO_SWITCH,
    "linux.dns_resolver": LINUX_NO_SWITCH,
    "linux.firewall_block": LINUX_NO_SWITCH,
    "linux.fstab_broken": LINUX_NO_SWITCH,
    "linux.gateway": LINUX_NO_SWITCH,
    "linux.group_removed": LINUX_NO_SWITCH,
    "linux.hosts_poisoned": LINUX_NO_SWITCH,
    "linux.interface_down": LINUX_NO_SWITCH,
    "linux.package_removed": LINUX_NO_SWITCH,
    "linux.permissions": LINUX_NO_SWITCH,
    "linux.print_queue_paused": LINUX_NO_SWITCH,
    "linux.proxy": LINUX_NO_SWITCH,
    "linux.service_stopped": LINUX_NO_SWITCH,
    "linux.timezone": LINUX_NO_SWITCH,
    "net.access_vlan": {"switch"},
    "net.dhcp_option": {"router"},
    "net.dhcp_relay_missing": {"router"},
    "net.dhcp_scope_disabled": {"router"},
    "net.port_shutdown": {"router", "switch"},
    "net.route_missing": {"router"},
    "net.trunk_vlan_removed": {"switch"},
    "windows.defender_off": WINDOWS,
    "windows.firewall_off": WINDOWS,
    "windows.service_stopped": WINDOWS,
}
ACTION_KINDS = {
    "ad.dns_record": DIRECTORY,
    "ad.gpo_link": DIRECTORY,
    "ad.group": DIRECTORY,
    "ad.ou": DIRECTORY,
    "ad.user": DIRECTORY,
    "linux.exec": LINUX_ALL,
    "linux.file": LINUX_ALL,
    "linux.network": LINUX_ALL,
    "linux.package": LINUX_ALL,
    "linux.service": LINUX_ALL,
    "linux.user": LINUX_ALL,
    "netdev.config": {"router"},
    "smb.share": DIRECTORY,
    "windows.powershell": WINDOWS,
}


@pytest.mark.parametrize(
    ("registry", "expected"),
    [(CHECKS, CHECK_KINDS), (FAULTS, FAULT_KINDS), (ACTIONS, ACTION_KINDS)],
    ids=["checks", "faults", "actions"],
)
def test_every_plugin_keeps_its_node_kinds(
    registry: Registry[Any], expected: dict[str, set[str]]
) -> None:
    actual = {plugin.name: {str(k) for k in plugin.node_kinds} for plugin in registry}
    assert actual == expected
