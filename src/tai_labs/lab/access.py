"""How people reach a lab: what `up` prints and what the brief's ``access`` shows (French)."""

from __future__ import annotations

import shlex
from typing import Any

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


def access_details(lab: Lab) -> dict[str, Any]:
    nodes = {
        n.name: {
            "address": str(lab.mgmt_address(n.name)),
            "ssh": ssh_command(lab, n.name),
            "console": f"tai-labs console {lab.id} {n.name}",
        }
        for n in lab.plan.nodes
    }
    lines = [f"Lab `{lab.id}` — ouvrez un terminal sur une machine avec :", ""]
    lines += [f"- **{name}** : `{info['console']}`" for name, info in nodes.items()]
    return {"how": "\n".join(lines), "nodes": nodes}


def lab_brief(lab: Lab) -> str:
    """The candidate's brief (Markdown), rendered with the lab's variables and access."""
    return lab.loaded.render_brief({"access": access_details(lab)})
