"""The jury's web probe: the node's proxy settings as read from its files, curl's no_proxy
rules, and the host's curl answer (providers/httpprobe.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tai_labs.providers import httpprobe as h
from tai_labs.providers.base import ExecResult
from tai_labs.providers.errors import EngineError

ENVIRONMENT = (
    'PATH="/usr/local/bin:/usr/bin:/bin"\n'
    'http_proxy="http://192.168.1.250:3128"\n'
    "HTTPS_PROXY='http://192.168.1.250:3128'\n"
    "no_proxy=localhost,.dupuis.lan,10.0.0.0/8\n"
)


def test_a_logins_order_with_unset_and_computed_lines() -> None:
    s = h.read_settings([("/etc/environment", ENVIRONMENT)])
    assert s.proxy_for("http", "203.0.113.1") == "http://192.168.1.250:3128"
    assert s.proxy_for("https", "example.org") == "http://192.168.1.250:3128"
    assert s.proxy_for("http", "intranet.dupuis.lan") is None  # no_proxy domain
    assert s.proxy_for("http", "10.1.2.3") is None  # no_proxy network
    assert s.summary() == "proxy: http://192.168.1.250:3128 / http://192.168.1.250:3128"
    later = h.read_settings(
        [
            ("/etc/environment", ENVIRONMENT),
            ("/etc/profile.d/zz-proxy.sh", "unset http_proxy HTTPS_PROXY\n"),
            ("/etc/profile.d/zz-more.sh", 'export https_proxy="http://$HOST:8080"\n'),
        ]
    )
    assert later.proxy_for("http", "203.0.113.1") is None
    assert later.proxy_for("https", "example.org") is None
    assert later.unread == ['/etc/profile.d/zz-more.sh: export https_proxy="http://$HOST:8080"']


def test_curl_ignores_an_upper_case_http_proxy() -> None:
    s = h.read_settings([("/etc/environment", "HTTP_PROXY=http://10.9.9.9:3128\n")])
    assert s.proxy_for("http", "203.0.113.1") is None
    assert h.bypassed("anything", "*")


class FakeNetns:
    def __init__(self, stdout: str, rc: int = 0, stderr: str = "") -> None:
        self.result = ExecResult(rc, stdout, stderr)
        self.argv: list[str] = []

    def run(self, argv: list[str], *, timeout: float = 30.0, **_: Any) -> ExecResult:
        self.argv = argv
        return self.result


def test_the_host_curl_is_told_everything_and_says_who_answered() -> None:
    info = {"http_code": 200, "remote_ip": "203.0.113.1", "remote_port": 80}
    netns: Any = FakeNetns("<h1>Bienvenue</h1>\n== curl " + json.dumps(info))
    hop = h.fetch(
        netns, "http://site.test/", proxy=None, resolve={("site.test", 80): "203.0.113.1"}
    )
    assert hop.status == 200 and hop.peer == "203.0.113.1:80" and hop.body == "<h1>Bienvenue</h1>"
    argv = netns.argv
    assert argv[:2] == ["curl", "-q"]  # no .curlrc
    assert argv[argv.index("--noproxy") : argv.index("--noproxy") + 2] == ["--noproxy", "*"]
    assert "site.test:80:203.0.113.1" in argv and argv[-2:] == ["--", "http://site.test/"]
    netns = FakeNetns("\n== curl " + json.dumps({"http_code": 0}), rc=7, stderr="curl: (7) x\n")
    hop = h.fetch(netns, "http://203.0.113.1/", proxy="http://192.168.1.250:3128", resolve={})
    assert hop.status == 0 and hop.rc == 7
    assert "--proxy" in netns.argv and "http://192.168.1.250:3128" in netns.argv
    with pytest.raises(EngineError):
        h.fetch(netns, "file:///etc/shadow", proxy=None, resolve={})
    assert h.endpoint("192.168.1.250:3128") == ("http", "192.168.1.250", 3128)
    assert h.endpoint("https://x.test/a") == ("https", "x.test", 443)
