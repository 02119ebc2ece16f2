"""Active Directory facts: names, entries and what an account's attributes mean.

One definition of each fact ("locked", "enabled", "member of", "must change password",
"in OU", a GPO link's state) for everyone who reads a directory: graders over LDAP, the
ad-dc role, faults and actions through ``ldbsearch`` on the DC. Entries come either from a
``DirectorySession`` or from ``ldbsearch``'s LDIF (``parse_ldif``); both give
``DirectoryEntry`` records with lowercased attribute names.

Decoders are strict: a value that is missing or does not decode raises ``ValueError``
(naming the attribute), so a check says ``error`` rather than guessing.

One module per part (attribute values, DNs, GPO links, objects over LDAP, sam.ldb on the DC,
the password policy); this package re-exports their names.
"""

from __future__ import annotations

from tai_labs.facts.directory.attributes import (
    GROUP_BUILTIN,
    GROUP_SCOPES,
    GROUP_SECURITY,
    NEVER_EXPIRES,
    SAMBA_TOOL_SCOPES,
    UAC_FLAGS,
    UF_ACCOUNTDISABLE,
    UF_DONT_EXPIRE_PASSWD,
    UF_LOCKOUT,
    datetime_to_filetime,
    decode_uac,
    filetime_to_datetime,
    group_scope,
    is_disabled,
    is_expired,
    is_locked,
    is_security_group,
    must_change_password,
    parse_generalized_time,
    to_int,
)
from tai_labs.facts.directory.dn import (
    container_path,
    escape_dn_value,
    in_ou,
    normalize_dn,
    ou_dn,
    ou_rdns,
    rdn_value,
    same_dn,
    split_dn,
)
from tai_labs.facts.directory.gplink import (
    GPLINK_DISABLED,
    GPLINK_ENFORCED,
    GpoLink,
    parse_gplink,
    render_gplink,
    set_gpo_link,
)
from tai_labs.facts.directory.ldb import (
    SAM_LDB,
    ExecResult,
    Runner,
    dns_data,
    ldb_modify,
    ldb_search,
    parse_ldif,
)
from tai_labs.facts.directory.policy import (
    PasswordPolicy,
    password_policy,
)
from tai_labs.facts.directory.records import (
    USER_ATTRS,
    Account,
    Computer,
    DirectoryObject,
    Gpo,
    Group,
    User,
    computers_in,
    find_gpo,
    find_group,
    find_user,
    object_classes,
    ou_links,
)
from tai_labs.sessions.ldap import realm_dn as domain_dn

__all__ = [
    "GPLINK_DISABLED",
    "GPLINK_ENFORCED",
    "GROUP_BUILTIN",
    "GROUP_SCOPES",
    "GROUP_SECURITY",
    "NEVER_EXPIRES",
    "SAMBA_TOOL_SCOPES",
    "SAM_LDB",
    "UAC_FLAGS",
    "UF_ACCOUNTDISABLE",
    "UF_DONT_EXPIRE_PASSWD",
    "UF_LOCKOUT",
    "USER_ATTRS",
    "Account",
    "Computer",
    "DirectoryObject",
    "ExecResult",
    "Gpo",
    "GpoLink",
    "Group",
    "PasswordPolicy",
    "Runner",
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
    "is_disabled",
    "is_expired",
    "is_locked",
    "is_security_group",
    "ldb_modify",
    "ldb_search",
    "must_change_password",
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
