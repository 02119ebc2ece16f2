"""Checks on a Linux node's files, accounts and storage.

How they collect and judge: ``graders/__init__.py``.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from tai_labs.grading import parsers as p
from tai_labs.grading.base import register_check
from tai_labs.grading.linux import LinuxCheck
from tai_labs.grading.model import Evidence, Judgement, Verdict
from tai_labs.grading.parsers import access as acc
from tai_labs.plugins import PluginParams
from tai_labs.sessions.base import CommandSession

#: Bytes of a file's content read (``head -c``): the output bound of every command.
MAX_READ = 1024 * 1024


@register_check
class File(LinuxCheck["File.Params"]):
    name = "linux.file"
    summary = "A file exists (or not) with the given content, hash, mode and owner"

    class Params(PluginParams):
        path: str = Field(pattern=r"^/")
        exists: bool = True
        contains: str | None = None
        lacks: str | None = None
        matches: str | None = Field(default=None, description="a Python regular expression")
        sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
        mode: str | None = Field(default=None, pattern=r"^[0-7]{3,4}$")
        owner: str | None = None
        group: str | None = None
        access: dict[str, str] = Field(
            default={},
            description="principal -> the exact rights it must have, judged as effective "
            "access (owner, group, mode bits, POSIX ACL entries and mask together): keys "
            "'user:NAME', 'group:NAME', 'other'; values 'rwx' letters ('' or '-': none). "
            "A set-group-ID folder or an ACL for the group give the group its rights; an ACL "
            "for one user does not",
        )

        @field_validator("access")
        @classmethod
        def _principals(cls, value: dict[str, str]) -> dict[str, str]:
            for key, rights in value.items():
                if _principal(key) is None:
                    raise ValueError(f"{key!r}: expected 'user:NAME', 'group:NAME' or 'other'")
                if acc.parse_rights(rights) is None:
                    raise ValueError(f"{key}: {rights!r} is not rights such as 'rwx' or ''")
            return value

    def collect(self, session: CommandSession, params: Params) -> Evidence:
        ev = Evidence()
        st = p.run(
            ev, session, "stat", [*p.C_LOCALE, "stat", "-c", p.STAT_FORMAT, "--", params.path]
        )
        if not (st.ok and params.exists):
            return ev
        if params.access:
            _collect_access(ev, session, params.path, params.access)
        if any(v is not None for v in (params.contains, params.lacks, params.matches)):
            p.run(ev, session, "content", ["head", "-c", str(MAX_READ), "--", params.path])
        if params.sha256:
            p.run(ev, session, "sha256", ["sha256sum", "--", params.path])
        return ev

    def judge(self, ev: Evidence, params: Params) -> Judgement:
        path = params.path
        r = p.output(ev, "stat")
        if r is None:
            return p.not_run(r, "stat")
        if p.says_no_such_file(r):
            if params.exists:
                return Judgement.failed(
                    f"{path} n'existe pas", f"{path} does not exist", p.quote(r)
                )
            return Judgement.passed(f"{path} n'existe pas", f"{path} is absent", p.quote(r))
        st = p.parse_stat(r.stdout) if r.ok else None
        if st is None:
            return p.not_run(r, "stat")
        decisive = r.stdout.strip()
        if not params.exists:
            return Judgement.failed(f"{path} existe toujours", f"{path} still exists", decisive)
        if params.mode is not None and st.mode != int(params.mode, 8):
            return Judgement.failed(
                f"les droits de {path} sont {st.mode:o} au lieu de {params.mode}",
                f"{path} mode is {st.mode:o}, not {params.mode}",
                decisive,
            )
        if params.owner is not None and params.owner not in (st.owner, str(st.uid)):
            return Judgement.failed(
                f"{path} appartient à {st.owner} et non à {params.owner}",
                f"{path} owner is {st.owner}",
                decisive,
            )
        if params.group is not None and params.group not in (st.group, str(st.gid)):
            return Judgement.failed(
                f"le groupe de {path} est {st.group} et non {params.group}",
                f"{path} group is {st.group}",
                decisive,
            )
        if params.access:
            verdict = _judge_access(ev, path, params.access, folder=st.kind == "directory")
            if verdict.verdict is not Verdict.PASS:
                return verdict
            decisive = verdict.decisive
        wants_content = any(
            v is not None for v in (params.contains, params.lacks, params.matches, params.sha256)
        )
        if wants_content and st.kind not in ("regular file", "regular empty file", "fichier"):
            return Judgement.failed(
                f"{path} n'est pas un fichier ({st.kind})", f"{path} is a {st.kind}", decisive
            )
        if params.sha256:
            h = p.output(ev, "sha256")
            got = h.stdout.split()[0] if h is not None and h.ok and h.stdout.split() else ""
            if not re.fullmatch(r"[0-9a-f]{64}", got):
                return p.not_run(h, "sha256sum")
            if got != params.sha256:
                return Judgement.failed(
                    f"le contenu de {path} n'est pas celui attendu (empreinte différente)",
                    f"{path} sha256 differs",
                    got,
                )
        if any(v is not None for v in (params.contains, params.lacks, params.matches)):
            c = p.output(ev, "content")
            if c is None or not c.ok or (st.size > 0 and not c.stdout):
                return p.not_run(c, "lecture du fichier")
            text = c.stdout
            # Only the first MAX_READ bytes were read: what is absent from them may be further
            # on, so a verdict drawn from an absence cannot be given on a larger file.
            unread = _unread_part(path, st.size)
            if params.contains is not None and params.contains not in text:
                if unread:
                    return unread
                return Judgement.failed(
                    f"{path} ne contient pas « {params.contains} »",
                    f"{path} lacks {params.contains!r}",
                    decisive,
                )
            if params.lacks is not None and params.lacks in text:
                line = next((ln for ln in text.splitlines() if params.lacks in ln), params.lacks)
                return Judgement.failed(
                    f"{path} contient toujours « {params.lacks} »",
                    f"{path} still contains {params.lacks!r}",
                    line.strip(),
                )
            if params.matches is not None and not re.search(params.matches, text, re.M):
                if unread:
                    return unread
                return Judgement.failed(
                    f"{path} ne correspond pas au motif attendu",
                    f"{path} does not match {params.matches!r}",
                    decisive,
                )
            if params.lacks is not None and unread:
                return unread
        return Judgement.passed(f"{path} est conforme", f"{path} is as expected", decisive)


_WHO = {"group": "le groupe", "user": "l'utilisateur"}


def _principal(key: str) -> tuple[str, str] | None:
    """('user'|'group', NAME) or ('other', '') of an ``access`` key; None if malformed."""
    if key == "other":
        return "other", ""
    kind, _, name = key.partition(":")
    if kind in ("user", "group") and re.fullmatch(r"[A-Za-z0-9._@\\ -]+", name):
        return kind, name
    return None


def _collect_access(
    ev: Evidence, session: CommandSession, path: str, access: dict[str, str]
) -> None:
    """The ACL (host-side from the node's layers on a container node) and the named
    principals' ids: the node's passwd/group files, then its name service for the others
    (domain accounts on a DC, through winbind)."""
    p.run(ev, session, "acl", [*p.C_LOCALE, "getfacl", "-n", "-p", "--", path])
    files = {
        "user": p.run(ev, session, "passwd", ["cat", "--", "/etc/passwd"]),
        "group": p.run(ev, session, "group", ["cat", "--", "/etc/group"]),
    }
    for key in access:
        kind, name = _principal(key) or ("other", "")
        if kind == "other" or _local_id(files[kind].stdout, name) is not None:
            continue
        db = "passwd" if kind == "user" else "group"
        p.run(ev, session, f"getent:{key}", ["getent", db, "--", name])


def _local_id(text: str, name: str) -> int | None:
    """The id of ``name`` in passwd/group text (or in one ``getent`` line)."""
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[2].isdigit():
            short = fields[0].rsplit("\\", 1)[-1]  # DOMAIN\name from winbind
            if name in (fields[0], short) or name.lower() == short.lower():
                return int(fields[2])
    return None


def _judge_access(ev: Evidence, path: str, access: dict[str, str], *, folder: bool) -> Judgement:
    a = p.output(ev, "acl")
    acl = acc.parse_getfacl(a.stdout) if a is not None and a.ok else None
    if acl is None:
        return p.not_run(a, "lecture des droits et ACL")
    shown = "; ".join(f"{k}:{'' if i is None else i}:{acc.rwx(perm)}" for k, i, perm in acl.entries)
    decisive = f"propriétaire {acl.owner}, groupe {acl.group} ; {shown}"
    if acl.flags:
        decisive += f" ; drapeaux {acl.flags}"
    for key, rights in access.items():
        kind, name = _principal(key) or ("other", "")
        ident: int | None = None
        if kind != "other":
            source = p.output(ev, f"getent:{key}") or p.output(
                ev, "passwd" if kind == "user" else "group"
            )
            if source is None or not source.ok:
                if source is not None and source.rc == 2:
                    return Judgement.failed(
                        f"{key} n'existe pas sur la machine", f"{key} does not exist", decisive
                    )
                return p.not_run(source, f"résolution de {key}")
            ident = _local_id(source.stdout, name)
            if ident is None:
                return Judgement.failed(
                    f"{key} n'existe pas sur la machine", f"{key} does not exist", decisive
                )
        got, why = acc.effective(acl, kind, ident)
        want = acc.parse_rights(rights) or 0
        if got != want:
            who = "les autres" if kind == "other" else f"{_WHO[kind]} {name}"
            return Judgement.failed(
                f"sur {path}, {who} a en fait : {acc.describe(got, folder=folder)} ({why}) ; "
                f"attendu : {acc.describe(want, folder=folder)}",
                f"{key} has {acc.rwx(got)} on {path} ({why}), expected {acc.rwx(want)}",
                decisive,
            )
    return Judgement.passed(
        f"droits effectifs conformes sur {path}",
        f"effective access as required on {path}",
        decisive,
    )


def _unread_part(path: str, size: int) -> Judgement | None:
    """``error`` for a file larger than what ``collect`` reads, else None."""
    if size <= MAX_READ:
        return None
    mib = MAX_READ // 2**20
    return Judgement.error(
        f"{path} fait {size} octets : seul son premier Mio a été lu, impossible de juger "
        "ce qui n'y figure pas",
        f"{path} is {size} bytes: only its first {mib} MiB was read, cannot judge an absence",
        f"taille : {size}",
    )


@register_check
class User(LinuxCheck["User.Params"]):
    name = "linux.user"
    summary = "A local user exists (or not) and is (or is not) in the given groups"

    class Params(PluginParams):
        user: str = Field(pattern=r"^[A-Za-z0-9._@\\-]+$")
        exists: bool = True
        groups: list[str] = []
        not_groups: list[str] = []

    def collect(self, session: CommandSession, params: Params) -> Evidence:
        ev = Evidence()
        r = p.run(ev, session, "passwd", ["getent", "passwd", "--", params.user])
        if r.ok and (params.groups or params.not_groups):
            p.run(ev, session, "groups", [*p.C_LOCALE, "id", "-nG", "--", params.user])
        return ev

    def judge(self, ev: Evidence, params: Params) -> Judgement:
        user = params.user
        r = p.output(ev, "passwd")
        if r is None:
            return p.not_run(r, "getent passwd")
        if r.rc == 2 and not r.stdout.strip():
            if params.exists:
                return Judgement.failed(
                    f"le compte {user} n'existe pas", f"user {user} does not exist", "getent: rc=2"
                )
            return Judgement.passed(
                f"le compte {user} n'existe pas", f"user {user} is absent", "getent: rc=2"
            )
        line = p.first_line(r.stdout)
        if not r.ok or ":" not in line:
            return p.not_run(r, "getent passwd")
        if not params.exists:
            return Judgement.failed(
                f"le compte {user} existe toujours", f"user {user} still exists", line
            )
        if params.groups or params.not_groups:
            g = p.output(ev, "groups")
            if g is None or not g.ok or not g.stdout.strip():
                return p.not_run(g, "id -nG")
            groups = g.stdout.split()
            decisive = f"{user} : {' '.join(groups)}"
            missing = [x for x in params.groups if x not in groups]
            if missing:
                return Judgement.failed(
                    f"{user} n'est pas membre de {', '.join(missing)}",
                    f"{user} is not in {', '.join(missing)}",
                    decisive,
                )
            extra = [x for x in params.not_groups if x in groups]
            if extra:
                return Judgement.failed(
                    f"{user} est encore membre de {', '.join(extra)}",
                    f"{user} is still in {', '.join(extra)}",
                    decisive,
                )
            return Judgement.passed(
                f"{user} existe avec les bons groupes", f"{user} has the expected groups", decisive
            )
        return Judgement.passed(f"le compte {user} existe", f"user {user} exists", line)


@register_check
class Mount(LinuxCheck["Mount.Params"]):
    name = "linux.mount"
    summary = "A file system is mounted at a path and, if asked, declared in /etc/fstab"

    class Params(PluginParams):
        mountpoint: str = Field(pattern=r"^/")
        fstype: str | None = None
        source: str | None = Field(default=None, description="device, LABEL= or UUID=")
        persistent: bool = True

    def collect(self, session: CommandSession, params: Params) -> Evidence:
        ev = Evidence()
        p.run(
            ev,
            session,
            "findmnt",
            [
                *p.C_LOCALE,
                "findmnt",
                "-J",
                "-o",
                "TARGET,SOURCE,FSTYPE,OPTIONS,UUID,LABEL",
                "--mountpoint",
                params.mountpoint,
            ],
        )
        if params.persistent:
            p.run(ev, session, "fstab", ["cat", "--", "/etc/fstab"])
        return ev

    @staticmethod
    def _same_source(spec: str, fs: dict[str, str | None]) -> bool:
        key, _, value = spec.partition("=")
        if key in ("UUID", "LABEL") and value:
            return (fs.get(key.lower()) or "").lower() == value.strip('"').lower()
        return spec == fs.get("source")

    def judge(self, ev: Evidence, params: Params) -> Judgement:
        mp = params.mountpoint.rstrip("/") or "/"
        r = p.output(ev, "findmnt")
        if r is None:
            return p.not_run(r, "findmnt")
        if r.rc == 1 and not r.stdout.strip() and not p.tool_missing(r):
            return Judgement.failed(
                f"rien n'est monté sur {mp}", f"nothing is mounted on {mp}", "findmnt: rc=1"
            )
        try:
            fs = p.parse_json(r.stdout)["filesystems"][-1]
        except (ValueError, KeyError, IndexError, TypeError):
            return p.not_run(r, "findmnt")
        decisive = f"{fs.get('source')} sur {fs.get('target')} ({fs.get('fstype')})"
        if params.fstype and fs.get("fstype") != params.fstype:
            return Judgement.failed(
                f"{mp} est monté en {fs.get('fstype')} et non {params.fstype}",
                f"{mp} fstype is {fs.get('fstype')}",
                decisive,
            )
        if params.source and not self._same_source(params.source, fs):
            return Judgement.failed(
                f"{mp} ne monte pas {params.source}", f"{mp} source is {fs.get('source')}", decisive
            )
        if params.persistent:
            t = p.output(ev, "fstab")
            if t is None or not t.ok:
                return p.not_run(t, "lecture de /etc/fstab")
            entries = [e for e in p.parse_fstab(t.stdout) if e.file == mp]
            if not entries:
                return Judgement.failed(
                    f"{mp} est monté mais absent de /etc/fstab (non persistant)",
                    f"{mp} is not in /etc/fstab",
                    decisive,
                )
            e = entries[-1]
            if "noauto" in e.options:
                return Judgement.failed(
                    f"{mp} est en noauto dans /etc/fstab", f"{mp} is noauto in fstab", e.line
                )
            if not self._same_source(e.spec, fs):
                return Judgement.failed(
                    f"l'entrée fstab de {mp} ne désigne pas le système monté ({e.spec})",
                    f"fstab entry for {mp} names {e.spec}, not the mounted file system",
                    e.line,
                )
            if e.vfstype not in ("auto", fs.get("fstype")):
                return Judgement.failed(
                    f"l'entrée fstab de {mp} a le type {e.vfstype}",
                    f"fstab type for {mp} is {e.vfstype}",
                    e.line,
                )
            decisive = e.line
        return Judgement.passed(
            f"{mp} est monté comme attendu", f"{mp} is mounted as expected", decisive
        )


@register_check
class DiskFree(LinuxCheck["DiskFree.Params"]):
    name = "linux.disk_free"
    summary = "The file system holding a path has at least this much free space"

    class Params(PluginParams):
        path: str = Field(default="/", pattern=r"^/")
        min_free_mib: int | None = Field(default=None, gt=0)
        min_free_percent: int | None = Field(default=None, gt=0, lt=100)

    def collect(self, session: CommandSession, params: Params) -> Evidence:
        ev = Evidence()
        p.run(
            ev,
            session,
            "df",
            [*p.C_LOCALE, "df", "-B1M", "--output=avail,pcent,size,target", "--", params.path],
        )
        return ev

    def judge(self, ev: Evidence, params: Params) -> Judgement:
        r = p.output(ev, "df")
        df = p.parse_df(r.stdout) if r is not None and r.ok else None
        if df is None:
            return p.not_run(r, "df")
        if params.min_free_mib is None and params.min_free_percent is None:
            return Judgement.error("aucun seuil donné au contrôle", "no threshold given", df.line)
        free_pct = 100 - df.used_percent
        if params.min_free_mib is not None and df.avail_mib < params.min_free_mib:
            return Judgement.failed(
                f"seulement {df.avail_mib} Mio libres sur {df.target} "
                f"(minimum {params.min_free_mib})",
                f"{df.avail_mib} MiB free on {df.target}",
                df.line,
            )
        if params.min_free_percent is not None and free_pct < params.min_free_percent:
            return Judgement.failed(
                f"seulement {free_pct} % libres sur {df.target} "
                f"(minimum {params.min_free_percent} %)",
                f"{free_pct}% free on {df.target}",
                df.line,
            )
        return Judgement.passed(
            f"{df.avail_mib} Mio ({free_pct} %) libres sur {df.target}",
            f"{df.avail_mib} MiB ({free_pct}%) free on {df.target}",
            df.line,
        )
