"""SSH keys made on the host: a per-lab client key and per-node host keys.

Host keys are generated here rather than in the node so the tool knows each node's public
key before first contact and can pin it (no trust-on-first-use).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tai_labs.private_files import write_private


@dataclass(frozen=True)
class KeyPair:
    private_openssh: bytes  # OpenSSH PEM, unencrypted
    public_line: str  # "ssh-ed25519 AAAA... comment"


def generate_ed25519(comment: str) -> KeyPair:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return KeyPair(private, f"{public.decode()} {comment}")


def write_private_key(path: Path, pair: KeyPair) -> None:
    """Write a private key readable by its owner only (ssh refuses looser modes)."""
    write_private(path, pair.private_openssh)
    path.with_name(path.name + ".pub").write_text(pair.public_line + "\n")


def ensure_lab_keypair(folder: Path, lab_id: str) -> tuple[Path, str]:
    """The lab's root login key (created once): (private key path, public key line)."""
    private = folder / "id_ed25519"
    public = folder / "id_ed25519.pub"
    if not (private.is_file() and public.is_file()):
        write_private_key(private, generate_ed25519(f"tai-labs-{lab_id}"))
    return private, public.read_text().strip()


def known_hosts_line(hosts: list[str], host_key: str) -> str:
    """A known_hosts entry pinning host_key (key type + base64, comment dropped) for hosts."""
    key_type, key_b64 = host_key.split()[:2]
    return f"{','.join(hosts)} {key_type} {key_b64}"
