"""How people reach a lab: what `up` prints and what the brief's ``access`` shows (French)."""

from __future__ import annotations

import shlex
from typing import Any

from tai_labs.lab.graphics import desktop_kind
from tai_labs.lab.runtime import Lab


def ssh_command(lab: Lab, node: str) -> str:
    """An ssh command line that reaches ``node`` as root, pinning its host key."""
    return shlex.join(
        [
            "ssh",
            "-i",
            str(lab.folder / "id_ed25519"),
            "-o",
            f"UserKnownHostsFile={lab.folder / 'known_hosts'}",
            "-o",
            "StrictHostKeyChecking=yes",
            f"root@{lab.mgmt_address(node)}",
        ]
    )


#: The brief a candidate reads in the portal: its access says the page's buttons, not host
#: commands they cannot run (``brief.md`` keeps those, for whoever has the host).
WEB_BRIEF_FILE = "brief-web.md"


def access_details(lab: Lab, *, web: bool = False) -> dict[str, Any]:
    """The brief's ``access``: ``how`` (Markdown) and each node's address and commands.

    ``web``: for the portal, where a candidate opens a node from the page itself."""
    nodes = {
        n.name: {
            "address": str(lab.mgmt_address(n.name)),
            "ssh": ssh_command(lab, n.name),
            "console": f"tai-labs console {lab.id} {n.name}",
        }
        for n in lab.plan.nodes
    }
    if web:
        lines = [
            "Chaque machine s'ouvre depuis la liste « Vos machines » de cette page :",
            "",
        ]
        for n in lab.plan.nodes:
            # a Windows node has no text terminal: its desktop, in the browser
            button = "Console graphique" if desktop_kind(n.kind.value) else "Terminal"
            lines.append(f"- **{n.name}** : bouton « {button} »")
        return {"how": "\n".join(lines), "nodes": nodes}
    lines = [f"Lab `{lab.id}` — ouvrez un terminal sur une machine avec :", ""]
    lines += [f"- **{name}** : `{info['console']}`" for name, info in nodes.items()]
    return {"how": "\n".join(lines), "nodes": nodes}


def lab_brief(lab: Lab, *, web: bool = False) -> str:
    """The candidate's brief (Markdown), rendered with the lab's variables and access."""
    return lab.loaded.render_brief({"access": access_details(lab, web=web)})
