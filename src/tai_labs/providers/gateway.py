"""The SSH gateway on the lab host: one account per candidate that reaches their nodes only.

An account is a system user in the ``tai-candidates`` group whose login shell, and sshd
``ForceCommand``, is the gateway program (``gateway_shell.py``, copied root-owned to
``SHELL``): it runs as the candidate and only opens ``ssh`` to a node of the candidate's own
lab. What keeps the account there, each on its own:

- **sshd**: a ``Match Group tai-candidates`` block (``SSHD_FRAGMENT``, validated with
  ``sshd -t`` before it is kept) forces the command and disables every forwarding, tunnel
  and user rc file, whatever the client asks (``-L``, ``-R``, ``-A``, ``-X``, sftp, scp);
- **the home**, owned by root, readable by the account only (0750 root:<login>): the
  candidate cannot change the node list, the pinned host keys, the key or their
  ``authorized_keys``;
- **nftables** (``table inet tai_gateway``): a socket of the account may open only TCP to
  port 22 of its own lab's management addresses; anything else (another lab, the host's
  services, loopback, IPv6) is dropped on the host's output hook, by uid.

Every value that reaches a command, a file or a rule is checked here (login, node names,
addresses, uids). Nothing of a candidate's credential is kept in clear: the password goes
to ``chpasswd`` on standard input and the system stores its hash.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import pwd
import re
import shutil
import signal
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tai_labs.providers import gateway_shell, naming
from tai_labs.providers.errors import CommandError, RuntimeLayerError
from tai_labs.providers.hostcmd import require_root, run

GROUP = "tai-candidates"
#: Homes of the accounts (not in the data folder: every parent must be traversable by them).
HOMES = Path("/var/lib/tai-labs-gateway")
SHELL = Path("/usr/local/lib/tai-labs/gateway-shell")
SSHD_FRAGMENT = Path("/etc/ssh/sshd_config.d/tai-labs-candidates.conf")
SSHD = "/usr/sbin/sshd"
SSHD_PID = Path("/run/sshd.pid")
NFT_TABLE = "tai_gateway"
#: A login: what ``useradd`` and an sshd ``Match`` take without surprise, and never a
#: name a system account has (the prefix-free form is the session's choice).
_LOGIN = re.compile(r"[a-z][a-z0-9-]{2,31}")
GATEWAY_PORT = 22
_KEY_TYPE = re.compile(r"ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]{1,60}")
_BASE64 = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")


#: Serialises changes to the shared parts (group, nft table, sshd block) across processes:
#: a session grants its candidates' accounts in parallel.
LOCK = Path("/run/tai-labs-gateway.lock")


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    with open(LOCK, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class GatewayError(RuntimeLayerError):
    """The gateway account could not be made or removed."""


@dataclass(frozen=True)
class Account:
    """One candidate's gateway account, as its home describes it."""

    login: str
    lab_id: str
    uid: int
    method: str  # "password" or "key"
    nodes: dict[str, str] = field(default_factory=dict)  # node name -> management address
    #: Every lab it reaches: ``(lab_id,)`` for a lab's account, a session candidate's labs
    #: (one per scenario) for theirs.
    labs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.labs:
            object.__setattr__(self, "labs", (self.lab_id,))


@dataclass(frozen=True)
class LabReach:
    """What an account needs to reach one lab: its nodes (gateway name -> management
    address), the lab's gateway private key and the nodes' pinned host keys."""

    lab_id: str
    nodes: Mapping[str, str]
    private_key: bytes
    known_hosts: str


#: A system password hash ``chpasswd -e`` takes: SHA-512 crypt or yescrypt, nothing else.
_CRYPT_HASH = re.compile(
    r"\$6\$(rounds=\d{4,9}\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{86}"
    r"|\$y\$[./A-Za-z0-9]+\$[./A-Za-z0-9]{1,86}\$[./A-Za-z0-9]{43}"
)


def check_login(login: str) -> str:
    if not isinstance(login, str) or not _LOGIN.fullmatch(login):
        raise GatewayError(
            f"invalid login {login!r}",
            hint="3 to 32 lowercase letters, digits and dashes, starting with a letter",
        )
    return login


def _check_nodes(nodes: Mapping[str, str]) -> dict[str, str]:
    checked = {}
    for name, address in nodes.items():
        if not gateway_shell.NODE_NAME.fullmatch(name):
            raise GatewayError(f"invalid node name {name!r}")
        checked[name] = str(ipaddress.IPv4Address(address))
    return checked


def home_of(login: str) -> Path:
    return HOMES / check_login(login)


# -- what is written ----------------------------------------------------------------------


def sshd_fragment(shell: Path = SHELL) -> str:
    """The sshd block for the group: it matches the group's accounts and nobody else."""
    return (
        "# tai-labs: the candidates' SSH gateway (`tai-labs access`); removed with the last\n"
        "# account. Accounts of this group reach their own lab's nodes, nothing else.\n"
        f"Match Group {GROUP}\n"
        f"    ForceCommand {shell}\n"
        "    DisableForwarding yes\n"
        "    AllowTcpForwarding no\n"
        "    AllowStreamLocalForwarding no\n"
        "    AllowAgentForwarding no\n"
        "    X11Forwarding no\n"
        "    PermitTunnel no\n"
        "    PermitListen none\n"
        "    PermitOpen none\n"
        "    GatewayPorts no\n"
        "    PermitTTY yes\n"
        "    PermitUserRC no\n"
        "    PasswordAuthentication yes\n"
        "    PubkeyAuthentication yes\n"
        "    AuthorizedKeysFile .ssh/authorized_keys\n"
        "    MaxSessions 4\n"
    )


def nft_ruleset(accounts: Sequence[Account]) -> str:
    """Per account: TCP to port 22 of its own nodes, nothing else, whatever the address
    family or the destination (another lab, the host's own services, loopback)."""
    lines = []
    for account in sorted(accounts, key=lambda a: a.uid):
        uid = int(account.uid)
        if uid <= 0:
            raise GatewayError(f"refusing a firewall rule for uid {uid}")
        addresses = sorted({str(ipaddress.IPv4Address(a)) for a in account.nodes.values()})
        if addresses:
            lines.append(
                f"    meta skuid {uid} ip daddr {{ {', '.join(addresses)} }}"
                f" tcp dport {GATEWAY_PORT} accept\n"
            )
        lines.append(f"    meta skuid {uid} counter drop\n")
    return (
        f"table inet {NFT_TABLE} {{}}\n"
        f"delete table inet {NFT_TABLE}\n"
        f"table inet {NFT_TABLE} {{\n"
        "  chain output {\n"
        "    type filter hook output priority filter - 10; policy accept;\n"
        f"{''.join(lines)}"
        "  }\n"
        "}\n"
    )


def authorized_line(public_key: str, host_ip: str, lab_id: str) -> str:
    """The gateway key as a node's root accepts it: from the host only, no forwarding."""
    parts = public_key.split()
    if (
        len(parts) < 2
        or parts[0] != "ssh-ed25519"
        or not re.fullmatch(r"[A-Za-z0-9+/=]+", parts[1])
    ):
        raise GatewayError("the gateway key is not an ed25519 public key")
    ip = ipaddress.IPv4Address(host_ip)
    comment = f"tai-labs-gateway-{naming.check_lab_id(lab_id)}"
    return f'restrict,pty,from="{ip}" {parts[0]} {parts[1]} {comment}'


def check_public_key(text: str) -> str:
    """A candidate's public key for their login: one OpenSSH key line, no options."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) != 1:
        raise GatewayError("the key file must hold exactly one public key")
    parts = lines[0].split()
    if (
        len(parts) < 2
        or not re.fullmatch(
            r"(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+)", parts[0]
        )
        or not re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", parts[1])
    ):
        raise GatewayError("not an OpenSSH public key line (type, base64, optional comment)")
    return f"{parts[0]} {parts[1]}"


# -- reading ------------------------------------------------------------------------------


def _group_members() -> set[str]:
    proc = run(["getent", "group", GROUP], check=False)
    if proc.returncode != 0:
        return set()
    members = proc.stdout.decode().strip().split(":")[-1]
    return {m for m in members.split(",") if m}


def accounts() -> list[Account]:
    """Every gateway account of the host: a member of the group with a home here."""
    found = []
    for login in sorted(_group_members()):
        if not _LOGIN.fullmatch(login):
            continue
        try:
            entry = pwd.getpwnam(login)
            data = json.loads((HOMES / login / "gateway.json").read_text())
            found.append(
                Account(
                    login=login,
                    lab_id=naming.check_lab_id(data["lab"]),
                    uid=entry.pw_uid,
                    method=str(data.get("method", "password")),
                    nodes=_check_nodes(data["nodes"]),
                    labs=tuple(naming.check_lab_id(x) for x in data.get("labs", [data["lab"]])),
                )
            )
        except (KeyError, OSError, ValueError, RuntimeLayerError):
            continue
    return found


def lab_accounts(lab_id: str) -> list[Account]:
    """The accounts that reach ``lab_id`` (its own, or a session candidate's spanning it)."""
    return [a for a in accounts() if lab_id in a.labs]


def system_password_hash(password: str) -> str:
    """A SHA-512 crypt(3) hash of ``password`` (``openssl passwd -6``, password on standard
    input, a fresh salt), as ``chpasswd -e`` takes it: how a session's gateway account gets
    the slip's password without the password being kept anywhere."""
    if not password or ":" in password or "\n" in password:
        raise GatewayError("a password may not be empty or hold ':' or a line break")
    proc = run(["openssl", "passwd", "-6", "-stdin"], input=password.encode() + b"\n")
    hashed = proc.stdout.decode().strip()
    if not _CRYPT_HASH.fullmatch(hashed):
        raise GatewayError("openssl did not give a SHA-512 crypt hash")
    return hashed


# -- host state ---------------------------------------------------------------------------


def _ensure_group() -> None:
    if run(["getent", "group", GROUP], check=False).returncode != 0:
        run(["groupadd", "--system", GROUP])


def _shell_source() -> bytes:
    return Path(gateway_shell.__file__).read_bytes()


def install_shell() -> bool:
    """Copy the forced command, root-owned and not writable by anyone else; True if it had
    to (missing, changed, or another owner or mode)."""
    source = _shell_source()
    SHELL.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    if SHELL.is_file():
        st = SHELL.stat()
        if SHELL.read_bytes() == source and st.st_uid == 0 and st.st_mode & 0o7777 == 0o755:
            return False
    tmp = SHELL.with_name(f".{SHELL.name}.{os.getpid()}")
    tmp.write_bytes(source)
    os.chown(tmp, 0, 0)
    os.chmod(tmp, 0o755)
    os.replace(tmp, SHELL)
    return True


def sshd_config_ok() -> str | None:
    """None when the host's sshd accepts its configuration, else what it says."""
    if not Path(SSHD).is_file():
        return None  # no sshd here: nothing to break
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd -t needs its privsep folder
    proc = run([SSHD, "-t"], check=False)
    return None if proc.returncode == 0 else proc.stderr.decode(errors="replace").strip()


def _reload_sshd() -> None:
    """SIGHUP the host's sshd listener, if one runs: it rereads its configuration."""
    with contextlib.suppress(OSError, ValueError):
        pid = int(SSHD_PID.read_text().strip())
        if Path(f"/proc/{pid}/exe").resolve() == Path(SSHD).resolve():
            os.kill(pid, signal.SIGHUP)


def install_sshd() -> None:
    """Write the sshd block, keep it only if sshd accepts the whole configuration."""
    text = sshd_fragment()
    if SSHD_FRAGMENT.is_file() and SSHD_FRAGMENT.read_text() == text:
        return
    SSHD_FRAGMENT.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    previous = SSHD_FRAGMENT.read_text() if SSHD_FRAGMENT.is_file() else None
    SSHD_FRAGMENT.write_text(text)
    os.chmod(SSHD_FRAGMENT, 0o644)
    problem = sshd_config_ok()
    if problem:
        if previous is None:
            SSHD_FRAGMENT.unlink()
        else:
            SSHD_FRAGMENT.write_text(previous)
        raise GatewayError(f"sshd refuses its configuration with the gateway's block: {problem}")
    _reload_sshd()


def apply_firewall(current: Sequence[Account] | None = None) -> None:
    """Rebuild the gateway's nft table from the accounts (none left: no table)."""
    current = accounts() if current is None else current
    if not current:
        run(["nft", "delete", "table", "inet", NFT_TABLE], check=False)
        return
    try:
        run(["nft", "-f", "-"], input=nft_ruleset(current).encode())
    except CommandError as exc:
        raise GatewayError(f"could not install the gateway's firewall: {exc}") from exc


def firewall_intact(current: Sequence[Account]) -> bool:
    proc = run(["nft", "list", "table", "inet", NFT_TABLE], check=False)
    if proc.returncode != 0:
        return not current
    lines = [line.strip() for line in proc.stdout.decode().splitlines()]
    return all(
        any(line.startswith(f"meta skuid {a.uid} ") and line.endswith(" drop") for line in lines)
        for a in current
    )


def ensure() -> list[str]:
    """Put back what an outside change removed (nft flush, a package upgrade); what was."""
    with _locked():
        return _ensure()


def _ensure() -> list[str]:
    current = accounts()
    fixed = []
    if current and install_shell():
        fixed.append(str(SHELL))
    if current and not firewall_intact(current):
        apply_firewall(current)
        fixed.append(f"nft table inet {NFT_TABLE}")
    if current and not SSHD_FRAGMENT.is_file():
        install_sshd()
        fixed.append(str(SSHD_FRAGMENT))
    return fixed


def _write(path: Path, data: bytes, gid: int, mode: int) -> None:
    """A root-owned file the account's group may read (per ``mode``), written atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chown(tmp, 0, gid)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def create(
    login: str,
    lab_id: str,
    nodes: Mapping[str, str],
    *,
    private_key: bytes,
    known_hosts: str,
    password: str | None = None,
    public_key: str | None = None,
) -> Account:
    """Make (or update) the account of ``login`` for ``lab_id``; idempotent.

    Exactly one of ``password`` (hashed by the system) and ``public_key`` authorises it.
    An existing user that is not this lab's gateway account is never touched.
    """
    reach = LabReach(lab_id, nodes, private_key, known_hosts)
    return create_for_labs(login, [reach], password=password, public_key=public_key)


def create_for_labs(
    login: str,
    reaches: Sequence[LabReach],
    *,
    password: str | None = None,
    password_hash: str | None = None,
    public_key: str | None = None,
) -> Account:
    """Make (or update) an account reaching the nodes of every lab of ``reaches`` (a session
    candidate's labs); node names must be distinct across them. Exactly one of ``password``,
    ``password_hash`` (a crypt(3) hash, given to ``chpasswd -e``) and ``public_key``."""
    require_root("a gateway account")
    with _locked():
        return _create(login, reaches, password=password, password_hash=password_hash,
                       public_key=public_key)  # fmt: skip


def _create(
    login: str,
    reaches: Sequence[LabReach],
    *,
    password: str | None = None,
    password_hash: str | None = None,
    public_key: str | None = None,
) -> Account:
    """``create_for_labs`` under the lock."""
    check_login(login)
    if not reaches:
        raise GatewayError(f"no lab for the gateway account {login}")
    labs = tuple(naming.check_lab_id(r.lab_id) for r in reaches)
    if len(set(labs)) != len(labs):
        raise GatewayError("a lab is given twice")
    nodes: dict[str, str] = {}
    keys: dict[str, str] = {}
    for reach in reaches:
        key_file = "id_ed25519" if len(reaches) == 1 else f"id_{reach.lab_id}"
        for name, address in _check_nodes(reach.nodes).items():
            if name in nodes:
                raise GatewayError(f"node name {name} is in two labs of {login}'s account")
            nodes[name] = address
            keys[name] = key_file
    if sum(x is not None for x in (password, password_hash, public_key)) != 1:
        raise GatewayError("a gateway account needs a password or a public key (one of them)")
    key_line = check_public_key(public_key) if public_key is not None else None
    if password_hash is not None and not _CRYPT_HASH.fullmatch(password_hash):
        raise GatewayError("not a SHA-512 or yescrypt crypt(3) hash")
    existing = {a.login: a for a in accounts()}
    try:
        user: pwd.struct_passwd | None = pwd.getpwnam(login)
    except KeyError:
        user = None
    # The same account again (a lab's, or a session candidate's whose labs overlap): updated.
    if user is not None and (
        user.pw_shell != str(SHELL)
        or (login in existing and not set(existing[login].labs) & set(labs))
    ):
        raise GatewayError(
            f"user {login!r} exists and is not the gateway account of lab {', '.join(labs)}",
            hint="pick another --login",
        )
    if password is not None and (":" in password or "\n" in password):
        raise GatewayError("a password may not hold ':' or a line break")
    # The shared parts first: an sshd that refuses the block stops us before any user exists.
    _ensure_group()
    install_shell()
    install_sshd()
    home = home_of(login)
    # Traversable, not listable: an account reaches its own home and does not see the others.
    HOMES.mkdir(parents=True, exist_ok=True, mode=0o711)
    os.chmod(HOMES, 0o711)
    if user is None:
        run(["useradd", "--system", "--user-group", "--groups", GROUP,
             "--home-dir", str(home), "--no-create-home", "--shell", str(SHELL),
             "--comment", f"tai-labs gateway, lab {labs[0]}", login])  # fmt: skip
    entry = pwd.getpwnam(login)
    gid = entry.pw_gid
    home.mkdir(mode=0o750, exist_ok=True)
    os.chown(home, 0, gid)
    os.chmod(home, 0o750)
    (home / ".ssh").mkdir(mode=0o755, exist_ok=True)
    os.chown(home / ".ssh", 0, 0)
    os.chmod(home / ".ssh", 0o755)
    method = "key" if public_key is not None else "password"
    config: dict[str, object] = {"lab": labs[0], "method": method, "nodes": nodes}
    if len(reaches) > 1:
        config |= {"labs": list(labs), "keys": keys}
    _write(home / "gateway.json", json.dumps(config, indent=2).encode(), gid, 0o640)
    _write(home / "known_hosts", "".join(r.known_hosts for r in reaches).encode(), gid, 0o640)
    for reach in reaches:
        _write(home / keys[next(iter(reach.nodes))], reach.private_key, gid, 0o440)
    account = Account(login, labs[0], entry.pw_uid, method, nodes, labs)
    # Its firewall before its credential: a new account (locked by useradd) cannot log in
    # before its uid is confined.
    apply_firewall([*[a for a in existing.values() if a.login != login], account])
    _write(home / ".ssh" / "authorized_keys", (f"{key_line}\n" if key_line else "").encode(),
           0, 0o644)  # fmt: skip
    if password is not None:
        run(["chpasswd"], input=f"{login}:{password}\n".encode())
    elif password_hash is not None:
        run(["chpasswd", "-e"], input=f"{login}:{password_hash}\n".encode())
    else:
        run(["usermod", "--password", "*", login])  # no password matches; not locked
    # A login closed by an earlier close_access is opened again (remove locks, then deletes).
    run(["usermod", "--expiredate", "", login], check=False)
    return account


def _kill_user_processes(uid: int) -> list[int]:
    """SIGKILL every process whose real or effective uid is ``uid`` (its sessions)."""
    killed = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            uids = next(
                line.split()[1:3]
                for line in (entry / "status").read_text().splitlines()
                if line.startswith("Uid:")
            )
        except (OSError, StopIteration):
            continue
        if str(uid) in uids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)
                killed.append(int(entry.name))
    return killed


def remove(login: str) -> bool:
    """Remove the account, its processes, its home; the group's sshd block and firewall go
    with the last account. True if there was an account."""
    require_root("a gateway account")
    check_login(login)
    with _locked():
        return _remove(login)


def _remove(login: str) -> bool:
    mine = {a.login: a for a in accounts()}
    if login not in mine:
        try:
            entry = pwd.getpwnam(login)
        except KeyError:
            entry = None
        if entry is not None and entry.pw_shell != str(SHELL):
            raise GatewayError(f"user {login!r} is not a gateway account: not removing it")
        if entry is None:
            shutil.rmtree(home_of(login), ignore_errors=True)
            _cleanup_if_last()
            return False
    uid = pwd.getpwnam(login).pw_uid
    # Closed first (no password, expired: PAM refuses key logins too), so no new session
    # starts while the running ones are killed; userdel refuses a user with processes.
    run(["usermod", "--lock", "--expiredate", "1", login], check=False)
    with contextlib.suppress(OSError):
        (home_of(login) / ".ssh" / "authorized_keys").write_text("")
    for _ in range(10):
        _kill_user_processes(uid)
        time.sleep(0.2)
        if run(["userdel", login], check=False).returncode == 0:
            break
    else:
        raise GatewayError(f"could not remove the gateway account {login}: it keeps processes")
    shutil.rmtree(home_of(login), ignore_errors=True)
    apply_firewall([a for a in mine.values() if a.login != login])
    _cleanup_if_last()
    return True


def _cleanup_if_last() -> None:
    if accounts():
        return
    run(["nft", "delete", "table", "inet", NFT_TABLE], check=False)
    if SSHD_FRAGMENT.is_file():
        SSHD_FRAGMENT.unlink()
        _reload_sshd()
    SHELL.unlink(missing_ok=True)
    run(["groupdel", GROUP], check=False)
    with contextlib.suppress(OSError):
        SHELL.parent.rmdir()
    with contextlib.suppress(OSError):
        HOMES.rmdir()


def remove_lab(lab_id: str) -> list[str]:
    """Remove every gateway account of the lab (``down``); their logins."""
    naming.check_lab_id(lab_id)
    gone = [a.login for a in lab_accounts(lab_id)]
    for login in gone:
        remove(login)
    return gone
