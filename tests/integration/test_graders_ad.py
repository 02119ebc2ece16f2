"""The ad.* checks on a real Samba AD DC: each passes on the right state and fails on a broken one.

One lab of the ``compte-verrouille`` scenario (module-scoped, ~15-40 s to bring up, always
removed). The broken states are made the way a fault or a candidate would: real bad LDAPS
binds for a lockout, ``samba-tool`` inside the DC for the rest. With ``TAI_LABS_RECORD=1`` the
answers the DC gave are written to ``tests/unit/graders_ad/captured/`` for the unit tests.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from roles_fixtures import skip_unless_images

from conftest import host_problem
from tai_labs.grading.base import CHECKS
from tai_labs.grading.model import Verdict

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from graders_ad.replay import RecordingDirectory, save_capture

RECORD = os.environ.get("TAI_LABS_RECORD") == "1"
# TAI_LABS_AD_LAB=<lab id>: run on that lab (left up) instead of bringing one up and down.


@pytest.fixture(scope="module")
def lab() -> Iterator[Any]:
    problem = host_problem("lxc-start", "lxc-attach", "ip", "nft")
    if problem:
        pytest.skip(problem)
    pytest.importorskip("ldap3", reason="ldap3 is needed for the directory session")
    from tai_labs.errors import TaiLabsError
    from tai_labs.lab import lifecycle
    from tai_labs.scenario.catalog import find

    skip_unless_images("ad-dc", "router", "client")
    from tai_labs.providers.naming import new_lab_id

    reuse = os.environ.get("TAI_LABS_AD_LAB")
    if reuse:  # a lab already up (kept afterwards): quicker when iterating on the checks
        from tai_labs.lab.runtime import open_lab

        yield open_lab(reuse)
        return
    lab_id = new_lab_id()  # chosen first: `down` always knows what to remove
    try:
        try:
            lab = lifecycle.up(
                find("compte-verrouille"), candidate="adg", seed=0, lab_id=lab_id, faults=False
            )
        except TaiLabsError as exc:
            if "cannot be brought up yet" in exc.message:
                pytest.skip(exc.message)
            raise
        yield lab
    finally:
        lifecycle.down(lab_id)


@pytest.fixture(scope="module")
def directory(lab: Any) -> Iterator[Any]:
    from tai_labs.sessions.ldap import LdapSession

    session = LdapSession(
        "dc1",
        str(lab.mgmt_address("dc1")),
        realm=lab.loaded.scenario.directory.realm,
        password=lab.secrets.all()["admin_password"],
    )
    session.open()
    yield session
    session.close()


@pytest.fixture(scope="module")
def login(lab: Any) -> str:
    return str(lab.loaded.variables["user"]["login"])


def tool(lab: Any, *argv: str) -> str:
    """samba-tool inside the DC; fails the test with its output if it fails."""
    res = lab.exec("dc1", ["samba-tool", *argv], timeout=120)
    assert res.ok, f"samba-tool {' '.join(argv[:3])}: {res.stderr[-400:]}{res.stdout[-400:]}"
    return res.stdout


def grade(
    directory: Any,
    grader: str,
    params: dict[str, Any],
    state: str,
    expect: Verdict,
    baseline: dict[str, str] | None = None,
) -> Any:
    """Collect and judge on the live DC (``baseline``: exam-start identities); assert the
    verdict; record it if asked."""
    plugin = CHECKS.get(grader)
    p = plugin.Params.model_validate(params)
    recorder = RecordingDirectory(directory)
    evidence = plugin().collect(recorder, p)
    evidence.baseline = dict(baseline or {})
    judgement = plugin().judge(evidence, p)
    print(f"\n[{grader} {state}] {judgement.verdict}: {judgement.why_fr} | {judgement.decisive}")
    assert judgement.verdict is expect, (judgement, evidence.commands)
    assert judgement.why_fr and judgement.why_en and judgement.decisive
    if RECORD:
        save_capture(
            f"ad_{grader.split('.')[1]}_{state}",
            {
                "check": grader,
                # The brief's password never goes into a capture (the DC's answer suffices).
                "params": {k: ("********" if k == "password" else v) for k, v in params.items()},
                "state": state,
                "verdict": expect.value,
                "base_dn": directory.base_dn,
                "baseline": evidence.baseline,
                "calls": recorder.calls,
            },
        )
    return judgement


PASS, FAIL = Verdict.PASS, Verdict.FAIL


def test_fresh_user_is_in_order(directory: Any, login: str) -> None:
    grade(
        directory,
        "ad.user",
        {
            "login": login,
            "ou": "siege/utilisateurs",  # the case differs on purpose
            "enabled": True,
            "locked": False,
            "expired": False,
            "must_change_password": False,
            "member_of": ["Comptabilite"],
            "not_member_of": ["Direction"],
        },
        "fresh",
        PASS,
    )
    grade(directory, "ad.user", {"login": "personne.absente"}, "absent", FAIL)
    grade(
        directory,
        "ad.user",
        {"login": "personne.absente", "exists": False},
        "absent_expected",
        PASS,
    )


def test_group_scope_ou_members(directory: Any, login: str) -> None:
    params = {"group": "Comptabilite", "scope": "global", "ou": "Siege/Groupes", "members": [login]}
    grade(directory, "ad.group", params, "fresh", PASS)
    grade(directory, "ad.group", {**params, "scope": "universal"}, "wrong_scope", FAIL)
    grade(directory, "ad.group", {"group": "Inexistant"}, "absent", FAIL)


def test_computer_in_ou(directory: Any) -> None:
    grade(directory, "ad.computer", {"computer": "DC1", "ou": "Domain Controllers"}, "dc", PASS)
    grade(
        directory, "ad.computer", {"computer": "DC1", "ou": "Siege/Ordinateurs"}, "wrong_ou", FAIL
    )
    grade(directory, "ad.computer", {"computer": "PC1"}, "absent", FAIL)


def test_lockout_by_real_bad_binds(lab: Any, directory: Any, login: str) -> None:
    realm = lab.loaded.scenario.directory.realm
    tool(lab, "domain", "passwordsettings", "set", "--account-lockout-threshold=3")
    try:
        for _ in range(4):
            ok, _why = directory.bind_as(f"{login}@{realm}", "Mauvais-mot-de-passe-1")
            assert not ok
        grade(directory, "ad.user", {"login": login, "locked": True}, "locked", PASS)
        grade(directory, "ad.user", {"login": login, "locked": False}, "locked_unexpected", FAIL)
        tool(lab, "user", "unlock", login)
        grade(directory, "ad.user", {"login": login, "locked": False}, "unlocked", PASS)
    finally:
        tool(lab, "user", "unlock", login)


def test_expired_lockout_is_not_locked(lab: Any, directory: Any, login: str) -> None:
    """lockoutTime stays set after the lockout duration; the DC's computed bit says it is over."""
    realm = lab.loaded.scenario.directory.realm
    tool(
        lab, "domain", "passwordsettings", "set",
        "--account-lockout-threshold=3", "--account-lockout-duration=1",
        "--reset-account-lockout-after=1",
    )  # fmt: skip
    try:
        for _ in range(4):
            directory.bind_as(f"{login}@{realm}", "Mauvais-mot-de-passe-2")
        grade(directory, "ad.user", {"login": login, "locked": True}, "locked_short", PASS)
        time.sleep(65)
        entry = directory.search(directory.base_dn, f"(sAMAccountName={login})", ["lockoutTime"])[0]
        assert int(entry.first("lockoutTime") or 0) > 0, "Samba cleared lockoutTime by itself"
        grade(directory, "ad.user", {"login": login, "locked": False}, "lockout_expired", PASS)
    finally:
        tool(lab, "user", "unlock", login)
        tool(
            lab, "domain", "passwordsettings", "set",
            "--account-lockout-duration=30", "--reset-account-lockout-after=30",
        )  # fmt: skip


def test_disabled_account(lab: Any, directory: Any, login: str) -> None:
    tool(lab, "user", "disable", login)
    try:
        grade(directory, "ad.user", {"login": login, "enabled": True}, "disabled", FAIL)
    finally:
        tool(lab, "user", "enable", login)
    grade(directory, "ad.user", {"login": login, "enabled": True}, "enabled", PASS)


def test_user_moved_to_another_ou(lab: Any, directory: Any, login: str) -> None:
    base = directory.base_dn
    tool(lab, "user", "move", login, f"OU=Departs,{base}")
    try:
        grade(directory, "ad.user", {"login": login, "ou": "Siege/Utilisateurs"}, "wrong_ou", FAIL)
    finally:
        tool(lab, "user", "move", login, f"OU=Utilisateurs,OU=Siege,{base}")
    grade(directory, "ad.user", {"login": login, "ou": "Siege/Utilisateurs"}, "right_ou", PASS)


def test_membership_removed(lab: Any, directory: Any, login: str) -> None:
    tool(lab, "group", "removemembers", "Comptabilite", login)
    try:
        grade(
            directory,
            "ad.user",
            {"login": login, "member_of": ["Comptabilite"]},
            "not_member",
            FAIL,
        )
        grade(
            directory,
            "ad.group",
            {"group": "Comptabilite", "members": [login]},
            "member_missing",
            FAIL,
        )
    finally:
        tool(lab, "group", "addmembers", "Comptabilite", login)
    grade(directory, "ad.user", {"login": login, "member_of": ["Comptabilite"]}, "member", PASS)


def test_must_change_password_and_expiry(lab: Any, directory: Any, login: str) -> None:
    password = lab.secrets.all()["temp_password"]
    grade(
        directory,
        "ad.user",
        {"login": login, "must_change_password": True},
        "no_change_forced",
        FAIL,
    )
    # The password on stdin (samba-tool asks twice), never in argv: `ps` shows argv.
    res = lab.exec(
        "dc1",
        ["samba-tool", "user", "setpassword", login, "--must-change-at-next-login"],
        input=f"{password}\n{password}\n",
        timeout=120,
    )
    assert res.ok, res.stderr[-400:] + res.stdout[-400:]
    grade(
        directory, "ad.user", {"login": login, "must_change_password": True}, "change_forced", PASS
    )
    tool(lab, "user", "setexpiry", login, "--days=0")
    time.sleep(2)
    try:
        grade(directory, "ad.user", {"login": login, "expired": False}, "expired", FAIL)
        grade(directory, "ad.user", {"login": login, "expired": True}, "expired_expected", PASS)
    finally:
        tool(lab, "user", "setexpiry", login, "--noexpiry")
    grade(directory, "ad.user", {"login": login, "expired": False}, "not_expired", PASS)


def test_gpo_link_enabled_disabled_removed(lab: Any, directory: Any) -> None:
    admin = ["-U", "Administrator", f"--password={lab.secrets.all()['admin_password']}"]
    realm = lab.loaded.scenario.directory.realm
    url = ["-H", f"ldap://dc1.{realm}"]
    name = f"Fond d'ecran Siege {int(time.time()) % 100000}"  # unique: re-runs on a kept lab
    out = tool(lab, "gpo", "create", name, *url, *admin)
    guid = re.search(r"\{[0-9A-Fa-f-]{36}\}", out)
    assert guid, out
    ou = f"OU=Utilisateurs,OU=Siege,{directory.base_dn}"
    params = {"gpo": name, "linked_to": "Siege/Utilisateurs"}
    grade(directory, "ad.gpo", {"gpo": name}, "exists", PASS)
    grade(directory, "ad.gpo", {"gpo": "GPO inexistante"}, "absent", FAIL)
    grade(directory, "ad.gpo", params, "not_linked", FAIL)
    tool(lab, "gpo", "setlink", ou, guid.group(0), *url, *admin)
    grade(directory, "ad.gpo", params, "linked", PASS)
    grade(directory, "ad.gpo", {**params, "linked": False}, "linked_unexpected", FAIL)
    # Disable the link as the GPMC does: option 1 in the OU's gPLink (an LDAP modify).
    gplink = directory.search(ou, "(objectClass=*)", ["gPLink"], scope="base")[0].first("gPLink")
    ldif = (
        f"dn: {ou}\nchangetype: modify\nreplace: gPLink\ngPLink: {gplink.replace(';0]', ';1]')}\n"
    )
    res = lab.exec("dc1", ["ldbmodify", "-H", "/var/lib/samba/private/sam.ldb"], input=ldif)
    assert res.ok, res.stderr
    grade(directory, "ad.gpo", params, "link_disabled", FAIL)
    grade(directory, "ad.gpo", {**params, "link_enabled": False}, "link_disabled_expected", PASS)
    tool(lab, "gpo", "dellink", ou, guid.group(0), *url, *admin)
    grade(directory, "ad.gpo", params, "unlinked", FAIL)
    grade(directory, "ad.gpo", {**params, "linked": False}, "unlinked_expected", PASS)
    grade(directory, "ad.gpo", {"gpo": name, "linked_to": "Siege/Absente"}, "ou_absent", FAIL)


def test_recreated_objects_are_not_the_objects(lab: Any, directory: Any) -> None:
    """Deleted and recreated under the same name, an account or a group is a new object (new
    objectGUID and SID): a check given its exam-start identity fails, naming the replacement."""
    run = int(time.time()) % 100000
    login, group = f"ident{run}", f"Identite{run}"
    password = lab.secrets.all()["temp_password"]

    def create_user() -> None:
        res = lab.exec(
            "dc1", ["samba-tool", "user", "create", login], input=f"{password}\n{password}\n"
        )
        assert res.ok, res.stderr[-400:] + res.stdout[-400:]

    def create_group() -> None:
        tool(lab, "group", "add", group)
        tool(lab, "group", "addmembers", group, login)

    user_params = {"login": login, "member_of": [group]}
    group_params = {"group": group, "members": [login]}
    create_user()
    create_group()
    try:
        user_check, group_check = CHECKS.get("ad.user"), CHECKS.get("ad.group")
        at_start = user_check().identify(directory, user_check.Params(**user_params))
        group_at_start = group_check().identify(directory, group_check.Params(**group_params))
        assert set(at_start) == {"user", f"group:{group}"}, at_start
        assert set(group_at_start) == {"group"}
        grade(directory, "ad.user", user_params, "same_objects", PASS, at_start)
        grade(directory, "ad.group", group_params, "same_group", PASS, group_at_start)

        tool(lab, "group", "delete", group)
        create_group()
        replaced = grade(directory, "ad.user", user_params, "group_recreated", FAIL, at_start)
        assert f"le groupe {group} a été supprimé puis recréé" in replaced.why_fr
        grade(directory, "ad.group", group_params, "group_recreated", FAIL, group_at_start)
        # Without a baseline (a lab brought up before identities) the state alone is judged.
        grade(directory, "ad.user", user_params, "no_baseline", PASS)

        tool(lab, "user", "delete", login)
        create_user()
        tool(lab, "group", "addmembers", group, login)
        replaced = grade(
            directory,
            "ad.user",
            {"login": login},
            "user_recreated",
            FAIL,
            {"user": at_start["user"]},
        )
        assert f"le compte {login} a été supprimé puis recréé" in replaced.why_fr
        assert at_start["user"] in replaced.decisive
    finally:
        lab.exec("dc1", ["samba-tool", "user", "delete", login])
        lab.exec("dc1", ["samba-tool", "group", "delete", group])


def test_brief_password_by_bind(lab: Any, directory: Any, login: str) -> None:
    """The brief's password tried by an LDAPS bind as the account: 773 proves the value and the
    forced change, 52e a wrong value; the grader never makes the count reach the threshold."""
    temp = lab.secrets.all()["temp_password"]
    wrong = "Pas-" + temp

    def setpassword(*options: str) -> None:
        res = lab.exec(
            "dc1",
            ["samba-tool", "user", "setpassword", login, *options],
            input=f"{temp}\n{temp}\n",
            timeout=120,
        )
        assert res.ok, res.stderr[-400:] + res.stdout[-400:]

    tool(lab, "domain", "passwordsettings", "set", "--account-lockout-threshold=3")
    # An earlier test's setexpiry --noexpiry leaves "password never expires", which voids the
    # forced change (the DC then accepts the bind): an expiry date clears that flag.
    tool(lab, "user", "setexpiry", login, "--days=365")
    try:
        setpassword("--must-change-at-next-login")
        ok = grade(
            directory, "ad.user", {"login": login, "password": temp}, "password_must_change", PASS
        )
        assert "changement" in ok.why_fr and temp not in ok.why_fr
        grade(directory, "ad.user", {"login": login, "password": wrong}, "password_wrong", FAIL)
        grade(directory, "ad.user", {"login": login, "password": wrong}, "password_wrong2", FAIL)
        # Two failures counted, threshold 3: a third try could lock the account, so none.
        held = grade(
            directory,
            "ad.user",
            {"login": login, "password": wrong},
            "password_not_tried",
            Verdict.ERROR,
        )
        assert "badPwdCount: 2" in held.decisive
        grade(directory, "ad.user", {"login": login, "locked": False}, "unlocked_after", PASS)
        tool(lab, "user", "unlock", login)  # resets badPwdCount
        setpassword()
        grade(directory, "ad.user", {"login": login, "password": temp}, "password_bound", PASS)
        tool(lab, "user", "disable", login)
        try:
            # 533 only once the password matched: a wrong one is still 52e.
            grade(
                directory, "ad.user", {"login": login, "password": temp}, "password_disabled", PASS
            )
        finally:
            tool(lab, "user", "enable", login)
        for _ in range(3):
            directory.bind_as(f"{login}@{lab.loaded.scenario.directory.realm}", wrong)
        grade(directory, "ad.user", {"login": login, "password": temp}, "password_locked", FAIL)
    finally:
        tool(lab, "user", "unlock", login)
        tool(lab, "domain", "passwordsettings", "set", "--account-lockout-threshold=0")


def test_brief_names(lab: Any, directory: Any, login: str) -> None:
    person = lab.loaded.variables["user"]
    first, last = str(person["first"]), str(person["last"])
    grade(
        directory,
        "ad.user",
        {"login": login, "first": first.upper(), "last": last},
        "names",
        PASS,
    )
    grade(
        directory, "ad.user", {"login": login, "first": "Autre", "last": last}, "names_wrong", FAIL
    )


def test_domain_policy_against_exam_start(lab: Any, directory: Any) -> None:
    """The policy recorded at start holds while untouched; lockout turned off (the collateral
    fix of a lockout ticket) fails, naming the attribute; it is put back as it was."""
    policy = CHECKS.get("ad.domain_policy")
    at_start = policy().identify(directory, policy.Params())
    assert "policy:lockoutThreshold" in at_start and "policy:minPwdLength" in at_start, at_start
    grade(directory, "ad.domain_policy", {}, "unchanged", PASS, at_start)
    was = at_start["policy:lockoutThreshold"]
    off = "5" if was == "0" else "0"  # a different threshold, whatever it was
    tool(lab, "domain", "passwordsettings", "set", f"--account-lockout-threshold={off}")
    try:
        changed = grade(directory, "ad.domain_policy", {}, "lockout_changed", FAIL, at_start)
        assert f"seuil de verrouillage {was} → {off}" in changed.why_fr
    finally:
        tool(lab, "domain", "passwordsettings", "set", f"--account-lockout-threshold={was}")
    grade(directory, "ad.domain_policy", {}, "restored", PASS, at_start)
