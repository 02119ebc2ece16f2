"""Parsing of command outputs for the checks, and the small evidence helpers they share.

Every parser is pure and returns ``None`` (or raises ``ValueError``) when the text is not what
the command prints: a judge turns that into ``error``, never into a pass. Outputs are asked in
the C locale where the tool translates, but parsers accept the French forms a candidate's node
may print when a command could not be forced to C.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tai_labs.grading.model import Evidence, Judgement
from tai_labs.sessions.base import CommandResult, CommandSession

#: Prefix that forces untranslated, stable output from the tools that translate.
C_LOCALE = ["env", "LC_ALL=C", "LANG=C"]

# --------------------------------------------------------------------------------------------
# Evidence: commands are stored in order; ``facts["outputs"]`` names them so judges find them.


def run(
    ev: Evidence,
    session: CommandSession,
    key: str,
    argv: Sequence[str],
    *,
    timeout: float = 30.0,
    input: str | None = None,
) -> CommandResult:
    """Run argv, record it in the evidence under ``key`` and return its result."""
    result = ev.add(session.run(argv, timeout=timeout, input=input))
    ev.facts.setdefault("outputs", {})[key] = len(ev.commands) - 1
    return result


def output(ev: Evidence, key: str) -> CommandResult | None:
    index = ev.facts.get("outputs", {}).get(key)
    if index is None or not 0 <= index < len(ev.commands):
        return None
    return ev.commands[index]


def tool_missing(result: CommandResult) -> bool:
    """The command could not run at all (not installed, not executable)."""
    text = result.stderr.lower()
    return result.rc in (126, 127) or "command not found" in text or "introuvable" in text


def first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def quote(result: CommandResult) -> str:
    """The part of a command's output worth quoting: stderr if it failed, else stdout."""
    return first_line(result.stderr) or first_line(result.stdout) or f"rc={result.rc}"


def not_run(result: CommandResult | None, what: str) -> Judgement:
    """``error``: the command meant to observe the state did not give usable output."""
    if result is None:
        return Judgement.error(
            f"la commande de contrôle ({what}) n'a pas été exécutée",
            f"the {what} command was not run",
        )
    if tool_missing(result):
        return Judgement.error(
            f"outil absent sur le nœud ({what}) : impossible de juger",
            f"{what}: tool missing on the node, cannot judge",
            quote(result),
        )
    return Judgement.error(
        f"sortie inattendue de {what} (code {result.rc}) : impossible de juger",
        f"unexpected output from {what} (rc={result.rc}), cannot judge",
        quote(result),
    )


def fold(text: str) -> str:
    """Case- and accent-insensitive form, for matching French words written by candidates."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


# --------------------------------------------------------------------------------------------
# systemd


def parse_systemctl_show(text: str) -> list[dict[str, str]]:
    """``systemctl show`` output: one block of KEY=value lines per unit, blank-line separated."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", key):
            raise ValueError(f"not a systemctl show line: {line!r}")
        current[key] = value
    if current:
        blocks.append(current)
    return blocks


def execstart_argvs(value: str) -> list[str]:
    """The command lines in an ``ExecStart={ path=... ; argv[]=... ; ... }`` property."""
    return [m.strip() for m in re.findall(r"argv\[\]=(.*?)\s;\s", value)]


# --------------------------------------------------------------------------------------------
# dpkg, stat, df, fstab, resolv.conf


def dpkg_state(status: str) -> str | None:
    """``${Status}`` ("install ok installed") → its last word, the package's state."""
    words = status.split()
    if len(words) != 3:
        return None
    return words[2]


@dataclass(frozen=True)
class Stat:
    kind: str
    mode: int
    owner: str
    group: str
    uid: int
    gid: int
    size: int


STAT_FORMAT = "%F|%a|%U|%G|%u|%g|%s"


def parse_stat(text: str) -> Stat | None:
    parts = text.strip().split("|")
    if len(parts) != 7:
        return None
    try:
        return Stat(
            parts[0],
            int(parts[1], 8),
            parts[2],
            parts[3],
            int(parts[4]),
            int(parts[5]),
            int(parts[6]),
        )
    except ValueError:
        return None


#: "No such file or directory" in English and French (coreutils, glibc strerror).
NO_SUCH_FILE = ("no such file or directory", "aucun fichier ou dossier de ce type")


def says_no_such_file(result: CommandResult) -> bool:
    text = result.stderr.lower()
    return result.rc != 0 and any(s in text for s in NO_SUCH_FILE)


@dataclass(frozen=True)
class DiskFree:
    avail_mib: int
    used_percent: int
    size_mib: int
    target: str
    line: str


def parse_df(text: str) -> DiskFree | None:
    """``df -B1M --output=avail,pcent,size,target``: the header is localised, values are not."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) != 2:
        return None
    m = re.fullmatch(r"\s*(\d+)\s+(\d+|-)%?\s+(\d+)\s+(/.*?)\s*", lines[1])
    if not m or m.group(2) == "-":
        return None
    return DiskFree(int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4), lines[1].strip())


@dataclass(frozen=True)
class FstabEntry:
    spec: str
    file: str
    vfstype: str
    options: list[str]
    line: str


def _unoctal(text: str) -> str:
    # fstab escapes spaces and tabs in paths as \040 and \011.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def parse_fstab(text: str) -> list[FstabEntry]:
    entries = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        fields = stripped.split()
        if len(fields) < 3:
            continue  # mount(8) ignores such lines too; they cannot declare our mount
        options = fields[3].split(",") if len(fields) > 3 else ["defaults"]
        entries.append(
            FstabEntry(
                _unoctal(fields[0]),
                _unoctal(fields[1]).rstrip("/") or "/",
                fields[2],
                options,
                stripped,
            )
        )
    return entries


@dataclass
class ResolvConf:
    nameservers: list[str] = field(default_factory=list)
    search: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def parse_resolv_conf(text: str) -> ResolvConf:
    conf = ResolvConf()
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith(("#", ";")):
            continue
        if words[0] == "nameserver" and len(words) > 1:
            conf.nameservers.append(words[1])
            conf.lines.append(line.strip())
        elif words[0] in ("search", "domain"):
            # glibc: the last search/domain line wins.
            conf.search = [w.rstrip(".").lower() for w in words[1:]]
            conf.lines.append(line.strip())
    return conf


def parse_json(text: str) -> Any:
    if not text.strip():
        raise ValueError("empty output")
    return json.loads(text)


# --------------------------------------------------------------------------------------------
# cron

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
    for m in re.finditer(r"^==> (.+?) <==\n(.*?)\n<== EOF$", text, re.S | re.M):
        path, content = m.group(1), m.group(2)
        base = path.rsplit("/", 1)[-1]
        file_ignored = ""
        if path.startswith("/etc/cron.d/") and not _CRON_D_NAME.match(base):
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


# --------------------------------------------------------------------------------------------
# DNS


@dataclass
class DigAnswer:
    status: str | None  # NOERROR, NXDOMAIN, SERVFAIL...; None if no server answered
    records: list[tuple[str, str, str]] = field(default_factory=list)  # (name, type, rdata)
    lines: list[str] = field(default_factory=list)


def parse_dig(text: str) -> DigAnswer | None:
    """``dig +noall +comments +answer``: the header status and the answer records."""
    m = re.search(r"->>HEADER<<-.*status: ([A-Z]+)", text)
    if not m:
        return None
    answer = DigAnswer(m.group(1))
    for line in text.splitlines():
        if not line.strip() or line.startswith(";"):
            continue
        parts = line.split(None, 4)
        if len(parts) == 5 and parts[2] == "IN":
            answer.records.append((parts[0].rstrip(".").lower(), parts[3], parts[4].strip()))
            answer.lines.append(line.strip())
    return answer


def parse_getent_ahosts(text: str) -> list[str]:
    addresses: list[str] = []
    for line in text.splitlines():
        words = line.split()
        if words and words[0] not in addresses:
            addresses.append(words[0])
    return addresses


def dns_name(text: str) -> str:
    return text.strip().rstrip(".").lower()


# --------------------------------------------------------------------------------------------
# DHCP


def parse_dhclient_lease(text: str) -> dict[str, list[str]] | None:
    """The last ``lease { ... }`` block of a dhclient lease file: option name → values."""
    blocks = re.findall(r"lease\s*\{(.*?)\}", text, re.S)
    if not blocks:
        return None
    lease: dict[str, list[str]] = {}
    for stmt in blocks[-1].split(";"):
        words = stmt.strip().split(None, 2)
        if not words:
            continue
        if words[0] == "option" and len(words) == 3:
            lease[words[1]] = [v.strip().strip('"') for v in words[2].split(",")]
        elif len(words) >= 2:
            lease[words[0]] = [" ".join(words[1:]).strip('"')]
    return lease


# --------------------------------------------------------------------------------------------
# nftables


@dataclass(frozen=True)
class PortVerdict:
    blocked: bool
    where: str  # "inet filter output: tcp dport {139,445} drop" or "aucune règle"


def _matches_port(value: Any, port: int) -> bool:
    if isinstance(value, int):
        return value == port
    if isinstance(value, dict):
        if "set" in value:
            return any(_matches_port(v, port) for v in value["set"])
        if "range" in value:
            low, high = value["range"]
            return isinstance(low, int) and isinstance(high, int) and low <= port <= high
    if isinstance(value, list):
        return any(_matches_port(v, port) for v in value)
    return False


def _describe_value(value: Any) -> str:
    if isinstance(value, dict) and "set" in value:
        return "{" + ",".join(_describe_value(v) for v in value["set"]) + "}"
    if isinstance(value, dict) and "range" in value:
        return f"{value['range'][0]}-{value['range'][1]}"
    return str(value)


def _rule_effect(expr: list[dict[str, Any]], port: int, proto: str) -> tuple[str, str | None, str]:
    """What a rule does to new ``proto`` traffic to ``port``.

    Returns (kind, verdict, text): kind "port" (the rule names the port), "any" (it has no
    match at all), or "other" (it matches on something else: not about our port).
    """
    about_port = False
    other = False
    l4: str | None = None
    text: list[str] = []
    verdict: str | None = None
    for e in expr:
        if "match" in e:
            m = e["match"]
            left = m.get("left", {})
            if isinstance(left, dict) and "meta" in left and left["meta"].get("key") == "l4proto":
                l4 = str(m.get("right"))
                text.append(f"meta l4proto {l4}")
                continue
            payload = left.get("payload") if isinstance(left, dict) else None
            if payload and payload.get("field") == "dport" and m.get("op") in ("==", "in"):
                p = payload.get("protocol")
                if (p == proto or (p == "th" and l4 in (None, proto))) and _matches_port(
                    m["right"], port
                ):
                    about_port = True
                    text.append(f"{p} dport {_describe_value(m['right'])}")
                    continue
                return "other", None, ""
            other = True
        elif "counter" in e or "log" in e or "limit" in e:
            continue
        else:
            for v in ("accept", "drop", "reject", "jump", "goto", "return"):
                if v in e:
                    verdict = v if v not in ("jump", "goto") else f"{v} {e[v].get('target')}"
                    text.append(verdict)
    if l4 is not None and l4 != proto:
        return "other", None, ""
    if about_port:
        return "port", verdict, " ".join(text)
    if not other and l4 is None:
        return "any", verdict, " ".join(text)
    return "other", verdict, " ".join(text)


def nft_port_verdict(ruleset: Any, port: int, proto: str, hooks: Sequence[str]) -> PortVerdict:
    """Whether new ``proto``/``port`` traffic is dropped in base chains hooked on ``hooks``.

    Deliberately simple (what a fault or a candidate writes): a drop/reject rule naming the
    port, or a drop policy reached without an accept naming the port, blocks; rules that match
    on other things (state, addresses, interfaces) neither block nor accept our port. Any base
    chain that blocks blocks the port (nft: a drop anywhere is final). IPv4 only: families
    ip and inet.
    """
    items = ruleset.get("nftables") if isinstance(ruleset, dict) else None
    if not isinstance(items, list):
        raise ValueError("not an nft -j ruleset")
    chains: dict[tuple[str, str, str], dict[str, Any]] = {}
    rules: dict[tuple[str, str, str], list[list[dict[str, Any]]]] = {}
    for item in items:
        if "chain" in item:
            c = item["chain"]
            chains[(c["family"], c["table"], c["name"])] = c
        elif "rule" in item:
            r = item["rule"]
            rules.setdefault((r["family"], r["table"], r["chain"]), []).append(r.get("expr", []))

    def walk(key: tuple[str, str, str], depth: int) -> tuple[str | None, str]:
        if depth > 16:
            return None, ""
        for expr in rules.get(key, []):
            kind, verdict, text = _rule_effect(expr, port, proto)
            if kind == "other" or verdict is None:
                continue
            where = f"{key[0]} {key[1]} {key[2]}: {text}"
            if verdict in ("accept", "drop", "reject"):
                return verdict, where
            if verdict == "return":
                return None, ""
            action, _, target = verdict.partition(" ")
            sub, sub_where = walk((key[0], key[1], target), depth + 1)
            if sub is not None:
                return sub, sub_where
            if action == "goto":
                return None, ""
        return None, ""

    for key, chain in chains.items():
        if (
            key[0] not in ("ip", "inet")
            or chain.get("hook") not in hooks
            or chain.get("type", "filter") != "filter"
        ):
            continue
        verdict, where = walk(key, 0)
        if verdict in ("drop", "reject"):
            return PortVerdict(True, where)
        if verdict is None and chain.get("policy") == "drop":
            return PortVerdict(True, f"{key[0]} {key[1]} {key[2]}: policy drop")
    return PortVerdict(False, "")


# --------------------------------------------------------------------------------------------
# sshd, lpstat


def parse_sshd_t(text: str) -> dict[str, str]:
    settings: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key and key.lower() not in settings:
            settings[key.lower()] = value.strip()
    return settings


def parse_lpstat_printer(text: str, queue: str) -> tuple[bool | None, str]:
    """``lpstat -p QUEUE``: enabled?, the line (C or French locale)."""
    q = re.escape(queue)
    for line in text.splitlines():
        if re.match(rf"^(?:printer|l['’]imprimante|imprimante)\s+{q}\b", line, re.I):
            low = fold(line)
            if "disabled" in low or "desactivee" in low:
                return False, line.strip()
            if "enabled" in low or "activee" in low or " is idle" in low or "printing" in low:
                return True, line.strip()
            return None, line.strip()
    return None, ""


def parse_lpstat_accepting(text: str, queue: str) -> tuple[bool | None, str]:
    q = re.escape(queue)
    for line in text.splitlines():
        if re.match(rf"^{q}\s", line):
            low = fold(line)
            if "not accepting" in low or "n'accepte pas" in low or "n’accepte pas" in low:
                return False, line.strip()
            if "accepting" in low or "accepte" in low:
                return True, line.strip()
            return None, line.strip()
    return None, ""


def parse_lpstat_default(text: str) -> tuple[str | None, str]:
    """``lpstat -d``: the default queue ("" for none), or None if the output is not lpstat's."""
    for line in text.splitlines():
        low = fold(line.strip())
        if low.startswith(("no system default", "pas de destination")):
            return "", line.strip()
        m = re.match(
            r"^(?:system default destination|destination systeme par defaut)\s*:\s*(\S+)", low
        )
        if m:
            # take the name from the original line: queue names keep their case
            return line.rsplit(":", 1)[1].strip(), line.strip()
    return None, ""


# --------------------------------------------------------------------------------------------
# Candidate records: reports and inventories

PLACEHOLDERS = {"", "-", "--", "...", "…", "todo", "a completer", "a remplir", "n/a", "xxx", "?"}


def report_fields(text: str) -> dict[str, tuple[str, str]]:
    """Field name (folded) → (value, line) of a report written as ``Champ : valeur`` lines or
    as Markdown headings (``## Champ``) followed by text."""
    fields: dict[str, tuple[str, str]] = {}
    current: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        heading = re.match(r"^#{1,6}\s*(.+?)\s*:?\s*$", line)
        inline = re.match(r"^[-*>\s]*\**([^:*]{1,60}?)\**\s*:\s*\**\s*(.*)$", line)
        if heading:
            current = fold(heading.group(1).strip("* "))
            fields.setdefault(current, ("", line))
            continue
        if inline and not re.match(r"^https?$", inline.group(1).strip(), re.I):
            current = fold(inline.group(1).strip())
            value = inline.group(2).strip().strip("*").strip()
            old = fields.get(current, ("", line))
            fields[current] = (value or old[0], line)
            continue
        if current and line and not fields[current][0]:
            fields[current] = (line, fields[current][1] + " / " + line)
    return fields


def filled(value: str) -> bool:
    return fold(value).strip(" .") not in PLACEHOLDERS and bool(re.search(r"\w", value))


#: Header names candidates use for the inventory's default columns (folded).
COLUMN_SYNONYMS = {
    "machine": {
        "machine",
        "poste",
        "nom",
        "hostname",
        "nom de machine",
        "nom du poste",
        "ordinateur",
        "equipement",
        "materiel",
        "host",
        "appareil",
        "nom d'hote",
    },
    "location": {
        "location",
        "emplacement",
        "localisation",
        "lieu",
        "bureau",
        "salle",
        "site",
        "piece",
        "service",
    },
    "user": {
        "user",
        "utilisateur",
        "utilisatrice",
        "util",
        "affecte a",
        "attribue a",
        "proprietaire",
        "responsable",
        "usager",
    },
}


def parse_table(text: str) -> list[list[str]] | None:
    """Rows of a Markdown table, or of CSV (``;``, ``,`` or tab separated); None if neither."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    md = [line for line in lines if line.startswith("|") or line.count("|") >= 2]
    if len(md) >= 2:
        rows = []
        for line in md:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if all(re.fullmatch(r":?-{2,}:?", c) for c in cells if c):
                continue  # separator row
            rows.append(cells)
        return rows
    import csv
    import io

    for delimiter in (";", "\t", ","):
        if lines and lines[0].count(delimiter) >= 1:
            rows = [
                [c.strip() for c in row]
                for row in csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
            ]
            if len({len(r) for r in rows}) <= 2:  # tolerate a ragged last column
                return rows
    return None


def find_columns(header: list[str], wanted: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    folded = [fold(h).strip(" *") for h in header]
    for name in wanted:
        names = COLUMN_SYNONYMS.get(name, set()) | {fold(name)}
        for i, h in enumerate(folded):
            if h in names or any(h.startswith(n + " ") or h.startswith(n + "(") for n in names):
                found[name] = i
                break
    return found
