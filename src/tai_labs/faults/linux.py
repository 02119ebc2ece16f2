"""Faults on Linux nodes."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field

from tai_labs.faults.base import Fault, register_fault
from tai_labs.registry import PluginParams

LINUX = frozenset({"linux-client", "linux-server", "ad-dc", "router"})


class LinuxFault(Fault):
    node_kinds = LINUX


@register_fault
class ServiceStopped(LinuxFault):
    name = "linux.service_stopped"
    summary = "Stop a systemd unit, and optionally disable it"
    symptom = "Le service ne répond plus."

    class Params(PluginParams):
        service: str = Field(pattern=r"^[A-Za-z0-9@._-]+$")
        disable: bool = False


@register_fault
class WrongResolver(LinuxFault):
    name = "linux.dns_resolver"
    summary = "Point the node's DNS resolver at a wrong address"
    symptom = "Je n'arrive plus à accéder aux sites ni aux serveurs par leur nom."

    class Params(PluginParams):
        nameserver: ipaddress.IPv4Address


@register_fault
class WrongGateway(LinuxFault):
    name = "linux.gateway"
    summary = "Replace the default gateway with a wrong one (persistently)"
    symptom = "Je n'ai plus accès à Internet, mais l'imprimante du bureau marche."

    class Params(PluginParams):
        gateway: ipaddress.IPv4Address


@register_fault
class WrongAddress(LinuxFault):
    name = "linux.address"
    summary = "Give an interface a wrong static address (persistently)"
    symptom = "Plus rien ne marche sur le réseau depuis ce matin."

    class Params(PluginParams):
        interface: str
        address: ipaddress.IPv4Interface


@register_fault
class InterfaceDown(LinuxFault):
    name = "linux.interface_down"
    summary = "Bring an interface down and keep it down across restarts"
    symptom = "Mon ordinateur dit qu'il n'y a pas de réseau."

    class Params(PluginParams):
        interface: str


@register_fault
class DiskFull(LinuxFault):
    name = "linux.disk_full"
    summary = "Fill a size-capped file system with a junk file, leaving little free space"
    symptom = "Je ne peux plus enregistrer mes fichiers, il dit que le disque est plein."

    class Params(PluginParams):
        path: str = Field(default="/var/tmp", pattern=r"^/")
        leave_mib: int = Field(default=1, ge=0)
        junk: str = Field(default="/var/tmp/.cache-update.bin", pattern=r"^/")


@register_fault
class FstabBroken(LinuxFault):
    name = "linux.fstab_broken"
    summary = "Corrupt the fstab entry of a mount point (wrong UUID or option)"
    symptom = "Le dossier partagé du poste est vide depuis le redémarrage."

    class Params(PluginParams):
        mountpoint: str = Field(pattern=r"^/")
        how: Literal["uuid", "option", "fstype"] = "uuid"


@register_fault
class WrongPermissions(LinuxFault):
    name = "linux.permissions"
    summary = "Change a folder's mode and/or owner"
    symptom = "On me dit « permission refusée » quand j'ouvre le dossier."

    class Params(PluginParams):
        path: str = Field(pattern=r"^/")
        mode: str | None = Field(default=None, pattern=r"^[0-7]{3,4}$")
        owner: str | None = None
        group: str | None = None


@register_fault
class PackageRemoved(LinuxFault):
    name = "linux.package_removed"
    summary = "Remove a package (keeping its configuration)"
    symptom = "Le logiciel a disparu de mon poste."

    class Params(PluginParams):
        package: str


@register_fault
class HostsPoisoned(LinuxFault):
    name = "linux.hosts_poisoned"
    summary = "Add a wrong entry for a name in /etc/hosts"
    symptom = "Le serveur marche pour mes collègues mais pas pour moi."

    class Params(PluginParams):
        hostname: str
        address: ipaddress.IPv4Address


@register_fault
class WrongTimezone(LinuxFault):
    name = "linux.timezone"
    summary = "Set a wrong time zone"
    symptom = "L'heure affichée sur mon poste est fausse."

    class Params(PluginParams):
        timezone: str = "America/New_York"


@register_fault
class ClockSkew(LinuxFault):
    name = "linux.clock_skew"
    summary = "Shift the clock (time sync off) so that Kerberos refuses tickets"
    symptom = "Je ne peux plus me connecter au domaine, on me dit que mon mot de passe est refusé."

    class Params(PluginParams):
        minutes: int = Field(default=30, ge=6)


@register_fault
class GroupRemoved(LinuxFault):
    name = "linux.group_removed"
    summary = "Remove a local user from a group"
    symptom = "Je n'ai plus accès à ce que je pouvais faire hier."

    class Params(PluginParams):
        user: str
        group: str


@register_fault
class FirewallBlock(LinuxFault):
    name = "linux.firewall_block"
    summary = "Add an nftables rule that drops a port"
    symptom = "Personne n'arrive plus à se connecter à ce service."

    class Params(PluginParams):
        port: int = Field(ge=1, le=65535)
        protocol: Literal["tcp", "udp"] = "tcp"


@register_fault
class PrintQueuePaused(LinuxFault):
    name = "linux.print_queue_paused"
    summary = "Disable a CUPS queue (jobs pile up)"
    symptom = "J'envoie mes impressions mais rien ne sort."

    class Params(PluginParams):
        queue: str


@register_fault
class WrongProxy(LinuxFault):
    name = "linux.proxy"
    summary = "Set a system-wide HTTP proxy that does not exist"
    symptom = "Internet ne marche plus dans le navigateur."

    class Params(PluginParams):
        proxy: str = "http://10.255.255.1:3128"
