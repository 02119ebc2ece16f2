"""Live probes of access from a node: an SMB share, a Kerberos ticket, a web page.

What all probes share (and how a probe judges a timeout) is in ``graders/_probe.py``.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Literal

from pydantic import Field

from graders._probe import Probe, no_name, run_script, script_output
from tai_labs.grading import parsers as p
from tai_labs.grading.base import register_check
from tai_labs.grading.model import Evidence, Judgement
from tai_labs.plugins import PluginParams
from tai_labs.sessions.base import CommandResult, CommandSession

#: smbclient with the password read from stdin into PASSWD (smbclient reads that variable).
SMB_SCRIPT = r"""
IFS= read -r PASSWD || exit 125
export PASSWD
share=$1 user=$2 mode=$3
smbclient "$share" -U "$user" --use-kerberos=off -t 15 -c 'ls' || exit $?
[ "$mode" = write ] || exit 0
echo "== write =="
f=$(mktemp) || exit 125
name=tai-labs-probe-$$.txt
echo probe > "$f"
smbclient "$share" -U "$user" --use-kerberos=off -t 15 -c "put $f $name; del $name"
rc=$?
rm -f "$f"
exit $rc
"""

DENIED = (
    "NT_STATUS_ACCESS_DENIED",
    "NT_STATUS_LOGON_FAILURE",
    "NT_STATUS_ACCOUNT_LOCKED_OUT",
    "NT_STATUS_ACCOUNT_DISABLED",
    "NT_STATUS_PASSWORD_EXPIRED",
    "NT_STATUS_PASSWORD_MUST_CHANGE",
    "NT_STATUS_WRONG_PASSWORD",
    "NT_STATUS_NO_SUCH_USER",
    "NT_STATUS_INVALID_LOGON_HOURS",
    "NT_STATUS_ACCOUNT_RESTRICTION",
)


@register_check
class Smb(Probe["Smb.Params"]):
    name = "probe.smb"
    summary = "An SMB share is readable, writable, or denied for a given user"

    class Params(PluginParams):
        share: str = Field(pattern=r"^//[^/\s]+/[^/]+$", description="//server/share")
        user: str
        password: str
        access: Literal["read", "write", "denied"]

    def collect(self, session: CommandSession, params: Params) -> Evidence:
        # The host's own smbclient from the node's network (container nodes): a smbclient
        # the node's root replaced takes no part. Same output, same judge.
        jury = session.smb_probe(
            params.share, params.user, params.password, write=params.access == "write"
        )
        if jury is not None:
            ev = Evidence()
            ev.add(jury)
            ev.facts.setdefault("outputs", {})["smb"] = 0
            return ev
        return run_script(
            session,
            "smb",
            SMB_SCRIPT,
            params.share,
            params.user,
            params.access,
            secret=params.password,
            timeout=60,
        )

    def judge(self, ev: Evidence, params: Params) -> Judgement:
        r = script_output(ev, "smb", "smbclient")
        if isinstance(r, Judgement):
            return r
        read_part, _, write_part = (r.stdout + "\n" + r.stderr).partition("== write ==")
        status = re.findall(r"NT_STATUS_[A-Z_]+", r.stdout + r.stderr)
        share, user = params.share, params.user
        decisive = next(
            (ln.strip() for ln in (r.stdout + r.stderr).splitlines() if "NT_STATUS" in ln), ""
        )
        read_ok = "== write ==" in r.stdout or (r.rc == 0 and params.access != "write")
        if not read_ok:
            denied = next((s for s in status if s in DENIED), None)
            if denied:
                if params.access == "denied":
                    return Judgement.passed(
                        f"accès refusé à {user} sur {share}", f"access denied ({denied})", decisive
                    )
                return Judgement.failed(
                    f"{user} n'a pas accès à {share} ({denied})",
                    f"access denied ({denied})",
                    decisive,
                )
            if status or no_name(r) or "connection to" in r.stderr.lower():
                if params.access == "denied":
                    if "NT_STATUS_BAD_NETWORK_NAME" in status:
                        return Judgement.failed(
                            f"le partage {share} n'existe pas", "share does not exist", decisive
                        )
                    return Judgement.error(
                        f"{share} injoignable : impossible de dire si l'accès est refusé",
                        "share unreachable, cannot judge",
                        decisive or p.quote(r),
                    )
                return Judgement.failed(
                    f"{user} ne peut pas ouvrir {share}",
                    f"cannot open {share}",
                    decisive or p.quote(r),
                )
            return p.not_run(r, "smbclient")
        listing = read_part.strip().splitlines()
        decisive = decisive or next(
            (ln.strip() for ln in listing if "blocks of size" in ln), "ls : OK"
        )
        if params.access == "denied":
            return Judgement.failed(
                f"{user} accède encore à {share}", f"{user} can still read {share}", decisive
            )
        if params.access == "read":
            return Judgement.passed(
                f"{user} lit le partage {share}", f"{user} can read {share}", decisive
            )
        if r.rc == 0:
            return Judgement.passed(
                f"{user} écrit dans le partage {share}",
                f"{user} can write to {share}",
                "put + del : OK",
            )
        w_status = re.findall(r"NT_STATUS_[A-Z_]+", write_part)
        if w_status:
            line = next(ln.strip() for ln in write_part.splitlines() if "NT_STATUS" in ln)
            return Judgement.failed(
                f"{user} lit {share} mais ne peut pas y écrire", f"{user} cannot write", line
            )
        return p.not_run(r, "smbclient (écriture)")


#: kinit in a private credential cache (the candidate's own tickets are left alone).
KRB_SCRIPT = r"""
d=$(mktemp -d) || exit 125
export KRB5CCNAME="FILE:$d/cc"
kinit "$1"
rc=$?
[ $rc -eq 0 ] && klist
rm -rf "$d"
exit $rc
"""

KRB_FAILURES = {
    "password incorrect": "mot de passe refusé",
    "preauthentication failed": "mot de passe refusé",
    "credentials have been revoked": "compte verrouillé ou désactivé",
    "clock skew too great": "horloge trop décalée par rapport au contrôleur",
    "not found in kerberos database": "compte inconnu du domaine",
    "password expired": "mot de passe expiré ou à changer",
    "password has expired": "mot de passe expiré ou à changer",
    "cannot contact any kdc": "contrôleur de domaine (KDC) injoignable",
    "cannot find kdc": "aucun KDC trouvé pour le domaine",
    "cannot resolve network address for kdc": "nom du KDC non résolu",
}


@register_check
class Kerberos(Probe["Kerberos.Params"]):
    name = "probe.kerberos"
    summary = "A user obtains a Kerberos ticket (password valid, clock in sync)"

    class Params(PluginParams):
        principal: str = Field(pattern=r"^[A-Za-z0-9._@-]+$")
        password: str
        kdc: ipaddress.IPv4Address | None = Field(
            default=None,
            description="the KDC's address: the jury's own kinit asks it from the node's "
            "network (container nodes), and the ticket must come from it",
        )

    def collect(self, session: CommandSession, params: Params) -> Evidence:
        if params.kdc is not None:
            jury = session.user_ticket(params.principal, params.password, str(params.kdc))
            if jury is not None:
                ev = Evidence()
                ev.add(jury)
                ev.facts.setdefault("outputs", {})["jury"] = 0
                return ev
        return run_script(
            session,
            "kinit",
            KRB_SCRIPT,
            params.principal,
            secret=params.password,
            timeout=30,
            c_locale=True,
        )

    def judge(self, ev: Evidence, params: Params) -> Judgement:
        jury = p.output(ev, "jury")
        if jury is not None:
            return judge_jury_ticket(jury, params)
        r = script_output(ev, "kinit", "kinit")
        if isinstance(r, Judgement):
            return r
        if r.ok:
            principal = re.search(r"Default principal: (\S+)", r.stdout)
            tgt = re.search(r"krbtgt/\S+", r.stdout)
            if principal and tgt:
                return Judgement.passed(
                    f"ticket Kerberos obtenu pour {principal.group(1)}",
                    f"got a TGT for {principal.group(1)}",
                    f"{principal.group(0)} ; {tgt.group(0)}",
                )
            return p.not_run(r, "klist")
        low = r.stderr.lower()
        for needle, why in KRB_FAILURES.items():
            if needle in low:
                return Judgement.failed(
                    f"pas de ticket Kerberos pour {params.principal} : {why}",
                    f"kinit failed: {needle}",
                    p.quote(r),
                )
        return p.not_run(r, "kinit")


def judge_jury_ticket(result: CommandResult, params: Kerberos.Params) -> Judgement:
    """The host's kinit from the node's network: a ticket from the intended KDC, or why not."""
    if not result.ok:
        return p.not_run(result, "kinit (jury)")
    try:
        attempt = json.loads(result.stdout)
        rc, error, answered = int(attempt["rc"]), str(attempt["error"]), attempt["answered_by"]
        ticket = str(attempt["ticket"])
    except (ValueError, KeyError, TypeError) as exc:
        return Judgement.error("réponse du jury illisible", f"unreadable jury answer: {exc}")
    kdc = f"{params.kdc}:88"
    if rc == 0:
        tgt = re.search(r"krbtgt/\S+", ticket)
        if kdc not in answered or tgt is None:
            return Judgement.error(
                f"le ticket de {params.principal} ne vient pas du KDC attendu ({kdc}) : "
                "impossible de juger",
                "the ticket did not come from the intended KDC",
                f"réponse de : {', '.join(answered) or '(inconnu)'}",
            )
        return Judgement.passed(
            f"ticket Kerberos obtenu pour {params.principal} auprès de {kdc} (demandé par le "
            "jury depuis le réseau du poste)",
            f"got a TGT for {params.principal} from {kdc}",
            f"{tgt.group(0)} ; réponse de {kdc}",
        )
    low = error.lower()
    for needle, why in KRB_FAILURES.items():
        if needle in low:
            return Judgement.failed(
                f"pas de ticket Kerberos pour {params.principal} : {why}",
                f"kinit failed: {needle}",
                error,
            )
    return Judgement.error(
        f"la demande de ticket du jury pour {params.principal} n'a pas abouti : impossible "
        "de juger",
        "jury kinit failed for another reason",
        error or f"code {rc}",
    )


#: curl with the node's system-wide proxy settings (/etc/environment, /etc/profile.d), as a
#: user's session would have them; the proxy in use is printed to stderr for the evidence.
HTTP_SCRIPT = r"""
set -a
[ -r /etc/environment ] && . /etc/environment
for f in /etc/profile.d/*.sh; do [ -r "$f" ] && . "$f"; done >/dev/null 2>&1
set +a
echo "proxy: ${http_proxy:-${HTTP_PROXY:-none}} / ${https_proxy:-${HTTPS_PROXY:-none}}" >&2
exec curl -sS -L --max-time 15 -w '\n== status %{http_code}' "$1"
"""


@register_check
class Http(Probe["Http.Params"]):
    name = "probe.http"
    summary = "A URL answers with the expected status (through the node's proxy settings)"

    class Params(PluginParams):
        url: str = Field(pattern=r"^https?://\S+$")
        status: int = 200
        contains: str | None = None

    def collect(self, session: CommandSession, params: Params) -> Evidence:
        # The host's own curl from the node's network, the node's proxy settings read from
        # its disk (container nodes): a curl the node's root replaced takes no part.
        jury = session.http_probe(params.url)
        if jury is not None:
            ev = Evidence()
            ev.add(jury)
            ev.facts.setdefault("outputs", {})["curl"] = 0
            return ev
        return run_script(session, "curl", HTTP_SCRIPT, params.url, timeout=30)

    def judge(self, ev: Evidence, params: Params) -> Judgement:
        r = p.output(ev, "curl")
        if r is None or p.tool_missing(r):
            return p.not_run(r, "curl")
        m = re.search(r"\n?== status (\d{3})\s*$", r.stdout)
        if not m:
            return p.not_run(r, "curl")
        code, body = int(m.group(1)), r.stdout[: m.start()]
        proxy = next((ln for ln in r.stderr.splitlines() if ln.startswith("proxy:")), "")
        # The jury's probe says who answered each request (the last one decided).
        who = [ln.removeprefix("jury: ") for ln in r.stderr.splitlines() if ln.startswith("jury:")]
        if who:
            proxy = f"{proxy} ; {who[-1]}"
        if code == 0:
            err = next((ln for ln in r.stderr.splitlines() if ln.startswith("curl:")), p.quote(r))
            return Judgement.failed(
                f"{params.url} ne répond pas ({err})",
                f"{params.url} unreachable",
                f"{err} ; {proxy}",
            )
        decisive = f"HTTP {code} ; {proxy}"
        if code != params.status:
            return Judgement.failed(
                f"{params.url} répond {code} au lieu de {params.status}",
                f"status {code}, expected {params.status}",
                decisive,
            )
        if params.contains is not None and params.contains not in body:
            return Judgement.failed(
                f"la page ne contient pas « {params.contains} »",
                f"body lacks {params.contains!r}",
                decisive,
            )
        return Judgement.passed(
            f"{params.url} répond {code}", f"{params.url} answers {code}", decisive
        )
