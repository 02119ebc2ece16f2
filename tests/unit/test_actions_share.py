"""smb.share with a fake DC: the folder goes to the share's group, by the gid Samba maps it to."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import pytest

from tai_labs.actions.base import ACTIONS
from tai_labs.context import NodeContext
from tai_labs.errors import TaiLabsError
from tai_labs.providers.base import ExecResult
from tai_labs.scenario.model import Node

SID = "S-1-5-21-3194340473-2957220437-599251893-1105"
SMB_CONF = "[global]\n\tworkgroup = DUPUIS\n"


class FakeDc:
    """Answers samba-tool, wbinfo and cat like a DC; records what was run."""

    def __init__(self, *, group_exists: bool = True) -> None:
        self.group_exists = group_exists
        self.ran: list[list[str]] = []

    def __call__(self, argv: Sequence[str], input: object, timeout: object) -> ExecResult:
        self.ran.append(list(argv))
        if argv[:3] == ["samba-tool", "group", "show"]:
            if not self.group_exists:
                return ExecResult(255, "", "ERROR: Unable to find group")
            return ExecResult(
                0, f"dn: CN={argv[3]},CN=Users,DC=dupuis,DC=lan\nobjectSid: {SID}\n", ""
            )
        if argv[:2] == ["wbinfo", "--sid-to-gid"]:
            return ExecResult(0, "3000016\n", "") if argv[2] == SID else ExecResult(1, "", "no")
        if argv[0] == "cat":
            return ExecResult(0, SMB_CONF, "")
        return ExecResult(0, "", "")


def dc_ctx(node: FakeDc) -> NodeContext:
    scenario: Any = SimpleNamespace(directory=SimpleNamespace(netbios="DUPUIS"))
    return NodeContext(
        "lab",
        Node.model_validate({"name": "dc1", "kind": "ad-dc"}),
        scenario,
        {},
        node,
        ipaddress.IPv4Address("100.64.0.2"),
    )


def run_share(node: FakeDc, **params: Any) -> None:
    cls = ACTIONS.get("smb.share")
    cls().run(dc_ctx(node), cls.Params(**params))


def test_the_folder_belongs_to_the_writers_group_by_its_mapped_gid() -> None:
    node = FakeDc()
    run_share(node, share="Commercial", path="/srv/partages/commercial", writers=["Commercial"])
    assert ["wbinfo", "--sid-to-gid", SID] in node.ran
    chgrp = [argv for argv in node.ran if argv[0] == "chgrp"]
    assert chgrp == [["chgrp", "--", "3000016", "/srv/partages/commercial"]]
    # The folder exists before it changes group.
    assert node.ran.index(chgrp[0]) > next(
        i for i, argv in enumerate(node.ran) if argv[:2] == ["install", "-d"]
    )


def test_a_share_without_groups_keeps_the_folder_as_it_is() -> None:
    node = FakeDc()
    run_share(node, share="Public", path="/srv/partages/public")
    assert not any(argv[0] in ("chgrp", "wbinfo") for argv in node.ran)


def test_an_unknown_group_is_an_error_that_names_it() -> None:
    node = FakeDc(group_exists=False)
    with pytest.raises(TaiLabsError, match="'Ventes'"):
        run_share(node, share="Ventes", path="/srv/partages/ventes", writers=["Ventes"])
    assert not any(argv[0] == "chgrp" for argv in node.ran)
