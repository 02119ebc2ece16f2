"""ad.gpo_link and ad.dns_record parameters: what a scenario may give them (no DC needed).

Their behaviour on a real Samba DC is in tests/integration/test_actions_ad.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tai_labs.actions.base import ACTIONS


def test_ad_actions_are_runnable() -> None:
    for name in ("ad.gpo_link", "ad.dns_record"):
        assert ACTIONS.get(name).missing_parts() == [], name


@pytest.mark.parametrize(
    "params",
    [
        {"gpo": "-H ldap://evil", "ou": "Siege"},  # would be read as an option
        {"gpo": "Fond\nd'écran", "ou": "Siege"},
        {"gpo": "", "ou": "Siege"},
        {"gpo": "Fond", "ou": "Siege//Compta"},
        {"gpo": "Fond", "ou": "Siege,DC=x"},
    ],
)
def test_gpo_link_refuses(params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ACTIONS.get("ad.gpo_link").Params.model_validate(params)


def test_gpo_link_accepts_names_as_an_admin_types_them() -> None:
    p = ACTIONS.get("ad.gpo_link").Params.model_validate(
        {"gpo": "Fond d'écran (Siège) - 2024", "ou": "Siège/Utilisateurs"}
    )
    assert p.enabled is True


@pytest.mark.parametrize(
    "params",
    [
        {"record": "srv-print", "value": "srv-print2"},  # A: an address
        {"record": "srv-print", "value": "192.168.10.300"},
        {"record": "srv-print", "type": "PTR", "value": "srv-print"},  # PTR: named by its address
        {"record": "-P", "value": "192.168.10.20"},
        {"record": "srv print", "value": "192.168.10.20"},
        {"record": "imprimante", "type": "CNAME", "value": "--help"},
        {"record": "srv-print", "value": "192.168.10.20", "type": "MX"},
    ],
)
def test_dns_record_refuses(params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ACTIONS.get("ad.dns_record").Params.model_validate(params)


def test_dns_record_accepts() -> None:
    params = ACTIONS.get("ad.dns_record").Params
    assert params.model_validate({"record": "srv-print", "value": "192.168.10.20"}).state == (
        "present"
    )
    params.model_validate({"record": "192.168.10.20", "type": "PTR", "value": "srv-print.x.lan."})
    params.model_validate({"record": "imprimante", "type": "CNAME", "value": "srv-print"})
