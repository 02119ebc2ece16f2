"""The node kind table: one consistent row per kind, and the queries the plugins use."""

from __future__ import annotations

from typing import get_args

import pytest

from tai_labs.images.recipe import RecipeBook
from tai_labs.kinds import (
    INFRASTRUCTURE,
    KINDS,
    USERS,
    NodeKind,
    SessionKind,
    Transport,
    kinds_offering,
    kinds_where,
)
from tai_labs.roles.base import ROLE_PLUGINS
from tai_labs.roles.registry import NoRoleError, role_for, role_named
from tai_labs.scenario.model import Node
from tai_labs.scenario.model import NodeKind as ModelNodeKind


def test_every_kind_has_exactly_one_row() -> None:
    assert list(KINDS) == list(NodeKind)
    assert all(row.kind is kind for kind, row in KINDS.items())
    assert ModelNodeKind is NodeKind  # scenario.model re-exports the one enum


@pytest.mark.parametrize("kind", list(NodeKind))
def test_rows_are_consistent(kind: NodeKind) -> None:
    row = kind.spec
    assert row.linux != row.windows  # no kind is both, none is neither (yet)
    assert row.engine == ("vm" if row.windows else "container")
    assert row.readiness in (INFRASTRUCTURE, USERS)
    assert row.memory_mib >= 64
    assert row.sessions.get("command") is not None  # graders can always run a command
    assert set(row.sessions) <= set(get_args(SessionKind))
    assert set(row.sessions.values()) <= set(get_args(Transport))
    assert ("powershell" in row.sessions) == row.windows
    assert row.role in ROLE_PLUGINS
    assert type(role_for(kind.value)) is type(role_named(row.role))


def test_linux_kinds_boot_from_a_recipe() -> None:
    # Windows images come from the instructor's ISO (`tai-labs image build-windows`).
    book = RecipeBook.from_dir()
    assert {KINDS[k].image for k in kinds_where(linux=True)} <= set(book.recipes)


def test_default_engine_comes_from_the_row() -> None:
    assert Node(name="w1", kind=NodeKind.WINDOWS_CLIENT).effective_engine == "vm"
    assert Node(name="pc1", kind=NodeKind.LINUX_CLIENT).effective_engine == "container"


def test_queries() -> None:
    assert kinds_where(windows=True) == {NodeKind.WINDOWS_CLIENT, NodeKind.WINDOWS_SERVER}
    assert kinds_where(role="linux") == {NodeKind.LINUX_CLIENT, NodeKind.LINUX_SERVER}
    assert kinds_where(readiness=INFRASTRUCTURE) == {
        NodeKind.AD_DC,
        NodeKind.ROUTER,
        NodeKind.SWITCH,
    }
    assert kinds_where(linux=True, readiness=USERS) == kinds_where(role="linux")
    assert kinds_offering("directory") == {NodeKind.AD_DC, NodeKind.WINDOWS_SERVER}
    assert kinds_offering("device") == {NodeKind.ROUTER, NodeKind.SWITCH}
    assert kinds_where() == frozenset(NodeKind)


def test_an_unknown_kind_or_role_is_an_error() -> None:
    with pytest.raises(NoRoleError, match="no role can provision a 'printer' node"):
        role_for("printer")
    with pytest.raises(NoRoleError, match="no role 'printer'"):
        role_named("printer")
