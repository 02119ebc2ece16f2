"""The ad-dc role against a real Samba AD DC in an LXC node, plus its pure planning helpers.

The DC tests need root, LXC and the ad-dc image (built here if debootstrap is present);
they skip, naming what is missing, elsewhere. The planning tests run anywhere.
"""

from __future__ import annotations

import ipaddress
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import host_problem
from tai_labs.context import NodeContext, stdin_to_file_argv
from tai_labs.facts.directory import domain_dn, ou_dn, parse_ldif
from tai_labs.locations import locations
from tai_labs.providers import cgroups, naming, network
from tai_labs.providers.base import ExecResult, NicSpec, NodeSpec, NodeState
from tai_labs.providers.cleanup import cleanup_lab, known_labs
from tai_labs.providers.lxc import LxcEngine
from tai_labs.roles.ad_dc import (
    SCHEMA_DIR,
    SMB_CONF,
    UNIT,
    WINBIND_CACHE,
    AdDcRole,
)
from tai_labs.roles.ad_plan import (
    DirectoryState,
    allowed_networks,
    apply_global_settings,
    check_passwords,
    dns_records,
    hosts_allow,
    object_commands,
    ou_paths,
)
from tai_labs.roles.base import RoleError
from tai_labs.scenario.loader import LoadedScenario, load_scenario
from tai_labs.scenario.model import Directory
from tai_labs.scenario.variables import random_secret
from tai_labs.sessions.base import DirectoryEntry
from tai_labs.sessions.ldap import ldaps_bind

REPO = Path(__file__).resolve().parents[2]
SCENARIO = REPO / "scenarios/ccp2/compte-verrouille"
DC = "dc1"


def _load(secret: Any = None) -> LoadedScenario:
    return load_scenario(
        SCENARIO,
        candidate="ad-dc-test",
        secret=secret or (lambda name, length: random_secret(length)),
    )


# -- planning, without a DC ------------------------------------------------------------------------


def test_ou_paths_parents_first_and_dns() -> None:
    directory = _load().scenario.directory
    assert directory is not None
    paths = ou_paths(directory)
    for path in paths:
        if "/" in path:
            assert paths.index(path.rsplit("/", 1)[0]) < paths.index(path)
    realm = directory.realm
    assert (
        ou_dn("Siege/Utilisateurs", domain_dn(realm))
        == f"OU=Utilisateurs,OU=Siege,{domain_dn(realm)}"
    )


def test_nothing_exists_plans_everything_in_order() -> None:
    directory = _load().scenario.directory
    assert directory is not None
    commands = object_commands(directory, DirectoryState())
    kinds = [" ".join(c.argv[1:3]) for c in commands]
    assert kinds.index("ou add") < kinds.index("group add") < kinds.index("user create")
    assert kinds[-1] == "group addmembers"
    for command in commands:
        # No password on any command line: they travel on stdin.
        assert not any(u.password in arg for u in directory.users for arg in command.argv)


def test_weak_password_names_the_user_before_touching_the_node() -> None:
    loaded = _load()
    directory = loaded.scenario.directory
    assert directory is not None
    login = directory.users[0].login
    weak = directory.model_copy(
        update={"users": [directory.users[0].model_copy(update={"password": "abcdefgh"})]}
    )
    with pytest.raises(ValueError, match=login):
        check_passwords(weak, "Aa1-long-enough-admin")

    def never(argv: Sequence[str], input: str | bytes | None, timeout: float | None) -> ExecResult:
        raise AssertionError(f"ran {argv} on the node despite a weak password")

    scenario = loaded.scenario.model_copy(update={"directory": weak})
    ctx = NodeContext(
        "abcdef",
        scenario.node(DC),
        scenario,
        loaded.variables,
        never,
        ipaddress.IPv4Address("100.64.1.11"),
        {"admin_password": "Aa1-long-enough-admin"},
    )
    with pytest.raises(RoleError, match=login):
        AdDcRole().provision(ctx)


def test_gpos_are_refused_not_ignored() -> None:
    from tai_labs.scenario.model import AdGpo

    loaded = _load()
    assert loaded.scenario.directory is not None
    directory = loaded.scenario.directory.model_copy(update={"gpos": [AdGpo(name="Fond")]})
    scenario = loaded.scenario.model_copy(update={"directory": directory})

    def never(argv: Sequence[str], input: str | bytes | None, timeout: float | None) -> ExecResult:
        raise AssertionError(f"ran {argv} on the node")

    ctx = NodeContext(
        "abcdef",
        scenario.node(DC),
        scenario,
        loaded.variables,
        never,
        ipaddress.IPv4Address("100.64.1.11"),
    )
    with pytest.raises(RoleError, match="GPO"):
        AdDcRole().provision(ctx)


def test_smb_conf_settings_and_ldif_folding() -> None:
    conf = (
        "# Global parameters\n[global]\n\tdns forwarder = 10.0.0.1\n\trealm = X.LAN\n"
        "\n[sysvol]\n\tpath = /x\n"
    )
    out = apply_global_settings(conf, {"hosts allow": "127.0.0.0/8"}, remove=["dns forwarder"])
    assert (
        "dns forwarder" not in out and "\thosts allow = 127.0.0.0/8" in out and "path = /x" in out
    )
    assert (
        apply_global_settings(out, {"hosts allow": "127.0.0.0/8"}, remove=["dns forwarder"]) == out
    )
    ldif = (
        "# record 1\ndn: CN=A,OU=Utilisateurs,OU=Siege,DC=x,\n DC=lan\nsAMAccountName: a\n\n"
        "# Referral\nref: ldap://x.lan/CN=Configuration,DC=x,DC=lan\n\n"
    )
    assert parse_ldif(ldif) == [
        DirectoryEntry("CN=A,OU=Utilisateurs,OU=Siege,DC=x,DC=lan", {"samaccountname": ["a"]})
    ]


def test_dns_records_prefer_the_dcs_network() -> None:
    scenario = _load().scenario
    records = dict(dns_records(scenario, scenario.node(DC)))
    assert records["dc1"] == ipaddress.IPv4Address("192.168.10.10")
    assert records["box"] == ipaddress.IPv4Address("192.168.10.254")  # not its WAN side
    assert "192.168.10.0/24" in allowed_networks(scenario, [])
    allow = hosts_allow(scenario, []).split()
    assert allow[0] == "LOCAL/unixdom" and allow[1:] == allowed_networks(scenario, [])


# -- a real DC -------------------------------------------------------------------------------


@dataclass
class DcLab:
    lab_id: str
    engine: LxcEngine
    resource: str
    loaded: LoadedScenario
    ctx: NodeContext
    role: AdDcRole
    timings: dict[str, float]
    workaround: str | None
    argvs: list[tuple[str, ...]]  # every command the role ran in the node

    @property
    def directory(self) -> Directory:
        assert self.loaded.scenario.directory is not None
        return self.loaded.scenario.directory

    def run(self, argv: Sequence[str], input: str | None = None) -> ExecResult:
        return self.engine.exec(self.resource, argv, input=input, timeout=60)


def _ad_dc_image() -> Path:
    from tai_labs.images.builder import ImageBuilder
    from tai_labs.images.errors import ImageNotBuiltError

    builder = ImageBuilder()
    try:
        return builder.get("ad-dc").rootfs
    except ImageNotBuiltError:
        if shutil.which("debootstrap") is None:
            pytest.skip("the ad-dc image is not built and cannot be (needs debootstrap)")
        return builder.build("ad-dc").rootfs


def _install_ad_provision(engine: LxcEngine, resource: str) -> str | None:
    """Work around an ad-dc image without samba-ad-provision (a Recommends of samba that
    the recipes skip): fetch the .deb on the host with apt and install it in this node only."""
    if engine.exec(resource, ["test", "-d", SCHEMA_DIR]).ok:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        got = subprocess.run(
            ["apt-get", "download", "samba-ad-provision"],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
        )
        debs = list(Path(tmp).glob("samba-ad-provision_*.deb"))
        if got.returncode != 0 or not debs:
            pytest.skip(
                "the ad-dc image lacks samba-ad-provision and apt-get could not fetch it: "
                f"{got.stderr.strip()[-200:]}"
            )
        data = debs[0].read_bytes()
    engine.exec(resource, stdin_to_file_argv("/tmp/samba-ad-provision.deb", "0644"), input=data)
    res = engine.exec(resource, ["dpkg", "-i", "/tmp/samba-ad-provision.deb"], timeout=120)
    assert res.ok, res.stderr
    engine.exec(resource, ["rm", "-f", "/tmp/samba-ad-provision.deb"])
    return "samba-ad-provision installed into the node (missing from images/ad-dc.yaml)"


@pytest.fixture(scope="module")
def dc() -> Iterator[DcLab]:
    problem = host_problem("lxc-start", "lxc-attach", "ip", "nft")
    if problem:
        pytest.skip(problem)
    image = _ad_dc_image()
    loaded = _load()
    scenario = loaded.scenario
    node = scenario.node(DC)
    lab_id = naming.new_lab_id()
    try:
        net = network.create_lab_network(lab_id, [n.name for n in scenario.topology.networks])
        engine = LxcEngine(lab_id)
        resource = f"{lab_id}-{DC}"
        nics = tuple(
            NicSpec(
                bridge=net.bridges[i.network],
                name=f"eth{n}",
                address=i.address if isinstance(i.address, ipaddress.IPv4Interface) else None,
                gateway=i.gateway,
            )
            for n, i in enumerate(node.interfaces, start=1)
        )
        spec = NodeSpec(
            name=resource,
            hostname=DC,
            domain=scenario.directory.realm if scenario.directory else None,
            image=image,
            memory_mib=node.memory or 512,
            management=NicSpec(
                bridge=net.mgmt_bridge, name="eth0", address=net.node_mgmt_address(1)
            ),
            nics=nics,
            dns_servers=tuple(node.dns),
        )
        created = engine.create(spec)
        engine.start(resource)
        workaround = _install_ad_provision(engine, resource)
        assert created.management_address is not None

        argvs: list[tuple[str, ...]] = []

        def run(
            argv: Sequence[str], input: str | bytes | None, timeout: float | None
        ) -> ExecResult:
            argvs.append(tuple(argv))
            return engine.exec(resource, argv, input=input, timeout=timeout)

        ctx = NodeContext(
            lab_id,
            node,
            scenario,
            loaded.variables,
            run,
            created.management_address.ip,
            {"admin_password": str(loaded.variables["admin_password"])},
        )
        role = AdDcRole()
        started = time.monotonic()
        role.provision(ctx)
        role.wait_ready(ctx)
        timings = dict(role.timings, total=time.monotonic() - started)
        print(f"\nad-dc provision+ready: {timings}", file=sys.stderr)
        yield DcLab(lab_id, engine, resource, loaded, ctx, role, timings, workaround, argvs)
    finally:
        cleanup_lab(lab_id)


def _admin(dc: DcLab) -> tuple[str, str]:
    return f"Administrator@{dc.directory.realm}", str(dc.loaded.variables["admin_password"])


def _search(dc: DcLab, ldap_filter: str, attributes: list[str]) -> list[Any]:
    import ldap3

    user, password = _admin(dc)
    # Self-signed certificate of a lab DC: nothing to validate it against (see ldaps_bind).
    server = ldap3.Server(
        str(dc.ctx.mgmt_address),
        port=636,
        use_ssl=True,
        tls=ldap3.Tls(validate=ssl.CERT_NONE),
        get_info=ldap3.NONE,
    )
    with ldap3.Connection(
        server, user=user, password=password, authentication=ldap3.SIMPLE, auto_bind=True
    ) as conn:
        conn.search(domain_dn(dc.directory.realm), ldap_filter, attributes=attributes)
        return list(conn.entries)


def test_provisioned_and_ready_in_time(dc: DcLab) -> None:
    assert dc.timings["total"] < dc.role.ready_timeout + 60, dc.timings
    assert dc.run(["systemctl", "is-active", UNIT]).stdout.strip() == "active"
    for unit in ("smbd", "nmbd", "winbind"):
        assert dc.run(["systemctl", "is-enabled", unit]).stdout.strip() == "masked"
    conf = dc.run(["cat", SMB_CONF]).stdout
    assert "dns forwarder" not in conf and "hosts allow" in conf
    allow = next(line for line in conf.splitlines() if line.strip().startswith("hosts allow"))
    wanted = hosts_allow(dc.loaded.scenario, [_mgmt_net(dc)])
    assert allow.split("=", 1)[1].split() == wanted.split()


def test_admin_ldaps_bind(dc: DcLab) -> None:
    user, password = _admin(dc)
    assert ldaps_bind(dc.ctx.mgmt_address, user, password) == (True, "bound")


def test_scenario_user_in_its_ou_member_and_enabled(dc: DcLab) -> None:
    user = dc.directory.users[0]
    realm = dc.directory.realm
    entries = _search(
        dc,
        f"(sAMAccountName={user.login})",
        ["distinguishedName", "memberOf", "userAccountControl"],
    )
    assert len(entries) == 1
    entry = entries[0]
    base = domain_dn(realm)
    assert str(entry.distinguishedName).lower().endswith(ou_dn("Siege/Utilisateurs", base).lower())
    groups = [str(g).lower() for g in entry.memberOf.values]
    assert f"cn=comptabilite,{ou_dn('Siege/Groupes', base)}".lower() in groups
    assert int(str(entry.userAccountControl)) & 0x2 == 0
    # The user's own password works too (it was set through stdin).
    assert ldaps_bind(dc.ctx.mgmt_address, f"{user.login}@{realm}", user.password)[0]


def test_wrong_password_bind_fails(dc: DcLab) -> None:
    user, _ = _admin(dc)
    ok, detail = ldaps_bind(dc.ctx.mgmt_address, user, "Not-the-password-1")
    assert not ok and "invalidCredentials" in detail


def test_no_password_on_any_command_line(dc: DcLab) -> None:
    secrets = [
        str(dc.loaded.variables["admin_password"]),
        *(u.password for u in dc.directory.users),
    ]
    assert dc.argvs
    leaked = [argv for argv in dc.argvs if any(s in arg for s in secrets for arg in argv)]
    assert leaked == []


def test_dns_a_records_resolve_inside_the_node(dc: DcLab) -> None:
    realm = dc.directory.realm
    for name, address in dns_records(dc.loaded.scenario, dc.ctx.node):
        res = dc.run(["host", "-t", "A", f"{name}.{realm}", "127.0.0.1"])
        assert res.ok and f"has address {address}" in res.stdout, res.stdout
    # Through the node's resolver (search list, nameserver 127.0.0.1) too.
    assert "192.168.10.10" in dc.run(["host", DC]).stdout


def _nss_lookups(dc: DcLab, *, timeout: float = 30.0) -> tuple[bool, str]:
    """Whether the DC's own NSS (winbind) resolves domain groups and users; (ok, last output).

    Polled: winbindd may still be connecting to samba just after a (re)start. A DC whose
    ``hosts allow`` refuses its own local sockets never gets there."""
    netbios = dc.directory.netbios
    login = dc.directory.users[0].login
    lookups = [
        ["getent", "group", f"{netbios}\\Domain Users"],
        ["wbinfo", "--group-info", f"{netbios}\\Domain Users"],
        ["id", f"{netbios}\\Administrator"],
        ["id", f"{netbios}\\{login}"],
    ]
    deadline = time.monotonic() + timeout
    while True:
        results = [dc.run(argv) for argv in lookups]
        detail = "; ".join(
            f"{' '.join(argv)} -> rc={r.rc} {(r.stdout or r.stderr).strip()[:120]}"
            for argv, r in zip(lookups, results, strict=True)
        )
        if all(r.ok and r.stdout.strip() for r in results):
            return True, detail
        if time.monotonic() >= deadline:
            return False, detail
        time.sleep(1)


def test_winbind_name_lookups_work_on_the_dc(dc: DcLab) -> None:
    # hosts allow also applies to samba's own daemons over unix sockets: without
    # LOCAL/unixdom in it winbindd is refused ("Denied connection to 'smbd' from
    # (LOCAL/unixdom)"), and getent, id, chgrp "DOM\\group" and ls -l names all fail on the DC.
    ok, detail = _nss_lookups(dc)
    assert ok, detail
    netbios = dc.directory.netbios
    group = dc.run(["getent", "group", f"{netbios}\\Domain Users"]).stdout
    # (Provision maps Domain Users to the local "users" gid, 100.)
    assert group.lower().startswith(f"{netbios}\\domain users:x:".lower()), group
    # A scenario group can own a file, and ls shows its name, not a number.
    dc.run(["touch", "/root/owned"])
    res = dc.run(["chgrp", f"{netbios}\\Comptabilite", "/root/owned"])
    assert res.ok, res.stderr
    listed = dc.run(["stat", "-c", "%G", "/root/owned"]).stdout.strip()
    assert listed.lower() == f"{netbios}\\comptabilite".lower(), listed
    dc.run(["rm", "-f", "/root/owned"])
    assert "Denied connection" not in _samba_logs(dc)


def _samba_logs(dc: DcLab) -> str:
    return dc.run(["sh", "-c", "cat /var/log/samba/log.* 2>/dev/null"]).stdout


def _snapshot(dc: DcLab) -> dict[str, Any]:
    entries = _search(
        dc,
        "(|(objectClass=organizationalUnit)(objectClass=group)(objectClass=user))",
        ["objectGUID", "whenCreated", "memberOf", "userAccountControl", "pwdLastSet"],
    )
    objects = {}
    for entry in entries:
        attrs = entry.entry_attributes_as_dict
        objects[str(entry.entry_dn).lower()] = {k: sorted(map(str, v)) for k, v in attrs.items()}
    realm = dc.directory.realm
    dns = dc.run(
        [
            "dig",
            "+noall",
            "+answer",
            "@127.0.0.1",
            *[
                a
                for n, _ in dns_records(dc.loaded.scenario, dc.ctx.node)
                for a in (f"{n}.{realm}.", "A")
            ],
        ]
    )
    pid = dc.run(["systemctl", "show", "-p", "MainPID", "--value", UNIT]).stdout.strip()
    return {
        "objects": objects,
        "dns": sorted(dns.stdout.splitlines()),
        "pid": pid,
        "smb.conf": dc.run(["cat", SMB_CONF]).stdout,
    }


def test_provision_twice_changes_nothing(dc: DcLab) -> None:
    before = _snapshot(dc)
    again = AdDcRole()
    again.provision(dc.ctx)
    again.wait_ready(dc.ctx)
    after = _snapshot(dc)
    assert after == before
    state = again.read_state(dc.ctx, dc.directory.realm)
    assert object_commands(dc.directory, state) == []
    print(f"\nad-dc second provision: {again.timings}", file=sys.stderr)


def test_provision_repairs_a_dc_that_refused_its_own_sockets(dc: DcLab) -> None:
    """A DC left by an older tai-labs (hosts allow without LOCAL/unixdom) has winbind lookups
    failing, and cached as failures: provisioning it again fixes both."""
    netbios = dc.directory.netbios
    conf = dc.run(["cat", SMB_CONF]).stdout
    old = apply_global_settings(
        conf,
        {"hosts allow": " ".join(allowed_networks(dc.loaded.scenario, [_mgmt_net(dc)]))},
    )
    assert old != conf
    dc.run(stdin_to_file_argv(SMB_CONF, "0644"), input=old)
    # Without winbind's caches (filled by the lookups above), as on a DC that never had
    # the fix: the lookups fail and samba logs why.
    dc.run(["systemctl", "stop", UNIT])
    dc.run(["rm", "-f", WINBIND_CACHE])
    dc.run(["net", "cache", "flush"])
    dc.run(["sh", "-c", "truncate -s 0 /var/log/samba/log.*"])
    dc.run(["systemctl", "start", UNIT])
    ok, detail = _nss_lookups(dc, timeout=10)
    assert not ok, f"lookups worked with the old hosts allow: {detail}"
    assert dc.run(["getent", "group", f"{netbios}\\Domain Users"]).rc != 0
    assert "Denied connection to 'smbd' from  (LOCAL/unixdom)" in _samba_logs(dc)
    dc.run(["sh", "-c", "truncate -s 0 /var/log/samba/log.*"])

    started = time.monotonic()
    role = AdDcRole()
    role.provision(dc.ctx)
    role.wait_ready(dc.ctx)
    print(f"\nad-dc repair provision: {time.monotonic() - started:.1f} s", file=sys.stderr)
    assert dc.run(["cat", SMB_CONF]).stdout == conf
    ok, detail = _nss_lookups(dc)
    assert ok, detail
    assert "Denied connection" not in _samba_logs(dc)


def _mgmt_net(dc: DcLab) -> ipaddress.IPv4Network:
    return dc.role._mgmt_network(dc.ctx)


def test_a_dc_of_another_realm_is_refused(dc: DcLab) -> None:
    from tai_labs.roles.ad_dc import MARKER

    dc.run(["cp", MARKER, "/root/marker"])
    try:
        dc.run(stdin_to_file_argv(MARKER, "0600"), input="other.lan\n")
        with pytest.raises(RoleError, match=r"other\.lan"):
            AdDcRole().provision(dc.ctx)
    finally:
        dc.run(["cp", "/root/marker", MARKER])


def test_idle_dc_memory(dc: DcLab) -> None:
    time.sleep(5)  # let the post-start jobs (kcc, dnsupdate) settle
    rel = naming.cgroup_container_dir(dc.lab_id, dc.resource)
    folder = Path("/sys/fs/cgroup/memory") / rel
    if not folder.is_dir():
        pytest.skip("memory figures are read from cgroup v1 (memory controller) only")
    stat = dict(line.split() for line in (folder / "memory.stat").read_text().splitlines())
    anon = (int(stat["total_rss"]) + int(stat["total_shmem"])) / 2**20
    usage = int((folder / "memory.usage_in_bytes").read_text()) / 2**20
    print(
        f"\nad-dc idle memory: {anon:.0f} MiB anonymous, {usage:.0f} MiB with page cache",
        file=sys.stderr,
    )
    assert anon < (dc.ctx.node.memory or 512)


def test_teardown_leaves_nothing(dc: DcLab) -> None:
    dc.engine.destroy(dc.resource)
    assert dc.engine.state(dc.resource) == NodeState.ABSENT
    cleanup_lab(dc.lab_id)
    prefix = naming.if_prefix(dc.lab_id)
    assert not [link for link in network.list_links() if str(link["ifname"]).startswith(prefix)]
    assert dc.lab_id not in network.lab_nft_tables()
    assert not cgroups.dirs_of(naming.cgroup_lab_dir(dc.lab_id))
    assert not locations().lab(dc.lab_id).exists()
    assert dc.lab_id not in known_labs()
