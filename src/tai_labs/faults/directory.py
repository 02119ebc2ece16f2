"""Faults in the Active Directory."""

from __future__ import annotations

from typing import Literal

from tai_labs.faults.base import Fault, register_fault
from tai_labs.registry import PluginParams

DC = frozenset({"ad-dc", "windows-server"})


class DirectoryFault(Fault):
    node_kinds = DC


class _User(PluginParams):
    login: str


@register_fault
class AccountLocked(DirectoryFault):
    name = "ad.account_locked"
    summary = "Lock an account out with real failed binds"
    symptom = "Mon compte est bloqué, je ne peux plus ouvrir ma session."

    class Params(_User):
        attempts: int = 10


@register_fault
class AccountDisabled(DirectoryFault):
    name = "ad.account_disabled"
    summary = "Disable an account"
    symptom = "On me dit que mon compte est désactivé."
    Params = _User


@register_fault
class AccountExpired(DirectoryFault):
    name = "ad.account_expired"
    summary = "Set an account's expiry date in the past"
    symptom = "Depuis mon retour de congés, mon compte ne marche plus."
    Params = _User


@register_fault
class PasswordMustChange(DirectoryFault):
    name = "ad.password_must_change"
    summary = "Force a password change at next logon (pwdLastSet = 0)"
    symptom = "On me demande de changer mon mot de passe et ça échoue."
    Params = _User


@register_fault
class UserWrongOu(DirectoryFault):
    name = "ad.user_wrong_ou"
    summary = "Move a user into another OU"
    symptom = "Je n'ai plus mes lecteurs réseau ni mon fond d'écran habituel."

    class Params(_User):
        ou: str


@register_fault
class MembershipRemoved(DirectoryFault):
    name = "ad.membership_removed"
    summary = "Remove a user from a group"
    symptom = "Je n'ai plus accès au partage de mon service."

    class Params(_User):
        group: str


@register_fault
class GpoLinkDisabled(DirectoryFault):
    name = "ad.gpo_link_disabled"
    summary = "Disable a GPO's link on an OU"
    symptom = "La stratégie ne s'applique plus aux postes du service."

    class Params(PluginParams):
        gpo: str
        ou: str


@register_fault
class DnsRecordMissing(DirectoryFault):
    name = "ad.dns_record_missing"
    summary = "Delete a DNS record from the domain's zone"
    symptom = "Le serveur d'impression est introuvable par son nom."

    class Params(PluginParams):
        record: str
        type: Literal["A", "PTR", "CNAME"] = "A"
