"""An existing lab, opened: its scenario rendered with its own secrets, plan, engine, network.

Every command that acts on a lab (up, status, exec, console, grade, reset, snapshot, revert,
brief) opens it through ``open_lab``, so they all see the same rendering of the scenario and
the same names, and each checks on the way that the lab's firewall is still in place.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ValidationError

from tai_labs.context import NodeContext
from tai_labs.errors import TaiLabsError, UsageError
from tai_labs.lab.plan import LabPlan, NodePlan, make_plan
from tai_labs.lab.secrets import LabSecrets
from tai_labs.lab.sessions import SessionPool
from tai_labs.lab.store import LabRecord, Store
from tai_labs.locations import locations
from tai_labs.providers.base import ExecResult
from tai_labs.providers.lanprobe import JuryLan, LanPort, LanSegment, jury_mac
from tai_labs.providers.naming import nft_table, veth_name
from tai_labs.scenario.loader import LoadedScenario, load_scenario

if TYPE_CHECKING:
    from tai_labs.providers.base import HostView
    from tai_labs.providers.engines import LabEngine
    from tai_labs.providers.network import LabNetwork

log = logging.getLogger(__name__)


_M = TypeVar("_M", bound=BaseModel)


def lab_folder(lab_id: str) -> Path:
    return locations().lab(lab_id)


@dataclass
class Lab:
    record: LabRecord
    store: Store
    loaded: LoadedScenario
    _engine: LabEngine | None = field(default=None, repr=False)
    #: The lab's session pool, one per ``Lab`` (made here, not lazily: nodes are provisioned
    #: in threads). Making it opens nothing, a session opens on its first ``get``; the lab
    #: layer's operations hold it in a ``with`` block that closes them when they end.
    sessions: SessionPool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.sessions = SessionPool(self)

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def folder(self) -> Path:
        return lab_folder(self.id)

    @property
    def secrets(self) -> LabSecrets:
        return LabSecrets(self.folder)

    @cached_property
    def plan(self) -> LabPlan:
        from tai_labs.roles.registry import port_ifname

        return make_plan(self.loaded.scenario, self.id, port_ifname=port_ifname)

    @property
    def engine(self) -> LabEngine:
        """Containers and VMs of the lab behind one interface (see providers.engines)."""
        if self._engine is None:
            from tai_labs.images.vm import probe_boot
            from tai_labs.providers.engines import LabEngine

            self._engine = LabEngine(self.id, probe_image=probe_boot)
        return self._engine

    def network(self) -> LabNetwork:
        from tai_labs.providers.network import load_lab_network

        return load_lab_network(self.id)

    def read_record(self, file: str, model: type[_M], what: str) -> _M | None:
        """A record the host keeps in the lab's folder (``file``), read as ``model``; None
        when the lab has none (brought up before such records were kept)."""
        path = self.folder / file
        if not path.exists():
            return None
        try:
            return model.model_validate_json(path.read_text(encoding="utf-8"))
        except ValidationError as exc:
            raise TaiLabsError(
                f"{path}: {what} does not read ({exc.error_count()} errors)",
                hint="the file is the host's record: restore it, or `tai-labs down` and `up` again",
            ) from None

    def node_plan(self, name: str) -> NodePlan:
        try:
            return self.plan.node(name)
        except KeyError:
            known = ", ".join(n.name for n in self.plan.nodes)
            raise UsageError(
                f"lab {self.id} has no node {name!r}", hint=f"nodes: {known}"
            ) from None

    def exec(
        self,
        node: str,
        argv: list[str],
        input: str | bytes | None = None,
        timeout: float | None = 60,
    ) -> ExecResult:
        return self.engine.exec(self.node_plan(node).resource, argv, input=input, timeout=timeout)

    def host_view(self, node: str) -> HostView | None:
        """What the host reads of ``node`` by itself (container nodes), None otherwise."""
        return self.engine.host_view(self.node_plan(node).resource)

    def jury_lan(self, node: str) -> JuryLan:
        """The jury's probe point for ``node``: for each of its NICs, the host bridge it is
        on and every node port of that bridge (host-side veth names, which only the host
        wires), so an answer heard on a port names the node that sent it."""
        bridges = self.network().bridges

        def segment(link: str) -> LanSegment:
            ports = tuple(
                LanPort(veth_name(self.id, n.number, k + 1), n.name, nic.name)
                for n in self.plan.nodes
                for k, nic in enumerate(n.nics)
                if nic.link == link
            )
            return LanSegment(bridges[link], ports)

        own = self.node_plan(node).nics
        return JuryLan(
            jury_mac(self.id), {nic.name: segment(nic.link) for nic in own if nic.link in bridges}
        )

    def mgmt_address(self, node: str) -> ipaddress.IPv4Address:
        return self.network().node_mgmt_address(self.node_plan(node).number).ip

    def context(self, node: str) -> NodeContext:
        """What roles, faults and steps get to act on ``node``: the engine's exec channel, and
        the lab's session pool (``self.sessions``), whose sessions open only when asked for."""
        plan = self.node_plan(node)
        resource = plan.resource

        def run(
            argv: Sequence[str], input: str | bytes | None, timeout: float | None
        ) -> ExecResult:
            return self.engine.exec(resource, argv, input=input, timeout=timeout)

        return NodeContext(
            lab_id=self.id,
            node=self.loaded.scenario.node(node),
            scenario=self.loaded.scenario,
            variables=self.loaded.variables,
            exec=run,
            mgmt_address=self.mgmt_address(node),
            secrets=self.secrets.all(),
            folder=self.loaded.folder,
            sessions=self.sessions,
        )


def render_for_lab(
    scenario_file: Path, lab_id: str, candidate: str, seed: int, secrets: LabSecrets
) -> LoadedScenario:
    """The scenario as this lab sees it: its candidate, seed, id and generated secrets."""
    return load_scenario(
        scenario_file, candidate=candidate, seed=seed, lab_id=lab_id, secret=secrets.get
    )


def check_firewall(lab_id: str) -> bool:
    """Put the lab's nft table back if something removed it; True if it had to.

    The table is what keeps the lab's networks apart from the host and from other labs, and
    ``nft flush ruleset`` or a firewall reload removes it without a word: every command that
    opens a lab checks it, and says so (a warning the CLI shows) when it was gone.
    """
    from tai_labs.providers.network import ensure_lab_firewall

    if not ensure_lab_firewall(lab_id):
        return False
    log.warning(
        "lab %s: its firewall (nft table %s) was missing or emptied and has been re-installed; "
        "something removed the host's nftables rules (`nft flush ruleset`, a firewall reload)",
        lab_id,
        nft_table(lab_id),
    )
    return True


def check_gateway(lab_id: str) -> list[str]:
    """Put back the SSH gateway's firewall and sshd block if the lab has an account and
    something removed them (the same flush that removes the lab's table); what was."""
    from tai_labs.providers import gateway

    if not gateway.lab_accounts(lab_id):
        return []
    fixed = gateway.ensure()
    if fixed:
        log.warning("lab %s: the SSH gateway's %s re-installed", lab_id, ", ".join(fixed))
    return fixed


def open_lab(lab_id: str, store: Store | None = None) -> Lab:
    """The lab, its scenario rendered as it was at `up`; its firewall checked on the way."""
    store = store or Store()
    record = store.lab(lab_id)
    loaded = render_for_lab(
        Path(record.scenario_file),
        record.id,
        record.candidate,
        record.seed,
        LabSecrets(lab_folder(record.id)),
    )
    check_firewall(record.id)
    check_gateway(record.id)
    return Lab(record, store, loaded)
