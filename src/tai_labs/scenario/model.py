"""Typed model of ``scenario.yaml`` (format 1), after variables are rendered.

The loader validates a rendered document against ``Scenario``; cross-references between
sections (node names, check ids, referential ids, plugin names) are checked afterwards in
``tai_labs.scenario.crossref``, where every error can name its line.
"""

from __future__ import annotations

import enum
import ipaddress
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

# Re-exported: scenario code has always imported NodeKind from here.
from tai_labs.kinds import NodeKind as NodeKind

SLUG = r"^[a-z][a-z0-9-]*$"
# Node and network names end up in host names and interface names (15 characters at most,
# of which the lab prefix takes some), hence the short limits.
NodeName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,14}$")]
NetworkName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9]{0,7}$")]
Slug = Annotated[str, Field(pattern=SLUG, max_length=64)]
# Referential ids are checked against the referential itself (crossref), which can say
# "unknown competence" rather than "does not match a pattern".
CriterionId = str
CompetenceId = str
Condition = Annotated[
    str, Field(min_length=1, description="a jinja2 expression, e.g. variant == 'dns'")
]

#: Networks the tooling keeps for itself.
RESERVED_NETWORKS = frozenset({"mgmt"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: An engine's name: a ``tai_labs.engines`` plugin (``container``, ``vm``), checked against
#: the registry by ``crossref`` (the JSON Schema lists the installed ones).
EngineName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$")]


class Difficulty(enum.StrEnum):
    EASY = "easy"
    MEDIUM = "medium"
    HARD = "hard"

    @property
    def label_fr(self) -> str:
        return {"easy": "facile", "medium": "moyen", "hard": "difficile"}[self.value]


# --- metadata ---------------------------------------------------------------------------------


class Meta(_Model):
    id: Slug
    title: str = Field(min_length=3, description="French title shown to candidates and juries")
    block: Literal["CCP1", "CCP2", "CCP3"]
    competences: list[CompetenceId] = Field(min_length=1)
    duration: int = Field(gt=0, le=600, description="expected time for the candidate, minutes")
    difficulty: Difficulty = Difficulty.MEDIUM
    summary: str = Field(default="", description="one French paragraph for the catalogue")
    jury: str | None = Field(
        default=None, description="what is left to the jury in person (French), if anything"
    )
    tags: list[Slug] = []
    draft: str | None = Field(
        default=None,
        description="why the scenario is not ready for exams yet; selftest skips it unless named",
    )


# --- topology ---------------------------------------------------------------------------------


class Network(_Model):
    name: NetworkName
    subnet: ipaddress.IPv4Network
    description: str = ""
    #: 802.1Q tag this network carries on switch trunks, when a switch models it as a VLAN.
    vlan: int | None = Field(default=None, ge=1, le=4094)

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_NETWORKS:
            raise ValueError(f"{value!r} is reserved for the lab's management network")
        return value


class Interface(_Model):
    network: str
    #: ``10.0.0.5/24``, ``dhcp``, or absent for an interface left unconfigured.
    address: ipaddress.IPv4Interface | Literal["dhcp"] | None = None
    gateway: ipaddress.IPv4Address | None = None


class Disk(_Model):
    """An extra block device "installed" by the tool (C2): blank, for the candidate."""

    name: Slug
    size_mib: int = Field(gt=0, le=65536)


class Route(_Model):
    to: ipaddress.IPv4Network
    via: ipaddress.IPv4Address


class DhcpReservation(_Model):
    mac: Annotated[str, Field(pattern=r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")]
    address: ipaddress.IPv4Address
    name: str | None = None


class DhcpScope(_Model):
    network: str
    range: tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]
    gateway: ipaddress.IPv4Address | None = None
    dns: list[ipaddress.IPv4Address] = []
    domain: str | None = None
    lease_minutes: int = Field(default=60, gt=0)
    reservations: list[DhcpReservation] = []


class RouterConfig(_Model):
    routes: list[Route] = []
    dhcp: list[DhcpScope] = []
    #: Networks whose DHCP requests are relayed to ``relay_to`` (ip helper-address).
    relay: list[str] = []
    relay_to: ipaddress.IPv4Address | None = None
    nat: bool = False


class Vlan(_Model):
    id: int = Field(ge=1, le=4094)
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]


class SwitchPort(_Model):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9/._-]{1,15}$")]
    mode: Literal["access", "trunk"] = "access"
    vlan: int | None = Field(default=None, ge=1, le=4094)
    allowed: list[int] = []
    #: The node plugged into this port (its interface on the switch's network).
    connects: str | None = None
    shutdown: bool = False

    @model_validator(mode="after")
    def _mode_fields(self) -> SwitchPort:
        if self.mode == "access" and self.allowed:
            raise ValueError("an access port has a vlan, not an allowed list")
        if self.mode == "trunk" and self.vlan is not None:
            raise ValueError("a trunk port has an allowed list, not a vlan")
        return self


class SwitchConfig(_Model):
    vlans: list[Vlan] = []
    ports: list[SwitchPort] = []


class Node(_Model):
    name: NodeName
    kind: NodeKind
    engine: EngineName | None = Field(
        default=None, description="container or vm; default: vm for Windows kinds, else container"
    )
    image: str | None = Field(default=None, description="image name; default: the kind's image")
    memory: int | None = Field(default=None, ge=64, le=16384, description="MiB")
    cpus: int = Field(default=1, ge=1, le=8)
    disk_mib: int | None = Field(
        default=None,
        ge=64,
        le=65536,
        description="size cap of the node's writable layer, MiB (for faults that fill the disk)",
    )
    description: str = ""
    interfaces: list[Interface] = Field(default_factory=list)
    dns: list[ipaddress.IPv4Address] = []
    disks: list[Disk] = []
    router: RouterConfig | None = None
    switch: SwitchConfig | None = None
    console_user: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_-]{0,31}$")] | None = Field(
        default=None,
        description="the account the candidate's web terminal opens on this node "
        "(it must exist in the node); default: root. Not for Windows nodes",
    )

    @property
    def effective_engine(self) -> str:
        """The engine's name: the node's own, else its kind's default (``kinds.py``)."""
        return self.engine if self.engine is not None else self.kind.spec.engine

    @model_validator(mode="after")
    def _role_config_matches_kind(self) -> Node:
        if self.router is not None and self.kind is not NodeKind.ROUTER:
            raise ValueError(f"only a router node has a 'router' section (this is {self.kind})")
        if self.switch is not None and self.kind is not NodeKind.SWITCH:
            raise ValueError(f"only a switch node has a 'switch' section (this is {self.kind})")
        if self.console_user is not None and self.kind.spec.windows:
            raise ValueError("a Windows node has no 'console_user' (its console is graphical)")
        return self


class Topology(_Model):
    networks: list[Network] = Field(min_length=1)
    nodes: list[Node] = Field(min_length=1)


# --- Active Directory content -------------------------------------------------------------------


class AdGroup(_Model):
    name: str = Field(min_length=1, max_length=64)
    scope: Literal["global", "domainlocal", "universal"] = "global"
    ou: str | None = None
    description: str = ""


class AdUser(_Model):
    login: Annotated[str, Field(pattern=r"^[a-z][a-z0-9._-]{0,19}$")]
    first: str
    last: str
    ou: str | None = None
    groups: list[str] = []
    password: str = Field(min_length=8)
    enabled: bool = True
    must_change_password: bool = False
    title: str | None = None


class AdGpo(_Model):
    name: str = Field(min_length=1)
    link: str | None = Field(default=None, description="the OU the GPO is linked to")
    enabled: bool = True


class Directory(_Model):
    """The domain an ``ad-dc`` node provisions."""

    realm: Annotated[str, Field(pattern=r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")]
    netbios: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9-]{0,14}$")]
    ous: list[str] = Field(default=[], description="OU paths, parent first: 'Siege/Compta'")
    groups: list[AdGroup] = []
    users: list[AdUser] = []
    gpos: list[AdGpo] = []


# --- steps, faults, checks ---------------------------------------------------------------------

P = TypeVar("P", bound=BaseModel)


class PluginUse(_Model):
    """A use of a plugin (action, fault, check) with its ``params``, which the scenario loader
    validates against the plugin's model once and binds here: the lab uses that model."""

    if TYPE_CHECKING:  # declared by each subclass, where it sits in the schema
        params: dict[str, Any]

    _bound: BaseModel | None = PrivateAttr(default=None)

    def bind(self, params: BaseModel) -> None:
        self._bound = params

    def bound_params(self, model: type[P]) -> P:
        """The parameters as the loader validated them, typed as the plugin's ``model``."""
        if self._bound is None:
            # Built without the loader (a test, a hand-made scenario): validated here, once.
            self._bound = model.model_validate(self.params)
        if not isinstance(self._bound, model):
            raise TypeError(
                f"parameters bound as {type(self._bound).__qualname__}, "
                f"not {model.__qualname__}: the plugin changed after loading"
            )
        return self._bound


class Step(PluginUse):
    """One action on one node: a setup step or a solution step."""

    action: str
    target: str | None = Field(default=None, description="node name; absent for lab-wide actions")
    params: dict[str, Any] = {}
    name: str | None = None
    when: Condition | None = None


class FaultUse(PluginUse):
    id: Slug
    fault: str
    target: str
    params: dict[str, Any] = {}
    breaks: list[str] = Field(
        default=[], description="ids of the checks this fault makes fail (used by selftest)"
    )
    when: Condition | None = None


class Messages(_Model):
    passed: str = Field(alias="pass", min_length=1)
    failed: str = Field(alias="fail", min_length=1)


class CheckUse(PluginUse):
    id: Slug
    title: str = Field(min_length=3, description="French label for reports")
    grader: str
    target: str | list[str]
    params: dict[str, Any] = {}
    criterion: CriterionId
    competence: CompetenceId | None = Field(
        default=None, description="needed only for general criteria (G.n)"
    )
    points: float = Field(gt=0, le=100)
    depends_on: list[str] = []
    messages: Messages
    initially: Literal["pass", "fail"] | None = Field(
        default=None,
        description="'fail': the check fails at exam start although no fault breaks it "
        "(work no fault creates: a user to create). 'pass' is refused: a check that passes "
        "at exam start is an invariant",
    )
    when: Condition | None = None
    persistent: bool = Field(
        default=False,
        description="the fix must survive a restart: grading restarts the target nodes and "
        "judges the check again (docs/grading.md, Persistance); set it where the brief asks "
        "for a lasting fix",
    )
    invariant: bool = Field(
        default=False,
        description="what must not change: passes at exam start, earns nothing when it holds, "
        "costs its points when broken (collateral damage); may be a condition on the "
        "variables, e.g. \"{{ cause != 'scope' }}\"",
    )

    @property
    def targets(self) -> list[str]:
        return [self.target] if isinstance(self.target, str) else list(self.target)

    @property
    def competence_id(self) -> str:
        return self.competence or self.criterion.split(".", 1)[0]

    @model_validator(mode="after")
    def _general_criteria_name_competence(self) -> CheckUse:
        if self.criterion.startswith("G.") and self.competence is None:
            raise ValueError(f"general criterion {self.criterion} needs 'competence: Cn' beside it")
        if not self.criterion.startswith("G.") and self.competence not in (
            None,
            self.competence_id,
        ):
            raise ValueError(f"criterion {self.criterion} belongs to {self.competence_id}")
        return self


class Hint(_Model):
    text: str = Field(min_length=3)
    cost: float = Field(default=0, ge=0, description="points the candidate gives up to read it")
    when: Condition | None = None


class Brief(_Model):
    """The candidate's brief (French, jinja2): a file beside scenario.yaml, or inline text."""

    file: str | None = None
    text: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Brief:
        if (self.file is None) == (self.text is None):
            raise ValueError("give exactly one of 'file' or 'text'")
        return self


class AlternativeSolution(_Model):
    name: Slug
    description: str = ""
    steps: list[Step] = Field(min_length=1)
    when: Condition | None = None


class WrongSolution(AlternativeSolution):
    must_fail: list[str] = Field(min_length=1, description="checks that must still fail")
    must_pass: list[str] = Field(
        default=[],
        description="checks that must pass all the same: the part of the work done, credited "
        "on its own (criteria are judged independently)",
    )


class Solution(_Model):
    steps: list[Step] = Field(min_length=1)
    alternatives: list[AlternativeSolution] = []
    wrong: list[WrongSolution] = []


class Invariants(_Model):
    """Default invariants (docs/grading.md): what the topology and directory say must not
    change, expanded into invariant checks by ``tai_labs.scenario.invariants``."""

    points: float = Field(default=1, gt=0, le=100, description="what breaking one costs")
    criterion: CriterionId = Field(
        default="G.2", description="the criterion they protect (collateral damage)"
    )
    competence: CompetenceId | None = Field(
        default=None, description="for a general criterion; default: the scenario's first"
    )
    directory: bool = Field(
        default=True,
        description="each directory user and group no check, fault or solution step names "
        "stays the same object (objectGUID), where and as it was",
    )
    addresses: bool = Field(
        default=True,
        description="each fixed address of a Linux-based node that no fault, check or "
        "solution step on that node names stays on its interface",
    )
    policy: bool = Field(
        default=True,
        description="the domain's password and lockout policy stays as it was at exam start "
        "(unless a check or solution step is about it)",
    )
    services: bool = Field(
        default=True,
        description="on each Linux-based container node, the services running and enabled at "
        "exam start (read from the host) still run and stay enabled, except those a check, "
        "fault or solution step names",
    )
    why_off: str | None = Field(
        default=None, description="why a family is turned off (required when one is)"
    )

    @model_validator(mode="after")
    def _off_says_why(self) -> Invariants:
        families = (self.directory, self.addresses, self.policy, self.services)
        if not all(families) and not self.why_off:
            raise ValueError("a default invariant family turned off needs 'why_off: <reason>'")
        return self


class Scenario(_Model):
    """A whole scenario, rendered for one candidate."""

    format: Literal[1] = 1
    scenario: Meta
    topology: Topology
    directory: Directory | None = None
    setup: list[Step] = []
    faults: list[FaultUse] = []
    brief: Brief
    hints: list[Hint] = []
    checks: list[CheckUse] = Field(min_length=1)
    solution: Solution
    invariants: Invariants = Invariants()

    @property
    def id(self) -> str:
        return self.scenario.id

    def node(self, name: str) -> Node:
        for node in self.topology.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def network(self, name: str) -> Network:
        for network in self.topology.networks:
            if network.name == name:
                return network
        raise KeyError(name)

    @property
    def total_points(self) -> float:
        """Points a candidate can earn: invariants earn none (they can only cost)."""
        return sum(check.points for check in self.checks if not check.invariant)

    def expected_at_start(self, check: CheckUse) -> str:
        """The verdict selftest expects for ``check`` right after the faults are injected:
        an invariant holds, every other check fails (no points for doing nothing)."""
        return "pass" if check.invariant else "fail"
