"""Active Directory reading for graders: users, groups, GPOs and their links, computers.

Decoders (``decode_uac``, ``group_scope``, ``parse_gplink``, ``ou_path``...) are pure
functions of attribute values; the ``find_*`` functions ask a ``DirectorySession`` (every
call with a timeout) and return small typed records whose ``entry`` keeps the raw evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tai_labs.sessions.base import DirectoryEntry, DirectorySession, escape_filter
from tai_labs.sessions.ldap import escape_dn_value, ou_dn, ou_path, rdn_value, same_dn, split_dn

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
#: groupType bits (MS-ADTS 2.2.12); the security bit makes the value negative as an int32.
GROUP_SCOPES = {0x2: "global", 0x4: "domainlocal", 0x8: "universal"}
GROUP_BUILTIN, GROUP_SECURITY = 0x1, 0x80000000
#: accountExpires values meaning "never" (0 and the largest int64).
NEVER = (0, 0x7FFFFFFFFFFFFFFF)
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
_GPLINK = re.compile(r"\[LDAP://([^;\]]+);(\d+)\]", re.IGNORECASE)

USER_ATTRS = (
    "sAMAccountName", "userAccountControl", "msDS-User-Account-Control-Computed",
    "lockoutTime", "pwdLastSet", "accountExpires", "memberOf", "badPwdCount",
    "displayName", "objectGUID",
)  # fmt: skip


def decode_uac(value: int | str | None) -> frozenset[str]:
    bits = int(value or 0) & 0xFFFFFFFF
    return frozenset(name for bit, name in UAC_FLAGS.items() if bits & bit)


def group_scope(group_type: int | str) -> str:
    """``global``, ``domainlocal`` or ``universal`` (builtin local groups: ``builtin``)."""
    bits = int(group_type) & 0xFFFFFFFF
    if bits & GROUP_BUILTIN:  # BUILTIN\Administrators and the like: 0x80000005
        return "builtin"
    return next((name for bit, name in GROUP_SCOPES.items() if bits & bit), "unknown")


def is_security_group(group_type: int | str) -> bool:
    return bool(int(group_type) & GROUP_SECURITY)


def filetime(value: int | str | None) -> datetime | None:
    """A Windows FILETIME (100 ns since 1601) as a UTC datetime; None for 0 / never."""
    ticks = int(value or 0)
    if ticks in NEVER:
        return None
    return _FILETIME_EPOCH + timedelta(microseconds=ticks // 10)


@dataclass(frozen=True)
class GpoLink:
    dn: str
    enabled: bool
    enforced: bool

    @property
    def state(self) -> str:
        if not self.enabled:
            return "disabled"
        return "enforced" if self.enforced else "enabled"


def parse_gplink(value: str | None) -> list[GpoLink]:
    """gPLink ``[LDAP://cn={G},cn=policies,...;0][...;2]``: bit 1 = disabled, 2 = enforced."""
    return [
        GpoLink(dn, enabled=not int(opt) & 1, enforced=bool(int(opt) & 2))
        for dn, opt in _GPLINK.findall(value or "")
    ]


@dataclass(frozen=True)
class User:
    login: str
    dn: str
    ou: str
    enabled: bool
    locked: bool
    must_change_password: bool
    expired: bool
    flags: frozenset[str]
    member_of: list[str]
    entry: DirectoryEntry = field(repr=False)


def user_from_entry(entry: DirectoryEntry, base_dn: str, now: datetime | None = None) -> User:
    flags = decode_uac(entry.first("userAccountControl"))
    computed = entry.first("msDS-User-Account-Control-Computed")
    if computed is not None:
        # The DC's own view: it clears lockout once the lockout duration has passed, even
        # though lockoutTime keeps its value until the next logon.
        locked = "lockout" in decode_uac(computed)
    else:
        locked = int(entry.first("lockoutTime") or 0) > 0
    expires = filetime(entry.first("accountExpires"))
    return User(
        login=entry.first("sAMAccountName") or "",
        dn=entry.dn,
        ou=ou_path(entry.dn, base_dn),
        enabled="disabled" not in flags,
        locked=locked,
        must_change_password=entry.first("pwdLastSet") == "0",
        expired=expires is not None and expires <= (now or datetime.now(UTC)),
        flags=flags,
        member_of=[rdn_value(g) for g in entry.attributes.get("memberof", [])],
        entry=entry,
    )


def find_user(session: DirectorySession, login: str, *, timeout: float = 15.0) -> User | None:
    entries = session.search(
        session.base_dn,
        f"(&(objectCategory=person)(objectClass=user)(sAMAccountName={escape_filter(login)}))",
        USER_ATTRS,
        timeout=timeout,
    )
    return user_from_entry(entries[0], session.base_dn) if entries else None


@dataclass(frozen=True)
class Group:
    name: str
    dn: str
    ou: str
    scope: str
    security: bool
    #: sAMAccountName of each direct member (users, groups, computers).
    members: list[str]
    member_dns: list[str]
    entry: DirectoryEntry = field(repr=False)


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
    entry = found[0]
    members = session.search(
        session.base_dn, f"(memberOf={escape_filter(entry.dn)})", ("sAMAccountName",),
        timeout=timeout,
    )  # fmt: skip
    group_type = entry.first("groupType") or "0"
    return Group(
        name=entry.first("sAMAccountName") or entry.first("cn") or name,
        dn=entry.dn,
        ou=ou_path(entry.dn, session.base_dn),
        scope=group_scope(group_type),
        security=is_security_group(group_type),
        members=sorted(m.first("sAMAccountName") or rdn_value(m.dn) for m in members),
        member_dns=list(entry.attributes.get("member", [])),
        entry=entry,
    )


@dataclass(frozen=True)
class Gpo:
    name: str
    dn: str
    guid: str  # the cn: {31B2F340-...}
    #: flags: 0 all enabled, 1 user part disabled, 2 computer part disabled, 3 both.
    flags: int
    entry: DirectoryEntry = field(repr=False)


def find_gpo(session: DirectorySession, display_name: str, *, timeout: float = 15.0) -> Gpo | None:
    found = session.search(
        f"CN=Policies,CN=System,{session.base_dn}",
        f"(&(objectClass=groupPolicyContainer)(displayName={escape_filter(display_name)}))",
        ("cn", "displayName", "flags", "gPCFileSysPath"),
        scope="one",
        timeout=timeout,
    )
    if not found:
        return None
    entry = found[0]
    return Gpo(
        name=entry.first("displayName") or display_name,
        dn=entry.dn,
        guid=entry.first("cn") or "",
        flags=int(entry.first("flags") or 0),
        entry=entry,
    )


def ou_links(
    session: DirectorySession, path: str, *, timeout: float = 15.0
) -> list[GpoLink] | None:
    """The GPO links of an OU (``Siege/Utilisateurs``), or None if the OU does not exist."""
    found = session.search(
        ou_dn(path, session.base_dn), "(objectClass=*)", ("gPLink",), scope="base",
        timeout=timeout,
    )  # fmt: skip
    return parse_gplink(found[0].first("gPLink")) if found else None


@dataclass(frozen=True)
class Computer:
    name: str
    dn: str
    ou: str
    dns_name: str | None
    enabled: bool


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
    return [
        Computer(
            name=(e.first("sAMAccountName") or e.first("cn") or "").rstrip("$"),
            dn=e.dn,
            ou=ou_path(e.dn, session.base_dn),
            dns_name=e.first("dNSHostName"),
            enabled="disabled" not in decode_uac(e.first("userAccountControl")),
        )
        for e in entries
    ]


__all__ = [
    "Computer",
    "Gpo",
    "GpoLink",
    "Group",
    "User",
    "computers_in",
    "decode_uac",
    "escape_dn_value",
    "filetime",
    "find_gpo",
    "find_group",
    "find_user",
    "group_scope",
    "is_security_group",
    "ou_dn",
    "ou_links",
    "ou_path",
    "parse_gplink",
    "rdn_value",
    "same_dn",
    "split_dn",
    "user_from_entry",
]
