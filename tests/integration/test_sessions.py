"""Sessions against a real lab (compte-verrouille: dc1 ad-dc, box router, pc1 client).

Needs root, LXC and the ad-dc/router/client images; skips naming what is missing. The lab is
brought up once for the module (about 15-25 s) and always brought down. Run with ``-s`` to
see the timing figures docs/sessions.md quotes.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from roles_fixtures import skip_unless_images

from tai_labs.errors import TaiLabsError
from tai_labs.facts import directory as ad
from tai_labs.lab.runtime import Lab
from tai_labs.lab.sessions import SessionPool
from tai_labs.providers.keys import generate_ed25519, known_hosts_line
from tai_labs.providers.naming import new_lab_id
from tai_labs.sessions.base import SessionError
from tai_labs.sessions.ssh import HOST_KEY, SshConnectError, SshSession

pytestmark = pytest.mark.integration

AWKWARD = ["two words", "it's", 'say "hi"', "a;b", "$(id -u)", "`id`", "$HOME", "x\ny", "*", ""]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    for module in ("paramiko", "ldap3", "netmiko"):
        pytest.importorskip(module)
    skip_unless_images("ad-dc", "router", "client")
    from tai_labs.lab import lifecycle
    from tai_labs.lab.store import Store
    from tai_labs.scenario.catalog import find

    store = Store()
    # Our own id, so teardown removes exactly this lab even if up() fails half-way.
    lab_id = new_lab_id()
    try:
        started = time.monotonic()
        try:
            opened = lifecycle.up(
                find("compte-verrouille"),
                candidate="sess",
                seed=0,
                lab_id=lab_id,
                store=store,
                faults=False,
            )
        except TaiLabsError as exc:
            if "cannot be brought up yet" in exc.message:
                pytest.skip(f"the scenario cannot be brought up in this tree: {exc.message}")
            raise
        print(f"\nlab {lab_id} up in {time.monotonic() - started:.1f} s")
        yield opened
    finally:
        lifecycle.down(lab_id, store=store)


@pytest.fixture
def pool(lab: Lab) -> Iterator[SessionPool]:
    with SessionPool(lab) as p:
        yield p


def ssh_to(lab: Lab, node: str, known_hosts: Path | None = None) -> SshSession:
    return SshSession(
        node,
        str(lab.mgmt_address(node)),
        key_file=lab.folder / "id_ed25519",
        known_hosts=known_hosts or lab.folder / "known_hosts",
    )


def test_ssh_arguments_reach_the_program_literally(pool: SessionPool) -> None:
    session = pool.get("pc1", "command")
    assert session.transport == "ssh"
    result = session.run(["printf", "[%s]\\0", *AWKWARD])
    assert result.ok, result
    assert result.stdout.split("\0")[:-1] == [f"[{a}]" for a in AWKWARD]
    echoed = session.run(
        ["sh", "-c", 'cat; echo "$1" >&2; exit 7', "sh", "$(reboot)"], input="in 'put'\n"
    )
    assert (echoed.rc, echoed.stdout, echoed.stderr) == (7, "in 'put'\n", "$(reboot)\n")


def test_ssh_timeout_then_reuse(pool: SessionPool) -> None:
    session = pool.get("pc1", "command")
    with pytest.raises(SessionError, match=r"pc1: `sleep 10` did not finish within 1 s"):
        session.run(["sleep", "10"], timeout=1)
    assert session.run(["true"]).ok


def test_host_key_pinning_rejects_wrong_and_unknown_keys(lab: Lab, tmp_path: Path) -> None:
    address = str(lab.mgmt_address("pc1"))
    wrong = tmp_path / "known_hosts"
    wrong.write_text(known_hosts_line([address], generate_ed25519("impostor").public_line) + "\n")
    with pytest.raises(SshConnectError) as err:
        ssh_to(lab, "pc1", wrong).open()
    assert err.value.reason == HOST_KEY and "differs" in err.value.message
    empty = tmp_path / "empty"
    empty.write_text("")
    with pytest.raises(SshConnectError) as err:
        ssh_to(lab, "pc1", empty).open()
    assert err.value.reason == HOST_KEY


def test_ldap_user_group_and_binds(lab: Lab, pool: SessionPool) -> None:
    directory = pool.get("dc1", "directory")
    scenario_user = lab.loaded.scenario.directory.users[0]
    user = ad.find_user(directory, scenario_user.login)
    assert user is not None and user.ou == "Siege/Utilisateurs" and user.enabled
    assert "Comptabilite" in [ad.rdn_value(dn) for dn in user.member_of]
    group = ad.find_group(directory, "Comptabilite")
    assert group is not None and group.scope == "global" and scenario_user.login in group.members
    assert ad.find_user(directory, "nobody*)(x=") is None
    ok, why = directory.bind_as(scenario_user.login, "not-" + scenario_user.password)
    assert not ok and "invalidCredentials" in why
    assert directory.bind_as(scenario_user.login, scenario_user.password) == (True, "bound")
    links = ad.ou_links(directory, "Domain Controllers")
    gpo = ad.find_gpo(directory, "Default Domain Controllers Policy")
    assert gpo is not None and links and ad.same_dn(links[0].dn, gpo.dn)


def test_router_cli(pool: SessionPool) -> None:
    device = pool.get("box", "device")
    shown = device.send("show running-config")
    assert shown.rc == 0 and "hostname box" in shown.stdout
    assert device.send("show nonsense").rc == 1
    assert device.configure(["frobnicate everything"]).rc == 1
    assert device.configure(["ip rout 10.77.0.0/24"]).rc == 1
    assert device.configure(["ip route 10.77.0.0/24 192.168.10.1"]).rc == 0
    assert "10.77.0.0/24" in device.send("show running-config").stdout
    assert device.configure(["no ip route 10.77.0.0/24 192.168.10.1"]).rc == 0


def _timed(fn: Callable[[], object], n: int) -> float:
    samples = []
    for _ in range(n):
        start = time.monotonic()
        fn()
        samples.append(time.monotonic() - start)
    return statistics.median(samples) * 1000


def test_measure_open_and_call_latency(lab: Lab) -> None:
    figures: dict[str, float] = {}
    for node, kind in (
        ("pc1", "command"),
        ("dc1", "command"),
        ("dc1", "directory"),
        ("box", "device"),
    ):
        with SessionPool(lab) as fresh:
            start = time.monotonic()
            fresh.get(node, kind)
            figures[f"open {kind} {node}"] = (time.monotonic() - start) * 1000
    with SessionPool(lab) as p:
        ssh = p.get("pc1", "command")
        figures["call ssh reused (true)"] = _timed(lambda: ssh.run(["true"]), 30)

        def fresh_ssh() -> None:
            s = ssh_to(lab, "pc1")
            s.run(["true"])
            s.close()

        figures["call ssh new connection each time"] = _timed(fresh_ssh, 10)
        exec_session = p.exec_session("pc1")
        figures["call exec channel (true)"] = _timed(lambda: exec_session.run(["true"]), 10)
        directory = p.get("dc1", "directory")
        figures["call ldap find_user"] = _timed(
            lambda: ad.find_user(directory, "Administrator"), 30
        )
        device = p.get("box", "device")
        figures["call netmiko send"] = _timed(lambda: device.send("show ip route"), 10)
    print("\n" + "\n".join(f"| {k} | {v:.0f} ms |" for k, v in figures.items()))
    assert figures["call ssh reused (true)"] < figures["call ssh new connection each time"]


def test_pool_falls_back_to_exec_when_eth0_is_down(lab: Lab) -> None:
    # Last in the module: it breaks pc1's management link (and repairs it after).
    assert lab.exec("pc1", ["ip", "link", "set", "eth0", "down"]).ok
    try:
        with SessionPool(lab, connect_timeout=3.0) as p:
            start = time.monotonic()
            session = p.get("pc1", "command")
            took = (time.monotonic() - start) * 1000
            print(f"\n| open command pc1, eth0 down (falls back) | {took:.0f} ms |")
            assert session.transport == "exec"
            assert "cannot connect" in p.fallbacks["pc1"] or "timed out" in p.fallbacks["pc1"]
            state = session.run(["cat", "/sys/class/net/eth0/operstate"])
            assert state.stdout.strip() == "down"
            assert session.run(["printf", "%s", "a b;$(x)"]).stdout == "a b;$(x)"
    finally:
        lab.exec("pc1", ["ip", "link", "set", "eth0", "up"])


def test_container_nodes_reading_commands_are_answered_by_the_host(pool: SessionPool) -> None:
    session = pool.get("pc1", "command")
    assert session.transport == "ssh"  # what goes to the node still goes over SSH
    hostname = session.run(["cat", "--", "/etc/hostname"])
    assert (hostname.stdout.strip(), hostname.source, hostname.via) == ("pc1", "host", "rootfs")
    routes = session.run(["ip", "-j", "-4", "route", "show", "table", "main"])
    assert (routes.source, routes.via) == ("host", "netns") and "192.168.10.0/24" in routes.stdout
    assert session.run(["hostname"]).source == "node"
