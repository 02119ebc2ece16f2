"""The SSH gateway's pieces that need no host: the forced command's validation, the sshd
block, the per-uid firewall and the values that reach a file, a rule or a command.

The real sshd, accounts and labs are in tests/integration/test_gateway_sshd.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tai_labs.providers import gateway
from tai_labs.providers.gateway_shell import (
    Refused,
    load_nodes,
    parse_request,
    request_of,
    ssh_argv,
)

NODES = {"pc1": "100.64.7.11", "srv-1": "100.64.7.12"}
SELF = "/usr/local/lib/tai-labs/gateway-shell"


@pytest.mark.parametrize(
    ("request_text", "expected"),
    [
        ("pc1", ("pc1", None)),
        ("  pc1  ", ("pc1", None)),
        ("srv-1 hostname", ("srv-1", "hostname")),
        ("pc1 sh -c 'id; ls'", ("pc1", "sh -c 'id; ls'")),
        ("", (None, None)),
    ],
)
def test_a_request_names_one_of_the_lab_nodes(
    request_text: str, expected: tuple[str | None, str | None]
) -> None:
    assert parse_request(request_text, NODES) == expected


@pytest.mark.parametrize(
    "request_text",
    [
        "bash",
        "sh -c id",
        "/bin/sh",
        "scp -t /tmp",
        "/usr/lib/openssh/sftp-server",
        "internal-sftp",
        "pc3",  # another lab's node name
        "pc1;id",
        "pc1\nid",
        "PC1",
        "pc1/../x",
        "-oProxyCommand=sh",
        "100.64.7.11",
        "root@100.64.7.11",
        "pc11",
        "pc",
    ],
)
def test_anything_else_is_refused(request_text: str) -> None:
    with pytest.raises(Refused):
        parse_request(request_text, NODES)


def test_the_request_comes_from_sshd_or_the_login_shell_flag() -> None:
    env = {"SSH_ORIGINAL_COMMAND": "pc1 hostname"}
    assert request_of([SELF, "-c", SELF], env, SELF) == "pc1 hostname"
    # ForceCommand with no command from the client: the menu.
    assert request_of([SELF, "-c", SELF], {}, SELF) == ""
    # As a plain login shell (no ForceCommand): ``shell -c REQUEST``.
    assert request_of(["gateway-shell", "-c", "bash"], {}, SELF) == "bash"
    assert request_of(["-gateway-shell"], {}, SELF) == ""


@pytest.mark.parametrize(
    "nodes",
    [
        {},
        {"pc1": "100.64.7.11; id"},
        {"pc1": "host.example"},
        {"pc1 -o x": "100.64.7.11"},
        {"-pc1": "100.64.7.11"},
        {"pc1": 5},
        ["pc1"],
    ],
)
def test_a_node_list_that_is_not_names_and_addresses_is_refused(nodes: object) -> None:
    with pytest.raises(Refused):
        load_nodes({"nodes": nodes})


def test_ssh_to_the_node_pins_keys_and_forwards_nothing() -> None:
    argv = ssh_argv("/home/x", "100.64.7.11", "id -u", tty=False)
    text = " ".join(argv)
    assert argv[:3] == ["/usr/bin/ssh", "-F", "/dev/null"]
    for option in (
        "StrictHostKeyChecking=yes",
        "UserKnownHostsFile=/home/x/known_hosts",
        "GlobalKnownHostsFile=/dev/null",
        "ClearAllForwardings=yes",
        "ForwardAgent=no",
        "ForwardX11=no",
        "PermitLocalCommand=no",
        "EscapeChar=none",
        "IdentitiesOnly=yes",
    ):
        assert f"-o {option}" in text
    # Nothing after ``--`` is an option: the destination, then the node's command, whole.
    assert argv[-3:] == ["--", "root@100.64.7.11", "id -u"]
    assert ssh_argv("/home/x", "100.64.7.11", None, tty=True)[-3:] == [
        "-tt",
        "--",
        "root@100.64.7.11",
    ]


def test_the_sshd_block_matches_the_group_and_forbids_every_forwarding() -> None:
    text = gateway.sshd_fragment(Path("/usr/local/lib/tai-labs/gateway-shell"))
    lines = [line.strip() for line in text.splitlines() if line and not line.startswith("#")]
    assert lines[0] == "Match Group tai-candidates"
    for setting in (
        "ForceCommand /usr/local/lib/tai-labs/gateway-shell",
        "DisableForwarding yes",
        "AllowTcpForwarding no",
        "AllowStreamLocalForwarding no",
        "AllowAgentForwarding no",
        "X11Forwarding no",
        "PermitTunnel no",
        "PermitTTY yes",
        "PermitUserRC no",
    ):
        assert setting in lines
    # One Match block and nothing before it: it cannot apply to anyone else.
    assert sum(line.startswith("Match") for line in lines) == 1


@pytest.mark.skipif(not Path(gateway.SSHD).is_file(), reason="needs openssh-server (sshd)")
def test_sshd_accepts_the_block_and_it_leaves_other_users_alone(tmp_path: Path) -> None:
    """What the block does to a candidate is checked on a real account in the integration
    test (``sshd -T`` resolves groups from the user database)."""
    if os.geteuid() != 0:
        pytest.skip("sshd -t needs root (host keys)")
    fragment = tmp_path / "gw.conf"
    fragment.write_text(gateway.sshd_fragment())
    main = tmp_path / "sshd_config"
    # Settings only allowed outside a Match after the Include: the block must end with its file.
    main.write_text(f"Include {fragment}\nUsePAM yes\nSubsystem sftp internal-sftp\n")
    Path("/run/sshd").mkdir(exist_ok=True)
    subprocess.run([gateway.SSHD, "-t", "-f", str(main)], check=True)
    out = subprocess.run(
        [gateway.SSHD, "-T", "-f", str(main), "-C", "user=root,host=h,addr=192.0.2.1"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    effective = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    assert effective["forcecommand"] == "none"
    assert effective["disableforwarding"] == "no"


def test_the_firewall_lets_each_uid_reach_its_own_nodes_port_22_only() -> None:
    accounts = [
        gateway.Account("cand-a", "aaaaaa", 995, "password", {"pc1": "100.64.7.11"}),
        gateway.Account(
            "cand-b", "bbbbbb", 994, "key", {"pc1": "100.64.8.11", "pc2": "100.64.8.12"}
        ),
    ]
    text = gateway.nft_ruleset(accounts)
    assert "meta skuid 995 ip daddr { 100.64.7.11 } tcp dport 22 accept" in text
    assert "meta skuid 994 ip daddr { 100.64.8.11, 100.64.8.12 } tcp dport 22 accept" in text
    # Each accept is followed by the uid's drop of everything else (any family, any address).
    lines = [line.strip() for line in text.splitlines()]
    for uid in (994, 995):
        accept = next(i for i, line in enumerate(lines) if f"skuid {uid} ip daddr" in line)
        assert lines[accept + 1] == f"meta skuid {uid} counter drop"
    assert "hook output" in text
    if shutil.which("nft") and os.geteuid() == 0:
        subprocess.run(["nft", "-c", "-f", "-"], input=text.encode(), check=True)


def test_the_firewall_refuses_root_and_addresses_that_are_not() -> None:
    with pytest.raises(gateway.GatewayError):
        gateway.nft_ruleset([gateway.Account("x-root", "aaaaaa", 0, "key", {})])
    with pytest.raises(ValueError):
        gateway.nft_ruleset([gateway.Account("cand-a", "aaaaaa", 995, "key", {"pc1": "1.2.3.4 }"})])


@pytest.mark.parametrize(
    "login", ["root", "ab", "Alice", "a b", "a;b", "-x", "x\n", "a" * 33, "../x", "1abc"]
)
def test_a_login_is_checked_whole(login: str) -> None:
    if login == "root":
        gateway.check_login(login)  # a valid form: `create` refuses it because it exists
        return
    with pytest.raises(gateway.GatewayError):
        gateway.check_login(login)


def test_a_candidate_key_is_one_plain_key_line() -> None:
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGSN5PVsj23cvwlHGkoSd5AIrhMe92FYQJH6t/T1dlRz"
    assert gateway.check_public_key(key + " alice@pc\n") == key
    for bad in (
        "",
        f"{key}\n{key}\n",
        f'command="sh" {key}',
        f"from=x {key}",
        "ssh-ed25519 not*base64",
    ):
        with pytest.raises(gateway.GatewayError):
            gateway.check_public_key(bad)


def test_the_node_accepts_the_gateway_key_from_the_host_only_without_forwarding() -> None:
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGSN5PVsj23cvwlHGkoSd5AIrhMe92FYQJH6t/T1dlRz x"
    line = gateway.authorized_line(key, "100.64.7.1", "abc123")
    assert line.startswith('restrict,pty,from="100.64.7.1" ssh-ed25519 AAAA')
    assert line.endswith(" tai-labs-gateway-abc123")
    with pytest.raises(ValueError):
        gateway.authorized_line(key, '100.64.7.1",command="sh', "abc123")


# -- the lab level: what grant sends to the nodes and to the host account ---------------------


class _FakeStore:
    def __init__(self, records: list[object]) -> None:
        self.records = records

    def nodes(self, lab_id: str) -> list[object]:
        return self.records


class _FakeNetwork:
    host_ip = "100.64.9.1"


class _FakeLab:
    """What `lab.gateway` uses of a Lab: id, folder, store, network and exec."""

    def __init__(self, folder: Path) -> None:
        from tai_labs.lab.store import NodeRecord

        self.id = "abc123"
        self.folder = folder

        def record(name: str, kind: str, number: int) -> NodeRecord:
            address = f"100.64.9.{10 + number}"
            key = "ssh-ed25519 AAAAhostkey"
            resource = f"{self.id}-{name}"
            return NodeRecord(self.id, name, resource, kind, "lxc", number, address, key, True, {})

        self.store = _FakeStore(
            [record("pc1", "linux-client", 1), record("dc1", "ad-dc", 2),
             record("win1", "windows-client", 3)]
        )  # fmt: skip
        self.execs: list[tuple[str, list[str], object]] = []

    def network(self) -> _FakeNetwork:
        return _FakeNetwork()

    def exec(self, node: str, argv: list[str], input: object = None, timeout: float = 0) -> object:
        from tai_labs.providers.base import ExecResult

        self.execs.append((node, argv, input))
        return ExecResult(0, "", "")


def test_grant_authorises_linux_nodes_on_stdin_and_hands_the_account_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tai_labs.lab import gateway as lab_gateway

    made: dict[str, object] = {}

    def create(login: str, lab_id: str, nodes: dict[str, str], **kw: object) -> gateway.Account:
        made.update(kw, login=login, nodes=nodes)
        return gateway.Account(login, lab_id, 990, "password", dict(nodes))

    monkeypatch.setattr(gateway, "create", create)
    monkeypatch.setattr(gateway, "accounts", list)
    lab = _FakeLab(tmp_path)
    result = lab_gateway.grant(lab, login="dupont")  # type: ignore[arg-type]
    # Windows nodes have no sshd: not offered. The DC is a Linux node.
    assert sorted(result.nodes) == ["dc1", "pc1"]
    assert result.password and len(result.password) == lab_gateway.PASSWORD_LENGTH
    assert made["password"] == result.password and made["public_key"] is None
    # The key line goes on standard input, never in a command line.
    assert {node for node, _, _ in lab.execs} == {"pc1", "dc1"}
    for _, argv, stdin in lab.execs:
        assert "ssh-ed25519" not in " ".join(argv)
        assert isinstance(stdin, str) and stdin.startswith('restrict,pty,from="100.64.9.1" ')
    # The candidate's copy is the lab's gateway key, not the lab's own key.
    assert made["private_key"] == (tmp_path / "gateway_ed25519").read_bytes()
    assert (tmp_path / "gateway_ed25519").stat().st_mode & 0o777 == 0o600
    assert "100.64.9.11 ssh-ed25519 AAAAhostkey" in str(made["known_hosts"])


@pytest.mark.parametrize("password", ["short", "has:colon-0123", "line\nbreak-0123"])
def test_a_callers_password_is_checked_before_anything_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, password: str
) -> None:
    from tai_labs.errors import TaiLabsError
    from tai_labs.lab import gateway as lab_gateway

    monkeypatch.setattr(gateway, "accounts", list)
    lab = _FakeLab(tmp_path)
    with pytest.raises(TaiLabsError):
        lab_gateway.grant(lab, login="dupont", password=password)  # type: ignore[arg-type]
    assert lab.execs == []


def test_a_lab_has_one_gateway_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tai_labs.errors import TaiLabsError
    from tai_labs.lab import gateway as lab_gateway

    existing = gateway.Account("martin", "abc123", 990, "password", {"pc1": "100.64.9.11"})
    monkeypatch.setattr(gateway, "accounts", lambda: [existing])
    lab = _FakeLab(tmp_path)
    with pytest.raises(TaiLabsError, match="already has the gateway account martin"):
        lab_gateway.grant(lab, login="dupont")  # type: ignore[arg-type]
    assert lab.execs == []


def test_an_account_spanning_labs_lists_them_and_a_lab_finds_it() -> None:
    single = gateway.Account("cand-a", "aaaaaa", 995, "password", {"pc1": "100.64.7.11"})
    assert single.labs == ("aaaaaa",)
    multi = gateway.Account(
        "chloe", "aaaaaa", 996, "password",
        {"pc1-1": "100.64.7.11", "pc1-2": "100.64.8.11"}, ("aaaaaa", "bbbbbb"),
    )  # fmt: skip
    text = gateway.nft_ruleset([multi])
    # The uid reaches the nodes of both its labs, nothing else.
    assert "meta skuid 996 ip daddr { 100.64.7.11, 100.64.8.11 } tcp dport 22 accept" in text


def test_only_a_crypt_hash_of_the_expected_forms_is_given_to_chpasswd() -> None:
    made = gateway.system_password_hash("k7mp-3wqa-9hte")
    assert gateway._CRYPT_HASH.fullmatch(made)
    for bad in ["k7mp-3wqa-9hte", "$1$abc$def", made + "\nroot:x", made.replace("$6$", "$6$:"),
                "!", "*", ""]:  # fmt: skip
        assert not gateway._CRYPT_HASH.fullmatch(bad)
    with pytest.raises(gateway.GatewayError):
        gateway.system_password_hash("a:b")
