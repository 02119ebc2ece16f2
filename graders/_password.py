"""The brief's password, tried as a jury would: an LDAPS simple bind as the account.

The bind goes over the lab's directory session (``LdapSession.bind_as``): LDAPS from the host,
the DC's certificate checked against the lab's pin before the password is sent. Samba answers
a refused bind with the NT status in its diagnostic text, as Windows does (checked on a live
DC, tests/integration/test_graders_ad.py):

- ``data 52e``: wrong password (and only then does the DC count a bad attempt);
- ``data 773``: right password, change required at next logon: the value and the forced
  change at once;
- ``data 532`` (password expired), ``data 533`` (disabled), ``data 701`` (account expired):
  answered only once the password matched (a wrong one gives 52e), so they prove the value;
- ``data 775``: locked out, whatever the password: it cannot be judged.

A wrong password is a bad logon attempt: the grader must never be what locks the account
(selftest grades several times between reverts, a jury grades again). So it reads the lockout
policy and the account's ``badPwdCount`` first, and does not try when one more bad attempt could
reach the threshold (counting the attempts still inside the observation window).

The password itself never appears in the evidence, the facts or a message: the evidence says
``********``.
"""

from __future__ import annotations

import re
from typing import Any

from graders import _directory as d
from tai_labs.facts import directory as ad
from tai_labs.grading.model import Evidence, Judgement
from tai_labs.sessions.base import CommandResult, DirectorySession

MASK = "********"
POLICY_ATTRS = ("lockoutThreshold", "lockOutObservationWindow")
COUNT_ATTRS = ("badPwdCount", "badPasswordTime")
#: NT statuses (the ``data`` of AD's bind diagnostic) reached only after the password matched.
VALUE_PROVEN = {
    "773": ("le DC exige son changement à la prochaine ouverture de session", "must change"),
    "532": ("le mot de passe a expiré", "password expired"),
    "533": ("le compte est désactivé", "account disabled"),
    "701": ("le compte a expiré", "account expired"),
}
_DATA = re.compile(r"\bdata ([0-9a-f]{3,8})\b", re.IGNORECASE)


def bind_code(detail: str) -> str | None:
    """``773`` from ``... AcceptSecurityContext error, data 773, v1db1``."""
    found = _DATA.search(detail)
    return found.group(1).lower() if found else None


def attempts_left(facts: dict[str, Any]) -> tuple[int, int] | None:
    """(bad attempts counted now, threshold) when a lockout policy is on; None when it is off.

    ``badPwdCount`` restarts once ``badPasswordTime`` is older than the observation window: the
    DC's own clock (root DSE ``currentTime``) says whether it is.
    """
    policy = facts["password_policy"][0] if facts.get("password_policy") else None
    if policy is None:
        raise ValueError("the domain's lockout policy is missing")
    threshold = ad.to_int(d.first(policy, "lockoutThreshold") or "0", "lockoutThreshold")
    if threshold <= 0:
        return None
    counts = facts.get("password_counts") or []
    if len(counts) != 1:
        raise ValueError("the account's bad password count is missing")
    count = ad.to_int(d.first(counts[0], "badPwdCount") or "0", "badPwdCount")
    last = ad.to_int(d.first(counts[0], "badPasswordTime") or "0", "badPasswordTime")
    window = abs(
        ad.to_int(d.first(policy, "lockOutObservationWindow") or "0", "lockOutObservationWindow")
    )
    root = facts.get("root_dse") or []
    now_raw = d.first(root[0], "currentTime") if root else None
    if count and last and window and now_raw is not None:
        now = ad.datetime_to_filetime(ad.parse_generalized_time(now_raw))
        if now - last > window:
            count = 0
    return count, threshold


def collect(
    session: DirectorySession,
    ev: Evidence,
    user: dict[str, Any],
    login: str,
    password: str,
) -> None:
    """Try the brief's password once, if that cannot lock the account; facts["password"]."""
    account = ad.User(d.as_entry(user))
    if account.locked:
        # Locked: the DC answers 775 whatever the password, and counts nothing.
        ev.facts["password"] = {"tried": False, "why": "locked"}
        return
    ev.facts["password_policy"] = d.search(
        session, ev, session.base_dn, "(objectClass=*)", POLICY_ATTRS, scope="base"
    )
    ev.facts["password_counts"] = d.search(
        session, ev, user["dn"], "(objectClass=*)", COUNT_ATTRS, scope="base"
    )
    if "root_dse" not in ev.facts:
        ev.facts["root_dse"] = d.search(
            session, ev, "", "(objectClass=*)", ["currentTime"], scope="base"
        )
    left = attempts_left(ev.facts)
    if left is not None and left[0] + 1 >= left[1]:
        ev.facts["password"] = {
            "tried": False,
            "why": "threshold",
            "count": left[0],
            "threshold": left[1],
        }
        return
    principal = f"{login}@{_realm(session.base_dn)}"
    bound, detail = session.bind_as(principal, password)
    ev.add(
        CommandResult(
            0 if bound else 49,
            f"{detail}\n",
            "",
            f"ldapwhoami -H ldaps://dc (certificat épinglé) -x -D {principal} -w {MASK}",
        )
    )
    ev.facts["password"] = {"tried": True, "bound": bound, "detail": detail}


def _realm(base_dn: str) -> str:
    """``DC=dupuis,DC=lan`` -> ``dupuis.lan``."""
    return ".".join(value for _key, value in ad.split_dn(base_dn))


def judge(v: d.Verdicts, facts: dict[str, Any], what: str) -> Judgement | None:
    """Add the password's verdict to the check's others; an ``error`` when it cannot be
    judged (not tried, so as not to lock the account; an answer of another kind)."""
    tried = facts.get("password")
    if tried is None:
        raise ValueError("the password was not tried")
    if not tried["tried"]:
        if tried["why"] != "locked":
            count, threshold = tried["count"], tried["threshold"]
            return Judgement.error(
                "mot de passe non essayé : un échec de plus pourrait verrouiller "
                f"{what} ({count} échec(s) récent(s), seuil {threshold}) ; "
                "à vérifier par le jury",
                "password not tried: one more failure could lock the account "
                f"({count}/{threshold})",
                f"badPwdCount: {count}, lockoutThreshold: {threshold}",
            )
        code: str | None = "775"
    elif tried["bound"]:
        v.check(
            True,
            "le mot de passe de la consigne ouvre une session sur le DC",
            "the brief's password binds",
            "bind LDAPS : succès",
        )
        return None
    else:
        code = bind_code(str(tried["detail"]))
    if code in VALUE_PROVEN:
        fr, en = VALUE_PROVEN[code]
        v.check(
            True,
            f"le DC accepte le mot de passe de la consigne ({fr})",
            f"the DC accepts the brief's password ({en})",
            f"bind LDAPS : data {code}",
        )
    elif code == "52e":
        v.check(
            False,
            "le mot de passe n'est pas celui de la consigne (le DC le refuse)",
            "the password is not the brief's (the DC refuses it)",
            "bind LDAPS : data 52e (mot de passe incorrect)",
        )
    elif code == "775":
        # A lockout hides the password: the DC refuses it without checking. Not credited,
        # and the message says it was not verified rather than wrong.
        v.check(
            False,
            f"le mot de passe de la consigne n'a pas pu être vérifié : {what} est verrouillé",
            "the brief's password could not be verified: the account is locked out",
            "compte verrouillé : le DC refuse toute authentification (data 775)",
        )
    else:
        return Judgement.error(
            "réponse inattendue du DC à l'authentification avec le mot de passe de la consigne",
            "unexpected answer to the bind with the brief's password",
            str(tried.get("detail", "")).strip(),
        )
    return None
