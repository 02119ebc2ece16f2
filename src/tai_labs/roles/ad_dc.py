"""The ``ad-dc`` role: a Samba AD domain controller provisioned from the scenario's directory.

Provisioning runs inside the node through the engine's exec channel (no network needed):
``samba-tool domain provision``, then the smb.conf settings the lab needs, then the OUs,
groups, users and DNS records the scenario declares. Every step first looks at what is
there, so a second run (after an interrupted ``up``) creates only what is missing.

Readiness is checked the way graders use the DC: an LDAPS simple bind from the host over
the management network, plus the domain's DNS answering on the DC itself.
"""

from __future__ import annotations

import ipaddress
import json
import time

from tai_labs.context import NodeContext
from tai_labs.facts.directory import domain_dn
from tai_labs.roles.ad_plan import (
    STATE_ATTRS,
    STATE_FILTER,
    Command,
    DirectoryState,
    apply_global_settings,
    check_passwords,
    conf_realm,
    dns_records,
    hosts_allow,
    object_commands,
    static_addresses,
)
from tai_labs.roles.base import NotReadyError, Role, RoleError, register_role, wait_until
from tai_labs.scenario.model import Directory, Node
from tai_labs.sessions.ldap import LDAPS_PORT, ldaps_bind

UNIT = "samba-ad-dc"
#: File-server daemons an AD DC must not run: they would fight samba-ad-dc for ports and files.
FILE_SERVER_UNITS = ("smbd.service", "nmbd.service", "winbind.service")
SMB_CONF = "/etc/samba/smb.conf"
#: winbindd's cache of lookups, failed ones included (in Samba's state directory, not its
#: cache directory); its id-mapping cache is in gencache, which ``net cache flush`` empties.
WINBIND_CACHE = "/var/lib/samba/winbindd_cache.tdb"
PRIVATE = "/var/lib/samba/private"
SAM_LDB = f"{PRIVATE}/sam.ldb"
#: Written once the domain is provisioned and its Administrator password set: a provision
#: interrupted before that point is wiped and run again.
MARKER = f"{PRIVATE}/tai-labs-realm"
#: The certificate Samba makes for LDAPS at its first start (``tls certfile`` default).
TLS_CERT = f"{PRIVATE}/tls/cert.pem"
#: Shipped by samba-ad-provision, which samba only recommends (recipes skip recommends).
SCHEMA_DIR = "/usr/share/samba/setup/ad-schema"
PROVISION_TIMEOUT = 300.0
#: In a user namespace the kernel refuses security.* and trusted.* xattrs (they need
#: CAP_SYS_ADMIN over the host's file system), where Samba keeps NT ACLs (security.NTACL).
#: acl_xattr (Samba 4.15+) can keep them in a user.* xattr instead: still on the file, so a
#: snapshot's copy and a reset keep them (vfs_xattr_tdb, keyed by inode, would lose them),
#: and still computed and enforced by Samba. Debian's Samba has no NTVFS, so provision's own
#: --use-xattrs=no (posix:eadb) is refused.
UNPRIVILEGED_NTACL = "acl_xattr:security_acl_name = user.NTACL"


def _in_user_namespace(ctx: NodeContext) -> bool:
    """Whether the node runs in a user namespace (an unprivileged node)."""
    result = ctx.run(["cat", "/proc/self/uid_map"], check=False)
    return result.ok and not is_initial_uid_map(result.stdout)


def is_initial_uid_map(text: str) -> bool:
    """The host's own map (0 0 4294967295): the node is not in a user namespace."""
    return text.split() == ["0", "0", "4294967295"]


@register_role
class AdDcRole(Role):
    name = "ad-dc"
    ready_timeout = 120.0

    def __init__(self) -> None:
        #: Seconds the last provision()/wait_ready() took, by step (for reports and docs).
        self.timings: dict[str, float] = {}

    # -- provision -------------------------------------------------------------------------

    def provision(self, ctx: NodeContext) -> None:
        started = time.monotonic()
        directory = _directory(ctx)
        if directory.gpos:
            # Creating a GPO needs SMB + LDAP as Administrator (the DC's machine account may
            # not); until that is done, refusing is better than a lab silently lacking them.
            names = ", ".join(g.name for g in directory.gpos)
            raise RoleError(f"{ctx.node.name}: the ad-dc role cannot create GPOs yet ({names})")
        admin_password = _admin_password(ctx)
        try:
            check_passwords(directory, admin_password)
        except ValueError as exc:
            raise RoleError(
                f"{ctx.node.name}: {exc}",
                hint="use a longer password mixing upper and lower case, digits and symbols",
            ) from None
        lab_ip = _lab_address(ctx.node)
        self._check_image(ctx)

        realm = self._provisioned_realm(ctx)
        if realm is None:
            self._provision_domain(ctx, directory, lab_ip, admin_password)
        elif realm != directory.realm:
            raise RoleError(
                f"{ctx.node.name} already holds the domain {realm!r}, not {directory.realm!r}",
                hint="destroy the lab and bring it up again",
            )
        self.timings["domain"] = time.monotonic() - started

        mark = time.monotonic()
        self._configure(ctx, directory, lab_ip)
        self.timings["configure"] = time.monotonic() - mark

        mark = time.monotonic()
        self._reconcile_objects(ctx, directory)
        self.timings["objects"] = time.monotonic() - mark

        mark = time.monotonic()
        # Records are added over RPC to the running DNS server, so it must answer first.
        self._wait_dns(ctx, directory.realm, timeout=self.ready_timeout)
        self._reconcile_dns(ctx, directory)
        self.timings["dns"] = time.monotonic() - mark
        self.timings["provision"] = time.monotonic() - started

    def _check_image(self, ctx: NodeContext) -> None:
        if not ctx.run(["test", "-d", SCHEMA_DIR], check=False).ok:
            raise RoleError(
                f"{ctx.node.name}: the image lacks Samba's AD schema ({SCHEMA_DIR})",
                hint="add samba-ad-provision to the packages of images/ad-dc.yaml and rebuild it",
            )
        states = ctx.run(
            ["systemctl", "is-enabled", *FILE_SERVER_UNITS], check=False
        ).stdout.split()
        if states != ["masked"] * len(FILE_SERVER_UNITS):
            # The recipe masks them; a hand-built image may not.
            ctx.run(["systemctl", "mask", "--now", *FILE_SERVER_UNITS])

    def _provisioned_realm(self, ctx: NodeContext) -> str | None:
        res = ctx.run(["cat", MARKER], check=False)
        realm = res.stdout.strip().lower() if res.ok else ""
        return realm or None

    def _provision_domain(
        self,
        ctx: NodeContext,
        directory: Directory,
        lab_ip: ipaddress.IPv4Address,
        admin_password: str,
    ) -> None:
        # Whatever an interrupted provision left behind would make this one fail or mix
        # two domains: start from the image's empty state.
        ctx.run(["systemctl", "stop", UNIT], check=False)
        ctx.run(["rm", "-f", SMB_CONF])
        ctx.run(
            ["find", PRIVATE, "/var/lib/samba/sysvol", "-mindepth", "1", "-delete"], check=False
        )
        ctx.run(
            ["find", "/var/lib/samba", "-maxdepth", "1", "-name", "*.tdb", "-delete"], check=False
        )
        # No --adminpass: a random one is set here and replaced below through stdin, so the
        # lab's password never appears on a command line in the node.
        options = [f"--option={UNPRIVILEGED_NTACL}"] if _in_user_namespace(ctx) else []
        ctx.run(
            [
                "samba-tool",
                "domain",
                "provision",
                *options,
                "--use-rfc2307",
                f"--realm={directory.realm.upper()}",
                f"--domain={directory.netbios}",
                "--server-role=dc",
                "--dns-backend=SAMBA_INTERNAL",
                f"--host-name={ctx.node.name}",
                f"--host-ip={lab_ip}",
            ],
            timeout=PROVISION_TIMEOUT,
        )
        self._run(
            ctx,
            Command(
                ("samba-tool", "user", "setpassword", "Administrator"),
                "user 'Administrator'",
                input=f"{admin_password}\n{admin_password}\n",
            ),
        )
        ctx.write_file(MARKER, directory.realm + "\n", mode="0600")

    def _configure(
        self, ctx: NodeContext, directory: Directory, lab_ip: ipaddress.IPv4Address
    ) -> None:
        current = ctx.run(["cat", SMB_CONF]).stdout
        if conf_realm(current) != directory.realm:
            raise RoleError(f"{ctx.node.name}: {SMB_CONF} is not for realm {directory.realm!r}")
        settings = {
            # Only the lab address goes into the DC's own DNS records: the management
            # address is unreachable from the lab's clients.
            "dns update command": f"/usr/sbin/samba_dnsupdate --current-ip={lab_ip}",
            # Samba's LDAP, KDC, RPC and SMB honour this (its internal DNS does not): the DC
            # serves the lab's networks and the management network (graders), nothing else,
            # plus its own daemons over local sockets (winbind's lookups on the DC).
            "hosts allow": hosts_allow(ctx.scenario, [self._mgmt_network(ctx)]),
        }
        # Provision copies the node's resolver as forwarder; a lab has no Internet, and a
        # forwarder that never answers only makes every unknown name time out.
        wanted = apply_global_settings(current, settings, remove=["dns forwarder"])
        changed = wanted != current
        if changed:
            ctx.write_file(SMB_CONF, wanted)
        if not ctx.run(["cmp", "-s", f"{PRIVATE}/krb5.conf", "/etc/krb5.conf"], check=False).ok:
            # A copy, not a symlink: Samba's docs warn the private dir is not world-readable.
            ctx.run(["cp", f"{PRIVATE}/krb5.conf", "/etc/krb5.conf"])
        self._ensure_file(
            ctx,
            "/etc/resolv.conf",
            f"# written by tai-labs: the DC is the domain's DNS\n"
            f"search {directory.realm}\nnameserver 127.0.0.1\n",
        )
        self._ensure_file(
            ctx,
            "/etc/hosts",
            f"127.0.0.1\tlocalhost\n{lab_ip}\t{ctx.node.name}.{directory.realm} {ctx.node.name}\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\n",
        )
        if ctx.run(["systemctl", "is-enabled", UNIT], check=False).stdout.strip() != "enabled":
            ctx.run(["systemctl", "enable", UNIT])
        active = ctx.run(["systemctl", "is-active", UNIT], check=False).stdout.strip() == "active"
        if changed or not active:
            if changed:
                # winbindd keeps the lookups that failed under the previous settings (a DC
                # that refused its own local sockets) as cached failures: drop them, with
                # samba stopped so nothing writes them back.
                ctx.run(["systemctl", "stop", UNIT], check=False)
                ctx.run(["rm", "-f", WINBIND_CACHE], check=False)
                ctx.run(["net", "cache", "flush"], check=False)
            # A stopped samba-ad-dc reports "failed", which would refuse a plain start after
            # too many attempts: clear it first.
            ctx.run(["systemctl", "reset-failed", UNIT], check=False)
            ctx.run(["systemctl", "restart", UNIT])

    def _mgmt_network(self, ctx: NodeContext) -> ipaddress.IPv4Network:
        """The management subnet, read from the node's own interface holding mgmt_address."""
        links = json.loads(ctx.run(["ip", "-j", "-4", "addr", "show"]).stdout or "[]")
        for link in links:
            for info in link.get("addr_info", []):
                if info.get("local") == str(ctx.mgmt_address):
                    return ipaddress.IPv4Interface(f"{info['local']}/{info['prefixlen']}").network
        return ipaddress.IPv4Network(f"{ctx.mgmt_address}/32")

    @staticmethod
    def _ensure_file(ctx: NodeContext, path: str, content: str) -> None:
        if ctx.run(["cat", path], check=False).stdout != content:
            ctx.write_file(path, content)

    def read_state(self, ctx: NodeContext, realm: str) -> DirectoryState:
        """The OUs, groups and users the DC holds now (from its database, no network)."""
        res = ctx.run(
            ["ldbsearch", "-H", SAM_LDB, "-b", domain_dn(realm), STATE_FILTER, *STATE_ATTRS]
        )
        return DirectoryState.from_ldif(res.stdout)

    def _reconcile_objects(self, ctx: NodeContext, directory: Directory) -> None:
        for command in object_commands(directory, self.read_state(ctx, directory.realm)):
            self._run(ctx, command)

    def _run(self, ctx: NodeContext, command: Command) -> None:
        res = ctx.run(command.argv, input=command.input, check=False)
        if res.ok:
            return
        detail = (res.stderr or res.stdout).strip()
        last = detail.splitlines()[-1] if detail else f"rc={res.rc}"
        if "check_password_restrictions" in detail:
            raise RoleError(
                f"{ctx.node.name}: the domain refused the password of {command.what}: {last}",
                hint="make the scenario's password longer or more varied",
            )
        raise RoleError(
            f"{ctx.node.name}: could not create {command.what}: "
            f"`{' '.join(command.argv)}` failed: {last}"
        )

    def _reconcile_dns(self, ctx: NodeContext, directory: Directory) -> None:
        realm = directory.realm
        records = dns_records(ctx.scenario, ctx.node)
        if not records:
            return
        query = ["dig", "+noall", "+answer", "+time=2", "+tries=2", "@127.0.0.1"]
        for name, _ in records:
            query += [f"{name}.{realm}.", "A"]
        present: set[tuple[str, str]] = set()
        for line in ctx.run(query).stdout.splitlines():
            fields = line.split()
            if len(fields) == 5 and fields[3] == "A":
                present.add((fields[0].rstrip(".").lower(), fields[4]))
        for name, address in records:
            if (f"{name}.{realm}", str(address)) in present:
                continue
            # -P: authenticate as the DC's machine account, which may write its own zones;
            # no Administrator password is needed (nor shown on a command line).
            self._run(
                ctx,
                Command(
                    ("samba-tool", "dns", "add", "127.0.0.1", realm, name, "A", str(address), "-P"),
                    f"DNS record {name}.{realm}",
                ),
            )

    # -- readiness -------------------------------------------------------------------------

    def wait_ready(self, ctx: NodeContext) -> None:
        started = time.monotonic()
        directory = _directory(ctx)
        password = _admin_password(ctx)
        self._wait_dns(ctx, directory.realm, timeout=self.ready_timeout)
        user = f"Administrator@{directory.realm}"
        remaining = max(1.0, self.ready_timeout - (time.monotonic() - started))
        wait_until(
            lambda: ldaps_bind(ctx.mgmt_address, user, password),
            node=ctx.node.name,
            what=f"an LDAPS simple bind as {user} to {ctx.mgmt_address}:{LDAPS_PORT}",
            timeout=remaining,
        )
        self.timings["ready"] = time.monotonic() - started

    def tls_certificates(self, ctx: NodeContext) -> dict[str, str]:
        # Read from the node's disk, not from the network: nothing on the management
        # network can put its own certificate here.
        return {"ldaps": ctx.run(["cat", TLS_CERT]).stdout}

    def _wait_dns(self, ctx: NodeContext, realm: str, *, timeout: float) -> None:
        def probe() -> tuple[bool, str]:
            res = ctx.run(
                ["host", "-W", "2", "-t", "SOA", realm, "127.0.0.1"], check=False, timeout=10
            )
            if res.ok and "has SOA record" in res.stdout:
                return True, "answered"
            state = ctx.run(["systemctl", "is-active", UNIT], check=False).stdout.strip()
            if state == "failed":
                # A failed unit does not come back by itself: waiting longer is pointless.
                journal = ctx.run(
                    ["journalctl", "-u", UNIT, "-n", "15", "--no-pager", "-o", "cat"], check=False
                ).stdout.strip()
                raise NotReadyError(
                    ctx.node.name, f"the {UNIT} service, which failed", timeout, journal[-800:]
                )
            return False, f"{UNIT} {state}; host: {(res.stdout or res.stderr).strip()[-200:]}"

        wait_until(
            probe, node=ctx.node.name, what=f"the DNS SOA of {realm} on the DC", timeout=timeout
        )


# -- scenario helpers --------------------------------------------------------------------------


def _directory(ctx: NodeContext) -> Directory:
    if ctx.scenario.directory is None:
        raise RoleError(
            f"{ctx.node.name} is an ad-dc node but the scenario has no 'directory' section"
        )
    return ctx.scenario.directory


def _admin_password(ctx: NodeContext) -> str:
    password = ctx.secrets.get("admin_password") or ctx.variables.get("admin_password")
    if not isinstance(password, str) or not password:
        raise RoleError(f"{ctx.node.name}: no 'admin_password' secret or variable for the domain")
    return password


def _lab_address(node: Node) -> ipaddress.IPv4Address:
    addresses = static_addresses(node)
    if not addresses:
        raise RoleError(
            f"{node.name}: a domain controller needs a static address on a lab network",
            hint="give its interface an address such as 192.168.10.10/24",
        )
    return addresses[0][1].ip
