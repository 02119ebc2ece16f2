"""Directory facts on values captured from the lab's Samba DC: one definition of each fact
(locked, enabled, member of, must change password, in OU, a GPO link's state), the LDIF and
gPLink parsers, and the find_* readers on a fake directory session."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tai_labs.facts import directory as ad
from tai_labs.sessions.base import DirectoryEntry, DirectorySession
from tai_labs.sessions.ldap import decode_value, realm_dn, sid_to_str

BASE = "DC=ateliersmorel,DC=lan"
USER_DN = f"CN=Clara Petit,OU=Utilisateurs,OU=Siege,{BASE}"
GROUP_DN = f"CN=Comptabilite,OU=Groupes,OU=Siege,{BASE}"
GPO_DN = f"CN={{6AC1786C-016F-11D2-945F-00C04FB984F9}},CN=Policies,CN=System,{BASE}"


def test_uac_flags_captured() -> None:
    assert ad.decode_uac("512") == {"normal_account"}
    assert ad.decode_uac(514) == {"normal_account", "disabled"}
    assert ad.decode_uac("66050") == {"normal_account", "disabled", "dont_expire_password"}
    assert ad.decode_uac("532480") == {"server_trust_account", "trusted_for_delegation"}  # DC1$
    assert ad.decode_uac("16") == {"lockout"}  # msDS-User-Account-Control-Computed, locked
    assert ad.decode_uac(None) == frozenset()


def test_group_scope_from_signed_grouptype() -> None:
    # Samba returns groupType as a signed int32: the security bit makes it negative.
    assert ad.group_scope("-2147483646") == "global"
    assert ad.group_scope("-2147483644") == "domainlocal"
    assert ad.group_scope("-2147483640") == "universal"
    assert ad.group_scope("-2147483643") == "builtin"  # BUILTIN\Administrators
    assert ad.group_scope("2") == "global"
    assert ad.is_security_group("-2147483646") and not ad.is_security_group("8")


def test_gplink_parsing() -> None:
    value = (
        f"[LDAP://{GPO_DN};0]"
        "[LDAP://cn={AAAA-1},cn=policies,cn=system,DC=x,DC=lan;1]"
        "[ldap://cn={BBBB-2},cn=policies,cn=system,DC=x,DC=lan;2]"
        "[LDAP://cn={CCCC-3},cn=policies,cn=system,DC=x,DC=lan;3]"
    )
    links = ad.parse_gplink(value)
    assert [link.state for link in links] == ["enabled", "disabled", "enforced", "disabled"]
    assert links[0].dn == GPO_DN
    assert links[3].enforced and not links[3].enabled
    assert ad.parse_gplink(None) == [] and ad.parse_gplink(" ") == []
    # Written back as Samba writes it (the prefix in capitals), flags kept.
    assert ad.render_gplink(links) == value.replace("[ldap://", "[LDAP://")
    assert links[2].with_enabled(False).flags == 3 and links[3].with_enabled(True).flags == 2


def test_set_gpo_link() -> None:
    links = ad.parse_gplink(f"[LDAP://{GPO_DN};2]")
    other = "CN={AAAA-1},CN=Policies,CN=System,DC=x,DC=lan"
    # Found without case: disabled with its enforced bit kept.
    assert ad.set_gpo_link(links, GPO_DN.lower(), False) == [ad.GpoLink(GPO_DN, 3)]
    # A new link goes first, as samba-tool gpo setlink puts it.
    assert ad.set_gpo_link(links, other, True) == [ad.GpoLink(other, 0), links[0]]
    assert ad.set_gpo_link([], other, False) == [ad.GpoLink(other, 1)]


def test_dn_paths() -> None:
    assert ad.container_path(USER_DN) == "Siege/Utilisateurs"
    assert ad.container_path(f"CN=Clara Petit,CN=Users,{BASE}") == "Users"
    assert ad.container_path(f"CN=Petit\\, Clara,OU=A\\2CB,{BASE}") == "A,B"
    assert ad.ou_dn("Siege/Utilisateurs", BASE) == f"OU=Utilisateurs,OU=Siege,{BASE}"
    assert ad.ou_dn("Ventes, Est", BASE) == f"OU=Ventes\\, Est,{BASE}"
    assert ad.ou_dn("", BASE) == BASE  # the domain itself
    assert ad.ou_rdns("Siege/Utilisateurs/") == "OU=Utilisateurs,OU=Siege"
    assert (
        ad.ou_dn("Siege/Utilisateurs", ad.domain_dn("ateliersmorel.lan"))
        == USER_DN.split(",", 1)[1]
    )
    with pytest.raises(ValueError):
        ad.ou_rdns("/")
    assert ad.in_ou(USER_DN, "siege/UTILISATEURS") and not ad.in_ou(USER_DN, "Siege")
    assert ad.normalize_dn("CN=A\\,B, OU=X") == ad.normalize_dn("cn=a\\2cb,ou=x")
    assert ad.split_dn("CN=a\\,b, OU=x") == [("cn", "a,b"), ("ou", "x")]
    assert ad.same_dn(GPO_DN.lower(), GPO_DN.replace(",", ", "))
    assert realm_dn("dupuis.lan") == "DC=dupuis,DC=lan"


def test_filetime_and_binary_values() -> None:
    when = datetime(2026, 11, 29, 4, 46, 30, 14542, tzinfo=UTC)
    assert ad.filetime_to_datetime(134404011900145420) == when
    assert ad.datetime_to_filetime(when) == 134404011900145420
    assert ad.datetime_to_filetime(datetime.fromtimestamp(0, UTC)) == 116444736000000000
    guid = bytes.fromhex("217802950633ed46a4a7f65936224369")
    assert decode_value("objectguid", guid) == "95027821-3306-46ed-a4a7-f65936224369"
    sid = bytes.fromhex("010500000000000515000000ff836bc92ab043c1597aa25e52040000")
    assert sid_to_str(sid) == "S-1-5-21-3379266559-3242438698-1587706457-1106"
    assert decode_value("cn", "Éloïse".encode()) == "Éloïse"
    assert decode_value("logonhours", b"\xff\xfe") == "fffe"


def _user(**attrs: str) -> DirectoryEntry:
    base = {
        "samaccountname": ["clara.petit"],
        "useraccountcontrol": ["512"],
        "msds-user-account-control-computed": ["0"],
        "pwdlastset": ["134404011900145420"],
        "accountexpires": ["9223372036854775807"],
        "memberof": [GROUP_DN],
    }
    base.update({k.lower(): [v] for k, v in attrs.items()})
    return DirectoryEntry(USER_DN, base)


def test_user_from_captured_entry() -> None:
    now = datetime(2026, 11, 29, tzinfo=UTC)
    user = ad.User(_user())
    assert (user.login, user.ou, user.member_of) == (
        "clara.petit",
        "Siege/Utilisateurs",
        [GROUP_DN],
    )
    assert user.enabled and not user.locked and not user.must_change_password
    assert not user.expired(now)


def test_locked() -> None:
    locked = ad.User(
        _user(lockoutTime="134404012000000000", **{"msDS-User-Account-Control-Computed": "16"})
    )
    assert locked.locked
    # Lockout duration over: lockoutTime stays set, the DC's computed flag is the truth.
    assert not ad.User(_user(lockoutTime="134404012000000000")).locked
    # A computed flag without a recorded lockout is no lockout.
    assert not ad.User(_user(**{"msDS-User-Account-Control-Computed": "16"})).locked
    entry = _user(lockoutTime="134404012000000000")
    del entry.attributes["msds-user-account-control-computed"]  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="Computed is missing"):
        ad.User(entry).locked  # noqa: B018  (never a guess)
    del entry.attributes["lockouttime"]  # type: ignore[attr-defined]
    assert not ad.User(entry).locked  # never locked: the computed flag is not needed


def test_enabled_expired_and_must_change() -> None:
    now = datetime(2026, 11, 29, tzinfo=UTC)
    assert not ad.User(_user(userAccountControl="514")).enabled
    assert ad.User(_user(userAccountControl="66048")).enabled  # 0x10200
    with pytest.raises(ValueError, match="userAccountControl is not an integer"):
        ad.User(_user(userAccountControl="beaucoup")).enabled  # noqa: B018
    assert ad.User(_user(accountExpires="133000000000000000")).expired(now)
    assert not ad.User(_user(accountExpires="0")).expired(now)
    assert ad.User(_user(pwdLastSet="0")).must_change_password
    # "Password never expires" voids a forced change.
    assert not ad.User(_user(pwdLastSet="0", userAccountControl="66048")).must_change_password
    assert ad.User(_user(pwdLastSet="0", userAccountControl="66048")).pwd_last_set == 0


def test_member_of() -> None:
    user = ad.User(_user())
    assert user.is_member_of(GROUP_DN.upper())
    assert user.is_member_of(GROUP_DN.replace(",", ", "))
    assert not user.is_member_of(f"CN=Direction,OU=Groupes,OU=Siege,{BASE}")
    assert not ad.User(DirectoryEntry(USER_DN, {})).is_member_of(GROUP_DN)


def test_ldif_of_ldbsearch() -> None:
    ldif = (
        "# record 1\ndn: CN=Nathan Leroy,OU=Utilisateurs,OU=Siege,DC=dupuis,DC=lan\n"
        "objectClass: top\nobjectClass: user\nuserAccountControl: 512\n"
        "memberOf: CN=Comptabilite,OU=Groupes,OU=Siege,DC=dupuis,DC=lan\n"
        "memberOf: CN=Direction,OU=Groupes,OU=Sie\n ge,DC=dupuis,DC=lan\n"
        "displayName:: w4lsb2RpZQ==\n\n# Referral\nref: ldap://x.lan/CN=Configuration,DC=x\n\n"
        "# record 2\ndn:: T1U9w4l0w6ksREM9ZHVwdWlzLERDPWxhbg==\nobjectClass: organizationalUnit\n"
        "# returned 3 records\n# 2 entries\n# 1 referrals\n"
    )
    user, ou = ad.parse_ldif(ldif)
    assert user.dn == "CN=Nathan Leroy,OU=Utilisateurs,OU=Siege,DC=dupuis,DC=lan"
    assert user.first("userAccountControl") == "512" and user.first("displayName") == "Élodie"
    assert user.attributes["memberof"][1] == "CN=Direction,OU=Groupes,OU=Siege,DC=dupuis,DC=lan"
    assert ad.object_classes(user) == {"top", "user"} and ad.User(user).enabled
    assert ou.dn == "OU=Été,DC=dupuis,DC=lan" and ad.object_classes(ou) == {"organizationalunit"}
    assert ad.parse_ldif("") == [] and ad.parse_ldif("# returned 0 records\n") == []


def test_password_policy() -> None:
    out = (
        "Password information for domain 'DC=dupuis,DC=lan'\n\nPassword complexity: on\n"
        "Minimum password length: 7\nAccount lockout duration (mins): 30\n"
        "Account lockout threshold (attempts): 0\nReset account lockout after (mins): 30\n"
    )
    policy = ad.PasswordPolicy.parse(out)
    assert (policy.lockout_threshold, policy.lockout_duration) == (0, 30)
    assert ad.PasswordPolicy.parse("").lockout_threshold == 0


def test_dns_query_output() -> None:
    out = "  Name=, Records=1, Children=0\n    A: 192.168.10.20 (flags=f0, serial=4, ttl=900)\n"
    assert ad.dns_data(out, "A") == ["192.168.10.20"] and ad.dns_data(out, "CNAME") == []


class FakeDirectory(DirectorySession):
    base_dn = BASE

    def __init__(self, answers: dict[str, list[DirectoryEntry]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str, str, float]] = []

    def search(
        self, base: str, ldap_filter: str, attributes: Sequence[str], *,
        scope: str = "subtree", timeout: float = 15.0,
    ) -> list[DirectoryEntry]:  # fmt: skip
        self.calls.append((base, ldap_filter, scope, timeout))
        return next((v for k, v in self.answers.items() if k in ldap_filter or k == base), [])

    def bind_as(self, user: str, password: str, *, timeout: float = 10.0) -> tuple[bool, str]:
        return False, "not here"


def test_find_helpers_escape_and_decode() -> None:
    group = DirectoryEntry(
        GROUP_DN, {"cn": ["Comptabilite"], "samaccountname": ["Comptabilite"],
                   "grouptype": ["-2147483646"], "member": [USER_DN]},
    )  # fmt: skip
    fake = FakeDirectory(
        {
            "sAMAccountName=clara.petit": [_user()],
            "(objectClass=group)": [group],
            "memberOf=": [DirectoryEntry(USER_DN, {"samaccountname": ["clara.petit"]})],
            "groupPolicyContainer": [
                DirectoryEntry(GPO_DN, {"cn": ["{6AC1786C-016F-11D2-945F-00C04FB984F9}"],
                                        "displayname": ["Poste (verrouillage)"], "flags": ["1"]})
            ],
            f"OU=Domain Controllers,{BASE}": [
                DirectoryEntry(f"OU=Domain Controllers,{BASE}", {"gplink": [f"[LDAP://{GPO_DN};0]"]})
            ],
        }
    )  # fmt: skip
    user = ad.find_user(fake, "clara.petit", timeout=3)
    assert user is not None and user.ou == "Siege/Utilisateurs"
    assert fake.calls[-1][3] == 3
    found = ad.find_group(fake, "Comptabilite")
    assert found is not None and (found.scope, found.members) == ("global", ["clara.petit"])
    gpo = ad.find_gpo(fake, "Poste (verrouillage)")
    assert gpo is not None and gpo.guid.startswith("{6AC1786C") and gpo.flags == 1
    assert "Poste \\28verrouillage\\29" in fake.calls[-1][1]  # filter value escaped
    links = ad.ou_links(fake, "Domain Controllers")
    assert links is not None and links[0].dn == GPO_DN and links[0].state == "enabled"
    assert ad.find_user(fake, "nobody*") is None
    assert "nobody\\2a" in fake.calls[-1][1]


CAPTURED = Path(__file__).parent / "graders_ad" / "captured"


def _captured_user(name: str) -> tuple[dict[str, Any], ad.User]:
    cap = json.loads((CAPTURED / f"{name}.json").read_text(encoding="utf-8"))
    entry = cap["calls"][0]["entries"][0]
    return cap, ad.User(DirectoryEntry(entry["dn"], entry["attributes"]))


@pytest.mark.parametrize(
    ("name", "fact", "value"),
    [
        ("ad_user_locked", "locked", True),
        ("ad_user_unlocked", "locked", False),
        ("ad_user_lockout_expired", "locked", False),  # lockoutTime kept, DC says unlocked
        ("ad_user_disabled", "enabled", False),
        ("ad_user_enabled", "enabled", True),
        ("ad_user_change_forced", "must_change_password", True),
        ("ad_user_no_change_forced", "must_change_password", False),
    ],
)
def test_facts_on_captured_users(name: str, fact: str, value: bool) -> None:
    _, user = _captured_user(name)
    assert getattr(user, fact) is value


def test_member_of_and_ou_on_captured_users() -> None:
    cap, user = _captured_user("ad_user_member")
    group_dn = cap["calls"][1]["entries"][0]["dn"]
    assert user.is_member_of(group_dn)
    cap, other = _captured_user("ad_user_not_member")
    assert not other.is_member_of(cap["calls"][1]["entries"][0]["dn"])
    cap, moved = _captured_user("ad_user_wrong_ou")
    assert not ad.in_ou(moved.dn, cap["params"]["ou"])
    cap, placed = _captured_user("ad_user_right_ou")
    assert ad.in_ou(placed.dn, cap["params"]["ou"]) and placed.ou == cap["params"]["ou"]
