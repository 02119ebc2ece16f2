"""Default invariants: what the scenario's topology and directory say must not change.

A jury counts collateral damage (a department group deleted and recreated, another user's
password changed, a fixed-address machine switched to DHCP) even where the scenario's author
wrote no check for it. The scenario's ``invariants:`` section (on by default) is expanded here
into ordinary invariant checks, appended to ``checks`` before the cross-references are
checked, so they are validated, recorded at exam start (objectGUIDs, by the ``identities``
step), graded and reported like any other:

- ``directory``: an ``ad.group`` per directory group and an ``ad.user`` per directory user that
  no check, fault or solution step (reference or alternative) names: the same object (its
  objectGUID), where it was, as it was (enabled, groups, initial password);
- ``policy``: an ``ad.domain_policy`` (the password and lockout policy as recorded at exam
  start), unless the scenario's own work is that policy;
- ``addresses``: a ``linux.address`` per fixed address of a Linux-based node that no fault,
  check or solution step on that node names (by interface or address);
- ``services``: a ``linux.services_kept`` per Linux-based container node: the services
  running and enabled at exam start (recorded then, from the host's view of the node) still
  run and stay enabled, except those the scenario's work names (its words are passed to the
  check, which can only match them against units at exam start). Not for VM nodes: the host
  does not see a VM's cgroups, and the VM's own systemctl is what a candidate can forge.

"Names" is read generously (the name anywhere in a parameter, a key or a command line): an
object the candidate's work may touch is the scenario's own business, never a default.
Wrong solutions are not read: they are what the invariants must catch.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from tai_labs.kinds import NodeKind
from tai_labs.scenario.model import (
    AdGroup,
    AdUser,
    CheckUse,
    Invariants,
    Node,
    PluginUse,
    Scenario,
    Step,
)

#: Prefix of every default invariant's id (``keep-group-comptabilite``).
PREFIX = "keep-"
#: The check of the domain's password and lockout policy (graders/directory_policy.py).
POLICY_CHECK = "ad.domain_policy"
#: The check of a node's running services (graders/linux_services.py).
SERVICES_CHECK = "linux.services_kept"
#: The engine whose nodes' cgroups the host reads (``linux.services_kept``'s evidence).
CONTAINER_ENGINE = "container"
#: Node kinds whose addresses ``linux.address`` reads (switches carry no scenario address).
ADDRESSED_KINDS = frozenset(
    {NodeKind.LINUX_CLIENT, NodeKind.LINUX_SERVER, NodeKind.AD_DC, NodeKind.ROUTER}
)
#: The DC's directory service (``roles.ad_dc.UNIT``; that layer sits above this one): a fault
#: that names it as a value (``linux.service_stopped``) leaves no directory to read at exam
#: start, so none of its objects or policy can be recorded there, nor held as invariants.
DIRECTORY_UNITS = frozenset({"samba-ad-dc", "samba"})


def nic_name(index: int) -> str:
    """Name inside the node of its ``index``-th scenario interface: as ``lab.plan.scenario_nic``
    (the lab layer sits above this one; a unit test keeps the two equal)."""
    return f"eth{index + 1}"


def expand(scenario: Scenario) -> Scenario:
    """The scenario with its default invariants appended to its checks."""
    extra = default_checks(scenario)
    if not extra:
        return scenario
    return scenario.model_copy(update={"checks": [*scenario.checks, *extra]})


def default_checks(scenario: Scenario) -> list[CheckUse]:
    config = scenario.invariants
    if not (config.directory or config.addresses or config.policy or config.services):
        return []
    named = _NamedIn(scenario)
    taken = {c.id for c in scenario.checks}
    out: list[CheckUse] = []

    def add(slug: str, fields: dict[str, Any]) -> None:
        check_id = _free_id(slug, taken)
        taken.add(check_id)
        out.append(_check(scenario, config, check_id, fields))

    directory = scenario.directory
    dcs = [n.name for n in scenario.topology.nodes if n.kind is NodeKind.AD_DC]
    dcs = [dc for dc in dcs if not named.directory_stopped(dc)]
    if config.directory and directory is not None and dcs:
        for group in directory.groups:
            if not named.any_of(group.name):
                add(f"group-{group.name}", _group_fields(group, dcs[0]))
        for user in directory.users:
            if not named.any_of(user.login):
                add(f"user-{user.login}", _user_fields(user, dcs[0]))
    if config.policy and directory is not None and dcs and not named.about_policy():
        add("domain-policy", _policy_fields(dcs[0]))
    if config.addresses:
        for node in scenario.topology.nodes:
            if node.kind not in ADDRESSED_KINDS:
                continue
            for index, iface in enumerate(node.interfaces):
                if iface.address is None or iface.address == "dhcp":
                    continue
                nic = nic_name(index)
                if named.on_node(node.name, nic, str(iface.address.ip)):
                    continue
                add(f"address-{node.name}-{nic}", _address_fields(node, nic, str(iface.address)))
    if config.services:
        words = named.words()
        for node in scenario.topology.nodes:
            if node.kind in ADDRESSED_KINDS and node.effective_engine == CONTAINER_ENGINE:
                add(f"services-{node.name}", _services_fields(node, words))
    return out


def _check(
    scenario: Scenario, config: Invariants, check_id: str, fields: dict[str, Any]
) -> CheckUse:
    competence = config.competence or scenario.scenario.competences[0]
    return CheckUse.model_validate(
        {
            "id": check_id,
            **fields,
            "criterion": config.criterion,
            "competence": competence if config.criterion.startswith("G.") else None,
            "points": config.points,
            "invariant": True,
        }
    )


def _group_fields(group: AdGroup, dc: str) -> dict[str, Any]:
    params: dict[str, Any] = {"group": group.name, "scope": group.scope}
    if group.ou is not None:
        params["ou"] = group.ou
    return {
        "title": f"Le groupe {group.name} est préservé (même objet, même étendue, même OU)",
        "grader": "ad.group",
        "target": dc,
        "params": params,
        "messages": {
            "pass": f"Le groupe {group.name} est celui du début de l'épreuve, intact.",
            "fail": f"Le groupe {group.name} a été supprimé, recréé, déplacé ou modifié : "
            "dommage collatéral (les droits donnés à l'ancien groupe sont perdus).",
        },
    }


def _user_fields(user: AdUser, dc: str) -> dict[str, Any]:
    params: dict[str, Any] = {
        "login": user.login,
        "enabled": user.enabled,
        "member_of": list(user.groups),
        "password": user.password,
    }
    if user.ou is not None:
        params["ou"] = user.ou
    return {
        "title": f"Le compte {user.login} est préservé (même objet, OU, état, groupes, "
        "mot de passe)",
        "grader": "ad.user",
        "target": dc,
        "params": params,
        "messages": {
            "pass": f"Le compte {user.login} est celui du début de l'épreuve, intact.",
            "fail": f"Le compte {user.login}, que l'intervention ne concernait pas, a été "
            "modifié, déplacé ou recréé : dommage collatéral.",
        },
    }


def _policy_fields(dc: str) -> dict[str, Any]:
    return {
        "title": "La politique de mots de passe et de verrouillage du domaine est inchangée",
        "grader": POLICY_CHECK,
        "target": dc,
        "messages": {
            "pass": "La politique de mots de passe et de verrouillage est celle du début "
            "de l'épreuve.",
            "fail": "La politique de mots de passe ou de verrouillage du domaine a été "
            "modifiée (affaiblie pour tout le domaine) : dommage collatéral.",
        },
    }


def _address_fields(node: Node, nic: str, address: str) -> dict[str, Any]:
    return {
        "title": f"{node.name} garde son adresse fixe {address} sur {nic}",
        "grader": "linux.address",
        "target": node.name,
        "params": {"interface": nic, "address": address},
        "messages": {
            "pass": f"{node.name} a toujours l'adresse {address} sur {nic}.",
            "fail": f"{node.name} n'a plus son adresse fixe {address} sur {nic} (interface "
            "désactivée, adresse changée ou passée en DHCP) : dommage collatéral.",
        },
    }


def _services_fields(node: Node, words: list[str]) -> dict[str, Any]:
    return {
        "title": f"Les services de {node.name} qui tournaient au début de l'épreuve tournent "
        "toujours",
        "grader": SERVICES_CHECK,
        "target": node.name,
        "params": {"words": words},
        "messages": {
            "pass": f"Les services actifs et activés de {node.name} au début de l'épreuve "
            "tournent toujours et restent activés.",
            "fail": f"Un service de {node.name} que l'intervention ne concernait pas a été "
            "arrêté ou désactivé : dommage collatéral.",
        },
    }


def _free_id(slug: str, taken: set[str]) -> str:
    base = (PREFIX + re.sub(r"[^a-z0-9]+", "-", slug.lower()).strip("-"))[:60].rstrip("-")
    check_id, n = base, 2
    while check_id in taken:
        check_id, n = f"{base}-{n}", n + 1
    return check_id


class _NamedIn:
    """What the scenario's own work names: every string (values and keys) of its checks,
    faults and solution steps, reference and alternatives; per target node too."""

    def __init__(self, scenario: Scenario) -> None:
        uses: list[tuple[str | None, PluginUse]] = []
        uses += [(t, c) for c in scenario.checks for t in c.targets]
        uses += [(f.target, f) for f in scenario.faults]
        steps: list[Step] = list(scenario.solution.steps)
        for alt in scenario.solution.alternatives:
            steps += alt.steps
        uses += [(s.target, s) for s in steps]
        self._policy = any(c.grader == POLICY_CHECK for c in scenario.checks)
        self._stopped = {
            f.target
            for f in scenario.faults
            if any(_unit_name(text) in DIRECTORY_UNITS for text in _strings(f.params))
        }
        self._all: list[str] = []
        self._by_node: dict[str | None, list[str]] = {}
        for target, use in uses:
            texts = list(_strings(use.params))
            self._all += texts
            self._by_node.setdefault(target, []).extend(texts)

    def about_policy(self) -> bool:
        """Whether the scenario's own work is the domain policy (a check reads it, a step
        sets it with ``samba-tool domain passwordsettings``)."""
        return self._policy or any(_mentions(text, "passwordsettings") for text in self._all)

    def directory_stopped(self, dc: str) -> bool:
        """Whether a fault (of the drawn variant) stops the directory service of ``dc``."""
        return dc in self._stopped

    def any_of(self, name: str) -> bool:
        return any(_mentions(text, name) for text in self._all)

    def words(self) -> list[str]:
        """Every name-like word of the scenario's work (``cups``, ``smbd.service``,
        ``/etc/cups/cupsd.conf`` gives ``etc``, ``cups``, ``cupsd.conf``), for a check that
        only learns the names to match at exam start; lower case, sorted, once each."""
        found = {w.lower() for text in self._all for w in _WORD.findall(text)}
        return sorted(w for w in found if len(w) > 1 and any(c.isalpha() for c in w))

    def on_node(self, node: str, *names: str) -> bool:
        texts = self._by_node.get(node, [])
        return any(_mentions(text, name) for text in texts for name in names)


#: A run of the characters of a unit name (``samba-ad-dc``, ``getty@tty1.service``).
#: (Options such as ``--now`` are no unit: a unit name starts with a letter or a digit.)
_WORD = re.compile(r"(?<![A-Za-z0-9@._-])[A-Za-z0-9][A-Za-z0-9@._-]*")


def _strings(value: Any) -> Iterator[str]:
    # Names and addresses are strings; numbers are never converted (a huge one cannot be).
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                yield key
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


def _unit_name(text: str) -> str:
    return text.strip().lower().removesuffix(".service")


def _mentions(text: str, name: str) -> bool:
    """``name`` as a whole word of ``text``, case-insensitive (directory names are)."""
    pattern = rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])"
    return re.search(pattern, text, re.IGNORECASE) is not None
