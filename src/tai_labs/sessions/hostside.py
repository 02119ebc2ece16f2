"""A container node's command session whose reading commands the host answers itself.

Graders keep asking for ``stat``, ``head -c``, ``cat``, ``sha256sum``, ``base64 -w0``,
``readlink``, ``ls -1 -A`` and ``getfacl -n -p`` (the POSIX ACL xattr parsed here) of a path,
and for ``ip ... show`` and ``ss``. On a container node:

- file reads are answered from the node's layers on the host's disk (``providers.rootfs``),
  parsed by our code, with the output those tools print, so judges are unchanged
  (``via="rootfs"``); a unit's ``cgroup.procs`` and the units of a slice are read in the
  host's cgroup hierarchy (``via="cgroup"``);
- read-only ``ip``, ``ss`` and ``nft list ruleset`` are the host's own binaries run in the
  node's network namespace only (``providers.netns``, ``via="netns"``): same JSON, none of
  the node's files;
- ``lpstat -r|-d|-p Q|-a Q`` is the host's lpstat asking the node's cupsd over the node's
  loopback (``providers.cupsprobe``, ``via="netns"``);
- a DHCP exchange on the node's segment is asked by the host itself from the jury's own
  probe point (``dhcp_probe``, ``providers.lanprobe``, ``via="lan"``), each answer named by
  the port it came in on;
- name resolution (every record type), reachability, a web page, an SMB share and a Kerberos
  logon are asked from the node's network namespace by the host's own code or binaries
  (``curl``, ``smbclient``, ``kinit``), the node's settings read from its disk; each answer
  records who gave it.

Nothing of the node (its binaries, ``ld.so.preload``, its shell) takes part, and the
evidence says ``source="host"``. Anything else, and paths on the node's kernel file systems
(``/proc``, ``/run``...), go to the node's own session and are marked node-side.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import json
import os
import shlex
from collections.abc import Callable, Sequence
from typing import TypeVar

from tai_labs.bounded_output import MAX_OUTPUT_BYTES
from tai_labs.errors import TaiLabsError
from tai_labs.providers import cupsprobe, httpprobe, netprobe, rootfs
from tai_labs.providers.base import HostView
from tai_labs.providers.cgroups import node_cgroup_entries, node_cgroup_procs
from tai_labs.providers.errors import EngineError
from tai_labs.providers.kerberos import machine_ticket, user_ticket
from tai_labs.providers.lanprobe import JuryLan, dhcp_exchange
from tai_labs.providers.netns import NetNamespace
from tai_labs.providers.rootfs import NotOnDisk, OverlayTree
from tai_labs.providers.smbprobe import smb_access
from tai_labs.sessions.base import CommandResult, CommandSession, SessionError
from tai_labs.sessions.deadline import budget

#: ``env LC_ALL=C LANG=C`` (grading.parsers.C_LOCALE): the host's answer is untranslated.
_C_LOCALE = ("env", "LC_ALL=C", "LANG=C")
#: What ``cat`` or ``head`` return at most: the output bound of every command; past it the
#: answer says stdout was cut, as a node-side channel would.
CAT_LIMIT = MAX_OUTPUT_BYTES
#: Longest file hashed from the host; a longer one is an error, not minutes of grading.
HASH_LIMIT = 256 * 1024 * 1024
#: Longest /etc/passwd or /etc/group read to name owners.
_NAMES_LIMIT = 1024 * 1024
_STAT_FIELDS = set("FaUGugs")
#: Longest keytab handed to the host's kinit (a machine's holds a few entries).
KEYTAB_LIMIT = 64 * 1024
#: Redirects the jury's web probe follows (as ``curl -L`` did on the node, bounded).
HTTP_REDIRECTS = 5
#: Longest /etc/environment or profile.d script read for proxy settings.
PROFILE_LIMIT = 256 * 1024

Answer = Callable[[HostView, list[str]], CommandResult | None]
T = TypeVar("T")


class HostSideSession(CommandSession):
    """``inner`` (SSH or exec) for what must run in the node; the host for what it can read."""

    shell = "posix"

    def __init__(
        self,
        inner: CommandSession,
        view: HostView,
        jury: Callable[[], JuryLan] | None = None,
        peers: Callable[[str], HostView | None] | None = None,
    ) -> None:
        self.inner = inner
        #: The host's view of another node of the lab (its namespace for a jury probe).
        self._peers = peers
        self.view = view
        self.netns = NetNamespace(view.init_pid)
        #: The jury's probe point on the node's networks (``providers.lanprobe``), on demand.
        self._jury = jury

    @property
    def transport(self) -> str:  # type: ignore[override]  # the inner channel's
        return self.inner.transport

    @property
    def fallback(self) -> str:
        """Why the wrapped channel is exec and not SSH (empty if SSH): for node-side items."""
        return str(getattr(self.inner, "fallback", ""))

    @property
    def node(self) -> str:
        return str(getattr(self.inner, "node", ""))

    def run(
        self, argv: Sequence[str], *, timeout: float = 30.0, input: str | None = None
    ) -> CommandResult:
        if input is None:
            answered = host_answer(self.view, list(argv))
            if answered is None and network_read(list(argv)):
                answered = self._in_netns(list(argv), timeout)
            words = list(argv[3:]) if tuple(argv[:3]) == _C_LOCALE else list(argv)
            if answered is None and cupsprobe.lpstat_query(words):
                answered = self._lpstat(words, timeout)
            if answered is not None:
                return answered
        return self.inner.run(argv, timeout=timeout, input=input)

    def _in_netns(self, argv: list[str], timeout: float) -> CommandResult:
        timeout = budget(timeout, f"{self.node}: `{shlex.join(argv)}`")
        try:
            result = self.netns.run(argv, timeout=timeout)
        except EngineError as exc:
            raise SessionError(f"{self.node}: {exc.message}") from exc
        return CommandResult(
            result.rc,
            result.stdout,
            result.stderr,
            shlex.join(argv),
            result.truncated,
            source="host",
            via="netns",
        )

    def _lpstat(self, words: list[str], timeout: float) -> CommandResult:
        """The node's print queues from its scheduler, asked by the host's lpstat over the
        node's loopback (``providers.cupsprobe``); ``-d`` also reads the node's
        ``/etc/cups/lpoptions`` from its disk, as the node's own lpstat would."""
        command = shlex.join(words) + f" (jury, cupsd de {self.node})"
        options = None
        if words[1:] == ["-d"]:  # only the default depends on the node's lpoptions
            options = host_answer(self.view, ["cat", "--", "/etc/cups/lpoptions"])
        try:
            result = cupsprobe.lpstat(
                self.netns,
                words,
                node_lpoptions=options.stdout if options is not None and options.ok else "",
                timeout=budget(timeout, command),
            )
        except EngineError as exc:
            raise SessionError(f"{self.node}: {exc.message}") from exc
        return CommandResult(result.rc, result.stdout, result.stderr, command, result.truncated,
                             source="host", via="netns")  # fmt: skip

    def dhcp_probe(self, interface: str, *, prefer: str | None = None) -> CommandResult | None:
        """A DHCP exchange asked by the host on the segment of the node's ``interface``, from
        the jury's own MAC; stdout is the JSON list of answers, each with the node whose port
        it came in on. None when the lab offers no jury probe point there."""
        if self._jury is None:
            return None
        try:
            lan = self._jury()
        except (TaiLabsError, OSError, KeyError) as exc:
            raise SessionError(f"{self.node}: no jury probe point: {exc}") from exc
        segment = lan.segments.get(interface)
        if segment is None:
            return None
        command = f"jury dhcp {segment.bridge} (client {lan.mac})"
        try:
            replies = dhcp_exchange(segment, lan.mac, prefer=prefer)
        except EngineError as exc:
            return CommandResult(1, "", exc.message + "\n", command, source="host", via="lan")
        text = json.dumps([r.as_dict() for r in replies], ensure_ascii=False)
        return CommandResult(0, text + "\n", "", command, source="host", via="lan")

    def reach_probe(self, host: str, port: int | None = None) -> CommandResult | None:
        """Whether ``host`` answers ping (or accepts TCP on ``port``) from the node, asked by
        the host's own code in the node's network namespace; a name is resolved as the node
        would (its ``/etc/hosts``, then the nameservers of its ``/etc/resolv.conf``, both read
        from its disk by the host, the query sent from its namespace). stdout is JSON."""
        report: dict[str, object] = {"host": host}
        address = _literal(host)
        if address is None:
            address = self._resolve(host, report)
        if address is not None:
            report["address"] = address
            target = address

            def probe() -> dict[str, object]:
                if port is None:
                    return {"ping": netprobe.ping(target)}
                return {"tcp": netprobe.tcp_connect(target, port)}

            report.update(self._in_node(probe))
            report["next_hop"] = self._next_hop(address)
        command = f"jury reach {host}" + (f":{port}" if port else "") + f" (réseau de {self.node})"
        return CommandResult(
            0,
            json.dumps(report, ensure_ascii=False) + "\n",
            "",
            command,
            source="host",
            via="netns",
        )

    def _in_node(self, work: Callable[[], T]) -> T:
        try:
            return netprobe.in_namespace(self.netns.handle(), work)
        except EngineError as exc:
            raise SessionError(f"{self.node}: {exc.message}") from exc

    def resolve_probe(self, name: str, server: str | None = None) -> CommandResult | None:
        """``name``'s IPv4 addresses as the node would get them (its ``/etc/hosts``, then its
        resolv.conf's nameservers), or from ``server`` only; the DNS queries are sent by the
        host's code from the node's namespace and each records who answered. JSON."""
        report: dict[str, object] = {"query": name}
        self._resolve(name, report, server=server)
        command = f"jury resolve {name}" + (f" @{server}" if server else "")
        text = json.dumps(report, ensure_ascii=False) + "\n"
        return CommandResult(0, text, "", f"{command} (réseau de {self.node})", source="host",
                             via="netns")  # fmt: skip

    def dns_probe(self, query: str, rtype: str, server: str | None = None) -> CommandResult | None:
        """The ``rtype`` records of ``query`` (an address for PTR: its in-addr.arpa name), as
        ``dig`` on the node would ask them: from ``server``, else the nameservers of its
        ``/etc/resolv.conf`` (read from its disk by the host) in order, no search list, until
        one answers. Each query is sent by the host's code from the node's namespace and
        records who answered. JSON."""
        name = netprobe.reverse_name(query) if rtype == "PTR" and _literal(query) else query
        if server is not None:
            servers = [server]
        else:
            conf = host_answer(self.view, ["cat", "--", "/etc/resolv.conf"])
            servers = netprobe.resolver_config(conf.stdout if conf and conf.ok else "")[0]
        asked: list[dict[str, object]] = []
        for ns in servers:
            query_ns = functools.partial(netprobe.dns_query, ns, name, rtype=rtype)
            answer = self._in_node(query_ns)
            asked.append({"name": name, **answer})
            if "rcode" in answer:
                break
        resolution = {"source": "dns", "servers": servers, "answers": asked}
        report = {"query": name, "type": rtype, "resolution": resolution}
        command = f"jury dig {name} {rtype}" + (f" @{server}" if server else "")
        return CommandResult(0, json.dumps(report, ensure_ascii=False) + "\n", "",
                             f"{command} (réseau de {self.node})", source="host",
                             via="netns")  # fmt: skip

    def _resolve(
        self, name: str, report: dict[str, object], *, server: str | None = None
    ) -> str | None:
        if server is None:
            hosts = host_answer(self.view, ["cat", "--", "/etc/hosts"])
            found = netprobe.hosts_lookup(hosts.stdout, name) if hosts and hosts.ok else None
            if found is not None:
                report["resolution"] = {"source": "/etc/hosts", "address": found}
                return found
            conf = host_answer(self.view, ["cat", "--", "/etc/resolv.conf"])
            servers, search = netprobe.resolver_config(conf.stdout if conf and conf.ok else "")
        else:
            servers, search = [server], []
        names = [name] if "." in name else [f"{name}.{d}" for d in search] + [name]
        asked: list[dict[str, object]] = []
        report["resolution"] = {"source": "dns", "servers": servers, "answers": asked}
        for ns in servers:
            for candidate in names:
                answer = self._in_node(functools.partial(netprobe.dns_query, ns, candidate))
                asked.append({"name": candidate, **answer})
                addresses = answer.get("addresses")
                if isinstance(addresses, list) and addresses:
                    return str(addresses[0])
            if any("rcode" in a for a in asked):
                return None  # a server answered (no such name): glibc asks no further
        return None

    def _next_hop(self, address: str) -> dict[str, object]:
        """The node's route to ``address`` and the MAC its neighbour table holds for the hop
        (the host's ``ip`` in the namespace): which machine the answer came through."""
        try:
            route = json.loads(self.netns.run(["ip", "-j", "route", "get", address]).stdout)[0]
            via = str(route.get("gateway") or address)
            dev = str(route.get("dev", ""))
            neigh = json.loads(
                self.netns.run(["ip", "-j", "neigh", "show", "to", via, "dev", dev]).stdout
            )
        except (EngineError, ValueError, IndexError, KeyError, TypeError):
            return {}
        mac = neigh[0].get("lladdr") if neigh and isinstance(neigh[0], dict) else None
        return {"via": via, "dev": dev, "mac": mac}

    def machine_ticket(
        self, keytab_path: str, principal: str, realm: str, kdc_node: str, kdc: str
    ) -> CommandResult | None:
        """A TGT for ``principal`` with the keytab at ``keytab_path`` on this node (read from
        its disk by the host), asked by the host's kinit in ``kdc_node``'s own network
        namespace from the KDC's address ``kdc``: no other node's routes, firewall or programs
        take part. stdout is the JSON of the attempt; None when the lab offers no such view."""
        if self._peers is None:
            return None
        command = f"jury kinit -k {principal} @{kdc} (réseau de {kdc_node})"
        try:
            data = self.view.files.read(keytab_path, KEYTAB_LIMIT + 1)
        except NotOnDisk:
            return None
        except OSError as exc:
            return CommandResult(1, "", f"{keytab_path}: {_reason(exc)}\n", command,
                                 source="host", via="rootfs")  # fmt: skip
        if len(data) > KEYTAB_LIMIT:
            return CommandResult(1, "", f"{keytab_path}: too long for a keytab\n", command,
                                 source="host", via="rootfs")  # fmt: skip
        try:
            peer = self._peers(kdc_node)
        except (TaiLabsError, OSError) as exc:
            raise SessionError(f"{kdc_node}: no host view: {exc}") from exc
        if peer is None:
            return None
        netns = NetNamespace(peer.init_pid)
        try:
            attempt = machine_ticket(
                netns, data, principal, realm, kdc, timeout=budget(30.0, command)
            )
        except EngineError as exc:
            return CommandResult(1, "", exc.message + "\n", command, source="host", via="netns")
        finally:
            netns.close()
        text = json.dumps(attempt.as_dict(), ensure_ascii=False) + "\n"
        return CommandResult(0, text, "", command, source="host", via="netns")

    def user_ticket(self, principal: str, password: str, kdc: str) -> CommandResult | None:
        """A TGT for ``principal`` with ``password`` (kinit's stdin), asked by the host's own
        kinit in this node's network namespace (its routes and firewall apply, none of its
        programs or Kerberos files) from the KDC address ``kdc``. stdout is JSON."""
        realm = principal.rpartition("@")[2]
        command = f"jury kinit {principal} @{kdc} (réseau de {self.node})"
        try:
            attempt = user_ticket(
                self.netns, principal, password, realm, kdc, timeout=budget(30.0, command)
            )
        except EngineError as exc:
            return CommandResult(1, "", exc.message + "\n", command, source="host", via="netns")
        text = json.dumps(attempt.as_dict(), ensure_ascii=False) + "\n"
        return CommandResult(0, text, "", command, source="host", via="netns")

    def smb_probe(
        self, share: str, user: str, password: str, *, write: bool
    ) -> CommandResult | None:
        """The share tried by the host's smbclient in this node's network namespace; the
        server's name resolved as the node would (its hosts file, then its nameservers, read
        and asked by the host). Who answered (address, next hop and its MAC) ends stderr."""
        server, _, name = share.lstrip("/").partition("/")
        report: dict[str, object] = {}
        address = _literal(server) or self._resolve(server, report)
        command = f"jury smbclient {share} -U {user} (réseau de {self.node})"
        if address is None:
            said = json.dumps(report.get("resolution"), ensure_ascii=False)
            text = f"do_connect: Connection to {server} failed (Error NT_STATUS_NOT_FOUND)\n"
            return CommandResult(1, "", f"{text}jury: {server} non résolu : {said}\n", command,
                                 source="host", via="netns")  # fmt: skip
        try:
            got = smb_access(
                self.netns, address, name, user, password, write=write,
                timeout=budget(60.0, command),
            )  # fmt: skip
        except EngineError as exc:
            return CommandResult(1, "", exc.message + "\n", command, source="host", via="netns")
        hop = self._next_hop(address)
        who = f"jury: {server} -> {address} (via {hop.get('via')}, MAC {hop.get('mac')})\n"
        return CommandResult(got.rc, got.stdout, got.stderr + who, command, got.truncated,
                             source="host", via="netns")  # fmt: skip

    def http_probe(self, url: str) -> CommandResult | None:
        """``url`` fetched by the host's curl in this node's network namespace, through the
        proxy the node's system-wide settings name (read from its disk by the host), every
        name resolved as the node would; redirects followed the same way. The output is the
        node-side probe script's (body, then ``== status CODE``; the ``proxy:`` line and, per
        request, who answered, on stderr)."""
        command = f"jury curl {url} (réseau de {self.node})"
        settings = httpprobe.read_settings(self._proxy_sources())
        said = [settings.summary()] + [f"jury: non lu (calculé) : {u}" for u in settings.unread]
        current, hop = url, None
        for _ in range(HTTP_REDIRECTS + 1):
            try:
                scheme, host, port = httpprobe.endpoint(current)
                proxy = settings.proxy_for(scheme, host)
                ends = [(host, port)] + ([httpprobe.endpoint(proxy)[1:]] if proxy else [])
            except EngineError as exc:
                return CommandResult(1, "", exc.message + "\n", command, source="host",
                                     via="netns")  # fmt: skip
            resolve: dict[tuple[str, int], str] = {}
            for name, name_port in ends:
                if _literal(name) is not None:
                    continue
                report: dict[str, object] = {}
                address = self._resolve(name, report)
                if address is None:
                    lookup = json.dumps(report.get("resolution"), ensure_ascii=False)
                    said.append(f"curl: (6) Could not resolve host: {name}")
                    said.append(f"jury: {name} non résolu : {lookup}")
                    return CommandResult(6, "\n== status 000", "\n".join(said) + "\n",
                                         command, source="host", via="netns")  # fmt: skip
                resolve[(name, name_port)] = address
            try:
                hop = httpprobe.fetch(self.netns, current, proxy=proxy, resolve=resolve,
                                      timeout=budget(20.0, command))  # fmt: skip
            except EngineError as exc:
                return CommandResult(1, "", exc.message + "\n", command, source="host",
                                     via="netns")  # fmt: skip
            pinned = "".join(f", {n} -> {a}" for (n, _), a in resolve.items())
            said.append(
                f"jury: GET {current} {'via ' + proxy if proxy else 'en direct'}{pinned} : "
                f"HTTP {hop.status:03d} de {hop.peer or '(personne)'}"
            )
            location = str(hop.info.get("redirect_url") or "")
            if hop.status not in (301, 302, 303, 307, 308) or not location:
                break
            current = location
        assert hop is not None
        return CommandResult(
            hop.rc,
            f"{hop.body}\n== status {hop.status:03d}",
            hop.stderr + "\n".join(said) + "\n",
            command,
            hop.truncated,
            source="host",
            via="netns",
        )

    def _proxy_sources(self) -> list[tuple[str, str]]:
        """/etc/environment then /etc/profile.d/*.sh (a login's order), read from the disk."""
        paths = ["/etc/environment"]
        try:
            names = self.view.files.listdir("/etc/profile.d")
        except (OSError, NotOnDisk):
            names = []
        paths += [f"/etc/profile.d/{n}" for n in names if n.endswith(".sh")]
        sources = []
        for path in paths:
            try:
                data = self.view.files.read(path, PROFILE_LIMIT)
            except (OSError, NotOnDisk):
                continue
            sources.append((path, data.decode(errors="replace")))
        return sources

    def close(self) -> None:
        self.netns.close()
        self.inner.close()


#: ``ip`` objects whose ``show``/``list`` only reads, and the global options allowed.
_IP_OBJECTS = {
    "addr": "address", "address": "address", "a": "address",
    "route": "route", "r": "route", "ro": "route",
    "link": "link", "l": "link",
    "neigh": "neigh", "neighbor": "neigh", "neighbour": "neigh", "n": "neigh",
    "rule": "rule", "ru": "rule",
}  # fmt: skip
_IP_OPTIONS = {"-j", "-json", "-4", "-6", "-d", "-details", "-s", "-stats", "-o", "-br", "-p"}
#: ``ss`` letters that only read (no -K kill, -p process walk, -D dump, -F filter file).
_SS_LETTERS = set("tuwxlanHe46oim")


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        return None


def network_read(argv: list[str]) -> bool:
    """argv is a read-only ``ip ... show``, ``ss`` or ``nft [-j] list ruleset`` the host may
    run in the namespace (the ruleset is the kernel's, read over netlink by the host's nft)."""
    if not argv:
        return False
    if argv[0] == "nft":
        return argv[1:] in (["-j", "list", "ruleset"], ["list", "ruleset"])
    if argv[0] == "ss":
        return all(
            a.startswith("-") and not a.startswith("--") and set(a[1:]) <= _SS_LETTERS
            for a in argv[1:]
        )
    if argv[0] != "ip":
        return False
    words = argv[1:]
    while words and words[0].startswith("-"):
        if words[0] not in _IP_OPTIONS:
            return False
        words = words[1:]
    if not words or words[0] not in _IP_OBJECTS:
        return False
    return len(words) == 1 or words[1] in ("show", "list", "ls", "sh")


def host_answer(view: HostView, argv: list[str]) -> CommandResult | None:
    """The host's answer to a reading command, or None when only the node can answer."""
    command = shlex.join(argv)
    words = argv[3:] if tuple(argv[:3]) == _C_LOCALE else argv
    answer = _ANSWERS.get(words[0]) if words else None
    if answer is None:
        return None
    try:
        result = answer(view, words)
    except NotOnDisk:
        return None
    if result is None:
        return None
    via = "cgroup" if result.command == "cgroup" else "rootfs"
    return CommandResult(
        result.rc, result.stdout, result.stderr, command, result.truncated, source="host", via=via
    )


def _path_arg(words: list[str], options: int) -> str | None:
    """The single absolute path after ``options`` words and an optional ``--``."""
    rest = words[1 + options :]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    if len(rest) != 1 or not rest[0].startswith("/"):
        return None
    return rest[0]


def _failed(tool: str, text: str) -> CommandResult:
    return CommandResult(1, "", f"{tool}: {text}\n", "")


def _reason(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc)


def _stat(view: HostView, words: list[str]) -> CommandResult | None:
    files = view.files
    if len(words) < 3 or words[1] != "-c":
        return None
    fmt = words[2]
    path = _path_arg(words, 2)
    if path is None or not _plain_format(fmt):
        return None
    try:
        st = files.lstat(path)
    except OSError as exc:
        return _failed("stat", f"cannot statx {shlex.quote(path)}: {_reason(exc)}")
    users, groups = _names(files, "/etc/passwd"), _names(files, "/etc/group")
    values = {
        "F": st.kind,
        "a": f"{st.perms:o}",
        "U": users.get(st.uid, "UNKNOWN"),
        "G": groups.get(st.gid, "UNKNOWN"),
        "u": str(st.uid),
        "g": str(st.gid),
        "s": str(st.size),
    }
    out = []
    i = 0
    while i < len(fmt):
        if fmt[i] == "%":
            out.append(values[fmt[i + 1]])
            i += 2
        else:
            out.append(fmt[i])
            i += 1
    return CommandResult(0, "".join(out) + "\n", "", "")


def _plain_format(fmt: str) -> bool:
    """Only the ``%X`` fields this answer knows, no escapes or widths."""
    if "\\" in fmt:
        return False
    parts = fmt.split("%")
    return all(p[:1] in _STAT_FIELDS for p in parts[1:])


def _names(files: OverlayTree, path: str) -> dict[int, str]:
    """id -> name from the node's passwd or group file, read from the host."""
    try:
        text = files.read(path, _NAMES_LIMIT).decode(errors="replace")
    except (OSError, NotOnDisk):
        return {}
    names: dict[int, str] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[2].isdigit():
            names.setdefault(int(fields[2]), fields[0])
    return names


def _head(view: HostView, words: list[str]) -> CommandResult | None:
    files = view.files
    if len(words) < 3 or words[1] != "-c" or not words[2].isdigit():
        return None
    path = _path_arg(words, 2)
    if path is None:
        return None
    try:
        data = files.read(path, min(int(words[2]), CAT_LIMIT + 1))
    except IsADirectoryError:
        return _failed("head", f"error reading {shlex.quote(path)}: Is a directory")
    except OSError as exc:
        return _failed("head", f"cannot open {shlex.quote(path)} for reading: {_reason(exc)}")
    return _bounded(data)


def _cat(view: HostView, words: list[str]) -> CommandResult | None:
    files = view.files
    path = _path_arg(words, 0)
    if path is None:
        return None
    if view.cgroup_dir is not None and path.startswith("/sys/fs/cgroup/"):
        return _cgroup_procs(view.cgroup_dir, path)
    try:
        data = files.read(path, CAT_LIMIT + 1)
    except OSError as exc:
        return _failed("cat", f"{path}: {_reason(exc)}")
    return _bounded(data)


def _bounded(data: bytes) -> CommandResult:
    """Content kept to the output bound; past it, stdout is marked cut (bounded_output)."""
    cut = len(data) > CAT_LIMIT
    text = data[:CAT_LIMIT].decode(errors="replace")
    return CommandResult(0, text, "", "", ("stdout",) if cut else ())


def _cgroup_procs(cgroup_dir: str, path: str) -> CommandResult | None:
    """A node's ``cgroup.procs`` read in the host's hierarchy, pids as the node numbers them."""
    try:
        pids = node_cgroup_procs(cgroup_dir, path)
    except OSError as exc:
        return CommandResult(1, "", f"cat: {path}: {_reason(exc)}\n", "cgroup")
    if pids is None:
        return None
    return CommandResult(0, "".join(f"{pid}\n" for pid in pids), "", "cgroup")


def _ls(view: HostView, words: list[str]) -> CommandResult | None:
    """``ls -1 -A -- DIR``: the names in a directory of the node's disk, or in one of its
    cgroup dirs seen in the host's hierarchy (which sub-cgroups, hence units, exist)."""
    if words[1:3] != ["-1", "-A"]:
        return None
    path = _path_arg(words, 2)
    if path is None:
        return None
    try:
        if path.startswith("/sys/fs/cgroup/"):
            if view.cgroup_dir is None:
                return None
            names = node_cgroup_entries(view.cgroup_dir, path)
            if names is None:
                return None
            command = "cgroup"
        else:
            names = view.files.listdir(path)
            command = ""
    except NotADirectoryError:
        return None  # ls of a file names the file: the node's own ls can say it
    except OSError as exc:
        text = f"ls: cannot access {shlex.quote(path)}: {_reason(exc)}\n"
        return CommandResult(2, "", text, "cgroup" if path.startswith("/sys/") else "")
    return CommandResult(0, "".join(f"{name}\n" for name in names), "", command)


def _readlink(view: HostView, words: list[str]) -> CommandResult | None:
    """``readlink -- PATH``: where a link of the node's disk points (``/dev/null``: masked)."""
    path = _path_arg(words, 0)
    if path is None:
        return None
    try:
        target = view.files.readlink(path)
    except OSError:
        return CommandResult(1, "", "", "")  # not a link, or absent: readlink says nothing
    return CommandResult(0, target + "\n", "", "")


def _sha256sum(view: HostView, words: list[str]) -> CommandResult | None:
    files = view.files
    path = _path_arg(words, 0)
    if path is None:
        return None
    try:
        digest = files.sha256(path, HASH_LIMIT)
    except OSError as exc:
        return _failed("sha256sum", f"{path}: {_reason(exc)}")
    if digest is None:
        return _failed("sha256sum", f"{path}: longer than {HASH_LIMIT} bytes, not hashed")
    return CommandResult(0, f"{digest}  {path}\n", "", "")


def _base64(view: HostView, words: list[str]) -> CommandResult | None:
    """``base64 -w0 PATH``: a binary file (a keytab) read from the host, losslessly."""
    if words[1:2] != ["-w0"]:
        return None
    path = _path_arg(words, 1)
    if path is None:
        return None
    try:
        data = view.files.read(path, CAT_LIMIT + 1)
    except OSError as exc:
        return _failed("base64", f"{path}: {_reason(exc)}")
    if len(data) > CAT_LIMIT:
        return _failed("base64", f"{path}: longer than {CAT_LIMIT} bytes, not read")
    return CommandResult(0, base64.b64encode(data).decode("ascii"), "", "")


def _getfacl(view: HostView, words: list[str]) -> CommandResult | None:
    """``getfacl -n -p -- PATH`` from the ``system.posix_acl_access`` xattr parsed on the host
    (numeric ids as the node sees them), in getfacl's own layout; none of the node's code runs.
    """
    if words[1:4] != ["-n", "-p", "--"] or len(words) != 5 or not words[4].startswith("/"):
        return None
    path = words[4]
    try:
        st = view.files.lstat(path)
        entries = view.files.posix_acl(path)
    except OSError as exc:
        return _failed("getfacl", f"{path}: {_reason(exc)}")
    except ValueError as exc:
        return _failed("getfacl", f"{path}: {exc}")
    if entries is None:  # no ACL: the minimal one the mode makes
        entries = [
            (rootfs.ACL_USER_OBJ, (st.perms >> 6) & 7, 0),
            (rootfs.ACL_GROUP_OBJ, (st.perms >> 3) & 7, 0),
            (rootfs.ACL_OTHER, st.perms & 7, 0),
        ]
    lines = [f"# file: {path}", f"# owner: {st.uid}", f"# group: {st.gid}"]
    special = st.perms >> 9
    if special:
        flags = "".join(c if special & b else "-" for c, b in (("s", 4), ("s", 2), ("t", 1)))
        lines.append(f"# flags: {flags}")
    names = {
        rootfs.ACL_USER_OBJ: "user:",
        rootfs.ACL_USER: "user:{}",
        rootfs.ACL_GROUP_OBJ: "group:",
        rootfs.ACL_GROUP: "group:{}",
        rootfs.ACL_MASK: "mask:",
        rootfs.ACL_OTHER: "other:",
    }
    for tag, perms, ident in entries:
        rwx = "".join(c if perms & b else "-" for c, b in (("r", 4), ("w", 2), ("x", 1)))
        lines.append(f"{names[tag].format(ident)}:{rwx}")
    return CommandResult(0, "\n".join(lines) + "\n\n", "", "")


_ANSWERS: dict[str, Answer] = {
    "getfacl": _getfacl,
    "stat": _stat,
    "head": _head,
    "cat": _cat,
    "sha256sum": _sha256sum,
    "base64": _base64,
    "ls": _ls,
    "readlink": _readlink,
}
