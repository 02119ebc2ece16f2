"""Parsers of cron tables, cron.d files and systemd OnCalendar specs, in one canonical form."""

from __future__ import annotations

import re
from dataclasses import dataclass

CRON_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_DOW = {d: str(i) for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
_MON = {
    m: str(i)
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
        start=1,
    )
}


def normalize_schedule(schedule: str) -> str | None:
    """Five cron fields in a canonical form ("00 12 * * 1-5" == "0 12 * * mon-fri")."""
    schedule = CRON_MACROS.get(schedule.strip().lower(), schedule)
    fields = schedule.split()
    if len(fields) != 5:
        return None
    out = []
    for i, f in enumerate(fields):
        f = f.lower()
        names = _MON if i == 3 else _DOW if i == 4 else {}
        for name, number in names.items():
            f = f.replace(name, number)
        f = re.sub(r"\d+", lambda m: str(int(m.group())), f)
        if f == "*/1":
            f = "*"
        if i == 4 and f == "7":
            f = "0"  # Sunday is 0 or 7
        out.append(f)
    return " ".join(out)


@dataclass(frozen=True)
class CronJob:
    source: str
    schedule: str
    user: str | None
    command: str
    line: str
    #: Why cron would ignore this line ("" when it runs).
    ignored: str = ""


_CRON_D_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def parse_cron_table(
    text: str, source: str, *, with_user: bool, owner: str | None = None
) -> list[CronJob]:
    """Jobs of one crontab; system crontabs (/etc/crontab, cron.d) have a user field."""
    jobs = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if re.match(r"^[A-Za-z_][A-Za-z0-9_]*\s*=", stripped):
            continue  # environment setting
        if stripped.startswith("@"):
            macro, _, rest = stripped.partition(" ")
            schedule, rest = macro, rest.strip()
        else:
            parts = stripped.split(None, 5)
            if len(parts) < 6:
                continue
            schedule, rest = " ".join(parts[:5]), parts[5]
        user = owner
        if with_user:
            user, _, rest = rest.partition(" ") if " " in rest else rest.partition("\t")
            user, rest = user.strip(), rest.strip()
        jobs.append(CronJob(source, schedule, user, rest.strip(), stripped))
    return jobs


#: Marker lines the cron-files collector prints around each file (like ``head``).
CRON_FILES_SCRIPT = (
    'for f in /etc/crontab /etc/cron.d/*; do [ -f "$f" ] || continue; '
    'printf "==> %s <==\\n" "$f"; cat -- "$f"; printf "\\n<== EOF\\n"; done'
)


def parse_cron_files(text: str) -> list[CronJob]:
    """Jobs of /etc/crontab and /etc/cron.d/*, flagging the ones Debian's cron ignores."""
    jobs: list[CronJob] = []
    for path, content in _cron_file_blocks(text):
        base = path.rsplit("/", 1)[-1]
        file_ignored = ""
        if path.startswith("/etc/cron.d/") and not _CRON_D_NAME.fullmatch(base):
            # Debian's cron skips cron.d files whose name has a dot (run-parts naming).
            file_ignored = (
                f"cron ignore le fichier {path} (nom avec un point ou caractère interdit)"
            )
        found = parse_cron_table(content, path, with_user=True)
        last = content.rstrip("\n").splitlines()[-1].strip() if content.strip() else ""
        for job in found:
            ignored = file_ignored
            if not ignored and not content.endswith("\n") and job.line == last:
                ignored = f"dernière ligne de {path} sans retour à la ligne : cron l'ignore"
            jobs.append(CronJob(job.source, job.schedule, job.user, job.command, job.line, ignored))
    return jobs


_FILE_START = re.compile(r"^==> ", re.M)


def _cron_file_blocks(text: str) -> list[tuple[str, str]]:
    """(path, content) of each file ``CRON_FILES_SCRIPT`` printed.

    What ``re.finditer(r"^==> (.+?) <==\n(.*?)\n<== EOF$", text, re.S | re.M)`` finds, in
    linear time (the expression was cubic on a file of marker lines): the first `` <==``
    line end after the start ends the path, the first ``<== EOF`` line ends the content; a
    start with no such line means no later start has one either.
    """
    blocks: list[tuple[str, str]] = []
    pos = 0
    while (start := _FILE_START.search(text, pos)) is not None:
        path_end = text.find(" <==\n", start.end() + 1)
        if path_end < 0:
            break
        body = path_end + len(" <==\n")
        end = text.find("\n<== EOF", body)
        while end >= 0 and not (end + 8 == len(text) or text[end + 8] == "\n"):
            end = text.find("\n<== EOF", end + 1)
        if end < 0:
            break
        blocks.append((text[start.end() : path_end], text[body:end]))
        pos = end + 8
    return blocks


def oncalendar_to_cron(spec: str) -> str | None:
    """A daily ``OnCalendar`` (``*-*-* 12:30:00``, ``12:30``, ``daily``) as cron fields."""
    spec = spec.strip()
    if spec in ("daily", "*-*-* 00:00:00"):
        return "0 0 * * *"
    if spec == "hourly":
        return "0 * * * *"
    m = re.fullmatch(r"(?:\*-\*-\*\s+)?(\d{1,2}):(\d{2})(?::00)?", spec)
    if m:
        return f"{int(m.group(2))} {int(m.group(1))} * * *"
    return None


# -- where else a job runs: run-parts folders, and what makes cron skip a file (issue 12 §7) --

#: The folders /etc/crontab runs with run-parts on Debian (hourly, daily, weekly, monthly).
RUN_PARTS_DIRS = tuple(f"/etc/cron.{p}" for p in ("hourly", "daily", "weekly", "monthly"))

#: Prints each run-parts script as CRON_FILES_SCRIPT prints cron files (same markers).
RUN_PARTS_SCRIPT = (
    "for f in " + " ".join(f"{d}/*" for d in RUN_PARTS_DIRS) + '; do [ -f "$f" ] || continue; '
    'printf "==> %s <==\\n" "$f"; head -c 65536 -- "$f"; printf "\\n<== EOF\\n"; done'
)

#: ``path|uid|mode|links|kind`` of every file cron or run-parts would consider.
CRON_STATS_SCRIPT = (
    "for f in /etc/crontab /etc/cron.d/* "
    + " ".join(f"{d}/*" for d in RUN_PARTS_DIRS)
    + '; do [ -e "$f" ] || continue; stat -c "%n|%u|%a|%h|%F" -- "$f"; done'
)


@dataclass(frozen=True)
class FileFacts:
    uid: int
    mode: int
    links: int
    kind: str


def parse_cron_stats(text: str) -> dict[str, FileFacts]:
    """path -> facts from ``CRON_STATS_SCRIPT`` output (lines it cannot read are left out)."""
    facts: dict[str, FileFacts] = {}
    for line in text.splitlines():
        parts = line.rsplit("|", 4)
        if len(parts) == 5 and parts[1].isdigit() and parts[3].isdigit():
            try:
                mode = int(parts[2], 8)
            except ValueError:
                continue
            facts[parts[0]] = FileFacts(int(parts[1]), mode, int(parts[3]), parts[4])
    return facts


def system_file_ignored(path: str, facts: FileFacts | None) -> str:
    """Why Debian's cron skips /etc/crontab or a cron.d file ("" if it reads it): it must be a
    regular file owned by root, not writable by group or others, with a single link."""
    if facts is None:
        return ""
    if not facts.kind.startswith("regular"):
        return f"cron ignore {path} : ce n'est pas un fichier ordinaire ({facts.kind})"
    if facts.uid != 0:
        return f"cron ignore {path} : il n'appartient pas à root (WRONG FILE OWNER)"
    if facts.mode & 0o022:
        return f"cron ignore {path} : modifiable par le groupe ou les autres ({facts.mode:o})"
    if facts.links > 1:
        return f"cron ignore {path} : plusieurs liens physiques"
    return ""


def user_crontab_ignored(user: str, uid: int | None, facts: FileFacts | None) -> str:
    """Why cron skips a user's spool crontab: not regular, not 0600, not owned by the user."""
    where = f"/var/spool/cron/crontabs/{user}"
    if facts is None:
        return ""
    if not facts.kind.startswith("regular"):
        return f"cron ignore {where} : ce n'est pas un fichier ordinaire"
    if facts.mode != 0o600:
        return f"cron ignore {where} : droits {facts.mode:o} au lieu de 600 (BAD FILE MODE)"
    if uid is not None and facts.uid != uid:
        return f"cron ignore {where} : il n'appartient pas à {user} (WRONG FILE OWNER)"
    return ""


_RUN_PARTS_NAME = re.compile(r"[A-Za-z0-9_-]+")


def run_parts_jobs(
    text: str, stats: dict[str, FileFacts], crontab_jobs: list[CronJob]
) -> list[CronJob]:
    """The scripts of /etc/cron.{hourly,...} as root's jobs, at the time the live line of
    /etc/crontab runs their folder; skipped as run-parts skips them (a name with a dot, not
    executable) or when no line runs the folder."""
    jobs = []
    for path, content in _cron_file_blocks(text):
        folder, _, base = path.rpartition("/")
        runs_folder = re.compile(rf"(?<![\w/.-]){re.escape(folder)}(?![\w/.-])")
        runner = next(
            (
                j
                for j in crontab_jobs
                if j.source == "/etc/crontab" and not j.ignored and runs_folder.search(j.command)
            ),
            None,
        )
        facts = stats.get(path)
        ignored = ""
        if not _RUN_PARTS_NAME.fullmatch(base):
            ignored = f"run-parts ignore {path} (nom avec un point ou caractère interdit)"
        elif facts is not None and not facts.mode & 0o111:
            ignored = f"run-parts ignore {path} : il n'est pas exécutable"
        elif runner is None:
            ignored = f"aucune ligne active de /etc/crontab ne lance {folder}"
        command = " ; ".join(
            ln.strip()
            for ln in content.splitlines()
            if ln.strip() and not ln.lstrip().startswith("#")
        )
        schedule = runner.schedule if runner is not None else "?"
        jobs.append(CronJob(path, schedule, "root", command, f"{path}: {command[:200]}", ignored))
    return jobs
