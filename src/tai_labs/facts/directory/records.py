"""Directory objects (users, groups, GPOs, computers) and their readers over a directory
session (LDAP)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tai_labs.facts.directory import attributes as values
from tai_labs.facts.directory.dn import container_path, normalize_dn, ou_dn, rdn_value
from tai_labs.facts.directory.gplink import GpoLink, parse_gplink
from tai_labs.sessions.base import DirectoryEntry, DirectorySession, escape_filter


def object_classes(entry: DirectoryEntry) -> frozenset[str]:
    return frozenset(c.lower() for c in entry.attributes.get("objectclass", []))


@dataclass(frozen=True)
class DirectoryObject:
    """An entry of the directory, with the DN and the OU path every object has."""

    entry: DirectoryEntry

    @property
    def dn(self) -> str:
        return self.entry.dn

    @property
    def ou(self) -> str:
        return container_path(self.dn)


@dataclass(frozen=True)
class Account(DirectoryObject):
    """A user or computer account: enabled unless userAccountControl says disabled."""

    @property
    def uac(self) -> int:
        return values.to_int(self.entry.first("userAccountControl"), "userAccountControl")

    @property
    def enabled(self) -> bool:
        return not values.is_disabled(self.uac)


@dataclass(frozen=True)
class User(Account):
    """A user account; each property decodes the attribute it needs, strictly."""

    @property
    def login(self) -> str:
        return self.entry.first("sAMAccountName") or ""

    @property
    def lockout_time(self) -> int:
        return values.to_int(self.entry.first("lockoutTime") or "0", "lockoutTime")

    @property
    def locked(self) -> bool:
        """Locked now: a lockout was recorded and the DC still computes it (not timed out)."""
        lockout = self.lockout_time
        if lockout == 0:
            return False
        computed = self.entry.first("msDS-User-Account-Control-Computed")
        if computed is None:
            raise ValueError("msDS-User-Account-Control-Computed is missing")
        return values.is_locked(
            lockout, values.to_int(computed, "msDS-User-Account-Control-Computed")
        )

    @property
    def account_expires(self) -> int:
        return values.to_int(self.entry.first("accountExpires"), "accountExpires")

    def expired(self, now: datetime) -> bool:
        """Expired at ``now`` (graders give the DC's own clock)."""
        return values.is_expired(self.account_expires, now)

    @property
    def pwd_last_set(self) -> int:
        return values.to_int(self.entry.first("pwdLastSet"), "pwdLastSet")

    @property
    def must_change_password(self) -> bool:
        return values.must_change_password(self.pwd_last_set, self.uac)

    @property
    def member_of(self) -> list[str]:
        """DNs of the groups the account is a direct member of."""
        return list(self.entry.attributes.get("memberof", []))

    def is_member_of(self, group_dn: str) -> bool:
        wanted = normalize_dn(group_dn)
        return any(normalize_dn(dn) == wanted for dn in self.member_of)


@dataclass(frozen=True)
class Group(DirectoryObject):
    #: sAMAccountName of each direct member, when they were searched.
    members: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.entry.first("sAMAccountName") or self.entry.first("cn") or rdn_value(self.dn)

    @property
    def group_type(self) -> int:
        return values.to_int(self.entry.first("groupType"), "groupType")

    @property
    def scope(self) -> str:
        return values.group_scope(self.group_type)

    @property
    def security(self) -> bool:
        return values.is_security_group(self.group_type)


@dataclass(frozen=True)
class Gpo(DirectoryObject):
    @property
    def name(self) -> str:
        return self.entry.first("displayName") or ""

    @property
    def guid(self) -> str:  # the cn: {31B2F340-...}
        return self.entry.first("cn") or ""

    @property
    def flags(self) -> int:
        """0 all enabled, 1 user part disabled, 2 computer part disabled, 3 both."""
        return values.to_int(self.entry.first("flags") or "0", "flags")


@dataclass(frozen=True)
class Computer(Account):
    @property
    def name(self) -> str:
        return (self.entry.first("sAMAccountName") or self.entry.first("cn") or "").rstrip("$")

    @property
    def dns_name(self) -> str | None:
        return self.entry.first("dNSHostName")


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
