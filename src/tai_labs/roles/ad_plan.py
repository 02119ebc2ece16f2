"""What the ``ad-dc`` role has to do, computed without touching a node.

Pure functions over the scenario's ``Directory`` and the directory's current state (as read
by ``ldbsearch``): distinguished names, the smb.conf settings the role manages, the AD
password rule, and the list of ``samba-tool`` commands that create what is missing. Keeping
this apart from the role lets it be tested without a domain controller.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from tai_labs.facts.directory import (
    SAMBA_TOOL_SCOPES,
    User,
    domain_dn,
    normalize_dn,
    object_classes,
    ou_dn,
    ou_rdns,
    parse_ldif,
)
from tai_labs.scenario.model import AdUser, Directory, Node, Scenario

#: samba-tool's names for the group scopes of the scenario format.


@dataclass(frozen=True)
class Command:
    """One command to run inside the DC; secrets travel in ``input``, never in ``argv``."""

    argv: tuple[str, ...]
    what: str  # names the object for error messages, never a secret
    input: str | None = None


# -- names ---------------------------------------------------------------------------------------


def ou_paths(directory: Directory) -> list[str]:
    """Every OU the directory needs (listed or used by a group or user), parents first."""
    wanted: list[str] = []
    used = [
        *directory.ous,
        *(g.ou for g in directory.groups if g.ou),
        *(u.ou for u in directory.users if u.ou),
    ]
    for path in used:
        parts = [p for p in path.split("/") if p]
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            if prefix not in wanted:
                wanted.append(prefix)
    # Stable sort by depth: a parent always comes before its children.
    return sorted(wanted, key=lambda p: p.count("/"))


# -- current state ---------------------------------------------------------------------------------

#: What ldbsearch must return for ``DirectoryState.from_ldif``.
STATE_FILTER = (
    "(|(objectClass=organizationalUnit)(objectClass=group)"
    "(&(objectClass=user)(!(objectClass=computer))))"
)
STATE_ATTRS = ("objectClass", "sAMAccountName", "memberOf", "userAccountControl", "pwdLastSet")


@dataclass
class DirectoryState:
    ous: set[str] = field(default_factory=set)  # normalized DNs
    groups: dict[str, str] = field(default_factory=dict)  # lower sAMAccountName -> DN
    users: dict[str, User] = field(default_factory=dict)  # lower login -> account

    @classmethod
    def from_ldif(cls, text: str) -> DirectoryState:
        state = cls()
        for entry in parse_ldif(text):
            classes = object_classes(entry)
            sam = (entry.first("sAMAccountName") or "").lower()
            if "organizationalunit" in classes:
                state.ous.add(normalize_dn(entry.dn))
            elif "group" in classes and sam:
                state.groups[sam] = entry.dn
            elif "user" in classes and "computer" not in classes and sam:
                state.users[sam] = User(entry)
        return state


# -- passwords -------------------------------------------------------------------------------------


def password_problem(password: str, account: str, *names: str) -> str | None:
    """Why AD's default complexity rule would refuse ``password``, or None.

    The rule: at least 7 characters, 3 of the 4 classes (upper, lower, digit, other), and
    neither the account name nor any 3+ character token of the display name in it.
    """
    if len(password) < 7:
        return "shorter than 7 characters"
    classes = sum(
        [
            any(c.isupper() for c in password),
            any(c.islower() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        ]
    )
    if classes < 3:
        return "needs 3 of: upper case, lower case, digit, other character"
    lowered = password.lower()
    if len(account) >= 3 and account.lower() in lowered:
        return "contains the account name"
    for name in names:
        for token in _name_tokens(name):
            if token in lowered:
                return f"contains {token!r} from the user's name"
    return None


def _name_tokens(name: str) -> list[str]:
    token, tokens = "", []
    for c in name.lower() + ",":
        if c in ",.-_ #\t":
            if len(token) >= 3:
                tokens.append(token)
            token = ""
        else:
            token += c
    return tokens


def check_passwords(directory: Directory, admin_password: str) -> None:
    """Raise ValueError naming the first account whose password the domain would refuse."""
    problem = password_problem(admin_password, "Administrator")
    if problem:
        raise ValueError(f"the Administrator password is too weak for AD: {problem}")
    for user in directory.users:
        problem = password_problem(user.password, user.login, f"{user.first} {user.last}")
        if problem:
            raise ValueError(
                f"the password of AD user {user.login!r} is too weak for AD: {problem}"
            )


# -- smb.conf ------------------------------------------------------------------------------------


def _conf_key(line: str) -> str:
    return " ".join(line.split("=", 1)[0].split()).lower()


def apply_global_settings(
    text: str, settings: Mapping[str, str], remove: Iterable[str] = ()
) -> str:
    """smb.conf with ``settings`` set and ``remove`` dropped in [global]; other lines kept."""
    drop = {k.lower() for k in (*settings, *remove)}
    out: list[str] = []
    section = ""
    seen_global = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1].strip().lower()
            out.append(line)
            if section == "global":
                seen_global = True
                out += [f"\t{k} = {v}" for k, v in settings.items()]
            continue
        is_setting = "=" in stripped and not stripped.startswith(("#", ";"))
        if section == "global" and is_setting and _conf_key(stripped) in drop:
            continue
        out.append(line)
    if not seen_global:
        out = ["[global]", *(f"\t{k} = {v}" for k, v in settings.items()), *out]
    return "\n".join(out) + "\n"


def conf_realm(text: str) -> str | None:
    """The realm an smb.conf declares, lower case, if any."""
    for line in text.splitlines():
        if "=" in line and _conf_key(line.strip()) == "realm":
            return line.split("=", 1)[1].strip().lower()
    return None


# -- topology ------------------------------------------------------------------------------------


def static_addresses(node: Node) -> list[tuple[str, ipaddress.IPv4Interface]]:
    """(network, address) of the node's statically addressed interfaces, in order."""
    return [
        (i.network, i.address)
        for i in node.interfaces
        if isinstance(i.address, ipaddress.IPv4Interface)
    ]


def dns_records(scenario: Scenario, dc: Node) -> list[tuple[str, ipaddress.IPv4Address]]:
    """One A record per node with a static lab address: its address on a network the DC is
    on when it has one (a router's WAN side is not what the LAN should resolve), else its first."""
    dc_networks = {net for net, _ in static_addresses(dc)} | {i.network for i in dc.interfaces}
    records = []
    for node in scenario.topology.nodes:
        addresses = static_addresses(node)
        if not addresses:
            continue
        shared = [a for net, a in addresses if net in dc_networks]
        records.append((node.name, (shared or [addresses[0][1]])[0].ip))
    return records


#: The peer address Samba's socket layer gives a connection on a unix-domain socket
#: (source4/lib/socket/socket_unix.c). Samba's own daemons reach each other that way on a DC
#: (winbindd -> samba's RPC servers) and ``hosts allow`` is checked for them too: without
#: this token the DC refuses itself ("Denied connection to 'smbd' from (LOCAL/unixdom)") and
#: every winbind lookup on the DC fails (getent group, id, chgrp "DOM\\group").
#: lib/util/access.c matches it as a plain string: with no dot nor colon it never matches a
#: network client's address, and its '/' keeps the list "addresses only" (no reverse DNS
#: lookup per connection, which the bare token ``LOCAL`` would bring, matching any dotless
#: host name as well).
LOCAL_SOCKETS = "LOCAL/unixdom"


def allowed_networks(scenario: Scenario, extra: Sequence[ipaddress.IPv4Network]) -> list[str]:
    """The networks the DC serves: loopback, every lab network, and the extra ones (management)."""
    nets = ["127.0.0.0/8", *(str(n.subnet) for n in scenario.topology.networks)]
    nets += [str(n) for n in extra if str(n) not in nets]
    return nets


def hosts_allow(scenario: Scenario, extra: Sequence[ipaddress.IPv4Network]) -> str:
    """smb.conf ``hosts allow`` of the DC: Samba's own local sockets, then ``allowed_networks``."""
    return " ".join([LOCAL_SOCKETS, *allowed_networks(scenario, extra)])


# -- objects ---------------------------------------------------------------------------------------


def _no_option(value: str, what: str) -> str:
    # A positional argument starting with '-' would be read by samba-tool as an option.
    if value.startswith("-"):
        raise ValueError(f"{what} {value!r} must not start with '-'")
    return value


def object_commands(directory: Directory, state: DirectoryState) -> list[Command]:
    """samba-tool commands creating what ``state`` lacks, in dependency order:
    OUs (parents first), groups, users, then memberships and account flags."""
    realm = directory.realm
    commands: list[Command] = []
    for path in ou_paths(directory):
        if normalize_dn(ou_dn(path, domain_dn(realm))) not in state.ous:
            commands.append(Command(("samba-tool", "ou", "add", ou_rdns(path)), f"OU {path!r}"))
    for group in directory.groups:
        if group.name.lower() in state.groups:
            continue
        argv = [
            "samba-tool",
            "group",
            "add",
            _no_option(group.name, "group name"),
            f"--group-scope={SAMBA_TOOL_SCOPES[group.scope]}",
            "--group-type=Security",
        ]
        if group.ou:
            argv.append(f"--groupou={ou_rdns(group.ou)}")
        if group.description:
            argv.append(f"--description={group.description}")
        commands.append(Command(tuple(argv), f"group {group.name!r}"))
    for user in directory.users:
        if user.login.lower() not in state.users:
            commands.append(_create_user(user))
    commands += _membership_commands(directory, state)
    commands += _flag_commands(directory, state)
    return commands


def _create_user(user: AdUser) -> Command:
    argv = [
        "samba-tool",
        "user",
        "create",
        user.login,
        f"--given-name={user.first}",
        f"--surname={user.last}",
    ]
    if user.ou:
        argv.append(f"--userou={ou_rdns(user.ou)}")
    if user.title:
        argv.append(f"--job-title={user.title}")
    if user.must_change_password:
        argv.append("--must-change-at-next-login")
    # samba-tool prompts twice for the password; without a terminal it reads stdin, so the
    # password never shows on a command line (ps) inside the node.
    return Command(tuple(argv), f"user {user.login!r}", input=f"{user.password}\n{user.password}\n")


def _membership_commands(directory: Directory, state: DirectoryState) -> list[Command]:
    missing: dict[str, list[str]] = {}
    for user in directory.users:
        current = state.users.get(user.login.lower())
        for group in user.groups:
            group_dn = state.groups.get(group.lower())
            if current is not None and group_dn is not None and current.is_member_of(group_dn):
                continue
            missing.setdefault(group, []).append(user.login)
    return [
        Command(
            (
                "samba-tool",
                "group",
                "addmembers",
                _no_option(group, "group name"),
                ",".join(logins),
            ),
            f"members of group {group!r}",
        )
        for group, logins in missing.items()
    ]


def _flag_commands(directory: Directory, state: DirectoryState) -> list[Command]:
    commands = []
    for user in directory.users:
        current = state.users.get(user.login.lower())
        enabled = current.enabled if current else True
        if enabled != user.enabled:
            verb = "enable" if user.enabled else "disable"
            commands.append(
                Command(("samba-tool", "user", verb, user.login), f"{verb} user {user.login!r}")
            )
        # A new user got --must-change-at-next-login at creation; only an existing one
        # (left by an interrupted run) may need fixing.
        # The role compares the attribute it writes (pwdLastSet 0), not the computed fact
        # must_change_password, which "password never expires" voids: writing pwdLastSet
        # again would not change that.
        if current is not None and (current.pwd_last_set == 0) != user.must_change_password:
            # pwdLastSet 0 forces a change at next logon; -1 means "now" (no change needed).
            value = "0" if user.must_change_password else "-1"
            ldif = (
                f"dn: {current.dn}\nchangetype: modify\nreplace: pwdLastSet\npwdLastSet: {value}\n"
            )
            commands.append(
                Command(
                    ("ldbmodify", "-H", "/var/lib/samba/private/sam.ldb"),
                    f"must-change-password of user {user.login!r}",
                    input=ldif,
                )
            )
    return commands
