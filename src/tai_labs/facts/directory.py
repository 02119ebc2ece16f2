"""Active Directory facts: names, entries and what an account's attributes mean.

One definition of each fact ("locked", "enabled", "member of", "must change password",
"in OU", a GPO link's state) for everyone who reads a directory: graders over LDAP, the
ad-dc role, faults and actions through ``ldbsearch`` on the DC. Entries come either from a
``DirectorySession`` or from ``ldbsearch``'s LDIF (``parse_ldif``); both give
``DirectoryEntry`` records with lowercased attribute names.

Decoders are strict: a value that is missing or does not decode raises ``ValueError``
(naming the attribute), so a check says ``error`` rather than guessing.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from tai_labs.sessions.base import DirectoryEntry, DirectorySession, escape_filter
from tai_labs.sessions.ldap import realm_dn as domain_dn

#: Samba's directory database on a DC, read with ldbsearch and written with ldbmodify.
SAM_LDB = "/var/lib/samba/private/sam.ldb"

# -- attribute values ------------------------------------------------------------------------

# userAccountControl bits (MS-ADTS 2.2.16).
UAC_FLAGS = {
    0x0001: "script", 0x0002: "disabled", 0x0008: "homedir_required", 0x0010: "lockout",
    0x0020: "password_not_required", 0x0040: "password_cant_change",
    0x0080: "encrypted_text_password_allowed", 0x0200: "normal_account",
    0x0800: "interdomain_trust_account", 0x1000: "workstation_trust_account",
    0x2000: "server_trust_account", 0x10000: "dont_expire_password",
    0x40000: "smartcard_required", 0x80000: "trusted_for_delegation",
    0x100000: "not_delegated", 0x400000: "dont_require_preauth", 0x800000: "password_expired",
}  # fmt: skip
#: userAccountControl: the account is disabled.
UF_ACCOUNTDISABLE = 0x2
#: msDS-User-Account-Control-Computed: locked out *now* (an expired lockout is not).
UF_LOCKOUT = 0x10
#: userAccountControl: the password never expires (a forced change is then not asked for).
UF_DONT_EXPIRE_PASSWD = 0x10000
#: groupType bits (MS-ADTS 2.2.12); the security bit makes the value negative as an int32.
GROUP_SCOPES = {0x2: "global", 0x4: "domainlocal", 0x8: "universal"}
#: A scope as ``samba-tool group add --group-scope`` names it.
SAMBA_TOOL_SCOPES = {"global": "Global", "domainlocal": "Domain", "universal": "Universal"}
GROUP_BUILTIN, GROUP_SECURITY = 0x1, 0x80000000
#: accountExpires values meaning "never" (0 and the largest int64).
NEVER_EXPIRES = frozenset({0, 0x7FFFFFFFFFFFFFFF})
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


def to_int(value: str | None, what: str) -> int:
    """An integer attribute; ValueError (with the attribute named) if absent or not a number."""
    if value is None:
        raise ValueError(f"{what} is missing")
    try:
        return int(value.strip())
    except ValueError:
        raise ValueError(f"{what} is not an integer: {value!r}") from None


def decode_uac(value: int | str | None) -> frozenset[str]:
    bits = int(value or 0) & 0xFFFFFFFF
    return frozenset(name for bit, name in UAC_FLAGS.items() if bits & bit)


def is_disabled(uac: int) -> bool:
    return bool(uac & UF_ACCOUNTDISABLE)


def is_locked(lockout_time: int, computed: int) -> bool:
    """Locked only if a lockout was recorded AND the DC says it still holds (not timed out)."""
    return lockout_time > 0 and bool(computed & UF_LOCKOUT)


def must_change_password(pwd_last_set: int, uac: int) -> bool:
    """pwdLastSet = 0 forces a change at next logon, unless the password never expires
    (Windows then ignores it; ADUC warns so when both are ticked)."""
    return pwd_last_set == 0 and not uac & UF_DONT_EXPIRE_PASSWD


def filetime_to_datetime(value: int) -> datetime:
    """A Windows FILETIME (100 ns ticks since 1601-01-01 UTC) as an aware datetime."""
    return _FILETIME_EPOCH + timedelta(microseconds=value // 10)


def datetime_to_filetime(when: datetime) -> int:
    delta = when.astimezone(UTC) - _FILETIME_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def is_expired(account_expires: int, now: datetime) -> bool:
    if account_expires in NEVER_EXPIRES:
        return False
    return account_expires <= datetime_to_filetime(now)


def parse_generalized_time(value: str) -> datetime:
    """rootDSE ``currentTime`` ("20261129044639.0Z") as an aware UTC datetime."""
    match = re.fullmatch(r"(\d{14})(?:[.,]\d+)?Z", value.strip())
    if not match:
        raise ValueError(f"not a GeneralizedTime in UTC: {value!r}")
    return datetime.strptime(match.group(1), "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def group_scope(group_type: int | str) -> str:
    """``global``, ``domainlocal`` or ``universal`` (builtin local groups: ``builtin``)."""
    bits = int(group_type) & 0xFFFFFFFF
    if bits & GROUP_BUILTIN:  # BUILTIN\Administrators and the like: 0x80000005
        return "builtin"
    return next((name for bit, name in GROUP_SCOPES.items() if bits & bit), "unknown")


def is_security_group(group_type: int | str) -> bool:
    return bool(int(group_type) & GROUP_SECURITY)


# -- distinguished names ---------------------------------------------------------------------


def split_dn(dn: str) -> list[tuple[str, str]]:
    """``CN=a\\,b,OU=x`` -> [("cn", "a,b"), ("ou", "x")]: RDNs, values unescaped."""
    parts: list[tuple[str, str]] = []
    buf: list[str] = []
    i = 0
    while i <= len(dn):
        ch = dn[i] if i < len(dn) else ","
        if ch == "\\" and i + 1 < len(dn):
            nxt = dn[i + 1 : i + 3]
            if re.fullmatch(r"[0-9A-Fa-f]{2}", nxt):
                buf.append(chr(int(nxt, 16)))
                i += 3
                continue
            buf.append(dn[i + 1])
            i += 2
            continue
        if ch == ",":
            attr, _, value = "".join(buf).partition("=")
            if attr.strip():
                parts.append((attr.strip().lower(), value.strip()))
            buf = []
        else:
            buf.append(ch)
        i += 1
    return parts


def escape_dn_value(value: str) -> str:
    """RFC 4514 escaping of an RDN value."""
    out = "".join(f"\\{c}" if c in ',+"\\<>;=' else c for c in value)
    if out.startswith((" ", "#")):
        out = "\\" + out
    if out.endswith(" ") and not out.endswith("\\ "):
        out = out[:-1] + "\\ "
    return out


def ou_rdns(path: str) -> str:
    """'Siege/Utilisateurs' -> 'OU=Utilisateurs,OU=Siege', relative to the domain DN."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        raise ValueError(f"empty OU path {path!r}")
    return ",".join(f"OU={escape_dn_value(p)}" for p in reversed(parts))


def ou_dn(path: str, base_dn: str) -> str:
    """``Siege/Utilisateurs`` -> ``OU=Utilisateurs,OU=Siege,<base>``; "" is the domain."""
    return f"{ou_rdns(path)},{base_dn}" if path.strip("/") else base_dn


def rdn_value(dn: str) -> str:
    rdns = split_dn(dn)
    return rdns[0][1] if rdns else dn


def normalize_dn(dn: str) -> str:
    """A DN fit for comparison: AD compares attribute types and values without case."""
    rdns = split_dn(dn)
    if not rdns:
        raise ValueError(f"not a DN: {dn!r}")
    return ",".join(f"{k}={v.casefold()}" for k, v in rdns)


def same_dn(a: str, b: str) -> bool:
    """DN equality as AD compares them: without case, spacing around ``,``/``=`` ignored."""
    return [(k, v.casefold()) for k, v in split_dn(a)] == [
        (k, v.casefold()) for k, v in split_dn(b)
    ]


def _parents(dn: str) -> list[tuple[str, str]]:
    rdns = split_dn(dn)
    if not rdns:
        raise ValueError(f"not a DN: {dn!r}")
    return [(k, v) for k, v in rdns[1:] if k != "dc"]


def container_path(dn: str) -> str:
    """Where an object sits, as the scenario writes OU paths: the parents below the domain.

    ``CN=N M,OU=Utilisateurs,OU=Siege,DC=x,DC=lan`` -> ``Siege/Utilisateurs``; an object in a
    plain container keeps the container's name (``CN=Users`` -> ``Users``): compare with
    ``in_ou``, which tells OUs from containers.
    """
    return "/".join(v for _, v in reversed(_parents(dn)))


def in_ou(dn: str, ou_path: str) -> bool:
    """The object's direct parent is the OU ``ou_path`` ("Siege/Utilisateurs"), any case."""
    parents = _parents(dn)
    wanted = [p for p in ou_path.split("/") if p]
    if not wanted or any(k != "ou" for k, _ in parents):
        return False
    return [v.casefold() for _, v in reversed(parents)] == [w.casefold() for w in wanted]


# -- GPO links -------------------------------------------------------------------------------

_GPLINK = re.compile(r"\[([^;\]]+);(\d+)\]")
#: gPLink option bits: 1 = link disabled, 2 = enforced.
GPLINK_DISABLED, GPLINK_ENFORCED = 1, 2


@dataclass(frozen=True)
class GpoLink:
    dn: str
    flags: int = 0

    @property
    def enabled(self) -> bool:
        return not self.flags & GPLINK_DISABLED

    @property
    def enforced(self) -> bool:
        return bool(self.flags & GPLINK_ENFORCED)

    @property
    def state(self) -> str:
        if not self.enabled:
            return "disabled"
        return "enforced" if self.enforced else "enabled"

    def with_enabled(self, enabled: bool) -> GpoLink:
        """The same link enabled or disabled (enforced kept as it was)."""
        flags = self.flags & ~GPLINK_DISABLED if enabled else self.flags | GPLINK_DISABLED
        return replace(self, flags=flags)


def parse_gplink(value: str | None) -> list[GpoLink]:
    """gPLink ``[LDAP://cn={G},cn=policies,...;0][...;1]`` -> its links, in order."""
    return [
        GpoLink(re.sub(r"^ldap://", "", dn, flags=re.IGNORECASE), int(flags))
        for dn, flags in _GPLINK.findall(value or "")
    ]


def render_gplink(links: Sequence[GpoLink]) -> str:
    return "".join(f"[LDAP://{link.dn};{link.flags}]" for link in links)


def set_gpo_link(links: Sequence[GpoLink], gpo_dn: str, enabled: bool) -> list[GpoLink]:
    """``links`` with the GPO's link enabled or disabled (enforced kept as it was); a new
    link goes first, where ``samba-tool gpo setlink`` puts it."""
    wanted = normalize_dn(gpo_dn)
    out = [lk.with_enabled(enabled) if normalize_dn(lk.dn) == wanted else lk for lk in links]
    if not any(normalize_dn(lk.dn) == wanted for lk in links):
        out.insert(0, GpoLink(gpo_dn).with_enabled(enabled))
    return out


# -- objects ---------------------------------------------------------------------------------


def object_classes(entry: DirectoryEntry) -> frozenset[str]:
    return frozenset(c.lower() for c in entry.attributes.get("objectclass", []))


@dataclass(frozen=True)
class User:
    """A user account; each property decodes the attribute it needs, strictly."""

    entry: DirectoryEntry

    @property
    def dn(self) -> str:
        return self.entry.dn

    @property
    def login(self) -> str:
        return self.entry.first("sAMAccountName") or ""

    @property
    def ou(self) -> str:
        return container_path(self.dn)

    @property
    def uac(self) -> int:
        return to_int(self.entry.first("userAccountControl"), "userAccountControl")

    @property
    def enabled(self) -> bool:
        return not is_disabled(self.uac)

    @property
    def lockout_time(self) -> int:
        return to_int(self.entry.first("lockoutTime") or "0", "lockoutTime")

    @property
    def locked(self) -> bool:
        """Locked now: a lockout was recorded and the DC still computes it (not timed out)."""
        lockout = self.lockout_time
        if lockout == 0:
            return False
        computed = self.entry.first("msDS-User-Account-Control-Computed")
        if computed is None:
            raise ValueError("msDS-User-Account-Control-Computed is missing")
        return is_locked(lockout, to_int(computed, "msDS-User-Account-Control-Computed"))

    @property
    def account_expires(self) -> int:
        return to_int(self.entry.first("accountExpires"), "accountExpires")

    def expired(self, now: datetime) -> bool:
        """Expired at ``now`` (graders give the DC's own clock)."""
        return is_expired(self.account_expires, now)

    @property
    def pwd_last_set(self) -> int:
        return to_int(self.entry.first("pwdLastSet"), "pwdLastSet")

    @property
    def must_change_password(self) -> bool:
        return must_change_password(self.pwd_last_set, self.uac)

    @property
    def member_of(self) -> list[str]:
        """DNs of the groups the account is a direct member of."""
        return list(self.entry.attributes.get("memberof", []))

    def is_member_of(self, group_dn: str) -> bool:
        wanted = normalize_dn(group_dn)
        return any(normalize_dn(dn) == wanted for dn in self.member_of)


@dataclass(frozen=True)
class Group:
    entry: DirectoryEntry
    #: sAMAccountName of each direct member, when they were searched.
    members: list[str] = field(default_factory=list)

    @property
    def dn(self) -> str:
        return self.entry.dn

    @property
    def name(self) -> str:
        return self.entry.first("sAMAccountName") or self.entry.first("cn") or rdn_value(self.dn)

    @property
    def ou(self) -> str:
        return container_path(self.dn)

    @property
    def group_type(self) -> int:
        return to_int(self.entry.first("groupType"), "groupType")

    @property
    def scope(self) -> str:
        return group_scope(self.group_type)

    @property
    def security(self) -> bool:
        return is_security_group(self.group_type)


@dataclass(frozen=True)
class Gpo:
    entry: DirectoryEntry

    @property
    def dn(self) -> str:
        return self.entry.dn

    @property
    def name(self) -> str:
        return self.entry.first("displayName") or ""

    @property
    def guid(self) -> str:  # the cn: {31B2F340-...}
        return self.entry.first("cn") or ""

    @property
    def flags(self) -> int:
        """0 all enabled, 1 user part disabled, 2 computer part disabled, 3 both."""
        return to_int(self.entry.first("flags") or "0", "flags")


@dataclass(frozen=True)
class Computer:
    entry: DirectoryEntry

    @property
    def dn(self) -> str:
        return self.entry.dn

    @property
    def name(self) -> str:
        return (self.entry.first("sAMAccountName") or self.entry.first("cn") or "").rstrip("$")

    @property
    def ou(self) -> str:
        return container_path(self.dn)

    @property
    def dns_name(self) -> str | None:
        return self.entry.first("dNSHostName")

    @property
    def enabled(self) -> bool:
        return not is_disabled(to_int(self.entry.first("userAccountControl"), "userAccountControl"))


# -- over a directory session (LDAP) ---------------------------------------------------------

USER_ATTRS = (
    "sAMAccountName", "userAccountControl", "msDS-User-Account-Control-Computed",
    "lockoutTime", "pwdLastSet", "accountExpires", "memberOf", "badPwdCount",
    "displayName", "objectGUID",
)  # fmt: skip


def find_user(session: DirectorySession, login: str, *, timeout: float = 15.0) -> User | None:
    entries = session.search(
        session.base_dn,
        f"(&(objectCategory=person)(objectClass=user)(sAMAccountName={escape_filter(login)}))",
        USER_ATTRS,
        timeout=timeout,
    )
    return User(entries[0]) if entries else None


def find_group(session: DirectorySession, name: str, *, timeout: float = 15.0) -> Group | None:
    value = escape_filter(name)
    found = session.search(
        session.base_dn,
        f"(&(objectClass=group)(|(sAMAccountName={value})(cn={value})))",
        ("cn", "sAMAccountName", "groupType", "member"),
        timeout=timeout,
    )
    if not found:
        return None
    members = session.search(
        session.base_dn, f"(memberOf={escape_filter(found[0].dn)})", ("sAMAccountName",),
        timeout=timeout,
    )  # fmt: skip
    return Group(found[0], sorted(m.first("sAMAccountName") or rdn_value(m.dn) for m in members))


def find_gpo(session: DirectorySession, display_name: str, *, timeout: float = 15.0) -> Gpo | None:
    found = session.search(
        f"CN=Policies,CN=System,{session.base_dn}",
        f"(&(objectClass=groupPolicyContainer)(displayName={escape_filter(display_name)}))",
        ("cn", "displayName", "flags", "gPCFileSysPath"),
        scope="one",
        timeout=timeout,
    )
    return Gpo(found[0]) if found else None


def ou_links(
    session: DirectorySession, path: str, *, timeout: float = 15.0
) -> list[GpoLink] | None:
    """The GPO links of an OU (``Siege/Utilisateurs``), or None if the OU does not exist."""
    found = session.search(
        ou_dn(path, session.base_dn), "(objectClass=*)", ("gPLink",), scope="base",
        timeout=timeout,
    )  # fmt: skip
    return parse_gplink(found[0].first("gPLink")) if found else None


def computers_in(
    session: DirectorySession, path: str, *, subtree: bool = True, timeout: float = 15.0
) -> list[Computer]:
    entries = session.search(
        ou_dn(path, session.base_dn),
        "(objectClass=computer)",
        ("cn", "sAMAccountName", "dNSHostName", "userAccountControl"),
        scope="subtree" if subtree else "one",
        timeout=timeout,
    )
    return [Computer(e) for e in entries]


# -- on the DC itself (ldbsearch, samba-tool) ------------------------------------------------


class ExecResult(Protocol):
    @property
    def stdout(self) -> str: ...

    @property
    def ok(self) -> bool: ...


class Runner(Protocol):
    """What runs a command in the node (a role's, fault's or action's context)."""

    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | bytes | None = None,
        timeout: float | None = 120.0,
        check: bool = True,
    ) -> ExecResult: ...


def parse_ldif(text: str) -> list[DirectoryEntry]:
    """Entries of ldbsearch's LDIF (folded lines joined, base64 values decoded); referrals
    and comments are skipped; attribute names lowercased, as a directory session gives them."""
    logical: list[str] = []
    for raw in text.splitlines():
        if raw.startswith(" ") and logical:
            logical[-1] += raw[1:]
        else:
            logical.append(raw)
    entries: list[DirectoryEntry] = []
    dn: str | None = None
    attributes: dict[str, list[str]] = {}
    for line in [*logical, ""]:
        if not line.strip():
            if dn is not None:
                entries.append(DirectoryEntry(dn, attributes))
            dn, attributes = None, {}
            continue
        if line.startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        if value.startswith(":"):
            value = base64.b64decode(value[1:].strip()).decode("utf-8", errors="replace")
        else:
            value = value.strip()
        if key.lower() == "dn":
            dn = value
        elif dn is not None:  # lines outside an entry: a referral's "ref:"
            attributes.setdefault(key.lower(), []).append(value)
    return entries


def ldb_search(
    node: Runner,
    ldap_filter: str,
    attrs: Sequence[str],
    base: str | None = None,
    *,
    scope: str | None = None,
    check: bool = True,
) -> list[DirectoryEntry]:
    """Entries of sam.ldb on the DC; with ``check`` False, a failed search finds nothing."""
    argv = ["ldbsearch", "-H", SAM_LDB]
    if base is not None:
        argv += ["-b", base]
    if scope is not None:
        argv += ["-s", scope]
    res = node.run([*argv, ldap_filter, *attrs], check=check)
    return parse_ldif(res.stdout) if res.ok else []


def ldb_modify(node: Runner, dn: str, attr: str, values: Sequence[str]) -> None:
    """Replace ``attr`` of ``dn`` (LDIF through stdin; DN and values base64, whatever they hold)."""
    lines = [
        f"dn:: {base64.b64encode(dn.encode()).decode()}",
        "changetype: modify",
        f"replace: {attr}",
        *(f"{attr}:: {base64.b64encode(v.encode()).decode()}" for v in values),
        "-",
    ]
    node.run(["ldbmodify", "-H", SAM_LDB], input="\n".join(lines) + "\n")


@dataclass(frozen=True)
class PasswordPolicy:
    """The domain's password and lockout settings (``samba-tool domain passwordsettings``)."""

    settings: dict[str, str]

    def _int(self, key: str) -> int:
        value = self.settings.get(key, "")
        return int(value) if value.lstrip("-").isdigit() else 0

    @property
    def lockout_threshold(self) -> int:
        """Failed logons before a lockout; 0 never locks (Samba's provisioned default)."""
        return self._int("Account lockout threshold (attempts)")

    @property
    def lockout_duration(self) -> int:
        """Minutes a lockout lasts; 0 until an administrator unlocks the account."""
        return self._int("Account lockout duration (mins)")

    @classmethod
    def parse(cls, text: str) -> PasswordPolicy:
        out = {}
        for line in text.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                out[key.strip()] = value.strip()
        return cls(out)


def password_policy(node: Runner) -> PasswordPolicy:
    return PasswordPolicy.parse(
        node.run(["samba-tool", "domain", "passwordsettings", "show"]).stdout
    )


def dns_data(query_output: str, rtype: str) -> list[str]:
    """Data of the ``rtype`` records in a ``samba-tool dns query`` output."""
    out = []
    for line in query_output.splitlines():
        m = re.match(rf"^\s*{rtype}:\s+(\S+)\s+\(", line)
        if m:
            out.append(m.group(1))
    return out


__all__ = [
    "GPLINK_DISABLED",
    "NEVER_EXPIRES",
    "SAM_LDB",
    "Computer",
    "Gpo",
    "GpoLink",
    "Group",
    "PasswordPolicy",
    "User",
    "computers_in",
    "container_path",
    "datetime_to_filetime",
    "decode_uac",
    "dns_data",
    "domain_dn",
    "escape_dn_value",
    "filetime_to_datetime",
    "find_gpo",
    "find_group",
    "find_user",
    "group_scope",
    "in_ou",
    "is_expired",
    "is_locked",
    "ldb_modify",
    "ldb_search",
    "normalize_dn",
    "object_classes",
    "ou_dn",
    "ou_links",
    "ou_rdns",
    "parse_generalized_time",
    "parse_gplink",
    "parse_ldif",
    "password_policy",
    "rdn_value",
    "render_gplink",
    "same_dn",
    "set_gpo_link",
    "split_dn",
    "to_int",
]
