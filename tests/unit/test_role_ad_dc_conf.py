"""The smb.conf the ad-dc role writes, against a fake node (no Samba needed).

``hosts allow`` must let Samba's own daemons in over their unix-domain sockets (peer address
``LOCAL/unixdom``), or winbind lookups on the DC fail, while still limiting network clients
to loopback, the lab's networks and the management subnet.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence

import pytest

from tai_labs.context import NodeContext, stdin_to_file_argv
from tai_labs.providers.base import ExecResult
from tai_labs.roles.ad_dc import SMB_CONF, UNIT, UNPRIVILEGED_NTACL, WINBIND_CACHE, AdDcRole
from tai_labs.roles.ad_plan import LOCAL_SOCKETS, allowed_networks, hosts_allow
from tai_labs.scenario.catalog import find
from tai_labs.scenario.loader import LoadedScenario, load_scenario

#: The shell script NodeContext.write_file runs (stdin to "$1", mode "$2").
WRITE_SCRIPT = stdin_to_file_argv("", "")[2]

MGMT = ipaddress.IPv4Address("100.64.1.11")
MGMT_NET = "100.64.1.0/24"
LAB_IP = ipaddress.IPv4Address("192.168.10.10")


def _load() -> LoadedScenario:
    return load_scenario(find("compte-verrouille"), candidate="ad-dc-unit")


class FakeDc:
    """A node's files and services, enough for ``AdDcRole._configure``."""

    def __init__(self, realm: str) -> None:
        self.files = {
            # What `samba-tool domain provision` writes (abridged).
            SMB_CONF: (
                "# Global parameters\n[global]\n\tdns forwarder = 10.0.0.1\n"
                f"\tnetbios name = DC1\n\trealm = {realm.upper()}\n\tserver role = "
                "active directory domain controller\n\tworkgroup = DUPUIS\n\n"
                "[sysvol]\n\tpath = /var/lib/samba/sysvol\n\tread only = No\n"
            ),
            "/var/lib/samba/private/krb5.conf": "[libdefaults]\n",
        }
        self.active = False
        self.ran: list[tuple[str, ...]] = []

    def exec(
        self, argv: Sequence[str], input: str | bytes | None, timeout: float | None
    ) -> ExecResult:
        argv = tuple(argv)
        self.ran.append(argv)
        match argv:
            case ("cat", path):
                if path in self.files:
                    return ExecResult(0, self.files[path], "")
                return ExecResult(1, "", f"cat: {path}: No such file or directory")
            case ("sh", "-c", script, "sh", path, _) if script == WRITE_SCRIPT:
                assert isinstance(input, str)
                self.files[path] = input
            case ("cp", src, dst):
                self.files[dst] = self.files[src]
            case ("cmp", "-s", a, b):
                return ExecResult(0 if self.files.get(a) == self.files.get(b) else 1, "", "")
            case ("ip", "-j", "-4", "addr", "show"):
                info = [{"local": str(MGMT), "prefixlen": 24}]
                return ExecResult(0, json.dumps([{"ifname": "eth0", "addr_info": info}]), "")
            case ("systemctl", "is-enabled", _):
                return ExecResult(0, "enabled\n", "")
            case ("systemctl", "is-active", _):
                return ExecResult(0 if self.active else 3, "active\n" if self.active else "", "")
            case ("systemctl", "stop", _):
                self.active = False
            case ("systemctl", "restart", _):
                self.active = True
        return ExecResult(0, "", "")

    def global_setting(self, key: str) -> str:
        section = ""
        for line in self.files[SMB_CONF].splitlines():
            stripped = line.strip()
            if stripped.startswith("["):
                section = stripped.strip("[]").lower()
            elif section == "global" and stripped.split("=", 1)[0].strip() == key:
                return stripped.split("=", 1)[1].strip()
        raise KeyError(key)


def _configure(node: FakeDc, loaded: LoadedScenario) -> None:
    scenario = loaded.scenario
    assert scenario.directory is not None
    ctx = NodeContext("abcdef", scenario.node("dc1"), scenario, loaded.variables, node.exec, MGMT)
    AdDcRole()._configure(ctx, scenario.directory, LAB_IP)


def test_hosts_allow_lets_samba_in_over_local_sockets_and_keeps_networks() -> None:
    scenario = _load().scenario
    mgmt = ipaddress.IPv4Network(MGMT_NET)
    tokens = hosts_allow(scenario, [mgmt]).split()
    assert tokens[0] == LOCAL_SOCKETS == "LOCAL/unixdom"
    # Nothing else is opened: the rest is exactly the networks the DC serves.
    assert tokens[1:] == allowed_networks(scenario, [mgmt])
    assert tokens[1] == "127.0.0.0/8" and tokens[-1] == MGMT_NET
    for net in scenario.topology.networks:
        assert str(net.subnet) in tokens
    # Samba (lib/util/access.c) would read a token with a dot or a colon and a '/' as a
    # network/mask that IP clients could match, and a bare LOCAL as "any dotless host name"
    # (with a reverse DNS lookup per connection): the local-socket token is neither.
    assert "." not in LOCAL_SOCKETS and ":" not in LOCAL_SOCKETS and "/" in LOCAL_SOCKETS
    assert not {"ALL", "LOCAL", "FAIL", "EXCEPT"} & {t.upper() for t in tokens}


def test_generated_smb_conf_and_winbind_caches_flushed_on_change() -> None:
    loaded = _load()
    assert loaded.scenario.directory is not None
    node = FakeDc(loaded.scenario.directory.realm)
    node.active = True  # a DC already running with an older smb.conf
    _configure(node, loaded)

    allow = node.global_setting("hosts allow")
    assert allow == hosts_allow(loaded.scenario, [ipaddress.IPv4Network(MGMT_NET)])
    assert allow.split()[:2] == ["LOCAL/unixdom", "127.0.0.0/8"]
    assert MGMT_NET in allow.split() and "192.168.10.0/24" in allow.split()
    assert node.global_setting("dns update command").endswith(f"--current-ip={LAB_IP}")
    conf = node.files[SMB_CONF]
    assert "dns forwarder" not in conf and "[sysvol]" in conf and conf.count("hosts allow") == 1

    # Lookups refused under the old settings are cached by winbindd: they are dropped while
    # samba is stopped, then samba starts again.
    ran = node.ran
    order = [
        ran.index(("systemctl", "stop", UNIT)),
        ran.index(("rm", "-f", WINBIND_CACHE)),
        ran.index(("net", "cache", "flush")),
        ran.index(("systemctl", "restart", UNIT)),
    ]
    assert order == sorted(order)
    assert node.active


def test_unchanged_smb_conf_restarts_nothing_and_keeps_caches() -> None:
    loaded = _load()
    assert loaded.scenario.directory is not None
    node = FakeDc(loaded.scenario.directory.realm)
    _configure(node, loaded)
    written = node.files[SMB_CONF]
    node.ran.clear()
    _configure(node, loaded)
    assert node.files[SMB_CONF] == written
    touched = [a for a in node.ran if a[:2] in {("systemctl", "stop"), ("systemctl", "restart")}]
    assert touched == []
    assert ("net", "cache", "flush") not in node.ran


@pytest.mark.parametrize(
    ("uid_map", "option"),
    [
        ("         0          0 4294967295\n", None),
        ("         0 1073741824    4194304\n", f"--option={UNPRIVILEGED_NTACL}"),
    ],
)
def test_provision_keeps_nt_acls_in_user_xattrs_only_in_a_user_namespace(
    uid_map: str, option: str | None
) -> None:
    loaded = _load()
    scenario = loaded.scenario
    assert scenario.directory is not None
    node = FakeDc(scenario.directory.realm)
    node.files["/proc/self/uid_map"] = uid_map
    ctx = NodeContext("abcdef", scenario.node("dc1"), scenario, loaded.variables, node.exec, MGMT)
    AdDcRole()._provision_domain(ctx, scenario.directory, LAB_IP, "Adm1n-Pass!word")
    provision = next(argv for argv in node.ran if argv[:3] == ("samba-tool", "domain", "provision"))
    options = [arg for arg in provision if arg.startswith("--option=")]
    assert options == ([] if option is None else [option])
