"""A lab's SSH gateway access: `tai-labs access grant|revoke|ls` (``providers/gateway.py``
makes the host account; this module knows the lab).

The gateway reaches the nodes with a key of its own per lab (``gateway_ed25519`` in the lab
folder, root-only; a copy readable by the candidate's account only in its home), never with
the lab's own key: the nodes' root accepts it from the host's management address only, with
no forwarding. The node list and the pinned host keys come from the state store.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass

from tai_labs.errors import TaiLabsError
from tai_labs.kinds import NodeKind
from tai_labs.lab.runtime import Lab
from tai_labs.providers import gateway
from tai_labs.providers.keys import generate_ed25519, known_hosts_line, write_private_key

KEY_FILE = "gateway_ed25519"
#: No look-alikes (0/O, 1/l/I): the candidate types it from a printed slip.
_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789"
PASSWORD_LENGTH = 14

# The line goes on standard input; the script only appends it if it is not there yet.
_AUTHORIZE = (
    'line=$(cat); install -d -m 700 /root/.ssh; f=/root/.ssh/authorized_keys; touch "$f"; '
    'chmod 600 "$f"; grep -qxF -- "$line" "$f" || printf "%s\\n" "$line" >> "$f"'
)
_DEAUTHORIZE = (
    'line=$(cat); f=/root/.ssh/authorized_keys; [ -f "$f" ] || exit 0; '
    'grep -vxF -- "$line" "$f" > "$f.tai" || true; cat "$f.tai" > "$f"; rm -f "$f.tai"'
)


@dataclass(frozen=True)
class Grant:
    """What `access grant` hands out: the password is shown once and kept nowhere."""

    login: str
    lab_id: str
    nodes: dict[str, str]
    password: str | None


def default_login(lab: Lab) -> str:
    return f"cand-{lab.id}"


def new_password() -> str:
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))


def _reachable_nodes(lab: Lab) -> dict[str, tuple[str, str]]:
    """Linux nodes with a management address and a pinned host key: name -> (ip, key)."""
    nodes = {}
    for record in lab.store.nodes(lab.id):
        if not NodeKind(record.kind).spec.linux:
            continue  # Windows nodes have no sshd to reach (their console is the portal's)
        if record.mgmt_address and record.host_key:
            nodes[record.name] = (record.mgmt_address, record.host_key)
    if not nodes:
        raise TaiLabsError(f"lab {lab.id} has no node the gateway can reach yet")
    return nodes


def _key_pair(lab: Lab) -> tuple[bytes, str]:
    private = lab.folder / KEY_FILE
    public = lab.folder / f"{KEY_FILE}.pub"
    if not (private.is_file() and public.is_file()):
        write_private_key(private, generate_ed25519(f"tai-labs-gateway-{lab.id}"))
    return private.read_bytes(), public.read_text().strip()


def _node_line(lab: Lab) -> str:
    _, public = _key_pair(lab)
    return gateway.authorized_line(public, str(lab.network().host_ip), lab.id)


def authorize_nodes(lab: Lab, names: list[str] | None = None) -> None:
    """Let the gateway key in on the nodes (again after a revert: the snapshot predates it)."""
    line = _node_line(lab)
    for name in names or list(_reachable_nodes(lab)):
        result = lab.exec(name, ["sh", "-c", _AUTHORIZE], input=line + "\n", timeout=60)
        if result.rc != 0:
            raise TaiLabsError(
                f"lab {lab.id}: could not authorise the gateway on {name}: {result.stderr.strip()}"
            )


def reach(lab: Lab, names: dict[str, str] | None = None) -> gateway.LabReach:
    """Authorise the gateway key on the lab's reachable nodes and say how to reach them,
    for an account that spans several labs (``gateway.create_for_labs``). ``names`` renames
    nodes for the account (node -> gateway name) when two labs have a node of one name."""
    reachable = _reachable_nodes(lab)
    authorize_nodes(lab, list(reachable))
    private, _ = _key_pair(lab)
    known_hosts = "".join(known_hosts_line([ip], key) + "\n" for ip, key in reachable.values())
    names = names or {}
    nodes = {names.get(name, name): ip for name, (ip, _) in reachable.items()}
    return gateway.LabReach(lab.id, nodes, private, known_hosts)


def grant(
    lab: Lab,
    *,
    login: str | None = None,
    public_key: str | None = None,
    password: str | None = None,
) -> Grant:
    """Open (or refresh) the lab's gateway account.

    Authorised by ``public_key``, or by ``password`` (a session hands out one password per
    candidate for the gateway and the portal), or else by a new generated password.
    """
    login = gateway.check_login(login or default_login(lab))
    if password is not None and public_key is not None:
        raise TaiLabsError("a gateway account takes a password or a key, not both")
    if password is not None and (
        len(password) < 10 or not password.isprintable() or ":" in password
    ):
        raise TaiLabsError("a gateway password has 10 printable characters or more, no ':'")
    for other in gateway.lab_accounts(lab.id):
        if other.login != login:
            raise TaiLabsError(
                f"lab {lab.id} already has the gateway account {other.login}",
                hint=f"tai-labs access revoke {lab.id} first, or grant again with that login",
            )
    reachable = _reachable_nodes(lab)
    authorize_nodes(lab, list(reachable))
    private, _ = _key_pair(lab)
    known_hosts = "".join(known_hosts_line([ip], key) + "\n" for ip, key in reachable.values())
    if password is None and public_key is None:
        password = new_password()
    account = gateway.create(
        login,
        lab.id,
        {name: ip for name, (ip, _) in reachable.items()},
        private_key=private,
        known_hosts=known_hosts,
        password=password,
        public_key=public_key,
    )
    return Grant(account.login, lab.id, account.nodes, password)


def reauthorize(lab: Lab) -> bool:
    """After a revert: put the gateway key back on the nodes if the lab has an account."""
    if not gateway.lab_accounts(lab.id):
        return False
    authorize_nodes(lab)
    return True


def revoke(lab: Lab) -> list[str]:
    """Close the lab's gateway accounts (sessions killed) and take the key off its nodes."""
    gone = gateway.remove_lab(lab.id)
    if (lab.folder / KEY_FILE).is_file():
        line = _node_line(lab)
        for name in _reachable_nodes(lab):
            # A stopped node keeps the line until its next grant rewrites the same one: the
            # key itself stays root's, in the lab folder, and the account is gone.
            with contextlib.suppress(TaiLabsError):
                lab.exec(name, ["sh", "-c", _DEAUTHORIZE], input=line + "\n", timeout=60)
    return gone
