"""The SSH gateway on a real sshd, with real accounts and two real labs.

Two small labs of two Linux clients each (a scenario written here): candidate A's account
logs in by password (paramiko), B's by public key (OpenSSH's client). Each reaches their own
nodes, and nothing else: no host shell, no scp/sftp, no forwarding, not the other lab's
nodes (by name through the gateway, nor by address from the account's uid), not the host's
services; after `revoke` or `down` nothing is left and the login fails.

sshd: the host's own configuration (``/etc/ssh/sshd_config``, which includes
``sshd_config.d``), run by the test on a free port of 127.0.0.1, so the host's sshd, if one
runs, is never restarted. Needs root, LXC, openssh-server and paramiko; skips otherwise.
"""

from __future__ import annotations

import json
import os
import pty
import pwd
import select
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import host_problem
from tai_labs.providers import gateway

pytestmark = pytest.mark.integration

SCENARIO = """\
format: 1
scenario:
  id: passerelle-test
  title: passerelle SSH (test)
  block: CCP1
  competences: [C4]
  duration: 10
topology:
  networks:
    - {name: lan, subnet: 192.168.7.0/24}
  nodes:
    - name: pc1
      kind: linux-client
      memory: 256
      interfaces: [{network: lan, address: 192.168.7.11/24}]
    - name: pc2
      kind: linux-client
      memory: 256
      interfaces: [{network: lan, address: 192.168.7.12/24}]
brief:
  text: test
checks:
  - id: marker
    title: marker file
    grader: linux.file
    target: pc1
    params: {path: /etc/passerelle-ok}
    criterion: C4.1
    points: 1
    initially: fail
    messages: {pass: ok, fail: ko}
solution:
  steps: [{action: linux.file, target: pc1, params: {path: /etc/passerelle-ok, content: ok}}]
"""


@dataclass
class Candidate:
    lab: Any
    login: str
    password: str | None = None
    key: Path | None = None


@dataclass
class Gateway:
    port: int
    a: Candidate
    b: Candidate
    tmp: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, timeout: float = 10) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"sshd did not listen on {port}")


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    problem = host_problem("lxc-start", "lxc-attach", "ip", "nft", "useradd", "ssh")
    if problem:
        pytest.skip(problem)
    if not Path(gateway.SSHD).is_file() or not Path("/etc/ssh/sshd_config").is_file():
        pytest.skip("needs openssh-server (apt-get install -y openssh-server)")
    pytest.importorskip("paramiko")
    from tai_labs.lab import lifecycle
    from tai_labs.lab.gateway import grant
    from tai_labs.providers.naming import new_lab_id

    tmp = tmp_path_factory.mktemp("gateway")
    scenario = tmp / "ccp1" / "passerelle-test" / "scenario.yaml"
    scenario.parent.mkdir(parents=True)
    scenario.write_text(SCENARIO)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / "key_b")],
                   check=True)  # fmt: skip
    ids = [new_lab_id(), new_lab_id()]
    sshd = None
    try:
        labs = [
            lifecycle.up(scenario, candidate=f"i14-gateway-{n}", seed=0, lab_id=i, faults=False)
            for n, i in zip("ab", ids, strict=True)
        ]
        for lab in labs:  # which lab answers is told by a file only root of that lab wrote
            lab.exec("pc1", ["sh", "-c", "cat > /etc/lab-id"], input=lab.id)
        a = Candidate(labs[0], f"gwa-{ids[0]}")
        b = Candidate(labs[1], f"gwb-{ids[1]}", key=tmp / "key_b")
        # At once, as a session grants its candidates: the shared table and block hold both.
        with ThreadPoolExecutor(2) as pool:
            grant_a = pool.submit(grant, a.lab, login=a.login)
            grant_b = pool.submit(
                grant, b.lab, login=b.login, public_key=(tmp / "key_b.pub").read_text()
            )
            a.password = grant_a.result().password
            assert grant_b.result().password is None
        # sshd reads its configuration at start: after the grants wrote the group's block.
        port = _free_port()
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        sshd = subprocess.Popen(
            [gateway.SSHD, "-D", "-E", str(tmp / "sshd.log"), "-p", str(port),
             "-o", "ListenAddress=127.0.0.1", "-o", f"PidFile={tmp / 'sshd.pid'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_port(port)
        yield Gateway(port, a, b, tmp)
    finally:
        if sshd is not None:
            sshd.terminate()
            sshd.wait(timeout=10)
        for lab_id in ids:
            lifecycle.down(lab_id)
        for lab_id in ids:
            assert not gateway.lab_accounts(lab_id)


# -- helpers ------------------------------------------------------------------------------


def paramiko_client(gw: Gateway, password: str | None = None) -> Any:
    import paramiko

    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(
        "127.0.0.1",
        port=gw.port,
        username=gw.a.login,
        password=password or gw.a.password,
        look_for_keys=False,
        allow_agent=False,
        timeout=15,
    )
    return client


def run_a(gw: Gateway, command: str) -> tuple[int, str, str]:
    client = paramiko_client(gw)
    try:
        _, out, err = client.exec_command(command, timeout=60)
        rc = out.channel.recv_exit_status()
        return rc, out.read().decode(), err.read().decode()
    finally:
        client.close()


def ssh_b(gw: Gateway, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """OpenSSH's client as candidate B (key login)."""
    return subprocess.run(
        ["ssh", *openssh_options(gw), *args], capture_output=True, text=True, timeout=timeout
    )


def openssh_options(gw: Gateway, port_flag: str = "-p") -> list[str]:
    assert gw.b.key is not None
    return [
        "-F", "/dev/null", port_flag, str(gw.port), "-i", str(gw.b.key),
        "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
        "-o", f"UserKnownHostsFile={gw.tmp / 'known_hosts'}", "-o", "LogLevel=ERROR",
    ]  # fmt: skip


def as_uid(login: str, script: str) -> subprocess.CompletedProcess[str]:
    """A Python snippet run with the account's uid and groups (what an escape would have)."""
    return subprocess.run(
        ["setpriv", "--reuid", login, "--regid", login, "--init-groups",
         "/usr/bin/python3", "-I", "-c", script],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


CONNECT = """
import socket, sys
s = socket.socket(); s.settimeout(3)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("connected")
except OSError as exc:
    print("refused", exc)
"""


def connects(login: str | None, address: str, port: int) -> bool:
    if login is None:
        proc = subprocess.run(["python3", "-I", "-c", CONNECT, address, str(port)],
                              capture_output=True, text=True, timeout=30)  # fmt: skip
    else:
        proc = subprocess.run(
            ["setpriv", "--reuid", login, "--regid", login, "--init-groups",
             "/usr/bin/python3", "-I", "-c", CONNECT, address, str(port)],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    return proc.stdout.strip() == "connected"


# -- tests --------------------------------------------------------------------------------


def test_each_candidate_reaches_their_own_nodes(gw: Gateway) -> None:
    assert run_a(gw, "pc1 hostname") == (0, "pc1\n", "")
    assert run_a(gw, "pc2 hostname")[1] == "pc2\n"
    # Their own lab's pc1, not the other's: the file only that lab's root wrote.
    assert run_a(gw, "pc1 cat /etc/lab-id")[1] == gw.a.lab.id
    proc = ssh_b(gw, f"{gw.b.login}@127.0.0.1", "pc1", "cat", "/etc/lab-id")
    assert (proc.returncode, proc.stdout) == (0, gw.b.lab.id), proc.stderr
    # On the node they are root (the lab is theirs).
    assert run_a(gw, "pc1 id -u")[1] == "0\n"
    # What the instructor sees: both accounts, by lab, no password anywhere.
    listed = subprocess.run(
        [str(Path(sys.executable).with_name("tai-labs")), "access", "ls", "--json"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rows = {row["login"]: row for row in json.loads(listed)}
    assert rows[gw.a.login] == {
        "login": gw.a.login, "lab": gw.a.lab.id, "method": "password", "nodes": ["pc1", "pc2"],
    }  # fmt: skip
    assert rows[gw.b.login]["method"] == "key"
    assert gw.a.password is not None and gw.a.password not in listed


@pytest.mark.parametrize(
    "command",
    ["bash", "sh -c id", "/bin/sh -i", "id", "cat /etc/shadow", "scp -t /tmp",
     "/usr/lib/openssh/sftp-server", "pc1;id", "pc3", "pc1$(id)", "../pc1"],
)  # fmt: skip
def test_no_host_shell_and_no_other_node(gw: Gateway, command: str) -> None:
    rc, out, err = run_a(gw, command)
    assert rc == 1
    assert out == ""
    assert err.startswith("passerelle : ")


def test_an_interactive_login_without_a_node_asks_which(gw: Gateway) -> None:
    # No terminal: the gateway names the nodes and stops.
    rc, _, err = run_a(gw, "")
    assert rc == 1 and "pc1, pc2" in err
    # With a terminal (OpenSSH's client in a pty): the menu, then a root shell on pc2.
    main, child = pty.openpty()
    proc = subprocess.Popen(
        ["ssh", "-tt", *openssh_options(gw), f"{gw.b.login}@127.0.0.1"],
        stdin=child, stdout=child, stderr=child, close_fds=True,
    )  # fmt: skip
    os.close(child)
    seen = b""

    def read_until(marker: bytes, timeout: float = 30) -> None:
        nonlocal seen
        end = time.monotonic() + timeout
        while marker not in seen and time.monotonic() < end:
            ready, _, _ = select.select([main], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(main, 4096)
                except OSError:
                    break
        assert marker in seen, seen.decode(errors="replace")

    try:
        read_until("Machine (numéro ou nom)".encode())
        os.write(main, b"2\n")
        time.sleep(2)
        os.write(main, b"echo host-is-$(hostname)\n")
        read_until(b"host-is-pc2")
        os.write(main, b"exit\n")
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        os.close(main)


def test_scp_and_sftp_are_refused(gw: Gateway) -> None:
    import paramiko

    client = paramiko_client(gw)
    try:
        with pytest.raises((paramiko.SSHException, EOFError)):
            client.open_sftp()
    finally:
        client.close()
    target = f"{gw.b.login}@127.0.0.1:/tmp/gw-copied"
    for legacy in ([], ["-O"]):
        proc = subprocess.run(
            ["scp", *legacy, *openssh_options(gw, "-P"), "/etc/hostname", target],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert proc.returncode != 0
    assert not Path("/tmp/gw-copied").exists()


def test_no_forwarding_of_any_kind(gw: Gateway) -> None:
    import paramiko

    a_pc1 = str(gw.a.lab.mgmt_address("pc1"))
    client = paramiko_client(gw)
    try:
        transport = client.get_transport()
        # -L / -J: a channel to a node's sshd, or to the host's own sshd.
        for target in ((a_pc1, 22), ("127.0.0.1", gw.port)):
            with pytest.raises(paramiko.ChannelException):
                transport.open_channel("direct-tcpip", target, ("127.0.0.1", 0))
        # -R
        with pytest.raises(paramiko.SSHException):
            transport.request_port_forward("127.0.0.1", 0)
    finally:
        client.close()
    # OpenSSH's client: -R fails outright; -L listens on the client's side, but whatever
    # connects there gets no byte of the node's sshd banner.
    proc = ssh_b(gw, "-o", "ExitOnForwardFailure=yes", "-N", "-R", "127.0.0.1:0:127.0.0.1:22",
                 f"{gw.b.login}@127.0.0.1", timeout=30)  # fmt: skip
    assert proc.returncode == 255 and "forwarding failed" in proc.stderr
    local = _free_port()
    forward = subprocess.Popen(
        ["ssh", *openssh_options(gw), "-N", "-L", f"127.0.0.1:{local}:{a_pc1}:22",
         f"{gw.b.login}@127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_port(local)
        with socket.create_connection(("127.0.0.1", local), timeout=5) as s:
            s.settimeout(5)
            try:
                banner = s.recv(64)
            except TimeoutError:
                banner = b""
        assert not banner.startswith(b"SSH-")
    finally:
        forward.kill()
        forward.wait()
    # Agent and X11: what sshd applies to a candidate's account (its -T, on the real user).
    out = subprocess.run(
        [gateway.SSHD, "-T", "-C", f"user={gw.a.login},host=h,addr=192.0.2.1"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    effective = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    assert effective["forcecommand"] == str(gateway.SHELL)
    for key, value in {
        "disableforwarding": "yes",
        "allowagentforwarding": "no",
        "allowtcpforwarding": "no",
        "allowstreamlocalforwarding": "no",
        "x11forwarding": "no",
        "permittunnel": "no",
        "permituserrc": "no",
    }.items():
        assert effective[key] == value, key
    # With -A, the node's shell sees no agent either.
    proc = ssh_b(gw, "-A", f"{gw.b.login}@127.0.0.1", "pc1", "echo", "agent=$SSH_AUTH_SOCK")
    assert proc.stdout == "agent=\n"


def test_without_the_sshd_block_the_other_walls_still_hold(gw: Gateway) -> None:
    """sshd started from the host's configuration minus its Include (no Match block): the
    login shell still refuses a shell, and a forwarding, now allowed by sshd, is opened
    with the account's uid, so it reaches its own nodes' port 22 and nothing else."""
    main = gw.tmp / "sshd_config_without_block"
    main.write_text(
        "".join(
            line
            for line in Path("/etc/ssh/sshd_config").read_text().splitlines(keepends=True)
            if not line.lstrip().lower().startswith("include")
        )
    )
    port = _free_port()
    sshd = subprocess.Popen(
        [gateway.SSHD, "-D", "-f", str(main), "-E", str(gw.tmp / "sshd-bare.log"),
         "-p", str(port), "-o", "ListenAddress=127.0.0.1",
         "-o", f"PidFile={gw.tmp / 'sshd-bare.pid'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    bare = Gateway(port, gw.a, gw.b, gw.tmp)
    try:
        _wait_port(port)
        proc = ssh_b(bare, f"{gw.b.login}@127.0.0.1", "bash", "-c", "id")
        assert proc.returncode == 1 and proc.stdout == ""
        assert ssh_b(bare, f"{gw.b.login}@127.0.0.1", "pc1", "hostname").stdout == "pc1\n"
        own = str(gw.b.lab.mgmt_address("pc1"))
        other = str(gw.a.lab.mgmt_address("pc1"))
        banners = {}
        for target in (f"{own}:22", f"{other}:22", f"127.0.0.1:{gw.port}"):
            local = _free_port()
            forward = subprocess.Popen(
                ["ssh", *openssh_options(bare), "-N", "-L", f"127.0.0.1:{local}:{target}",
                 f"{gw.b.login}@127.0.0.1"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            try:
                _wait_port(local)
                with socket.create_connection(("127.0.0.1", local), timeout=5) as s:
                    s.settimeout(6)
                    try:
                        banners[target] = s.recv(64)
                    except TimeoutError:
                        banners[target] = b""
            finally:
                forward.kill()
                forward.wait()
        assert banners[f"{own}:22"].startswith(b"SSH-")  # the forwarding works: sshd allows it
        assert banners[f"{other}:22"] == b""  # but the uid reaches nothing else
        assert banners[f"127.0.0.1:{gw.port}"] == b""
    finally:
        sshd.terminate()
        sshd.wait(timeout=10)


def test_the_account_reaches_nothing_but_its_own_nodes_port_22(gw: Gateway) -> None:
    a_pc1 = str(gw.a.lab.mgmt_address("pc1"))
    b_pc1 = str(gw.b.lab.mgmt_address("pc1"))
    host_mgmt = str(gw.a.lab.network().host_ip)
    # Root reaches both labs' nodes: the addresses are live.
    assert connects(None, a_pc1, 22) and connects(None, b_pc1, 22)
    assert connects(gw.a.login, a_pc1, 22) and connects(gw.b.login, b_pc1, 22)
    assert not connects(gw.a.login, b_pc1, 22)  # the other lab
    assert not connects(gw.b.login, a_pc1, 22)
    assert not connects(gw.a.login, "127.0.0.1", gw.port)  # the host's sshd
    assert not connects(gw.a.login, host_mgmt, gw.port)
    # Even with A's gateway key, the other lab's node refuses it (root trying).
    proc = subprocess.run(
        ["ssh", "-F", "/dev/null", "-i", str(gw.a.lab.folder / "gateway_ed25519"),
         "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
         "-o", f"UserKnownHostsFile={gw.b.lab.folder / 'known_hosts'}",
         "-o", "StrictHostKeyChecking=yes", f"root@{b_pc1}", "true"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 255 and "Permission denied" in proc.stderr


def test_the_account_cannot_read_the_labs_secrets_or_another_home(gw: Gateway) -> None:
    script = """
import sys
for path in sys.argv[1:]:
    try:
        open(path, "rb").read(1)
        print("read", path)
    except OSError:
        pass
"""
    secrets = [
        str(gw.a.lab.folder / "id_ed25519"),
        str(gw.a.lab.folder / "gateway_ed25519"),
        str(gw.b.lab.folder / "id_ed25519"),
        str(gateway.home_of(gw.b.login) / "id_ed25519"),
        "/etc/shadow",
    ]
    proc = subprocess.run(
        ["setpriv", "--reuid", gw.a.login, "--regid", gw.a.login, "--init-groups",
         "/usr/bin/python3", "-I", "-c", script, *secrets],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 0 and proc.stdout == ""
    # Its own home: readable, never writable (the node list, keys and authorized_keys).
    home = gateway.home_of(gw.a.login)
    for path in (home, home / "gateway.json", home / "known_hosts", home / ".ssh"):
        assert path.stat().st_uid == 0
        assert not path.stat().st_mode & 0o022
    write = as_uid(gw.a.login, f"open({str(home / 'gateway.json')!r}, 'a')")
    assert write.returncode != 0 and "Permission denied" in write.stderr


def test_a_flushed_firewall_or_removed_sshd_block_comes_back_at_the_next_lab_command(
    gw: Gateway,
) -> None:
    from tai_labs.lab.runtime import open_lab

    subprocess.run(["nft", "delete", "table", "inet", gateway.NFT_TABLE], check=True)
    gateway.SSHD_FRAGMENT.unlink()
    b_pc1 = str(gw.b.lab.mgmt_address("pc1"))
    assert connects(gw.a.login, b_pc1, 22)  # the hole the check closes
    open_lab(gw.a.lab.id)
    assert gateway.SSHD_FRAGMENT.is_file()
    assert not connects(gw.a.login, b_pc1, 22)
    assert connects(gw.a.login, str(gw.a.lab.mgmt_address("pc1")), 22)


def test_a_second_grant_gives_a_new_password_and_the_old_one_fails(gw: Gateway) -> None:
    import paramiko

    from tai_labs.lab.gateway import grant

    old = gw.a.password
    renewed = grant(gw.a.lab, login=gw.a.login)
    assert renewed.password and renewed.password != old
    gw.a.password = renewed.password
    with pytest.raises(paramiko.AuthenticationException):
        paramiko_client(gw, password=old)
    assert run_a(gw, "pc1 hostname")[1] == "pc1\n"
    # A password chosen by the caller (a session's, shared with the portal) is used as given.
    chosen = "Sess1on-pw-Z7q"
    assert grant(gw.a.lab, login=gw.a.login, password=chosen).password == chosen
    gw.a.password = chosen
    assert run_a(gw, "pc2 hostname")[1] == "pc2\n"
    # One account per lab: another login for the same lab is refused.
    with pytest.raises(Exception, match="already has the gateway account"):
        grant(gw.a.lab, login="gwother")


def test_an_account_whose_lab_is_gone_is_found_and_collected(gw: Gateway) -> None:
    """An account left by a lab removed without it (a crash, an older release) is found by
    ``gc --orphans`` (``known_labs``) and removed by the lab's cleanup."""
    from tai_labs.providers.cleanup import cleanup_lab, known_labs
    from tai_labs.providers.naming import new_lab_id

    gone = new_lab_id()
    login = f"gwo-{gone}"
    try:
        gateway.create(login, gone, {"pc1": "100.64.250.11"}, private_key=b"k",
                       known_hosts="", password="Orphan-pw-0123")  # fmt: skip
        assert gone in known_labs()
        assert cleanup_lab(gone).accounts == [login]
        with pytest.raises(KeyError):
            pwd.getpwnam(login)
        assert gone not in known_labs()
    finally:
        if login in {a.login for a in gateway.accounts()}:
            gateway.remove(login)
    assert run_a(gw, "pc1 hostname")[1] == "pc1\n"  # the others' accounts untouched


def test_reset_keeps_the_gateway_working(gw: Gateway) -> None:
    from tai_labs.lab.snapshots import reset_lab

    reset_lab(gw.a.lab.id)
    assert run_a(gw, "pc1 hostname")[1] == "pc1\n"


def test_revoke_cuts_the_session_and_leaves_nothing(gw: Gateway) -> None:
    import paramiko

    from tai_labs.lab.gateway import revoke

    client = paramiko_client(gw)
    _, out, _ = client.exec_command("pc1 sleep 120", timeout=60)
    time.sleep(2)
    uid = pwd.getpwnam(gw.a.login).pw_uid
    started = time.monotonic()
    assert revoke(gw.a.lab) == [gw.a.login]
    out.channel.recv_exit_status()  # the session ends with the account, not in 120 s
    assert time.monotonic() - started < 30
    assert revoke(gw.a.lab) == []  # safe to run again
    client.close()
    with pytest.raises(KeyError):
        pwd.getpwnam(gw.a.login)
    assert not gateway.home_of(gw.a.login).exists()
    assert (
        f"skuid {uid} "
        not in subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
    )
    keys = gw.a.lab.exec("pc1", ["cat", "/root/.ssh/authorized_keys"]).stdout
    assert "tai-labs-gateway-" not in keys
    with pytest.raises(paramiko.AuthenticationException):
        paramiko_client(gw)
    # B's account is untouched by A's revoke.
    assert ssh_b(gw, f"{gw.b.login}@127.0.0.1", "pc1", "hostname").stdout == "pc1\n"


def test_down_removes_the_account_and_the_last_one_takes_the_rest(gw: Gateway) -> None:
    from tai_labs.lab import lifecycle

    removed = lifecycle.down(gw.b.lab.id)
    assert f"gateway account {gw.b.login}" in removed
    with pytest.raises(KeyError):
        pwd.getpwnam(gw.b.login)
    assert ssh_b(gw, f"{gw.b.login}@127.0.0.1", "pc1", "hostname").returncode == 255
    if not gateway.accounts():  # another lab's account on this host keeps the shared parts
        assert not gateway.SSHD_FRAGMENT.exists()
        assert not gateway.SHELL.exists()
        nft = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
        assert gateway.NFT_TABLE not in nft
        assert (
            shutil.which("getent")
            and subprocess.run(["getent", "passwd"], capture_output=True, text=True).stdout.count(
                str(gateway.SHELL)
            )
            == 0
        )
