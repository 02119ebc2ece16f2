"""Whether a Linux workstation itself is joined to an AD domain, seen from its side.

A computer object in the directory is not proof of a join: anyone with rights on the domain
can create one by hand (``samba-tool computer create``) for a machine that never joined. A
joined machine holds its account's keys in ``/etc/krb5.keytab`` and is configured to use the
domain (sssd's ``[domain/…]`` section, or winbind's ``security = ads`` with the realm). Both
files are read from the host's view of the node's disk (``base64 -w0`` and ``cat`` are answered
by the host on container nodes, docs/grading.md), and parsed on the host; the keytab's keys are
never kept: the evidence shows what ``klist -ke`` would (principals, kvno, encryption types).

A keytab with the right name is not proof either: one copied from another machine, made by
hand with ``ktutil``, or left from a join whose computer account was since reset or recreated
holds keys the domain no longer knows. So the jury asks the domain: the host's own ``kinit -k``
(never the node's) gets a ticket for the machine account with the keytab's keys, from the DC's
KDC by address, inside the DC's network namespace (``CommandSession.machine_ticket``,
``providers/kerberos.py``); the evidence records which address answered.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import ipaddress
import json
from typing import Any

from pydantic import Field

from tai_labs.facts.inifile import sections
from tai_labs.facts.keytab import listing, parse_keytab
from tai_labs.grading import parsers as p
from tai_labs.grading.base import register_check
from tai_labs.grading.linux import LinuxCheck
from tai_labs.grading.model import Evidence, Judgement
from tai_labs.plugins import PluginParams
from tai_labs.sessions.base import CommandResult, CommandSession

KEYTAB = "/etc/krb5.keytab"
SSSD_CONF = "/etc/sssd/sssd.conf"
SMB_CONF = "/etc/samba/smb.conf"
#: A machine account's sAMAccountName is its NetBIOS name: 15 characters at most, then "$".
NETBIOS_LENGTH = 15


def machine_principal(computer: str, realm: str) -> str:
    """``pc-cpt-123``, ``dupuis.lan`` -> ``PC-CPT-123$@DUPUIS.LAN`` (as realm join names it)."""
    return f"{computer.rstrip('$').split('.')[0][:NETBIOS_LENGTH].upper()}$@{realm.upper()}"


def configured_for(sssd: str | None, smb: str | None, realm: str) -> str | None:
    """Which client is configured for the domain ("sssd", "winbind"), or None."""
    realm = realm.lower()
    if sssd is not None:
        conf = sections(sssd)
        domains = [d.strip().lower() for d in conf.get("sssd", {}).get("domains", "").split(",")]
        domain = conf.get(f"domain/{realm}")
        provider = (domain or {}).get("id_provider", "").lower()
        if realm in domains and provider in ("ad", "ipa", "ldap"):
            return "sssd"
    if smb is not None:
        glob = sections(smb).get("global", {})
        if glob.get("security", "").lower() == "ads" and glob.get("realm", "").lower() == realm:
            return "winbind"
    return None


@register_check
class DomainJoined(LinuxCheck["DomainJoined.Params"]):
    name = "linux.domain_joined"
    summary = "The workstation is joined from its own side: a keytab the DC accepts, sssd/winbind"

    class Params(PluginParams):
        realm: str = Field(min_length=1, description="the AD domain, such as dupuis.lan")
        computer: str = Field(min_length=1, description="the workstation's name (PC-CPT-123)")
        kdc_node: str = Field(
            pattern=r"^[a-z][a-z0-9-]{0,30}$",
            description="the domain controller node whose KDC must issue the machine's ticket",
        )
        kdc: ipaddress.IPv4Address = Field(description="that KDC's address on the lab network")
        client: bool = Field(
            default=False,
            description="also require sssd or winbind set up for the domain (adcli alone "
            "joins without either)",
        )

    def collect(self, session: CommandSession, params: Params) -> Evidence:
        ev = Evidence()
        raw = session.run(["base64", "-w0", "--", KEYTAB], timeout=15)
        keytab: dict[str, Any] = {"rc": raw.rc, "stderr": raw.stderr.strip()}
        shown = raw.stdout
        if raw.ok:
            try:
                entries = parse_keytab(base64.b64decode(raw.stdout, validate=True))
                keytab["entries"] = [[e.principal, e.kvno, e.enctype] for e in entries]
                shown = listing(entries)
            except (ValueError, binascii.Error) as exc:
                keytab["unreadable"] = str(exc)
                shown = f"(keytab illisible : {exc})\n"
        # The keys stay out of the evidence: only what ``klist -ke`` would show is kept.
        ev.add(
            dataclasses.replace(raw, stdout=shown, command=f"{raw.command} | klist -ke (sans clés)")
        )
        ev.facts["keytab"] = keytab
        p.run(ev, session, "sssd", ["cat", "--", SSSD_CONF], timeout=15)
        p.run(ev, session, "smb", ["cat", "--", SMB_CONF], timeout=15)
        if raw.ok and keytab.get("entries"):
            wanted = machine_principal(params.computer, params.realm)
            ticket = session.machine_ticket(
                KEYTAB, wanted, params.realm, params.kdc_node, str(params.kdc)
            )
            if ticket is not None:
                ev.add(ticket)
                ev.facts.setdefault("outputs", {})["ticket"] = len(ev.commands) - 1
        return ev

    def judge(self, ev: Evidence, params: Params) -> Judgement:
        keytab = ev.facts.get("keytab")
        if keytab is None:
            return p.not_run(None, f"lecture de {KEYTAB}")
        wanted = machine_principal(params.computer, params.realm)
        if keytab["rc"] != 0:
            if "No such file" in keytab["stderr"]:
                return Judgement.failed(
                    f"le poste n'a pas de keytab machine ({KEYTAB} absent) : il n'a pas été joint "
                    "au domaine de son côté",
                    f"no machine keytab ({KEYTAB} missing): the machine did not join",
                    keytab["stderr"],
                )
            return Judgement.error(
                f"{KEYTAB} n'a pas pu être lu : impossible de juger",
                f"{KEYTAB} could not be read",
                keytab["stderr"] or f"code {keytab['rc']}",
            )
        if "unreadable" in keytab:
            return Judgement.failed(
                f"{KEYTAB} n'est pas un keytab Kerberos valide",
                f"{KEYTAB} is not a valid keytab",
                keytab["unreadable"],
            )
        found = [e for e in keytab["entries"] if str(e[0]).upper() == wanted]
        if not found:
            names = sorted({str(e[0]) for e in keytab["entries"]})
            return Judgement.failed(
                f"le keytab du poste ne contient pas le compte machine {wanted}",
                f"the keytab has no entry for {wanted}",
                f"{KEYTAB} : {', '.join(names[:6]) or '(vide)'}",
            )
        kvno = max(int(e[1]) for e in found)
        sssd, smb = p.output(ev, "sssd"), p.output(ev, "smb")
        client = configured_for(
            sssd.stdout if sssd is not None and sssd.ok else None,
            smb.stdout if smb is not None and smb.ok else None,
            params.realm,
        )
        if client is None and params.client:
            return Judgement.failed(
                f"le keytab contient {wanted}, mais ni sssd ni winbind n'est configuré pour le "
                f"domaine {params.realm}",
                f"keytab has {wanted}, but neither sssd nor winbind is set up for {params.realm}",
                f"{SSSD_CONF} / {SMB_CONF} : pas de domaine {params.realm}",
            )
        proof = judge_ticket(p.output(ev, "ticket"), wanted, params)
        if isinstance(proof, Judgement):
            return proof
        decisive = f"{KEYTAB} : {wanted} kvno {kvno} | {proof}"
        if client is None:
            said_fr, said_en = (
                "aucun client sssd ou winbind n'est configuré pour le domaine",
                "no client",
            )
        else:
            said_fr = f"{client} est configuré pour le domaine {params.realm}"
            said_en = f"{client} uses {params.realm}"
            decisive += f" | {SSSD_CONF if client == 'sssd' else SMB_CONF} : {params.realm}"
        return Judgement.passed(
            f"le poste détient un keytab au nom du compte machine {wanted} (kvno {kvno}) avec "
            f"lequel le contrôleur {params.kdc_node} délivre un ticket Kerberos ; " + said_fr,
            f"the machine's keytab for {wanted} (kvno {kvno}) gets a TGT from "
            f"{params.kdc_node}; {said_en}",
            decisive,
        )


#: kinit's failures that prove the keytab's keys are not the account's, and what they mean.
STALE_KEYS = (
    "preauthentication failed",
    "password incorrect",
    "key version number for principal in key table is incorrect",
    "decrypt integrity check failed",
    "no key table entry found",
    "keytab contains no suitable keys",
)
#: The KDC holds no key of the account for any type the keytab offers: an object created (or
#: recreated) by ``samba-tool computer create``, which no join ever gave keys to.
NO_KEYS = ("kdc has no support for encryption type",)
NO_ACCOUNT = ("not found in kerberos database",)
DISABLED = ("credentials have been revoked",)


def judge_ticket(
    result: CommandResult | None, wanted: str, params: DomainJoined.Params
) -> str | Judgement:
    """The decisive words of a ticket obtained from the intended KDC, or the verdict."""
    dc = params.kdc_node
    if result is None:
        return Judgement.error(
            f"le jury n'a pas pu demander de ticket Kerberos pour {wanted} (pas de vue de "
            "l'hôte sur ce poste) : la jonction est à vérifier en personne",
            "no host-side Kerberos probe for this node",
        )
    if not result.ok:
        return Judgement.error(
            f"la demande de ticket Kerberos du jury pour {wanted} n'a pas pu être faite",
            "jury kinit could not run",
            p.quote(result),
        )
    try:
        attempt = json.loads(result.stdout)
        rc, error, answered = int(attempt["rc"]), str(attempt["error"]), attempt["answered_by"]
    except (ValueError, KeyError, TypeError) as exc:
        return Judgement.error("réponse du jury illisible", f"unreadable jury answer: {exc}")
    kdc = f"{params.kdc}:88"
    low = error.lower()
    if rc != 0:
        if any(s in low for s in STALE_KEYS):
            return Judgement.failed(
                f"le keytab du poste ne permet pas d'obtenir un ticket pour {wanted} auprès de "
                f"{dc} : ses clés ne sont pas celles du compte machine (keytab d'une ancienne "
                "jonction, compte réinitialisé ou recréé depuis, ou keytab copié ou fabriqué)",
                f"the keytab's keys are not {wanted}'s in the domain",
                error,
            )
        if any(s in low for s in NO_KEYS):
            return Judgement.failed(
                f"le contrôleur {dc} ne détient aucune clé du compte machine {wanted} qui "
                "corresponde au keytab du poste : objet ordinateur créé ou recréé à la main, "
                "sans jonction du poste",
                f"the KDC has no key of {wanted} for the keytab's types: no join made its keys",
                error,
            )
        if any(s in low for s in NO_ACCOUNT):
            return Judgement.failed(
                f"le compte machine {wanted} n'existe pas dans le domaine ({dc})",
                f"{wanted} unknown to the KDC",
                error,
            )
        if any(s in low for s in DISABLED):
            return Judgement.failed(
                f"le compte machine {wanted} est désactivé ou verrouillé",
                f"{wanted} disabled",
                error,
            )
        return Judgement.error(
            f"le KDC de {dc} n'a pas pu être interrogé pour {wanted} : impossible de juger",
            "jury kinit failed for another reason",
            error or f"code {rc}",
        )
    if kdc not in answered:
        return Judgement.error(
            f"le ticket de {wanted} ne vient pas du KDC attendu ({kdc}) : impossible de juger",
            "the ticket did not come from the intended KDC",
            f"réponse de : {', '.join(answered) or '(inconnu)'}",
        )
    return f"kinit -k {wanted} : TGT délivré par {dc} ({kdc})"
