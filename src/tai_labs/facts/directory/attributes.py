"""What an account's or a group's attribute values mean: userAccountControl bits, FILETIME
dates, groupType scopes. Decoders are strict: a missing or undecodable value raises ``ValueError``
naming the attribute."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

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
