"""A web page fetched by the host's own curl from inside a node's network namespace.

The host's ``curl`` (never the node's) runs under ``nsenter --net`` with ``-q`` (no
``.curlrc``) and the fixed environment (no proxy variable of the host's): the proxy is the
node's system-wide setting, read by the host from the node's ``/etc/environment`` and
``/etc/profile.d/*.sh`` (plain assignments and ``unset``; a line that computes a proxy is
listed, not run), and given to curl explicitly. Names are resolved beforehand as the node
would (``--resolve``), so the host's resolver is never asked. curl's ``%{json}`` write-out
says which address answered.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tai_labs.providers.errors import EngineError
from tai_labs.providers.netns import NetNamespace

#: curl's write-out after the body: a marker, then every variable as JSON (curl >= 7.70).
WRITE_OUT = "\n== curl %{json}"
_MARK = "\n== curl "
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: The variables curl reads (it ignores an upper-case HTTP_PROXY, by design).
_PROXY_VARS = {
    "http": ("http_proxy", "all_proxy", "ALL_PROXY"),
    "https": ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"),
}
_NO_PROXY_VARS = ("no_proxy", "NO_PROXY")


@dataclass
class ProxySettings:
    """The proxy variables a user's session gets, as far as a reader can tell."""

    values: dict[str, str] = field(default_factory=dict)
    #: Lines naming a proxy that are not plain assignments (not run: shown to the jury).
    unread: list[str] = field(default_factory=list)

    def proxy_for(self, scheme: str, host: str) -> str | None:
        """The proxy curl would use for ``scheme://host``, or None (direct)."""
        for var in _PROXY_VARS.get(scheme, ()):
            proxy = self.values.get(var)
            if proxy:
                break
        else:
            return None
        no_proxy = next((self.values[v] for v in _NO_PROXY_VARS if self.values.get(v)), "")
        return None if bypassed(host, no_proxy) else proxy

    def summary(self) -> str:
        """The ``proxy: http / https`` line the node-side probe printed."""
        http = self.values.get("http_proxy") or self.values.get("HTTP_PROXY") or "none"
        https = self.values.get("https_proxy") or self.values.get("HTTPS_PROXY") or "none"
        return f"proxy: {http} / {https}"


def read_settings(sources: list[tuple[str, str]]) -> ProxySettings:
    """Proxy variables from ``(path, text)`` sources, in the order a login sources them."""
    settings = ProxySettings()
    for path, text in sources:
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            try:
                words = shlex.split(line, comments=True)
            except ValueError:
                words = []
            if words[:1] == ["export"]:
                words = words[1:]
            plain = bool(words) and (
                words[0] == "unset" or all(_NAME.fullmatch(w.partition("=")[0]) for w in words)
            )
            plain = plain and (words[0] == "unset" or all("=" in w for w in words))
            if not plain or "$" in line or "`" in line:
                if "proxy" in line.lower():
                    settings.unread.append(f"{path}: {line}")
                continue
            if words[0] == "unset":
                for name in words[1:]:
                    settings.values.pop(name, None)
                continue
            for word in words:
                name, _, value = word.partition("=")
                settings.values[name] = value
    return settings


def bypassed(host: str, no_proxy: str) -> bool:
    """``host`` matches curl's ``no_proxy`` list (``*``, a domain and its subdomains, an
    address or a network)."""
    host = host.strip("[]").rstrip(".").lower()
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        try:
            if ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False):
                return True
            continue
        except ValueError:
            pass
        domain = entry.lstrip(".").rstrip(".")
        if host == domain or host.endswith("." + domain):
            return True
    return False


@dataclass(frozen=True)
class HttpHop:
    """One request: what curl said, and who answered."""

    rc: int
    body: str
    stderr: str
    info: dict[str, Any]
    truncated: tuple[str, ...] = ()

    @property
    def status(self) -> int:
        try:
            return int(self.info.get("http_code") or self.info.get("response_code") or 0)
        except (TypeError, ValueError):
            return 0

    @property
    def peer(self) -> str:
        ip, port = self.info.get("remote_ip"), self.info.get("remote_port")
        return f"{ip}:{port}" if ip else ""


def fetch(
    netns: NetNamespace,
    url: str,
    *,
    proxy: str | None,
    resolve: dict[tuple[str, int], str],
    timeout: float = 20.0,
) -> HttpHop:
    """GET ``url`` (no redirect followed) through ``proxy`` or directly, every name in
    ``resolve`` pinned to the address the node's own resolution gave."""
    if not re.fullmatch(r"https?://\S+", url):
        raise EngineError(f"not an http(s) URL: {url!r}")
    argv = ["curl", "-q", "-sS", "--max-time", "15", "-w", WRITE_OUT]
    argv += ["--proxy", proxy] if proxy else ["--noproxy", "*"]
    for (name, port), address in sorted(resolve.items()):
        argv += ["--resolve", f"{name}:{port}:{address}"]
    argv += ["--", url]
    got = netns.run(argv, timeout=timeout)
    body, mark, tail = got.stdout.rpartition(_MARK)
    info: dict[str, Any] = {}
    if mark:
        try:
            parsed = json.loads(tail)
            info = parsed if isinstance(parsed, dict) else {}
        except ValueError:
            info = {}
    else:
        body = got.stdout
    return HttpHop(got.rc, body, got.stderr, info, got.truncated)


def endpoint(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) or proxy URL (a proxy without scheme is http)."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError as exc:
        raise EngineError(f"bad port in {url!r}") from exc
    return scheme, (parts.hostname or ""), port or (443 if scheme == "https" else 80)
