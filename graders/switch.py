"""Checks on the Open vSwitch switch: VLANs, access ports and trunks.

The switch has no CLI: Open vSwitch is asked with ``ovs-vsctl --format=json`` through a
``CommandSession`` (or a ``DeviceSession`` whose CLI is a shell). VLANs "exist" when declared
as ``external_ids:vlan-<id>=<name>`` on bridge ``sw0`` (how the switch role records them) or
used by a port's ``tag``/``trunks``.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import Field

from graders._netdev import IFNAME_PATTERN, SWITCH, DeviceCheck, output, shell, switch_ifname
from tai_labs.grading.base import register_check
from tai_labs.grading.model import Evidence, Judgement
from tai_labs.plugins import PluginParams
from tai_labs.sessions.base import CommandResult
from tai_labs.sessions.device import BRIDGE

PORT_COLUMNS = "name,tag,trunks,vlan_mode,external_ids"


# -- Open vSwitch ------------------------------------------------------------------------------


def ovs_list(session: Any, evidence: Evidence, table: str, columns: str, *records: str) -> None:
    """``ovs-vsctl --format=json --columns=... list TABLE [RECORD]``, kept in the evidence."""
    shell(
        session,
        evidence,
        ["ovs-vsctl", "--format=json", f"--columns={columns}", "list", table, *records],
    )


def ovs_failed(result: CommandResult) -> Judgement:
    return Judgement.error(
        f"Open vSwitch n'a pas répondu : {result.stderr.strip()[:200]}",
        f"ovs-vsctl failed: {result.stderr.strip()[:200]}",
    )


def ovs_value(value: Any) -> Any:
    """OVSDB JSON -> Python: ["set", [...]] -> list, ["map", [[k, v]]] -> dict, else as is."""
    if isinstance(value, list) and len(value) == 2 and value[0] in ("set", "map", "uuid"):
        kind, inner = value
        if kind == "set":
            return [ovs_value(v) for v in inner]
        if kind == "map":
            return {str(k): ovs_value(v) for k, v in inner}
        return inner
    return value


def ovs_rows(text: str) -> list[dict[str, Any]]:
    """Rows of ``ovs-vsctl --format=json list``; ValueError if it is not that."""
    data = json.loads(text)
    headings, rows = data["headings"], data["data"]
    return [dict(zip(headings, (ovs_value(v) for v in row), strict=True)) for row in rows]


def int_set(value: Any) -> set[int]:
    """A set column of integers: OVSDB prints a one-element set as the bare value."""
    if value in ([], None, ""):
        return set()
    return {int(v) for v in value} if isinstance(value, list) else {int(value)}


def optional_int(value: Any) -> int | None:
    """tag-like columns: an empty set is "none"."""
    if value in ([], None, ""):
        return None
    return int(value)


def find_port(rows: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    wanted = {name.casefold(), switch_ifname(name).casefold()}
    for row in rows:
        label = str((row.get("external_ids") or {}).get("tai-labs-name", ""))
        if str(row["name"]).casefold() in wanted or (label and label.casefold() in wanted):
            return row
    return None


def describe_port(row: dict[str, Any]) -> str:
    parts = [f"port {row['name']}"]
    for col in ("tag", "trunks", "vlan_mode"):
        value = row.get(col)
        if value not in ([], None, ""):
            parts.append(f"{col}={value}")
    return " ".join(parts)


def port_mode(row: dict[str, Any]) -> tuple[str, int | None, set[int] | None]:
    """("access", vlan, None) or ("trunk", native vlan, allowed VLANs; None = all)."""
    tag = optional_int(row.get("tag"))
    trunks = int_set(row.get("trunks"))
    mode = row.get("vlan_mode") or None
    if mode == "access" or (mode is None and tag is not None):
        return "access", tag if tag is not None else 0, None
    if mode in ("dot1q-tunnel",):
        raise ValueError(f"vlan_mode {mode} is not a lab switch mode")
    allowed = set(trunks) if trunks else None
    if allowed is not None and tag is not None and mode in ("native-untagged", "native-tagged"):
        allowed.add(tag)
    return "trunk", tag, allowed


# -- checks ------------------------------------------------------------------------------------


@register_check
class Vlan(DeviceCheck["Vlan.Params"]):
    name = "netdev.vlan"
    summary = "A VLAN exists (declared on sw0 or used by a port), with the given name"
    node_kinds = SWITCH

    class Params(PluginParams):
        vlan: int = Field(ge=1, le=4094)
        vlan_name: str | None = None
        exists: bool = True

    def collect(self, session: Any, params: Params) -> Evidence:
        ev = Evidence()
        ovs_list(session, ev, "bridge", "name,external_ids", BRIDGE)
        ovs_list(session, ev, "port", PORT_COLUMNS)
        return ev

    def decide(self, evidence: Evidence, p: Params) -> Judgement:
        bridge, ports = output(evidence, 0), output(evidence, 1)
        if not bridge.ok or not ports.ok:
            return ovs_failed(bridge if not bridge.ok else ports)
        bridges = ovs_rows(bridge.stdout)
        if not bridges:
            return Judgement.error(f"le pont {BRIDGE} n'existe pas", f"bridge {BRIDGE} missing")
        declared = (bridges[0].get("external_ids") or {}).get(f"vlan-{p.vlan}")
        users = []
        for row in ovs_rows(ports.stdout):
            if optional_int(row.get("tag")) == p.vlan or p.vlan in int_set(row.get("trunks")):
                users.append(str(row["name"]))
        exists = declared is not None or bool(users)
        decisive = (
            f"external_ids:vlan-{p.vlan}={declared!r}" if declared is not None else "non déclaré"
        )
        decisive += f" ; ports : {', '.join(users) or 'aucun'}"
        if not p.exists:
            if exists:
                return Judgement.failed(
                    f"le VLAN {p.vlan} existe encore", f"VLAN {p.vlan} still exists", decisive
                )
            return Judgement.passed(
                f"le VLAN {p.vlan} n'existe pas", f"VLAN {p.vlan} does not exist", decisive
            )
        if not exists:
            return Judgement.failed(
                f"le VLAN {p.vlan} n'existe pas", f"VLAN {p.vlan} does not exist", decisive
            )
        if p.vlan_name is not None and (declared or "").casefold() != p.vlan_name.casefold():
            return Judgement.failed(
                f"le VLAN {p.vlan} existe mais ne s'appelle pas {p.vlan_name} "
                f"(nom : {declared or 'aucun'})",
                f"VLAN {p.vlan} exists but is not named {p.vlan_name} ({declared!r})",
                decisive,
            )
        return Judgement.passed(f"le VLAN {p.vlan} existe", f"VLAN {p.vlan} exists", decisive)


class PortParams(PluginParams):
    port: str = Field(pattern=IFNAME_PATTERN)


PortParamsT = TypeVar("PortParamsT", bound=PortParams)


class PortCheck(DeviceCheck[PortParamsT]):
    """A switch port's mode and VLANs, read from Open vSwitch's port table."""

    node_kinds = SWITCH

    def collect(self, session: Any, params: PortParamsT) -> Evidence:
        ev = Evidence()
        ovs_list(session, ev, "port", PORT_COLUMNS)
        return ev

    def decide(self, evidence: Evidence, params: PortParamsT) -> Judgement:
        res = output(evidence, 0)
        if not res.ok:
            return ovs_failed(res)
        name = params.port
        row = find_port(ovs_rows(res.stdout), name)
        if row is None:
            return Judgement.failed(
                f"le port {name} n'existe pas sur le commutateur",
                f"port {name} not on the switch",
                f"aucun port {switch_ifname(name)} dans {BRIDGE}",
            )
        return self.decide_port(row, params)

    def decide_port(self, row: dict[str, Any], p: PortParamsT) -> Judgement:
        raise NotImplementedError


@register_check
class AccessPort(PortCheck["AccessPort.Params"]):
    name = "netdev.access_port"
    summary = "A switch port is an access port in the given VLAN"

    class Params(PortParams):
        vlan: int = Field(ge=1, le=4094)

    def decide_port(self, row: dict[str, Any], p: Params) -> Judgement:
        mode, vlan, allowed = port_mode(row)
        decisive = describe_port(row)
        if mode == "trunk":
            carried = "tous" if allowed is None else ",".join(map(str, sorted(allowed)))
            return Judgement.failed(
                f"le port {p.port} est un trunk (VLAN {carried}), pas un port d'accès",
                f"port {p.port} is a trunk, not an access port",
                decisive,
            )
        if vlan != p.vlan:
            return Judgement.failed(
                f"le port {p.port} est dans le VLAN {vlan}, pas dans le VLAN {p.vlan}",
                f"port {p.port} is in VLAN {vlan}, not {p.vlan}",
                decisive,
            )
        return Judgement.passed(
            f"le port {p.port} est un port d'accès du VLAN {p.vlan}",
            f"port {p.port} is an access port in VLAN {p.vlan}",
            decisive,
        )


@register_check
class Trunk(PortCheck["Trunk.Params"]):
    name = "netdev.trunk"
    summary = "A switch port is a trunk that allows exactly (or at least) the listed VLANs"

    class Params(PortParams):
        allowed: list[int] = Field(min_length=1)
        exact: bool = False

    def decide_port(self, row: dict[str, Any], p: Params) -> Judgement:
        mode, vlan, allowed = port_mode(row)
        decisive = describe_port(row)
        if mode == "access":
            return Judgement.failed(
                f"le port {p.port} est un port d'accès (VLAN {vlan}), pas un trunk",
                f"port {p.port} is an access port, not a trunk",
                decisive,
            )
        wanted = set(p.allowed)
        shown = (
            "tous les VLAN" if allowed is None else "VLAN " + ",".join(map(str, sorted(allowed)))
        )
        ok = not p.exact if allowed is None else allowed == wanted if p.exact else wanted <= allowed
        want = ",".join(map(str, sorted(wanted)))
        if not ok:
            missing = sorted(wanted - allowed) if allowed is not None else []
            extra_fr = f" (manquent : {','.join(map(str, missing))})" if missing else ""
            return Judgement.failed(
                f"le trunk {p.port} laisse passer {shown}, attendu "
                f"{'exactement' if p.exact else 'au moins'} {want}{extra_fr}",
                f"trunk {p.port} carries {shown}, expected "
                f"{'exactly' if p.exact else 'at least'} {want}",
                decisive,
            )
        return Judgement.passed(
            f"le port {p.port} est un trunk qui laisse passer {shown}",
            f"port {p.port} is a trunk carrying {shown}",
            decisive,
        )
