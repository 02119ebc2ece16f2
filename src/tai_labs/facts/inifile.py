"""INI-style configuration files (smb.conf, sssd.conf) as sections of keys, read as the
daemons read them: names case-insensitive, runs of spaces in keys as one, ``#``/``;`` comments."""

from __future__ import annotations

import re

_HEAD = re.compile(r"\[(.+)\]")


def sections(text: str) -> dict[str, dict[str, str]]:
    """{section: {key: value}}, section and key names lowercased; a later key wins."""
    out: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        head = _HEAD.fullmatch(line)
        if head:
            current = out.setdefault(head.group(1).strip().lower(), {})
        elif "=" in line and current is not None:
            key, _, value = line.partition("=")
            current[" ".join(key.lower().split())] = value.strip()
    return out
