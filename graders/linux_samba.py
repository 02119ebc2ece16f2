"""Where a Samba share keeps its files: the ``path`` of its section in the server's smb.conf.

Access through the share is judged from the jury's side (``probe.smb``); the folder the brief
names for the files is a value of the brief, read here from the host's view of the server's
disk (``cat`` is answered by the host on container nodes) and parsed on the host.
"""

from __future__ import annotations

import posixpath

from pydantic import Field

from tai_labs.facts.inifile import sections
from tai_labs.grading import parsers as p
from tai_labs.grading.base import register_check
from tai_labs.grading.linux import LinuxCheck
from tai_labs.grading.model import Evidence, Judgement
from tai_labs.plugins import PluginParams
from tai_labs.sessions.base import CommandSession

SMB_CONF = "/etc/samba/smb.conf"


def _norm(path: str) -> str:
    return posixpath.normpath(path.strip()) if path.strip() else ""


@register_check
class SmbSharePath(LinuxCheck["SmbSharePath.Params"]):
    name = "linux.smb_share"
    summary = "A Samba share is defined in smb.conf with the folder the brief names"

    class Params(PluginParams):
        share: str = Field(min_length=1, description="the share's name")
        path: str = Field(pattern=r"^/", description="the folder its files are kept in")

    def collect(self, session: CommandSession, params: Params) -> Evidence:
        ev = Evidence()
        p.run(ev, session, "smb", ["cat", "--", SMB_CONF], timeout=15)
        return ev

    def judge(self, ev: Evidence, params: Params) -> Judgement:
        res = p.output(ev, "smb")
        if res is None or not res.ok:
            if res is not None and p.says_no_such_file(res):
                return Judgement.failed(
                    f"{SMB_CONF} est absent : aucun partage Samba",
                    f"{SMB_CONF} missing",
                    p.quote(res),
                )
            return p.not_run(res, f"cat {SMB_CONF}")
        conf = sections(res.stdout)
        share = conf.get(params.share.lower())
        if share is None:
            glob = conf.get("global", {})
            elsewhere = [
                f"{k} = {glob[k]}"
                for k in ("include", "config backend", "registry shares")
                if k in glob and glob[k].lower() not in ("no", "file", "false")
            ]
            if elsewhere:
                return Judgement.error(
                    f"le partage {params.share} n'est pas dans {SMB_CONF}, qui renvoie ailleurs "
                    "(include ou registre) : à vérifier par le jury",
                    f"share {params.share} not in {SMB_CONF}, which points elsewhere",
                    "; ".join(elsewhere),
                )
            return Judgement.failed(
                f"aucun partage [{params.share}] dans {SMB_CONF}",
                f"no [{params.share}] section in {SMB_CONF}",
                f"sections : {', '.join(sorted(conf)) or '(aucune)'}",
            )
        found = share.get("path", "")
        if _norm(found) == _norm(params.path):
            return Judgement.passed(
                f"le partage {params.share} stocke ses fichiers dans {params.path}",
                f"share {params.share} keeps its files in {params.path}",
                f"[{params.share}] path = {found}",
            )
        return Judgement.failed(
            f"le partage {params.share} stocke ses fichiers dans {found or '(aucun chemin)'}, "
            f"pas dans {params.path}",
            f"share {params.share} path is {found or 'unset'}, not {params.path}",
            f"[{params.share}] path = {found}",
        )
