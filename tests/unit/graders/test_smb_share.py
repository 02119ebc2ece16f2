"""``linux.smb_share``: the share's folder, the brief's value, parsed from smb.conf."""

from __future__ import annotations

from graderkit import evidence, out

from tai_labs.grading.base import CHECKS
from tai_labs.grading.model import Verdict

# smb.conf as the smb.share action and samba-tool domain provision leave it.
CONF = """# Global parameters
[global]
\tnetbios name = DC1
\trealm = ATELIERSMOREL.LAN
\tserver role = active directory domain controller

[sysvol]
\tpath = /var/lib/samba/sysvol
\tread only = No

[Comptabilite-Confidentiel]
\tpath = /srv/partages/comptabilite-confidentiel/
\tread only = yes
\twrite list = @Comptabilite
"""


def judge(text: str, rc: int = 0, stderr: str = "", path: str = "") -> object:
    plugin = CHECKS.get("linux.smb_share")
    params = plugin.Params.model_validate(
        {
            "share": "comptabilite-confidentiel",
            "path": path or "/srv/partages/comptabilite-confidentiel",
        }
    )
    return plugin().judge(evidence(smb=out(rc, text, stderr)), params)


def test_the_brief_folder_passes_whatever_the_case_and_trailing_slash() -> None:
    j = judge(CONF)
    assert j.verdict is Verdict.PASS and "path = /srv/partages" in j.decisive


def test_another_folder_fails() -> None:
    j = judge(CONF, path="/srv/partages/compta")
    assert j.verdict is Verdict.FAIL and "pas dans /srv/partages/compta" in j.why_fr


def test_no_such_share_fails_and_an_include_is_for_the_jury() -> None:
    bare = CONF.split("[Comptabilite")[0]
    assert judge(bare).verdict is Verdict.FAIL
    included = bare.replace("[global]\n", "[global]\n\tinclude = /etc/samba/shares.conf\n")
    assert judge(included).verdict is Verdict.ERROR


def test_missing_or_unreadable_config() -> None:
    missing = "cat: /etc/samba/smb.conf: No such file or directory\n"
    assert judge("", 1, missing).verdict is Verdict.FAIL
    assert judge("", 1, "cat: Permission denied\n").verdict is Verdict.ERROR
