"""Names of every host resource a lab owns, all derived from its short lab id.

Whatever a lab creates on the host (bridges, veths, cgroups, nft table, folder) carries the
lab id in its name, so a crashed run can be found and garbage-collected from names alone.
Linux interface names are limited to 15 characters; the longest here is 12.
"""

from __future__ import annotations

import re
import secrets
import string

from tai_labs.providers.errors import RuntimeLayerError

LAB_ID_LEN = 6
_LAB_ID_RE = re.compile(rf"^[a-z0-9]{{{LAB_ID_LEN}}}$")
_NODE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
IF_PREFIX = "tl"
NFT_TABLE_PREFIX = "tailabs_"
CGROUP_ROOT = "tai-labs"
MAX_NODES = 255
MAX_NICS = 16
MAX_BRIDGES = 100
_IFNAME_RE = re.compile(rf"^{IF_PREFIX}(?P<lab>[a-z0-9]{{{LAB_ID_LEN}}})(?P<kind>[bmn])")


def new_lab_id() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(LAB_ID_LEN))


def is_lab_id(value: object) -> bool:
    """Exactly LAB_ID_LEN of [a-z0-9]: no path, glob or shell character, no trailing newline."""
    return isinstance(value, str) and _LAB_ID_RE.fullmatch(value) is not None


def check_lab_id(lab_id: str) -> str:
    if not is_lab_id(lab_id):
        raise RuntimeLayerError(
            f"invalid lab id {lab_id!r}: expected {LAB_ID_LEN} chars of [a-z0-9]"
        )
    return lab_id


def check_node_name(name: str) -> str:
    if not _NODE_NAME_RE.fullmatch(name):
        raise RuntimeLayerError(f"invalid node resource name {name!r}: use [a-z0-9-], 1-63 chars")
    return name


#: A login name a node may give a terminal: POSIX portable, never an option (no leading ``-``).
ACCOUNT_PATTERN = r"^[a-z_][a-z0-9_-]{0,31}$"
_ACCOUNT_RE = re.compile(ACCOUNT_PATTERN)


def check_account(user: str) -> str:
    if not _ACCOUNT_RE.fullmatch(user):
        raise RuntimeLayerError(f"invalid account name {user!r}: use [a-z_][a-z0-9_-], 1-32 chars")
    return user


def if_prefix(lab_id: str) -> str:
    """Common prefix of all interfaces of the lab (8 chars)."""
    return f"{IF_PREFIX}{check_lab_id(lab_id)}"


def bridge_name(lab_id: str, index: int) -> str:
    if not 0 <= index < MAX_BRIDGES:
        raise RuntimeLayerError(f"a lab has at most {MAX_BRIDGES} networks")
    return f"{if_prefix(lab_id)}b{index}"


def mgmt_bridge_name(lab_id: str) -> str:
    return f"{if_prefix(lab_id)}m"


def veth_name(lab_id: str, node_no: int, nic_no: int) -> str:
    """Host side of a node's NIC: node number and NIC index in hex."""
    if not 1 <= node_no <= MAX_NODES or not 0 <= nic_no < MAX_NICS:
        raise RuntimeLayerError(f"node number must be 1-{MAX_NODES} and NIC index 0-{MAX_NICS - 1}")
    return f"{if_prefix(lab_id)}n{node_no:02x}{nic_no:x}"


def lab_of_ifname(ifname: str) -> str | None:
    m = _IFNAME_RE.match(ifname)
    return m["lab"] if m else None


def nft_table(lab_id: str) -> str:
    return f"{NFT_TABLE_PREFIX}{check_lab_id(lab_id)}"


def lab_of_nft_table(table: str) -> str | None:
    if table.startswith(NFT_TABLE_PREFIX):
        lab = table[len(NFT_TABLE_PREFIX) :]
        return lab if is_lab_id(lab) else None
    return None


def cgroup_lab_dir(lab_id: str) -> str:
    """Relative cgroup path (inside each hierarchy) holding all the lab's containers."""
    return f"{CGROUP_ROOT}/{check_lab_id(lab_id)}"


def cgroup_container_dir(lab_id: str, node: str) -> str:
    return f"{cgroup_lab_dir(lab_id)}/{check_node_name(node)}"


def cgroup_monitor_dir(lab_id: str, node: str) -> str:
    return f"{cgroup_lab_dir(lab_id)}/{check_node_name(node)}.monitor"
