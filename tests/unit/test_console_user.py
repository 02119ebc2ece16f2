"""The scenario's ``console_user``: the account a node's web terminal opens."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tai_labs.providers.errors import RuntimeLayerError
from tai_labs.providers.naming import check_account
from tai_labs.scenario.model import Node


def test_a_linux_node_may_name_the_candidates_account_and_defaults_to_root() -> None:
    assert Node(name="pc1", kind="linux-client").console_user is None  # root
    assert Node(name="pc1", kind="linux-client", console_user="technicien").console_user == (
        "technicien"
    )


@pytest.mark.parametrize("name", ["-froot", "root;id", "Root", "a b", "x" * 33, "$(id)", ""])
def test_an_account_name_that_could_be_an_option_or_shell_text_is_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        Node(name="pc1", kind="linux-client", console_user=name)
    with pytest.raises(RuntimeLayerError):
        check_account(name)


def test_a_windows_node_has_no_console_user() -> None:
    with pytest.raises(ValidationError, match="console_user"):
        Node(name="win1", kind="windows-client", console_user="admin")
