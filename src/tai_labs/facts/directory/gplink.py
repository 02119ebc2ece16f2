"""GPO links: the ``gPLink`` attribute of an OU, read, changed and written back."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from tai_labs.facts.directory.dn import normalize_dn

_GPLINK = re.compile(r"\[([^;\]]+);(\d+)\]")
_DN_END = re.compile(r"[;\]]")
#: gPLink option bits: 1 = link disabled, 2 = enforced.
GPLINK_DISABLED, GPLINK_ENFORCED = 1, 2


@dataclass(frozen=True)
class GpoLink:
    dn: str
    flags: int = 0

    @property
    def enabled(self) -> bool:
        return not self.flags & GPLINK_DISABLED

    @property
    def enforced(self) -> bool:
        return bool(self.flags & GPLINK_ENFORCED)

    @property
    def state(self) -> str:
        if not self.enabled:
            return "disabled"
        return "enforced" if self.enforced else "enabled"

    def with_enabled(self, enabled: bool) -> GpoLink:
        """The same link enabled or disabled (enforced kept as it was)."""
        flags = self.flags & ~GPLINK_DISABLED if enabled else self.flags | GPLINK_DISABLED
        return replace(self, flags=flags)


def parse_gplink(value: str | None) -> list[GpoLink]:
    """gPLink ``[LDAP://cn={G},cn=policies,...;0][...;1]`` -> its links, in order."""
    return [
        GpoLink(re.sub(r"^ldap://", "", dn, flags=re.IGNORECASE), int(flags))
        for dn, flags in _gplink_pairs(value or "")
    ]


def _gplink_pairs(value: str) -> list[tuple[str, str]]:
    """``_GPLINK.findall(value)`` in linear time: a failed ``[`` means every ``[`` before the
    same ``;`` or ``]`` fails too (findall alone retried each: quadratic on ``[[[[``)."""
    pairs: list[tuple[str, str]] = []
    pos = 0
    while (start := value.find("[", pos)) >= 0:
        m = _GPLINK.match(value, start)
        if m:
            pairs.append((m.group(1), m.group(2)))
            pos = m.end()
            continue
        stop = _DN_END.search(value, start + 1)
        if stop is None:
            break
        pos = stop.start()
    return pairs


def render_gplink(links: Sequence[GpoLink]) -> str:
    return "".join(f"[LDAP://{link.dn};{link.flags}]" for link in links)


def set_gpo_link(links: Sequence[GpoLink], gpo_dn: str, enabled: bool) -> list[GpoLink]:
    """``links`` with the GPO's link enabled or disabled (enforced kept as it was); a new
    link goes first, where ``samba-tool gpo setlink`` puts it."""
    wanted = normalize_dn(gpo_dn)
    out = [lk.with_enabled(enabled) if normalize_dn(lk.dn) == wanted else lk for lk in links]
    if not any(normalize_dn(lk.dn) == wanted for lk in links):
        out.insert(0, GpoLink(gpo_dn).with_enabled(enabled))
    return out
