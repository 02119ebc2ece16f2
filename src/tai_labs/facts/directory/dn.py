"""Distinguished names: split, escape, compare, and the ``Siege/Utilisateurs`` OU paths
scenarios write."""

from __future__ import annotations

import re


def split_dn(dn: str) -> list[tuple[str, str]]:
    """``CN=a\\,b,OU=x`` -> [("cn", "a,b"), ("ou", "x")]: RDNs, values unescaped."""
    parts: list[tuple[str, str]] = []
    buf: list[str] = []
    i = 0
    while i <= len(dn):
        ch = dn[i] if i < len(dn) else ","
        if ch == "\\" and i + 1 < len(dn):
            nxt = dn[i + 1 : i + 3]
            if re.fullmatch(r"[0-9A-Fa-f]{2}", nxt):
                buf.append(chr(int(nxt, 16)))
                i += 3
                continue
            buf.append(dn[i + 1])
            i += 2
            continue
        if ch == ",":
            attr, _, value = "".join(buf).partition("=")
            if attr.strip():
                parts.append((attr.strip().lower(), value.strip()))
            buf = []
        else:
            buf.append(ch)
        i += 1
    return parts


def escape_dn_value(value: str) -> str:
    """RFC 4514 escaping of an RDN value."""
    out = "".join(f"\\{c}" if c in ',+"\\<>;=' else c for c in value)
    if out.startswith((" ", "#")):
        out = "\\" + out
    if out.endswith(" ") and not out.endswith("\\ "):
        out = out[:-1] + "\\ "
    return out


def ou_rdns(path: str) -> str:
    """'Siege/Utilisateurs' -> 'OU=Utilisateurs,OU=Siege', relative to the domain DN."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        raise ValueError(f"empty OU path {path!r}")
    return ",".join(f"OU={escape_dn_value(p)}" for p in reversed(parts))


def ou_dn(path: str, base_dn: str) -> str:
    """``Siege/Utilisateurs`` -> ``OU=Utilisateurs,OU=Siege,<base>``; "" is the domain."""
    return f"{ou_rdns(path)},{base_dn}" if path.strip("/") else base_dn


def rdn_value(dn: str) -> str:
    rdns = split_dn(dn)
    return rdns[0][1] if rdns else dn


def normalize_dn(dn: str) -> str:
    """A DN fit for comparison: AD compares attribute types and values without case."""
    rdns = split_dn(dn)
    if not rdns:
        raise ValueError(f"not a DN: {dn!r}")
    return ",".join(f"{k}={v.casefold()}" for k, v in rdns)


def same_dn(a: str, b: str) -> bool:
    """DN equality as AD compares them: without case, spacing around ``,``/``=`` ignored."""
    return [(k, v.casefold()) for k, v in split_dn(a)] == [
        (k, v.casefold()) for k, v in split_dn(b)
    ]


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
