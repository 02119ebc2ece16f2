"""Decoding of Active Directory attribute values for the ``ad.*`` checks (pure functions).

LDAP gives every value as a string; these turn them into what a jury reasons about. DN and
gPLink parsing and group scopes come from ``tai_labs.sessions.ad``; what is here adds the
grading rules: a lockout holds only if the DC still computes it, the DC's clock decides
expiry, "password never expires" voids a forced change, an OU path is compared without
case. Anything that does not decode raises ``ValueError``: the check then says ``error``,
never guesses.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tai_labs.sessions.ad import GpoLink, ou_dn, parse_gplink, split_dn
from tai_labs.sessions.ad import group_scope as _group_scope

__all__ = [
    "NEVER_EXPIRES",
    "GpoLink",
    "container_path",
    "filetime_to_datetime",
    "group_scope",
    "in_ou",
    "is_disabled",
    "is_expired",
    "is_locked",
    "must_change_password",
    "normalize_dn",
    "ou_dn",
    "parse_generalized_time",
    "parse_gplink",
    "split_dn",
    "to_int",
]

#: userAccountControl: the account is disabled.
UF_ACCOUNTDISABLE = 0x2
#: userAccountControl: the password never expires (a forced change is then not asked for).
UF_DONT_EXPIRE_PASSWD = 0x10000
#: msDS-User-Account-Control-Computed: locked out *now* (an expired lockout is not).
UF_LOCKOUT = 0x10
#: accountExpires values meaning "never".
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


def is_disabled(uac: int) -> bool:
    return bool(uac & UF_ACCOUNTDISABLE)


def is_locked(lockout_time: int, computed: int) -> bool:
    """Locked only if a lockout was recorded AND the DC says it still holds (not timed out)."""
    return lockout_time > 0 and bool(computed & UF_LOCKOUT)


def filetime_to_datetime(value: int) -> datetime:
    """A Windows FILETIME (100 ns ticks since 1601-01-01 UTC) as an aware datetime."""
    return _FILETIME_EPOCH + timedelta(microseconds=value // 10)


def datetime_to_filetime(when: datetime) -> int:
    delta = when.astimezone(UTC) - _FILETIME_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def parse_generalized_time(value: str) -> datetime:
    """rootDSE ``currentTime`` ("20261129044639.0Z") as an aware UTC datetime."""
    match = re.fullmatch(r"(\d{14})(?:[.,]\d+)?Z", value.strip())
    if not match:
        raise ValueError(f"not a GeneralizedTime in UTC: {value!r}")
    return datetime.strptime(match.group(1), "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def is_expired(account_expires: int, now: datetime) -> bool:
    if account_expires in NEVER_EXPIRES:
        return False
    return account_expires <= datetime_to_filetime(now)


def must_change_password(pwd_last_set: int, uac: int) -> bool:
    """pwdLastSet = 0 forces a change at next logon, unless the password never expires
    (Windows then ignores it; ADUC warns so when both are ticked)."""
    return pwd_last_set == 0 and not uac & UF_DONT_EXPIRE_PASSWD


def group_scope(group_type: int) -> str:
    """ "global", "domainlocal" or "universal"; ValueError when no scope bit is set."""
    scope = _group_scope(group_type)
    if scope not in ("global", "domainlocal", "universal"):
        raise ValueError(f"groupType {group_type} has no scope bit")
    return scope


def normalize_dn(dn: str) -> str:
    """A DN fit for comparison: AD compares attribute types and values without case."""
    rdns = split_dn(dn)
    if not rdns:
        raise ValueError(f"not a DN: {dn!r}")
    return ",".join(f"{k}={v.casefold()}" for k, v in rdns)


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
