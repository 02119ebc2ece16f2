"""AD decoding on values captured from the lab's Samba DC, and the find_* helpers on a fake."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from tai_labs.sessions import ad
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


def test_dn_paths() -> None:
    assert ad.ou_path(USER_DN, BASE) == "Siege/Utilisateurs"
    assert ad.ou_path(f"CN=Clara Petit,CN=Users,{BASE}", BASE) == "Users"
    assert ad.ou_path(f"CN=Petit\\, Clara,OU=A\\2CB,{BASE}", BASE) == "A,B"
    assert ad.ou_dn("Siege/Utilisateurs", BASE) == f"OU=Utilisateurs,OU=Siege,{BASE}"
    assert ad.ou_dn("Ventes, Est", BASE) == f"OU=Ventes\\, Est,{BASE}"
    assert ad.split_dn("CN=a\\,b, OU=x") == [("cn", "a,b"), ("ou", "x")]
    assert ad.same_dn(GPO_DN.lower(), GPO_DN.replace(",", ", "))
    assert realm_dn("dupuis.lan") == "DC=dupuis,DC=lan"


def test_filetime_and_binary_values() -> None:
    assert ad.filetime("9223372036854775807") is None and ad.filetime("0") is None
    assert ad.filetime("134404011900145420") == datetime(2026, 11, 29, 4, 46, 30, 14542, tzinfo=UTC)
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
    user = ad.user_from_entry(_user(), BASE)
    assert (user.login, user.ou, user.member_of) == (
        "clara.petit",
        "Siege/Utilisateurs",
        ["Comptabilite"],
    )
    assert user.enabled and not user.locked and not user.must_change_password and not user.expired


def test_user_states() -> None:
    now = datetime(2026, 11, 29, tzinfo=UTC)
    locked = ad.user_from_entry(
        _user(lockoutTime="134404012000000000", **{"msDS-User-Account-Control-Computed": "16"}),
        BASE,
    )
    assert locked.locked
    # Lockout duration over: lockoutTime stays set, the DC's computed flag is the truth.
    assert not ad.user_from_entry(_user(lockoutTime="134404012000000000"), BASE).locked
    entry = _user(lockoutTime="134404012000000000")
    del entry.attributes["msds-user-account-control-computed"]  # type: ignore[attr-defined]
    assert ad.user_from_entry(entry, BASE).locked
    assert ad.user_from_entry(_user(pwdLastSet="0"), BASE).must_change_password
    assert not ad.user_from_entry(_user(userAccountControl="514"), BASE).enabled
    past = ad.user_from_entry(_user(accountExpires="133000000000000000"), BASE, now)
    assert past.expired
    assert not ad.user_from_entry(_user(accountExpires="0"), BASE, now).expired


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
