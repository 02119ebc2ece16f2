"""Effective access to a file or folder: owner, group, mode bits, POSIX ACL entries and mask.

A jury asks "can the department write there, are the others kept out?", not "is the mode the
string 770": a folder in 2770 (set-group-ID, so new files stay the department's) or one
opened to the group by an ACL gives the same access. Computed as the kernel's POSIX ACL check
does (acl(5), "Access check algorithm") for a typical member of each named principal:

- ``user:NAME``: the owner gets the owner entry; a named user entry, masked; else, knowing
  none of their groups here, the others' entry (name the group as a principal instead);
- ``group:NAME``: a member who is neither the owner nor named in a user entry: the owning-group
  entry if it is that group, and the group's named entry, each masked (the kernel grants what
  any matching entry grants); else the others' entry. A right granted to one user through an
  ACL is not the group's right;
- ``other``: the others' entry (never masked).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Rights as ``rwx`` letters; what they mean for a folder, as the jury says it.
FOLDER_RIGHTS_FR = {"r": "lister", "w": "créer/supprimer", "x": "entrer"}
FILE_RIGHTS_FR = {"r": "lire", "w": "modifier", "x": "exécuter"}


@dataclass(frozen=True)
class Acl:
    """``getfacl -n`` of one path: numeric owner and group, entries (kind, id or None, perms)."""

    owner: int
    group: int
    entries: tuple[tuple[str, int | None, int], ...]
    flags: str = ""

    def entry(self, kind: str, ident: int | None = None) -> int | None:
        return next((p for k, i, p in self.entries if k == kind and i == ident), None)

    @property
    def mask(self) -> int:
        m = self.entry("mask")
        return 7 if m is None else m

    @property
    def extended(self) -> bool:
        """Has entries beyond owner, owning group and others (named entries or a mask)."""
        return any(k == "mask" or i is not None for k, i, _ in self.entries)


_LINE = re.compile(r"(user|group|mask|other):([0-9]*):([r-][w-][x-])\s*(?:#.*)?")


def parse_getfacl(text: str) -> Acl | None:
    """``getfacl -n -p`` output (numeric ids), or None when it is not that."""
    owner = group = None
    flags = ""
    entries: list[tuple[str, int | None, int]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("# owner:"):
            owner = _int(line.split(":", 1)[1])
        elif line.startswith("# group:"):
            group = _int(line.split(":", 1)[1])
        elif line.startswith("# flags:"):
            flags = line.split(":", 1)[1].strip()
        elif line and not line.startswith("#"):
            if line.startswith("default:"):
                continue  # a folder's default ACL: what new entries inherit, not access now
            m = _LINE.fullmatch(line)
            if m is None:
                return None
            perms = sum(b for c, b in zip(m.group(3), (4, 2, 1), strict=True) if c != "-")
            ident = int(m.group(2)) if m.group(2) else None
            entries.append((m.group(1), ident, perms))
    kinds = {k for k, i, _ in entries if i is None}
    if owner is None or group is None or not {"user", "group", "other"} <= kinds:
        return None
    return Acl(owner, group, tuple(entries), flags)


def _int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() else None


def effective(acl: Acl, principal: str, ident: int | None) -> tuple[int, str]:
    """(perms, which entries decided, in French) for ``user``, ``group`` or ``other``."""
    mask = acl.mask
    if principal == "user" and ident is not None:
        if ident == acl.owner:
            return acl.entry("user") or 0, "propriétaire"
        named = acl.entry("user", ident)
        if named is not None:
            return named & mask, f"entrée ACL user:{ident} (masque {rwx(mask)})"
    if principal == "group" and ident is not None:
        grants: list[int] = []
        why: list[str] = []
        if ident == acl.group:
            grants.append((acl.entry("group") or 0) & (mask if acl.extended else 7))
            why.append("groupe propriétaire")
        named = acl.entry("group", ident)
        if named is not None:
            grants.append(named & mask)
            why.append(f"entrée ACL group:{ident}")
        if grants:
            perms = 0
            for g in grants:
                perms |= g
            if acl.extended:
                why.append(f"masque {rwx(mask)}")
            return perms, ", ".join(why)
    return acl.entry("other") or 0, "autres"


def rwx(perms: int) -> str:
    return "".join(c if perms & b else "-" for c, b in (("r", 4), ("w", 2), ("x", 1)))


def letters(perms: int) -> str:
    return "".join(c for c, b in (("r", 4), ("w", 2), ("x", 1)) if perms & b)


def parse_rights(text: str) -> int | None:
    """``rwx``, ``rx``, ``r-x``, ``-`` or ``""`` (no right) as perms bits; None otherwise."""
    text = text.strip().replace("-", "")
    if not set(text) <= set("rwx") or len(set(text)) != len(text):
        return None
    return sum(b for c, b in (("r", 4), ("w", 2), ("x", 1)) if c in text)


def describe(perms: int, *, folder: bool) -> str:
    """French words for a set of rights ("lister, créer/supprimer, entrer"; "aucun droit")."""
    words = FOLDER_RIGHTS_FR if folder else FILE_RIGHTS_FR
    said = [words[c] for c in letters(perms)]
    return ", ".join(said) if said else "aucun droit"
