#!/usr/bin/python3 -I
"""The SSH gateway's forced command: a candidate's account runs this, and only this.

It is installed (a copy of this file, root-owned, 0755) as both the login shell and the
sshd ``ForceCommand`` of every account of the ``tai-candidates`` group (see
``providers/gateway.py``). It runs as the candidate, never as root, with the system's
Python in isolated mode and the standard library only, and it does one thing: connect the
candidate to one of their own lab's nodes, named by the request (``ssh login@host pc1``,
``ssh login@host pc1 hostname``) or picked from a menu. Everything it reads is written by
root in the account's home, which the candidate may read but not change:

- ``gateway.json``: the lab id and its nodes (name -> management address);
- ``known_hosts``: the nodes' pinned host keys;
- ``id_ed25519``: the key the lab's nodes accept from the gateway (never the lab's own key);
  an account spanning several labs (an exam session's candidate, one lab per scenario) has
  one key per lab, ``id_<lab>``, named per node in ``gateway.json``'s ``keys``.

A request that is not exactly one of these node names (a shell, ``scp -t``, ``sftp``, another
lab's node, an address) is refused before anything runs.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import sys
from collections.abc import Mapping, Sequence

SSH = "/usr/bin/ssh"
NODE_NAME = re.compile(r"[a-z][a-z0-9-]{0,14}")
IPV4 = re.compile(r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
                  r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])")  # fmt: skip
#: What the node's shell gets with the request (``pc1 COMMAND``): the node is the candidate's.
MAX_COMMAND = 4096
KEY_FILE = re.compile(r"id_ed25519|id_[a-z0-9]{1,40}")


class Refused(Exception):
    """The request names nothing the candidate may reach (message in French)."""


def load_nodes(config: Mapping[str, object]) -> dict[str, str]:
    """The account's nodes (name -> address), every value checked: the file is root's, but a
    name or address that is not one still never reaches ``ssh``."""
    nodes = config.get("nodes")
    if not isinstance(nodes, dict) or not nodes:
        raise Refused("aucune machine n'est attribuée à ce compte")
    checked = {}
    for name, address in nodes.items():
        if not (isinstance(name, str) and NODE_NAME.fullmatch(name)):
            raise Refused("configuration de la passerelle invalide")
        if not (isinstance(address, str) and IPV4.fullmatch(address)):
            raise Refused("configuration de la passerelle invalide")
        checked[name] = address
    return checked


def key_file(config: Mapping[str, object], node: str) -> str:
    """The key file (in the home) that opens ``node``: one per lab, ``id_ed25519`` for a
    single lab's account."""
    keys = config.get("keys")
    name = keys.get(node, "id_ed25519") if isinstance(keys, dict) else "id_ed25519"
    if not (isinstance(name, str) and KEY_FILE.fullmatch(name)):
        raise Refused("configuration de la passerelle invalide")
    return name


def request_of(argv: Sequence[str], environ: Mapping[str, str], self_path: str) -> str:
    """What the candidate asked for: sshd puts it in SSH_ORIGINAL_COMMAND under ForceCommand;
    as a login shell without it, it comes as ``-c REQUEST``."""
    if "SSH_ORIGINAL_COMMAND" in environ:
        return environ["SSH_ORIGINAL_COMMAND"]
    if len(argv) == 3 and argv[1] == "-c" and argv[2] != self_path:
        return argv[2]
    return ""


def parse_request(request: str, nodes: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(node, command for the node) from the request; (None, None) asks for the menu."""
    text = request.strip()
    if not text:
        return None, None
    name, _, command = text.partition(" ")
    if not NODE_NAME.fullmatch(name) or name not in nodes:
        raise Refused(f"« {name[:40]} » n'est pas une machine de votre lab")
    command = command.strip()
    if len(command) > MAX_COMMAND or "\x00" in command:
        raise Refused("commande trop longue")
    return name, command or None


def ssh_argv(
    home: str, address: str, command: str | None, tty: bool, key: str = "id_ed25519"
) -> list[str]:
    """The ``ssh`` to the node: no configuration file, the pinned host keys only, the
    gateway's key only, no forwarding of any kind, no escape character (``~C`` would open
    forwardings), and ``--`` so nothing after it is read as an option."""
    argv = [
        SSH, "-F", "/dev/null",
        "-i", f"{home}/{key}",
        "-o", "IdentitiesOnly=yes",
        "-o", f"UserKnownHostsFile={home}/known_hosts",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "UpdateHostKeys=no",
        "-o", "BatchMode=yes",
        "-o", "ConnectTimeout=15",
        "-o", "ClearAllForwardings=yes",
        "-o", "ForwardAgent=no",
        "-o", "ForwardX11=no",
        "-o", "PermitLocalCommand=no",
        "-o", "EscapeChar=none",
        "-tt" if tty else "-T",
        "--", f"root@{address}",
    ]  # fmt: skip
    if command:
        argv.append(command)
    return argv


def choose(nodes: Mapping[str, str]) -> str:
    """The menu of an interactive login with more than one node."""
    names = sorted(nodes)
    if len(names) == 1:
        return names[0]
    print("Machines de votre lab :")
    for number, name in enumerate(names, 1):
        print(f"  {number}. {name}")
    for _ in range(3):
        try:
            answer = input("Machine (numéro ou nom) : ").strip()
        except EOFError:
            break
        if answer.isdigit() and 1 <= int(answer) <= len(names):
            return names[int(answer) - 1]
        if answer in nodes:
            return answer
        print("Choix invalide.")
    raise Refused("aucune machine choisie")


def main(argv: Sequence[str], environ: Mapping[str, str], self_path: str) -> int:
    if os.getuid() == 0 or os.geteuid() == 0:
        print("passerelle : refusé (jamais en root)", file=sys.stderr)
        return 1
    # The home from the password database, not $HOME (the environment is the client's).
    home = pwd.getpwuid(os.getuid()).pw_dir
    try:
        with open(f"{home}/gateway.json", encoding="utf-8") as fh:
            config = json.load(fh)
        nodes = load_nodes(config)
        node, command = parse_request(request_of(argv, environ, self_path), nodes)
        if node is None:
            if not sys.stdin.isatty():
                raise Refused(f"indiquez une machine : {', '.join(sorted(nodes))}")
            node = choose(nodes)
        key = key_file(config, node)
    except Refused as exc:
        print(f"passerelle : {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError):
        print("passerelle : configuration illisible, contactez le surveillant", file=sys.stderr)
        return 1
    tty = sys.stdin.isatty()  # the client asked for a terminal (ssh -t): the node gets one
    term = environ.get("TERM", "")
    env = {"PATH": "/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8"}
    if re.fullmatch(r"[A-Za-z0-9.+-]{1,40}", term):
        env["TERM"] = term
    os.execve(SSH, ssh_argv(home, nodes[node], command, tty, key), env)
    return 1  # not reached: execve replaces this process or raises


if __name__ == "__main__":
    sys.exit(main(sys.argv, os.environ, os.path.abspath(__file__)))
